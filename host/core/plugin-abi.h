/* The plugin ABI as the host enforces it on any descriptor it is given,
 * linked in or loaded from a file: ABI version, struct sizes, names,
 * handler and option tables, and an instance's config checked against the
 * option table.  Needs no bus. */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "evbus/plugin.h"

G_BEGIN_DECLS
#define EVB_PLUGIN_ERROR (evb_plugin_error_quark ())
GQuark evb_plugin_error_quark (void);

typedef enum {
  EVB_PLUGIN_ERROR_NOT_FOUND,       /* no such file */
  EVB_PLUGIN_ERROR_NOT_LOADABLE,    /* dlopen refused it */
  EVB_PLUGIN_ERROR_NO_DESCRIPTOR,   /* no evb_plugin_descriptor symbol */
  EVB_PLUGIN_ERROR_ABI_MISMATCH,    /* built for another ABI major */
  EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,  /* descriptor fields missing or malformed */
  EVB_PLUGIN_ERROR_BAD_NAME,        /* instance name not [a-z0-9_-]+ */
  EVB_PLUGIN_ERROR_DUPLICATE_NAME,  /* instance name taken */
  EVB_PLUGIN_ERROR_UNKNOWN_OPTION,
  EVB_PLUGIN_ERROR_OPTION_TYPE,
  EVB_PLUGIN_ERROR_MISSING_OPTION,
  EVB_PLUGIN_ERROR_INIT_FAILED,
  EVB_PLUGIN_ERROR_NO_HANDLER,
  EVB_PLUGIN_ERROR_OPTION_VALUE,    /* the right type, outside the option's limits */
  EVB_PLUGIN_ERROR_HANDLER_MODE,    /* a route's mode contradicts its handler's (routes.c) */
} EvbPluginError;

/* Checks a descriptor linked in or loaded (ABI major; a minor no newer
 * than the host's; struct size, name, handler and option tables: their
 * length and end markers when the descriptor gives their length, names,
 * types, handler modes, option limits, and each default against its type
 * and limits).  @origin names it in messages. */
gboolean evb_plugin_descriptor_check (const EvbPluginDescriptor *descriptor, const char *origin, GError **error);

/* One problem with an instance's config, for callers that point at it. */
typedef struct {
  char *key;     /* the option key at fault ("" for the whole object) */
  EvbPluginError code;
  char *message; /* without the key: `unknown option (options: a, b)` */
} EvbOptionProblem;

void evb_option_problem_free (EvbOptionProblem *problem);

/* Validates @config (object or NULL) against the descriptor's option table
 * (types, then limits); returns the options with defaults filled in and
 * relative EVB_OPTION_PATH values made absolute against the current folder,
 * or NULL after appending every problem to @problems (EvbOptionProblem,
 * caller frees). */
json_t *evb_plugin_options_resolve (const EvbPluginDescriptor *descriptor, json_t *config, GPtrArray *problems);

/* @config (object or NULL) with every relative EVB_OPTION_PATH value —
 * given, or the default when none is given — joined to @base_dir (the
 * config file's folder), for evb_plugin_options_resolve () to check and
 * fill in the rest.  "" and "-" are kept, and so is any value of the wrong
 * type (resolve reports it).  A new reference; a @config that is not an
 * object comes back as it is.  No I/O. */
json_t *evb_plugin_options_resolve_paths (const EvbPluginDescriptor *descriptor, json_t *config,
                                          const char *base_dir);

/* "" and "-" stay as they are; an absolute path too; a relative one is
 * joined to @base_dir (the current folder when NULL).  Caller frees. */
char *evb_option_path_resolve (const char *path, const char *base_dir);

const char *evb_option_type_to_string (EvbOptionType type);

/* ABI 1.1 fields, read only from a descriptor whose abi_minor says they are
 * there (a 1.0 descriptor's reserved fields are never read): NULL, 0 or
 * EVB_HANDLER_MODE_EITHER otherwise. */
const EvbOptionLimits *evb_option_get_limits (const EvbPluginDescriptor *descriptor, const EvbOptionInfo *option);
EvbHandlerMode evb_handler_get_mode (const EvbPluginDescriptor *descriptor, const EvbHandlerInfo *handler);
EvbPluginStopFunc evb_plugin_descriptor_get_stop (const EvbPluginDescriptor *descriptor);

/* The entry of the handler table named @name, or NULL. */
const EvbHandlerInfo *evb_plugin_descriptor_find_handler (const EvbPluginDescriptor *descriptor, const char *name);

/* "either", "sync" or "async". */
const char *evb_handler_mode_to_string (EvbHandlerMode mode);

/* For `evbus inspect`: what an option's limits allow, as text ("from 0 to
 * 60000", "at least 1", "at most 5", one of "line", "json") or
 * NULL when it has none; and as JSON members to merge into the option's
 * object ({"min": 0, "max": 60000} or {"choices": ["line", "json"]}; a
 * bound that is not set is left out), or NULL.  Caller frees. */
char *evb_option_describe_limits (const EvbPluginDescriptor *descriptor, const EvbOptionInfo *option);
json_t *evb_option_limits_to_json (const EvbPluginDescriptor *descriptor, const EvbOptionInfo *option);

G_END_DECLS
