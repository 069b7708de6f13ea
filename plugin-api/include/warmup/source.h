/*
 * warmup/source.h — a source: reads usage events from somewhere outside the host (a gateway's JSON
 * access log, a model server's Prometheus metrics) and hands them to the host, so nobody has to write a shipper that
 * POSTs to /api/warmup/events. (ABI 1.1)
 *
 * Threads: each source instance gets a host thread of its own (tagged [source] below). The host calls `poll` on it
 * again and again, never concurrently for one instance, and never while create or destroy of that instance runs.
 * create and destroy follow plugin.h ([control]: the host's start-up, reload or shutdown, with the instance's thread
 * not polling). A source may block inside poll (reading a file, an HTTP request) but must return soon after
 * `cancel->is_cancelled` turns non-zero: the host waits for it at shutdown and when a reload replaces it.
 *
 * What the host does with the events: exactly what it does with POSTed ones (the same ingest queue, the same
 * `events_accepted` / `events_refused` counters, the same journal, the same checks). An event whose model name is
 * empty, blank, not UTF-8 or holds a control character (C0, DEL, C1), names a model no catalog entry matches, has a
 * count outside 1..1000000 (as a POSTed event's; split a larger one), or a time before 2001-09-09 (ts_ms < 10^12: a
 * time in seconds) or more than 5 minutes ahead of the host clock is refused one by one, logged and counted for the
 * source; the rest go on. A failed poll (an error returned) is logged, counted in the source's health
 * (/api/warmup/health/components) and retried after a back-off; it never stops the host or the other sources.
 */
#ifndef WARMUP_SOURCE_H
#define WARMUP_SOURCE_H

#include "backend.h" /* warmup_cancel_token */
#include "common.h"
#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One usage observation as a source sees it: by model name, not catalog index (the host resolves the name the way it
 * resolves a POSTed "model", globs included). A fixed record like warmup_usage_event, passed in arrays: it does not
 * grow; a later minor that needs more fields adds a new emit function instead. */
typedef struct warmup_source_event {
    warmup_string_view model;  /* borrowed for the emit call */
    warmup_string_view tenant; /* borrowed for the emit call; empty = no tenant */
    warmup_time_ms ts_ms;      /* when the requests happened, host clock ms (the source's now_ms when it cannot tell) */
    uint32_t count;            /* requests, 1..1000000 */
    uint32_t reserved;         /* 0 */
} warmup_source_event;

/* What a poll gets from the host besides `self`. Host-owned, borrowed for the poll call. */
typedef struct warmup_source_poll {
    uint32_t struct_size;

    /* The source's `name` in the configuration (unique among the sources). */
    warmup_string_view source_name;

    /* A folder private to this source, created by the host, kept across restarts and reloads: where a source
     * remembers how far it has read. Empty when the host keeps no state (no state folder configured); the source
     * then starts afresh each time. The same name gets the same folder, whichever plugin or params it runs. */
    warmup_string_view state_dir;

    /* Turns non-zero when the host stops the source (shutdown, or a reload that replaces or removes it). */
    const warmup_cancel_token *cancel;

    void *sink_context; /* the host's; pass back unchanged */

    /* [source] Hands `count` events (borrowed) to the host, in order. Returns how many the host took: always a prefix.
     * Taken events were either queued or refused for bad data (counted and logged by the host; not to be offered
     * again). Fewer than `count` means the ingest queue is full: keep the rest and offer them again at a later poll
     * (a file source does not advance its position past them). */
    size_t (*emit)(void *sink_context, const warmup_source_event *events, size_t count);

    /* [source] Reports one record the source could not turn into an event (a line that is not JSON, a missing model
     * field ...). `reason` (borrowed) says what and where, e.g. "line 17: no field 'model'". The host counts it in
     * the source's health and logs it (SOURCE_BAD_RECORD, rate-limited). Never fatal. */
    void (*reject)(void *sink_context, warmup_string_view reason);
} warmup_source_poll;

/* What a poll tells the host. The host sets struct_size before the call. */
typedef struct warmup_source_poll_result {
    uint32_t struct_size;
    /* How long the host waits before the next poll, ms (0 = poll again at once: more is waiting). */
    int64_t next_poll_in_ms;
} warmup_source_poll_result;

typedef struct warmup_source_vtable {
    uint32_t struct_size;

    /* [source] Reads what is new since the last poll and emits it. The first poll of an instance is where it picks up
     * what it remembered in state_dir. Returns NULL, or an error (the host counts it, shows the source as degraded
     * with the message until a poll succeeds again, and polls again after a back-off of at least next_poll_in_ms;
     * WARMUP_ERROR_NOT_FOUND, for something only looked at, such as a file not created yet, is retried every second
     * without a growing back-off).
     * Events emitted before an error are kept. Fills `out`. */
    warmup_error *(*poll)(void *self, const warmup_source_poll *call, warmup_source_poll_result *out);
} warmup_source_vtable;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_SOURCE_H */
