/* Turning a loaded config into a running bus: find each plugin file, load
 * the plugins in file order, add the routes.  Shared by `evbus run` and
 * `evbus check`, which report the same problems.
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
#include "plugin-module.h"

G_BEGIN_DECLS

/* evb_config_load() of @file, after checking that nobody else could have
 * written it (trust.h); an untrusted file gives one line in @errors. */
EvbConfig *evb_pipeline_load_config (const char *file, GPtrArray *errors);

/* Loads @config's plugins into @bus in file order, then adds its routes,
 * appending one error line (char *) to @errors per problem.  Goes on past
 * a problem: the other plugins are loaded and the routes of every plugin
 * that did load are checked, so `run` and `check` report the same list.
 * When @route_ids is not NULL the id (guint64) of each route added is
 * appended to it.  Returns TRUE when there was no problem.  Whatever was
 * loaded stays in @bus: the caller shuts it down. */
gboolean evb_pipeline_load (EvbBus *bus, EvbConfig *config, GArray *route_ids, GPtrArray *errors);

/* Removes the routes whose ids evb_pipeline_load() collected, so that
 * shutting @bus down afterwards dispatches nothing to them: what plugins
 * emitted from init then reaches no config route. */
void evb_pipeline_remove_routes (EvbBus *bus, GArray *route_ids);

/* Writes each line of @errors to stderr. */
void evb_cli_print_errors (GPtrArray *errors);

G_END_DECLS
