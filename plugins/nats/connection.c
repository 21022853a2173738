/* The connection: options to natsOptions, connect, state changes, and the
 * origin headers and counters every part shares.
 *
 * libnats calls the state callbacks on its own threads; they only log,
 * count and emit (emit is any-thread), never touch main-loop state. */
#include "nats-private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

char *
nats_status_text (natsStatus status)
{
  natsStatus last_status = NATS_OK;
  const char *last = nats_GetLastError (&last_status);

  /* The last error is per thread and often says more ("Authorization
   * Violation", "no responders"), but only if it is about this status. */
  if (last != NULL && *last != '\0' && last_status == status)
    return g_strdup_printf ("%s (%s)", natsStatus_GetText (status), last);
  return g_strdup (natsStatus_GetText (status));
}

/* ---- state ---------------------------------------------------------------- */

static const char *
current_server (natsConnection *conn, char *buffer, gsize size)
{
  if (natsConnection_GetConnectedUrl (conn, buffer, size) != NATS_OK || buffer[0] == '\0')
    g_strlcpy (buffer, "(none)", size);
  return buffer;
}

static void
emit_connection_event (Nats *nats, const char *state, const char *server)
{
  g_autoptr (GError) error = NULL;

  /* During shutdown the host refuses emits; the log line says it all. */
  if (g_atomic_int_get (&nats->stopping))
    return;
  if (!evb_plugin_emit (nats->plugin, "nats.connection",
                        json_pack ("{s:s, s:s, s:s, s:I, s:I}", "state", state, "server", server, "host", nats->host,
                                   "reconnects", (json_int_t) NATS_READ (nats, reconnects), "disconnects",
                                   (json_int_t) NATS_READ (nats, disconnects)),
                        &error))
    evb_plugin_log (nats->plugin, G_LOG_LEVEL_DEBUG, "nats.connection not emitted: %s", error->message);
}

static void
on_disconnected (natsConnection *conn, void *closure)
{
  Nats *nats = closure;
  char server[256];

  NATS_HANDOFF_ACQUIRE ();
  if (g_atomic_int_get (&nats->stopping))
    return;
  g_atomic_int_set (&nats->connected, 0);
  __atomic_store_n (&nats->disconnected_since_us, g_get_real_time (), __ATOMIC_RELAXED);
  NATS_COUNT (nats, disconnects);
  current_server (conn, server, sizeof server);
  if (strcmp (server, "(none)") != 0)
    {
      g_mutex_lock (&nats->server_lock);
      g_free (nats->last_server);
      nats->last_server = g_strdup (server);
      g_mutex_unlock (&nats->server_lock);
    }
  evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING,
                  "disconnected from %s; reconnecting with back-off, publishes are buffered meanwhile", server);
  emit_connection_event (nats, "disconnected", server);
}

static void
on_reconnected (natsConnection *conn, void *closure)
{
  Nats *nats = closure;
  char server[256];
  gint64 since;

  NATS_HANDOFF_ACQUIRE ();
  since = __atomic_load_n (&nats->disconnected_since_us, __ATOMIC_RELAXED);

  g_atomic_int_set (&nats->connected, 1);
  __atomic_store_n (&nats->disconnected_since_us, 0, __ATOMIC_RELAXED);
  /* After the store: a health check that read the old time sees the 0
   * when it looks again (health_check). */
  evb_plugin_set_health (nats->plugin, NULL);
  NATS_COUNT (nats, reconnects);
  current_server (conn, server, sizeof server);
  evb_plugin_log (nats->plugin, G_LOG_LEVEL_MESSAGE, "reconnected to %s after %" G_GINT64_FORMAT " ms", server,
                  since > 0 ? (g_get_real_time () - since) / 1000 : 0);
  emit_connection_event (nats, "connected", server);
}

static void
on_closed (natsConnection *conn, void *closure)
{
  Nats *nats = closure;

  NATS_HANDOFF_ACQUIRE ();
  g_atomic_int_set (&nats->connected, 0);
  if (g_atomic_int_get (&nats->stopping))
    {
      /* The last callback libnats makes: shutdown waits for it before
       * freeing what the callbacks use. */
      g_mutex_lock (&nats->closed_lock);
      nats->closed = TRUE;
      g_cond_signal (&nats->closed_cond);
      g_mutex_unlock (&nats->closed_lock);
      return;
    }
  /* Only when reconnecting gave up (max_reconnects): say so loudly. */
  evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING,
                  "connection closed after %" G_GINT64_FORMAT " failed reconnect attempts; restart the host "
                  "or raise max_reconnects (-1 retries forever)",
                  (gint64) evb_plugin_get_int (nats->plugin, "max_reconnects"));
  emit_connection_event (nats, "closed", "(none)");
  g_mutex_lock (&nats->closed_lock);
  nats->closed = TRUE;
  g_cond_signal (&nats->closed_cond);
  g_mutex_unlock (&nats->closed_lock);
}

void
nats_connection_close (Nats *nats)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;

  if (nats->conn == NULL)
    return;
  natsConnection_Close (nats->conn);
  /* libnats calls back on its own thread, in order, closed last. */
  g_mutex_lock (&nats->closed_lock);
  while (!nats->closed)
    if (!g_cond_wait_until (&nats->closed_cond, &nats->closed_lock, deadline))
      {
        g_warning ("libnats did not report the connection closed within 5 s");
        break;
      }
  g_mutex_unlock (&nats->closed_lock);
}

static void
on_async_error (natsConnection *conn, natsSubscription *sub, natsStatus status, void *closure)
{
  Nats *nats = closure;

  NATS_HANDOFF_ACQUIRE ();
  NATS_COUNT (nats, async_errors);
  evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING, "%s%s", natsStatus_GetText (status),
                  status == NATS_SLOW_CONSUMER ? ": messages dropped because the bus did not keep up (counted in "
                                                 "nats.stats async_errors)"
                                               : "");
}

/* Exponential back-off: reconnect_wait_ms, doubled per failed round over
 * the server list, capped at reconnect_max_wait_ms. */
static int64_t
reconnect_delay (natsConnection *conn, int attempts, void *closure)
{
  Nats *nats = closure;
  gint64 base;
  gint64 cap;
  gint64 delay;

  NATS_HANDOFF_ACQUIRE ();
  base = evb_plugin_get_int (nats->plugin, "reconnect_wait_ms");
  cap = evb_plugin_get_int (nats->plugin, "reconnect_max_wait_ms");
  delay = base;

  for (int i = 1; i < attempts && delay < cap; i++)
    delay *= 2;
  return MIN (delay, cap);
}

/* ---- options ---------------------------------------------------------- */

static gboolean
nats_check (natsStatus status, const char *what, GError **error)
{
  g_autofree char *text = NULL;

  if (status == NATS_OK)
    return TRUE;
  text = nats_status_text (status);
  g_set_error (error, NATS_ERROR, NATS_ERROR_CONFIG, "%s: %s", what, text);
  return FALSE;
}

static gboolean
set_servers (natsOptions *options, json_t *servers, GError **error)
{
  g_autofree const char **urls = NULL;
  gsize count = json_array_size (servers);
  gsize i;
  json_t *server;

  if (count == 0)
    {
      g_set_error_literal (error, NATS_ERROR, NATS_ERROR_CONFIG,
                           "option \"servers\": give at least one server URL, e.g. [\"nats://127.0.0.1:4222\"]");
      return FALSE;
    }
  urls = g_new0 (const char *, count);
  json_array_foreach (servers, i, server)
    {
      const char *url = json_string_value (server);

      if (url == NULL || *url == '\0' || strchr (url, ',') != NULL)
        {
          g_set_error (error, NATS_ERROR, NATS_ERROR_CONFIG,
                       "option \"servers\"[%zu]: expected one server URL such as \"nats://127.0.0.1:4222\"", i);
          return FALSE;
        }
      urls[i] = url;
    }
  return nats_check (natsOptions_SetServers (options, urls, (int) count), "option \"servers\"", error);
}

static gboolean
set_auth (Nats *nats, natsOptions *options, GError **error)
{
  EvbPlugin *plugin = nats->plugin;
  const char *user = evb_plugin_get_string (plugin, "user");
  const char *password = evb_plugin_get_string (plugin, "password");
  const char *token = evb_plugin_get_string (plugin, "token");
  const char *credentials = evb_plugin_get_string (plugin, "credentials");
  guint kinds = (*user != '\0') + (*token != '\0') + (*credentials != '\0');

  if (kinds > 1)
    {
      g_set_error_literal (error, NATS_ERROR, NATS_ERROR_CONFIG,
                           "options \"user\", \"token\", \"credentials\": give one way to authenticate, not several");
      return FALSE;
    }
  if (*password != '\0' && *user == '\0')
    {
      g_set_error_literal (error, NATS_ERROR, NATS_ERROR_CONFIG, "option \"password\": needs \"user\" too");
      return FALSE;
    }
  if (*user != '\0' && !nats_check (natsOptions_SetUserInfo (options, user, password), "option \"user\"", error))
    return FALSE;
  if (*token != '\0' && !nats_check (natsOptions_SetToken (options, token), "option \"token\"", error))
    return FALSE;
  if (*credentials != '\0')
    {
      if (!g_file_test (credentials, G_FILE_TEST_IS_REGULAR))
        {
          g_set_error (error, NATS_ERROR, NATS_ERROR_CONFIG, "option \"credentials\": no file \"%s\"", credentials);
          return FALSE;
        }
      /* libnats reads it at each connect: unreadable, every connect fails. */
      if (g_access (credentials, R_OK) != 0)
        {
          g_set_error (error, NATS_ERROR, NATS_ERROR_CONFIG, "option \"credentials\": cannot read \"%s\": %s",
                       credentials, g_strerror (errno));
          return FALSE;
        }
      if (!nats_check (natsOptions_SetUserCredentialsFromFiles (options, credentials, NULL),
                       "option \"credentials\"", error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
set_tls (Nats *nats, natsOptions *options, GError **error)
{
  EvbPlugin *plugin = nats->plugin;
  const char *ca = evb_plugin_get_string (plugin, "tls_ca");
  const char *cert = evb_plugin_get_string (plugin, "tls_cert");
  const char *key = evb_plugin_get_string (plugin, "tls_key");
  const char *hostname = evb_plugin_get_string (plugin, "tls_hostname");
  gboolean tls = evb_plugin_get_bool (plugin, "tls");

  if (!tls)
    {
      if (*ca != '\0' || *cert != '\0' || *key != '\0' || *hostname != '\0')
        {
          g_set_error_literal (error, NATS_ERROR, NATS_ERROR_CONFIG,
                               "option \"tls\": tls_ca, tls_cert, tls_key or tls_hostname is set but \"tls\" is "
                               "false: set \"tls\": true");
          return FALSE;
        }
      return TRUE;
    }
  if ((*cert == '\0') != (*key == '\0'))
    {
      g_set_error_literal (error, NATS_ERROR, NATS_ERROR_CONFIG,
                           "options \"tls_cert\", \"tls_key\": a client certificate needs both");
      return FALSE;
    }
  if (!nats_check (natsOptions_SetSecure (options, true), "option \"tls\"", error))
    return FALSE;
  if (*ca != '\0' && !nats_check (natsOptions_LoadCATrustedCertificates (options, ca), "option \"tls_ca\"", error))
    return FALSE;
  if (*cert != '\0'
      && !nats_check (natsOptions_LoadCertificatesChain (options, cert, key), "option \"tls_cert\"", error))
    return FALSE;
  if (*hostname != '\0'
      && !nats_check (natsOptions_SetExpectedHostname (options, hostname), "option \"tls_hostname\"", error))
    return FALSE;
  return TRUE;
}

static natsOptions *
build_options (Nats *nats, GError **error)
{
  EvbPlugin *plugin = nats->plugin;
  const char *name = evb_plugin_get_string (plugin, "name");
  g_autofree char *default_name = g_strdup_printf ("evbus %s (%s)", nats->host, plugin->name);
  natsOptions *options = NULL;

  if (!nats_check (natsOptions_Create (&options), "libnats", error))
    return NULL;
  if (!set_servers (options, json_object_get (evb_plugin_get_options (plugin), "servers"), error)
      || !set_auth (nats, options, error) || !set_tls (nats, options, error)
      || !nats_check (natsOptions_SetName (options, *name != '\0' ? name : default_name), "option \"name\"", error)
      || !nats_check (natsOptions_SetTimeout (options, evb_plugin_get_int (plugin, "connect_timeout_ms")),
                      "option \"connect_timeout_ms\"", error)
      || !nats_check (natsOptions_SetMaxReconnect (options, (int) evb_plugin_get_int (plugin, "max_reconnects")),
                      "option \"max_reconnects\"", error)
      || !nats_check (natsOptions_SetCustomReconnectDelay (options, reconnect_delay, nats),
                      "option \"reconnect_wait_ms\"", error)
      || !nats_check (natsOptions_SetReconnectBufSize (options,
                                                       (int) evb_plugin_get_int (plugin, "reconnect_buffer_bytes")),
                      "option \"reconnect_buffer_bytes\"", error)
      /* Our own publications never come back on our own subscriptions. */
      || !nats_check (natsOptions_SetNoEcho (options, true), "libnats", error)
      || !nats_check (natsOptions_SetDisconnectedCB (options, on_disconnected, nats), "libnats", error)
      || !nats_check (natsOptions_SetReconnectedCB (options, on_reconnected, nats), "libnats", error)
      || !nats_check (natsOptions_SetClosedCB (options, on_closed, nats), "libnats", error)
      || !nats_check (natsOptions_SetErrorHandler (options, on_async_error, nats), "libnats", error))
    {
      natsOptions_Destroy (options);
      return NULL;
    }
  return options;
}

gboolean
nats_connection_open (Nats *nats, GError **error)
{
  natsOptions *options = build_options (nats, error);
  natsStatus status;
  char server[256];

  if (options == NULL)
    return FALSE;
  /* Checked: the options are built (servers, auth, TLS files read), but
   * nothing connects; the instance then has no connection (conn NULL). */
  if (evb_plugin_is_checking (nats->plugin))
    {
      natsOptions_Destroy (options);
      return TRUE;
    }
  NATS_HANDOFF_RELEASE ();
  status = natsConnection_Connect (&nats->conn, options);
  natsOptions_Destroy (options);
  if (status != NATS_OK)
    {
      g_autofree char *text = nats_status_text (status);
      g_autofree char *servers = evb_json_dumps (json_object_get (evb_plugin_get_options (nats->plugin), "servers"),
                                             JSON_COMPACT);

      nats->conn = NULL;
      g_set_error (error, NATS_ERROR, NATS_ERROR_CONNECT,
                   "cannot connect to %s: %s; check option \"servers\" and that nats-server runs there", servers,
                   text);
      return FALSE;
    }
  g_atomic_int_set (&nats->connected, 1);
  current_server (nats->conn, server, sizeof server);
  g_mutex_lock (&nats->server_lock);
  g_free (nats->last_server);
  nats->last_server = g_strdup (server);
  g_mutex_unlock (&nats->server_lock);
  evb_plugin_log (nats->plugin, G_LOG_LEVEL_MESSAGE, "connected to %s as host \"%s\"", server, nats->host);
  return TRUE;
}

/* ---- health ------------------------------------------------------------ */

/* Main thread, every quarter of unhealthy_after_ms (50 ms to 1 s): the
 * reason carries how long, so it is set again on every tick while
 * disconnected.  libnats says "disconnected" once, so time has to be
 * watched by someone: a timer is simpler than a thread of our own, and a
 * stalled loop is reported by the host's watchdog anyway. */
static gboolean
health_check (gpointer data)
{
  Nats *nats = data;
  gint64 since = __atomic_load_n (&nats->disconnected_since_us, __ATOMIC_RELAXED);
  gint64 disconnected_ms;
  g_autofree char *server = NULL;
  g_autofree char *reason = NULL;

  if (since == 0 || g_atomic_int_get (&nats->stopping))
    return G_SOURCE_CONTINUE;
  disconnected_ms = MAX (0, (g_get_real_time () - since) / 1000);
  if (disconnected_ms < nats->unhealthy_after_ms)
    return G_SOURCE_CONTINUE;
  g_mutex_lock (&nats->server_lock);
  server = g_strdup (nats->last_server != NULL ? nats->last_server : "(none)");
  g_mutex_unlock (&nats->server_lock);
  reason = g_strdup_printf ("disconnected from %s for %" G_GINT64_FORMAT ".%01d s", server, disconnected_ms / 1000,
                            (int) (disconnected_ms % 1000 / 100));
  evb_plugin_set_health (nats->plugin, reason);
  /* The reconnect callback may have cleared it between our read and our
   * set (it stores 0 first, then clears): look again. */
  if (__atomic_load_n (&nats->disconnected_since_us, __ATOMIC_RELAXED) == 0)
    evb_plugin_set_health (nats->plugin, NULL);
  return G_SOURCE_CONTINUE;
}

void
nats_health_start (Nats *nats)
{
  nats->unhealthy_after_ms = evb_plugin_get_int (nats->plugin, "unhealthy_after_ms");
  if (nats->unhealthy_after_ms == 0)
    return;
  nats->health_source = evb_plugin_add_timeout (nats->plugin, (guint) CLAMP (nats->unhealthy_after_ms / 4, 50, 1000),
                                                health_check, nats, NULL);
}

/* ---- what every message carries --------------------------------------- */

natsStatus
nats_set_origin_headers (Nats *nats, natsMsg *msg, const EvbEvent *event)
{
  char id[32];
  char traceparent[EVB_TRACEPARENT_SIZE];
  natsStatus status;

  g_snprintf (id, sizeof id, "%" G_GUINT64_FORMAT, event->id);
  evb_event_format_traceparent (event, traceparent);
  status = natsMsgHeader_Set (msg, NATS_HEADER_HOST, nats->host);
  if (status == NATS_OK)
    status = natsMsgHeader_Set (msg, NATS_HEADER_ID, id);
  if (status == NATS_OK)
    status = natsMsgHeader_Set (msg, NATS_HEADER_RUN, nats->run_id);
  if (status == NATS_OK)
    status = natsMsgHeader_Set (msg, NATS_HEADER_SOURCE, event->source);
  if (status == NATS_OK)
    status = natsMsgHeader_Set (msg, NATS_HEADER_TRACEPARENT, traceparent);
  if (status == NATS_OK && event->tracestate != NULL)
    status = natsMsgHeader_Set (msg, NATS_HEADER_TRACESTATE, event->tracestate);
  return status;
}

const char *
nats_header (natsMsg *msg, const char *key)
{
  const char *value = NULL;

  return natsMsgHeader_Get (msg, key, &value) == NATS_OK ? value : NULL;
}

void
nats_origin_read (natsMsg *msg, NatsOrigin *origin)
{
  origin->host = nats_header (msg, NATS_HEADER_HOST);
  origin->id = nats_header (msg, NATS_HEADER_ID);
  origin->source = nats_header (msg, NATS_HEADER_SOURCE);
  origin->traceparent = nats_header (msg, NATS_HEADER_TRACEPARENT);
  origin->tracestate = nats_header (msg, NATS_HEADER_TRACESTATE);
}

json_t *
nats_origin_json (const NatsOrigin *origin, const char *subject)
{
  guint64 number = 0;

  /* A message from another NATS client has none of them: null fields. */
  if (origin->id == NULL || !g_ascii_string_to_unsigned (origin->id, 10, 1, G_MAXUINT64, &number, NULL))
    number = 0;
  return json_pack ("{s:o, s:o, s:o, s:s}", "host", origin->host != NULL ? json_string (origin->host) : json_null (),
                    "id", number != 0 ? json_integer ((json_int_t) number) : json_null (), "source",
                    origin->source != NULL ? json_string (origin->source) : json_null (), "subject", subject);
}

json_t *
nats_origin_from_headers (natsMsg *msg, const char *subject)
{
  NatsOrigin origin;

  nats_origin_read (msg, &origin);
  return nats_origin_json (&origin, subject);
}

json_t *
nats_stats_json (Nats *nats)
{
  gint64 since = __atomic_load_n (&nats->disconnected_since_us, __ATOMIC_RELAXED);
  gboolean connected = g_atomic_int_get (&nats->connected) != 0;
  char server[256] = "(none)";

  if (nats->conn != NULL && connected)
    current_server (nats->conn, server, sizeof server);
#define FIELD(name) #name, (json_int_t) NATS_READ (nats, name)
  return json_pack ("{s:s, s:s, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I},"
                    " s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I}",
                    "host", nats->host, "state", connected ? "connected" : "disconnected", "server", server,
                    "disconnected_ms",
                    !connected && since > 0 ? json_integer ((g_get_real_time () - since) / 1000) : json_null (),
                    "publish", FIELD (published), FIELD (publish_failed), FIELD (publish_skipped_relay),
                    FIELD (publish_skipped_echo), FIELD (published_disconnected),
                    "import", FIELD (imported), FIELD (import_skipped_own), FIELD (import_bad), FIELD (import_refused),
                    FIELD (import_dropped), "import_queued", (json_int_t) g_atomic_int_get (&nats->import_queued),
                    "submit", FIELD (submitted), FIELD (submit_duplicates), FIELD (submit_failed), FIELD (submit_skipped),
                    "jobs", FIELD (jobs_received), FIELD (jobs_redelivered), FIELD (jobs_acked), FIELD (jobs_nacked),
                    FIELD (jobs_in_progress), FIELD (jobs_dead_lettered), FIELD (jobs_dead_letter_failed),
                    FIELD (ack_failed),
                    FIELD (reconnects), FIELD (disconnects), FIELD (async_errors), "import_patterns",
                    (json_int_t) (nats->imports != NULL ? nats->imports->len : 0));
#undef FIELD
}
