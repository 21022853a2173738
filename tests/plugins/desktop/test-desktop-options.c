/* plugins/desktop without a display: every bad option is a load error
 * naming it, and a host with no display to open refuses the plugin with a
 * line that says what to do.  Through the harness, as a plugin author
 * would test; no X server needed (init never gets as far as a window). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <evbus/harness.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbHarness, evb_harness_free)

/* Loads the plugin as "ui" with @config_json and returns the error message. */
static char *
load_error (const char *config_json)
{
  g_autoptr (EvbHarness) harness = evb_harness_new ();
  g_autoptr (GError) error = NULL;

  if (evb_harness_add_plugin_file (harness, "ui", DESKTOP_PLUGIN, config_json, &error))
    fail_msg ("loaded with %s", config_json);
  return g_strdup (error->message);
}

static void
assert_load_error (const char *config_json, const char *expected)
{
  g_autofree char *message = load_error (config_json);
  g_autofree char *full = g_strdup_printf ("plugin \"ui\" (%s): %s", DESKTOP_PLUGIN, expected);

  assert_string_equal (message, full);
}

static void
test_bad_options (void **state)
{
  assert_load_error ("{\"results_windows\": 17}", "option \"results_windows\": expected at most 16, got 17");
  assert_load_error ("{\"results_windows\": -1}", "option \"results_windows\": expected at least 0, got -1");
  assert_load_error ("{\"results_windows\": \"two\"}",
                     "option \"results_windows\": expected an integer, got \"two\"");
  assert_load_error ("{\"tick_ms\": 0}", "option \"tick_ms\": expected at least 1, got 0");
  assert_load_error ("{\"tick_ms\": 1001}", "option \"tick_ms\": expected at most 1000, got 1001");
  assert_load_error ("{\"query\": 5}", "option \"query\": expected a string, got 5");
  assert_load_error ("{\"colour\": \"red\"}",
                     "option \"colour\": unknown option (plugin \"desktop\" takes: results_windows, query, tick_ms)");
}

/* Without DISPLAY nor WAYLAND_DISPLAY, init fails with what to do. */
static void
test_no_display (void **state)
{
  g_unsetenv ("DISPLAY");
  g_unsetenv ("WAYLAND_DISPLAY");
  assert_load_error (NULL, "init failed: cannot open a display (DISPLAY=unset, WAYLAND_DISPLAY=unset): run it in "
                           "a desktop session, or headless under xvfb-run");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_bad_options),
    cmocka_unit_test (test_no_display),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
