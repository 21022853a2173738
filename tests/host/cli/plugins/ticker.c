/* ticker — a test plugin for the evbus command line (tests/cli/).
 *
 * Provides: after start, emits "count" events of type "type" with data
 * {"n": 1..count}, holding the bus until they are out (so --exit-when-idle
 * waits for them); handlers to count, complete, fail and wait on stdin;
 * options to fail init, leave a trail in a marker file and print what it
 * saw, so that a test can tell from outside what ran and what did not.
 * Sync handlers only touch the marker file (main thread). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "evbus/plugin.h"

typedef struct {
  gint counted; /* atomic */
  gboolean keep_holding;
} Ticker;

static void
append_marker (EvbPlugin *plugin, const char *line)
{
  const char *file = evb_plugin_get_string (plugin, "marker");
  FILE *out;

  if (file == NULL || file[0] == '\0')
    return;
  out = fopen (file, "a");
  if (out == NULL)
    return;
  fprintf (out, "%s\n", line);
  fclose (out);
}

static void
emit_all (EvbPlugin *plugin)
{
  gint64 count = evb_plugin_get_int (plugin, "count");
  const char *type = evb_plugin_get_string (plugin, "type");

  for (gint64 n = 1; n <= count; n++)
    {
      g_autoptr (GError) error = NULL;

      if (!evb_plugin_emit (plugin, type, json_pack ("{s:I}", "n", (json_int_t) n), &error))
        evb_plugin_log (plugin, G_LOG_LEVEL_WARNING, "emit failed: %s", error->message);
    }
}

static gboolean
emit_ticks (gpointer data)
{
  EvbPlugin *plugin = data;
  Ticker *ticker = plugin->instance_data;

  emit_all (plugin);
  if (evb_plugin_get_bool (plugin, "ready"))
    {
      /* Stays held: the run only ends by signal. */
      printf ("ready\n");
      fflush (stdout);
      ticker->keep_holding = TRUE;
    }
  else
    evb_plugin_release (plugin);
  return G_SOURCE_REMOVE;
}

static gboolean
ticker_init (EvbPlugin *plugin, GError **error)
{
  const char *fail = evb_plugin_get_string (plugin, "fail_init");

  append_marker (plugin, "init");
  plugin->instance_data = g_new0 (Ticker, 1);
  if (evb_plugin_get_bool (plugin, "emit_at_init"))
    emit_all (plugin);
  else
    {
      evb_plugin_hold (plugin);
      evb_plugin_add_timeout (plugin, 0, emit_ticks, plugin, NULL);
    }
  if (fail[0] != '\0')
    {
      /* After the hold and the timeout: the host must roll both back. */
      g_free (plugin->instance_data);
      g_set_error (error, g_quark_from_static_string ("ticker"), 1, "%s", fail);
      return FALSE;
    }
  return TRUE;
}

static void
ticker_shutdown (EvbPlugin *plugin)
{
  Ticker *ticker = plugin->instance_data;

  if (evb_plugin_get_bool (plugin, "report"))
    {
      printf ("ticker %s: counted %d events\n", plugin->name, g_atomic_int_get (&ticker->counted));
      fflush (stdout);
    }
  append_marker (plugin, "shutdown");
  g_free (ticker);
}

static EvbResult
handle_count (EvbCall *call, const EvbEvent *event)
{
  Ticker *ticker = call->instance_data;
  g_autofree char *line = g_strdup_printf ("count %" G_GINT64_FORMAT,
                                           (gint64) json_integer_value (json_object_get (event->data, "n")));

  g_atomic_int_inc (&ticker->counted);
  append_marker (call->plugin, line);
  return EVB_CONTINUE;
}

static EvbResult
handle_work (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static EvbResult
handle_fail (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, "ticker", 7, "refusing event %" G_GINT64_FORMAT,
                        (gint64) json_integer_value (json_object_get (event->data, "n")));
}

/* Prints "waiting", then returns once a line arrives on stdin, stdin ends,
 * or the host cancels the job: a job a test holds in flight from outside. */
static EvbResult
handle_wait (EvbCall *call, const EvbEvent *event)
{
  printf ("waiting\n");
  fflush (stdout);
  while (!evb_call_is_cancelled (call))
    {
      struct pollfd input = { .fd = STDIN_FILENO, .events = POLLIN };
      int ready = poll (&input, 1, 10);

      if (ready < 0 && errno != EINTR)
        return evb_call_fail (call, "ticker", 1, "poll: %s", g_strerror (errno));
      if (ready > 0)
        {
          char c;

          while (read (STDIN_FILENO, &c, 1) == 1)
            if (c == '\n')
              return EVB_CONTINUE;
          return EVB_CONTINUE; /* end of input */
        }
    }
  return EVB_CONTINUE;
}

static const EvbHandlerInfo ticker_handlers[] = {
  EVB_HANDLER ("count", handle_count,
      "Counts the events it sees (and notes \"count N\" in the marker file)."),
  EVB_HANDLER ("work", handle_work, "Does nothing and completes."),
  EVB_HANDLER ("fail", handle_fail, "Fails every event with ticker error 7 \"refusing event N\"."),
  EVB_HANDLER ("wait", handle_wait, "Prints \"waiting\", then waits for a line on stdin or cancellation."),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo ticker_options[] = {
  EVB_OPTION ("count", EVB_OPTION_INT, "3", "How many events to emit once the loop runs."),
  EVB_OPTION ("type", EVB_OPTION_STRING, "\"tick\"", "Type of the events emitted."),
  EVB_OPTION ("ready", EVB_OPTION_BOOL, "false", "Print \"ready\" after emitting and keep the bus busy."),
  EVB_OPTION ("report", EVB_OPTION_BOOL, "false", "Print \"ticker NAME: counted N events\" at shutdown."),
  EVB_OPTION ("marker", EVB_OPTION_STRING, "\"\"",
      "File to append \"init\", \"count N\" and \"shutdown\" to."),
  EVB_OPTION ("emit_at_init", EVB_OPTION_BOOL, "false", "Emit from init rather than once the loop runs."),
  EVB_OPTION ("fail_init", EVB_OPTION_STRING, "\"\"", "When not empty, init fails with this message."),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE ("ticker", "1.2.3", "Emits numbered events and counts, completes, fails or holds them.",
                   ticker_handlers, ticker_options, ticker_init, ticker_shutdown);
