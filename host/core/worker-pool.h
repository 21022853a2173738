/* The bus's worker threads: a queue of ready items and up to N threads
 * that take from it.  Ours rather than GThreadPool's so that every hand-off
 * goes through a lock ThreadSanitizer sees (tsan-glib.c), and so that the
 * threads belong to one bus: GLib's shared threads move between pools and
 * free a pool's internals ordered only by GLib's own locks. */
#pragma once

#include <glib.h>

typedef struct _EvbWorkerPool EvbWorkerPool;

/* Runs one item on a worker thread. */
typedef void (*EvbWorkerRun) (gpointer item);

EvbWorkerPool *evb_worker_pool_new (const char *thread_name, guint max_threads, EvbWorkerRun run);

/* Queues @link (its data is the item; the link stays the caller's until
 * run) and returns how many items are queued, not yet taken.  Wakes no
 * thread: call evb_worker_pool_kick () once per batch. */
guint evb_worker_pool_push (EvbWorkerPool *pool, GList *link);

/* Wakes idle threads, and starts threads while there are fewer than
 * max_threads, until every queued item has a thread coming for it. */
void evb_worker_pool_kick (EvbWorkerPool *pool);

/* Threads made so far (they live until the pool stops, but for spares,
 * below), and of those the ones waiting for work. */
void evb_worker_pool_get_threads (EvbWorkerPool *pool, guint *threads, guint *idle);

/* A thread is held by an item that overran its time and may never return
 * (a timed-out job): it is counted as stuck, and the pool may start a
 * spare thread in its place so that other items still run — at most
 * max_threads spares in all (so never more than twice max_threads
 * threads).  Returns whether this one got a spare; pass that to
 * evb_worker_pool_unstick when the item returns after all.  Any thread. */
gboolean evb_worker_pool_stick (EvbWorkerPool *pool);
/* The stuck item returned: its thread counts again, and a spare it had
 * ends once it finds no work (or, busy, after its item). */
void evb_worker_pool_unstick (EvbWorkerPool *pool, gboolean had_spare);
/* Threads held by stuck items, and spares started for them so far. */
void evb_worker_pool_get_stuck (EvbWorkerPool *pool, guint *stuck, guint64 *spares_started);

/* Lets the threads finish what is queued and end.  With @wait, returns
 * once they have (never from a worker thread); without, returns at once
 * and the last thread out frees the pool, for teardown with a handler that
 * does not return. */
void evb_worker_pool_stop (EvbWorkerPool *pool, gboolean wait);
