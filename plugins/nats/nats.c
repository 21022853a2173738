/* nats — crosses hosts over NATS (libnats against nats-server): fan-out of
 * events, shared work on a JetStream work queue, and the cluster view.
 *
 * Provides (docs/plugins/nats.md is the full manual)
 *   handler publish (async)  sends the event to <prefix>.<type> with headers Evbus-Origin-Host,
 *                            Evbus-Origin-Id, Evbus-Origin-Run, Evbus-Origin-Source, traceparent
 *                            (tracestate); events that came in through NATS are not sent again
 *   handler submit  (async)  puts the event on the work stream as <work_prefix>.<type> with a
 *                            message id; completes only when JetStream acknowledged it
 *   handler report  (sync)   emits nats.stats now
 *   emits   the imported events (their own type; evbus.X as <host_events_as>.X) with
 *           data._origin {host, id, source, subject}; jobs (worker: true) with data._origin
 *           {..., msg_id, stream_seq, deliveries}, each with a receipt that settles it;
 *           nats.connection {state, server, host, reconnects, disconnects} on every change;
 *           nats.stats (counters) every stats_interval_ms and on report;
 *           nats.dead-letter {type, subject, dead_subject, reason, host, msg_id, stream_seq,
 *           deliveries, origin, data} when a job is moved aside
 *   health  disconnected longer than unhealthy_after_ms: "disconnected from URL for N s"
 *           (evb_plugin_set_health) until it reconnects
 *
 * Threads: libnats delivers on its own threads; fan-out imports are queued
 * there and emitted in batches on the main loop (fanout.c), jobs are
 * emitted there (any thread).
 * Receipts (main thread) queue acks for the acker thread (acker.c).  The
 * main loop never waits on the network after init; init connects and sets
 * up the stream and consumer (bounded by connect_timeout_ms and
 * submit_timeout_ms).
 */
#include "nats-private.h"

G_DEFINE_QUARK (evbus-nats-error-quark, nats_error)

int nats_tsan_handoff; /* an address for NATS_HANDOFF_* (nats-private.h) */

static void
emit_stats (Nats *nats)
{
  g_autoptr (GError) error = NULL;

  if (!evb_plugin_emit (nats->plugin, "nats.stats", nats_stats_json (nats), &error))
    evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING, "nats.stats not emitted: %s", error->message);
}

static EvbResult
nats_report_handler (EvbCall *call, const EvbEvent *event)
{
  emit_stats (call->instance_data);
  return EVB_CONTINUE;
}

static gboolean
stats_tick (gpointer data)
{
  emit_stats (data);
  return G_SOURCE_CONTINUE;
}

static char *
random_run_id (void)
{
  return g_strdup_printf ("%08x%08x", g_random_int (), g_random_int ());
}

static void
nats_free (Nats *nats)
{
  /* Subscriptions go after their connection is closed (libnats 3.4 can
   * crash on a message for a subscription destroyed while its connection
   * still reads), and the connection after everything that uses it. */
  nats_connection_close (nats);
  if (nats->work != NULL)
    {
      if (nats->work->sub != NULL)
        natsSubscription_Destroy (nats->work->sub);
      nats->work->sub = NULL;
    }
  for (guint i = 0; nats->imports != NULL && i < nats->imports->len; i++)
    natsSubscription_Destroy (g_ptr_array_index (nats->imports, i));
  if (nats->imports != NULL)
    g_ptr_array_unref (nats->imports);
  if (nats->js != NULL)
    jsCtx_Destroy (nats->js);
  if (nats->conn != NULL)
    natsConnection_Destroy (nats->conn);
  if (nats->work != NULL)
    nats_work_unref (nats->work);
  g_free (nats->host);
  g_free (nats->run_id);
  g_free (nats->prefix);
  g_free (nats->host_events_as);
  nats_fanout_clear (nats);
  g_mutex_clear (&nats->closed_lock);
  g_cond_clear (&nats->closed_cond);
  g_mutex_clear (&nats->server_lock);
  g_free (nats->last_server);
  g_free (nats);
}

static gboolean
nats_init (EvbPlugin *plugin, GError **error)
{
  const char *host = evb_plugin_get_string (plugin, "host");
  Nats *nats = g_new0 (Nats, 1);
  gint64 stats_interval_ms = evb_plugin_get_int (plugin, "stats_interval_ms");

  nats->plugin = plugin;
  g_mutex_init (&nats->closed_lock);
  g_cond_init (&nats->closed_cond);
  g_mutex_init (&nats->server_lock);
  nats_fanout_init (nats);
  nats->host = g_strdup (*host != '\0' ? host : g_get_host_name ());
  nats->run_id = random_run_id ();
  nats->prefix = g_strdup (evb_plugin_get_string (plugin, "prefix"));
  nats->host_events_as = g_strdup (evb_plugin_get_string (plugin, "host_events_as"));
  if (!nats_prefix_check ("prefix", nats->prefix, error)
      || !nats_prefix_check ("host_events_as", nats->host_events_as, error))
    goto fail;
  if (evb_type_is_reserved (nats->host_events_as) || strcmp (nats->host_events_as, "evbus") == 0)
    {
      g_set_error (error, NATS_ERROR, NATS_ERROR_CONFIG,
                   "option \"host_events_as\": \"%s\" is reserved for the host's own events; use e.g. \"cluster\"",
                   nats->host_events_as);
      goto fail;
    }
  if (!nats_connection_open (nats, error) || !nats_fanout_start (nats, error) || !nats_work_start (nats, error))
    goto fail;
  plugin->instance_data = nats;
  if (evb_plugin_is_checking (plugin))
    return TRUE; /* not connected: nothing to report or watch */
  if (stats_interval_ms > 0)
    nats->stats_source = evb_plugin_add_timeout (plugin, (guint) stats_interval_ms, stats_tick, nats, NULL);
  nats_health_start (nats);
  return TRUE;

fail:
  g_atomic_int_set (&nats->stopping, 1);
  nats_fanout_stop (nats, FALSE);
  nats_work_stop (nats);
  nats_work_shutdown (nats);
  nats_free (nats);
  return FALSE;
}

/* Sources stop: no more imports, no more jobs.  Jobs already emitted
 * still settle through their receipts while the host drains. */
static void
nats_stop (EvbPlugin *plugin)
{
  Nats *nats = plugin->instance_data;

  g_atomic_int_set (&nats->stopping, 1);
  nats_fanout_stop (nats, TRUE);
  nats_work_stop (nats);
}

static void
nats_shutdown (EvbPlugin *plugin)
{
  Nats *nats = plugin->instance_data;

  if (nats == NULL)
    return;
  g_atomic_int_set (&nats->stopping, 1);
  nats_fanout_stop (nats, TRUE);
  nats_work_stop (nats);
  nats_work_shutdown (nats);
  /* What was published is on its way before the socket closes. */
  if (nats->conn != NULL)
    natsConnection_FlushTimeout (nats->conn, 2000);
  nats_free (nats);
  plugin->instance_data = NULL;
}

static const EvbHandlerInfo nats_handlers[] = {
  EVB_HANDLER_ASYNC ("publish", nats_publish_handler,
                     "Sends the event to <prefix>.<type> with origin and traceparent headers; skips events that came "
                     "in through NATS; fails when libnats refuses it (reconnect buffer full, payload too big)"),
  EVB_HANDLER_ASYNC ("submit", nats_submit_handler,
                     "Puts the event on the work stream as <work_prefix>.<type> with a message id; completes when "
                     "JetStream acknowledged it, fails after 3 attempts without an acknowledgement"),
  EVB_HANDLER_SYNC ("report", nats_report_handler, "Emits nats.stats (connection state and counters) now"),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo nats_options[] = {
  /* connection */
  EVB_OPTION ("servers", EVB_OPTION_ARRAY, "[\"nats://127.0.0.1:4222\"]",
              "Server URLs (nats:// or tls://) of one cluster; tried in random order, reconnects go to any of them"),
  EVB_OPTION ("name", EVB_OPTION_STRING, "\"\"",
              "Connection name the server shows (monitoring, logs); \"\": \"evbus HOST (INSTANCE)\""),
  EVB_OPTION ("host", EVB_OPTION_STRING, "\"\"",
              "This host's label in Evbus-Origin-Host and _origin.host; \"\": the machine's name"),
  EVB_OPTION ("user", EVB_OPTION_STRING, "\"\"", "User name (with password); one of user, token, credentials"),
  EVB_OPTION ("password", EVB_OPTION_STRING, "\"\"", "Password of user"),
  EVB_OPTION ("token", EVB_OPTION_STRING, "\"\"", "Authentication token"),
  EVB_OPTION_PATH ("credentials", "\"\"", "NATS credentials file (JWT and NKey seed), relative to the config file"),
  EVB_OPTION ("tls", EVB_OPTION_BOOL, "false", "Require TLS (also implied by tls:// URLs)"),
  EVB_OPTION_PATH ("tls_ca", "\"\"", "PEM file of the CAs that signed the server's certificate; \"\": the system's"),
  EVB_OPTION_PATH ("tls_cert", "\"\"", "PEM client certificate (with tls_key) for servers that verify clients"),
  EVB_OPTION_PATH ("tls_key", "\"\"", "PEM private key of tls_cert"),
  EVB_OPTION ("tls_hostname", EVB_OPTION_STRING, "\"\"", "Name expected in the server's certificate, when not the URL's"),
  EVB_OPTION_INT_RANGE ("connect_timeout_ms", "2000", 1, 600000, "Timeout of one connection attempt, in ms"),
  EVB_OPTION_INT_RANGE ("reconnect_wait_ms", "100", 1, 600000,
                        "First reconnect delay after a lost connection, doubled per failed round, in ms"),
  EVB_OPTION_INT_RANGE ("reconnect_max_wait_ms", "5000", 1, 600000, "Longest reconnect delay (back-off cap), in ms"),
  EVB_OPTION_INT_RANGE ("max_reconnects", "-1", -1, G_MAXINT,
                        "Reconnect rounds before giving up (the connection then closes, logged); -1: for ever"),
  EVB_OPTION_INT_RANGE ("reconnect_buffer_bytes", "8388608", 0, G_MAXINT,
                        "Publishes kept while disconnected, in bytes; beyond it publish fails (a failure event)"),
  EVB_OPTION_INT_RANGE ("stats_interval_ms", "0", 0, 86400000, "Emit nats.stats this often, in ms; 0: only on report"),
  EVB_OPTION_INT_RANGE ("unhealthy_after_ms", "5000", 0, 86400000,
                        "Disconnected longer than this, in ms, the instance reports itself unhealthy (the host's "
                        "stats, the dashboard's /healthz) until it reconnects; 0: never"),
  /* fan-out */
  EVB_OPTION ("prefix", EVB_OPTION_STRING, "\"evbus\"", "Fan-out subjects are <prefix>.<type>"),
  EVB_OPTION ("import", EVB_OPTION_ARRAY, "[]",
              "Type patterns (\"search.*\", \"evbus.status.>\", \">\") to subscribe under prefix and emit here"),
  EVB_OPTION ("host_events_as", EVB_OPTION_STRING, "\"cluster\"",
              "Imported host events evbus.X are emitted as <host_events_as>.X (plugins cannot emit evbus.*)"),
  EVB_OPTION_INT_RANGE ("import_queue_limit", "65536", 1, 16777216,
                        "Imported messages waiting for the main loop, at most; more are dropped (counted "
                        "import_dropped, logged) until it catches up"),
  /* work sharing */
  EVB_OPTION ("work_stream", EVB_OPTION_STRING, "\"\"",
              "JetStream work-queue stream for submit and worker (created if absent); \"\": no work sharing"),
  EVB_OPTION ("work_prefix", EVB_OPTION_STRING, "\"evbus-jobs\"", "Jobs are <work_prefix>.<type>; the stream holds <work_prefix>.>"),
  EVB_OPTION ("worker", EVB_OPTION_BOOL, "false", "Work the queue: take jobs from the shared consumer and emit them here"),
  EVB_OPTION ("consumer", EVB_OPTION_STRING, "\"evbus-workers\"",
              "Durable consumer (and deliver group) all worker hosts share"),
  EVB_OPTION ("create", EVB_OPTION_BOOL, "true",
              "Create the stream and consumer when absent; false: they must exist (checked either way)"),
  EVB_OPTION_CHOICE ("storage", "\"file\"", EVB_CHOICES ("file", "memory"), "Storage of streams this plugin creates"),
  EVB_OPTION_INT_RANGE ("ack_wait_ms", "30000", 100, 3600000,
                        "A job not settled within this is delivered again; in-progress notices extend it"),
  EVB_OPTION_INT_RANGE ("max_deliver", "5", 1, 1000,
                        "Deliveries of a job before it is moved to the dead-letter subject"),
  EVB_OPTION_INT_RANGE ("max_ack_pending", "256", 1, 1000000,
                        "Jobs out at once across all workers (the consumer's limit)"),
  EVB_OPTION_INT_RANGE ("nak_delay_ms", "1000", 0, 3600000,
                        "Redelivery delay after a failed job, doubled per earlier delivery, in ms"),
  EVB_OPTION_INT_RANGE ("nak_delay_max_ms", "60000", 0, 3600000, "Longest redelivery delay after a failure, in ms"),
  EVB_OPTION ("dead_letter_prefix", EVB_OPTION_STRING, "\"evbus-dead\"",
              "Dead jobs go to <dead_letter_prefix>.<type>, kept by stream <work_stream>_DEAD (created if absent)"),
  EVB_OPTION ("msg_id_field", EVB_OPTION_STRING, "\"job_id\"",
              "Data field whose value is the job's message id (dedupe); absent: <run id>-<event id>"),
  EVB_OPTION_INT_RANGE ("submit_timeout_ms", "5000", 100, 600000,
                        "Wait for JetStream's acknowledgement of a submit (and other JetStream calls), in ms"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE_WITH ("nats", "0.1.0",
                        "Crosses hosts over NATS: fan-out of events, shared work on JetStream, the cluster view",
                        nats_handlers, nats_options, nats_init, nats_shutdown, .stop = nats_stop);
