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

gboolean
evb_bus_wants (EvbBus *bus, const char *type)
{
  g_autoptr (EvbRouteSnapshot) snapshot = NULL;

  if (bus->observer != NULL)
    return TRUE;
  snapshot = evb_route_cache_lookup (bus->route_cache, type, evb_type_hash (type, strlen (type)));
  return snapshot->n_matches > 0;
}

static void
emit_report (EvbBus *bus, const char *type, json_t *data, guint32 flags)
{
  g_autoptr (GError) error = NULL;

  if (!evb_bus_emit_event (bus, evb_event_new (type, "host", data, flags), &error))
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
  data = json_pack ("{s:{s:s, s:I, s:s, s:O}, s:o, s:s, s:s?, s:{s:s, s:i, s:s}, s:s, s:o}",
                    "origin",
                    "type", origin->type, "id", (json_int_t) origin->id, "source", origin->source,
                    "data", origin->data,
                    "route", json_incref (json_object_get (route_report_fields (route), "route")),
                    "handler", route->label,
                    "plugin", plugin,
                    "error", "domain", domain, "code", failure->code, "message", message,
                    "thread", on_worker ? "worker" : "main",
                    "job", job_id != 0 ? json_integer ((json_int_t) job_id) : json_null ());
  if (want_on_failure)
    emit_report (bus, route->on_failure, want_failure ? json_deep_copy (data) : json_incref (data),
                 EVB_EVENT_FLAG_FAILURE);
  if (want_failure)
    emit_report (bus, "evbus.failure", json_incref (data), EVB_EVENT_FLAG_FAILURE);
  json_decref (data);
}

/* Indexed by EvbJobState; "evbus.status." + evb_job_state_to_string (). */
static const char *const status_types[] = {
  [EVB_JOB_WAITING] = "evbus.status.waiting",
  [EVB_JOB_EXECUTING] = "evbus.status.executing",
  [EVB_JOB_COMPLETED] = "evbus.status.completed",
  [EVB_JOB_FAILED] = "evbus.status.failed",
  [EVB_JOB_CANCELLING] = "evbus.status.cancelling",
  [EVB_JOB_CANCELLED] = "evbus.status.cancelled",
};

void
evb_report_status (EvbBus *bus, EvbJob *job)
{
  const char *type = status_types[job->state];
  const char *state = evb_job_state_to_string (job->state);
  EvbRoute *route = job->route;
  json_t *data;
  json_t *event;
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
    error = json_pack ("{s:s?, s:i, s:s?}", "domain", job->failure.domain, "code", job->failure.code,
                       "message", job->failure.message);
  /* By hand rather than json_pack: one of these per job transition, and the
   * format parsing and string checks cost as much as the allocations.  Types
   * and states are validated ASCII, hence _nocheck. */
  data = json_object ();
  json_object_set_new_nocheck (data, "job", json_integer ((json_int_t) job->id));
  json_object_set_new_nocheck (data, "state", json_string_nocheck (state));
  event = json_object ();
  json_object_set_new_nocheck (event, "id", json_integer ((json_int_t) job->event->id));
  json_object_set_new_nocheck (event, "type", json_string_nocheck (job->event->type));
  json_object_set_new_nocheck (data, "event", event);
  json_object_update (data, route_report_fields (route)); /* route, handler, plugin */
  json_object_set_new_nocheck (data, "time_us", json_integer ((json_int_t) g_get_real_time ()));
  json_object_set_new_nocheck (data, "queue_wait_us", job->seen_started
                                                        ? json_integer (job->started_us - job->created_us)
                                                        : json_null ());
  json_object_set_new_nocheck (data, "run_time_us", final && job->ran
                                                      ? json_integer (job->finished_us - job->started_us)
                                                      : json_null ());
  json_object_set_new_nocheck (data, "error", error);
  emit_report (bus, type, data, EVB_EVENT_FLAG_STATUS);
}

void
evb_report_unhandled (EvbBus *bus, const EvbEvent *event)
{
  emit_report (bus, "evbus.unhandled", json_pack ("{s:o}", "event", evb_event_to_json (event)), 0);
}
