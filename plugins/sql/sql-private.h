/* The sql instance: its database (database.c), its statements as the
 * config declares them (statement.c) and the handler (sql.c). */
#pragma once

#include <evbus/json.h>
#include <evbus/plugin.h>

#include <sqlite3.h>

#define SQL_DOMAIN "sql"

/* Failure codes (error.code of evbus.failure), HTTP-like as sqlite-store's. */
enum {
  SQL_CODE_BAD_INPUT = 400,   /* a parameter's field missing or of the wrong kind; no such statement */
  SQL_CODE_EMPTY = 404,       /* "if_empty": "fail" and no row (or no change) */
  SQL_CODE_CANCELLED = 499,   /* the host cancelled the job (latency wait, busy retries) */
  SQL_CODE_DATABASE = 500,    /* SQLite said no: its message */
  SQL_CODE_NOT_EMITTED = 502, /* the host refused the result event */
  SQL_CODE_BUSY = 503,        /* still locked after busy_timeout_ms of retries: SQLite's message */
};

typedef enum {
  SQL_ROWS_ARRAY, /* one event: {rows_key: [rows], "count": N} */
  SQL_ROWS_EACH,  /* one event per row: the row's columns */
  SQL_ROWS_FIRST, /* one event: {rows_key: first row} */
} SqlRows;

typedef enum {
  SQL_KIND_ANY = 0,
  SQL_KIND_STRING,
  SQL_KIND_INTEGER,
  SQL_KIND_NUMBER,
  SQL_KIND_BOOLEAN,
} SqlKind;

/* One named parameter of a statement and where its value comes from. */
typedef struct {
  int index;        /* sqlite3_bind_* index */
  char *name;       /* without its :, @ or $ */
  char *path;       /* "data.id", "type", "id", "source", "time_us" */
  gboolean optional; /* a missing field binds NULL instead of failing */
  SqlKind kind;
} SqlParam;

typedef struct {
  char *name;
  char *sql;
  char *emit;       /* event type of the result, or NULL: nothing emitted */
  SqlRows rows;
  char *rows_key;
  gboolean fail_if_empty;
  char **copy;      /* data fields copied from the origin into every result */
  GPtrArray *params; /* SqlParam * */
} SqlStatement;

typedef struct _SqlPool SqlPool;

typedef struct {
  EvbPlugin *plugin;
  SqlPool *pool;
  GHashTable *statements; /* name -> SqlStatement * */
  char *names;            /* "a, b, c", for messages */
  gint64 latency_ms;
  gint64 busy_timeout_ms;
} Sql;

/* ---- statement.c ---- */

/* Reads statements.@name from the config and checks it against @db (the
 * schema after the migrations): its SQL prepares, holds one statement,
 * names its parameters.  NULL with @error naming the key. */
SqlStatement *sql_statement_new (const char *name, json_t *config, sqlite3 *db, GError **error);
void sql_statement_free (gpointer statement);

/* Binds @statement's parameters from @event into @stmt (NULL: only
 * checks that every value is there and of its kind); FALSE with a message
 * for a 400 failure in *@why. */
gboolean sql_statement_bind (const SqlStatement *statement, sqlite3_stmt *stmt, const EvbEvent *event, char **why);

/* The current row as an object of its columns. */
json_t *sql_row_to_json (sqlite3_stmt *stmt);

/* ---- database.c ---- */

/* Opens @path (":memory:" as its last component: a private in-memory
 * database, one connection), WAL for files when @wal, and applies the
 * migrations not applied yet, in one transaction.  The pool keeps every
 * connection's prepared statements. */
SqlPool *sql_pool_open (const char *path, guint max_open, gboolean wal, gint64 busy_timeout_ms, json_t *migrations,
                        GError **error);
void sql_pool_free (SqlPool *pool);

/* A connection of the pool for this thread's use; give it back. */
sqlite3 *sql_pool_acquire (SqlPool *pool, GError **error);
void sql_pool_release (SqlPool *pool, sqlite3 *db);

/* @statement prepared on @db (once per connection, then reused), reset. */
sqlite3_stmt *sql_pool_prepared (SqlPool *pool, sqlite3 *db, const SqlStatement *statement);
