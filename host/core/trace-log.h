/* The trace log: the last N decisions of dispatch (the tracer's records,
 * bus.h), kept so that a trace can be shown after the fact as a tree of
 * events, routes and jobs with their times (the dashboard's trace view).
 *
 * Off until a plugin asks for it (evb_plugin_keep_traces): recording costs
 * a copy of each record, several per event.  Bounded: each record is a
 * fixed-size entry in a ring; strings longer than their field are cut. */
#pragma once

#include "bus.h"

G_BEGIN_DECLS

typedef struct _EvbTraceLog EvbTraceLog;

EvbTraceLog *evb_trace_log_new (guint capacity);
void evb_trace_log_free (EvbTraceLog *log);
guint evb_trace_log_get_capacity (EvbTraceLog *log);

/* Keeps @record, stamped @time_us.  Main thread. */
void evb_trace_log_add (EvbTraceLog *log, const EvbTraceRecord *record, gint64 time_us);

/* The kept records of one trace as a tree-ready JSON object:
 * {"trace_id": "32 hex", "records": N, "partial": bool,
 *  "events": [{"id", "parent_id", "type", "time_us", "matched",
 *              "outcome" (walk end, or null while running), "end_us",
 *              "receipt" (or null),
 *              "routes": [{"id", "label", "mode", "priority", "job" (or null),
 *                          "start_us", "end_us" (or null), "result" (or null),
 *                          "states": [{"state", "time_us"}], "failure" (or null),
 *                          "skipped" (why, or null)}]}]}
 * in the order they were dispatched.  "partial": the oldest records of the
 * trace may have been overwritten (an event's dispatch record is gone).
 * Main thread. */
json_t *evb_trace_log_query (EvbTraceLog *log, guint64 trace_high, guint64 trace_low);

G_END_DECLS
