/* Plugin files: finding them, opening them, handing their descriptor to
 * a bus (plugin-module.h). */
#include "plugin-module.h"

#include <dlfcn.h>
#include <string.h>

#define PLUGIN_FILE_PREFIX "evbus-"
#define PLUGIN_FILE_SUFFIX ".so"

char **
evb_plugin_search_dirs (const char *base_dir)
{
  g_autoptr (GStrvBuilder) dirs = g_strv_builder_new ();
  const char *env = g_getenv ("EVBUS_PLUGIN_PATH");

  if (base_dir != NULL)
    g_strv_builder_add (dirs, base_dir);
  else
    {
      g_autofree char *current = g_get_current_dir ();

      g_strv_builder_add (dirs, current);
    }
  if (env != NULL)
    {
      g_auto (GStrv) entries = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);

      for (guint i = 0; entries[i] != NULL; i++)
        if (entries[i][0] != '\0')
          g_strv_builder_add (dirs, entries[i]);
    }
  g_strv_builder_add (dirs, EVB_PLUGIN_DIR);
  return g_strv_builder_end (dirs);
}

static gboolean
is_bare_name (const char *path)
{
  return strchr (path, G_DIR_SEPARATOR) == NULL && !g_str_has_suffix (path, PLUGIN_FILE_SUFFIX);
}

char *
evb_plugin_find (const char *path, const char *base_dir, GError **error)
{
  g_auto (GStrv) dirs = NULL;
  g_autofree char *stock_name = NULL;
  g_autofree char *searched = NULL;

  if (g_path_is_absolute (path))
    return g_strdup (path);

  if (is_bare_name (path))
    stock_name = g_strconcat (PLUGIN_FILE_PREFIX, path, PLUGIN_FILE_SUFFIX, NULL);
  dirs = evb_plugin_search_dirs (base_dir);
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      const char *names[] = { path, stock_name };

      for (guint n = 0; n < G_N_ELEMENTS (names) && names[n] != NULL; n++)
        {
          g_autofree char *candidate = g_build_filename (dirs[i], names[n], NULL);

          /* Regular files only: a bare name may well be a folder of the
           * source tree ("plugins/console"). */
          if (g_file_test (candidate, G_FILE_TEST_IS_REGULAR))
            return g_canonicalize_filename (candidate, NULL);
        }
    }

  searched = g_strjoinv (", ", dirs);
  if (stock_name != NULL)
    g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NOT_FOUND,
                 "plugin \"%s\" not found: no %s or %s in %s", path, path, stock_name, searched);
  else
    g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NOT_FOUND, "plugin \"%s\" not found: no %s in %s",
                 path, path, searched);
  return NULL;
}

const EvbPluginDescriptor *
evb_plugin_module_open (const char *path, gpointer *module, GError **error)
{
  const EvbPluginDescriptor *descriptor;
  g_autofree char *origin = g_strdup_printf ("\"%s\"", path);
  void *handle;

  *module = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NOT_FOUND, "plugin file \"%s\" not found", path);
      return NULL;
    }
  handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NOT_LOADABLE,
                   "\"%s\" is not a loadable shared object: %s", path, dlerror ());
      return NULL;
    }
  descriptor = dlsym (handle, EVB_PLUGIN_DESCRIPTOR_SYMBOL);
  if (descriptor == NULL)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NO_DESCRIPTOR,
                   "\"%s\" exports no %s: is it an evbus plugin? (define one with EVB_PLUGIN_DEFINE)", path,
                   EVB_PLUGIN_DESCRIPTOR_SYMBOL);
      dlclose (handle);
      return NULL;
    }
  if (!evb_plugin_descriptor_check (descriptor, origin, error))
    {
      dlclose (handle);
      return NULL;
    }
  *module = handle;
  return descriptor;
}

void
evb_plugin_module_close (gpointer module)
{
  if (module != NULL)
    dlclose (module);
}

EvbPluginInstance *
evb_plugin_load (EvbBus *bus, const char *instance_name, const char *path, json_t *config, GError **error)
{
  gpointer module;
  const EvbPluginDescriptor *descriptor = evb_plugin_module_open (path, &module, error);

  if (descriptor == NULL)
    return NULL;
  return evb_bus_add_plugin_code (bus, instance_name, descriptor, path, module, evb_plugin_module_close, config,
                                  error);
}

