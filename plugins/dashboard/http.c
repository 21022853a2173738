/* The HTTP side: one libsoup server on the host's main context, fed
 * connections by the front door (front.c), which answers /healthz itself.
 *
 *   GET /                  the page (HTML, CSS and JS from the plugin's resources)
 *   GET /events[?pattern=&max_rate=] Server-Sent Events (sse.c)
 *   GET /api/v1/snapshot   JSON: host counters and histograms + the dashboard's own state
 *   GET /metrics           Prometheus text 0.0.4 (metrics.c)
 *   GET /healthz           200 "ok" or 503 with one reason per line (health.c)
 *
 * With a token, every request needs "Authorization: Bearer <token>" or,
 * for what a browser cannot send headers with (the page, EventSource),
 * "?token=<token>".  On a loopback listener the Host header must name a
 * loopback host, so that a web page elsewhere cannot reach the dashboard
 * through DNS rebinding. */
#include "dashboard-private.h"

#include <stdlib.h>
#include <string.h>

#include "dashboard-resources.h"
#include "http-listen.h"

#define PAGE_RESOURCE "/org/evbus/dashboard/index.html"

/* The page may run its own inline script and style and talk to us; it may
 * load nothing from anywhere else. */
#define PAGE_CSP                                                                                           \
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "       \
  "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static void
respond (SoupServerMessage *msg, guint status, const char *content_type, char *body /* taken */)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_TAKE, body, strlen (body));
}

static void
respond_text (SoupServerMessage *msg, guint status, const char *text)
{
  respond (msg, status, "text/plain; charset=utf-8", g_strdup (text));
}

static gboolean
authorized (Dashboard *self, SoupServerMessage *msg, GHashTable *query)
{
  const char *header;
  const char *query_token;

  if (self->token == NULL)
    return TRUE;
  header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Authorization");
  if (header != NULL && g_ascii_strncasecmp (header, "Bearer ", 7) == 0 && http_secret_equal (self->token, header + 7))
    return TRUE;
  query_token = query != NULL ? g_hash_table_lookup (query, "token") : NULL;
  return query_token != NULL && http_secret_equal (self->token, query_token);
}

static void
serve_page (SoupServerMessage *msg)
{
  g_autoptr (GBytes) page = g_resource_lookup_data (dashboard_get_resource (), PAGE_RESOURCE,
                                                    G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  g_assert (page != NULL);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type (headers, "text/html; charset=utf-8", NULL);
  soup_message_headers_replace (headers, "Content-Security-Policy", PAGE_CSP);
  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), page);
}

/* GET /api/v1/trace/<32 hex>: what the host kept of one trace. */
static void
serve_trace (Dashboard *self, SoupServerMessage *msg, const char *trace_id)
{
  g_autoptr (GError) error = NULL;
  json_t *trace = evb_plugin_get_trace (self->plugin, trace_id, &error);
  guint status = SOUP_STATUS_OK;
  char *text;

  if (trace == NULL)
    {
      gboolean invalid = g_error_matches (error, EVB_TRACE_ERROR, EVB_TRACE_ERROR_INVALID);

      status = invalid ? SOUP_STATUS_BAD_REQUEST : SOUP_STATUS_NOT_FOUND;
      trace = json_pack ("{s:s}", "error", invalid ? error->message
                                                   : "the trace view is off: set the dashboard's \"trace_records\" "
                                                     "option above 0");
    }
  dash_json_cap_strings (trace);
  text = evb_json_dumps (trace, JSON_COMPACT);
  json_decref (trace);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control", "no-store");
  respond (msg, status, "application/json", g_strdup (text));
  free (text);
}

static void
serve_snapshot (Dashboard *self, SoupServerMessage *msg)
{
  json_t *snapshot = dash_snapshot (self, evb_plugin_get_stats (self->plugin));
  char *text = evb_json_dumps (snapshot, JSON_COMPACT);

  json_decref (snapshot);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control", "no-store");
  respond (msg, SOUP_STATUS_OK, "application/json", g_strdup (text));
  free (text);
}

static void
serve_metrics (Dashboard *self, SoupServerMessage *msg)
{
  json_t *stats = evb_plugin_get_stats (self->plugin);
  DashHealth health;

  dash_health_evaluate (self, stats, &health);
  respond (msg, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
           dash_metrics_render (self, stats, &health));
  dash_health_clear (&health);
  json_decref (stats);
}

char *
dash_healthz_text (Dashboard *self, guint *status)
{
  json_t *stats = evb_plugin_get_stats (self->plugin);
  DashHealth health;
  GString *body;

  dash_health_evaluate (self, stats, &health);
  json_decref (stats);
  *status = health.healthy ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE;
  body = g_string_new (health.healthy ? "ok\n" : "unhealthy\n");
  for (guint i = 0; i < health.reasons->len; i++)
    g_string_append_printf (body, "%s\n", (char *) g_ptr_array_index (health.reasons, i));
  dash_health_clear (&health);
  return g_string_free (body, FALSE);
}

/* Only reached through soup_server_accept_iostream's peers in tests: the
 * front door (front.c) answers /healthz itself. */
static void
serve_healthz (Dashboard *self, SoupServerMessage *msg)
{
  guint status;
  char *body = dash_healthz_text (self, &status);

  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control", "no-store");
  respond (msg, status, "text/plain; charset=utf-8", body);
}

static void
handle_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  Dashboard *self = user_data;
  const char *method = soup_server_message_get_method (msg);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  /* One request per connection: no keep-alive connection sits idle, so
   * front.c's header timeout is also the idle timeout. */
  soup_message_headers_replace (headers, "Connection", "close");
  if (self->loopback_only && !http_is_loopback_host (g_uri_get_host (soup_server_message_get_uri (msg))))
    {
      respond_text (msg, SOUP_STATUS_FORBIDDEN, "forbidden: this dashboard answers only to a loopback Host\n");
      return;
    }
  if (!authorized (self, msg, query))
    {
      soup_message_headers_replace (headers, "WWW-Authenticate", "Bearer realm=\"evbus dashboard\"");
      respond_text (msg, SOUP_STATUS_UNAUTHORIZED,
                    "unauthorized: send \"Authorization: Bearer <token>\" (or ?token=<token>)\n");
      return;
    }
  if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD)
    {
      soup_message_headers_replace (headers, "Allow", "GET, HEAD");
      respond_text (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed: use GET\n");
      return;
    }

  if (strcmp (path, "/") == 0 || strcmp (path, "/index.html") == 0)
    serve_page (msg);
  else if (strcmp (path, "/api/v1/snapshot") == 0)
    serve_snapshot (self, msg);
  else if (g_str_has_prefix (path, "/api/v1/trace/"))
    serve_trace (self, msg, path + strlen ("/api/v1/trace/"));
  else if (strcmp (path, "/metrics") == 0)
    serve_metrics (self, msg);
  else if (strcmp (path, "/healthz") == 0)
    serve_healthz (self, msg);
  else if (strcmp (path, "/events") == 0)
    {
      const char *pattern = query != NULL ? g_hash_table_lookup (query, "pattern") : NULL;
      const char *rate_text = query != NULL ? g_hash_table_lookup (query, "max_rate") : NULL;
      guint64 max_rate = 0;

      if (pattern != NULL && evb_pattern_find_fault (pattern, NULL) != EVB_PATTERN_OK)
        respond (msg, SOUP_STATUS_BAD_REQUEST, "text/plain; charset=utf-8",
                 g_strdup_printf ("bad pattern \"%s\": dotted segments [a-z0-9_-]+, \"*\" or a final \">\"\n",
                                  pattern));
      else if (rate_text != NULL
               && !g_ascii_string_to_unsigned (rate_text, 10, 1, DASH_SSE_MAX_RATE, &max_rate, NULL))
        respond (msg, SOUP_STATUS_BAD_REQUEST, "text/plain; charset=utf-8",
                 g_strdup_printf ("bad max_rate \"%s\": events per second, a whole number from 1 to %u\n",
                                  rate_text, DASH_SSE_MAX_RATE));
      else if (method == SOUP_METHOD_HEAD)
        {
          soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
          soup_message_headers_set_content_type (headers, "text/event-stream", NULL);
        }
      else
        dash_sse_start (self, msg, pattern, (guint) max_rate);
    }
  else
    respond_text (msg, SOUP_STATUS_NOT_FOUND, "not found: try /, /events, /api/v1/snapshot, /api/v1/trace/<id>, /metrics, /healthz\n");
}

gboolean
dash_http_start (Dashboard *self, const char *listen, gboolean allow_remote, GError **error)
{
  g_autoptr (GSocketAddress) address = http_listen_parse (listen, error);
  g_autoptr (GError) listen_error = NULL;
  g_autoptr (GSocketAddress) bound = NULL;
  g_autofree char *host_text = NULL;
  GInetAddress *host;
  guint port;

  if (address == NULL)
    return FALSE;
  host = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  self->loopback_only = g_inet_address_get_is_loopback (host);
  if (!self->loopback_only && !allow_remote)
    {
      g_autofree char *text = g_inet_address_to_string (host);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "listen \"%s\": %s is not a loopback address; set \"allow_remote\": true to serve other machines "
                   "(and consider a \"token\")",
                   listen, text);
      return FALSE;
    }
  /* Checked, not bound: a host running this config may hold the port. */
  if (evb_plugin_is_checking (self->plugin))
    return TRUE;

  /* libsoup attaches every connection to the thread-default context,
   * which is the bus's while init runs; the listening socket is the front
   * door's (front.c), which hands connections over. */
  self->server = soup_server_new ("server-header", "evbus-dashboard ", NULL);
  soup_server_add_handler (self->server, NULL, handle_request, self, NULL);
  self->front = dash_front_start (self, address, &bound, &listen_error);
  if (self->front == NULL)
    {
      g_set_error (error, G_IO_ERROR, listen_error->domain == G_IO_ERROR ? listen_error->code : G_IO_ERROR_FAILED,
                   "listen \"%s\": %s", listen, listen_error->message);
      g_clear_object (&self->server);
      return FALSE;
    }

  /* The bound port (listen may have asked for 0). */
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  host_text = g_inet_address_to_string (host);
  self->url = g_inet_address_get_family (host) == G_SOCKET_FAMILY_IPV6
                ? g_strdup_printf ("http://[%s]:%u/", host_text, port)
                : g_strdup_printf ("http://%s:%u/", host_text, port);
  return TRUE;
}

void
dash_http_stop (Dashboard *self)
{
  if (self->server == NULL)
    return;
  dash_front_stop (g_steal_pointer (&self->front));
  dash_sse_close_all (self);
  soup_server_disconnect (self->server);
  g_clear_object (&self->server);
}
