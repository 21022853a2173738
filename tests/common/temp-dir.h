/* Temporary folders of tests and benchmarks: one made with a file in it,
 * and any removed with all it holds. */
#pragma once

#include <glib.h>

/* A fresh folder from @name_template (g_dir_make_tmp's "XXXXXX" form)
 * holding @contents as the file @file_name: the config a child runs, say.
 * Free with g_free after temp_dir_remove.  NULL and @error when it cannot
 * be made or written. */
char *temp_dir_new_with_file (const char *name_template, const char *file_name, const char *contents,
                              GError **error);

/* Removes @path and everything below it, following no symbolic link (a
 * link is removed, not what it points to).  What cannot be removed is left:
 * a leftover temporary file is no test's failure. */
void temp_dir_remove (const char *path);
