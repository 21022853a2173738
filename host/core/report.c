/* Failure, status and unhandled events: what the host tells observers. */
#include "bus-private.h"

#include <string.h>

void
evb_failure_clear (EvbFailure *failure)
{
  g_clear_pointer (&failure->domain, g_free);
  g_clear_pointer (&failure->message, g_free);
  failure->code = 0;
}

/* The bytes of @text (@length, valid UTF-8) to keep so that what is kept
 * and @mark_length more fit in EVB_FAILURE_TEXT_MAX: cut at a character
 * boundary, backing over UTF-8 continuation bytes. */
static gsize
failure_text_keep (const char *text, gsize length, gsize mark_length)
{
  gsize keep = EVB_FAILURE_TEXT_MAX - mark_length;

  while (keep > 0 && keep < length && ((guchar) text[keep] & 0xC0) == 0x80)
    keep--;
  return keep;
}

char *
evb_failure_text_new (const char *text)
{
  gsize length = strlen (text);
  g_autofree char *valid = NULL;
  g_autofree char *mark = NULL;
  gsize valid_length;

  /* Only what could be kept is made valid (U+FFFD for a bad byte, up to
   * three bytes each), so a megabyte costs what the cap keeps. */
  valid = g_utf8_make_valid (text, MIN (length, EVB_FAILURE_TEXT_MAX));
  valid_length = strlen (valid);
  if (length <= EVB_FAILURE_TEXT_MAX && valid_length <= EVB_FAILURE_TEXT_MAX)
    return g_steal_pointer (&valid);
  mark = g_strdup_printf (EVB_FAILURE_TEXT_MARK_FORMAT, length);
  return g_strdup_printf ("%.*s%s", (int) failure_text_keep (valid, valid_length, strlen (mark)), valid, mark);
}

gboolean
evb_bus_wants (EvbBus *bus, const char *type)
{
  g_autoptr (EvbRouteSnapshot) snapshot = NULL;

  if (bus->observer != NULL)
    return TRUE;
  snapshot = evb_route_cache_lookup (bus->route_cache, type, evb_type_hash (type, strlen (type)));
  return snapshot->n_matches > 0;
}

/* Reports belong to the trace of the event they are about. */
static void
emit_report (EvbBus *bus, const char *type, json_t *data, guint32 flags, const EvbEvent *about)
{
  g_autoptr (GError) error = NULL;
  EvbTrace trace;
  EvbEvent *event;

  evb_trace_continue (about, &trace);
  event = evb_event_new (type, "host", data, flags, &trace, evb_clock_now (bus->clock));
  if (!evb_bus_emit_report (bus, event, &error))
    g_warning ("%s event lost: %s", type, error->message);
}

static json_t *
route_to_json (EvbRoute *route)
{
  return json_pack ("{s:I, s:s, s:s, s:i}",
                    "id", (json_int_t) route->id,
                    "pattern", route->pattern,
                    "mode", route->mode == EVB_MODE_ASYNC ? "async" : "sync",
                    "priority", route->priority);
}

/* What every report says about its route.  A route never changes these, so
 * they are built once and shared by reference (event data is immutable). */
static json_t *
route_report_fields (EvbRoute *route)
{
  if (route->report_fields == NULL)
    route->report_fields = json_pack ("{s:o, s:s, s:s?}", "route", route_to_json (route), "handler", route->label,
                                      "plugin", route->plugin != NULL ? route->plugin->name : NULL);
  return route->report_fields;
}

/* Sets a key given as a string literal: its length is known here, so
 * jansson need not measure it.  Steals @value. */
#define SET_NEW(object, literal, value) \
  json_object_setn_new_nocheck ((object), (literal), sizeof (literal) - 1, (value))

/* A string that every report of a kind holds (a job state, a thread name):
 * made once for the life of the process and shared by reference, as event
 * data is immutable.  Published like event.c's shared empty object.
 * Returns a new reference. */
static json_t *
shared_string (json_t **slot, const char *text)
{
  json_t *value = g_atomic_pointer_get (slot);

  if (G_UNLIKELY (value == NULL))
    {
      json_t *fresh = json_string_nocheck (text);

      if (!g_atomic_pointer_compare_and_exchange (slot, NULL, fresh))
        json_decref (fresh); /* another thread was first */
      value = g_atomic_pointer_get (slot);
    }
  return json_incref (value);
}

/* {"domain", "code", "message"}; a NULL string is null.  NULL when a string
 * is not UTF-8, where json_pack fails too. */
static json_t *
error_to_json (const char *domain, gint code, const char *message)
{
  json_t *error = json_object ();
  json_t *domain_json = domain != NULL ? json_string (domain) : json_null ();
  json_t *message_json = message != NULL ? json_string (message) : json_null ();

  if (domain_json == NULL || message_json == NULL)
    {
      json_decref (domain_json);
      json_decref (message_json);
      json_decref (error);
      return NULL;
    }
  SET_NEW (error, "domain", domain_json);
  SET_NEW (error, "code", json_integer (code));
  SET_NEW (error, "message", message_json);
  return error;
}

/* Adds the route's shared "route", "handler" and "plugin", in that order. */
static void
add_route_fields (json_t *data, EvbRoute *route)
{
  json_t *fields = route_report_fields (route);

  for (void *iter = json_object_iter (fields); iter != NULL; iter = json_object_iter_next (fields, iter))
    json_object_setn_nocheck (data, json_object_iter_key (iter), json_object_iter_key_len (iter),
                              json_object_iter_value (iter));
}

/* By hand rather than json_pack, as status events are: the same keys in
 * the same order, and NULL where json_pack would fail (a string that is
 * not UTF-8), which leaves the event's data empty. */
static json_t *
failure_to_json (EvbRoute *route, const EvbEvent *origin, const char *domain, gint code, const char *message,
                 gboolean on_worker, guint64 job_id)
{
  static json_t *thread_names[2];
  json_t *source = json_string (origin->source);
  json_t *error = error_to_json (domain, code, message);
  json_t *origin_json;
  json_t *data;

  if (source == NULL || error == NULL)
    {
      json_decref (source);
      json_decref (error);
      return NULL;
    }
  origin_json = json_object ();
  SET_NEW (origin_json, "type", json_string_nocheck (origin->type));
  SET_NEW (origin_json, "id", json_integer ((json_int_t) origin->id));
  SET_NEW (origin_json, "source", source);
  SET_NEW (origin_json, "data", json_incref (origin->data));

  data = json_object ();
  SET_NEW (data, "origin", origin_json);
  add_route_fields (data, route);
  SET_NEW (data, "error", error);
  SET_NEW (data, "thread", on_worker ? shared_string (&thread_names[1], "worker")
                                     : shared_string (&thread_names[0], "main"));
  SET_NEW (data, "job", job_id != 0 ? json_integer ((json_int_t) job_id) : json_null ());
  return data;
}

void
evb_report_failure (EvbBus *bus, EvbRoute *route, const EvbEvent *origin, const EvbFailure *failure,
                    gboolean on_worker, guint64 job_id)
{
  const char *plugin = route->plugin != NULL ? route->plugin->name : NULL;
  const char *domain = failure->domain != NULL ? failure->domain : (plugin != NULL ? plugin : "host");
  const char *message = failure->message != NULL ? failure->message : "(no message)";
  gboolean want_failure;
  gboolean want_on_failure;
  json_t *data;

  /* A handler of a failure or status event that fails would otherwise feed
   * a loop of failures: it is logged and counted, never re-emitted. */
  if (origin->flags & EVB_EVENT_FLAGS_META)
    {
      bus->failures_suppressed++;
      g_warning ("handler %s failed on %s event %" G_GUINT64_FORMAT " (not re-emitted): %s: %s",
                 route->label, origin->type, origin->id, domain, message);
      return;
    }

  bus->failures++;
  /* A failure nobody listens to costs a counter, not an event. */
  want_failure = evb_bus_wants (bus, "evbus.failure");
  want_on_failure = route->on_failure != NULL && evb_bus_wants (bus, route->on_failure);
  if (!want_failure && !want_on_failure)
    return;
  data = failure_to_json (route, origin, domain, failure->code, message, on_worker, job_id);
  if (want_on_failure)
    emit_report (bus, route->on_failure, want_failure ? json_deep_copy (data) : json_incref (data),
                 EVB_EVENT_FLAG_FAILURE, origin);
  if (want_failure)
    emit_report (bus, "evbus.failure", json_incref (data), EVB_EVENT_FLAG_FAILURE, origin);
  json_decref (data);
}

/* The origin's type as a json string.  A route's jobs mostly handle one
 * type, so the route keeps the last one for the next job to share.
 * Returns a new reference. */
static json_t *
event_type_json (EvbRoute *route, const EvbEvent *event)
{
  if (route->report_type == NULL || strcmp (json_string_value (route->report_type), event->type) != 0)
    {
      json_decref (route->report_type);
      route->report_type = json_string_nocheck (event->type);
    }
  return json_incref (route->report_type);
}

#define STATUS_PREFIX "evbus.status."

/* Indexed by EvbJobState: the type of each state's status event, whose
 * last segment is the state's name.  One table, so a state's name and its
 * event cannot drift apart. */
static const char *const status_types[] = {
  [EVB_JOB_WAITING] = STATUS_PREFIX "waiting",
  [EVB_JOB_EXECUTING] = STATUS_PREFIX "executing",
  [EVB_JOB_COMPLETED] = STATUS_PREFIX "completed",
  [EVB_JOB_FAILED] = STATUS_PREFIX "failed",
  [EVB_JOB_CANCELLING] = STATUS_PREFIX "cancelling",
  [EVB_JOB_CANCELLED] = STATUS_PREFIX "cancelled",
};

const char *
evb_job_state_to_string (EvbJobState state)
{
  return status_types[state] + strlen (STATUS_PREFIX);
}

void
evb_report_status (EvbBus *bus, EvbJob *job)
{
  static json_t *states[G_N_ELEMENTS (status_types)];
  const char *type = status_types[job->state];
  json_t *data;
  json_t *error = json_null ();
  /* Only what the main thread already owns: the worker may be writing the
   * rest until its "finished" notice arrives. */
  gboolean final = job->state == EVB_JOB_COMPLETED || job->state == EVB_JOB_FAILED
                   || job->state == EVB_JOB_CANCELLED;

  if (!job->emits_status || !bus->settings.status_events)
    return;
  if (!evb_bus_wants (bus, type))
    return;

  if (job->state == EVB_JOB_FAILED)
    error = error_to_json (job->failure.domain, job->failure.code, job->failure.message);
  /* Values fixed for the job's life are made by its first report and
   * shared by the rest (job.c releases them). */
  if (job->report_job == NULL)
    {
      job->report_job = json_integer ((json_int_t) job->id);
      job->report_event = json_object ();
      SET_NEW (job->report_event, "id", json_integer ((json_int_t) job->event->id));
      SET_NEW (job->report_event, "type", event_type_json (job->route, job->event));
    }
  if (job->seen_started && job->report_queue_wait == NULL)
    job->report_queue_wait = json_integer (job->started_us - job->created_us);

  /* By hand rather than json_pack: one of these per job transition, and the
   * format parsing and string checks cost as much as the allocations.  Types
   * and states are validated ASCII, hence _nocheck.  Ten keys: jansson's
   * first table has eight buckets, so it grows once whatever the order. */
  data = json_object ();
  SET_NEW (data, "job", json_incref (job->report_job));
  SET_NEW (data, "state", shared_string (&states[job->state], evb_job_state_to_string (job->state)));
  SET_NEW (data, "event", json_incref (job->report_event));
  add_route_fields (data, job->route);
  SET_NEW (data, "time_us", json_integer ((json_int_t) evb_clock_now (bus->clock)));
  SET_NEW (data, "queue_wait_us", job->seen_started ? json_incref (job->report_queue_wait) : json_null ());
  SET_NEW (data, "run_time_us", final && job->ran ? json_integer (job->finished_us - job->started_us) : json_null ());
  SET_NEW (data, "error", error);
  emit_report (bus, type, data, EVB_EVENT_FLAG_STATUS, job->event);
}

void
evb_report_unhandled (EvbBus *bus, const EvbEvent *event)
{
  emit_report (bus, "evbus.unhandled", json_pack ("{s:o}", "event", evb_event_to_json (event)), 0, event);
}
