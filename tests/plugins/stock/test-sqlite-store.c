/* Tests for plugins/sqlite-store: the built module loaded through the
 * harness, its three async handlers answering with exact data, the failure
 * events of a missing item and of bad input, cancellation during the
 * artificial latency, a file database under concurrent handlers (WAL), and
 * init's refusals. */
#include "stock-test.h"

#include <sqlite3.h>

#define ASYNC "{\"mode\": \"async\"}"

static const char *const lamp_results =
  "{\"query\": \"lamp\", \"count\": 3, \"request_id\": \"r1\", \"items\": ["
  "{\"id\": 1, \"name\": \"Desk lamp\", \"price\": 24.99},"
  "{\"id\": 2, \"name\": \"Floor lamp\", \"price\": 59.0},"
  "{\"id\": 3, \"name\": \"Lamp shade\", \"price\": 12.5}]}";

/* A harness with "db" (in memory, seeded) and its handlers routed async
 * from search.request, fetch.request and update.request. */
static EvbHarness *
store_harness (const char *settings_json, const char *config_json)
{
  EvbHarness *harness = harness_new_or_fail (settings_json);

  add_plugin_or_fail (harness, "db", SQLITE_STORE_PLUGIN, config_json);
  add_route_or_fail (harness, "search.request", "db.search", ASYNC);
  add_route_or_fail (harness, "fetch.request", "db.fetch", ASYNC);
  add_route_or_fail (harness, "update.request", "db.update", ASYNC);
  return harness;
}

/* The "error" object of the only evbus.failure, after checking where it came from. */
static json_t *
only_failure_error (EvbHarness *harness, const char *origin_type, const char *handler)
{
  const EvbEvent *failure = find_only (harness, "evbus.failure");

  assert_string_equal (json_string_value (json_object_get (json_object_get (failure->data, "origin"), "type")),
                       origin_type);
  assert_string_equal (json_string_value (json_object_get (failure->data, "handler")), handler);
  assert_string_equal (json_string_value (json_object_get (failure->data, "plugin")), "db");
  assert_string_equal (json_string_value (json_object_get (failure->data, "thread")), "worker");
  return json_object_get (failure->data, "error");
}

/* DESIGN "Threads": async handlers run as jobs on the pool; a seeded
 * in-memory catalog answers a search with exactly the matching items, in id
 * order, with the request_id copied. */
static void
test_search_returns_seeded_items (void **state)
{
  g_autoptr (EvbHarness) harness = store_harness (NULL, NULL);
  g_autofree char *status_trace = NULL;
  const EvbEvent *results;

  emit_or_fail (harness, "search.request", "{\"query\": \"lamp\", \"request_id\": \"r1\"}");
  run_until_idle_or_fail (harness);

  results = find_only (harness, "search.results");
  assert_string_equal (results->source, "db");
  assert_json_equal (results->data, lamp_results);
  status_trace = evb_harness_trace (harness, "evbus.status.*");
  assert_string_equal (status_trace, "evbus.status.waiting evbus.status.executing evbus.status.completed");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
}

/* LIKE is case-insensitive, the query's own % and _ are literal, "limit"
 * caps the items, and no request_id in means none out. */
static void
test_search_matching_rules (void **state)
{
  g_autoptr (EvbHarness) harness = store_harness (NULL, NULL);

  emit_or_fail (harness, "search.request", "{\"query\": \"MOUSE\"}");
  run_until_count_or_fail (harness, "search.results", 1);
  emit_or_fail (harness, "search.request", "{\"query\": \"%\"}");
  run_until_count_or_fail (harness, "search.results", 2);
  emit_or_fail (harness, "search.request", "{\"query\": \"desk\", \"limit\": 1}");
  run_until_count_or_fail (harness, "search.results", 3);
  run_until_idle_or_fail (harness);

  assert_json_equal (evb_harness_find (harness, "search.results", 0)->data,
                     "{\"query\": \"MOUSE\", \"count\": 2, \"items\": ["
                     "{\"id\": 9, \"name\": \"Mouse\", \"price\": 25.0},"
                     "{\"id\": 10, \"name\": \"Mouse pad\", \"price\": 9.5}]}");
  assert_json_equal (evb_harness_find (harness, "search.results", 1)->data,
                     "{\"query\": \"%\", \"count\": 0, \"items\": []}");
  assert_json_equal (evb_harness_find (harness, "search.results", 2)->data,
                     "{\"query\": \"desk\", \"count\": 1, \"items\": ["
                     "{\"id\": 1, \"name\": \"Desk lamp\", \"price\": 24.99}]}");
}

static void
test_fetch_existing_item (void **state)
{
  g_autoptr (EvbHarness) harness = store_harness (NULL, NULL);
  const EvbEvent *result;
  json_t *item;

  emit_or_fail (harness, "fetch.request", "{\"id\": 3, \"request_id\": 17}");
  run_until_idle_or_fail (harness);

  result = find_only (harness, "fetch.result");
  item = json_object_get (result->data, "item");
  /* The seeding time is not known to the test: checked, then set aside. */
  assert_true (json_integer_value (json_object_get (item, "updated_us")) > 0);
  json_object_del (item, "updated_us");
  assert_json_equal (result->data,
                     "{\"id\": 3, \"request_id\": 17,"
                     " \"item\": {\"id\": 3, \"name\": \"Lamp shade\", \"price\": 12.5}}");
}

/* DESIGN "Failure events": a handler that fails produces evbus.failure with
 * the plugin's domain, code and message; nothing else is emitted. */
static void
test_fetch_missing_item_fails (void **state)
{
  g_autoptr (EvbHarness) harness = store_harness (NULL, NULL);
  g_autofree char *status_trace = NULL;

  emit_or_fail (harness, "fetch.request", "{\"id\": 999}");
  run_until_idle_or_fail (harness);

  assert_json_equal (only_failure_error (harness, "fetch.request", "db.fetch"),
                     "{\"domain\": \"sqlite-store\", \"code\": 404, \"message\": \"no item with id 999\"}");
  assert_int_equal (evb_harness_count (harness, "fetch.result"), 0);
  status_trace = evb_harness_trace (harness, "evbus.status.*");
  assert_string_equal (status_trace, "evbus.status.waiting evbus.status.executing evbus.status.failed");
}

/* An update changes what a later fetch reads, and says which fields it set. */
static void
test_update_then_fetch (void **state)
{
  g_autoptr (EvbHarness) harness = store_harness (NULL, NULL);
  const EvbEvent *result;

  emit_or_fail (harness, "update.request", "{\"id\": 2, \"price\": 55.5, \"request_id\": \"u1\"}");
  run_until_count_or_fail (harness, "update.done", 1);
  emit_or_fail (harness, "update.request", "{\"id\": 2, \"name\": \"Tall floor lamp\"}");
  run_until_count_or_fail (harness, "update.done", 2);
  emit_or_fail (harness, "fetch.request", "{\"id\": 2}");
  run_until_idle_or_fail (harness);

  assert_json_equal (evb_harness_find (harness, "update.done", 0)->data,
                     "{\"id\": 2, \"changed\": [\"price\"], \"request_id\": \"u1\"}");
  assert_json_equal (evb_harness_find (harness, "update.done", 1)->data, "{\"id\": 2, \"changed\": [\"name\"]}");
  result = find_only (harness, "fetch.result");
  json_object_del (json_object_get (result->data, "item"), "updated_us");
  assert_json_equal (result->data,
                     "{\"id\": 2, \"item\": {\"id\": 2, \"name\": \"Tall floor lamp\", \"price\": 55.5}}");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
}

/* The "update of a missing id fails with a clear error", on
 * evbus.failure and on the route's on_failure type alike. */
static void
test_update_missing_item_fails (void **state)
{
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  const EvbEvent *on_failure;
  json_t *error;

  add_plugin_or_fail (harness, "db", SQLITE_STORE_PLUGIN, NULL);
  add_route_or_fail (harness, "update.request", "db.update",
                     "{\"mode\": \"async\", \"on_failure\": \"update.failed\"}");
  emit_or_fail (harness, "update.request", "{\"id\": 999, \"price\": 1.0}");
  run_until_idle_or_fail (harness);

  error = only_failure_error (harness, "update.request", "db.update");
  assert_json_equal (error, "{\"domain\": \"sqlite-store\", \"code\": 404,"
                            " \"message\": \"update of item 999 failed: no such item\"}");
  on_failure = find_only (harness, "update.failed");
  assert_true (json_equal (json_object_get (on_failure->data, "error"), error));
  assert_int_equal (evb_harness_count (harness, "update.done"), 0);
}

typedef struct {
  const char *type;
  const char *handler;
  const char *data;
  const char *message;
} BadInput;

/* Bad input fails with code 400 and a message naming the field. */
static void
test_bad_input_names_the_field (void **state)
{
  static const BadInput cases[] = {
    { "search.request", "db.search", "{}", "search: missing \"query\" (a string)" },
    { "search.request", "db.search", "{\"query\": 5}", "search: \"query\" must be a string, got integer" },
    { "search.request", "db.search", "{\"query\": \"a\", \"limit\": 0}",
      "search: \"limit\" must be an integer from 1 to 1000" },
    { "search.request", "db.search", "{\"query\": \"a\", \"limit\": \"2\"}",
      "search: \"limit\" must be an integer from 1 to 1000" },
    { "fetch.request", "db.fetch", "{}", "fetch: missing \"id\" (an integer)" },
    { "fetch.request", "db.fetch", "{\"id\": \"3\"}", "fetch: \"id\" must be an integer, got string" },
    { "update.request", "db.update", "{\"id\": 1.5, \"price\": 2}", "update: \"id\" must be an integer, got number" },
    { "update.request", "db.update", "{\"id\": null}", "update: \"id\" must be an integer, got null" },
    { "update.request", "db.update", "{\"id\": 1, \"name\": 5}", "update: \"name\" must be a string, got integer" },
    { "update.request", "db.update", "{\"id\": 1, \"price\": -1}", "update: \"price\" must be a number >= 0" },
    { "update.request", "db.update", "{\"id\": 1, \"price\": \"cheap\"}", "update: \"price\" must be a number >= 0" },
    { "update.request", "db.update", "{\"id\": 1}", "update: nothing to change (give \"name\" and/or \"price\")" },
  };
  g_autoptr (EvbHarness) harness = store_harness (NULL, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (json_t) expected = json_pack ("{s:s, s:i, s:s}", "domain", "sqlite-store", "code", 400,
                                               "message", cases[i].message);
      g_autofree char *expected_text = json_dumps (expected, JSON_COMPACT);

      evb_harness_clear (harness);
      emit_or_fail (harness, cases[i].type, cases[i].data);
      run_until_idle_or_fail (harness);
      assert_json_equal (only_failure_error (harness, cases[i].type, cases[i].handler), expected_text);
      assert_int_equal (evb_harness_count (harness, "*.results"), 0);
      assert_int_equal (evb_harness_count (harness, "*.result"), 0);
      assert_int_equal (evb_harness_count (harness, "*.done"), 0);
    }
}

/* The artificial latency is waited in slices that watch for cancellation:
 * a 60 s latency on a route with a 50 ms timeout ends as a cancelled job
 * long before the minute. */
static void
test_latency_wait_honours_cancellation (void **state)
{
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  gint64 started = g_get_monotonic_time ();
  const EvbEvent *failure;

  add_plugin_or_fail (harness, "db", SQLITE_STORE_PLUGIN, "{\"latency_ms\": 60000}");
  add_route_or_fail (harness, "search.request", "db.search", "{\"mode\": \"async\", \"timeout_ms\": 50}");
  emit_or_fail (harness, "search.request", "{\"query\": \"lamp\"}");
  run_until_count_or_fail (harness, "evbus.status.cancelled", 1);
  run_until_idle_or_fail (harness);

  assert_true (g_get_monotonic_time () - started < WAIT_MS * 1000);
  failure = find_only (harness, "evbus.failure");
  assert_string_equal (json_string_value (json_object_get (json_object_get (failure->data, "error"), "message")),
                       "handler exceeded its timeout of 50 ms");
  assert_int_equal (evb_harness_count (harness, "search.results"), 0);
}

/* Shutdown cancels a job asleep in its latency, and does not wait it out. */
static void
test_shutdown_interrupts_latency (void **state)
{
  g_autoptr (EvbHarness) harness = store_harness (NULL, "{\"latency_ms\": 60000}");
  g_autofree char *status_trace = NULL;
  gint64 started;

  emit_or_fail (harness, "fetch.request", "{\"id\": 1}");
  run_until_count_or_fail (harness, "evbus.status.executing", 1);
  started = g_get_monotonic_time ();
  evb_harness_shutdown (harness, 200);

  assert_true (g_get_monotonic_time () - started < 10 * G_USEC_PER_SEC);
  status_trace = evb_harness_trace (harness, "evbus.status.*");
  assert_string_equal (status_trace,
                       "evbus.status.waiting evbus.status.executing evbus.status.cancelling evbus.status.cancelled");
  assert_int_equal (evb_harness_count (harness, "fetch.result"), 0);
}

static char *
query_text (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  char *text;

  assert_int_equal (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), SQLITE_OK);
  assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
  text = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  return text;
}

/* A file database in WAL mode serves many concurrent handlers on four
 * workers with every answer right; a second instance on the same file does
 * not seed it again. */
static void
test_file_database_under_concurrency (void **state)
{
  enum { N = 20 };
  char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "catalog.sqlite", NULL);
  g_autofree char *config = g_strdup_printf ("{\"path\": \"%s\", \"latency_ms\": 2}", path);
  sqlite3 *db = NULL;

  {
    g_autoptr (EvbHarness) harness = store_harness ("{\"workers\": 4}", config);

    for (int id = 1; id <= N; id++)
      {
        g_autofree char *update = g_strdup_printf ("{\"id\": %d, \"price\": %d.25}", id, 100 + id);

        emit_or_fail (harness, "update.request", update);
        emit_or_fail (harness, "search.request", "{\"query\": \"e\"}");
      }
    run_until_idle_or_fail (harness);

    assert_int_equal (evb_harness_count (harness, "update.done"), N);
    assert_int_equal (evb_harness_count (harness, "search.results"), N);
    assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
    for (guint i = 0; i < N; i++)
      {
        const EvbEvent *done = evb_harness_find (harness, "update.done", i);

        assert_json_equal (json_object_get (done->data, "changed"), "[\"price\"]");
      }
  }

  {
    /* Reopened with seed on: still the 20 updated items, not 40. */
    g_autoptr (EvbHarness) harness = store_harness (NULL, config);

    emit_or_fail (harness, "search.request", "{\"query\": \"\", \"limit\": 1000}");
    run_until_idle_or_fail (harness);
    assert_int_equal (json_integer_value (json_object_get (find_only (harness, "search.results")->data, "count")), N);
  }

  assert_int_equal (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  {
    g_autofree char *mode = query_text (db, "PRAGMA journal_mode");
    g_autofree char *total = query_text (db, "SELECT sum(price) FROM items");

    assert_string_equal (mode, "wal");
    /* sum(100 + id + 0.25) for id 1..20 */
    assert_string_equal (total, "2215.0");
  }
  sqlite3_close (db);
  temp_dir_free (dir);
}

/* seed: false leaves an empty (but existing) table. */
static void
test_no_seed_means_empty_catalog (void **state)
{
  g_autoptr (EvbHarness) harness = store_harness (NULL, "{\"seed\": false}");

  emit_or_fail (harness, "search.request", "{\"query\": \"lamp\"}");
  run_until_idle_or_fail (harness);
  assert_json_equal (find_only (harness, "search.results")->data, "{\"query\": \"lamp\", \"count\": 0, \"items\": []}");
}

/* DESIGN "Lifecycle": bad options are refused, by the host from the
 * option table (latency_ms's range) or by init with the plugin's reason. */
static void
test_init_refusals (void **state)
{
  const char *so = SQLITE_STORE_PLUGIN;
  g_autofree char *negative = load_error (so, "{\"latency_ms\": -1}");
  g_autofree char *too_slow = load_error (so, "{\"latency_ms\": 600001}");
  g_autofree char *empty_path = load_error (so, "{\"path\": \"\"}");
  g_autofree char *no_folder = load_error (so, "{\"path\": \"/nonexistent-evbus-dir/x.sqlite\"}");
  g_autofree char *unknown = load_error (so, "{\"latency\": 5}");
  g_autofree char *expected = NULL;

  expected = g_strdup_printf ("plugin \"p\" (%s): option \"latency_ms\": expected at least 0, got -1", so);
  assert_string_equal (negative, expected);
  g_free (expected);
  expected = g_strdup_printf ("plugin \"p\" (%s): option \"latency_ms\": expected at most 600000, got 600001", so);
  assert_string_equal (too_slow, expected);
  g_free (expected);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: path must name a database file (or \":memory:\" for a "
                              "private one)", so);
  assert_string_equal (empty_path, expected);
  g_free (expected);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: cannot open database "
                              "\"/nonexistent-evbus-dir/x.sqlite\": unable to open database file", so);
  assert_string_equal (no_folder, expected);
  g_free (expected);
  expected = g_strdup_printf ("plugin \"p\" (%s): option \"latency\": unknown option (plugin \"sqlite-store\" takes: "
                              "path, latency_ms, seed)", so);
  assert_string_equal (unknown, expected);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_search_returns_seeded_items),
    cmocka_unit_test (test_search_matching_rules),
    cmocka_unit_test (test_fetch_existing_item),
    cmocka_unit_test (test_fetch_missing_item_fails),
    cmocka_unit_test (test_update_then_fetch),
    cmocka_unit_test (test_update_missing_item_fails),
    cmocka_unit_test (test_bad_input_names_the_field),
    cmocka_unit_test (test_latency_wait_honours_cancellation),
    cmocka_unit_test (test_shutdown_interrupts_latency),
    cmocka_unit_test (test_file_database_under_concurrency),
    cmocka_unit_test (test_no_seed_means_empty_catalog),
    cmocka_unit_test (test_init_refusals),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
