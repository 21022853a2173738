/* child.h for CMocka tests: each helper fails the test with the child's
 * output instead of returning an error.  Include after <cmocka.h>. */
#pragma once

#include "child.h"
#include "temp-dir.h"

/* A fresh folder for a child to run in, holding @contents as @file_name
 * (its config); set it as the child's dir to have it removed with it. */
static inline char *
child_dir_new_or_fail (const char *name_template, const char *file_name, const char *contents)
{
  g_autoptr (GError) error = NULL;
  char *dir = temp_dir_new_with_file (name_template, file_name, contents, &error);

  if (dir == NULL)
    fail_msg ("%s", error->message);
  return dir;
}

static inline void
child_start_or_fail (TestChild *child, const char *cwd, const char *const *argv, const char *const *envp,
                     TestChildFlags flags, GSpawnChildSetupFunc setup, gpointer setup_data)
{
  g_autoptr (GError) error = NULL;

  if (!test_child_start (child, cwd, argv, envp, flags, setup, setup_data, &error))
    fail_msg ("%s", error->message);
}

static inline void
child_wait_for_or_fail (TestChild *child, GString *stream, const char *text, guint timeout_ms)
{
  g_autoptr (GError) error = NULL;

  if (!test_child_wait_for (child, stream, text, timeout_ms, &error))
    fail_msg ("%s", error->message);
}

static inline void
child_finish_or_fail (TestChild *child, guint timeout_ms)
{
  g_autoptr (GError) error = NULL;

  if (!test_child_finish (child, timeout_ms, &error))
    fail_msg ("%s", error->message);
}
