/* The watchdog (watchdog.h).
 *
 * A source on the watched context marks each turn of its loop: its check
 * runs right after the poll (a turn begins: turn_started is now), its
 * prepare right before the next one (the turn is over: 0).  The thread
 * wakes a few times per stall_ms; a turn older than stall_ms is a stall.
 * It claims the turn by negating turn_started (a compare-and-swap, so a
 * turn that ends meanwhile is never reported), says what the main thread
 * runs (running.h), and the main thread, at the end of that turn, says
 * how long it was. */
#include "watchdog.h"

#include <string.h>

#include "running.h"

struct _EvbWatchdog {
  guint stall_ms;
  GSource *turns;        /* on the watched context */
  EvbRunning *main_running;
  gint64 turn_started;   /* atomic: µs (monotonic) the current turn began; 0 between turns;
                          * negated once reported as a stall */
  guint64 stalls;        /* atomic */
  GMutex report_lock;    /* keeps a stall's two lines in order; guards stall_what */
  char *stall_what;      /* what the main thread runs in the stall reported now, or NULL */
  GMutex lock;
  GCond wake;
  gboolean stopping;     /* under lock */
  GThread *thread;
};

typedef struct {
  GSource source;
  EvbWatchdog *watchdog;
} TurnSource;

/* Before the poll: the turn is over. */
static gboolean
turn_ends (GSource *source, gint *timeout)
{
  EvbWatchdog *watchdog = ((TurnSource *) source)->watchdog;
  gint64 started = __atomic_exchange_n (&watchdog->turn_started, 0, __ATOMIC_SEQ_CST);

  if (started < 0)
    {
      gint64 length_ms = (g_get_monotonic_time () + started) / 1000;

      g_mutex_lock (&watchdog->report_lock);
      g_clear_pointer (&watchdog->stall_what, g_free);
      g_warning ("main loop turns again after a stall of %" G_GINT64_FORMAT " ms", length_ms);
      g_mutex_unlock (&watchdog->report_lock);
    }
  *timeout = -1;
  return FALSE;
}

/* After the poll: a turn begins. */
static gboolean
turn_begins (GSource *source)
{
  EvbWatchdog *watchdog = ((TurnSource *) source)->watchdog;

  __atomic_store_n (&watchdog->turn_started, MAX (1, g_get_monotonic_time ()), __ATOMIC_SEQ_CST);
  return FALSE;
}

static GSourceFuncs turn_funcs = {
  .prepare = turn_ends,
  .check = turn_begins,
};

/* "12:34:56.789", local time, for a monotonic @time_us in the past. */
static char *
format_wall_time (gint64 time_us)
{
  gint64 wall_us = g_get_real_time () - (g_get_monotonic_time () - time_us);
  g_autoptr (GDateTime) when = g_date_time_new_from_unix_local (wall_us / G_USEC_PER_SEC);
  g_autofree char *seconds = when != NULL ? g_date_time_format (when, "%H:%M:%S") : NULL;

  return g_strdup_printf ("%s.%03d", seconds != NULL ? seconds : "?", (int) (wall_us % G_USEC_PER_SEC / 1000));
}

static void
report_if_stalled (EvbWatchdog *watchdog)
{
  gint64 started = __atomic_load_n (&watchdog->turn_started, __ATOMIC_SEQ_CST);
  gint64 now = g_get_monotonic_time ();
  g_autofree char *since = NULL;
  char what[512] = "";

  if (started <= 0 || now - started < (gint64) watchdog->stall_ms * 1000)
    return;
  g_mutex_lock (&watchdog->report_lock);
  evb_running_read_lock ();
  __atomic_store_n (&watchdog->main_running->reading, 1, __ATOMIC_SEQ_CST);
  /* Claimed only if the turn is still the one we saw. */
  if (__atomic_compare_exchange_n (&watchdog->turn_started, &started, -started, FALSE, __ATOMIC_SEQ_CST,
                                   __ATOMIC_SEQ_CST))
    evb_running_describe (watchdog->main_running, what, sizeof what);
  __atomic_store_n (&watchdog->main_running->reading, 0, __ATOMIC_SEQ_CST);
  evb_running_read_unlock ();
  if (what[0] != '\0')
    {
      __atomic_add_fetch (&watchdog->stalls, 1, __ATOMIC_RELAXED);
      since = format_wall_time (started);
      g_free (watchdog->stall_what);
      watchdog->stall_what = g_strdup (what);
      g_warning ("main loop stalled for %" G_GINT64_FORMAT " ms (since %s), running %s", (now - started) / 1000,
                 since, what);
    }
  g_mutex_unlock (&watchdog->report_lock);
}

static gpointer
watch (gpointer data)
{
  EvbWatchdog *watchdog = data;
  /* A few looks per stall_ms: a stall is reported at most a quarter late. */
  gint64 period_us = CLAMP ((gint64) watchdog->stall_ms * 1000 / 4, 1000, 250 * 1000);

  g_mutex_lock (&watchdog->lock);
  while (!watchdog->stopping)
    {
      g_cond_wait_until (&watchdog->wake, &watchdog->lock, g_get_monotonic_time () + period_us);
      if (watchdog->stopping)
        break;
      g_mutex_unlock (&watchdog->lock);
      report_if_stalled (watchdog);
      g_mutex_lock (&watchdog->lock);
    }
  g_mutex_unlock (&watchdog->lock);
  return NULL;
}

EvbWatchdog *
evb_watchdog_new (GMainContext *context, guint stall_ms)
{
  EvbWatchdog *watchdog = g_new0 (EvbWatchdog, 1);

  g_return_val_if_fail (stall_ms > 0, NULL);
  watchdog->stall_ms = stall_ms;
  watchdog->main_running = evb_running_self ();
  g_mutex_init (&watchdog->report_lock);
  g_mutex_init (&watchdog->lock);
  g_cond_init (&watchdog->wake);
  watchdog->turns = g_source_new (&turn_funcs, sizeof (TurnSource));
  ((TurnSource *) watchdog->turns)->watchdog = watchdog;
  /* First of all sources: prepared and checked in every turn, whatever
   * else is ready. */
  g_source_set_priority (watchdog->turns, G_MININT);
  g_source_set_static_name (watchdog->turns, "evbus watchdog turns");
  g_source_attach (watchdog->turns, context);
  watchdog->thread = g_thread_new ("evbus-watchdog", watch, watchdog);
  return watchdog;
}

void
evb_watchdog_free (EvbWatchdog *watchdog)
{
  if (watchdog == NULL)
    return;
  g_mutex_lock (&watchdog->lock);
  watchdog->stopping = TRUE;
  g_cond_signal (&watchdog->wake);
  g_mutex_unlock (&watchdog->lock);
  g_thread_join (watchdog->thread);
  g_source_destroy (watchdog->turns);
  g_source_unref (watchdog->turns);
  g_free (watchdog->stall_what);
  g_mutex_clear (&watchdog->report_lock);
  g_mutex_clear (&watchdog->lock);
  g_cond_clear (&watchdog->wake);
  g_free (watchdog);
}

guint64
evb_watchdog_get_stalls (EvbWatchdog *watchdog)
{
  return watchdog != NULL ? __atomic_load_n (&watchdog->stalls, __ATOMIC_RELAXED) : 0;
}

gint64
evb_watchdog_get_stalled_ms (EvbWatchdog *watchdog)
{
  gint64 started = watchdog != NULL ? __atomic_load_n (&watchdog->turn_started, __ATOMIC_SEQ_CST) : 0;

  return started < 0 ? (g_get_monotonic_time () + started) / 1000 : 0;
}

char *
evb_watchdog_describe_stall (EvbWatchdog *watchdog, gint64 *stalled_ms)
{
  char *what = NULL;

  *stalled_ms = 0;
  if (watchdog == NULL)
    return NULL;
  g_mutex_lock (&watchdog->report_lock);
  if (watchdog->stall_what != NULL)
    {
      what = g_strdup (watchdog->stall_what);
      *stalled_ms = MAX (evb_watchdog_get_stalled_ms (watchdog), 1);
    }
  g_mutex_unlock (&watchdog->report_lock);
  return what;
}

char *
evb_bus_describe_stall (EvbBus *bus, gint64 *stalled_ms)
{
  /* Any thread: a plugin's health thread may ask before evbus run starts
   * the watchdog (evb_bus_watch_loop publishes it atomically). */
  return evb_watchdog_describe_stall (g_atomic_pointer_get (&bus->watchdog), stalled_ms);
}

void
evb_bus_watch_loop (EvbBus *bus)
{
  g_return_if_fail (evb_bus_is_main_thread (bus));
  if (bus->watchdog == NULL && bus->settings.stall_ms > 0)
    g_atomic_pointer_set (&bus->watchdog, evb_watchdog_new (bus->context, bus->settings.stall_ms));
}
