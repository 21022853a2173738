/* The "paths" option: fixed paths that make one event type each, and may
 * wait for a reply event in the request's trace.
 *
 *   "paths": [{"path": "/search", "type": "search.request",
 *              "reply": "search.results", "timeout_ms": 5000}]
 *
 * Every problem is a load error naming the entry and key:
 * `paths[1].reply: "a..b" is not a pattern: segment 2 is empty`. */
#include "http-in-private.h"

#include <string.h>

#define TIMEOUT_MAX_MS (10 * 60 * 1000)

void
http_in_path_free (HttpInPath *path)
{
  g_free (path->path);
  g_free (path->type);
  g_free (path->reply);
  g_free (path);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HttpInPath, http_in_path_free)

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
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    default: return "null";
    }
}

static const char *
string_at (json_t *entry, gsize index, const char *key, gboolean required, GError **error)
{
  json_t *value = json_object_get (entry, key);

  if (value == NULL)
    {
      if (required)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "paths[%zu].%s: missing (a string)", index, key);
      return NULL;
    }
  if (!json_is_string (value))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "paths[%zu].%s: expected a string, got %s", index,
                   key, kind_of (value));
      return NULL;
    }
  return json_string_value (value);
}

static HttpInPath *
path_load (json_t *entry, gsize index, guint default_timeout_ms, GError **error)
{
  g_autoptr (HttpInPath) path = g_new0 (HttpInPath, 1);
  const char *text;
  const char *key;
  json_t *value;
  guint segment;

  if (!json_is_object (entry))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "paths[%zu]: expected an object {\"path\", \"type\", \"reply\"?, \"timeout_ms\"?}, got %s", index,
                   kind_of (entry));
      return NULL;
    }
  json_object_foreach (entry, key, value)
    if (strcmp (key, "path") != 0 && strcmp (key, "type") != 0 && strcmp (key, "reply") != 0
        && strcmp (key, "timeout_ms") != 0)
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                     "paths[%zu]: unknown key \"%s\" (keys: path, type, reply, timeout_ms)", index, key);
        return NULL;
      }

  if ((text = string_at (entry, index, "path", TRUE, error)) == NULL)
    return NULL;
  if (text[0] != '/' || strchr (text, '?') != NULL || strchr (text, '#') != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "paths[%zu].path: \"%s\" must start with \"/\" and hold no query or fragment", index, text);
      return NULL;
    }
  path->path = g_strdup (text);

  if ((text = string_at (entry, index, "type", TRUE, error)) == NULL)
    return NULL;
  if (evb_type_find_fault (text, &segment) != EVB_TYPE_OK || evb_type_is_reserved (text))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "paths[%zu].type: \"%s\" is not an event type a plugin may emit (dotted names of a-z 0-9 _ -, "
                   "not under \"evbus.\")",
                   index, text);
      return NULL;
    }
  path->type = g_strdup (text);

  text = string_at (entry, index, "reply", FALSE, error);
  if (text == NULL && json_object_get (entry, "reply") != NULL)
    return NULL;
  if (text != NULL)
    {
      if (evb_pattern_find_fault (text, &segment) != EVB_PATTERN_OK)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "paths[%zu].reply: \"%s\" is not a pattern (segment %u): dotted names, \"*\" or a final \">\"",
                       index, text, segment);
          return NULL;
        }
      path->reply = g_strdup (text);
    }

  path->timeout_ms = default_timeout_ms;
  value = json_object_get (entry, "timeout_ms");
  if (value != NULL)
    {
      if (!json_is_integer (value) || json_integer_value (value) < 1 || json_integer_value (value) > TIMEOUT_MAX_MS)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "paths[%zu].timeout_ms: expected an integer from 1 to %d", index, TIMEOUT_MAX_MS);
          return NULL;
        }
      if (path->reply == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "paths[%zu].timeout_ms: only a path with a \"reply\" waits; add \"reply\" or remove it", index);
          return NULL;
        }
      path->timeout_ms = (guint) json_integer_value (value);
    }
  return g_steal_pointer (&path);
}

gboolean
http_in_paths_load (HttpIn *self, json_t *paths, guint default_timeout_ms, GError **error)
{
  gsize index;
  json_t *entry;

  json_array_foreach (paths, index, entry)
    {
      HttpInPath *path = path_load (entry, index, default_timeout_ms, error);

      if (path == NULL)
        return FALSE;
      if (g_hash_table_contains (self->paths, path->path)
          || (self->stats_path != NULL && strcmp (path->path, self->stats_path) == 0))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "paths[%zu].path: \"%s\" is already served (by an earlier entry or the stats_path)", index,
                       path->path);
          http_in_path_free (path);
          return FALSE;
        }
      g_hash_table_insert (self->paths, path->path, path);
    }
  return TRUE;
}
