/* The evbus executable as an operator runs it (host/cli.h).
 *
 * Every test spawns the built `evbus` and asserts its exact stdout, stderr
 * and exit status.  Configs live in bad/ (each broken in one way, plus
 * many-errors.json) and good/; the plugins they name are built next to
 * this test from plugins/ and found through EVBUS_PLUGIN_PATH.  Children
 * run in the C locale, so GLib's own words (option errors, regex errors)
 * are the ones computed here.
 *
 * Nothing sleeps: a running child is followed through its output (poll
 * with a deadline that fails the test), and jobs are held in flight by a
 * handler that waits on the child's stdin, which the test controls. */
#include <dlfcn.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>

#include "child-or-fail.h"

#define BAD_DIR EVB_TEST_SOURCE_DIR "/bad"
#define GOOD_DIR EVB_TEST_SOURCE_DIR "/good"
#define TICKER_SO EVB_TEST_PLUGIN_DIR "/evbus-ticker.so"
#define DEADLINE_MS 20000

/* ---- running evbus ---- */

typedef struct {
  char *out;
  char *err;
  int status; /* exit code, or 128 + signal */
} Result;

static void
result_clear (Result *result)
{
  g_clear_pointer (&result->out, g_free);
  g_clear_pointer (&result->err, g_free);
}

/* The environment of every child: test_child_environ()'s (the C locale),
 * plugins from the build folder, and @extra ("NAME=value" pairs, NULL-terminated; "NAME=" with
 * nothing after unsets NAME). */
static char **
child_environment (const char *const *extra)
{
  char **env = test_child_environ ();

  env = g_environ_setenv (env, "EVBUS_PLUGIN_PATH", EVB_TEST_PLUGIN_DIR, TRUE);
  env = g_environ_unsetenv (env, "EVB_TEST_MARKER");
  env = g_environ_unsetenv (env, "EVB_TEST_UNSET_PLUGIN_DIR");
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    {
      const char *eq = strchr (extra[i], '=');
      g_autofree char *name = g_strndup (extra[i], eq - extra[i]);

      if (eq[1] == '\0')
        env = g_environ_unsetenv (env, name);
      else
        env = g_environ_setenv (env, name, eq + 1, TRUE);
    }
  return env;
}

/* EVB_TEST_EVBUS and the arguments in @args up to a NULL, NULL-terminated. */
static GPtrArray *
evbus_argv (va_list args)
{
  GPtrArray *argv = g_ptr_array_new ();
  const char *arg;

  g_ptr_array_add (argv, (char *) EVB_TEST_EVBUS);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (char *) arg);
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* Runs `evbus ARGS...` (NULL-terminated) in @cwd to completion. */
static void
run_evbus_env (Result *result, const char *cwd, const char *const *extra_env, ...)
{
  g_autoptr (GPtrArray) argv = NULL;
  g_auto (GStrv) env = child_environment (extra_env);
  g_autoptr (GError) error = NULL;
  int wait_status;
  va_list args;

  va_start (args, extra_env);
  argv = evbus_argv (args);
  va_end (args);

  memset (result, 0, sizeof *result);
  if (!g_spawn_sync (cwd, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &result->out, &result->err,
                     &wait_status, &error))
    fail_msg ("cannot run %s: %s", EVB_TEST_EVBUS, error->message);
  result->status = test_child_status_of (wait_status);
}

#define run_evbus(result, cwd, ...) run_evbus_env (result, cwd, NULL, __VA_ARGS__, NULL)

static void
assert_result (Result *result, int status, const char *out, const char *err)
{
  /* Output first: when the status is wrong, what it said tells why. */
  assert_string_equal (result->err, err);
  assert_string_equal (result->out, out);
  assert_int_equal (result->status, status);
}

/* @text with every "@NAME@" of @pairs (NAME, value, ..., NULL) replaced. */
static char *
expand (const char *text, ...)
{
  g_autoptr (GString) out = g_string_new (text);
  const char *name;
  va_list args;

  va_start (args, text);
  while ((name = va_arg (args, const char *)) != NULL)
    {
      const char *value = va_arg (args, const char *);
      g_autofree char *token = g_strdup_printf ("@%s@", name);

      g_string_replace (out, token, value, 0);
    }
  va_end (args);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* The words other libraries put in some messages, taken from them. */
static char *
regex_error (const char *pattern)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GRegex) regex = g_regex_new (pattern, 0, 0, &error);

  assert_null (regex);
  return g_strdup (error->message);
}

static char *
dlopen_error (const char *path)
{
  void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);

  assert_null (handle);
  return g_strdup (dlerror ());
}

/* ---- following a running evbus ---- */

/* Starts `evbus ARGS...` (NULL-terminated) in @cwd, its stdin a pipe
 * the test holds (child.in). */
static void
child_start (TestChild *child, const char *cwd, ...)
{
  g_autoptr (GPtrArray) argv = NULL;
  g_auto (GStrv) env = child_environment (NULL);
  va_list args;

  va_start (args, cwd);
  argv = evbus_argv (args);
  va_end (args);

  child_start_or_fail (child, cwd, (const char *const *) argv->pdata, (const char *const *) env,
                       TEST_CHILD_STDIN_PIPE, NULL, NULL);
}

/* Reads the child's output to the end, reaps it, and hands what it said
 * and its status to @result. */
static void
child_finish (TestChild *child, Result *result)
{
  child_finish_or_fail (child, DEADLINE_MS);
  result->status = child->status;
  result->out = g_string_free (g_steal_pointer (&child->out_text), FALSE);
  result->err = g_string_free (g_steal_pointer (&child->err_text), FALSE);
  test_child_clear (child);
}

/* ---- command line ---- */

static void
test_version (void **state)
{
  Result result;

  run_evbus (&result, BAD_DIR, "--version");
  assert_result (&result, 0, "evbus " EVB_TEST_VERSION " (plugin ABI 1.1)\n", "");
  result_clear (&result);
}

/* TRUE when @text has @line as one of its lines, exactly. */
static gboolean
has_line (const char *text, const char *line)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  return g_strv_contains ((const char *const *) lines, line);
}

#define assert_has_line(text, line)                                                     \
  do {                                                                                  \
    if (!has_line ((text), (line)))                                                     \
      fail_msg ("missing line \"%s\" in:\n%s", (line), (text));                         \
  } while (0)

static void
test_help (void **state)
{
  Result result;

  run_evbus (&result, BAD_DIR, "--help");
  assert_int_equal (result.status, 0);
  assert_string_equal (result.err, "");
  assert_has_line (result.out, "Commands:");
  assert_has_line (result.out, "  run      Load a pipeline config and run it until SIGINT or SIGTERM");
  assert_has_line (result.out,
                   "  check    Load a config and every plugin it names, report all errors, run nothing");
  assert_has_line (result.out, "  inspect  Describe a plugin file: handlers, options, defaults");
  assert_has_line (result.out, "Run \"evbus COMMAND --help\" for the options of a command.");
  assert_non_null (strstr (result.out, "--version"));
  result_clear (&result);
}

static void
assert_lookup_help (const char *out, const char *first_dir)
{
  g_autofree char *first = g_strdup_printf ("  1. %s", first_dir);

  assert_has_line (out, "Plugin files: an absolute path is used as it is. A relative one is looked");
  assert_has_line (out, first);
  assert_has_line (out, "  2. each folder of $EVBUS_PLUGIN_PATH (separated by \":\")");
  assert_has_line (out, "  3. " EVB_TEST_INSTALLED_PLUGIN_DIR);
  assert_has_line (out, "\"console\" (no \"/\", no \".so\") as \"evbus-console.so\", then as \"console.so\".");
}

static void
test_command_help (void **state)
{
  Result result;

  run_evbus (&result, BAD_DIR, "run", "--help");
  assert_int_equal (result.status, 0);
  assert_string_equal (result.err, "");
  assert_true (g_str_has_prefix (result.out, "Usage:\n  evbus run [OPTION"));
  assert_non_null (strstr (result.out, "  --exit-when-idle "));
  assert_non_null (strstr (result.out, "  -v, --verbose "));
  assert_lookup_help (result.out, "the config file's folder");
  result_clear (&result);

  run_evbus (&result, BAD_DIR, "check", "--help");
  assert_int_equal (result.status, 0);
  assert_true (g_str_has_prefix (result.out, "Usage:\n  evbus check [OPTION"));
  assert_has_line (result.out, "Prints \"CONFIG: ok: N plugins, M routes\" and exits 0, or prints every");
  assert_has_line (result.out, "Acts on nothing: plugins are told they are only checked, so they");
  assert_lookup_help (result.out, "the config file's folder");
  result_clear (&result);

  run_evbus (&result, BAD_DIR, "inspect", "--help");
  assert_int_equal (result.status, 0);
  assert_true (g_str_has_prefix (result.out, "Usage:\n  evbus inspect [OPTION"));
  assert_non_null (strstr (result.out, "  --json "));
  assert_lookup_help (result.out, "the current folder");
  result_clear (&result);
}

static void
test_usage_errors (void **state)
{
  Result result;

  run_evbus (&result, BAD_DIR, "frobnicate", "x.json");
  assert_result (&result, 2, "",
                 "evbus: unknown command \"frobnicate\" (commands: run, check, inspect, explain; try \"evbus --help\")\n");
  result_clear (&result);

  run_evbus_env (&result, BAD_DIR, NULL, NULL);
  assert_result (&result, 2, "", "evbus: no command given (commands: run, check, inspect, explain; try \"evbus --help\")\n");
  result_clear (&result);

  run_evbus (&result, BAD_DIR, "--frobnicate");
  assert_result (&result, 2, "", "evbus: Unknown option --frobnicate (try \"evbus --help\")\n");
  result_clear (&result);

  run_evbus (&result, BAD_DIR, "run");
  assert_result (&result, 2, "", "evbus run: missing CONFIG (try \"evbus run --help\")\n");
  result_clear (&result);

  run_evbus (&result, BAD_DIR, "check", "a.json", "b.json");
  assert_result (&result, 2, "",
                 "evbus check: unexpected argument \"b.json\" after CONFIG (try \"evbus check --help\")\n");
  result_clear (&result);

  run_evbus (&result, BAD_DIR, "run", "--exit-when-busy", "a.json");
  assert_result (&result, 2, "", "evbus run: Unknown option --exit-when-busy (try \"evbus run --help\")\n");
  result_clear (&result);

  run_evbus (&result, BAD_DIR, "inspect");
  assert_result (&result, 2, "", "evbus inspect: missing PLUGIN (try \"evbus inspect --help\")\n");
  result_clear (&result);
}

/* ---- evbus check on broken configs and plugins ---- */

typedef struct {
  const char *file;
  const char *stderr_lines; /* with @BAD@, @PLUGINS@, @INSTALLED@, @REGEX@, @DLERROR@ */
} BadConfig;

static const BadConfig bad_configs[] = {
  { "bad-json.json", "bad-json.json:5:1: string or '}' expected near '}'\n" },
  { "unknown-key.json",
    "unknown-key.json:6:43: routes[0].prioirty: unknown key (expected one of: on, handler, mode, priority, "
    "filter, on_failure, timeout_ms, max_concurrency, stop_on_failure, params)\n" },
  { "wrong-type.json", "wrong-type.json:2:13: host.workers: expected a non-negative integer, got \"four\"\n" },
  { "bad-pattern.json", "bad-pattern.json:6:7: routes[0].on: invalid pattern \"tick..late\": empty segment 2\n" },
  { "bad-filter-operator.json", "bad-filter-operator.json:6:55: routes[0].filter.n: unknown operator \"gtt\"\n" },
  { "bad-regex.json", "bad-regex.json:6:65: routes[0].filter.name.regex: invalid regex \"(unclosed\": @REGEX@\n" },
  { "unset-env.json",
    "unset-env.json:3:20: plugins[0].path: environment variable \"EVB_TEST_UNSET_PLUGIN_DIR\" is not set "
    "(set it or write ${EVB_TEST_UNSET_PLUGIN_DIR:-default})\n" },
  { "unknown-instance.json",
    "unknown-instance.json:6:21: routes[0].handler: unknown plugin instance \"clock\" (declared: t)\n" },
  { "duplicate-instance.json",
    "duplicate-instance.json:4:7: plugins[1].name: duplicate instance name \"t\" (first at plugins[0])\n" },
  { "missing-plugin.json",
    "missing-plugin.json:4:23: plugins[1].path: plugin \"missing.so\" not found: no missing.so in @BAD@, "
    "@PLUGINS@, @INSTALLED@\n" },
  { "not-a-library.json",
    "not-a-library.json:3:23: plugins[0].path: \"@BAD@/not-a-library.so\" is not a loadable shared object: "
    "@DLERROR@\n" },
  { "no-descriptor.json",
    "no-descriptor.json:3:24: plugins[0].path: \"@PLUGINS@/evbus-no-descriptor.so\" exports no "
    "evb_plugin_descriptor: is it an evbus plugin? (define one with EVB_PLUGIN_DEFINE)\n" },
  { "abi-mismatch.json",
    "abi-mismatch.json:3:25: plugins[0].path: \"@PLUGINS@/evbus-abi-mismatch.so\" was built for evbus ABI 2.4, "
    "this host speaks ABI 1.1: rebuild the plugin against this evbus\n" },
  { "unknown-option.json",
    "unknown-option.json:3:50: plugins[0].config.cout: unknown option (plugin \"ticker\" takes: count, type, "
    "ready, report, marker, emit_at_init, fail_init)\n" },
  { "wrong-option-type.json",
    "wrong-option-type.json:3:50: plugins[0].config.count: expected an integer, got \"3\"\n"
    "wrong-option-type.json:3:64: plugins[0].config.ready: expected true or false, got 1\n" },
  { "missing-option.json",
    "missing-option.json:3:46: plugins[0].config.label: required option missing (string: What to call the "
    "sink.)\n" },
  { "init-failed.json",
    "init-failed.json:4:5: plugins[1]: plugin \"second\" (@PLUGINS@/evbus-ticker.so): init failed: "
    "database is locked\n" },
  { "handler-not-found.json",
    "handler-not-found.json:7:21: routes[1].handler: plugin \"t\" has no handler \"cuont\" (handlers: count, "
    "work, fail, wait)\n" },
  /* Every problem, not the first: plugins that fail are reported and the
   * others still load; routes of a plugin that did not load are skipped
   * (routes[0], routes[3]); the other routes are all checked. */
  { "many-errors.json",
    "many-errors.json:3:23: plugins[0].path: plugin \"missing.so\" not found: no missing.so in @BAD@, "
    "@PLUGINS@, @INSTALLED@\n"
    "many-errors.json:4:53: plugins[1].config.cout: unknown option (plugin \"ticker\" takes: count, type, "
    "ready, report, marker, emit_at_init, fail_init)\n"
    "many-errors.json:4:64: plugins[1].config.count: expected an integer, got true\n"
    "many-errors.json:6:5: plugins[3].config.label: required option missing (string: What to call the sink.)\n"
    "many-errors.json:10:21: routes[1].handler: plugin \"t\" has no handler \"cuont\" (handlers: count, work, "
    "fail, wait)\n"
    "many-errors.json:13:21: routes[4].handler: plugin \"t\" has no handler \"explode\" (handlers: count, "
    "work, fail, wait)\n" },
};

static char *
expected_errors (const BadConfig *bad)
{
  g_autofree char *regex = regex_error ("(unclosed");
  g_autofree char *dl = dlopen_error (BAD_DIR "/not-a-library.so");

  return expand (bad->stderr_lines, "BAD", BAD_DIR, "PLUGINS", EVB_TEST_PLUGIN_DIR, "INSTALLED",
                 EVB_TEST_INSTALLED_PLUGIN_DIR, "REGEX", regex, "DLERROR", dl, NULL);
}

static void
test_check_bad (void **state)
{
  const BadConfig *bad = *state;
  g_autofree char *expected = expected_errors (bad);
  Result result;

  run_evbus (&result, BAD_DIR, "check", bad->file);
  assert_result (&result, 2, "", expected);
  result_clear (&result);
}

/* ---- evbus run on broken configs: nothing starts ---- */

typedef struct {
  const char *file;
  const char *marker; /* what the first plugin's init and shutdown left, or NULL: never loaded */
} BadRun;

static const BadRun bad_runs[] = {
  /* Found before any plugin loads: no plugin code runs at all. */
  { "bad-json.json", NULL },
  { "bad-filter-operator.json", NULL },
  { "bad-pattern.json", NULL },
  /* Found while loading: the plugins already loaded are shut down again;
   * their events never reach a route (no count line, no summary). */
  { "init-failed.json", "init\nshutdown\n" },
  { "handler-not-found.json", "init\nshutdown\n" },
  { "missing-plugin.json", NULL },
};

static void
test_run_bad (void **state)
{
  const BadRun *bad = *state;
  const BadConfig *same = NULL;
  g_autofree char *dir = g_dir_make_tmp ("evbus-cli-XXXXXX", NULL);
  g_autofree char *marker = g_build_filename (dir, "marker", NULL);
  g_autofree char *marker_env = g_strconcat ("EVB_TEST_MARKER=", marker, NULL);
  const char *env[] = { marker_env, NULL };
  g_autofree char *expected = NULL;
  g_autofree char *trail = NULL;
  Result result;

  for (guint i = 0; i < G_N_ELEMENTS (bad_configs); i++)
    if (strcmp (bad_configs[i].file, bad->file) == 0)
      same = &bad_configs[i];
  assert_non_null (same);
  expected = expected_errors (same);

  /* run reports the first problem only, and for these it is the only one. */
  run_evbus_env (&result, BAD_DIR, env, "run", "--exit-when-idle", bad->file, NULL);
  assert_result (&result, 2, "", expected);
  result_clear (&result);

  if (bad->marker == NULL)
    assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  else
    {
      assert_true (g_file_get_contents (marker, &trail, NULL, NULL));
      assert_string_equal (trail, bad->marker);
      g_unlink (marker);
    }
  g_rmdir (dir);
}

/* ---- plugin lookup ---- */

/* Mode 0644 whatever the umask: evbus refuses group-writable configs. */
static void
write_file (const char *path, const char *text)
{
  g_autoptr (GError) error = NULL;

  if (!g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error))
    fail_msg ("%s", error->message);
}

static void
test_plugin_lookup_order (void **state)
{
  g_autofree char *dir = g_dir_make_tmp ("evbus-cli-XXXXXX", NULL);
  g_autofree char *config = g_build_filename (dir, "lookup.json", NULL);
  g_autofree char *decoy = g_build_filename (dir, "evbus-ticker.so", NULL);
  g_autofree char *empty = g_build_filename (dir, "empty", NULL);
  g_autofree char *path_env = g_strdup_printf ("EVBUS_PLUGIN_PATH=%s::%s", empty, EVB_TEST_PLUGIN_DIR);
  g_autofree char *dl = NULL;
  g_autofree char *expected = NULL;
  const char *env[] = { path_env, NULL };
  Result result;

  g_mkdir (empty, 0700);
  write_file (config, "{ \"plugins\": [ { \"name\": \"t\", \"path\": \"ticker\" } ] }\n");

  /* $EVBUS_PLUGIN_PATH in order, empty entries skipped: the plugin is in
   * its last folder. */
  run_evbus_env (&result, dir, env, "check", "lookup.json", NULL);
  assert_result (&result, 0, "lookup.json: ok: 1 plugin, 0 routes\n", "");
  result_clear (&result);

  /* The config's own folder comes first, even before a folder that has a
   * good plugin by that name: the decoy is what loads (and fails). */
  write_file (decoy, "not a plugin\n");
  dl = dlopen_error (decoy);
  expected = g_strdup_printf ("lookup.json:1:31: plugins[0].path: \"%s\" is not a loadable shared object: %s\n",
                              decoy, dl);
  run_evbus_env (&result, dir, env, "check", "lookup.json", NULL);
  assert_result (&result, 2, "", expected);
  result_clear (&result);
  g_unlink (decoy);

  /* An absolute path is taken as it is. */
  write_file (config, "{ \"plugins\": [ { \"name\": \"t\", \"path\": \"/nonexistent/evbus-ticker.so\" } ] }\n");
  run_evbus_env (&result, dir, env, "check", "lookup.json", NULL);
  assert_result (&result, 2, "",
                 "lookup.json:1:31: plugins[0].path: plugin file \"/nonexistent/evbus-ticker.so\" not found\n");
  result_clear (&result);

  /* A bare name not found anywhere: every place tried is named. */
  write_file (config, "{ \"plugins\": [ { \"name\": \"t\", \"path\": \"clock\" } ] }\n");
  g_free (expected);
  expected = g_strdup_printf ("lookup.json:1:31: plugins[0].path: plugin \"clock\" not found: no clock, "
                              "evbus-clock.so or clock.so in %s, %s, %s, %s\n",
                              dir, empty, EVB_TEST_PLUGIN_DIR, EVB_TEST_INSTALLED_PLUGIN_DIR);
  run_evbus_env (&result, dir, env, "check", "lookup.json", NULL);
  assert_result (&result, 2, "", expected);
  result_clear (&result);

  g_unlink (config);
  g_rmdir (empty);
  g_rmdir (dir);
}

/* A bare name, in one folder: as written, then "evbus-NAME.so", then
 * "NAME.so" (what sdk/template builds); every name in a folder before the
 * next folder. */
static void
test_plugin_lookup_bare_names (void **state)
{
  static const char *const names[] = { "ticker", "evbus-ticker.so", "ticker.so" };
  g_autofree char *dir = g_dir_make_tmp ("evbus-cli-XXXXXX", NULL);
  g_autofree char *config = g_build_filename (dir, "lookup.json", NULL);
  g_autofree char *copy = g_build_filename (dir, "ticker.so", NULL);
  g_autofree char *file_line = g_strdup_printf ("File         %s", copy);
  g_autoptr (GError) error = NULL;
  g_autofree char *ticker = NULL;
  gsize ticker_size;
  Result result;

  write_file (config, "{ \"plugins\": [ { \"name\": \"t\", \"path\": \"ticker\" } ] }\n");

  /* Decoys under all three names in the config's folder, ahead of the
   * real evbus-ticker.so on $EVBUS_PLUGIN_PATH: each one, removed in
   * turn, shows the next name is what is tried next. */
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *decoy = g_build_filename (dir, names[i], NULL);

      write_file (decoy, "not a plugin\n");
    }
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *decoy = g_build_filename (dir, names[i], NULL);
      g_autofree char *dl = dlopen_error (decoy);
      g_autofree char *expected = g_strdup_printf ("lookup.json:1:31: plugins[0].path: \"%s\" is not a loadable "
                                                   "shared object: %s\n", decoy, dl);

      run_evbus (&result, dir, "check", "lookup.json");
      assert_result (&result, 2, "", expected);
      result_clear (&result);
      g_unlink (decoy);
    }

  /* A real plugin built as NAME.so loads from the first folder. */
  if (!g_file_get_contents (TICKER_SO, &ticker, &ticker_size, &error)
      || !g_file_set_contents_full (copy, ticker, ticker_size, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error))
    fail_msg ("%s", error->message);
  run_evbus (&result, dir, "check", "lookup.json");
  assert_result (&result, 0, "lookup.json: ok: 1 plugin, 0 routes\n", "");
  result_clear (&result);
  run_evbus (&result, dir, "inspect", "ticker");
  assert_int_equal (result.status, 0);
  assert_has_line (result.out, file_line);
  result_clear (&result);

  g_unlink (copy);
  g_unlink (config);
  g_rmdir (dir);
}

/* ---- good runs ---- */

static void
test_check_good (void **state)
{
  g_autofree char *dir = g_dir_make_tmp ("evbus-cli-XXXXXX", NULL);
  g_autofree char *marker = g_build_filename (dir, "marker", NULL);
  g_autofree char *marker_env = g_strconcat ("EVB_TEST_MARKER=", marker, NULL);
  const char *env[] = { marker_env, NULL };
  g_autofree char *trail = NULL;
  Result result;

  /* init and shutdown ran (the count line), nothing was dispatched (0). */
  run_evbus (&result, GOOD_DIR, "check", "counts.json");
  assert_result (&result, 0, "ticker clock: counted 0 events\ncounts.json: ok: 2 plugins, 4 routes\n", "");
  result_clear (&result);

  run_evbus (&result, GOOD_DIR, "check", "sigterm.json");
  assert_result (&result, 0, "ticker clock: counted 0 events\nsigterm.json: ok: 1 plugin, 1 route\n", "");
  result_clear (&result);
  /* Events emitted from init are not dispatched to the config's routes:
   * init and shutdown, no "count N" (test_run_events_from_init has them). */
  run_evbus_env (&result, GOOD_DIR, env, "check", "emit-at-init.json", NULL);
  assert_result (&result, 0, "emit-at-init.json: ok: 1 plugin, 1 route\n", "");
  result_clear (&result);
  assert_true (g_file_get_contents (marker, &trail, NULL, NULL));
  assert_string_equal (trail, "init\nshutdown\n");
  g_unlink (marker);
  g_rmdir (dir);
}

/* clock emits 5 "tick", other 2 "other.tick" (no route: unhandled).  Each
 * tick is counted (sync) and worked on (async, completes); ticks 4 and 5
 * also fail (async), and each failure event is counted too: 5 + 2 = 7
 * counted; 5 + 2 + 2 = 9 dispatched; 5 jobs completed, 2 failed. */
static void
test_run_until_idle (void **state)
{
  Result result;

  run_evbus (&result, GOOD_DIR, "run", "--exit-when-idle", "counts.json");
  assert_result (&result, 0, "ticker clock: counted 7 events\n",
                 "evbus: dispatched 9 events, dropped 0, unhandled 2; jobs: 5 completed, 2 failed, 0 cancelled\n");
  result_clear (&result);
}

/* run --trace PATTERN: one line per decision about each "tick", its trace
 * id first (random: checked to be one id per event, then masked).  The
 * config has a filter with any/not, a wildcard route and three levels. */
static void
test_run_trace (void **state)
{
  g_autoptr (GRegex) trace_id = g_regex_new ("^trace ([0-9a-f]{32}) tick #([0-9]+): ", G_REGEX_MULTILINE, 0, NULL);
  g_autoptr (GMatchInfo) match = NULL;
  g_autoptr (GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *masked = NULL;
  Result result;

  run_evbus (&result, GOOD_DIR, "run", "--exit-when-idle", "--trace", "tick", "trace.json");
  assert_int_equal (result.status, 0);
  assert_string_equal (result.out, "");
  /* One trace id per event, a different one for each event. */
  for (g_regex_match (trace_id, result.err, 0, &match); g_match_info_matches (match); g_match_info_next (match, NULL))
    {
      g_autofree char *id = g_match_info_fetch (match, 1);
      g_autofree char *event = g_match_info_fetch (match, 2);
      const char *seen = g_hash_table_lookup (ids, event);

      if (seen == NULL)
        g_hash_table_insert (ids, g_strdup (event), g_strdup (id));
      else
        assert_string_equal (seen, id);
    }
  assert_int_equal (g_hash_table_size (ids), 2);
  assert_string_not_equal (g_hash_table_lookup (ids, "1"), g_hash_table_lookup (ids, "2"));
  masked = g_regex_replace_literal (trace_id, result.err, -1, 0, "trace @ tick: ", 0, NULL);
  assert_string_equal (masked,
    "trace @ tick: dispatch: 3 routes match the type\n"
    "trace @ tick: level priority 5: 1 route\n"
    "trace @ tick: routes[0] clock.count (sync): skipped, filter none of: (data.n: 1 is not 2; not: data.n: 1 is < 5)\n"
    "trace @ tick: level priority 0: 1 route\n"
    "trace @ tick: routes[1] clock.work (sync): returned CONTINUE\n"
    "trace @ tick: level priority -1: 1 route\n"
    "trace @ tick: routes[2] clock.fail (sync): returned FAILED\n"
    "trace @ tick: routes[2] clock.fail (sync): failed: ticker 7: refusing event 1\n"
    "trace @ tick: levels done: failed\n"
    "trace @ tick: dispatch: 3 routes match the type\n"
    "trace @ tick: level priority 5: 1 route\n"
    "trace @ tick: routes[0] clock.count (sync): returned CONTINUE\n"
    "trace @ tick: level priority 0: 1 route\n"
    "trace @ tick: routes[1] clock.work (sync): returned CONTINUE\n"
    "trace @ tick: level priority -1: 1 route\n"
    "trace @ tick: routes[2] clock.fail (sync): returned FAILED\n"
    "trace @ tick: routes[2] clock.fail (sync): failed: ticker 7: refusing event 2\n"
    "trace @ tick: levels done: failed\n"
    "evbus: dispatched 2 events, dropped 0, unhandled 0; jobs: 0 completed, 0 failed, 0 cancelled\n");
  result_clear (&result);

  /* A pattern no event matches prints nothing but the summary. */
  run_evbus (&result, GOOD_DIR, "run", "--exit-when-idle", "--trace", "other.>", "trace.json");
  assert_result (&result, 0, "",
                 "evbus: dispatched 2 events, dropped 0, unhandled 0; jobs: 0 completed, 0 failed, 0 cancelled\n");
  result_clear (&result);

  run_evbus (&result, GOOD_DIR, "run", "--trace", "a..b", "trace.json");
  assert_result (&result, 2, "", "evbus run: --trace: invalid pattern \"a..b\": empty segment 2\n");
  result_clear (&result);
}

/* Events a plugin emits from init reach the config's routes: the routes
 * are in place before the loop first runs (compare with bad/
 * handler-not-found.json, where they must not). */
static void
test_run_events_from_init (void **state)
{
  g_autofree char *dir = g_dir_make_tmp ("evbus-cli-XXXXXX", NULL);
  g_autofree char *marker = g_build_filename (dir, "marker", NULL);
  g_autofree char *marker_env = g_strconcat ("EVB_TEST_MARKER=", marker, NULL);
  const char *env[] = { marker_env, NULL };
  g_autofree char *trail = NULL;
  Result result;

  run_evbus_env (&result, GOOD_DIR, env, "run", "--exit-when-idle", "emit-at-init.json", NULL);
  assert_result (&result, 0, "",
                 "evbus: dispatched 3 events, dropped 0, unhandled 0; jobs: 0 completed, 0 failed, 0 cancelled\n");
  result_clear (&result);
  assert_true (g_file_get_contents (marker, &trail, NULL, NULL));
  assert_string_equal (trail, "init\ncount 1\ncount 2\ncount 3\nshutdown\n");
  g_unlink (marker);
  g_rmdir (dir);
}

static void
test_run_verbose (void **state)
{
  Result result;

  run_evbus (&result, GOOD_DIR, "run", "--exit-when-idle", "--verbose", "counts.json");
  assert_int_equal (result.status, 0);
  assert_string_equal (result.out, "ticker clock: counted 7 events\n");
  assert_non_null (strstr (result.err, "evbus-host-DEBUG"));
  assert_non_null (strstr (result.err, ": loaded plugin \"clock\" from " TICKER_SO "\n"));
  assert_non_null (strstr (result.err, ": route 3: \"tick\" -> clock.fail (async, priority 0)\n"));
  assert_non_null (strstr (result.err, ": the bus is idle: stopping\n"));
  assert_true (g_str_has_suffix (result.err, "\nevbus: dispatched 9 events, dropped 0, unhandled 2; jobs: 5 "
                                             "completed, 2 failed, 0 cancelled\n"));
  result_clear (&result);
}

/* SIGTERM with events queued: they are still dispatched, plugins shut
 * down (the count line), one summary. */
static void
test_run_sigterm (void **state)
{
  TestChild child;
  Result result;

  child_start (&child, GOOD_DIR, "run", "sigterm.json", NULL);
  child_wait_for_or_fail (&child, child.out_text, "ready\n", DEADLINE_MS);
  kill (child.pid, SIGTERM);
  child_finish (&child, &result);
  assert_result (&result, 0, "ready\nticker clock: counted 3 events\n",
                 "evbus: SIGTERM received, shutting down (grace 1000 ms; SIGTERM again forces exit)\n"
                 "evbus: dispatched 3 events, dropped 0, unhandled 0; jobs: 0 completed, 0 failed, 0 cancelled\n");
  result_clear (&result);
}

/* A job in flight when the signal comes finishes within the grace period:
 * it is released only once the shutdown has begun. */
static void
test_run_sigterm_job_finishes (void **state)
{
  TestChild child;
  Result result;

  child_start (&child, GOOD_DIR, "run", "in-flight.json", NULL);
  child_wait_for_or_fail (&child, child.out_text, "waiting\n", DEADLINE_MS);
  kill (child.pid, SIGTERM);
  child_wait_for_or_fail (&child, child.err_text, "shutting down", DEADLINE_MS);
  assert_int_equal (write (child.in, "go\n", 3), 3);
  child_finish (&child, &result);
  assert_result (&result, 0, "waiting\n",
                 "evbus: SIGTERM received, shutting down (grace 60000 ms; SIGTERM again forces exit)\n"
                 "evbus: dispatched 1 events, dropped 0, unhandled 0; jobs: 1 completed, 0 failed, 0 cancelled\n");
  result_clear (&result);
}

/* A job still running when the grace period ends is cancelled. */
static void
test_run_sigint_grace_expires (void **state)
{
  TestChild child;
  Result result;

  child_start (&child, GOOD_DIR, "run", "grace-expired.json", NULL);
  child_wait_for_or_fail (&child, child.out_text, "waiting\n", DEADLINE_MS);
  kill (child.pid, SIGINT);
  child_finish (&child, &result);
  assert_result (&result, 0, "waiting\n",
                 "evbus: SIGINT received, shutting down (grace 50 ms; SIGINT again forces exit)\n"
                 "evbus: dispatched 1 events, dropped 0, unhandled 0; jobs: 0 completed, 0 failed, 1 cancelled\n");
  result_clear (&result);
}

/* A second SIGINT during the grace period leaves at once: no summary. */
static void
test_run_second_sigint_forces_exit (void **state)
{
  TestChild child;
  Result result;

  child_start (&child, GOOD_DIR, "run", "in-flight.json", NULL);
  child_wait_for_or_fail (&child, child.out_text, "waiting\n", DEADLINE_MS);
  kill (child.pid, SIGINT);
  child_wait_for_or_fail (&child, child.err_text, "shutting down", DEADLINE_MS);
  kill (child.pid, SIGINT);
  child_finish (&child, &result);
  assert_result (&result, 130, "waiting\n",
                 "evbus: SIGINT received, shutting down (grace 60000 ms; SIGINT again forces exit)\n"
                 "evbus: forced exit\n");
  result_clear (&result);
}

/* ---- inspect ---- */

static const char ticker_text[] =
  "Name         ticker\n"
  "Version      1.2.3\n"
  "ABI          1.1\n"
  "File         " TICKER_SO "\n"
  "Description  Emits numbered events and counts, completes, fails or holds them.\n"
  "\n"
  "Handlers:\n"
  "  count         Counts the events it sees (and notes \"count N\" in the marker file).\n"
  "  work          Does nothing and completes.\n"
  "  fail          Fails every event with ticker error 7 \"refusing event N\".\n"
  "  wait          Prints \"waiting\", then waits for a line on stdin or cancellation.\n"
  "\n"
  "Options:\n"
  "  count         integer, default 3\n"
  "                How many events to emit once the loop runs.\n"
  "  type          string, default \"tick\"\n"
  "                Type of the events emitted.\n"
  "  ready         boolean, default false\n"
  "                Print \"ready\" after emitting and keep the bus busy.\n"
  "  report        boolean, default false\n"
  "                Print \"ticker NAME: counted N events\" at shutdown.\n"
  "  marker        string, default \"\"\n"
  "                File to append \"init\", \"count N\" and \"shutdown\" to.\n"
  "  emit_at_init  boolean, default false\n"
  "                Emit from init rather than once the loop runs.\n"
  "  fail_init     string, default \"\"\n"
  "                When not empty, init fails with this message.\n";

static void
test_inspect_text (void **state)
{
  Result result;

  /* A bare name, found on $EVBUS_PLUGIN_PATH. */
  run_evbus (&result, BAD_DIR, "inspect", "ticker");
  assert_result (&result, 0, ticker_text, "");
  result_clear (&result);

  /* A path, and an option without default. */
  run_evbus (&result, BAD_DIR, "inspect", EVB_TEST_PLUGIN_DIR "/evbus-needs-label.so");
  assert_result (&result, 0,
                 "Name         needs-label\n"
                 "Version      0.1.0\n"
                 "ABI          1.1\n"
                 "File         " EVB_TEST_PLUGIN_DIR "/evbus-needs-label.so\n"
                 "Description  Takes events; needs a label.\n"
                 "\n"
                 "Handlers:\n"
                 "  take   Accepts any event.\n"
                 "\n"
                 "Options:\n"
                 "  label  string, required\n"
                 "         What to call the sink.\n"
                 "  limit  integer, default 10\n"
                 "         Largest batch.\n",
                 "");
  result_clear (&result);
}

static json_t *
parse_json (const char *text)
{
  json_error_t error;
  json_t *value = json_loads (text, 0, &error);

  if (value == NULL)
    fail_msg ("not JSON (%d:%d: %s):\n%s", error.line, error.column, error.text, text);
  return value;
}

static void
test_inspect_json (void **state)
{
  Result result;
  json_t *description;
  json_t *expected_count;
  json_t *expected_fail;
  json_t *label;

  run_evbus (&result, BAD_DIR, "inspect", "--json", "ticker");
  assert_int_equal (result.status, 0);
  assert_string_equal (result.err, "");
  description = parse_json (result.out);
  assert_string_equal (json_string_value (json_object_get (description, "name")), "ticker");
  assert_string_equal (json_string_value (json_object_get (description, "version")), "1.2.3");
  assert_string_equal (json_string_value (json_object_get (description, "abi")), "1.1");
  assert_string_equal (json_string_value (json_object_get (description, "file")), TICKER_SO);
  assert_string_equal (json_string_value (json_object_get (description, "description")),
                       "Emits numbered events and counts, completes, fails or holds them.");
  assert_int_equal (json_array_size (json_object_get (description, "handlers")), 4);
  expected_fail = json_pack ("{s:s, s:s}", "name", "fail", "doc",
                             "Fails every event with ticker error 7 \"refusing event N\".");
  assert_true (json_equal (json_array_get (json_object_get (description, "handlers"), 2), expected_fail));
  json_decref (expected_fail);
  assert_int_equal (json_array_size (json_object_get (description, "options")), 7);
  expected_count = json_pack ("{s:s, s:s, s:i, s:b, s:s}", "name", "count", "type", "integer", "default", 3,
                              "required", 0, "doc", "How many events to emit once the loop runs.");
  assert_true (json_equal (json_array_get (json_object_get (description, "options"), 0), expected_count));
  json_decref (expected_count);
  assert_string_equal (json_string_value (json_object_get (json_array_get (json_object_get (description,
                                                                                            "options"), 1),
                                                          "default")), "tick");
  json_decref (description);
  result_clear (&result);

  run_evbus (&result, BAD_DIR, "inspect", "--json", "needs-label");
  assert_int_equal (result.status, 0);
  description = parse_json (result.out);
  label = json_array_get (json_object_get (description, "options"), 0);
  assert_true (json_is_true (json_object_get (label, "required")));
  assert_null (json_object_get (label, "default"));
  assert_string_equal (json_string_value (json_object_get (label, "type")), "string");
  json_decref (description);
  result_clear (&result);
}

static void
test_inspect_errors (void **state)
{
  g_autofree char *dl = dlopen_error (BAD_DIR "/not-a-library.so");
  g_autofree char *expected = NULL;
  Result result;

  run_evbus (&result, BAD_DIR, "inspect", "no-descriptor");
  assert_result (&result, 2, "",
                 "evbus inspect: \"" EVB_TEST_PLUGIN_DIR "/evbus-no-descriptor.so\" exports no "
                 "evb_plugin_descriptor: is it an evbus plugin? (define one with EVB_PLUGIN_DEFINE)\n");
  result_clear (&result);

  run_evbus (&result, BAD_DIR, "inspect", "abi-mismatch");
  assert_result (&result, 2, "",
                 "evbus inspect: \"" EVB_TEST_PLUGIN_DIR "/evbus-abi-mismatch.so\" was built for evbus ABI 2.4, "
                 "this host speaks ABI 1.1: rebuild the plugin against this evbus\n");
  result_clear (&result);

  /* Relative to the current folder. */
  expected = g_strdup_printf ("evbus inspect: \"%s/not-a-library.so\" is not a loadable shared object: %s\n",
                              BAD_DIR, dl);
  run_evbus (&result, BAD_DIR, "inspect", "not-a-library.so");
  assert_result (&result, 2, "", expected);
  result_clear (&result);

  run_evbus (&result, BAD_DIR, "inspect", "/nonexistent/evbus-ticker.so");
  assert_result (&result, 2, "", "evbus inspect: plugin file \"/nonexistent/evbus-ticker.so\" not found\n");
  result_clear (&result);

  g_free (expected);
  expected = g_strdup_printf ("evbus inspect: plugin \"clock\" not found: no clock, evbus-clock.so or clock.so in "
                              "%s, %s, %s\n", BAD_DIR, EVB_TEST_PLUGIN_DIR, EVB_TEST_INSTALLED_PLUGIN_DIR);
  run_evbus (&result, BAD_DIR, "inspect", "clock");
  assert_result (&result, 2, "", expected);
  result_clear (&result);
}

int
main (void)
{
  static const struct CMUnitTest fixed[] = {
    cmocka_unit_test (test_version),
    cmocka_unit_test (test_help),
    cmocka_unit_test (test_command_help),
    cmocka_unit_test (test_usage_errors),
    cmocka_unit_test (test_plugin_lookup_order),
    cmocka_unit_test (test_plugin_lookup_bare_names),
    cmocka_unit_test (test_check_good),
    cmocka_unit_test (test_run_until_idle),
    cmocka_unit_test (test_run_trace),
    cmocka_unit_test (test_run_events_from_init),
    cmocka_unit_test (test_run_verbose),
    cmocka_unit_test (test_run_sigterm),
    cmocka_unit_test (test_run_sigterm_job_finishes),
    cmocka_unit_test (test_run_sigint_grace_expires),
    cmocka_unit_test (test_run_second_sigint_forces_exit),
    cmocka_unit_test (test_inspect_text),
    cmocka_unit_test (test_inspect_json),
    cmocka_unit_test (test_inspect_errors),
  };
  g_autoptr (GArray) tests = g_array_new (FALSE, TRUE, sizeof (struct CMUnitTest));
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  g_array_append_vals (tests, fixed, G_N_ELEMENTS (fixed));
  /* One named test per broken file, so a failure names it. */
  for (guint i = 0; i < G_N_ELEMENTS (bad_configs); i++)
    {
      char *name = g_strdup_printf ("check bad/%s", bad_configs[i].file);
      struct CMUnitTest test = { .name = name, .test_func = test_check_bad,
                                 .initial_state = (void *) &bad_configs[i] };

      g_ptr_array_add (names, name);
      g_array_append_val (tests, test);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad_runs); i++)
    {
      char *name = g_strdup_printf ("run bad/%s starts nothing", bad_runs[i].file);
      struct CMUnitTest test = { .name = name, .test_func = test_run_bad, .initial_state = (void *) &bad_runs[i] };

      g_ptr_array_add (names, name);
      g_array_append_val (tests, test);
    }
  return _cmocka_run_group_tests ("cli", (const struct CMUnitTest *) tests->data, tests->len, NULL, NULL);
}
