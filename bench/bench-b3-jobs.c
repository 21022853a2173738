/* B3: async jobs per second: dispatch to the worker pool, completion back on
 * the main loop, with status events on and one status subscriber.
 *
 * Work comes in windows of WINDOW jobs (a steady producer with bounded work
 * outstanding, rather than one backlog of J that mostly measures malloc):
 * evbus: WINDOW events emitted on the main thread; an async route runs a
 * small handler on the pool; a sync route on the status pattern counts the
 * status events; the main thread iterates until the bus is idle (every job
 * completed and every status event dispatched); repeat until J.
 * peer: WINDOW work items pushed to a raw GThreadPool of the same size; each
 * worker, after the same small work, hands the completion to the main loop
 * with g_main_context_invoke; the main thread iterates until it has seen the
 * window's completions; repeat until J.
 *
 * Variants: pool size 1 and 2 (on a 2-core machine a second worker competes
 * with the main thread), and the one status subscriber on
 * "evbus.status.failed" (what an alerting dashboard listens to; no job fails
 * here, so no status event is built), "evbus.status.completed" (one status
 * event per job) or "evbus.status.>" (every transition: three per job). */
#include "bench-common.h"

#include "tsan.h"

/* Stands for the handler's own work; the same in both. */
static guint
small_work (guint64 seed)
{
  guint64 x = seed | 1;

  for (guint i = 0; i < 64; i++)
    x = x * 6364136223846793005ull + 1442695040888963407ull;
  return (guint) (x >> 33);
}

static gint sink; /* atomic: keeps small_work () from being optimised away */

static EvbResult
job_handler (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_set (&sink, (gint) small_work (event->id));
  return EVB_CONTINUE;
}

static guint64 status_seen;

static EvbResult
status_handler (EvbCall *call, const EvbEvent *event)
{
  status_seen++;
  return EVB_CONTINUE;
}

#define WINDOW 1000

static double
measure_evbus (EvbBus *bus, guint64 jobs, guint64 status_per_job)
{
  guint64 completed = bench_jobs_completed (bus);
  guint64 seen = status_seen;
  gint64 start = bench_now_ns ();
  gint64 elapsed;

  for (guint64 done = 0; done < jobs; done += WINDOW)
    {
      for (guint i = 0; i < WINDOW; i++)
        evb_bus_emit (bus, "bench.job", NULL, NULL, NULL);
      bench_run_until_idle (bus);
    }
  elapsed = bench_now_ns () - start;
  g_assert_cmpuint (bench_jobs_completed (bus) - completed, ==, jobs);
  g_assert_cmpuint (status_seen - seen, ==, jobs * status_per_job);
  return (double) jobs / ((double) elapsed / 1e9);
}

/* ---- the peer ---- */

typedef struct {
  GMainContext *context;
  guint64 done; /* main thread */
} Peer;

static gboolean
peer_complete_on_main (gpointer data)
{
  Peer *peer = data;

  peer->done++;
  return G_SOURCE_REMOVE;
}

static void
peer_worker (gpointer item, gpointer user_data)
{
  Peer *peer = user_data;

  /* GThreadPool hands work over inside libglib, which ThreadSanitizer
   * cannot see: say so, as host/job.c does for its own hand-over. */
  EVB_TSAN_ACQUIRE (peer);
  g_atomic_int_set (&sink, (gint) small_work (GPOINTER_TO_SIZE (item)));
  g_main_context_invoke (peer->context, peer_complete_on_main, peer);
  EVB_TSAN_RELEASE (peer);
}

static double
measure_peer (GThreadPool *pool, Peer *peer, guint64 jobs)
{
  gint64 start = bench_now_ns ();
  gint64 elapsed;

  peer->done = 0;
  EVB_TSAN_RELEASE (peer);
  for (guint64 done = 0; done < jobs; done += WINDOW)
    {
      for (guint64 i = 0; i < WINDOW; i++)
        g_thread_pool_push (pool, GSIZE_TO_POINTER (done + i + 1), NULL);
      while (peer->done < done + WINDOW)
        g_main_context_iteration (peer->context, TRUE);
    }
  elapsed = bench_now_ns () - start;
  return (double) jobs / ((double) elapsed / 1e9);
}

static void
run_variant (const BenchOptions *options, guint workers, const char *status_pattern, guint64 status_per_job,
             guint64 jobs, const char *name)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (EvbBus) bus = NULL;
  g_autofree double *evbus_rate = g_new0 (double, options->rounds);
  g_autofree double *peer_rate = g_new0 (double, options->rounds);
  Peer peer = { .context = context };
  GThreadPool *pool;
  double evbus;
  double peer_median;

  g_main_context_push_thread_default (context);
  bus = bench_bus_new (context, workers, 0);
  bench_add_route (bus, "bench.job", EVB_MODE_ASYNC, job_handler, NULL, NULL);
  bench_add_route (bus, status_pattern, EVB_MODE_SYNC, status_handler, NULL, NULL);
  pool = g_thread_pool_new (peer_worker, &peer, (gint) workers, FALSE, NULL);

  measure_evbus (bus, jobs / 10, status_per_job);
  if (!options->skip_peer)
    measure_peer (pool, &peer, jobs / 10);
  for (guint r = 0; r < options->rounds; r++)
    {
      evbus_rate[r] = measure_evbus (bus, jobs, status_per_job);
      if (!options->skip_peer)
        peer_rate[r] = measure_peer (pool, &peer, jobs);
    }
  evbus = bench_median (evbus_rate, options->rounds);
  peer_median = bench_median (peer_rate, options->rounds);
  bench_result ("B3", name, "jobs/s", evbus, peer_median, "GThreadPool+invoke",
                peer_median > 0 ? evbus / peer_median : 0, "ratio>=2");

  g_thread_pool_free (pool, FALSE, TRUE);
  EVB_TSAN_ACQUIRE (&peer); /* the workers are done with it */
  g_clear_pointer (&bus, evb_bus_free);
  g_main_context_pop_thread_default (context);
}

int
main (int argc, char **argv)
{
  BenchOptions options;
  guint64 jobs;

  bench_parse_options (argc, argv, &options);
  jobs = options.quick ? 20000 : 100000;
  for (guint workers = 1; workers <= 2; workers++)
    {
      char name[64];

      g_snprintf (name, sizeof name, "w%u-status-failed", workers);
      if (bench_wants (&options, name))
        run_variant (&options, workers, "evbus.status.failed", 0, jobs, name);
      g_snprintf (name, sizeof name, "w%u-status-completed", workers);
      if (bench_wants (&options, name))
        run_variant (&options, workers, "evbus.status.completed", 1, jobs, name);
      g_snprintf (name, sizeof name, "w%u-status-all", workers);
      if (bench_wants (&options, name))
        run_variant (&options, workers, "evbus.status.>", 3, jobs, name);
    }
  return 0;
}
