/* The dashboard's cluster view and plugins' own health.
 *
 * Other hosts' status and failure events arrive, through the nats plugin,
 * as cluster.status.<state> and cluster.failure with data._origin.host
 * (docs/plugins/nats.md "Cluster view"); here they are emitted directly,
 * with the data the nats plugin gives them, so no server is needed
 * (tests/plugins/nats/test-nats-cluster.c has the end-to-end case). */
#include "dashboard-test.h"

/* What the nats plugin emits for another host's evbus.status.<state>. */
static void
cluster_status (Dash *dash, const char *host, const char *state, gint64 job)
{
  g_autofree char *type = g_strdup_printf ("cluster.status.%s", state);
  g_autofree char *data = g_strdup_printf (
    "{\"job\": %" G_GINT64_FORMAT ", \"state\": \"%s\", \"event\": {\"id\": %" G_GINT64_FORMAT ", \"type\": "
    "\"db.search\"}, \"route\": {\"id\": 2, \"pattern\": \"db.search\"}, \"handler\": \"db.search\", "
    "\"plugin\": \"db\", \"time_us\": 1, \"queue_wait_us\": null, \"run_time_us\": null, \"error\": null, "
    "\"_origin\": {\"host\": \"%s\", \"id\": 99, \"source\": \"evbus\", \"subject\": \"evbus.evbus.status.%s\"}}",
    job, state, job + 1000, host, state);

  dash_emit (dash, type, data);
}

/* /metrics has the line @line. */
static void
assert_metric (Dash *dash, const char *line)
{
  g_autoptr (Reply) reply = http_get (dash, "/metrics");

  assert_int_equal (reply->status, 200);
  if (strstr (reply->body, line) == NULL)
    fail_msg ("no line %s in /metrics:\n%s", line, reply->body);
}

static json_t *
cluster_jobs (json_t *snapshot)
{
  json_t *jobs = json_object_get (json_object_get (snapshot, "cluster"), "jobs");

  if (!json_is_array (jobs))
    fail_msg ("the snapshot has no cluster.jobs");
  return jobs;
}

/* "host:job:state host:job:state ..." of the snapshot's cluster jobs. */
static char *
cluster_jobs_text (json_t *snapshot)
{
  GString *text = g_string_new (NULL);
  gsize i;
  json_t *job;

  json_array_foreach (cluster_jobs (snapshot), i, job)
    g_string_append_printf (text, "%s%s:%" G_GINT64_FORMAT ":%s", text->len > 0 ? " " : "",
                            json_string_value (json_object_get (job, "host")),
                            (gint64) json_integer_value (json_object_get (job, "job")),
                            json_string_value (json_object_get (job, "state")));
  return g_string_free (text, FALSE);
}

/* Jobs of other hosts: keyed by (host, job) since ids are per host, kept
 * while waiting or executing, dropped on a terminal state; a state that
 * arrives after the end (async publishing may reorder) is ignored. */
static void
test_cluster_jobs (G_GNUC_UNUSED void **state)
{
  Dash *dash = dash_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  g_autoptr (json_t) first = NULL;
  g_autoptr (json_t) second = NULL;
  g_autoptr (json_t) third = NULL;
  g_autofree char *first_text = NULL;
  g_autofree char *second_text = NULL;
  g_autofree char *third_text = NULL;
  json_t *job;

  cluster_status (dash, "A", "waiting", 7);
  cluster_status (dash, "A", "executing", 7);
  cluster_status (dash, "B", "waiting", 7);
  cluster_status (dash, "B", "waiting", 8);
  dash_run_until_idle (dash);
  first = get_snapshot (dash);
  first_text = cluster_jobs_text (first);
  assert_string_equal (first_text, "A:7:executing B:7:waiting B:8:waiting");
  job = json_array_get (cluster_jobs (first), 0);
  assert_string_equal (json_string_value (json_object_get (job, "handler")), "db.search");
  assert_string_equal (json_string_value (json_object_get (job, "plugin")), "db");
  assert_int_equal (json_path_int (job, "event", "id", NULL), 1007);
  assert_string_equal (json_string_value (json_object_get (json_object_get (job, "event"), "type")), "db.search");
  assert_int_equal (strlen (json_string_value (json_object_get (job, "trace_id"))), 32);
  assert_true (json_path_int (job, "age_us", NULL) >= 0);
  assert_int_equal (json_path_int (first, "cluster", "jobs_in_flight", NULL), 3);
  assert_int_equal (json_path_int (first, "cluster", "hosts", "A", "jobs_in_flight", NULL), 1);
  assert_int_equal (json_path_int (first, "cluster", "hosts", "B", "jobs_in_flight", NULL), 2);
  assert_int_equal (json_path_int (first, "cluster", "hosts", "A", "statuses", NULL), 2);
  assert_metric (dash, "evbus_dashboard_cluster_jobs_in_flight{host=\"A\"} 1\n");
  assert_metric (dash, "evbus_dashboard_cluster_jobs_in_flight{host=\"B\"} 2\n");

  cluster_status (dash, "A", "completed", 7);
  cluster_status (dash, "B", "failed", 8);
  dash_run_until_idle (dash);
  second = get_snapshot (dash);
  second_text = cluster_jobs_text (second);
  assert_string_equal (second_text, "B:7:waiting");

  /* A's job 7 is over: its late "executing" changes nothing. */
  cluster_status (dash, "A", "executing", 7);
  cluster_status (dash, "B", "cancelled", 7);
  dash_run_until_idle (dash);
  third = get_snapshot (dash);
  third_text = cluster_jobs_text (third);
  assert_string_equal (third_text, "");
  assert_int_equal (json_path_int (third, "cluster", "late_ignored", NULL), 1);
  assert_int_equal (json_path_int (third, "cluster", "jobs_dropped", NULL), 0);
  dash_stop (dash);
}

/* At most cluster_jobs entries: the oldest goes, counted. */
static void
test_cluster_jobs_bounded (G_GNUC_UNUSED void **state)
{
  Dash *dash = dash_start (NULL, "{\"listen\": \"127.0.0.1:0\", \"cluster_jobs\": 2}");
  g_autoptr (json_t) snapshot = NULL;
  g_autofree char *text = NULL;

  cluster_status (dash, "A", "executing", 1);
  cluster_status (dash, "A", "executing", 2);
  cluster_status (dash, "B", "waiting", 3);
  dash_run_until_idle (dash);
  snapshot = get_snapshot (dash);
  text = cluster_jobs_text (snapshot);
  assert_string_equal (text, "A:2:executing B:3:waiting");
  assert_int_equal (json_path_int (snapshot, "cluster", "jobs_dropped", NULL), 1);
  assert_int_equal (json_path_int (snapshot, "cluster", "max_jobs", NULL), 2);
  dash_stop (dash);
}

/* Other hosts' failures join the list labelled with their host; this
 * host's have "host": null. */
static void
test_cluster_failures (G_GNUC_UNUSED void **state)
{
  Dash *dash = dash_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  g_autoptr (json_t) snapshot = NULL;
  json_t *failures;
  json_t *remote;
  json_t *local;

  dash_add_route (dash, "local.oops", "work.fail", NULL);
  dash_emit (dash, "local.oops", "{\"message\": \"disk full\"}");
  dash_run_until_idle (dash);
  dash_emit (dash, "cluster.failure",
             "{\"origin\": {\"id\": 41, \"type\": \"db.search\"}, \"route\": {\"id\": 2, \"pattern\": \"db.search\"},"
             " \"handler\": \"db.search\", \"plugin\": \"db\", \"error\": {\"domain\": \"sql\", \"code\": 5,"
             " \"message\": \"database is locked\"}, \"thread\": \"worker\", \"job\": 12,"
             " \"_origin\": {\"host\": \"A\", \"id\": 77, \"source\": \"evbus\","
             " \"subject\": \"evbus.evbus.failure\"}}");
  dash_run_until_idle (dash);
  snapshot = get_snapshot (dash);
  failures = json_object_get (json_object_get (snapshot, "dashboard"), "recent_failures");
  assert_int_equal (json_array_size (failures), 2);
  remote = json_array_get (failures, 0);
  local = json_array_get (failures, 1);
  assert_string_equal (json_string_value (json_object_get (remote, "host")), "A");
  assert_string_equal (json_string_value (json_object_get (remote, "handler")), "db.search");
  assert_string_equal (json_string_value (json_object_get (json_object_get (remote, "error"), "message")),
                       "database is locked");
  assert_int_equal (json_path_int (remote, "job", NULL), 12);
  assert_true (json_is_null (json_object_get (local, "host")));
  assert_string_equal (json_string_value (json_object_get (local, "handler")), "work.fail");
  assert_int_equal (json_path_int (snapshot, "cluster", "hosts", "A", "failures", NULL), 1);
  assert_metric (dash, "evbus_dashboard_cluster_failures_total{host=\"A\"} 1\n");
  assert_int_equal (json_path_int (snapshot, "dashboard", "failures_seen", NULL), 2);
  dash_stop (dash);
}

/* Events without _origin.host are no other host's: counted, not shown. */
static void
test_cluster_without_origin (G_GNUC_UNUSED void **state)
{
  Dash *dash = dash_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  g_autoptr (json_t) snapshot = NULL;

  dash_emit (dash, "cluster.status.waiting", "{\"job\": 1, \"state\": \"waiting\"}");
  dash_emit (dash, "cluster.failure", "{\"error\": {\"message\": \"?\"}}");
  dash_run_until_idle (dash);
  snapshot = get_snapshot (dash);
  assert_int_equal (json_array_size (cluster_jobs (snapshot)), 0);
  assert_int_equal (json_path_int (snapshot, "cluster", "bad_events", NULL), 2);
  assert_int_equal (json_array_size (json_object_get (json_object_get (snapshot, "dashboard"), "recent_failures")),
                    0);
  dash_stop (dash);
}

/* cluster_prefix "" turns the view off: no routes, "cluster": null. */
static void
test_cluster_off (G_GNUC_UNUSED void **state)
{
  Dash *dash = dash_start (NULL, "{\"listen\": \"127.0.0.1:0\", \"cluster_prefix\": \"\"}");
  g_autoptr (json_t) snapshot = NULL;

  cluster_status (dash, "A", "waiting", 7);
  dash_run_until_idle (dash);
  snapshot = get_snapshot (dash);
  assert_true (json_is_null (json_object_get (snapshot, "cluster")));
  dash_stop (dash);
}

/* A prefix that is no type, or the host's own, does not load. */
static void
test_cluster_prefix_errors (G_GNUC_UNUSED void **state)
{
  const char *cases[][2] = {
    { "{\"cluster_prefix\": \"a..b\"}",
      "option \"cluster_prefix\": \"a..b\" is not a type prefix: give dotted names such as \"cluster\" (the nats "
      "plugin's host_events_as), or \"\" for no cluster view" },
    { "{\"cluster_prefix\": \"evbus\"}",
      "option \"cluster_prefix\": \"evbus\" names this host's own events; give the nats plugin's host_events_as, "
      "e.g. \"cluster\"" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      EvbHarness *harness = evb_harness_new ();
      g_autofree char *expected = g_strdup_printf ("plugin \"dashboard\" (%s): init failed: %s", DASHBOARD_PLUGIN,
                                                   cases[i][1]);
      json_t *stats;

      assert_false (evb_harness_add_plugin_file (harness, "dashboard", DASHBOARD_PLUGIN, cases[i][0], &error));
      assert_non_null (error);
      assert_string_equal (error->message, expected);
      /* Nothing left behind: no route of the failed instance. */
      stats = evb_harness_stats (harness);
      assert_int_equal (json_array_size (json_object_get (stats, "routes")), 0);
      json_decref (stats);
      evb_harness_free (harness);
    }
}

/* A plugin that says it is unhealthy makes /healthz 503 with one line
 * naming the instance; healthy again, 200. */
static void
test_healthz_plugin_unhealthy (G_GNUC_UNUSED void **state)
{
  Dash *dash = dash_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  g_autoptr (Reply) sick = NULL;
  g_autoptr (Reply) well = NULL;
  g_autoptr (json_t) snapshot = NULL;
  json_t *plugin;
  gsize i;
  gboolean found = FALSE;

  dash_add_route (dash, "work.health", "work.health", NULL);
  dash_emit (dash, "work.health", "{\"reason\": \"disconnected from nats://127.0.0.1:4222 for 5.2 s\"}");
  dash_run_until_idle (dash);
  sick = http_get (dash, "/healthz");
  assert_int_equal (sick->status, 503);
  assert_string_equal (sick->body, "unhealthy\nplugin work: disconnected from nats://127.0.0.1:4222 for 5.2 s\n");

  snapshot = get_snapshot (dash);
  assert_int_equal (json_path_int (snapshot, "dashboard", "health", "unhealthy_plugins", NULL), 1);
  json_array_foreach (json_object_get (snapshot, "plugins"), i, plugin)
    if (g_strcmp0 (json_string_value (json_object_get (plugin, "name")), "work") == 0)
      {
        assert_string_equal (json_string_value (json_object_get (plugin, "unhealthy")),
                             "disconnected from nats://127.0.0.1:4222 for 5.2 s");
        found = TRUE;
      }
  assert_true (found);
  assert_metric (dash, "evbus_plugin_unhealthy{plugin=\"work\"} 1\n");
  assert_metric (dash, "evbus_plugin_unhealthy{plugin=\"dashboard\"} 0\n");

  dash_emit (dash, "work.health", "{\"reason\": null}");
  dash_run_until_idle (dash);
  well = http_get (dash, "/healthz");
  assert_int_equal (well->status, 200);
  assert_string_equal (well->body, "ok\n");
  dash_stop (dash);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_cluster_jobs),
    cmocka_unit_test (test_cluster_jobs_bounded),
    cmocka_unit_test (test_cluster_failures),
    cmocka_unit_test (test_cluster_without_origin),
    cmocka_unit_test (test_cluster_off),
    cmocka_unit_test (test_cluster_prefix_errors),
    cmocka_unit_test (test_healthz_plugin_unhealthy),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
