/* `evbus run --trace PATTERN`: one line on stderr per decision of dispatch
 * (bus.h EvbTraceRecord) about events whose type matches PATTERN, tagged
 * with the event's trace id, type and id:
 *
 *   trace 4bf92f3577b34da6a3ce929d0e0e4736 ui.search #12: level priority 0: 2 routes
 *
 * Config routes are named as the config names them ("routes[2]
 * db.search"), routes plugins add in code by their handler. */
#pragma once

#include "bus.h"

G_BEGIN_DECLS

typedef struct _EvbRunTrace EvbRunTrace;

/* NULL with @error when @pattern is not a valid pattern.  @route_ids: the
 * id of config route i at index i (evb_pipeline_load's list); borrowed,
 * keep it alive while tracing. */
EvbRunTrace *evb_run_trace_new (const char *pattern, GArray *route_ids, GError **error);

/* Starts tracing @bus's decisions (evb_bus_set_tracer). */
void evb_run_trace_attach (EvbRunTrace *trace, EvbBus *bus);

void evb_run_trace_free (EvbRunTrace *trace);

G_END_DECLS
