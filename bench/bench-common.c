#include "bench-common.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void
bench_parse_options (int argc, char **argv, BenchOptions *options)
{
  options->quick = FALSE;
  options->rounds = 5;
  options->only = NULL;
  options->skip_peer = FALSE;
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--quick") == 0)
        options->quick = TRUE;
      else if (strcmp (argv[i], "--rounds") == 0 && i + 1 < argc)
        {
          int rounds = atoi (argv[++i]); /* not inside MAX (): it would evaluate ++i twice */

          options->rounds = (guint) MAX (1, rounds);
        }
      else if (strcmp (argv[i], "--only") == 0 && i + 1 < argc)
        options->only = argv[++i];
      else if (strcmp (argv[i], "--no-peer") == 0)
        options->skip_peer = TRUE;
      else
        {
          fprintf (stderr, "usage: %s [--quick] [--rounds N] [--only VARIANT] [--no-peer]\n", argv[0]);
          exit (2);
        }
    }
  if (options->quick && options->rounds > 3)
    options->rounds = 3;
}

gboolean
bench_wants (const BenchOptions *options, const char *variant)
{
  return options->only == NULL || strstr (variant, options->only) != NULL;
}

gint64
bench_now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return x < y ? -1 : x > y;
}

double
bench_median (double *values, guint n)
{
  if (n == 0)
    return 0;
  qsort (values, n, sizeof (double), compare_doubles);
  if (n % 2 == 1)
    return values[n / 2];
  return (values[n / 2 - 1] + values[n / 2]) / 2;
}

void
bench_result (const char *bench, const char *variant, const char *unit, double evbus, double peer,
              const char *peer_name, double ratio, const char *check)
{
  printf ("RESULT bench=%s variant=%s unit=%s evbus=%.4g peer=%.4g peer_name=%s ratio=%.4g check=%s\n", bench,
          variant, unit, evbus, peer, peer_name, ratio, check);
  fflush (stdout);
}

gsize
bench_rss_bytes (void)
{
  unsigned long size = 0;
  unsigned long resident = 0;
  FILE *statm = fopen ("/proc/self/statm", "r");

  if (statm == NULL)
    return 0;
  if (fscanf (statm, "%lu %lu", &size, &resident) != 2)
    resident = 0;
  fclose (statm);
  return (gsize) resident * (gsize) sysconf (_SC_PAGESIZE);
}

gsize
bench_heap_bytes (void)
{
  struct mallinfo2 info = mallinfo2 ();

  return info.uordblks + info.hblkhd;
}

EvbBus *
bench_bus_new (GMainContext *context, guint workers, guint inbox_limit)
{
  EvbBusSettings settings;

  evb_bus_settings_init (&settings);
  settings.workers = workers;
  if (inbox_limit > 0)
    settings.inbox_limit = inbox_limit;
  return evb_bus_new (&settings, context);
}

guint64
bench_dispatched (EvbBus *bus)
{
  EvbBusTotals totals;

  evb_bus_get_totals (bus, &totals);
  return totals.dispatched;
}

guint64
bench_jobs_completed (EvbBus *bus)
{
  EvbBusTotals totals;

  evb_bus_get_totals (bus, &totals);
  return totals.jobs_completed;
}

void
bench_drain_until_dispatched (EvbBus *bus, guint64 target)
{
  GMainContext *context = evb_bus_get_context (bus);

  while (bench_dispatched (bus) < target)
    g_main_context_iteration (context, FALSE);
}

void
bench_run_until_idle (EvbBus *bus)
{
  GMainContext *context = evb_bus_get_context (bus);

  while (!evb_bus_is_idle (bus))
    g_main_context_iteration (context, TRUE);
}

guint64
bench_add_route (EvbBus *bus, const char *pattern, EvbMode mode, EvbHandlerFunc func, gpointer user_data,
                 const char *filter_json)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;
  json_t *filter = NULL;
  guint64 id;

  if (filter_json != NULL)
    {
      filter = json_loads (filter_json, 0, NULL);
      g_assert (filter != NULL);
    }
  spec.mode = mode;
  spec.pattern = pattern;
  spec.handler = "bench";
  spec.func = func;
  spec.user_data = user_data;
  spec.filter = filter;
  id = evb_bus_add_route (bus, NULL, &spec, NULL, &error);
  json_decref (filter);
  if (id == 0)
    g_error ("route on %s: %s", pattern, error->message);
  return id;
}
