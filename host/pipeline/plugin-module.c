/* Plugin files: finding them, opening them, handing their descriptor to
 * a bus (plugin-module.h). */
#include "plugin-module.h"

#include <dlfcn.h>
#include <string.h>
#include <sys/stat.h>

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

/* "a", "a or b", "a, b or c". */
static char *
join_alternatives (const char *const *names, guint n_names)
{
  GString *text = g_string_new (names[0]);

  for (guint n = 1; n < n_names; n++)
    g_string_append_printf (text, "%s%s", n + 1 < n_names ? ", " : " or ", names[n]);
  return g_string_free (text, FALSE);
}

char *
evb_plugin_find (const char *path, const char *base_dir, GError **error)
{
  g_auto (GStrv) dirs = NULL;
  g_autofree char *stock_name = NULL;
  g_autofree char *plain_name = NULL;
  g_autofree char *tried = NULL;
  g_autofree char *searched = NULL;
  const char *names[3] = { path, NULL, NULL };
  guint n_names = 1;

  if (g_path_is_absolute (path))
    return g_strdup (path);

  /* A bare name is tried as written, then as the stock plugins are
   * installed ("evbus-NAME.so"), then as an out-of-tree plugin such as
   * sdk/template builds it ("NAME.so").  The prefixed name comes before
   * the plain one because it can only be an evbus plugin, while "NAME.so"
   * may be any library that happens to sit in the folder (and a folder
   * holding both keeps loading what it loaded before NAME.so was tried).
   * Folders still rank first: each is searched for every name before the
   * next one is. */
  if (is_bare_name (path))
    {
      stock_name = g_strconcat (PLUGIN_FILE_PREFIX, path, PLUGIN_FILE_SUFFIX, NULL);
      plain_name = g_strconcat (path, PLUGIN_FILE_SUFFIX, NULL);
      names[n_names++] = stock_name;
      names[n_names++] = plain_name;
    }
  dirs = evb_plugin_search_dirs (base_dir);
  for (guint i = 0; dirs[i] != NULL; i++)
    for (guint n = 0; n < n_names; n++)
      {
        g_autofree char *candidate = g_build_filename (dirs[i], names[n], NULL);

        /* No folders: a bare name may well be a folder of the source
         * tree ("plugins/console").  Other files that are not regular (a
         * FIFO) are found, so that opening them says what they are. */
        if (g_file_test (candidate, G_FILE_TEST_EXISTS) && !g_file_test (candidate, G_FILE_TEST_IS_DIR))
          return g_canonicalize_filename (candidate, NULL);
      }

  tried = join_alternatives (names, n_names);
  searched = g_strjoinv (", ", dirs);
  g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NOT_FOUND, "plugin \"%s\" not found: no %s in %s", path,
               tried, searched);
  return NULL;
}

/* "a FIFO", "a folder", ... for a file that is not a regular one. */
static const char *
file_kind (mode_t mode)
{
  if (S_ISDIR (mode))
    return "a folder";
  if (S_ISFIFO (mode))
    return "a FIFO";
  if (S_ISSOCK (mode))
    return "a socket";
  if (S_ISCHR (mode))
    return "a character device";
  if (S_ISBLK (mode))
    return "a block device";
  return "a special file";
}

const EvbPluginDescriptor *
evb_plugin_module_open (const char *path, gpointer *module, GError **error)
{
  const EvbPluginDescriptor *descriptor;
  struct stat info;
  g_autofree char *origin = g_strdup_printf ("\"%s\"", path);
  g_autofree char *dl_path = NULL;
  void *handle;

  *module = NULL;
  if (stat (path, &info) != 0)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NOT_FOUND, "plugin file \"%s\" not found", path);
      return NULL;
    }
  /* dlopen would open a FIFO and wait for a writer forever (a device:
   * whatever reading it does): only regular files are code. */
  if (!S_ISREG (info.st_mode))
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NOT_LOADABLE,
                   "\"%s\" is not a regular file but %s: give the path of a plugin's .so file", path,
                   file_kind (info.st_mode));
      return NULL;
    }
  /* dlopen looks a name without a "/" up on the library path: open the
   * file just found in the current folder ("greeter.so" in a test). */
  dl_path = strchr (path, G_DIR_SEPARATOR) == NULL ? g_strconcat ("./", path, NULL) : g_strdup (path);
  handle = dlopen (dl_path, RTLD_NOW | RTLD_LOCAL);
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

