/* The bus's clock: wall time as plugins see it, and the timeouts the bus
 * and its plugins wait on.  Real (g_get_real_time, GLib timeouts) unless a
 * test harness switches it to a fake one that moves only when told, so
 * that timers, cron schedules and route timeouts are tested without
 * waiting.
 *
 * What a fake clock covers: evb_clock_now (events' time_us, status
 * events' time_us, evb_plugin_now) and the sources of
 * evb_clock_timeout_source_new (plugins' add_timeout, route timeouts).
 * What it does not: durations measured for statistics (queue wait, run
 * time) and waits bounded in real time (evb_call_wait, a blocked emit,
 * shutdown's grace period) stay on the monotonic clock, because a test
 * that forgets to advance must still end. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _EvbClock EvbClock;

/* A real clock.  Free with evb_clock_unref. */
EvbClock *evb_clock_new (void);
EvbClock *evb_clock_ref (EvbClock *clock);
void evb_clock_unref (EvbClock *clock);

/* Switches @clock to fake time, starting at @now_us (µs since the epoch).
 * Timeouts made before the switch stay real.  Main thread. */
void evb_clock_set_fake (EvbClock *clock, gint64 now_us);
gboolean evb_clock_is_fake (EvbClock *clock);

/* Wall-clock µs since the epoch.  Any thread. */
gint64 evb_clock_now (EvbClock *clock);

/* Moves a fake clock forward by @ms (wall and monotonic time alike, as a
 * suspend does) and wakes @context, whose due timeouts
 * then fire when it is iterated.  Main thread.  A no-op on a real clock. */
void evb_clock_advance (EvbClock *clock, gint64 ms, GMainContext *context);

/* Sets a fake wall clock forward or back by @ms without moving the
 * monotonic time timeouts wait on, as a clock stepped by NTP or by hand
 * is seen by a real host.  Main thread.  A no-op on a real clock. */
void evb_clock_jump (EvbClock *clock, gint64 ms, GMainContext *context);

/* A source firing every @interval_ms (while its callback returns TRUE), as
 * g_timeout_source_new.  On a fake clock it fires once the clock has
 * reached its deadline and re-arms from the time it fired: an advance past
 * several intervals fires it once, like a real timeout after a suspend. */
GSource *evb_clock_timeout_source_new (EvbClock *clock, guint interval_ms);

G_END_DECLS
