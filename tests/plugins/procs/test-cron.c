/* Tests for plugins/timer/cron.c, the one cron parser: a table of next
 * fire times (steps, lists, names, Sunday as 7, Vixie's day-of-month /
 * day-of-week rule, leap days, macros, daylight saving time both ways in
 * two zones, fixed and wild expressions), and every kind of bad field with
 * its message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cron.h"

static gint64
parse_iso (const char *text)
{
  g_autoptr (GDateTime) time = g_date_time_new_from_iso8601 (text, NULL);

  if (time == NULL)
    fail_msg ("test bug: bad time %s", text);
  return g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time);
}

static char *
format_utc (gint64 us)
{
  g_autoptr (GDateTime) time = NULL;

  if (us == G_MAXINT64)
    return g_strdup ("never");
  time = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  return g_date_time_format (time, "%Y-%m-%dT%H:%M:%SZ");
}

typedef struct {
  const char *expression;
  const char *zone;
  const char *after;    /* ISO 8601 with its offset */
  const char *expected; /* UTC */
  const char *why;
} NextCase;

static const NextCase next_cases[] = {
  { "*/15 * * * *", "UTC", "2026-01-01T00:07:00Z", "2026-01-01T00:15:00Z", "a step from *" },
  { "*/15 * * * *", "UTC", "2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "strictly after" },
  { "*/15 * * * *", "UTC", "2026-01-01T00:14:59.999Z", "2026-01-01T00:15:00Z", "a moment before" },
  { "0 2 * * *", "UTC", "2026-01-01T02:00:00Z", "2026-01-02T02:00:00Z", "daily, tomorrow" },
  { "5,10-12 * * * *", "UTC", "2026-01-01T00:10:30Z", "2026-01-01T00:11:00Z", "list and range" },
  { "10-40/15 * * * *", "UTC", "2026-01-01T00:26:00Z", "2026-01-01T00:40:00Z", "stepped range" },
  { "0 9 * jan-mar MON-fri", "UTC", "2026-03-31T09:00:00Z", "2027-01-01T09:00:00Z", "names, in any case" },
  { "0 0 * * 7", "UTC", "2026-02-02T00:00:00Z", "2026-02-08T00:00:00Z", "7 is Sunday" },
  { "0 0 * * 5-7", "UTC", "2026-02-08T00:00:00Z", "2026-02-13T00:00:00Z", "a range through 7" },
  { "0 0 13 * 5", "UTC", "2026-02-01T00:00:00Z", "2026-02-06T00:00:00Z", "day or weekday: a Friday" },
  { "0 0 13 * 5", "UTC", "2026-03-07T00:00:00Z", "2026-03-13T00:00:00Z", "day or weekday: the 13th" },
  { "0 0 13 * 1", "UTC", "2026-04-07T00:00:00Z", "2026-04-13T00:00:00Z", "day or weekday: both" },
  { "0 0 */2 * 5", "UTC", "2026-02-01T00:00:00Z", "2026-02-13T00:00:00Z", "a day field with * means AND" },
  { "0 0 1 * *", "UTC", "2026-01-31T12:00:00Z", "2026-02-01T00:00:00Z", "monthly" },
  { "0 0 31 * *", "UTC", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z", "skips 30-day months" },
  { "0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z", "leap day" },
  { "@hourly", "UTC", "2026-01-01T10:00:00.5Z", "2026-01-01T11:00:00Z", "macro" },
  { "@yearly", "UTC", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z", "macro" },
  { "@weekly", "UTC", "2026-02-04T00:00:00Z", "2026-02-08T00:00:00Z", "macro: Sundays" },
  { "0 0 * * *", "Europe/Berlin", "2026-01-01T00:00:00+01:00", "2026-01-01T23:00:00Z", "local midnight" },
  /* New York, 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00Z). */
  { "30 2 * * *", "America/New_York", "2026-03-08T00:00:00-05:00", "2026-03-08T07:00:00Z",
    "fixed time in the gap: at the change" },
  { "30 2 * * *", "America/New_York", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", "then the next day, EDT" },
  { "30 * * * *", "America/New_York", "2026-03-08T01:45:00-05:00", "2026-03-08T07:30:00Z",
    "wild: the skipped 02:30 does not fire" },
  { "0 3 * * *", "America/New_York", "2026-03-08T00:00:00-05:00", "2026-03-08T07:00:00Z", "03:00 exists" },
  /* New York, 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00Z); 01:xx twice. */
  { "30 1 * * *", "America/New_York", "2026-11-01T00:00:00-04:00", "2026-11-01T05:30:00Z",
    "fixed time repeated: the first" },
  { "30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z",
    "fixed time repeated: not the second" },
  { "30 * * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z",
    "wild: the repeated 01:30 fires again" },
  { "*/20 1 * * *", "America/New_York", "2026-11-01T05:40:00Z", "2026-11-01T06:00:00Z",
    "wild minute: every 01:xx of both hours" },
  /* Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00Z); 2026-10-25:
   * 03:00 CEST becomes 02:00 CET (01:00Z). */
  { "15 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "Berlin gap: at the change" },
  { "15 2 * * *", "Europe/Berlin", "2026-10-25T00:00:00Z", "2026-10-25T00:15:00Z", "Berlin repeat: first" },
  { "15 2 * * *", "Europe/Berlin", "2026-10-25T00:15:00Z", "2026-10-26T01:15:00Z", "Berlin repeat: once" },
  { "0 * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "Berlin wild: second 02:00" },
};

static void
test_next_fire_table (void **state)
{
  for (gsize i = 0; i < G_N_ELEMENTS (next_cases); i++)
    {
      const NextCase *c = &next_cases[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (Cron) cron = cron_parse (c->expression, &error);
      g_autoptr (GTimeZone) tz = g_time_zone_new_identifier (c->zone);
      g_autofree char *got = NULL;

      if (cron == NULL)
        fail_msg ("%s: %s", c->expression, error->message);
      assert_non_null (tz);
      got = format_utc (cron_next (cron, tz, parse_iso (c->after)));
      if (g_strcmp0 (got, c->expected) != 0)
        fail_msg ("case %zu (%s) \"%s\" in %s after %s: expected %s, got %s", i, c->why, c->expression, c->zone,
                  c->after, c->expected, got);
    }
}

/* Stepping through a day of quarter hours in a zone that changes meets
 * every tick once, in order, 23 hours' worth on the short day. */
static void
test_walk_through_spring_forward (void **state)
{
  g_autoptr (Cron) cron = cron_parse ("*/15 * * * *", NULL);
  g_autoptr (GTimeZone) tz = g_time_zone_new_identifier ("America/New_York");
  gint64 t = parse_iso ("2026-03-08T00:00:00-05:00");
  gint64 end = parse_iso ("2026-03-09T00:00:00-04:00");
  guint ticks = 0;

  for (gint64 next = cron_next (cron, tz, t); next < end; next = cron_next (cron, tz, next))
    {
      assert_true (next > t);
      assert_int_equal (next - t, 15 * 60 * G_USEC_PER_SEC);
      t = next;
      ticks++;
    }
  assert_int_equal (ticks, 23 * 4 - 1);
}

typedef struct {
  const char *expression;
  const char *message;
} BadCase;

static const BadCase bad_cases[] = {
  { "", "expected 5 fields (minute hour day-of-month month day-of-week), got 0" },
  { "* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4" },
  { "* * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 6" },
  { "60 * * * *", "minute field \"60\": 60 is out of range 0-59" },
  { "* 24 * * *", "hour field \"24\": 24 is out of range 0-23" },
  { "* * 0 * *", "day-of-month field \"0\": 0 is out of range 1-31" },
  { "* * 32 * *", "day-of-month field \"32\": 32 is out of range 1-31" },
  { "* * * 13 *", "month field \"13\": 13 is out of range 1-12" },
  { "* * * 0 *", "month field \"0\": 0 is out of range 1-12" },
  { "* * * * 8", "day-of-week field \"8\": 8 is out of range 0-7" },
  { "* * * * 99999999999999999999", "day-of-week field \"99999999999999999999\": 99999999999999999999 is out of "
                                    "range 0-7" },
  { "x * * * *", "minute field \"x\": \"x\" is not a number" },
  { "* -1 * * *", "hour field \"-1\": \"\" is not a number" },
  { "* * * foo *", "month field \"foo\": \"foo\" is not a number or a month name (jan-dec)" },
  { "* * * * mon-fry", "day-of-week field \"mon-fry\": \"fry\" is not a number or a day name (sun-sat)" },
  { "* * jan * *", "day-of-month field \"jan\": \"jan\" is not a number" },
  { "5-1 * * * *", "minute field \"5-1\": range 5-1 runs backwards" },
  { "* * * * fri-mon", "day-of-week field \"fri-mon\": range fri-mon runs backwards" },
  { "*/0 * * * *", "minute field \"*/0\": a step must be at least 1" },
  { "*/x * * * *", "minute field \"*/x\": step \"x\" is not a number" },
  { "*/ * * * *", "minute field \"*/\": step \"\" is not a number" },
  { "5/15 * * * *", "minute field \"5/15\": a step needs a range or * before it (e.g. 5-59/15 or */15)" },
  { "1,,2 * * * *", "minute field \"1,,2\": empty item in the list" },
  { "1, * * * *", "minute field \"1,\": empty item in the list" },
  { "0 0 30 2 *", "day-of-month field \"30\": no such day in the month field's months (\"2\"): it would never fire" },
  { "0 0 31 apr,jun *", "day-of-month field \"31\": no such day in the month field's months (\"apr,jun\"): it "
                        "would never fire" },
  { "@every", "unknown macro \"@every\" (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)" },
};

static void
test_bad_expressions (void **state)
{
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (Cron) cron = cron_parse (bad_cases[i].expression, &error);

      if (cron != NULL)
        fail_msg ("\"%s\" parsed", bad_cases[i].expression);
      if (g_strcmp0 (error->message, bad_cases[i].message) != 0)
        fail_msg ("\"%s\": expected \"%s\", got \"%s\"", bad_cases[i].expression, bad_cases[i].message,
                  error->message);
    }
}

/* Restricted both ways but possible by weekday: "30 2" + Feb 30 OR Mondays
 * fires on Mondays, as Vixie's OR rule says. */
static void
test_impossible_day_saved_by_weekday (void **state)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (Cron) cron = cron_parse ("0 0 30 2 mon", &error);
  g_autoptr (GTimeZone) tz = g_time_zone_new_utc ();
  g_autofree char *got = NULL;

  assert_null (error);
  got = format_utc (cron_next (cron, tz, parse_iso ("2026-01-01T00:00:00Z")));
  assert_string_equal (got, "2026-02-02T00:00:00Z");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_next_fire_table),
    cmocka_unit_test (test_walk_through_spring_forward),
    cmocka_unit_test (test_bad_expressions),
    cmocka_unit_test (test_impossible_day_saved_by_weekday),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
