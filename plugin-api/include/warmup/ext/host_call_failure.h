/*
 * warmup/ext/host_call_failure.h — host extension: a failure of a call whose C signature returns no error.
 *
 * Looked up with host->get_extension(host, WARMUP_HOST_EXT_CALL_FAILURE); NULL from a host that does not offer it (then
 * log the failure instead). A call that returns warmup_error* says its failure by returning one; a notification (a
 * resource plugin's on_ready, on_used, on_removed), a count or a schema cannot, and an exception or error inside it
 * would otherwise reach operators only as a log line. Reported here, the host counts it as a failed call of the plugin
 * like a returned error: PLUGIN_CALL_ERROR in the log (the first failures, then a count), the component's errors in
 * health, `plugin_errors`, and the circuit breaker. The SDK's guards (warmup/sdk/error.hpp) report through it.
 */
#ifndef WARMUP_EXT_HOST_CALL_FAILURE_H
#define WARMUP_EXT_HOST_CALL_FAILURE_H

#include "../common.h"
#include "../host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WARMUP_HOST_EXT_CALL_FAILURE "org.warmup.host.call-failure.v1"

typedef struct warmup_host_call_failure_extension {
    uint32_t struct_size;

    /* [the thread of the failed call] Reports that the host's call now running on this thread failed: `call` names it
     * for the log ("resource.on_used()"; a static string), `code` and `message` say why (borrowed, copied). Reported
     * from inside the call, before it returns; several reports in one call count once. Outside a call of the host
     * (a thread of the plugin's own), the report is logged as an error of the plugin. */
    void (*report)(const warmup_host *host, const char *call, warmup_status code, warmup_string_view message);
} warmup_host_call_failure_extension;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_EXT_HOST_CALL_FAILURE_H */
