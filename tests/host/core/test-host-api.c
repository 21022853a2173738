/* Tests for host/core/host-api.c that no other suite covers:
 * evb_call_wait, the cancellable wait of ABI 1.1, and the refusal of
 * main-thread-only calls made from a worker (issue 15, finding 8). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "evbus/harness.h"

#define WAIT_MS 10000

#include "test-util.h"

/* What the last wait said and how long it took. */
static gint waits_done;   /* atomic */
static gint wait_result;  /* atomic: 1 cancelled, 0 timed out */
static gint64 wait_took_us;

/* Waits data.ms (a worker, or the main thread for a sync route). */
static EvbResult
waiter (EvbCall *call, const EvbEvent *event)
{
  guint ms = (guint) json_integer_value (json_object_get (event->data, "ms"));
  gint64 start = g_get_monotonic_time ();
  gboolean cancelled = evb_call_wait (call, ms);

  wait_took_us = g_get_monotonic_time () - start;
  g_atomic_int_set (&wait_result, cancelled);
  g_atomic_int_inc (&waits_done);
  return EVB_CONTINUE;
}

static const EvbHandlerInfo waiter_handlers[] = {
  EVB_HANDLER ("wait", waiter, "Waits data.ms for its cancellation."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (waiter_plugin, "waiter", "1.0", "Waits; linked into the host-api test.", waiter_handlers,
                          NULL, NULL, NULL);

static EvbHarness *
waiter_harness (void)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new ();

  if (!evb_harness_add_plugin (harness, "w", &waiter_plugin, NULL, &error))
    fail_msg ("%s", error->message);
  g_atomic_int_set (&waits_done, 0);
  g_atomic_int_set (&wait_result, -1);
  return harness;
}

/* A timeout cancels the job: the wait returns TRUE at once, long before
 * its own 60 s are up. */
static void
test_wait_returns_on_cancellation (void **state)
{
  g_autoptr (EvbHarness) harness = waiter_harness ();

  add_route (harness, "w.go", "w.wait", "{\"mode\": \"async\", \"timeout_ms\": 20}");
  emit (harness, "w.go", "{\"ms\": 60000}");
  run_until_int (harness, &waits_done, 1);
  run_until_idle (harness);
  assert_int_equal (g_atomic_int_get (&wait_result), 1);
  assert_true (wait_took_us < 30 * G_USEC_PER_SEC);
  check_trace (harness, "evbus.status.>", "evbus.status.waiting evbus.status.executing evbus.status.cancelling "
                                          "evbus.status.cancelled");
}

/* Removing the route cancels a waiting job the same way. */
static void
test_wait_returns_on_unsubscribe (void **state)
{
  g_autoptr (EvbHarness) harness = waiter_harness ();
  guint64 route = add_route (harness, "w.go", "w.wait", "{\"mode\": \"async\"}");

  emit (harness, "w.go", "{\"ms\": 60000}");
  run_until_count_ok (harness, "evbus.status.executing", 1);
  assert_true (evb_harness_remove_route (harness, route));
  run_until_int (harness, &waits_done, 1);
  assert_int_equal (g_atomic_int_get (&wait_result), 1);
}

/* Nothing cancels it: FALSE after the time is up, not before. */
static void
test_wait_times_out (void **state)
{
  g_autoptr (EvbHarness) harness = waiter_harness ();

  add_route (harness, "w.go", "w.wait", "{\"mode\": \"async\"}");
  emit (harness, "w.go", "{\"ms\": 30}");
  run_until_int (harness, &waits_done, 1);
  run_until_idle (harness);
  assert_int_equal (g_atomic_int_get (&wait_result), 0);
  assert_true (wait_took_us >= 30 * 1000);
  check_trace (harness, "evbus.status.>", "evbus.status.waiting evbus.status.executing evbus.status.completed");
}

/* A sync call cannot be cancelled: it waits its time and says FALSE. */
static void
test_sync_wait (void **state)
{
  g_autoptr (EvbHarness) harness = waiter_harness ();

  add_route (harness, "w.go", "w.wait", NULL);
  emit (harness, "w.go", "{\"ms\": 5}");
  run_until_int (harness, &waits_done, 1);
  assert_int_equal (g_atomic_int_get (&wait_result), 0);
  assert_true (wait_took_us >= 5 * 1000);
}

/* ---- main-thread-only calls from a worker -------------------------------- */

#define PLUGIN_PATH(name) EVB_TEST_PLUGIN_DIR "/" name ".so"

/* The host's criticals, kept (not fatal: the suite runs with
 * G_DEBUG=fatal-criticals, and these are expected).  From any thread. */
static GMutex criticals_lock;
static GPtrArray *criticals;

static void
record_critical (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  g_mutex_lock (&criticals_lock);
  g_ptr_array_add (criticals, g_strdup (message));
  g_mutex_unlock (&criticals_lock);
}

/* Keeps the process alive after an expected critical of the host. */
static gboolean
critical_not_fatal (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  return g_strcmp0 (domain, "evbus") != 0;
}

#define WRONG_THREAD_CRITICAL(call)                                                                             \
  "plugin \"wt\": " call " called off the main thread; it is main-thread only (call it from init, a sync "     \
  "handler or a timeout)"

/* An async handler calls every main-thread-only entry: each is refused
 * with one critical naming the plugin and the call, returns its failure
 * value and changes nothing. */
static void
test_main_thread_calls_refused_on_worker (void **state)
{
  g_autoptr (EvbHarness) harness = evb_harness_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (json_t) trace = NULL;
  EvbPlugin *plugin;
  const EvbEvent *results;
  guint handler_id;

  if (!evb_harness_add_plugin_file (harness, "wt", PLUGIN_PATH ("wrong-thread"), NULL, &error))
    fail_msg ("%s", error->message);
  plugin = evb_harness_get_plugin (harness, "wt");
  add_route (harness, "wt.go", "wt.misuse", "{\"mode\": \"async\"}");

  criticals = g_ptr_array_new_with_free_func (g_free);
  handler_id = g_log_set_handler ("evbus", G_LOG_LEVEL_CRITICAL | G_LOG_FLAG_FATAL, record_critical, NULL);
  g_test_log_set_fatal_handler (critical_not_fatal, NULL);
  emit (harness, "wt.go", NULL);
  run_until_count_ok (harness, "wrong-thread.results", 1);
  run_until_idle (harness);
  g_test_log_set_fatal_handler (NULL, NULL);
  g_log_remove_handler ("evbus", handler_id);

  assert_int_equal (criticals->len, 5);
  assert_string_equal (g_ptr_array_index (criticals, 0), WRONG_THREAD_CRITICAL ("evb_plugin_add_timeout"));
  assert_string_equal (g_ptr_array_index (criticals, 1), WRONG_THREAD_CRITICAL ("evb_plugin_remove_source"));
  assert_string_equal (g_ptr_array_index (criticals, 2), WRONG_THREAD_CRITICAL ("evb_plugin_get_stats"));
  assert_string_equal (g_ptr_array_index (criticals, 3), WRONG_THREAD_CRITICAL ("evb_plugin_keep_traces"));
  assert_string_equal (g_ptr_array_index (criticals, 4), WRONG_THREAD_CRITICAL ("evb_plugin_get_trace"));
  g_clear_pointer (&criticals, g_ptr_array_unref);

  results = evb_harness_find (harness, "wrong-thread.results", 0);
  check_int (results->data, "add_timeout", 0);
  assert_true (json_is_false (json_object_get (results->data, "remove_source")));
  assert_true (json_is_false (json_object_get (results->data, "get_stats")));
  assert_true (json_is_false (json_object_get (results->data, "get_trace")));
  check_string (results->data, "get_trace_error", "evb_plugin_get_trace called off the main thread; it is "
                                                  "main-thread only");

  /* Nothing changed: the refused keep_traces kept none, and the timeout
   * init added is still there for the main thread to remove. */
  trace = evb_plugin_get_trace (plugin, "4bf92f3577b34da6a3ce929d0e0e4736", &error);
  assert_null (trace);
  assert_string_equal (error->message, "no traces are kept: a plugin must call evb_plugin_keep_traces first");
  assert_true (evb_plugin_remove_source (plugin, GPOINTER_TO_UINT (plugin->instance_data)));
}

#define LENT_CALL_CRITICAL(call)                                                                                \
  "route \"wt.lend\": " call " called from a thread that is not running its handler; an EvbCall belongs to the " \
  "handler's thread during the call (hand results back to the handler, e.g. with a GAsyncQueue)"

/* A handler hands its EvbCall to a thread of its own, which uses it: every
 * entry refused with one critical naming the route and the call, each
 * returning what tells a handler to give up, and the failure set there not
 * taken (the handler's EVB_CONTINUE stands).  @mode: "sync" or "async". */
static void
check_lent_call_refused (const char *mode)
{
  g_autoptr (EvbHarness) harness = evb_harness_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *options = g_strdup_printf ("{\"mode\": \"%s\", \"params\": {\"x\": 1}}", mode);
  const EvbEvent *lent;
  guint handler_id;

  if (!evb_harness_add_plugin_file (harness, "wt", PLUGIN_PATH ("wrong-thread"), NULL, &error))
    fail_msg ("%s", error->message);
  add_route (harness, "wt.go", "wt.lend", options);

  criticals = g_ptr_array_new_with_free_func (g_free);
  handler_id = g_log_set_handler ("evbus", G_LOG_LEVEL_CRITICAL | G_LOG_FLAG_FATAL, record_critical, NULL);
  g_test_log_set_fatal_handler (critical_not_fatal, NULL);
  emit (harness, "wt.go", NULL);
  run_until_count_ok (harness, "wrong-thread.lent", 1);
  run_until_idle (harness);
  g_test_log_set_fatal_handler (NULL, NULL);
  g_log_remove_handler ("evbus", handler_id);

  assert_int_equal (criticals->len, 4);
  assert_string_equal (g_ptr_array_index (criticals, 0), LENT_CALL_CRITICAL ("evb_call_is_cancelled"));
  assert_string_equal (g_ptr_array_index (criticals, 1), LENT_CALL_CRITICAL ("evb_call_wait"));
  assert_string_equal (g_ptr_array_index (criticals, 2), LENT_CALL_CRITICAL ("evb_call_get_params"));
  assert_string_equal (g_ptr_array_index (criticals, 3), LENT_CALL_CRITICAL ("evb_call_fail"));
  g_clear_pointer (&criticals, g_ptr_array_unref);

  lent = evb_harness_find (harness, "wrong-thread.lent", 0);
  assert_true (json_is_true (json_object_get (lent->data, "is_cancelled")));
  assert_true (json_is_true (json_object_get (lent->data, "wait")));
  assert_true (json_is_false (json_object_get (lent->data, "params")));
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
}

static void
test_call_refused_off_its_thread_sync (void **state)
{
  check_lent_call_refused ("sync");
}

static void
test_call_refused_off_its_thread_async (void **state)
{
  check_lent_call_refused ("async");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_wait_returns_on_cancellation),
    cmocka_unit_test (test_wait_returns_on_unsubscribe),
    cmocka_unit_test (test_wait_times_out),
    cmocka_unit_test (test_sync_wait),
    cmocka_unit_test (test_main_thread_calls_refused_on_worker),
    cmocka_unit_test (test_call_refused_off_its_thread_sync),
    cmocka_unit_test (test_call_refused_off_its_thread_async),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
