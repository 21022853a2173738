/* The bus's clock: real or fake (clock.h says what each covers). */
#include "clock.h"

struct _EvbClock {
  gint ref_count; /* atomic */
  gint fake;          /* atomic: set once, before plugins run */
  gint64 now_us;      /* atomic: the fake wall time */
  gint64 elapsed_us;  /* atomic: the fake monotonic time, which timeouts wait on */
};

typedef struct {
  GSource source;
  EvbClock *clock;
  guint interval_ms;
  gint64 deadline_us; /* on the fake monotonic clock */
} FakeTimeout;

EvbClock *
evb_clock_new (void)
{
  EvbClock *clock = g_new0 (EvbClock, 1);

  clock->ref_count = 1;
  return clock;
}

EvbClock *
evb_clock_ref (EvbClock *clock)
{
  g_atomic_int_inc (&clock->ref_count);
  return clock;
}

void
evb_clock_unref (EvbClock *clock)
{
  if (clock != NULL && g_atomic_int_dec_and_test (&clock->ref_count))
    g_free (clock);
}

void
evb_clock_set_fake (EvbClock *clock, gint64 now_us)
{
  __atomic_store_n (&clock->now_us, now_us, __ATOMIC_RELEASE);
  g_atomic_int_set (&clock->fake, TRUE);
}

gboolean
evb_clock_is_fake (EvbClock *clock)
{
  return g_atomic_int_get (&clock->fake);
}

gint64
evb_clock_now (EvbClock *clock)
{
  if (G_LIKELY (!g_atomic_int_get (&clock->fake)))
    return g_get_real_time ();
  return __atomic_load_n (&clock->now_us, __ATOMIC_ACQUIRE);
}

void
evb_clock_advance (EvbClock *clock, gint64 ms, GMainContext *context)
{
  g_return_if_fail (ms >= 0);

  if (!evb_clock_is_fake (clock))
    return;
  __atomic_add_fetch (&clock->now_us, ms * 1000, __ATOMIC_ACQ_REL);
  __atomic_add_fetch (&clock->elapsed_us, ms * 1000, __ATOMIC_ACQ_REL);
  g_main_context_wakeup (context);
}

void
evb_clock_jump (EvbClock *clock, gint64 ms, GMainContext *context)
{
  if (!evb_clock_is_fake (clock))
    return;
  __atomic_add_fetch (&clock->now_us, ms * 1000, __ATOMIC_ACQ_REL);
  g_main_context_wakeup (context);
}

static gint64
fake_elapsed (EvbClock *clock)
{
  return __atomic_load_n (&clock->elapsed_us, __ATOMIC_ACQUIRE);
}

static gboolean
fake_timeout_is_due (GSource *source)
{
  FakeTimeout *timeout = (FakeTimeout *) source;

  return fake_elapsed (timeout->clock) >= timeout->deadline_us;
}

static gboolean
fake_timeout_prepare (GSource *source, gint *timeout)
{
  *timeout = -1; /* only an advance (which wakes the context) makes one due */
  return fake_timeout_is_due (source);
}

static gboolean
fake_timeout_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  FakeTimeout *timeout = (FakeTimeout *) source;
  gboolean again;

  if (callback == NULL)
    return G_SOURCE_REMOVE;
  again = callback (user_data);
  timeout->deadline_us = fake_elapsed (timeout->clock) + (gint64) timeout->interval_ms * 1000;
  return again;
}

static void
fake_timeout_finalize (GSource *source)
{
  evb_clock_unref (((FakeTimeout *) source)->clock);
}

static GSourceFuncs fake_timeout_funcs = {
  .prepare = fake_timeout_prepare,
  .check = fake_timeout_is_due,
  .dispatch = fake_timeout_dispatch,
  .finalize = fake_timeout_finalize,
};

GSource *
evb_clock_timeout_source_new (EvbClock *clock, guint interval_ms)
{
  FakeTimeout *timeout;

  if (!evb_clock_is_fake (clock))
    return g_timeout_source_new (interval_ms);
  timeout = (FakeTimeout *) g_source_new (&fake_timeout_funcs, sizeof (FakeTimeout));
  timeout->clock = evb_clock_ref (clock);
  timeout->interval_ms = interval_ms;
  timeout->deadline_us = fake_elapsed (clock) + (gint64) interval_ms * 1000;
  return &timeout->source;
}
