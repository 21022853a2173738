/* http-in — webhooks and request/reply over HTTP (libsoup-3), served from
 * the host's own main loop: no thread, no second loop.
 *
 *   POST <events_path><type>  (default /events/<type>) a JSON object -> event <type>
 *   POST <path>               a configured path ("paths") -> its event type,
 *                             optionally waiting for a reply event
 *   GET  <stats_path>         (default /stats) the instance's counters as JSON
 *
 * Each request is answered only after its event's receipt (request.c has
 * the outcome -> status mapping), or, on a path with a "reply", with the
 * first reply event of the request's trace.  Refusals (server.c) are
 * JSON {"status", "error", "message"} and counted.
 *
 * At init it logs its URL and emits http-in.ready {"url"} so that tools
 * and tests find a port chosen with ":0".  Manual: docs/plugins/http-in.md. */
#include "http-in-private.h"

#include <string.h>

static void
http_in_free (HttpIn *self)
{
  if (self->pending != NULL)
    http_in_requests_abandon (self);
  http_in_server_stop (self);
  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->by_trace, g_hash_table_unref);
  g_clear_pointer (&self->paths, g_hash_table_unref);
  g_clear_pointer (&self->hmac_secret, g_bytes_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->token);
  g_free (self->signature_header);
  g_free (self->signature_prefix);
  g_free (self->events_path);
  g_free (self->stats_path);
  g_free (self->url);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HttpIn, http_in_free)

static char *
string_or_null (EvbPlugin *plugin, const char *name)
{
  const char *value = evb_plugin_get_string (plugin, name);

  return value != NULL && *value != '\0' ? g_strdup (value) : NULL;
}

static gboolean
check_path_option (const char *name, const char *value, GError **error)
{
  if (value != NULL && value[0] != '/')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: \"%s\" must start with \"/\" (or be \"\": off)",
                   name, value);
      return FALSE;
    }
  return TRUE;
}

/* One route for the whole instance: failures in the traces that requests
 * wait on answer them at once. */
static gboolean
watch_failures (HttpIn *self, GError **error)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;

  spec.mode = EVB_MODE_SYNC;
  spec.pattern = EVB_TYPE_FAILURE;
  spec.handler = "failure";
  spec.func = http_in_on_failure;
  spec.user_data = self;
  spec.priority = 1000000;
  self->failure_route = evb_plugin_subscribe (self->plugin, &spec, NULL, error);
  return self->failure_route != 0;
}

static gboolean
http_in_init (EvbPlugin *plugin, GError **error)
{
  g_autoptr (HttpIn) self = g_new0 (HttpIn, 1);
  const char *secret = evb_plugin_get_string (plugin, "hmac_secret");
  GHashTableIter iter;
  gpointer value;
  gboolean some_reply = FALSE;

  self->plugin = plugin;
  /* The server, its connections and our timers live on the loop that runs
   * the bus: the context that is thread-default while init runs. */
  self->context = g_main_context_ref_thread_default ();
  self->token = string_or_null (plugin, "token");
  if (secret != NULL && *secret != '\0')
    self->hmac_secret = g_bytes_new (secret, strlen (secret));
  self->signature_header = g_strdup (evb_plugin_get_string (plugin, "signature_header"));
  self->signature_prefix = g_strdup (evb_plugin_get_string (plugin, "signature_prefix"));
  self->max_body_bytes = (gsize) evb_plugin_get_int (plugin, "max_body_bytes");
  self->events_path = string_or_null (plugin, "events_path");
  self->stats_path = string_or_null (plugin, "stats_path");
  self->unhandled_status = (guint) evb_plugin_get_int (plugin, "unhandled_status");
  self->emit_timeout_ms = (gint) evb_plugin_get_int (plugin, "emit_timeout_ms");
  self->retry_after_s = (guint) evb_plugin_get_int (plugin, "retry_after_s");
  self->paths = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) http_in_path_free);
  self->pending = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  self->by_trace = g_hash_table_new (g_str_hash, g_str_equal);

  if (*self->signature_header == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "signature_header: must name a header");
      return FALSE;
    }
  if (!check_path_option ("events_path", self->events_path, error)
      || !check_path_option ("stats_path", self->stats_path, error))
    return FALSE;
  if (self->events_path == NULL && json_array_size (json_object_get (evb_plugin_get_options (plugin), "paths")) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "nothing to serve: events_path is \"\" and paths is empty; set one of them");
      return FALSE;
    }
  if (!http_in_paths_load (self, json_object_get (evb_plugin_get_options (plugin), "paths"),
                           (guint) evb_plugin_get_int (plugin, "reply_timeout_ms"), error))
    return FALSE;

  g_hash_table_iter_init (&iter, self->paths);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    some_reply |= ((HttpInPath *) value)->reply != NULL;
  if (some_reply && !watch_failures (self, error))
    return FALSE;

  if (!http_in_server_start (self, evb_plugin_get_string (plugin, "listen"), evb_plugin_get_bool (plugin, "allow_remote"),
                             error))
    return FALSE;
  /* Nothing to serve: no "http-in.ready" without a URL. */
  if (evb_plugin_is_checking (plugin))
    {
      plugin->instance_data = g_steal_pointer (&self);
      return TRUE;
    }

  evb_plugin_log (plugin, G_LOG_LEVEL_MESSAGE, "listening on %s", self->url);
  if (!evb_plugin_emit (plugin, "http-in.ready", json_pack ("{s:s}", "url", self->url), error))
    return FALSE;
  plugin->instance_data = g_steal_pointer (&self);
  return TRUE;
}

/* Sources stop now: new requests are answered 503 (Connection: close);
 * requests already in the pipeline are answered as their receipts come. */
static void
http_in_stop (EvbPlugin *plugin)
{
  HttpIn *self = plugin->instance_data;

  self->stopping = TRUE;
}

static void
http_in_shutdown (EvbPlugin *plugin)
{
  HttpIn *self = plugin->instance_data;

  if (self->failure_route != 0)
    evb_plugin_unsubscribe (plugin, self->failure_route);
  plugin->instance_data = NULL;
  http_in_free (self);
}

static const EvbHandlerInfo handlers[] = {
  EVB_HANDLERS_END
};

static const EvbOptionInfo options[] = {
  EVB_OPTION ("listen", EVB_OPTION_STRING, "\"127.0.0.1:8080\"",
      "address:port to serve on (\"[::1]:8080\" for IPv6); port 0 picks a free port (see http-in.ready)"),
  EVB_OPTION ("allow_remote", EVB_OPTION_BOOL, "false",
      "must be true to listen on an address other than loopback; a loopback listener also refuses (403) a "
      "Host header that is not loopback"),
  EVB_OPTION ("events_path", EVB_OPTION_STRING, "\"/events/\"",
      "POST <events_path><type> with a JSON object emits <type> with the object as data; \"\": off"),
  EVB_OPTION ("paths", EVB_OPTION_ARRAY, "[]",
      "fixed paths: [{\"path\": \"/search\", \"type\": \"search.request\", \"reply\": \"search.results\", "
      "\"timeout_ms\": 5000}]; with \"reply\" the request waits for the first event matching that pattern in its "
      "trace and answers 200 with its data (504 after timeout_ms, 500 when the trace fails first)"),
  EVB_OPTION_INT_RANGE ("reply_timeout_ms", "10000", 1, 600000,
      "how long a path with a \"reply\" waits when it sets no timeout_ms of its own"),
  EVB_OPTION ("token", EVB_OPTION_STRING, "\"\"",
      "bearer token every request must carry (Authorization: Bearer <token>), else 401; \"\": none"),
  EVB_OPTION ("hmac_secret", EVB_OPTION_STRING, "\"\"",
      "secret of an HMAC-SHA256 signature of the body every request must carry in signature_header, else 401; "
      "\"\": none (write \"${VAR}\" to take it from the environment)"),
  EVB_OPTION ("signature_header", EVB_OPTION_STRING, "\"X-Hub-Signature-256\"",
      "header carrying the signature (GitHub: X-Hub-Signature-256)"),
  EVB_OPTION ("signature_prefix", EVB_OPTION_STRING, "\"sha256=\"",
      "text before the hex digest in signature_header (\"\" for a bare hex digest)"),
  EVB_OPTION_INT_RANGE ("max_body_bytes", "1048576", 1, 1073741824,
      "largest body taken (Content-Length is required); larger ones are refused 413 before being read"),
  EVB_OPTION_INT_RANGE ("unhandled_status", "404", 200, 599,
      "status answered when no route took the event"),
  EVB_OPTION_INT_RANGE ("emit_timeout_ms", "0", 0, 600000,
      "how long a request waits for room in a full \"block\" inbox; then (and at once with 0) it is answered 503"),
  EVB_OPTION_INT_RANGE ("retry_after_s", "1", 0, 86400,
      "Retry-After (seconds) sent with 503 answers: refused, dropped, cancelled, shutting down"),
  EVB_OPTION ("stats_path", EVB_OPTION_STRING, "\"/stats\"",
      "GET here returns the instance's counters as JSON (refusals by reason, outcomes, pending); \"\": off"),
  EVB_OPTIONS_END
};

EVB_PLUGIN_DEFINE_WITH ("http-in", "1.0", "Webhooks and request/reply over HTTP: POSTed JSON becomes events, "
                        "answered after their receipts.",
                        handlers, options, http_in_init, http_in_shutdown, .stop = http_in_stop);
