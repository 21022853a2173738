/* Worker threads for async jobs (worker-pool.h). */
#include "worker-pool.h"

struct _EvbWorkerPool {
  gint ref_count; /* the owner's, and one per thread */
  GMutex lock;
  GCond work_ready;
  GQueue queued;       /* links handed in by push, not yet taken */
  GPtrArray *threads;  /* GThread *; stolen when the pool stops */
  guint max_threads;
  guint spares;        /* more threads allowed in place of stuck ones (<= max_threads) */
  guint stuck;         /* threads held by items that overran (evb_worker_pool_stick) */
  guint64 spares_started; /* every spare granted so far */
  guint idle;          /* threads waiting on work_ready */
  guint wakeups;       /* signals sent that no idle thread has taken yet */
  gboolean stopping;
  char *thread_name;
  EvbWorkerRun run;
};

static void
pool_unref (EvbWorkerPool *pool)
{
  if (!g_atomic_int_dec_and_test (&pool->ref_count))
    return;
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->work_ready);
  g_free (pool->thread_name);
  g_free (pool);
}

/* With the lock held: a stuck item returned and its spare is no longer
 * needed, so this thread, one too many, ends. */
static gboolean
leave_if_surplus (EvbWorkerPool *pool)
{
  if (pool->stopping || pool->threads->len <= pool->max_threads + pool->spares)
    return FALSE;
  g_ptr_array_remove_fast (pool->threads, g_thread_self ());
  g_thread_unref (g_thread_self ()); /* the pool's reference: nobody joins it */
  return TRUE;
}

static gpointer
worker_main (gpointer data)
{
  EvbWorkerPool *pool = data;

  g_mutex_lock (&pool->lock);
  for (;;)
    {
      GList *link = g_queue_pop_head_link (&pool->queued);

      if (link != NULL)
        {
          g_mutex_unlock (&pool->lock);
          pool->run (link->data);
          g_mutex_lock (&pool->lock);
          continue;
        }
      if (pool->stopping || leave_if_surplus (pool))
        break;
      pool->idle++;
      g_cond_wait (&pool->work_ready, &pool->lock);
      pool->idle--;
      if (pool->wakeups > 0)
        pool->wakeups--;
    }
  g_mutex_unlock (&pool->lock);
  pool_unref (pool);
  return NULL;
}

EvbWorkerPool *
evb_worker_pool_new (const char *thread_name, guint max_threads, EvbWorkerRun run)
{
  EvbWorkerPool *pool;

  g_return_val_if_fail (max_threads > 0, NULL);
  pool = g_new0 (EvbWorkerPool, 1);
  pool->ref_count = 1;
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->work_ready);
  g_queue_init (&pool->queued);
  pool->threads = g_ptr_array_new ();
  pool->max_threads = max_threads;
  pool->thread_name = g_strdup (thread_name);
  pool->run = run;
  return pool;
}

guint
evb_worker_pool_push (EvbWorkerPool *pool, GList *link)
{
  guint queued;

  g_mutex_lock (&pool->lock);
  g_queue_push_tail_link (&pool->queued, link);
  queued = pool->queued.length;
  g_mutex_unlock (&pool->lock);
  return queued;
}

/* Called with the lock held. */
static void
start_thread (EvbWorkerPool *pool)
{
  GError *error = NULL;
  GThread *thread;

  g_atomic_int_inc (&pool->ref_count);
  thread = g_thread_try_new (pool->thread_name, worker_main, pool, &error);
  if (thread == NULL)
    {
      /* The queued items wait for the next kick; with no thread at all
       * they wait until one can be made. */
      g_warning ("cannot start a worker thread (%u running): %s", pool->threads->len, error->message);
      g_error_free (error);
      g_atomic_int_add (&pool->ref_count, -1); /* never the last: the owner holds one */
      return;
    }
  g_ptr_array_add (pool->threads, thread);
}

static void
kick_locked (EvbWorkerPool *pool)
{
  guint waiting_for_thread = pool->queued.length;
  guint wake;

  /* Threads already signalled will each take one item. */
  waiting_for_thread -= MIN (waiting_for_thread, pool->wakeups);
  wake = MIN (waiting_for_thread, pool->idle - pool->wakeups);
  if (wake > 0 && wake == pool->idle - pool->wakeups)
    g_cond_broadcast (&pool->work_ready);
  else
    for (guint i = 0; i < wake; i++)
      g_cond_signal (&pool->work_ready);
  pool->wakeups += wake;
  waiting_for_thread -= wake;

  while (waiting_for_thread > 0 && pool->threads->len < pool->max_threads + pool->spares)
    {
      guint before = pool->threads->len;

      start_thread (pool);
      if (pool->threads->len == before)
        break;
      waiting_for_thread--;
    }
}

void
evb_worker_pool_kick (EvbWorkerPool *pool)
{
  g_mutex_lock (&pool->lock);
  kick_locked (pool);
  g_mutex_unlock (&pool->lock);
}

void
evb_worker_pool_get_threads (EvbWorkerPool *pool, guint *threads, guint *idle)
{
  g_mutex_lock (&pool->lock);
  *threads = pool->threads->len;
  *idle = pool->idle;
  g_mutex_unlock (&pool->lock);
}

gboolean
evb_worker_pool_stick (EvbWorkerPool *pool)
{
  gboolean spare;

  g_mutex_lock (&pool->lock);
  pool->stuck++;
  spare = pool->spares < pool->max_threads;
  if (spare)
    {
      pool->spares++;
      pool->spares_started++;
      if (pool->threads != NULL)
        kick_locked (pool); /* what waits for a thread gets the spare now */
    }
  g_mutex_unlock (&pool->lock);
  return spare;
}

void
evb_worker_pool_unstick (EvbWorkerPool *pool, gboolean had_spare)
{
  g_mutex_lock (&pool->lock);
  pool->stuck--;
  if (had_spare)
    {
      pool->spares--;
      /* An idle thread, if any, finds itself surplus and ends. */
      g_cond_broadcast (&pool->work_ready);
    }
  g_mutex_unlock (&pool->lock);
}

void
evb_worker_pool_get_stuck (EvbWorkerPool *pool, guint *stuck, guint64 *spares_started)
{
  g_mutex_lock (&pool->lock);
  *stuck = pool->stuck;
  *spares_started = pool->spares_started;
  g_mutex_unlock (&pool->lock);
}

void
evb_worker_pool_stop (EvbWorkerPool *pool, gboolean wait)
{
  GPtrArray *threads;

  g_mutex_lock (&pool->lock);
  kick_locked (pool); /* what is queued gets a thread before they end */
  pool->stopping = TRUE;
  g_cond_broadcast (&pool->work_ready);
  threads = g_steal_pointer (&pool->threads); /* the owner kicks no more */
  g_mutex_unlock (&pool->lock);

  for (guint i = 0; i < threads->len; i++)
    {
      if (wait)
        g_thread_join (threads->pdata[i]);
      else
        g_thread_unref (threads->pdata[i]);
    }
  g_ptr_array_unref (threads);
  pool_unref (pool);
}
