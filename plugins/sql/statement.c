/* statement — one named statement of the config: read, checked against the
 * schema, and bound from an event.  Values are bound, never pasted into
 * the SQL: a quote in a field is a quote in the column. */
#include "sql-private.h"

#include <string.h>

static GQuark
sql_statement_error_quark (void)
{
  /* Copied, not _static_: GLib keeps quarks after this module is unloaded. */
  return g_quark_from_string ("evbus-sql-statement-error");
}

static const char *
kind_of (json_t *value)
{
  switch (json_typeof (value))
    {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
  return "unknown";
}

static const char *const kind_names[] = { "any", "string", "integer", "number", "boolean", NULL };

static void
param_free (gpointer data)
{
  SqlParam *param = data;

  g_free (param->name);
  g_free (param->path);
  g_free (param);
}

void
sql_statement_free (gpointer data)
{
  SqlStatement *statement = data;

  if (statement == NULL)
    return;
  g_free (statement->name);
  g_free (statement->sql);
  g_free (statement->emit);
  g_free (statement->rows_key);
  g_strfreev (statement->copy);
  if (statement->params != NULL)
    g_ptr_array_unref (statement->params);
  g_free (statement);
}

static SqlParam *
find_param (const SqlStatement *statement, const char *name)
{
  /* Written with or without its prefix: ":id" and "id" are the same. */
  if (*name == ':' || *name == '@' || *name == '$')
    name++;
  for (guint i = 0; i < statement->params->len; i++)
    {
      SqlParam *param = g_ptr_array_index (statement->params, i);

      if (strcmp (param->name, name) == 0)
        return param;
    }
  return NULL;
}

static char *
param_list (const SqlStatement *statement)
{
  GString *list = g_string_new (NULL);

  for (guint i = 0; i < statement->params->len; i++)
    g_string_append_printf (list, "%s:%s", i > 0 ? ", " : "",
                            ((SqlParam *) g_ptr_array_index (statement->params, i))->name);
  if (list->len == 0)
    g_string_append (list, "none");
  return g_string_free (list, FALSE);
}

static gboolean
is_path (const char *path)
{
  if (strcmp (path, "type") == 0 || strcmp (path, "id") == 0 || strcmp (path, "source") == 0
      || strcmp (path, "time_us") == 0)
    return TRUE;
  if (!g_str_has_prefix (path, "data.") || path[5] == '\0' || g_str_has_suffix (path, ".")
      || strstr (path, "..") != NULL)
    return FALSE;
  return TRUE;
}

/* The statement's named parameters, each bound from data.<name> unless
 * "bind" says otherwise. */
static gboolean
read_params (SqlStatement *statement, const char *where, sqlite3_stmt *stmt, GError **error)
{
  int count = sqlite3_bind_parameter_count (stmt);

  statement->params = g_ptr_array_new_with_free_func (param_free);
  for (int i = 1; i <= count; i++)
    {
      const char *name = sqlite3_bind_parameter_name (stmt, i);
      SqlParam *param;

      if (name == NULL)
        {
          g_set_error (error, sql_statement_error_quark (), 0,
                       "%s.sql: parameter %d has no name: write :name (bound from data.name), never ? or ?NNN",
                       where, i);
          return FALSE;
        }
      param = g_new0 (SqlParam, 1);
      param->index = i;
      param->name = g_strdup (name + 1);
      param->path = g_strdup_printf ("data.%s", param->name);
      g_ptr_array_add (statement->params, param);
    }
  return TRUE;
}

/* "bind": {"id": "data.item.id"}; "optional": ["name"]; "types": {"id": "integer"}. */
static gboolean
read_param_options (SqlStatement *statement, const char *where, json_t *config, GError **error)
{
  json_t *bind = json_object_get (config, "bind");
  json_t *optional = json_object_get (config, "optional");
  json_t *types = json_object_get (config, "types");
  g_autofree char *known = param_list (statement);
  const char *key;
  json_t *value;
  size_t index;

  if (bind != NULL && !json_is_object (bind))
    goto not_object_bind;
  json_object_foreach (bind, key, value)
    {
      SqlParam *param = find_param (statement, key);

      if (param == NULL)
        {
          g_set_error (error, sql_statement_error_quark (), 0, "%s.bind.%s: the statement has no parameter :%s "
                       "(parameters: %s)", where, key, *key == ':' || *key == '@' || *key == '$' ? key + 1 : key,
                       known);
          return FALSE;
        }
      if (!json_is_string (value) || !is_path (json_string_value (value)))
        {
          g_set_error (error, sql_statement_error_quark (), 0,
                       "%s.bind.%s: expected \"data.FIELD\" (dotted), \"type\", \"id\", \"source\" or \"time_us\", "
                       "got %s%s%s", where, key, json_is_string (value) ? "\"" : kind_of (value),
                       json_is_string (value) ? json_string_value (value) : "", json_is_string (value) ? "\"" : "");
          return FALSE;
        }
      g_free (param->path);
      param->path = g_strdup (json_string_value (value));
    }
  if (optional != NULL && !json_is_array (optional))
    {
      g_set_error (error, sql_statement_error_quark (), 0, "%s.optional: expected an array of parameter names, got %s",
                   where, kind_of (optional));
      return FALSE;
    }
  json_array_foreach (optional, index, value)
    {
      SqlParam *param = json_is_string (value) ? find_param (statement, json_string_value (value)) : NULL;

      if (param == NULL)
        {
          g_set_error (error, sql_statement_error_quark (), 0, "%s.optional[%zu]: not a parameter of the statement "
                       "(parameters: %s)", where, index, known);
          return FALSE;
        }
      param->optional = TRUE;
    }
  if (types != NULL && !json_is_object (types))
    {
      g_set_error (error, sql_statement_error_quark (), 0, "%s.types: expected an object, got %s", where,
                   kind_of (types));
      return FALSE;
    }
  json_object_foreach (types, key, value)
    {
      SqlParam *param = find_param (statement, key);
      guint kind = 0;

      if (param == NULL)
        {
          g_set_error (error, sql_statement_error_quark (), 0, "%s.types.%s: the statement has no such parameter "
                       "(parameters: %s)", where, key, known);
          return FALSE;
        }
      while (kind_names[kind] != NULL && g_strcmp0 (kind_names[kind], json_string_value (value)) != 0)
        kind++;
      if (kind_names[kind] == NULL)
        {
          g_set_error (error, sql_statement_error_quark (), 0,
                       "%s.types.%s: expected one of \"any\", \"string\", \"integer\", \"number\", \"boolean\"",
                       where, key);
          return FALSE;
        }
      param->kind = (SqlKind) kind;
    }
  return TRUE;

not_object_bind:
  g_set_error (error, sql_statement_error_quark (), 0, "%s.bind: expected an object, got %s", where, kind_of (bind));
  return FALSE;
}

static gboolean
read_copy (SqlStatement *statement, const char *where, json_t *copy, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  size_t index;
  json_t *value;

  if (copy != NULL && !json_is_array (copy))
    {
      g_set_error (error, sql_statement_error_quark (), 0, "%s.copy: expected an array of data field names, got %s",
                   where, kind_of (copy));
      return FALSE;
    }
  json_array_foreach (copy, index, value)
    {
      if (!json_is_string (value) || json_string_length (value) == 0)
        {
          g_set_error (error, sql_statement_error_quark (), 0, "%s.copy[%zu]: expected a field name, got %s", where,
                       index, json_is_string (value) ? "\"\"" : kind_of (value));
          return FALSE;
        }
      g_ptr_array_add (names, g_strdup (json_string_value (value)));
    }
  g_ptr_array_add (names, NULL);
  statement->copy = (char **) g_ptr_array_steal (names, NULL);
  return TRUE;
}

static gboolean
read_result (SqlStatement *statement, const char *where, json_t *config, GError **error)
{
  json_t *emit = json_object_get (config, "emit");
  json_t *rows = json_object_get (config, "rows");
  json_t *rows_key = json_object_get (config, "rows_key");
  json_t *if_empty = json_object_get (config, "if_empty");
  const char *rows_name = rows != NULL ? json_string_value (rows) : "array";
  const char *empty_name = if_empty != NULL ? json_string_value (if_empty) : "emit";

  if (emit != NULL)
    {
      if (!json_is_string (emit) || !evb_type_is_valid (json_string_value (emit))
          || evb_type_is_reserved (json_string_value (emit)))
        {
          g_set_error (error, sql_statement_error_quark (), 0,
                       "%s.emit: expected an event type (dotted segments of [a-z0-9_-], not under \"evbus.\")",
                       where);
          return FALSE;
        }
      statement->emit = g_strdup (json_string_value (emit));
    }
  if (g_strcmp0 (rows_name, "array") == 0)
    statement->rows = SQL_ROWS_ARRAY;
  else if (g_strcmp0 (rows_name, "each") == 0)
    statement->rows = SQL_ROWS_EACH;
  else if (g_strcmp0 (rows_name, "first") == 0)
    statement->rows = SQL_ROWS_FIRST;
  else
    {
      g_set_error (error, sql_statement_error_quark (), 0,
                   "%s.rows: expected one of \"array\", \"each\", \"first\"", where);
      return FALSE;
    }
  if (rows_key != NULL && (!json_is_string (rows_key) || json_string_length (rows_key) == 0))
    {
      g_set_error (error, sql_statement_error_quark (), 0, "%s.rows_key: expected a field name", where);
      return FALSE;
    }
  statement->rows_key = g_strdup (rows_key != NULL ? json_string_value (rows_key) : "rows");
  if (g_strcmp0 (empty_name, "emit") != 0 && g_strcmp0 (empty_name, "fail") != 0)
    {
      g_set_error (error, sql_statement_error_quark (), 0, "%s.if_empty: expected one of \"emit\", \"fail\"", where);
      return FALSE;
    }
  statement->fail_if_empty = g_strcmp0 (empty_name, "fail") == 0;
  return TRUE;
}

static const char *const statement_keys[] = { "sql", "emit", "rows", "rows_key", "if_empty", "copy", "bind",
                                              "optional", "types", NULL };

SqlStatement *
sql_statement_new (const char *name, json_t *config, sqlite3 *db, GError **error)
{
  g_autofree char *where = g_strdup_printf ("statements.%s", name);
  SqlStatement *statement = NULL;
  sqlite3_stmt *stmt = NULL;
  const char *tail = NULL;
  json_t *sql;
  const char *key;
  json_t *value;

  if (!evb_name_is_valid (name))
    {
      g_set_error (error, sql_statement_error_quark (), 0,
                   "statements: \"%s\" is not a statement name (a-z 0-9 _ -)", name);
      return NULL;
    }
  if (!json_is_object (config))
    {
      g_set_error (error, sql_statement_error_quark (), 0, "%s: expected an object {\"sql\": ...}, got %s", where,
                   kind_of (config));
      return NULL;
    }
  json_object_foreach (config, key, value)
    if (!g_strv_contains (statement_keys, key))
      {
        g_set_error (error, sql_statement_error_quark (), 0,
                     "%s: unknown key \"%s\" (keys: sql, emit, rows, rows_key, if_empty, copy, bind, optional, "
                     "types)", where, key);
        return NULL;
      }
  sql = json_object_get (config, "sql");
  if (!json_is_string (sql) || json_string_length (sql) == 0)
    {
      g_set_error (error, sql_statement_error_quark (), 0, "%s.sql: expected SQL text, got %s", where,
                   sql == NULL ? "nothing" : json_is_string (sql) ? "\"\"" : kind_of (sql));
      return NULL;
    }

  statement = g_new0 (SqlStatement, 1);
  statement->name = g_strdup (name);
  statement->sql = g_strdup (json_string_value (sql));
  if (sqlite3_prepare_v2 (db, statement->sql, -1, &stmt, &tail) != SQLITE_OK || stmt == NULL)
    {
      g_set_error (error, sql_statement_error_quark (), 0, "%s.sql: %s", where,
                   stmt == NULL && sqlite3_errcode (db) == SQLITE_OK ? "holds no statement" : sqlite3_errmsg (db));
      goto fail;
    }
  while (tail != NULL && g_ascii_isspace (*tail))
    tail++;
  if (tail != NULL && *tail != '\0' && strcmp (tail, ";") != 0)
    {
      g_set_error (error, sql_statement_error_quark (), 0,
                   "%s.sql: holds more than one statement (the rest begins \"%.20s\"): one per entry", where, tail);
      goto fail;
    }
  if (!read_params (statement, where, stmt, error) || !read_param_options (statement, where, config, error)
      || !read_copy (statement, where, json_object_get (config, "copy"), error)
      || !read_result (statement, where, config, error))
    goto fail;
  sqlite3_finalize (stmt);
  return statement;

fail:
  sqlite3_finalize (stmt);
  sql_statement_free (statement);
  return NULL;
}

static json_t *
value_at (const EvbEvent *event, const char *path, json_t **owned)
{
  g_auto (GStrv) parts = NULL;
  json_t *value;

  *owned = NULL;
  if (strcmp (path, "type") == 0)
    return *owned = json_string (event->type);
  if (strcmp (path, "id") == 0)
    return *owned = json_integer ((json_int_t) event->id);
  if (strcmp (path, "source") == 0)
    return *owned = json_string (event->source);
  if (strcmp (path, "time_us") == 0)
    return *owned = json_integer (event->time_us);
  parts = g_strsplit (path + strlen ("data."), ".", -1);
  value = event->data;
  for (guint i = 0; parts[i] != NULL && value != NULL; i++)
    value = json_object_get (value, parts[i]);
  return value;
}

static gboolean
kind_matches (SqlKind kind, json_t *value)
{
  switch (kind)
    {
    case SQL_KIND_ANY: return TRUE;
    case SQL_KIND_STRING: return json_is_string (value);
    case SQL_KIND_INTEGER: return json_is_integer (value);
    case SQL_KIND_NUMBER: return json_is_number (value);
    case SQL_KIND_BOOLEAN: return json_is_boolean (value);
    }
  return FALSE;
}

static void
bind_value (sqlite3_stmt *stmt, int index, json_t *value)
{
  switch (json_typeof (value))
    {
    case JSON_STRING:
      sqlite3_bind_text (stmt, index, json_string_value (value), (int) json_string_length (value), SQLITE_TRANSIENT);
      break;
    case JSON_INTEGER:
      sqlite3_bind_int64 (stmt, index, json_integer_value (value));
      break;
    case JSON_REAL:
      sqlite3_bind_double (stmt, index, json_real_value (value));
      break;
    case JSON_TRUE:
    case JSON_FALSE:
      sqlite3_bind_int (stmt, index, json_is_true (value));
      break;
    case JSON_NULL:
      sqlite3_bind_null (stmt, index);
      break;
    case JSON_OBJECT:
    case JSON_ARRAY:
      {
        /* As JSON text, for SQLite's json_extract() and friends. */
        char *text = evb_json_dumps (value, JSON_COMPACT);

        sqlite3_bind_text (stmt, index, text, -1, free);
        break;
      }
    }
}

gboolean
sql_statement_bind (const SqlStatement *statement, sqlite3_stmt *stmt, const EvbEvent *event, char **why)
{
  if (stmt != NULL)
    sqlite3_clear_bindings (stmt);
  for (guint i = 0; i < statement->params->len; i++)
    {
      SqlParam *param = g_ptr_array_index (statement->params, i);
      json_t *owned;
      json_t *value = value_at (event, param->path, &owned);

      if (value == NULL && !param->optional)
        {
          *why = g_strdup_printf ("statement \"%s\": missing %s (for :%s)", statement->name, param->path,
                                  param->name);
          return FALSE;
        }
      if (value != NULL && !json_is_null (value) && !kind_matches (param->kind, value))
        {
          *why = g_strdup_printf ("statement \"%s\": %s must be %s %s, got %s", statement->name, param->path,
                                  param->kind == SQL_KIND_INTEGER ? "an" : "a", kind_names[param->kind],
                                  kind_of (value));
          json_decref (owned);
          return FALSE;
        }
      if (stmt != NULL && value == NULL)
        sqlite3_bind_null (stmt, param->index);
      else if (stmt != NULL)
        bind_value (stmt, param->index, value);
      json_decref (owned);
    }
  return TRUE;
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
      /* NULL for invalid UTF-8: shown as null below. */
      value = json_stringn ((const char *) sqlite3_column_text (stmt, column),
                            (size_t) sqlite3_column_bytes (stmt, column));
      break;
    case SQLITE_BLOB:
      {
        g_autofree char *encoded = g_base64_encode (sqlite3_column_blob (stmt, column),
                                                    (gsize) sqlite3_column_bytes (stmt, column));

        value = json_string (encoded);
        break;
      }
    default:
      break;
    }
  return value != NULL ? value : json_null ();
}

json_t *
sql_row_to_json (sqlite3_stmt *stmt)
{
  json_t *row = json_object ();

  for (int i = 0; i < sqlite3_column_count (stmt); i++)
    json_object_set_new (row, sqlite3_column_name (stmt, i), column_to_json (stmt, i));
  return row;
}
