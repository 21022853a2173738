/* Tests for DESIGN.md "Threads and emission" through the bus: evb_bus_emit()
 * and evb_plugin_emit() never run handlers inline, wake the loop once per
 * batch, keep each producer's order, are dispatched in bounded slices, obey
 * the overflow policy with every loss counted, refuse events once the bus
 * shuts down, and validate what they are given.
 *
 * Most tests drive an EvbBus on a private GMainContext with a host route
 * that records every "test.>" event; the plugin tests go through the
 * harness as a plugin author would.  Nothing sleeps to wait for work. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "bus.h"
#include "event.h"
#include "evbus/harness.h"

/* Generous: a wait that runs out is a failure, never a pass. */
#define WAIT_MS 30000

#include "test-util.h"

#define SHUT_DOWN_MESSAGE "the bus is shutting down: event refused"

/* ---------------------------------------------------------------- fixture */

typedef struct _Fixture Fixture;
typedef gboolean (*FixtureCondition) (Fixture *fixture, gpointer user_data);

struct _Fixture {
  GMainContext *context;
  EvbBus *bus;
  GThread *main_thread;
  GPtrArray *received;  /* EvbEvent refs in handler order; main thread */
  gboolean ran_off_main;
  gboolean inline_run;  /* a handler ran while an emit was in progress */
  gint emitting;        /* atomic: an emit on the main thread is in progress */
  /* Optional hook run by the recording handler after recording. */
  void (*on_event) (Fixture *fixture, const EvbEvent *event);
};

static EvbResult
record_event (EvbCall *call, const EvbEvent *event)
{
  Fixture *fixture = call->route_data;

  if (g_thread_self () != fixture->main_thread)
    fixture->ran_off_main = TRUE;
  if (g_atomic_int_get (&fixture->emitting))
    fixture->inline_run = TRUE;
  g_ptr_array_add (fixture->received, evb_event_ref (event));
  if (fixture->on_event != NULL)
    fixture->on_event (fixture, event);
  return EVB_CONTINUE;
}

/* A bus on its own context with @settings and one sync host route
 * recording "test.>". */
static Fixture *
fixture_new_with_settings (const EvbBusSettings *settings)
{
  Fixture *fixture = g_new0 (Fixture, 1);
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;

  fixture->context = g_main_context_new ();
  fixture->main_thread = g_thread_self ();
  fixture->bus = evb_bus_new (settings, fixture->context);
  fixture->received = g_ptr_array_new_with_free_func ((GDestroyNotify) evb_event_unref);
  spec.pattern = "test.>";
  spec.handler = "record";
  spec.func = record_event;
  spec.user_data = fixture;
  g_assert_cmpuint (evb_bus_add_route (fixture->bus, NULL, &spec, NULL, &error), !=, 0);
  g_assert_no_error (error);
  return fixture;
}

/* The same with 2 workers, other settings default unless given (0 keeps
 * the default). */
static Fixture *
fixture_new_with (guint inbox_limit, EvbOverflowPolicy overflow, guint slice_events)
{
  EvbBusSettings settings;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  if (inbox_limit > 0)
    settings.inbox_limit = inbox_limit;
  settings.overflow = overflow;
  if (slice_events > 0)
    settings.slice_events = slice_events;
  return fixture_new_with_settings (&settings);
}

static Fixture *
fixture_new (void)
{
  return fixture_new_with (0, EVB_OVERFLOW_BLOCK, 0);
}

static void
fixture_free (Fixture *fixture)
{
  evb_bus_free (fixture->bus);
  g_ptr_array_unref (fixture->received);
  while (g_main_context_iteration (fixture->context, FALSE))
    ;
  g_main_context_unref (fixture->context);
  g_free (fixture);
}

/* Iterates the bus's context until @done holds; FALSE once WAIT_MS ran
 * out.  The tick bounds each blocking iteration so that a condition other
 * threads change without waking the loop is still seen. */
static gboolean
fixture_iterate_until (Fixture *fixture, FixtureCondition done, gpointer user_data)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;
  GSource *tick = g_timeout_source_new (10);
  gboolean reached;

  g_source_set_callback (tick, keep_ticking, NULL, NULL);
  g_source_attach (tick, fixture->context);
  while (!(reached = done (fixture, user_data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (fixture->context, TRUE);
  g_source_destroy (tick);
  g_source_unref (tick);
  return reached;
}

static gboolean
bus_idle (Fixture *fixture, gpointer user_data)
{
  return evb_bus_is_idle (fixture->bus);
}

static gboolean
received_at_least (Fixture *fixture, gpointer user_data)
{
  return fixture->received->len >= GPOINTER_TO_UINT (user_data);
}

static gboolean
fixture_run_until_idle (Fixture *fixture)
{
  return fixture_iterate_until (fixture, bus_idle, NULL);
}

/* Waits without iterating until the inbox has made a producer wait: a
 * state with no signal of its own.  FALSE once WAIT_MS ran out. */
static gint64 fixture_stat (Fixture *fixture, const char *name);

static gboolean
fixture_spin_until_blocked (Fixture *fixture, gint64 blocked)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;

  while (fixture_stat (fixture, "blocked") < blocked)
    {
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_thread_yield ();
    }
  return TRUE;
}

/* A number from the "bus" object of the stats snapshot. */
static gint64
fixture_stat (Fixture *fixture, const char *name)
{
  json_t *stats = evb_bus_stats (fixture->bus);
  json_t *value = json_object_get (json_object_get (stats, "bus"), name);
  gint64 number;

  g_assert_true (json_is_integer (value));
  number = json_integer_value (value);
  json_decref (stats);
  return number;
}

static const EvbEvent *
received_at (Fixture *fixture, guint index)
{
  return g_ptr_array_index (fixture->received, index);
}

static gint64
event_int (const EvbEvent *event, const char *key)
{
  json_t *value = json_object_get (event->data, key);

  g_assert_true (json_is_integer (value));
  return json_integer_value (value);
}

/* Emits "test.seq" {"producer": @producer, "seq": @seq} from "producer-N". */
static gboolean
emit_seq (EvbBus *bus, guint producer, guint seq, GError **error)
{
  char source[32];

  g_snprintf (source, sizeof source, "producer-%u", producer);
  return evb_bus_emit (bus, "test.seq", source, json_pack ("{s:i, s:i}", "producer", producer, "seq", seq), error);
}

/* Emits from the main thread, noting that an emit is in progress so that a
 * handler run inline would be caught. */
static gboolean
fixture_emit_seq (Fixture *fixture, guint seq, GError **error)
{
  gboolean ok;

  g_atomic_int_set (&fixture->emitting, 1);
  ok = emit_seq (fixture->bus, 0, seq, error);
  g_atomic_int_set (&fixture->emitting, 0);
  return ok;
}

/* The received "test.seq" events are producer 0's @first .. @first+@count-1
 * in order. */
static void
assert_received_range (Fixture *fixture, guint first, guint count)
{
  assert_int_equal (fixture->received->len, count);
  for (guint i = 0; i < count; i++)
    {
      assert_string_equal (received_at (fixture, i)->type, "test.seq");
      assert_int_equal (event_int (received_at (fixture, i), "producer"), 0);
      assert_int_equal (event_int (received_at (fixture, i), "seq"), first + i);
    }
}

/* Every producer's events arrive with strictly increasing seq and id, and
 * from the source it gave. */
static void
assert_per_producer_order (Fixture *fixture, guint n_producers)
{
  g_autofree gint64 *last_seq = g_new (gint64, n_producers);
  g_autofree guint64 *last_id = g_new0 (guint64, n_producers);

  for (guint p = 0; p < n_producers; p++)
    last_seq[p] = -1;
  for (guint i = 0; i < fixture->received->len; i++)
    {
      const EvbEvent *event = received_at (fixture, i);
      gint64 producer = event_int (event, "producer");
      gint64 seq = event_int (event, "seq");
      g_autofree char *source = g_strdup_printf ("producer-%" G_GINT64_FORMAT, producer);

      assert_true (producer >= 0 && producer < n_producers);
      assert_string_equal (event->source, source);
      assert_true (seq > last_seq[producer]);
      assert_true (event->id > last_id[producer]);
      last_seq[producer] = seq;
      last_id[producer] = event->id;
    }
}

/* --------------------------------------------------------------- emitters */

/* A thread emitting "test.seq" (producer, 0 .. count-1) in order. */
typedef struct {
  EvbBus *bus;
  guint producer;
  guint count;
  Counter *start;     /* waited for (non-zero) before the first emit; or NULL */
  guint report_after; /* bumps @progress once after this many emits (0: never) */
  Counter *progress;
  Counter *finished;  /* bumped when done; or NULL */
  GMainContext *wake; /* woken when done; or NULL */
  /* Results. */
  guint accepted;
  GArray *refused;    /* guint seq of refused emits */
  GError *first_error;
} Emitter;

static void
emitter_init (Emitter *emitter, EvbBus *bus, guint producer, guint count)
{
  memset (emitter, 0, sizeof *emitter);
  emitter->bus = bus;
  emitter->producer = producer;
  emitter->count = count;
  emitter->refused = g_array_new (FALSE, FALSE, sizeof (guint));
}

static void
emitter_clear (Emitter *emitter)
{
  g_array_unref (emitter->refused);
  g_clear_error (&emitter->first_error);
}

static gpointer
emitter_run (gpointer data)
{
  Emitter *emitter = data;

  if (emitter->start != NULL)
    counter_wait (emitter->start, 1);
  for (guint seq = 0; seq < emitter->count; seq++)
    {
      g_autoptr (GError) error = NULL;

      if (emit_seq (emitter->bus, emitter->producer, seq, &error))
        emitter->accepted++;
      else
        {
          g_array_append_val (emitter->refused, seq);
          if (emitter->first_error == NULL)
            emitter->first_error = g_steal_pointer (&error);
        }
      if (emitter->progress != NULL && seq + 1 == emitter->report_after)
        counter_add (emitter->progress, 1);
    }
  if (emitter->finished != NULL)
    counter_add (emitter->finished, 1);
  if (emitter->wake != NULL)
    g_main_context_wakeup (emitter->wake);
  return NULL;
}

static GThread *
emitter_start (Emitter *emitter)
{
  return g_thread_new ("emitter", emitter_run, emitter);
}

/* ------------------------------------------------------ never inline */

/* A sync handler does not run until the loop iterates. */
static void
test_emit_never_runs_inline (void **state)
{
  Fixture *fixture = fixture_new ();
  g_autoptr (GError) error = NULL;
  EvbBusTotals totals;

  assert_true (fixture_emit_seq (fixture, 0, &error));
  assert_null (error);
  assert_int_equal (fixture->received->len, 0);
  evb_bus_get_totals (fixture->bus, &totals);
  assert_int_equal (totals.emitted, 1);
  assert_int_equal (totals.dispatched, 0);
  assert_int_equal (totals.inbox_depth, 1);

  assert_true (fixture_run_until_idle (fixture));
  assert_received_range (fixture, 0, 1);
  assert_false (fixture->inline_run);
  assert_false (fixture->ran_off_main);
  evb_bus_get_totals (fixture->bus, &totals);
  assert_int_equal (totals.dispatched, 1);
  fixture_free (fixture);
}

/* Emitting from inside a handler does not run the handlers of the new event
 * before the emitting one returns: they run after it, in emission order. */
static guint received_when_emit_returned;

static void
emit_children (Fixture *fixture, const EvbEvent *event)
{
  if (strcmp (event->type, "test.parent") != 0)
    return;
  for (guint i = 0; i < 3; i++)
    g_assert_true (evb_bus_emit (fixture->bus, "test.child", "host", json_pack ("{s:i}", "n", i), NULL));
  received_when_emit_returned = fixture->received->len;
}

static void
test_emit_from_handler_not_inline (void **state)
{
  Fixture *fixture = fixture_new ();

  fixture->on_event = emit_children;
  received_when_emit_returned = 0;
  assert_true (evb_bus_emit (fixture->bus, "test.parent", NULL, NULL, NULL));
  assert_true (fixture_run_until_idle (fixture));

  /* Only the parent itself had been received when the emits returned. */
  assert_int_equal (received_when_emit_returned, 1);
  assert_int_equal (fixture->received->len, 4);
  assert_string_equal (received_at (fixture, 0)->type, "test.parent");
  for (guint i = 0; i < 3; i++)
    {
      assert_string_equal (received_at (fixture, i + 1)->type, "test.child");
      assert_int_equal (event_int (received_at (fixture, i + 1), "n"), i);
    }
  fixture_free (fixture);
}

/* --------------------------------------------------------------- wake-ups */

/* 1000 events from another thread while the loop is not iterating cost one
 * wake-up, as bus.wakeups in the stats snapshot shows. */
static void
test_emit_wakeup_once_per_batch (void **state)
{
  Fixture *fixture = fixture_new ();
  Emitter emitter;
  GThread *thread;

  emitter_init (&emitter, fixture->bus, 0, 1000);
  thread = emitter_start (&emitter);
  g_thread_join (thread);
  assert_int_equal (emitter.accepted, 1000);

  assert_int_equal (fixture_stat (fixture, "wakeups"), 1);
  assert_int_equal (fixture_stat (fixture, "emitted"), 1000);
  assert_int_equal (fixture_stat (fixture, "inbox_depth"), 1000);
  assert_int_equal (fixture->received->len, 0);

  assert_true (fixture_run_until_idle (fixture));
  assert_received_range (fixture, 0, 1000);
  assert_int_equal (fixture_stat (fixture, "dispatched"), 1000);
  assert_int_equal (fixture_stat (fixture, "wakeups"), 1);
  assert_false (fixture->ran_off_main);

  emitter_clear (&emitter);
  fixture_free (fixture);
}

/* The loop drains while a thread emits BATCHES batches of BATCH_SIZE.  The
 * thread starts a batch once the previous one has been handled (so its
 * first emit finds the inbox empty: one wake-up), and the handler of a
 * batch's first event waits until the whole batch is queued.  The loop can
 * therefore empty the inbox at most once within a batch (having taken the
 * first events before the rest came): 1 or 2 wake-ups per batch, so
 * BATCHES <= wakeups <= 2 * BATCHES for BATCHES * BATCH_SIZE events.  A
 * wake-up per event would be 10,000. */
#define BATCHES 10
#define BATCH_SIZE 1000

static Counter batch_handled;
static Counter batch_queued;
static gboolean batch_timed_out;

static void
batch_gate (Fixture *fixture, const EvbEvent *event)
{
  guint seq = (guint) event_int (event, "seq");

  if (seq % BATCH_SIZE == 0 && !counter_wait (&batch_queued, seq / BATCH_SIZE + 1))
    batch_timed_out = TRUE;
  counter_add (&batch_handled, 1);
}

static gpointer
batch_emitter_run (gpointer data)
{
  EvbBus *bus = data;

  for (guint batch = 0; batch < BATCHES; batch++)
    {
      if (!counter_wait (&batch_handled, batch * BATCH_SIZE))
        return NULL;
      for (guint i = 0; i < BATCH_SIZE; i++)
        g_assert_true (emit_seq (bus, 0, batch * BATCH_SIZE + i, NULL));
      counter_set (&batch_queued, batch + 1);
    }
  return NULL;
}

static void
test_emit_wakeups_while_draining (void **state)
{
  Fixture *fixture = fixture_new ();
  GThread *thread;
  gint64 wakeups;

  counter_init (&batch_handled);
  counter_init (&batch_queued);
  batch_timed_out = FALSE;
  fixture->on_event = batch_gate;

  thread = g_thread_new ("batch-emitter", batch_emitter_run, fixture->bus);
  assert_true (fixture_iterate_until (fixture, received_at_least, GUINT_TO_POINTER (BATCHES * BATCH_SIZE)));
  g_thread_join (thread);

  assert_false (batch_timed_out);
  assert_received_range (fixture, 0, BATCHES * BATCH_SIZE);
  wakeups = fixture_stat (fixture, "wakeups");
  assert_in_range (wakeups, BATCHES, 2 * BATCHES);

  fixture_free (fixture);
  counter_clear (&batch_handled);
  counter_clear (&batch_queued);
}

/* ------------------------------------------------------ per-producer FIFO */

/* 4 threads emit 2000 events each at once: all 8000 arrive, each
 * producer's in the order it emitted them, with unique ids. */
static void
test_emit_per_producer_fifo (void **state)
{
  enum { N_PRODUCERS = 4, PER_PRODUCER = 2000 };
  Fixture *fixture = fixture_new ();
  Emitter emitters[N_PRODUCERS];
  GThread *threads[N_PRODUCERS];
  Counter start;
  g_autoptr (GHashTable) ids = g_hash_table_new (g_int64_hash, g_int64_equal);

  counter_init (&start);
  for (guint p = 0; p < N_PRODUCERS; p++)
    {
      emitter_init (&emitters[p], fixture->bus, p, PER_PRODUCER);
      emitters[p].start = &start;
      threads[p] = emitter_start (&emitters[p]);
    }
  counter_set (&start, 1);
  assert_true (fixture_iterate_until (fixture, received_at_least, GUINT_TO_POINTER (N_PRODUCERS * PER_PRODUCER)));
  for (guint p = 0; p < N_PRODUCERS; p++)
    {
      g_thread_join (threads[p]);
      assert_int_equal (emitters[p].accepted, PER_PRODUCER);
      emitter_clear (&emitters[p]);
    }
  assert_true (fixture_run_until_idle (fixture));

  assert_int_equal (fixture->received->len, N_PRODUCERS * PER_PRODUCER);
  assert_per_producer_order (fixture, N_PRODUCERS);
  for (guint i = 0; i < fixture->received->len; i++)
    {
      const EvbEvent *event = received_at (fixture, i);

      assert_true (event->id != 0);
      assert_true (g_hash_table_add (ids, (gpointer) &event->id));
    }
  assert_false (fixture->ran_off_main);
  assert_int_equal (fixture_stat (fixture, "dispatched"), N_PRODUCERS * PER_PRODUCER);
  assert_int_equal (fixture_stat (fixture, "dropped"), 0);

  counter_clear (&start);
  g_hash_table_remove_all (ids); /* keys point into events freed below */
  fixture_free (fixture);
}

/* ---------------------------------------------------------- bounded slices */

typedef struct {
  Fixture *fixture;
  gint received_at_first_run; /* -1: not run yet */
  guint runs_while_queued;
} IdleProbe;

static gboolean
idle_probe_run (gpointer user_data)
{
  IdleProbe *probe = user_data;
  EvbBusTotals totals;

  if (probe->received_at_first_run < 0)
    probe->received_at_first_run = (gint) probe->fixture->received->len;
  evb_bus_get_totals (probe->fixture->bus, &totals);
  if (totals.inbox_depth > 0)
    probe->runs_while_queued++;
  return G_SOURCE_CONTINUE;
}

/* slice_events = 16 and 10,000 queued events: an idle source of the same
 * priority as the inbox runs after the first slice and after every slice. */
static void
test_emit_slices_let_other_sources_run (void **state)
{
  enum { QUEUED = 10000, SLICE = 16 };
  Fixture *fixture = fixture_new_with (0, EVB_OVERFLOW_BLOCK, SLICE);
  IdleProbe probe = { fixture, -1, 0 };
  GSource *idle;
  guint iterations = 0;
  EvbBusTotals totals;

  for (guint seq = 0; seq < QUEUED; seq++)
    assert_true (emit_seq (fixture->bus, 0, seq, NULL));
  idle = g_idle_source_new ();
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, idle_probe_run, &probe, NULL);
  g_source_attach (idle, fixture->context);

  do
    g_main_context_iteration (fixture->context, FALSE);
  while (++iterations < QUEUED && (evb_bus_get_totals (fixture->bus, &totals), totals.inbox_depth > 0));

  assert_received_range (fixture, 0, QUEUED);
  assert_int_equal (probe.received_at_first_run, SLICE);
  assert_int_equal (iterations, QUEUED / SLICE);
  assert_int_equal (probe.runs_while_queued, QUEUED / SLICE - 1);

  g_source_destroy (idle);
  g_source_unref (idle);
  fixture_free (fixture);
}

/* -------------------------------------------------------------- overflow */

#define REJECT_MESSAGE_4 \
  "inbox full (4 events): event rejected; raise host.inbox_limit or choose another overflow policy"

/* "reject", limit 4: of 10 emits from a thread, 6 fail with INBOX_FULL and
 * are counted as dropped; once the loop drains, emits succeed again. */
static void
test_emit_overflow_reject (void **state)
{
  Fixture *fixture = fixture_new_with (4, EVB_OVERFLOW_REJECT, 0);
  g_autofree char *summary = NULL;
  Emitter emitter;
  GThread *thread;
  EvbBusTotals totals;

  emitter_init (&emitter, fixture->bus, 0, 10);
  thread = emitter_start (&emitter);
  g_thread_join (thread);

  assert_int_equal (emitter.accepted, 4);
  assert_int_equal (emitter.refused->len, 6);
  for (guint i = 0; i < 6; i++)
    assert_int_equal (g_array_index (emitter.refused, guint, i), 4 + i);
  assert_true (g_error_matches (emitter.first_error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL));
  assert_string_equal (emitter.first_error->message, REJECT_MESSAGE_4);
  assert_int_equal (fixture_stat (fixture, "dropped"), 6);
  assert_int_equal (fixture_stat (fixture, "emitted"), 4);
  assert_int_equal (fixture_stat (fixture, "inbox_peak"), 4);

  assert_true (fixture_run_until_idle (fixture));
  assert_received_range (fixture, 0, 4);

  /* Room again: the same thread's next emit goes through. */
  emitter_clear (&emitter);
  emitter_init (&emitter, fixture->bus, 0, 1);
  thread = emitter_start (&emitter);
  g_thread_join (thread);
  assert_int_equal (emitter.accepted, 1);
  assert_null (emitter.first_error);
  assert_true (fixture_run_until_idle (fixture));
  assert_int_equal (fixture->received->len, 5);

  evb_bus_get_totals (fixture->bus, &totals);
  assert_int_equal (totals.emitted, 5);
  assert_int_equal (totals.dispatched, 5);
  assert_int_equal (totals.dropped, 6);
  summary = evb_bus_summary (fixture->bus);
  assert_string_equal (summary,
                       "dispatched 5 events, dropped 6, unhandled 0; jobs: 0 completed, 0 failed, 0 cancelled");

  emitter_clear (&emitter);
  fixture_free (fixture);
}

/* "drop-oldest", limit 4: of 10 emits the 4 newest are dispatched, in
 * order, and the 6 oldest are counted as dropped. */
static void
test_emit_overflow_drop_oldest (void **state)
{
  Fixture *fixture = fixture_new_with (4, EVB_OVERFLOW_DROP_OLDEST, 0);
  g_autofree char *summary = NULL;
  Emitter emitter;
  GThread *thread;

  emitter_init (&emitter, fixture->bus, 0, 10);
  thread = emitter_start (&emitter);
  g_thread_join (thread);
  assert_int_equal (emitter.accepted, 10);
  assert_null (emitter.first_error);
  assert_int_equal (fixture_stat (fixture, "dropped"), 6);
  assert_int_equal (fixture_stat (fixture, "inbox_depth"), 4);

  assert_true (fixture_run_until_idle (fixture));
  assert_received_range (fixture, 6, 4);
  summary = evb_bus_summary (fixture->bus);
  assert_string_equal (summary,
                       "dispatched 4 events, dropped 6, unhandled 0; jobs: 0 completed, 0 failed, 0 cancelled");

  emitter_clear (&emitter);
  fixture_free (fixture);
}

/* "block", limit 4: a thread emitting 100 events waits for the loop to
 * drain (bus.blocked counts it) and all 100 arrive in order. */
static void
test_emit_overflow_block (void **state)
{
  Fixture *fixture = fixture_new_with (4, EVB_OVERFLOW_BLOCK, 0);
  Emitter emitter;
  GThread *thread;

  emitter_init (&emitter, fixture->bus, 0, 100);
  thread = emitter_start (&emitter);
  /* The loop does not run yet: the thread fills 4 slots and waits. */
  assert_true (fixture_spin_until_blocked (fixture, 1));
  assert_int_equal (fixture_stat (fixture, "inbox_depth"), 4);
  assert_int_equal (fixture->received->len, 0);

  assert_true (fixture_iterate_until (fixture, received_at_least, GUINT_TO_POINTER (100)));
  g_thread_join (thread);
  assert_int_equal (emitter.accepted, 100);
  assert_received_range (fixture, 0, 100);
  assert_true (fixture_stat (fixture, "blocked") >= 1);
  assert_int_equal (fixture_stat (fixture, "dropped"), 0);
  assert_int_equal (fixture_stat (fixture, "overcommitted"), 0);
  assert_int_equal (fixture_stat (fixture, "inbox_peak"), 4);

  emitter_clear (&emitter);
  fixture_free (fixture);
}

/* "block", limit 4: the main thread is the consumer; waiting for room would
 * wait for itself.  Its emits are admitted past the limit and counted. */
static void
test_emit_overflow_block_main_thread (void **state)
{
  Fixture *fixture = fixture_new_with (4, EVB_OVERFLOW_BLOCK, 0);
  EvbBusTotals totals;

  for (guint seq = 0; seq < 7; seq++)
    assert_true (fixture_emit_seq (fixture, seq, NULL));
  evb_bus_get_totals (fixture->bus, &totals);
  assert_int_equal (totals.overcommitted, 3);
  assert_int_equal (totals.inbox_depth, 7);
  assert_int_equal (fixture_stat (fixture, "overcommitted"), 3);
  assert_int_equal (fixture_stat (fixture, "blocked"), 0);
  assert_int_equal (fixture_stat (fixture, "dropped"), 0);

  assert_true (fixture_run_until_idle (fixture));
  assert_received_range (fixture, 0, 7);
  assert_false (fixture->inline_run);
  fixture_free (fixture);
}

/* Same from inside a handler, the common case: a sync handler fanning out
 * 10 events into a 4-slot inbox must not deadlock the loop. */
static void
fan_out (Fixture *fixture, const EvbEvent *event)
{
  if (strcmp (event->type, "test.fan") != 0)
    return;
  for (guint seq = 0; seq < 10; seq++)
    g_assert_true (emit_seq (fixture->bus, 0, seq, NULL));
}

static void
test_emit_overflow_block_from_handler (void **state)
{
  Fixture *fixture = fixture_new_with (4, EVB_OVERFLOW_BLOCK, 0);

  fixture->on_event = fan_out;
  assert_true (evb_bus_emit (fixture->bus, "test.fan", NULL, NULL, NULL));
  assert_true (fixture_run_until_idle (fixture));
  /* test.fan was taken out of the inbox before its handler ran: the
   * handler's emits 5 to 10 went past the limit. */
  assert_int_equal (fixture->received->len, 11);
  assert_int_equal (fixture_stat (fixture, "overcommitted"), 6);
  for (guint seq = 0; seq < 10; seq++)
    assert_int_equal (event_int (received_at (fixture, seq + 1), "seq"), seq);
  fixture_free (fixture);
}

/* The main thread's overcommit is bounded (issue 15, finding 7): a sync
 * handler emitting in a loop into a 4-slot inbox with inbox_overcommit 6
 * gets 10 events queued, then every emit fails, each counted as dropped
 * and overcommit_refused; the events queued all run. */
static guint fan_accepted;
static guint fan_refused;
static char *fan_error;

static void
fan_out_forever (Fixture *fixture, const EvbEvent *event)
{
  if (strcmp (event->type, "test.fan") != 0)
    return;
  for (guint seq = 0; seq < 1000; seq++)
    {
      g_autoptr (GError) error = NULL;

      if (emit_seq (fixture->bus, 0, seq, &error))
        fan_accepted++;
      else
        {
          fan_refused++;
          if (fan_error == NULL)
            fan_error = g_strdup (error->message);
        }
    }
}

static void
test_emit_overcommit_bounded (void **state)
{
  EvbBusSettings settings;
  Fixture *fixture;
  EvbBusTotals totals;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  settings.inbox_limit = 4;
  settings.inbox_overcommit = 6;
  fixture = fixture_new_with_settings (&settings);
  fixture->on_event = fan_out_forever;
  fan_accepted = fan_refused = 0;
  assert_true (evb_bus_emit (fixture->bus, "test.fan", NULL, NULL, NULL));
  assert_true (fixture_run_until_idle (fixture));

  assert_int_equal (fan_accepted, 10);
  assert_int_equal (fan_refused, 990);
  assert_string_equal (fan_error, "inbox full (4 events, and 6 more admitted past the limit, "
                                  "host.inbox_overcommit): event refused; emit fewer events per sync handler "
                                  "call (or from an async one), or raise host.inbox_overcommit");
  g_clear_pointer (&fan_error, g_free);
  assert_int_equal (fixture->received->len, 11);
  evb_bus_get_totals (fixture->bus, &totals);
  assert_int_equal (totals.overcommitted, 6);
  assert_int_equal (totals.overcommit_refused, 990);
  assert_int_equal (totals.dropped, 990);
  assert_int_equal (fixture_stat (fixture, "overcommit_refused"), 990);
  assert_int_equal (fixture_stat (fixture, "dropped"), 990);
  fixture_free (fixture);
}

/* inbox_overcommit 0: the main thread never queues past the limit. */
static void
test_emit_overcommit_zero (void **state)
{
  EvbBusSettings settings;
  Fixture *fixture;
  g_autoptr (GError) error = NULL;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  settings.inbox_limit = 4;
  settings.inbox_overcommit = 0;
  fixture = fixture_new_with_settings (&settings);
  for (guint seq = 0; seq < 4; seq++)
    assert_true (fixture_emit_seq (fixture, seq, NULL));
  assert_false (fixture_emit_seq (fixture, 4, &error));
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL));
  assert_true (fixture_run_until_idle (fixture));
  assert_received_range (fixture, 0, 4);
  fixture_free (fixture);
}

/* Several threads flood a 64-slot inbox under each policy while the loop
 * drains.  Every emit is accounted for: dispatched + dropped == attempts,
 * the bus's dropped counter equals the refusals (reject) or the events the
 * loop never saw (drop-oldest), and each producer's order holds.  The loop
 * starts only once overflow is certain, so each run exercises its policy. */
enum { FLOOD_PRODUCERS = 4, FLOOD_PER_PRODUCER = 5000, FLOOD_LIMIT = 64, PRIMED = 100 };

typedef struct {
  Counter *finished;
} FloodGoal;

static gboolean
flood_done (Fixture *fixture, gpointer user_data)
{
  FloodGoal *goal = user_data;

  return counter_get (goal->finished) == FLOOD_PRODUCERS && evb_bus_is_idle (fixture->bus);
}

static void
run_flood (EvbOverflowPolicy policy)
{
  Fixture *fixture = fixture_new_with (FLOOD_LIMIT, policy, 16);
  g_autofree guint8 *seen = g_new0 (guint8, FLOOD_PRODUCERS * FLOOD_PER_PRODUCER);
  Emitter emitters[FLOOD_PRODUCERS];
  GThread *threads[FLOOD_PRODUCERS];
  Counter primed;
  Counter finished;
  FloodGoal goal = { &finished };
  g_autofree char *summary = NULL;
  g_autofree char *expected_summary = NULL;
  EvbBusTotals totals;
  guint attempts = FLOOD_PRODUCERS * FLOOD_PER_PRODUCER;
  guint accepted = 0;
  guint refused = 0;

  counter_init (&primed);
  counter_init (&finished);
  for (guint p = 0; p < FLOOD_PRODUCERS; p++)
    {
      emitter_init (&emitters[p], fixture->bus, p, FLOOD_PER_PRODUCER);
      emitters[p].report_after = PRIMED;
      emitters[p].progress = &primed;
      emitters[p].finished = &finished;
      emitters[p].wake = fixture->context;
      threads[p] = emitter_start (&emitters[p]);
    }
  if (policy == EVB_OVERFLOW_BLOCK)
    assert_true (fixture_spin_until_blocked (fixture, FLOOD_PRODUCERS));
  else
    assert_true (counter_wait (&primed, FLOOD_PRODUCERS));

  assert_true (fixture_iterate_until (fixture, flood_done, &goal));
  for (guint p = 0; p < FLOOD_PRODUCERS; p++)
    {
      g_thread_join (threads[p]);
      assert_int_equal (emitters[p].accepted + emitters[p].refused->len, FLOOD_PER_PRODUCER);
      accepted += emitters[p].accepted;
      refused += emitters[p].refused->len;
      for (guint i = 0; i < emitters[p].refused->len; i++)
        assert_int_equal (seen[p * FLOOD_PER_PRODUCER + g_array_index (emitters[p].refused, guint, i)]++, 0);
      if (policy == EVB_OVERFLOW_REJECT)
        assert_true (g_error_matches (emitters[p].first_error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL));
      else
        assert_null (emitters[p].first_error);
    }
  for (guint i = 0; i < fixture->received->len; i++)
    {
      const EvbEvent *event = received_at (fixture, i);

      assert_int_equal (seen[event_int (event, "producer") * FLOOD_PER_PRODUCER + event_int (event, "seq")]++, 0);
    }
  assert_per_producer_order (fixture, FLOOD_PRODUCERS);

  evb_bus_get_totals (fixture->bus, &totals);
  assert_int_equal (totals.dispatched, fixture->received->len);
  assert_int_equal (totals.dispatched + totals.dropped, attempts);
  assert_int_equal (totals.emitted, accepted);
  assert_int_equal (totals.inbox_depth, 0);
  assert_int_equal (totals.overcommitted, 0);
  switch (policy)
    {
    case EVB_OVERFLOW_BLOCK:
      assert_int_equal (totals.dropped, 0);
      assert_int_equal (totals.inbox_peak, FLOOD_LIMIT);
      for (guint i = 0; i < attempts; i++)
        assert_int_equal (seen[i], 1);
      break;
    case EVB_OVERFLOW_REJECT:
      assert_int_equal (totals.dropped, refused);
      assert_true (refused >= FLOOD_PRODUCERS * PRIMED - FLOOD_LIMIT);
      for (guint i = 0; i < attempts; i++)
        assert_int_equal (seen[i], 1);
      break;
    case EVB_OVERFLOW_DROP_OLDEST:
      assert_int_equal (refused, 0);
      assert_int_equal (totals.emitted, attempts);
      assert_true (totals.dropped >= FLOOD_PRODUCERS * PRIMED - FLOOD_LIMIT);
      break;
    }
  summary = evb_bus_summary (fixture->bus);
  expected_summary = g_strdup_printf ("dispatched %u events, dropped %u, unhandled 0; jobs: 0 completed, 0 failed, "
                                      "0 cancelled", fixture->received->len, attempts - fixture->received->len);
  assert_string_equal (summary, expected_summary);

  for (guint p = 0; p < FLOOD_PRODUCERS; p++)
    emitter_clear (&emitters[p]);
  counter_clear (&primed);
  counter_clear (&finished);
  fixture_free (fixture);
}

static void
test_emit_flood_block (void **state)
{
  run_flood (EVB_OVERFLOW_BLOCK);
}

static void
test_emit_flood_reject (void **state)
{
  run_flood (EVB_OVERFLOW_REJECT);
}

static void
test_emit_flood_drop_oldest (void **state)
{
  run_flood (EVB_OVERFLOW_DROP_OLDEST);
}

/* ---------------------------------------------------------------- closing */

/* Shutdown dispatches what was queued, then every emit fails with
 * SHUT_DOWN, from the main thread and from others. */
static void
test_emit_after_shutdown (void **state)
{
  Fixture *fixture = fixture_new ();
  g_autoptr (GError) error = NULL;
  Emitter emitter;
  GThread *thread;

  assert_true (fixture_emit_seq (fixture, 0, NULL));
  evb_bus_shutdown (fixture->bus, -1);
  assert_received_range (fixture, 0, 1);

  assert_false (evb_bus_emit (fixture->bus, "test.late", NULL, json_pack ("{s:s}", "stolen", "even when refused"),
                              &error));
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN));
  assert_string_equal (error->message, SHUT_DOWN_MESSAGE);

  emitter_init (&emitter, fixture->bus, 0, 3);
  thread = emitter_start (&emitter);
  g_thread_join (thread);
  assert_int_equal (emitter.accepted, 0);
  assert_int_equal (emitter.refused->len, 3);
  assert_true (g_error_matches (emitter.first_error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN));
  assert_string_equal (emitter.first_error->message, SHUT_DOWN_MESSAGE);

  assert_int_equal (fixture_stat (fixture, "emitted"), 1);
  assert_int_equal (fixture_stat (fixture, "dropped"), 0);
  assert_int_equal (fixture->received->len, 1);

  emitter_clear (&emitter);
  fixture_free (fixture);
}

/* A thread blocked on a full "block" inbox when shutdown begins is let go:
 * its events are either dispatched while the inbox drains, or refused with
 * SHUT_DOWN once it is closed; none is lost without a trace, and the thread
 * can be joined. */
static void
test_emit_shutdown_releases_blocked_emitter (void **state)
{
  Fixture *fixture = fixture_new_with (4, EVB_OVERFLOW_BLOCK, 0);
  Emitter emitter;
  GThread *thread;
  EvbBusTotals totals;

  emitter_init (&emitter, fixture->bus, 0, 1000);
  thread = emitter_start (&emitter);
  assert_true (fixture_spin_until_blocked (fixture, 1));
  evb_bus_shutdown (fixture->bus, -1);
  g_thread_join (thread);

  evb_bus_get_totals (fixture->bus, &totals);
  assert_int_equal (emitter.accepted + emitter.refused->len, 1000);
  assert_int_equal (totals.emitted, emitter.accepted);
  /* Accepted events were dispatched or are still queued: one emitted
   * between the last drain and the close stays in the inbox and is counted
   * as dropped, with a warning, when the bus is freed (rare, harmless). */
  assert_int_equal (totals.dispatched + totals.inbox_depth, emitter.accepted);
  assert_int_equal (fixture->received->len, totals.dispatched);
  assert_received_range (fixture, 0, fixture->received->len);
  /* Refusals come after the accepted ones and all say why. */
  for (guint i = 0; i < emitter.refused->len; i++)
    assert_int_equal (g_array_index (emitter.refused, guint, i), emitter.accepted + i);
  if (emitter.refused->len > 0)
    {
      assert_true (g_error_matches (emitter.first_error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN));
      assert_string_equal (emitter.first_error->message, SHUT_DOWN_MESSAGE);
    }

  emitter_clear (&emitter);
  fixture_free (fixture);
}

/* A sync handler that shuts the bus down: the shutdown iterates the
 * context from inside the inbox's own dispatch. */
static guint received_when_shutdown_returned;

static void
shut_down_on_quit (Fixture *fixture, const EvbEvent *event)
{
  if (strcmp (event->type, "test.quit") != 0)
    return;
  evb_bus_shutdown (fixture->bus, 200);
  received_when_shutdown_returned = fixture->received->len;
}

/* Shutdown begun inside a handler still drains the inbox, in order, before
 * it returns: the rest of the handler's own slice first, then the events
 * queued behind it.  Nothing is left to drop. */
static void
test_emit_shutdown_from_handler_drains (void **state)
{
  enum { QUEUED = 600 }; /* more than a slice of 256 */
  Fixture *fixture = fixture_new ();
  EvbBusTotals totals;

  fixture->on_event = shut_down_on_quit;
  received_when_shutdown_returned = 0;
  assert_true (evb_bus_emit (fixture->bus, "test.quit", NULL, NULL, NULL));
  for (guint seq = 0; seq < QUEUED; seq++)
    assert_true (emit_seq (fixture->bus, 0, seq, NULL));
  assert_true (fixture_iterate_until (fixture, received_at_least, GUINT_TO_POINTER (1)));

  assert_int_equal (received_when_shutdown_returned, 1 + QUEUED);
  assert_int_equal (fixture->received->len, 1 + QUEUED);
  assert_string_equal (received_at (fixture, 0)->type, "test.quit");
  for (guint seq = 0; seq < QUEUED; seq++)
    assert_int_equal (event_int (received_at (fixture, seq + 1), "seq"), seq);
  evb_bus_get_totals (fixture->bus, &totals);
  assert_int_equal (totals.dispatched, 1 + QUEUED);
  assert_int_equal (totals.inbox_depth, 0);
  assert_int_equal (totals.dropped, 0);
  fixture_free (fixture);
}

/* ------------------------------------------------------------- validation */

/* Malformed types and non-object data are refused with host/event.c's and
 * host/bus.c's exact messages; refused emits steal their data, are not
 * counted as emitted and reach no handler. */
static void
test_emit_validation (void **state)
{
  static const struct {
    const char *type;
    const char *message;
  } bad_types[] = {
    { "", "invalid event type \"\": empty type" },
    { NULL, "invalid event type \"\": empty type" },
    { "a..b", "invalid event type \"a..b\": empty segment 2" },
    { ".a", "invalid event type \".a\": empty segment 1" },
    { "a.", "invalid event type \"a.\": empty segment 2" },
    { "A.b", "invalid event type \"A.b\": segment 1 may hold only a-z 0-9 _ -" },
    { "a b", "invalid event type \"a b\": segment 1 may hold only a-z 0-9 _ -" },
    { "test.a*", "invalid event type \"test.a*\": segment 2 may hold only a-z 0-9 _ -" },
    { "test.>", "invalid event type \"test.>\": segment 2 may hold only a-z 0-9 _ -" },
  };
  Fixture *fixture = fixture_new ();

  for (guint i = 0; i < G_N_ELEMENTS (bad_types); i++)
    {
      g_autoptr (GError) error = NULL;

      assert_false (evb_bus_emit (fixture->bus, bad_types[i].type, NULL, json_pack ("{s:i}", "i", i), &error));
      assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_TYPE));
      assert_string_equal (error->message, bad_types[i].message);
    }

  {
    json_t *not_objects[] = { json_array (), json_string ("x"), json_integer (1), json_null (), json_true () };

    for (guint i = 0; i < G_N_ELEMENTS (not_objects); i++)
      {
        g_autoptr (GError) error = NULL;

        assert_false (evb_bus_emit (fixture->bus, "test.data", NULL, not_objects[i], &error));
        assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_DATA));
        assert_string_equal (error->message, "data of \"test.data\" must be a JSON object");
      }
  }

  /* A NULL error is allowed. */
  assert_false (evb_bus_emit (fixture->bus, "a..b", NULL, NULL, NULL));

  assert_true (fixture_run_until_idle (fixture));
  assert_int_equal (fixture->received->len, 0);
  assert_int_equal (fixture_stat (fixture, "emitted"), 0);
  assert_int_equal (fixture_stat (fixture, "dispatched"), 0);
  assert_int_equal (fixture_stat (fixture, "dropped"), 0);
  fixture_free (fixture);
}

/* An accepted event carries its type, the given source ("host" when NULL),
 * its data ({} when NULL), the emission time and an id that is non-zero,
 * unique and increasing in one thread's emission order.  Host code may
 * emit "evbus." types. */
static void
test_emit_event_fields (void **state)
{
  Fixture *fixture = fixture_new ();
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  json_t *expected = json_pack ("{s:s, s:[i, i]}", "name", "x", "list", 1, 2);
  gint64 before;
  gint64 after;

  /* Record evbus.host-note too. */
  spec.pattern = "evbus.host-note";
  spec.func = record_event;
  spec.user_data = fixture;
  assert_true (evb_bus_add_route (fixture->bus, NULL, &spec, NULL, NULL) != 0);

  before = g_get_real_time ();
  assert_true (evb_bus_emit (fixture->bus, "test.with-data_1", "sensor-7", json_incref (expected), NULL));
  assert_true (evb_bus_emit (fixture->bus, "test.no-data", NULL, NULL, NULL));
  assert_true (evb_bus_emit (fixture->bus, "evbus.host-note", "host", NULL, NULL));
  after = g_get_real_time ();
  assert_true (fixture_run_until_idle (fixture));

  assert_int_equal (fixture->received->len, 3);
  assert_string_equal (received_at (fixture, 0)->type, "test.with-data_1");
  assert_string_equal (received_at (fixture, 0)->source, "sensor-7");
  assert_true (json_equal (received_at (fixture, 0)->data, expected));
  assert_string_equal (received_at (fixture, 1)->type, "test.no-data");
  assert_string_equal (received_at (fixture, 1)->source, "host");
  assert_true (json_is_object (received_at (fixture, 1)->data));
  assert_int_equal (json_object_size (received_at (fixture, 1)->data), 0);
  assert_string_equal (received_at (fixture, 2)->type, "evbus.host-note");
  for (guint i = 0; i < 3; i++)
    {
      const EvbEvent *event = received_at (fixture, i);

      assert_int_equal (event->struct_size, sizeof (EvbEvent));
      assert_true (event->time_us >= before && event->time_us <= after);
      assert_true (event->id != 0);
      if (i > 0)
        assert_true (event->id > received_at (fixture, i - 1)->id);
    }
  json_decref (expected);
  fixture_free (fixture);
}

/* ------------------------------------------------------ plugin-side emit */

/* A plugin linked into the test.  Its "relay" handler emits "relay.out"
 * through the SDK; in sync mode it also notes how many relay.out events
 * the harness had collected when the emit returned. */
static EvbHarness *current_harness;
static gint relay_out_seen_at_emit; /* -1: not recorded */

static EvbResult
relay (EvbCall *call, const EvbEvent *event)
{
  g_autoptr (GError) error = NULL;

  if (!evb_call_emit (call, "relay.out", json_pack ("{s:I, s:s}", "origin", (json_int_t) event->id, "via",
                                                    event->type), &error))
    return evb_call_fail (call, NULL, 1, "%s", error->message);
  if (strcmp (event->type, "relay.sync") == 0)
    relay_out_seen_at_emit = (gint) evb_harness_count (current_harness, "relay.out");
  return EVB_CONTINUE;
}

static const EvbHandlerInfo emitter_handlers[] = {
  EVB_HANDLER ("relay", relay, "Emits relay.out {origin, via} for each event."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (emitter_descriptor, "emitter", "1.0", "Emits events for test-emit", emitter_handlers, NULL,
                          NULL, NULL);

static EvbHarness *
emitter_harness_new (void)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new ();

  /* The instance name differs from the descriptor's name on purpose: the
   * source must be the instance. */
  g_assert_true (evb_harness_add_plugin (harness, "emitter-1", &emitter_descriptor, NULL, &error));
  g_assert_no_error (error);
  current_harness = harness;
  relay_out_seen_at_emit = -1;
  return harness;
}

/* A plugin may not emit "evbus." types; invalid types and data are refused
 * with messages naming the plugin; refused emits steal their data. */
static void
test_plugin_emit_refused (void **state)
{
  EvbHarness *harness = emitter_harness_new ();
  EvbPlugin *plugin = evb_harness_get_plugin (harness, "emitter-1");
  g_autoptr (GError) error = NULL;

  assert_non_null (plugin);
  assert_false (evb_plugin_emit (plugin, "evbus.x", json_pack ("{s:i}", "n", 1), &error));
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_RESERVED_TYPE));
  assert_string_equal (error->message,
                       "plugin \"emitter-1\" may not emit \"evbus.x\": types under \"evbus.\" are the host's");
  g_clear_error (&error);

  assert_false (evb_plugin_emit (plugin, "evbus.status.completed", NULL, &error));
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_RESERVED_TYPE));
  assert_string_equal (error->message, "plugin \"emitter-1\" may not emit \"evbus.status.completed\": types under "
                                       "\"evbus.\" are the host's");
  g_clear_error (&error);

  assert_false (evb_plugin_emit (plugin, "a..b", json_object (), &error));
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_TYPE));
  assert_string_equal (error->message, "invalid event type \"a..b\": empty segment 2");
  g_clear_error (&error);

  assert_false (evb_plugin_emit (plugin, "a.b", json_array (), &error));
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_DATA));
  assert_string_equal (error->message, "plugin \"emitter-1\": data of \"a.b\" must be a JSON object");
  g_clear_error (&error);

  /* "evbusx" and "evbus" are not under the "evbus." prefix. */
  assert_true (evb_plugin_emit (plugin, "evbusx.y", NULL, NULL));

  assert_true (evb_harness_run_until_idle (harness, WAIT_MS, NULL));
  assert_int_equal (evb_harness_n_events (harness), 1);
  assert_string_equal (evb_harness_event (harness, 0)->type, "evbusx.y");
  assert_string_equal (evb_harness_event (harness, 0)->source, "emitter-1");
  evb_harness_free (harness);
}

typedef struct {
  EvbPlugin *plugin;
  guint accepted;
} PluginEmitter;

static gpointer
plugin_emitter_run (gpointer data)
{
  PluginEmitter *emitter = data;

  for (guint seq = 0; seq < 100; seq++)
    if (evb_plugin_emit (emitter->plugin, "plugin.tick", json_pack ("{s:i}", "seq", seq), NULL))
      emitter->accepted++;
  return NULL;
}

/* Events a plugin emits — from the main thread, from its own thread, from
 * a sync and from an async handler — carry the instance name as source,
 * are never dispatched inline, and one thread's keep their order. */
static void
test_plugin_emit_source_and_threads (void **state)
{
  EvbHarness *harness = emitter_harness_new ();
  EvbPlugin *plugin = evb_harness_get_plugin (harness, "emitter-1");
  g_autoptr (GError) error = NULL;
  PluginEmitter emitter = { plugin, 0 };
  GThread *thread;
  const EvbEvent *event;

  assert_true (evb_harness_add_route (harness, "relay.sync", "emitter-1.relay", NULL, &error) != 0);
  assert_true (evb_harness_add_route (harness, "relay.async", "emitter-1.relay", "{\"mode\": \"async\"}", &error)
               != 0);
  assert_null (error);

  /* Main thread: queued, not dispatched. */
  assert_true (evb_plugin_emit (plugin, "plugin.main", NULL, &error));
  assert_int_equal (evb_harness_n_events (harness), 0);
  assert_true (evb_harness_run_until_idle (harness, WAIT_MS, &error));
  event = evb_harness_find (harness, "plugin.main", 0);
  assert_non_null (event);
  assert_string_equal (event->source, "emitter-1");

  /* A thread of the plugin's own. */
  thread = g_thread_new ("plugin-emitter", plugin_emitter_run, &emitter);
  g_thread_join (thread);
  assert_int_equal (emitter.accepted, 100);
  assert_true (evb_harness_run_until_count (harness, "plugin.tick", 100, WAIT_MS, &error));
  for (guint seq = 0; seq < 100; seq++)
    {
      event = evb_harness_find (harness, "plugin.tick", seq);
      assert_string_equal (event->source, "emitter-1");
      assert_int_equal (json_integer_value (json_object_get (event->data, "seq")), seq);
    }

  /* From handlers: the sync handler's emit had not been dispatched when it
   * returned to the handler. */
  assert_true (evb_harness_emit (harness, "relay.sync", NULL, &error));
  assert_true (evb_harness_emit (harness, "relay.async", NULL, &error));
  assert_true (evb_harness_run_until_idle (harness, WAIT_MS, &error));
  assert_null (error);
  assert_int_equal (relay_out_seen_at_emit, 0);
  assert_int_equal (evb_harness_count (harness, "relay.out"), 2);
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
  for (guint i = 0; i < 2; i++)
    {
      const EvbEvent *origin;

      event = evb_harness_find (harness, "relay.out", i);
      assert_string_equal (event->source, "emitter-1");
      origin = evb_harness_find (harness, json_string_value (json_object_get (event->data, "via")), 0);
      assert_non_null (origin);
      assert_string_equal (origin->source, "harness");
      assert_int_equal (json_integer_value (json_object_get (event->data, "origin")), origin->id);
    }

  evb_harness_free (harness);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_emit_never_runs_inline),
    cmocka_unit_test (test_emit_from_handler_not_inline),
    cmocka_unit_test (test_emit_wakeup_once_per_batch),
    cmocka_unit_test (test_emit_wakeups_while_draining),
    cmocka_unit_test (test_emit_per_producer_fifo),
    cmocka_unit_test (test_emit_slices_let_other_sources_run),
    cmocka_unit_test (test_emit_overflow_reject),
    cmocka_unit_test (test_emit_overflow_drop_oldest),
    cmocka_unit_test (test_emit_overflow_block),
    cmocka_unit_test (test_emit_overflow_block_main_thread),
    cmocka_unit_test (test_emit_overflow_block_from_handler),
    cmocka_unit_test (test_emit_overcommit_bounded),
    cmocka_unit_test (test_emit_overcommit_zero),
    cmocka_unit_test (test_emit_flood_block),
    cmocka_unit_test (test_emit_flood_reject),
    cmocka_unit_test (test_emit_flood_drop_oldest),
    cmocka_unit_test (test_emit_after_shutdown),
    cmocka_unit_test (test_emit_shutdown_releases_blocked_emitter),
    cmocka_unit_test (test_emit_shutdown_from_handler_drains),
    cmocka_unit_test (test_emit_validation),
    cmocka_unit_test (test_emit_event_fields),
    cmocka_unit_test (test_plugin_emit_refused),
    cmocka_unit_test (test_plugin_emit_source_and_threads),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
