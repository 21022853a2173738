/* JSON values in messages (json-text.h). */
#include "json-text.h"

#include <string.h>

#include "evbus/json.h"

/* User text quoted in a message keeps this many bytes at most, so that an
 * absurd value (a 10 MB name) still gives a short line. */
#define QUOTE_MAX_BYTES 64

const char *
evb_json_kind (json_t *value)
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

char *
evb_json_quote (const char *text)
{
  gsize length = strlen (text);
  gsize kept = MIN (length, QUOTE_MAX_BYTES);
  json_t *string;
  char *quoted;
  char *result;

  while (kept < length && ((guchar) text[kept] & 0xC0) == 0x80)
    kept--;
  string = json_stringn (text, kept);
  quoted = string ? json_dumps (string, JSON_ENCODE_ANY) : NULL;
  json_decref (string);
  if (quoted == NULL)
    return g_strdup ("\"?\"");
  if (kept < length)
    {
      /* Drop the closing quote and say what was left out. */
      quoted[strlen (quoted) - 1] = '\0';
      result = g_strdup_printf ("%s...\" (%" G_GSIZE_FORMAT " bytes)", quoted, length);
    }
  else
    result = g_strdup (quoted);
  free (quoted);
  return result;
}

char *
evb_json_describe (json_t *value)
{
  switch (json_typeof (value))
    {
    case JSON_OBJECT: return g_strdup ("an object");
    case JSON_ARRAY: return g_strdup ("an array");
    case JSON_STRING: return evb_json_quote (json_string_value (value));
    case JSON_INTEGER: return g_strdup_printf ("%" JSON_INTEGER_FORMAT, json_integer_value (value));
    case JSON_REAL:
      {
        /* As the config wrote it: 24.99, not 24.989999999999998 */
        char *text = evb_json_dumps (value, JSON_ENCODE_ANY);
        char *copy = g_strdup (text != NULL ? text : "a number");

        free (text);
        return copy;
      }
    case JSON_TRUE: return g_strdup ("true");
    case JSON_FALSE: return g_strdup ("false");
    case JSON_NULL: return g_strdup ("null");
    }
  return g_strdup ("?");
}
