/* GET /metrics: Prometheus text exposition format 0.0.4.
 *
 * Histograms: the host's buckets are log2 microseconds, bucket i holding
 * whole values v with 2^(i-1) <= v < 2^i (bucket 0: v = 0), the last one
 * open.  Prometheus buckets are cumulative and inclusive (v <= le), in
 * seconds; for whole microseconds "v < 2^i" is "v <= 2^i - 1", so bucket i
 * is exposed as le = (2^i - 1) / 10^6, printed exactly, and the open bucket
 * as le="+Inf".  Every series lists the same bounds so that series of one
 * family can be aggregated. */
#include "dashboard-private.h"

#include <string.h>

/* Must match the host's histogram (28 buckets, the last open): checked
 * against the snapshot, whose open bucket says "+Inf". */
#define HOST_BUCKETS 28

/* Label values escape backslash, double quote and newline. */
static void
append_label_value (GString *out, const char *value)
{
  for (const char *p = value != NULL ? value : ""; *p != '\0'; p++)
    {
      if (*p == '\\')
        g_string_append (out, "\\\\");
      else if (*p == '"')
        g_string_append (out, "\\\"");
      else if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

/* Microseconds as exact decimal seconds: 1 -> "0.000001", 3000000 -> "3". */
static void
append_seconds (GString *out, guint64 us)
{
  guint64 fraction = us % G_USEC_PER_SEC;
  char digits[8];
  int length;

  g_string_append_printf (out, "%" G_GUINT64_FORMAT, us / G_USEC_PER_SEC);
  if (fraction == 0)
    return;
  length = g_snprintf (digits, sizeof digits, "%06" G_GUINT64_FORMAT, fraction);
  while (length > 0 && digits[length - 1] == '0')
    length--;
  g_string_append_printf (out, ".%.*s", length, digits);
}

static void
family (GString *out, const char *name, const char *type, const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample_u64 (GString *out, const char *name, const char *labels, guint64 value)
{
  g_string_append_printf (out, "%s%s%s%s %" G_GUINT64_FORMAT "\n", name, labels[0] != '\0' ? "{" : "", labels,
                          labels[0] != '\0' ? "}" : "", value);
}

static guint64
member_u64 (json_t *object, const char *key)
{
  json_int_t value = json_integer_value (json_object_get (object, key));

  return value > 0 ? (guint64) value : 0;
}

/* route="3",pattern="work.*",handler="w.run",plugin="w",mode="async" */
static char *
route_labels (json_t *route)
{
  GString *labels = g_string_new (NULL);

  g_string_append_printf (labels, "route=\"%" G_GUINT64_FORMAT "\",pattern=\"", member_u64 (route, "id"));
  append_label_value (labels, json_string_value (json_object_get (route, "pattern")));
  g_string_append (labels, "\",handler=\"");
  append_label_value (labels, json_string_value (json_object_get (route, "handler")));
  g_string_append (labels, "\",plugin=\"");
  append_label_value (labels, json_string_value (json_object_get (route, "plugin")));
  g_string_append (labels, "\",mode=\"");
  append_label_value (labels, json_string_value (json_object_get (route, "mode")));
  g_string_append_c (labels, '"');
  return g_string_free (labels, FALSE);
}

static void
bus_counter (GString *out, json_t *bus, const char *key, const char *name, const char *help)
{
  family (out, name, "counter", help);
  sample_u64 (out, name, "", member_u64 (bus, key));
}

static void
bus_gauge (GString *out, json_t *bus, const char *key, const char *name, const char *help)
{
  family (out, name, "gauge", help);
  sample_u64 (out, name, "", member_u64 (bus, key));
}

/* One counter family with a sample per route (and per @states, if any). */
static void
route_family (GString *out, json_t *routes, char **labels, const char *name, const char *type, const char *help,
              const char *const *keys, const char *const *states)
{
  gsize i;
  json_t *route;

  family (out, name, type, help);
  json_array_foreach (routes, i, route)
    for (guint k = 0; keys[k] != NULL; k++)
      {
        g_autofree char *all = states != NULL ? g_strdup_printf ("%s,state=\"%s\"", labels[i], states[k])
                                              : g_strdup (labels[i]);

        sample_u64 (out, name, all, member_u64 (route, keys[k]));
      }
}

static void
histogram (GString *out, json_t *routes, char **labels, const char *key, const char *name, const char *help)
{
  gsize i;
  json_t *route;

  family (out, name, "histogram", help);
  json_array_foreach (routes, i, route)
    {
      json_t *hist = json_object_get (route, key);
      guint64 counts[HOST_BUCKETS] = { 0 };
      guint64 cumulative = 0;
      gsize b;
      json_t *bucket;

      json_array_foreach (json_object_get (hist, "buckets"), b, bucket)
        {
          json_t *bound = json_array_get (bucket, 0);
          guint64 count = (guint64) MAX (json_integer_value (json_array_get (bucket, 1)), 0);
          json_int_t upper = json_integer_value (bound);
          guint index;

          /* [2^i, n] for bucket i, ["+Inf", n] for the open one. */
          if (json_is_string (bound) || upper <= 0)
            index = HOST_BUCKETS - 1;
          else
            index = MIN ((guint) __builtin_ctzll ((guint64) upper), HOST_BUCKETS - 1);
          counts[index] += count;
        }
      for (guint k = 0; k < HOST_BUCKETS - 1; k++)
        {
          cumulative += counts[k];
          g_string_append_printf (out, "%s_bucket{%s,le=\"", name, labels[i]);
          append_seconds (out, (((guint64) 1) << k) - 1);
          g_string_append_printf (out, "\"} %" G_GUINT64_FORMAT "\n", cumulative);
        }
      cumulative += counts[HOST_BUCKETS - 1];
      g_string_append_printf (out, "%s_bucket{%s,le=\"+Inf\"} %" G_GUINT64_FORMAT "\n", name, labels[i], cumulative);
      g_string_append_printf (out, "%s_sum{%s} ", name, labels[i]);
      append_seconds (out, member_u64 (hist, "sum_us"));
      g_string_append_printf (out, "\n%s_count{%s} %" G_GUINT64_FORMAT "\n", name, labels[i], cumulative);
    }
}

/* The host lists jobs in flight oldest first. */
static double
oldest_job_age_us (json_t *stats)
{
  json_t *oldest = json_array_get (json_object_get (stats, "jobs"), 0);

  return oldest != NULL ? (double) json_integer_value (json_object_get (oldest, "age_us")) : 0.0;
}

/* KEY="VALUE", escaped. */
static char *
one_label (const char *key, const char *value)
{
  GString *labels = g_string_new (key);

  g_string_append (labels, "=\"");
  append_label_value (labels, value);
  g_string_append_c (labels, '"');
  return g_string_free (labels, FALSE);
}

/* Plugins' own health, and other hosts' jobs and failures by host. */
static void
plugin_and_cluster_metrics (Dashboard *self, GString *out, json_t *stats)
{
  json_t *cluster = dash_cluster_to_json (self->cluster);
  json_t *hosts = json_object_get (cluster, "hosts");
  json_t *plugin;
  json_t *counts;
  const char *host;
  gsize i;

  family (out, "evbus_plugin_unhealthy", "gauge", "1 while the plugin instance says it is unhealthy, else 0.");
  json_array_foreach (json_object_get (stats, "plugins"), i, plugin)
    {
      g_autofree char *labels = one_label ("plugin", json_string_value (json_object_get (plugin, "name")));

      sample_u64 (out, "evbus_plugin_unhealthy", labels, json_is_string (json_object_get (plugin, "unhealthy")));
    }
  if (!json_is_object (cluster))
    {
      json_decref (cluster);
      return;
    }
  family (out, "evbus_dashboard_cluster_jobs_in_flight", "gauge",
          "Jobs of other hosts waiting or running, as their status events said (cluster view).");
  json_object_foreach (hosts, host, counts)
    {
      g_autofree char *labels = one_label ("host", host);

      sample_u64 (out, "evbus_dashboard_cluster_jobs_in_flight", labels, member_u64 (counts, "jobs_in_flight"));
    }
  family (out, "evbus_dashboard_cluster_failures_total", "counter", "Failure events of other hosts received.");
  json_object_foreach (hosts, host, counts)
    {
      g_autofree char *labels = one_label ("host", host);

      sample_u64 (out, "evbus_dashboard_cluster_failures_total", labels, member_u64 (counts, "failures"));
    }
  family (out, "evbus_dashboard_cluster_jobs_dropped_total", "counter",
          "Other hosts' jobs forgotten to stay within cluster_jobs.");
  sample_u64 (out, "evbus_dashboard_cluster_jobs_dropped_total", "", member_u64 (cluster, "jobs_dropped"));
  json_decref (cluster);
}

char *
dash_metrics_render (Dashboard *self, json_t *stats, const DashHealth *health)
{
  DashFrontCounters http;
  static const char *const run_keys[] = { "completed", "failed", "cancelled", NULL };
  static const char *const job_keys[] = { "waiting", "executing", NULL };
  static const char *const matched_key[] = { "matched", NULL };
  static const char *const filtered_key[] = { "filtered", NULL };
  static const char *const handled_key[] = { "handled", NULL };
  static const char *const timeouts_key[] = { "timeouts", NULL };
  json_t *bus = json_object_get (stats, "bus");
  json_t *routes = json_object_get (stats, "routes");
  gsize n_routes = json_array_size (routes);
  g_auto (GStrv) labels = g_new0 (char *, n_routes + 1);
  GString *out = g_string_sized_new (4096 + n_routes * 8192);
  char rate[G_ASCII_DTOSTR_BUF_SIZE];
  char age[G_ASCII_DTOSTR_BUF_SIZE];

  for (gsize i = 0; i < n_routes; i++)
    labels[i] = route_labels (json_array_get (routes, i));

  bus_counter (out, bus, "emitted", "evbus_events_emitted_total", "Events accepted into the inbox.");
  bus_counter (out, bus, "dispatched", "evbus_events_dispatched_total", "Events taken out of the inbox and routed.");
  bus_counter (out, bus, "dropped", "evbus_events_dropped_total", "Events lost to a full inbox (dropped or rejected).");
  bus_counter (out, bus, "unhandled", "evbus_events_unhandled_total", "Events no route accepted.");
  bus_counter (out, bus, "overcommitted", "evbus_events_overcommitted_total",
               "Main-thread emits admitted past a full blocking inbox.");
  bus_counter (out, bus, "failures", "evbus_failures_total", "Failure events produced.");
  bus_counter (out, bus, "failures_suppressed", "evbus_failures_suppressed_total",
               "Failures of failure or status handlers, logged and not re-emitted.");
  family (out, "evbus_jobs_total", "counter", "Async jobs ended, by final state.");
  sample_u64 (out, "evbus_jobs_total", "state=\"completed\"", member_u64 (bus, "jobs_completed"));
  sample_u64 (out, "evbus_jobs_total", "state=\"failed\"", member_u64 (bus, "jobs_failed"));
  sample_u64 (out, "evbus_jobs_total", "state=\"cancelled\"", member_u64 (bus, "jobs_cancelled"));
  bus_gauge (out, bus, "jobs_in_flight", "evbus_jobs_in_flight", "Async jobs queued or running.");
  bus_gauge (out, bus, "inbox_depth", "evbus_inbox_depth", "Events waiting in the inbox.");
  bus_gauge (out, bus, "inbox_peak", "evbus_inbox_peak", "Highest inbox depth seen.");
  bus_gauge (out, bus, "inbox_limit", "evbus_inbox_limit", "Inbox capacity.");
  bus_gauge (out, bus, "workers", "evbus_workers", "Worker threads for async handlers.");
  family (out, "evbus_oldest_job_age_seconds", "gauge", "Age of the oldest async job in flight (0: none).");
  g_string_append_printf (out, "evbus_oldest_job_age_seconds %s\n",
                          g_ascii_dtostr (age, sizeof age, oldest_job_age_us (stats) / 1e6));

  route_family (out, routes, labels, "evbus_route_matched_total", "counter",
                "Events whose type matched the route (owner alive).", matched_key, NULL);
  route_family (out, routes, labels, "evbus_route_filtered_total", "counter",
                "Matched events the route's filter rejected.", filtered_key, NULL);
  route_family (out, routes, labels, "evbus_route_runs_total", "counter",
                "Handler runs ended, by state (completed includes handled).", run_keys, run_keys);
  route_family (out, routes, labels, "evbus_route_handled_total", "counter",
                "Handler runs that returned HANDLED and stopped the chain.", handled_key, NULL);
  route_family (out, routes, labels, "evbus_route_timeouts_total", "counter", "Handler runs over their timeout.",
                timeouts_key, NULL);
  route_family (out, routes, labels, "evbus_route_jobs", "gauge", "Async jobs of the route now, by state.", job_keys,
                job_keys);
  histogram (out, routes, labels, "queue_wait_us", "evbus_route_queue_wait_seconds",
             "Async jobs: time from submission to start.");
  histogram (out, routes, labels, "run_time_us", "evbus_route_run_time_seconds",
             "Handler run time (sync routes: one call in 16 is timed).");

  family (out, "evbus_dashboard_sse_clients", "gauge", "Connected /events clients.");
  sample_u64 (out, "evbus_dashboard_sse_clients", "", g_list_length (self->sse_clients));
  family (out, "evbus_dashboard_sse_dropped_clients_total", "counter",
          "/events clients cut off for falling sse_buffer_kb behind.");
  sample_u64 (out, "evbus_dashboard_sse_dropped_clients_total", "", self->sse_dropped_clients);
  family (out, "evbus_dashboard_sse_skipped_events_total", "counter",
          "Events not sent to /events clients over their max_rate (each was told how many).");
  sample_u64 (out, "evbus_dashboard_sse_skipped_events_total", "", self->sse_events_skipped);
  family (out, "evbus_dashboard_sse_buffered_bytes", "gauge", "Bytes queued for /events clients, not yet written.");
  sample_u64 (out, "evbus_dashboard_sse_buffered_bytes", "", dash_sse_buffered (self));
  family (out, "evbus_dashboard_failure_rate", "gauge", "Share of handler runs that failed in the health window.");
  g_string_append_printf (out, "evbus_dashboard_failure_rate %s\n",
                          g_ascii_dtostr (rate, sizeof rate, health->failure_rate));
  family (out, "evbus_dashboard_healthy", "gauge", "1 when /healthz answers 200, else 0.");
  sample_u64 (out, "evbus_dashboard_healthy", "", health->healthy ? 1 : 0);
  plugin_and_cluster_metrics (self, out, stats);

  dash_front_counters (self->front, &http);
  family (out, "evbus_dashboard_http_connections", "gauge", "HTTP connections open now.");
  sample_u64 (out, "evbus_dashboard_http_connections", "", (guint64) http.open);
  family (out, "evbus_dashboard_http_accepted_total", "counter", "HTTP connections accepted.");
  sample_u64 (out, "evbus_dashboard_http_accepted_total", "", (guint64) http.accepted);
  family (out, "evbus_dashboard_http_refused_total", "counter",
          "HTTP connections refused: over max_connections (503), foreign Host or absolute URL (403), no "
          "complete header within header_timeout_s (408).");
  sample_u64 (out, "evbus_dashboard_http_refused_total", "reason=\"busy\"", (guint64) http.refused_busy);
  sample_u64 (out, "evbus_dashboard_http_refused_total", "reason=\"host\"", (guint64) http.refused_host);
  sample_u64 (out, "evbus_dashboard_http_refused_total", "reason=\"timeout\"", (guint64) http.timeouts);
  family (out, "evbus_dashboard_http_accept_fd_exhausted_total", "counter",
          "Times accept () failed for want of file descriptors (EMFILE/ENFILE).");
  sample_u64 (out, "evbus_dashboard_http_accept_fd_exhausted_total", "", (guint64) http.accept_fd_exhausted);
  dash_process_metrics (out);
  return g_string_free (out, FALSE);
}
