/* dashboard — a live status page, metrics and health checks for an evbus
 * pipeline, served over HTTP (libsoup-3) from the host's own main loop.
 *
 * It is an ordinary plugin: it subscribes to evbus.failure like any other
 * and reads the host's counters, histograms and oldest jobs in flight
 * through evb_plugin_get_stats().  It subscribes to evbus.status.<state>
 * only while an /events client asks for that state: the host makes status
 * events only when someone listens, three per job, and a dashboard that
 * nobody streams from should not cost a pipeline that much.  No extra
 * thread but the HTTP front door's (front.c).
 *
 * Endpoints (see http.c): GET /  /events  /api/v1/snapshot  /api/v1/trace/<id>  /metrics  /healthz
 *
 * The trace view (/api/v1/trace/<id>, the page's #trace=<id>) shows what
 * the host kept of one trace: it asks the host to keep the last
 * trace_records decisions of dispatch (evb_plugin_keep_traces), which
 * costs a copy of a few records per event; 0 turns the view off.
 *
 * Options:
 *   listen         (string, "127.0.0.1:8080")  address:port; port 0 picks a free one
 *   allow_remote   (bool, false)    needed to listen on a non-loopback address
 *   token          (string, "")     bearer token every request must carry; "" = none
 *   history        (int, 50)        failures kept for the page and the snapshot
 *   sse_buffer_kb  (int, 256)       unsent bytes an /events client may lag before it is cut off
 *   failure_rate   (double, 0.5)    /healthz fails above this share of failed handler runs...
 *   window_s       (int, 30)        ...over this many seconds
 *   stall_s        (int, 60)        /healthz fails when a job is in flight longer than this
 *   max_connections (int, 256)      HTTP connections at once; one more gets 503 "busy"
 *   header_timeout_s (int, 10)      a request header not complete by then: 408, closed
 *   cluster_prefix (string, "cluster") other hosts' status and failure events (cluster.c); "": none
 *   cluster_jobs   (int, 1000)      other hosts' jobs in flight kept; the oldest dropped beyond
 *
 * The cluster view (cluster.c): failures of other hosts, imported by the
 * nats plugin as cluster.failure, join the failure list with "host" set to
 * their _origin.host; local failures have "host": null (the dashboard does
 * not know what name other hosts give this one), shown as "local".  Other
 * hosts' jobs in flight are the snapshot's "cluster" object.
 *
 * Failure messages and every other string copied out of events or traces
 * are capped at DASH_TEXT_MAX (4096) bytes with " [truncated: N bytes]".
 * /healthz is answered from a thread of its own (front.c), so that it
 * says 503 while the host's main loop is stalled.
 *
 * At init it logs its URL ("http://127.0.0.1:8080/") and emits
 * dashboard.ready {"url": ...} so that tools and tests find the port. */
#include "dashboard-private.h"

#include <string.h>

/* Sees status and failure events before any handler can stop their chain. */
#define OBSERVER_PRIORITY 1000000

/* evbus.status.<state>: only subscribed while a stream asks for it. */
static EvbResult
on_status (EvbCall *call, const EvbEvent *event)
{
  DashStatusTap *tap = call->route_data;

  dash_sse_broadcast (tap->dashboard, event, tap->kind);
  return EVB_CONTINUE;
}

static const char *const status_types[DASH_N_STATUS_STATES] = {
  "evbus.status.waiting", "evbus.status.executing", "evbus.status.completed",
  "evbus.status.failed", "evbus.status.cancelling", "evbus.status.cancelled",
};

guint32
dash_kinds_of_pattern (const char *pattern)
{
  guint32 kinds = 0;

  for (guint i = 0; i < DASH_N_STATUS_STATES; i++)
    if (pattern == NULL || evb_pattern_matches (pattern, status_types[i]))
      kinds |= 1u << i;
  if (pattern == NULL || evb_pattern_matches (pattern, "evbus.failure"))
    kinds |= 1u << DASH_KIND_FAILURE;
  return kinds;
}

void
dash_watch_status (Dashboard *self, guint32 kinds, gint delta)
{
  for (guint i = 0; i < DASH_N_STATUS_STATES; i++)
    {
      if ((kinds & (1u << i)) == 0)
        continue;
      self->status_streams[i] += (guint) delta;
      if (delta > 0 && self->status_streams[i] == 1 && !self->shutting_down)
        {
          g_autoptr (GError) error = NULL;

          self->status_routes[i] = dash_subscribe (self, status_types[i], "status", on_status,
                                                   &self->status_taps[i], &error);
          if (self->status_routes[i] == 0)
            evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING, "cannot stream %s: %s", status_types[i],
                            error->message);
        }
      else if (delta < 0 && self->status_streams[i] == 0 && self->status_routes[i] != 0)
        {
          evb_plugin_unsubscribe (self->plugin, self->status_routes[i]);
          self->status_routes[i] = 0;
        }
    }
}

static json_t *
status_streams_to_json (Dashboard *self)
{
  json_t *streams = json_object ();

  for (guint i = 0; i < DASH_N_STATUS_STATES; i++)
    json_object_set_new (streams, status_types[i] + strlen ("evbus.status."),
                         json_integer (self->status_streams[i]));
  return streams;
}

/* A failure's strings, in DashFailure's order. */
enum { F_PLUGIN, F_HANDLER, F_ORIGIN_TYPE, F_DOMAIN, F_MESSAGE, F_THREAD, F_HOST, F_COUNT };

/* One allocation per failure, not one per string: a failure storm goes
 * through here tens of thousands of times a second. */
static DashFailure *
failure_new (const EvbEvent *event)
{
  json_t *data = event->data;
  json_t *origin = json_object_get (data, "origin");
  json_t *error = json_object_get (data, "error");
  json_t *strings[F_COUNT] = {
    [F_PLUGIN] = json_object_get (data, "plugin"),
    [F_HANDLER] = json_object_get (data, "handler"),
    [F_ORIGIN_TYPE] = json_object_get (origin, "type"),
    [F_DOMAIN] = json_object_get (error, "domain"),
    [F_MESSAGE] = json_object_get (error, "message"),
    [F_THREAD] = json_object_get (data, "thread"),
    /* Only failures of other hosts (cluster.failure) have it. */
    [F_HOST] = json_object_get (json_object_get (data, "_origin"), "host"),
  };
  const char **fields[F_COUNT];
  /* Capped copies of the (rare) strings over DASH_TEXT_MAX; freed below
   * (g_autofree on an array would free only its first element). */
  char *capped[F_COUNT] = { NULL };
  const char *texts[F_COUNT];
  gsize lengths[F_COUNT];
  gsize size = 0;
  DashFailure *failure;
  char *at;

  for (guint i = 0; i < F_COUNT; i++)
    {
      if (!json_is_string (strings[i]))
        continue;
      texts[i] = json_string_value (strings[i]);
      lengths[i] = json_string_length (strings[i]);
      if (lengths[i] > DASH_TEXT_MAX)
        {
          capped[i] = dash_text_capped (texts[i], lengths[i]);
          texts[i] = capped[i];
          lengths[i] = strlen (capped[i]);
        }
      size += lengths[i] + 1;
    }
  failure = g_malloc (sizeof *failure + size);
  failure->time_us = event->time_us;
  evb_event_format_trace_id (event, failure->trace_id);
  failure->origin_id = (guint64) json_integer_value (json_object_get (origin, "id"));
  failure->job = (guint64) json_integer_value (json_object_get (data, "job"));
  failure->code = (gint) json_integer_value (json_object_get (error, "code"));
  fields[F_PLUGIN] = &failure->plugin;
  fields[F_HANDLER] = &failure->handler;
  fields[F_ORIGIN_TYPE] = &failure->origin_type;
  fields[F_DOMAIN] = &failure->domain;
  fields[F_MESSAGE] = &failure->message;
  fields[F_THREAD] = &failure->thread;
  fields[F_HOST] = &failure->host;
  at = failure->text;
  for (guint i = 0; i < F_COUNT; i++)
    {
      gsize length;

      if (!json_is_string (strings[i]))
        {
          *fields[i] = NULL;
          continue;
        }
      length = lengths[i];
      memcpy (at, texts[i], length + 1);
      *fields[i] = at;
      at += length + 1;
    }
  for (guint i = 0; i < F_COUNT; i++)
    g_free (capped[i]);
  return failure;
}

void
dash_record_failure (Dashboard *self, const EvbEvent *event)
{
  DashFailure *failure = failure_new (event);

  if (self->failures.length < self->history)
    g_queue_push_head (&self->failures, failure);
  else
    {
      /* Full: the oldest's list node is reused for the newest. */
      GList *link = g_queue_pop_tail_link (&self->failures);

      g_free (link->data);
      link->data = failure;
      g_queue_push_head_link (&self->failures, link);
    }
  self->failures_seen++;
}

/* evbus.failure: keeps the last `history` failures. */
static EvbResult
on_failure (EvbCall *call, const EvbEvent *event)
{
  Dashboard *self = call->route_data;

  dash_record_failure (self, event);
  dash_sse_broadcast (self, event, DASH_KIND_FAILURE);
  return EVB_CONTINUE;
}

static json_t *
failures_to_json (Dashboard *self)
{
  json_t *list = json_array ();

  for (GList *l = self->failures.head; l != NULL; l = l->next)
    {
      DashFailure *failure = l->data;

      json_array_append_new (list, json_pack ("{s:I, s:s?, s:s?, s:s?, s:{s:s?, s:I}, s:{s:s?, s:i, s:s?}, s:s?, s:o,"
                                              " s:s}",
                                              "time_us", (json_int_t) failure->time_us,
                                              "host", failure->host,
                                              "plugin", failure->plugin,
                                              "handler", failure->handler,
                                              "origin", "type", failure->origin_type,
                                              "id", (json_int_t) failure->origin_id,
                                              "error", "domain", failure->domain, "code", failure->code,
                                              "message", failure->message,
                                              "thread", failure->thread,
                                              "job", failure->job != 0 ? json_integer ((json_int_t) failure->job)
                                                                       : json_null (),
                                              "trace_id", failure->trace_id));
    }
  return list;
}

json_t *
dash_snapshot (Dashboard *self, json_t *stats)
{
  gint64 now_us = g_get_real_time ();
  DashHealth health;
  json_t *root = json_object ();

  dash_health_evaluate (self, stats, &health);
  json_object_set_new (root, "time_us", json_integer (now_us));
  json_object_update (root, stats);
  json_object_set_new (root, "cluster", dash_cluster_to_json (self->cluster));
  json_object_set_new (root, "dashboard",
                       json_pack ("{s:s, s:s, s:o, s:I, s:i, s:o, s:o, s:o}",
                                  "instance", self->plugin->name,
                                  "url", self->url,
                                  "recent_failures", failures_to_json (self),
                                  "failures_seen", (json_int_t) self->failures_seen,
                                  "history", (int) self->history,
                                  "status_streams", status_streams_to_json (self),
                                  "sse", dash_sse_to_json (self),
                                  "health", dash_health_to_json (self, &health)));
  dash_health_clear (&health);
  json_decref (stats);
  return root;
}

static gboolean
tick (gpointer user_data)
{
  Dashboard *self = user_data;
  json_t *stats = evb_plugin_get_stats (self->plugin);

  dash_health_sample (self, stats);
  json_decref (stats);
  dash_sse_reap_closed (self);
  dash_sse_report_skipped (self);
  dash_sse_ping (self);
  return G_SOURCE_CONTINUE;
}

static void
dashboard_free (Dashboard *self)
{
  dash_http_stop (self);
  /* Init failed after the cluster view started (shutdown stops it first). */
  g_clear_pointer (&self->cluster, dash_cluster_stop);
  g_queue_clear_full (&self->failures, g_free);
  g_clear_pointer (&self->samples, g_array_unref);
  g_clear_pointer (&self->sse_pool, dash_sse_pool_unref);
  if (self->sse_scratch != NULL)
    g_string_free (self->sse_scratch, TRUE);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->token);
  g_free (self->url);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Dashboard, dashboard_free)

guint64
dash_subscribe (Dashboard *self, const char *pattern, const char *label, EvbHandlerFunc func, gpointer user_data,
                GError **error)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;

  spec.mode = EVB_MODE_SYNC;
  spec.pattern = pattern;
  spec.handler = label;
  spec.func = func;
  spec.user_data = user_data;
  spec.priority = OBSERVER_PRIORITY;
  return evb_plugin_subscribe (self->plugin, &spec, NULL, error);
}

static gboolean
dashboard_init (EvbPlugin *plugin, GError **error)
{
  g_autoptr (Dashboard) self = g_new0 (Dashboard, 1);
  const char *token = evb_plugin_get_string (plugin, "token");
  guint buffer_kb;
  json_t *stats;

  self->plugin = plugin;
  /* The server, its connections and our timers all live on the loop that
   * runs the bus: the context that is thread-default while init runs. */
  self->context = g_main_context_ref_thread_default ();
  self->token = token != NULL && *token != '\0' ? g_strdup (token) : NULL;
  /* The host checked every option against its range (the table below). */
  self->failure_rate_threshold = evb_plugin_get_double (plugin, "failure_rate");
  self->history = (guint) evb_plugin_get_int (plugin, "history");
  buffer_kb = (guint) evb_plugin_get_int (plugin, "sse_buffer_kb");
  self->window_s = (guint) evb_plugin_get_int (plugin, "window_s");
  self->stall_s = (guint) evb_plugin_get_int (plugin, "stall_s");
  self->max_connections = (guint) evb_plugin_get_int (plugin, "max_connections");
  self->header_timeout_s = (guint) evb_plugin_get_int (plugin, "header_timeout_s");
  self->sse_buffer_cap = (gsize) buffer_kb * 1024;
  g_queue_init (&self->failures);
  self->samples = g_array_new (FALSE, FALSE, sizeof (DashSample));
  self->sse_pool = dash_sse_pool_new ();
  self->sse_scratch = g_string_sized_new (1024);

  for (guint i = 0; i < DASH_N_STATUS_STATES; i++)
    self->status_taps[i] = (DashStatusTap) { self, i };
  if (evb_plugin_get_int (plugin, "trace_records") > 0)
    evb_plugin_keep_traces (plugin, (guint) evb_plugin_get_int (plugin, "trace_records"));
  self->failure_route = dash_subscribe (self, "evbus.failure", "failure", on_failure, self, error);
  if (self->failure_route == 0)
    return FALSE;
  if (*evb_plugin_get_string (plugin, "cluster_prefix") != '\0')
    {
      self->cluster = dash_cluster_start (self, evb_plugin_get_string (plugin, "cluster_prefix"),
                                          (guint) evb_plugin_get_int (plugin, "cluster_jobs"), error);
      if (self->cluster == NULL)
        {
          evb_plugin_unsubscribe (plugin, self->failure_route);
          return FALSE;
        }
    }

  if (!dash_http_start (self, evb_plugin_get_string (plugin, "listen"), evb_plugin_get_bool (plugin, "allow_remote"),
                        error))
    return FALSE;
  if (evb_plugin_is_checking (plugin))
    {
      /* Nothing to serve: no ticks, no "dashboard.ready" without a URL. */
      plugin->instance_data = g_steal_pointer (&self);
      return TRUE;
    }

  /* The failure-rate window needs counts from its start: sample now, then
   * about ten times per window (at most once a second). */
  stats = evb_plugin_get_stats (plugin);
  dash_health_sample (self, stats);
  json_decref (stats);
  self->tick_source = evb_plugin_add_timeout (plugin, CLAMP (self->window_s * 100, 100, 1000), tick, self, NULL);

  evb_plugin_log (plugin, G_LOG_LEVEL_MESSAGE, "%s", self->url);
  if (!evb_plugin_emit (plugin, "dashboard.ready", json_pack ("{s:s}", "url", self->url), error))
    return FALSE;

  plugin->instance_data = g_steal_pointer (&self);
  return TRUE;
}

static void
dashboard_shutdown (EvbPlugin *plugin)
{
  Dashboard *self = plugin->instance_data;

  self->shutting_down = TRUE;
  for (guint i = 0; i < DASH_N_STATUS_STATES; i++)
    if (self->status_routes[i] != 0)
      evb_plugin_unsubscribe (plugin, self->status_routes[i]);
  memset (self->status_routes, 0, sizeof self->status_routes);
  evb_plugin_unsubscribe (plugin, self->failure_route);
  g_clear_pointer (&self->cluster, dash_cluster_stop);
  if (self->tick_source != 0)
    evb_plugin_remove_source (plugin, self->tick_source);
  plugin->instance_data = NULL;
  dashboard_free (self);
}

static const EvbHandlerInfo handlers[] = {
  EVB_HANDLERS_END
};

static const EvbOptionInfo options[] = {
  EVB_OPTION ("listen", EVB_OPTION_STRING, "\"127.0.0.1:8080\"",
      "address:port to serve on (\"[::1]:8080\" for IPv6); port 0 picks a free port"),
  EVB_OPTION ("allow_remote", EVB_OPTION_BOOL, "false",
      "must be true to listen on an address other than loopback"),
  EVB_OPTION ("token", EVB_OPTION_STRING, "\"\"",
      "bearer token required on every request (Authorization: Bearer, or ?token= for the page); \"\": none"),
  EVB_OPTION_INT_RANGE ("history", "50", 1, 100000, "how many recent failures to keep"),
  EVB_OPTION_INT_RANGE ("sse_buffer_kb", "256", 1, 1024 * 1024,
      "unsent KiB an /events client may fall behind before it is cut off"),
  EVB_OPTION_DOUBLE_RANGE ("failure_rate", "0.5", 0.0, 1.0,
      "/healthz fails when this share of handler runs failed in the window"),
  EVB_OPTION_INT_RANGE ("window_s", "30", 1, 86400, "failure-rate window in seconds"),
  EVB_OPTION_INT_RANGE ("trace_records", "4096", 0, 1000000,
      "decisions of dispatch the host keeps for the trace view (about 330 bytes each); 0: no trace view"),
  EVB_OPTION_INT_RANGE ("stall_s", "60", 1, 86400 * 7,
      "/healthz fails when a job stays in flight longer than this (seconds)"),
  EVB_OPTION_INT_RANGE ("max_connections", "256", 1, 65536,
                        "HTTP connections open at once; one more is answered 503 \"busy\" and closed"),
  EVB_OPTION_INT_RANGE ("header_timeout_s", "10", 1, 3600,
                        "seconds a connection may take to send its request header before it is closed (408); "
                        "every response closes its connection, so this is also the idle timeout"),
  EVB_OPTION ("cluster_prefix", EVB_OPTION_STRING, "\"cluster\"",
      "the cluster view: other hosts' <prefix>.status.* and <prefix>.failure (the nats plugin's host_events_as) "
      "go into the failure list and the cluster jobs; \"\": no cluster view"),
  EVB_OPTION_INT_RANGE ("cluster_jobs", "1000", 1, 1000000,
      "other hosts' jobs in flight kept for the cluster view; beyond it the oldest is dropped (counted)"),
  EVB_OPTIONS_END
};

EVB_PLUGIN_DEFINE ("dashboard", "1.0", "Live status page, Prometheus metrics and health checks over HTTP.", handlers,
                   options, dashboard_init, dashboard_shutdown);
