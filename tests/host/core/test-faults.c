/* Fault injection (issue 6): handlers failing at random on several priority
 * levels, async and sync timeouts (held by the test, never raced), owners
 * finalized while their jobs run or by their own handler, owners made and
 * dropped by several threads, a plugin whose init fails half way, shutdown
 * with jobs in flight and a full inbox whose producers are blocked, and
 * every overflow policy under a flood from four threads.
 *
 * Every test ends with the same ledger (check_ledger), exact, no tolerance:
 *  - each emitted event is dispatched or counted as dropped.  From the
 *    inbox: emitted == dispatched + drop-oldest losses, nothing queued.
 *    From the producers (test threads, handlers that emit):
 *      attempts == user events dispatched + bus.dropped + refused-after-shutdown
 *    (bus.dropped holds the "reject" refusals, which the producers also saw
 *    as EVB_BUS_ERROR_INBOX_FULL: that count must equal it exactly);
 *  - each failure yields exactly one evbus.failure event: the failures the
 *    handlers produced (FAILED, a result that is no EvbResult, an async
 *    timeout, a sync overrun) == bus.failures == evbus.failure events
 *    dispatched, each (origin event, route) pair once; failures of status
 *    and failure handlers are logged and counted, never re-emitted;
 *  - every job ends in exactly one final state: the status events of each
 *    job follow waiting -> executing -> completed | failed, or
 *    -> cancelling -> cancelled, end once, and completed + failed +
 *    cancelled from status events == the bus's totals == jobs created;
 *  - no host report was lost and no job was left behind at shutdown (no
 *    "event lost" or "did not stop" warning).
 * Status and failure subscribers (sync and async) run in every test.
 * Leaks and use after free are the sanitizers' part: the suite runs under
 * `make test-asan` and `make test-tsan`. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "bus.h"
#include "event.h"
#include "plugin-abi.h"

/* Waits end as soon as their condition holds; this only bounds a hang
 * (sanitizer builds on a loaded machine are slow). */
#define WAIT_MS 60000

#include "test-util.h"

#define MAX_PRODUCERS 4
#define PLAN_SEED 20240606u

/* ---- warnings of the core, counted ---------------------------------------- */

static gint warnings_suppressed; /* a failure handler failed: "(not re-emitted)" */
static gint warnings_lost;       /* a host report could not be queued */
static gint warnings_stuck;      /* a job did not stop at shutdown */
static gint warnings_other;

static void
count_core_warning (const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
  /* Thousands in a flood: counted, not printed. */
  if (strstr (message, "(not re-emitted)") != NULL)
    {
      g_atomic_int_inc (&warnings_suppressed);
      return;
    }
  if (strstr (message, " event lost: ") != NULL)
    g_atomic_int_inc (&warnings_lost);
  else if (strstr (message, "did not stop after cancellation") != NULL)
    g_atomic_int_inc (&warnings_stuck);
  else
    g_atomic_int_inc (&warnings_other);
  g_log_default_handler (domain, level, message, user_data);
}

/* ---- a gate that holds handlers in flight --------------------------------- */

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean open;
  gint entered;    /* atomic: handlers that reached the gate */
  gint saw_cancel; /* atomic: handlers that left with their call cancelled */
} Gate;

static Gate gate;

static void
gate_reset (void)
{
  g_mutex_lock (&gate.lock);
  gate.open = FALSE;
  g_mutex_unlock (&gate.lock);
  g_atomic_int_set (&gate.entered, 0);
  g_atomic_int_set (&gate.saw_cancel, 0);
}

static void
gate_open (void)
{
  g_mutex_lock (&gate.lock);
  gate.open = TRUE;
  g_cond_broadcast (&gate.cond);
  g_mutex_unlock (&gate.lock);
}

/* Holds the calling handler until the test opens the gate.  With
 * @heed_cancel it also leaves once the host cancels the call; that one is
 * polled, because during shutdown the test thread is inside
 * evb_bus_shutdown () and cannot open anything. */
static void
gate_pass (EvbCall *call, gboolean heed_cancel)
{
  g_atomic_int_inc (&gate.entered);
  g_mutex_lock (&gate.lock);
  while (!gate.open && !(heed_cancel && evb_call_is_cancelled (call)))
    {
      if (heed_cancel)
        g_cond_wait_until (&gate.cond, &gate.lock, g_get_monotonic_time () + 1000);
      else
        g_cond_wait (&gate.cond, &gate.lock);
    }
  g_mutex_unlock (&gate.lock);
  if (evb_call_is_cancelled (call))
    g_atomic_int_inc (&gate.saw_cancel);
}

/* ---- the ledger: what producers and handlers did ------------------------ */

typedef struct {
  gint attempts;          /* user events anyone tried to emit */
  gint refused_full;      /* ... refused with EVB_BUS_ERROR_INBOX_FULL */
  gint refused_shut_down; /* ... refused with EVB_BUS_ERROR_SHUT_DOWN */
  gint failures;          /* failures handlers produced, counted as they return */
  gint on_failure;        /* of which on routes with on_failure */
} Ledger;

static Ledger *ledger; /* the running test's; atomics */

static gboolean
ledger_emit (EvbBus *bus, const char *type, const char *source, json_t *data, GError **error)
{
  GError *local_error = NULL;

  g_atomic_int_inc (&ledger->attempts);
  if (evb_bus_emit (bus, type, source, data, &local_error))
    return TRUE;
  if (g_error_matches (local_error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL))
    g_atomic_int_inc (&ledger->refused_full);
  else if (g_error_matches (local_error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN))
    g_atomic_int_inc (&ledger->refused_shut_down);
  else
    g_error ("emit %s: unexpected error: %s", type, local_error->message);
  g_propagate_error (error, local_error);
  return FALSE;
}

/* ---- the rig: a bus and an observer that audits every event ------------- */

typedef struct {
  guint64 id;
  char states[8]; /* one letter per status event: W E C F N(cancelling) X(cancelled) */
  guint n_states;
  guint n_final;
} JobTrack;

typedef struct _Rig Rig;
typedef void (*RigHook) (Rig *rig, const EvbEvent *event);

struct _Rig {
  GMainContext *context;
  EvbBus *bus;
  EvbOverflowPolicy policy;
  GHashTable *jobs;         /* &JobTrack.id -> JobTrack */
  GHashTable *failure_keys; /* "origin-id/route-id" -> count */
  GString *anomalies;       /* what the observer found wrong; must stay empty */
  guint64 seen_total;
  guint64 seen_user;        /* neither status nor failure nor unhandled */
  guint64 seen_status;
  guint64 seen_failure;
  guint64 seen_on_failure;
  guint64 seen_unhandled;
  guint64 seen_work;        /* "fault.work" */
  GArray *work_ns;          /* data.n of each dispatched "fault.work" */
  gint64 last_n_of[MAX_PRODUCERS];
  RigHook hook;             /* per test, for each event as it dispatches */
  guint baseline_routes;
};

static Rig *rig_now; /* the running test's, for handlers */

static void G_GNUC_PRINTF (2, 3)
anomaly (Rig *rig, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_string_append_vprintf (rig->anomalies, format, args);
  va_end (args);
  g_string_append_c (rig->anomalies, '\n');
}

static char
state_letter (const char *state)
{
  static const char *const names[] = { "waiting", "executing", "completed", "failed", "cancelling", "cancelled" };
  static const char letters[] = "WECFNX";

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_strcmp0 (state, names[i]) == 0)
      return letters[i];
  return '?';
}

static void
track_status (Rig *rig, const EvbEvent *event)
{
  guint64 id = (guint64) json_int_at (event->data, "job");
  char letter = state_letter (json_string_value (json_object_get (event->data, "state")));
  JobTrack *job = g_hash_table_lookup (rig->jobs, &id);

  if (strcmp (event->type + strlen ("evbus.status."), json_string_value (json_object_get (event->data, "state"))))
    anomaly (rig, "status event %s says state %s", event->type,
             json_string_value (json_object_get (event->data, "state")));
  if (job == NULL)
    {
      job = g_new0 (JobTrack, 1);
      job->id = id;
      g_hash_table_insert (rig->jobs, &job->id, job);
    }
  if (job->n_states + 1 >= sizeof job->states)
    {
      anomaly (rig, "job %" G_GUINT64_FORMAT ": too many status events (%s)", id, job->states);
      return;
    }
  job->states[job->n_states++] = letter;
  if (letter == 'C' || letter == 'F' || letter == 'X')
    job->n_final++;
}

static void
track_failure (Rig *rig, const EvbEvent *event)
{
  g_autofree char *key = g_strdup_printf ("%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT,
                                          json_int_at (event->data, "origin.id"),
                                          json_int_at (event->data, "route.id"));
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (rig->failure_keys, key)) + 1;

  if (count > 1)
    anomaly (rig, "failure %s reported %u times", key, count);
  g_hash_table_insert (rig->failure_keys, g_steal_pointer (&key), GUINT_TO_POINTER (count));
}

static void
rig_observe (EvbBus *bus, const EvbEvent *event, gpointer user_data)
{
  Rig *rig = user_data;

  rig->seen_total++;
  if (g_str_has_prefix (event->type, "evbus.status."))
    {
      rig->seen_status++;
      track_status (rig, event);
    }
  else if (strcmp (event->type, "evbus.failure") == 0)
    {
      rig->seen_failure++;
      track_failure (rig, event);
    }
  else if (event->flags & EVB_EVENT_FLAG_FAILURE)
    rig->seen_on_failure++;
  else if (strcmp (event->type, "evbus.unhandled") == 0)
    rig->seen_unhandled++;
  else
    {
      json_t *producer = json_object_get (event->data, "p");
      gint64 n = json_int_at (event->data, "n");

      rig->seen_user++;
      /* DESIGN "Threads and emission": one thread's events in its order. */
      if (json_is_integer (producer))
        {
          gint64 p = json_integer_value (producer);

          if (n <= rig->last_n_of[p])
            anomaly (rig, "producer %" G_GINT64_FORMAT ": event %" G_GINT64_FORMAT " after %" G_GINT64_FORMAT, p,
                     n, rig->last_n_of[p]);
          rig->last_n_of[p] = n;
        }
      if (strcmp (event->type, "fault.work") == 0)
        {
          rig->seen_work++;
          g_array_append_val (rig->work_ns, n);
        }
    }
  if (rig->hook != NULL)
    rig->hook (rig, event);
}

/* ---- status and failure subscribers present in every test --------------- */

static gint status_calls;   /* atomic */
static gint status_fails;   /* atomic */
static gint watcher_calls;  /* atomic */
static gint watcher_fails;  /* atomic */
static gint mirror_calls;   /* atomic */

/* Sync, on evbus.status.>: fails for one job in 50, which the host must log
 * and count but never turn into a failure event. */
static EvbResult
handle_status_tally (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&status_calls);
  if (json_int_at (event->data, "job") % 50 == 0)
    {
      g_atomic_int_inc (&status_fails);
      return evb_call_fail (call, "tally", 50, "status tally refuses job %" G_GINT64_FORMAT,
                            json_int_at (event->data, "job"));
    }
  return EVB_CONTINUE;
}

/* Sync, on evbus.failure: fails for origins whose data.n is a multiple of 5. */
static EvbResult
handle_failure_watcher (EvbCall *call, const EvbEvent *event)
{
  json_t *n = json_at (event->data, "origin.data.n");

  g_atomic_int_inc (&watcher_calls);
  if (json_is_integer (n) && json_integer_value (n) % 5 == 0)
    {
      g_atomic_int_inc (&watcher_fails);
      return evb_call_fail (call, "watcher", 5, "watcher trips on %" JSON_INTEGER_FORMAT, json_integer_value (n));
    }
  return EVB_CONTINUE;
}

/* Async, on evbus.failure: jobs made by failure events. */
static EvbResult
handle_failure_mirror (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&mirror_calls);
  return EVB_CONTINUE;
}

static guint64
rig_add_route (Rig *rig, const EvbRouteSpec *spec, GObject *owner)
{
  g_autoptr (GError) error = NULL;
  guint64 id = evb_bus_add_route (rig->bus, NULL, spec, owner, &error);

  if (id == 0)
    fail_msg ("route on %s: %s", spec->pattern, error->message);
  return id;
}

static guint64
add_func_route (Rig *rig, const char *pattern, EvbMode mode, gint priority, EvbHandlerFunc func, const char *label,
                gpointer data)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;

  spec.pattern = pattern;
  spec.mode = mode;
  spec.priority = priority;
  spec.func = func;
  spec.handler = label;
  spec.user_data = data;
  return rig_add_route (rig, &spec, NULL);
}

static guint
rig_n_routes (Rig *rig)
{
  g_autoptr (json_t) stats = evb_bus_stats (rig->bus);

  return stats_n_routes (stats);
}

static Rig *
rig_new (const EvbBusSettings *settings, Ledger *test_ledger)
{
  Rig *rig = g_new0 (Rig, 1);

  g_atomic_int_set (&warnings_suppressed, 0);
  g_atomic_int_set (&warnings_lost, 0);
  g_atomic_int_set (&warnings_stuck, 0);
  g_atomic_int_set (&warnings_other, 0);
  g_atomic_int_set (&status_calls, 0);
  g_atomic_int_set (&status_fails, 0);
  g_atomic_int_set (&watcher_calls, 0);
  g_atomic_int_set (&watcher_fails, 0);
  g_atomic_int_set (&mirror_calls, 0);
  gate_reset ();
  memset (test_ledger, 0, sizeof *test_ledger);
  ledger = test_ledger;

  rig->context = g_main_context_new ();
  g_main_context_push_thread_default (rig->context);
  rig->bus = evb_bus_new (settings, rig->context);
  rig->policy = evb_bus_get_settings (rig->bus)->overflow;
  rig->jobs = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, g_free);
  rig->failure_keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  rig->anomalies = g_string_new (NULL);
  rig->work_ns = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint i = 0; i < MAX_PRODUCERS; i++)
    rig->last_n_of[i] = -1;
  evb_bus_set_observer (rig->bus, rig_observe, rig);
  rig_now = rig;

  add_func_route (rig, "evbus.status.>", EVB_MODE_SYNC, 0, handle_status_tally, "status-tally", NULL);
  add_func_route (rig, "evbus.failure", EVB_MODE_SYNC, 0, handle_failure_watcher, "failure-watcher", NULL);
  add_func_route (rig, "evbus.failure", EVB_MODE_ASYNC, 0, handle_failure_mirror, "failure-mirror", NULL);
  rig->baseline_routes = rig_n_routes (rig);
  return rig;
}

static void
rig_free (Rig *rig)
{
  evb_bus_free (rig->bus);
  /* Let sources the bus left behind (owner prune notices) run their destroy. */
  while (g_main_context_iteration (rig->context, FALSE))
    ;
  g_main_context_pop_thread_default (rig->context);
  g_main_context_unref (rig->context);
  g_hash_table_unref (rig->jobs);
  g_hash_table_unref (rig->failure_keys);
  g_string_free (rig->anomalies, TRUE);
  g_array_unref (rig->work_ns);
  rig_now = NULL;
  ledger = NULL;
  g_free (rig);
}

/* Conditions of the waits (test-util.h) read the running test's rig from
 * rig_now; their data is their own argument. */
static gboolean
bus_idle (gpointer data)
{
  return evb_bus_is_idle (rig_now->bus);
}

static void
rig_run_until_idle (Rig *rig)
{
  context_run_until (rig->context, bus_idle, NULL, "bus idle");
}

static gint64
bus_stat (Rig *rig, const char *key)
{
  g_autoptr (json_t) stats = evb_bus_stats (rig->bus);

  return json_int_at (stats, key);
}

/* Counts jobs whose status events read exactly @states ("WENX"). */
static guint
jobs_with_states (Rig *rig, const char *states)
{
  GHashTableIter iter;
  gpointer value;
  guint count = 0;

  g_hash_table_iter_init (&iter, rig->jobs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (strcmp (((JobTrack *) value)->states, states) == 0)
      count++;
  return count;
}

/* The ledger described at the top.  @jobs_expected < 0: not known in
 * advance (still compared between status events and totals). */
static void
check_ledger (Rig *rig, gint64 jobs_expected)
{
  static const char *const legal[] = { "WEC", "WEF", "WNX", "WENX" };
  EvbBusTotals totals;
  GHashTableIter iter;
  gpointer value;
  guint64 completed = 0, failed = 0, cancelled = 0;
  guint64 drop_oldest_losses;

  evb_bus_get_totals (rig->bus, &totals);
  if (rig->anomalies->len > 0)
    fail_msg ("the observer saw:\n%s", rig->anomalies->str);

  /* Each emitted event is dispatched or counted as dropped. */
  assert_int_equal (totals.inbox_depth, 0);
  if (rig->policy == EVB_OVERFLOW_REJECT)
    assert_int_equal (g_atomic_int_get (&ledger->refused_full), totals.dropped);
  else
    assert_int_equal (g_atomic_int_get (&ledger->refused_full), 0);
  drop_oldest_losses = totals.dropped - (guint64) g_atomic_int_get (&ledger->refused_full);
  if (rig->policy != EVB_OVERFLOW_DROP_OLDEST)
    assert_int_equal (drop_oldest_losses, 0);
  assert_int_equal (totals.dispatched, rig->seen_total);
  assert_int_equal (totals.emitted, totals.dispatched + drop_oldest_losses);
  assert_int_equal (g_atomic_int_get (&ledger->attempts),
                    rig->seen_user + totals.dropped + (guint64) g_atomic_int_get (&ledger->refused_shut_down));

  /* Each failure yields exactly one failure event (pairs checked unique as
   * they came); failures of meta handlers are logged and counted only. */
  assert_int_equal (totals.failures, g_atomic_int_get (&ledger->failures));
  assert_int_equal (rig->seen_failure, totals.failures);
  assert_int_equal (g_hash_table_size (rig->failure_keys), totals.failures);
  assert_int_equal (rig->seen_on_failure, g_atomic_int_get (&ledger->on_failure));
  assert_int_equal (totals.failures_suppressed, g_atomic_int_get (&status_fails) + g_atomic_int_get (&watcher_fails));
  assert_int_equal (g_atomic_int_get (&warnings_suppressed), totals.failures_suppressed);
  assert_int_equal (g_atomic_int_get (&watcher_calls), rig->seen_failure);
  assert_int_equal (g_atomic_int_get (&status_calls), rig->seen_status);

  /* Every job ends in exactly one final state. */
  g_hash_table_iter_init (&iter, rig->jobs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      JobTrack *job = value;
      gboolean ok = FALSE;

      for (guint i = 0; i < G_N_ELEMENTS (legal); i++)
        ok = ok || strcmp (job->states, legal[i]) == 0;
      if (!ok || job->n_final != 1)
        fail_msg ("job %" G_GUINT64_FORMAT ": status events %s", job->id, job->states);
      switch (job->states[job->n_states - 1])
        {
        case 'C': completed++; break;
        case 'F': failed++; break;
        default: cancelled++; break;
        }
    }
  assert_int_equal (totals.jobs_in_flight, 0);
  assert_int_equal (totals.jobs_completed, completed);
  assert_int_equal (totals.jobs_failed, failed);
  assert_int_equal (totals.jobs_cancelled, cancelled);
  if (jobs_expected >= 0)
    assert_int_equal (completed + failed + cancelled, jobs_expected);

  assert_int_equal (g_atomic_int_get (&warnings_lost), 0);
  assert_int_equal (g_atomic_int_get (&warnings_stuck), 0);
  assert_int_equal (g_atomic_int_get (&warnings_other), 0);
}

/* ---- producers --------------------------------------------------------------- */

typedef struct {
  Rig *rig;
  guint index;
  guint count;      /* G_MAXUINT: until refused after shutdown */
  const char *type;
  guint burst;      /* this many at full speed, then ... */
  guint pause_every; /* ... a pause of 1 ms every this many (0: never) */
  GError *last_error;
  GThread *thread;
} Producer;

static Counter producers_gate; /* 1: go */
static gint producers_done;    /* atomic */

static json_t *
work_data (gint64 n, gint p)
{
  return json_pack ("{s:I, s:i, s:I}", "n", (json_int_t) n, "p", p, "bucket", (json_int_t) (n % 4));
}

static gpointer
produce (gpointer data)
{
  Producer *producer = data;
  gint64 base = (gint64) producer->index * 1000000;

  if (!counter_wait (&producers_gate, 1))
    g_error ("producer %u: not told to go within %d ms", producer->index, WAIT_MS);

  for (guint i = 0; i < producer->count; i++)
    {
      GError *error = NULL;

      /* Paced after the burst so that the main loop keeps up part of the
       * time: a mix of dispatched and overflowing, not only overflow. */
      if (producer->pause_every > 0 && i >= producer->burst && i % producer->pause_every == 0)
        g_usleep (1000);
      if (!ledger_emit (producer->rig->bus, producer->type, "producer", work_data (base + i, (gint) producer->index),
                        &error))
        {
          g_clear_error (&producer->last_error);
          producer->last_error = error;
          if (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN))
            break;
        }
    }
  g_atomic_int_inc (&producers_done);
  return NULL;
}

static void
producers_start (Producer *producers, guint n, Rig *rig, const char *type, guint count)
{
  counter_init (&producers_gate);
  g_atomic_int_set (&producers_done, 0);
  for (guint i = 0; i < n; i++)
    {
      producers[i].rig = rig;
      producers[i].index = i;
      producers[i].count = count;
      producers[i].type = type;
      producers[i].burst = 0;
      producers[i].pause_every = 0;
      producers[i].last_error = NULL;
      producers[i].thread = g_thread_new ("producer", produce, &producers[i]);
    }
}

static void
producers_go (void)
{
  counter_set (&producers_gate, 1);
}

static void
producers_join (Producer *producers, guint n)
{
  for (guint i = 0; i < n; i++)
    g_thread_join (producers[i].thread);
  counter_clear (&producers_gate);
}

static void
producers_clear (Producer *producers, guint n)
{
  for (guint i = 0; i < n; i++)
    g_clear_error (&producers[i].last_error);
}

/* ---- a model of routes whose outcome is planned per event -------------- */

/* plan[n * plan_routes + route] is what that route's handler does for
 * event n: 'c' continue, 'h' handled, 'f' fail with an error, 'x' return a
 * value that is no EvbResult, 'e' return FAILED without an error.  Drawn
 * from a GRand with a fixed seed; read-only while handlers run. */
static char *plan;
static guint plan_routes;

static void
plan_make (guint n_events, guint n_routes, const guint weights[5])
{
  static const char outcomes[] = "chfxe";
  GRand *rand = g_rand_new_with_seed (PLAN_SEED);
  guint total = 0;

  for (guint k = 0; k < 5; k++)
    total += weights[k];
  plan_routes = n_routes;
  plan = g_malloc ((gsize) n_events * n_routes);
  for (guint i = 0; i < n_events * n_routes; i++)
    {
      guint draw = (guint) g_rand_int_range (rand, 0, (gint32) total);
      guint k = 0;

      while (draw >= weights[k])
        draw -= weights[k++];
      plan[i] = outcomes[k];
    }
  g_rand_free (rand);
}

static void
plan_free (void)
{
  g_clear_pointer (&plan, g_free);
}

/* Event n's row in the plan: producers number their events p * 10^6 + i. */
static guint
plan_row (gint64 n, guint per_producer)
{
  return (guint) ((n / 1000000) * per_producer + n % 1000000);
}

static guint plan_per_producer;

typedef struct {
  const char *name;
  EvbMode mode;
  gint priority;
  gint skip_bucket;   /* filter {"bucket": {"ne": k}}; -1: none */
  gboolean stop_on_failure;
  guint max_concurrency;
  const char *on_failure;
  guint echo_every;   /* emit "fault.echo" for events n % echo_every == 0 */
  guint index;
  guint64 id;
  gint calls;         /* atomic */
  guint64 x_matched, x_filtered, x_calls, x_completed, x_handled, x_failed;
} Model;

static char
planned (const Model *model, gint64 n)
{
  return plan[(gsize) plan_row (n, plan_per_producer) * plan_routes + model->index];
}

static EvbResult
handle_model (EvbCall *call, const EvbEvent *event)
{
  Model *model = call->route_data;
  gint64 n = json_int_at (event->data, "n");

  g_atomic_int_inc (&model->calls);
  if (model->echo_every > 0 && n % model->echo_every == 0)
    ledger_emit (rig_now->bus, "fault.echo", "echo", json_pack ("{s:I}", "n", (json_int_t) n), NULL);
  if (strchr ("fxe", planned (model, n)) != NULL)
    {
      g_atomic_int_inc (&ledger->failures);
      if (model->on_failure != NULL)
        g_atomic_int_inc (&ledger->on_failure);
    }
  switch (planned (model, n))
    {
    case 'h': return EVB_HANDLED;
    case 'f': return evb_call_fail (call, "fault", (gint) model->index, "%s failed on %" G_GINT64_FORMAT, model->name, n);
    case 'x': return (EvbResult) 7;
    case 'e': return EVB_FAILED;
    default: return EVB_CONTINUE;
    }
}

static void
add_models (Rig *rig, Model *models, guint n_models, const char *pattern)
{
  for (guint i = 0; i < n_models; i++)
    {
      EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
      g_autoptr (json_t) filter = NULL;

      models[i].index = i;
      spec.pattern = pattern;
      spec.mode = models[i].mode;
      spec.priority = models[i].priority;
      spec.func = handle_model;
      spec.handler = models[i].name;
      spec.user_data = &models[i];
      spec.stop_on_failure = models[i].stop_on_failure;
      spec.max_concurrency = models[i].max_concurrency;
      spec.on_failure = models[i].on_failure;
      if (models[i].skip_bucket >= 0)
        spec.filter = filter = json_pack ("{s:{s:i}}", "bucket", "ne", models[i].skip_bucket);
      models[i].id = rig_add_route (rig, &spec, NULL);
    }
}

/* What DESIGN "Dispatching one event" says happens to event n: levels from
 * the top, every route of a level runs, HANDLED or a stop_on_failure
 * failure ends the walk after the level.  @models are in priority order,
 * higher first, in subscription order within a level. */
static void
simulate (Model *models, guint n_models, gint64 n)
{
  guint i = 0;

  while (i < n_models)
    {
      gint priority = models[i].priority;
      gboolean handled = FALSE;
      gboolean stopped = FALSE;

      for (; i < n_models && models[i].priority == priority; i++)
        {
          Model *model = &models[i];
          char outcome;

          model->x_matched++;
          if (model->skip_bucket >= 0 && n % 4 == model->skip_bucket)
            {
              model->x_filtered++;
              continue;
            }
          model->x_calls++;
          outcome = planned (model, n);
          if (outcome == 'c' || outcome == 'h')
            {
              model->x_completed++;
              if (outcome == 'h')
                {
                  model->x_handled++;
                  handled = TRUE;
                }
            }
          else
            {
              model->x_failed++;
              stopped = stopped || model->stop_on_failure;
            }
        }
      if (handled || stopped)
        break;
    }
}

/* Simulates every dispatched "fault.work" event, checks each route's calls
 * and counters against it, and books the expected failures.  Returns the
 * number of async jobs the models made. */
static guint64
check_models (Rig *rig, Model *models, guint n_models)
{
  guint64 jobs = 0;
  guint64 failed = 0;
  guint64 failed_with_on_failure = 0;
  g_autoptr (json_t) all_stats = evb_bus_stats (rig->bus);

  for (guint i = 0; i < rig->work_ns->len; i++)
    simulate (models, n_models, g_array_index (rig->work_ns, gint64, i));
  for (guint i = 0; i < n_models; i++)
    {
      Model *model = &models[i];
      json_t *stats = route_stats (all_stats, model->id);

      assert_non_null (stats);
      assert_int_equal (g_atomic_int_get (&model->calls), model->x_calls);
      assert_int_equal (json_int_at (stats, "matched"), model->x_matched);
      assert_int_equal (json_int_at (stats, "filtered"), model->x_filtered);
      assert_int_equal (json_int_at (stats, "completed"), model->x_completed);
      assert_int_equal (json_int_at (stats, "handled"), model->x_handled);
      assert_int_equal (json_int_at (stats, "failed"), model->x_failed);
      assert_int_equal (json_int_at (stats, "cancelled"), 0);
      failed += model->x_failed;
      if (model->on_failure != NULL)
        failed_with_on_failure += model->x_failed;
      if (model->mode == EVB_MODE_ASYNC)
        jobs += model->x_calls;
    }
  /* What the handlers counted as they returned, against the model. */
  assert_int_equal (g_atomic_int_get (&ledger->failures), failed);
  assert_int_equal (g_atomic_int_get (&ledger->on_failure), failed_with_on_failure);
  return jobs;
}

/* Checks what each evbus.failure about a "fault.work" event says against
 * the plan: error domain, code and message, thread, job. */
static Model *hook_models;
static guint hook_n_models;

static void
hook_check_failure (Rig *rig, const EvbEvent *event)
{
  Model *model = NULL;
  gint64 n;
  g_autofree char *message = NULL;
  const char *domain = "evbus";
  gint code = 0;
  json_t *error;

  if (strcmp (event->type, "evbus.failure") != 0
      || g_strcmp0 (json_string_value (json_at (event->data, "origin.type")), "fault.work") != 0)
    return;
  for (guint i = 0; i < hook_n_models; i++)
    if ((gint64) hook_models[i].id == json_int_at (event->data, "route.id"))
      model = &hook_models[i];
  if (model == NULL)
    {
      anomaly (rig, "failure of route %" G_GINT64_FORMAT ", not a model", json_int_at (event->data, "route.id"));
      return;
    }
  n = json_int_at (event->data, "origin.data.n");
  switch (planned (model, n))
    {
    case 'f':
      domain = "fault";
      code = (gint) model->index;
      message = g_strdup_printf ("%s failed on %" G_GINT64_FORMAT, model->name, n);
      break;
    case 'x':
      message = g_strdup ("handler returned 7, which is not an EvbResult");
      break;
    case 'e':
      message = g_strdup ("handler returned EVB_FAILED without an error (use evb_call_fail)");
      break;
    default:
      anomaly (rig, "%s reported failed on %" G_GINT64_FORMAT ", planned '%c'", model->name, n, planned (model, n));
      return;
    }
  error = json_object_get (event->data, "error");
  if (g_strcmp0 (json_string_value (json_object_get (error, "domain")), domain) != 0
      || json_int_at (error, "code") != code
      || g_strcmp0 (json_string_value (json_object_get (error, "message")), message) != 0
      || g_strcmp0 (json_string_value (json_object_get (event->data, "thread")),
                    model->mode == EVB_MODE_ASYNC ? "worker" : "main") != 0
      || g_strcmp0 (json_string_value (json_object_get (event->data, "handler")), model->name) != 0
      || json_is_integer (json_object_get (event->data, "job")) != (model->mode == EVB_MODE_ASYNC))
    {
      g_autofree char *text = json_dumps (event->data, JSON_COMPACT);

      anomaly (rig, "failure of %s on %" G_GINT64_FORMAT ": expected %s/%d \"%s\", got %s", model->name, n, domain,
               code, message, text);
    }
}

/* ---- handlers failing at random on several levels ---------------------- */

/* DESIGN "Dispatching one event" 3-4 and "Failure events": with outcomes
 * drawn at random (fixed seed) for every route and event, on four priority
 * levels of sync and async routes with filters, stop_on_failure, a
 * max_concurrency of 1 and an on_failure type, every route is called
 * exactly as the chain-of-responsibility model says, every failure (error,
 * bogus result, FAILED without error; on main or worker) is reported once
 * with the right error, and the ledger balances. */
static void
test_random_failures (void **state)
{
  enum { PRODUCERS = 2, EACH = 600 };
  static const guint weights[5] = { 62, 10, 18, 5, 5 };
  Model models[] = {
    { .name = "r0", .mode = EVB_MODE_SYNC, .priority = 10, .skip_bucket = -1 },
    { .name = "r1", .mode = EVB_MODE_ASYNC, .priority = 10, .skip_bucket = -1 },
    { .name = "r2", .mode = EVB_MODE_ASYNC, .priority = 5, .skip_bucket = 3 },
    { .name = "r3", .mode = EVB_MODE_ASYNC, .priority = 5, .skip_bucket = -1, .stop_on_failure = TRUE,
      .on_failure = "fault.failed" },
    { .name = "r4", .mode = EVB_MODE_SYNC, .priority = 5, .skip_bucket = 1 },
    { .name = "r5", .mode = EVB_MODE_SYNC, .priority = 0, .skip_bucket = -1 },
    { .name = "r6", .mode = EVB_MODE_ASYNC, .priority = 0, .skip_bucket = 2, .max_concurrency = 1 },
    { .name = "r7", .mode = EVB_MODE_SYNC, .priority = -5, .skip_bucket = -1, .stop_on_failure = TRUE },
    { .name = "r8", .mode = EVB_MODE_ASYNC, .priority = -5, .skip_bucket = -1 },
  };
  Producer producers[PRODUCERS];
  EvbBusSettings settings;
  Ledger books;
  Rig *rig;
  guint64 jobs;

  evb_bus_settings_init (&settings);
  settings.workers = 3;
  rig = rig_new (&settings, &books);
  plan_make (PRODUCERS * EACH, G_N_ELEMENTS (models), weights);
  plan_per_producer = EACH;
  add_models (rig, models, G_N_ELEMENTS (models), "fault.work");
  hook_models = models;
  hook_n_models = G_N_ELEMENTS (models);
  rig->hook = hook_check_failure;

  producers_start (producers, PRODUCERS, rig, "fault.work", EACH);
  producers_go ();
  context_run_until_int (rig->context, &producers_done, PRODUCERS, "producers done");
  rig_run_until_idle (rig);
  producers_join (producers, PRODUCERS);
  producers_clear (producers, PRODUCERS);

  assert_int_equal (rig->seen_work, PRODUCERS * EACH);
  jobs = check_models (rig, models, G_N_ELEMENTS (models));
  /* The plan is not degenerate: every kind of outcome happened. */
  assert_true (models[1].x_handled > 0 && models[3].x_failed > 0 && models[7].x_failed > 0);
  assert_true (models[8].x_calls > 0 && models[8].x_calls < PRODUCERS * EACH);
  check_ledger (rig, (gint64) (jobs + rig->seen_failure));
  assert_int_equal (g_atomic_int_get (&mirror_calls), rig->seen_failure);
  assert_int_equal (rig->seen_unhandled, 0);

  rig_free (rig);
  plan_free ();
}

/* ---- timeouts ------------------------------------------------------------------ */

static gint held_returns;   /* atomic */
static gint quick_calls;    /* atomic */
static gint after_calls;    /* atomic */
static gint never_calls;    /* atomic */

/* Overruns its timeout: held at the gate (ignoring cancellation) until the
 * test has seen the timeout; then returns what data.kind says. */
static EvbResult
handle_held (EvbCall *call, const EvbEvent *event)
{
  gate_pass (call, FALSE);
  g_atomic_int_inc (&held_returns);
  if (g_strcmp0 (json_string_value (json_object_get (event->data, "kind")), "fail") == 0)
    return evb_call_fail (call, "held", 1, "late failure on %" G_GINT64_FORMAT, json_int_at (event->data, "n"));
  return EVB_CONTINUE;
}

static EvbResult
handle_quick (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&quick_calls);
  return EVB_CONTINUE;
}

/* Sync with a 1 ms timeout: takes 3 ms, so it overruns by construction. */
static EvbResult
handle_sluggish (EvbCall *call, const EvbEvent *event)
{
  g_usleep (3000);
  return EVB_CONTINUE;
}

static EvbResult
handle_after (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&after_calls);
  return EVB_CONTINUE;
}

static EvbResult
handle_never (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&never_calls);
  return EVB_CONTINUE;
}

static gboolean
timeouts_seen (gpointer data)
{
  Rig *rig = rig_now;

  /* Completed: the three quick jobs and one failure-mirror job per failure. */
  return rig->seen_failure >= 6 && g_atomic_int_get (&after_calls) >= 3 && jobs_with_states (rig, "WEC") >= 3 + 6;
}

/* The failure events of test_timeouts, word for word. */
static void
hook_check_timeout_failure (Rig *rig, const EvbEvent *event)
{
  const char *handler = json_string_value (json_object_get (event->data, "handler"));
  const char *message = json_string_value (json_at (event->data, "error.message"));

  if (strcmp (event->type, "evbus.failure") != 0)
    return;
  if (g_strcmp0 (handler, "held") == 0 || g_strcmp0 (handler, "held-stop") == 0)
    {
      if (g_strcmp0 (message, "handler exceeded its timeout of 5 ms") != 0
          || g_strcmp0 (json_string_value (json_object_get (event->data, "thread")), "worker") != 0
          || !json_is_integer (json_object_get (event->data, "job")) || json_int_at (event->data, "error.code") != 1)
        anomaly (rig, "timeout failure of %s: %s", handler, message);
    }
  else if (g_strcmp0 (handler, "sluggish") == 0)
    {
      if (message == NULL || !g_str_has_prefix (message, "sync handler ran ")
          || !g_str_has_suffix (message, " ms, over its timeout of 1 ms")
          || g_strcmp0 (json_string_value (json_object_get (event->data, "thread")), "main") != 0)
        anomaly (rig, "overrun failure of sluggish: %s", message);
    }
  else
    anomaly (rig, "unexpected failure of %s: %s", handler, message);
}

/* DESIGN "Dispatching one event" 4 and "Status events": an async handler
 * that overruns timeout_ms yields exactly one failure event (from the
 * host, on its timer) and its job goes executing -> cancelling ->
 * cancelled, whatever the handler returns later, FAILED included; the
 * level does not wait for it (the chain goes on), unless the route says
 * stop_on_failure.  A sync handler that overruns is one failure too. */
static void
test_timeouts (void **state)
{
  static const char *const kinds[] = { "fail", "ok", "fail" };
  EvbBusSettings settings;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (json_t) sluggish_filter = json_pack ("{s:b}", "sluggish", TRUE);
  g_autoptr (json_t) stats = NULL;
  json_t *held, *held_stop, *sluggish;
  Ledger books;
  guint64 held_id, held_stop_id, sluggish_id;
  Rig *rig;

  evb_bus_settings_init (&settings);
  settings.workers = 6; /* four held handlers and room for the quick ones */
  rig = rig_new (&settings, &books);
  rig->hook = hook_check_timeout_failure;
  g_atomic_int_set (&held_returns, 0);
  g_atomic_int_set (&quick_calls, 0);
  g_atomic_int_set (&after_calls, 0);
  g_atomic_int_set (&never_calls, 0);

  spec.pattern = "fault.slow";
  spec.mode = EVB_MODE_ASYNC;
  spec.priority = 10;
  spec.func = handle_held;
  spec.handler = "held";
  spec.timeout_ms = 5;
  held_id = rig_add_route (rig, &spec, NULL);
  spec.func = handle_quick;
  spec.handler = "quick";
  spec.timeout_ms = WAIT_MS;
  rig_add_route (rig, &spec, NULL);
  spec.mode = EVB_MODE_SYNC;
  spec.priority = 5;
  spec.func = handle_sluggish;
  spec.handler = "sluggish";
  spec.timeout_ms = 1;
  spec.filter = sluggish_filter;
  sluggish_id = rig_add_route (rig, &spec, NULL);
  add_func_route (rig, "fault.slow", EVB_MODE_SYNC, 0, handle_after, "after", NULL);

  memset (&spec, 0, sizeof spec);
  spec.struct_size = sizeof spec;
  spec.pattern = "fault.halt";
  spec.mode = EVB_MODE_ASYNC;
  spec.priority = 10;
  spec.func = handle_held;
  spec.handler = "held-stop";
  spec.timeout_ms = 5;
  spec.stop_on_failure = TRUE;
  held_stop_id = rig_add_route (rig, &spec, NULL);
  add_func_route (rig, "fault.halt", EVB_MODE_SYNC, 0, handle_never, "never", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    assert_true (ledger_emit (rig->bus, "fault.slow", "test",
                              json_pack ("{s:i, s:s, s:b}", "n", (int) i, "kind", kinds[i], "sluggish", i < 2),
                              NULL));
  assert_true (ledger_emit (rig->bus, "fault.halt", "test", json_pack ("{s:i, s:s}", "n", 10, "kind", "fail"), NULL));

  /* While the four held handlers still hold: four timeouts and two sync
   * overruns reported, the chain went on past "held" for fault.slow and
   * stopped for fault.halt. */
  context_run_until (rig->context, timeouts_seen, NULL, "6 failures, 9 completed jobs, 3 events past the held level");
  assert_int_equal (g_atomic_int_get (&gate.entered), 4);
  assert_int_equal (g_atomic_int_get (&quick_calls), 3);
  assert_int_equal (jobs_with_states (rig, "WEC"), 3 + 6);
  assert_int_equal (g_atomic_int_get (&held_returns), 0);
  assert_int_equal (jobs_with_states (rig, "WEN"), 4);
  assert_int_equal (rig->seen_failure, 6);
  assert_int_equal (g_atomic_int_get (&never_calls), 0);

  gate_open ();
  rig_run_until_idle (rig);
  /* Late returns, two of them FAILED, change nothing but the final state. */
  assert_int_equal (g_atomic_int_get (&held_returns), 4);
  assert_int_equal (g_atomic_int_get (&gate.saw_cancel), 4);
  assert_int_equal (jobs_with_states (rig, "WENX"), 4);
  assert_int_equal (jobs_with_states (rig, "WEC"), 3 + 6); /* quick + failure mirror */
  assert_int_equal (g_atomic_int_get (&never_calls), 0);
  assert_int_equal (g_atomic_int_get (&after_calls), 3);

  stats = evb_bus_stats (rig->bus);
  held = route_stats (stats, held_id);
  assert_non_null (held);
  assert_int_equal (json_int_at (held, "timeouts"), 3);
  assert_int_equal (json_int_at (held, "cancelled"), 3);
  assert_int_equal (json_int_at (held, "failed"), 0);
  assert_int_equal (json_int_at (held, "completed"), 0);
  held_stop = route_stats (stats, held_stop_id);
  assert_non_null (held_stop);
  assert_int_equal (json_int_at (held_stop, "timeouts"), 1);
  assert_int_equal (json_int_at (held_stop, "cancelled"), 1);
  sluggish = route_stats (stats, sluggish_id);
  assert_non_null (sluggish);
  assert_int_equal (json_int_at (sluggish, "matched"), 3);
  assert_int_equal (json_int_at (sluggish, "filtered"), 1);
  assert_int_equal (json_int_at (sluggish, "timeouts"), 2);
  assert_int_equal (json_int_at (sluggish, "completed"), 2);

  /* Produced by construction: four handlers held past their 5 ms by the
   * gate, two that sleep 3 ms against 1 ms. */
  g_atomic_int_set (&ledger->failures, 6);
  check_ledger (rig, 4 + 3 + 6);
  rig_free (rig);
}

/* ---- owners finalized mid-flight ------------------------------------------ */

static gint owned_calls;    /* atomic */
static gint owned_returns;  /* atomic */
static gint sync_owned_calls; /* atomic */
static gint host_calls;     /* atomic */
static gint finalized;      /* atomic */
static gint returns_at_finalize;
static GThread *finalized_on;

static void
note_finalized (gpointer data, GObject *where_the_object_was)
{
  finalized_on = g_thread_self ();
  returns_at_finalize = g_atomic_int_get (&owned_returns);
  g_atomic_int_inc (&finalized);
}

static EvbResult
handle_owned_async (EvbCall *call, const EvbEvent *event)
{
  EvbResult result = EVB_CONTINUE;

  g_atomic_int_inc (&owned_calls);
  gate_pass (call, FALSE);
  if (g_strcmp0 (json_string_value (json_object_get (event->data, "kind")), "fail") == 0)
    {
      g_atomic_int_inc (&ledger->failures);
      result = evb_call_fail (call, "owned", 2, "owned job fails on %" G_GINT64_FORMAT, json_int_at (event->data, "n"));
    }
  g_atomic_int_inc (&owned_returns);
  return result;
}

static EvbResult
handle_owned_sync (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&sync_owned_calls);
  return EVB_CONTINUE;
}

static EvbResult
handle_host (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&host_calls);
  return EVB_CONTINUE;
}

static void
reset_owner_counters (void)
{
  g_atomic_int_set (&owned_calls, 0);
  g_atomic_int_set (&owned_returns, 0);
  g_atomic_int_set (&sync_owned_calls, 0);
  g_atomic_int_set (&host_calls, 0);
  g_atomic_int_set (&finalized, 0);
  returns_at_finalize = -1;
  finalized_on = NULL;
}

/* The baseline routes and GPOINTER_TO_UINT (@data) more. */
static gboolean
routes_back (gpointer data)
{
  Rig *rig = rig_now;

  return rig_n_routes (rig) == rig->baseline_routes + GPOINTER_TO_UINT (data);
}

static gboolean
owned_jobs_queued (gpointer data)
{
  g_autoptr (json_t) all_stats = evb_bus_stats (rig_now->bus);
  json_t *stats = route_stats (all_stats, *(guint64 *) data);

  return g_atomic_int_get (&gate.entered) == 2 && stats != NULL && json_int_at (stats, "matched") == 5
         && json_int_at (stats, "executing") == 2 && json_int_at (stats, "waiting") == 3;
}

/* DESIGN "Lifecycle": the test drops its owner (from another thread) while
 * two of the owner's jobs run and three wait: the jobs keep it alive, so
 * the route still takes the events that come meanwhile; it is finalized
 * once, on the main thread, after the last handler returned; the lower
 * level route of the same owner runs for every event but the one whose job
 * released the owner last; the routes are pruned; later events reach only
 * the host route. */
static void
test_owner_finalized_while_jobs_run (void **state)
{
  static const char *const kinds[] = { "ok", "fail", "ok", "ok", "ok" };
  EvbBusSettings settings;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  GObject *owner = g_object_new (G_TYPE_OBJECT, NULL);
  Ledger books;
  guint64 owned_id;
  Rig *rig;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  rig = rig_new (&settings, &books);
  reset_owner_counters ();
  g_object_weak_ref (owner, note_finalized, NULL);

  spec.pattern = "fault.owned";
  spec.mode = EVB_MODE_ASYNC;
  spec.priority = 10;
  spec.func = handle_owned_async;
  spec.handler = "owned-async";
  owned_id = rig_add_route (rig, &spec, owner);
  spec.mode = EVB_MODE_SYNC;
  spec.priority = 5;
  spec.func = handle_owned_sync;
  spec.handler = "owned-sync";
  rig_add_route (rig, &spec, owner);
  add_func_route (rig, "fault.owned", EVB_MODE_SYNC, 0, handle_host, "host", NULL);

  for (guint i = 0; i < 3; i++)
    assert_true (ledger_emit (rig->bus, "fault.owned", "test", json_pack ("{s:i, s:s}", "n", (int) i, "kind", kinds[i]),
                              NULL));
  context_run_until_int (rig->context, &gate.entered, 2, "two owned jobs running");

  /* The last outside reference goes, on another thread, mid-flight. */
  unref_on_other_thread (owner);
  assert_int_equal (g_atomic_int_get (&finalized), 0);
  for (guint i = 3; i < 5; i++)
    assert_true (ledger_emit (rig->bus, "fault.owned", "test", json_pack ("{s:i, s:s}", "n", (int) i, "kind", kinds[i]),
                              NULL));
  context_run_until (rig->context, owned_jobs_queued, &owned_id, "five owned jobs: two running, three waiting");
  assert_int_equal (g_atomic_int_get (&finalized), 0);
  assert_int_equal (g_atomic_int_get (&sync_owned_calls), 0);

  gate_open ();
  rig_run_until_idle (rig);
  context_run_until (rig->context, routes_back, GUINT_TO_POINTER (1), "owned routes pruned");
  assert_int_equal (g_atomic_int_get (&finalized), 1);
  assert_true (finalized_on == g_thread_self ());
  assert_int_equal (returns_at_finalize, 5);
  assert_int_equal (g_atomic_int_get (&owned_calls), 5);
  assert_int_equal (g_atomic_int_get (&sync_owned_calls), 4);
  assert_int_equal (g_atomic_int_get (&host_calls), 5);
  assert_int_equal (rig_n_routes (rig), rig->baseline_routes + 1);

  assert_true (ledger_emit (rig->bus, "fault.owned", "test", json_pack ("{s:i}", "n", 5), NULL));
  rig_run_until_idle (rig);
  assert_int_equal (g_atomic_int_get (&owned_calls), 5);
  assert_int_equal (g_atomic_int_get (&host_calls), 6);
  assert_int_equal (jobs_with_states (rig, "WEF"), 1);

  check_ledger (rig, 5 + 1);
  rig_free (rig);
}

static GObject *self_owner;

/* Drops the last reference to its own owner (the test gave it away). */
static EvbResult
handle_drop_own_owner (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&sync_owned_calls);
  if (self_owner != NULL)
    g_object_unref (g_steal_pointer (&self_owner));
  /* Still alive: dispatch holds its own reference for the call. */
  if (g_atomic_int_get (&finalized) != 0)
    {
      g_atomic_int_inc (&ledger->failures);
      return evb_call_fail (call, "owner", 1, "owner finalized under its own handler");
    }
  return EVB_CONTINUE;
}

/* DESIGN "Lifecycle" / "Dispatching" 1: a sync handler that drops the last
 * reference to its own owner; the owner dies after the call, on the main
 * thread; the lower level async route of the same owner never runs, not for
 * this event and not for the one queued behind it; both routes are pruned. */
static void
test_owner_finalized_by_its_handler (void **state)
{
  EvbBusSettings settings;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  Ledger books;
  Rig *rig;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  rig = rig_new (&settings, &books);
  reset_owner_counters ();
  self_owner = g_object_new (G_TYPE_OBJECT, NULL);
  g_object_weak_ref (self_owner, note_finalized, NULL);

  spec.pattern = "fault.self";
  spec.priority = 10;
  spec.func = handle_drop_own_owner;
  spec.handler = "drop-own";
  rig_add_route (rig, &spec, self_owner);
  spec.mode = EVB_MODE_ASYNC;
  spec.priority = 5;
  spec.func = handle_owned_async;
  spec.handler = "owned-async";
  rig_add_route (rig, &spec, self_owner);
  add_func_route (rig, "fault.self", EVB_MODE_SYNC, 0, handle_host, "host", NULL);
  gate_open ();

  assert_true (ledger_emit (rig->bus, "fault.self", "test", json_pack ("{s:i}", "n", 0), NULL));
  assert_true (ledger_emit (rig->bus, "fault.self", "test", json_pack ("{s:i}", "n", 1), NULL));
  rig_run_until_idle (rig);

  assert_null (self_owner);
  assert_int_equal (g_atomic_int_get (&finalized), 1);
  assert_true (finalized_on == g_thread_self ());
  assert_int_equal (g_atomic_int_get (&sync_owned_calls), 1);
  assert_int_equal (g_atomic_int_get (&owned_calls), 0);
  assert_int_equal (g_atomic_int_get (&host_calls), 2);
  assert_int_equal (rig_n_routes (rig), rig->baseline_routes + 1);
  check_ledger (rig, 0);
  rig_free (rig);
}

/* ---- owners made and dropped by several threads -------------------------- */

#define CHURN_THREADS 3
#define CHURN_OWNERS 150
#define CHURN_EVENTS 3

static gint churn_owned_calls; /* atomic */
static gint churn_finalized;   /* atomic */
static gint churn_threads_done; /* atomic */

/* One per owner, outliving it: the test's view of its life and calls.  The
 * owner's own memory is not read here: its last unref may come from any
 * thread, ordered only by GObject's atomic refcount, which TSan cannot see
 * (uninstrumented libgobject). */
typedef struct {
  gint dead;     /* atomic: set by the owner's weak notify */
  Counter calls; /* the owner's route was called */
} ChurnMark;

static ChurnMark churn_marks[CHURN_THREADS * CHURN_OWNERS];

/* A call with a finalized owner would break DESIGN "Words" (owner): the
 * bus holds the owner for the length of each call it makes. */
static EvbResult
handle_churn (EvbCall *call, const EvbEvent *event)
{
  ChurnMark *mark = call->route_data;

  if (g_atomic_int_get (&mark->dead))
    g_error ("owned handler called with a dead owner");
  g_atomic_int_inc (&churn_owned_calls);
  counter_add (&mark->calls, 1);
  return EVB_CONTINUE;
}

static void
note_churn_finalized (gpointer data, GObject *where_the_object_was)
{
  ChurnMark *mark = data;

  g_atomic_int_set (&mark->dead, 1);
  g_atomic_int_inc (&churn_finalized);
}

static gpointer
churn (gpointer data)
{
  guint thread_index = GPOINTER_TO_UINT (data);
  EvbBus *bus = rig_now->bus;

  for (guint i = 0; i < CHURN_OWNERS; i++)
    {
      GObject *owner = g_object_new (G_TYPE_OBJECT, NULL);
      ChurnMark *mark = &churn_marks[thread_index * CHURN_OWNERS + i];
      EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
      g_autoptr (GError) error = NULL;
      guint64 id;

      g_object_weak_ref (owner, note_churn_finalized, mark);
      spec.pattern = "fault.churn";
      spec.mode = i % 2 ? EVB_MODE_ASYNC : EVB_MODE_SYNC;
      spec.priority = (gint) (i % 3);
      spec.func = handle_churn;
      spec.handler = "churn";
      spec.user_data = mark;
      id = evb_bus_add_route (bus, NULL, &spec, owner, &error);
      g_assert_no_error (error);
      for (guint k = 0; k < CHURN_EVENTS; k++)
        ledger_emit (bus, "fault.churn", "churn", json_pack ("{s:i}", "n", (int) k), NULL);
      /* Three ways to go: removed once its three events reached it,
       * dropped with events queued, dropped with events emitted after its
       * death. */
      switch (i % 3)
        {
        case 0:
          if (!counter_wait (&mark->calls, CHURN_EVENTS))
            g_error ("owned route called %u times, not %d, within %d ms", counter_get (&mark->calls), CHURN_EVENTS,
                     WAIT_MS);
          g_assert_true (evb_bus_remove_route (bus, id));
          g_object_unref (owner);
          break;
        case 1:
          g_object_unref (owner);
          break;
        default:
          g_object_unref (owner);
          ledger_emit (bus, "fault.churn", "churn", json_pack ("{s:i}", "n", 99), NULL);
          break;
        }
    }
  g_atomic_int_inc (&churn_threads_done);
  return NULL;
}

static gboolean
churn_settled (gpointer data)
{
  Rig *rig = rig_now;

  return g_atomic_int_get (&churn_threads_done) == CHURN_THREADS
         && g_atomic_int_get (&churn_finalized) == CHURN_THREADS * CHURN_OWNERS && evb_bus_is_idle (rig->bus)
         && rig_n_routes (rig) == rig->baseline_routes + 1;
}

/* DESIGN "Words" (owner) and "Lifecycle", under threads: three threads make
 * owners, route to them, emit, and drop them (after removing the route,
 * with events queued, or before more events) while the main loop
 * dispatches.  Handlers only ever see live owners, every owner is
 * finalized, every route goes, and the ledger balances. */
static void
test_owner_churn_threads (void **state)
{
  GThread *threads[CHURN_THREADS];
  EvbBusSettings settings;
  Ledger books;
  Rig *rig;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  rig = rig_new (&settings, &books);
  memset (churn_marks, 0, sizeof churn_marks);
  for (guint i = 0; i < G_N_ELEMENTS (churn_marks); i++)
    counter_init (&churn_marks[i].calls);
  g_atomic_int_set (&churn_owned_calls, 0);
  g_atomic_int_set (&churn_finalized, 0);
  g_atomic_int_set (&churn_threads_done, 0);
  g_atomic_int_set (&host_calls, 0);
  add_func_route (rig, "fault.churn", EVB_MODE_SYNC, -10, handle_host, "host", NULL);

  for (guint i = 0; i < CHURN_THREADS; i++)
    threads[i] = g_thread_new ("churn", churn, GUINT_TO_POINTER (i));
  context_run_until (rig->context, churn_settled, NULL, "owners made, dropped, finalized; routes back to baseline");
  for (guint i = 0; i < CHURN_THREADS; i++)
    g_thread_join (threads[i]);

  assert_int_equal (rig->seen_user, CHURN_THREADS * CHURN_OWNERS * CHURN_EVENTS + CHURN_THREADS * (CHURN_OWNERS / 3));
  assert_int_equal (g_atomic_int_get (&host_calls), rig->seen_user);
  /* At least the events the first kind of owner waited for. */
  assert_true (g_atomic_int_get (&churn_owned_calls) >= CHURN_THREADS * (CHURN_OWNERS / 3) * CHURN_EVENTS);
  check_ledger (rig, -1);
  rig_free (rig);
  for (guint i = 0; i < G_N_ELEMENTS (churn_marks); i++)
    counter_clear (&churn_marks[i].calls);
}

/* ---- a plugin whose init fails half way ------------------------------------ */

static GObject *init_owner;
static gint init_calls;       /* atomic */
static gint init_ticks;       /* atomic */
static gint init_data_freed;  /* atomic */
static gint init_shutdowns;   /* atomic */

static EvbResult
init_count (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&init_calls);
  return EVB_CONTINUE;
}

static gboolean
init_tick (gpointer data)
{
  g_atomic_int_inc (&init_ticks);
  return G_SOURCE_CONTINUE;
}

static void
init_data_free (gpointer data)
{
  g_atomic_int_inc (&init_data_freed);
  g_free (data);
}

/* Subscribes a sync route, an async route with a timeout and a filter, and
 * an owned route; adds a timeout; holds the host; emits; then fails. */
static gboolean
half_way_init (EvbPlugin *plugin, GError **error)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (json_t) filter = json_pack ("{s:{s:b}}", "n", "exists", TRUE);

  spec.pattern = "fault.init";
  spec.handler = "count";
  if (evb_plugin_subscribe (plugin, &spec, NULL, error) == 0)
    return FALSE;
  spec.mode = EVB_MODE_ASYNC;
  spec.pattern = "fault.>";
  spec.timeout_ms = 50;
  spec.filter = filter;
  if (evb_plugin_subscribe (plugin, &spec, NULL, error) == 0)
    return FALSE;
  spec.mode = EVB_MODE_SYNC;
  spec.pattern = "fault.init";
  spec.priority = 3;
  spec.timeout_ms = 0;
  spec.filter = NULL;
  if (evb_plugin_subscribe (plugin, &spec, init_owner, error) == 0)
    return FALSE;
  evb_plugin_add_timeout (plugin, 1, init_tick, g_strdup ("tick"), init_data_free);
  evb_plugin_hold (plugin);
  g_atomic_int_inc (&ledger->attempts); /* the emit below, booked as a user event */
  if (!evb_plugin_emit (plugin, "fault.init", json_pack ("{s:i}", "n", 1), error))
    return FALSE;
  g_set_error (error, g_quark_from_static_string ("half-way"), 4,
               "stopped half way: 3 routes, a timeout, a hold and an event behind");
  return FALSE;
}

static void
half_way_shutdown (EvbPlugin *plugin)
{
  g_atomic_int_inc (&init_shutdowns);
}

static const EvbHandlerInfo half_way_handlers[] = {
  EVB_HANDLER ("count", init_count, "Counts calls; must never run."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (half_way_plugin, "half-way", "1.0", "Fails init half way.", half_way_handlers, NULL,
                          half_way_init, half_way_shutdown);

static const EvbPluginDescriptor fine_plugin = {
  .abi_major = EVB_ABI_MAJOR, .abi_minor = EVB_ABI_MINOR, .struct_size = sizeof (EvbPluginDescriptor),
  .name = "fine", .version = "1.0", .description = "Loads.", .handlers = half_way_handlers,
};

/* DESIGN "Lifecycle": twenty times over, a plugin registers routes (one
 * owned), a timeout and a hold, emits, and fails init.  Each time the error
 * is exact, nothing it registered is left (no route, the timeout's data
 * freed at once and the timer never firing, the hold gone so the bus can go
 * idle, no weak reference left on the owner), no shutdown is called, its
 * event reaches no handler of it; the name is free afterwards. */
static void
test_init_fails_half_way (void **state)
{
  enum { ROUNDS = 20 };
  EvbBusSettings settings;
  Ledger books;
  gint waited = 0;
  GSource *later;
  Rig *rig;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  rig = rig_new (&settings, &books);
  g_atomic_int_set (&init_calls, 0);
  g_atomic_int_set (&init_ticks, 0);
  g_atomic_int_set (&init_data_freed, 0);
  g_atomic_int_set (&init_shutdowns, 0);
  reset_owner_counters ();

  for (guint round = 0; round < ROUNDS; round++)
    {
      g_autoptr (GError) error = NULL;

      init_owner = g_object_new (G_TYPE_OBJECT, NULL);
      g_object_weak_ref (init_owner, note_finalized, NULL);
      assert_null (evb_bus_add_plugin (rig->bus, "half", &half_way_plugin, NULL, &error));
      assert_true (g_error_matches (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_INIT_FAILED));
      assert_string_equal (error->message, "plugin \"half\" ((linked in)): init failed: stopped half way: 3 routes, "
                                           "a timeout, a hold and an event behind");
      assert_null (evb_bus_find_plugin (rig->bus, "half"));
      assert_int_equal (rig_n_routes (rig), rig->baseline_routes);
      assert_int_equal (g_atomic_int_get (&init_data_freed), round + 1);
      /* The hold went with the plugin, or this would time out; the event
       * init emitted is dispatched (to no route). */
      rig_run_until_idle (rig);
      /* Only the test's reference, and no notify of the bus on it: its
       * death queues nothing on the bus's context. */
      assert_int_equal (init_owner->ref_count, 1);
      g_clear_object (&init_owner);
      assert_int_equal (g_atomic_int_get (&finalized), round + 1);
      assert_false (g_main_context_pending (rig->context));
    }

  /* Well past the 1 ms timer: it never fires; the events found no route. */
  later = g_timeout_source_new (30);
  g_source_set_callback (later, set_flag, &waited, NULL);
  g_source_attach (later, rig->context);
  g_source_unref (later);
  context_run_until (rig->context, flag_is_set, &waited, "30 ms timer");
  rig_run_until_idle (rig);
  assert_int_equal (g_atomic_int_get (&init_ticks), 0);
  assert_int_equal (g_atomic_int_get (&init_calls), 0);
  assert_int_equal (g_atomic_int_get (&init_shutdowns), 0);
  assert_int_equal (rig->seen_user, ROUNDS);
  assert_int_equal (evb_bus_find_plugin (rig->bus, "half") == NULL, TRUE);
  {
    EvbBusTotals totals;

    evb_bus_get_totals (rig->bus, &totals);
    assert_int_equal (totals.unhandled, ROUNDS);
  }
  check_ledger (rig, 0);

  {
    g_autoptr (GError) error = NULL;

    assert_non_null (evb_bus_add_plugin (rig->bus, "half", &fine_plugin, NULL, &error));
  }
  rig_free (rig);
  assert_int_equal (g_atomic_int_get (&init_shutdowns), 0);
}

/* ---- shutdown with jobs in flight and a full inbox ----------------------- */

static gint hold_calls;  /* atomic */
static gint tally_calls; /* atomic */

static EvbResult
handle_hold (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&hold_calls);
  gate_pass (call, TRUE);
  return EVB_CONTINUE;
}

static EvbResult
handle_tally (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&tally_calls);
  return EVB_CONTINUE;
}

static gboolean
inbox_full_producers_blocked (gpointer data)
{
  Rig *rig = rig_now;
  EvbBusTotals totals;

  evb_bus_get_totals (rig->bus, &totals);
  return totals.inbox_depth == 8 && bus_stat (rig, "bus.blocked") == 4;
}

/* DESIGN "Lifecycle" (shutdown) and "Threads and emission" (block): two
 * jobs run (held until cancelled), the inbox (limit 8) is full and four
 * producers that never stop on their own are blocked in emit.  Shutdown
 * drains what it can within the grace period, cancels every job (the
 * running two see it; none that waited ever runs), then stops taking
 * events: every producer is released with EVB_BUS_ERROR_SHUT_DOWN, nothing
 * is left queued or in flight, every job is cancelled exactly once, and the
 * summary line says so. */
static void
test_shutdown_with_jobs_in_flight_and_full_inbox (void **state)
{
  Producer producers[MAX_PRODUCERS];
  EvbBusSettings settings;
  EvbBusTotals totals;
  g_autofree char *summary = NULL;
  g_autofree char *expected = NULL;
  Ledger books;
  guint64 jobs;
  Rig *rig;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  settings.inbox_limit = 8;
  settings.overflow = EVB_OVERFLOW_BLOCK;
  settings.slice_events = 4;
  rig = rig_new (&settings, &books);
  g_atomic_int_set (&hold_calls, 0);
  g_atomic_int_set (&tally_calls, 0);
  add_func_route (rig, "fault.load", EVB_MODE_ASYNC, 5, handle_hold, "hold", NULL);
  add_func_route (rig, "fault.load", EVB_MODE_SYNC, 0, handle_tally, "tally", NULL);

  assert_true (ledger_emit (rig->bus, "fault.load", "test", json_pack ("{s:i}", "n", -2), NULL));
  assert_true (ledger_emit (rig->bus, "fault.load", "test", json_pack ("{s:i}", "n", -1), NULL));
  context_run_until_int (rig->context, &gate.entered, 2, "two jobs in flight");

  producers_start (producers, MAX_PRODUCERS, rig, "fault.load", G_MAXUINT);
  producers_go ();
  wait_without_iterating (inbox_full_producers_blocked, NULL, "inbox full, four producers blocked");

  evb_bus_shutdown (rig->bus, 50);

  /* Released, every one, by the shutdown: nothing else would wake them. */
  wait_without_iterating (int_goal_reached, &(CounterGoal) { &producers_done, MAX_PRODUCERS },
                          "producers released");
  producers_join (producers, MAX_PRODUCERS);
  for (guint i = 0; i < MAX_PRODUCERS; i++)
    {
      assert_true (g_error_matches (producers[i].last_error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN));
      assert_string_equal (producers[i].last_error->message, "the bus is shutting down: event refused");
    }
  producers_clear (producers, MAX_PRODUCERS);
  assert_int_equal (g_atomic_int_get (&books.refused_shut_down), MAX_PRODUCERS);

  /* Only the two seen running before shutdown went through "executing":
   * every other job was cancelled (in one pass on the main thread) before
   * the host heard of its start, if it started at all.  A worker may pick
   * a queued job up while that pass runs, so more than two handlers may
   * have been called; each of them ended cancelled. */
  assert_true (g_atomic_int_get (&hold_calls) >= 2);
  assert_int_equal (g_atomic_int_get (&gate.saw_cancel), g_atomic_int_get (&hold_calls));
  assert_int_equal (jobs_with_states (rig, "WENX"), 2);
  jobs = g_hash_table_size (rig->jobs);
  assert_int_equal (jobs_with_states (rig, "WNX"), jobs - 2);
  assert_int_equal (jobs, rig->seen_user);
  /* Every dispatched event got past its levels to the tally. */
  assert_int_equal (g_atomic_int_get (&tally_calls), rig->seen_user);
  assert_true (bus_stat (rig, "bus.blocked") >= 4);
  check_ledger (rig, (gint64) jobs);

  evb_bus_get_totals (rig->bus, &totals);
  assert_int_equal (totals.jobs_completed + totals.jobs_failed, 0);
  summary = evb_bus_summary (rig->bus);
  expected = g_strdup_printf ("dispatched %" G_GUINT64_FORMAT " events, dropped 0, unhandled 0; jobs: 0 completed, "
                              "0 failed, %" G_GUINT64_FORMAT " cancelled", rig->seen_total, jobs);
  assert_string_equal (summary, expected);
  rig_free (rig);
}

/* ---- every overflow policy under a flood ---------------------------------- */

#define FLOOD_PRODUCERS 4
#define FLOOD_EACH 5000

static gint echo_calls; /* atomic */

static EvbResult
handle_echo (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&echo_calls);
  return EVB_CONTINUE;
}

static gboolean
overflowed (gpointer data)
{
  Rig *rig = rig_now;
  EvbBusTotals totals;

  evb_bus_get_totals (rig->bus, &totals);
  if (rig->policy == EVB_OVERFLOW_BLOCK)
    return bus_stat (rig, "bus.blocked") > 0;
  return totals.dropped > 0;
}

static gboolean
flood_over (gpointer data)
{
  Rig *rig = rig_now;

  return g_atomic_int_get (&producers_done) == FLOOD_PRODUCERS && evb_bus_is_idle (rig->bus);
}

/* DESIGN "Threads and emission": four threads emit 5000 events each into an
 * inbox of 64 (slices of 16) under @policy, while sync and async handlers
 * on three levels continue, stop the chain, fail at random, emit more
 * events (from main and from workers), and status and failure subscribers
 * run.  The inbox overflows for sure (the loop waits for it before it
 * drains).  Every event is dispatched, dropped (counted) or refused (seen by
 * its producer); each producer's events arrive in order; the handlers ran
 * exactly as the model says for the events that were dispatched; no
 * failure or status event is lost to the overflow; the ledger balances. */
static void
run_flood (EvbOverflowPolicy policy)
{
  static const guint weights[5] = { 80, 5, 10, 3, 2 };
  Model models[] = {
    { .name = "w0", .mode = EVB_MODE_SYNC, .priority = 10, .skip_bucket = -1 },
    { .name = "w1", .mode = EVB_MODE_ASYNC, .priority = 10, .skip_bucket = -1, .echo_every = 13 },
    { .name = "w2", .mode = EVB_MODE_SYNC, .priority = 5, .skip_bucket = 3, .stop_on_failure = TRUE },
    { .name = "w3", .mode = EVB_MODE_ASYNC, .priority = 5, .skip_bucket = 1, .max_concurrency = 1 },
    { .name = "w4", .mode = EVB_MODE_SYNC, .priority = 0, .skip_bucket = -1, .echo_every = 17 },
    { .name = "w5", .mode = EVB_MODE_ASYNC, .priority = 0, .skip_bucket = 2 },
  };
  Producer producers[FLOOD_PRODUCERS];
  EvbBusSettings settings;
  EvbBusTotals totals;
  Ledger books;
  guint64 jobs;
  Rig *rig;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  settings.inbox_limit = 64;
  settings.slice_events = 16;
  settings.overflow = policy;
  rig = rig_new (&settings, &books);
  plan_make (FLOOD_PRODUCERS * FLOOD_EACH, G_N_ELEMENTS (models), weights);
  plan_per_producer = FLOOD_EACH;
  add_models (rig, models, G_N_ELEMENTS (models), "fault.work");
  hook_models = models;
  hook_n_models = G_N_ELEMENTS (models);
  rig->hook = hook_check_failure;
  g_atomic_int_set (&echo_calls, 0);
  add_func_route (rig, "fault.echo", EVB_MODE_SYNC, 0, handle_echo, "echo", NULL);

  producers_start (producers, FLOOD_PRODUCERS, rig, "fault.work", FLOOD_EACH);
  for (guint i = 0; i < FLOOD_PRODUCERS; i++)
    {
      producers[i].burst = 256;
      producers[i].pause_every = 4;
    }
  producers_go ();
  wait_without_iterating (overflowed, NULL, "the inbox overflowed");
  context_run_until (rig->context, flood_over, NULL, "producers done, bus idle");
  producers_join (producers, FLOOD_PRODUCERS);
  producers_clear (producers, FLOOD_PRODUCERS);

  evb_bus_get_totals (rig->bus, &totals);
  if (policy == EVB_OVERFLOW_BLOCK)
    {
      assert_int_equal (totals.dropped, 0);
      assert_int_equal (rig->seen_work, FLOOD_PRODUCERS * FLOOD_EACH);
    }
  else
    {
      assert_true (totals.dropped > 0);
      assert_true (rig->seen_work < FLOOD_PRODUCERS * FLOOD_EACH);
    }
  assert_int_equal (g_atomic_int_get (&echo_calls), rig->seen_user - rig->seen_work);
  jobs = check_models (rig, models, G_N_ELEMENTS (models));
  check_ledger (rig, (gint64) (jobs + rig->seen_failure));
  assert_int_equal (g_atomic_int_get (&mirror_calls), rig->seen_failure);
  assert_int_equal (rig->seen_unhandled, 0);
  assert_int_equal (totals.unhandled, 0);
  print_message ("%s: %" G_GUINT64_FORMAT " of %d work events dispatched, %" G_GUINT64_FORMAT
                 " dropped, %d refused; %" G_GUINT64_FORMAT " jobs, %" G_GUINT64_FORMAT " failures, peak %u\n",
                 evb_overflow_policy_to_string (policy), rig->seen_work, FLOOD_PRODUCERS * FLOOD_EACH, totals.dropped,
                 g_atomic_int_get (&books.refused_full), jobs + rig->seen_failure, totals.failures, totals.inbox_peak);
  rig_free (rig);
  plan_free ();
}

static void
test_flood_block (void **state)
{
  run_flood (EVB_OVERFLOW_BLOCK);
}

static void
test_flood_reject (void **state)
{
  run_flood (EVB_OVERFLOW_REJECT);
}

static void
test_flood_drop_oldest (void **state)
{
  run_flood (EVB_OVERFLOW_DROP_OLDEST);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_random_failures),
    cmocka_unit_test (test_timeouts),
    cmocka_unit_test (test_owner_finalized_while_jobs_run),
    cmocka_unit_test (test_owner_finalized_by_its_handler),
    cmocka_unit_test (test_owner_churn_threads),
    cmocka_unit_test (test_init_fails_half_way),
    cmocka_unit_test (test_shutdown_with_jobs_in_flight_and_full_inbox),
    cmocka_unit_test (test_flood_block),
    cmocka_unit_test (test_flood_reject),
    cmocka_unit_test (test_flood_drop_oldest),
  };

  /* FAULTS_ONLY=test_timeouts (a cmocka pattern) runs one test, to loop it. */
  if (g_getenv ("FAULTS_ONLY") != NULL)
    cmocka_set_test_filter (g_getenv ("FAULTS_ONLY"));
  g_log_set_handler ("evbus", G_LOG_LEVEL_WARNING, count_core_warning, NULL);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
