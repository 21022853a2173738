/* Turning a loaded config into a running bus: find each plugin file, load
 * the plugins in file order, add the routes.  Shared by `evbus run` (stops
 * at the first problem) and `evbus check` (reports them all).
 *
 * Every problem becomes one line in the config loader's format
 * (evb_config_error_line), pointing at the value at fault:
 *   plugins[i].path          file not found, untrusted (trust.h), not loadable, no descriptor, ABI
 *   plugins[i].config.KEY    unknown option, wrong type, required option missing
 *   plugins[i]               init failed
 *   routes[i].handler        the plugin has no such handler
 *   routes[i]                anything else the bus refuses
 *
 * Main thread of the bus. */
#pragma once

#include "bus.h"
#include "config.h"

G_BEGIN_DECLS

#define EVB_CLI_ERROR (evb_cli_error_quark ())
GQuark evb_cli_error_quark (void);

typedef enum {
  EVB_CLI_ERROR_PLUGIN_NOT_FOUND, /* no file by that name in any plugin folder */
} EvbCliError;

/* The plugin folders searched for a relative path, in order: @base_dir
 * (the config file's folder; the current directory when NULL), each entry
 * of $EVBUS_PLUGIN_PATH (colon-separated, empty entries skipped), then the
 * installed plugin folder.  Caller frees with g_strfreev. */
char **evb_plugin_search_dirs (const char *base_dir);

/* Where the plugin @path names lives.  An absolute @path is returned as is
 * (the loader reports it if missing).  A relative one is tried in each
 * folder of evb_plugin_search_dirs() in turn; in each folder first as
 * written, then, for a bare name ("console": no "/" and no ".so" suffix),
 * as "evbus-NAME.so".  The first regular file wins.  Returns a new path,
 * or NULL with EVB_CLI_ERROR_PLUGIN_NOT_FOUND naming every place tried. */
char *evb_plugin_find (const char *path, const char *base_dir, GError **error);

/* evb_config_load() of @file, after checking that nobody else could have
 * written it (trust.h); an untrusted file gives one line in @errors. */
EvbConfig *evb_pipeline_load_config (const char *file, GPtrArray *errors);

/* Loads @config's plugins into @bus in file order, then adds its routes,
 * appending one error line (char *) to @errors per problem.  With
 * @keep_going FALSE stops at the first problem; with TRUE goes on loading
 * the other plugins and checks the routes of every plugin that did load.
 * When @route_ids is not NULL the id (guint64) of each route added is
 * appended to it.  Returns TRUE when there was no problem.  Whatever was
 * loaded stays in @bus: the caller shuts it down. */
gboolean evb_pipeline_load (EvbBus *bus, EvbConfig *config, gboolean keep_going, GArray *route_ids,
                            GPtrArray *errors);

/* Removes the routes whose ids evb_pipeline_load() collected, so that
 * shutting @bus down afterwards dispatches nothing to them: what plugins
 * emitted from init then reaches no config route. */
void evb_pipeline_remove_routes (EvbBus *bus, GArray *route_ids);

/* Writes each line of @errors to stderr. */
void evb_cli_print_errors (GPtrArray *errors);

G_END_DECLS
