/* The trace log (trace-log.h): a ring of fixed-size copies of the
 * tracer's records, and the query that turns one trace's records back
 * into events, routes and jobs. */
#include "trace-log.h"

#include <string.h>

typedef struct {
  guint64 trace_high;
  guint64 trace_low;
  guint64 event_id;
  guint64 parent_id;
  guint64 route_id;
  guint64 job_id;
  gint64 time_us;
  gint priority;
  guint count;
  guint8 step;   /* EvbTraceStep */
  guint8 mode;   /* EvbMode */
  guint8 result; /* EvbResult */
  char type[64];
  char label[64];
  char text[120];
} Entry;

struct _EvbTraceLog {
  Entry *entries;
  guint capacity;
  guint next;   /* where the next record goes */
  guint64 kept; /* records ever kept */
};

EvbTraceLog *
evb_trace_log_new (guint capacity)
{
  EvbTraceLog *log = g_new0 (EvbTraceLog, 1);

  log->capacity = MAX (capacity, 1u);
  log->entries = g_new (Entry, log->capacity);
  return log;
}

void
evb_trace_log_free (EvbTraceLog *log)
{
  if (log == NULL)
    return;
  g_free (log->entries);
  g_free (log);
}

guint
evb_trace_log_get_capacity (EvbTraceLog *log)
{
  return log->capacity;
}

const char *
evb_result_to_string (EvbResult result)
{
  switch (result)
    {
    case EVB_CONTINUE: return "CONTINUE";
    case EVB_HANDLED: return "HANDLED";
    case EVB_FAILED: return "FAILED";
    }
  return "a value that is no EvbResult";
}

void
evb_trace_log_add (EvbTraceLog *log, const EvbTraceRecord *record, gint64 time_us)
{
  Entry *entry = &log->entries[log->next];
  const EvbEvent *event = record->event;

  entry->trace_high = event->trace_id_high;
  entry->trace_low = event->trace_id_low;
  entry->event_id = event->id;
  entry->parent_id = event->parent_id;
  entry->route_id = record->route_id;
  entry->job_id = record->job_id;
  entry->time_us = time_us;
  entry->priority = record->priority;
  entry->count = record->count;
  entry->step = (guint8) record->step;
  entry->mode = (guint8) record->mode;
  entry->result = (guint8) record->result;
  /* Only what the query reads: the type where an event's first record may
   * be (its dispatch, or a receipt that outlived it), a label and a text
   * where the step has them.  Most records copy one short string. */
  if (record->step == EVB_TRACE_DISPATCH || record->step == EVB_TRACE_RECEIPT)
    g_strlcpy (entry->type, event->type, sizeof entry->type);
  else
    entry->type[0] = '\0';
  if (record->route_label != NULL)
    g_strlcpy (entry->label, record->route_label, sizeof entry->label);
  else
    entry->label[0] = '\0';
  if (record->text != NULL)
    g_strlcpy (entry->text, record->text, sizeof entry->text);
  else
    entry->text[0] = '\0';
  log->next = (log->next + 1) % log->capacity;
  log->kept++;
}

/* ---- query -------------------------------------------------------------- */

typedef struct {
  json_t *events;       /* the answer's array */
  GHashTable *by_event; /* event id -> its JSON object (borrowed from events) */
  GHashTable *routes;   /* "event id/route id/job id" -> route JSON (borrowed) */
  gboolean partial;
} Query;

static json_t *
event_of (Query *query, const Entry *entry)
{
  json_t *event = g_hash_table_lookup (query->by_event, &entry->event_id);

  if (event != NULL)
    return event;
  /* Its dispatch record was overwritten (or it is a receipt of an event
   * dispatched before): keep what is left, and say the trace is partial. */
  if (entry->step != EVB_TRACE_DISPATCH)
    query->partial = TRUE;
  event = json_pack ("{s:I, s:I, s:s, s:o, s:o, s:n, s:n, s:n, s:[]}", "id", (json_int_t) entry->event_id,
                     "parent_id", (json_int_t) entry->parent_id, "type", entry->type[0] != '\0' ? entry->type : "?",
                     "time_us", entry->step == EVB_TRACE_DISPATCH ? json_integer (entry->time_us) : json_null (),
                     "matched", entry->step == EVB_TRACE_DISPATCH ? json_integer (entry->count) : json_null (),
                     "outcome", "end_us", "receipt", "routes");
  json_array_append_new (query->events, event);
  g_hash_table_insert (query->by_event, (gpointer) &entry->event_id, event);
  return event;
}

/* A route's entry under its event: one per (route, job); a sync call's
 * start is the time its level began. */
static json_t *
route_of (Query *query, json_t *event, const Entry *entry, gint64 level_start_us)
{
  g_autofree char *key = g_strdup_printf ("%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT,
                                          entry->event_id, entry->route_id, entry->job_id);
  json_t *route = g_hash_table_lookup (query->routes, key);

  if (route != NULL)
    return route;
  route = json_pack ("{s:I, s:s, s:s, s:i, s:o, s:I, s:n, s:n, s:[], s:n, s:n}", "id", (json_int_t) entry->route_id,
                     "label", entry->label, "mode", entry->mode == EVB_MODE_ASYNC ? "async" : "sync",
                     "priority", entry->priority,
                     "job", entry->job_id != 0 ? json_integer ((json_int_t) entry->job_id) : json_null (),
                     "start_us", (json_int_t) (level_start_us != 0 ? level_start_us : entry->time_us),
                     "end_us", "result", "states", "failure", "skipped");
  json_array_append_new (json_object_get (event, "routes"), route);
  g_hash_table_insert (query->routes, g_steal_pointer (&key), route);
  return route;
}

static gboolean
is_final_state (const char *state)
{
  return strcmp (state, "completed") == 0 || strcmp (state, "failed") == 0 || strcmp (state, "cancelled") == 0;
}

static void
apply (Query *query, const Entry *entry, GHashTable *level_starts)
{
  json_t *event = event_of (query, entry);
  gint64 *level_start = g_hash_table_lookup (level_starts, &entry->event_id);
  json_t *route;

  switch ((EvbTraceStep) entry->step)
    {
    case EVB_TRACE_DISPATCH:
      break;
    case EVB_TRACE_LEVEL:
      if (level_start == NULL)
        {
          level_start = g_new (gint64, 1);
          g_hash_table_insert (level_starts, (gpointer) &entry->event_id, level_start);
        }
      *level_start = entry->time_us;
      break;
    case EVB_TRACE_SKIPPED:
      route = route_of (query, event, entry, 0);
      json_object_set_new (route, "skipped", json_string (entry->text));
      json_object_set_new (route, "end_us", json_integer (entry->time_us));
      break;
    case EVB_TRACE_RESULT:
      route = route_of (query, event, entry, level_start != NULL ? *level_start : 0);
      json_object_set_new (route, "result", json_string (evb_result_to_string ((EvbResult) entry->result)));
      if (entry->job_id == 0)
        json_object_set_new (route, "end_us", json_integer (entry->time_us));
      break;
    case EVB_TRACE_JOB:
      route = route_of (query, event, entry, 0);
      json_array_append_new (json_object_get (route, "states"),
                             json_pack ("{s:s, s:I}", "state", entry->text, "time_us", (json_int_t) entry->time_us));
      if (is_final_state (entry->text))
        json_object_set_new (route, "end_us", json_integer (entry->time_us));
      break;
    case EVB_TRACE_FAILURE:
      route = route_of (query, event, entry, level_start != NULL ? *level_start : 0);
      json_object_set_new (route, "failure", json_string (entry->text));
      break;
    case EVB_TRACE_WALK_END:
      json_object_set_new (event, "outcome", json_string (entry->text));
      json_object_set_new (event, "end_us", json_integer (entry->time_us));
      break;
    case EVB_TRACE_RECEIPT:
      json_object_set_new (event, "receipt", json_string (entry->text));
      break;
    }
}

json_t *
evb_trace_log_query (EvbTraceLog *log, guint64 trace_high, guint64 trace_low)
{
  guint n = (guint) MIN (log->kept, (guint64) log->capacity);
  guint first = log->kept > log->capacity ? log->next : 0;
  g_autoptr (GHashTable) level_starts = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, g_free);
  Query query = {
    .events = json_array (),
    .by_event = g_hash_table_new (g_int64_hash, g_int64_equal),
    .routes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
    .partial = FALSE,
  };
  guint matched = 0;
  char id[33];

  for (guint i = 0; i < n; i++)
    {
      const Entry *entry = &log->entries[(first + i) % log->capacity];

      if (entry->trace_high != trace_high || entry->trace_low != trace_low)
        continue;
      matched++;
      apply (&query, entry, level_starts);
    }
  /* Once the ring has wrapped, a first event with a parent may have lost
   * its ancestors to it. */
  if (log->kept > log->capacity && json_array_size (query.events) > 0
      && json_integer_value (json_object_get (json_array_get (query.events, 0), "parent_id")) != 0)
    query.partial = TRUE;
  g_hash_table_unref (query.by_event);
  g_hash_table_unref (query.routes);
  g_snprintf (id, sizeof id, "%016" G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER "x", trace_high, trace_low);
  return json_pack ("{s:s, s:i, s:b, s:o}", "trace_id", id, "records", (int) matched, "partial", query.partial,
                    "events", query.events);
}
