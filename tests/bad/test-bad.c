/* The bad-input matrix: broken configs, plugins and files, each run
 * through the built `evbus` and held to its exact stderr and exit status.
 *
 * cases.tsv has one case per line (blank lines and "#" lines aside), five
 * fields separated by tabs:
 *
 *   NAME  SETUP  COMMAND  EXIT  STDERR
 *
 * NAME is the file given to evbus, copied from cases/ when it is there;
 * SETUP ("-" for none) prepares a fresh folder first, see apply_setup();
 * COMMAND is "check", "run", "inspect" with their options (run always
 * gets --exit-when-idle); EXIT the status; STDERR the whole of stderr,
 * lines joined with "\n" (and "\t", "\\" as in C), with these replaced:
 *   @DIR@          the case's folder (evbus runs there)
 *   @PLUGINS@      the folder of tests/cli's plugins ($EVBUS_PLUGIN_PATH)
 *   @TESTPLUGINS@  the folder of tests/plugins' modules ($EVB_TEST_PLUGINS)
 *   @INSTALLED@    the installed plugin folder
 *   @USER@         the user running the test
 *   @OTHER@        the name of uid 1000 (an "other" user)
 *   @DLERROR(path)@  what dlopen() says of path
 *   @REGEX(pattern)@ what GRegex says of pattern
 *   @REPEAT(c*n)@    the character c, n times
 *
 * Every case runs in a folder of its own, made for it and removed after.
 * Children run in the C locale, so libraries' words are computed here.
 * Root reads files whatever their mode: a case that needs an unreadable
 * file is skipped, saying so, when the file turns out readable. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#define CASES_DIR EVB_TEST_SOURCE_DIR "/cases"
#define CASES_TSV EVB_TEST_SOURCE_DIR "/cases.tsv"
#define OTHER_UID 1000
#define SHARED_GID 100 /* Debian's "users" group */

#include "bad-cases.h"
#include "child.h"

/* ---- expected text ---- */

static char *
user_name (uid_t uid)
{
  struct passwd *entry = getpwuid (uid);

  return entry != NULL ? g_strdup (entry->pw_name) : g_strdup_printf ("uid %u", (guint) uid);
}

static char *
dlopen_error (const char *path)
{
  void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);

  if (handle != NULL)
    {
      dlclose (handle);
      return g_strdup ("(dlopen succeeded)");
    }
  return g_strdup (dlerror ());
}

static char *
expected_stderr (const BadCase *bad, const char *dir)
{
  g_autoptr (GString) text = g_string_new (bad->expected);
  g_autofree char *user = user_name (geteuid ());
  g_autofree char *other = user_name (OTHER_UID);

  g_string_replace (text, "@DIR@", dir, 0);
  g_string_replace (text, "@PLUGINS@", EVB_TEST_PLUGIN_DIR, 0);
  g_string_replace (text, "@TESTPLUGINS@", EVB_TEST_MODULE_DIR, 0);
  g_string_replace (text, "@INSTALLED@", EVB_TEST_INSTALLED_PLUGIN_DIR, 0);
  g_string_replace (text, "@USER@", user, 0);
  g_string_replace (text, "@OTHER@", other, 0);
  bad_cases_replace_calls (text, "DLERROR", dlopen_error);
  bad_cases_replace_calls (text, "REGEX", bad_cases_regex_error);
  bad_cases_replace_calls (text, "REPEAT", bad_cases_repeat);
  if (text->len > 0)
    g_string_append_c (text, '\n');
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* ---- the case's folder ---- */

static void
copy_file (const char *from, const char *to)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length;

  if (!g_file_get_contents (from, &contents, &length, &error) ||
      !g_file_set_contents_full (to, contents, length, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error))
    fail_msg ("%s", error->message);
}

static void
change_mode (const char *path, const char *octal)
{
  if (chmod (path, (mode_t) g_ascii_strtoull (octal, NULL, 8)) != 0)
    fail_msg ("chmod %s %s: %s", octal, path, g_strerror (errno));
}

/* TRUE when this process can still open @path for reading, i.e. its mode
 * does not stop us (root, or CAP_DAC_OVERRIDE). */
static gboolean
still_readable (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
}

/* Mode 0644 whatever the umask: evbus refuses group-writable configs. */
static void
write_generated (const char *path, GString *text)
{
  g_autoptr (GError) error = NULL;

  if (!g_file_set_contents_full (path, text->str, text->len, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error))
    fail_msg ("%s", error->message);
}

/* A config nested 10,000 deep (jansson stops at 2048). */
static void
generate_deep (const char *path)
{
  g_autoptr (GString) text = g_string_new ("{ \"plugins\": [], \"$schema\": ");

  for (guint i = 0; i < 10000; i++)
    g_string_append_c (text, '[');
  for (guint i = 0; i < 10000; i++)
    g_string_append_c (text, ']');
  g_string_append (text, " }\n");
  write_generated (path, text);
}

/* A plugin entry whose name is a 10 MB string. */
static void
generate_big_name (const char *path)
{
  g_autoptr (GString) text = g_string_new ("{\n  \"plugins\": [ { \"name\": \"");

  g_string_set_size (text, text->len + 10 * 1024 * 1024);
  memset (text->str + text->len - 10 * 1024 * 1024, 'X', 10 * 1024 * 1024);
  g_string_append (text, "\", \"path\": \"ticker\" } ]\n}\n");
  write_generated (path, text);
}

/* 2,000 objects deep, each key 1,000 bytes long (2 MB): every path is
 * long, and there are many. */
static void
generate_deep_keys (const char *path)
{
  g_autoptr (GString) text = g_string_new ("{ \"plugins\": [], \"x\": ");
  g_autofree char *key = g_strnfill (1000, 'k');

  for (guint i = 0; i < 2000; i++)
    g_string_append_printf (text, "{\"%s\": ", key);
  g_string_append_c (text, '1');
  for (guint i = 0; i < 2000; i++)
    g_string_append_c (text, '}');
  g_string_append (text, " }\n");
  write_generated (path, text);
}

/* A filter on a field with a 1 MB name, whose condition is an "any" of
 * 100,000 values. */
static void
generate_wide_filter (const char *path)
{
  g_autoptr (GString) text = g_string_new ("{ \"plugins\": [ { \"name\": \"t\", \"path\": \"ticker\" } ],\n"
                                           "  \"routes\": [ { \"on\": \"tick\", \"handler\": \"t.count\", "
                                           "\"filter\": { \"");
  g_autofree char *field = g_strnfill (1000000, 'k');

  g_string_append (text, field);
  g_string_append (text, "\": { \"any\": [ 0");
  for (guint i = 1; i < 100000; i++)
    g_string_append (text, ", 1");
  g_string_append (text, " ] } } } ]\n}\n");
  write_generated (path, text);
}

/* A route whose params hold "${EVB_BOMB}" 4,000 times: with a 120 KB
 * variable (env=EVB_BOMB:120000), half a gigabyte of expanded config from
 * a 50 KB file. */
static void
generate_expansion_bomb (const char *path)
{
  g_autoptr (GString) text = g_string_new ("{ \"plugins\": [ { \"name\": \"t\", \"path\": \"ticker\" } ],\n"
                                           "  \"routes\": [ { \"on\": \"tick\", \"handler\": \"t.count\",\n"
                                           "    \"params\": { \"p\": [\n");

  for (guint i = 0; i < 4000; i++)
    g_string_append_printf (text, "      \"${EVB_BOMB}\"%s\n", i + 1 < 4000 ? "," : "");
  g_string_append (text, "    ] } } ]\n}\n");
  write_generated (path, text);
}

/* A filter whose "in" lists 1,000,000 numbers: fine, as it is a set. */
static void
generate_huge_in (const char *path)
{
  g_autoptr (GString) text = g_string_new ("{ \"plugins\": [ { \"name\": \"t\", \"path\": \"ticker\" } ],\n"
                                           "  \"routes\": [ { \"on\": \"tick\", \"handler\": \"t.count\", "
                                           "\"filter\": { \"n\": { \"in\": [ 0");

  for (guint i = 1; i < 1000000; i++)
    g_string_append_printf (text, ",%u", i);
  g_string_append (text, " ] } } } ]\n}\n");
  write_generated (path, text);
}

/* Applies the comma-separated actions of @setup in @dir:
 *   copy=FILE         copy cases/FILE into the folder too
 *   mode=OCTAL        chmod the case's file
 *   dirmode=OCTAL     chmod the folder
 *   plugin=SO:OCTAL   copy tests/cli's plugin SO into the folder, chmod it
 *   unreadable=FILE   chmod 000 FILE; skip the case if it stays readable
 *   fifo=FILE         make FILE a FIFO (which dlopen would wait on forever)
 *   owner=other       chown the case's file to uid 1000; skip if we cannot
 *   group=shared      chgrp the case's file to the shared group "users"
 *   dirgroup=shared   chgrp the folder to "users"
 *   plugingroup=SO    chgrp the copied plugin SO to "users"
 *                     (group write counts only for a group others are in:
 *                     a private group is the owner's own; skip if we cannot)
 *   folder            make the case's name a folder
 *   behind=SUB:OCTAL  move the case's file into a new folder SUB (chmod
 *                     OCTAL) and leave a symlink to it in its place
 *   gen=KIND          write the case's file (too big to keep in git):
 *                     deep, big-name, deep-keys, wide-filter, expansion-bomb,
 *                     huge-in
 *   env=NAME:BYTES    set the variable NAME to BYTES "x"s for evbus
 * Returns FALSE when the case must be skipped, with *@why set. */
static gboolean
apply_setup (const BadCase *bad, const char *dir, GStrv *env, char **why)
{
  g_autofree char *target = g_build_filename (dir, bad->name, NULL);
  g_auto (GStrv) actions = NULL;

  if (strcmp (bad->setup, "-") == 0)
    return TRUE;
  actions = g_strsplit (bad->setup, ",", -1);
  for (guint i = 0; actions[i] != NULL; i++)
    {
      const char *action = actions[i];
      const char *value = strchr (action, '=') != NULL ? strchr (action, '=') + 1 : "";

      if (g_str_has_prefix (action, "copy="))
        {
          g_autofree char *from = g_build_filename (CASES_DIR, value, NULL);
          g_autofree char *to = g_build_filename (dir, value, NULL);

          copy_file (from, to);
        }
      else if (g_str_has_prefix (action, "mode="))
        change_mode (target, value);
      else if (g_str_has_prefix (action, "dirmode="))
        change_mode (dir, value);
      else if (g_str_has_prefix (action, "plugin="))
        {
          g_auto (GStrv) parts = g_strsplit (value, ":", 2);
          g_autofree char *from = g_build_filename (EVB_TEST_PLUGIN_DIR, parts[0], NULL);
          g_autofree char *to = g_build_filename (dir, parts[0], NULL);

          copy_file (from, to);
          change_mode (to, parts[1]);
        }
      else if (g_str_has_prefix (action, "fifo="))
        {
          g_autofree char *path = g_build_filename (dir, value, NULL);

          if (mkfifo (path, 0600) != 0)
            fail_msg ("mkfifo %s: %s", path, g_strerror (errno));
        }
      else if (g_str_has_prefix (action, "unreadable="))
        {
          g_autofree char *path = g_build_filename (dir, value, NULL);

          change_mode (path, "0");
          if (still_readable (path))
            {
              *why = g_strdup_printf ("%s stays readable at mode 000 for this user (root?): \"cannot read\" and "
                                      "\"Permission denied\" cannot be produced here", value);
              return FALSE;
            }
        }
      else if (strcmp (action, "owner=other") == 0)
        {
          if (chown (target, OTHER_UID, (gid_t) -1) != 0)
            {
              *why = g_strdup_printf ("cannot give %s to uid %d (%s): only root can", bad->name, OTHER_UID,
                                      g_strerror (errno));
              return FALSE;
            }
        }
      else if (strcmp (action, "group=shared") == 0 || strcmp (action, "dirgroup=shared") == 0
               || g_str_has_prefix (action, "plugingroup="))
        {
          g_autofree char *plugin = g_str_has_prefix (action, "plugingroup=") ? g_build_filename (dir, value, NULL)
                                                                              : NULL;
          const char *path = plugin != NULL ? plugin : (action[0] == 'd' ? dir : target);

          if (chown (path, (uid_t) -1, SHARED_GID) != 0)
            {
              *why = g_strdup_printf ("cannot give %s to the group \"users\" (%s)", path, g_strerror (errno));
              return FALSE;
            }
        }
      else if (strcmp (action, "folder") == 0)
        g_assert_true (g_mkdir (target, 0755) == 0);
      else if (g_str_has_prefix (action, "behind="))
        {
          g_auto (GStrv) parts = g_strsplit (value, ":", 2);
          g_autofree char *sub = g_build_filename (dir, parts[0], NULL);
          g_autofree char *moved = g_build_filename (sub, bad->name, NULL);
          g_autofree char *link = g_build_filename (parts[0], bad->name, NULL);

          g_assert_true (g_mkdir (sub, 0700) == 0);
          change_mode (sub, parts[1]);
          g_assert_true (g_rename (target, moved) == 0);
          g_assert_true (symlink (link, target) == 0);
        }
      else if (strcmp (action, "gen=deep") == 0)
        generate_deep (target);
      else if (strcmp (action, "gen=big-name") == 0)
        generate_big_name (target);
      else if (strcmp (action, "gen=deep-keys") == 0)
        generate_deep_keys (target);
      else if (strcmp (action, "gen=wide-filter") == 0)
        generate_wide_filter (target);
      else if (strcmp (action, "gen=expansion-bomb") == 0)
        generate_expansion_bomb (target);
      else if (strcmp (action, "gen=huge-in") == 0)
        generate_huge_in (target);
      else if (g_str_has_prefix (action, "env="))
        {
          g_auto (GStrv) parts = g_strsplit (value, ":", 2);
          g_autofree char *bytes = g_strnfill (g_ascii_strtoull (parts[1], NULL, 10), 'x');

          *env = g_environ_setenv (*env, parts[0], bytes, TRUE);
        }
      else
        fail_msg ("cases.tsv:%u: unknown setup action \"%s\"", bad->line, action);
    }
  return TRUE;
}

/* Removes @path and what it holds, whatever modes the case left. */
static void
remove_tree (const char *path)
{
  GDir *dir;
  const char *entry;

  chmod (path, 0700);
  if (!g_file_test (path, G_FILE_TEST_IS_DIR) || g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_unlink (path);
      return;
    }
  dir = g_dir_open (path, 0, NULL);
  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, entry, NULL);

      remove_tree (child);
    }
  if (dir != NULL)
    g_dir_close (dir);
  g_rmdir (path);
}

/* ---- running ---- */

/* Runs one case; FALSE (with *@why) when it has to be skipped. */
static gboolean
run_case (const BadCase *bad, char **why)
{
  g_autofree char *dir = g_dir_make_tmp ("evbus-bad-XXXXXX", NULL);
  g_autofree char *source = g_build_filename (CASES_DIR, bad->name, NULL);
  g_autofree char *target = g_build_filename (dir, bad->name, NULL);
  g_autofree char *expected = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) words = g_strsplit (bad->command, " ", -1);
  g_auto (GStrv) env = g_get_environ ();
  int wait_status;

  assert_non_null (dir);
  if (g_file_test (source, G_FILE_TEST_IS_REGULAR))
    copy_file (source, target);
  if (!apply_setup (bad, dir, &env, why))
    {
      remove_tree (dir);
      return FALSE;
    }

  g_ptr_array_add (argv, (char *) EVB_TEST_EVBUS);
  for (guint i = 0; words[i] != NULL; i++)
    {
      g_ptr_array_add (argv, words[i]);
      if (i == 0 && strcmp (words[0], "run") == 0)
        g_ptr_array_add (argv, (char *) "--exit-when-idle");
    }
  g_ptr_array_add (argv, bad->name);
  g_ptr_array_add (argv, NULL);

  env = g_environ_setenv (env, "EVBUS_PLUGIN_PATH", EVB_TEST_PLUGIN_DIR, TRUE);
  env = g_environ_setenv (env, "EVB_TEST_PLUGINS", EVB_TEST_MODULE_DIR, TRUE);
  env = g_environ_setenv (env, "EVB_TEST_BAD_DIR", dir, TRUE);
  env = g_environ_setenv (env, "LC_ALL", "C", TRUE);
  env = g_environ_unsetenv (env, "G_MESSAGES_DEBUG");
  if (!g_spawn_sync (dir, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &wait_status,
                     &error))
    fail_msg ("cannot run %s: %s", EVB_TEST_EVBUS, error->message);

  expected = expected_stderr (bad, dir);
  remove_tree (dir);
  if (strcmp (err, expected) != 0)
    {
      g_autofree char *got = g_strescape (err, NULL);
      g_autofree char *wanted = g_strescape (expected, NULL);

      fail_msg ("cases.tsv:%u: %s %s: stderr\n  got      \"%s\"\n  expected \"%s\"", bad->line, bad->command,
                bad->name, got, wanted);
    }
  if (test_child_status_of (wait_status) != bad->exit_status)
    fail_msg ("cases.tsv:%u: %s %s: exit status %d, expected %d", bad->line, bad->command, bad->name,
              test_child_status_of (wait_status), bad->exit_status);
  return TRUE;
}

static void
test_bad_case (void **state)
{
  char *why = NULL;

  if (!run_case (*state, &why))
    {
      /* skip() leaves by longjmp: nothing may still be owned here. */
      print_message ("skipped: %s\n", why);
      g_free (why);
      skip ();
    }
}

int
main (void)
{
  g_autoptr (GPtrArray) cases = bad_cases_read (CASES_TSV);
  g_autoptr (GArray) tests = g_array_new (FALSE, TRUE, sizeof (struct CMUnitTest));
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < cases->len; i++)
    {
      BadCase *bad = g_ptr_array_index (cases, i);
      char *name = strcmp (bad->setup, "-") == 0 ? g_strdup_printf ("%s %s", bad->command, bad->name)
                                                 : g_strdup_printf ("%s %s (%s)", bad->command, bad->name, bad->setup);
      struct CMUnitTest test = { .name = name, .test_func = test_bad_case, .initial_state = bad };

      g_ptr_array_add (names, name);
      g_array_append_val (tests, test);
    }
  return _cmocka_run_group_tests ("bad", (const struct CMUnitTest *) tests->data, tests->len, NULL, NULL);
}
