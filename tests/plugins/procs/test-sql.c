/* Tests for plugins/sql: named statements bound from event fields (quotes,
 * NULLs, objects; never pasted), rows as one event, one per row or the
 * first, DML results, "if_empty", bad input, SQLite's own errors,
 * migrations applied once in one transaction and recorded, WAL, a locked
 * database retried then failed with SQLite's message, the cancellable
 * latency, every load error, and the seed's catalog written as config
 * (config/catalog-sql.json) answering as sqlite-store does. */
#include "stock-test.h"

#include <sqlite3.h>

/* A table and two rows, for most tests. */
#define PEOPLE_MIGRATIONS                                                                                   \
  "\"migrations\": [\"CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, note TEXT, tags TEXT)\", "  \
  "\"INSERT INTO people (name, note) VALUES ('Ann', 'first'), ('Bob', NULL)\"]"

/* A harness with sql as "db" on @config_json, and one async route per
 * statement in @statements (NULL-terminated): "<name>.request" runs it. */
static EvbHarness *
sql_harness (const char *config_json, const char *const *statements)
{
  EvbHarness *harness = harness_new_or_fail (NULL);

  add_plugin_or_fail (harness, "db", SQL_PLUGIN, config_json);
  for (guint i = 0; statements != NULL && statements[i] != NULL; i++)
    {
      g_autofree char *pattern = g_strdup_printf ("%s.request", statements[i]);
      g_autofree char *options = g_strdup_printf ("{\"mode\": \"async\", \"params\": {\"statement\": \"%s\"}}",
                                                  statements[i]);

      add_route_or_fail (harness, pattern, "db.run", options);
    }
  return harness;
}

static const EvbEvent *
only_failure (EvbHarness *harness, gint64 code)
{
  const EvbEvent *failure = find_only (harness, "evbus.failure");
  json_t *error = json_object_get (failure->data, "error");

  assert_string_equal (json_string_value (json_object_get (failure->data, "handler")), "db.run");
  assert_string_equal (json_string_value (json_object_get (error, "domain")), "sql");
  assert_int_equal (json_integer_value (json_object_get (error, "code")), code);
  return failure;
}

static const char *
failure_message (const EvbEvent *failure)
{
  return json_string_value (json_object_get (json_object_get (failure->data, "error"), "message"));
}

/* Migrations make the schema; a SELECT's rows come as one event. */
static void
test_rows_as_one_event (void **state)
{
  g_autoptr (EvbHarness) harness = sql_harness (
    "{\"path\": \":memory:\", " PEOPLE_MIGRATIONS ", \"statements\": {\"list\": {\"sql\": "
    "\"SELECT id, name, note FROM people ORDER BY id\", \"emit\": \"people.listed\"}}}",
    (const char *const[]) { "list", NULL });

  emit_or_fail (harness, "list.request", NULL);
  run_until_idle_or_fail (harness);
  assert_json_equal (find_only (harness, "people.listed")->data,
                     "{\"count\": 2, \"rows\": [{\"id\": 1, \"name\": \"Ann\", \"note\": \"first\"},"
                     " {\"id\": 2, \"name\": \"Bob\", \"note\": null}]}");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
}

/* The case: values with quotes and SQL in them, JSON nulls and
 * missing optional fields are bound, never pasted; objects go in as JSON
 * text; the row reads back exactly. */
static void
test_params_quotes_and_nulls (void **state)
{
  g_autoptr (EvbHarness) harness = sql_harness (
    "{\"path\": \":memory:\", " PEOPLE_MIGRATIONS ", \"statements\": {"
    "\"add\": {\"sql\": \"INSERT INTO people (name, note, tags) VALUES (:name, :note, :tags) RETURNING id\", "
    "\"optional\": [\"tags\"], \"emit\": \"people.added\", \"rows\": \"first\", \"rows_key\": \"person\"},"
    "\"get\": {\"sql\": \"SELECT name, note, tags, json_extract(tags, '$.k') AS k, typeof(note) AS t FROM people "
    "WHERE id = :id\", \"rows\": \"each\", \"emit\": \"people.got\"}}}",
    (const char *const[]) { "add", "get", NULL });
  const char *evil = "O'Brien \\\"the\\\" '); DROP TABLE people; --";

  {
    g_autofree char *data = g_strdup_printf ("{\"name\": \"%s\", \"note\": null, \"tags\": {\"k\": [1, \"x\"]}}", evil);

    /* One at a time: the ids and the order of the answers are then known. */
    emit_or_fail (harness, "add.request", data);
    run_until_idle_or_fail (harness);
    emit_or_fail (harness, "add.request", "{\"name\": \"\", \"note\": \"n\"}");
    run_until_idle_or_fail (harness);
  }
  assert_json_equal (evb_harness_find (harness, "people.added", 0)->data, "{\"person\": {\"id\": 3}}");
  assert_json_equal (evb_harness_find (harness, "people.added", 1)->data, "{\"person\": {\"id\": 4}}");
  emit_or_fail (harness, "get.request", "{\"id\": 3}");
  run_until_idle_or_fail (harness);
  emit_or_fail (harness, "get.request", "{\"id\": 4}");
  run_until_idle_or_fail (harness);
  emit_or_fail (harness, "get.request", "{\"id\": 1}");
  run_until_idle_or_fail (harness);
  {
    g_autofree char *expected = g_strdup_printf ("{\"name\": \"%s\", \"note\": null, \"tags\": "
                                                 "\"{\\\"k\\\":[1,\\\"x\\\"]}\", \"k\": \"[1,\\\"x\\\"]\", "
                                                 "\"t\": \"null\"}", evil);

    assert_json_equal (evb_harness_find (harness, "people.got", 0)->data, expected);
  }
  assert_json_equal (evb_harness_find (harness, "people.got", 1)->data,
                     "{\"name\": \"\", \"note\": \"n\", \"tags\": null, \"k\": null, \"t\": \"text\"}");
  /* The table is still there: the DROP was a name, not SQL. */
  assert_json_equal (evb_harness_find (harness, "people.got", 2)->data,
                     "{\"name\": \"Ann\", \"note\": \"first\", \"tags\": null, \"k\": null, \"t\": \"text\"}");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
}

/* Booleans bind as 1/0, reals as reals, event fields by "bind". */
static void
test_bind_kinds_and_event_fields (void **state)
{
  g_autoptr (EvbHarness) harness = sql_harness (
    "{\"path\": \":memory:\", \"statements\": {\"echo\": {\"sql\": \"SELECT :flag AS flag, :real AS real, "
    ":type AS type, :source AS source, :deep AS deep\", \"bind\": {\"type\": \"type\", \":source\": \"source\", "
    "\"deep\": \"data.a.b\"}, \"rows\": \"first\", \"emit\": \"echo.done\"}}}",
    (const char *const[]) { "echo", NULL });

  emit_or_fail (harness, "echo.request", "{\"flag\": true, \"real\": 2.5, \"a\": {\"b\": \"deep value\"}}");
  run_until_idle_or_fail (harness);
  assert_json_equal (find_only (harness, "echo.done")->data,
                     "{\"rows\": {\"flag\": 1, \"real\": 2.5, \"type\": \"echo.request\", \"source\": \"harness\","
                     " \"deep\": \"deep value\"}}");
}

/* One event per row, with the origin's "copy" fields; "first" of nothing
 * is null; "if_empty": "fail" is a 404. */
static void
test_each_first_and_if_empty (void **state)
{
  g_autoptr (EvbHarness) harness = sql_harness (
    "{\"path\": \":memory:\", " PEOPLE_MIGRATIONS ", \"statements\": {"
    "\"each\": {\"sql\": \"SELECT id, name FROM people ORDER BY id\", \"rows\": \"each\", \"emit\": \"person.row\","
    " \"copy\": [\"request_id\", \"name\", \"absent\"]},"
    "\"first\": {\"sql\": \"SELECT name FROM people WHERE id = :id\", \"rows\": \"first\", \"rows_key\": \"person\","
    " \"emit\": \"person.first\", \"copy\": [\"id\"]},"
    "\"must\": {\"sql\": \"SELECT name FROM people WHERE id = :id\", \"if_empty\": \"fail\", \"emit\": \"x.y\"}}}",
    (const char *const[]) { "each", "first", "must", NULL });
  const EvbEvent *failure;

  emit_or_fail (harness, "each.request", "{\"request_id\": \"r9\", \"name\": \"not the row's\"}");
  emit_or_fail (harness, "first.request", "{\"id\": 99}");
  emit_or_fail (harness, "must.request", "{\"id\": 99}");
  run_until_idle_or_fail (harness);

  assert_int_equal (evb_harness_count (harness, "person.row"), 2);
  /* The row's own columns win over copied fields. */
  assert_json_equal (evb_harness_find (harness, "person.row", 0)->data,
                     "{\"id\": 1, \"name\": \"Ann\", \"request_id\": \"r9\"}");
  assert_json_equal (evb_harness_find (harness, "person.row", 1)->data,
                     "{\"id\": 2, \"name\": \"Bob\", \"request_id\": \"r9\"}");
  assert_json_equal (find_only (harness, "person.first")->data, "{\"person\": null, \"id\": 99}");
  failure = only_failure (harness, 404);
  assert_string_equal (failure_message (failure), "statement \"must\": no row");
  assert_int_equal (evb_harness_count (harness, "x.y"), 0);
}

/* A statement without result columns says how many rows it changed; none
 * changed with "if_empty": "fail" is a 404. */
static void
test_dml_changes (void **state)
{
  g_autoptr (EvbHarness) harness = sql_harness (
    "{\"path\": \":memory:\", " PEOPLE_MIGRATIONS ", \"statements\": {"
    "\"rename\": {\"sql\": \"UPDATE people SET name = :name WHERE id = :id\", \"emit\": \"person.renamed\","
    " \"if_empty\": \"fail\", \"copy\": [\"id\"]},"
    "\"wipe\": {\"sql\": \"DELETE FROM people\", \"emit\": \"people.wiped\"}}}",
    (const char *const[]) { "rename", "wipe", NULL });
  const EvbEvent *failure;

  emit_or_fail (harness, "rename.request", "{\"id\": 2, \"name\": \"Rob\"}");
  run_until_idle_or_fail (harness);
  emit_or_fail (harness, "rename.request", "{\"id\": 7, \"name\": \"Nobody\"}");
  run_until_idle_or_fail (harness);
  emit_or_fail (harness, "wipe.request", NULL);
  run_until_idle_or_fail (harness);

  assert_json_equal (find_only (harness, "person.renamed")->data, "{\"changes\": 1, \"id\": 2}");
  failure = only_failure (harness, 404);
  assert_string_equal (failure_message (failure), "statement \"rename\": changed no row");
  assert_json_equal (find_only (harness, "people.wiped")->data, "{\"changes\": 2}");
}

/* Missing and mistyped fields fail before the database is touched; so do
 * routes that name no statement or an unknown one. */
static void
test_bad_input_and_routes (void **state)
{
  g_autoptr (EvbHarness) harness = sql_harness (
    "{\"path\": \":memory:\", " PEOPLE_MIGRATIONS ", \"statements\": {"
    "\"get\": {\"sql\": \"SELECT name FROM people WHERE id = :id\", \"types\": {\"id\": \"integer\"}, "
    "\"emit\": \"x.y\"}}}",
    (const char *const[]) { "get", NULL });
  const char *expected[] = {
    "statement \"get\": missing data.id (for :id)",
    "statement \"get\": data.id must be an integer, got a string",
    "the route names no statement: give it \"params\": {\"statement\": NAME} (statements: get)",
    "no statement \"nope\" (statements: get)",
  };
  g_autoptr (GError) error = NULL;

  evb_harness_add_route (harness, "bare.request", "db.run", "{\"mode\": \"async\"}", &error);
  assert_no_error (error);
  evb_harness_add_route (harness, "nope.request", "db.run", "{\"mode\": \"async\", \"params\": {\"statement\": "
                         "\"nope\"}}", &error);
  assert_no_error (error);
  emit_or_fail (harness, "get.request", "{\"other\": 1}");
  run_until_idle_or_fail (harness);
  emit_or_fail (harness, "get.request", "{\"id\": \"1\"}");
  run_until_idle_or_fail (harness);
  emit_or_fail (harness, "bare.request", NULL);
  run_until_idle_or_fail (harness);
  emit_or_fail (harness, "nope.request", NULL);
  run_until_idle_or_fail (harness);

  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 4);
  for (guint i = 0; i < 4; i++)
    {
      json_t *error_json = json_object_get (evb_harness_find (harness, "evbus.failure", i)->data, "error");

      assert_int_equal (json_integer_value (json_object_get (error_json, "code")), 400);
      assert_string_equal (json_string_value (json_object_get (error_json, "message")), expected[i]);
    }
}

/* A constraint SQLite enforces fails the call with SQLite's message. */
static void
test_sqlite_error_message (void **state)
{
  g_autoptr (EvbHarness) harness = sql_harness (
    "{\"path\": \":memory:\", " PEOPLE_MIGRATIONS ", \"statements\": {"
    "\"add\": {\"sql\": \"INSERT INTO people (id, name) VALUES (:id, :name)\"}}}",
    (const char *const[]) { "add", NULL });

  emit_or_fail (harness, "add.request", "{\"id\": 1, \"name\": \"again\"}");
  run_until_idle_or_fail (harness);
  assert_string_equal (failure_message (only_failure (harness, 500)),
                       "statement \"add\": UNIQUE constraint failed: people.id");
}

static gint64
user_version (const char *path)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 version = -1;

  assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
  if (sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
    version = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return version;
}

static char *
query_text (const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *text = NULL;

  assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
    text = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return text;
}

static char *
file_config (const char *path, const char *migrations)
{
  return g_strdup_printf ("{\"path\": \"%s\", \"migrations\": [%s], \"statements\": {\"n\": {\"sql\": "
                          "\"SELECT 1\"}}}", path, migrations);
}

/* Migrations run once each, in one transaction, counted in user_version;
 * a failing one leaves the database as it was; fewer migrations than the
 * database has seen is refused. */
static void
test_migrations_recorded (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "m.db", NULL);
  /* Not re-runnable: applying one twice would fail. */
  const char *two = "\"CREATE TABLE a (x)\", \"CREATE TABLE b (y)\"";
  const char *three = "\"CREATE TABLE a (x)\", \"CREATE TABLE b (y)\", \"INSERT INTO a VALUES (1); INSERT INTO a "
                      "VALUES (2)\"";
  const char *broken = "\"CREATE TABLE a (x)\", \"CREATE TABLE b (y)\", \"INSERT INTO a VALUES (1); INSERT INTO a "
                       "VALUES (2)\", \"CREATE TABLE c (z)\", \"INSERT INTO nowhere VALUES (1)\"";
  g_autofree char *config_two = file_config (path, two);
  g_autofree char *config_three = file_config (path, three);
  g_autofree char *config_broken = file_config (path, broken);
  g_autofree char *config_one = file_config (path, "\"CREATE TABLE a (x)\"");
  g_autofree char *broken_error = NULL;
  g_autofree char *fewer_error = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *rows = NULL;
  g_autofree char *table_c = NULL;
  g_autofree char *mode = NULL;

  evb_harness_free (sql_harness (config_two, NULL));
  assert_int_equal (user_version (path), 2);
  evb_harness_free (sql_harness (config_three, NULL));
  assert_int_equal (user_version (path), 3);
  rows = query_text (path, "SELECT group_concat(x) FROM a");
  assert_string_equal (rows, "1,2");

  broken_error = load_error (SQL_PLUGIN, config_broken);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: (nothing applied, still at version 3) "
                              "migrations[4]: no such table: nowhere", SQL_PLUGIN);
  assert_string_equal (broken_error, expected);
  assert_int_equal (user_version (path), 3);
  table_c = query_text (path, "SELECT count(*) FROM sqlite_schema WHERE name = 'c'");
  assert_string_equal (table_c, "0");

  fewer_error = load_error (SQL_PLUGIN, config_one);
  g_free (expected);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: migrations: the database is at version 3 (PRAGMA "
                              "user_version) but only 1 migrations are listed: keep every migration ever applied, "
                              "in order", SQL_PLUGIN);
  assert_string_equal (fewer_error, expected);

  mode = query_text (path, "PRAGMA journal_mode");
  assert_string_equal (mode, "wal");
  temp_dir_free (dir);
}

/* A database another connection holds locked: retried for busy_timeout_ms,
 * then failed with SQLite's message; a lock released meanwhile is waited
 * for. */
typedef struct {
  sqlite3 *db;
  gboolean released;
} Locker;

static gboolean
release_when_executing (EvbHarness *harness, gpointer data)
{
  Locker *locker = data;

  if (!locker->released && evb_harness_count (harness, "evbus.status.executing") > 0)
    {
      assert_int_equal (sqlite3_exec (locker->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
      locker->released = TRUE;
    }
  return evb_harness_count (harness, "evbus.status.completed") + evb_harness_count (harness, "evbus.status.failed")
         > 0;
}

static void
test_busy_database (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "busy.db", NULL);
  g_autofree char *config = g_strdup_printf ("{\"path\": \"%s\", \"busy_timeout_ms\": 100, \"migrations\": "
                                             "[\"CREATE TABLE t (x)\"], \"statements\": {\"add\": {\"sql\": "
                                             "\"INSERT INTO t VALUES (:x)\", \"emit\": \"t.added\"}}}", path);
  g_autofree char *patient = g_strdup_printf ("{\"path\": \"%s\", \"busy_timeout_ms\": 20000, \"migrations\": "
                                              "[\"CREATE TABLE t (x)\"], \"statements\": "
                                              "{\"add\": {\"sql\": \"INSERT INTO t VALUES (:x)\", \"emit\": "
                                              "\"t.added\"}}}", path);
  g_autoptr (GError) error = NULL;
  Locker locker = { 0 };

  {
    g_autoptr (EvbHarness) harness = sql_harness (config, (const char *const[]) { "add", NULL });

    assert_int_equal (sqlite3_open (path, &locker.db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (locker.db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    emit_or_fail (harness, "add.request", "{\"x\": 1}");
    run_until_idle_or_fail (harness);
    assert_string_equal (failure_message (only_failure (harness, 503)),
                         "statement \"add\": database is locked (still busy after 100 ms, busy_timeout_ms)");
  }
  {
    g_autoptr (EvbHarness) harness = sql_harness (patient, (const char *const[]) { "add", NULL });

    emit_or_fail (harness, "add.request", "{\"x\": 2}");
    assert_true (evb_harness_run_until (harness, release_when_executing, &locker, WAIT_MS, &error));
    assert_no_error (error);
    run_until_idle_or_fail (harness);
    assert_json_equal (find_only (harness, "t.added")->data, "{\"changes\": 1}");
  }
  sqlite3_close (locker.db);
  temp_dir_free (dir);
}

/* latency_ms waits on the job's cancellation: a 60 s latency on a route
 * with a 50 ms timeout ends long before the minute, with no result. */
static void
test_latency_is_cancellable (void **state)
{
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  gint64 started = g_get_monotonic_time ();

  add_plugin_or_fail (harness, "db", SQL_PLUGIN, "{\"path\": \":memory:\", \"latency_ms\": 60000, \"statements\": "
                      "{\"one\": {\"sql\": \"SELECT 1 AS one\", \"emit\": \"one.done\"}}}");
  add_route_or_fail (harness, "one.request", "db.run", "{\"mode\": \"async\", \"timeout_ms\": 50, \"params\": "
                     "{\"statement\": \"one\"}}");
  emit_or_fail (harness, "one.request", NULL);
  run_until_count_or_fail (harness, "evbus.status.cancelled", 1);
  run_until_idle_or_fail (harness);
  assert_true (g_get_monotonic_time () - started < 10 * G_USEC_PER_SEC);
  assert_int_equal (evb_harness_count (harness, "one.done"), 0);
}

static void
assert_load_error (const char *config_json, const char *expected_reason)
{
  g_autofree char *message = load_error (SQL_PLUGIN, config_json);
  g_autofree char *expected = g_strdup_printf ("plugin \"p\" (%s): %s", SQL_PLUGIN, expected_reason);

  assert_string_equal (message, expected);
}

#define MEM "\"path\": \":memory:\", "

static void
test_load_errors (void **state)
{
  assert_load_error ("{\"statements\": {\"a\": {\"sql\": \"SELECT 1\"}}}",
                     "option \"path\": required option missing (path: SQLite database file, relative to the config "
                     "file's folder, created when missing; a last component \":memory:\" is a private in-memory "
                     "database)");
  assert_load_error ("{\"path\": \"-\", \"statements\": {\"a\": {\"sql\": \"SELECT 1\"}}}",
                     "init failed: path: expected a database file (or \":memory:\"), got \"-\"");
  assert_load_error ("{\"path\": \"/nonexistent-dir/x.db\", \"statements\": {\"a\": {\"sql\": \"SELECT 1\"}}}",
                     "init failed: path: cannot open database \"/nonexistent-dir/x.db\": unable to open database "
                     "file");
  assert_load_error ("{" MEM "\"statements\": {}}",
                     "init failed: statements: expected at least one, e.g. {\"fetch\": {\"sql\": \"SELECT * FROM "
                     "items WHERE id = :id\", \"emit\": \"item.found\"}}");
  assert_load_error ("{" MEM "\"statements\": {\"Bad Name\": {\"sql\": \"SELECT 1\"}}}",
                     "init failed: statements: \"Bad Name\" is not a statement name (a-z 0-9 _ -)");
  assert_load_error ("{" MEM "\"statements\": {\"a\": \"SELECT 1\"}}",
                     "init failed: statements.a: expected an object {\"sql\": ...}, got a string");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT 1\", \"emits\": \"x\"}}}",
                     "init failed: statements.a: unknown key \"emits\" (keys: sql, emit, rows, rows_key, if_empty, "
                     "copy, bind, optional, types)");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {}}}", "init failed: statements.a.sql: expected SQL text, got "
                     "nothing");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": 5}}}",
                     "init failed: statements.a.sql: expected SQL text, got an integer");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELEC 1\"}}}",
                     "init failed: statements.a.sql: near \"SELEC\": syntax error");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT * FROM nowhere\"}}}",
                     "init failed: statements.a.sql: no such table: nowhere");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"  \"}}}",
                     "init failed: statements.a.sql: holds no statement");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT 1; SELECT 2\"}}}",
                     "init failed: statements.a.sql: holds more than one statement (the rest begins \"SELECT 2\"): "
                     "one per entry");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT ?\"}}}",
                     "init failed: statements.a.sql: parameter 1 has no name: write :name (bound from data.name), "
                     "never ? or ?NNN");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT :x\", \"bind\": {\"y\": \"data.y\"}}}}",
                     "init failed: statements.a.bind.y: the statement has no parameter :y (parameters: :x)");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT :x\", \"bind\": {\"x\": \"y\"}}}}",
                     "init failed: statements.a.bind.x: expected \"data.FIELD\" (dotted), \"type\", \"id\", "
                     "\"source\" or \"time_us\", got \"y\"");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT :x\", \"bind\": [1]}}}",
                     "init failed: statements.a.bind: expected an object, got an array");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT :x\", \"optional\": [\"z\"]}}}",
                     "init failed: statements.a.optional[0]: not a parameter of the statement (parameters: :x)");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT :x\", \"optional\": \"x\"}}}",
                     "init failed: statements.a.optional: expected an array of parameter names, got a string");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT :x\", \"types\": {\"x\": \"int\"}}}}",
                     "init failed: statements.a.types.x: expected one of \"any\", \"string\", \"integer\", "
                     "\"number\", \"boolean\"");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT :x\", \"types\": {\"q\": \"string\"}}}}",
                     "init failed: statements.a.types.q: the statement has no such parameter (parameters: :x)");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT 1\", \"emit\": \"evbus.x\"}}}",
                     "init failed: statements.a.emit: expected an event type (dotted segments of [a-z0-9_-], not "
                     "under \"evbus.\")");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT 1\", \"rows\": \"all\"}}}",
                     "init failed: statements.a.rows: expected one of \"array\", \"each\", \"first\"");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT 1\", \"rows_key\": \"\"}}}",
                     "init failed: statements.a.rows_key: expected a field name");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT 1\", \"if_empty\": \"skip\"}}}",
                     "init failed: statements.a.if_empty: expected one of \"emit\", \"fail\"");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT 1\", \"copy\": [\"\"]}}}",
                     "init failed: statements.a.copy[0]: expected a field name, got \"\"");
  assert_load_error ("{" MEM "\"statements\": {\"a\": {\"sql\": \"SELECT 1\", \"copy\": {}}}}",
                     "init failed: statements.a.copy: expected an array of data field names, got an object");
  assert_load_error ("{" MEM "\"migrations\": [\"CREATE TABL x\"], \"statements\": {\"a\": {\"sql\": \"SELECT 1\"}}}",
                     "init failed: (nothing applied, still at version 0) migrations[0]: near \"TABL\": syntax error");
  assert_load_error ("{" MEM "\"migrations\": [{}], \"statements\": {\"a\": {\"sql\": \"SELECT 1\"}}}",
                     "init failed: migrations[0]: expected SQL text, got an object");
  assert_load_error ("{" MEM "\"busy_timeout_ms\": -1, \"statements\": {\"a\": {\"sql\": \"SELECT 1\"}}}",
                     "option \"busy_timeout_ms\": expected at least 0, got -1");
  assert_load_error ("{" MEM "\"latency_ms\": 600001, \"statements\": {\"a\": {\"sql\": \"SELECT 1\"}}}",
                     "option \"latency_ms\": expected at most 600000, got 600001");
  assert_load_error ("{" MEM "\"pool_size\": 0, \"statements\": {\"a\": {\"sql\": \"SELECT 1\"}}}",
                     "option \"pool_size\": expected at least 1, got 0");
}

/* ---- the seed's catalog as config (config/catalog-sql.json) -------------- */

/* Loads the "db" instance of catalog-sql.json into @harness as @instance,
 * in memory, with the file's routes to it. */
static void
add_catalog (EvbHarness *harness)
{
  g_autofree char *text = read_file_or_fail (CATALOG_SQL_CONFIG);
  g_autoptr (json_t) config = parse_json (text);
  json_t *plugin;
  json_t *route;
  size_t index;

  json_array_foreach (json_object_get (config, "plugins"), index, plugin)
    if (g_strcmp0 (json_string_value (json_object_get (plugin, "name")), "db") == 0)
      {
        g_autoptr (json_t) plugin_config = json_deep_copy (json_object_get (plugin, "config"));
        g_autofree char *plugin_text = NULL;

        json_object_set_new (plugin_config, "path", json_string (":memory:"));
        json_object_set_new (plugin_config, "latency_ms", json_integer (0));
        plugin_text = json_dumps (plugin_config, JSON_COMPACT);
        add_plugin_or_fail (harness, "db", SQL_PLUGIN, plugin_text);
      }
  json_array_foreach (json_object_get (config, "routes"), index, route)
    if (g_strcmp0 (json_string_value (json_object_get (route, "handler")), "db.run") == 0)
      {
        g_autoptr (json_t) options = json_deep_copy (route);
        g_autofree char *options_text = NULL;

        json_object_del (options, "on");
        json_object_del (options, "handler");
        options_text = json_dumps (options, JSON_COMPACT);
        add_route_or_fail (harness, json_string_value (json_object_get (route, "on")), "db.run", options_text);
      }
}

static void
add_store (EvbHarness *harness)
{
  add_plugin_or_fail (harness, "db", SQLITE_STORE_PLUGIN, NULL);
  add_route_or_fail (harness, "ui.search", "db.search", "{\"mode\": \"async\"}");
  add_route_or_fail (harness, "ui.fetch", "db.fetch", "{\"mode\": \"async\"}");
  add_route_or_fail (harness, "ui.update", "db.update", "{\"mode\": \"async\"}");
}

static const char *const catalog_requests[][2] = {
  { "ui.search", "{\"request_id\": 1, \"query\": \"lamp\"}" },
  { "ui.search", "{\"request_id\": 3, \"query\": \"DESK\"}" },
  { "ui.search", "{\"request_id\": 8, \"query\": \"mouse\", \"limit\": 1}" },
  { "ui.search", "{\"request_id\": 9, \"query\": \"100%_\"}" },
  { "ui.fetch", "{\"request_id\": 4, \"id\": 4}" },
  { "ui.update", "{\"request_id\": 5, \"id\": 4, \"price\": 129.0}" },
  { "ui.fetch", "{\"request_id\": 6, \"id\": 4}" },
  { "ui.fetch", "{\"request_id\": 10, \"id\": 999}" },
  { "ui.update", "{\"request_id\": 7, \"id\": 999, \"price\": 1.0}" },
};

/* Runs the requests one at a time; returns the answers (data of every
 * event the instance emitted, updated_us dropped) and failures' codes. */
static json_t *
catalog_answers (EvbHarness *harness)
{
  json_t *answers = json_array ();

  for (gsize i = 0; i < G_N_ELEMENTS (catalog_requests); i++)
    {
      emit_or_fail (harness, catalog_requests[i][0], catalog_requests[i][1]);
      run_until_idle_or_fail (harness);
    }
  for (guint i = 0; i < evb_harness_n_events (harness); i++)
    {
      const EvbEvent *event = evb_harness_event (harness, i);
      g_autoptr (json_t) data = json_deep_copy (event->data);

      if (g_strcmp0 (event->source, "db") == 0)
        {
          json_object_del (json_object_get (data, "item"), "updated_us");
          json_array_append_new (answers, json_pack ("{s:s, s:O}", "type", event->type, "data", data));
        }
      else if (g_strcmp0 (event->type, "evbus.failure") == 0)
        json_array_append_new (answers, json_pack ("{s:s, s:O}", "type", event->type, "code",
                                                   json_object_get (json_object_get (event->data, "error"), "code")));
    }
  return answers;
}

/* The catalog written as sql config answers search and fetch exactly as
 * sqlite-store does, and fails a missing item with 404 too; update.done
 * differs by design (the row, not the list of changed fields). */
/* `evbus check` (evb_plugin_is_checking): the migrations and every
 * statement meet a database in memory, so their errors are reported in
 * run's words, and the file is neither created nor changed. */
static void
test_check_mode (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *db_path = g_build_filename (dir, "x.db", NULL);
  g_autofree char *config = NULL;
  g_autofree char *message = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *names = NULL;
  sqlite3 *db;
  sqlite3_stmt *stmt;

  /* A bad statement and a bad migration: reported, no file made. */
  config = g_strdup_printf ("{\"path\": \"%s\", \"statements\": {\"a\": {\"sql\": \"SELECT * FROM nowhere\"}}}",
                            db_path);
  message = check_error (SQL_PLUGIN, config);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: statements.a.sql: no such table: nowhere", SQL_PLUGIN);
  assert_string_equal (message, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&message, g_free);
  g_clear_pointer (&expected, g_free);
  config = g_strdup_printf ("{\"path\": \"%s\", \"migrations\": [\"CREATE TABLE t (a)\", \"CREATE TABLE t (a)\"], "
                            "\"statements\": {\"a\": {\"sql\": \"SELECT a FROM t\"}}}", db_path);
  message = check_error (SQL_PLUGIN, config);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: (nothing applied, still at version 0) "
                              "migrations[1]: table t already exists", SQL_PLUGIN);
  assert_string_equal (message, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&message, g_free);
  g_clear_pointer (&expected, g_free);

  /* A good config: loads, and still no file. */
  config = g_strdup_printf ("{\"path\": \"%s\", \"migrations\": [\"CREATE TABLE t (a)\"], "
                            "\"statements\": {\"a\": {\"sql\": \"SELECT a FROM t WHERE a = :a\"}}}", db_path);
  assert_checks_ok (SQL_PLUGIN, config);
  assert_false (g_file_test (db_path, G_FILE_TEST_EXISTS));
  g_clear_pointer (&config, g_free);

  /* A database a running host made (user_version 1): a check with a
   * migration more applies it in memory only. */
  assert_int_equal (sqlite3_open (db_path, &db), SQLITE_OK);
  assert_int_equal (sqlite3_exec (db, "CREATE TABLE t (a); PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close (db);
  config = g_strdup_printf ("{\"path\": \"%s\", \"migrations\": [\"CREATE TABLE t (a)\", \"CREATE TABLE u (b)\"], "
                            "\"statements\": {\"b\": {\"sql\": \"SELECT b FROM u\"}}}", db_path);
  assert_checks_ok (SQL_PLUGIN, config);
  assert_int_equal (sqlite3_open_v2 (db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal (sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &stmt, NULL), SQLITE_OK);
  assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
  assert_int_equal (sqlite3_column_int (stmt, 0), 1);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  names = dir_names (dir);
  assert_string_equal (names, "x.db");
  temp_dir_free (dir);
}

static void
test_catalog_config_matches_sqlite_store (void **state)
{
  g_autoptr (EvbHarness) sql_side = harness_new_or_fail (NULL);
  g_autoptr (EvbHarness) store_side = harness_new_or_fail (NULL);
  g_autoptr (json_t) sql_answers = NULL;
  g_autoptr (json_t) store_answers = NULL;
  size_t index;
  json_t *answer;

  add_catalog (sql_side);
  add_store (store_side);
  sql_answers = catalog_answers (sql_side);
  store_answers = catalog_answers (store_side);
  assert_int_equal (json_array_size (sql_answers), json_array_size (store_answers));
  json_array_foreach (store_answers, index, answer)
    {
      json_t *other = json_array_get (sql_answers, index);
      g_autofree char *mine = json_dumps (other, JSON_SORT_KEYS | JSON_COMPACT);

      if (g_strcmp0 (json_string_value (json_object_get (answer, "type")), "update.done") == 0)
        {
          assert_json_equal (json_object_get (answer, "data"), "{\"id\": 4, \"changed\": [\"price\"], "
                             "\"request_id\": 5}");
          assert_json_equal (json_object_get (other, "data"), "{\"id\": 4, \"request_id\": 5, \"item\": {\"id\": 4, "
                             "\"name\": \"Office chair\", \"price\": 129.0}}");
          continue;
        }
      {
        g_autofree char *theirs = json_dumps (answer, JSON_SORT_KEYS | JSON_COMPACT);

        assert_string_equal (mine, theirs);
      }
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_rows_as_one_event),
    cmocka_unit_test (test_params_quotes_and_nulls),
    cmocka_unit_test (test_bind_kinds_and_event_fields),
    cmocka_unit_test (test_each_first_and_if_empty),
    cmocka_unit_test (test_dml_changes),
    cmocka_unit_test (test_bad_input_and_routes),
    cmocka_unit_test (test_sqlite_error_message),
    cmocka_unit_test (test_migrations_recorded),
    cmocka_unit_test (test_busy_database),
    cmocka_unit_test (test_latency_is_cancellable),
    cmocka_unit_test (test_load_errors),
    cmocka_unit_test (test_catalog_config_matches_sqlite_store),
    cmocka_unit_test (test_check_mode),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
