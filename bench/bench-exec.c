/* Exec: runs per second of the exec plugin against spawning the same
 * command with g_spawn_sync in a loop (issue 13).
 *
 *   bench-exec [--quick] [--rounds N] [--only VARIANT] [--no-peer]
 *
 * The plugin (plugins/exec, loaded through the harness library as a host
 * would load it) runs `true` once per event: argv, stdin /dev/null, stdout
 * ignored, a process group of its own, reaped before the job ends.  The
 * peer runs `true` with g_spawn_sync (G_SPAWN_SEARCH_PATH, output to
 * /dev/null) in a loop on one thread.  Variants: "serial" (max_concurrency
 * 1: one process at a time, like the loop; checked: the plugin within 2x of
 * the loop's rate, what a job, its status events and the group handling
 * may cost), "parallel" (max_concurrency 2 on two workers; information).
 * Figures are runs per second of wall time; rounds alternate plugin and
 * loop. */
#include "bench-common.h"

#include <evbus/harness.h>

#include <stdio.h>

static double
plugin_runs_per_second (guint runs, guint concurrency)
{
  g_autofree char *config = g_strdup_printf ("{\"command\": [\"true\"], \"stdin\": \"none\", \"stdout\": "
                                             "\"ignore\", \"max_concurrency\": %u}", concurrency);
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new_with_settings ("{\"workers\": 2, \"status_events\": false}", &error);
  gint64 start;
  double rate;

  if (harness == NULL || !evb_harness_add_plugin_file (harness, "x", EXEC_MODULE, config, &error)
      || evb_harness_add_route (harness, "bench.run", "x.run", "{\"mode\": \"async\"}", &error) == 0)
    g_error ("bench-exec: %s", error->message);
  start = bench_now_ns ();
  for (guint i = 0; i < runs; i++)
    if (!evb_harness_emit (harness, "bench.run", NULL, &error))
      g_error ("bench-exec: %s", error->message);
  if (!evb_harness_run_until_idle (harness, 600000, &error))
    g_error ("bench-exec: %s", error->message);
  rate = runs / ((bench_now_ns () - start) / 1e9);
  if (evb_harness_count (harness, "evbus.failure") != 0)
    g_error ("bench-exec: runs failed");
  evb_harness_free (harness);
  return rate;
}

static double
spawn_runs_per_second (guint runs)
{
  char *argv[] = { "true", NULL };
  gint64 start = bench_now_ns ();

  for (guint i = 0; i < runs; i++)
    {
      g_autoptr (GError) error = NULL;
      int status;

      if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL
                         | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, &error)
          || !g_spawn_check_wait_status (status, &error))
        g_error ("bench-exec: g_spawn_sync: %s", error->message);
    }
  return runs / ((bench_now_ns () - start) / 1e9);
}

int
main (int argc, char **argv)
{
  BenchOptions options;
  guint runs;
  const struct {
    const char *name;
    guint concurrency;
    const char *check;
  } variants[] = {
    { "serial", 1, "ratio>=0.5" },
    { "parallel", 2, "info" },
  };

  bench_parse_options (argc, argv, &options);
  runs = options.quick ? 200 : 1000;
  for (gsize v = 0; v < G_N_ELEMENTS (variants); v++)
    {
      g_autofree double *plugin = g_new0 (double, options.rounds);
      g_autofree double *peer = g_new0 (double, options.rounds);
      double plugin_median;
      double peer_median = 0;

      if (!bench_wants (&options, variants[v].name))
        continue;
      for (guint r = 0; r < options.rounds; r++)
        {
          plugin[r] = plugin_runs_per_second (runs, variants[v].concurrency);
          if (!options.skip_peer)
            peer[r] = spawn_runs_per_second (runs);
          printf ("# %s round %u: exec %.0f runs/s, g_spawn_sync loop %.0f runs/s\n", variants[v].name, r,
                  plugin[r], peer[r]);
        }
      plugin_median = bench_median (plugin, options.rounds);
      if (!options.skip_peer)
        peer_median = bench_median (peer, options.rounds);
      /* Higher is better: ratio = exec / loop. */
      bench_result ("EXEC", variants[v].name, "runs/s", plugin_median, peer_median, "g_spawn_sync-loop",
                    peer_median > 0 ? plugin_median / peer_median : 0, variants[v].check);
    }
  return 0;
}
