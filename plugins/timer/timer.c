/* timer — a source that emits an event every interval or on a cron
 * schedule.
 *
 * Provides
 *   no handlers: it emits on its own, from init to shutdown
 *   emits   "type" (default timer.tick) with the configured "data" plus
 *           "timer": {"scheduled_us": when the tick was due, "fired_us":
 *           when it fired, "missed": ticks that came due meanwhile and were
 *           not fired}
 *
 * Time comes from the host (evb_plugin_now and evb_plugin_add_timeout), so
 * a test harness with a fake clock drives it without waiting.
 *
 * Ticks are anchored: interval ticks fall at start + k * interval, cron
 * ticks at the expression's times, whatever the delay of one wake-up.  A
 * wake-up waits at most a minute, so a suspend or a clock that jumps is
 * noticed within one.  When several ticks came due at once (the host was
 * suspended, or the clock jumped forward) the timer fires once, for the
 * latest, with "missed" counting the others, and logs a warning with the
 * count and the span: never a burst of late ticks.  A clock that went
 * back is logged; an interval schedule starts over from the new time, a
 * cron schedule keeps its place unless it went back 3 hours or more.
 *
 * Threads: main thread only (timeouts on the main loop).
 */
#include <evbus/plugin.h>

#include "cron.h"

/* The longest single wait: wall-clock changes are seen within this. */
#define TIMER_MAX_WAIT_MS 60000

/* A cron schedule stepped back by less than this keeps its place, so the
 * times it already fired are not fired again; further back, it starts
 * over from the new time (the rule of Vixie cron, and its 3 hours). */
#define TIMER_STEP_BACK_KEPT_US (G_GINT64_CONSTANT (3) * 3600 * G_USEC_PER_SEC)
/* Missed cron ticks counted one by one up to this; beyond it "at least". */
#define TIMER_MAX_COUNTED 100000

static GQuark
timer_error_quark (void)
{
  /* Copied, not _static_: GLib keeps quarks after this module is unloaded. */
  return g_quark_from_string ("evbus-timer-error");
}

typedef struct {
  EvbPlugin *plugin;
  char *type;
  json_t *data;       /* the fixed data, a reference */
  gint64 interval_us; /* 0: cron */
  Cron *cron;
  GTimeZone *tz;
  gint64 next_us;     /* when the next tick is due */
  gint64 last_fired_us;
  guint source;
} Timer;

static void timer_arm (Timer *timer);

static char *
format_time (Timer *timer, gint64 us)
{
  g_autoptr (GDateTime) utc = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  g_autoptr (GDateTime) local = utc != NULL ? g_date_time_to_timezone (utc, timer->tz) : NULL;

  return local != NULL ? g_date_time_format (local, "%Y-%m-%d %H:%M:%S %Z") : g_strdup ("?");
}

static gint64
next_after (Timer *timer, gint64 scheduled_us)
{
  if (timer->interval_us > 0)
    return scheduled_us + timer->interval_us;
  return cron_next (timer->cron, timer->tz, scheduled_us);
}

/* The ticks due by @now_us: the latest in *@latest_us, how many came before
 * it in *@missed (TRUE when it stopped counting at TIMER_MAX_COUNTED);
 * the one after it in timer->next_us. */
static gboolean
take_due_ticks (Timer *timer, gint64 now_us, gint64 *latest_us, guint64 *missed)
{
  *latest_us = timer->next_us;
  *missed = 0;
  if (timer->interval_us > 0)
    {
      gint64 later = (now_us - timer->next_us) / timer->interval_us;

      *missed = (guint64) later;
      *latest_us = timer->next_us + later * timer->interval_us;
      timer->next_us = *latest_us + timer->interval_us;
      return FALSE;
    }
  for (gint64 next = cron_next (timer->cron, timer->tz, *latest_us); next <= now_us;
       next = cron_next (timer->cron, timer->tz, next))
    {
      if (*missed == TIMER_MAX_COUNTED)
        {
          *latest_us = next;
          timer->next_us = cron_next (timer->cron, timer->tz, now_us);
          return TRUE;
        }
      *latest_us = next;
      (*missed)++;
    }
  timer->next_us = cron_next (timer->cron, timer->tz, *latest_us);
  return FALSE;
}

static void
fire (Timer *timer, gint64 now_us)
{
  g_autoptr (GError) error = NULL;
  gint64 scheduled_us;
  guint64 missed;
  gboolean at_least = take_due_ticks (timer, now_us, &scheduled_us, &missed);
  json_t *data = json_deep_copy (timer->data);

  if (missed > 0)
    {
      g_autofree char *from = format_time (timer, scheduled_us);
      g_autofree char *now = format_time (timer, now_us);

      evb_plugin_log (timer->plugin, G_LOG_LEVEL_WARNING,
                      "%s%" G_GUINT64_FORMAT " ticks missed up to %s, found at %s (the host was suspended or its "
                      "clock jumped forward): fired once, with \"missed\": %" G_GUINT64_FORMAT,
                      at_least ? "at least " : "", missed, from, now, missed);
    }
  json_object_set_new (data, "timer",
                       json_pack ("{s:I, s:I, s:I}", "scheduled_us", (json_int_t) scheduled_us, "fired_us",
                                  (json_int_t) now_us, "missed", (json_int_t) missed));
  timer->last_fired_us = now_us;
  if (!evb_plugin_emit (timer->plugin, timer->type, data, &error))
    evb_plugin_log (timer->plugin, G_LOG_LEVEL_WARNING, "tick not emitted: %s", error->message);
}

static gboolean
on_timeout (gpointer data)
{
  Timer *timer = data;
  gint64 now_us = evb_plugin_now (timer->plugin);

  timer->source = 0;
  if (now_us < timer->last_fired_us)
    {
      g_autofree char *was = format_time (timer, timer->last_fired_us);
      g_autofree char *now = format_time (timer, now_us);

      if (timer->interval_us == 0 && timer->last_fired_us - now_us < TIMER_STEP_BACK_KEPT_US)
        {
          /* Stepped back by NTP or by hand: the times already fired come
           * round again, and a nightly job must not run twice. */
          g_autofree char *next = format_time (timer, timer->next_us);

          evb_plugin_log (timer->plugin, G_LOG_LEVEL_WARNING, "the clock went back from %s to %s: the times "
                          "already fired are not fired again; next at %s", was, now, next);
        }
      else
        {
          evb_plugin_log (timer->plugin, G_LOG_LEVEL_WARNING, "the clock went back from %s to %s: the schedule "
                          "starts over from now", was, now);
          timer->next_us = timer->interval_us > 0 ? now_us + timer->interval_us
                                                   : cron_next (timer->cron, timer->tz, now_us);
        }
      timer->last_fired_us = now_us;
    }
  else if (now_us >= timer->next_us)
    fire (timer, now_us);
  timer_arm (timer);
  return G_SOURCE_REMOVE;
}

static void
timer_arm (Timer *timer)
{
  gint64 now_us = evb_plugin_now (timer->plugin);
  gint64 wait_ms;

  if (timer->next_us == G_MAXINT64)
    return; /* a cron expression with no time left in range */
  wait_ms = timer->next_us > now_us ? (timer->next_us - now_us + 999) / 1000 : 0;
  timer->source = evb_plugin_add_timeout (timer->plugin, (guint) MIN (wait_ms, TIMER_MAX_WAIT_MS), on_timeout, timer,
                                          NULL);
}

static void
timer_free (Timer *timer)
{
  g_free (timer->type);
  json_decref (timer->data);
  if (timer->cron != NULL)
    cron_free (timer->cron);
  if (timer->tz != NULL)
    g_time_zone_unref (timer->tz);
  g_free (timer);
}

static GTimeZone *
zone_named (const char *name, GError **error)
{
  GTimeZone *tz;

  if (g_ascii_strcasecmp (name, "local") == 0)
    return g_time_zone_new_local ();
  if (g_ascii_strcasecmp (name, "UTC") == 0)
    return g_time_zone_new_utc ();
  tz = g_time_zone_new_identifier (name);
  if (tz == NULL)
    g_set_error (error, timer_error_quark (), 0,
                 "timezone: unknown zone \"%s\" (\"local\", \"UTC\", or a name such as \"Europe/Berlin\")", name);
  return tz;
}

static gboolean
timer_init (EvbPlugin *plugin, GError **error)
{
  const char *type = evb_plugin_get_string (plugin, "type");
  const char *cron_text = evb_plugin_get_string (plugin, "cron");
  gint64 interval_ms = evb_plugin_get_int (plugin, "interval_ms");
  json_t *data = json_object_get (evb_plugin_get_options (plugin), "data");
  g_autoptr (GError) cron_error = NULL;
  Timer *timer;

  if (!evb_type_is_valid (type) || evb_type_is_reserved (type))
    {
      g_set_error (error, timer_error_quark (), 0, "type: \"%s\" is not an event type a plugin may emit (dotted "
                   "segments of [a-z0-9_-], not under \"evbus.\")", type);
      return FALSE;
    }
  if ((interval_ms > 0) == (*cron_text != '\0'))
    {
      g_set_error_literal (error, timer_error_quark (), 0,
                           interval_ms > 0 ? "interval_ms and cron: give one of them, not both"
                                           : "give interval_ms (every N ms) or cron (\"*/5 * * * *\")");
      return FALSE;
    }
  if (json_object_get (data, "timer") != NULL)
    {
      g_set_error_literal (error, timer_error_quark (), 0,
                           "data.timer: the tick's own field (scheduled_us, fired_us, missed); rename yours");
      return FALSE;
    }

  timer = g_new0 (Timer, 1);
  timer->plugin = plugin;
  timer->type = g_strdup (type);
  timer->data = json_incref (data);
  timer->interval_us = interval_ms * 1000;
  timer->tz = zone_named (evb_plugin_get_string (plugin, "timezone"), error);
  if (timer->tz == NULL)
    goto fail;
  if (*cron_text != '\0')
    {
      timer->cron = cron_parse (cron_text, &cron_error);
      if (timer->cron == NULL)
        {
          g_set_error (error, timer_error_quark (), 0, "cron \"%s\": %s", cron_text, cron_error->message);
          goto fail;
        }
    }
  timer->last_fired_us = evb_plugin_now (plugin);
  timer->next_us = next_after (timer, timer->last_fired_us);
  plugin->instance_data = timer;
  /* Checked: the schedule is read, no tick is armed. */
  if (!evb_plugin_is_checking (plugin))
    timer_arm (timer);
  return TRUE;

fail:
  timer_free (timer);
  return FALSE;
}

/* The host removes the plugin's timeouts after stop; nothing of ours to
 * stop before that. */
static void
timer_shutdown (EvbPlugin *plugin)
{
  g_clear_pointer (&plugin->instance_data, timer_free);
}

static const EvbHandlerInfo timer_handlers[] = {
  EVB_HANDLERS_END,
};

static const EvbOptionInfo timer_options[] = {
  EVB_OPTION_INT_RANGE ("interval_ms", "0", 0, G_MAXINT,
      "Emit every this many ms, the first one interval after start (0: use cron)"),
  EVB_OPTION ("cron", EVB_OPTION_STRING, "\"\"",
      "Emit on a 5-field cron expression (minute hour day-of-month month day-of-week, Vixie rules), "
      "e.g. \"0 2 * * *\" or \"@hourly\""),
  EVB_OPTION ("timezone", EVB_OPTION_STRING, "\"local\"",
      "Zone cron reads its times in: \"local\" (TZ), \"UTC\", or a name such as \"Europe/Berlin\""),
  EVB_OPTION ("type", EVB_OPTION_STRING, "\"timer.tick\"", "Event type of each tick"),
  EVB_OPTION ("data", EVB_OPTION_OBJECT, "{}",
      "Data of each tick; the timer adds \"timer\": {scheduled_us, fired_us, missed}"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE ("timer", "0.1.0", "Emits an event every interval or on a cron schedule, from the host's clock",
                   timer_handlers, timer_options, timer_init, timer_shutdown);
