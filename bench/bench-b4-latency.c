/* B4: main-loop responsiveness under a flood.
 *
 * Two producer threads emit as fast as the inbox takes them: 999 of every
 * 1000 events are "bench.flood" (a sync handler that counts), one is
 * "bench.work", whose handler sleeps 5 ms.  Meanwhile a 1 ms g_timeout on
 * the same context records its lateness: dispatch time minus the time it was
 * due.  evbus: the work route is async (the pool of 2 sleeps, the main loop
 * goes on); peer: the same pipeline with the work route sync (the main loop
 * sleeps in the handler: the stall an async route avoids).
 *
 * Prints p50, p99 and max lateness in ms, the flood rate, and
 * timer-p99-own: the lateness left once the time the main thread spent
 * runnable but waiting for a CPU is taken off (schedstat), i.e. what the
 * loop itself held the timer back, as opposed to the machine's scheduler.
 *
 * For experiments: BENCH_PRODUCERS=N (default 2) producer threads,
 * BENCH_PRODUCER_NICE=n to renice them. */
#include "bench-common.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/resource.h>

#define WORK_EVERY 1000

typedef struct {
  EvbBus *bus;
  gint stop;    /* atomic */
  gint exited;  /* atomic: producers that returned */
} Flood;

static guint64 flood_seen; /* main thread */
static gint work_done;     /* atomic: async handlers run on workers */

static EvbResult
flood_handler (EvbCall *call, const EvbEvent *event)
{
  flood_seen++;
  return EVB_CONTINUE;
}

static EvbResult
work_handler (EvbCall *call, const EvbEvent *event)
{
  g_usleep (5000); /* the handler's blocking work: the point of this benchmark */
  g_atomic_int_inc (&work_done);
  return EVB_CONTINUE;
}

static gpointer
producer (gpointer data)
{
  Flood *flood = data;
  const char *nice_env = g_getenv ("BENCH_PRODUCER_NICE");

  if (nice_env != NULL)
    setpriority (PRIO_PROCESS, 0, atoi (nice_env));
  while (!g_atomic_int_get (&flood->stop))
    {
      for (guint i = 1; i < WORK_EVERY; i++)
        evb_bus_emit (flood->bus, "bench.flood", NULL, NULL, NULL);
      evb_bus_emit (flood->bus, "bench.work", NULL, NULL, NULL);
    }
  g_atomic_int_inc (&flood->exited);
  return NULL;
}

typedef struct {
  GSource *source;
  GArray *lateness_us; /* gint64 */
  GArray *own_us;      /* gint64: lateness minus the time the main thread waited for a CPU */
  int schedstat_fd;    /* /proc/thread-self/schedstat of the main thread, or -1 */
  gint64 last_run_delay_us;
  gint64 end_us;
  gboolean done;
} Ticker;

/* Time the calling thread has spent runnable but waiting for a CPU (the
 * second field of schedstat), in µs; 0 when the kernel does not say. */
static gint64
run_delay_us (int fd)
{
  char text[128];
  ssize_t length;
  unsigned long long on_cpu = 0;
  unsigned long long waiting = 0;

  if (fd < 0 || (length = pread (fd, text, sizeof text - 1, 0)) <= 0)
    return 0;
  text[length] = '\0';
  if (sscanf (text, "%llu %llu", &on_cpu, &waiting) != 2)
    return 0;
  return (gint64) (waiting / 1000);
}

static gboolean
tick (gpointer data)
{
  Ticker *ticker = data;
  gint64 now = g_get_monotonic_time ();
  /* While the callback runs, the ready time is still the one just reached. */
  gint64 lateness = now - g_source_get_ready_time (ticker->source);
  gint64 run_delay = run_delay_us (ticker->schedstat_fd);
  /* On a shared machine other processes take the CPU away: the part of the
   * lateness left once the wait for a CPU since the last tick is taken off
   * is what the loop itself (the bus, the handlers) held the timer back. */
  gint64 own = MAX (0, lateness - (run_delay - ticker->last_run_delay_us));

  ticker->last_run_delay_us = run_delay;
  g_array_append_val (ticker->lateness_us, lateness);
  g_array_append_val (ticker->own_us, own);
  if (now >= ticker->end_us)
    {
      ticker->done = TRUE;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a;
  gint64 y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

typedef struct {
  double p50_ms;
  double p99_ms;
  double max_ms;
  double own_p99_ms;
  double flood_per_s;
  guint ticks;
} Lateness;

static double
quantile_ms (GArray *values_us, double q)
{
  guint n = values_us->len;

  g_array_sort (values_us, compare_gint64);
  return g_array_index (values_us, gint64, MIN (n - 1, (guint) (n * q))) / 1000.0;
}

static Lateness
measure (EvbMode work_mode, gint64 duration_us)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (EvbBus) bus = NULL;
  Flood flood = { 0 };
  Ticker ticker = { 0 };
  GThread *threads[4];
  guint n_producers = g_getenv ("BENCH_PRODUCERS") ? (guint) atoi (g_getenv ("BENCH_PRODUCERS")) : 2;
  guint64 work_route;
  guint64 flood_start;
  gint64 start;
  Lateness result;

  g_main_context_push_thread_default (context);
  bus = bench_bus_new (context, 2, 0);
  bench_add_route (bus, "bench.flood", EVB_MODE_SYNC, flood_handler, NULL, NULL);
  work_route = bench_add_route (bus, "bench.work", work_mode, work_handler, NULL, NULL);
  flood.bus = bus;
  flood_start = flood_seen;

  for (guint t = 0; t < n_producers; t++)
    threads[t] = g_thread_new ("producer", producer, &flood);
  /* Let the flood fill the inbox before the clock starts. */
  while (flood_seen - flood_start < 100000)
    g_main_context_iteration (context, TRUE);

  ticker.lateness_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  ticker.own_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  ticker.schedstat_fd = open ("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  ticker.last_run_delay_us = run_delay_us (ticker.schedstat_fd);
  ticker.source = g_timeout_source_new (1);
  g_source_set_callback (ticker.source, tick, &ticker, NULL);
  start = g_get_monotonic_time ();
  flood_start = flood_seen;
  ticker.end_us = start + duration_us;
  g_source_attach (ticker.source, context);
  while (!ticker.done)
    g_main_context_iteration (context, TRUE);
  result.flood_per_s = (double) (flood_seen - flood_start) / ((double) (g_get_monotonic_time () - start) / 1e6);

  /* Stop: no more producers, no more work (waiting jobs are cancelled). */
  g_atomic_int_set (&flood.stop, 1);
  evb_bus_remove_route (bus, work_route);
  /* Producers may wait for room in the inbox: keep draining until they are out. */
  while ((guint) g_atomic_int_get (&flood.exited) < n_producers)
    g_main_context_iteration (context, FALSE);
  for (guint t = 0; t < n_producers; t++)
    g_thread_join (threads[t]);
  bench_run_until_idle (bus);
  g_clear_pointer (&bus, evb_bus_free);
  g_source_unref (ticker.source);
  g_main_context_pop_thread_default (context);

  if (ticker.schedstat_fd >= 0)
    close (ticker.schedstat_fd);
  result.ticks = ticker.lateness_us->len;
  result.p50_ms = quantile_ms (ticker.lateness_us, 0.50);
  result.p99_ms = quantile_ms (ticker.lateness_us, 0.99);
  result.max_ms = quantile_ms (ticker.lateness_us, 1.0);
  result.own_p99_ms = quantile_ms (ticker.own_us, 0.99);
  g_array_unref (ticker.lateness_us);
  g_array_unref (ticker.own_us);
  return result;
}

#define N_FIGURES 5

int
main (int argc, char **argv)
{
  static const struct {
    const char *variant;
    const char *unit;
    const char *check;
  } figures[N_FIGURES] = {
    { "timer-p50", "ms-late", "info" },
    { "timer-p99", "ms-late", "evbus<=2" },
    { "timer-max", "ms-late", "info" },
    { "timer-p99-own", "ms-late", "info" },
    { "flood-rate", "events/s", "info" },
  };
  BenchOptions options;
  gint64 duration_us;
  guint rounds;
  double *values[2][N_FIGURES];

  bench_parse_options (argc, argv, &options);
  duration_us = options.quick ? 500000 : 1000000;
  rounds = MIN (options.rounds, 3);
  for (guint side = 0; side < 2; side++)
    for (guint f = 0; f < N_FIGURES; f++)
      values[side][f] = g_new0 (double, rounds);
  for (guint r = 0; r < rounds; r++)
    for (guint side = 0; side < (options.skip_peer ? 1u : 2u); side++)
      {
        Lateness result = measure (side == 0 ? EVB_MODE_ASYNC : EVB_MODE_SYNC, duration_us);

        values[side][0][r] = result.p50_ms;
        values[side][1][r] = result.p99_ms;
        values[side][2][r] = result.max_ms;
        values[side][3][r] = result.own_p99_ms;
        values[side][4][r] = result.flood_per_s;
      }
  for (guint f = 0; f < N_FIGURES; f++)
    {
      double evbus = bench_median (values[0][f], rounds);
      double peer = bench_median (values[1][f], rounds);
      /* Lower is better for lateness, higher for the flood rate. */
      double ratio = f == N_FIGURES - 1 ? (peer > 0 ? evbus / peer : 0) : (evbus > 0 ? peer / evbus : 0);

      bench_result ("B4", figures[f].variant, figures[f].unit, evbus, peer, "sync-handlers", ratio, figures[f].check);
    }
  for (guint side = 0; side < 2; side++)
    for (guint f = 0; f < N_FIGURES; f++)
      g_free (values[side][f]);
  return 0;
}
