/* Tests for plugins/timer on the harness's fake clock: interval ticks
 * anchored to the start, cron ticks on wall-clock times (UTC and a zone
 * with daylight saving), a suspend that skips many ticks fired once with
 * the count and a warning, a clock stepped back, stop at shutdown, and
 * every load error. */
#include "stock-test.h"

/* 2026-01-01T00:00:30Z */
#define T0_US (G_GINT64_CONSTANT (1767225630) * G_USEC_PER_SEC)

static EvbHarness *
timer_harness (gint64 start_us, const char *config_json)
{
  EvbHarness *harness = harness_new_or_fail (NULL);

  evb_harness_set_clock (harness, start_us);
  add_plugin_or_fail (harness, "t", TIMER_PLUGIN, config_json);
  return harness;
}

static json_t *
tick_timer (EvbHarness *harness, guint nth)
{
  const EvbEvent *tick = evb_harness_find (harness, "timer.tick", nth);

  assert_non_null (tick);
  return json_object_get (tick->data, "timer");
}

static gint64
tick_field (EvbHarness *harness, guint nth, const char *field)
{
  return json_integer_value (json_object_get (tick_timer (harness, nth), field));
}

/* Every interval from the start, with the fixed data and the schedule. */
static void
test_interval_ticks (void **state)
{
  g_autoptr (EvbHarness) harness = timer_harness (T0_US, "{\"interval_ms\": 1000, \"data\": {\"job\": \"poll\"}}");

  evb_harness_advance_clock (harness, 999);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 0);
  evb_harness_advance_clock (harness, 1);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
  assert_json_equal (evb_harness_find (harness, "timer.tick", 0)->data,
                     "{\"job\": \"poll\", \"timer\": {\"scheduled_us\": 1767225631000000, \"fired_us\": "
                     "1767225631000000, \"missed\": 0}}");
  assert_string_equal (evb_harness_find (harness, "timer.tick", 0)->source, "t");
  assert_int_equal (evb_harness_find (harness, "timer.tick", 0)->time_us, T0_US + G_USEC_PER_SEC);
  /* Late by 300 ms: the next one is still due on the second. */
  evb_harness_advance_clock (harness, 1300);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 2);
  assert_int_equal (tick_field (harness, 1, "scheduled_us"), T0_US + 2 * G_USEC_PER_SEC);
  assert_int_equal (tick_field (harness, 1, "fired_us"), T0_US + 2300 * 1000);
  evb_harness_advance_clock (harness, 700);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 3);
  assert_int_equal (tick_field (harness, 2, "scheduled_us"), T0_US + 3 * G_USEC_PER_SEC);
}

/* A suspend (the clock jumps 10.5 intervals): one tick, for the latest
 * due, with "missed": 9 and a warning; then on schedule again. */
static void
test_suspend_fires_once_with_count (void **state)
{
  g_autoptr (EvbHarness) harness = NULL;
  g_autofree char *logged = NULL;
  LogCapture capture;

  log_capture_start (&capture);
  harness = timer_harness (T0_US, "{\"interval_ms\": 1000, \"timezone\": \"UTC\"}");
  evb_harness_advance_clock (harness, 10500);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
  assert_int_equal (tick_field (harness, 0, "scheduled_us"), T0_US + 10 * G_USEC_PER_SEC);
  assert_int_equal (tick_field (harness, 0, "missed"), 9);
  evb_harness_advance_clock (harness, 500);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 2);
  assert_int_equal (tick_field (harness, 1, "scheduled_us"), T0_US + 11 * G_USEC_PER_SEC);
  assert_int_equal (tick_field (harness, 1, "missed"), 0);
  evb_harness_free (g_steal_pointer (&harness));
  logged = log_capture_text (&capture);
  assert_string_equal (logged, "t: 9 ticks missed up to 2026-01-01 00:00:40 UTC, found at 2026-01-01 00:00:40 UTC "
                               "(the host was suspended or its clock jumped forward): fired once, with \"missed\": 9");
  log_capture_stop (&capture);
}

/* The clock stepped back (evb_harness_jump_clock: timeouts keep their
 * monotonic time) on an interval: said, and the schedule starts over one
 * interval from the new time; no tick is fired twice or in a burst. */
static void
test_interval_clock_back (void **state)
{
  g_autoptr (EvbHarness) harness = NULL;
  g_autofree char *logged = NULL;
  LogCapture capture;

  log_capture_start (&capture);
  harness = timer_harness (T0_US, "{\"interval_ms\": 1000, \"timezone\": \"UTC\"}");
  evb_harness_advance_clock (harness, 1000);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
  evb_harness_jump_clock (harness, -3600 * 1000);
  assert_int_equal (evb_harness_now (harness), T0_US + G_USEC_PER_SEC - G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC);
  evb_harness_advance_clock (harness, 1000);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
  evb_harness_advance_clock (harness, 1000);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 2);
  assert_int_equal (tick_field (harness, 1, "scheduled_us"),
                    T0_US + 3 * G_USEC_PER_SEC - G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC);
  assert_int_equal (tick_field (harness, 1, "missed"), 0);
  evb_harness_free (g_steal_pointer (&harness));
  logged = log_capture_text (&capture);
  assert_string_equal (logged, "t: the clock went back from 2026-01-01 00:00:31 UTC to 2025-12-31 23:00:32 UTC: the "
                               "schedule starts over from now");
  log_capture_stop (&capture);
}

/* 2026-01-01T01:59:30Z, 30 s before a nightly job at 02:00 UTC. */
#define NIGHT_US (G_GINT64_CONSTANT (1767232770) * G_USEC_PER_SEC)
#define HOUR_MS (G_GINT64_CONSTANT (3600) * 1000)

/* A cron schedule stepped back by less than 3 hours keeps its place: the
 * 02:00 job that ran is not run again when 02:00 comes round again; the
 * next is the next night's. */
static void
test_cron_clock_back_keeps_its_place (void **state)
{
  g_autoptr (EvbHarness) harness = NULL;
  g_autofree char *logged = NULL;
  LogCapture capture;

  log_capture_start (&capture);
  harness = timer_harness (NIGHT_US, "{\"cron\": \"0 2 * * *\", \"timezone\": \"UTC\"}");
  evb_harness_advance_clock (harness, 30 * 1000);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
  evb_harness_jump_clock (harness, -HOUR_MS / 2);
  evb_harness_advance_clock (harness, 60 * 1000);       /* 01:31: the step is seen */
  evb_harness_advance_clock (harness, HOUR_MS);         /* 02:31: 02:00 came round again */
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
  evb_harness_advance_clock (harness, 23 * HOUR_MS);    /* 01:31 the next night */
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
  evb_harness_advance_clock (harness, HOUR_MS);         /* 02:31 the next night */
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 2);
  assert_int_equal (tick_field (harness, 1, "scheduled_us"),
                    NIGHT_US + 30 * G_USEC_PER_SEC + 24 * G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC);
  assert_int_equal (tick_field (harness, 1, "missed"), 0);
  evb_harness_free (g_steal_pointer (&harness));
  logged = log_capture_text (&capture);
  assert_string_equal (logged, "t: the clock went back from 2026-01-01 02:00:00 UTC to 2026-01-01 01:31:00 UTC: the "
                               "times already fired are not fired again; next at 2026-01-02 02:00:00 UTC");
  log_capture_stop (&capture);
}

/* Stepped back a day, the schedule starts over from the new time: the
 * night that is now ahead again is run. */
static void
test_cron_clock_back_far_starts_over (void **state)
{
  g_autoptr (EvbHarness) harness = NULL;
  g_autofree char *logged = NULL;
  LogCapture capture;

  log_capture_start (&capture);
  harness = timer_harness (NIGHT_US, "{\"cron\": \"0 2 * * *\", \"timezone\": \"UTC\"}");
  evb_harness_advance_clock (harness, 30 * 1000);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
  evb_harness_jump_clock (harness, -24 * HOUR_MS);
  evb_harness_advance_clock (harness, 60 * 1000);       /* 2025-12-31 02:01: the step is seen */
  evb_harness_advance_clock (harness, 24 * HOUR_MS);    /* 2026-01-01 02:01 again */
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 2);
  assert_int_equal (tick_field (harness, 1, "scheduled_us"), NIGHT_US + 30 * G_USEC_PER_SEC);
  evb_harness_free (g_steal_pointer (&harness));
  logged = log_capture_text (&capture);
  assert_string_equal (logged, "t: the clock went back from 2026-01-01 02:00:00 UTC to 2025-12-31 02:01:00 UTC: the "
                               "schedule starts over from now");
  log_capture_stop (&capture);
}

/* Cron in UTC: on the quarter hours; a day asleep is one tick, 95 missed. */
static void
test_cron_utc_and_a_day_asleep (void **state)
{
  g_autoptr (EvbHarness) harness = timer_harness (T0_US, "{\"cron\": \"*/15 * * * *\", \"timezone\": \"UTC\", "
                                                         "\"type\": \"report.due\", \"data\": {\"n\": 1}}");
  gint64 quarter = G_GINT64_CONSTANT (1767226500) * G_USEC_PER_SEC; /* 00:15:00Z */
  const EvbEvent *tick;

  evb_harness_advance_clock (harness, (14 * 60 + 29) * 1000 + 999);
  assert_int_equal (evb_harness_count (harness, "report.due"), 0);
  evb_harness_advance_clock (harness, 1);
  assert_int_equal (evb_harness_count (harness, "report.due"), 1);
  tick = evb_harness_find (harness, "report.due", 0);
  assert_int_equal (json_integer_value (json_object_get (json_object_get (tick->data, "timer"), "scheduled_us")),
                    quarter);
  assert_int_equal (json_integer_value (json_object_get (tick->data, "n")), 1);

  evb_harness_advance_clock (harness, G_GINT64_CONSTANT (24) * 3600 * 1000);
  assert_int_equal (evb_harness_count (harness, "report.due"), 2);
  tick = evb_harness_find (harness, "report.due", 1);
  assert_int_equal (json_integer_value (json_object_get (json_object_get (tick->data, "timer"), "scheduled_us")),
                    quarter + 24 * G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC);
  assert_int_equal (json_integer_value (json_object_get (json_object_get (tick->data, "timer"), "missed")), 95);
}

/* A week asleep on a per-minute schedule in a zone with DST: one tick,
 * the 10079 others counted. */
static void
test_cron_week_asleep (void **state)
{
  g_autoptr (EvbHarness) harness = timer_harness (T0_US, "{\"cron\": \"* * * * *\", \"timezone\": "
                                                         "\"Europe/Berlin\"}");

  evb_harness_advance_clock (harness, G_GINT64_CONSTANT (7) * 24 * 3600 * 1000);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
  assert_int_equal (tick_field (harness, 0, "missed"), 7 * 1440 - 1);
  assert_int_equal (tick_field (harness, 0, "scheduled_us"), T0_US - 30 * G_USEC_PER_SEC
                                                              + G_GINT64_CONSTANT (7) * 24 * 3600 * G_USEC_PER_SEC);
}

/* A fixed time in New York's spring-forward gap fires at the change. */
static void
test_cron_dst_gap (void **state)
{
  /* 2026-03-08T01:00:00-05:00 */
  gint64 start = G_GINT64_CONSTANT (1772949600) * G_USEC_PER_SEC;
  g_autoptr (EvbHarness) harness = timer_harness (start, "{\"cron\": \"30 2 * * *\", \"timezone\": "
                                                         "\"America/New_York\"}");

  /* 01:00 EST + 59:59 = 01:59:59 EST: nothing yet. */
  evb_harness_advance_clock (harness, 3599 * 1000);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 0);
  /* The next second is 03:00 EDT: 02:30 never existed, so it fires now. */
  evb_harness_advance_clock (harness, 1000);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
  assert_int_equal (tick_field (harness, 0, "scheduled_us"), start + 3600 * G_TIME_SPAN_SECOND);
  assert_int_equal (tick_field (harness, 0, "missed"), 0);
}

/* After shutdown no tick comes, however far the clock moves. */
static void
test_stops_at_shutdown (void **state)
{
  g_autoptr (EvbHarness) harness = timer_harness (T0_US, "{\"interval_ms\": 1000}");

  evb_harness_advance_clock (harness, 1000);
  evb_harness_shutdown (harness, -1);
  evb_harness_advance_clock (harness, 5000);
  assert_int_equal (evb_harness_count (harness, "timer.tick"), 1);
}

static void
assert_load_error (const char *config_json, const char *expected_reason)
{
  g_autofree char *message = load_error (TIMER_PLUGIN, config_json);
  g_autofree char *expected = g_strdup_printf ("plugin \"p\" (%s): %s", TIMER_PLUGIN, expected_reason);

  assert_string_equal (message, expected);
}

static void
test_load_errors (void **state)
{
  assert_load_error ("{}", "init failed: give interval_ms (every N ms) or cron (\"*/5 * * * *\")");
  assert_load_error ("{\"interval_ms\": 5, \"cron\": \"* * * * *\"}",
                     "init failed: interval_ms and cron: give one of them, not both");
  assert_load_error ("{\"interval_ms\": -5}", "option \"interval_ms\": expected at least 0, got -5");
  assert_load_error ("{\"cron\": \"61 * * * *\"}",
                     "init failed: cron \"61 * * * *\": minute field \"61\": 61 is out of range 0-59");
  assert_load_error ("{\"cron\": \"* * * *\"}", "init failed: cron \"* * * *\": expected 5 fields (minute hour "
                     "day-of-month month day-of-week), got 4");
  assert_load_error ("{\"cron\": \"0 0 30 2 *\"}", "init failed: cron \"0 0 30 2 *\": day-of-month field \"30\": no "
                     "such day in the month field's months (\"2\"): it would never fire");
  assert_load_error ("{\"cron\": \"@daily\", \"timezone\": \"Mars/Olympus\"}",
                     "init failed: timezone: unknown zone \"Mars/Olympus\" (\"local\", \"UTC\", or a name such as "
                     "\"Europe/Berlin\")");
  assert_load_error ("{\"interval_ms\": 5, \"type\": \"Tick\"}", "init failed: type: \"Tick\" is not an event type "
                     "a plugin may emit (dotted segments of [a-z0-9_-], not under \"evbus.\")");
  assert_load_error ("{\"interval_ms\": 5, \"type\": \"evbus.tick\"}", "init failed: type: \"evbus.tick\" is not an "
                     "event type a plugin may emit (dotted segments of [a-z0-9_-], not under \"evbus.\")");
  assert_load_error ("{\"interval_ms\": 5, \"data\": {\"timer\": 1}}", "init failed: data.timer: the tick's own "
                     "field (scheduled_us, fired_us, missed); rename yours");
  assert_load_error ("{\"interval_ms\": 5, \"data\": []}", "option \"data\": expected an object, got an array");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_interval_ticks),
    cmocka_unit_test (test_suspend_fires_once_with_count),
    cmocka_unit_test (test_interval_clock_back),
    cmocka_unit_test (test_cron_clock_back_keeps_its_place),
    cmocka_unit_test (test_cron_clock_back_far_starts_over),
    cmocka_unit_test (test_cron_utc_and_a_day_asleep),
    cmocka_unit_test (test_cron_week_asleep),
    cmocka_unit_test (test_cron_dst_gap),
    cmocka_unit_test (test_stops_at_shutdown),
    cmocka_unit_test (test_load_errors),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
