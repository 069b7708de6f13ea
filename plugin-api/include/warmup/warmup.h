/* warmup/warmup.h — the whole plugin ABI in one include. */
#ifndef WARMUP_WARMUP_H
#define WARMUP_WARMUP_H

#include "common.h"
#include "event_source.h"
#include "ext/host_catalog.h"
#include "ext/host_clock.h"
#include "ext/host_log.h"
#include "ext/model_state.h"
#include "ext/simulation.h"
#include "ext/state.h"
#include "host.h"
#include "metrics_sink.h"
#include "model_backend.h"
#include "pattern_analyzer.h"
#include "performance_model.h"
#include "plugin.h"
#include "predictor.h"
#include "queue_policy.h"
#include "resource_policy.h"
#include "scheduler.h"
#include "version.h"

#endif /* WARMUP_WARMUP_H */
