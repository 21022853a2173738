/* B1: main-thread emit -> dispatch to N sync handlers, ns per handler call.
 *
 * evbus: K events emitted on the main thread, then the context is iterated
 * until the bus has dispatched all K (the inbox round trip is included: event
 * allocation, queueing, the wake-up, the slice drain, the route lookup and
 * the calls).  Peers, in the same process, alternating rounds:
 *   gsignal  - a GObject with a G_SIGNAL_DETAILED signal carrying one
 *              pointer, emitted with a detail quark, N handlers connected;
 *   indirect - a plain loop of indirect calls through a function table
 *              (the machine's floor for "call N functions per event").
 * "filter" variants give each evbus route the filter {"kind": "order"}; the
 * peers' handlers run the same test on the data themselves.
 *
 * event-floor: what every evbus event pays by contract before any routing,
 * measured alone: the g_get_real_time () that stamps it (plugin.h: time_us
 * is "g_get_real_time () at emission") and one allocation and free of an
 * event-sized block.  Against GSignal with one handler it bounds the ratio
 * B1 n1 could ever reach on this machine. */
#include "bench-common.h"

#include <glib-object.h>
#include <string.h>

/* ------------------------------------------------------------ the peers */

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

static guint64 calls;

/* The same test the evbus filter {"kind": "order"} makes. */
static gboolean
data_is_order (json_t *data)
{
  const char *kind = json_string_value (json_object_get (data, "kind"));

  return kind != NULL && strcmp (kind, "order") == 0;
}

static void
gsignal_handler (BenchEmitter *emitter, gpointer data, gpointer user_data)
{
  calls++;
}

static void
gsignal_filtered_handler (BenchEmitter *emitter, gpointer data, gpointer user_data)
{
  if (data_is_order (data))
    calls++;
}

typedef void (*IndirectFunc) (json_t *data);

static void
indirect_handler (json_t *data)
{
  calls++;
}

static void
indirect_filtered_handler (json_t *data)
{
  if (data_is_order (data))
    calls++;
}

static EvbResult
bus_handler (EvbCall *call, const EvbEvent *event)
{
  calls++;
  return EVB_CONTINUE;
}

/* ----------------------------------------------------------- measuring */

#define BATCH 1000

typedef struct {
  guint n_handlers;
  gboolean filter;
  guint64 events; /* per round */
  json_t *data;
} Variant;

static double
measure_evbus (EvbBus *bus, const Variant *variant)
{
  guint64 start_dispatched = bench_dispatched (bus);
  guint64 start_calls = calls;
  gint64 start = bench_now_ns ();
  gint64 elapsed;

  for (guint64 done = 0; done < variant->events; done += BATCH)
    {
      for (guint i = 0; i < BATCH; i++)
        evb_bus_emit (bus, "bench.order", NULL, json_incref (variant->data), NULL);
      bench_drain_until_dispatched (bus, start_dispatched + done + BATCH);
    }
  elapsed = bench_now_ns () - start;
  g_assert_cmpuint (calls - start_calls, ==, variant->events * variant->n_handlers);
  return (double) elapsed / (double) (variant->events * variant->n_handlers);
}

static double
measure_gsignal (BenchEmitter *emitter, GQuark detail, const Variant *variant)
{
  guint64 start_calls = calls;
  gint64 start = bench_now_ns ();
  gint64 elapsed;

  for (guint64 i = 0; i < variant->events; i++)
    g_signal_emit (emitter, emitter_signal, detail, variant->data);
  elapsed = bench_now_ns () - start;
  g_assert_cmpuint (calls - start_calls, ==, variant->events * variant->n_handlers);
  return (double) elapsed / (double) (variant->events * variant->n_handlers);
}

static double
measure_indirect (IndirectFunc *volatile table, const Variant *variant)
{
  guint64 start_calls = calls;
  gint64 start = bench_now_ns ();
  gint64 elapsed;

  for (guint64 i = 0; i < variant->events; i++)
    for (guint h = 0; h < variant->n_handlers; h++)
      table[h](variant->data);
  elapsed = bench_now_ns () - start;
  g_assert_cmpuint (calls - start_calls, ==, variant->events * variant->n_handlers);
  return (double) elapsed / (double) (variant->events * variant->n_handlers);
}

static void
run_variant (const BenchOptions *options, const Variant *variant, const char *name)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (EvbBus) bus = NULL;
  g_autoptr (BenchEmitter) emitter = g_object_new (BENCH_TYPE_EMITTER, NULL);
  IndirectFunc table[8];
  GQuark detail = g_quark_from_static_string ("order");
  g_autofree double *evbus_ns = g_new (double, options->rounds);
  g_autofree double *gsignal_ns = g_new (double, options->rounds);
  g_autofree double *indirect_ns = g_new (double, options->rounds);
  double evbus;
  double gsignal;
  double indirect;
  Variant warm = *variant;

  g_main_context_push_thread_default (context);
  bus = bench_bus_new (context, 1, 0);
  for (guint h = 0; h < variant->n_handlers; h++)
    {
      bench_add_route (bus, "bench.order", EVB_MODE_SYNC, bus_handler, NULL,
                       variant->filter ? "{\"kind\": \"order\"}" : NULL);
      g_signal_connect (emitter, "event::order",
                        variant->filter ? G_CALLBACK (gsignal_filtered_handler) : G_CALLBACK (gsignal_handler),
                        NULL);
      table[h] = variant->filter ? indirect_filtered_handler : indirect_handler;
    }

  warm.events = MAX (BATCH, variant->events / 10 / BATCH * BATCH);
  measure_evbus (bus, &warm);
  if (!options->skip_peer)
    measure_gsignal (emitter, detail, &warm);
  measure_indirect (table, &warm);
  for (guint r = 0; r < options->rounds; r++)
    {
      evbus_ns[r] = measure_evbus (bus, variant);
      if (options->skip_peer)
        continue;
      gsignal_ns[r] = measure_gsignal (emitter, detail, variant);
      indirect_ns[r] = measure_indirect (table, variant);
    }
  evbus = bench_median (evbus_ns, options->rounds);
  gsignal = options->skip_peer ? 0 : bench_median (gsignal_ns, options->rounds);
  indirect = options->skip_peer ? 0 : bench_median (indirect_ns, options->rounds);

  bench_result ("B1", name, "ns/handler", evbus, gsignal, "gsignal", gsignal / evbus,
                variant->n_handlers >= 8 ? "ratio>=10" : "ratio>=5");
  bench_result ("B1", name, "ns/handler", evbus, indirect, "indirect-call", indirect / evbus, "info");

  g_clear_pointer (&bus, evb_bus_free);
  g_main_context_pop_thread_default (context);
}

/* ---- what a receipt costs per event: the same emits with and without ---- */

static guint64 receipts_seen;

static void
count_receipt (const EvbReceipt *receipt, gpointer user_data)
{
  receipts_seen++;
}

static double
measure_emits (EvbBus *bus, json_t *data, guint64 events, gboolean with_receipt)
{
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;
  guint64 start_dispatched = bench_dispatched (bus);
  guint64 start_receipts = receipts_seen;
  gint64 start = bench_now_ns ();

  options.receipt = count_receipt;
  for (guint64 done = 0; done < events; done += BATCH)
    {
      for (guint i = 0; i < BATCH; i++)
        evb_bus_emit_full (bus, "bench.order", NULL, json_incref (data), with_receipt ? &options : NULL, NULL);
      bench_drain_until_dispatched (bus, start_dispatched + done + BATCH);
    }
  g_assert_cmpuint (receipts_seen - start_receipts, ==, with_receipt ? events : 0);
  return (double) (bench_now_ns () - start) / (double) events;
}

static void
run_receipt_cost (const BenchOptions *options, json_t *data, guint64 events)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (EvbBus) bus = NULL;
  g_autofree double *with_ns = g_new (double, options->rounds);
  g_autofree double *without_ns = g_new (double, options->rounds);
  double with, without;

  g_main_context_push_thread_default (context);
  bus = bench_bus_new (context, 1, 0);
  bench_add_route (bus, "bench.order", EVB_MODE_SYNC, bus_handler, NULL, NULL);
  measure_emits (bus, data, events / 10 / BATCH * BATCH + BATCH, TRUE);
  for (guint r = 0; r < options->rounds; r++)
    {
      with_ns[r] = measure_emits (bus, data, events, TRUE);
      without_ns[r] = measure_emits (bus, data, events, FALSE);
    }
  with = bench_median (with_ns, options->rounds);
  without = bench_median (without_ns, options->rounds);
  bench_result ("B1", "receipt", "ns/event", with, without, "no-receipt", without / with, "info");
  g_clear_pointer (&bus, evb_bus_free);
  g_main_context_pop_thread_default (context);
}

/* ---- what keeping traces costs (the dashboard's trace view) ------------- */

/* Two buses alike but for evb_bus_keep_traces, one sync route each,
 * measured in alternation: the log cannot be switched off again. */
static void
run_traces_cost (const BenchOptions *options, json_t *data, guint64 events)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (EvbBus) kept_bus = NULL;
  g_autoptr (EvbBus) plain_bus = NULL;
  g_autofree double *kept_ns = g_new (double, options->rounds);
  g_autofree double *plain_ns = g_new (double, options->rounds);
  double kept, plain;

  g_main_context_push_thread_default (context);
  kept_bus = bench_bus_new (context, 1, 0);
  plain_bus = bench_bus_new (context, 1, 0);
  evb_bus_keep_traces (kept_bus, 4096);
  bench_add_route (kept_bus, "bench.order", EVB_MODE_SYNC, bus_handler, NULL, NULL);
  bench_add_route (plain_bus, "bench.order", EVB_MODE_SYNC, bus_handler, NULL, NULL);
  measure_emits (kept_bus, data, events / 10 / BATCH * BATCH + BATCH, FALSE);
  measure_emits (plain_bus, data, events / 10 / BATCH * BATCH + BATCH, FALSE);
  for (guint r = 0; r < options->rounds; r++)
    {
      kept_ns[r] = measure_emits (kept_bus, data, events, FALSE);
      plain_ns[r] = measure_emits (plain_bus, data, events, FALSE);
    }
  kept = bench_median (kept_ns, options->rounds);
  plain = bench_median (plain_ns, options->rounds);
  bench_result ("B1", "traces-kept", "ns/event", kept, plain, "not-kept", plain / kept, "info");
  g_clear_pointer (&kept_bus, evb_bus_free);
  g_clear_pointer (&plain_bus, evb_bus_free);
  g_main_context_pop_thread_default (context);
}

static volatile gint64 floor_sink;

/* ns per event of the stamp and the allocation alone. */
static double
measure_event_floor (guint64 events)
{
  gint64 start = bench_now_ns ();

  for (guint64 i = 0; i < events; i++)
    {
      gpointer block = g_slice_alloc (80);

      floor_sink = g_get_real_time () + GPOINTER_TO_SIZE (block);
      g_slice_free1 (80, block);
    }
  return (double) (bench_now_ns () - start) / (double) events;
}

static double
measure_gsignal_one_handler (guint64 events, json_t *data)
{
  g_autoptr (BenchEmitter) emitter = g_object_new (BENCH_TYPE_EMITTER, NULL);
  Variant variant = { .n_handlers = 1, .events = events, .data = data };

  g_signal_connect (emitter, "event::order", G_CALLBACK (gsignal_handler), NULL);
  return measure_gsignal (emitter, g_quark_from_static_string ("order"), &variant);
}

static void
run_event_floor (const BenchOptions *options, json_t *data, guint64 events)
{
  g_autofree double *floor_ns = g_new (double, options->rounds);
  g_autofree double *gsignal_ns = g_new (double, options->rounds);
  double floor_median;
  double gsignal_median;

  for (guint r = 0; r < options->rounds; r++)
    {
      floor_ns[r] = measure_event_floor (events);
      gsignal_ns[r] = measure_gsignal_one_handler (events, data);
    }
  floor_median = bench_median (floor_ns, options->rounds);
  gsignal_median = bench_median (gsignal_ns, options->rounds);
  bench_result ("B1", "event-floor", "ns/event", floor_median, gsignal_median, "gsignal-1-handler",
                gsignal_median / floor_median, "info");
}

int
main (int argc, char **argv)
{
  BenchOptions options;
  json_t *data = json_pack ("{s:s, s:i, s:s}", "kind", "order", "n", 42, "customer", "acme");
  guint64 events;

  bench_parse_options (argc, argv, &options);
  events = options.quick ? 50000 : 200000;
  for (guint n = 1; n <= 8; n += 7)
    for (int filter = 0; filter <= 1; filter++)
      {
        Variant variant = { .n_handlers = n, .filter = filter, .events = n == 1 ? events * 2 : events / 2, .data = data };
        char name[64];

        g_snprintf (name, sizeof name, "n%u-%s", n, filter ? "filter" : "nofilter");
        if (bench_wants (&options, name))
          run_variant (&options, &variant, name);
      }
  if (bench_wants (&options, "event-floor"))
    run_event_floor (&options, data, events);
  if (bench_wants (&options, "receipt"))
    run_receipt_cost (&options, data, events);
  if (bench_wants (&options, "traces-kept"))
    run_traces_cost (&options, data, events);
  json_decref (data);
  return 0;
}
