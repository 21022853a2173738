/* B2: events emitted from 1 and 2 other threads, delivered on the main loop,
 * in events per second.
 *
 * evbus: each producer thread calls evb_bus_emit M times; the main thread
 * iterates the context (blocking) until one sync handler has seen them all.
 * peer: the same threads call g_idle_add once per event; the main thread
 * iterates until every idle callback has run.  Both use the default main
 * context.  Threads are started before the clock and released together. */
#include "bench-common.h"

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean go;
  EvbBus *bus; /* NULL: the g_idle_add peer */
  guint64 events;
  json_t *data;
} Gate;

static guint64 delivered; /* main thread */

static void
gate_wait (Gate *gate)
{
  g_mutex_lock (&gate->lock);
  while (!gate->go)
    g_cond_wait (&gate->cond, &gate->lock);
  g_mutex_unlock (&gate->lock);
}

static gboolean
idle_deliver (gpointer data)
{
  delivered++;
  return G_SOURCE_REMOVE;
}

static gpointer
producer (gpointer data)
{
  Gate *gate = data;

  gate_wait (gate);
  if (gate->bus != NULL)
    {
      for (guint64 i = 0; i < gate->events; i++)
        if (!evb_bus_emit (gate->bus, "bench.tick", NULL, json_incref (gate->data), NULL))
          g_error ("emit refused");
    }
  else
    {
      for (guint64 i = 0; i < gate->events; i++)
        g_idle_add (idle_deliver, NULL);
    }
  return NULL;
}

static EvbResult
bus_handler (EvbCall *call, const EvbEvent *event)
{
  delivered++;
  return EVB_CONTINUE;
}

/* Events per second for @n_threads producers of @per_thread events each. */
static double
measure (EvbBus *bus, guint n_threads, guint64 per_thread, json_t *data)
{
  Gate gate = { .bus = bus, .events = per_thread, .data = data };
  GThread *threads[2];
  guint64 total = per_thread * n_threads;
  gint64 start;
  gint64 elapsed;

  g_mutex_init (&gate.lock);
  g_cond_init (&gate.cond);
  delivered = 0;
  for (guint t = 0; t < n_threads; t++)
    threads[t] = g_thread_new ("producer", producer, &gate);

  start = bench_now_ns ();
  g_mutex_lock (&gate.lock);
  gate.go = TRUE;
  g_cond_broadcast (&gate.cond);
  g_mutex_unlock (&gate.lock);
  while (delivered < total)
    g_main_context_iteration (NULL, TRUE);
  elapsed = bench_now_ns () - start;

  for (guint t = 0; t < n_threads; t++)
    g_thread_join (threads[t]);
  g_cond_clear (&gate.cond);
  g_mutex_clear (&gate.lock);
  return (double) total / ((double) elapsed / 1e9);
}

int
main (int argc, char **argv)
{
  BenchOptions options;
  json_t *data = json_pack ("{s:s, s:i}", "kind", "tick", "n", 7);
  g_autoptr (EvbBus) bus = NULL;
  guint64 evbus_events;
  guint64 peer_events;

  bench_parse_options (argc, argv, &options);
  evbus_events = options.quick ? 250000 : 1000000;
  peer_events = options.quick ? 50000 : 200000;
  bus = bench_bus_new (NULL, 2, 0);
  bench_add_route (bus, "bench.tick", EVB_MODE_SYNC, bus_handler, NULL, NULL);

  for (guint n_threads = 1; n_threads <= 2; n_threads++)
    {
      g_autofree double *evbus_rate = g_new0 (double, options.rounds);
      g_autofree double *peer_rate = g_new0 (double, options.rounds);
      char name[32];
      double evbus;
      double peer;

      g_snprintf (name, sizeof name, "%u-thread%s", n_threads, n_threads > 1 ? "s" : "");
      if (!bench_wants (&options, name))
        continue;
      /* Warm-up: thread stacks, the inbox ring, the GSource free lists. */
      measure (bus, n_threads, evbus_events / 10 / n_threads, data);
      if (!options.skip_peer)
        measure (NULL, n_threads, peer_events / 10 / n_threads, data);
      for (guint r = 0; r < options.rounds; r++)
        {
          evbus_rate[r] = measure (bus, n_threads, evbus_events / n_threads, data);
          if (!options.skip_peer)
            peer_rate[r] = measure (NULL, n_threads, peer_events / n_threads, data);
        }
      evbus = bench_median (evbus_rate, options.rounds);
      peer = bench_median (peer_rate, options.rounds);
      bench_result ("B2", name, "events/s", evbus, peer, "g_idle_add", peer > 0 ? evbus / peer : 0, "ratio>=10");
    }
  g_clear_pointer (&bus, evb_bus_free);
  json_decref (data);
  return 0;
}
