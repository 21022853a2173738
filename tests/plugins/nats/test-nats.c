/* The nats plugin through the harness against a real nats-server
 * (nats-test.h): load errors, fan-out headers and trace both ways, host
 * events renamed, relays skipped, jobs acked, failed jobs retried and
 * dead-lettered, long jobs kept in progress, stream and consumer
 * mismatches, unhealthy while disconnected past unhealthy_after_ms; a
 * burst of imports arrives whole and in order, a full import queue drops
 * and counts, stop emits what is queued. */
#include "nats-test.h"

#include "nats-private.h" /* the import counters, read while the loop is not running */

static NatsServer server;

static int
suite_setup (void **state)
{
  nats_server_start_or_fail (&server);
  return 0;
}

static int
suite_teardown (void **state)
{
  nats_server_stop (&server);
  return 0;
}

static EvbHarness *
host_new (const char *host, const char *extra)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  g_autofree char *config = nats_config (&server, host, extra);

  add_plugin_or_fail (harness, "nats", NATS_PLUGIN, config);
  add_route_or_fail (harness, "nats-stats.now", "nats.report", NULL);
  return harness;
}

static void
assert_load_error (const char *config, const char *expected)
{
  g_autofree char *message = load_error (NATS_PLUGIN, config);

  if (strstr (message, expected) == NULL)
    fail_msg ("expected \"%s\" in: %s", expected, message);
}

static void
test_load_errors (void **state)
{
  g_autofree char *bad_prefix = nats_config (&server, "a", "\"prefix\": \"a..b\"");
  g_autofree char *bad_import = nats_config (&server, "a", "\"import\": [\"search.>.x\"]");
  g_autofree char *upper_import = nats_config (&server, "a", "\"import\": [\"Search\"]");
  g_autofree char *two_auth = nats_config (&server, "a", "\"user\": \"u\", \"token\": \"t\"");
  g_autofree char *password_only = nats_config (&server, "a", "\"password\": \"p\"");
  g_autofree char *worker_alone = nats_config (&server, "a", "\"worker\": true");
  g_autofree char *reserved_as = nats_config (&server, "a", "\"host_events_as\": \"evbus\"");
  g_autofree char *tls_half = nats_config (&server, "a", "\"tls_ca\": \"/nope.pem\"");
  g_autofree char *bad_stream = nats_config (&server, "a", "\"work_stream\": \"a.b\"");

  assert_load_error (bad_prefix, "option \"prefix\": \"a..b\" is not a subject prefix: segment 2 has an empty segment");
  assert_load_error (bad_import,
                     "option \"import\"[0]: \"search.>.x\" is not a pattern: segment 2 has \">\" before the last segment");
  assert_load_error (upper_import, "option \"import\"[0]: \"Search\" is not a pattern: segment 1 has a segment that is "
                                   "neither a name (a-z 0-9 _ -), \"*\" nor \">\"");
  assert_load_error (two_auth, "give one way to authenticate, not several");
  assert_load_error (password_only, "option \"password\": needs \"user\" too");
  assert_load_error (worker_alone, "option \"worker\": working the queue needs option \"work_stream\"");
  assert_load_error (reserved_as, "option \"host_events_as\": \"evbus\" is reserved for the host's own events");
  assert_load_error (tls_half, "option \"tls\": tls_ca, tls_cert, tls_key or tls_hostname is set but \"tls\" is false");
  assert_load_error (bad_stream, "option \"work_stream\": \"a.b\" is not a stream name");
  assert_load_error ("{\"servers\": [\"nats://127.0.0.1:1\"], \"connect_timeout_ms\": 500}",
                     "cannot connect to [\"nats://127.0.0.1:1\"]: ");
  assert_load_error ("{\"servers\": []}", "option \"servers\": give at least one server URL");
}

/* Checked (`evbus check`), nothing connects: a server nobody runs is no
 * error, and no stream or consumer is made; the options are still
 * validated in run's words, the credentials file included. */
static void
test_check_mode (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *creds = write_temp_file (dir, "user.creds", "not read when checking");
  g_autofree char *config = NULL;
  g_autofree char *message = NULL;
  g_autofree char *expected = NULL;

  assert_checks_ok (NATS_PLUGIN, "{\"servers\": [\"nats://127.0.0.1:1\"], \"connect_timeout_ms\": 60000, "
                                 "\"import\": [\"search.>\"], \"work_stream\": \"CHECKED\", \"worker\": true}");
  config = g_strdup_printf ("{\"servers\": [\"nats://127.0.0.1:1\"], \"credentials\": \"%s\"}", creds);
  assert_checks_ok (NATS_PLUGIN, config);
  g_clear_pointer (&config, g_free);

  config = g_strdup_printf ("{\"servers\": [\"nats://127.0.0.1:1\"], \"credentials\": \"%s/none.creds\"}", dir);
  message = check_error (NATS_PLUGIN, config);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: option \"credentials\": no file \"%s/none.creds\"",
                              NATS_PLUGIN, dir);
  assert_string_equal (message, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&message, g_free);
  g_clear_pointer (&expected, g_free);
  /* Root reads any file: the mode says nothing then. */
  if (geteuid () != 0)
    {
      assert_int_equal (g_chmod (creds, 0), 0);
      config = g_strdup_printf ("{\"servers\": [\"nats://127.0.0.1:1\"], \"credentials\": \"%s\"}", creds);
      message = check_error (NATS_PLUGIN, config);
      expected = g_strdup_printf ("plugin \"p\" (%s): init failed: option \"credentials\": cannot read \"%s\": "
                                  "Permission denied", NATS_PLUGIN, creds);
      assert_string_equal (message, expected);
      g_clear_pointer (&config, g_free);
      g_clear_pointer (&message, g_free);
      g_clear_pointer (&expected, g_free);
    }
  message = check_error (NATS_PLUGIN, "{\"servers\": [\"nats://127.0.0.1:1\"], \"import\": [\"Search\"]}");
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: option \"import\"[0]: \"Search\" is not a pattern: "
                              "segment 1 has a segment that is neither a name (a-z 0-9 _ -), \"*\" nor \">\"",
                              NATS_PLUGIN);
  assert_string_equal (message, expected);
  temp_dir_free (dir);
}

/* A message published by another client arrives with its origin, trace
 * and tracestate; host events come in renamed; what is not a type or not
 * a JSON object is dropped and counted. */
static void
test_import (void **state)
{
  g_autoptr (EvbHarness) harness = host_new ("a", "\"import\": [\"ping.>\", \"evbus.failure\", \"evbus.status.*\"]");
  natsConnection *raw = raw_connect (&server);
  natsMsg *msg = NULL;
  const EvbEvent *event;
  g_autoptr (json_t) stats = NULL;

  assert_int_equal (natsMsg_Create (&msg, "evbus.ping.x", NULL, "{\"n\": 1}", 8), NATS_OK);
  natsMsgHeader_Set (msg, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  natsMsgHeader_Set (msg, "tracestate", "k=v");
  natsMsgHeader_Set (msg, "Evbus-Origin-Host", "z");
  natsMsgHeader_Set (msg, "Evbus-Origin-Id", "42");
  natsMsgHeader_Set (msg, "Evbus-Origin-Source", "src");
  assert_int_equal (natsConnection_PublishMsg (raw, msg), NATS_OK);
  natsMsg_Destroy (msg);
  assert_int_equal (natsConnection_PublishString (raw, "evbus.ping.Bad", "{}"), NATS_OK);
  assert_int_equal (natsConnection_PublishString (raw, "evbus.ping.y", "[1]"), NATS_OK);
  assert_int_equal (natsConnection_PublishString (raw, "evbus.evbus.failure", "{\"error\": {\"message\": \"m\"}}"),
                    NATS_OK);
  assert_int_equal (natsConnection_PublishString (raw, "evbus.evbus.status.completed", "{\"job\": 7}"), NATS_OK);
  /* One subscription delivers in order: after ping.end, the bad ones
   * have been counted. */
  assert_int_equal (natsConnection_PublishString (raw, "evbus.ping.end", "{}"), NATS_OK);
  natsConnection_Flush (raw);

  /* Each import pattern is a subscription of its own, delivered on its own
   * thread: wait for each. */
  run_until_count_or_fail (harness, "cluster.status.completed", 1);
  run_until_count_or_fail (harness, "cluster.failure", 1);
  run_until_count_or_fail (harness, "ping.end", 1);
  event = find_only (harness, "ping.x");
  assert_string_equal (event->source, "nats");
  assert_json_equal (event->data, "{\"n\": 1, \"_origin\": {\"host\": \"z\", \"id\": 42, \"source\": \"src\", "
                                  "\"subject\": \"evbus.ping.x\"}}");
  assert_true (event->trace_id_high == 0x0af7651916cd43ddULL && event->trace_id_low == 0x8448eb211c80319cULL);
  assert_string_equal (event->tracestate, "k=v");
  event = find_only (harness, "cluster.failure");
  assert_json_equal (event->data, "{\"error\": {\"message\": \"m\"}, \"_origin\": {\"host\": null, \"id\": null, "
                                  "\"source\": null, \"subject\": \"evbus.evbus.failure\"}}");
  assert_int_equal (evb_harness_count (harness, "ping.y"), 0);
  stats = nats_stats (harness, "nats");
  assert_int_equal (stat_of (stats, "import", "imported"), 4);
  assert_int_equal (stat_of (stats, "import", "import_bad"), 2);
  natsConnection_Destroy (raw);
}

/* What the publish handler sends: subject, payload, origin headers and a
 * traceparent whose parent is the event; an event that came in through
 * NATS is not sent again. */
static void
test_publish (void **state)
{
  g_autoptr (EvbHarness) harness = host_new ("a", "\"import\": [\"in.>\"]");
  natsConnection *raw = raw_connect (&server);
  natsSubscription *sub = NULL;
  natsMsg *msg = NULL;
  const char *value = NULL;
  char traceparent[EVB_TRACEPARENT_SIZE];
  g_autofree char *id = NULL;
  const EvbEvent *event;
  g_autoptr (json_t) stats = NULL;

  add_route_or_fail (harness, "out.>", "nats.publish", "{\"mode\": \"async\"}");
  add_route_or_fail (harness, "in.>", "nats.publish", "{\"mode\": \"async\"}");
  assert_int_equal (natsConnection_SubscribeSync (&sub, raw, "evbus.>"), NATS_OK);
  natsConnection_Flush (raw);

  emit_or_fail (harness, "out.msg", "{\"n\": 1}");
  run_until_idle_or_fail (harness);
  event = find_only (harness, "out.msg");
  assert_int_equal (natsSubscription_NextMsg (&msg, sub, WAIT_MS), NATS_OK);
  assert_string_equal (natsMsg_GetSubject (msg), "evbus.out.msg");
  assert_string_equal (natsMsg_GetData (msg), "{\"n\":1}");
  natsMsgHeader_Get (msg, "Evbus-Origin-Host", &value);
  assert_string_equal (value, "a");
  natsMsgHeader_Get (msg, "Evbus-Origin-Source", &value);
  assert_string_equal (value, "harness");
  id = g_strdup_printf ("%" G_GUINT64_FORMAT, event->id);
  natsMsgHeader_Get (msg, "Evbus-Origin-Id", &value);
  assert_string_equal (value, id);
  evb_event_format_traceparent (event, traceparent);
  natsMsgHeader_Get (msg, "traceparent", &value);
  assert_string_equal (value, traceparent);
  natsMsg_Destroy (msg);

  /* In from another client, then a local event: only the local one goes
   * out (messages of one connection arrive in order). */
  assert_int_equal (natsConnection_PublishString (raw, "evbus.in.x", "{}"), NATS_OK);
  natsConnection_Flush (raw);
  run_until_count_or_fail (harness, "in.x", 1);
  run_until_idle_or_fail (harness);
  emit_or_fail (harness, "out.after", NULL);
  run_until_idle_or_fail (harness);
  assert_int_equal (natsSubscription_NextMsg (&msg, sub, WAIT_MS), NATS_OK);
  assert_string_equal (natsMsg_GetSubject (msg), "evbus.in.x"); /* the raw client's own */
  natsMsg_Destroy (msg);
  assert_int_equal (natsSubscription_NextMsg (&msg, sub, WAIT_MS), NATS_OK);
  assert_string_equal (natsMsg_GetSubject (msg), "evbus.out.after");
  natsMsg_Destroy (msg);
  stats = nats_stats (harness, "nats");
  assert_int_equal (stat_of (stats, "publish", "published"), 2);
  assert_int_equal (stat_of (stats, "publish", "publish_skipped_relay"), 1);
  assert_int_equal (stat_of (stats, "import", "import_skipped_own"), 0);
  natsSubscription_Destroy (sub);
  natsConnection_Destroy (raw);
}

/* ---- work ---------------------------------------------------------------- */

static gint fail_calls;

static EvbResult
always_fail (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&fail_calls);
  return evb_call_fail (call, "test", 5, "the database is down");
}

static EvbResult
take (EvbCall *call, const EvbEvent *event)
{
  return EVB_HANDLED;
}

static EvbResult
slow (EvbCall *call, const EvbEvent *event)
{
  evb_call_wait (call, 1300);
  return EVB_HANDLED;
}

static void
add_func_route (EvbHarness *harness, const char *pattern, EvbHandlerFunc func)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;

  spec.mode = EVB_MODE_ASYNC;
  spec.pattern = pattern;
  spec.handler = pattern;
  spec.func = func;
  if (evb_harness_add_route_spec (harness, &spec, NULL, &error) == 0)
    fail_msg ("route %s: %s", pattern, error->message);
}

/* One host submits and works: a job that is taken is acked (gone from the
 * stream), one that always fails is retried max_deliver times and then
 * moved to the dead-letter stream with a nats.dead-letter event. */
static void
test_work_ack_and_dead_letter (void **state)
{
  g_autoptr (EvbHarness) harness = host_new (
    "a", "\"work_stream\": \"W1\", \"work_prefix\": \"w1\", \"dead_letter_prefix\": \"w1-dead\", \"consumer\": \"w1\", "
         "\"worker\": true, \"max_deliver\": 2, \"nak_delay_ms\": 0");
  natsConnection *raw = raw_connect (&server);
  jsCtx *js = raw_jetstream (raw);
  g_autoptr (json_t) stats = NULL;
  const EvbEvent *event;
  const EvbEvent *dead;
  guint64 id;

  add_route_or_fail (harness, "job.>", "nats.submit", "{\"mode\": \"async\"}");
  add_func_route (harness, "job.ok", take);
  add_func_route (harness, "job.bad", always_fail);

  id = evb_harness_emit_with_receipt (harness, "job.ok", "{\"job_id\": \"ok-1\"}", NULL);
  assert_true (evb_harness_run_until_receipt (harness, id, WAIT_MS, NULL));
  run_until_count_or_fail (harness, "job.ok", 2);
  event = evb_harness_find (harness, "job.ok", 1);
  assert_string_equal (event->source, "nats");
  assert_string_equal (json_string_value (json_object_get (json_object_get (event->data, "_origin"), "msg_id")), "ok-1");
  run_until_stream_has (harness, js, "W1", 0);

  evb_harness_emit (harness, "job.bad", "{\"job_id\": \"bad-1\"}", NULL);
  run_until_count_or_fail (harness, "nats.dead-letter", 1);
  dead = find_only (harness, "nats.dead-letter");
  assert_string_equal (json_string_value (json_object_get (dead->data, "reason")), "the database is down (1 failure)");
  assert_int_equal (json_integer_value (json_object_get (dead->data, "deliveries")), 2);
  assert_string_equal (json_string_value (json_object_get (dead->data, "dead_subject")), "w1-dead.job.bad");
  assert_string_equal (json_string_value (json_object_get (dead->data, "msg_id")), "bad-1");
  /* The submitted event itself (route job.bad here too), then 2 deliveries. */
  assert_int_equal (g_atomic_int_get (&fail_calls), 3);
  /* The dead letter continues the job's trace. */
  assert_true (dead->trace_id_low == evb_harness_find (harness, "job.bad", 0)->trace_id_low);
  run_until_stream_has (harness, js, "W1", 0);
  run_until_stream_has (harness, js, "W1_DEAD", 1);

  stats = nats_stats (harness, "nats");
  assert_int_equal (stat_of (stats, "submit", "submitted"), 2);
  assert_int_equal (stat_of (stats, "submit", "submit_skipped"), 3); /* the jobs worked here: not re-submitted */
  assert_int_equal (stat_of (stats, "jobs", "jobs_acked"), 1);
  assert_int_equal (stat_of (stats, "jobs", "jobs_nacked"), 1);
  assert_int_equal (stat_of (stats, "jobs", "jobs_dead_lettered"), 1);
  jsCtx_Destroy (js);
  natsConnection_Destroy (raw);
}

/* A job that runs past half the ack wait is marked in progress, so it is
 * not delivered again while it runs. */
static void
test_in_progress (void **state)
{
  g_autoptr (EvbHarness) harness = host_new (
    "a", "\"work_stream\": \"W2\", \"work_prefix\": \"w2\", \"dead_letter_prefix\": \"w2-dead\", \"consumer\": \"w2\", "
         "\"worker\": true, \"ack_wait_ms\": 400");
  g_autoptr (json_t) stats = NULL;
  guint64 id;

  add_route_or_fail (harness, "slow.>", "nats.submit", "{\"mode\": \"async\"}");
  add_func_route (harness, "slow.job", slow);
  id = evb_harness_emit_with_receipt (harness, "slow.job", NULL, NULL);
  assert_true (evb_harness_run_until_receipt (harness, id, WAIT_MS, NULL));
  run_until_count_or_fail (harness, "slow.job", 2);
  run_until_idle_or_fail (harness);
  stats = nats_stats (harness, "nats");
  assert_int_equal (stat_of (stats, "jobs", "jobs_received"), 1);
  assert_int_equal (stat_of (stats, "jobs", "jobs_redelivered"), 0);
  assert_true (stat_of (stats, "jobs", "jobs_in_progress") >= 2);
  assert_int_equal (evb_harness_count (harness, "slow.job"), 2);
}

/* A submit of an event that is no job type fails with a clear failure. */
static void
test_submit_reserved_type (void **state)
{
  g_autoptr (EvbHarness) harness = host_new ("a", "\"work_stream\": \"W3\", \"work_prefix\": \"w3\", "
                                                  "\"dead_letter_prefix\": \"w3-dead\"");
  const EvbEvent *failure;

  add_route_or_fail (harness, "evbus.custom", "nats.submit", "{\"mode\": \"async\"}");
  emit_or_fail (harness, "evbus.custom", NULL);
  run_until_count_or_fail (harness, "evbus.failure", 1);
  failure = find_only (harness, "evbus.failure");
  assert_string_equal (json_string_value (json_object_get (json_object_get (failure->data, "error"), "message")),
                       "event type \"evbus.custom\" is the host's own (\"evbus.\"): it cannot be a job, no host could "
                       "emit it: not submitted");
}

static void
test_mismatch (void **state)
{
  natsConnection *raw = raw_connect (&server);
  jsCtx *js = raw_jetstream (raw);
  jsStreamConfig config;
  const char *subjects[] = { "m1.>" };
  g_autofree char *stream_config = nats_config (&server, "a", "\"work_stream\": \"M1\", \"work_prefix\": \"m1\", "
                                                              "\"dead_letter_prefix\": \"m1-dead\"");
  g_autofree char *subject_config = nats_config (&server, "a", "\"work_stream\": \"M1\", \"work_prefix\": \"m2\", "
                                                               "\"dead_letter_prefix\": \"m2-dead\"");
  g_autofree char *first = nats_config (&server, "a", "\"work_stream\": \"M3\", \"work_prefix\": \"m3\", "
                                                      "\"dead_letter_prefix\": \"m3-dead\", \"worker\": true");
  g_autofree char *second = nats_config (&server, "a", "\"work_stream\": \"M3\", \"work_prefix\": \"m3\", "
                                                       "\"dead_letter_prefix\": \"m3-dead\", \"worker\": true, "
                                                       "\"ack_wait_ms\": 5000, \"max_deliver\": 3");
  g_autofree char *absent = nats_config (&server, "a", "\"work_stream\": \"M4\", \"work_prefix\": \"m4\", "
                                                       "\"dead_letter_prefix\": \"m4-dead\", \"create\": false");

  jsStreamConfig_Init (&config);
  config.Name = "M1";
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  assert_int_equal (js_AddStream (NULL, js, &config, NULL, NULL), NATS_OK);
  assert_load_error (stream_config, "option \"work_stream\": stream \"M1\" exists with retention \"limits\", this "
                                    "plugin needs \"workqueue\": delete it (nats stream rm M1) or name another stream");
  config.Retention = js_WorkQueuePolicy;
  assert_int_equal (js_DeleteStream (js, "M1", NULL, NULL), NATS_OK);
  assert_int_equal (js_AddStream (NULL, js, &config, NULL, NULL), NATS_OK);
  assert_load_error (subject_config, "option \"work_stream\": stream \"M1\" exists with subjects [\"m1.>\"], this "
                                     "plugin needs \"m2.>\"");
  {
    g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);

    add_plugin_or_fail (harness, "nats", NATS_PLUGIN, first);
  }
  assert_load_error (second, "option \"consumer\": consumer \"evbus-workers\" of stream \"M3\" exists with other "
                             "settings: ack_wait_ms 30000, the config says 5000; max deliver 6, the config's "
                             "max_deliver 3 needs 4; make the options agree, or delete it (nats consumer rm M3 "
                             "evbus-workers) to have it made anew");
  assert_load_error (absent, "option \"work_stream\": stream \"M4\" does not exist and option \"create\" is false");
  jsCtx_Destroy (js);
  natsConnection_Destroy (raw);
}

/* ---- health: unhealthy while disconnected past unhealthy_after_ms ---- */

/* The stats' plugins[] entry of instance "nats": its "unhealthy" reason. */
static char *
nats_health_reason (EvbHarness *harness)
{
  json_t *stats = evb_harness_stats (harness);
  json_t *plugin;
  gsize i;
  char *reason = NULL;

  json_array_foreach (json_object_get (stats, "plugins"), i, plugin)
    if (g_strcmp0 (json_string_value (json_object_get (plugin, "name")), "nats") == 0)
      reason = g_strdup (json_string_value (json_object_get (plugin, "unhealthy")));
  json_decref (stats);
  return reason;
}

static gboolean
is_unhealthy (EvbHarness *harness, gpointer data)
{
  g_autofree char *reason = nats_health_reason (harness);

  return reason != NULL;
}

static gboolean
is_healthy (EvbHarness *harness, gpointer data)
{
  g_autofree char *reason = nats_health_reason (harness);

  return reason == NULL;
}

/* A server of its own, stopped and started again on the same port: past
 * unhealthy_after_ms the instance says it is disconnected, and from which
 * server since when; once reconnected, healthy again. */
static void
test_unhealthy_while_disconnected (void **state)
{
  NatsServer own = { 0 };
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *config = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *prefix = NULL;
  g_autofree char *before = NULL;
  double seconds;

  nats_server_start_or_fail (&own);
  config = nats_config (&own, "a", "\"unhealthy_after_ms\": 200, \"reconnect_wait_ms\": 50, "
                                   "\"reconnect_max_wait_ms\": 100");
  add_plugin_or_fail (harness, "nats", NATS_PLUGIN, config);
  before = nats_health_reason (harness);
  assert_null (before);

  nats_server_kill (&own, SIGTERM);
  if (!evb_harness_run_until (harness, is_unhealthy, NULL, WAIT_MS, &error))
    fail_msg ("never unhealthy after the server stopped: %s", error->message);
  reason = nats_health_reason (harness);
  prefix = g_strdup_printf ("disconnected from %s for ", own.url);
  if (!g_str_has_prefix (reason, prefix) || !g_str_has_suffix (reason, " s"))
    fail_msg ("expected \"%sN.N s\", got \"%s\"", prefix, reason);
  /* Said no earlier than the threshold. */
  seconds = g_ascii_strtod (reason + strlen (prefix), NULL);
  assert_true (seconds >= 0.2);
  run_until_count_or_fail (harness, "nats.connection", 1);
  assert_string_equal (json_string_value (json_object_get (evb_harness_find (harness, "nats.connection", 0)->data,
                                                           "state")),
                       "disconnected");

  nats_server_start_or_fail (&own);
  if (!evb_harness_run_until (harness, is_healthy, NULL, WAIT_MS, &error))
    fail_msg ("still unhealthy after the server came back: %s", error->message);
  run_until_count_or_fail (harness, "nats.connection", 2);
  assert_string_equal (json_string_value (json_object_get (evb_harness_find (harness, "nats.connection", 1)->data,
                                                           "state")),
                       "connected");
  g_clear_pointer (&harness, evb_harness_free);
  nats_server_stop (&own);
}

/* ---- the import queue (fanout.c) ------------------------------------------ */

/* Publishes @count messages {"n": first..first+count-1} to evbus.burst.x. */
static void
publish_burst (natsConnection *raw, guint first, guint count)
{
  for (guint i = first; i < first + count; i++)
    {
      char payload[32];

      g_snprintf (payload, sizeof payload, "{\"n\": %u}", i);
      assert_int_equal (natsConnection_PublishString (raw, "evbus.burst.x", payload), NATS_OK);
    }
  assert_int_equal (natsConnection_Flush (raw), NATS_OK);
}

/* Waits, without turning the harness's loop, until libnats's delivery
 * thread has handed the plugin @queued + @dropped messages: what happens
 * while the main loop is busy elsewhere. */
static void
wait_import_counts (EvbHarness *harness, gint queued, gint64 dropped)
{
  Nats *nats = evb_harness_get_plugin (harness, "nats")->instance_data;
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

  while (g_atomic_int_get (&nats->import_queued) != queued || NATS_READ (nats, import_dropped) != dropped)
    {
      if (g_get_monotonic_time () > deadline)
        fail_msg ("import queue: %d queued and %" G_GINT64_FORMAT " dropped, expected %d and %" G_GINT64_FORMAT,
                  g_atomic_int_get (&nats->import_queued), NATS_READ (nats, import_dropped), queued, dropped);
      g_usleep (1000);
    }
}

/* The n of every collected burst.x, in dispatch order. */
static GArray *
burst_numbers (EvbHarness *harness)
{
  GArray *numbers = g_array_new (FALSE, FALSE, sizeof (json_int_t));

  for (guint i = 0; i < evb_harness_n_events (harness); i++)
    {
      const EvbEvent *event = evb_harness_event (harness, i);
      json_int_t n;

      if (strcmp (event->type, "burst.x") != 0)
        continue;
      n = json_integer_value (json_object_get (event->data, "n"));
      g_array_append_val (numbers, n);
    }
  return numbers;
}

static void
assert_burst_in_order (EvbHarness *harness, guint count)
{
  g_autoptr (GArray) numbers = burst_numbers (harness);

  assert_int_equal (numbers->len, count);
  for (guint i = 0; i < count; i++)
    if (g_array_index (numbers, json_int_t, i) != (json_int_t) i)
      fail_msg ("burst.x number %u has n %" JSON_INTEGER_FORMAT, i, g_array_index (numbers, json_int_t, i));
}

/* Messages gathered while the main loop was away are emitted in batches,
 * all of them, in the order they were published, and counted. */
static void
test_import_burst (void **state)
{
  g_autoptr (EvbHarness) harness = host_new ("a", "\"import\": [\"burst.>\"]");
  natsConnection *raw = raw_connect (&server);
  g_autoptr (json_t) stats = NULL;

  publish_burst (raw, 0, 3000);
  wait_import_counts (harness, 3000, 0);
  publish_burst (raw, 3000, 2000); /* more while the first are emitted */
  run_until_count_or_fail (harness, "burst.x", 5000);
  assert_burst_in_order (harness, 5000);
  stats = nats_stats (harness, "nats");
  assert_int_equal (stat_of (stats, "import", "imported"), 5000);
  assert_int_equal (stat_of (stats, "import", "import_dropped"), 0);
  assert_int_equal (stat_of (stats, "import", "import_queued"), 0);
  natsConnection_Destroy (raw);
}

/* Past import_queue_limit waiting messages, what comes is dropped and
 * counted; the queued ones still arrive, in order, and later messages
 * are taken again once there is room. */
static void
test_import_queue_limit (void **state)
{
  g_autoptr (EvbHarness) harness = host_new ("a", "\"import\": [\"burst.>\"], \"import_queue_limit\": 100");
  natsConnection *raw = raw_connect (&server);
  g_autoptr (json_t) stats = NULL;
  g_autoptr (GArray) numbers = NULL;

  publish_burst (raw, 0, 300);
  wait_import_counts (harness, 100, 200);
  run_until_count_or_fail (harness, "burst.x", 100);
  assert_burst_in_order (harness, 100);
  publish_burst (raw, 300, 1);
  run_until_count_or_fail (harness, "burst.x", 101);
  numbers = burst_numbers (harness);
  assert_int_equal (g_array_index (numbers, json_int_t, 100), 300);
  stats = nats_stats (harness, "nats");
  assert_int_equal (stat_of (stats, "import", "imported"), 101);
  assert_int_equal (stat_of (stats, "import", "import_dropped"), 200);
  natsConnection_Destroy (raw);
}

/* Messages still queued when the host stops are emitted by stop, so the
 * shutdown's drain dispatches them. */
static void
test_import_queued_at_stop (void **state)
{
  g_autoptr (EvbHarness) harness = host_new ("a", "\"import\": [\"burst.>\"]");
  natsConnection *raw = raw_connect (&server);

  publish_burst (raw, 0, 50);
  wait_import_counts (harness, 50, 0);
  evb_harness_shutdown (harness, 1000);
  assert_burst_in_order (harness, 50);
  natsConnection_Destroy (raw);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_load_errors),
    cmocka_unit_test (test_check_mode),
    cmocka_unit_test (test_import),
    cmocka_unit_test (test_import_burst),
    cmocka_unit_test (test_import_queue_limit),
    cmocka_unit_test (test_import_queued_at_stop),
    cmocka_unit_test (test_publish),
    cmocka_unit_test (test_work_ack_and_dead_letter),
    cmocka_unit_test (test_in_progress),
    cmocka_unit_test (test_submit_reserved_type),
    cmocka_unit_test (test_mismatch),
    cmocka_unit_test (test_unhealthy_while_disconnected),
  };

  nats_server_require ();
  return cmocka_run_group_tests (tests, suite_setup, suite_teardown);
}
