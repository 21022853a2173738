/* The pipeline config loader (see config.h).
 *
 * Checking never stops at the first problem: every helper reports what is
 * wrong with its value and lets the caller go on with the next one, so an
 * operator fixes a file in one round.  Problems are collected with their
 * position and sorted at the end, which puts them in document order
 * whatever order the checks ran in (environment expansion runs over the
 * whole file before anything else, for instance). */
#include "config.h"

#include <string.h>

#include "doc-problems.h"
#include "json-text.h"

static const char *const top_keys[] = { "$schema", "host", "plugins", "routes", NULL };
static const char *const plugin_keys[] = { "name", "path", "config", NULL };

typedef struct {
  EvbJsonReader reader;         /* reports to on_problem */
  EvbConfig *config;
  EvbDocProblems *problems;
  GHashTable *unexpanded_paths; /* paths whose "${...}" failed: their value is not checked further */
  GHashTable *instances;        /* instance name -> JSON path of its first declaration */
  GPtrArray *instance_names;    /* in declaration order, for messages */
  gboolean instances_complete;  /* every plugin entry had a name: routes can be checked against them */
} ConfigLoader;

/* ---- reporting ---- */

static void
add_problem (ConfigLoader *loader, const char *path, const char *message)
{
  evb_doc_problems_add (loader->problems, path, message);
}

/* Every problem the readers find comes here.  A problem with a value that
 * already failed variable expansion is left out: checking "${UNSET}" as an
 * overflow policy would only add a second, misleading line. */
static void
on_problem (EvbProblemKind kind, const char *path, const char *message, gpointer user_data)
{
  ConfigLoader *loader = user_data;

  if (kind == EVB_PROBLEM_VALUE && g_hash_table_contains (loader->unexpanded_paths, path))
    return;
  add_problem (loader, path, message);
}

static void
on_expand_problem (const char *path, const char *message, gpointer user_data)
{
  ConfigLoader *loader = user_data;

  add_problem (loader, path, message);
  g_hash_table_add (loader->unexpanded_paths, g_strdup (path));
}

/* ---- plugins ---- */

static void
config_plugin_free (gpointer data)
{
  EvbConfigPlugin *plugin = data;

  g_free (plugin->name);
  g_free (plugin->path);
  json_decref (plugin->config);
  g_free (plugin->json_path);
  g_free (plugin);
}

/* Checks the name and remembers it, so that routes can refer to it.  A
 * misspelt name is still remembered: the routes naming it would only
 * repeat the problem as "unknown plugin instance". */
static gboolean
declare_instance (ConfigLoader *loader, const char *name, const char *plugin_path, const char *name_path)
{
  g_autofree char *quoted = evb_json_quote (name);
  const char *first;

  first = g_hash_table_lookup (loader->instances, name);
  if (first)
    {
      evb_json_report (&loader->reader, EVB_PROBLEM_VALUE, name_path, "duplicate instance name %s (first at %s)",
                       quoted, first);
      return FALSE;
    }
  g_hash_table_insert (loader->instances, g_strdup (name), g_strdup (plugin_path));
  g_ptr_array_add (loader->instance_names, g_strdup (name));

  if (!evb_name_is_valid (name))
    {
      evb_json_report (&loader->reader, EVB_PROBLEM_VALUE, name_path,
                       "invalid instance name %s (use only a-z, 0-9, \"_\" and \"-\")", quoted);
      return FALSE;
    }
  return TRUE;
}

static void
load_plugin (ConfigLoader *loader, json_t *entry, const char *path)
{
  g_autofree char *name_path = evb_json_path_join (path, "name");
  g_autofree char *file_path = evb_json_path_join (path, "path");
  g_autofree char *config_path = evb_json_path_join (path, "config");
  const char *name = NULL;
  const char *file = NULL;
  json_t *config;
  json_t *value;
  gboolean ok = TRUE;
  EvbConfigPlugin *plugin;

  if (!evb_json_read_object (&loader->reader, entry, path))
    {
      loader->instances_complete = FALSE;
      return;
    }
  evb_json_check_keys (&loader->reader, entry, path, plugin_keys);

  if ((value = evb_json_require_key (&loader->reader, entry, path, "name")) == NULL ||
      (name = evb_json_read_string (&loader->reader, value, name_path, FALSE)) == NULL)
    {
      loader->instances_complete = FALSE;
      ok = FALSE;
    }
  else if (!declare_instance (loader, name, path, name_path))
    {
      ok = FALSE;
    }

  if ((value = evb_json_require_key (&loader->reader, entry, path, "path")) == NULL ||
      (file = evb_json_read_string (&loader->reader, value, file_path, FALSE)) == NULL)
    ok = FALSE;

  config = json_object_get (entry, "config");
  if (config && !evb_json_read_object (&loader->reader, config, config_path))
    ok = FALSE;

  if (!ok)
    return;

  plugin = g_new0 (EvbConfigPlugin, 1);
  plugin->name = g_strdup (name);
  plugin->path = g_strdup (file);
  plugin->config = json_incref (config);
  plugin->json_path = g_strdup (path);
  g_ptr_array_add (loader->config->plugins, plugin);
}

static void
load_plugins (ConfigLoader *loader, json_t *plugins)
{
  json_t *entry;
  size_t index;

  if (!evb_json_read_array (&loader->reader, plugins, "plugins"))
    return;
  loader->instances_complete = TRUE;
  json_array_foreach (plugins, index, entry)
    {
      g_autofree char *path = g_strdup_printf ("plugins[%zu]", index);

      load_plugin (loader, entry, path);
    }
}

/* ---- routes ---- */

/* The instance a route names must be declared under "plugins".  With
 * "plugins" missing, or an entry without a usable name, the list of
 * instances is unknown: "unknown plugin instance" would be a guess. */
static gboolean
check_route_instance (ConfigLoader *loader, EvbConfigRoute *route)
{
  g_autofree char *path = NULL;
  g_autofree char *problem = NULL;

  if (!loader->instances_complete)
    return FALSE;
  if (g_hash_table_contains (loader->instances, route->instance))
    return TRUE;
  path = evb_json_path_join (route->json_path, "handler");
  g_ptr_array_add (loader->instance_names, NULL);
  problem = evb_unknown_instance_problem (route->instance, (const char *const *) loader->instance_names->pdata);
  g_ptr_array_remove_index (loader->instance_names, loader->instance_names->len - 1);
  evb_json_report (&loader->reader, EVB_PROBLEM_VALUE, path, "%s", problem);
  return FALSE;
}

static void
load_routes (ConfigLoader *loader, json_t *routes)
{
  json_t *entry;
  size_t index;

  if (!evb_json_read_array (&loader->reader, routes, "routes"))
    return;
  json_array_foreach (routes, index, entry)
    {
      g_autofree char *path = g_strdup_printf ("routes[%zu]", index);

      gboolean complete;
      g_autoptr (EvbConfigRoute) route = evb_route_read (&loader->reader, entry, path, &complete);

      if (route != NULL && route->instance != NULL && check_route_instance (loader, route) && complete)
        g_ptr_array_add (loader->config->routes, g_steal_pointer (&route));
    }
}

/* ---- the file ---- */

static void
load_document (ConfigLoader *loader)
{
  json_t *root = evb_json_doc_root (loader->config->doc);
  json_t *value;

  evb_json_doc_expand_env (loader->config->doc, on_expand_problem, loader);

  if (!json_is_object (root))
    {
      g_autofree char *got = evb_json_describe (root);

      evb_json_report (&loader->reader, EVB_PROBLEM_SHAPE, "", "expected an object at the top level, got %s", got);
      return;
    }
  evb_json_check_keys (&loader->reader, root, "", top_keys);

  /* Editors read "$schema"; we only check it is what they expect. */
  if ((value = json_object_get (root, "$schema")) != NULL)
    evb_json_read_string (&loader->reader, value, "$schema", TRUE);

  if ((value = json_object_get (root, "host")) != NULL)
    evb_settings_read (&loader->reader, value, "host", &loader->config->settings);

  /* Routes name plugins, so plugins go first whatever the key order. */
  if ((value = evb_json_require_key (&loader->reader, root, "", "plugins")) != NULL)
    load_plugins (loader, value);

  if ((value = json_object_get (root, "routes")) != NULL)
    load_routes (loader, value);
}

EvbConfig *
evb_config_load (const char *file, GPtrArray *errors)
{
  g_autoptr (EvbConfig) config = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  ConfigLoader loader = { 0 };
  EvbJsonDoc *doc;

  g_return_val_if_fail (file != NULL, NULL);

  doc = evb_json_doc_load (file, &error);
  if (doc == NULL)
    {
      if (errors)
        g_ptr_array_add (errors, evb_one_line (error->message));
      return NULL;
    }

  config = g_new0 (EvbConfig, 1);
  config->doc = doc;
  config->file = g_strdup (file);
  dir = g_path_get_dirname (file);
  config->base_dir = g_canonicalize_filename (dir, NULL);
  evb_bus_settings_init (&config->settings);
  config->plugins = g_ptr_array_new_with_free_func (config_plugin_free);
  config->routes = g_ptr_array_new_with_free_func ((GDestroyNotify) evb_config_route_free);

  loader.reader.report = on_problem;
  loader.reader.user_data = &loader;
  loader.config = config;
  loader.problems = evb_doc_problems_new (doc, NULL);
  loader.unexpanded_paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  loader.instances = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  loader.instance_names = g_ptr_array_new_with_free_func (g_free);

  load_document (&loader);

  if (evb_doc_problems_count (loader.problems) > 0)
    g_clear_pointer (&config, evb_config_free);
  evb_doc_problems_move_to (loader.problems, errors);

  evb_doc_problems_free (loader.problems);
  g_hash_table_unref (loader.unexpanded_paths);
  g_hash_table_unref (loader.instances);
  g_ptr_array_unref (loader.instance_names);
  return g_steal_pointer (&config);
}

char *
evb_config_where (EvbConfig *config, const char *json_path)
{
  g_return_val_if_fail (config != NULL, NULL);
  return evb_json_doc_where (config->doc, json_path);
}

char *
evb_config_error_line (EvbConfig *config, const char *json_path, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (json_path != NULL, NULL);

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  return evb_doc_error_line (config->doc, NULL, json_path, message);
}

void
evb_config_free (EvbConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->file);
  g_free (config->base_dir);
  g_clear_pointer (&config->plugins, g_ptr_array_unref);
  g_clear_pointer (&config->routes, g_ptr_array_unref);
  evb_json_doc_free (config->doc);
  g_free (config);
}
