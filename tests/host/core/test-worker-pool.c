/* Tests for host/worker-pool.c, the threads that run async jobs: every
 * queued item runs once; no thread starts before a kick; a kick starts
 * only the threads the queue needs and reuses idle ones; never more than
 * max_threads run at once, but for spares in place of stuck threads;
 * stopping runs what is queued, and a pool
 * stopped without waiting is freed by its last thread.
 *
 * Nothing sleeps to wait for work: the test waits on counters with a
 * deadline that fails it. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "worker-pool.h"

#define WAIT_MS 30000

#include "test-util.h"

typedef struct {
  GList link;
  guint index;
  gint runs;
} Item;

/* What the run function records; one set per test. */
static Counter done;
static Counter active_now;
static gint max_active;
static GMutex gate_lock;
static GCond gate_changed;
static gboolean gate_open;
static gboolean use_gate;
static Counter threads_seen;  /* threads that ran an item */
static Counter threads_ended; /* of those, how many have ended */

static void
count_thread_end (gpointer data)
{
  counter_add (&threads_ended, 1);
}

static GPrivate thread_exit_watch = G_PRIVATE_INIT (count_thread_end);

static void
wait_at_gate (void)
{
  g_mutex_lock (&gate_lock);
  while (!gate_open)
    g_cond_wait (&gate_changed, &gate_lock);
  g_mutex_unlock (&gate_lock);
}

static void
open_gate (void)
{
  g_mutex_lock (&gate_lock);
  gate_open = TRUE;
  g_cond_broadcast (&gate_changed);
  g_mutex_unlock (&gate_lock);
}

static void
run_item (gpointer data)
{
  Item *item = data;
  gint active;

  if (g_private_get (&thread_exit_watch) == NULL)
    {
      g_private_set (&thread_exit_watch, GINT_TO_POINTER (1));
      counter_add (&threads_seen, 1);
    }
  g_atomic_int_inc (&item->runs);
  /* Read in the same hold of the lock: a thread leaving in between would
   * hide the peak. */
  g_mutex_lock (&active_now.lock);
  active = (gint) ++active_now.value;
  g_cond_broadcast (&active_now.changed);
  g_mutex_unlock (&active_now.lock);
  for (gint seen = g_atomic_int_get (&max_active); active > seen; seen = g_atomic_int_get (&max_active))
    if (g_atomic_int_compare_and_exchange (&max_active, seen, active))
      break;
  if (use_gate)
    wait_at_gate ();
  g_mutex_lock (&active_now.lock);
  active_now.value--;
  g_mutex_unlock (&active_now.lock);
  counter_add (&done, 1);
}

static int
setup (void **state)
{
  counter_init (&done);
  counter_init (&active_now);
  counter_init (&threads_seen);
  counter_init (&threads_ended);
  g_mutex_init (&gate_lock);
  g_cond_init (&gate_changed);
  max_active = 0;
  gate_open = FALSE;
  use_gate = FALSE;
  return 0;
}

static int
teardown (void **state)
{
  counter_clear (&done);
  counter_clear (&active_now);
  counter_clear (&threads_seen);
  counter_clear (&threads_ended);
  g_mutex_clear (&gate_lock);
  g_cond_clear (&gate_changed);
  return 0;
}

static guint
threads_of (EvbWorkerPool *pool)
{
  guint threads, idle;

  evb_worker_pool_get_threads (pool, &threads, &idle);
  return threads;
}

/* FALSE if fewer than @want threads are idle within WAIT_MS.  Spins: the
 * pool signals nothing when a thread goes idle. */
static gboolean
wait_idle (EvbWorkerPool *pool, guint want)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;
  guint threads, idle;

  for (;;)
    {
      evb_worker_pool_get_threads (pool, &threads, &idle);
      if (idle >= want)
        return TRUE;
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_thread_yield ();
    }
}

static Item *
items_new (guint count)
{
  Item *items = g_new0 (Item, count);

  for (guint i = 0; i < count; i++)
    {
      items[i].index = i;
      items[i].link.data = &items[i];
    }
  return items;
}

static void
assert_each_ran_once (Item *items, guint count)
{
  for (guint i = 0; i < count; i++)
    if (g_atomic_int_get (&items[i].runs) != 1)
      fail_msg ("item %u ran %d times", i, g_atomic_int_get (&items[i].runs));
}

static void
test_every_item_runs_once (void **state)
{
  EvbWorkerPool *pool = evb_worker_pool_new ("test-worker", 4, run_item);
  g_autofree Item *items = items_new (5000);

  for (guint i = 0; i < 5000; i++)
    {
      evb_worker_pool_push (pool, &items[i].link);
      if (i % 64 == 63)
        evb_worker_pool_kick (pool);
    }
  evb_worker_pool_kick (pool);
  assert_true (counter_wait (&done, 5000));
  assert_each_ran_once (items, 5000);
  assert_in_range (threads_of (pool), 1, 4);
  assert_in_range (g_atomic_int_get (&max_active), 1, 4);
  evb_worker_pool_stop (pool, TRUE);
}

static void
test_push_counts_queue_and_wakes_nobody (void **state)
{
  EvbWorkerPool *pool = evb_worker_pool_new ("test-worker", 2, run_item);
  g_autofree Item *items = items_new (3);

  assert_int_equal (evb_worker_pool_push (pool, &items[0].link), 1);
  assert_int_equal (evb_worker_pool_push (pool, &items[1].link), 2);
  assert_int_equal (evb_worker_pool_push (pool, &items[2].link), 3);
  assert_int_equal (threads_of (pool), 0);
  assert_int_equal (counter_get (&done), 0);

  evb_worker_pool_kick (pool);
  assert_true (counter_wait (&done, 3));
  assert_each_ran_once (items, 3);
  evb_worker_pool_stop (pool, TRUE);
}

/* One item needs one thread; the next item, once that thread is idle,
 * wakes it rather than starting another.  (A kick while the thread is
 * still finishing its item may start a second one: it cannot know the
 * busy thread is about to be free.) */
static void
test_kick_starts_only_what_is_needed (void **state)
{
  EvbWorkerPool *pool = evb_worker_pool_new ("test-worker", 4, run_item);
  g_autofree Item *items = items_new (3);

  evb_worker_pool_push (pool, &items[0].link);
  evb_worker_pool_kick (pool);
  assert_true (counter_wait (&done, 1));
  assert_int_equal (threads_of (pool), 1);

  for (guint i = 1; i < 3; i++)
    {
      assert_true (wait_idle (pool, 1));
      evb_worker_pool_push (pool, &items[i].link);
      evb_worker_pool_kick (pool);
      assert_true (counter_wait (&done, i + 1));
    }
  assert_int_equal (threads_of (pool), 1);
  assert_each_ran_once (items, 3);
  evb_worker_pool_stop (pool, TRUE);
}

/* Ten items that all block: exactly max_threads run, the rest wait their
 * turn, and all run once the gate opens. */
static void
test_never_more_than_max_threads (void **state)
{
  EvbWorkerPool *pool = evb_worker_pool_new ("test-worker", 3, run_item);
  g_autofree Item *items = items_new (10);

  use_gate = TRUE;
  for (guint i = 0; i < 10; i++)
    evb_worker_pool_push (pool, &items[i].link);
  evb_worker_pool_kick (pool);
  evb_worker_pool_kick (pool); /* a second kick starts nothing more */
  assert_true (counter_wait (&active_now, 3));
  assert_int_equal (threads_of (pool), 3);
  assert_int_equal (counter_get (&done), 0);

  open_gate ();
  assert_true (counter_wait (&done, 10));
  assert_int_equal (g_atomic_int_get (&max_active), 3);
  assert_int_equal (threads_of (pool), 3);
  assert_each_ran_once (items, 10);
  evb_worker_pool_stop (pool, TRUE);
}

/* A thread held by a stuck item gets a spare in its place, so queued
 * items still run; spares stop at max_threads; when the stuck items
 * return, the spares end and the pool is back to max_threads. */
static void
test_stuck_threads_get_spares (void **state)
{
  EvbWorkerPool *pool = evb_worker_pool_new ("test-worker", 1, run_item);
  g_autofree Item *items = items_new (4);
  guint stuck;
  guint64 spares;
  gint64 deadline;

  use_gate = TRUE;
  evb_worker_pool_push (pool, &items[0].link);
  evb_worker_pool_push (pool, &items[1].link);
  evb_worker_pool_kick (pool);
  assert_true (counter_wait (&active_now, 1));
  assert_int_equal (threads_of (pool), 1); /* item 1 waits for the only thread */

  assert_true (evb_worker_pool_stick (pool)); /* item 0 is stuck: a spare takes item 1 */
  assert_true (counter_wait (&active_now, 2));
  assert_int_equal (threads_of (pool), 2);
  assert_false (evb_worker_pool_stick (pool)); /* item 1 too: no second spare for max 1 */
  evb_worker_pool_push (pool, &items[2].link);
  evb_worker_pool_kick (pool);
  assert_int_equal (threads_of (pool), 2);
  evb_worker_pool_get_stuck (pool, &stuck, &spares);
  assert_int_equal (stuck, 2);
  assert_int_equal (spares, 1);

  open_gate ();
  assert_true (counter_wait (&done, 3));
  evb_worker_pool_unstick (pool, FALSE);
  evb_worker_pool_unstick (pool, TRUE);
  evb_worker_pool_get_stuck (pool, &stuck, &spares);
  assert_int_equal (stuck, 0);
  assert_int_equal (spares, 1);
  /* The spare, surplus now, ends: the pool is one thread again. */
  deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;
  while (threads_of (pool) > 1 && g_get_monotonic_time () < deadline)
    g_thread_yield ();
  assert_int_equal (threads_of (pool), 1);
  evb_worker_pool_push (pool, &items[3].link);
  evb_worker_pool_kick (pool);
  assert_true (counter_wait (&done, 4));
  assert_each_ran_once (items, 4);
  evb_worker_pool_stop (pool, TRUE);
  /* The spare that ended above is not joined by the stop: wait for its
   * end to be counted here, not in the next test's counters. */
  assert_true (counter_wait (&threads_ended, counter_get (&threads_seen)));
}

/* Stopping kicks first: items queued without a kick still run, and a
 * waiting stop returns after they have. */
static void
test_stop_runs_what_is_queued (void **state)
{
  EvbWorkerPool *pool = evb_worker_pool_new ("test-worker", 2, run_item);
  g_autofree Item *items = items_new (50);

  for (guint i = 0; i < 50; i++)
    evb_worker_pool_push (pool, &items[i].link);
  evb_worker_pool_stop (pool, TRUE);
  assert_int_equal (counter_get (&done), 50);
  assert_each_ran_once (items, 50);
  /* Joined: every thread that ran an item has ended. */
  assert_in_range (counter_get (&threads_seen), 1, 2);
  assert_int_equal (counter_get (&threads_ended), counter_get (&threads_seen));
}

/* A stop that does not wait returns while an item still runs; the thread
 * finishes it, ends, and frees the pool (a leak checker would see it
 * otherwise). */
static void
test_stop_without_waiting (void **state)
{
  EvbWorkerPool *pool = evb_worker_pool_new ("test-worker", 1, run_item);
  g_autofree Item *items = items_new (2);

  use_gate = TRUE;
  evb_worker_pool_push (pool, &items[0].link);
  evb_worker_pool_push (pool, &items[1].link);
  evb_worker_pool_kick (pool);
  assert_true (counter_wait (&active_now, 1));

  evb_worker_pool_stop (pool, FALSE);
  assert_int_equal (counter_get (&done), 0);

  open_gate ();
  assert_true (counter_wait (&done, 2));
  assert_true (counter_wait (&threads_ended, 1));
  assert_each_ran_once (items, 2);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_every_item_runs_once, setup, teardown),
    cmocka_unit_test_setup_teardown (test_push_counts_queue_and_wakes_nobody, setup, teardown),
    cmocka_unit_test_setup_teardown (test_kick_starts_only_what_is_needed, setup, teardown),
    cmocka_unit_test_setup_teardown (test_never_more_than_max_threads, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stuck_threads_get_spares, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stop_runs_what_is_queued, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stop_without_waiting, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
