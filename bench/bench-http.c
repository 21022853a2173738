/* HTTP (issue 12): plugins/http-in and plugins/http-out under load, each
 * against plain libsoup doing the same work in the same process.
 *
 *   bench-http [--quick] [--rounds N] [--only VARIANT] [--no-peer]
 *
 * http-in ("request-reply", "webhook"): a real client, Debian's `hey`
 * (-c 50 connections, keep-alive, POST of a small JSON object), drives
 *   - evbus: a bus (2 workers, default settings) with http-in loaded as the
 *     host loads it, on 127.0.0.1:0.  request-reply: the path /rr emits
 *     bench.request and waits for bench.reply, which a linked-in sync
 *     handler emits with the request's data, so the answer is the request's
 *     JSON; webhook: POST /events/bench.hook to a sync handler that does
 *     nothing, answered 202 from the receipt;
 *   - peer: a SoupServer on the same main context that parses the body
 *     with jansson and answers it back as JSON (200).
 * Figures: requests/s (ratio evbus / peer, target >= 0.7 for
 * request/reply) and hey's p99 latency in ms (ratio peer / evbus).  hey
 * runs on the same two cores as the server: both sides pay that alike.
 *
 * http-out ("calls"): N events routed to http-out's async `send` (2
 * workers, so 2 calls on the wire) POST their data to a SoupServer
 * receiver running on a thread of its own; the peer makes the same N POSTs
 * with one SoupSession, 2 in flight, on the main thread.  Calls/s, ratio
 * evbus / peer, information (the issue sets no target).
 *
 * Rounds alternate evbus and peer; one warm-up run of each comes first. */
#include "bench-common.h"
#include "plugin-module.h"

#include <evbus/plugin.h>
#include <jansson.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY "{\"query\":\"lamp\",\"limit\":2,\"user\":{\"id\":42,\"name\":\"ann\"}}"
#define HEY_CONNECTIONS "50"

/* ---- the linked-in handlers ------------------------------------------------ */

static EvbResult
echo_reply (EvbCall *call, const EvbEvent *event)
{
  if (!evb_call_emit (call, "bench.reply", json_incref (event->data), NULL))
    return evb_call_fail (call, "bench", 1, "cannot emit bench.reply");
  return EVB_CONTINUE;
}

static EvbResult
echo_ok (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static const EvbHandlerInfo echo_handlers[] = {
  EVB_HANDLER ("reply", echo_reply, "Emits bench.reply with the event's data."),
  EVB_HANDLER ("ok", echo_ok, "Does nothing."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (echo_descriptor, "echo", "1.0", "Replies; linked into bench-http.", echo_handlers, NULL,
                          NULL, NULL);

static EvbResult
remember_url (EvbCall *call, const EvbEvent *event)
{
  char **url = call->route_data;

  g_free (*url);
  *url = g_strdup (json_string_value (json_object_get (event->data, "url")));
  return EVB_CONTINUE;
}

static EvbResult
count_failure (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc ((gint *) call->route_data);
  return EVB_CONTINUE;
}

static void
add_plugin_route (EvbBus *bus, EvbPluginInstance *plugin, const char *pattern, const char *handler, EvbMode mode)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;

  spec.mode = mode;
  spec.pattern = pattern;
  spec.handler = handler;
  if (evb_bus_add_route (bus, plugin, &spec, NULL, &error) == 0)
    g_error ("bench-http: route on %s: %s", pattern, error->message);
}

/* ---- the plain libsoup server (peer of http-in, and the receiver) ---------- */

/* Parses the body and answers it back, as http-in does with the reply. */
static void
echo_callback (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  json_t *json;
  char *text;

  if (strcmp (soup_server_message_get_method (msg), "POST") != 0)
    {
      soup_server_message_set_status (msg, 405, NULL);
      return;
    }
  json = json_loadb (body->data, body->length, 0, NULL);
  if (!json_is_object (json))
    {
      json_decref (json);
      soup_server_message_set_status (msg, 400, NULL);
      return;
    }
  text = json_dumps (json, JSON_COMPACT);
  json_decref (json);
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text, strlen (text));
}

/* Listens on 127.0.0.1:0 on the thread-default context; returns the base URL. */
static char *
soup_echo_server (SoupServer **server_out)
{
  g_autoptr (GError) error = NULL;
  SoupServer *server = soup_server_new (NULL, NULL);
  GSList *uris;
  char *url;

  soup_server_add_handler (server, NULL, echo_callback, NULL, NULL);
  if (!soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    g_error ("bench-http: libsoup server: %s", error->message);
  uris = soup_server_get_uris (server);
  url = g_uri_to_string (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  *server_out = server;
  return url; /* "http://127.0.0.1:PORT/" */
}

/* ---- hey -------------------------------------------------------------------- */

typedef struct {
  gboolean done;
  char *out;
  GError *error;
} HeyRun;

typedef struct {
  double rps;
  double p99_ms;
} HeyFigures;

static void
hey_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HeyRun *run = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &run->out, NULL, &run->error);
  run->done = TRUE;
}

/* Runs hey against @url while iterating @context (the servers live on it);
 * aborts unless every answer had @status. */
static HeyFigures
hey (GMainContext *context, const char *url, guint requests, guint status)
{
  g_autofree char *n = g_strdup_printf ("%u", requests);
  const char *argv[] = { "hey", "-n", n, "-c", HEY_CONNECTIONS, "-m", "POST", "-T", "application/json",
                         "-d", BODY, url, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) process = NULL;
  g_autofree char *expected = g_strdup_printf ("[%u]\t%u responses", status, requests);
  HeyRun run = { 0 };
  HeyFigures figures = { 0 };
  const char *line;

  process = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  if (process == NULL)
    g_error ("bench-http: cannot run hey (apt-get install hey): %s", error->message);
  g_subprocess_communicate_utf8_async (process, NULL, NULL, hey_finished, &run);
  while (!run.done)
    g_main_context_iteration (context, TRUE);
  if (run.error != NULL)
    g_error ("bench-http: hey: %s", run.error->message);
  if (!g_subprocess_get_successful (process) || strstr (run.out, expected) == NULL
      || strstr (run.out, "Error distribution") != NULL)
    g_error ("bench-http: hey against %s: not every answer was %u:\n%s", url, status, run.out);
  line = strstr (run.out, "Requests/sec:");
  if (line != NULL)
    figures.rps = g_ascii_strtod (line + strlen ("Requests/sec:"), NULL);
  line = strstr (run.out, "99% in ");
  if (line != NULL)
    figures.p99_ms = g_ascii_strtod (line + strlen ("99% in "), NULL) * 1000;
  if (figures.rps <= 0 || figures.p99_ms <= 0)
    g_error ("bench-http: cannot read hey's output:\n%s", run.out);
  g_free (run.out);
  return figures;
}

/* ---- http-in ------------------------------------------------------------------ */

static void
bench_http_in (const BenchOptions *options)
{
  GMainContext *context = g_main_context_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *api_url = NULL;
  g_autofree char *peer_url = NULL;
  SoupServer *peer_server;
  EvbPluginInstance *echo;
  EvbBus *bus;
  json_t *config;
  guint requests = options->quick ? 3000 : 10000;
  const struct {
    const char *name;
    const char *api_path;
    guint status;
    const char *check;
  } variants[] = {
    { "request-reply", "rr", 200, "ratio>=0.7" },
    { "webhook", "events/bench.hook", 202, "info" },
  };

  g_main_context_push_thread_default (context);
  bus = bench_bus_new (context, 2, 0);
  echo = evb_bus_add_plugin (bus, "echo", &echo_descriptor, NULL, &error);
  if (echo == NULL)
    g_error ("bench-http: %s", error->message);
  add_plugin_route (bus, echo, "bench.request", "reply", EVB_MODE_SYNC);
  add_plugin_route (bus, echo, "bench.hook", "ok", EVB_MODE_SYNC);
  bench_add_route (bus, "http-in.ready", EVB_MODE_SYNC, remember_url, &api_url, NULL);
  config = json_pack ("{s:s, s:[{s:s, s:s, s:s, s:i}]}", "listen", "127.0.0.1:0", "paths", "path", "/rr", "type",
                      "bench.request", "reply", "bench.reply", "timeout_ms", 10000);
  if (evb_plugin_load (bus, "api", HTTP_IN_MODULE, config, &error) == NULL)
    g_error ("bench-http: loading %s: %s", HTTP_IN_MODULE, error->message);
  json_decref (config);
  bench_run_until_idle (bus);
  if (api_url == NULL)
    g_error ("bench-http: no http-in.ready");
  peer_url = soup_echo_server (&peer_server);

  for (gsize v = 0; v < G_N_ELEMENTS (variants); v++)
    {
      g_autofree double *rps = g_new0 (double, options->rounds);
      g_autofree double *p99 = g_new0 (double, options->rounds);
      g_autofree double *peer_rps = g_new0 (double, options->rounds);
      g_autofree double *peer_p99 = g_new0 (double, options->rounds);
      g_autofree char *url = g_strconcat (api_url, variants[v].api_path, NULL);
      g_autofree char *peer_path = g_strconcat (peer_url, variants[v].api_path, NULL);
      double rps_median, p99_median, peer_rps_median = 0, peer_p99_median = 0;

      if (!bench_wants (options, variants[v].name))
        continue;
      hey (context, url, requests / 10, variants[v].status); /* warm-up */
      if (!options->skip_peer)
        hey (context, peer_path, requests / 10, 200);
      for (guint r = 0; r < options->rounds; r++)
        {
          HeyFigures evbus = hey (context, url, requests, variants[v].status);
          HeyFigures peer = { 0 };

          if (!options->skip_peer)
            peer = hey (context, peer_path, requests, 200);
          rps[r] = evbus.rps;
          p99[r] = evbus.p99_ms;
          peer_rps[r] = peer.rps;
          peer_p99[r] = peer.p99_ms;
          printf ("# %s round %u: http-in %.0f req/s p99 %.1f ms, libsoup %.0f req/s p99 %.1f ms\n",
                  variants[v].name, r, evbus.rps, evbus.p99_ms, peer.rps, peer.p99_ms);
        }
      rps_median = bench_median (rps, options->rounds);
      p99_median = bench_median (p99, options->rounds);
      if (!options->skip_peer)
        {
          peer_rps_median = bench_median (peer_rps, options->rounds);
          peer_p99_median = bench_median (peer_p99, options->rounds);
        }
      /* Higher is better: evbus / peer.  Latency: peer / evbus. */
      bench_result ("HTTP", variants[v].name, "req/s", rps_median, peer_rps_median, "libsoup-server",
                    peer_rps_median > 0 ? rps_median / peer_rps_median : 0, variants[v].check);
      bench_result ("HTTP", variants[v].name, "p99-ms", p99_median, peer_p99_median, "libsoup-server",
                    p99_median > 0 ? peer_p99_median / p99_median : 0, "info");
    }

  evb_bus_free (bus);
  g_object_unref (peer_server);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

/* ---- http-out ------------------------------------------------------------------ */

typedef struct {
  GMutex lock;
  GCond ready;
  char *url;
  GMainContext *context;
  GMainLoop *loop;
} Receiver;

static gpointer
receiver_main (gpointer data)
{
  Receiver *receiver = data;
  SoupServer *server;
  char *url;

  g_main_context_push_thread_default (receiver->context);
  url = soup_echo_server (&server);
  g_mutex_lock (&receiver->lock);
  receiver->url = url;
  g_cond_signal (&receiver->ready);
  g_mutex_unlock (&receiver->lock);
  g_main_loop_run (receiver->loop);
  g_object_unref (server);
  g_main_context_pop_thread_default (receiver->context);
  return NULL;
}

static gboolean
quit_loop (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static double
http_out_calls_per_second (const char *receiver_url, guint calls)
{
  GMainContext *context = g_main_context_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *url = g_strconcat (receiver_url, "hook", NULL);
  gint failures = 0;
  EvbPluginInstance *out;
  EvbBus *bus;
  json_t *config;
  gint64 start;
  double rate;

  g_main_context_push_thread_default (context);
  /* An inbox that takes every event at once: the emits never wait. */
  bus = bench_bus_new (context, 2, calls + 64);
  bench_add_route (bus, "evbus.failure", EVB_MODE_SYNC, count_failure, &failures, NULL);
  config = json_pack ("{s:s, s:i}", "url", url, "retries", 0);
  out = evb_plugin_load (bus, "out", HTTP_OUT_MODULE, config, &error);
  if (out == NULL)
    g_error ("bench-http: loading %s: %s", HTTP_OUT_MODULE, error->message);
  json_decref (config);
  add_plugin_route (bus, out, "bench.call", "send", EVB_MODE_ASYNC);
  bench_run_until_idle (bus);
  start = bench_now_ns ();
  for (guint i = 0; i < calls; i++)
    {
      json_t *data = json_loads (BODY, 0, NULL);

      json_object_set_new (data, "n", json_integer (i));
      if (!evb_bus_emit (bus, "bench.call", NULL, data, &error))
        g_error ("bench-http: emit: %s", error->message);
    }
  while (bench_jobs_completed (bus) < calls)
    g_main_context_iteration (context, TRUE);
  bench_run_until_idle (bus);
  rate = calls / ((bench_now_ns () - start) / 1e9);
  if (g_atomic_int_get (&failures) != 0)
    g_error ("bench-http: %d http-out calls failed", failures);
  evb_bus_free (bus);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return rate;
}

typedef struct {
  SoupSession *session;
  const char *url;
  guint to_send;
  guint in_flight;
  guint failed;
} Direct;

static void direct_send (Direct *direct);

static void
direct_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Direct *direct = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (direct->session, result);
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (direct->session, result, NULL);

  if (body == NULL || !SOUP_STATUS_IS_SUCCESSFUL (soup_message_get_status (msg)))
    direct->failed++;
  direct->in_flight--;
  direct_send (direct);
}

static void
direct_send (Direct *direct)
{
  SoupMessage *msg;
  json_t *data;
  char *text;
  g_autoptr (GBytes) body = NULL;

  if (direct->to_send == 0)
    return;
  /* The same body http-out sends: the event's data as compact JSON. */
  data = json_loads (BODY, 0, NULL);
  json_object_set_new (data, "n", json_integer (direct->to_send));
  text = json_dumps (data, JSON_COMPACT);
  json_decref (data);
  body = g_bytes_new_take (text, strlen (text));
  msg = soup_message_new ("POST", direct->url);
  soup_message_add_flags (msg, SOUP_MESSAGE_IDEMPOTENT); /* kept-alive connections, as http-out */
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  direct->to_send--;
  direct->in_flight++;
  soup_session_send_and_read_async (direct->session, msg, G_PRIORITY_DEFAULT, NULL, direct_done, direct);
  g_object_unref (msg);
}

/* The same POSTs with one session, @parallel in flight. */
static double
libsoup_calls_per_second (const char *receiver_url, guint calls, guint parallel)
{
  GMainContext *context = g_main_context_new ();
  g_autofree char *url = g_strconcat (receiver_url, "hook", NULL);
  Direct direct = { .url = url, .to_send = calls };
  gint64 start;
  double rate;

  g_main_context_push_thread_default (context);
  direct.session = soup_session_new ();
  start = bench_now_ns ();
  for (guint i = 0; i < parallel; i++)
    direct_send (&direct);
  while (direct.to_send > 0 || direct.in_flight > 0)
    g_main_context_iteration (context, TRUE);
  rate = calls / ((bench_now_ns () - start) / 1e9);
  if (direct.failed != 0)
    g_error ("bench-http: %u direct libsoup calls failed", direct.failed);
  g_object_unref (direct.session);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return rate;
}

static void
bench_http_out (const BenchOptions *options)
{
  Receiver receiver = { 0 };
  guint calls = options->quick ? 2000 : 5000;
  g_autofree double *evbus = g_new0 (double, options->rounds);
  g_autofree double *peer = g_new0 (double, options->rounds);
  double evbus_median, peer_median = 0;
  GThread *thread;

  if (!bench_wants (options, "calls"))
    return;
  g_mutex_init (&receiver.lock);
  g_cond_init (&receiver.ready);
  receiver.context = g_main_context_new ();
  receiver.loop = g_main_loop_new (receiver.context, FALSE);
  thread = g_thread_new ("bench-receiver", receiver_main, &receiver);
  g_mutex_lock (&receiver.lock);
  while (receiver.url == NULL)
    g_cond_wait (&receiver.ready, &receiver.lock);
  g_mutex_unlock (&receiver.lock);

  http_out_calls_per_second (receiver.url, calls / 10); /* warm-up */
  if (!options->skip_peer)
    libsoup_calls_per_second (receiver.url, calls / 10, 2);
  for (guint r = 0; r < options->rounds; r++)
    {
      evbus[r] = http_out_calls_per_second (receiver.url, calls);
      if (!options->skip_peer)
        peer[r] = libsoup_calls_per_second (receiver.url, calls, 2);
      printf ("# calls round %u: http-out %.0f calls/s, libsoup session %.0f calls/s\n", r, evbus[r], peer[r]);
    }
  evbus_median = bench_median (evbus, options->rounds);
  if (!options->skip_peer)
    peer_median = bench_median (peer, options->rounds);
  bench_result ("HTTP", "out-calls", "calls/s", evbus_median, peer_median, "libsoup-session-2-in-flight",
                peer_median > 0 ? evbus_median / peer_median : 0, "info");

  g_main_context_invoke (receiver.context, quit_loop, receiver.loop);
  g_thread_join (thread);
  g_main_loop_unref (receiver.loop);
  g_main_context_unref (receiver.context);
  g_free (receiver.url);
  g_cond_clear (&receiver.ready);
  g_mutex_clear (&receiver.lock);
}

int
main (int argc, char **argv)
{
  BenchOptions options;

  bench_parse_options (argc, argv, &options);
  bench_http_in (&options);
  bench_http_out (&options);
  return 0;
}
