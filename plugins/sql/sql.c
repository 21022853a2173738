/* sql — named SQLite statements from the config, run by one async handler.
 *
 * Provides
 *   handler run (async only)  runs the statement its route names in
 *           "params": {"statement": NAME}, its parameters bound from the
 *           event (:id <- data.id unless "bind" says otherwise; never
 *           pasted into the SQL), and emits the rows as the statement's
 *           "emit" type: one event with them all, one per row, or the
 *           first; a statement without result columns emits {"changes"}
 *           (RETURNING gives ids and rows back).
 *   init    opens the database (WAL for files), applies the migrations not
 *           applied yet in one transaction (PRAGMA user_version counts
 *           them) and prepares every statement, so a typo in SQL or a
 *           missing table is a load error naming the statement.  Under
 *           `evbus check` (evb_plugin_is_checking) the same is done on a
 *           database in memory: the file is neither created nor changed.
 *
 * A locked database is retried (SQLite's busy handler, then a back-off of
 * our own for what still answers SQLITE_BUSY) for busy_timeout_ms, then
 * the call fails with SQLite's message.  latency_ms adds an artificial,
 * cancellable wait before each statement, for demos of a slow database.
 *
 * Threads: the handler runs on workers, several at once; each takes a
 * connection of the pool (database.c) for its statement only.
 */
#include "sql-private.h"

#include <string.h>

#define SQL_POOL_DEFAULT "4"
/* Our own back-off for SQLITE_BUSY that SQLite's busy handler did not
 * absorb (a WAL read snapshot that must be upgraded). */
#define SQL_BUSY_FIRST_MS 5
#define SQL_BUSY_MAX_MS 100

static GQuark
sql_error_quark (void)
{
  /* Copied, not _static_: GLib keeps quarks after this module is unloaded. */
  return g_quark_from_string ("evbus-sql-error");
}

/* ---- the handler -------------------------------------------------------- */

typedef struct {
  json_t *rows;          /* array of row objects */
  int columns;
  gint64 changes;
} SqlOutcome;

/* Copies the origin's "copy" fields into @data where it has none. */
static void
copy_fields (const SqlStatement *statement, const EvbEvent *origin, json_t *data)
{
  for (guint i = 0; statement->copy[i] != NULL; i++)
    {
      json_t *value = json_object_get (origin->data, statement->copy[i]);

      if (value != NULL && json_object_get (data, statement->copy[i]) == NULL)
        json_object_set (data, statement->copy[i], value);
    }
}

static EvbResult
emit_result (EvbCall *call, const SqlStatement *statement, const EvbEvent *origin, json_t *data)
{
  g_autoptr (GError) error = NULL;

  copy_fields (statement, origin, data);
  if (!evb_call_emit (call, statement->emit, data, &error))
    return evb_call_fail (call, SQL_DOMAIN, SQL_CODE_NOT_EMITTED, "statement \"%s\": %s not emitted: %s",
                          statement->name, statement->emit, error->message);
  return EVB_CONTINUE;
}

static EvbResult
emit_outcome (EvbCall *call, const SqlStatement *statement, const EvbEvent *origin, SqlOutcome *outcome)
{
  gboolean empty = outcome->columns == 0 ? outcome->changes == 0 : json_array_size (outcome->rows) == 0;
  EvbResult result = EVB_CONTINUE;
  size_t index;
  json_t *row;

  if (empty && statement->fail_if_empty)
    return evb_call_fail (call, SQL_DOMAIN, SQL_CODE_EMPTY, "statement \"%s\": %s", statement->name,
                          outcome->columns == 0 ? "changed no row" : "no row");
  if (statement->emit == NULL)
    return EVB_CONTINUE;
  if (outcome->columns == 0)
    return emit_result (call, statement, origin,
                        json_pack ("{s:I}", "changes", (json_int_t) outcome->changes));
  switch (statement->rows)
    {
    case SQL_ROWS_ARRAY:
      return emit_result (call, statement, origin,
                          json_pack ("{s:O, s:I}", statement->rows_key, outcome->rows, "count",
                                     (json_int_t) json_array_size (outcome->rows)));
    case SQL_ROWS_FIRST:
      return emit_result (call, statement, origin,
                          json_pack ("{s:O}", statement->rows_key,
                                     empty ? json_null () : json_array_get (outcome->rows, 0)));
    case SQL_ROWS_EACH:
      json_array_foreach (outcome->rows, index, row)
        if (emit_result (call, statement, origin, json_copy (row)) == EVB_FAILED)
          return EVB_FAILED;
      break;
    }
  return result;
}

static gboolean
is_busy (int rc)
{
  return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Steps @stmt to its end, retrying while busy.  FALSE with the call failed. */
static gboolean
run_statement (EvbCall *call, Sql *sql, const SqlStatement *statement, sqlite3 *db, sqlite3_stmt *stmt,
               SqlOutcome *outcome)
{
  gint64 started = g_get_monotonic_time ();
  guint delay_ms = SQL_BUSY_FIRST_MS;
  int rc;

  for (;;)
    {
      json_decref (outcome->rows);
      outcome->rows = json_array ();
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        json_array_append_new (outcome->rows, sql_row_to_json (stmt));
      if (rc == SQLITE_DONE)
        break;
      if (!is_busy (rc) || g_get_monotonic_time () - started >= sql->busy_timeout_ms * G_TIME_SPAN_MILLISECOND)
        {
          if (is_busy (rc))
            evb_call_fail (call, SQL_DOMAIN, SQL_CODE_BUSY, "statement \"%s\": %s (still busy after %" G_GINT64_FORMAT
                           " ms, busy_timeout_ms)", statement->name, sqlite3_errmsg (db), sql->busy_timeout_ms);
          else
            evb_call_fail (call, SQL_DOMAIN, SQL_CODE_DATABASE, "statement \"%s\": %s", statement->name,
                           sqlite3_errmsg (db));
          return FALSE;
        }
      sqlite3_reset (stmt);
      if (evb_call_wait (call, delay_ms))
        {
          evb_call_fail (call, SQL_DOMAIN, SQL_CODE_CANCELLED, "statement \"%s\" cancelled while the database was "
                         "busy", statement->name);
          return FALSE;
        }
      delay_ms = MIN (delay_ms * 2, SQL_BUSY_MAX_MS);
    }
  outcome->columns = sqlite3_column_count (stmt);
  outcome->changes = sqlite3_changes64 (db);
  return TRUE;
}

static int
compare_names (gconstpointer a, gconstpointer b, gpointer unused)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static EvbResult
sql_handle_run (EvbCall *call, const EvbEvent *event)
{
  Sql *sql = call->instance_data;
  json_t *name = json_object_get (evb_call_get_params (call), "statement");
  const SqlStatement *statement;
  g_autoptr (GError) error = NULL;
  g_autofree char *why = NULL;
  SqlOutcome outcome = { 0 };
  sqlite3_stmt *stmt;
  sqlite3 *db;
  EvbResult result;
  gboolean ran;

  if (!json_is_string (name))
    return evb_call_fail (call, SQL_DOMAIN, SQL_CODE_BAD_INPUT, "the route names no statement: give it \"params\": "
                          "{\"statement\": NAME} (statements: %s)", sql->names);
  statement = g_hash_table_lookup (sql->statements, json_string_value (name));
  if (statement == NULL)
    return evb_call_fail (call, SQL_DOMAIN, SQL_CODE_BAD_INPUT, "no statement \"%s\" (statements: %s)",
                          json_string_value (name), sql->names);
  /* Bad input fails before the latency and the connection. */
  if (!sql_statement_bind (statement, NULL, event, &why))
    return evb_call_fail (call, SQL_DOMAIN, SQL_CODE_BAD_INPUT, "%s", why);
  if (sql->latency_ms > 0 && evb_call_wait (call, (guint) sql->latency_ms))
    return evb_call_fail (call, SQL_DOMAIN, SQL_CODE_CANCELLED, "statement \"%s\" cancelled", statement->name);

  db = sql_pool_acquire (sql->pool, &error);
  if (db == NULL)
    return evb_call_fail (call, SQL_DOMAIN, SQL_CODE_DATABASE, "statement \"%s\": %s", statement->name,
                          error->message);
  stmt = sql_pool_prepared (sql->pool, db, statement);
  if (stmt == NULL)
    {
      evb_call_fail (call, SQL_DOMAIN, SQL_CODE_DATABASE, "statement \"%s\": %s", statement->name, sqlite3_errmsg (db));
      sql_pool_release (sql->pool, db);
      return EVB_FAILED;
    }
  sql_statement_bind (statement, stmt, event, &why);
  ran = run_statement (call, sql, statement, db, stmt, &outcome);
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  sql_pool_release (sql->pool, db);

  result = ran ? emit_outcome (call, statement, event, &outcome) : EVB_FAILED;
  json_decref (outcome.rows);
  return result;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void
sql_free (Sql *sql)
{
  /* The pool first: its prepared statements are keyed by statement name. */
  if (sql->pool != NULL)
    sql_pool_free (sql->pool);
  g_hash_table_unref (sql->statements);
  g_free (sql->names);
  g_free (sql);
}

static gboolean
sql_init (EvbPlugin *plugin, GError **error)
{
  json_t *options = evb_plugin_get_options (plugin);
  const char *path = evb_plugin_get_string (plugin, "path");
  json_t *statements = json_object_get (options, "statements");
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  Sql *sql = g_new0 (Sql, 1);
  const char *name;
  json_t *config;
  sqlite3 *db;

  sql->plugin = plugin;
  sql->latency_ms = evb_plugin_get_int (plugin, "latency_ms");
  sql->busy_timeout_ms = evb_plugin_get_int (plugin, "busy_timeout_ms");
  sql->statements = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, sql_statement_free);

  if (*path == '\0' || g_strcmp0 (path, "-") == 0)
    {
      g_set_error (error, sql_error_quark (), 0, "path: expected a database file (or \":memory:\"), got \"%s\"", path);
      goto fail;
    }
  if (json_object_size (statements) == 0)
    {
      g_set_error_literal (error, sql_error_quark (), 0,
                           "statements: expected at least one, e.g. {\"fetch\": {\"sql\": \"SELECT * FROM items "
                           "WHERE id = :id\", \"emit\": \"item.found\"}}");
      goto fail;
    }
  /* Checking: the migrations and statements meet an empty schema in
   * memory, so their errors are reported and the file stays as it is. */
  if (evb_plugin_is_checking (plugin))
    path = ":memory:";
  sql->pool = sql_pool_open (path, (guint) evb_plugin_get_int (plugin, "pool_size"), evb_plugin_get_bool (plugin, "wal"),
                             sql->busy_timeout_ms, json_object_get (options, "migrations"), error);
  if (sql->pool == NULL)
    goto fail;

  db = sql_pool_acquire (sql->pool, error);
  if (db == NULL)
    goto fail;
  json_object_foreach (statements, name, config)
    {
      SqlStatement *statement = sql_statement_new (name, config, db, error);

      if (statement == NULL)
        {
          sql_pool_release (sql->pool, db);
          goto fail;
        }
      g_hash_table_insert (sql->statements, statement->name, statement);
      g_ptr_array_add (names, statement->name);
    }
  sql_pool_release (sql->pool, db);
  g_ptr_array_sort_with_data (names, compare_names, NULL);
  g_ptr_array_add (names, NULL);
  sql->names = g_strjoinv (", ", (char **) names->pdata);
  plugin->instance_data = sql;
  return TRUE;

fail:
  sql_free (sql);
  return FALSE;
}

static void
sql_shutdown (EvbPlugin *plugin)
{
  g_clear_pointer (&plugin->instance_data, sql_free);
}

static const EvbHandlerInfo sql_handlers[] = {
  EVB_HANDLER_ASYNC ("run", sql_handle_run,
      "Runs the statement named by the route's params.statement with parameters bound from the event; emits its "
      "rows as the statement's \"emit\" type; fails with SQLite's message."),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo sql_options[] = {
  EVB_OPTION_PATH ("path", NULL,
      "SQLite database file, relative to the config file's folder, created when missing; a last component "
      "\":memory:\" is a private in-memory database"),
  EVB_OPTION ("statements", EVB_OPTION_OBJECT, NULL,
      "Named statements: {NAME: {\"sql\", \"emit\"?, \"rows\"?: array|each|first, \"rows_key\"?, "
      "\"if_empty\"?: emit|fail, \"copy\"?: [fields], \"bind\"?: {param: path}, \"optional\"?: [params], "
      "\"types\"?: {param: kind}}}; routes pick one with \"params\": {\"statement\": NAME}"),
  EVB_OPTION ("migrations", EVB_OPTION_ARRAY, "[]",
      "SQL scripts applied once each, in order, at init, in one transaction; PRAGMA user_version counts those "
      "applied: only ever append"),
  EVB_OPTION ("wal", EVB_OPTION_BOOL, "true", "Put a database file in WAL mode (readers do not wait for a writer)"),
  EVB_OPTION_INT_RANGE ("busy_timeout_ms", "5000", 0, 600000,
      "How long a locked database is retried before the call fails with SQLite's message, in ms"),
  EVB_OPTION_INT_RANGE ("pool_size", SQL_POOL_DEFAULT, 1, 64,
      "Connections to a database file open at once (one for \":memory:\"); more calls wait"),
  EVB_OPTION_INT_RANGE ("latency_ms", "0", 0, 600000,
      "Artificial latency before every statement, in ms (cancellable), to show a slow database"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE ("sql", "0.1.0", "Named SQLite statements run per event, with migrations",
                   sql_handlers, sql_options, sql_init, sql_shutdown);
