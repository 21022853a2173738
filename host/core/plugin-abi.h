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
} EvbPluginError;

/* Checks a descriptor linked in or loaded (ABI major; a minor no newer
 * than the host's; struct size, name, handler and option tables).
 * @origin names it in messages. */
gboolean evb_plugin_descriptor_check (const EvbPluginDescriptor *descriptor, const char *origin, GError **error);

/* One problem with an instance's config, for callers that point at it. */
typedef struct {
  char *key;     /* the option key at fault ("" for the whole object) */
  EvbPluginError code;
  char *message; /* without the key: `unknown option (options: a, b)` */
} EvbOptionProblem;

void evb_option_problem_free (EvbOptionProblem *problem);

/* Validates @config (object or NULL) against the descriptor's option table;
 * returns the options with defaults filled in, or NULL after appending every
 * problem to @problems (EvbOptionProblem, caller frees). */
json_t *evb_plugin_options_resolve (const EvbPluginDescriptor *descriptor, json_t *config, GPtrArray *problems);

const char *evb_option_type_to_string (EvbOptionType type);

G_END_DECLS
