/* `evbus explain CONFIG EVENT`: the routes of CONFIG that an event would go
 * to, in the order `evbus run` would run them, and for each route that
 * would not take it, the filter condition that failed.  From the config
 * alone: no plugin is loaded, no handler runs, so nothing here can know
 * what a handler returns; the levels say where a HANDLED return (or a
 * failure of a stop_on_failure route) would end the chain.
 *
 * The rules are the core's, not copies: patterns match with the SDK's
 * evb_pattern_matches, filters are compiled and explained by filter.c
 * (evb_filter_explain runs the same evaluation as dispatch), event types
 * are checked by evb_event_type_validate, and the config is read by
 * evb_config_load (so its problems are `evbus check`'s lines).  What is
 * decided here is the order (dispatch.c's: priority, higher first, equal
 * priorities in config order) and the words. */
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "cli.h"
#include "config.h"
#include "doc-problems.h"
#include "event.h"
#include "filter.h"
#include "json-read.h"

/* What messages call the standard input, and the file read for it. */
#define STDIN_NAME "<stdin>"
#define STDIN_FILE "/dev/stdin"

static const char *const event_keys[] = { "type", "data", NULL };

/* ---- one line per problem, one line per route ---- */

/* ---- the event file ---- */

typedef struct {
  EvbJsonReader reader; /* reports to on_event_problem */
  EvbDocProblems *problems;
} EventReader;

static void
on_event_problem (EvbProblemKind kind, const char *path, const char *message, gpointer user_data)
{
  EventReader *reader = user_data;

  evb_doc_problems_add (reader->problems, path, message);
}

/* Reads @file ("-": the standard input): {"type": TYPE, "data": OBJECT},
 * "data" optional ({}).  Returns the data (new reference) and sets *@type
 * (caller frees), or returns NULL after adding one line per problem to
 * @errors. */
static json_t *
read_event (const char *file, char **type, GPtrArray *errors)
{
  gboolean from_stdin = strcmp (file, "-") == 0;
  g_autoptr (EvbJsonDoc) doc = NULL;
  g_autoptr (EvbDocProblems) problems = NULL;
  g_autoptr (GError) error = NULL;
  EventReader reader = { .reader = { on_event_problem, &reader } };
  const char *type_text = NULL;
  json_t *root, *value, *data = NULL;

  doc = evb_json_doc_load (from_stdin ? STDIN_FILE : file, &error);
  if (doc == NULL)
    {
      /* The message starts with the file read (json-doc.h); say "<stdin>"
       * for the standard input, as the other lines do. */
      const char *message = error->message;
      g_autofree char *renamed = NULL;

      if (from_stdin && g_str_has_prefix (message, STDIN_FILE))
        message = renamed = g_strconcat (STDIN_NAME, message + strlen (STDIN_FILE), NULL);
      g_ptr_array_add (errors, evb_one_line (message));
      return NULL;
    }
  problems = reader.problems = evb_doc_problems_new (doc, from_stdin ? STDIN_NAME : file);

  root = evb_json_doc_root (doc);
  if (evb_json_read_object (&reader.reader, root, ""))
    {
      evb_json_check_keys (&reader.reader, root, "", event_keys);

      value = evb_json_require_key (&reader.reader, root, "", "type");
      /* An empty string is left to the grammar's words ("empty type"). */
      if (value != NULL && (type_text = evb_json_read_string (&reader.reader, value, "type", TRUE)) != NULL &&
          !evb_event_type_validate (type_text, &error))
        evb_json_report (&reader.reader, EVB_PROBLEM_VALUE, "type", "%s", error->message);

      data = json_object_get (root, "data");
      if (data != NULL)
        evb_json_read_object (&reader.reader, data, "data");
    }

  if (evb_doc_problems_count (problems) > 0)
    {
      evb_doc_problems_move_to (problems, errors);
      return NULL;
    }
  *type = g_strdup (type_text);
  return data != NULL ? json_incref (data) : json_object ();
}

/* ---- explaining ---- */

typedef struct {
  const EvbConfigRoute *route;
  guint index;  /* in config->routes: "routes[index]" */
  char *reason; /* why its filter refuses the event; NULL: the route takes it */
} Match;

static void
match_clear (gpointer data)
{
  Match *match = data;

  g_free (match->reason);
}

/* Dispatch order: priority, higher first; equal priorities in config
 * order (the order `evbus run` subscribes them in). */
static int
match_compare (gconstpointer a, gconstpointer b)
{
  const Match *ma = a, *mb = b;

  if (ma->route->priority != mb->route->priority)
    return ma->route->priority > mb->route->priority ? -1 : 1;
  return ma->index < mb->index ? -1 : (ma->index > mb->index);
}

static const char *
plural (guint n, const char *one, const char *many)
{
  return n == 1 ? one : many;
}

static void
print_route (const Match *match)
{
  const EvbConfigRoute *route = match->route;
  g_autofree char *line = NULL;
  g_autofree char *safe = NULL;

  line = g_strdup_printf ("  %s %s.%s (%s, priority %d): %s%s", route->json_path, route->instance, route->handler,
                          route->mode == EVB_MODE_ASYNC ? "async" : "sync", route->priority,
                          match->reason == NULL ? "runs" : "skipped, filter ",
                          match->reason == NULL ? "" : match->reason);
  /* Field names in the reason are the config's keys, as written. */
  safe = evb_one_line (line);
  printf ("%s\n", safe);
}

/* The first line: how many routes match the type, how many take the
 * event, and, when none does, what `evbus run` does with it (dispatch.c
 * "finish"). */
static void
print_summary (const EvbConfig *config, const char *type, guint n_matches, guint n_taken)
{
  g_autoptr (GString) line = g_string_new (type);

  if (n_matches == 0)
    g_string_append (line, ": no route matches the type");
  else
    g_string_append_printf (line, ": %u %s the type, ", n_matches, plural (n_matches, "route matches", "routes match"));
  if (n_taken > 0)
    g_string_append_printf (line, "%u %s the event", n_taken, plural (n_taken, "takes", "take"));
  else if (n_matches > 0)
    g_string_append (line, "none takes the event");

  if (n_taken == 0)
    {
      if (evb_type_is_reserved (type))
        g_string_append (line, " (a host event that no route takes is not counted as unhandled)");
      else if (config->settings.emit_unhandled)
        g_string_append (line, ": \"evbus run\" counts it as unhandled and emits evbus.unhandled");
      else
        g_string_append (line, ": \"evbus run\" counts it as unhandled");
    }
  printf ("%s\n", line->str);
}

/* "level 2, priority 0: ..." and what can end the chain there. */
static void
print_level_header (const Match *matches, guint start, guint end, guint level, guint n_levels)
{
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GString) failures = g_string_new (NULL);
  guint taken = 0;

  for (guint i = start; i < end; i++)
    if (matches[i].reason == NULL)
      {
        taken++;
        if (matches[i].route->stop_on_failure)
          g_string_append_printf (failures, "%s%s", failures->len > 0 ? " or " : "", matches[i].route->json_path);
      }

  g_string_printf (line, "level %u, priority %d: ", level, matches[start].route->priority);
  if (taken == 0)
    g_string_append (line, "no route here takes the event");
  else if (level == n_levels)
    g_string_append (line, "the last level");
  else
    {
      g_string_append (line, "a HANDLED return here");
      if (failures->len > 0)
        g_string_append_printf (line, ", or a failure of %s,", failures->str);
      if (level + 1 == n_levels)
        g_string_append_printf (line, " stops level %u", n_levels);
      else
        g_string_append_printf (line, " stops levels %u to %u", level + 1, n_levels);
    }
  printf ("%s\n", line->str);
}

static void
explain (EvbConfig *config, const char *type, json_t *data)
{
  g_autoptr (GArray) matches = g_array_new (FALSE, FALSE, sizeof (Match));
  g_autoptr (GPtrArray) others = g_ptr_array_new ();
  const Match *sorted;
  guint n_taken = 0, n_levels = 0, level = 0;

  g_array_set_clear_func (matches, match_clear);
  for (guint i = 0; i < config->routes->len; i++)
    {
      const EvbConfigRoute *route = g_ptr_array_index (config->routes, i);
      Match match = { route, i, NULL };

      if (!evb_pattern_matches (route->on, type))
        {
          g_ptr_array_add (others, (gpointer) route);
          continue;
        }
      if (route->filter != NULL)
        {
          /* The loader compiled it already: it compiles. */
          g_autoptr (EvbFilter) filter = evb_filter_compile (route->filter, NULL, NULL, NULL);

          g_assert (filter != NULL);
          evb_filter_explain (filter, data, &match.reason);
        }
      if (match.reason == NULL)
        n_taken++;
      g_array_append_val (matches, match);
    }
  g_array_sort (matches, match_compare);
  sorted = (const Match *) matches->data;

  for (guint i = 0; i < matches->len; i++)
    if (i == 0 || sorted[i].route->priority != sorted[i - 1].route->priority)
      n_levels++;

  print_summary (config, type, matches->len, n_taken);
  for (guint start = 0, end; start < matches->len; start = end)
    {
      for (end = start + 1; end < matches->len && sorted[end].route->priority == sorted[start].route->priority; end++)
        ;
      print_level_header (sorted, start, end, ++level, n_levels);
      for (guint i = start; i < end; i++)
        print_route (&sorted[i]);
    }

  if (others->len > 0)
    printf ("routes for other types:\n");
  for (guint i = 0; i < others->len; i++)
    {
      const EvbConfigRoute *route = g_ptr_array_index (others, i);

      printf ("  %s %s.%s (on %s)\n", route->json_path, route->instance, route->handler, route->on);
    }
}

int
evb_cli_explain (int argc, char **argv)
{
  static const char *const arguments[] = { "CONFIG", "EVENT", NULL };
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (EvbConfig) config = NULL;
  g_autofree char *type = NULL;
  json_t *data;
  GOptionContext *context = g_option_context_new ("CONFIG EVENT");

  g_option_context_set_summary (
    context,
    "Show which routes of CONFIG an event would go to, in the order \"evbus run\"\n"
    "would run them, without loading any plugin or running any handler.\n"
    "\n"
    "EVENT is a file holding one JSON object, {\"type\": \"a.b\", \"data\": {...}}\n"
    "(\"data\" may be left out: {}), or \"-\" to read it from standard input.");
  g_option_context_set_description (
    context,
    "The first line says how many routes match the event's type and how many\n"
    "take it.  Then, for each priority level, highest first, one header line\n"
    "and one line per route whose pattern matches the type, equal priorities\n"
    "in config order:\n"
    "  level 1, priority 10: a HANDLED return here stops level 2\n"
    "    routes[1] audit.log (sync, priority 10): runs\n"
    "  level 2, priority 0: the last level\n"
    "    routes[3] db.search (async, priority 0): skipped, filter data.size: 4 is not > 10\n"
    "A skipped route names the filter condition that failed and the value it\n"
    "saw (\"not:\" a negated condition that held, \"none of:\" every member of\n"
    "an \"any\").  A handler's result is not known here: a HANDLED return at a\n"
    "level, or a failure of a route with \"stop_on_failure\", ends the chain\n"
    "after that level, and the header says which levels that would stop.\n"
    "The routes whose pattern does not match the type come last, under\n"
    "\"routes for other types:\".  Routes that plugins add in code at run time\n"
    "are not known: only CONFIG is read, so plugins, their options and their\n"
    "handlers are not checked either (\"evbus check\" does that).\n"
    "\n"
    "Exits 0, or prints every problem with CONFIG or EVENT on stderr, one per\n"
    "line as FILE:LINE:COLUMN: JSON_PATH: message, and exits 2.");
  if (!evb_cli_parse_arguments (context, "explain", arguments, &argc, &argv))
    return EVB_EXIT_USAGE;

  config = evb_config_load (argv[1], errors);
  data = read_event (argv[2], &type, errors);
  if (config == NULL || data == NULL)
    {
      evb_cli_print_errors (errors);
      json_decref (data);
      return EVB_EXIT_USAGE;
    }
  explain (config, type, data);
  json_decref (data);
  return EVB_EXIT_OK;
}
