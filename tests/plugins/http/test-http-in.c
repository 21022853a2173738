/* http-in end to end: a harness bus with the built module and a libsoup
 * client (and raw sockets) talking to it over loopback.  Every outcome of
 * a receipt -> its status, request/reply (reply, timeout, failure, client
 * gone), the checks (token, HMAC, size, content type, JSON, method, path,
 * Host), trace context, counters. */
#include "http-test.h"

#include <errno.h>
#include <unistd.h>

typedef struct {
  EvbHarness *harness;
  SoupSession *session;
  guint port;
} In;

static In *
in_start_with (EvbHarness *harness, const char *config_json)
{
  g_autoptr (GError) error = NULL;
  In *in = g_new0 (In, 1);
  const char *url;
  const char *port;

  in->harness = harness;
  if (!evb_harness_add_plugin_file (in->harness, "api", HTTP_IN_PLUGIN, config_json, &error))
    fail_msg ("http-in: %s", error->message);
  run_until_count_or_fail (in->harness, "http-in.ready", 1);
  url = json_string_value (json_object_get (evb_harness_find (in->harness, "http-in.ready", 0)->data, "url"));
  assert_non_null (url);
  assert_true (g_str_has_prefix (url, "http://127.0.0.1:"));
  port = strrchr (url, ':');
  in->port = (guint) g_ascii_strtoull (port + 1, NULL, 10);
  assert_true (in->port > 0 && in->port < 65536);
  in->session = session_new ();
  return in;
}

static In *
in_start (const char *settings_json, const char *config_json)
{
  return in_start_with (harness_new_or_fail (settings_json), config_json);
}

static void
in_stop (In *in)
{
  g_clear_object (&in->session);
  evb_harness_free (in->harness);
  g_free (in);
}

static char *
in_url (In *in, const char *path)
{
  return g_strdup_printf ("http://127.0.0.1:%u%s", in->port, path);
}

static Reply *
in_send (In *in, const char *method, const char *path, const char *content_type, const char *body,
         const char *const *headers)
{
  g_autofree char *url = in_url (in, path);

  return http_wait (in->harness, http_start (in->session, method, url, content_type, body, headers));
}

static Reply *
in_post (In *in, const char *path, const char *body)
{
  return in_send (in, "POST", path, "application/json", body, NULL);
}

static json_t *
in_stats (In *in)
{
  g_autoptr (Reply) reply = in_send (in, "GET", "/stats", NULL, NULL, NULL);

  assert_int_equal (reply->status, 200);
  return reply_json (reply);
}

static json_int_t
stat_of (json_t *stats, const char *group, const char *name)
{
  json_t *value = group != NULL ? json_object_get (json_object_get (stats, group), name)
                                : json_object_get (stats, name);

  if (!json_is_integer (value))
    fail_msg ("no counter %s.%s", group != NULL ? group : "", name);
  return json_integer_value (value);
}

/* The refusal body: {"status", "error", "message"} and nothing else. */
static void
assert_refusal (Reply *reply, guint status, const char *error, const char *message)
{
  g_autoptr (json_t) body = reply_json (reply);
  g_autoptr (json_t) expected = json_pack ("{s:i, s:s, s:s}", "status", (int) status, "error", error, "message",
                                           message);
  char *dump = json_dumps (expected, JSON_COMPACT);

  assert_int_equal (reply->status, status);
  assert_json_equal (body, dump);
  free (dump);
}

/* ---- loading ---------------------------------------------------------- */

static char *
load_error (const char *config_json)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new ();
  char *message;

  assert_false (evb_harness_add_plugin_file (harness, "api", HTTP_IN_PLUGIN, config_json, &error));
  assert_non_null (error);
  message = g_strdup (error->message);
  /* A failed init leaves nothing behind. */
  assert_int_equal (route_count (harness), 0);
  evb_harness_free (harness);
  return message;
}

static void
assert_init_error (const char *config_json, const char *reason)
{
  g_autofree char *message = load_error (config_json);
  g_autofree char *expected = g_strdup_printf ("plugin \"api\" (%s): init failed: %s", HTTP_IN_PLUGIN, reason);

  assert_string_equal (message, expected);
}

static void
test_load_errors (G_GNUC_UNUSED void **state)
{
  g_autofree char *message = NULL;
  g_autofree char *expected = NULL;

  assert_init_error ("{\"listen\": \"0.0.0.0:0\"}",
                     "listen \"0.0.0.0:0\": 0.0.0.0 is not a loopback address; set \"allow_remote\": true to take "
                     "requests from other machines (and set a \"token\" or \"hmac_secret\")");
  assert_init_error ("{\"listen\": \"8080\"}",
                     "listen \"8080\": expected \"address:port\", e.g. \"127.0.0.1:8080\" or \"[::1]:8080\"");
  assert_init_error ("{\"listen\": \"example.com:80\"}",
                     "listen \"example.com:80\": \"example.com\" is not an IP address (nor \"localhost\")");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"events_path\": \"events/\"}",
                     "events_path: \"events/\" must start with \"/\" (or be \"\": off)");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"events_path\": \"\"}",
                     "nothing to serve: events_path is \"\" and paths is empty; set one of them");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"signature_header\": \"\"}",
                     "signature_header: must name a header");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [5]}",
                     "paths[0]: expected an object {\"path\", \"type\", \"reply\"?, \"timeout_ms\"?}, got an integer");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"/a\", \"type\": \"a\", \"rply\": \"b\"}]}",
                     "paths[0]: unknown key \"rply\" (keys: path, type, reply, timeout_ms)");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"type\": \"a\"}]}", "paths[0].path: missing (a string)");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"a\", \"type\": \"a\"}]}",
                     "paths[0].path: \"a\" must start with \"/\" and hold no query or fragment");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"/a\", \"type\": \"Bad\"}]}",
                     "paths[0].type: \"Bad\" is not an event type a plugin may emit (dotted names of a-z 0-9 _ -, not "
                     "under \"evbus.\")");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"/a\", \"type\": \"evbus.x\"}]}",
                     "paths[0].type: \"evbus.x\" is not an event type a plugin may emit (dotted names of a-z 0-9 _ -, "
                     "not under \"evbus.\")");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"/a\", \"type\": \"a\", \"reply\": \"b..c\"}]}",
                     "paths[0].reply: \"b..c\" is not a pattern (segment 2): dotted names, \"*\" or a final \">\"");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"/a\", \"type\": \"a\", \"reply\": 3}]}",
                     "paths[0].reply: expected a string, got an integer");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"/a\", \"type\": \"a\", \"timeout_ms\": 5}]}",
                     "paths[0].timeout_ms: only a path with a \"reply\" waits; add \"reply\" or remove it");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"/a\", \"type\": \"a\", \"reply\": \"b\", "
                     "\"timeout_ms\": 0}]}",
                     "paths[0].timeout_ms: expected an integer from 1 to 600000");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"/a\", \"type\": \"a\"}, "
                     "{\"path\": \"/a\", \"type\": \"b\"}]}",
                     "paths[1].path: \"/a\" is already served (by an earlier entry or the stats_path)");
  assert_init_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"/stats\", \"type\": \"a\"}]}",
                     "paths[0].path: \"/stats\" is already served (by an earlier entry or the stats_path)");
  /* Ranges and kinds are the host's to check, from the option table. */
  message = load_error ("{\"listen\": \"127.0.0.1:0\", \"max_body_bytes\": 0}");
  expected = g_strdup_printf ("plugin \"api\" (%s): option \"max_body_bytes\": expected at least 1, got 0",
                              HTTP_IN_PLUGIN);
  assert_string_equal (message, expected);
}

/* A port in use is a load error naming the listen option. */
static void
test_port_in_use (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  g_autofree char *config = g_strdup_printf ("{\"listen\": \"127.0.0.1:%u\"}", in->port);
  g_autofree char *message = load_error (config);
  g_autofree char *prefix = g_strdup_printf ("plugin \"api\" (%s): init failed: listen \"127.0.0.1:%u\": ",
                                             HTTP_IN_PLUGIN, in->port);

  assert_true (g_str_has_prefix (message, prefix));
  in_stop (in);
}

/* What `evbus check` says (evb_harness_set_checking): NULL when it
 * loads.  A checked http-in binds nothing and emits no http-in.ready. */
static char *
check_error (const char *config_json)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new ();
  char *message = NULL;

  evb_harness_set_checking (harness);
  if (!evb_harness_add_plugin_file (harness, "api", HTTP_IN_PLUGIN, config_json, &error))
    message = g_strdup (error->message);
  else
    assert_int_equal (evb_harness_count (harness, "http-in.ready"), 0);
  evb_harness_free (harness);
  return message;
}

/* Checked, http-in validates its options as a run does, but binds
 * nothing: a port a running host holds is no error. */
static void
test_check_mode (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  g_autofree char *taken = g_strdup_printf ("{\"listen\": \"127.0.0.1:%u\", \"paths\": [{\"path\": \"/a\", "
                                            "\"type\": \"a\", \"reply\": \"b\"}]}", in->port);
  g_autofree char *message = check_error (taken);
  g_autofree char *expected = NULL;

  assert_null (message);
  in_stop (in);

  message = check_error ("{\"listen\": \"0.0.0.0:0\"}");
  expected = g_strdup_printf ("plugin \"api\" (%s): init failed: listen \"0.0.0.0:0\": 0.0.0.0 is not a loopback "
                              "address; set \"allow_remote\": true to take requests from other machines (and set a "
                              "\"token\" or \"hmac_secret\")", HTTP_IN_PLUGIN);
  assert_string_equal (message, expected);
  g_clear_pointer (&message, g_free);
  g_clear_pointer (&expected, g_free);
  message = check_error ("{\"listen\": \"example.com:80\"}");
  expected = g_strdup_printf ("plugin \"api\" (%s): init failed: listen \"example.com:80\": \"example.com\" is not "
                              "an IP address (nor \"localhost\")", HTTP_IN_PLUGIN);
  assert_string_equal (message, expected);
  g_clear_pointer (&message, g_free);
  g_clear_pointer (&expected, g_free);
  message = check_error ("{\"listen\": \"127.0.0.1:0\", \"paths\": [{\"path\": \"a\", \"type\": \"a\"}]}");
  expected = g_strdup_printf ("plugin \"api\" (%s): init failed: paths[0].path: \"a\" must start with \"/\" and hold "
                              "no query or fragment", HTTP_IN_PLUGIN);
  assert_string_equal (message, expected);
}

/* ---- webhooks: every outcome -> status ---------------------------------- */

static void
test_outcomes (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  g_autoptr (Reply) done = NULL;
  g_autoptr (Reply) handled = NULL;
  g_autoptr (Reply) failed = NULL;
  g_autoptr (Reply) unhandled = NULL;
  g_autoptr (json_t) body = NULL;
  g_autoptr (json_t) stats = NULL;
  g_autofree char *expected = NULL;
  const EvbEvent *event;
  char trace_id[EVB_TRACE_ID_SIZE];

  add_route_or_fail (in->harness, "order.paid", "work.ok", NULL);
  add_route_or_fail (in->harness, "order.claimed", "work.claim", NULL);
  add_route_or_fail (in->harness, "order.broken", "work.fail", NULL);

  done = in_post (in, "/events/order.paid", "{\"order\": 42, \"amount\": 9.5}");
  assert_int_equal (done->status, 202);
  event = evb_harness_find (in->harness, "order.paid", 0);
  assert_non_null (event);
  assert_string_equal (event->source, "api");
  assert_json_equal (event->data, "{\"order\": 42, \"amount\": 9.5}");
  assert_int_equal (event->parent_id, 0);
  evb_event_format_trace_id (event, trace_id);
  body = reply_json (done);
  expected = g_strdup_printf ("{\"id\": %" G_GUINT64_FORMAT ", \"type\": \"order.paid\", \"trace_id\": \"%s\", "
                              "\"outcome\": \"done\"}",
                              event->id, trace_id);
  assert_json_equal (body, expected);
  g_clear_pointer (&expected, g_free);
  /* The answer continues the trace with the event as the parent. */
  expected = g_strdup_printf ("00-%s-%016" G_GINT64_MODIFIER "x-01", trace_id, event->id);
  assert_string_equal (reply_header (done, "traceparent"), expected);

  handled = in_post (in, "/events/order.claimed", "{}");
  assert_int_equal (handled->status, 202);
  g_clear_pointer (&body, json_decref);
  body = reply_json (handled);
  assert_string_equal (json_string_value (json_object_get (body, "outcome")), "handled");

  failed = in_post (in, "/events/order.broken", "{\"message\": \"card declined\"}");
  assert_int_equal (failed->status, 500);
  g_clear_pointer (&body, json_decref);
  body = reply_json (failed);
  assert_string_equal (json_string_value (json_object_get (body, "error")), "failed");
  assert_string_equal (json_string_value (json_object_get (body, "message")), "card declined");
  assert_string_equal (json_string_value (json_object_get (body, "domain")), "work");
  assert_int_equal (json_integer_value (json_object_get (body, "code")), 7);
  assert_int_equal (json_integer_value (json_object_get (body, "failures")), 1);
  assert_string_equal (json_string_value (json_object_get (body, "type")), "order.broken");
  assert_non_null (reply_header (failed, "traceparent"));

  unhandled = in_post (in, "/events/order.lost", "{}");
  assert_int_equal (unhandled->status, 404);
  g_clear_pointer (&body, json_decref);
  body = reply_json (unhandled);
  assert_string_equal (json_string_value (json_object_get (body, "error")), "unhandled");
  assert_string_equal (json_string_value (json_object_get (body, "message")), "no route took the event order.lost");

  stats = in_stats (in);
  assert_int_equal (stat_of (stats, "outcomes", "accepted"), 2);
  assert_int_equal (stat_of (stats, "outcomes", "failed"), 1);
  assert_int_equal (stat_of (stats, "outcomes", "unhandled"), 1);
  assert_int_equal (stat_of (stats, NULL, "pending"), 0);
  in_stop (in);
}

static void
test_unhandled_status_option (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\", \"unhandled_status\": 422}");
  g_autoptr (Reply) reply = in_post (in, "/events/nobody.listens", "{}");

  assert_int_equal (reply->status, 422);
  in_stop (in);
}

/* A full inbox under "reject": 503 with Retry-After. */
static void
test_refused_by_full_inbox (G_GNUC_UNUSED void **state)
{
  In *in = in_start ("{\"inbox_limit\": 4, \"overflow\": \"reject\"}",
                     "{\"listen\": \"127.0.0.1:0\", \"retry_after_s\": 7}");
  g_autoptr (Reply) reply = NULL;
  g_autoptr (json_t) body = NULL;
  g_autoptr (GError) error = NULL;

  add_route_or_fail (in->harness, "spin", "work.spin", NULL);
  add_route_or_fail (in->harness, "order.paid", "work.ok", NULL);
  /* Each spin dispatched emits two: the inbox stays full while spinning. */
  g_atomic_int_set (&spinning, TRUE);
  for (guint i = 0; i < 4; i++)
    if (!evb_harness_emit (in->harness, "spin", NULL, &error))
      fail_msg ("spin: %s", error->message);
  reply = in_post (in, "/events/order.paid", "{}");
  g_atomic_int_set (&spinning, FALSE);
  assert_int_equal (reply->status, 503);
  assert_string_equal (reply_header (reply, "Retry-After"), "7");
  body = reply_json (reply);
  assert_string_equal (json_string_value (json_object_get (body, "error")), "refused");
  assert_true (g_str_has_prefix (json_string_value (json_object_get (body, "message")), "the bus refused the event: "));
  run_until_idle_or_fail (in->harness);
  in_stop (in);
}

/* A job of the chain cancelled (its route removed while it waited): 503. */
static void
test_cancelled (G_GNUC_UNUSED void **state)
{
  In *in = in_start ("{\"workers\": 1}", "{\"listen\": \"127.0.0.1:0\"}");
  g_autofree char *url = in_url (in, "/events/order.slow");
  g_autoptr (Reply) reply = NULL;
  g_autoptr (json_t) body = NULL;
  g_autoptr (GError) error = NULL;
  guint64 route;

  add_route_or_fail (in->harness, "block", "work.answer", "{\"mode\": \"async\"}");
  route = add_route_or_fail (in->harness, "order.slow", "work.ok", "{\"mode\": \"async\"}");
  gate_set (FALSE);
  /* The only worker waits at the gate; the request's job waits behind it. */
  if (!evb_harness_emit (in->harness, "block", "{\"block\": true}", &error))
    fail_msg ("block: %s", error->message);
  reply = http_start (in->session, "POST", url, "application/json", "{}", NULL);
  run_until_count_or_fail (in->harness, "evbus.status.waiting", 2);
  assert_true (evb_harness_remove_route (in->harness, route));
  /* The cancelled job ends when a worker takes it: open the gate. */
  gate_set (TRUE);
  http_wait (in->harness, reply);
  assert_int_equal (reply->status, 503);
  assert_string_equal (reply_header (reply, "Retry-After"), "1");
  body = reply_json (reply);
  assert_string_equal (json_string_value (json_object_get (body, "error")), "cancelled");
  run_until_idle_or_fail (in->harness);
  in_stop (in);
}

static gboolean
inbox_holds_an_event (EvbHarness *harness, G_GNUC_UNUSED gpointer user_data)
{
  g_autoptr (json_t) stats = evb_harness_stats (harness);

  return json_integer_value (json_object_get (json_object_get (stats, "bus"), "inbox_depth")) > 0;
}

/* An event dropped from a full inbox before it ran: 503 with Retry-After.
 * The request's event is pushed while libsoup hands over the body; the bus
 * dispatches it one main-loop iteration later at the earliest.  Between the
 * two the test (on the loop's thread) emits another event into the inbox
 * of one under "drop-oldest", which pushes the request's event out. */
static void
test_dropped_from_full_inbox (G_GNUC_UNUSED void **state)
{
  In *in = in_start ("{\"inbox_limit\": 1, \"overflow\": \"drop-oldest\"}",
                     "{\"listen\": \"127.0.0.1:0\", \"retry_after_s\": 3}");
  g_autofree char *url = in_url (in, "/events/order.paid");
  g_autoptr (Reply) reply = NULL;
  g_autoptr (json_t) body = NULL;
  g_autoptr (json_t) stats = NULL;
  g_autoptr (GError) error = NULL;

  /* Had it run, the event would be answered 202. */
  add_route_or_fail (in->harness, "order.paid", "work.ok", NULL);
  run_until_idle_or_fail (in->harness);
  reply = http_start (in->session, "POST", url, "application/json", "{\"order\": 1}", NULL);
  run_until_or_fail (in->harness, inbox_holds_an_event, NULL, "the request's event in the inbox");
  if (!evb_harness_emit (in->harness, "test.pushing", NULL, &error))
    fail_msg ("test.pushing: %s", error->message);
  http_wait (in->harness, reply);
  assert_int_equal (reply->status, 503);
  assert_string_equal (reply_header (reply, "Retry-After"), "3");
  body = reply_json (reply);
  assert_string_equal (json_string_value (json_object_get (body, "error")), "dropped");
  assert_string_equal (json_string_value (json_object_get (body, "message")),
                       "the event was dropped from a full inbox before it ran");
  assert_string_equal (json_string_value (json_object_get (body, "type")), "order.paid");
  assert_true (json_is_integer (json_object_get (body, "id")));
  assert_non_null (reply_header (reply, "traceparent"));
  stats = in_stats (in);
  assert_int_equal (stat_of (stats, "outcomes", "dropped"), 1);
  assert_int_equal (stat_of (stats, "outcomes", "accepted"), 0);
  assert_int_equal (stat_of (stats, NULL, "pending"), 0);
  run_until_idle_or_fail (in->harness);
  in_stop (in);
}

static void
open_gate (G_GNUC_UNUSED SoupMessage *msg, G_GNUC_UNUSED gpointer user_data)
{
  gate_set (TRUE);
}

/* After stop (shutdown has begun, the bus drains), a new request is
 * refused with 503 shutting_down before it becomes an event.  A job
 * blocked at the gate keeps shutdown draining; the refusal's arrival at
 * the client opens the gate. */
static void
test_shutting_down (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  g_autofree char *url = in_url (in, "/events/order.paid");
  g_autoptr (Reply) reply = NULL;
  g_autoptr (GError) error = NULL;

  add_route_or_fail (in->harness, "block", "work.answer", "{\"mode\": \"async\"}");
  add_route_or_fail (in->harness, "order.paid", "work.ok", NULL);
  gate_set (FALSE);
  if (!evb_harness_emit (in->harness, "block", "{\"block\": true}", &error))
    fail_msg ("block: %s", error->message);
  run_until_count_or_fail (in->harness, "evbus.status.executing", 1);
  /* Sent once shutdown iterates the loop, after the stop hook ran. */
  reply = http_start (in->session, "POST", url, "application/json", "{}", NULL);
  g_signal_connect (reply->msg, "finished", G_CALLBACK (open_gate), NULL);
  evb_harness_shutdown (in->harness, WAIT_MS);
  http_wait (in->harness, reply);
  assert_refusal (reply, 503, "shutting_down", "the pipeline is shutting down");
  assert_string_equal (reply_header (reply, "Retry-After"), "1");
  assert_null (reply_header (reply, "traceparent"));
  /* The event was never made. */
  assert_int_equal (evb_harness_count (in->harness, "order.paid"), 0);
  assert_int_equal (evb_harness_count (in->harness, "test.reply"), 1);
  gate_set (TRUE);
  in_stop (in);
}

/* ---- trace context ------------------------------------------------------ */

static void
test_traceparent (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  const char *const given[] = { "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                                "tracestate: vendor=opaque", NULL };
  const char *const invalid[] = { "traceparent: 00-00000000000000000000000000000000-b7ad6b7169203331-01",
                                  "tracestate: vendor=dropped", NULL };
  g_autoptr (Reply) continued = NULL;
  g_autoptr (Reply) fresh = NULL;
  g_autofree char *expected = NULL;
  const EvbEvent *event;

  add_route_or_fail (in->harness, "hook", "work.ok", NULL);
  continued = in_send (in, "POST", "/events/hook", "application/json", "{}", given);
  assert_int_equal (continued->status, 202);
  event = evb_harness_find (in->harness, "hook", 0);
  assert_true (event->trace_id_high == 0x0af7651916cd43ddull && event->trace_id_low == 0x8448eb211c80319cull);
  assert_string_equal (event->tracestate, "vendor=opaque");
  expected = g_strdup_printf ("00-0af7651916cd43dd8448eb211c80319c-%016" G_GINT64_MODIFIER "x-01", event->id);
  assert_string_equal (reply_header (continued, "traceparent"), expected);

  /* An invalid traceparent starts a new trace and drops the tracestate. */
  fresh = in_send (in, "POST", "/events/hook", "application/json", "{}", invalid);
  assert_int_equal (fresh->status, 202);
  event = evb_harness_find (in->harness, "hook", 1);
  assert_false (event->trace_id_high == 0 && event->trace_id_low == 0);
  assert_false (event->trace_id_high == 0x0af7651916cd43ddull);
  assert_null (event->tracestate);
  assert_true (evb_traceparent_parse (reply_header (fresh, "traceparent"), NULL, NULL, NULL, NULL, NULL));
  in_stop (in);
}

/* ---- request/reply -------------------------------------------------------- */

#define ASK_CONFIG                                                                                            \
  "{\"listen\": \"127.0.0.1:0\", \"paths\": ["                                                               \
  "{\"path\": \"/ask\", \"type\": \"test.ask\", \"reply\": \"test.reply\", \"timeout_ms\": 5000},"           \
  "{\"path\": \"/relay\", \"type\": \"test.relay\", \"reply\": \"test.reply\"},"                            \
  "{\"path\": \"/plain\", \"type\": \"test.plain\"}]}"

static void
test_reply (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, ASK_CONFIG);
  guint routes_before;
  g_autoptr (Reply) first = NULL;
  g_autoptr (Reply) second = NULL;
  g_autoptr (Reply) plain = NULL;
  g_autoptr (json_t) body = NULL;
  g_autoptr (json_t) stats = NULL;
  g_autofree char *url = in_url (in, "/ask");
  const EvbEvent *ask;
  g_autofree char *trace = NULL;

  add_route_or_fail (in->harness, "test.ask", "work.answer", "{\"mode\": \"async\"}");
  add_route_or_fail (in->harness, "test.plain", "work.ok", NULL);
  routes_before = route_count (in->harness);

  /* Two at once: each gets the reply of its own trace. */
  first = http_start (in->session, "POST", url, "application/json", "{\"q\": 1}", NULL);
  second = http_start (in->session, "POST", url, "application/json", "{\"q\": 2}", NULL);
  http_wait (in->harness, first);
  http_wait (in->harness, second);
  assert_int_equal (first->status, 200);
  body = reply_json (first);
  assert_json_equal (body, "{\"echo\": {\"q\": 1}}");
  g_clear_pointer (&body, json_decref);
  assert_int_equal (second->status, 200);
  body = reply_json (second);
  assert_json_equal (body, "{\"echo\": {\"q\": 2}}");

  ask = evb_harness_find (in->harness, "test.ask", 0);
  trace = evb_harness_trace_of (in->harness, ask->id);
  assert_non_null (strstr (trace, "test.ask"));
  assert_non_null (strstr (trace, "test.reply"));

  /* A path without a reply answers on the receipt. */
  plain = in_post (in, "/plain", "{}");
  assert_int_equal (plain->status, 202);

  /* Nothing of the waits is left: routes, requests. */
  stats = in_stats (in);
  assert_int_equal (stat_of (stats, "outcomes", "replied"), 2);
  assert_int_equal (stat_of (stats, NULL, "pending"), 0);
  assert_int_equal (stat_of (stats, NULL, "waiting_for_reply"), 0);
  assert_int_equal (stat_of (stats, NULL, "requests_alive"), 0);
  run_until_idle_or_fail (in->harness);
  assert_int_equal (route_count (in->harness), routes_before);
  in_stop (in);
}

/* A request whose event fails answers 500; so does one whose trace fails
 * later (the event itself was done). */
static void
test_reply_failure (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, ASK_CONFIG);
  g_autoptr (Reply) failed = NULL;
  g_autoptr (Reply) relayed = NULL;
  g_autoptr (json_t) body = NULL;

  add_route_or_fail (in->harness, "test.ask", "work.fail", NULL);
  add_route_or_fail (in->harness, "test.relay", "work.relay", NULL);
  add_route_or_fail (in->harness, "test.step", "work.fail", NULL);

  failed = in_post (in, "/ask", "{\"message\": \"no such catalog\"}");
  assert_int_equal (failed->status, 500);
  body = reply_json (failed);
  assert_string_equal (json_string_value (json_object_get (body, "error")), "failed");
  assert_string_equal (json_string_value (json_object_get (body, "message")), "no such catalog");

  relayed = in_post (in, "/relay", "{\"message\": \"step two broke\"}");
  assert_int_equal (relayed->status, 500);
  g_clear_pointer (&body, json_decref);
  body = reply_json (relayed);
  assert_string_equal (json_string_value (json_object_get (body, "message")), "step two broke");
  assert_string_equal (json_string_value (json_object_get (body, "handler")), "work.fail");
  in_stop (in);
}

static gboolean
pending_is_one (EvbHarness *harness, gpointer user_data)
{
  In *in = user_data;
  g_autoptr (json_t) stats = in_stats (in);

  return stat_of (stats, NULL, "waiting_for_reply") == 1;
}

/* No reply within timeout_ms: 504.  On the harness's fake clock. */
static void
test_reply_timeout (G_GNUC_UNUSED void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  In *in;
  g_autofree char *url = NULL;
  g_autoptr (Reply) reply = NULL;
  g_autoptr (json_t) stats = NULL;

  evb_harness_set_clock (harness, 1000000000000);
  in = in_start_with (harness, ASK_CONFIG);
  url = in_url (in, "/ask");
  add_route_or_fail (in->harness, "test.ask", "work.ok", NULL);
  reply = http_start (in->session, "POST", url, "application/json", "{}", NULL);
  run_until_or_fail (in->harness, pending_is_one, in, "the request to wait for its reply");
  evb_harness_advance_clock (in->harness, 4999);
  assert_false (reply->done);
  evb_harness_advance_clock (in->harness, 1);
  http_wait (in->harness, reply);
  assert_int_equal (reply->status, 504);
  {
    g_autoptr (json_t) body = reply_json (reply);

    assert_string_equal (json_string_value (json_object_get (body, "error")), "reply_timeout");
    assert_string_equal (json_string_value (json_object_get (body, "message")), "no test.reply came within 5000 ms");
  }
  stats = in_stats (in);
  assert_int_equal (stat_of (stats, "outcomes", "reply_timeout"), 1);
  assert_int_equal (stat_of (stats, NULL, "waiting_for_reply"), 0);
  in_stop (in);
}

static gboolean
routes_back_to (EvbHarness *harness, gpointer user_data)
{
  return route_count (harness) == GPOINTER_TO_UINT (user_data);
}

/* The client goes away while its reply is pending: nothing of the request
 * remains (its route, its object), and the late reply goes nowhere. */
static void
test_client_disconnects (G_GNUC_UNUSED void **state)
{
  In *in = in_start ("{\"workers\": 2}", ASK_CONFIG);
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) connection = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (json_t) stats = NULL;
  g_autofree char *request = NULL;
  const char *body = "{\"block\": true}";
  guint routes_before;

  add_route_or_fail (in->harness, "test.ask", "work.answer", "{\"mode\": \"async\"}");
  routes_before = route_count (in->harness);
  gate_set (FALSE);

  /* Straight to the port: no proxy lookup (a thread of GIO's own). */
  g_socket_client_set_enable_proxy (client, FALSE);
  connection = g_socket_client_connect_to_host (client, "127.0.0.1", (guint16) in->port, NULL, &error);
  assert_no_error (error);
  request = g_strdup_printf ("POST /ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\n\r\n%s",
                             strlen (body), body);
  assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)), request,
                                          strlen (request), NULL, NULL, &error));
  run_until_count_or_fail (in->harness, "evbus.status.executing", 1);
  /* The request waits: one more route (its reply), one request alive. */
  assert_int_equal (route_count (in->harness), routes_before + 1);
  stats = in_stats (in);
  assert_int_equal (stat_of (stats, NULL, "requests_alive"), 1);
  g_clear_pointer (&stats, json_decref);

  assert_true (g_io_stream_close (G_IO_STREAM (connection), NULL, &error));
  run_until_or_fail (in->harness, routes_back_to, GUINT_TO_POINTER (routes_before), "the reply route to go");
  stats = in_stats (in);
  assert_int_equal (stat_of (stats, NULL, "requests_alive"), 0);
  assert_int_equal (stat_of (stats, NULL, "pending"), 0);
  assert_int_equal (stat_of (stats, NULL, "waiting_for_reply"), 0);
  assert_int_equal (stat_of (stats, "outcomes", "client_gone"), 1);

  /* The reply comes after all, to nobody. */
  gate_set (TRUE);
  run_until_count_or_fail (in->harness, "test.reply", 1);
  run_until_idle_or_fail (in->harness);
  g_clear_pointer (&stats, json_decref);
  stats = in_stats (in);
  assert_int_equal (stat_of (stats, "outcomes", "replied"), 0);
  in_stop (in);
}

/* ---- checks ------------------------------------------------------------- */

typedef struct {
  GSocket *socket;
  GString *received;
  gboolean closed;
} Raw;

static gboolean
raw_closed (EvbHarness *harness, gpointer user_data)
{
  Raw *raw = user_data;
  char buffer[4096];
  gssize n;

  while ((n = g_socket_receive (raw->socket, buffer, sizeof buffer, NULL, NULL)) > 0)
    g_string_append_len (raw->received, buffer, n);
  raw->closed = n == 0;
  return raw->closed;
}

/* Sends @request as is over a new connection and returns all that comes
 * back until the server closes it. */
static char *
raw_request (In *in, const char *request)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, (guint16) in->port);
  Raw raw = { g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error),
              g_string_new (NULL), FALSE };

  assert_no_error (error);
  assert_true (g_socket_connect (raw.socket, address, NULL, &error));
  assert_true (g_socket_send (raw.socket, request, strlen (request), NULL, &error) == (gssize) strlen (request));
  g_socket_set_blocking (raw.socket, FALSE);
  run_until_or_fail (in->harness, raw_closed, &raw, "the server to answer and close");
  g_object_unref (raw.socket);
  return g_string_free (raw.received, FALSE);
}


static void
test_bearer_token (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\", \"token\": \"s3cret\"}");
  const char *const right[] = { "Authorization: Bearer s3cret", NULL };
  const char *const wrong[] = { "Authorization: Bearer s3cre", NULL };
  g_autoptr (Reply) none = NULL;
  g_autoptr (Reply) bad = NULL;
  g_autoptr (Reply) good = NULL;
  g_autoptr (Reply) stats = NULL;

  add_route_or_fail (in->harness, "hook", "work.ok", NULL);
  none = in_post (in, "/events/hook", "{}");
  assert_refusal (none, 401, "unauthorized", "missing \"Authorization: Bearer <token>\" header");
  assert_string_equal (reply_header (none, "WWW-Authenticate"), "Bearer realm=\"evbus http-in\"");
  bad = in_send (in, "POST", "/events/hook", "application/json", "{}", wrong);
  assert_refusal (bad, 401, "unauthorized", "wrong bearer token in the Authorization header");
  good = in_send (in, "POST", "/events/hook", "application/json", "{}", right);
  assert_int_equal (good->status, 202);
  /* The stats need the token too. */
  stats = in_send (in, "GET", "/stats", NULL, NULL, NULL);
  assert_int_equal (stats->status, 401);
  assert_int_equal (evb_harness_count (in->harness, "hook"), 1);
  in_stop (in);
}

static char *
hmac_hex (const char *secret, const char *body)
{
  return g_compute_hmac_for_string (G_CHECKSUM_SHA256, (const guchar *) secret, strlen (secret), body, -1);
}

static void
test_hmac_signature (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\", \"hmac_secret\": \"It's a Secret to Everybody\"}");
  const char *body = "{\"action\": \"opened\"}";
  g_autofree char *digest = hmac_hex ("It's a Secret to Everybody", body);
  g_autofree char *good_header = g_strdup_printf ("X-Hub-Signature-256: sha256=%s", digest);
  g_autofree char *upper_header = NULL;
  g_autofree char *upper = g_ascii_strup (digest, -1);
  const char *const good[] = { good_header, NULL };
  const char *const wrong[] = { "X-Hub-Signature-256: sha256=0000", NULL };
  g_autoptr (Reply) missing = NULL;
  g_autoptr (Reply) mismatch = NULL;
  g_autoptr (Reply) prefixless = NULL;
  g_autoptr (Reply) accepted = NULL;
  g_autoptr (Reply) accepted_upper = NULL;
  g_autoptr (Reply) tampered = NULL;
  g_autoptr (json_t) stats = NULL;
  g_autofree char *bare = g_strdup_printf ("X-Hub-Signature-256: %s", digest);
  const char *no_prefix[] = { bare, NULL };
  const char *upper_headers[] = { NULL, NULL };

  add_route_or_fail (in->harness, "push", "work.ok", NULL);
  missing = in_post (in, "/events/push", body);
  assert_refusal (missing, 401, "bad_signature",
                  "missing signature header \"X-Hub-Signature-256\" (sha256=<hex of HMAC-SHA256 of the body>)");
  mismatch = in_send (in, "POST", "/events/push", "application/json", body, wrong);
  assert_refusal (mismatch, 401, "bad_signature",
                  "signature in \"X-Hub-Signature-256\" does not match the body (HMAC-SHA256 with the configured "
                  "secret)");
  prefixless = in_send (in, "POST", "/events/push", "application/json", body, no_prefix);
  assert_refusal (prefixless, 401, "bad_signature", "signature header \"X-Hub-Signature-256\" must start with \"sha256=\"");
  accepted = in_send (in, "POST", "/events/push", "application/json", body, good);
  assert_int_equal (accepted->status, 202);
  upper_header = g_strdup_printf ("X-Hub-Signature-256: sha256=%s", upper);
  upper_headers[0] = upper_header;
  accepted_upper = in_send (in, "POST", "/events/push", "application/json", body, upper_headers);
  assert_int_equal (accepted_upper->status, 202);
  /* The same signature over another body. */
  tampered = in_send (in, "POST", "/events/push", "application/json", "{\"action\": \"closed\"}", good);
  assert_int_equal (tampered->status, 401);

  assert_int_equal (evb_harness_count (in->harness, "push"), 2);
  stats = in_stats (in);
  assert_int_equal (stat_of (stats, "refused", "bad_signature"), 4);
  in_stop (in);
}

/* Stripe-like: another header, no prefix. */
static void
test_hmac_custom_header (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\", \"hmac_secret\": \"k\", \"signature_header\": "
                           "\"X-Signature\", \"signature_prefix\": \"\"}");
  g_autofree char *digest = hmac_hex ("k", "{}");
  g_autofree char *header = g_strdup_printf ("X-Signature: %s", digest);
  const char *const headers[] = { header, NULL };
  g_autoptr (Reply) reply = NULL;

  add_route_or_fail (in->harness, "push", "work.ok", NULL);
  reply = in_send (in, "POST", "/events/push", "application/json", "{}", headers);
  assert_int_equal (reply->status, 202);
  in_stop (in);
}

static void
test_body_limit (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\", \"max_body_bytes\": 12}");
  g_autoptr (Reply) fits = NULL;
  g_autoptr (Reply) over = NULL;
  g_autofree char *chunked = NULL;
  g_autoptr (json_t) stats = NULL;

  add_route_or_fail (in->harness, "hook", "work.ok", NULL);
  fits = in_post (in, "/events/hook", "{\"a\": 12345}");
  assert_int_equal (fits->status, 202);
  over = in_post (in, "/events/hook", "{\"a\": 123456}");
  assert_refusal (over, 413, "body_too_large", "body of 13 bytes is over the limit of 12 bytes (max_body_bytes)");

  /* No Content-Length (chunked): refused before reading.  Over a raw
   * socket: libsoup would stream such a body from a thread of GIO's. */
  chunked = raw_request (in, "POST /events/hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  assert_true (g_str_has_prefix (chunked, "HTTP/1.1 411 Length Required\r\n"));
  assert_non_null (strstr (chunked, "\r\n\r\n{\"status\":411,\"error\":\"length_required\",\"message\":\"send the body "
                                    "with a Content-Length (chunked bodies are not taken)\"}\n"));

  stats = in_stats (in);
  assert_int_equal (stat_of (stats, "refused", "body_too_large"), 1);
  assert_int_equal (stat_of (stats, "refused", "length_required"), 1);
  assert_int_equal (evb_harness_count (in->harness, "hook"), 1);
  in_stop (in);
}

static void
test_bad_json (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  g_autoptr (Reply) broken = NULL;
  g_autoptr (Reply) multiline = NULL;
  g_autoptr (Reply) array = NULL;
  g_autoptr (Reply) empty = NULL;

  broken = in_post (in, "/events/hook", "{\"a\": }");
  assert_refusal (broken, 400, "bad_json",
                  "body is not JSON: line 1, column 7 (byte 7): unexpected token near '}'");
  multiline = in_post (in, "/events/hook", "{\n  \"a\": 1,\n  \"b\": tru\n}");
  assert_refusal (multiline, 400, "bad_json", "body is not JSON: line 3, column 10 (byte 22): invalid token near 'tru'");
  array = in_post (in, "/events/hook", "[1, 2]");
  assert_refusal (array, 400, "bad_json", "body must be a JSON object (it becomes the event's data), got an array");
  empty = in_post (in, "/events/hook", "");
  assert_int_equal (empty->status, 400);
  assert_int_equal (evb_harness_count (in->harness, "hook"), 0);
  in_stop (in);
}

static void
test_method_path_type_content_type (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  g_autoptr (Reply) get = NULL;
  g_autoptr (Reply) nowhere = NULL;
  g_autoptr (Reply) bad_type = NULL;
  g_autoptr (Reply) reserved = NULL;
  g_autoptr (Reply) text = NULL;
  g_autoptr (Reply) none = NULL;
  g_autoptr (Reply) cloudevents = NULL;
  g_autoptr (Reply) charset = NULL;
  g_autoptr (json_t) stats = NULL;

  add_route_or_fail (in->harness, "hook", "work.ok", NULL);
  get = in_send (in, "GET", "/events/hook", NULL, NULL, NULL);
  assert_refusal (get, 405, "method_not_allowed", "method GET not allowed: POST a JSON object");
  assert_string_equal (reply_header (get, "Allow"), "POST");
  nowhere = in_post (in, "/nope", "{}");
  assert_refusal (nowhere, 404, "not_found", "no such path \"/nope\": POST events to /events/");
  bad_type = in_post (in, "/events/Order..Paid", "{}");
  assert_refusal (bad_type, 400, "bad_type",
                  "\"Order..Paid\" is not an event type: POST /events/<type>, a type is dotted names of a-z 0-9 _ - "
                  "(e.g. order.paid), not under \"evbus.\"");
  reserved = in_post (in, "/events/evbus.failure", "{}");
  assert_int_equal (reserved->status, 400);
  text = in_send (in, "POST", "/events/hook", "text/plain", "{}", NULL);
  assert_refusal (text, 415, "unsupported_media_type", "Content-Type must be application/json, got \"text/plain\"");
  none = in_send (in, "POST", "/events/hook", NULL, "{}", NULL);
  assert_int_equal (none->status, 415);
  cloudevents = in_send (in, "POST", "/events/hook", "application/cloudevents+json", "{}", NULL);
  assert_int_equal (cloudevents->status, 202);
  charset = in_send (in, "POST", "/events/hook", "application/json; charset=utf-8", "{}", NULL);
  assert_int_equal (charset->status, 202);

  stats = in_stats (in);
  assert_int_equal (stat_of (stats, "refused", "method_not_allowed"), 1);
  assert_int_equal (stat_of (stats, "refused", "not_found"), 1);
  assert_int_equal (stat_of (stats, "refused", "bad_type"), 2);
  assert_int_equal (stat_of (stats, "refused", "unsupported_media_type"), 2);
  assert_int_equal (stat_of (stats, "outcomes", "accepted"), 2);
  in_stop (in);
}

/* A loopback listener answers only to a loopback Host (DNS rebinding). */
static void
test_forbidden_host (G_GNUC_UNUSED void **state)
{
  In *in = in_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  const char *const headers[] = { "Host: attacker.example", NULL };
  g_autoptr (Reply) reply = in_send (in, "POST", "/events/hook", "application/json", "{}", headers);

  assert_refusal (reply, 403, "forbidden_host",
                  "this listener answers only to a loopback Host (127.0.0.1, [::1], localhost)");
  assert_int_equal (evb_harness_count (in->harness, "hook"), 0);
  in_stop (in);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_load_errors),
    cmocka_unit_test (test_port_in_use),
    cmocka_unit_test (test_check_mode),
    cmocka_unit_test (test_outcomes),
    cmocka_unit_test (test_unhandled_status_option),
    cmocka_unit_test (test_refused_by_full_inbox),
    cmocka_unit_test (test_cancelled),
    cmocka_unit_test (test_dropped_from_full_inbox),
    cmocka_unit_test (test_shutting_down),
    cmocka_unit_test (test_traceparent),
    cmocka_unit_test (test_reply),
    cmocka_unit_test (test_reply_failure),
    cmocka_unit_test (test_reply_timeout),
    cmocka_unit_test (test_client_disconnects),
    cmocka_unit_test (test_bearer_token),
    cmocka_unit_test (test_hmac_signature),
    cmocka_unit_test (test_hmac_custom_header),
    cmocka_unit_test (test_body_limit),
    cmocka_unit_test (test_bad_json),
    cmocka_unit_test (test_method_path_type_content_type),
    cmocka_unit_test (test_forbidden_host),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
