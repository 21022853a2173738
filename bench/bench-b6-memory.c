/* B6: memory, and the cost of what nobody listens to.
 *
 * queued-bytes  heap bytes per queued event beyond its data: 1M events with
 *               shared data emitted on the main thread into a large inbox,
 *               mallinfo2 read before and after (then drained); the inbox
 *               ring's growth counts, as it is part of what queueing costs.  Peer column: the floor, the public EvbEvent
 *               struct plus its inbox slot.
 * rss-10m       RSS after 10 million events from a producer thread through a
 *               sync handler, against RSS after the first 2 million (warm-up:
 *               the first batch fills the inbox to its limit, so the ring
 *               and the allocator's caches reach their working size); sampled
 *               after every batch of 500k, once it is dispatched: the maximum
 *               after warm-up counts.  heap-10m: the same for malloc's bytes
 *               in use.  BENCH_DEBUG=1 prints every sample.
 * no-route      ns to emit and dispatch an event that no route matches;
 *               peer: g_signal_emit of a detail nobody connected to.
 * status-*      async job cost with and without a status subscriber; with
 *               none, the bus must build no status event: its emitted total
 *               must be the bench's own events exactly.
 * failure-*     the same for a sync handler that fails, with and without a
 *               subscriber on evbus.failure. */
#include "bench-common.h"

#include <glib-object.h>

/* ------------------------------------------------------------ handlers */

static guint64 calls;

static EvbResult
count_handler (EvbCall *call, const EvbEvent *event)
{
  calls++;
  return EVB_CONTINUE;
}

static EvbResult
noop_async_handler (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static EvbResult
failing_handler (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, "bench", 1, "always fails");
}

/* ------------------------------------------------------- queued bytes */

static void
queued_bytes (const BenchOptions *options)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (EvbBus) bus = NULL;
  json_t *data = json_pack ("{s:s}", "kind", "queued");
  guint events = options->quick ? 200000 : 1000000;
  gsize heap_before;
  double heap_per_event;

  g_main_context_push_thread_default (context);
  bus = bench_bus_new (context, 1, events + 1);
  bench_add_route (bus, "bench.queued", EVB_MODE_SYNC, count_handler, NULL, NULL);
  heap_before = bench_heap_bytes ();
  for (guint i = 0; i < events; i++)
    evb_bus_emit (bus, "bench.queued", NULL, json_incref (data), NULL);
  heap_per_event = (double) ((gssize) bench_heap_bytes () - (gssize) heap_before) / events;
  bench_drain_until_dispatched (bus, events);

  bench_result ("B6", "queued-bytes", "bytes/event", heap_per_event, sizeof (EvbEvent) + sizeof (gpointer),
                "EvbEvent+slot", 0, "info");
  g_clear_pointer (&bus, evb_bus_free);
  g_main_context_pop_thread_default (context);
  json_decref (data);
}

/* ------------------------------------------------------------- 10M RSS */

/* The producer emits in batches and waits, after each, until the main loop
 * has dispatched it: memory is then sampled at the same point of every
 * batch, with nothing queued, so what is compared is what the bus keeps,
 * not how full the inbox happened to be at the sample. */
typedef struct {
  EvbBus *bus;
  guint64 events;
  guint64 batch;
  json_t *data;
  GMutex lock;
  GCond cond;
  guint64 released; /* events the producer may emit so far */
} Producer;

static gpointer
produce (gpointer user_data)
{
  Producer *producer = user_data;

  for (guint64 i = 0; i < producer->events; i++)
    {
      if (i % producer->batch == 0)
        {
          g_mutex_lock (&producer->lock);
          while (producer->released <= i)
            g_cond_wait (&producer->cond, &producer->lock);
          g_mutex_unlock (&producer->lock);
        }
      evb_bus_emit (producer->bus, "bench.steady", NULL, json_incref (producer->data), NULL);
    }
  return NULL;
}

static void
producer_release (Producer *producer, guint64 up_to)
{
  g_mutex_lock (&producer->lock);
  producer->released = up_to;
  g_cond_signal (&producer->cond);
  g_mutex_unlock (&producer->lock);
}

static void
rss_over_time (const BenchOptions *options)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (EvbBus) bus = NULL;
  Producer producer = { .events = options->quick ? 2000000 : 10000000 };
  guint64 warm_up;
  gsize rss_warm = 0;
  gsize rss_max = 0;
  gsize heap_warm = 0;
  gsize heap_max = 0;
  EvbBusTotals totals;
  GThread *thread;

  producer.batch = producer.events / 20;
  warm_up = producer.events / 5;
  producer.data = json_pack ("{s:s, s:i}", "kind", "steady", "n", 1);
  g_mutex_init (&producer.lock);
  g_cond_init (&producer.cond);
  g_main_context_push_thread_default (context);
  bus = bench_bus_new (context, 1, 0);
  producer.bus = bus;
  bench_add_route (bus, "bench.steady", EVB_MODE_SYNC, count_handler, NULL, NULL);
  thread = g_thread_new ("producer", produce, &producer);

  /* Warm-up, first batch: let the producer fill the inbox to its limit
   * before draining, so the warm-up sees the largest queue the run can
   * have (the ring at full size, the allocator's caches at their peak). */
  producer_release (&producer, producer.batch);
  do
    {
      g_usleep (1000);
      evb_bus_get_totals (bus, &totals);
    }
  while (totals.inbox_depth < MIN (evb_bus_get_settings (bus)->inbox_limit, producer.batch));

  for (guint64 done = producer.batch; done <= producer.events; done += producer.batch)
    {
      gsize rss;
      gsize heap;

      while (bench_dispatched (bus) < done)
        g_main_context_iteration (context, TRUE);
      rss = bench_rss_bytes ();
      heap = bench_heap_bytes ();
      if (g_getenv ("BENCH_DEBUG") != NULL)
        g_printerr ("%" G_GUINT64_FORMAT " events: rss %.2f MiB heap %.2f MiB\n", done, rss / 1048576.0,
                    heap / 1048576.0);
      if (done == warm_up)
        {
          rss_warm = rss;
          heap_warm = heap;
        }
      else if (done > warm_up)
        {
          rss_max = MAX (rss_max, rss);
          heap_max = MAX (heap_max, heap);
        }
      producer_release (&producer, done + producer.batch);
    }
  g_thread_join (thread);
  bench_result ("B6", options->quick ? "rss-2m-events" : "rss-10m-events", "MiB", rss_max / 1048576.0,
                rss_warm / 1048576.0, "rss-after-warm-up", (double) rss_max / (double) rss_warm, "ratio<=1.05");
  bench_result ("B6", options->quick ? "heap-2m-events" : "heap-10m-events", "MiB", heap_max / 1048576.0,
                heap_warm / 1048576.0, "heap-after-warm-up", (double) heap_max / (double) heap_warm, "ratio<=1.05");
  g_clear_pointer (&bus, evb_bus_free);
  g_main_context_pop_thread_default (context);
  g_cond_clear (&producer.cond);
  g_mutex_clear (&producer.lock);
  json_decref (producer.data);
}

/* ---------------------------------------------------- unrouted events */

#define BENCH_TYPE_EMITTER (bench_emitter_get_type ())
G_DECLARE_FINAL_TYPE (BenchEmitter, bench_emitter, BENCH, EMITTER, GObject)

struct _BenchEmitter {
  GObject parent_instance;
};

G_DEFINE_TYPE (BenchEmitter, bench_emitter, G_TYPE_OBJECT)

static guint emitter_signal;

static void
bench_emitter_class_init (BenchEmitterClass *klass)
{
  emitter_signal = g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0,
                                 NULL, NULL, g_cclosure_marshal_VOID__POINTER, G_TYPE_NONE, 1, G_TYPE_POINTER);
  g_signal_set_va_marshaller (emitter_signal, G_TYPE_FROM_CLASS (klass), g_cclosure_marshal_VOID__POINTERv);
}

static void
bench_emitter_init (BenchEmitter *self)
{
}

static void
gsignal_handler (BenchEmitter *emitter, gpointer data, gpointer user_data)
{
  calls++;
}

#define BATCH 1000

static double
measure_no_route (EvbBus *bus, guint64 events)
{
  guint64 start_dispatched = bench_dispatched (bus);
  gint64 start = bench_now_ns ();

  for (guint64 done = 0; done < events; done += BATCH)
    {
      for (guint i = 0; i < BATCH; i++)
        evb_bus_emit (bus, "bench.nobody", NULL, NULL, NULL);
      bench_drain_until_dispatched (bus, start_dispatched + done + BATCH);
    }
  return (double) (bench_now_ns () - start) / (double) events;
}

static double
measure_gsignal_unconnected (BenchEmitter *emitter, GQuark detail, guint64 events)
{
  gint64 start = bench_now_ns ();

  for (guint64 i = 0; i < events; i++)
    g_signal_emit (emitter, emitter_signal, detail, NULL);
  return (double) (bench_now_ns () - start) / (double) events;
}

static void
no_route (const BenchOptions *options)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (EvbBus) bus = NULL;
  g_autoptr (BenchEmitter) emitter = g_object_new (BENCH_TYPE_EMITTER, NULL);
  g_autofree double *evbus_ns = g_new0 (double, options->rounds);
  g_autofree double *peer_ns = g_new0 (double, options->rounds);
  GQuark nobody = g_quark_from_static_string ("nobody");
  guint64 events = options->quick ? 200000 : 1000000;
  guint64 unhandled_before;
  EvbBusTotals totals;

  g_main_context_push_thread_default (context);
  bus = bench_bus_new (context, 1, 0);
  /* Routes exist, just none for this type. */
  bench_add_route (bus, "bench.other", EVB_MODE_SYNC, count_handler, NULL, NULL);
  bench_add_route (bus, "other.*", EVB_MODE_SYNC, count_handler, NULL, NULL);
  g_signal_connect (emitter, "event::other", G_CALLBACK (gsignal_handler), NULL);
  measure_no_route (bus, events / 10);
  measure_gsignal_unconnected (emitter, nobody, events / 10);
  evb_bus_get_totals (bus, &totals);
  unhandled_before = totals.unhandled;
  for (guint r = 0; r < options->rounds; r++)
    {
      evbus_ns[r] = measure_no_route (bus, events);
      peer_ns[r] = measure_gsignal_unconnected (emitter, nobody, events);
    }
  evb_bus_get_totals (bus, &totals);
  g_assert_cmpuint (totals.unhandled - unhandled_before, ==, events * options->rounds);
  {
    double evbus = bench_median (evbus_ns, options->rounds);
    double peer = bench_median (peer_ns, options->rounds);

    bench_result ("B6", "no-route", "ns/event", evbus, peer, "gsignal-unconnected", peer / evbus, "info");
  }
  g_clear_pointer (&bus, evb_bus_free);
  g_main_context_pop_thread_default (context);
}

/* ------------------------------------------- unobserved status/failure */

typedef struct {
  GMainContext *context;
  EvbBus *bus;
  guint64 subscriber;
} Setup;

static void
setup_init (Setup *setup, const char *type, EvbMode mode, EvbHandlerFunc func)
{
  setup->context = g_main_context_new ();
  g_main_context_push_thread_default (setup->context);
  setup->bus = bench_bus_new (setup->context, 1, 0);
  g_main_context_pop_thread_default (setup->context);
  bench_add_route (setup->bus, type, mode, func, NULL, NULL);
  setup->subscriber = 0;
}

static void
setup_clear (Setup *setup)
{
  g_main_context_push_thread_default (setup->context);
  g_clear_pointer (&setup->bus, evb_bus_free);
  g_main_context_pop_thread_default (setup->context);
  g_main_context_unref (setup->context);
}

/* ns per event; asserts how many events the bus emitted in all. */
static double
measure_unobserved (Setup *setup, const char *type, guint64 events, guint64 expected_extra_per_event)
{
  EvbBusTotals before;
  EvbBusTotals after;
  gint64 start;
  gint64 elapsed;

  g_main_context_push_thread_default (setup->context);
  evb_bus_get_totals (setup->bus, &before);
  start = bench_now_ns ();
  for (guint64 done = 0; done < events; done += BATCH)
    {
      for (guint i = 0; i < BATCH; i++)
        evb_bus_emit (setup->bus, type, NULL, NULL, NULL);
      bench_run_until_idle (setup->bus);
    }
  elapsed = bench_now_ns () - start;
  evb_bus_get_totals (setup->bus, &after);
  g_main_context_pop_thread_default (setup->context);
  /* The proof that nothing was built for nobody: every event the bus took
   * in is one of ours, plus what the subscriber asked for. */
  g_assert_cmpuint (after.emitted - before.emitted, ==, events * (1 + expected_extra_per_event));
  return (double) elapsed / (double) events;
}

static void
unobserved (const BenchOptions *options, const char *name, const char *type, EvbMode mode, EvbHandlerFunc func,
            const char *subscriber_pattern, guint64 per_event_with_subscriber, guint64 events)
{
  g_autofree double *without = g_new0 (double, options->rounds);
  g_autofree double *with = g_new0 (double, options->rounds);
  Setup bare;
  Setup watched;

  setup_init (&bare, type, mode, func);
  setup_init (&watched, type, mode, func);
  bench_add_route (watched.bus, subscriber_pattern, EVB_MODE_SYNC, count_handler, NULL, NULL);
  measure_unobserved (&bare, type, events / 10, 0);
  measure_unobserved (&watched, type, events / 10, per_event_with_subscriber);
  for (guint r = 0; r < options->rounds; r++)
    {
      without[r] = measure_unobserved (&bare, type, events, 0);
      with[r] = measure_unobserved (&watched, type, events, per_event_with_subscriber);
    }
  {
    double bare_ns = bench_median (without, options->rounds);
    double watched_ns = bench_median (with, options->rounds);

    /* evbus = nobody listening, peer = one subscriber: the ratio is what
     * not listening saves. */
    bench_result ("B6", name, "ns/event", bare_ns, watched_ns, "with-subscriber", watched_ns / bare_ns, "info");
  }
  setup_clear (&bare);
  setup_clear (&watched);
}

int
main (int argc, char **argv)
{
  BenchOptions options;
  guint64 events;

  bench_parse_options (argc, argv, &options);
  events = options.quick ? 20000 : 100000;
  /* RSS first: the million events queued-bytes holds at once stay in the
   * allocator's caches afterwards and would hide growth. */
  if (bench_wants (&options, "rss"))
    rss_over_time (&options);
  if (bench_wants (&options, "queued-bytes"))
    queued_bytes (&options);
  if (bench_wants (&options, "no-route"))
    no_route (&options);
  if (bench_wants (&options, "status-unobserved"))
    unobserved (&options, "status-unobserved", "bench.job", EVB_MODE_ASYNC, noop_async_handler, "evbus.status.>", 3,
                events);
  if (bench_wants (&options, "failure-unobserved"))
    unobserved (&options, "failure-unobserved", "bench.fail", EVB_MODE_SYNC, failing_handler, "evbus.failure", 1,
                events * 5);
  return 0;
}
