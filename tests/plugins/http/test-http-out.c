/* http-out end to end: a harness bus with the built module calling a
 * libsoup test server on loopback (on the harness's context, so the test
 * server answers while the bus loop turns).  The request as sent, the
 * response event, retries and their schedule, Retry-After, the failure
 * after the last attempt, timeouts, the in-flight cap, load errors. */
#include "http-test.h"

typedef struct {
  EvbHarness *harness;
  TestServer *server;
} Out;

/* @config_template: the instance's config; "@PORT@" becomes the test
 * server's port. */
static Out *
out_start (const char *settings_json, const char *config_template, const Scripted *script, guint n)
{
  g_autoptr (GError) error = NULL;
  Out *out = g_new0 (Out, 1);
  GString *config = g_string_new (config_template);
  g_autofree char *port = NULL;

  out->harness = harness_new_or_fail (settings_json);
  out->server = test_server_new (script, n);
  port = g_strdup_printf ("%u", out->server->port);
  g_string_replace (config, "@PORT@", port, 0);
  if (!evb_harness_add_plugin_file (out->harness, "out", HTTP_OUT_PLUGIN, config->str, &error))
    fail_msg ("http-out: %s", error->message);
  g_string_free (config, TRUE);
  add_route_or_fail (out->harness, "call", "out.send", "{\"mode\": \"async\"}");
  return out;
}

static void
out_stop (Out *out)
{
  test_server_release (out->server);
  run_until_idle_or_fail (out->harness);
  evb_harness_free (out->harness);
  test_server_free (out->server);
  g_free (out);
}

static guint64
out_emit (Out *out, const char *data_json)
{
  g_autoptr (GError) error = NULL;
  guint64 id = evb_harness_emit_with_receipt (out->harness, "call", data_json, &error);

  if (id == 0)
    fail_msg ("emit: %s", error->message);
  return id;
}

static const EvbReceipt *
out_wait (Out *out, guint64 id)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_receipt (out->harness, id, WAIT_MS, &error))
    fail_msg ("no receipt: %s", error->message);
  return evb_harness_get_receipt (out->harness, id);
}

static const char *
seen_header (Seen *seen, const char *name)
{
  return soup_message_headers_get_one (seen->headers, name);
}

static const json_t *
failure_error (EvbHarness *harness)
{
  const EvbEvent *failure = evb_harness_find (harness, "evbus.failure", 0);

  assert_non_null (failure);
  return json_object_get (failure->data, "error");
}

/* ---- the request, the response ----------------------------------------- */

static void
test_request_and_response (G_GNUC_UNUSED void **state)
{
  static const Scripted ok[] = { { 201, NULL, "application/json", "{\"created\": 7}" } };
  Out *out;
  Seen *seen;
  const EvbEvent *call;
  const EvbEvent *response;
  g_autofree char *traceparent = NULL;
  g_autofree char *url = NULL;
  g_autoptr (json_t) body = NULL;
  guint64 trace_high = 0;
  guint64 trace_low = 0;

  g_setenv ("HTTP_OUT_TEST_AUTH", "Bearer t0ken", TRUE);
  out = out_start (NULL,
                   "{\"url\": \"http://127.0.0.1:@PORT@/items/{data.id}?q={data.query}&t={type}&trace={trace_id}\", "
                   "\"headers\": {\"X-Static\": \"yes\"}, \"header_env\": {\"Authorization\": \"HTTP_OUT_TEST_AUTH\"}, "
                   "\"response_type\": \"call.done\"}",
                   ok, G_N_ELEMENTS (ok));
  out_wait (out, out_emit (out, "{\"id\": \"a b/c\", \"query\": \"x&y=z\", \"request_id\": 5}"));
  assert_int_equal (out->server->seen->len, 1);
  seen = test_server_seen (out->server, 0);
  assert_string_equal (seen->method, "POST");
  /* Values are percent-encoded (the URL in the response event below shows
   * it as sent): no extra parameter; the server decodes the path. */
  assert_string_equal (seen->path, "/items/a b/c");
  /* {trace_id}: the call's trace, as traceparent spells it. */
  call = evb_harness_find (out->harness, "call", 0);
  assert_true (g_str_has_prefix (seen->query, "q=x%26y%3Dz&t=call&trace="));
  assert_true (evb_trace_id_parse (seen->query + strlen ("q=x%26y%3Dz&t=call&trace="), &trace_high, &trace_low, NULL));
  assert_true (trace_high == call->trace_id_high && trace_low == call->trace_id_low);
  body = parse_json (seen->body);
  assert_json_equal (body, "{\"id\": \"a b/c\", \"query\": \"x&y=z\", \"request_id\": 5}");
  assert_string_equal (seen_header (seen, "Content-Type"), "application/json");
  assert_string_equal (seen_header (seen, "X-Static"), "yes");
  assert_string_equal (seen_header (seen, "Authorization"), "Bearer t0ken");
  traceparent = g_strdup_printf ("00-%016" G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER "x-%016" G_GINT64_MODIFIER
                                 "x-01",
                                 call->trace_id_high, call->trace_id_low, call->id);
  assert_string_equal (seen_header (seen, "traceparent"), traceparent);

  run_until_count_or_fail (out->harness, "call.done", 1);
  response = evb_harness_find (out->harness, "call.done", 0);
  assert_true (response->trace_id_high == call->trace_id_high && response->trace_id_low == call->trace_id_low);
  assert_int_equal (response->parent_id, call->id);
  assert_int_equal (json_integer_value (json_object_get (response->data, "status")), 201);
  assert_string_equal (json_string_value (json_object_get (response->data, "reason")), "Created");
  assert_json_equal (json_object_get (response->data, "body"), "{\"created\": 7}");
  assert_int_equal (json_integer_value (json_object_get (response->data, "attempts")), 1);
  assert_int_equal (json_integer_value (json_object_get (response->data, "request_id")), 5);
  assert_string_equal (json_string_value (json_object_get (json_object_get (response->data, "headers"),
                                                           "content-type")),
                       "application/json");
  url = g_strdup_printf ("http://127.0.0.1:%u/items/a%%20b%%2Fc?q=x%%26y%%3Dz&t=call&trace=%s", out->server->port,
                         seen->query + strlen ("q=x%26y%3Dz&t=call&trace="));
  assert_string_equal (json_string_value (json_object_get (response->data, "url")), url);
  assert_int_equal (evb_harness_count (out->harness, "evbus.failure"), 0);
  out_stop (out);
  g_unsetenv ("HTTP_OUT_TEST_AUTH");
}

/* GET sends no body; body_field sends one field; text answers stay text. */
static void
test_method_and_body_field (G_GNUC_UNUSED void **state)
{
  static const Scripted text[] = { { 200, NULL, "text/plain", "pong" } };
  Out *get = out_start (NULL, "{\"url\": \"http://127.0.0.1:@PORT@/ping/{id}\", \"method\": \"GET\", "
                              "\"response_type\": \"call.done\"}", text, 1);
  Out *put = NULL;
  const EvbEvent *response;
  g_autofree char *path = NULL;

  out_wait (get, out_emit (get, "{\"x\": 1}"));
  assert_string_equal (test_server_seen (get->server, 0)->method, "GET");
  assert_string_equal (test_server_seen (get->server, 0)->body, "");
  path = g_strdup_printf ("/ping/%" G_GUINT64_FORMAT, evb_harness_find (get->harness, "call", 0)->id);
  assert_string_equal (test_server_seen (get->server, 0)->path, path);
  run_until_count_or_fail (get->harness, "call.done", 1);
  response = evb_harness_find (get->harness, "call.done", 0);
  assert_string_equal (json_string_value (json_object_get (response->data, "body")), "pong");
  out_stop (get);

  put = out_start (NULL, "{\"url\": \"http://127.0.0.1:@PORT@/\", \"method\": \"PUT\", \"body_field\": \"item.tags\"}",
                   text, 1);
  out_wait (put, out_emit (put, "{\"item\": {\"tags\": [\"a\", \"b\"]}}"));
  assert_string_equal (test_server_seen (put->server, 0)->method, "PUT");
  assert_string_equal (test_server_seen (put->server, 0)->body, "[\"a\",\"b\"]");
  /* A missing body field is the event's fault: 400, nothing sent. */
  evb_harness_clear (put->harness);
  out_wait (put, out_emit (put, "{\"item\": {}}"));
  assert_int_equal (put->server->seen->len, 1);
  assert_int_equal (json_integer_value (json_object_get (failure_error (put->harness), "code")), 400);
  assert_string_equal (json_string_value (json_object_get (failure_error (put->harness), "message")),
                       "body: the event has no data.item.tags (body_field)");
  out_stop (put);
}

static void
test_template_errors_at_run_time (G_GNUC_UNUSED void **state)
{
  static const Scripted ok[] = { { 200, NULL, NULL, NULL } };
  Out *out = out_start (NULL, "{\"url\": \"http://127.0.0.1:@PORT@/items/{data.item.id}\"}", ok, 1);

  out_wait (out, out_emit (out, "{\"item\": {}}"));
  assert_string_equal (json_string_value (json_object_get (failure_error (out->harness), "message")),
                       "url: the event has no data.item.id (for {data.item.id})");
  evb_harness_clear (out->harness);
  out_wait (out, out_emit (out, "{\"item\": {\"id\": [1]}}"));
  assert_string_equal (json_string_value (json_object_get (failure_error (out->harness), "message")),
                       "url: data.item.id is an array; only a string, number or boolean fits in a URL");
  assert_int_equal (out->server->seen->len, 0);
  out_stop (out);
}

/* ---- retries ------------------------------------------------------------- */

static gint64
gap_ms (TestServer *server, guint index)
{
  return (test_server_seen (server, index)->time_us - test_server_seen (server, index - 1)->time_us) / 1000;
}

/* Tolerance: arrivals at the server are the wait plus each attempt's own
 * time to connect and send, which differ by a little between attempts; a
 * wait is never much shorter, and not much longer. */
#define EARLY_MS 5
#define LATE_MS 250

static void
assert_gap (TestServer *server, guint index, gint64 low_ms, gint64 high_ms)
{
  gint64 gap = gap_ms (server, index);

  if (gap < low_ms - EARLY_MS || gap > high_ms + LATE_MS)
    fail_msg ("wait before attempt %u: %" G_GINT64_FORMAT " ms, expected %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
              index + 1, gap, low_ms, high_ms);
}

/* 503, 500, 502 then 200: back-off 100, 200, 400 ms (no jitter). */
static void
test_retry_schedule (G_GNUC_UNUSED void **state)
{
  static const Scripted script[] = {
    { 503, NULL, NULL, NULL }, { 500, NULL, NULL, NULL }, { 502, NULL, NULL, NULL }, { 200, NULL, NULL, "{}" },
  };
  Out *out = out_start (NULL, "{\"url\": \"http://127.0.0.1:@PORT@/\", \"retries\": 3, \"backoff_ms\": 100, "
                              "\"backoff_max_ms\": 1000, \"jitter\": 0, \"response_type\": \"call.done\"}",
                        script, G_N_ELEMENTS (script));
  const EvbReceipt *receipt = out_wait (out, out_emit (out, "{}"));

  assert_int_equal (receipt->outcome, EVB_RECEIPT_DONE);
  assert_int_equal (out->server->seen->len, 4);
  assert_gap (out->server, 1, 100, 100);
  assert_gap (out->server, 2, 200, 200);
  assert_gap (out->server, 3, 400, 400);
  run_until_count_or_fail (out->harness, "call.done", 1);
  assert_int_equal (json_integer_value (json_object_get (evb_harness_find (out->harness, "call.done", 0)->data,
                                                         "attempts")),
                    4);
  out_stop (out);
}

/* With jitter 0.5 every wait is between half and all of its back-off; the
 * cap holds. */
static void
test_retry_jitter_and_cap (G_GNUC_UNUSED void **state)
{
  static const Scripted script[] = { { 503, NULL, NULL, NULL } };
  Out *out = out_start (NULL, "{\"url\": \"http://127.0.0.1:@PORT@/\", \"retries\": 4, \"backoff_ms\": 80, "
                              "\"backoff_max_ms\": 200, \"jitter\": 0.5}",
                        script, 1);

  out_wait (out, out_emit (out, "{}"));
  assert_int_equal (out->server->seen->len, 5);
  assert_gap (out->server, 1, 40, 80);
  assert_gap (out->server, 2, 80, 160);
  assert_gap (out->server, 3, 100, 200);
  assert_gap (out->server, 4, 100, 200);
  out_stop (out);
}

/* 429 with Retry-After: 1 waits a second, not the 10 ms back-off. */
static void
test_retry_after (G_GNUC_UNUSED void **state)
{
  static const Scripted script[] = { { 429, "1", "text/plain", "slow down" }, { 204, NULL, NULL, NULL } };
  Out *out = out_start (NULL, "{\"url\": \"http://127.0.0.1:@PORT@/\", \"retries\": 1, \"backoff_ms\": 10, "
                              "\"jitter\": 0}",
                        script, G_N_ELEMENTS (script));
  const EvbReceipt *receipt = out_wait (out, out_emit (out, "{}"));

  assert_int_equal (receipt->outcome, EVB_RECEIPT_DONE);
  assert_int_equal (out->server->seen->len, 2);
  assert_gap (out->server, 1, 1000, 1000);
  out_stop (out);
}

/* After the last attempt: the failure (code = status, attempts, excerpt)
 * and the structured failure event. */
static void
test_failure_after_last_retry (G_GNUC_UNUSED void **state)
{
  static const Scripted script[] = { { 503, NULL, "text/plain", "overloaded, try later\n" } };
  Out *out = out_start (NULL, "{\"url\": \"http://127.0.0.1:@PORT@/hook\", \"retries\": 2, \"backoff_ms\": 10, "
                              "\"jitter\": 0, \"failure_type\": \"call.failed\"}",
                        script, 1);
  const EvbReceipt *receipt = out_wait (out, out_emit (out, "{\"request_id\": \"r1\"}"));
  g_autofree char *message = g_strdup_printf ("POST http://127.0.0.1:%u/hook: 503 Service Unavailable after 3 "
                                              "attempts: \"overloaded, try later\"",
                                              out->server->port);
  g_autofree char *expected = NULL;
  const EvbEvent *failed;

  assert_int_equal (receipt->outcome, EVB_RECEIPT_FAILED);
  assert_int_equal (out->server->seen->len, 3);
  assert_int_equal (evb_harness_count (out->harness, "evbus.failure"), 1);
  assert_string_equal (json_string_value (json_object_get (failure_error (out->harness), "domain")), "http-out");
  assert_int_equal (json_integer_value (json_object_get (failure_error (out->harness), "code")), 503);
  assert_string_equal (json_string_value (json_object_get (failure_error (out->harness), "message")), message);
  assert_string_equal (receipt->error_message, message);

  failed = evb_harness_find (out->harness, "call.failed", 0);
  assert_non_null (failed);
  expected = g_strdup_printf ("{\"url\": \"http://127.0.0.1:%u/hook\", \"method\": \"POST\", \"status\": 503, "
                              "\"error\": \"503 Service Unavailable\", \"body_excerpt\": \"overloaded, try later\", "
                              "\"attempts\": 3, \"event_id\": %" G_GUINT64_FORMAT ", \"request_id\": \"r1\"}",
                              out->server->port, evb_harness_find (out->harness, "call", 0)->id);
  assert_json_equal (failed->data, expected);
  out_stop (out);
}

/* Another 4xx is not retried. */
static void
test_client_error_not_retried (G_GNUC_UNUSED void **state)
{
  static const Scripted script[] = { { 404, NULL, "application/json", "{\"error\": \"no such item\"}" } };
  Out *out = out_start (NULL, "{\"url\": \"http://127.0.0.1:@PORT@/x\", \"retries\": 5, \"backoff_ms\": 10}", script, 1);
  g_autofree char *message = NULL;

  out_wait (out, out_emit (out, "{}"));
  assert_int_equal (out->server->seen->len, 1);
  message = g_strdup_printf ("POST http://127.0.0.1:%u/x: 404 Not Found after 1 attempt: \"{\"error\": \"no such "
                             "item\"}\"",
                             out->server->port);
  assert_string_equal (json_string_value (json_object_get (failure_error (out->harness), "message")), message);
  assert_int_equal (json_integer_value (json_object_get (failure_error (out->harness), "code")), 404);
  out_stop (out);
}

/* Nobody listens: connection errors are retried; code 0 at the end. */
static void
test_connection_refused (G_GNUC_UNUSED void **state)
{
  static const Scripted unused[] = { { 200, NULL, NULL, NULL } };
  guint port = closed_port ();
  g_autofree char *config = g_strdup_printf ("{\"url\": \"http://127.0.0.1:%u/\", \"retries\": 2, \"backoff_ms\": 10, "
                                             "\"failure_type\": \"call.failed\"}",
                                             port);
  Out *out = out_start (NULL, config, unused, 1);
  const EvbEvent *failed;
  const char *message;
  g_autofree char *prefix = g_strdup_printf ("POST http://127.0.0.1:%u/: ", port);

  out_wait (out, out_emit (out, "{}"));
  assert_int_equal (json_integer_value (json_object_get (failure_error (out->harness), "code")), 0);
  message = json_string_value (json_object_get (failure_error (out->harness), "message"));
  assert_true (g_str_has_prefix (message, prefix));
  assert_true (g_str_has_suffix (message, " after 3 attempts"));
  failed = evb_harness_find (out->harness, "call.failed", 0);
  assert_int_equal (json_integer_value (json_object_get (failed->data, "status")), 0);
  assert_int_equal (json_integer_value (json_object_get (failed->data, "attempts")), 3);
  assert_true (json_is_null (json_object_get (failed->data, "body_excerpt"))
               || json_object_get (failed->data, "body_excerpt") == NULL);
  out_stop (out);
}

/* A server that never answers: each attempt ends at timeout_ms. */
static void
test_attempt_timeout (G_GNUC_UNUSED void **state)
{
  static const Scripted silent[] = { { 0, NULL, NULL, NULL } };
  Out *out = out_start (NULL, "{\"url\": \"http://127.0.0.1:@PORT@/\", \"timeout_ms\": 150, \"retries\": 1, "
                              "\"backoff_ms\": 10, \"jitter\": 0}",
                        silent, 1);
  g_autofree char *message = NULL;

  out_wait (out, out_emit (out, "{}"));
  assert_int_equal (out->server->seen->len, 2);
  /* The attempt's time began before it reached the server. */
  assert_gap (out->server, 1, 150, 150 + 10);
  message = g_strdup_printf ("POST http://127.0.0.1:%u/: no response within 150 ms (timeout_ms) after 2 attempts",
                             out->server->port);
  assert_string_equal (json_string_value (json_object_get (failure_error (out->harness), "message")), message);
  out_stop (out);
}

typedef struct {
  TestServer *server;
  guint seen;
  guint in_progress;
} ServerState;

static gboolean
server_reached (EvbHarness *harness, gpointer user_data)
{
  ServerState *state = user_data;

  return state->server->seen->len == state->seen && state->server->in_progress == state->in_progress;
}

static void
wait_server (Out *out, guint seen, guint in_progress)
{
  ServerState state = { out->server, seen, in_progress };

  run_until_or_fail (out->harness, server_reached, &state, "the server to see the next requests");
}

/* max_in_flight 2: two requests on the wire, the others wait for a slot. */
static void
test_in_flight_cap (G_GNUC_UNUSED void **state)
{
  static const Scripted held[] = { { 0, NULL, NULL, NULL } };
  Out *out = out_start ("{\"workers\": 6}", "{\"url\": \"http://127.0.0.1:@PORT@/\", \"max_in_flight\": 2}", held, 1);
  guint64 ids[5];
  gint64 until;

  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    ids[i] = out_emit (out, "{}");
  wait_server (out, 2, 2);
  /* The other three jobs run on their workers: give them a moment to show
   * that they wait (the loop turns for 200 ms and nothing more arrives). */
  until = g_get_monotonic_time () + 200 * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
  assert_int_equal (out->server->seen->len, 2);
  test_server_release (out->server);
  wait_server (out, 4, 2);
  test_server_release (out->server);
  wait_server (out, 5, 1);
  test_server_release (out->server);
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    assert_int_equal (out_wait (out, ids[i])->outcome, EVB_RECEIPT_DONE);
  assert_int_equal (out->server->max_in_progress, 2);
  out_stop (out);
}

/* ---- loading ---------------------------------------------------------- */

static void
assert_init_error (const char *config_json, const char *reason)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new ();
  g_autofree char *expected = g_strdup_printf ("plugin \"out\" (%s): %s", HTTP_OUT_PLUGIN, reason);

  assert_false (evb_harness_add_plugin_file (harness, "out", HTTP_OUT_PLUGIN, config_json, &error));
  assert_string_equal (error->message, expected);
  evb_harness_free (harness);
}

static void
test_load_errors (G_GNUC_UNUSED void **state)
{
  g_unsetenv ("HTTP_OUT_TEST_UNSET");
  assert_init_error ("{}", "option \"url\": required option missing (string: http:// or https:// URL; "
                           "{data.<field>}, {type}, {id}, {trace_id} are filled from the event, percent-encoded)");
  assert_init_error ("{\"url\": \"ftp://x/\"}", "init failed: url \"ftp://x/\": must start with http:// or https://");
  assert_init_error ("{\"url\": \"http://x/{data.id\"}",
                     "init failed: url \"http://x/{data.id\": \"{\" at byte 9 is never closed with \"}\"");
  assert_init_error ("{\"url\": \"http://x/{item}\"}",
                     "init failed: url \"http://x/{item}\": unknown placeholder {item} at byte 9: use {data.<field>}, "
                     "{type}, {id} or {trace_id}");
  assert_init_error ("{\"url\": \"http://x/{data.}\"}",
                     "init failed: url \"http://x/{data.}\": unknown placeholder {data.} at byte 9: use "
                     "{data.<field>}, {type}, {id} or {trace_id}");
  assert_init_error ("{\"url\": \"http://x/\", \"header_env\": {\"Authorization\": \"HTTP_OUT_TEST_UNSET\"}}",
                     "init failed: header_env.Authorization: environment variable \"HTTP_OUT_TEST_UNSET\" is not set");
  assert_init_error ("{\"url\": \"http://x/\", \"headers\": {\"Bad Name\": \"v\"}}",
                     "init failed: headers: \"Bad Name\" is not a header name");
  assert_init_error ("{\"url\": \"http://x/\", \"headers\": {\"X-A\": 1}}", "init failed: headers.X-A: expected a string");
  assert_init_error ("{\"url\": \"http://x/\", \"headers\": {\"X-A\": \"a\\r\\nX-B: b\"}}",
                     "init failed: headers.X-A: the value holds a line break");
  assert_init_error ("{\"url\": \"http://x/\", \"response_type\": \"evbus.x\"}",
                     "init failed: response_type: \"evbus.x\" is not an event type a plugin may emit (dotted names of "
                     "a-z 0-9 _ -, not under \"evbus.\")");
  assert_init_error ("{\"url\": \"http://x/\", \"failure_type\": \"Bad\"}",
                     "init failed: failure_type: \"Bad\" is not an event type a plugin may emit (dotted names of a-z "
                     "0-9 _ -, not under \"evbus.\")");
  assert_init_error ("{\"url\": \"http://x/\", \"backoff_ms\": 500, \"backoff_max_ms\": 100}",
                     "init failed: backoff_max_ms: 100 is less than backoff_ms (500)");
  assert_init_error ("{\"url\": \"http://x/\", \"method\": \"TRACE\"}",
                     "option \"method\": expected one of \"POST\", \"PUT\", \"PATCH\", \"GET\", \"DELETE\", \"HEAD\", "
                     "got \"TRACE\"");
  assert_init_error ("{\"url\": \"http://x/\", \"jitter\": 2}", "option \"jitter\": expected at most 1.0, got 2");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_load_errors),
    cmocka_unit_test (test_request_and_response),
    cmocka_unit_test (test_method_and_body_field),
    cmocka_unit_test (test_template_errors_at_run_time),
    cmocka_unit_test (test_retry_schedule),
    cmocka_unit_test (test_retry_jitter_and_cap),
    cmocka_unit_test (test_retry_after),
    cmocka_unit_test (test_failure_after_last_retry),
    cmocka_unit_test (test_client_error_not_retried),
    cmocka_unit_test (test_connection_refused),
    cmocka_unit_test (test_attempt_timeout),
    cmocka_unit_test (test_in_flight_cap),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
