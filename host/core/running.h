/* What plugin code a thread is running right now: the handler of which
 * route, on which event, or which plugin's init.  Read by the crash line
 * (crash.c, inside a signal handler on the faulting thread) and by the
 * watchdog (watchdog.c, from its own thread, about the main thread).
 * Core only. */
#pragma once

#if !defined(EVB_CORE_COMPILATION)
#error "running.h belongs to host/core/"
#endif

#include "bus-private.h"

G_BEGIN_DECLS

/* One per thread.  Written only by its thread, with atomic stores so that
 * the watchdog may read the main thread's from its own.  Whoever
 * dereferences another thread's record holds evb_running_read_lock () and
 * sets @reading first: a thread leaving its call waits for that reader
 * (evb_running_leave), so what the pointers name stays alive meanwhile. */
typedef struct {
  const EvbRoute *route;               /* the handler's route, or NULL */
  const EvbEvent *event;               /* the event it handles */
  const EvbPluginInstance *init;       /* a plugin whose init runs, or NULL */
  gint reading;                        /* a reader dereferences this record */
} EvbRunning;

/* The calling thread's record. */
EvbRunning *evb_running_self (void);

/* The lock a reader of another thread's record holds (see above). */
void evb_running_read_lock (void);
void evb_running_read_unlock (void);

static inline void
evb_running_enter (EvbRunning *running, const EvbRoute *route, const EvbEvent *event)
{
  __atomic_store_n (&running->event, event, __ATOMIC_RELEASE);
  __atomic_store_n (&running->route, route, __ATOMIC_RELEASE);
}

void evb_running_wait_for_reader (void);

/* After the handler returned: from here on its route and event may go. */
static inline void
evb_running_leave (EvbRunning *running)
{
  __atomic_store_n (&running->route, NULL, __ATOMIC_SEQ_CST);
  if (G_UNLIKELY (__atomic_load_n (&running->reading, __ATOMIC_SEQ_CST)))
    evb_running_wait_for_reader ();
}

static inline void
evb_running_enter_init (EvbRunning *running, const EvbPluginInstance *instance)
{
  __atomic_store_n (&running->init, instance, __ATOMIC_RELEASE);
}

static inline void
evb_running_leave_init (EvbRunning *running)
{
  __atomic_store_n (&running->init, NULL, __ATOMIC_SEQ_CST);
  if (G_UNLIKELY (__atomic_load_n (&running->reading, __ATOMIC_SEQ_CST)))
    evb_running_wait_for_reader ();
}

/* Appends to @out (NUL-terminated, at most @size bytes in all) what
 * @running names: "handler m.block (plugin m, file F) on event tick id
 * 3", "init of plugin m (file F)", or "no plugin code" — with no
 * allocation and no locale, so that a signal handler may call it.  The
 * caller makes the record safe to read (its own thread, or the read
 * lock). */
void evb_running_describe (const EvbRunning *running, char *out, gsize size);

G_END_DECLS
