/* Failure, status and unhandled events: what the host tells observers. */
#include "bus-private.h"

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
  snapshot = evb_route_table_lookup (bus->table, type);
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

void
evb_report_failure (EvbBus *bus, EvbRoute *route, const EvbEvent *origin, const EvbFailure *failure,
                    gboolean on_worker, guint64 job_id)
{
  const char *plugin = route->plugin != NULL ? route->plugin->name : NULL;
  const char *domain = failure->domain != NULL ? failure->domain : (plugin != NULL ? plugin : "host");
  const char *message = failure->message != NULL ? failure->message : "(no message)";
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
  data = json_pack ("{s:{s:s, s:I, s:s, s:O}, s:o, s:s, s:s?, s:{s:s, s:i, s:s}, s:s, s:o}",
                    "origin",
                    "type", origin->type, "id", (json_int_t) origin->id, "source", origin->source,
                    "data", origin->data,
                    "route", route_to_json (route),
                    "handler", route->label,
                    "plugin", plugin,
                    "error", "domain", domain, "code", failure->code, "message", message,
                    "thread", on_worker ? "worker" : "main",
                    "job", job_id != 0 ? json_integer ((json_int_t) job_id) : json_null ());
  if (route->on_failure != NULL)
    emit_report (bus, route->on_failure, json_deep_copy (data), EVB_EVENT_FLAG_FAILURE);
  emit_report (bus, "evbus.failure", data, EVB_EVENT_FLAG_FAILURE);
}

void
evb_report_status (EvbBus *bus, EvbJob *job)
{
  char type[40];
  const char *state = evb_job_state_to_string (job->state);
  EvbRoute *route = job->route;
  json_t *data;
  json_t *error = json_null ();
  /* Only what the main thread already owns: the worker may be writing the
   * rest until its "finished" notice arrives. */
  gboolean final = job->state == EVB_JOB_COMPLETED || job->state == EVB_JOB_FAILED
                   || job->state == EVB_JOB_CANCELLED;

  if (!job->emits_status || !bus->settings.status_events)
    return;
  g_snprintf (type, sizeof type, "evbus.status.%s", state);
  if (!evb_bus_wants (bus, type))
    return;

  if (job->state == EVB_JOB_FAILED)
    error = json_pack ("{s:s?, s:i, s:s?}", "domain", job->failure.domain, "code", job->failure.code,
                       "message", job->failure.message);
  data = json_pack ("{s:I, s:s, s:{s:I, s:s}, s:o, s:s, s:s?, s:I, s:o, s:o, s:o}",
                    "job", (json_int_t) job->id,
                    "state", state,
                    "event", "id", (json_int_t) job->event->id, "type", job->event->type,
                    "route", route_to_json (route),
                    "handler", route->label,
                    "plugin", route->plugin != NULL ? route->plugin->name : NULL,
                    "time_us", (json_int_t) g_get_real_time (),
                    "queue_wait_us", job->seen_started ? json_integer (job->started_us - job->created_us)
                                                          : json_null (),
                    "run_time_us", final && job->ran
                                     ? json_integer (job->finished_us - job->started_us)
                                     : json_null (),
                    "error", error);
  emit_report (bus, type, data, EVB_EVENT_FLAG_STATUS);
}

void
evb_report_unhandled (EvbBus *bus, const EvbEvent *event)
{
  emit_report (bus, "evbus.unhandled", json_pack ("{s:o}", "event", evb_event_to_json (event)), 0);
}
