/* Plugin files: where a config's "path" leads, and the code in it opened
 * and handed to a bus.  The ABI checks themselves are the core's
 * (core/plugin-abi.h): a descriptor linked into a program gets them too. */
#pragma once

#include "bus.h"
#include "plugin-abi.h"

G_BEGIN_DECLS

/* The plugin folders searched for a relative path, in order: @base_dir
 * (the config file's folder; the current directory when NULL), each entry
 * of $EVBUS_PLUGIN_PATH (colon-separated, empty entries skipped), then the
 * installed plugin folder.  Caller frees with g_strfreev. */
char **evb_plugin_search_dirs (const char *base_dir);

/* Where the plugin @path names lives.  An absolute @path is returned as is
 * (the loader reports it if missing).  A relative one is tried in each
 * folder of evb_plugin_search_dirs() in turn; in each folder first as
 * written, then, for a bare name ("console": no "/" and no ".so" suffix),
 * as "evbus-NAME.so" (how stock plugins are installed), then as "NAME.so"
 * (what sdk/template builds).  The first file that is not a folder wins
 * (evb_plugin_module_open refuses it if it is not a regular file).  Returns a
 * new path, or NULL with EVB_PLUGIN_ERROR_NOT_FOUND naming every name and
 * folder tried: "plugin \"clock\" not found: no clock, evbus-clock.so or
 * clock.so in DIR, DIR, ...". */
char *evb_plugin_find (const char *path, const char *base_dir, GError **error);

/* Opens @path and returns its descriptor, checked (ABI, sizes, names).
 * A path that is not a regular file (a FIFO, on which dlopen would wait
 * forever, a device, a folder) is refused before anything opens it:
 * EVB_PLUGIN_ERROR_NOT_LOADABLE, "\"PATH\" is not a regular file but a
 * FIFO: give the path of a plugin's .so file".  This is the one check:
 * `check`, `run`, `inspect` and the harness all open plugins here.
 * @module receives the dlopen handle (close with evb_plugin_module_close).
 * Main thread. */
const EvbPluginDescriptor *evb_plugin_module_open (const char *path, gpointer *module, GError **error);
void evb_plugin_module_close (gpointer module);

/* Opens @path (dlopen RTLD_NOW|RTLD_LOCAL) and adds it to @bus as
 * @instance_name with @config (evb_bus_add_plugin_code): the code stays
 * loaded while the instance can be reached.  Main thread.  Errors:
 * EVB_PLUGIN_ERROR, the host's own load errors word for word. */
EvbPluginInstance *evb_plugin_load (EvbBus *bus, const char *instance_name, const char *path, json_t *config,
                                    GError **error);

G_END_DECLS
