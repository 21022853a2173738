/* Tests for host/core/host-api.c that no other suite covers:
 * evb_call_wait, the cancellable wait of ABI 1.1. */
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

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_wait_returns_on_cancellation),
    cmocka_unit_test (test_wait_returns_on_unsubscribe),
    cmocka_unit_test (test_wait_times_out),
    cmocka_unit_test (test_sync_wait),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
