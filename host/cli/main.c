/* evbus — the host executable: `evbus COMMAND [OPTION...] ARGUMENT`.
 *
 * main() parses only the options that come before the command (--version,
 * --help), then hands the rest of the command line to the command, which
 * parses its own options with its own GOptionContext (so `evbus run --help`
 * shows run's options). */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "evbus/plugin.h"

typedef struct {
  const char *name;
  const char *summary; /* one line for `evbus --help` */
  int (*main) (int argc, char **argv);
} Command;

static const Command commands[] = {
  { "run", "Load a pipeline config and run it until SIGINT or SIGTERM", evb_cli_run },
  { "check", "Load a config and every plugin it names, report all errors, run nothing", evb_cli_check },
  { "inspect", "Describe a plugin file: handlers, options, defaults", evb_cli_inspect },
  { "explain", "Show the routes a config gives an event, in order, running nothing", evb_cli_explain },
};

static char *
command_names (void)
{
  GString *names = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (names, "%s%s", i > 0 ? ", " : "", commands[i].name);
  return g_string_free (names, FALSE);
}

static char *
commands_help (void)
{
  GString *text = g_string_new ("Commands:\n");

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (text, "  %-9s%s\n", commands[i].name, commands[i].summary);
  g_string_append (text, "\nRun \"evbus COMMAND --help\" for the options of a command.");
  return g_string_free (text, FALSE);
}

char *
evb_cli_plugin_lookup_help (const char *first_dir)
{
  return g_strdup_printf ("Plugin files: an absolute path is used as it is. A relative one is looked\n"
                          "up in these folders, in this order, and the first file found is loaded:\n"
                          "  1. %s\n"
                          "  2. each folder of $EVBUS_PLUGIN_PATH (separated by \":\")\n"
                          "  3. %s\n"
                          "In each folder the path is tried as written, then a bare name such as\n"
                          "\"console\" (no \"/\", no \".so\") as \"evbus-console.so\", then as \"console.so\".",
                          first_dir, EVB_PLUGIN_DIR);
}

gboolean
evb_cli_parse_arguments (GOptionContext *context, const char *command, const char *const *names, int *argc,
                         char ***argv)
{
  g_autoptr (GOptionContext) owned = context;
  g_autoptr (GError) error = NULL;
  int wanted = (int) g_strv_length ((char **) names);

  if (!g_option_context_parse (owned, argc, argv, &error))
    {
      fprintf (stderr, "evbus %s: %s (try \"evbus %s --help\")\n", command, error->message, command);
      return FALSE;
    }
  if (*argc < wanted + 1)
    {
      fprintf (stderr, "evbus %s: missing %s (try \"evbus %s --help\")\n", command, names[*argc - 1], command);
      return FALSE;
    }
  if (*argc > wanted + 1)
    {
      fprintf (stderr, "evbus %s: unexpected argument \"%s\" after %s (try \"evbus %s --help\")\n", command,
               (*argv)[wanted + 1], names[wanted - 1], command);
      return FALSE;
    }
  return TRUE;
}

const char *
evb_cli_parse_one_argument (GOptionContext *context, const char *command, const char *what, int *argc,
                            char ***argv)
{
  const char *const names[] = { what, NULL };

  if (!evb_cli_parse_arguments (context, command, names, argc, argv))
    return NULL;
  return (*argv)[1];
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *description = commands_help ();
  g_autofree char *names = command_names ();
  g_autofree char *prgname = NULL;
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and the plugin ABI, then exit", NULL },
    G_OPTION_ENTRY_NULL,
  };

  setlocale (LC_ALL, "");
  g_set_prgname ("evbus");
  /* stdout carries what plugins print (the console plugin's event lines):
   * every log message, debug included, goes to stderr. */
  g_log_writer_default_set_use_stderr (TRUE);

  context = g_option_context_new ("COMMAND [ARGUMENT...]");
  /* Stop at the command: what follows is the command's to parse. */
  g_option_context_set_strict_posix (context, TRUE);
  g_option_context_set_summary (context, "Run, check, inspect and explain evbus pipelines and plugins.");
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "evbus: %s (try \"evbus --help\")\n", error->message);
      return EVB_EXIT_USAGE;
    }
  if (version)
    {
      printf ("evbus %s (plugin ABI %d.%d)\n", EVB_VERSION, EVB_ABI_MAJOR, EVB_ABI_MINOR);
      return EVB_EXIT_OK;
    }
  if (argc < 2)
    {
      fprintf (stderr, "evbus: no command given (commands: %s; try \"evbus --help\")\n", names);
      return EVB_EXIT_USAGE;
    }

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      {
        /* The command sees itself as argv[0], and its --help says
         * "evbus run [OPTION...]". */
        prgname = g_strdup_printf ("evbus %s", commands[i].name);
        g_set_prgname (prgname);
        argv[1] = prgname;
        return commands[i].main (argc - 1, argv + 1);
      }

  fprintf (stderr, "evbus: unknown command \"%s\" (commands: %s; try \"evbus --help\")\n", argv[1], names);
  return EVB_EXIT_USAGE;
}
