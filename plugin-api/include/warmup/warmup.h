/* warmup/warmup.h — the whole plugin ABI in one include. */
#ifndef WARMUP_WARMUP_H
#define WARMUP_WARMUP_H

#include "analyzer.h"
#include "backend.h"
#include "common.h"
#include "ext/host_call_failure.h"
#include "ext/host_catalog.h"
#include "ext/host_clock.h"
#include "ext/host_log.h"
#include "ext/model_state.h"
#include "ext/simulation.h"
#include "ext/state.h"
#include "host.h"
#include "metrics.h"
#include "performance.h"
#include "plugin.h"
#include "predictor.h"
#include "queue.h"
#include "resource.h"
#include "scheduler.h"
#include "source.h"
#include "version.h"

#endif /* WARMUP_WARMUP_H */
