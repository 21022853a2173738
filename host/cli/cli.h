/* The evbus command line: one function per command (main.c dispatches).
 *
 * Output rules shared by every command:
 * - what the user asked for goes to stdout (the "ok" line of check, the
 *   description of inspect, the routes of explain);
 * - problems go to stderr, one per line; a problem in a config file is
 *   spelt "FILE:LINE:COL: JSON_PATH: message" (config.h), any other one
 *   "evbus: message" or "evbus COMMAND: message";
 * - exit status EVB_EXIT_OK, or EVB_EXIT_USAGE for a bad command line, a
 *   bad config, a plugin that does not load or a bad event to explain. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EVB_EXIT_OK 0
#define EVB_EXIT_USAGE 2

/* Each takes the arguments after the command name: argv[0] is the
 * command's own name for GOption ("evbus run"), argv[1..] its arguments.
 * Returns the process exit status. */
int evb_cli_run (int argc, char **argv);
int evb_cli_check (int argc, char **argv);
int evb_cli_inspect (int argc, char **argv);
int evb_cli_explain (int argc, char **argv);

/* Parses a command's options with @context (which it owns and frees) and
 * wants exactly the positional arguments named in @names (NULL-terminated,
 * e.g. { "CONFIG", "EVENT", NULL }), as messages name them.  On a usage
 * problem prints "evbus COMMAND: ..." with a hint to stderr ("missing
 * EVENT", "unexpected argument "x" after EVENT") and returns FALSE;
 * otherwise the arguments are (*@argv)[1] on, in @names' order. */
gboolean evb_cli_parse_arguments (GOptionContext *context, const char *command, const char *const *names,
                                  int *argc, char ***argv);

/* evb_cli_parse_arguments () of one argument, named @what; returns it
 * (owned by @argv), or NULL after printing the usage problem. */
const char *evb_cli_parse_one_argument (GOptionContext *context, const char *command, const char *what,
                                        int *argc, char ***argv);

/* The paragraph of --help that says where plugin files are found;
 * @first_dir describes the first folder searched ("the config file's
 * folder").  Caller frees. */
char *evb_cli_plugin_lookup_help (const char *first_dir);

G_END_DECLS
