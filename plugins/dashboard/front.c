/* The front door: the dashboard's listening socket, accepted on a thread
 * of its own with its own GMainContext, so that /healthz can say 503
 * while the host's main loop is stuck (issue 15).
 *
 * Why this split rather than the whole SoupServer on a thread: every other
 * endpoint reads bus state (stats, failures, traces, SSE feeding) that
 * lives on the main loop and would have to hop there anyway, and the SSE
 * code writes from bus handlers.  So the thread only does what must not
 * wait for the loop: accept (with a connection cap, EMFILE recovery and a
 * header timeout), look at the request head with MSG_PEEK (nothing is
 * consumed), refuse what is refused for everybody (foreign Host,
 * absolute-form, bad token, other methods), and answer /healthz.  Every
 * other connection is handed, bytes unread, to the SoupServer on the main
 * loop (soup_server_accept_iostream).
 *
 * /healthz asks the main loop for the full verdict and, while it waits,
 * asks the host's watchdog (evb_plugin_get_stall, any thread) every
 * FRONT_STALL_POLL_MS: a stalled loop is answered 503 at once, naming the
 * handler it runs and for how long.
 *
 * Every response closes its connection (http.c sets "Connection: close"),
 * so a connection is never idle between requests: header_timeout_s bounds
 * both a silent and a half-sent one. */
#include "dashboard-private.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "http-listen.h"
#include "tsan.h"

/* A request head larger than this is refused (431). */
#define FRONT_HEAD_MAX (16 * 1024)
/* The listen backlog: bursts of clients (a thousand SSE tabs) queue in the
 * kernel rather than being refused by it; the kernel caps it at somaxconn. */
#define FRONT_BACKLOG 1024
/* After EMFILE/ENFILE, accept again after this long (not in a spin). */
#define FRONT_EMFILE_RETRY_MS 100
#define FRONT_STALL_POLL_MS 50

struct _DashFront {
  gatomicrefcount ref;
  /* Set at start, read-only after: */
  EvbPlugin *plugin;
  GMainContext *main_context;
  GMainContext *context; /* the thread's */
  GMainLoop *loop;
  GThread *thread;
  GSocket *listener;
  char *token;
  gboolean loopback_only;
  guint max_connections;
  guint header_timeout_s;

  /* Main thread only; NULL once the dashboard stops. */
  Dashboard *dashboard;

  /* Front thread only. */
  GSource *accept_source;
  GSource *retry_source;
  gboolean emfile_logged;
  GList *pending; /* FrontConn */

  /* Any thread. */
  gint open;
  DashFrontCounters counters; /* atomics */
};

typedef struct {
  DashFront *front;
  GSocket *socket;
  gint64 deadline_us;
  GSource *io;
  GSource *timer;
  guint backoff_ms;
  /* /healthz waiting for the main loop's verdict */
  struct HealthAsk *ask;
  gboolean head_only;
} FrontConn;

typedef struct HealthAsk {
  gatomicrefcount ref;
  DashFront *front;
  FrontConn *conn; /* front thread only; NULL once answered */
  gboolean head_only;
  guint status;
  char *body;
} HealthAsk;

static void
destroy_source (GSource **source)
{
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static DashFront *
front_ref (DashFront *front)
{
  g_atomic_ref_count_inc (&front->ref);
  return front;
}

static void
front_unref (DashFront *front)
{
  if (!g_atomic_ref_count_dec (&front->ref))
    return;
  g_clear_pointer (&front->loop, g_main_loop_unref);
  g_clear_pointer (&front->context, g_main_context_unref);
  g_clear_pointer (&front->main_context, g_main_context_unref);
  g_clear_object (&front->listener);
  g_free (front->token);
  g_free (front);
}

static void
health_ask_unref (HealthAsk *ask)
{
  if (!g_atomic_ref_count_dec (&ask->ref))
    return;
  front_unref (ask->front);
  g_free (ask->body);
  g_free (ask);
}

/* ---- answering on the front thread ---- */

static const char *
reason_phrase (guint status)
{
  switch (status)
    {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    default: return "Service Unavailable";
    }
}

/* Best effort, non-blocking: the answers are a few hundred bytes, which a
 * fresh socket's send buffer always takes. */
static void
send_response (GSocket *socket, guint status, const char *extra_headers, const char *body, gboolean head_only)
{
  g_autofree char *text = g_strdup_printf ("HTTP/1.1 %u %s\r\nServer: evbus-dashboard\r\n"
                                           "Content-Type: text/plain; charset=utf-8\r\n"
                                           "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                                           "X-Content-Type-Options: nosniff\r\nConnection: close\r\n%s\r\n%s",
                                           status, reason_phrase (status), strlen (body),
                                           extra_headers != NULL ? extra_headers : "", head_only ? "" : body);

  g_socket_send (socket, text, strlen (text), NULL, NULL);
}

/* Reads what the client sent (so that closing does not reset the
 * connection under the answer), then closes our side. */
static void
drain_and_close (GSocket *socket)
{
  char buffer[4096];

  g_socket_shutdown (socket, FALSE, TRUE, NULL);
  for (int i = 0; i < 16 && g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL) > 0; i++)
    ;
  g_socket_close (socket, NULL);
}

static void
conn_free (FrontConn *conn)
{
  DashFront *front = conn->front;

  front->pending = g_list_remove (front->pending, conn);
  if (conn->io != NULL)
    destroy_source (&conn->io);
  if (conn->timer != NULL)
    destroy_source (&conn->timer);
  if (conn->ask != NULL)
    {
      conn->ask->conn = NULL;
      health_ask_unref (conn->ask);
    }
  if (conn->socket != NULL)
    {
      drain_and_close (conn->socket);
      g_object_unref (conn->socket);
      g_atomic_int_add (&front->open, -1);
    }
  g_free (conn);
}

static void
conn_answer (FrontConn *conn, guint status, const char *extra_headers, const char *body)
{
  send_response (conn->socket, status, extra_headers, body, conn->head_only);
  conn_free (conn);
}

/* ---- handing a connection to the main loop ---- */

typedef struct {
  DashFront *front;
  GSocket *socket;
} Handoff;

static void
connection_gone (gpointer data, GObject *where_the_object_was)
{
  DashFront *front = data;

  g_atomic_int_add (&front->open, -1);
  front_unref (front);
}

static gboolean
handoff_on_main (gpointer data)
{
  Handoff *handoff = data;
  DashFront *front;
  g_autoptr (GSocketConnection) connection = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  g_autoptr (GSocketAddress) remote = NULL;
  g_autoptr (GError) error = NULL;

  EVB_TSAN_ACQUIRE (handoff); /* conn_hand_off's RELEASE */
  front = handoff->front;
  if (front->dashboard == NULL)
    {
      g_socket_close (handoff->socket, NULL);
      g_atomic_int_add (&front->open, -1);
      return G_SOURCE_REMOVE;
    }
  connection = g_socket_connection_factory_create_connection (handoff->socket);
  g_object_weak_ref (G_OBJECT (connection), connection_gone, front_ref (front));
  local = g_socket_get_local_address (handoff->socket, NULL);
  remote = g_socket_get_remote_address (handoff->socket, NULL);
  if (!soup_server_accept_iostream (front->dashboard->server, G_IO_STREAM (connection), local, remote, &error))
    evb_plugin_log (front->plugin, G_LOG_LEVEL_WARNING, "dashboard: could not take a connection: %s",
                    error->message);
  return G_SOURCE_REMOVE;
}

static void
handoff_free (gpointer data)
{
  Handoff *handoff = data;

  g_object_unref (handoff->socket);
  front_unref (handoff->front);
  g_free (handoff);
}

static void
conn_hand_off (FrontConn *conn)
{
  Handoff *handoff = g_new0 (Handoff, 1);

  handoff->front = front_ref (conn->front);
  handoff->socket = g_steal_pointer (&conn->socket); /* the count goes with it */
  EVB_TSAN_RELEASE (handoff);
  g_main_context_invoke_full (conn->front->main_context, G_PRIORITY_DEFAULT, handoff_on_main, handoff,
                              handoff_free);
  conn_free (conn);
}

/* ---- /healthz ---- */

static gboolean
health_deliver_on_front (gpointer data)
{
  HealthAsk *ask = data;

  EVB_TSAN_ACQUIRE (ask); /* health_on_main's RELEASE: the verdict */
  if (ask->conn != NULL)
    conn_answer (ask->conn, ask->status, NULL, ask->body);
  return G_SOURCE_REMOVE;
}

static gboolean
health_on_main (gpointer data)
{
  HealthAsk *ask = data;
  DashFront *front;

  EVB_TSAN_ACQUIRE (ask); /* conn_ask_health's RELEASE */
  front = ask->front;
  if (front->dashboard == NULL)
    return G_SOURCE_REMOVE;
  ask->body = dash_healthz_text (front->dashboard, &ask->status);
  g_atomic_ref_count_inc (&ask->ref);
  EVB_TSAN_RELEASE (ask);
  g_main_context_invoke_full (front->context, G_PRIORITY_DEFAULT, health_deliver_on_front, ask,
                              (GDestroyNotify) health_ask_unref);
  return G_SOURCE_REMOVE;
}

/* A stalled loop, in the words of /healthz; NULL while it turns. */
char *
dash_front_stall_reason (EvbPlugin *plugin)
{
  gint64 stalled_ms = 0;
  g_autofree char *running = evb_plugin_get_stall (plugin, &stalled_ms);

  if (running == NULL)
    return NULL;
  return g_strdup_printf ("main loop stalled for %" G_GINT64_FORMAT ".%01d s, running %s", stalled_ms / 1000,
                          (int) (stalled_ms % 1000 / 100), running);
}

static gboolean
health_poll (gpointer data)
{
  FrontConn *conn = data;
  g_autofree char *reason = dash_front_stall_reason (conn->front->plugin);
  g_autofree char *body = NULL;

  if (reason == NULL && g_get_monotonic_time () < conn->deadline_us)
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&conn->timer, g_source_unref);
  if (reason != NULL)
    {
      g_autofree char *plugins = dash_plugin_health_lines (conn->front->plugin);

      body = g_strdup_printf ("unhealthy\n%s\n%s", reason, plugins);
    }
  else
    body = g_strdup_printf ("unhealthy\nthe main loop did not answer within %u s\n", conn->front->header_timeout_s);
  conn_answer (conn, 503, NULL, body);
  return G_SOURCE_REMOVE;
}

static void
conn_ask_health (FrontConn *conn, gsize head_length)
{
  DashFront *front = conn->front;
  char buffer[FRONT_HEAD_MAX];
  g_autofree char *reason = dash_front_stall_reason (front->plugin);
  HealthAsk *ask;

  /* Consume the request we answer ourselves. */
  g_socket_receive (conn->socket, buffer, head_length, NULL, NULL);
  if (reason != NULL)
    {
      /* Plugins' own reasons are readable off the loop too. */
      g_autofree char *plugins = dash_plugin_health_lines (front->plugin);
      g_autofree char *body = g_strdup_printf ("unhealthy\n%s\n%s", reason, plugins);

      conn_answer (conn, 503, NULL, body);
      return;
    }
  ask = g_new0 (HealthAsk, 1);
  g_atomic_ref_count_init (&ask->ref);
  ask->front = front_ref (front);
  ask->conn = conn;
  conn->ask = ask;
  conn->deadline_us = g_get_monotonic_time () + (gint64) front->header_timeout_s * G_USEC_PER_SEC;
  /* The header deadline's timer gives way to the poll (it leaked, and
   * could still fire a 408 at a connection that waits for the verdict). */
  if (conn->timer != NULL)
    destroy_source (&conn->timer);
  conn->timer = g_timeout_source_new (FRONT_STALL_POLL_MS);
  g_source_set_callback (conn->timer, health_poll, conn, NULL);
  g_source_attach (conn->timer, front->context);
  g_atomic_ref_count_inc (&ask->ref);
  EVB_TSAN_RELEASE (ask);
  g_main_context_invoke_full (front->main_context, G_PRIORITY_DEFAULT, health_on_main, ask,
                              (GDestroyNotify) health_ask_unref);
}

/* ---- reading the head ---- */

/* The value of header @name in @head (lines after the request line), or
 * NULL; the first one. */
static char *
head_header (const char *head, const char *name)
{
  gsize name_length = strlen (name);

  for (const char *line = strstr (head, "\r\n"); line != NULL; line = strstr (line, "\r\n"))
    {
      const char *end;

      line += 2;
      if (g_ascii_strncasecmp (line, name, name_length) != 0 || line[name_length] != ':')
        continue;
      line += name_length + 1;
      end = strstr (line, "\r\n");
      return g_strstrip (g_strndup (line, (gsize) (end - line)));
    }
  return NULL;
}

/* The host part of a Host header value: "127.0.0.1:8080" -> "127.0.0.1",
 * "[::1]:8080" -> "::1".  Anything else a URI authority may hold
 * ("evil.com@127.0.0.1", a path) stays in and fails the loopback check. */
static char *
host_of (const char *value)
{
  const char *colon;

  if (value[0] == '[')
    {
      const char *close = strchr (value, ']');

      if (close == NULL || (close[1] != '\0' && close[1] != ':'))
        return g_strdup (value);
      return g_strndup (value + 1, (gsize) (close - value - 1));
    }
  colon = strrchr (value, ':');
  return colon != NULL ? g_strndup (value, (gsize) (colon - value)) : g_strdup (value);
}

static gboolean
head_authorized (DashFront *front, const char *head, const char *query)
{
  g_autofree char *authorization = NULL;
  g_autoptr (GHashTable) params = NULL;
  const char *given;

  if (front->token == NULL)
    return TRUE;
  authorization = head_header (head, "Authorization");
  if (authorization != NULL && g_ascii_strncasecmp (authorization, "Bearer ", 7) == 0
      && http_secret_equal (front->token, authorization + 7))
    return TRUE;
  params = query != NULL ? g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL) : NULL;
  given = params != NULL ? g_hash_table_lookup (params, "token") : NULL;
  return given != NULL && http_secret_equal (front->token, given);
}

/* The head is complete (@head_length bytes, up to and with the blank
 * line): refuse, answer /healthz, or hand off. */
static void
conn_route (FrontConn *conn, const char *head, gsize head_length)
{
  DashFront *front = conn->front;
  g_autofree char *line = g_strndup (head, (gsize) (strstr (head, "\r\n") - head));
  g_auto (GStrv) parts = g_strsplit (line, " ", 0);
  g_autofree char *host = NULL;
  g_autofree char *host_name = NULL;
  const char *method;
  const char *target;
  const char *query;
  g_autofree char *path = NULL;

  if (g_strv_length (parts) != 3 || !g_str_has_prefix (parts[2], "HTTP/1."))
    {
      conn_answer (conn, 400, NULL, "bad request: expected \"GET /path HTTP/1.1\"\n");
      return;
    }
  method = parts[0];
  target = parts[1];
  conn->head_only = strcmp (method, "HEAD") == 0;
  /* The dashboard is no proxy: "GET http://evil.com/ HTTP/1.1" would let
   * the URL's host stand in for the Host header. */
  if (target[0] != '/')
    {
      g_atomic_int_inc (&front->counters.refused_host);
      conn_answer (conn, 403, NULL,
                   "forbidden: this dashboard answers only to a path (GET /path), not to an absolute URL\n");
      return;
    }
  host = head_header (head, "Host");
  host_name = host != NULL ? host_of (host) : NULL;
  if (front->loopback_only && !http_is_loopback_host (host_name))
    {
      g_atomic_int_inc (&front->counters.refused_host);
      conn_answer (conn, 403, NULL, "forbidden: this dashboard answers only to a loopback Host\n");
      return;
    }
  query = strchr (target, '?');
  path = query != NULL ? g_strndup (target, (gsize) (query - target)) : g_strdup (target);
  if (!head_authorized (front, head, query != NULL ? query + 1 : NULL))
    {
      conn_answer (conn, 401, "WWW-Authenticate: Bearer realm=\"evbus dashboard\"\r\n",
                   "unauthorized: send \"Authorization: Bearer <token>\" (or ?token=<token>)\n");
      return;
    }
  /* Refused here so that no connection waits for a body. */
  if (strcmp (method, "GET") != 0 && !conn->head_only)
    {
      conn_answer (conn, 405, "Allow: GET, HEAD\r\n", "method not allowed: use GET\n");
      return;
    }
  if (strcmp (path, "/healthz") == 0)
    conn_ask_health (conn, head_length);
  else
    conn_hand_off (conn);
}

static gboolean conn_readable (GSocket *socket, GIOCondition condition, gpointer data);
static void conn_arm_timer (FrontConn *conn, guint ms);

static void
conn_watch (FrontConn *conn)
{
  conn->io = g_socket_create_source (conn->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (conn->io, G_SOURCE_FUNC (conn_readable), conn, NULL);
  g_source_attach (conn->io, conn->front->context);
}

static gboolean
conn_timeout (gpointer data)
{
  FrontConn *conn = data;
  g_autofree char *body = NULL;

  g_clear_pointer (&conn->timer, g_source_unref);
  if (g_get_monotonic_time () >= conn->deadline_us)
    {
      g_atomic_int_inc (&conn->front->counters.timeouts);
      body = g_strdup_printf ("request timeout: no complete request header within %u s\n",
                              conn->front->header_timeout_s);
      conn_answer (conn, 408, NULL, body);
      return G_SOURCE_REMOVE;
    }
  /* A partial head, after a backoff: look again (the socket stays
   * readable while there is data, so no watch meanwhile); and keep the
   * deadline armed either way. */
  if (conn->io == NULL)
    conn_watch (conn);
  conn_arm_timer (conn, G_MAXUINT);
  return G_SOURCE_REMOVE;
}

static void
conn_arm_timer (FrontConn *conn, guint ms)
{
  /* Rounded up: a timer that fires before the deadline re-arms itself. */
  gint64 left_ms = (conn->deadline_us - g_get_monotonic_time () + 999) / 1000;

  if (conn->timer != NULL)
    destroy_source (&conn->timer);
  conn->timer = g_timeout_source_new ((guint) CLAMP (left_ms, 0, (gint64) ms));
  g_source_set_callback (conn->timer, conn_timeout, conn, NULL);
  g_source_attach (conn->timer, conn->front->context);
}

static gboolean
conn_readable (GSocket *socket, GIOCondition condition, gpointer data)
{
  FrontConn *conn = data;
  char head[FRONT_HEAD_MAX + 1];
  gssize length = recv (g_socket_get_fd (socket), head, FRONT_HEAD_MAX, MSG_PEEK | MSG_DONTWAIT);
  const char *end;

  if (length < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (length <= 0)
    {
      conn_free (conn);
      return G_SOURCE_REMOVE;
    }
  head[length] = '\0';
  end = memchr (head, '\0', (gsize) length) == NULL ? strstr (head, "\r\n\r\n") : NULL;
  if (end != NULL)
    {
      g_clear_pointer (&conn->io, g_source_unref);
      conn_route (conn, head, (gsize) (end + 4 - head));
      return G_SOURCE_REMOVE;
    }
  if (length == FRONT_HEAD_MAX || memchr (head, '\0', (gsize) length) != NULL)
    {
      g_clear_pointer (&conn->io, g_source_unref);
      conn_answer (conn, length == FRONT_HEAD_MAX ? 431 : 400, NULL,
                   length == FRONT_HEAD_MAX ? "request header too large: more than 16 KiB\n"
                                            : "bad request: a NUL byte in the request header\n");
      return G_SOURCE_REMOVE;
    }
  /* A partial head: peeking again at once would spin on a readable socket;
   * look again later, backing off, until the header timeout. */
  g_clear_pointer (&conn->io, g_source_unref);
  conn->backoff_ms = MIN (MAX (conn->backoff_ms * 2, 5), 200);
  conn_arm_timer (conn, conn->backoff_ms);
  return G_SOURCE_REMOVE;
}

/* ---- accepting ---- */

static gboolean front_accept (GSocket *socket, GIOCondition condition, gpointer data);

static void
watch_listener (DashFront *front)
{
  front->accept_source = g_socket_create_source (front->listener, G_IO_IN, NULL);
  g_source_set_callback (front->accept_source, G_SOURCE_FUNC (front_accept), front, NULL);
  g_source_attach (front->accept_source, front->context);
}

static gboolean
retry_accept (gpointer data)
{
  DashFront *front = data;

  g_clear_pointer (&front->retry_source, g_source_unref);
  watch_listener (front);
  return G_SOURCE_REMOVE;
}

static void
refuse_busy (DashFront *front, GSocket *socket)
{
  g_autofree char *body = g_strdup_printf ("busy: %u connections open, the dashboard's max_connections; "
                                           "try again later\n",
                                           front->max_connections);

  g_atomic_int_inc (&front->counters.refused_busy);
  g_socket_set_blocking (socket, FALSE);
  send_response (socket, 503, "Retry-After: 1\r\n", body, FALSE);
  drain_and_close (socket);
}

static gboolean
front_accept (GSocket *listener, GIOCondition condition, gpointer data)
{
  DashFront *front = data;

  for (guint i = 0; i < 64; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GSocket) socket = g_socket_accept (listener, NULL, &error);
      FrontConn *conn;

      if (socket == NULL)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            return G_SOURCE_CONTINUE;
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES))
            {
              /* Pending connections keep the listener readable: stop
               * watching it and try again later, logging once per episode. */
              g_atomic_int_inc (&front->counters.accept_fd_exhausted);
              if (!front->emfile_logged)
                evb_plugin_log (front->plugin, G_LOG_LEVEL_WARNING,
                                "dashboard: out of file descriptors (%s); accepting again every %d ms until "
                                "some close (raise the limit: ulimit -n)",
                                error->message, FRONT_EMFILE_RETRY_MS);
              front->emfile_logged = TRUE;
              g_clear_pointer (&front->accept_source, g_source_unref);
              front->retry_source = g_timeout_source_new (FRONT_EMFILE_RETRY_MS);
              g_source_set_callback (front->retry_source, retry_accept, front, NULL);
              g_source_attach (front->retry_source, front->context);
              return G_SOURCE_REMOVE;
            }
          /* ECONNABORTED and the like: that client is gone, go on. */
          continue;
        }
      if (front->emfile_logged)
        evb_plugin_log (front->plugin, G_LOG_LEVEL_MESSAGE, "dashboard: accepting connections again");
      front->emfile_logged = FALSE;
      g_atomic_int_inc (&front->counters.accepted);
      if ((guint) g_atomic_int_get (&front->open) >= front->max_connections)
        {
          refuse_busy (front, socket);
          continue;
        }
      g_atomic_int_inc (&front->open);
      g_socket_set_blocking (socket, FALSE);
      conn = g_new0 (FrontConn, 1);
      conn->front = front;
      conn->socket = g_steal_pointer (&socket);
      conn->deadline_us = g_get_monotonic_time () + (gint64) front->header_timeout_s * G_USEC_PER_SEC;
      front->pending = g_list_prepend (front->pending, conn);
      conn_watch (conn);
      conn_arm_timer (conn, front->header_timeout_s * 1000);
    }
  return G_SOURCE_CONTINUE;
}

static gpointer
front_thread (gpointer data)
{
  DashFront *front = data;

  g_main_context_push_thread_default (front->context);
  watch_listener (front);
  g_main_loop_run (front->loop);
  while (front->pending != NULL)
    conn_free (front->pending->data);
  if (front->accept_source != NULL)
    destroy_source (&front->accept_source);
  if (front->retry_source != NULL)
    destroy_source (&front->retry_source);
  g_main_context_pop_thread_default (front->context);
  return NULL;
}

DashFront *
dash_front_start (Dashboard *self, GSocketAddress *address, GSocketAddress **bound, GError **error)
{
  g_autoptr (GSocket) listener = NULL;
  DashFront *front;

  listener = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                           error);
  if (listener == NULL)
    return NULL;
  g_socket_set_blocking (listener, FALSE);
  g_socket_set_listen_backlog (listener, FRONT_BACKLOG);
  if (!g_socket_bind (listener, address, TRUE, error) || !g_socket_listen (listener, error))
    return NULL;
  *bound = g_socket_get_local_address (listener, error);
  if (*bound == NULL)
    return NULL;

  front = g_new0 (DashFront, 1);
  g_atomic_ref_count_init (&front->ref);
  front->plugin = self->plugin;
  front->dashboard = self;
  front->main_context = g_main_context_ref (self->context);
  front->context = g_main_context_new ();
  front->loop = g_main_loop_new (front->context, FALSE);
  front->listener = g_steal_pointer (&listener);
  front->token = g_strdup (self->token);
  front->loopback_only = self->loopback_only;
  front->max_connections = self->max_connections;
  front->header_timeout_s = self->header_timeout_s;
  front->thread = g_thread_new ("evbus-dash-http", front_thread, front);
  return front;
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

void
dash_front_stop (DashFront *front)
{
  /* No main-loop callback still queued may touch the dashboard. */
  front->dashboard = NULL;
  /* Through the context: a quit before the thread runs its loop would be lost. */
  g_main_context_invoke (front->context, quit_loop, front->loop);
  g_thread_join (front->thread);
  front->thread = NULL;
  g_socket_close (front->listener, NULL);
  front_unref (front);
}

void
dash_front_counters (DashFront *front, DashFrontCounters *out)
{
  out->accepted = g_atomic_int_get (&front->counters.accepted);
  out->refused_busy = g_atomic_int_get (&front->counters.refused_busy);
  out->refused_host = g_atomic_int_get (&front->counters.refused_host);
  out->timeouts = g_atomic_int_get (&front->counters.timeouts);
  out->accept_fd_exhausted = g_atomic_int_get (&front->counters.accept_fd_exhausted);
  out->open = g_atomic_int_get (&front->open);
}
