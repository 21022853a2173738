/* console — prints events, one line each, to stdout or a file.
 *
 * Provides
 *   handler print   writes the event as one line and flushes it; fails when the write fails
 *   handler claim   prints like print, then returns HANDLED: lower priority levels do not see the event
 *   handler count   counts the events it sees, prints nothing
 *   handler report  emits console.count {"count": N}: how many events `count` has seen so far
 *   option  format  string   "line"   "line": [type] source=NAME key=value ...
 *                                     "json": {"type", "id", "source", "data"} (no other value)
 *   option  path    path     "-"      file to write, relative to the config file's folder;
 *                                     "-" is standard output
 *   option  append  boolean  false    append to the file instead of truncating it at start
 *   option  prefix  string   ""       text put in front of every line (say why this route prints)
 *
 * In the line form an evbus.failure reads as one sentence:
 *   [evbus.failure] db.update failed on ui.update #12 (worker): sqlite-store 404: no such item
 *
 * The line form shows each top-level data key as key=value: a string as it
 * is when it holds no blank, '"' or '=' (JSON-quoted otherwise), anything
 * else as compact JSON.  Real numbers are printed with 15 significant digits
 * (24.99, not 24.989999999999998) in both forms.
 *
 * Threads: meant for sync routes (main thread), but safe on async ones too:
 * writes and the counter are serialised by a lock.
 */
#include <evbus/json.h>
#include <evbus/plugin.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CONSOLE_DOMAIN "console"
#define CONSOLE_JSON_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION (15))

enum {
  CONSOLE_WRITE_FAILED = 500,
  CONSOLE_NOT_EMITTED = 503,
};

static GQuark
console_error_quark (void)
{
  return g_quark_from_string ("evbus-console-error");
}

typedef struct {
  gboolean json_format;
  char *prefix;
  char *shown;     /* how messages name the output */
  FILE *out;       /* stdout, or a file we own */
  GMutex lock;     /* guards out and counted */
  guint64 counted;
} Console;

/* ---- formatting ------------------------------------------------------- */

static gboolean
is_bare_word (const char *text)
{
  if (*text == '\0')
    return FALSE;
  for (const unsigned char *p = (const unsigned char *) text; *p != '\0'; p++)
    if (*p <= ' ' || *p == '"' || *p == '=' || *p == 0x7f)
      return FALSE;
  return TRUE;
}

static void
append_json (GString *line, json_t *value)
{
  char *dumped = evb_json_dumps (value, CONSOLE_JSON_FLAGS);

  g_string_append (line, dumped != NULL ? dumped : "null");
  free (dumped);
}

static void
append_value (GString *line, json_t *value)
{
  if (json_is_string (value) && is_bare_word (json_string_value (value))
      && strlen (json_string_value (value)) == json_string_length (value))
    g_string_append (line, json_string_value (value));
  else
    append_json (line, value);
}

/* A failure is read by people first: say who failed on what, and why. */
static gboolean
format_failure_line (GString *line, const EvbEvent *event)
{
  json_t *origin = json_object_get (event->data, "origin");
  json_t *error = json_object_get (event->data, "error");
  const char *handler = json_string_value (json_object_get (event->data, "handler"));
  const char *thread = json_string_value (json_object_get (event->data, "thread"));
  const char *origin_type = json_string_value (json_object_get (origin, "type"));
  const char *domain = json_string_value (json_object_get (error, "domain"));
  const char *message = json_string_value (json_object_get (error, "message"));

  if (handler == NULL || origin_type == NULL || domain == NULL || message == NULL)
    return FALSE;
  g_string_append_printf (line, "[%s] %s failed on %s #%" JSON_INTEGER_FORMAT " (%s): %s %" JSON_INTEGER_FORMAT ": %s",
                          event->type, handler, origin_type, json_integer_value (json_object_get (origin, "id")),
                          thread != NULL ? thread : "?", domain, json_integer_value (json_object_get (error, "code")),
                          message);
  return TRUE;
}

/* "[type] source=NAME key=value ..." */
static void
format_line (GString *line, const EvbEvent *event)
{
  const char *key;
  json_t *value;

  if (strcmp (event->type, "evbus.failure") == 0 && format_failure_line (line, event))
    return;
  g_string_append_printf (line, "[%s] source=%s", event->type, event->source);
  json_object_foreach (event->data, key, value)
    {
      g_string_append_c (line, ' ');
      if (is_bare_word (key))
        g_string_append (line, key);
      else
        {
          json_t *quoted_key = json_string (key);

          append_json (line, quoted_key);
          json_decref (quoted_key);
        }
      g_string_append_c (line, '=');
      append_value (line, value);
    }
}

/* {"type", "id", "source", "data"} */
static void
format_json (GString *line, const EvbEvent *event)
{
  json_t *record = json_pack ("{s:s, s:I, s:s, s:O}", "type", event->type, "id", (json_int_t) event->id, "source",
                              event->source, "data", event->data);

  append_json (line, record);
  json_decref (record);
}

/* ---- handlers --------------------------------------------------------- */

static EvbResult
console_print (EvbCall *call, const EvbEvent *event)
{
  Console *console = call->instance_data;
  g_autoptr (GString) line = g_string_new (console->prefix);
  gboolean written;
  int saved_errno;

  if (console->json_format)
    format_json (line, event);
  else
    format_line (line, event);
  g_string_append_c (line, '\n');

  g_mutex_lock (&console->lock);
  errno = 0;
  written = fwrite (line->str, 1, line->len, console->out) == line->len && fflush (console->out) == 0;
  saved_errno = errno;
  if (!written)
    clearerr (console->out);
  g_mutex_unlock (&console->lock);

  if (!written)
    return evb_call_fail (call, CONSOLE_DOMAIN, CONSOLE_WRITE_FAILED, "writing to %s failed: %s", console->shown,
                          saved_errno != 0 ? g_strerror (saved_errno) : "short write");
  return EVB_CONTINUE;
}

/* Prints, then ends the event's way down the priority chain: a guard in
 * front of other routes. */
static EvbResult
console_claim (EvbCall *call, const EvbEvent *event)
{
  EvbResult result = console_print (call, event);

  return result == EVB_CONTINUE ? EVB_HANDLED : result;
}

static EvbResult
console_count (EvbCall *call, const EvbEvent *event)
{
  Console *console = call->instance_data;

  g_mutex_lock (&console->lock);
  console->counted++;
  g_mutex_unlock (&console->lock);
  return EVB_CONTINUE;
}

static EvbResult
console_report (EvbCall *call, const EvbEvent *event)
{
  Console *console = call->instance_data;
  g_autoptr (GError) error = NULL;
  guint64 counted;

  g_mutex_lock (&console->lock);
  counted = console->counted;
  g_mutex_unlock (&console->lock);
  if (!evb_call_emit (call, "console.count", json_pack ("{s:I}", "count", (json_int_t) counted), &error))
    return evb_call_fail (call, CONSOLE_DOMAIN, CONSOLE_NOT_EMITTED, "console.count not emitted: %s",
                          error->message);
  return EVB_CONTINUE;
}

/* ---- lifecycle -------------------------------------------------------- */

static void
console_free (Console *console)
{
  if (console->out != NULL && console->out != stdout)
    fclose (console->out);
  g_mutex_clear (&console->lock);
  g_free (console->shown);
  g_free (console->prefix);
  g_free (console);
}

/* Whether g_fopen (@path, "w") would succeed, asked without creating or
 * truncating it; errno says why not. */
static gboolean
can_write (const char *path)
{
  g_autofree char *folder = NULL;

  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return g_access (path, W_OK) == 0;
  folder = g_path_get_dirname (path);
  return g_access (folder, W_OK) == 0;
}

static gboolean
console_init (EvbPlugin *plugin, GError **error)
{
  const char *format = evb_plugin_get_string (plugin, "format"); /* "line" or "json": the host checked it */
  const char *path = evb_plugin_get_string (plugin, "path");     /* absolute, or "-" */
  gboolean to_stdout = strcmp (path, "-") == 0;
  Console *console;

  console = g_new0 (Console, 1);
  g_mutex_init (&console->lock);
  console->json_format = strcmp (format, "json") == 0;
  console->prefix = g_strdup (evb_plugin_get_string (plugin, "prefix"));
  console->shown = to_stdout ? g_strdup ("standard output") : g_strdup_printf ("\"%s\"", path);
  /* Checked: whether it could be opened, without truncating it. */
  if (evb_plugin_is_checking (plugin))
    {
      if (!to_stdout && !can_write (path))
        {
          int saved_errno = errno;

          g_set_error (error, console_error_quark (), 0, "cannot open \"%s\" for writing: %s", path,
                       g_strerror (saved_errno));
          console_free (console);
          return FALSE;
        }
      plugin->instance_data = console; /* out stays NULL: nothing is printed */
      return TRUE;
    }
  /* "e": the file is not inherited by programs other plugins may start. */
  console->out = to_stdout ? stdout : g_fopen (path, evb_plugin_get_bool (plugin, "append") ? "ae" : "we");
  if (console->out == NULL)
    {
      int saved_errno = errno;

      g_set_error (error, console_error_quark (), 0, "cannot open \"%s\" for writing: %s", path,
                   g_strerror (saved_errno));
      console_free (console);
      return FALSE;
    }
  plugin->instance_data = console;
  return TRUE;
}

static void
console_shutdown (EvbPlugin *plugin)
{
  g_clear_pointer (&plugin->instance_data, console_free);
}

static const EvbHandlerInfo console_handlers[] = {
  EVB_HANDLER ("print", console_print,
      "Writes the event as one line (format option) and flushes; fails when writing fails."),
  EVB_HANDLER ("claim", console_claim,
      "Prints like print, then returns HANDLED: lower-priority routes do not see the event."),
  EVB_HANDLER ("count", console_count, "Counts the events it sees; prints nothing."),
  EVB_HANDLER ("report", console_report,
      "Emits console.count {\"count\": N} with the number of events `count` has seen."),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo console_options[] = {
  EVB_OPTION_CHOICE ("format", "\"line\"", EVB_CHOICES ("line", "json"),
      "\"line\" ([type] source=... key=value ...) or \"json\" (one object)"),
  EVB_OPTION_PATH ("path", "\"-\"", "File to write, relative to the config file's folder; \"-\" is standard output"),
  EVB_OPTION ("append", EVB_OPTION_BOOL, "false",
      "Append to the file instead of truncating it when the plugin starts"),
  EVB_OPTION ("prefix", EVB_OPTION_STRING, "\"\"",
      "Text put in front of every line, e.g. to say why this route prints"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE ("console", "0.1.0", "Prints events as readable lines or JSON lines", console_handlers,
                   console_options, console_init, console_shutdown);
