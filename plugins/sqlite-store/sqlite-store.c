/* sqlite-store — an item catalog in SQLite, served by async handlers.
 *
 * Provides
 *   handler search  data {"query": string, "limit"?: integer 1..1000, default 50}
 *                   emits search.results {"query", "count", "items": [{"id", "name", "price"}]}:
 *                   the items whose name contains the query (ASCII case-insensitive), by id
 *   handler fetch   data {"id": integer}
 *                   emits fetch.result {"id", "item": {"id", "name", "price", "updated_us"}};
 *                   fails 404 "no item with id N"
 *   handler update  data {"id": integer, "name"?: string, "price"?: number >= 0}
 *                   emits update.done {"id", "changed": ["name"?, "price"?]};
 *                   fails 404 "update of item N failed: no such item"
 *   option  path        string   ":memory:"  database file, created when missing, put in WAL mode
 *   option  latency_ms  integer  0           artificial latency before each handler's work, so
 *                                            that the loop's responsiveness can be seen (0 to 600000)
 *   option  seed        boolean  true        insert a catalog of 20 items when the table is empty
 *
 * The table is items(id INTEGER PRIMARY KEY, name TEXT, price REAL,
 * updated_us INTEGER); it is created when missing, seeded or not.
 *
 * Failures use the domain "sqlite-store" with HTTP-like codes: 400 bad input
 * (the message names the field), 404 no such item, 499 cancelled, 500
 * database error, 503 result not emitted.  Every emitted event carries the
 * origin's "request_id" when it has one, so that a requester can match
 * answers to questions.
 *
 * Threads: the handlers are meant for async routes, on several workers at
 * once.  A sync route runs them on the main thread, which then waits out
 * the latency and the query with every other event (and any UI on that
 * loop) behind it: config/desktop-sync.json does so on purpose.  Each
 * takes a connection from a small pool for its database work only, so a
 * connection is used by one thread at a time (opened SQLITE_OPEN_NOMUTEX,
 * handed over under the pool's lock).  A ":memory:" database lives inside
 * its one connection, so its pool holds exactly one.  The latency wait
 * happens before a connection is taken, so slow handlers still overlap.
 */
#include <evbus/plugin.h>

#include <sqlite3.h>

#define STORE_DOMAIN "sqlite-store"

enum {
  STORE_BAD_INPUT = 400,
  STORE_NOT_FOUND = 404,
  STORE_CANCELLED = 499,
  STORE_DATABASE = 500,
  STORE_NOT_EMITTED = 503,
};

#define SEARCH_DEFAULT_LIMIT 50
#define SEARCH_MAX_LIMIT 1000
#define LATENCY_MAX_MS (10 * 60 * 1000)
/* How often a latency wait looks at the cancellation flag. */
#define LATENCY_SLICE_US (10 * 1000)
/* Connections a file database may have open at once; more handlers wait. */
#define FILE_POOL_SIZE 8
#define BUSY_TIMEOUT_MS 5000

static GQuark
store_error_quark (void)
{
  return g_quark_from_string ("evbus-sqlite-store-error");
}

/* ---- connection pool ---------------------------------------------------- */

typedef struct {
  char *path;
  guint max_open;
  GMutex lock;
  GCond returned;   /* signalled when a connection goes back to idle */
  GPtrArray *idle;  /* sqlite3 *, ready for the next taker */
  guint open;       /* connections in existence, idle or taken */
} ConnectionPool;

static sqlite3 *
connection_open (const char *path, GError **error)
{
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);

  if (rc != SQLITE_OK)
    {
      g_set_error (error, store_error_quark (), rc, "cannot open database \"%s\": %s", path,
                   db != NULL ? sqlite3_errmsg (db) : sqlite3_errstr (rc));
      sqlite3_close (db);
      return NULL;
    }
  /* Writers on other connections hold the file briefly; wait, don't fail. */
  sqlite3_busy_timeout (db, BUSY_TIMEOUT_MS);
  return db;
}

static ConnectionPool *
pool_new (const char *path, guint max_open)
{
  ConnectionPool *pool = g_new0 (ConnectionPool, 1);

  pool->path = g_strdup (path);
  pool->max_open = max_open;
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->returned);
  pool->idle = g_ptr_array_new ();
  return pool;
}

/* The host calls shutdown only after every job finished, so every
 * connection is idle by then. */
static void
pool_free (ConnectionPool *pool)
{
  if (pool->open != pool->idle->len)
    g_critical ("sqlite-store: %u connections still taken at shutdown", pool->open - pool->idle->len);
  for (guint i = 0; i < pool->idle->len; i++)
    sqlite3_close (g_ptr_array_index (pool->idle, i));
  g_ptr_array_unref (pool->idle);
  g_cond_clear (&pool->returned);
  g_mutex_clear (&pool->lock);
  g_free (pool->path);
  g_free (pool);
}

/* An idle connection, a new one while under the limit, or the next one
 * returned.  Any thread; give it back with pool_release(). */
static sqlite3 *
pool_acquire (ConnectionPool *pool, GError **error)
{
  sqlite3 *db;

  g_mutex_lock (&pool->lock);
  while (pool->idle->len == 0 && pool->open >= pool->max_open)
    g_cond_wait (&pool->returned, &pool->lock);
  if (pool->idle->len > 0)
    {
      db = g_ptr_array_steal_index_fast (pool->idle, pool->idle->len - 1);
      g_mutex_unlock (&pool->lock);
      return db;
    }
  pool->open++; /* reserve the slot, then open outside the lock */
  g_mutex_unlock (&pool->lock);

  db = connection_open (pool->path, error);
  if (db == NULL)
    {
      g_mutex_lock (&pool->lock);
      pool->open--;
      g_cond_signal (&pool->returned);
      g_mutex_unlock (&pool->lock);
    }
  return db;
}

static void
pool_release (ConnectionPool *pool, sqlite3 *db)
{
  g_mutex_lock (&pool->lock);
  g_ptr_array_add (pool->idle, db);
  g_cond_signal (&pool->returned);
  g_mutex_unlock (&pool->lock);
}

/* ---- the instance ----------------------------------------------------- */

typedef struct {
  ConnectionPool *pool;
  gint64 latency_ms;
} Store;

static const struct {
  const char *name;
  double price;
} seed_catalog[] = {
  { "Desk lamp", 24.99 },     { "Floor lamp", 59.0 },    { "Lamp shade", 12.5 },   { "Office chair", 149.0 },
  { "Standing desk", 399.0 }, { "Bookshelf", 89.9 },     { "Monitor arm", 45.0 },  { "Keyboard", 79.0 },
  { "Mouse", 25.0 },          { "Mouse pad", 9.5 },      { "USB hub", 19.99 },     { "Webcam", 64.0 },
  { "Headphones", 99.0 },     { "Desk organizer", 15.75 }, { "Cable tray", 22.0 }, { "Whiteboard", 54.0 },
  { "Notebook", 4.5 },        { "Fountain pen", 35.0 },  { "Paper tray", 11.25 },  { "Coat rack", 42.0 },
};

static gboolean
exec_sql (sqlite3 *db, const char *sql, GError **error)
{
  char *message = NULL;
  int rc = sqlite3_exec (db, sql, NULL, NULL, &message);

  if (rc != SQLITE_OK)
    {
      g_set_error (error, store_error_quark (), rc, "%s: %s", sql, message != NULL ? message : sqlite3_errstr (rc));
      sqlite3_free (message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
seed_if_empty (sqlite3 *db, GError **error)
{
  sqlite3_stmt *count = NULL;
  sqlite3_stmt *insert = NULL;
  gint64 now = g_get_real_time ();
  gboolean ok = FALSE;

  /* IMMEDIATE: two instances opening one new file must not both seed it. */
  if (!exec_sql (db, "BEGIN IMMEDIATE", error))
    return FALSE;
  if (sqlite3_prepare_v2 (db, "SELECT count(*) FROM items", -1, &count, NULL) != SQLITE_OK
      || sqlite3_step (count) != SQLITE_ROW)
    goto db_error;
  if (sqlite3_column_int64 (count, 0) == 0)
    {
      if (sqlite3_prepare_v2 (db, "INSERT INTO items (name, price, updated_us) VALUES (?1, ?2, ?3)", -1, &insert,
                              NULL) != SQLITE_OK)
        goto db_error;
      for (gsize i = 0; i < G_N_ELEMENTS (seed_catalog); i++)
        {
          sqlite3_bind_text (insert, 1, seed_catalog[i].name, -1, SQLITE_STATIC);
          sqlite3_bind_double (insert, 2, seed_catalog[i].price);
          sqlite3_bind_int64 (insert, 3, now);
          if (sqlite3_step (insert) != SQLITE_DONE)
            goto db_error;
          sqlite3_reset (insert);
        }
    }
  ok = exec_sql (db, "COMMIT", error);
  goto out;

db_error:
  g_set_error (error, store_error_quark (), sqlite3_errcode (db), "seeding the catalog: %s", sqlite3_errmsg (db));
out:
  sqlite3_finalize (count);
  sqlite3_finalize (insert);
  if (!ok)
    sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
  return ok;
}

static gboolean
prepare_database (sqlite3 *db, gboolean is_file, gboolean seed, GError **error)
{
  /* WAL lets readers on other connections run while one handler writes. */
  if (is_file && !exec_sql (db, "PRAGMA journal_mode=WAL", error))
    return FALSE;
  if (!exec_sql (db,
                 "CREATE TABLE IF NOT EXISTS items ("
                 "id INTEGER PRIMARY KEY, name TEXT, price REAL, updated_us INTEGER)",
                 error))
    return FALSE;
  return !seed || seed_if_empty (db, error);
}

static void
store_free (Store *store)
{
  if (store->pool != NULL)
    pool_free (store->pool);
  g_free (store);
}

static gboolean
store_init (EvbPlugin *plugin, GError **error)
{
  const char *path = evb_plugin_get_string (plugin, "path");
  gint64 latency_ms = evb_plugin_get_int (plugin, "latency_ms");
  gboolean is_file = g_strcmp0 (path, ":memory:") != 0;
  Store *store;
  sqlite3 *db;

  if (*path == '\0')
    {
      /* SQLite's "" is a private temporary file: one per connection. */
      g_set_error_literal (error, store_error_quark (), 0,
                           "path must name a database file (or \":memory:\" for a private one)");
      return FALSE;
    }

  /* Checked: the schema is made in memory; the file stays as it is. */
  if (evb_plugin_is_checking (plugin))
    {
      path = ":memory:";
      is_file = FALSE;
    }
  store = g_new0 (Store, 1);
  store->latency_ms = latency_ms;
  store->pool = pool_new (path, is_file ? FILE_POOL_SIZE : 1);
  db = pool_acquire (store->pool, error);
  if (db == NULL)
    {
      store_free (store);
      return FALSE;
    }
  if (!prepare_database (db, is_file, evb_plugin_get_bool (plugin, "seed"), error))
    {
      pool_release (store->pool, db);
      store_free (store);
      return FALSE;
    }
  pool_release (store->pool, db);
  plugin->instance_data = store;
  return TRUE;
}

static void
store_shutdown (EvbPlugin *plugin)
{
  g_clear_pointer (&plugin->instance_data, store_free);
}

/* ---- handler helpers -------------------------------------------------- */

static const char *
json_kind (json_t *value)
{
  switch (json_typeof (value))
    {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
  return "unknown";
}

/* Sleeps the configured latency in slices; FALSE as soon as the host
 * cancels the job (shutdown, timeout, unsubscribe). */
static gboolean
wait_latency (EvbCall *call, const Store *store)
{
  gint64 deadline = g_get_monotonic_time () + store->latency_ms * 1000;

  while (!evb_call_is_cancelled (call))
    {
      gint64 left = deadline - g_get_monotonic_time ();

      if (left <= 0)
        return TRUE;
      g_usleep (MIN (left, LATENCY_SLICE_US));
    }
  return FALSE;
}

/* Reads "id" from @data into @id; on a missing or mistyped field, fails the
 * call with a message naming it and returns FALSE. */
static gboolean
read_item_id (EvbCall *call, const char *handler, json_t *data, gint64 *id)
{
  json_t *value = json_object_get (data, "id");

  if (value == NULL)
    evb_call_fail (call, STORE_DOMAIN, STORE_BAD_INPUT, "%s: missing \"id\" (an integer)", handler);
  else if (!json_is_integer (value))
    evb_call_fail (call, STORE_DOMAIN, STORE_BAD_INPUT, "%s: \"id\" must be an integer, got %s", handler,
                   json_kind (value));
  else
    {
      *id = json_integer_value (value);
      return TRUE;
    }
  return FALSE;
}

static json_t *
column_to_json (sqlite3_stmt *stmt, int column)
{
  json_t *value = NULL;

  switch (sqlite3_column_type (stmt, column))
    {
    case SQLITE_INTEGER:
      value = json_integer (sqlite3_column_int64 (stmt, column));
      break;
    case SQLITE_FLOAT:
      value = json_real (sqlite3_column_double (stmt, column));
      break;
    case SQLITE_TEXT:
      /* NULL when the file holds invalid UTF-8: shown as null below. */
      value = json_stringn ((const char *) sqlite3_column_text (stmt, column),
                            (size_t) sqlite3_column_bytes (stmt, column));
      break;
    default:
      break;
    }
  return value != NULL ? value : json_null ();
}

/* An object of the current row's columns, named as the statement names them. */
static json_t *
row_to_json (sqlite3_stmt *stmt)
{
  json_t *row = json_object ();

  for (int i = 0; i < sqlite3_column_count (stmt); i++)
    json_object_set_new (row, sqlite3_column_name (stmt, i), column_to_json (stmt, i));
  return row;
}

static EvbResult
fail_database (EvbCall *call, const char *handler, sqlite3 *db)
{
  return evb_call_fail (call, STORE_DOMAIN, STORE_DATABASE, "%s: database error: %s", handler, sqlite3_errmsg (db));
}

static EvbResult
fail_cancelled (EvbCall *call, const char *handler)
{
  return evb_call_fail (call, STORE_DOMAIN, STORE_CANCELLED, "%s cancelled", handler);
}

/* Emits @data (stolen) as @type, with the origin's request_id. */
static EvbResult
emit_answer (EvbCall *call, const EvbEvent *origin, const char *type, json_t *data)
{
  g_autoptr (GError) error = NULL;
  json_t *request_id = json_object_get (origin->data, "request_id");

  /* Shared, not copied: emitted data is immutable and jansson's reference
   * counts are atomic. */
  if (request_id != NULL)
    json_object_set (data, "request_id", request_id);
  if (!evb_call_emit (call, type, data, &error))
    return evb_call_fail (call, STORE_DOMAIN, STORE_NOT_EMITTED, "%s not emitted: %s", type, error->message);
  return EVB_CONTINUE;
}

/* "%query%" for LIKE ... ESCAPE '\', with the query's own wildcards literal. */
static char *
like_pattern (const char *query)
{
  GString *pattern = g_string_new ("%");

  for (const char *p = query; *p != '\0'; p++)
    {
      if (*p == '%' || *p == '_' || *p == '\\')
        g_string_append_c (pattern, '\\');
      g_string_append_c (pattern, *p);
    }
  g_string_append_c (pattern, '%');
  return g_string_free (pattern, FALSE);
}

/* ---- handlers --------------------------------------------------------- */

static EvbResult
store_search (EvbCall *call, const EvbEvent *event)
{
  Store *store = call->instance_data;
  json_t *query = json_object_get (event->data, "query");
  json_t *limit = json_object_get (event->data, "limit");
  g_autoptr (GError) error = NULL;
  g_autofree char *pattern = NULL;
  sqlite3_stmt *stmt = NULL;
  json_t *items;
  sqlite3 *db;
  int rc;

  if (query == NULL)
    return evb_call_fail (call, STORE_DOMAIN, STORE_BAD_INPUT, "search: missing \"query\" (a string)");
  if (!json_is_string (query))
    return evb_call_fail (call, STORE_DOMAIN, STORE_BAD_INPUT, "search: \"query\" must be a string, got %s",
                          json_kind (query));
  if (limit != NULL
      && (!json_is_integer (limit) || json_integer_value (limit) < 1
          || json_integer_value (limit) > SEARCH_MAX_LIMIT))
    return evb_call_fail (call, STORE_DOMAIN, STORE_BAD_INPUT, "search: \"limit\" must be an integer from 1 to %d",
                          SEARCH_MAX_LIMIT);

  if (!wait_latency (call, store))
    return fail_cancelled (call, "search");

  db = pool_acquire (store->pool, &error);
  if (db == NULL)
    return evb_call_fail (call, STORE_DOMAIN, STORE_DATABASE, "search: %s", error->message);
  pattern = like_pattern (json_string_value (query));
  if (sqlite3_prepare_v2 (db, "SELECT id, name, price FROM items WHERE name LIKE ?1 ESCAPE '\\' ORDER BY id LIMIT ?2",
                          -1, &stmt, NULL) != SQLITE_OK)
    goto db_error;
  sqlite3_bind_text (stmt, 1, pattern, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, limit != NULL ? json_integer_value (limit) : SEARCH_DEFAULT_LIMIT);
  items = json_array ();
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    json_array_append_new (items, row_to_json (stmt));
  if (rc != SQLITE_DONE)
    {
      json_decref (items);
      goto db_error;
    }
  sqlite3_finalize (stmt);
  pool_release (store->pool, db);

  return emit_answer (call, event, "search.results",
                      json_pack ("{s:O, s:I, s:o}", "query", query, "count", (json_int_t) json_array_size (items),
                                 "items", items));

db_error:
  fail_database (call, "search", db);
  sqlite3_finalize (stmt);
  pool_release (store->pool, db);
  return EVB_FAILED;
}

static EvbResult
store_fetch (EvbCall *call, const EvbEvent *event)
{
  Store *store = call->instance_data;
  g_autoptr (GError) error = NULL;
  sqlite3_stmt *stmt = NULL;
  json_t *item = NULL;
  sqlite3 *db;
  gint64 id;
  int rc;

  if (!read_item_id (call, "fetch", event->data, &id))
    return EVB_FAILED;
  if (!wait_latency (call, store))
    return fail_cancelled (call, "fetch");

  db = pool_acquire (store->pool, &error);
  if (db == NULL)
    return evb_call_fail (call, STORE_DOMAIN, STORE_DATABASE, "fetch: %s", error->message);
  if (sqlite3_prepare_v2 (db, "SELECT id, name, price, updated_us FROM items WHERE id = ?1", -1, &stmt, NULL)
      != SQLITE_OK)
    goto db_error;
  sqlite3_bind_int64 (stmt, 1, id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    item = row_to_json (stmt);
  else if (rc != SQLITE_DONE)
    goto db_error;
  sqlite3_finalize (stmt);
  pool_release (store->pool, db);

  if (item == NULL)
    return evb_call_fail (call, STORE_DOMAIN, STORE_NOT_FOUND, "no item with id %" G_GINT64_FORMAT, id);
  return emit_answer (call, event, "fetch.result", json_pack ("{s:I, s:o}", "id", (json_int_t) id, "item", item));

db_error:
  fail_database (call, "fetch", db);
  sqlite3_finalize (stmt);
  pool_release (store->pool, db);
  return EVB_FAILED;
}

static EvbResult
store_update (EvbCall *call, const EvbEvent *event)
{
  Store *store = call->instance_data;
  json_t *name = json_object_get (event->data, "name");
  json_t *price = json_object_get (event->data, "price");
  g_autoptr (GError) error = NULL;
  sqlite3_stmt *stmt = NULL;
  json_t *changed;
  sqlite3 *db;
  gint64 id;
  int changes;

  if (!read_item_id (call, "update", event->data, &id))
    return EVB_FAILED;
  if (name != NULL && !json_is_string (name))
    return evb_call_fail (call, STORE_DOMAIN, STORE_BAD_INPUT, "update: \"name\" must be a string, got %s",
                          json_kind (name));
  if (price != NULL && (!json_is_number (price) || json_number_value (price) < 0))
    return evb_call_fail (call, STORE_DOMAIN, STORE_BAD_INPUT, "update: \"price\" must be a number >= 0");
  if (name == NULL && price == NULL)
    return evb_call_fail (call, STORE_DOMAIN, STORE_BAD_INPUT,
                          "update: nothing to change (give \"name\" and/or \"price\")");
  if (!wait_latency (call, store))
    return fail_cancelled (call, "update");

  db = pool_acquire (store->pool, &error);
  if (db == NULL)
    return evb_call_fail (call, STORE_DOMAIN, STORE_DATABASE, "update: %s", error->message);
  /* NULL leaves a column as it is: one statement for every combination. */
  if (sqlite3_prepare_v2 (db,
                          "UPDATE items SET name = coalesce(?1, name), price = coalesce(?2, price), updated_us = ?3 "
                          "WHERE id = ?4",
                          -1, &stmt, NULL) != SQLITE_OK)
    goto db_error;
  if (name != NULL)
    sqlite3_bind_text (stmt, 1, json_string_value (name), (int) json_string_length (name), SQLITE_STATIC);
  if (price != NULL)
    sqlite3_bind_double (stmt, 2, json_number_value (price));
  sqlite3_bind_int64 (stmt, 3, g_get_real_time ());
  sqlite3_bind_int64 (stmt, 4, id);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    goto db_error;
  /* Per connection, and this thread is its only user until released. */
  changes = sqlite3_changes (db);
  sqlite3_finalize (stmt);
  pool_release (store->pool, db);

  if (changes == 0)
    return evb_call_fail (call, STORE_DOMAIN, STORE_NOT_FOUND, "update of item %" G_GINT64_FORMAT
                          " failed: no such item", id);
  changed = json_array ();
  if (name != NULL)
    json_array_append_new (changed, json_string ("name"));
  if (price != NULL)
    json_array_append_new (changed, json_string ("price"));
  return emit_answer (call, event, "update.done",
                      json_pack ("{s:I, s:o}", "id", (json_int_t) id, "changed", changed));

db_error:
  fail_database (call, "update", db);
  sqlite3_finalize (stmt);
  pool_release (store->pool, db);
  return EVB_FAILED;
}

static const EvbHandlerInfo store_handlers[] = {
  EVB_HANDLER ("search", store_search,
      "Finds items whose name contains data.query (optional data.limit); emits search.results."),
  EVB_HANDLER ("fetch", store_fetch,
      "Reads item data.id; emits fetch.result, fails 404 when there is no such item."),
  EVB_HANDLER ("update", store_update,
      "Sets data.name and/or data.price of item data.id; emits update.done, "
      "fails 404 when there is no such item."),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo store_options[] = {
  EVB_OPTION ("path", EVB_OPTION_STRING, "\":memory:\"",
      "SQLite database file; \":memory:\" for a private in-memory one"),
  EVB_OPTION_INT_RANGE ("latency_ms", "0", 0, LATENCY_MAX_MS,
      "Artificial latency added to every handler, in milliseconds"),
  EVB_OPTION ("seed", EVB_OPTION_BOOL, "true", "Insert a small demo catalog when the items table is empty"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE ("sqlite-store", "0.1.0", "An item catalog in SQLite served by async search, fetch and update",
                   store_handlers, store_options, store_init, store_shutdown);
