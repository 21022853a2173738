/* The harness's fake clock (evb_harness_set_clock / _advance_clock): the
 * time plugins read, the timeouts they add and the routes' timeouts all
 * move only when the test says so.  Nothing here waits for real time to
 * pass: a test that needed to would be the bug this clock exists for. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "evbus/harness.h"

#define WAIT_MS 10000

#include "test-util.h"

/* 2026-12-04 00:00:00 UTC */
#define START_US G_GINT64_CONSTANT (1796342400000000)

/* ---- a plugin linked into this program ---------------------------------- */

static gint stall_started;  /* atomic */
static gint stall_cancelled; /* atomic */

/* Emits "tick" {"now": evb_plugin_now ()} from its timeout. */
static gboolean
ticker_tick (gpointer data)
{
  EvbPlugin *plugin = data;

  evb_plugin_emit (plugin, "tick", json_pack ("{s:I}", "now", (json_int_t) evb_plugin_now (plugin)), NULL);
  return G_SOURCE_CONTINUE;
}

static gboolean
ticker_init (EvbPlugin *plugin, GError **error)
{
  gint64 interval_ms = evb_plugin_get_int (plugin, "interval_ms");

  if (interval_ms > 0)
    evb_plugin_add_timeout (plugin, (guint) interval_ms, ticker_tick, plugin, NULL);
  return TRUE;
}

/* Emits "now.seen" {"now": evb_plugin_now ()}. */
static EvbResult
ticker_now (EvbCall *call, const EvbEvent *event)
{
  json_t *data = json_pack ("{s:I}", "now", (json_int_t) evb_plugin_now (call->plugin));

  if (!evb_call_emit (call, "now.seen", data, NULL))
    return evb_call_fail (call, NULL, 1, "emit failed");
  return EVB_CONTINUE;
}

/* Waits (in real time, at most WAIT_MS) until the job is cancelled. */
static EvbResult
ticker_stall (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_set (&stall_started, 1);
  if (evb_call_wait (call, WAIT_MS))
    g_atomic_int_set (&stall_cancelled, 1);
  return EVB_CONTINUE;
}

static const EvbHandlerInfo ticker_handlers[] = {
  EVB_HANDLER ("now", ticker_now, "Emits now.seen with the plugin's clock."),
  EVB_HANDLER_ASYNC ("stall", ticker_stall, "Waits until cancelled."),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo ticker_options[] = {
  EVB_OPTION ("interval_ms", EVB_OPTION_INT, "0", "emit \"tick\" this often; 0: never"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE_STATIC (ticker_plugin, "ticker", "1.0", "Reads the clock; linked into the clock test.",
                          ticker_handlers, ticker_options, ticker_init, NULL);

static int
reset (void **state)
{
  g_atomic_int_set (&stall_started, 0);
  g_atomic_int_set (&stall_cancelled, 0);
  return 0;
}

static EvbHarness *
harness_with_ticker (gboolean fake, const char *config_json)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new ();

  if (fake)
    evb_harness_set_clock (harness, START_US);
  if (!evb_harness_add_plugin (harness, "t", &ticker_plugin, config_json, &error))
    fail_msg ("add ticker: %s", error->message);
  return harness;
}

static gint64
data_now (const EvbEvent *event)
{
  assert_non_null (event);
  return json_integer_value (json_object_get (event->data, "now"));
}

/* ---- tests -------------------------------------------------------------- */

/* Without set_clock the clock is real time, and advancing does nothing. */
static void
test_real_by_default (void **state)
{
  EvbHarness *harness = harness_with_ticker (FALSE, NULL);
  gint64 before = g_get_real_time ();
  gint64 now;

  evb_harness_advance_clock (harness, 3600 * 1000);
  now = evb_harness_now (harness);
  assert_true (now >= before);
  assert_true (now <= g_get_real_time ());
  evb_harness_free (harness);
}

/* Plugins, events and status events read the fake time. */
static void
test_now_and_event_time (void **state)
{
  EvbHarness *harness = harness_with_ticker (TRUE, NULL);

  assert_int_equal (evb_harness_now (harness), START_US);
  add_route (harness, "ask", "t.now", NULL);
  emit (harness, "ask", "{}");
  run_until_count_ok (harness, "now.seen", 1);
  assert_int_equal (data_now (evb_harness_find (harness, "now.seen", 0)), START_US);
  assert_int_equal (evb_harness_find (harness, "ask", 0)->time_us, START_US);
  assert_int_equal (evb_harness_find (harness, "now.seen", 0)->time_us, START_US);

  evb_harness_advance_clock (harness, 1500);
  assert_int_equal (evb_harness_now (harness), START_US + 1500 * 1000);
  emit (harness, "ask", "{}");
  run_until_count_ok (harness, "now.seen", 2);
  assert_int_equal (data_now (evb_harness_find (harness, "now.seen", 1)), START_US + 1500 * 1000);
  assert_int_equal (evb_harness_find (harness, "ask", 1)->time_us, START_US + 1500 * 1000);
  evb_harness_free (harness);
}

/* A plugin's timeout fires when the clock reaches it, not a moment before;
 * an advance over many intervals fires it once (a real timeout after a
 * suspend does the same), and it re-arms from the time it fired. */
static void
test_plugin_timeout (void **state)
{
  EvbHarness *harness = harness_with_ticker (TRUE, "{\"interval_ms\": 1000}");

  evb_harness_advance_clock (harness, 999);
  assert_int_equal (evb_harness_count (harness, "tick"), 0);
  evb_harness_advance_clock (harness, 1);
  assert_int_equal (evb_harness_count (harness, "tick"), 1);
  assert_int_equal (data_now (evb_harness_find (harness, "tick", 0)), START_US + 1000 * 1000);

  evb_harness_advance_clock (harness, 10 * 1000);
  assert_int_equal (evb_harness_count (harness, "tick"), 2);
  assert_int_equal (data_now (evb_harness_find (harness, "tick", 1)), START_US + 11 * 1000 * 1000);

  evb_harness_advance_clock (harness, 999);
  assert_int_equal (evb_harness_count (harness, "tick"), 2);
  evb_harness_advance_clock (harness, 1);
  assert_int_equal (evb_harness_count (harness, "tick"), 3);
  evb_harness_free (harness);
}

/* A route's timeout_ms runs on the same clock: the job overruns when the
 * test advances past it, and is cancelled. */
static void
test_route_timeout (void **state)
{
  EvbHarness *harness = harness_with_ticker (TRUE, NULL);
  const EvbEvent *failure;
  json_t *failure_error;

  add_route (harness, "work", "t.stall", "{\"mode\": \"async\", \"timeout_ms\": 5000}");
  emit (harness, "work", "{}");
  run_until_int (harness, &stall_started, 1);
  /* The timeout is armed when the main loop learns that the job started,
   * which may come after the handler has begun on its worker. */
  run_until_count_ok (harness, "evbus.status.executing", 1);

  evb_harness_advance_clock (harness, 4999);
  assert_int_equal (evb_harness_count (harness, EVB_TYPE_FAILURE), 0);
  assert_false (g_atomic_int_get (&stall_cancelled));
  evb_harness_advance_clock (harness, 1);
  run_until_count_ok (harness, EVB_TYPE_FAILURE, 1);
  failure = evb_harness_find (harness, EVB_TYPE_FAILURE, 0);
  failure_error = json_object_get (failure->data, EVB_FIELD_ERROR);
  assert_non_null (strstr (json_string_value (json_object_get (failure_error, "message")), "5000 ms"));
  run_until_idle (harness);
  assert_true (g_atomic_int_get (&stall_cancelled));
  evb_harness_free (harness);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup (test_real_by_default, reset),
    cmocka_unit_test_setup (test_now_and_event_time, reset),
    cmocka_unit_test_setup (test_plugin_timeout, reset),
    cmocka_unit_test_setup (test_route_timeout, reset),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
