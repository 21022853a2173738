/* From a loaded config to a bus with plugins and routes (cli-pipeline.h). */
#include "build.h"

#include <stdio.h>
#include <string.h>

#include "plugin-abi.h"
#include "plugin-module.h"
#include "trust.h"

static void
add_error_line (GPtrArray *errors, EvbConfig *config, const char *json_path, const char *message)
{
  g_ptr_array_add (errors, evb_config_error_line (config, json_path, "%s", message));
}

/* Checks the instance's options against the plugin's table before init,
 * so that each problem points at its own key ("plugins[0].config.count")
 * rather than at the plugin entry as a whole. */
static gboolean
check_options (EvbConfig *config, EvbConfigPlugin *plugin, const EvbPluginDescriptor *descriptor,
               GPtrArray *errors)
{
  g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) evb_option_problem_free);
  json_t *options = evb_plugin_options_resolve (descriptor, plugin->config, problems);

  if (options != NULL)
    {
      json_decref (options);
      return TRUE;
    }
  for (guint i = 0; i < problems->len; i++)
    {
      EvbOptionProblem *problem = g_ptr_array_index (problems, i);
      g_autofree char *json_path = problem->key[0] != '\0'
                                     ? g_strdup_printf ("%s.config.%s", plugin->json_path, problem->key)
                                     : g_strdup_printf ("%s.config", plugin->json_path);

      add_error_line (errors, config, json_path, problem->message);
    }
  return FALSE;
}

static gboolean
load_plugin (EvbBus *bus, EvbConfig *config, EvbConfigPlugin *plugin, GPtrArray *errors)
{
  g_autofree char *path_key = g_strdup_printf ("%s.path", plugin->json_path);
  g_autofree char *file = NULL;
  g_autoptr (GError) error = NULL;
  const EvbPluginDescriptor *descriptor;
  gpointer module = NULL;
  gboolean loaded = FALSE;

  file = evb_plugin_find (plugin->path, config->base_dir, &error);
  if (file == NULL || !evb_trust_check (file, &error))
    {
      add_error_line (errors, config, path_key, error->message);
      return FALSE;
    }
  /* Opened here first to tell a bad file from bad options; the load below
   * opens it again, which dlopen counts rather than repeats. */
  descriptor = evb_plugin_module_open (file, &module, &error);
  if (descriptor == NULL)
    {
      add_error_line (errors, config, path_key, error->message);
      return FALSE;
    }
  if (check_options (config, plugin, descriptor, errors))
    {
      /* Paths in options are relative to the config file's folder
       * (DESIGN "Stock plugins"), not to wherever evbus was started. */
      json_t *options = evb_plugin_options_resolve_paths (descriptor, plugin->config, config->base_dir);

      if (evb_plugin_load (bus, plugin->name, file, options, &error) != NULL)
        {
          g_debug ("loaded plugin \"%s\" from %s", plugin->name, file);
          loaded = TRUE;
        }
      else
        add_error_line (errors, config, plugin->json_path, error->message);
      json_decref (options);
    }
  evb_plugin_module_close (module);
  return loaded;
}

static gboolean
add_route (EvbBus *bus, EvbConfig *config, EvbConfigRoute *route, GArray *route_ids, GPtrArray *errors)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;
  EvbPluginInstance *instance = evb_bus_find_plugin (bus, route->instance);
  guint64 id;

  /* Only when the plugin failed to load (and said so): its handlers are
   * unknown, so guessing about them would add noise, not information. */
  if (instance == NULL)
    return FALSE;

  evb_config_route_to_spec (route, &spec);
  id = evb_bus_add_route (bus, instance, &spec, NULL, &error);
  if (id == 0)
    {
      const char *key = evb_route_error_key (error);
      g_autofree char *json_path = key != NULL ? g_strdup_printf ("%s.%s", route->json_path, key)
                                               : g_strdup (route->json_path);

      add_error_line (errors, config, json_path, error->message);
      return FALSE;
    }
  g_debug ("route %" G_GUINT64_FORMAT ": \"%s\" -> %s.%s (%s, priority %d)", id, route->on, route->instance,
           route->handler, route->mode == EVB_MODE_ASYNC ? "async" : "sync", route->priority);
  if (route_ids != NULL)
    g_array_append_val (route_ids, id);
  return TRUE;
}

EvbConfig *
evb_pipeline_load_config (const char *file, GPtrArray *errors)
{
  g_autoptr (GError) error = NULL;

  if (!evb_trust_check (file, &error))
    {
      g_ptr_array_add (errors, g_strdup (error->message));
      return NULL;
    }
  return evb_config_load (file, errors);
}

gboolean
evb_pipeline_load (EvbBus *bus, EvbConfig *config, GArray *route_ids, GPtrArray *errors)
{
  gboolean ok = TRUE;

  for (guint i = 0; i < config->plugins->len; i++)
    ok &= load_plugin (bus, config, g_ptr_array_index (config->plugins, i), errors);
  for (guint i = 0; i < config->routes->len; i++)
    ok &= add_route (bus, config, g_ptr_array_index (config->routes, i), route_ids, errors);
  return ok;
}

void
evb_pipeline_remove_routes (EvbBus *bus, GArray *route_ids)
{
  for (guint i = 0; i < route_ids->len; i++)
    evb_bus_remove_route (bus, g_array_index (route_ids, guint64, i));
}

void
evb_cli_print_errors (GPtrArray *errors)
{
  for (guint i = 0; i < errors->len; i++)
    fprintf (stderr, "%s\n", (const char *) g_ptr_array_index (errors, i));
  fflush (stderr);
}
