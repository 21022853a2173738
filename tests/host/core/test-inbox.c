/* Tests for host/inbox.c, the main loop's inbox (DESIGN.md "Threads and
 * emission"): FIFO per producer, one wake-up per batch, bounded slices that
 * let other sources run, the three overflow policies with their counters,
 * and closing.
 *
 * Items are small integers packed into pointers (producer and sequence
 * number), so the tests need no allocation and can tell every item apart.
 * Nothing here sleeps to wait for work: the main thread iterates its
 * context until a condition holds, or waits on a GCond or a counter with a
 * deadline that fails the test. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "inbox.h"

/* Generous: a wait that runs out is a failure, never a pass. */
#define WAIT_MS 30000

#include "test-util.h"

#define REJECT_MESSAGE \
  "inbox full (4 events): event rejected; raise host.inbox_limit or choose another overflow policy"
#define SHUT_DOWN_MESSAGE "the bus is shutting down: event refused"

/* ------------------------------------------------------------------ items */

#define SEQ_BITS 20

static gpointer
item_new (guint producer, guint seq)
{
  g_assert (seq < (1u << SEQ_BITS));
  /* +1 on the producer keeps every item non-NULL. */
  return GUINT_TO_POINTER (((producer + 1) << SEQ_BITS) | seq);
}

static guint
item_producer (guint item)
{
  return (item >> SEQ_BITS) - 1;
}

static guint
item_seq (guint item)
{
  return item & ((1u << SEQ_BITS) - 1);
}

/* --------------------------------------------------------------- recorder */

/* What the inbox handed to its dispatch function (main thread only) and to
 * its item_free function (any thread: drop-oldest frees in the producer). */
typedef struct {
  GArray *dispatched; /* guint items, dispatch order */
  GMutex freed_lock;
  GArray *freed;      /* guint items, under freed_lock */
  GThread *main_thread;
  gboolean dispatched_off_main;
} Recorder;

static Recorder recorder;

static void
recorder_reset (void)
{
  recorder.dispatched = g_array_new (FALSE, FALSE, sizeof (guint));
  g_mutex_init (&recorder.freed_lock);
  recorder.freed = g_array_new (FALSE, FALSE, sizeof (guint));
  recorder.main_thread = g_thread_self ();
  recorder.dispatched_off_main = FALSE;
}

static void
recorder_clear (void)
{
  g_array_unref (recorder.dispatched);
  g_array_unref (recorder.freed);
  g_mutex_clear (&recorder.freed_lock);
}

static void
record_dispatch (gpointer item, gpointer user_data)
{
  guint value = GPOINTER_TO_UINT (item);

  if (g_thread_self () != recorder.main_thread)
    recorder.dispatched_off_main = TRUE;
  g_array_append_val (recorder.dispatched, value);
}

static void
record_free (gpointer item)
{
  guint value = GPOINTER_TO_UINT (item);

  g_mutex_lock (&recorder.freed_lock);
  g_array_append_val (recorder.freed, value);
  g_mutex_unlock (&recorder.freed_lock);
}

static guint
n_freed (void)
{
  guint n;

  g_mutex_lock (&recorder.freed_lock);
  n = recorder.freed->len;
  g_mutex_unlock (&recorder.freed_lock);
  return n;
}

static guint
dispatched_at (guint index)
{
  return g_array_index (recorder.dispatched, guint, index);
}

/* Asserts that recorder.dispatched holds exactly producer 0's items
 * @first .. @first + @count - 1, in order. */
static void
assert_dispatched_range (guint first, guint count)
{
  assert_int_equal (recorder.dispatched->len, count);
  for (guint i = 0; i < count; i++)
    assert_int_equal (dispatched_at (i), GPOINTER_TO_UINT (item_new (0, first + i)));
}

/* Every producer's items arrive with strictly increasing sequence numbers. */
static void
assert_per_producer_order (GArray *items, guint n_producers)
{
  g_autofree gint64 *last = g_new (gint64, n_producers);

  for (guint p = 0; p < n_producers; p++)
    last[p] = -1;
  for (guint i = 0; i < items->len; i++)
    {
      guint item = g_array_index (items, guint, i);
      guint producer = item_producer (item);

      assert_true (producer < n_producers);
      assert_true ((gint64) item_seq (item) > last[producer]);
      last[producer] = item_seq (item);
    }
}

/* ---------------------------------------------------------------- waiting */

typedef gboolean (*Condition) (gpointer user_data);

/* Iterates @context until @done holds; FALSE once WAIT_MS ran out.  The
 * tick only bounds each blocking iteration so that a condition changed by
 * another thread without a wake-up (a producer finishing) is seen. */
static gboolean
iterate_until (GMainContext *context, Condition done, gpointer user_data)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;
  GSource *tick = g_timeout_source_new (10);
  gboolean reached;

  g_source_set_callback (tick, keep_ticking, NULL, NULL);
  g_source_attach (tick, context);
  while (!(reached = done (user_data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (tick);
  g_source_unref (tick);
  return reached;
}

/* Waits (without iterating anything) until another thread makes @done
 * hold; for states that have no signal of their own, such as "a producer
 * is blocked inside evb_inbox_push".  FALSE once WAIT_MS ran out. */
static gboolean
spin_until (Condition done, gpointer user_data)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;

  while (!done (user_data))
    {
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_thread_yield ();
    }
  return TRUE;
}

static gboolean
dispatched_at_least (gpointer user_data)
{
  return recorder.dispatched->len >= GPOINTER_TO_UINT (user_data);
}

static gboolean
inbox_has_blocked (gpointer user_data)
{
  EvbInboxStats stats;

  evb_inbox_get_stats (user_data, &stats);
  return stats.blocked >= 1;
}

/* -------------------------------------------------------------- producers */

/* One producer thread: pushes items (producer, 0 .. count-1) in order. */
typedef struct {
  EvbInbox *inbox;
  guint producer;
  guint count;
  Counter *start;       /* waits for it to be non-zero, so all start together; or NULL */
  guint report_after;   /* bumps @progress once after this many pushes (0: never) */
  Counter *progress;
  Counter *finished;    /* bumped when done; or NULL */
  GMainContext *wake;   /* woken when done so a blocked iteration sees it; or NULL */
  /* Results. */
  guint accepted;
  GArray *refused;      /* guint items the inbox gave back */
  GError *first_error;
} Producer;

static void
producer_init (Producer *producer, EvbInbox *inbox, guint index, guint count)
{
  memset (producer, 0, sizeof *producer);
  producer->inbox = inbox;
  producer->producer = index;
  producer->count = count;
  producer->refused = g_array_new (FALSE, FALSE, sizeof (guint));
}

static void
producer_clear (Producer *producer)
{
  g_array_unref (producer->refused);
  g_clear_error (&producer->first_error);
}

static gpointer
producer_run (gpointer data)
{
  Producer *producer = data;

  if (producer->start != NULL)
    counter_wait (producer->start, 1);
  for (guint seq = 0; seq < producer->count; seq++)
    {
      gpointer item = item_new (producer->producer, seq);
      g_autoptr (GError) error = NULL;

      if (evb_inbox_push (producer->inbox, item, &error))
        producer->accepted++;
      else
        {
          /* The caller keeps a refused item: record it as ours. */
          guint value = GPOINTER_TO_UINT (item);

          g_array_append_val (producer->refused, value);
          if (producer->first_error == NULL)
            producer->first_error = g_steal_pointer (&error);
        }
      if (producer->progress != NULL && seq + 1 == producer->report_after)
        counter_add (producer->progress, 1);
    }
  if (producer->finished != NULL)
    counter_add (producer->finished, 1);
  if (producer->wake != NULL)
    g_main_context_wakeup (producer->wake);
  return NULL;
}

static GThread *
producer_start (Producer *producer)
{
  return g_thread_new ("inbox-producer", producer_run, producer);
}

/* -------------------------------------------------------- FIFO and slices */

/* Items come out in the order they went in, at most slice_items per
 * evb_inbox_drain_slice(), also across ring growth with a wrapped head. */
static void
test_inbox_fifo_and_slices (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInbox *inbox;
  EvbInboxStats stats;
  guint seq = 0;

  recorder_reset ();
  inbox = evb_inbox_new (context, "test inbox", 0, EVB_OVERFLOW_BLOCK, 16, record_dispatch, record_free, NULL);

  for (; seq < 40; seq++)
    assert_true (evb_inbox_push (inbox, item_new (0, seq), NULL));
  assert_int_equal (evb_inbox_depth (inbox), 40);
  assert_int_equal (evb_inbox_drain_slice (inbox), 16);
  assert_int_equal (evb_inbox_drain_slice (inbox), 16);
  assert_int_equal (evb_inbox_drain_slice (inbox), 8);
  assert_int_equal (evb_inbox_drain_slice (inbox), 0);
  assert_dispatched_range (0, 40);

  /* 60 in, 16 out: the head sits mid-ring.  Then 100 more force the ring
   * (64 slots at first) to grow twice with a wrapped head. */
  for (; seq < 100; seq++)
    assert_true (evb_inbox_push (inbox, item_new (0, seq), NULL));
  assert_int_equal (evb_inbox_drain_slice (inbox), 16);
  for (; seq < 200; seq++)
    assert_true (evb_inbox_push (inbox, item_new (0, seq), NULL));
  assert_int_equal (evb_inbox_depth (inbox), 144);
  while (evb_inbox_drain_slice (inbox) > 0)
    ;
  assert_dispatched_range (0, 200);

  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.depth, 0);
  assert_int_equal (stats.peak, 144);
  assert_int_equal (stats.limit, 0);
  assert_int_equal (stats.pushed, 200);
  assert_int_equal (stats.dropped, 0);
  assert_int_equal (stats.overcommitted, 0);
  assert_int_equal (stats.blocked, 0);
  /* The first two batches went into an empty inbox; the third found 44
   * items still queued, so it needed no wake-up. */
  assert_int_equal (stats.wakeups, 2);
  assert_false (recorder.dispatched_off_main);

  evb_inbox_free (inbox);
  assert_int_equal (n_freed (), 0);
  recorder_clear ();
}

/* A slice of 0 means 1, and no slice exceeds EVB_INBOX_MAX_SLICE. */
static void
test_inbox_slice_clamped (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInbox *tiny;
  EvbInbox *huge;

  recorder_reset ();
  tiny = evb_inbox_new (context, "tiny", 0, EVB_OVERFLOW_BLOCK, 0, record_dispatch, NULL, NULL);
  huge = evb_inbox_new (context, "huge", 0, EVB_OVERFLOW_BLOCK, 100000, record_dispatch, NULL, NULL);
  for (guint seq = 0; seq < 3; seq++)
    assert_true (evb_inbox_push (tiny, item_new (0, seq), NULL));
  assert_int_equal (evb_inbox_drain_slice (tiny), 1);
  assert_int_equal (evb_inbox_drain_slice (tiny), 1);
  assert_int_equal (evb_inbox_drain_slice (tiny), 1);
  assert_int_equal (evb_inbox_drain_slice (tiny), 0);

  for (guint seq = 3; seq < 3 + EVB_INBOX_MAX_SLICE + 10; seq++)
    assert_true (evb_inbox_push (huge, item_new (0, seq), NULL));
  assert_int_equal (evb_inbox_drain_slice (huge), EVB_INBOX_MAX_SLICE);
  assert_int_equal (evb_inbox_drain_slice (huge), 10);
  assert_dispatched_range (0, 3 + EVB_INBOX_MAX_SLICE + 10);

  evb_inbox_free (tiny);
  evb_inbox_free (huge);
  recorder_clear ();
}

/* Leftovers go to item_free when the inbox is freed; none is dispatched. */
static void
test_inbox_free_frees_leftovers (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInbox *inbox;

  recorder_reset ();
  inbox = evb_inbox_new (context, "test inbox", 0, EVB_OVERFLOW_BLOCK, 16, record_dispatch, record_free, NULL);
  for (guint seq = 0; seq < 5; seq++)
    assert_true (evb_inbox_push (inbox, item_new (0, seq), NULL));
  evb_inbox_free (inbox);
  assert_int_equal (recorder.dispatched->len, 0);
  assert_int_equal (recorder.freed->len, 5);
  for (guint seq = 0; seq < 5; seq++)
    assert_int_equal (g_array_index (recorder.freed, guint, seq), GPOINTER_TO_UINT (item_new (0, seq)));
  recorder_clear ();
}

/* ---------------------------------------------------------------- wake-ups */

/* 1000 pushes from another thread while nobody iterates the context cost
 * exactly one wake-up: only the empty -> non-empty edge wakes. */
static void
test_inbox_wakeup_once_per_batch (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInbox *inbox;
  EvbInboxStats stats;
  Producer producer;
  GThread *thread;

  recorder_reset ();
  inbox = evb_inbox_new (context, "test inbox", 0, EVB_OVERFLOW_BLOCK, 16, record_dispatch, record_free, NULL);
  producer_init (&producer, inbox, 0, 1000);
  thread = producer_start (&producer);
  g_thread_join (thread);
  assert_int_equal (producer.accepted, 1000);

  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.pushed, 1000);
  assert_int_equal (stats.depth, 1000);
  assert_int_equal (stats.wakeups, 1);
  assert_int_equal (recorder.dispatched->len, 0);

  /* The context sees the work: one iteration is one slice. */
  assert_true (g_main_context_iteration (context, FALSE));
  assert_int_equal (recorder.dispatched->len, 16);
  assert_true (iterate_until (context, dispatched_at_least, GUINT_TO_POINTER (1000)));
  assert_dispatched_range (0, 1000);
  assert_false (recorder.dispatched_off_main);

  /* The next batch into the now empty inbox is the second wake-up. */
  g_array_set_size (recorder.dispatched, 0);
  producer_clear (&producer);
  producer_init (&producer, inbox, 0, 1000);
  thread = producer_start (&producer);
  g_thread_join (thread);
  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.wakeups, 2);
  assert_int_equal (stats.pushed, 2000);

  producer_clear (&producer);
  evb_inbox_free (inbox);
  assert_int_equal (n_freed (), 1000);
  recorder_clear ();
}

/* Attached after the inbox's source, so GLib prepares it after the inbox's
 * (same priority, attach order): when its prepare runs, the inbox has just
 * said "nothing to do" and the context is about to poll. */
typedef struct {
  GSource source;
  Counter *preparing;
} PrepareSignal;

static gboolean
prepare_signal_prepare (GSource *source, gint *timeout)
{
  PrepareSignal *self = (PrepareSignal *) source;

  if (counter_get (self->preparing) == 0)
    counter_set (self->preparing, 1);
  *timeout = -1;
  return FALSE;
}

static GSourceFuncs prepare_signal_funcs = {
  .prepare = prepare_signal_prepare,
};

static gboolean
flag_timeout (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_CONTINUE;
}

typedef struct {
  EvbInbox *inbox;
  Counter *preparing;
  gboolean pushed;
} LatePusher;

static gpointer
late_pusher_run (gpointer data)
{
  LatePusher *pusher = data;

  /* Push only once the loop has checked the inbox and is heading into
   * poll(): nothing but the inbox's wake-up can end that poll. */
  if (counter_wait (pusher->preparing, 1))
    pusher->pushed = evb_inbox_push (pusher->inbox, item_new (0, 0), NULL);
  return NULL;
}

/* A push from another thread wakes a loop blocked in poll(). */
static void
test_inbox_push_wakes_blocked_loop (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInbox *inbox;
  Counter preparing;
  GSource *signal;
  GSource *guard;
  gboolean guard_fired = FALSE;
  LatePusher pusher;
  GThread *thread;
  EvbInboxStats stats;

  recorder_reset ();
  counter_init (&preparing);
  inbox = evb_inbox_new (context, "test inbox", 0, EVB_OVERFLOW_BLOCK, 16, record_dispatch, record_free, NULL);
  signal = g_source_new (&prepare_signal_funcs, sizeof (PrepareSignal));
  ((PrepareSignal *) signal)->preparing = &preparing;
  g_source_attach (signal, context);
  /* Turns a missing wake-up into a failure instead of a hang. */
  guard = g_timeout_source_new (WAIT_MS);
  g_source_set_callback (guard, flag_timeout, &guard_fired, NULL);
  g_source_attach (guard, context);

  pusher = (LatePusher) { inbox, &preparing, FALSE };
  thread = g_thread_new ("late-pusher", late_pusher_run, &pusher);
  /* The first iteration blocks in poll() until the push wakes it; its
   * check() then sees the item, so the same iteration dispatches it. */
  while (recorder.dispatched->len == 0 && !guard_fired)
    g_main_context_iteration (context, TRUE);
  g_thread_join (thread);

  assert_true (pusher.pushed);
  assert_false (guard_fired);
  assert_dispatched_range (0, 1);
  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.wakeups, 1);

  g_source_destroy (guard);
  g_source_unref (guard);
  g_source_destroy (signal);
  g_source_unref (signal);
  evb_inbox_free (inbox);
  counter_clear (&preparing);
  recorder_clear ();
}

/* The producer pushes BATCHES batches of BATCH_SIZE items while the main
 * loop drains concurrently.  It starts a batch only once the previous one
 * has been dispatched (so the batch's first push finds the inbox empty:
 * one wake-up), and the dispatch of a batch's first item waits until the
 * whole batch is queued.  The consumer can therefore empty the inbox at
 * most once inside a batch (having taken the first items before the
 * rest came), so each batch costs 1 or 2 wake-ups: BATCHES <= wakeups <=
 * 2 * BATCHES, against BATCHES * BATCH_SIZE items. */
#define BATCHES 10
#define BATCH_SIZE 1000

typedef struct {
  EvbInbox *inbox;
  Counter dispatched;    /* items dispatched so far */
  Counter batches_queued; /* batches fully pushed */
  gboolean timed_out;
} BatchRun;

static BatchRun batch_run;

static void
batch_dispatch (gpointer item, gpointer user_data)
{
  guint seq = item_seq (GPOINTER_TO_UINT (item));

  if (seq % BATCH_SIZE == 0 && !counter_wait (&batch_run.batches_queued, seq / BATCH_SIZE + 1))
    batch_run.timed_out = TRUE;
  record_dispatch (item, user_data);
  counter_add (&batch_run.dispatched, 1);
}

static gpointer
batch_producer_run (gpointer data)
{
  for (guint batch = 0; batch < BATCHES; batch++)
    {
      if (!counter_wait (&batch_run.dispatched, batch * BATCH_SIZE))
        return NULL;
      for (guint i = 0; i < BATCH_SIZE; i++)
        g_assert_true (evb_inbox_push (batch_run.inbox, item_new (0, batch * BATCH_SIZE + i), NULL));
      counter_set (&batch_run.batches_queued, batch + 1);
    }
  return NULL;
}

static void
test_inbox_wakeups_while_draining (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInboxStats stats;
  GThread *thread;

  recorder_reset ();
  counter_init (&batch_run.dispatched);
  counter_init (&batch_run.batches_queued);
  batch_run.timed_out = FALSE;
  batch_run.inbox = evb_inbox_new (context, "test inbox", 0, EVB_OVERFLOW_BLOCK, 16, batch_dispatch, NULL, NULL);

  thread = g_thread_new ("batch-producer", batch_producer_run, NULL);
  assert_true (iterate_until (context, dispatched_at_least, GUINT_TO_POINTER (BATCHES * BATCH_SIZE)));
  g_thread_join (thread);

  assert_false (batch_run.timed_out);
  assert_dispatched_range (0, BATCHES * BATCH_SIZE);
  evb_inbox_get_stats (batch_run.inbox, &stats);
  assert_int_equal (stats.pushed, BATCHES * BATCH_SIZE);
  assert_in_range (stats.wakeups, BATCHES, 2 * BATCHES);

  evb_inbox_free (batch_run.inbox);
  counter_clear (&batch_run.dispatched);
  counter_clear (&batch_run.batches_queued);
  recorder_clear ();
}

/* ------------------------------------------------------ per-producer FIFO */

/* 4 threads push 2000 items each, all at once, while the loop drains: all
 * 8000 arrive and each producer's arrive in the order it pushed them. */
static void
test_inbox_per_producer_fifo (void **state)
{
  enum { N_PRODUCERS = 4, PER_PRODUCER = 2000 };
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInbox *inbox;
  Producer producers[N_PRODUCERS];
  GThread *threads[N_PRODUCERS];
  Counter start;
  EvbInboxStats stats;

  recorder_reset ();
  counter_init (&start);
  inbox = evb_inbox_new (context, "test inbox", 0, EVB_OVERFLOW_BLOCK, 16, record_dispatch, record_free, NULL);
  for (guint p = 0; p < N_PRODUCERS; p++)
    {
      producer_init (&producers[p], inbox, p, PER_PRODUCER);
      producers[p].start = &start;
      threads[p] = producer_start (&producers[p]);
    }
  counter_set (&start, 1);
  assert_true (iterate_until (context, dispatched_at_least, GUINT_TO_POINTER (N_PRODUCERS * PER_PRODUCER)));
  for (guint p = 0; p < N_PRODUCERS; p++)
    {
      g_thread_join (threads[p]);
      assert_int_equal (producers[p].accepted, PER_PRODUCER);
      producer_clear (&producers[p]);
    }

  assert_int_equal (recorder.dispatched->len, N_PRODUCERS * PER_PRODUCER);
  assert_per_producer_order (recorder.dispatched, N_PRODUCERS);
  assert_false (recorder.dispatched_off_main);
  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.pushed, N_PRODUCERS * PER_PRODUCER);
  assert_int_equal (stats.depth, 0);

  evb_inbox_free (inbox);
  assert_int_equal (n_freed (), 0);
  counter_clear (&start);
  recorder_clear ();
}

/* ---------------------------------------------------------- bounded slices */

typedef struct {
  EvbInbox *inbox;
  gint dispatched_at_first_run; /* -1: not run yet */
  guint runs_while_queued;
} IdleProbe;

static gboolean
idle_probe_run (gpointer user_data)
{
  IdleProbe *probe = user_data;

  if (probe->dispatched_at_first_run < 0)
    probe->dispatched_at_first_run = (gint) recorder.dispatched->len;
  if (evb_inbox_depth (probe->inbox) > 0)
    probe->runs_while_queued++;
  return G_SOURCE_CONTINUE;
}

/* With 10,000 items queued and slices of 16, an idle source of the same
 * priority runs after the first slice, then after every slice: the flood
 * does not starve it. */
static void
test_inbox_slices_let_other_sources_run (void **state)
{
  enum { QUEUED = 10000, SLICE = 16 };
  g_autoptr (GMainContext) context = g_main_context_new ();
  IdleProbe probe = { NULL, -1, 0 };
  GSource *idle;
  guint iterations = 0;

  recorder_reset ();
  probe.inbox = evb_inbox_new (context, "test inbox", 0, EVB_OVERFLOW_BLOCK, SLICE, record_dispatch, NULL, NULL);
  for (guint seq = 0; seq < QUEUED; seq++)
    assert_true (evb_inbox_push (probe.inbox, item_new (0, seq), NULL));
  idle = g_idle_source_new ();
  g_source_set_priority (idle, G_PRIORITY_DEFAULT); /* the inbox's own priority */
  g_source_set_callback (idle, idle_probe_run, &probe, NULL);
  g_source_attach (idle, context);

  while (evb_inbox_depth (probe.inbox) > 0 && iterations++ < QUEUED)
    g_main_context_iteration (context, FALSE);

  assert_dispatched_range (0, QUEUED);
  /* The first iteration dispatches both ready sources: one slice, then the
   * idle.  Every later iteration does the same. */
  assert_int_equal (probe.dispatched_at_first_run, SLICE);
  assert_int_equal (iterations, QUEUED / SLICE);
  assert_int_equal (probe.runs_while_queued, QUEUED / SLICE - 1);

  g_source_destroy (idle);
  g_source_unref (idle);
  evb_inbox_free (probe.inbox);
  recorder_clear ();
}

/* ------------------------------------------------------- nested draining */

typedef struct {
  GMainContext *context;
  EvbInbox *inbox;
  gint depth_after_nested; /* -1: the nested loop did not run */
} NestedRun;

static NestedRun nested_run;

/* While item 0 is being dispatched, iterate the context again, as a
 * shutdown begun inside a handler does, until the inbox is drained. */
static void
nested_dispatch (gpointer item, gpointer user_data)
{
  record_dispatch (item, user_data);
  if (item_seq (GPOINTER_TO_UINT (item)) == 0)
    {
      for (guint guard = 0; guard < 100 && evb_inbox_depth (nested_run.inbox) > 0; guard++)
        g_main_context_iteration (nested_run.context, FALSE);
      nested_run.depth_after_nested = (gint) evb_inbox_depth (nested_run.inbox);
    }
}

/* A drain nested in a dispatch (a shutdown begun in a handler) empties the
 * inbox, and first finishes the slice the outer drain had taken: order
 * holds across the nesting. */
static void
test_inbox_nested_drain_keeps_order (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();

  recorder_reset ();
  nested_run.context = context;
  nested_run.depth_after_nested = -1;
  nested_run.inbox = evb_inbox_new (context, "test inbox", 0, EVB_OVERFLOW_BLOCK, 4, nested_dispatch, record_free,
                                    NULL);
  for (guint seq = 0; seq < 10; seq++)
    assert_true (evb_inbox_push (nested_run.inbox, item_new (0, seq), NULL));

  /* The outer slice took items 0-3; the nested loop dispatched the rest. */
  assert_true (g_main_context_iteration (context, FALSE));
  assert_int_equal (nested_run.depth_after_nested, 0);
  assert_dispatched_range (0, 10);
  assert_int_equal (evb_inbox_depth (nested_run.inbox), 0);
  assert_int_equal (evb_inbox_drain_slice (nested_run.inbox), 0);

  evb_inbox_free (nested_run.inbox);
  assert_int_equal (n_freed (), 0);
  recorder_clear ();
}

/* -------------------------------------------------------------- overflow */

/* "reject": with 4 queued, the next 6 pushes fail with INBOX_FULL and the
 * item stays the caller's; each refusal is counted; room comes back once
 * the consumer drains. */
static void
test_inbox_reject (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (GError) error = NULL;
  EvbInbox *inbox;
  Producer producer;
  GThread *thread;
  EvbInboxStats stats;

  recorder_reset ();
  inbox = evb_inbox_new (context, "test inbox", 4, EVB_OVERFLOW_REJECT, 16, record_dispatch, record_free, NULL);
  producer_init (&producer, inbox, 0, 10);
  thread = producer_start (&producer);
  g_thread_join (thread);

  assert_int_equal (producer.accepted, 4);
  assert_int_equal (producer.refused->len, 6);
  for (guint i = 0; i < 6; i++)
    assert_int_equal (g_array_index (producer.refused, guint, i), GPOINTER_TO_UINT (item_new (0, 4 + i)));
  assert_true (g_error_matches (producer.first_error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL));
  assert_string_equal (producer.first_error->message, REJECT_MESSAGE);
  assert_int_equal (n_freed (), 0);

  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.pushed, 4);
  assert_int_equal (stats.dropped, 6);
  assert_int_equal (stats.depth, 4);
  assert_int_equal (stats.peak, 4);
  assert_int_equal (stats.limit, 4);
  assert_int_equal (stats.blocked, 0);

  /* The main thread (the consumer) is refused too: reject has no
   * exception for it. */
  assert_false (evb_inbox_push (inbox, item_new (1, 0), &error));
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL));
  assert_string_equal (error->message, REJECT_MESSAGE);
  g_clear_error (&error);

  assert_int_equal (evb_inbox_drain_slice (inbox), 4);
  assert_dispatched_range (0, 4);
  assert_true (evb_inbox_push (inbox, item_new (0, 10), &error));
  assert_null (error);
  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.pushed, 5);
  assert_int_equal (stats.dropped, 7);

  producer_clear (&producer);
  evb_inbox_free (inbox);
  assert_int_equal (n_freed (), 1);
  recorder_clear ();
}

/* "drop-oldest": 10 pushes into 4 slots keep the 4 newest in order; the 6
 * oldest go to item_free in order and are counted. */
static void
test_inbox_drop_oldest (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInbox *inbox;
  Producer producer;
  GThread *thread;
  EvbInboxStats stats;

  recorder_reset ();
  inbox = evb_inbox_new (context, "test inbox", 4, EVB_OVERFLOW_DROP_OLDEST, 16, record_dispatch, record_free,
                         NULL);
  producer_init (&producer, inbox, 0, 10);
  thread = producer_start (&producer);
  g_thread_join (thread);
  assert_int_equal (producer.accepted, 10);
  assert_int_equal (producer.refused->len, 0);

  assert_int_equal (recorder.freed->len, 6);
  for (guint i = 0; i < 6; i++)
    assert_int_equal (g_array_index (recorder.freed, guint, i), GPOINTER_TO_UINT (item_new (0, i)));
  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.pushed, 10);
  assert_int_equal (stats.dropped, 6);
  assert_int_equal (stats.depth, 4);
  assert_int_equal (stats.peak, 4);

  assert_true (iterate_until (context, dispatched_at_least, GUINT_TO_POINTER (4)));
  assert_dispatched_range (6, 4);

  producer_clear (&producer);
  evb_inbox_free (inbox);
  assert_int_equal (n_freed (), 6);
  recorder_clear ();
}

/* "block": a producer thread waits for room instead of losing anything;
 * all 100 items arrive in order and the queue never exceeds the limit. */
static void
test_inbox_block_waits_for_room (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInbox *inbox;
  Producer producer;
  GThread *thread;
  EvbInboxStats stats;

  recorder_reset ();
  inbox = evb_inbox_new (context, "test inbox", 4, EVB_OVERFLOW_BLOCK, 16, record_dispatch, record_free, NULL);
  producer_init (&producer, inbox, 0, 100);
  thread = producer_start (&producer);

  /* Nobody drains yet: the producer fills 4 slots and blocks on the 5th. */
  assert_true (spin_until (inbox_has_blocked, inbox));
  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.depth, 4);
  assert_int_equal (stats.pushed, 4);
  assert_int_equal (stats.blocked, 1);

  assert_true (iterate_until (context, dispatched_at_least, GUINT_TO_POINTER (100)));
  g_thread_join (thread);
  assert_int_equal (producer.accepted, 100);
  assert_dispatched_range (0, 100);

  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.pushed, 100);
  assert_int_equal (stats.dropped, 0);
  assert_int_equal (stats.overcommitted, 0);
  assert_int_equal (stats.peak, 4);
  assert_in_range (stats.blocked, 1, 96);

  producer_clear (&producer);
  evb_inbox_free (inbox);
  assert_int_equal (n_freed (), 0);
  recorder_clear ();
}

/* Closes @inbox unless called off within WAIT_MS: turns a push that
 * deadlocks into a failed assertion instead of a hung test. */
typedef struct {
  EvbInbox *inbox;
  Counter called_off;
  gboolean fired;
} Watchdog;

static gpointer
watchdog_run (gpointer data)
{
  Watchdog *watchdog = data;

  if (!counter_wait (&watchdog->called_off, 1))
    {
      watchdog->fired = TRUE;
      evb_inbox_close (watchdog->inbox);
    }
  return NULL;
}

/* "block": the consumer itself is never made to wait (it would wait for
 * itself): it is admitted past the limit and each such push is counted. */
static void
test_inbox_block_consumer_overcommits (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInbox *inbox;
  EvbInboxStats stats;
  Watchdog watchdog;
  GThread *watchdog_thread;

  recorder_reset ();
  inbox = evb_inbox_new (context, "test inbox", 4, EVB_OVERFLOW_BLOCK, 16, record_dispatch, record_free, NULL);
  watchdog.inbox = inbox;
  counter_init (&watchdog.called_off);
  watchdog.fired = FALSE;
  watchdog_thread = g_thread_new ("watchdog", watchdog_run, &watchdog);
  for (guint seq = 0; seq < 7; seq++)
    assert_true (evb_inbox_push (inbox, item_new (0, seq), NULL));
  counter_set (&watchdog.called_off, 1);
  g_thread_join (watchdog_thread);
  counter_clear (&watchdog.called_off);
  assert_false (watchdog.fired);
  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.depth, 7);
  assert_int_equal (stats.peak, 7);
  assert_int_equal (stats.overcommitted, 3);
  assert_int_equal (stats.blocked, 0);
  assert_int_equal (stats.dropped, 0);

  assert_true (iterate_until (context, dispatched_at_least, GUINT_TO_POINTER (7)));
  assert_dispatched_range (0, 7);

  evb_inbox_free (inbox);
  recorder_clear ();
}

typedef struct {
  EvbInbox *inbox;
  guint pushed;
} ConsumerPusher;

static gpointer
consumer_pusher_run (gpointer data)
{
  ConsumerPusher *pusher = data;

  evb_inbox_set_consumer (pusher->inbox, g_thread_self ());
  for (guint seq = 0; seq < 6; seq++)
    if (evb_inbox_push (pusher->inbox, item_new (0, seq), NULL))
      pusher->pushed++;
  return NULL;
}

/* evb_inbox_set_consumer() moves the exception to the named thread. */
static void
test_inbox_block_set_consumer (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  ConsumerPusher pusher;
  GThread *thread;
  EvbInboxStats stats;

  recorder_reset ();
  pusher.inbox = evb_inbox_new (context, "test inbox", 2, EVB_OVERFLOW_BLOCK, 16, record_dispatch, record_free,
                                NULL);
  pusher.pushed = 0;
  thread = g_thread_new ("consumer-pusher", consumer_pusher_run, &pusher);
  g_thread_join (thread);
  assert_int_equal (pusher.pushed, 6);
  evb_inbox_get_stats (pusher.inbox, &stats);
  assert_int_equal (stats.overcommitted, 4);
  assert_int_equal (stats.blocked, 0);
  assert_int_equal (stats.depth, 6);
  evb_inbox_free (pusher.inbox);
  assert_int_equal (n_freed (), 6);
  recorder_clear ();
}

typedef struct {
  EvbInbox *inbox;
  gboolean pushed;
  char *message;
} ShutdownPusher;

static gpointer
shutdown_pusher_run (gpointer data)
{
  ShutdownPusher *pusher = data;
  g_autoptr (GError) error = NULL;

  pusher->pushed = evb_inbox_push (pusher->inbox, item_new (1, 0), &error);
  if (error != NULL)
    pusher->message = g_strdup (error->message);
  return NULL;
}

/* After evb_inbox_stop_blocking() (shutdown) producers are admitted past
 * the limit, not parked, up to the same overcommit bound; one refused
 * there is told what fits a producer, not a sync handler's advice. */
static void
test_inbox_stop_blocking_bounded (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  ShutdownPusher pusher = { 0 };
  GThread *thread;
  EvbInboxStats stats;

  recorder_reset ();
  pusher.inbox = evb_inbox_new (context, "test inbox", 2, EVB_OVERFLOW_BLOCK, 16, record_dispatch, record_free,
                                NULL);
  evb_inbox_set_overcommit_limit (pusher.inbox, 1);
  for (guint seq = 0; seq < 3; seq++) /* this thread is the consumer: 2, then 1 past the limit */
    assert_true (evb_inbox_push (pusher.inbox, item_new (0, seq), NULL));
  evb_inbox_stop_blocking (pusher.inbox);
  thread = g_thread_new ("shutdown-pusher", shutdown_pusher_run, &pusher);
  g_thread_join (thread);
  assert_false (pusher.pushed);
  assert_string_equal (pusher.message, "inbox full (2 events, and 1 more admitted past the limit, "
                                       "host.inbox_overcommit): event refused; the host is shutting down: a "
                                       "source should stop emitting when its plugin is stopped");
  g_free (pusher.message);
  evb_inbox_get_stats (pusher.inbox, &stats);
  assert_int_equal (stats.depth, 3);
  assert_int_equal (stats.overcommit_refused, 1);
  assert_int_equal (stats.dropped, 1);
  assert_int_equal (stats.blocked, 0);
  evb_inbox_free (pusher.inbox);
  assert_int_equal (n_freed (), 3); /* the refused item stays with its producer */
  recorder_clear ();
}

/* Several producers flood a small inbox under each policy while the loop
 * drains.  Every item pushed is accounted for exactly once: dispatched,
 * refused back to its producer (reject) or freed as dropped (drop-oldest);
 * the inbox's "dropped" counter equals the losses; each producer's
 * dispatched items keep their order.
 *
 * The consumer starts only once overflow is certain (every producer past
 * PRIMED pushes, or for "block" every producer waiting), so each run
 * exercises its policy rather than depending on thread timing. */
enum { FLOOD_PRODUCERS = 4, FLOOD_PER_PRODUCER = 5000, FLOOD_LIMIT = 64, PRIMED = 100 };

typedef struct {
  EvbInbox *inbox;
  Counter *finished;
} FloodState;

static gboolean
flood_done (gpointer user_data)
{
  FloodState *flood = user_data;

  return counter_get (flood->finished) == FLOOD_PRODUCERS && evb_inbox_depth (flood->inbox) == 0;
}

static gboolean
all_producers_blocked (gpointer user_data)
{
  EvbInboxStats stats;

  evb_inbox_get_stats (user_data, &stats);
  return stats.blocked >= FLOOD_PRODUCERS;
}

static void
run_flood (EvbOverflowPolicy policy)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autofree guint8 *seen = g_new0 (guint8, FLOOD_PRODUCERS * FLOOD_PER_PRODUCER);
  Producer producers[FLOOD_PRODUCERS];
  GThread *threads[FLOOD_PRODUCERS];
  Counter primed;
  Counter finished;
  FloodState flood;
  EvbInboxStats stats;
  guint refused = 0;
  guint attempts = FLOOD_PRODUCERS * FLOOD_PER_PRODUCER;

  recorder_reset ();
  counter_init (&primed);
  counter_init (&finished);
  flood.inbox = evb_inbox_new (context, "test inbox", FLOOD_LIMIT, policy, 16, record_dispatch, record_free, NULL);
  flood.finished = &finished;
  for (guint p = 0; p < FLOOD_PRODUCERS; p++)
    {
      producer_init (&producers[p], flood.inbox, p, FLOOD_PER_PRODUCER);
      producers[p].report_after = PRIMED;
      producers[p].progress = &primed;
      producers[p].finished = &finished;
      producers[p].wake = context;
      threads[p] = producer_start (&producers[p]);
    }
  if (policy == EVB_OVERFLOW_BLOCK)
    assert_true (spin_until (all_producers_blocked, flood.inbox));
  else
    assert_true (counter_wait (&primed, FLOOD_PRODUCERS));

  assert_true (iterate_until (context, flood_done, &flood));
  for (guint p = 0; p < FLOOD_PRODUCERS; p++)
    {
      g_thread_join (threads[p]);
      assert_int_equal (producers[p].accepted + producers[p].refused->len, FLOOD_PER_PRODUCER);
      refused += producers[p].refused->len;
      for (guint i = 0; i < producers[p].refused->len; i++)
        {
          guint item = g_array_index (producers[p].refused, guint, i);

          assert_int_equal (seen[item_producer (item) * FLOOD_PER_PRODUCER + item_seq (item)]++, 0);
        }
      if (policy == EVB_OVERFLOW_REJECT)
        {
          assert_true (g_error_matches (producers[p].first_error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL));
        }
      else
        assert_null (producers[p].first_error);
    }
  for (guint i = 0; i < recorder.dispatched->len; i++)
    assert_int_equal (seen[item_producer (dispatched_at (i)) * FLOOD_PER_PRODUCER + item_seq (dispatched_at (i))]++,
                      0);
  for (guint i = 0; i < recorder.freed->len; i++)
    {
      guint item = g_array_index (recorder.freed, guint, i);

      assert_int_equal (seen[item_producer (item) * FLOOD_PER_PRODUCER + item_seq (item)]++, 0);
    }
  /* Each item exactly once: none lost, none twice. */
  for (guint i = 0; i < attempts; i++)
    assert_int_equal (seen[i], 1);
  assert_per_producer_order (recorder.dispatched, FLOOD_PRODUCERS);

  evb_inbox_get_stats (flood.inbox, &stats);
  assert_int_equal (recorder.dispatched->len + refused + recorder.freed->len, attempts);
  assert_int_equal (stats.depth, 0);
  switch (policy)
    {
    case EVB_OVERFLOW_BLOCK:
      assert_int_equal (recorder.dispatched->len, attempts);
      assert_int_equal (stats.dropped, 0);
      assert_int_equal (stats.peak, FLOOD_LIMIT);
      assert_true (stats.blocked >= FLOOD_PRODUCERS);
      break;
    case EVB_OVERFLOW_REJECT:
      assert_int_equal (recorder.freed->len, 0);
      assert_int_equal (stats.dropped, refused);
      /* At least all primed pushes beyond the limit were refused. */
      assert_true (refused >= FLOOD_PRODUCERS * PRIMED - FLOOD_LIMIT);
      break;
    case EVB_OVERFLOW_DROP_OLDEST:
      assert_int_equal (refused, 0);
      assert_int_equal (stats.dropped, recorder.freed->len);
      assert_true (recorder.freed->len >= FLOOD_PRODUCERS * PRIMED - FLOOD_LIMIT);
      break;
    }
  assert_int_equal (stats.pushed, attempts - refused);
  assert_int_equal (stats.overcommitted, 0);

  for (guint p = 0; p < FLOOD_PRODUCERS; p++)
    producer_clear (&producers[p]);
  evb_inbox_free (flood.inbox);
  counter_clear (&primed);
  counter_clear (&finished);
  recorder_clear ();
}

static void
test_inbox_flood_block (void **state)
{
  run_flood (EVB_OVERFLOW_BLOCK);
}

static void
test_inbox_flood_reject (void **state)
{
  run_flood (EVB_OVERFLOW_REJECT);
}

static void
test_inbox_flood_drop_oldest (void **state)
{
  run_flood (EVB_OVERFLOW_DROP_OLDEST);
}

/* ---------------------------------------------------------------- closing */

/* After close every push fails with SHUT_DOWN under every policy, even
 * below the limit and from the consumer; the caller keeps the item and
 * what was queued before stays queued. */
static void
test_inbox_close_refuses (void **state)
{
  static const EvbOverflowPolicy policies[] = { EVB_OVERFLOW_BLOCK, EVB_OVERFLOW_REJECT, EVB_OVERFLOW_DROP_OLDEST };
  g_autoptr (GMainContext) context = g_main_context_new ();

  for (guint i = 0; i < G_N_ELEMENTS (policies); i++)
    {
      g_autoptr (GError) error = NULL;
      EvbInbox *inbox;
      EvbInboxStats stats;
      Producer producer;
      GThread *thread;

      recorder_reset ();
      inbox = evb_inbox_new (context, "test inbox", 2, policies[i], 16, record_dispatch, record_free, NULL);
      assert_true (evb_inbox_push (inbox, item_new (0, 0), NULL));
      evb_inbox_close (inbox);

      assert_false (evb_inbox_push (inbox, item_new (0, 1), &error));
      assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN));
      assert_string_equal (error->message, SHUT_DOWN_MESSAGE);

      /* From another thread, and past the limit: still SHUT_DOWN, not
       * INBOX_FULL, and never a wait. */
      assert_true (evb_inbox_depth (inbox) < 2);
      producer_init (&producer, inbox, 1, 3);
      thread = producer_start (&producer);
      g_thread_join (thread);
      assert_int_equal (producer.accepted, 0);
      assert_int_equal (producer.refused->len, 3);
      assert_true (g_error_matches (producer.first_error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN));
      assert_string_equal (producer.first_error->message, SHUT_DOWN_MESSAGE);

      evb_inbox_get_stats (inbox, &stats);
      assert_int_equal (stats.pushed, 1);
      assert_int_equal (stats.depth, 1);
      assert_int_equal (stats.dropped, 0);
      assert_int_equal (n_freed (), 0);

      /* What was queued before the close is still handed out. */
      assert_int_equal (evb_inbox_drain_slice (inbox), 1);
      assert_dispatched_range (0, 1);

      producer_clear (&producer);
      evb_inbox_free (inbox);
      assert_int_equal (n_freed (), 0);
      recorder_clear ();
    }
}

/* A producer blocked on a full "block" inbox is released by close, with
 * SHUT_DOWN, and keeps its item. */
static void
test_inbox_close_releases_blocked_producer (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  EvbInbox *inbox;
  Producer producer;
  GThread *thread;
  EvbInboxStats stats;

  recorder_reset ();
  inbox = evb_inbox_new (context, "test inbox", 2, EVB_OVERFLOW_BLOCK, 16, record_dispatch, record_free, NULL);
  producer_init (&producer, inbox, 0, 4);
  thread = producer_start (&producer);
  assert_true (spin_until (inbox_has_blocked, inbox));

  evb_inbox_close (inbox);
  g_thread_join (thread);

  /* Items 0 and 1 went in; item 2 was waiting and is refused; item 3 is
   * refused at once. */
  assert_int_equal (producer.accepted, 2);
  assert_int_equal (producer.refused->len, 2);
  assert_int_equal (g_array_index (producer.refused, guint, 0), GPOINTER_TO_UINT (item_new (0, 2)));
  assert_int_equal (g_array_index (producer.refused, guint, 1), GPOINTER_TO_UINT (item_new (0, 3)));
  assert_true (g_error_matches (producer.first_error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN));
  assert_string_equal (producer.first_error->message, SHUT_DOWN_MESSAGE);

  evb_inbox_get_stats (inbox, &stats);
  assert_int_equal (stats.pushed, 2);
  assert_int_equal (stats.blocked, 1);
  assert_int_equal (stats.depth, 2);
  assert_int_equal (recorder.dispatched->len, 0);

  producer_clear (&producer);
  evb_inbox_free (inbox);
  /* The two queued items are freed with the inbox, not before. */
  assert_int_equal (recorder.freed->len, 2);
  assert_int_equal (g_array_index (recorder.freed, guint, 0), GPOINTER_TO_UINT (item_new (0, 0)));
  assert_int_equal (g_array_index (recorder.freed, guint, 1), GPOINTER_TO_UINT (item_new (0, 1)));
  recorder_clear ();
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_inbox_fifo_and_slices),
    cmocka_unit_test (test_inbox_slice_clamped),
    cmocka_unit_test (test_inbox_free_frees_leftovers),
    cmocka_unit_test (test_inbox_wakeup_once_per_batch),
    cmocka_unit_test (test_inbox_push_wakes_blocked_loop),
    cmocka_unit_test (test_inbox_wakeups_while_draining),
    cmocka_unit_test (test_inbox_per_producer_fifo),
    cmocka_unit_test (test_inbox_slices_let_other_sources_run),
    cmocka_unit_test (test_inbox_nested_drain_keeps_order),
    cmocka_unit_test (test_inbox_reject),
    cmocka_unit_test (test_inbox_drop_oldest),
    cmocka_unit_test (test_inbox_block_waits_for_room),
    cmocka_unit_test (test_inbox_block_consumer_overcommits),
    cmocka_unit_test (test_inbox_block_set_consumer),
    cmocka_unit_test (test_inbox_stop_blocking_bounded),
    cmocka_unit_test (test_inbox_flood_block),
    cmocka_unit_test (test_inbox_flood_reject),
    cmocka_unit_test (test_inbox_flood_drop_oldest),
    cmocka_unit_test (test_inbox_close_refuses),
    cmocka_unit_test (test_inbox_close_releases_blocked_producer),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
