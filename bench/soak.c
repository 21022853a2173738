/* soak — a mixed pipeline run for a set time, watching resources.
 *
 *   soak [--seconds 600] [--interval 30] [--producers 3] [--rate 800]
 *        [--workers 2] [--overflow block|reject|drop-oldest]
 *
 * Producer threads emit at a steady rate (--rate events per second each)
 * into one bus; sync and async handlers with filters run on three priority
 * levels, some fail (FAILED, an async timeout), one stops the chain; status
 * and failure subscribers run; routes tied to GObject owners are added and
 * their owners finalized all the time, from the main loop (some removed
 * first, some left to be pruned, some dropped while their jobs run) and
 * from a thread.
 *
 * Every --interval seconds one line: elapsed, RSS (/proc/self/statm), live
 * heap (mallinfo2), open file descriptors (/proc/self/fd), threads
 * (/proc/self/status), events queued and jobs in flight at that moment, and
 * the bus's counters.  Also every --interval seconds, a checkpoint: the
 * producers pause, the bus runs until idle, and the live heap is read
 * ("quiet heap"), then the producers go on.  The live heap at an arbitrary
 * moment moves by hundreds of KiB with the events and jobs in flight; at a
 * checkpoint nothing is in flight, so what remains is what the bus keeps,
 * and a creep of a few KiB a minute shows.
 *
 * The soak runs with glibc's per-thread cache (tcache) off: it re-executes
 * itself with GLIBC_TUNABLES=glibc.malloc.tcache_count=0.  The tcache keeps
 * up to 7 freed chunks of each small size per thread and mallinfo2 counts
 * them as in use, so as each thread frees chunks of rarer sizes the live
 * heap climbs for tens of minutes while the program holds nothing more
 * (a 180 s run: +41 KiB/min with the tcache, +0.3 KiB/min without; heaptrack
 * saw the same live allocations at 40 s and at 200 s).  It is bounded (7
 * chunks of 64 sizes per thread), so it is the allocator's, not a leak.  RSS is read after malloc_trim (0): memory freed after
 * a burst (a backlog while the machine was busy) goes back to the system,
 * so RSS follows live memory instead of keeping the allocator's high-water
 * mark, and a lasting step means memory that is still held.  At the end the producers stop, every owner goes, the bus
 * runs until idle, and the program checks:
 *   - nothing lost: emitted == dispatched + dropped, nothing queued, and
 *     the producers' attempts == events of theirs dispatched + dropped +
 *     refused;
 *   - each failure yielded one evbus.failure event, every job ended in one
 *     final state (jobs seen waiting == completed + failed + cancelled);
 *   - routes live back to the baseline;
 *   - RSS flat after warm-up: the mean of the RSS samples (one a second)
 *     over the last third of the run is at most the mean over the middle
 *     third plus a tolerance of max (2 %, 512 KiB); open fds no more in the
 *     last third than in the middle third;
 *   - no heap creep: the least-squares slope of the quiet heap over the
 *     checkpoints after the first third (the warm-up) is at most
 *     HEAP_SLOPE_LIMIT KiB per minute.  The quiet heap still moves by a KiB
 *     or two between checkpoints, so the slope needs MIN_CHECKPOINTS of them
 *     spread over MIN_TREND_SPAN_S: --seconds at least 450 and 9 x
 *     --interval.  A shorter run says the check was not made.
 * It prints PASS or FAIL and exits 0 or 1. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "event.h"

#define TOLERANCE_FRACTION 0.02
#define TOLERANCE_BYTES (512.0 * 1024.0)
#define PRODUCER_TICK_US 10000 /* producers emit a batch every 10 ms */
#define OWNER_TICK_MS 200      /* the main loop makes an owner this often */
#define OWNER_LIFE_US (2 * G_USEC_PER_SEC)
#define MAX_PRODUCERS 64
#define HEAP_SLOPE_LIMIT 1.0 /* KiB per minute after warm-up */
#define MIN_CHECKPOINTS 6
#define MIN_TREND_SPAN_S 300

static gint seconds = 600;
static gint interval = 30;
static gint n_producers = 3;
static gint rate = 800;
static gint workers = 2;
static char *overflow_name = NULL;
static gint leak_rate = 0;

static GOptionEntry entries[] = {
  { "seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "How long to run (default 600)", "N" },
  { "interval", 0, 0, G_OPTION_ARG_INT, &interval, "Seconds between report lines (default 30)", "N" },
  { "producers", 0, 0, G_OPTION_ARG_INT, &n_producers, "Producer threads (default 3)", "N" },
  { "rate", 0, 0, G_OPTION_ARG_INT, &rate, "Events per second per producer (default 800)", "N" },
  { "workers", 0, 0, G_OPTION_ARG_INT, &workers, "Worker threads (default 2)", "N" },
  { "overflow", 0, 0, G_OPTION_ARG_STRING, &overflow_name, "block, reject or drop-oldest (default block)", "POLICY" },
  { "leak", 0, 0, G_OPTION_ARG_INT, &leak_rate,
    "Keep N bytes more every second until the end, to show the heap creep check fails (default 0)", "N" },
  G_OPTION_ENTRY_NULL,
};

/* ---- resources ------------------------------------------------------------- */

#define NO_TCACHE "glibc.malloc.tcache_count=0"

/* See the header: the heap the soak reads must not include what glibc
 * caches per thread.  Tunables are read at start-up only, hence the exec. */
static void
reexec_without_tcache (char **argv)
{
  const char *tunables = g_getenv ("GLIBC_TUNABLES");
  g_autofree char *wanted = NULL;

  if (tunables != NULL && strstr (tunables, NO_TCACHE) != NULL)
    return;
  wanted = tunables != NULL && tunables[0] != '\0' ? g_strconcat (tunables, ":", NO_TCACHE, NULL)
                                                   : g_strdup (NO_TCACHE);
  g_setenv ("GLIBC_TUNABLES", wanted, TRUE);
  execv ("/proc/self/exe", argv);
  fprintf (stderr, "soak: could not re-execute with %s (%s); the live heap includes glibc's per-thread caches\n",
           NO_TCACHE, g_strerror (errno));
}

static gsize
heap_bytes (void)
{
  struct mallinfo2 info = mallinfo2 ();

  return info.uordblks + info.hblkhd;
}

static gsize
rss_bytes (void)
{
  g_autofree char *text = NULL;
  unsigned long pages_total = 0;
  unsigned long pages_resident = 0;

  malloc_trim (0);
  if (!g_file_get_contents ("/proc/self/statm", &text, NULL, NULL)
      || sscanf (text, "%lu %lu", &pages_total, &pages_resident) != 2)
    return 0;
  return (gsize) pages_resident * (gsize) sysconf (_SC_PAGESIZE);
}

static guint
open_fds (void)
{
  GDir *dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint count = 0;

  if (dir == NULL)
    return 0;
  while (g_dir_read_name (dir) != NULL)
    count++;
  g_dir_close (dir);
  return count > 0 ? count - 1 : 0; /* not the one reading the directory */
}

static guint
threads_now (void)
{
  g_autofree char *text = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &text, NULL, NULL))
    return 0;
  line = strstr (text, "\nThreads:");
  return line != NULL ? (guint) g_ascii_strtoull (line + strlen ("\nThreads:"), NULL, 10) : 0;
}

/* --leak: blocks kept until the end, each pointing at the one before, so
 * that nothing but the blocks themselves grows. */
static gpointer leaked_blocks;

static void
leak_more (void)
{
  gpointer *block;

  if (leak_rate <= 0)
    return;
  block = g_malloc0 (MAX ((gsize) leak_rate, sizeof (gpointer)));
  *block = leaked_blocks;
  leaked_blocks = block;
}

static void
leaked_free (void)
{
  while (leaked_blocks != NULL)
    {
      gpointer *block = leaked_blocks;

      leaked_blocks = *block;
      g_free (block);
    }
}

/* ---- counters ------------------------------------------------------------- */

static gint attempts;       /* atomic: producers' emits */
static gint refused;        /* atomic: ... refused */
static guint64 seen_user;   /* main thread: soak.* events dispatched */
static guint64 seen_failure;
static guint64 seen_waiting; /* jobs created, by their first status event */
static gint failure_jobs;   /* atomic: async failure subscriber */
static gint status_seen;    /* atomic: status subscriber */
static gint owners_made;    /* atomic */
static gint owners_gone;    /* atomic */

static void
observe (EvbBus *bus, const EvbEvent *event, gpointer user_data)
{
  if (event->flags & EVB_EVENT_FLAG_STATUS)
    {
      if (strcmp (event->type, "evbus.status.waiting") == 0)
        seen_waiting++;
    }
  else if (strcmp (event->type, "evbus.failure") == 0)
    seen_failure++;
  else if (g_str_has_prefix (event->type, "soak.") && !(event->flags & EVB_EVENT_FLAG_FAILURE))
    seen_user++; /* the producers' events, not the host's on_failure copies */
}

/* ---- handlers ------------------------------------------------------------- */

static gint64
event_n (const EvbEvent *event)
{
  return json_integer_value (json_object_get (event->data, "n"));
}

/* Priority 10, sync, on soak.ping: stops the chain. */
static EvbResult
handle_ping (EvbCall *call, const EvbEvent *event)
{
  return EVB_HANDLED;
}

/* Priority 10, sync, on soak.order.>: reads the order. */
static EvbResult
handle_parse (EvbCall *call, const EvbEvent *event)
{
  return json_integer_value (json_object_get (event->data, "amount")) >= 0 ? EVB_CONTINUE : EVB_HANDLED;
}

/* Priority 5, async, on soak.order.created (max_concurrency 2): fails 1 in 97. */
static EvbResult
handle_enrich (EvbCall *call, const EvbEvent *event)
{
  gint64 n = event_n (event);
  json_t *copy = json_deep_copy (event->data); /* some allocation on the worker */

  json_object_set_new (copy, "enriched", json_true ());
  json_decref (copy);
  if (n % 97 == 0)
    return evb_call_fail (call, "enrich", 97, "no customer for order %" G_GINT64_FORMAT, n);
  return EVB_CONTINUE;
}

/* Priority 5, async, on soak.order.paid, timeout 50 ms: 1 in 499 overruns. */
static EvbResult
handle_settle (EvbCall *call, const EvbEvent *event)
{
  if (event_n (event) % 499 == 0)
    g_usleep (80 * 1000);
  return EVB_CONTINUE;
}

/* Priority 0, sync, on soak.> with a filter (amount > 500): fails 1 in 101,
 * with on_failure "soak.audit-failed". */
static EvbResult
handle_audit (EvbCall *call, const EvbEvent *event)
{
  gint64 n = event_n (event);

  if (n % 101 == 0)
    return evb_call_fail (call, "audit", 101, "audit rejects order %" G_GINT64_FORMAT, n);
  return EVB_CONTINUE;
}

static EvbResult
handle_noop (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static EvbResult
handle_status (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&status_seen);
  return EVB_CONTINUE;
}

static EvbResult
handle_failure (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&failure_jobs);
  return EVB_CONTINUE;
}

static guint64
add_route (EvbBus *bus, const char *pattern, EvbMode mode, gint priority, EvbHandlerFunc func, const char *label,
           const char *filter_json, GObject *owner, void (*tweak) (EvbRouteSpec *spec))
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;
  json_t *filter = filter_json != NULL ? json_loads (filter_json, 0, NULL) : NULL;
  guint64 id;

  spec.pattern = pattern;
  spec.mode = mode;
  spec.priority = priority;
  spec.func = func;
  spec.handler = label;
  spec.filter = filter;
  if (tweak != NULL)
    tweak (&spec);
  id = evb_bus_add_route (bus, NULL, &spec, owner, &error);
  json_decref (filter);
  if (id == 0)
    g_error ("route %s on %s: %s", label, pattern, error->message);
  return id;
}

static void
tweak_enrich (EvbRouteSpec *spec)
{
  spec->max_concurrency = 2;
}

static void
tweak_settle (EvbRouteSpec *spec)
{
  spec->timeout_ms = 50;
}

static void
tweak_audit (EvbRouteSpec *spec)
{
  spec->on_failure = "soak.audit-failed";
}

/* ---- producers ------------------------------------------------------------- */

static gint stop_producers; /* atomic */

/* A checkpoint holds the producers: each one that sees @holding parks on
 * the condition (counted in @parked) until the main loop lets go. */
static GMutex hold_lock;
static GCond hold_cond;
static gboolean holding; /* under hold_lock */
static guint parked;     /* under hold_lock */

static void
hold_producers (gboolean hold)
{
  g_mutex_lock (&hold_lock);
  holding = hold;
  g_cond_broadcast (&hold_cond);
  g_mutex_unlock (&hold_lock);
}

static guint
producers_parked (void)
{
  guint count;

  g_mutex_lock (&hold_lock);
  count = parked;
  g_mutex_unlock (&hold_lock);
  return count;
}

/* Parks while a checkpoint holds the producers; TRUE if it did, so the
 * caller restarts its schedule instead of catching up in a burst. */
static gboolean
park_if_held (void)
{
  gboolean did = FALSE;

  g_mutex_lock (&hold_lock);
  if (holding)
    {
      did = TRUE;
      parked++;
      while (holding)
        g_cond_wait (&hold_cond, &hold_lock);
      parked--;
    }
  g_mutex_unlock (&hold_lock);
  return did;
}

typedef struct {
  EvbBus *bus;
  guint index;
  GThread *thread;
} Producer;

static const char *
type_for (guint64 n)
{
  switch (n % 10)
    {
    case 0: case 1: return "soak.ping";
    case 2: case 3: case 4: return "soak.order.paid";
    default: return "soak.order.created";
    }
}

/* Emits a batch every PRODUCER_TICK_US on an absolute schedule, so the rate
 * holds however long each batch takes. */
static gpointer
produce (gpointer data)
{
  Producer *producer = data;
  guint per_tick = MAX (1, (guint) rate * PRODUCER_TICK_US / G_USEC_PER_SEC);
  gint64 next = g_get_monotonic_time ();
  guint64 n = 0;

  while (!g_atomic_int_get (&stop_producers))
    {
      if (park_if_held ())
        next = g_get_monotonic_time ();
      for (guint i = 0; i < per_tick; i++, n++)
        {
          json_t *event_data = json_pack ("{s:I, s:I, s:i}", "n", (json_int_t) n, "amount", (json_int_t) (n * 7 % 1000),
                                          "p", (int) producer->index);

          g_atomic_int_inc (&attempts);
          if (!evb_bus_emit (producer->bus, type_for (n), "soak", event_data, NULL))
            g_atomic_int_inc (&refused);
        }
      next += PRODUCER_TICK_US;
      if (next > g_get_monotonic_time ())
        g_usleep ((gulong) (next - g_get_monotonic_time ()));
    }
  return NULL;
}

/* ---- owners ------------------------------------------------------------------ */

typedef struct {
  GObject *owner;
  guint64 routes[2];
  gint64 born_us;
} Owned;

static GQueue owned = G_QUEUE_INIT; /* main thread */
static guint owner_serial;

static void
owner_finalized (gpointer data, GObject *where_the_object_was)
{
  g_atomic_int_inc (&owners_gone);
}

static GObject *
owner_new (void)
{
  GObject *owner = g_object_new (G_TYPE_OBJECT, NULL);

  g_object_weak_ref (owner, owner_finalized, NULL);
  g_atomic_int_inc (&owners_made);
  return owner;
}

/* Drops an owner three ways in turn: its routes removed first, left for
 * the bus to prune, or (async route, busy) while its jobs may run. */
static void
owned_drop (EvbBus *bus, Owned *entry)
{
  if (owner_serial++ % 3 == 0)
    for (guint i = 0; i < G_N_ELEMENTS (entry->routes); i++)
      evb_bus_remove_route (bus, entry->routes[i]);
  g_object_unref (entry->owner);
  g_free (entry);
}

static gboolean
owner_tick (gpointer data)
{
  EvbBus *bus = data;
  gint64 now = g_get_monotonic_time ();
  Owned *entry = g_new0 (Owned, 1);

  entry->owner = owner_new ();
  entry->born_us = now;
  entry->routes[0] = add_route (bus, "soak.order.paid", EVB_MODE_SYNC, 3, handle_noop, "owned-sync", NULL,
                                entry->owner, NULL);
  entry->routes[1] = add_route (bus, "soak.order.*", EVB_MODE_ASYNC, 1, handle_noop, "owned-async",
                                "{\"amount\": {\"lt\": 100}}", entry->owner, NULL);
  g_queue_push_tail (&owned, entry);
  while (owned.length > 0 && now - ((Owned *) g_queue_peek_head (&owned))->born_us > OWNER_LIFE_US)
    owned_drop (bus, g_queue_pop_head (&owned));
  return G_SOURCE_CONTINUE;
}

/* A thread that makes owners too, routes to them from off the main thread,
 * and drops them 100 ms later. */
static gint stop_churn; /* atomic */

static gpointer
churn (gpointer data)
{
  EvbBus *bus = data;

  while (!g_atomic_int_get (&stop_churn))
    {
      GObject *owner = owner_new ();

      add_route (bus, "soak.order.created", EVB_MODE_SYNC, 20, handle_noop, "churn", NULL, owner, NULL);
      g_usleep (100 * 1000);
      g_object_unref (owner);
      g_usleep (50 * 1000);
    }
  return NULL;
}

/* ---- the run ------------------------------------------------------------------ */

typedef struct {
  gint64 t_us;
  gsize rss;
  guint fds;
  guint threads;
  gsize heap;
} Sample;

typedef struct {
  gint64 t_us;
  gsize heap; /* live heap with nothing in flight */
} Checkpoint;

typedef struct {
  EvbBus *bus;
  GMainLoop *loop;
  gint64 start_us;
  /* Both sized for the whole run up front: an array that grows while the
   * heap is measured would be a creep of the soak's own. */
  GArray *samples;     /* Sample, one a second */
  GArray *checkpoints; /* Checkpoint, one every --interval */
  guint baseline_routes;
  gint64 next_report_s;
  gint64 next_checkpoint_s;
  gint64 checkpoint_started_us; /* 0: no checkpoint under way */
  guint checkpoint_source;
  guint checkpoints_missed;     /* not idle within CHECKPOINT_TIMEOUT_US */
} Run;

#define CHECKPOINT_TIMEOUT_US (10 * G_USEC_PER_SEC)

static guint
routes_live (EvbBus *bus)
{
  EvbBusTotals totals;

  evb_bus_get_totals (bus, &totals);
  return totals.routes;
}

static void
report_line (Run *run, const Sample *sample)
{
  EvbBusTotals totals;

  evb_bus_get_totals (run->bus, &totals);
  printf ("t=%4" G_GINT64_FORMAT "s rss=%6.2fMiB heap=%6.2fMiB fds=%u threads=%u queued=%u inflight=%u emitted=%"
          G_GUINT64_FORMAT
          " dispatched=%" G_GUINT64_FORMAT " dropped=%" G_GUINT64_FORMAT " jobs=%" G_GUINT64_FORMAT "/%"
          G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " failures=%" G_GUINT64_FORMAT " routes=%u owners=%d/%d"
          " quiet_heap=%.1fKiB\n",
          (sample->t_us - run->start_us) / G_USEC_PER_SEC, sample->rss / 1048576.0, sample->heap / 1048576.0,
          sample->fds, sample->threads, totals.inbox_depth, totals.jobs_in_flight, totals.emitted,
          totals.dispatched, totals.dropped, totals.jobs_completed, totals.jobs_failed, totals.jobs_cancelled,
          totals.failures, routes_live (run->bus), g_atomic_int_get (&owners_gone), g_atomic_int_get (&owners_made),
          run->checkpoints->len > 0
            ? g_array_index (run->checkpoints, Checkpoint, run->checkpoints->len - 1).heap / 1024.0 : 0.0);
  fflush (stdout);
}

/* Polled while a checkpoint holds the producers: once all of them are
 * parked and the bus is idle, reads the quiet heap and lets them go. */
static gboolean
checkpoint_poll (gpointer data)
{
  Run *run = data;
  gint64 now = g_get_monotonic_time ();

  if (producers_parked () == (guint) n_producers && evb_bus_is_idle (run->bus))
    {
      Checkpoint checkpoint = { now, heap_bytes () };

      g_array_append_val (run->checkpoints, checkpoint);
    }
  else if (now - run->checkpoint_started_us < CHECKPOINT_TIMEOUT_US)
    return G_SOURCE_CONTINUE;
  else
    {
      run->checkpoints_missed++;
      printf ("soak: checkpoint at t=%" G_GINT64_FORMAT "s: not idle after %d s, skipped\n",
              (run->checkpoint_started_us - run->start_us) / G_USEC_PER_SEC,
              (int) (CHECKPOINT_TIMEOUT_US / G_USEC_PER_SEC));
    }
  run->checkpoint_started_us = 0;
  run->checkpoint_source = 0;
  hold_producers (FALSE);
  return G_SOURCE_REMOVE;
}

static gboolean
sample_tick (gpointer data)
{
  Run *run = data;
  Sample sample = { g_get_monotonic_time (), rss_bytes (), open_fds (), threads_now (), heap_bytes () };
  gint64 elapsed_s = (sample.t_us - run->start_us + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC;

  g_array_append_val (run->samples, sample);
  leak_more ();
  if (elapsed_s >= run->next_checkpoint_s && run->checkpoint_started_us == 0 && elapsed_s < seconds)
    {
      run->next_checkpoint_s += interval;
      run->checkpoint_started_us = sample.t_us;
      hold_producers (TRUE);
      run->checkpoint_source = g_timeout_add (2, checkpoint_poll, run);
    }
  if (elapsed_s >= run->next_report_s)
    {
      report_line (run, &sample);
      run->next_report_s += interval;
    }
  if (elapsed_s >= seconds)
    {
      g_main_loop_quit (run->loop);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
wake (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates until @done or @timeout_s; FALSE on timeout. */
static gboolean
iterate_until (Run *run, gboolean (*done) (Run *), guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  guint tick = g_timeout_add (10, wake, NULL);

  while (!done (run) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return done (run);
}

static gboolean
settled (Run *run)
{
  return evb_bus_is_idle (run->bus) && routes_live (run->bus) == run->baseline_routes
         && g_atomic_int_get (&owners_gone) == g_atomic_int_get (&owners_made);
}

static double
mean_rss (GArray *samples, gint64 from_us, gint64 to_us, guint *max_fds, guint *count)
{
  double sum = 0;

  *count = 0;
  *max_fds = 0;
  for (guint i = 0; i < samples->len; i++)
    {
      Sample *sample = &g_array_index (samples, Sample, i);

      if (sample->t_us < from_us || sample->t_us >= to_us)
        continue;
      sum += (double) sample->rss;
      *max_fds = MAX (*max_fds, sample->fds);
      (*count)++;
    }
  return *count > 0 ? sum / *count : 0;
}

/* Mean live heap of the samples in [@from_us, @to_us). */
static double
mean_heap (GArray *samples, gint64 from_us, gint64 to_us)
{
  double sum = 0;
  guint count = 0;

  for (guint i = 0; i < samples->len; i++)
    {
      Sample *sample = &g_array_index (samples, Sample, i);

      if (sample->t_us >= from_us && sample->t_us < to_us)
        {
          sum += (double) sample->heap;
          count++;
        }
    }
  return count > 0 ? sum / count : 0;
}

/* A least-squares line through (time, bytes) points, as KiB per minute: a
 * leak shows as a steady climb, allocator steps and noise do not. */
typedef struct {
  double n, sx, sy, sxx, sxy;
} Trend;

static void
trend_add (Trend *trend, gint64 t_us, gsize bytes)
{
  double x = (double) t_us / 60e6;
  double y = (double) bytes / 1024;

  trend->n++;
  trend->sx += x;
  trend->sy += y;
  trend->sxx += x * x;
  trend->sxy += x * y;
}

static double
trend_slope (const Trend *trend)
{
  double denominator = trend->n * trend->sxx - trend->sx * trend->sx;

  if (trend->n < 2 || denominator == 0)
    return 0;
  return (trend->n * trend->sxy - trend->sx * trend->sy) / denominator;
}

static double
rss_slope (GArray *samples, gint64 from_us)
{
  Trend trend = { 0 };

  for (guint i = 0; i < samples->len; i++)
    {
      Sample *sample = &g_array_index (samples, Sample, i);

      if (sample->t_us >= from_us)
        trend_add (&trend, sample->t_us - from_us, sample->rss);
    }
  return trend_slope (&trend);
}

/* The quiet heap's slope over the checkpoints from @from_us on; @count
 * says how many there were. */
static double
quiet_heap_slope (GArray *checkpoints, gint64 from_us, guint *count)
{
  Trend trend = { 0 };

  for (guint i = 0; i < checkpoints->len; i++)
    {
      Checkpoint *checkpoint = &g_array_index (checkpoints, Checkpoint, i);

      if (checkpoint->t_us >= from_us)
        trend_add (&trend, checkpoint->t_us - from_us, checkpoint->heap);
    }
  *count = (guint) trend.n;
  return trend_slope (&trend);
}

static gboolean
check (gboolean ok, const char *what, GString *failures)
{
  printf ("  %-4s %s\n", ok ? "ok" : "FAIL", what);
  if (!ok)
    g_string_append_printf (failures, "%s%s", failures->len > 0 ? "; " : "", what);
  return ok;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) options = g_option_context_new ("- run a mixed evbus pipeline and watch resources");
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) failures = g_string_new (NULL);
  Producer producers[MAX_PRODUCERS];
  EvbBusSettings settings;
  EvbBusTotals totals;
  GThread *churner;
  Run run = { 0 };
  g_autofree char *text = NULL;
  double middle, last, tolerance, slope;
  guint slope_n;
  guint middle_fds, last_fds, middle_n, last_n;
  gint64 end_us;

  reexec_without_tcache (argv);
  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "soak: %s\n", error->message);
      return 2;
    }
  evb_bus_settings_init (&settings);
  if (overflow_name != NULL && !evb_overflow_policy_from_string (overflow_name, &settings.overflow))
    {
      fprintf (stderr, "soak: --overflow: expected block, reject or drop-oldest\n");
      return 2;
    }
  if (seconds < 3 || interval < 1 || n_producers < 1 || n_producers > MAX_PRODUCERS || rate < 1 || workers < 1
      || leak_rate < 0)
    {
      fprintf (stderr, "soak: need --seconds >= 3, --interval >= 1, 1 <= --producers <= %d, --rate >= 1, "
                       "--workers >= 1, --leak >= 0\n", MAX_PRODUCERS);
      return 2;
    }
  settings.workers = (guint) workers;
  settings.inbox_limit = 4096;

  run.bus = evb_bus_new (&settings, NULL);
  run.loop = g_main_loop_new (NULL, FALSE);
  run.samples = g_array_sized_new (FALSE, FALSE, sizeof (Sample), (guint) seconds + 16);
  run.checkpoints = g_array_sized_new (FALSE, FALSE, sizeof (Checkpoint), (guint) (seconds / interval) + 16);
  evb_bus_set_observer (run.bus, observe, NULL);

  add_route (run.bus, "soak.ping", EVB_MODE_SYNC, 10, handle_ping, "ping", NULL, NULL, NULL);
  add_route (run.bus, "soak.order.>", EVB_MODE_SYNC, 10, handle_parse, "parse", NULL, NULL, NULL);
  add_route (run.bus, "soak.order.created", EVB_MODE_ASYNC, 5, handle_enrich, "enrich", NULL, NULL, tweak_enrich);
  add_route (run.bus, "soak.order.paid", EVB_MODE_ASYNC, 5, handle_settle, "settle", NULL, NULL, tweak_settle);
  add_route (run.bus, "soak.>", EVB_MODE_SYNC, 0, handle_audit, "audit", "{\"amount\": {\"gt\": 500}}", NULL,
             tweak_audit);
  add_route (run.bus, "soak.audit-failed", EVB_MODE_SYNC, 0, handle_noop, "audit-failed", NULL, NULL, NULL);
  add_route (run.bus, "evbus.status.>", EVB_MODE_SYNC, 0, handle_status, "status", NULL, NULL, NULL);
  add_route (run.bus, "evbus.failure", EVB_MODE_ASYNC, 0, handle_failure, "failure", NULL, NULL, NULL);
  run.baseline_routes = routes_live (run.bus);

  printf ("soak: %d s, report every %d s; %d producers x %d events/s, %d workers, inbox %u (%s); "
          "RSS (after malloc_trim) tolerance max (%.0f %%, %.0f KiB)\n",
          seconds, interval, n_producers, rate, workers, settings.inbox_limit,
          evb_overflow_policy_to_string (settings.overflow), TOLERANCE_FRACTION * 100, TOLERANCE_BYTES / 1024);
  if (leak_rate > 0)
    printf ("soak: --leak %d: keeping %d bytes more every second (%.1f KiB/min before malloc's overhead); "
            "the heap creep check should fail\n",
            leak_rate, leak_rate, leak_rate * 60 / 1024.0);
  fflush (stdout);

  run.start_us = g_get_monotonic_time ();
  run.next_report_s = 0;
  run.next_checkpoint_s = interval;
  for (gint i = 0; i < n_producers; i++)
    {
      producers[i].bus = run.bus;
      producers[i].index = (guint) i;
      producers[i].thread = g_thread_new ("soak-producer", produce, &producers[i]);
    }
  churner = g_thread_new ("soak-churn", churn, run.bus);
  g_timeout_add (OWNER_TICK_MS, owner_tick, run.bus);
  g_timeout_add (1000, sample_tick, &run);
  sample_tick (&run); /* t=0 */
  g_main_loop_run (run.loop);
  end_us = g_get_monotonic_time ();

  /* Stop everything that makes work, drop every owner, let it settle. */
  g_atomic_int_set (&stop_producers, 1);
  g_atomic_int_set (&stop_churn, 1);
  g_clear_handle_id (&run.checkpoint_source, g_source_remove);
  hold_producers (FALSE);
  for (gint i = 0; i < n_producers; i++)
    g_thread_join (producers[i].thread);
  g_thread_join (churner);
  g_source_remove_by_user_data (run.bus); /* the owner tick */
  while (owned.length > 0)
    owned_drop (run.bus, g_queue_pop_head (&owned));
  if (!iterate_until (&run, settled, 60))
    printf ("soak: not settled after 60 s\n");

  evb_bus_get_totals (run.bus, &totals);
  {
    Sample sample = { g_get_monotonic_time (), rss_bytes (), open_fds (), threads_now (), heap_bytes () };

    printf ("end (producers stopped, owners gone, idle):\n");
    report_line (&run, &sample);
  }

  middle = mean_rss (run.samples, run.start_us + (end_us - run.start_us) / 3,
                     run.start_us + 2 * (end_us - run.start_us) / 3, &middle_fds, &middle_n);
  last = mean_rss (run.samples, run.start_us + 2 * (end_us - run.start_us) / 3, end_us + 1, &last_fds, &last_n);
  tolerance = MAX (middle * TOLERANCE_FRACTION, TOLERANCE_BYTES);

  printf ("checks:\n");
  text = g_strdup_printf ("nothing lost: emitted %" G_GUINT64_FORMAT " == dispatched %" G_GUINT64_FORMAT
                          " + dropped %" G_GUINT64_FORMAT ", queued %u",
                          totals.emitted, totals.dispatched, totals.dropped, totals.inbox_depth);
  check (totals.emitted == totals.dispatched + totals.dropped && totals.inbox_depth == 0, text, failures);
  g_free (text);
  /* Under "reject" the refusals the producers saw are what bus.dropped
   * counts; under the other policies nothing is refused. */
  text = g_strdup_printf ("producers: %d attempts == %" G_GUINT64_FORMAT " of theirs dispatched + %" G_GUINT64_FORMAT
                          " dropped; %d refused", g_atomic_int_get (&attempts), seen_user, totals.dropped,
                          g_atomic_int_get (&refused));
  check ((guint64) g_atomic_int_get (&attempts) == seen_user + totals.dropped
           && (guint64) g_atomic_int_get (&refused) == (settings.overflow == EVB_OVERFLOW_REJECT ? totals.dropped : 0),
         text, failures);
  g_free (text);
  text = g_strdup_printf ("failures: %" G_GUINT64_FORMAT " == %" G_GUINT64_FORMAT " evbus.failure events == %d "
                          "failure jobs", totals.failures, seen_failure, g_atomic_int_get (&failure_jobs));
  check (totals.failures == seen_failure && seen_failure == (guint64) g_atomic_int_get (&failure_jobs), text,
         failures);
  g_free (text);
  text = g_strdup_printf ("jobs: %" G_GUINT64_FORMAT " created == %" G_GUINT64_FORMAT " completed + %"
                          G_GUINT64_FORMAT " failed + %" G_GUINT64_FORMAT " cancelled, %u in flight",
                          seen_waiting, totals.jobs_completed, totals.jobs_failed, totals.jobs_cancelled,
                          totals.jobs_in_flight);
  check (seen_waiting == totals.jobs_completed + totals.jobs_failed + totals.jobs_cancelled
           && totals.jobs_in_flight == 0, text, failures);
  g_free (text);
  text = g_strdup_printf ("routes live %u == baseline %u; owners finalized %d of %d", routes_live (run.bus),
                          run.baseline_routes, g_atomic_int_get (&owners_gone), g_atomic_int_get (&owners_made));
  check (routes_live (run.bus) == run.baseline_routes
           && g_atomic_int_get (&owners_gone) == g_atomic_int_get (&owners_made), text, failures);
  g_free (text);
  text = g_strdup_printf ("RSS flat after warm-up: mean of last third %.2f MiB (%u samples) <= mean of middle "
                          "third %.2f MiB (%u samples) + tolerance %.2f MiB (max of 2 %% and 512 KiB); "
                          "change %+.2f %%", last / 1048576, last_n, middle / 1048576, middle_n,
                          tolerance / 1048576, middle > 0 ? (last - middle) / middle * 100 : 0);
  check (middle_n > 0 && last_n > 0 && last <= middle + tolerance, text, failures);
  g_free (text);
  printf ("  info live heap: mean %.2f MiB in the middle third, %.2f MiB in the last third\n",
          mean_heap (run.samples, run.start_us + (end_us - run.start_us) / 3,
                     run.start_us + 2 * (end_us - run.start_us) / 3) / 1048576,
          mean_heap (run.samples, run.start_us + 2 * (end_us - run.start_us) / 3, end_us + 1) / 1048576);
  printf ("  info RSS trend after warm-up: %+.1f KiB/min (least squares over the last two thirds)\n",
          rss_slope (run.samples, run.start_us + (end_us - run.start_us) / 3));
  slope = quiet_heap_slope (run.checkpoints, run.start_us + (end_us - run.start_us) / 3, &slope_n);
  if (slope_n >= MIN_CHECKPOINTS && (end_us - run.start_us) * 2 / 3 >= MIN_TREND_SPAN_S * G_USEC_PER_SEC)
    {
      text = g_strdup_printf ("no heap creep: quiet heap %+.2f KiB/min over %u checkpoints after warm-up "
                              "(limit %.1f); %u checkpoints missed", slope, slope_n, HEAP_SLOPE_LIMIT,
                              run.checkpoints_missed);
      check (slope <= HEAP_SLOPE_LIMIT && run.checkpoints_missed == 0, text, failures);
      g_free (text);
    }
  else
    printf ("  info heap creep not checked: %+.2f KiB/min over %u checkpoints after warm-up is noise; the check needs "
            "%d over %d s (run --seconds >= %d with --interval %d)\n", slope, slope_n, MIN_CHECKPOINTS,
            MIN_TREND_SPAN_S, MAX (MIN_TREND_SPAN_S * 3 / 2, 3 * MIN_CHECKPOINTS * interval / 2 + interval),
            interval);
  text = g_strdup_printf ("fds flat: at most %u in the last third, %u in the middle third", last_fds, middle_fds);
  check (last_fds <= middle_fds, text, failures);
  g_free (text);
  text = NULL;

  printf ("%s%s%s\n", failures->len == 0 ? "PASS" : "FAIL", failures->len > 0 ? ": " : "",
          failures->str);
  evb_bus_free (run.bus);
  g_main_loop_unref (run.loop);
  g_array_unref (run.samples);
  g_array_unref (run.checkpoints);
  leaked_free ();
  g_free (overflow_name);
  return failures->len == 0 ? 0 : 1;
}
