/* Tests for host/pipeline/build.c: a config file's plugins and routes on a
 * bus, as `evbus run` and `evbus check` load them.
 *   - path options (EVB_OPTION_PATH) are relative to the config file's
 *     folder, whatever folder the host runs in (the demo pipeline too);
 *   - option limits, handler modes and route params give the config's
 *     error lines, FILE:LINE:COLUMN: JSON.PATH: message.
 * Plugins: tests/plugins' limits.so, and the stock plugins for the demo. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <glib/gstdio.h>

#include "build.h"

#define LIMITS EVB_TEST_PLUGIN_DIR "/limits.so"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)

/* A folder of its own for each test, removed after; the test runs in
 * another one, so that nothing resolves by accident against the current
 * folder. */
typedef struct {
  char *dir;       /* holds the config */
  char *elsewhere; /* the current folder while the test runs */
  char *saved_cwd;
} Folders;

static int
setup (void **state)
{
  Folders *folders = g_new0 (Folders, 1);
  g_autoptr (GError) error = NULL;

  folders->dir = g_dir_make_tmp ("evbus-build-XXXXXX", &error);
  folders->elsewhere = g_dir_make_tmp ("evbus-elsewhere-XXXXXX", &error);
  assert_non_null (folders->dir);
  assert_non_null (folders->elsewhere);
  folders->saved_cwd = g_get_current_dir ();
  assert_int_equal (g_chdir (folders->elsewhere), 0);
  *state = folders;
  return 0;
}

static int
teardown (void **state)
{
  Folders *folders = *state;
  g_autofree char *config = g_build_filename (folders->dir, "pipeline.json", NULL);

  assert_int_equal (g_chdir (folders->saved_cwd), 0);
  g_unlink (config);
  g_rmdir (folders->dir);
  g_rmdir (folders->elsewhere);
  g_free (folders->dir);
  g_free (folders->elsewhere);
  g_free (folders->saved_cwd);
  g_free (folders);
  return 0;
}

/* Writes @text as DIR/pipeline.json, "@LIMITS@" replaced by limits.so's
 * path; returns the file's path. */
static char *
write_config (Folders *folders, const char *text)
{
  g_autoptr (GString) contents = g_string_new (text);
  g_autoptr (GError) error = NULL;
  char *file = g_build_filename (folders->dir, "pipeline.json", NULL);

  g_string_replace (contents, "@LIMITS@", LIMITS, 0);
  if (!g_file_set_contents (file, contents->str, -1, &error))
    fail_msg ("%s", error->message);
  return file;
}

/* Loads @file into @bus; the error lines, one per line, "" for none. */
static char *
load_pipeline (EvbBus *bus, EvbConfig *config)
{
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  GString *text = g_string_new (NULL);

  evb_pipeline_load (bus, config, NULL, errors);
  for (guint i = 0; i < errors->len; i++)
    g_string_append_printf (text, "%s\n", (const char *) g_ptr_array_index (errors, i));
  return g_string_free (text, FALSE);
}

static EvbConfig *
load_config (const char *file)
{
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  EvbConfig *config = evb_pipeline_load_config (file, errors);

  if (config == NULL)
    fail_msg ("%s", errors->len > 0 ? (const char *) g_ptr_array_index (errors, 0) : "no config");
  return config;
}

static const char *
option_of (EvbBus *bus, const char *instance, const char *name)
{
  EvbPluginInstance *found = evb_bus_find_plugin (bus, instance);

  assert_non_null (found);
  return evb_plugin_get_string (evb_plugin_instance_get_handle (found), name);
}

/* A relative path, given or the default, is joined to the config file's
 * folder; "-" and absolute paths stay as they are. */
static void
test_paths_relative_to_config (void **state)
{
  Folders *folders = *state;
  g_autofree char *file = write_config (folders,
    "{\n"
    "  \"plugins\": [\n"
    "    { \"name\": \"rel\", \"path\": \"@LIMITS@\", \"config\": { \"input\": \"data/in.jsonl\" } },\n"
    "    { \"name\": \"up\", \"path\": \"@LIMITS@\", \"config\": { \"input\": \"../in.jsonl\", \"output\": \"/o\" } },\n"
    "    { \"name\": \"std\", \"path\": \"@LIMITS@\" }\n"
    "  ]\n"
    "}\n");
  g_autoptr (EvbConfig) config = load_config (file);
  g_autoptr (EvbBus) bus = evb_bus_new (&config->settings, NULL);
  g_autofree char *errors = load_pipeline (bus, config);
  g_autofree char *in = g_build_filename (config->base_dir, "data/in.jsonl", NULL);
  g_autofree char *up = g_build_filename (config->base_dir, "../in.jsonl", NULL);
  g_autofree char *out = g_build_filename (config->base_dir, "out.txt", NULL);

  assert_string_equal (errors, "");
  assert_true (g_path_is_absolute (config->base_dir));
  assert_string_equal (option_of (bus, "rel", "input"), in);
  assert_string_equal (option_of (bus, "rel", "output"), out); /* the default, "out.txt" */
  assert_string_equal (option_of (bus, "up", "input"), up);
  assert_string_equal (option_of (bus, "up", "output"), "/o");
  assert_string_equal (option_of (bus, "std", "input"), "-");
  assert_string_equal (option_of (bus, "std", "output"), out);
}

/* Options outside their limits, a route whose mode its handler does not
 * run in: one line each, at the value at fault (a mode the route did not
 * write is the route's default: the line points at the route). */
static void
test_error_lines (void **state)
{
  Folders *folders = *state;
  g_autofree char *file = write_config (folders,
    "{\n"
    "  \"plugins\": [\n"
    "    { \"name\": \"bad\", \"path\": \"@LIMITS@\",\n"
    "      \"config\": { \"latency_ms\": 90000, \"format\": \"xml\", \"ratio\": -1 } },\n"
    "    { \"name\": \"ok\", \"path\": \"@LIMITS@\" }\n"
    "  ],\n"
    "  \"routes\": [\n"
    "    { \"on\": \"a\", \"handler\": \"ok.work\" },\n"
    "    { \"on\": \"b\", \"handler\": \"ok.main\", \"mode\": \"async\" },\n"
    "    { \"on\": \"c\", \"handler\": \"ok.params\", \"params\": { \"any\": [\"thing\"] } },\n"
    "    { \"on\": \"d\", \"handler\": \"bad.params\" }\n"
    "  ]\n"
    "}\n");
  g_autoptr (EvbConfig) config = load_config (file);
  g_autoptr (EvbBus) bus = evb_bus_new (&config->settings, NULL);
  g_autofree char *errors = load_pipeline (bus, config);
  g_autofree char *expected = g_strdup_printf (
    "%s:4:19: plugins[0].config.latency_ms: expected at most 60000, got 90000\n"
    "%s:4:40: plugins[0].config.format: expected one of \"line\", \"json\", got \"xml\"\n"
    "%s:4:57: plugins[0].config.ratio: expected at least 0.0, got -1\n"
    "%s:8:5: routes[0].mode: handler \"ok.work\" is declared async, the route is sync: give the route \"mode\": "
    "\"async\"\n"
    "%s:9:40: routes[1].mode: handler \"ok.main\" is declared sync, the route is async: give the route \"mode\": "
    "\"sync\"\n", file, file, file, file, file);

  assert_string_equal (errors, expected);
}

/* `make demo` from another folder: the demo's input is found next to its
 * config, not in the current folder. */
static void
test_demo_from_another_folder (void **state)
{
  g_autofree char *file = g_build_filename (EVB_TEST_SOURCE_ROOT, "config", "demo.json", NULL);
  g_autofree char *input = NULL;
  g_autofree char *errors = NULL;
  g_autoptr (EvbConfig) config = NULL;
  EvbBus *bus;

  g_setenv ("EVBUS_PLUGIN_PATH", EVB_TEST_STOCK_PLUGIN_PATH, TRUE);
  g_setenv ("EVBUS_DASHBOARD", "127.0.0.1:0", TRUE);
  g_unsetenv ("EVBUS_DEMO_INPUT");
  g_unsetenv ("EVBUS_DEMO_DB");
  config = load_config (file);
  input = g_build_filename (config->base_dir, "demo-input.jsonl", NULL);
  bus = evb_bus_new (&config->settings, NULL);
  errors = load_pipeline (bus, config);
  assert_string_equal (errors, "");
  assert_string_equal (option_of (bus, "ui", "path"), input);
  assert_string_equal (option_of (bus, "view", "path"), "-");
  evb_bus_shutdown (bus, 0);
  evb_bus_free (bus);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_paths_relative_to_config, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_lines, setup, teardown),
    cmocka_unit_test_setup_teardown (test_demo_from_another_folder, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
