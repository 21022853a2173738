/* Typed reads with problems reported, not returned (json-read.h). */
#include "json-read.h"

#include "bus.h"
#include "json-text.h"

/* Counts and durations stay within gint (see core/settings.c). */
#define MAX_COUNT ((guint) G_MAXINT)

void
evb_json_report (const EvbJsonReader *reader, EvbProblemKind kind, const char *path, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  reader->report (kind, path, message, reader->user_data);
}

/* "got 1.5", "got \"ten\"", "got an object": the value, not only its kind. */
static void
report_expected (const EvbJsonReader *reader, const char *path, const char *expected, json_t *value)
{
  g_autofree char *got = evb_json_describe (value);

  evb_json_report (reader, EVB_PROBLEM_VALUE, path, "expected %s, got %s", expected, got);
}

char *
evb_json_path_join (const char *path, const char *key)
{
  return *path ? g_strconcat (path, ".", key, NULL) : g_strdup (key);
}

void
evb_json_check_keys (const EvbJsonReader *reader, json_t *object, const char *path, const char *const *allowed)
{
  const char *key;
  json_t *value;

  json_object_foreach (object, key, value)
    {
      g_autofree char *member = NULL;
      g_autofree char *expected = NULL;

      if (g_strv_contains (allowed, key))
        continue;
      member = evb_json_path_join (path, key);
      expected = g_strjoinv (", ", (char **) allowed);
      evb_json_report (reader, EVB_PROBLEM_SHAPE, member, "unknown key (expected one of: %s)", expected);
    }
}

json_t *
evb_json_require_key (const EvbJsonReader *reader, json_t *object, const char *path, const char *key)
{
  json_t *value = json_object_get (object, key);

  if (value == NULL)
    evb_json_report (reader, EVB_PROBLEM_SHAPE, path, "missing key \"%s\"", key);
  return value;
}

gboolean
evb_json_read_object (const EvbJsonReader *reader, json_t *value, const char *path)
{
  if (json_is_object (value))
    return TRUE;
  report_expected (reader, path, "an object", value);
  return FALSE;
}

gboolean
evb_json_read_array (const EvbJsonReader *reader, json_t *value, const char *path)
{
  if (json_is_array (value))
    return TRUE;
  report_expected (reader, path, "an array", value);
  return FALSE;
}

const char *
evb_json_read_string (const EvbJsonReader *reader, json_t *value, const char *path, gboolean allow_empty)
{
  const char *expected = allow_empty ? "a string" : "a non-empty string";

  if (!json_is_string (value) || (!allow_empty && json_string_length (value) == 0))
    {
      report_expected (reader, path, expected, value);
      return NULL;
    }
  return json_string_value (value);
}

gboolean
evb_json_read_bool (const EvbJsonReader *reader, json_t *value, const char *path, gboolean *out)
{
  if (!json_is_boolean (value))
    {
      report_expected (reader, path, "true or false", value);
      return FALSE;
    }
  *out = json_is_true (value);
  return TRUE;
}

gboolean
evb_json_read_count (const EvbJsonReader *reader, json_t *value, const char *path, guint least, guint most,
                     const char *what, guint *out)
{
  g_autofree char *problem = NULL;

  if (!json_is_integer (value))
    {
      report_expected (reader, path, least == 0 ? "a non-negative integer" : "a positive integer", value);
      return FALSE;
    }
  problem = evb_count_range_problem (json_integer_value (value), least, MIN (most, MAX_COUNT), what);
  if (problem != NULL)
    {
      evb_json_report (reader, EVB_PROBLEM_VALUE, path, "%s", problem);
      return FALSE;
    }
  *out = (guint) json_integer_value (value);
  return TRUE;
}

gboolean
evb_json_read_int (const EvbJsonReader *reader, json_t *value, const char *path, gint *out)
{
  json_int_t number;

  if (!json_is_integer (value))
    {
      report_expected (reader, path, "an integer", value);
      return FALSE;
    }
  number = json_integer_value (value);
  if (number < G_MININT || number > G_MAXINT)
    {
      evb_json_report (reader, EVB_PROBLEM_VALUE, path,
                       "expected an integer from %d to %d, got %" JSON_INTEGER_FORMAT, G_MININT, G_MAXINT, number);
      return FALSE;
    }
  *out = (gint) number;
  return TRUE;
}

gint
evb_json_read_choice (const EvbJsonReader *reader, json_t *value, const char *path, const char *const *choices)
{
  g_autoptr (GString) listed = g_string_new ("one of ");

  for (gint i = 0; json_is_string (value) && choices[i]; i++)
    if (g_str_equal (json_string_value (value), choices[i]))
      return i;
  for (guint i = 0; choices[i]; i++)
    g_string_append_printf (listed, "%s\"%s\"", i ? ", " : "", choices[i]);
  report_expected (reader, path, listed->str, value);
  return -1;
}
