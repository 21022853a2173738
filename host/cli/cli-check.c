/* `evbus check CONFIG`: everything `run` does before it starts, and every
 * problem found on the way, without running the pipeline, and with
 * plugins told they are only checked (evb_plugin_is_checking), so that
 * nothing is created, bound, connected or started. */
#include <stdio.h>

#include "build.h"
#include "cli.h"
#include "trust.h"

static const char *
plural (guint n, const char *one, const char *many)
{
  return n == 1 ? one : many;
}

int
evb_cli_check (int argc, char **argv)
{
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) route_ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr (EvbConfig) config = NULL;
  g_autofree char *lookup = evb_cli_plugin_lookup_help ("the config file's folder");
  GOptionContext *context = g_option_context_new ("CONFIG");
  gboolean allow_insecure = FALSE;
  const GOptionEntry entries[] = {
    { "allow-insecure", 0, 0, G_OPTION_ARG_NONE, &allow_insecure,
      "Load config and plugin files even when others could have changed them", NULL },
    G_OPTION_ENTRY_NULL,
  };
  const char *file;
  gboolean ok;
  EvbBus *bus;

  g_option_context_set_summary (context,
                                "Do everything \"evbus run\" does before it starts: parse and validate\n"
                                "CONFIG, load every plugin (and call its init), check each plugin's\n"
                                "options, resolve every route's handler, compile every filter. Then\n"
                                "shut the plugins down without running the pipeline.\n"
                                "\n"
                                "Acts on nothing: plugins are told they are only checked, so they\n"
                                "validate their options (the sql plugin its statements, on a database\n"
                                "in memory) but create or change no file, bind no port, connect\n"
                                "nowhere, start no process and open no window. It may run beside a\n"
                                "host that runs CONFIG.\n"
                                "\n"
                                "Prints \"CONFIG: ok: N plugins, M routes\" and exits 0, or prints every\n"
                                "problem, one per line as FILE:LINE:COLUMN: JSON_PATH: message, on stderr\n"
                                "and exits 2.");
  g_option_context_set_description (context, lookup);
  g_option_context_add_main_entries (context, entries, NULL);
  file = evb_cli_parse_one_argument (context, "check", "CONFIG", &argc, &argv);
  if (file == NULL)
    return EVB_EXIT_USAGE;
  evb_trust_set_enforced (!allow_insecure);

  config = evb_pipeline_load_config (file, errors);
  if (config == NULL)
    {
      evb_cli_print_errors (errors);
      return EVB_EXIT_USAGE;
    }

  bus = evb_bus_new (&config->settings, NULL);
  /* `check` may run beside a host running this config: plugins' init
   * validates and acts on nothing (evb_plugin_is_checking). */
  evb_bus_set_checking (bus, TRUE);
  ok = evb_pipeline_load (bus, config, route_ids, errors);
  /* Nothing may run: shut down without the config's routes. */
  evb_pipeline_remove_routes (bus, route_ids);
  evb_bus_free (bus);

  if (!ok)
    {
      evb_cli_print_errors (errors);
      return EVB_EXIT_USAGE;
    }
  printf ("%s: ok: %u %s, %u %s\n", file, config->plugins->len, plural (config->plugins->len, "plugin", "plugins"),
          config->routes->len, plural (config->routes->len, "route", "routes"));
  return EVB_EXIT_OK;
}
