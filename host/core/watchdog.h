/* The watchdog (DESIGN "Watchdog"): a thread that notices a main loop
 * which has not turned for the bus's stall_ms and says what holds it.
 * Core only; the bus starts it (evb_bus_watch_loop) and frees it. */
#pragma once

#if !defined(EVB_CORE_COMPILATION)
#error "watchdog.h belongs to host/core/"
#endif

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

typedef struct _EvbWatchdog EvbWatchdog;

/* Watches @context, iterated by the calling thread (the main thread):
 * a turn of its loop that lasts @stall_ms or more is reported once from
 * the watchdog's thread (a warning naming what the main thread runs:
 * running.h) and counted; when the loop turns again, the main thread
 * reports how long it stalled. */
EvbWatchdog *evb_watchdog_new (GMainContext *context, guint stall_ms);
/* Stops the thread and detaches from the context.  Main thread. */
void evb_watchdog_free (EvbWatchdog *watchdog);

/* Stalls so far, and how long the current one has lasted (0: the loop
 * turns).  Any thread. */
guint64 evb_watchdog_get_stalls (EvbWatchdog *watchdog);
gint64 evb_watchdog_get_stalled_ms (EvbWatchdog *watchdog);
/* While a stall is reported (from the warning until the loop turns
 * again): what the main thread runs, as the warning says it ("handler R
 * (plugin P, file F) on event T id I"), and in @stalled_ms how long the
 * stall has lasted; NULL (and 0) otherwise.  Caller frees.  Any thread. */
char *evb_watchdog_describe_stall (EvbWatchdog *watchdog, gint64 *stalled_ms);

G_END_DECLS
