/* output — a command's stdout line as an event.  See output.h. */
#include "output.h"

#include <evbus/plugin.h>

const char *
exec_json_kind (json_t *value)
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

ExecOutput
exec_output_from_name (const char *name)
{
  if (g_strcmp0 (name, "data") == 0)
    return EXEC_OUTPUT_DATA;
  if (g_strcmp0 (name, "lines") == 0)
    return EXEC_OUTPUT_LINES;
  if (g_strcmp0 (name, "ignore") == 0)
    return EXEC_OUTPUT_IGNORE;
  return EXEC_OUTPUT_EVENTS;
}

static gboolean
is_blank (const char *line, gsize length)
{
  for (gsize i = 0; i < length; i++)
    if (!g_ascii_isspace (line[i]))
      return FALSE;
  return TRUE;
}

static json_t *
parse_object (const char *line, gsize length, char **reason)
{
  json_error_t parse_error;
  json_t *root = json_loadb (line, length, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &parse_error);

  if (root == NULL)
    {
      /* jansson's "near '...'" may cut a multi-byte character. */
      g_autofree char *text = g_utf8_make_valid (parse_error.text, -1);

      *reason = g_strdup_printf ("invalid JSON at column %d: %s", parse_error.column, text);
      return NULL;
    }
  if (!json_is_object (root))
    {
      *reason = g_strdup_printf ("expected a JSON object, got %s", exec_json_kind (root));
      json_decref (root);
      return NULL;
    }
  return root;
}

static ExecLine
parse_event (json_t *root, char **type, json_t **data, char **reason)
{
  json_t *type_value = json_object_get (root, "type");
  json_t *data_value = json_object_get (root, "data");
  const char *key;
  json_t *value;

  json_object_foreach (root, key, value)
    if (strcmp (key, "type") != 0 && strcmp (key, "data") != 0)
      {
        g_autofree char *valid = g_utf8_make_valid (key, -1);

        *reason = g_strdup_printf ("unknown key \"%.64s\" (a line holds \"type\" and \"data\")", valid);
        return EXEC_LINE_BAD;
      }
  if (type_value == NULL)
    *reason = g_strdup ("missing \"type\"");
  else if (!json_is_string (type_value))
    *reason = g_strdup_printf ("\"type\" must be a string, got %s", exec_json_kind (type_value));
  else if (!evb_type_is_valid (json_string_value (type_value)))
    *reason = g_strdup_printf ("\"type\" \"%.64s\" is not an event type (dotted segments of [a-z0-9_-])",
                               json_string_value (type_value));
  else if (evb_type_is_reserved (json_string_value (type_value)))
    *reason = g_strdup_printf ("\"type\" \"%.64s\" is reserved for the host", json_string_value (type_value));
  else if (data_value != NULL && !json_is_object (data_value))
    *reason = g_strdup_printf ("\"data\" must be an object, got %s", exec_json_kind (data_value));
  else
    {
      *type = g_strdup (json_string_value (type_value));
      *data = data_value != NULL ? json_incref (data_value) : json_object ();
      return EXEC_LINE_EVENT;
    }
  return EXEC_LINE_BAD;
}

ExecLine
exec_output_parse (ExecOutput format, const char *output_type, const char *line, gsize length, char **type,
                   json_t **data, char **reason)
{
  json_t *root;
  ExecLine kind;

  *type = NULL;
  *data = NULL;
  *reason = NULL;
  switch (format)
    {
    case EXEC_OUTPUT_IGNORE:
      return EXEC_LINE_SKIP;
    case EXEC_OUTPUT_LINES:
      {
        g_autofree char *valid = g_utf8_make_valid (line, (gssize) length);

        *type = g_strdup (output_type);
        *data = json_pack ("{s:s}", "line", valid);
        return EXEC_LINE_EVENT;
      }
    case EXEC_OUTPUT_DATA:
    case EXEC_OUTPUT_EVENTS:
      break;
    }
  if (is_blank (line, length))
    return EXEC_LINE_SKIP;
  root = parse_object (line, length, reason);
  if (root == NULL)
    return EXEC_LINE_BAD;
  if (format == EXEC_OUTPUT_DATA)
    {
      *type = g_strdup (output_type);
      *data = root;
      return EXEC_LINE_EVENT;
    }
  kind = parse_event (root, type, data, reason);
  json_decref (root);
  return kind;
}
