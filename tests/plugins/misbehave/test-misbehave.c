/* `evbus run` and `evbus check` with a plugin that misbehaves (issue
 * "Survive a misbehaving plugin and a hostile client"): run as an
 * operator would, with signals sent from here and exit statuses and
 * stderr lines checked exactly.
 *
 * Nothing sleeps: every step waits for a line the child prints (the
 * plugin says "blocking 1", "stuck 2", ... before it misbehaves), with a
 * deadline that fails the test.  Each test writes its config into a
 * fresh folder; the plugin is found through EVBUS_PLUGIN_PATH. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "child-or-fail.h"

#define PLUGIN_SO EVB_TEST_PLUGIN_DIR "/evbus-misbehave.so"
#define DEADLINE_MS 30000

/* Starts `evbus COMMAND [OPTION] pipeline.json` in @dir (taken: removed
 * when the child is finished). */
static void
child_spawn (TestChild *child, char *dir, const char *command, const char *option)
{
  const char *argv[] = { EVB_TEST_EVBUS, command, option != NULL ? option : "pipeline.json",
                         option != NULL ? "pipeline.json" : NULL, NULL };
  g_auto (GStrv) env = g_environ_setenv (test_child_environ (), "EVBUS_PLUGIN_PATH", EVB_TEST_PLUGIN_DIR, TRUE);

  child_start_or_fail (child, dir, argv, (const char *const *) env, TEST_CHILD_DEFAULT, NULL, NULL);
  child->dir = dir;
}

/* A folder with pipeline.json holding @config. */
static char *
config_dir (const char *config)
{
  return child_dir_new_or_fail ("evbus-misbehave-XXXXXX", "pipeline.json", config);
}

/* The same in a fresh folder holding @config as pipeline.json. */
static void
child_start (TestChild *child, const char *command, const char *option, const char *config)
{
  child_spawn (child, config_dir (config), command, option);
}

/* A config: the misbehave plugin as "m" with @plugin_config, host
 * settings @host, and @routes (JSON array text). */
static char *
pipeline (const char *host, const char *plugin_config, const char *routes)
{
  return g_strdup_printf ("{\"host\": %s, \"plugins\": [{\"name\": \"m\", \"path\": \"misbehave\", \"config\": %s}],"
                          " \"routes\": %s}",
                          host, plugin_config, routes);
}

/* ---- signals ---- */

/* A sync handler that never returns: the first SIGINT says so, the
 * second leaves at once, with 128+2. */
static void
test_blocked_handler_second_sigint (void **state)
{
  g_autofree char *config = pipeline ("{\"stall_ms\": 0}", "{}",
                                      "[{\"on\": \"tick\", \"handler\": \"m.block\"}]");
  TestChild child;

  child_start (&child, "run", NULL, config);
  child_wait_for_or_fail (&child, child.out_text, "blocking 1\n", DEADLINE_MS);
  kill (child.pid, SIGINT);
  child_wait_for_or_fail (&child, child.err_text, "shutting down", DEADLINE_MS);
  kill (child.pid, SIGINT);
  child_finish_or_fail (&child, DEADLINE_MS);
  assert_string_equal (child.err_text->str,
                       "evbus: SIGINT received, shutting down (grace 5000 ms; SIGINT again forces exit)\n"
                       "evbus: forced exit\n");
  assert_string_equal (child.out_text->str, "blocking 1\n");
  assert_int_equal (child.status, 130);
  test_child_clear (&child);
}

/* SIGTERM, then SIGINT: the second of either forces the exit, with its
 * own number. */
static void
test_blocked_handler_sigterm_then_sigint (void **state)
{
  g_autofree char *config = pipeline ("{\"stall_ms\": 0, \"grace_ms\": 100}", "{}",
                                      "[{\"on\": \"tick\", \"handler\": \"m.block\"}]");
  TestChild child;

  child_start (&child, "run", NULL, config);
  child_wait_for_or_fail (&child, child.out_text, "blocking 1\n", DEADLINE_MS);
  kill (child.pid, SIGTERM);
  child_wait_for_or_fail (&child, child.err_text, "shutting down", DEADLINE_MS);
  kill (child.pid, SIGINT);
  child_finish_or_fail (&child, DEADLINE_MS);
  assert_string_equal (child.err_text->str,
                       "evbus: SIGTERM received, shutting down (grace 100 ms; SIGTERM again forces exit)\n"
                       "evbus: forced exit\n");
  assert_int_equal (child.status, 130);
  test_child_clear (&child);
}

/* An init that never returns: signals work during loading too. */
static void
test_blocked_init_sigterm_twice (void **state)
{
  g_autofree char *config = pipeline ("{\"stall_ms\": 0}", "{\"block_init\": true}", "[]");
  TestChild child;

  child_start (&child, "run", NULL, config);
  child_wait_for_or_fail (&child, child.out_text, "init blocking\n", DEADLINE_MS);
  kill (child.pid, SIGTERM);
  child_wait_for_or_fail (&child, child.err_text, "shutting down", DEADLINE_MS);
  kill (child.pid, SIGTERM);
  child_finish_or_fail (&child, DEADLINE_MS);
  assert_string_equal (child.err_text->str,
                       "evbus: SIGTERM received, shutting down (grace 5000 ms; SIGTERM again forces exit)\n"
                       "evbus: forced exit\n");
  assert_int_equal (child.status, 143);
  test_child_clear (&child);
}

/* SIGHUP is logged and the host carries on; SIGTERM then shuts it down
 * gracefully, with its summary. */
static void
test_sighup_carries_on (void **state)
{
  g_autofree char *config = pipeline ("{\"stall_ms\": 0}", "{\"count\": 1}",
                                      "[{\"on\": \"tick\", \"handler\": \"m.ran\"}]");
  TestChild child;

  child_start (&child, "run", NULL, config);
  child_wait_for_or_fail (&child, child.out_text, "ran 1\n", DEADLINE_MS);
  kill (child.pid, SIGHUP);
  child_wait_for_or_fail (&child, child.err_text, "carrying on\n", DEADLINE_MS);
  kill (child.pid, SIGTERM);
  child_finish_or_fail (&child, DEADLINE_MS);
  assert_string_equal (child.err_text->str,
                       "evbus: SIGHUP received: reloading is not supported yet, carrying on\n"
                       "evbus: SIGTERM received, shutting down (grace 5000 ms; SIGTERM again forces exit)\n"
                       "evbus: dispatched 1 events, dropped 0, unhandled 0; jobs: 0 completed, 0 failed, "
                       "0 cancelled\n");
  assert_int_equal (child.status, 0);
  test_child_clear (&child);
}

/* ---- plugin files that are not files ---- */

/* A plugin path naming a FIFO: dlopen would wait for a writer forever;
 * evbus refuses it before opening it, as a load error naming the option. */
static void
check_fifo (const char *command)
{
  const char *config = "{\"plugins\": [{\"name\": \"f\", \"path\": \"./fifo.so\"}]}";
  char *dir = config_dir (config);
  g_autofree char *fifo = g_build_filename (dir, "fifo.so", NULL);
  g_autofree char *expected = NULL;
  TestChild child;

  assert_int_equal (mkfifo (fifo, 0600), 0);
  child_spawn (&child, dir, command, NULL);
  child_finish_or_fail (&child, DEADLINE_MS);
  expected = g_strdup_printf ("pipeline.json:1:28: plugins[0].path: \"%s\" is not a regular file but a FIFO: "
                              "give the path of a plugin's .so file\n",
                              fifo);
  assert_string_equal (child.err_text->str, expected);
  assert_int_equal (child.status, 2);
  test_child_clear (&child);
}

static void
test_fifo_check (void **state)
{
  check_fifo ("check");
}

static void
test_fifo_run (void **state)
{
  check_fifo ("run");
}

/* ---- the crash line ---- */

static void
check_crash (const char *handler, const char *mode, const char *said, const char *signal_name, int status)
{
  g_autofree char *routes = g_strdup_printf ("[{\"on\": \"tick\", \"handler\": \"m.%s\", \"mode\": \"%s\"}]",
                                             handler, mode);
  g_autofree char *config = pipeline ("{\"stall_ms\": 0}", "{}", routes);
  g_autofree char *line = g_strdup_printf ("evbus: %s in handler m.%s (plugin m, file %s) on event tick id 1\n",
                                           signal_name, handler, PLUGIN_SO);
  g_autofree char *out = g_strdup_printf ("%s 1\n", said);
  TestChild child;

  child_start (&child, "run", NULL, config);
  child_finish_or_fail (&child, DEADLINE_MS);
  assert_string_equal (child.err_text->str, line);
  assert_string_equal (child.out_text->str, out);
  assert_int_equal (child.status, status);
  test_child_clear (&child);
}

static void
test_crash_segv_sync (void **state)
{
  check_crash ("segv", "sync", "crashing", "SIGSEGV", 128 + SIGSEGV);
}

static void
test_crash_segv_async (void **state)
{
  check_crash ("segv", "async", "crashing", "SIGSEGV", 128 + SIGSEGV);
}

static void
test_crash_abort (void **state)
{
  check_crash ("abort", "async", "aborting", "SIGABRT", 128 + SIGABRT);
}

static void
test_crash_fpe (void **state)
{
  check_crash ("fpe", "sync", "dividing", "SIGFPE", 128 + SIGFPE);
}

/* ---- the watchdog ---- */

/* A handler that holds the loop for 600 ms with stall_ms 100: one line
 * when the stall is seen, naming the handler, one when the loop turns. */
static void
test_watchdog_reports_stall (void **state)
{
  g_autofree char *config = pipeline ("{\"stall_ms\": 100}", "{\"slow_ms\": 600}",
                                      "[{\"on\": \"tick\", \"handler\": \"m.slow\"}]");
  g_autoptr (GRegex) stalled = g_regex_new (
    "WARNING \\*\\*: [0-9:.]+: main loop stalled for ([0-9]+) ms \\(since [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}\\), "
    "running handler m\\.slow \\(plugin m, file " EVB_TEST_PLUGIN_DIR "/evbus-misbehave\\.so\\) on event tick id 1\n",
    0, 0, NULL);
  g_autoptr (GRegex) turned = g_regex_new (
    "WARNING \\*\\*: [0-9:.]+: main loop turns again after a stall of ([0-9]+) ms\n", 0, 0, NULL);
  g_autoptr (GMatchInfo) match = NULL;
  g_autofree char *length = NULL;
  TestChild child;

  child_start (&child, "run", "--exit-when-idle", config);
  child_finish_or_fail (&child, DEADLINE_MS);
  assert_int_equal (child.status, 0);
  assert_true (g_regex_match (stalled, child.err_text->str, 0, &match));
  length = g_match_info_fetch (match, 1);
  assert_in_range (g_ascii_strtoll (length, NULL, 10), 100, 600);
  g_clear_pointer (&match, g_match_info_unref);
  g_clear_pointer (&length, g_free);
  assert_true (g_regex_match (turned, child.err_text->str, 0, &match));
  length = g_match_info_fetch (match, 1);
  assert_in_range (g_ascii_strtoll (length, NULL, 10), 600, 60000);
  assert_true (g_str_has_suffix (child.err_text->str,
                                 "evbus: dispatched 1 events, dropped 0, unhandled 0; jobs: 0 completed, 0 failed, "
                                 "0 cancelled; main loop stalled 1 time\n"));
  test_child_clear (&child);
}

/* ---- the pool ---- */

/* Two jobs that time out and never return hold both workers; a route of
 * a lower level still runs (spares take their place), the summary counts
 * the timeouts (two failure events) and the jobs that never returned,
 * and shutdown waits the grace period once. */
static void
test_stuck_jobs_do_not_starve (void **state)
{
  g_autofree char *config = pipeline (
    "{\"stall_ms\": 0, \"workers\": 2, \"grace_ms\": 1500}", "{\"count\": 2}",
    "[{\"on\": \"tick\", \"handler\": \"m.stuck\", \"mode\": \"async\", \"timeout_ms\": 100, \"priority\": 1},"
    " {\"on\": \"tick\", \"handler\": \"m.ran\", \"mode\": \"async\"}]");
  TestChild child;
  gint64 signalled;
  gint64 took_ms;

  child_start (&child, "run", NULL, config);
  child_wait_for_or_fail (&child, child.out_text, "ran 1\n", DEADLINE_MS);
  child_wait_for_or_fail (&child, child.out_text, "ran 2\n", DEADLINE_MS);
  signalled = g_get_monotonic_time ();
  kill (child.pid, SIGTERM);
  child_finish_or_fail (&child, DEADLINE_MS);
  took_ms = (g_get_monotonic_time () - signalled) / 1000;
  assert_true (g_str_has_suffix (child.err_text->str,
                                 "evbus: dispatched 2 events, dropped 0, unhandled 0; jobs: 2 completed, 0 failed, "
                                 "0 cancelled, 2 timed out, 2 never returned\n"));
  assert_int_equal (child.status, 0);
  /* The grace period once (today's three would be 4.5 s). */
  assert_in_range (took_ms, 1500, 2900);
  test_child_clear (&child);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_blocked_handler_second_sigint),
    cmocka_unit_test (test_blocked_handler_sigterm_then_sigint),
    cmocka_unit_test (test_blocked_init_sigterm_twice),
    cmocka_unit_test (test_sighup_carries_on),
    cmocka_unit_test (test_fifo_check),
    cmocka_unit_test (test_fifo_run),
    cmocka_unit_test (test_crash_segv_sync),
    cmocka_unit_test (test_crash_segv_async),
    cmocka_unit_test (test_crash_abort),
    cmocka_unit_test (test_crash_fpe),
    cmocka_unit_test (test_watchdog_reports_stall),
    cmocka_unit_test (test_stuck_jobs_do_not_starve),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
