/* The pipeline config: one JSON file naming host settings, plugin
 * instances and routes (DESIGN.md "Config"; the format is described
 * exactly by config/schema.json).
 *
 * Loading checks everything that can be checked without loading a plugin:
 * types, ranges, unknown keys, instance names, route patterns, filters.
 * Each problem becomes one line "FILE:LINE:COL: PATH: message" (PATH is
 * left out for the top level), and every problem is reported, in document
 * order, not just the first.  What can only be found later (a plugin that
 * does not load, a handler a plugin does not export) is reported by the
 * caller in the same form with evb_config_error_line().
 *
 * Environment variables are expanded in every string value first (see
 * evb_json_expand_env_string); checks then see the expanded text.
 *
 * Thread safety: a loaded EvbConfig is plain data; read it from any thread,
 * free it from one. */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "bus.h"
#include "evbus/plugin.h"
#include "json-doc.h"
#include "spec-read.h"

G_BEGIN_DECLS

/* One entry of "plugins". */
typedef struct {
  char *name;      /* instance name, [a-z0-9_-]+, unique in the file */
  char *path;      /* as written (variables expanded), never empty; when
                    * relative, the loader resolves it against base_dir,
                    * then EVBUS_PLUGIN_PATH */
  json_t *config;  /* owned reference to the "config" object, NULL if absent */
  char *json_path; /* "plugins[0]", for evb_config_error_line() */
} EvbConfigPlugin;

typedef struct {
  char *file;              /* as passed to evb_config_load() */
  char *base_dir;          /* absolute folder of @file */
  EvbBusSettings settings; /* evb_bus_settings_init() defaults, then "host" */
  GPtrArray *plugins;      /* EvbConfigPlugin *, in file order */
  GPtrArray *routes;       /* EvbConfigRoute *, in file order */
  EvbJsonDoc *doc;         /* the parsed file, variables expanded */
} EvbConfig;

/* Loads and checks @file.  Returns NULL if anything is wrong, after
 * appending one line per problem to @errors (char *, to be freed with
 * g_free; may be NULL to only test).  A file that cannot be read or parsed
 * gives a single line ("FILE: cannot read: ..." or "FILE:L:C: <jansson's
 * message>"): nothing else can be checked then. */
EvbConfig *evb_config_load (const char *file, GPtrArray *errors);

/* "FILE:LINE:COL" of @json_path (or of its nearest ancestor), for problems
 * found after loading.  Caller frees. */
char *evb_config_where (EvbConfig *config, const char *json_path);

/* A whole error line "FILE:LINE:COL: JSON_PATH: message" in the loader's
 * format, e.g. for a plugin that fails to load:
 *   evb_config_error_line (config, plugin->json_path, "%s", error->message)
 * Caller frees. */
char *evb_config_error_line (EvbConfig *config, const char *json_path, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

void evb_config_free (EvbConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbConfig, evb_config_free)

G_END_DECLS
