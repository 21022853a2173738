/* Signals for `evbus run`, received off the main loop (DESIGN
 * "Lifecycle": signals), so that a handler or a plugin init that never
 * returns cannot make the host unkillable. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread, and so in
 * every thread it creates from now on (the bus's workers, the watchdog,
 * plugins' own threads): call it first thing, before the bus exists.
 * From then on they wait, pending, for evb_run_signals_start's thread,
 * the only one that takes them (sigwaitinfo).  Main thread. */
void evb_run_signals_block (void);

/* Starts taking the signals, once, before any plugin code runs:
 *  - SIGINT, SIGTERM: the first asks for a graceful shutdown (a line on
 *    stderr naming the signal and @grace_ms; evb_run_signals_stop_requested
 *    turns TRUE and @loop, if it runs or once it runs, quits); the second,
 *    of either, exits at once with 128+N ("evbus: forced exit"), whatever
 *    the main thread is doing, during plugin loading as well;
 *  - SIGHUP: logged, nothing else (reloading does not exist yet);
 *  - SIGPIPE: ignored (a closed peer is EPIPE for the writer).
 * All of it on a thread of its own, which waits for the signals
 * synchronously.  Main thread. */
void evb_run_signals_start (GMainLoop *loop, guint grace_ms);

/* Whether a first SIGINT or SIGTERM has come and its line is written
 * (so that what the caller writes next comes after it).  Any thread. */
gboolean evb_run_signals_stop_requested (void);

G_END_DECLS
