/* The pipeline config loader (see config.h).
 *
 * Checking never stops at the first problem: every helper reports what is
 * wrong with its value and lets the caller go on with the next one, so an
 * operator fixes a file in one round.  Problems are collected with their
 * position and sorted at the end, which puts them in document order
 * whatever order the checks ran in (environment expansion runs over the
 * whole file before anything else, for instance). */
#include "config.h"

#include <string.h>

#include "filter.h"
#include "route-table.h"

/* Counts and durations stay within gint: parts of the host hand them to
 * APIs taking gint (evb_bus_shutdown's grace_ms, for one). */
#define CONFIG_MAX_COUNT ((gint64) G_MAXINT)

/* Worker threads at most: far beyond any machine's cores, and low enough
 * that a typo (1000000) is an error rather than a million threads. */
#define CONFIG_MAX_WORKERS 1024

/* User text quoted in a message keeps this many bytes at most, so that an
 * absurd value (a 10 MB name) still gives a short line. */
#define QUOTE_MAX_BYTES 64

/* An error line longer than this (a path through a huge key, a message
 * quoting a huge pattern) keeps its start and its end, each half of it. */
#define ERROR_LINE_MAX_BYTES 2048

/* A reserved type prefix: on_failure may not impersonate host events. */
#define RESERVED_TYPE_PREFIX "evbus."

static const char *const top_keys[] = { "$schema", "host", "plugins", "routes", NULL };
static const char *const host_keys[] = {
  "workers", "inbox_limit", "overflow", "grace_ms", "slice_events", "emit_unhandled", "status_events",
  "max_event_bytes", NULL,
};
static const char *const plugin_keys[] = { "name", "path", "config", NULL };
static const char *const route_keys[] = {
  "on", "handler", "mode", "priority", "filter", "on_failure", "timeout_ms", "max_concurrency",
  "stop_on_failure", NULL,
};
/* Indexed by EvbMode. */
static const char *const mode_names[] = { "sync", "async", NULL };

typedef struct {
  guint line;   /* 0 with column 0: no position known */
  guint column;
  guint seq;    /* report order, to keep ties stable */
  char *text;
} ConfigProblem;

typedef struct {
  EvbConfig *config;
  GPtrArray *problems;          /* ConfigProblem * */
  GHashTable *unexpanded_paths; /* paths whose "${...}" failed: their value is not checked further */
  GHashTable *instances;        /* instance name -> JSON path of its first declaration */
  GPtrArray *instance_names;    /* in declaration order, for messages */
  gboolean instances_complete;  /* every plugin entry had a name: routes can be checked against them */
} ConfigLoader;

/* ---- reporting ---- */

static void
config_problem_free (gpointer data)
{
  ConfigProblem *problem = data;

  g_free (problem->text);
  g_free (problem);
}

static int
config_problem_compare (gconstpointer a, gconstpointer b)
{
  const ConfigProblem *pa = *(const ConfigProblem *const *) a;
  const ConfigProblem *pb = *(const ConfigProblem *const *) b;

  if (pa->line != pb->line)
    return pa->line < pb->line ? -1 : 1;
  if (pa->column != pb->column)
    return pa->column < pb->column ? -1 : 1;
  return pa->seq < pb->seq ? -1 : (pa->seq > pb->seq);
}

/* Escapes control characters, so that a key or value holding a newline
 * (paths and messages quote user text) still gives one line per error.
 * Also replaces invalid UTF-8 by U+FFFD: jansson's "near '...'" may cut a
 * multi-byte character in two (found by tests/fuzz/fuzz-config). */
static char *
single_line (const char *raw)
{
  g_autofree char *text = g_utf8_make_valid (raw, -1);
  g_autoptr (GString) out = g_string_sized_new (strlen (text));

  for (const char *p = text; *p; p++)
    {
      guchar c = (guchar) *p;

      if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, (char) c);
    }
  if (out->len > ERROR_LINE_MAX_BYTES)
    {
      gsize head = ERROR_LINE_MAX_BYTES / 2;
      gsize tail = out->len - ERROR_LINE_MAX_BYTES / 2;
      g_autofree char *cut = NULL;

      /* Cut at character boundaries. */
      while (head > 0 && ((guchar) out->str[head] & 0xC0) == 0x80)
        head--;
      while (tail < out->len && ((guchar) out->str[tail] & 0xC0) == 0x80)
        tail++;
      cut = g_strdup_printf (" [... %" G_GSIZE_FORMAT " bytes ...] ", tail - head);
      g_string_erase (out, head, tail - head);
      g_string_insert (out, head, cut);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* The one place that spells an error line. */
static char *
format_error_line (EvbJsonDoc *doc, const char *path, const char *message, guint *line, guint *column)
{
  const char *file = evb_json_doc_file (doc);
  g_autofree char *text = NULL;

  *line = *column = 0;
  if (!evb_json_doc_locate (doc, path, line, column))
    text = *path ? g_strdup_printf ("%s: %s: %s", file, path, message)
                 : g_strdup_printf ("%s: %s", file, message);
  else
    text = *path ? g_strdup_printf ("%s:%u:%u: %s: %s", file, *line, *column, path, message)
                 : g_strdup_printf ("%s:%u:%u: %s", file, *line, *column, message);
  return single_line (text);
}

static void
add_problem (ConfigLoader *loader, const char *path, const char *message)
{
  ConfigProblem *problem = g_new0 (ConfigProblem, 1);

  problem->seq = loader->problems->len;
  problem->text = format_error_line (loader->config->doc, path, message, &problem->line, &problem->column);
  g_ptr_array_add (loader->problems, problem);
}

/* A problem with the structure of the file (unknown or missing key,
 * duplicate name): always reported. */
static void report (ConfigLoader *loader, const char *path, const char *format, ...) G_GNUC_PRINTF (3, 4);
static void
report (ConfigLoader *loader, const char *path, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  add_problem (loader, path, message);
}

/* A problem with the content of the value at @path.  Skipped when that
 * value already failed variable expansion: checking "${UNSET}" as an
 * overflow policy would only add a second, misleading line. */
static void report_value (ConfigLoader *loader, const char *path, const char *format, ...) G_GNUC_PRINTF (3, 4);
static void
report_value (ConfigLoader *loader, const char *path, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  if (g_hash_table_contains (loader->unexpanded_paths, path))
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  add_problem (loader, path, message);
}

static void
on_expand_problem (const char *path, const char *message, gpointer user_data)
{
  ConfigLoader *loader = user_data;

  add_problem (loader, path, message);
  g_hash_table_add (loader->unexpanded_paths, g_strdup (path));
}

/* ---- values ---- */

static const char *
json_kind (json_t *value)
{
  switch (json_typeof (value))
    {
    case JSON_OBJECT:
      return "object";
    case JSON_ARRAY:
      return "array";
    case JSON_STRING:
      return "string";
    case JSON_INTEGER:
      return "integer";
    case JSON_REAL:
      return "number";
    case JSON_TRUE:
    case JSON_FALSE:
      return "boolean";
    case JSON_NULL:
    default:
      return "null";
    }
}

/* @text as a JSON string literal, so that quotes and control characters
 * in user text cannot break the one-line message.  Past QUOTE_MAX_BYTES
 * it is cut (at a character boundary) and its length given instead:
 * "aaaa..." (10485760 bytes). */
static char *
quote (const char *text)
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

static char *
join_path (const char *path, const char *key)
{
  return *path ? g_strconcat (path, ".", key, NULL) : g_strdup (key);
}

static gboolean
is_name (const char *text, gsize length)
{
  if (length == 0)
    return FALSE;
  for (gsize i = 0; i < length; i++)
    if (!g_ascii_islower (text[i]) && !g_ascii_isdigit (text[i]) && text[i] != '_' && text[i] != '-')
      return FALSE;
  return TRUE;
}

/* A concrete event type: dotted names, no wildcards. */
static gboolean
is_event_type (const char *text)
{
  g_auto (GStrv) segments = g_strsplit (text, ".", -1);

  for (guint i = 0; segments[i]; i++)
    if (!is_name (segments[i], strlen (segments[i])))
      return FALSE;
  return TRUE;
}

static char *
join_choices (const char *const *choices)
{
  g_autoptr (GString) text = g_string_new (NULL);

  for (guint i = 0; choices[i]; i++)
    g_string_append_printf (text, "%s\"%s\"", i ? ", " : "", choices[i]);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
check_keys (ConfigLoader *loader, json_t *object, const char *path, const char *const *allowed)
{
  const char *key;
  json_t *value;

  json_object_foreach (object, key, value)
    {
      g_autofree char *member = NULL;
      g_autofree char *expected = NULL;

      if (g_strv_contains (allowed, key))
        continue;
      member = join_path (path, key);
      expected = g_strjoinv (", ", (char **) allowed);
      report (loader, member, "unknown key (expected one of: %s)", expected);
    }
}

static json_t *
require_key (ConfigLoader *loader, json_t *object, const char *path, const char *key)
{
  json_t *value = json_object_get (object, key);

  if (value == NULL)
    report (loader, path, "missing key \"%s\"", key);
  return value;
}

static gboolean
read_object (ConfigLoader *loader, json_t *value, const char *path)
{
  if (json_is_object (value))
    return TRUE;
  report_value (loader, path, "expected an object, got %s", json_kind (value));
  return FALSE;
}

static gboolean
read_array (ConfigLoader *loader, json_t *value, const char *path)
{
  if (json_is_array (value))
    return TRUE;
  report_value (loader, path, "expected an array, got %s", json_kind (value));
  return FALSE;
}

/* Returns the string (borrowed) or NULL after reporting. */
static const char *
read_string (ConfigLoader *loader, json_t *value, const char *path, gboolean allow_empty)
{
  if (!json_is_string (value))
    {
      report_value (loader, path, "expected a %sstring, got %s", allow_empty ? "" : "non-empty ",
                    json_kind (value));
      return NULL;
    }
  if (!allow_empty && json_string_length (value) == 0)
    {
      report_value (loader, path, "expected a non-empty string, got \"\"");
      return NULL;
    }
  return json_string_value (value);
}

static gboolean
read_bool (ConfigLoader *loader, json_t *value, const char *path, gboolean *out)
{
  if (!json_is_boolean (value))
    {
      report_value (loader, path, "expected true or false, got %s", json_kind (value));
      return FALSE;
    }
  *out = json_is_true (value);
  return TRUE;
}

/* @minimum is 0 or 1: "non-negative" or "positive". */
static gboolean
read_count (ConfigLoader *loader, json_t *value, const char *path, guint minimum, guint *out)
{
  const char *wanted = minimum == 0 ? "a non-negative integer" : "a positive integer";
  json_int_t number;

  if (!json_is_integer (value))
    {
      report_value (loader, path, "expected %s, got %s", wanted, json_kind (value));
      return FALSE;
    }
  number = json_integer_value (value);
  if (number < (json_int_t) minimum)
    {
      report_value (loader, path, "expected %s, got %" JSON_INTEGER_FORMAT, wanted, number);
      return FALSE;
    }
  if (number > CONFIG_MAX_COUNT)
    {
      report_value (loader, path, "expected at most %" G_GINT64_FORMAT ", got %" JSON_INTEGER_FORMAT,
                    CONFIG_MAX_COUNT, number);
      return FALSE;
    }
  *out = (guint) number;
  return TRUE;
}

static gboolean
read_int (ConfigLoader *loader, json_t *value, const char *path, gint *out)
{
  json_int_t number;

  if (!json_is_integer (value))
    {
      report_value (loader, path, "expected an integer, got %s", json_kind (value));
      return FALSE;
    }
  number = json_integer_value (value);
  if (number < G_MININT || number > G_MAXINT)
    {
      report_value (loader, path, "expected an integer from %d to %d, got %" JSON_INTEGER_FORMAT,
                    G_MININT, G_MAXINT, number);
      return FALSE;
    }
  *out = (gint) number;
  return TRUE;
}

/* Returns the index of the value in @choices, or -1 after reporting. */
static gint
read_choice (ConfigLoader *loader, json_t *value, const char *path, const char *const *choices)
{
  g_autofree char *listed = join_choices (choices);

  if (!json_is_string (value))
    {
      report_value (loader, path, "expected one of %s, got %s", listed, json_kind (value));
      return -1;
    }
  for (gint i = 0; choices[i]; i++)
    if (g_str_equal (json_string_value (value), choices[i]))
      return i;

  {
    g_autofree char *got = quote (json_string_value (value));

    report_value (loader, path, "expected one of %s, got %s", listed, got);
  }
  return -1;
}

/* ---- host ---- */

static void
load_overflow (ConfigLoader *loader, json_t *value, const char *path, EvbOverflowPolicy *policy)
{
  /* The names come from bus.c, so the message lists exactly what it takes. */
  const EvbOverflowPolicy policies[] = { EVB_OVERFLOW_BLOCK, EVB_OVERFLOW_REJECT, EVB_OVERFLOW_DROP_OLDEST };
  const char *names[G_N_ELEMENTS (policies) + 1] = { NULL };

  for (guint i = 0; i < G_N_ELEMENTS (policies); i++)
    names[i] = evb_overflow_policy_to_string (policies[i]);

  if (read_choice (loader, value, path, names) >= 0 &&
      !evb_overflow_policy_from_string (json_string_value (value), policy))
    /* to_string and from_string disagree: a bug in bus.c, not the file. */
    g_critical ("overflow policy \"%s\" is listed but not parsed", json_string_value (value));
}

static void
load_host (ConfigLoader *loader, json_t *host)
{
  EvbBusSettings *settings = &loader->config->settings;
  const char *key;
  json_t *value;

  if (!read_object (loader, host, "host"))
    return;
  check_keys (loader, host, "host", host_keys);

  json_object_foreach (host, key, value)
    {
      g_autofree char *path = join_path ("host", key);

      if (g_str_equal (key, "workers"))
        {
          if (read_count (loader, value, path, 0, &settings->workers) && settings->workers > CONFIG_MAX_WORKERS)
            report_value (loader, path, "expected at most %d worker threads, got %u", CONFIG_MAX_WORKERS,
                          settings->workers);
        }
      else if (g_str_equal (key, "inbox_limit"))
        read_count (loader, value, path, 1, &settings->inbox_limit);
      else if (g_str_equal (key, "overflow"))
        load_overflow (loader, value, path, &settings->overflow);
      else if (g_str_equal (key, "grace_ms"))
        read_count (loader, value, path, 0, &settings->grace_ms);
      else if (g_str_equal (key, "slice_events"))
        read_count (loader, value, path, 1, &settings->slice_events);
      else if (g_str_equal (key, "emit_unhandled"))
        read_bool (loader, value, path, &settings->emit_unhandled);
      else if (g_str_equal (key, "status_events"))
        read_bool (loader, value, path, &settings->status_events);
      else if (g_str_equal (key, "max_event_bytes"))
        read_count (loader, value, path, 0, &settings->max_event_bytes);
    }
}

/* ---- plugins ---- */

static void
config_plugin_free (gpointer data)
{
  EvbConfigPlugin *plugin = data;

  g_free (plugin->name);
  g_free (plugin->path);
  json_decref (plugin->config);
  g_free (plugin->json_path);
  g_free (plugin);
}

/* Checks the name and remembers it, so that routes can refer to it.  A
 * misspelt name is still remembered: the routes naming it would only
 * repeat the problem as "unknown plugin instance". */
static gboolean
declare_instance (ConfigLoader *loader, const char *name, const char *plugin_path, const char *name_path)
{
  g_autofree char *quoted = quote (name);
  const char *first;

  first = g_hash_table_lookup (loader->instances, name);
  if (first)
    {
      report_value (loader, name_path, "duplicate instance name %s (first at %s)", quoted, first);
      return FALSE;
    }
  g_hash_table_insert (loader->instances, g_strdup (name), g_strdup (plugin_path));
  g_ptr_array_add (loader->instance_names, g_strdup (name));

  if (!is_name (name, strlen (name)))
    {
      report_value (loader, name_path, "invalid instance name %s (use only a-z, 0-9, \"_\" and \"-\")", quoted);
      return FALSE;
    }
  return TRUE;
}

static void
load_plugin (ConfigLoader *loader, json_t *entry, const char *path)
{
  g_autofree char *name_path = join_path (path, "name");
  g_autofree char *file_path = join_path (path, "path");
  g_autofree char *config_path = join_path (path, "config");
  const char *name = NULL;
  const char *file = NULL;
  json_t *config;
  json_t *value;
  gboolean ok = TRUE;
  EvbConfigPlugin *plugin;

  if (!read_object (loader, entry, path))
    {
      loader->instances_complete = FALSE;
      return;
    }
  check_keys (loader, entry, path, plugin_keys);

  if ((value = require_key (loader, entry, path, "name")) == NULL ||
      (name = read_string (loader, value, name_path, FALSE)) == NULL)
    {
      loader->instances_complete = FALSE;
      ok = FALSE;
    }
  else if (!declare_instance (loader, name, path, name_path))
    {
      ok = FALSE;
    }

  if ((value = require_key (loader, entry, path, "path")) == NULL ||
      (file = read_string (loader, value, file_path, FALSE)) == NULL)
    ok = FALSE;

  config = json_object_get (entry, "config");
  if (config && !read_object (loader, config, config_path))
    ok = FALSE;

  if (!ok)
    return;

  plugin = g_new0 (EvbConfigPlugin, 1);
  plugin->name = g_strdup (name);
  plugin->path = g_strdup (file);
  plugin->config = json_incref (config);
  plugin->json_path = g_strdup (path);
  g_ptr_array_add (loader->config->plugins, plugin);
}

static void
load_plugins (ConfigLoader *loader, json_t *plugins)
{
  json_t *entry;
  size_t index;

  if (!read_array (loader, plugins, "plugins"))
    return;
  loader->instances_complete = TRUE;
  json_array_foreach (plugins, index, entry)
    {
      g_autofree char *path = g_strdup_printf ("plugins[%zu]", index);

      load_plugin (loader, entry, path);
    }
}

/* ---- routes ---- */

static void
config_route_free (gpointer data)
{
  EvbConfigRoute *route = data;

  g_free (route->on);
  g_free (route->instance);
  g_free (route->handler);
  json_decref (route->filter);
  g_free (route->on_failure);
  g_free (route->json_path);
  g_free (route);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbConfigRoute, config_route_free)

static gboolean
load_route_on (ConfigLoader *loader, json_t *value, const char *path, EvbConfigRoute *route)
{
  g_autoptr (GError) error = NULL;
  const char *pattern = read_string (loader, value, path, FALSE);

  if (pattern == NULL)
    return FALSE;
  if (!evb_pattern_validate (pattern, &error))
    {
      report_value (loader, path, "%s", error->message);
      return FALSE;
    }
  route->on = g_strdup (pattern);
  return TRUE;
}

/* "instance.handler": exactly one dot between two names, and the instance
 * declared under "plugins". */
static gboolean
load_route_handler (ConfigLoader *loader, json_t *value, const char *path, EvbConfigRoute *route)
{
  const char *text = read_string (loader, value, path, FALSE);
  const char *dot;

  if (text == NULL)
    return FALSE;

  dot = strchr (text, '.');
  if (dot == NULL || !is_name (text, dot - text) || !is_name (dot + 1, strlen (dot + 1)))
    {
      g_autofree char *quoted = quote (text);

      report_value (loader, path, "expected \"instance.handler\", got %s", quoted);
      return FALSE;
    }

  route->instance = g_strndup (text, dot - text);
  route->handler = g_strdup (dot + 1);

  /* With "plugins" missing, or an entry without a usable name, the list of
   * instances is unknown: "unknown plugin instance" would be a guess. */
  if (!loader->instances_complete)
    return FALSE;

  if (!g_hash_table_contains (loader->instances, route->instance))
    {
      g_autofree char *quoted = quote (route->instance);
      g_autofree char *declared = NULL;

      if (loader->instance_names->len == 0)
        {
          report_value (loader, path, "unknown plugin instance %s (no plugins are declared)", quoted);
          return FALSE;
        }
      g_ptr_array_add (loader->instance_names, NULL);
      declared = g_strjoinv (", ", (char **) loader->instance_names->pdata);
      g_ptr_array_remove_index (loader->instance_names, loader->instance_names->len - 1);
      report_value (loader, path, "unknown plugin instance %s (declared: %s)", quoted, declared);
      return FALSE;
    }
  return TRUE;
}

/* Compiled here only to find mistakes at load time; the bus compiles its
 * own copy when the route is added. */
static gboolean
load_route_filter (ConfigLoader *loader, json_t *value, const char *path, EvbConfigRoute *route)
{
  g_autoptr (EvbFilter) filter = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *error_path = NULL;

  if (!read_object (loader, value, path))
    return FALSE;
  filter = evb_filter_compile (value, path, &error_path, &error);
  if (filter == NULL)
    {
      report_value (loader, error_path ? error_path : path, "%s", error->message);
      return FALSE;
    }
  route->filter = json_incref (value);
  return TRUE;
}

static gboolean
load_route_on_failure (ConfigLoader *loader, json_t *value, const char *path, EvbConfigRoute *route)
{
  const char *type = read_string (loader, value, path, FALSE);
  g_autofree char *quoted = NULL;

  if (type == NULL)
    return FALSE;
  quoted = quote (type);
  if (!is_event_type (type))
    {
      report_value (loader, path,
                    "invalid event type %s (expected dotted names made of a-z, 0-9, \"_\" and \"-\")",
                    quoted);
      return FALSE;
    }
  if (g_str_has_prefix (type, RESERVED_TYPE_PREFIX))
    {
      report_value (loader, path, "event type %s is reserved (types under \"%s\" belong to the host)",
                    quoted, RESERVED_TYPE_PREFIX);
      return FALSE;
    }
  route->on_failure = g_strdup (type);
  return TRUE;
}

static void
load_route (ConfigLoader *loader, json_t *entry, const char *path)
{
  g_autoptr (EvbConfigRoute) route = g_new0 (EvbConfigRoute, 1);
  g_autofree char *max_concurrency_path = NULL;
  gboolean mode_known = TRUE;
  gboolean ok = TRUE;
  const char *key;
  json_t *value;

  route->mode = EVB_MODE_SYNC;
  route->json_path = g_strdup (path);

  if (!read_object (loader, entry, path))
    return;
  check_keys (loader, entry, path, route_keys);
  if (!require_key (loader, entry, path, "on"))
    ok = FALSE;
  if (!require_key (loader, entry, path, "handler"))
    ok = FALSE;

  json_object_foreach (entry, key, value)
    {
      g_autofree char *member = join_path (path, key);

      if (g_str_equal (key, "on"))
        ok &= load_route_on (loader, value, member, route);
      else if (g_str_equal (key, "handler"))
        ok &= load_route_handler (loader, value, member, route);
      else if (g_str_equal (key, "mode"))
        {
          gint mode = read_choice (loader, value, member, mode_names);

          if (mode < 0)
            ok = mode_known = FALSE;
          else
            route->mode = (EvbMode) mode;
        }
      else if (g_str_equal (key, "priority"))
        ok &= read_int (loader, value, member, &route->priority);
      else if (g_str_equal (key, "filter"))
        ok &= load_route_filter (loader, value, member, route);
      else if (g_str_equal (key, "on_failure"))
        ok &= load_route_on_failure (loader, value, member, route);
      else if (g_str_equal (key, "timeout_ms"))
        ok &= read_count (loader, value, member, 0, &route->timeout_ms);
      else if (g_str_equal (key, "max_concurrency"))
        {
          ok &= read_count (loader, value, member, 0, &route->max_concurrency);
          max_concurrency_path = g_steal_pointer (&member);
        }
      else if (g_str_equal (key, "stop_on_failure"))
        ok &= read_bool (loader, value, member, &route->stop_on_failure);
    }

  /* Sync handlers run one at a time on the main thread: a limit would be
   * silently meaningless, so say so.  Judged after the loop because "mode"
   * may come after "max_concurrency" in the object. */
  if (max_concurrency_path && mode_known && route->mode != EVB_MODE_ASYNC)
    {
      report (loader, max_concurrency_path,
              "only async routes take max_concurrency (add \"mode\": \"async\")");
      ok = FALSE;
    }

  if (ok)
    g_ptr_array_add (loader->config->routes, g_steal_pointer (&route));
}

static void
load_routes (ConfigLoader *loader, json_t *routes)
{
  json_t *entry;
  size_t index;

  if (!read_array (loader, routes, "routes"))
    return;
  json_array_foreach (routes, index, entry)
    {
      g_autofree char *path = g_strdup_printf ("routes[%zu]", index);

      load_route (loader, entry, path);
    }
}

/* ---- the file ---- */

static void
load_document (ConfigLoader *loader)
{
  json_t *root = evb_json_doc_root (loader->config->doc);
  json_t *value;

  evb_json_doc_expand_env (loader->config->doc, on_expand_problem, loader);

  if (!json_is_object (root))
    {
      report (loader, "", "expected an object at the top level, got %s", json_kind (root));
      return;
    }
  check_keys (loader, root, "", top_keys);

  /* Editors read "$schema"; we only check it is what they expect. */
  if ((value = json_object_get (root, "$schema")) != NULL)
    read_string (loader, value, "$schema", TRUE);

  if ((value = json_object_get (root, "host")) != NULL)
    load_host (loader, value);

  /* Routes name plugins, so plugins go first whatever the key order. */
  if ((value = require_key (loader, root, "", "plugins")) != NULL)
    load_plugins (loader, value);

  if ((value = json_object_get (root, "routes")) != NULL)
    load_routes (loader, value);
}

EvbConfig *
evb_config_load (const char *file, GPtrArray *errors)
{
  g_autoptr (EvbConfig) config = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  ConfigLoader loader = { 0 };
  EvbJsonDoc *doc;

  g_return_val_if_fail (file != NULL, NULL);

  doc = evb_json_doc_load (file, &error);
  if (doc == NULL)
    {
      if (errors)
        g_ptr_array_add (errors, single_line (error->message));
      return NULL;
    }

  config = g_new0 (EvbConfig, 1);
  config->doc = doc;
  config->file = g_strdup (file);
  dir = g_path_get_dirname (file);
  config->base_dir = g_canonicalize_filename (dir, NULL);
  evb_bus_settings_init (&config->settings);
  config->plugins = g_ptr_array_new_with_free_func (config_plugin_free);
  config->routes = g_ptr_array_new_with_free_func (config_route_free);

  loader.config = config;
  loader.problems = g_ptr_array_new_with_free_func (config_problem_free);
  loader.unexpanded_paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  loader.instances = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  loader.instance_names = g_ptr_array_new_with_free_func (g_free);

  load_document (&loader);

  /* g_ptr_array_sort is stable since GLib 2.32; seq breaks ties anyway. */
  g_ptr_array_sort (loader.problems, config_problem_compare);
  for (guint i = 0; errors && i < loader.problems->len; i++)
    {
      ConfigProblem *problem = g_ptr_array_index (loader.problems, i);

      g_ptr_array_add (errors, g_steal_pointer (&problem->text));
    }

  if (loader.problems->len > 0)
    g_clear_pointer (&config, evb_config_free);

  g_ptr_array_unref (loader.problems);
  g_hash_table_unref (loader.unexpanded_paths);
  g_hash_table_unref (loader.instances);
  g_ptr_array_unref (loader.instance_names);
  return g_steal_pointer (&config);
}

char *
evb_config_where (EvbConfig *config, const char *json_path)
{
  g_return_val_if_fail (config != NULL, NULL);
  return evb_json_doc_where (config->doc, json_path);
}

char *
evb_config_error_line (EvbConfig *config, const char *json_path, const char *format, ...)
{
  g_autofree char *message = NULL;
  guint line, column;
  va_list args;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (json_path != NULL, NULL);

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  return format_error_line (config->doc, json_path, message, &line, &column);
}

void
evb_config_route_to_spec (const EvbConfigRoute *route, EvbRouteSpec *spec)
{
  g_return_if_fail (route != NULL);
  g_return_if_fail (spec != NULL);

  spec->mode = route->mode;
  spec->pattern = route->on;
  spec->handler = route->handler;
  spec->priority = route->priority;
  spec->filter = route->filter;
  spec->on_failure = route->on_failure;
  spec->timeout_ms = route->timeout_ms;
  spec->max_concurrency = route->max_concurrency;
  spec->stop_on_failure = route->stop_on_failure;
}

void
evb_config_free (EvbConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->file);
  g_free (config->base_dir);
  g_clear_pointer (&config->plugins, g_ptr_array_unref);
  g_clear_pointer (&config->routes, g_ptr_array_unref);
  evb_json_doc_free (config->doc);
  g_free (config);
}
