/* Health from real signals: the share of failed handler runs over a sliding
 * window, jobs in flight past a threshold, a saturated inbox, and plugins
 * that say they are unhealthy (evb_plugin_set_health).
 *
 * The window is measured on the host's own route counters (completed and
 * failed, sync and async alike), sampled by the plugin's tick: evbus.failure
 * alone would give the numerator but not how many runs succeeded. */
#include "dashboard-private.h"

#include <string.h>

void
dash_count_runs (Dashboard *self, json_t *stats, guint64 *runs, guint64 *failed)
{
  json_t *routes = json_object_get (stats, "routes");
  gsize i;
  json_t *route;

  *runs = 0;
  *failed = 0;
  json_array_foreach (routes, i, route)
    {
      guint64 route_failed = (guint64) json_integer_value (json_object_get (route, "failed"));

      /* Our own observers run once per status event: counting them would
       * dilute the rate with the dashboard's bookkeeping. */
      if (g_strcmp0 (json_string_value (json_object_get (route, "plugin")), self->plugin->name) == 0)
        continue;
      *runs += (guint64) json_integer_value (json_object_get (route, "completed")) + route_failed;
      *failed += route_failed;
    }
}

void
dash_health_sample (Dashboard *self, json_t *stats)
{
  DashSample sample = { .mono_us = g_get_monotonic_time () };
  gint64 window_start = sample.mono_us - (gint64) self->window_s * G_USEC_PER_SEC;
  guint keep_from = 0;

  dash_count_runs (self, stats, &sample.runs, &sample.failed);
  g_array_append_val (self->samples, sample);
  /* Keep the newest sample at or before the window's start (the baseline)
   * and everything after it. */
  for (guint i = 0; i < self->samples->len; i++)
    if (g_array_index (self->samples, DashSample, i).mono_us <= window_start)
      keep_from = i;
  if (keep_from > 0)
    g_array_remove_range (self->samples, 0, keep_from);
}

static void
failure_window (Dashboard *self, json_t *stats, DashHealth *health)
{
  gint64 window_start = g_get_monotonic_time () - (gint64) self->window_s * G_USEC_PER_SEC;
  guint64 runs;
  guint64 failed;
  DashSample baseline;

  dash_count_runs (self, stats, &runs, &failed);
  if (self->samples->len == 0)
    return;
  /* Until the window has elapsed once, the first sample is the baseline. */
  baseline = g_array_index (self->samples, DashSample, 0);
  for (guint i = 0; i < self->samples->len; i++)
    if (g_array_index (self->samples, DashSample, i).mono_us <= window_start)
      baseline = g_array_index (self->samples, DashSample, i);
  /* A removed route takes its counts with it: never go negative. */
  health->window_runs = runs > baseline.runs ? runs - baseline.runs : 0;
  health->window_failed = failed > baseline.failed ? failed - baseline.failed : 0;
  health->window_failed = MIN (health->window_failed, health->window_runs);
  health->failure_rate = health->window_runs > 0 ? (double) health->window_failed / (double) health->window_runs : 0.0;
}

static char *
format_seconds (gint64 us)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT ".%01d s", us / G_USEC_PER_SEC, (int) (us % G_USEC_PER_SEC / 100000));
}

void
dash_health_evaluate (Dashboard *self, json_t *stats, DashHealth *health)
{
  json_t *bus = json_object_get (stats, "bus");
  json_t *jobs = json_object_get (stats, "jobs");
  gint64 stall_us = (gint64) self->stall_s * G_USEC_PER_SEC;
  gboolean listed_all;
  json_t *oldest = NULL;
  json_t *job;
  gsize i;

  memset (health, 0, sizeof *health);
  health->reasons = g_ptr_array_new_with_free_func (g_free);

  failure_window (self, stats, health);
  if (health->window_failed > 0 && health->failure_rate > self->failure_rate_threshold)
    g_ptr_array_add (health->reasons,
                     g_strdup_printf ("failure rate %.0f%% over the last %u s is above the %.0f%% threshold (%"
                                      G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " handler runs failed)",
                                      health->failure_rate * 100.0, self->window_s,
                                      self->failure_rate_threshold * 100.0, health->window_failed,
                                      health->window_runs));

  /* The host lists the oldest jobs, oldest first: the stalled ones lead. */
  json_array_foreach (jobs, i, job)
    {
      if (json_integer_value (json_object_get (job, "age_us")) <= stall_us)
        break;
      health->stalled_jobs++;
      if (oldest == NULL)
        oldest = job;
    }
  listed_all = (json_int_t) json_array_size (jobs) == json_integer_value (json_object_get (bus, "jobs_in_flight"));
  if (oldest != NULL)
    {
      g_autofree char *age = format_seconds (json_integer_value (json_object_get (oldest, "age_us")));

      g_ptr_array_add (health->reasons,
                       g_strdup_printf ("%s%u job%s in flight longer than %u s (oldest: %s, job %" G_GINT64_FORMAT
                                        ", %s, %s)",
                                        health->stalled_jobs == json_array_size (jobs) && !listed_all ? "at least "
                                                                                                      : "",
                                        health->stalled_jobs, health->stalled_jobs == 1 ? "" : "s", self->stall_s,
                                        json_string_value (json_object_get (oldest, "handler")),
                                        (gint64) json_integer_value (json_object_get (oldest, "job")),
                                        json_string_value (json_object_get (oldest, "state")), age));
    }

  health->inbox_depth = (guint) json_integer_value (json_object_get (bus, "inbox_depth"));
  health->inbox_limit = (guint) json_integer_value (json_object_get (bus, "inbox_limit"));
  /* Saturated at 90% of the limit: integer test, depth / limit >= 9 / 10. */
  health->inbox_saturated = health->inbox_limit > 0
                            && (guint64) health->inbox_depth * 10 >= (guint64) health->inbox_limit * 9;
  if (health->inbox_saturated)
    g_ptr_array_add (health->reasons, g_strdup_printf ("inbox saturated: %u of %u events queued (90%% or more)",
                                                       health->inbox_depth, health->inbox_limit));

  /* What plugins say of themselves (evb_plugin_set_health): a connection
   * lost for too long, for instance. */
  json_array_foreach (json_object_get (stats, "plugins"), i, job)
    {
      const char *reason = json_string_value (json_object_get (job, "unhealthy"));

      if (reason == NULL)
        continue;
      health->unhealthy_plugins++;
      g_ptr_array_add (health->reasons, dash_plugin_reason (json_string_value (json_object_get (job, "name")),
                                                            reason));
    }
  health->healthy = health->reasons->len == 0;
}

char *
dash_plugin_reason (const char *instance, const char *reason)
{
  return g_strdup_printf ("plugin %s: %s", instance, reason);
}

char *
dash_plugin_health_lines (EvbPlugin *plugin)
{
  json_t *reasons = evb_plugin_get_health (plugin);
  GString *lines = g_string_new (NULL);
  const char *instance;
  json_t *reason;

  json_object_foreach (reasons, instance, reason)
    {
      g_autofree char *line = dash_plugin_reason (instance, json_string_value (reason));

      g_string_append_printf (lines, "%s\n", line);
    }
  json_decref (reasons);
  return g_string_free (lines, FALSE);
}

void
dash_health_clear (DashHealth *health)
{
  g_clear_pointer (&health->reasons, g_ptr_array_unref);
}

json_t *
dash_health_to_json (Dashboard *self, const DashHealth *health)
{
  json_t *reasons = json_array ();

  for (guint i = 0; i < health->reasons->len; i++)
    json_array_append_new (reasons, json_string (g_ptr_array_index (health->reasons, i)));
  return json_pack ("{s:b, s:o, s:f, s:f, s:i, s:I, s:I, s:i, s:i, s:i, s:i, s:b, s:i}",
                    "healthy", health->healthy,
                    "reasons", reasons,
                    "failure_rate", health->failure_rate,
                    "failure_rate_threshold", self->failure_rate_threshold,
                    "window_s", (int) self->window_s,
                    "window_runs", (json_int_t) health->window_runs,
                    "window_failed", (json_int_t) health->window_failed,
                    "stalled_jobs", (int) health->stalled_jobs,
                    "stall_s", (int) self->stall_s,
                    "inbox_depth", (int) health->inbox_depth,
                    "inbox_limit", (int) health->inbox_limit,
                    "inbox_saturated", health->inbox_saturated,
                    "unhealthy_plugins", (int) health->unhealthy_plugins);
}
