/* `evbus run CONFIG`: load, start, run until a signal (or until idle),
 * shut down gracefully, print one summary line. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "build.h"
#include "crash.h"
#include "route-table.h"
#include "run-trace.h"
#include "run-signals.h"
#include "cli.h"
#include "trust.h"

/* How often --exit-when-idle looks at the bus.  A timeout rather than an
 * idle source: an idle source would spin the CPU while a job runs. */
#define IDLE_CHECK_INTERVAL_MS 10

typedef struct {
  EvbBus *bus;
  GMainLoop *loop;
} RunState;

static gboolean
quit_when_idle (gpointer data)
{
  RunState *state = data;

  if (evb_bus_is_idle (state->bus) && g_main_loop_is_running (state->loop))
    {
      g_debug ("the bus is idle: stopping");
      g_main_loop_quit (state->loop);
    }
  return G_SOURCE_CONTINUE;
}

/* Shows the host's, the core's and the plugins' debug messages, on top of
 * whatever G_MESSAGES_DEBUG already asks for. */
static void
enable_debug_messages (void)
{
  const char *current = g_getenv ("G_MESSAGES_DEBUG");
  g_autofree char *domains = g_strjoin (" ", "evbus", "evbus-host", "evbus-plugin", current, NULL);

  g_setenv ("G_MESSAGES_DEBUG", domains, TRUE);
}

int
evb_cli_run (int argc, char **argv)
{
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) route_ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr (EvbConfig) config = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autofree char *lookup = evb_cli_plugin_lookup_help ("the config file's folder");
  g_autofree char *summary = NULL;
  gboolean exit_when_idle = FALSE;
  g_autofree char *trace_pattern = NULL;
  EvbRunTrace *trace = NULL;
  gboolean verbose = FALSE;
  gboolean allow_insecure = FALSE;
  const GOptionEntry entries[] = {
    { "trace", 0, 0, G_OPTION_ARG_STRING, &trace_pattern,
      "Print on stderr, for each event whose type matches PATTERN, one line per decision of dispatch "
      "(routes matched and skipped with the failing filter condition, levels, results, job states, failures, "
      "receipts), tagged with the event's trace id", "PATTERN" },
    { "exit-when-idle", 0, 0, G_OPTION_ARG_NONE, &exit_when_idle,
      "Stop once the inbox is empty, no job is in flight and no plugin source is active", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Print debug messages of the host and its plugins", NULL },
    { "allow-insecure", 0, 0, G_OPTION_ARG_NONE, &allow_insecure,
      "Load config and plugin files even when others could have changed them", NULL },
    G_OPTION_ENTRY_NULL,
  };
  GOptionContext *context = g_option_context_new ("CONFIG");
  RunState state = { 0 };
  guint idle_id = 0;
  const char *file;
  EvbBus *bus;

  g_option_context_set_summary (context,
                                "Load the pipeline CONFIG (a JSON file), load its plugins in order, add its\n"
                                "routes and run until SIGINT or SIGTERM. The first signal shuts down\n"
                                "gracefully: plugin sources stop, queued events are dispatched, jobs in\n"
                                "flight get the config's grace period, then plugins shut down in reverse\n"
                                "order. A second signal exits at once, even while a handler blocks the\n"
                                "main loop. SIGHUP is logged and ignored. On the way out one line on\n"
                                "stderr sums up: events dispatched, dropped, unhandled; jobs completed,\n"
                                "failed, cancelled (and timed out, never returned, main-loop stalls).\n"
                                "\n"
                                "Exit status: 0 after a run (failures are in the summary), 2 when the config\n"
                                "or a plugin does not load (nothing is started then), 128+N on a forced exit\n"
                                "by signal N.");
  g_option_context_set_description (context, lookup);
  g_option_context_add_main_entries (context, entries, NULL);
  file = evb_cli_parse_one_argument (context, "run", "CONFIG", &argc, &argv);
  if (file == NULL)
    return EVB_EXIT_USAGE;
  if (verbose)
    enable_debug_messages ();
  evb_trust_set_enforced (!allow_insecure);
  if (trace_pattern != NULL)
    {
      g_autoptr (GError) error = NULL;

      if (!evb_pattern_validate (trace_pattern, &error))
        {
          fprintf (stderr, "evbus run: --trace: %s\n", error->message);
          return EVB_EXIT_USAGE;
        }
    }

  config = evb_pipeline_load_config (file, errors);
  if (config == NULL)
    {
      evb_cli_print_errors (errors);
      return EVB_EXIT_USAGE;
    }

  /* Before the bus starts any thread: they all inherit the mask. */
  evb_run_signals_block ();
  bus = evb_bus_new (&config->settings, NULL);
  loop = g_main_loop_new (NULL, FALSE);
  state.bus = bus;
  state.loop = loop;
  /* Before any plugin code runs, so that a signal never finds the default
   * action (death without shutdown) once a plugin is loaded, and the crash
   * line names whatever plugin code dies. */
  evb_run_signals_start (loop, config->settings.grace_ms);
  evb_crash_report_install ();

  if (!evb_pipeline_load (bus, config, route_ids, errors))
    {
      evb_cli_print_errors (errors);
      /* Nothing may run; the plugins that did load shut down in reverse
       * order. */
      evb_pipeline_remove_routes (bus, route_ids);
      evb_bus_free (bus);
      return EVB_EXIT_USAGE;
    }
  g_debug ("running %s: %u plugins, %u routes", file, config->plugins->len, config->routes->len);
  if (trace_pattern != NULL)
    {
      trace = evb_run_trace_new (trace_pattern, route_ids, NULL);
      evb_run_trace_attach (trace, bus);
    }

  if (exit_when_idle)
    idle_id = g_timeout_add (IDLE_CHECK_INTERVAL_MS, quit_when_idle, &state);
  evb_bus_watch_loop (bus);
  /* A signal during loading asked for the shutdown already. */
  if (!evb_run_signals_stop_requested ())
    g_main_loop_run (loop);
  g_clear_handle_id (&idle_id, g_source_remove);

  /* The signal handlers stay: a second signal during the grace period
   * forces the exit. */
  evb_bus_shutdown (bus, (gint) config->settings.grace_ms);
  summary = evb_bus_summary (bus);
  fprintf (stderr, "evbus: %s\n", summary);
  fflush (stderr);

  evb_bus_free (bus);
  evb_run_trace_free (trace);
  return EVB_EXIT_OK;
}
