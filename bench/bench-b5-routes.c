/* B5: cost per event as the route table grows.
 *
 * R routes on R distinct exact types ("t<i>.evt"), one sync handler each;
 * events cycle through all R types, so the per-type lookup cache and the
 * trie hold R entries and every event finds its one route.  Wildcard
 * variants: P patterns, half "w<i>.*" and half "w<i>.>", events of type
 * "w<i>.x" cycling through all P (each matches one route).  The peer is
 * evbus itself at 10 exact routes, measured in the same rounds; ratio =
 * cost at R / cost at 10 (lower is better; the target is <= 2). */
#include "bench-common.h"

#define BATCH 1000

static guint64 calls;

static EvbResult
count_handler (EvbCall *call, const EvbEvent *event)
{
  calls++;
  return EVB_CONTINUE;
}

typedef struct {
  GMainContext *context;
  EvbBus *bus;
  char **types;
  guint n_types;
} Table;

static void
table_init (Table *table, guint n_routes, gboolean wildcard)
{
  table->context = g_main_context_new ();
  g_main_context_push_thread_default (table->context);
  table->bus = bench_bus_new (table->context, 1, 0);
  g_main_context_pop_thread_default (table->context);
  table->n_types = n_routes;
  table->types = g_new0 (char *, n_routes + 1);
  for (guint i = 0; i < n_routes; i++)
    {
      g_autofree char *pattern = NULL;

      if (wildcard)
        {
          pattern = g_strdup_printf (i % 2 == 0 ? "w%u.*" : "w%u.>", i);
          table->types[i] = g_strdup_printf ("w%u.x", i);
        }
      else
        {
          pattern = g_strdup_printf ("t%u.evt", i);
          table->types[i] = g_strdup (pattern);
        }
      bench_add_route (table->bus, pattern, EVB_MODE_SYNC, count_handler, NULL, NULL);
    }
}

static void
table_clear (Table *table)
{
  g_main_context_push_thread_default (table->context);
  g_clear_pointer (&table->bus, evb_bus_free);
  g_main_context_pop_thread_default (table->context);
  g_main_context_unref (table->context);
  g_strfreev (table->types);
}

/* ns per event over @events events cycling through the table's types. */
static double
measure (Table *table, guint64 events)
{
  guint64 start_dispatched = bench_dispatched (table->bus);
  guint64 start_calls = calls;
  guint next = 0;
  gint64 start;
  gint64 elapsed;

  g_main_context_push_thread_default (table->context);
  start = bench_now_ns ();
  for (guint64 done = 0; done < events; done += BATCH)
    {
      for (guint i = 0; i < BATCH; i++)
        {
          evb_bus_emit (table->bus, table->types[next], NULL, NULL, NULL);
          if (++next == table->n_types)
            next = 0;
        }
      bench_drain_until_dispatched (table->bus, start_dispatched + done + BATCH);
    }
  elapsed = bench_now_ns () - start;
  g_main_context_pop_thread_default (table->context);
  g_assert_cmpuint (calls - start_calls, ==, events);
  return (double) elapsed / (double) events;
}

int
main (int argc, char **argv)
{
  static const struct {
    const char *name;
    guint n_routes;
    gboolean wildcard;
  } variants[] = {
    { "exact-1000", 1000, FALSE },
    { "exact-10000", 10000, FALSE },
    { "wildcard-100", 100, TRUE },
    { "wildcard-1000", 1000, TRUE },
  };
  BenchOptions options;
  Table base;
  guint64 events;

  bench_parse_options (argc, argv, &options);
  events = options.quick ? 200000 : 1000000;
  table_init (&base, 10, FALSE);
  for (guint v = 0; v < G_N_ELEMENTS (variants); v++)
    {
      g_autofree double *cost = g_new0 (double, options.rounds);
      g_autofree double *base_cost = g_new0 (double, options.rounds);
      Table table;
      double median;
      double base_median;

      if (!bench_wants (&options, variants[v].name))
        continue;
      table_init (&table, variants[v].n_routes, variants[v].wildcard);
      /* Warm-up: every type once through the lookup cache. */
      measure (&table, MAX (BATCH, (guint64) variants[v].n_routes / BATCH * BATCH * 2));
      measure (&base, BATCH * 10);
      for (guint r = 0; r < options.rounds; r++)
        {
          cost[r] = measure (&table, events);
          base_cost[r] = measure (&base, events);
        }
      median = bench_median (cost, options.rounds);
      base_median = bench_median (base_cost, options.rounds);
      bench_result ("B5", variants[v].name, "ns/event", median, base_median, "evbus-10-routes",
                    median / base_median, "ratio<=2");
      table_clear (&table);
    }
  table_clear (&base);
  return 0;
}
