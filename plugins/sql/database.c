/* database — sql's connections: opening (WAL, busy timeout), the
 * migrations, and a small pool whose connections keep their prepared
 * statements.
 *
 * A connection is used by one thread at a time (SQLITE_OPEN_NOMUTEX, handed
 * over under the pool's lock), so its statement cache needs no lock of its
 * own.  A ":memory:" database lives inside its one connection: its pool
 * holds exactly one. */
#include "sql-private.h"

struct _SqlPool {
  char *path;
  guint max_open;
  gint64 busy_timeout_ms;
  GMutex lock;
  GCond returned;
  GPtrArray *idle;           /* sqlite3 * */
  guint open;
  GHashTable *prepared;      /* sqlite3 * -> GHashTable (statement name -> sqlite3_stmt *) */
};

static GQuark
sql_error_quark (void)
{
  /* Copied, not _static_: GLib keeps quarks after this module is unloaded. */
  return g_quark_from_string ("evbus-sql-error");
}

static gboolean
exec_sql (sqlite3 *db, const char *sql, const char *where, GError **error)
{
  char *message = NULL;
  int rc = sqlite3_exec (db, sql, NULL, NULL, &message);

  if (rc != SQLITE_OK)
    {
      g_set_error (error, sql_error_quark (), rc, "%s: %s", where, message != NULL ? message : sqlite3_errstr (rc));
      sqlite3_free (message);
      return FALSE;
    }
  return TRUE;
}

static sqlite3 *
connection_open (const char *path, gint64 busy_timeout_ms, GError **error)
{
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);

  if (rc != SQLITE_OK)
    {
      g_set_error (error, sql_error_quark (), rc, "path: cannot open database \"%s\": %s", path,
                   db != NULL ? sqlite3_errmsg (db) : sqlite3_errstr (rc));
      sqlite3_close (db);
      return NULL;
    }
  /* SQLite retries a locked database itself for this long before it
   * answers SQLITE_BUSY; sql.c retries what still comes back busy. */
  sqlite3_busy_timeout (db, (int) busy_timeout_ms);
  sqlite3_extended_result_codes (db, 1);
  return db;
}

/* One transaction for the whole list: either every pending migration is
 * applied and user_version says how many there are, or none is. */
static gint64
read_user_version (sqlite3 *db)
{
  sqlite3_stmt *version = NULL;
  gint64 applied = 0;

  if (sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &version, NULL) == SQLITE_OK
      && sqlite3_step (version) == SQLITE_ROW)
    applied = sqlite3_column_int64 (version, 0);
  sqlite3_finalize (version);
  return applied;
}

static gboolean
refuse_newer (gint64 applied, gint64 listed, GError **error)
{
  if (applied <= listed)
    return TRUE;
  g_set_error (error, sql_error_quark (), 0,
               "migrations: the database is at version %" G_GINT64_FORMAT " (PRAGMA user_version) but only %"
               G_GINT64_FORMAT " migrations are listed: keep every migration ever applied, in order",
               applied, listed);
  return FALSE;
}

/* One transaction for the whole list: either every pending migration is
 * applied and user_version says how many there are, or none is.  A
 * database already up to date takes no write lock at all. */
static gboolean
migrate (sqlite3 *db, json_t *migrations, GError **error)
{
  gint64 listed = (gint64) json_array_size (migrations);
  gint64 applied = read_user_version (db);
  g_autofree char *set_version = NULL;

  if (!refuse_newer (applied, listed, error))
    return FALSE;
  if (applied == listed)
    return TRUE;
  if (!exec_sql (db, "BEGIN IMMEDIATE", "migrations", error))
    return FALSE;
  /* Again under the lock: another host may have migrated meanwhile. */
  applied = read_user_version (db);
  if (!refuse_newer (applied, listed, error))
    goto rollback;
  for (gint64 i = applied; i < listed; i++)
    {
      json_t *migration = json_array_get (migrations, (size_t) i);
      g_autofree char *where = g_strdup_printf ("migrations[%" G_GINT64_FORMAT "]", i);

      if (!json_is_string (migration))
        {
          g_set_error (error, sql_error_quark (), 0, "%s: expected SQL text, got %s", where,
                       json_is_object (migration) ? "an object" : "another kind of value");
          goto rollback;
        }
      if (!exec_sql (db, json_string_value (migration), where, error))
        {
          g_prefix_error (error, "(nothing applied, still at version %" G_GINT64_FORMAT ") ", applied);
          goto rollback;
        }
    }
  set_version = g_strdup_printf ("PRAGMA user_version = %" G_GINT64_FORMAT, listed);
  if (!exec_sql (db, set_version, "migrations", error) || !exec_sql (db, "COMMIT", "migrations", error))
    goto rollback;
  return TRUE;

rollback:
  sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}

static gboolean
is_memory (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);

  return g_strcmp0 (base, ":memory:") == 0;
}

static void
finalize_all (gpointer statements)
{
  GHashTableIter iter;
  gpointer stmt;

  g_hash_table_iter_init (&iter, statements);
  while (g_hash_table_iter_next (&iter, NULL, &stmt))
    sqlite3_finalize (stmt);
  g_hash_table_unref (statements);
}

SqlPool *
sql_pool_open (const char *path, guint max_open, gboolean wal, gint64 busy_timeout_ms, json_t *migrations,
               GError **error)
{
  gboolean memory = is_memory (path);
  SqlPool *pool = g_new0 (SqlPool, 1);
  sqlite3 *db;

  pool->path = g_strdup (memory ? ":memory:" : path);
  pool->max_open = memory ? 1 : max_open;
  pool->busy_timeout_ms = busy_timeout_ms;
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->returned);
  pool->idle = g_ptr_array_new ();
  pool->prepared = g_hash_table_new_full (NULL, NULL, NULL, finalize_all);

  db = sql_pool_acquire (pool, error);
  if (db == NULL)
    goto fail;
  /* WAL: readers on other connections go on while one handler writes. */
  if ((!memory && wal && !exec_sql (db, "PRAGMA journal_mode=WAL", "wal", error)) || !migrate (db, migrations, error))
    {
      sql_pool_release (pool, db);
      goto fail;
    }
  sql_pool_release (pool, db);
  return pool;

fail:
  sql_pool_free (pool);
  return NULL;
}

/* The host calls shutdown only after every job finished: all idle. */
void
sql_pool_free (SqlPool *pool)
{
  g_hash_table_unref (pool->prepared);
  for (guint i = 0; i < pool->idle->len; i++)
    sqlite3_close (g_ptr_array_index (pool->idle, i));
  g_ptr_array_unref (pool->idle);
  g_cond_clear (&pool->returned);
  g_mutex_clear (&pool->lock);
  g_free (pool->path);
  g_free (pool);
}

sqlite3 *
sql_pool_acquire (SqlPool *pool, GError **error)
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
  pool->open++; /* the slot is ours; open outside the lock */
  g_mutex_unlock (&pool->lock);

  db = connection_open (pool->path, pool->busy_timeout_ms, error);
  g_mutex_lock (&pool->lock);
  if (db == NULL)
    {
      pool->open--;
      g_cond_signal (&pool->returned);
    }
  else
    g_hash_table_insert (pool->prepared, db, g_hash_table_new (g_str_hash, g_str_equal));
  g_mutex_unlock (&pool->lock);
  return db;
}

void
sql_pool_release (SqlPool *pool, sqlite3 *db)
{
  g_mutex_lock (&pool->lock);
  g_ptr_array_add (pool->idle, db);
  g_cond_signal (&pool->returned);
  g_mutex_unlock (&pool->lock);
}

sqlite3_stmt *
sql_pool_prepared (SqlPool *pool, sqlite3 *db, const SqlStatement *statement)
{
  GHashTable *cache;
  sqlite3_stmt *stmt;

  /* The table of connections changes under the lock; this connection's
   * own cache is this thread's alone while it holds the connection. */
  g_mutex_lock (&pool->lock);
  cache = g_hash_table_lookup (pool->prepared, db);
  g_mutex_unlock (&pool->lock);
  stmt = g_hash_table_lookup (cache, statement->name);
  if (stmt == NULL)
    {
      /* Checked at init on the same schema; NULL only if the schema
       * changed under the host's feet (sql.c reports SQLite's message). */
      if (sqlite3_prepare_v3 (db, statement->sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
        return NULL;
      g_hash_table_insert (cache, statement->name, stmt);
    }
  return stmt;
}
