/* `evbus run --trace PATTERN` (run-trace.h). */
#include "run-trace.h"

#include <stdio.h>

#include "route-table.h"

struct _EvbRunTrace {
  char *pattern;
  GHashTable *config_index; /* route id -> "routes[i]" */
};

EvbRunTrace *
evb_run_trace_new (const char *pattern, GArray *route_ids, GError **error)
{
  EvbRunTrace *trace;

  if (!evb_pattern_validate (pattern, error))
    return NULL;
  trace = g_new0 (EvbRunTrace, 1);
  trace->pattern = g_strdup (pattern);
  trace->config_index = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  for (guint i = 0; i < route_ids->len; i++)
    g_hash_table_insert (trace->config_index, g_memdup2 (&g_array_index (route_ids, guint64, i), sizeof (guint64)),
                         g_strdup_printf ("routes[%u]", i));
  return trace;
}

void
evb_run_trace_free (EvbRunTrace *trace)
{
  if (trace == NULL)
    return;
  g_hash_table_unref (trace->config_index);
  g_free (trace->pattern);
  g_free (trace);
}

/* "routes[2] db.search (async)", or "db.search (sync)" for a route made
 * in code. */
static char *
route_name (EvbRunTrace *trace, const EvbTraceRecord *record)
{
  const char *index = g_hash_table_lookup (trace->config_index, &record->route_id);

  return g_strdup_printf ("%s%s%s (%s)", index != NULL ? index : "", index != NULL ? " " : "",
                          record->route_label, record->mode == EVB_MODE_ASYNC ? "async" : "sync");
}

static char *
describe (EvbRunTrace *trace, const EvbTraceRecord *record)
{
  g_autofree char *route = record->route_label != NULL ? route_name (trace, record) : NULL;

  switch (record->step)
    {
    case EVB_TRACE_DISPATCH:
      return g_strdup_printf ("dispatch: %u %s match the type", record->count, record->count == 1 ? "route" : "routes");
    case EVB_TRACE_SKIPPED:
      return g_strdup_printf ("%s: skipped, %s", route, record->text);
    case EVB_TRACE_LEVEL:
      return g_strdup_printf ("level priority %d: %u %s", record->priority, record->count,
                              record->count == 1 ? "route" : "routes");
    case EVB_TRACE_RESULT:
      if (record->job_id != 0)
        return g_strdup_printf ("%s: job %" G_GUINT64_FORMAT " returned %s", route, record->job_id,
                                evb_result_to_string (record->result));
      return g_strdup_printf ("%s: returned %s", route, evb_result_to_string (record->result));
    case EVB_TRACE_JOB:
      return g_strdup_printf ("%s: job %" G_GUINT64_FORMAT " %s", route, record->job_id, record->text);
    case EVB_TRACE_FAILURE:
      return g_strdup_printf ("%s: failed: %s", route, record->text);
    case EVB_TRACE_WALK_END:
      return g_strdup_printf ("levels done: %s", record->text);
    case EVB_TRACE_RECEIPT:
      return g_strdup_printf ("receipt: %s", record->text);
    }
  return g_strdup ("?");
}

static void
on_decision (EvbBus *bus, const EvbTraceRecord *record, gpointer user_data)
{
  EvbRunTrace *trace = user_data;
  g_autofree char *what = NULL;

  if (!evb_pattern_match (trace->pattern, record->event->type))
    return;
  what = describe (trace, record);
  fprintf (stderr, "trace %016" G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER "x %s #%" G_GUINT64_FORMAT ": %s\n",
           record->event->trace_id_high, record->event->trace_id_low, record->event->type, record->event->id, what);
}

void
evb_run_trace_attach (EvbRunTrace *trace, EvbBus *bus)
{
  evb_bus_set_tracer (bus, on_decision, trace);
}
