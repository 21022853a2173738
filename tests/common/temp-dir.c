/* Temporary folders (temp-dir.h). */
#include "temp-dir.h"

#include <glib/gstdio.h>

char *
temp_dir_new_with_file (const char *name_template, const char *file_name, const char *contents, GError **error)
{
  g_autofree char *dir = g_dir_make_tmp (name_template, error);
  g_autofree char *file = NULL;

  if (dir == NULL)
    return NULL;
  file = g_build_filename (dir, file_name, NULL);
  if (!g_file_set_contents (file, contents, -1, error))
    {
      temp_dir_remove (dir);
      return NULL;
    }
  return g_steal_pointer (&dir);
}

void
temp_dir_remove (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        temp_dir_remove (child);
      else
        g_unlink (child);
    }
  g_clear_pointer (&dir, g_dir_close);
  g_rmdir (path);
}
