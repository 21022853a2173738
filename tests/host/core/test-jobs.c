/* Tests for DESIGN.md "Status events (async jobs)" and "Failure events":
 * the exact state sequences of completed, failed, cancelled (shutdown,
 * unsubscribe, timeout) and held jobs with the data of every status event;
 * max_concurrency; no status events about status handlers; on_failure;
 * failures of failure and status handlers logged and counted, never
 * re-emitted; no status events at all when nobody listens; per-route
 * counters and histograms.
 *
 * Handlers that must stay "in flight" block on a gate the test opens; no
 * test sleeps to wait for work. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "bus.h"
#include "evbus/harness.h"

#define WAIT_MS 10000

#include "test-util.h"

/* ---- a gate that holds handlers in flight ------------------------------ */

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean open;
  gboolean poll_cancel; /* also leave when the call is cancelled */
  gint entered;         /* atomic: handlers that reached the gate */
  gint inside;          /* atomic: handlers waiting at it now */
  gint saw_cancel;      /* atomic: handlers that left with the call cancelled */
} Gate;

static Gate gate;

static void
gate_reset (gboolean poll_cancel)
{
  g_mutex_lock (&gate.lock);
  gate.open = FALSE;
  gate.poll_cancel = poll_cancel;
  g_mutex_unlock (&gate.lock);
  g_atomic_int_set (&gate.entered, 0);
  g_atomic_int_set (&gate.inside, 0);
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

static EvbResult
handle_gated (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&gate.entered);
  g_atomic_int_inc (&gate.inside);
  g_mutex_lock (&gate.lock);
  while (!gate.open)
    {
      if (!gate.poll_cancel)
        g_cond_wait (&gate.cond, &gate.lock);
      else if (evb_call_is_cancelled (call))
        break;
      else
        /* Shutdown blocks the test thread, so only polling can notice the
         * cancel there; a long handler would check between work items. */
        g_cond_wait_until (&gate.cond, &gate.lock, g_get_monotonic_time () + 1000);
    }
  g_mutex_unlock (&gate.lock);
  if (evb_call_is_cancelled (call))
    g_atomic_int_inc (&gate.saw_cancel);
  g_atomic_int_add (&gate.inside, -1);
  return EVB_CONTINUE;
}

/* Waits at the gate, ignoring cancellation, then emits: what a plugin
 * does that finishes its work after the bus gave up on it. */
static Counter late_emits;       /* handlers that got past the gate and emitted */
static char *late_emit_error;    /* under late_emits.lock */

static EvbResult
handle_late_emit (EvbCall *call, const EvbEvent *event)
{
  g_autoptr (GError) error = NULL;

  handle_gated (call, event);
  evb_call_emit (call, "work.late", NULL, &error);
  g_mutex_lock (&late_emits.lock);
  g_free (late_emit_error);
  late_emit_error = g_strdup (error != NULL ? error->message : "emit succeeded");
  g_mutex_unlock (&late_emits.lock);
  counter_add (&late_emits, 1);
  return EVB_CONTINUE;
}

/* ---- the test plugin ------------------------------------------------- */

static gint ok_calls;      /* atomic */
static gint watch_calls;   /* atomic */
static gint running_now;   /* atomic */
static gint running_peak;  /* atomic */
static GMutex order_lock;
static GArray *order;      /* gint data.n of "track" calls, in call order */

static EvbResult
handle_ok (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&ok_calls);
  return EVB_CONTINUE;
}

static EvbResult
handle_fail (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, "store", 7, "no row %d", (int) json_integer_value (json_object_get (event->data, "row")));
}

static EvbResult
handle_watch (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&watch_calls);
  return EVB_CONTINUE;
}

/* Fails with text that is not UTF-8, as when it quotes a file's bytes. */
static EvbResult
handle_fail_bytes (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, "st\xffre", 9, "row %s read", "\xff\xfe");
}

/* Records the peak of handlers running at once, then the gate holds it. */
static EvbResult
handle_track (EvbCall *call, const EvbEvent *event)
{
  gint now = g_atomic_int_add (&running_now, 1) + 1;
  gint peak = g_atomic_int_get (&running_peak);
  gint n = (gint) json_integer_value (json_object_get (event->data, "n"));

  while (now > peak && !g_atomic_int_compare_and_exchange (&running_peak, peak, now))
    peak = g_atomic_int_get (&running_peak);
  g_mutex_lock (&order_lock);
  g_array_append_val (order, n);
  g_mutex_unlock (&order_lock);
  handle_gated (call, event);
  g_atomic_int_add (&running_now, -1);
  return EVB_CONTINUE;
}

/* data.kind: "ok" continues, "handled" stops the chain, "fail" fails. */
static EvbResult
handle_outcome (EvbCall *call, const EvbEvent *event)
{
  const char *kind = json_string_value (json_object_get (event->data, "kind"));

  if (g_strcmp0 (kind, "handled") == 0)
    return EVB_HANDLED;
  if (g_strcmp0 (kind, "fail") == 0)
    return evb_call_fail (call, "outcome", 1, "asked to fail");
  return EVB_CONTINUE;
}

static const EvbHandlerInfo test_handlers[] = {
  EVB_HANDLER ("ok", handle_ok, "Counts calls."),
  EVB_HANDLER ("fail", handle_fail, "Fails: store/7 \"no row <data.row>\"."),
  EVB_HANDLER ("gated", handle_gated, "Waits at the test's gate."),
  EVB_HANDLER ("late-emit", handle_late_emit, "Waits at the gate, ignoring cancellation, then emits."),
  EVB_HANDLER ("fail-bytes", handle_fail_bytes, "Fails with an error whose text is not UTF-8."),
  EVB_HANDLER ("watch", handle_watch, "Counts calls (for status events)."),
  EVB_HANDLER ("track", handle_track, "Records concurrency and order, then waits at the gate."),
  EVB_HANDLER ("outcome", handle_outcome, "Continues, stops or fails by data.kind."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (test_plugin, "jobs", "1.0", "Handlers for the job tests.", test_handlers, NULL, NULL,
                          NULL);

/* ---- helpers ----------------------------------------------------------- */

static void
check_null (json_t *root, const char *path)
{
  json_t *value = json_at (root, path);

  if (!json_is_null (value))
    fail_msg ("%s: expected null, got %s", path, value == NULL ? "nothing" : "a value");
}

/* A non-negative integer: a duration or a timestamp. */
static void
check_duration (json_t *root, const char *path)
{
  json_t *value = json_at (root, path);

  if (!json_is_integer (value) || json_integer_value (value) < 0)
    fail_msg ("%s: expected a non-negative integer", path);
}

static void
run_until_count (EvbHarness *harness, const char *pattern, guint count)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_count (harness, pattern, count, WAIT_MS, &error))
    fail_msg ("waiting for %u %s: %s", count, pattern, error->message);
}

/* "waiting executing ..." for one job id, from the collected status events. */
static char *
job_trace (EvbHarness *harness, json_int_t job_id)
{
  GString *trace = g_string_new (NULL);
  const EvbEvent *event;

  for (guint i = 0; (event = evb_harness_find (harness, "evbus.status.*", i)) != NULL; i++)
    if (json_integer_value (json_object_get (event->data, "job")) == job_id)
      g_string_append_printf (trace, "%s%s", trace->len > 0 ? " " : "", event->type + strlen ("evbus.status."));
  return g_string_free (trace, FALSE);
}

static json_int_t
nth_job_id (EvbHarness *harness, guint nth)
{
  const EvbEvent *waiting = evb_harness_find (harness, "evbus.status.waiting", nth);

  assert_non_null (waiting);
  return json_integer_value (json_object_get (waiting->data, "job"));
}

/* Records warnings of the "evbus" log domain (the core's). */
static GMutex warnings_lock;
static GPtrArray *warnings;

static void
record_warning (const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
  g_mutex_lock (&warnings_lock);
  g_ptr_array_add (warnings, g_strdup (message));
  g_mutex_unlock (&warnings_lock);
}

/* ---- fixtures ------------------------------------------------------------ */

static int
setup (void **state)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new_with_settings ("{\"workers\": 4}", &error);

  assert_non_null (harness);
  if (!evb_harness_add_plugin (harness, "p", &test_plugin, NULL, &error))
    fail_msg ("add plugin: %s", error->message);
  gate_reset (FALSE);
  g_atomic_int_set (&ok_calls, 0);
  g_atomic_int_set (&watch_calls, 0);
  g_atomic_int_set (&running_now, 0);
  g_atomic_int_set (&running_peak, 0);
  order = g_array_new (FALSE, FALSE, sizeof (gint));
  warnings = g_ptr_array_new_with_free_func (g_free);
  *state = harness;
  return 0;
}

static int
teardown (void **state)
{
  /* A failed assertion may leave a handler at the gate. */
  gate_open ();
  evb_harness_free (*state);
  g_array_unref (order);
  g_ptr_array_unref (warnings);
  return 0;
}

/* ---- status sequences -------------------------------------------------- */

/* DESIGN "Status events": waiting -> executing -> completed, each with job,
 * state, event id/type, route, handler, plugin, timestamps, queue wait and
 * run time once known, no error. */
static void
test_completed_job_status (void **state)
{
  EvbHarness *harness = *state;
  guint64 route_id = add_route (harness, "work.item", "p.ok", "{\"mode\": \"async\", \"priority\": 3}");
  static const char *const states[] = { "waiting", "executing", "completed" };
  const EvbEvent *origin;
  json_int_t job_id;

  emit (harness, "work.item", "{\"n\": 1}");
  run_until_idle (harness);

  check_trace (harness, ">", "work.item evbus.status.waiting evbus.status.executing evbus.status.completed");
  assert_int_equal (g_atomic_int_get (&ok_calls), 1);
  origin = evb_harness_find (harness, "work.item", 0);
  job_id = nth_job_id (harness, 0);
  assert_true (job_id > 0);

  for (guint i = 0; i < G_N_ELEMENTS (states); i++)
    {
      g_autofree char *type = g_strdup_printf ("evbus.status.%s", states[i]);
      const EvbEvent *status = evb_harness_find (harness, type, 0);
      json_t *data = status->data;

      assert_string_equal (status->source, "host");
      check_int (data, "job", job_id);
      check_string (data, "state", states[i]);
      check_int (data, "event.id", (json_int_t) origin->id);
      check_string (data, "event.type", "work.item");
      check_int (data, "route.id", (json_int_t) route_id);
      check_string (data, "route.pattern", "work.item");
      check_string (data, "route.mode", "async");
      check_int (data, "route.priority", 3);
      check_string (data, "handler", "p.ok");
      check_string (data, "plugin", "p");
      check_duration (data, "time_us");
      check_null (data, "error");
      /* Queue wait is known once the job started, run time once it ended. */
      if (i == 0)
        check_null (data, "queue_wait_us");
      else
        check_duration (data, "queue_wait_us");
      if (i < 2)
        check_null (data, "run_time_us");
      else
        check_duration (data, "run_time_us");
    }
}

/* DESIGN "Status events" + "Failure events": waiting -> executing -> failed
 * with the error, and one evbus.failure with origin, route, handler, plugin,
 * error and thread "worker". */
static void
test_failed_job_status_and_failure (void **state)
{
  EvbHarness *harness = *state;
  guint64 route_id = add_route (harness, "work.item", "p.fail", "{\"mode\": \"async\"}");
  const EvbEvent *origin;
  const EvbEvent *failed;
  const EvbEvent *failure;
  g_autoptr (json_t) expected_origin_data = json_pack ("{s:i, s:s}", "row", 42, "who", "me");
  g_autoptr (json_t) totals = NULL;

  emit (harness, "work.item", "{\"row\": 42, \"who\": \"me\"}");
  run_until_idle (harness);

  check_trace (harness, "evbus.status.>", "evbus.status.waiting evbus.status.executing evbus.status.failed");
  /* The job's end first, then its failure, as a sync failure's caller
   * sees its own return first. */
  check_trace (harness, ">",
               "work.item evbus.status.waiting evbus.status.executing evbus.status.failed evbus.failure");
  origin = evb_harness_find (harness, "work.item", 0);

  failed = evb_harness_find (harness, "evbus.status.failed", 0);
  check_string (failed->data, "state", "failed");
  check_string (failed->data, "error.domain", "store");
  check_int (failed->data, "error.code", 7);
  check_string (failed->data, "error.message", "no row 42");
  check_duration (failed->data, "queue_wait_us");
  check_duration (failed->data, "run_time_us");

  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 1);
  failure = evb_harness_find (harness, "evbus.failure", 0);
  assert_string_equal (failure->source, "host");
  check_string (failure->data, "origin.type", "work.item");
  check_int (failure->data, "origin.id", (json_int_t) origin->id);
  check_string (failure->data, "origin.source", "harness");
  assert_true (json_equal (json_at (failure->data, "origin.data"), expected_origin_data));
  check_int (failure->data, "route.id", (json_int_t) route_id);
  check_string (failure->data, "route.pattern", "work.item");
  check_string (failure->data, "route.mode", "async");
  check_int (failure->data, "route.priority", 0);
  check_string (failure->data, "handler", "p.fail");
  check_string (failure->data, "plugin", "p");
  check_string (failure->data, "error.domain", "store");
  check_int (failure->data, "error.code", 7);
  check_string (failure->data, "error.message", "no row 42");
  check_string (failure->data, "thread", "worker");
  check_int (failure->data, "job", json_integer_value (json_object_get (failed->data, "job")));

  totals = evb_harness_stats (harness);
  check_int (totals, "bus.jobs_failed", 1);
  check_int (totals, "bus.failures", 1);
}

/* Stats list the oldest jobs in flight, oldest first, at most 100, with
 * their ages; bus.jobs_in_flight counts them all. */
static void
test_stats_oldest_jobs (void **state)
{
  EvbHarness *harness = *state;
  guint64 route_id = add_route (harness, "work.item", "p.gated", "{\"mode\": \"async\", \"max_concurrency\": 1}");
  g_autoptr (json_t) stats = NULL;
  const EvbEvent *first;
  json_t *jobs;
  json_t *job;
  gsize i;
  json_int_t previous = 0;

  for (guint n = 0; n < 150; n++)
    emit (harness, "work.item", NULL);
  run_until_count (harness, "evbus.status.executing", 1);
  run_until_count (harness, "evbus.status.waiting", 150);

  stats = evb_harness_stats (harness);
  check_int (stats, "bus.jobs_in_flight", 150);
  jobs = json_object_get (stats, "jobs");
  assert_int_equal (json_array_size (jobs), 100);
  first = evb_harness_find (harness, "work.item", 0);
  job = json_array_get (jobs, 0);
  assert_int_equal (json_object_size (job), 8);
  check_string (job, "state", "executing");
  check_int (job, "route", (json_int_t) route_id);
  check_string (job, "handler", "p.gated");
  check_string (job, "plugin", "p");
  check_string (job, "event.type", "work.item");
  check_int (job, "event.id", (json_int_t) first->id);
  check_duration (job, "age_us");
  check_duration (job, "running_us");
  json_array_foreach (jobs, i, job)
    {
      json_int_t id = json_integer_value (json_object_get (job, "job"));

      assert_true (id > previous); /* creation order: oldest first */
      previous = id;
      if (i > 0)
        {
          check_string (job, "state", "waiting");
          check_null (job, "running_us");
        }
    }

  gate_open ();
  run_until_idle (harness);
  json_decref (g_steal_pointer (&stats));
  stats = evb_harness_stats (harness);
  assert_int_equal (json_array_size (json_object_get (stats, "jobs")), 0);
}

/* An error text that is not UTF-8 still reaches the failure and status
 * events, each bad byte as U+FFFD (JSON strings are UTF-8; it used to cost
 * both events their error). */
static void
test_failure_text_not_utf8 (void **state)
{
  EvbHarness *harness = *state;
  const EvbEvent *failure;

  add_route (harness, "work.sync", "p.fail-bytes", NULL);
  add_route (harness, "work.async", "p.fail-bytes", "{\"mode\": \"async\"}");
  emit (harness, "work.sync", NULL);
  emit (harness, "work.async", NULL);
  run_until_idle (harness);

  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 2);
  for (guint i = 0; i < 2; i++)
    {
      failure = evb_harness_find (harness, "evbus.failure", i);
      check_string (failure->data, "error.domain", "st\xef\xbf\xbdre");
      check_int (failure->data, "error.code", 9);
      check_string (failure->data, "error.message", "row \xef\xbf\xbd\xef\xbf\xbd read");
    }
  check_string (evb_harness_find (harness, "evbus.status.failed", 0)->data, "error.message",
                "row \xef\xbf\xbd\xef\xbf\xbd read");
}

/* Threads of this process alive now, read from /proc. */
static guint
count_live_threads (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  guint count = 0;

  assert_non_null (dir);
  while (g_dir_read_name (dir) != NULL)
    count++;
  return count;
}

/* FALSE if more than @count threads are still listed after WAIT_MS. */
static gboolean
live_threads_drop_to (guint count)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;

  while (count_live_threads () > count)
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_thread_yield ();
    }
  return TRUE;
}

/* The bus starts workers as jobs need them, up to `workers`, and they end
 * with the bus: freeing it joins them, nothing lingers for reuse. */
static void
test_workers_start_on_demand_and_end_with_bus (void **state)
{
  EvbHarness *harness = *state;
  guint before = count_live_threads ();

  gate_reset (TRUE);
  add_route (harness, "work.item", "p.gated", "{\"mode\": \"async\"}");
  assert_int_equal (count_live_threads (), before);

  for (guint i = 0; i < 6; i++)
    emit (harness, "work.item", NULL);
  run_until_int (harness, &gate.entered, 4);
  /* workers is 4: four run, two wait for a free worker. */
  assert_int_equal (count_live_threads (), before + 4);
  gate_open ();
  run_until_idle (harness);
  assert_int_equal (g_atomic_int_get (&gate.entered), 6);

  evb_harness_free (g_steal_pointer (state));
  /* Joined; the kernel may list a joined thread for a moment longer. */
  assert_true (live_threads_drop_to (before));
}

/* DESIGN "Lifecycle"/"Status events": shutdown gives a running job the
 * grace period, then cancels it; the handler sees evb_call_is_cancelled. */
static void
test_shutdown_cancels_running_job (void **state)
{
  EvbHarness *harness = *state;
  g_autofree char *summary = NULL;

  gate_reset (TRUE);
  add_route (harness, "work.item", "p.gated", "{\"mode\": \"async\"}");
  emit (harness, "work.item", NULL);
  run_until_count (harness, "evbus.status.executing", 1);
  run_until_int (harness, &gate.entered, 1);

  evb_harness_shutdown (harness, 50);

  check_trace (harness, "evbus.status.>",
               "evbus.status.waiting evbus.status.executing evbus.status.cancelling evbus.status.cancelled");
  assert_int_equal (g_atomic_int_get (&gate.saw_cancel), 1);
  assert_int_equal (g_atomic_int_get (&gate.inside), 0);
  check_null (evb_harness_find (harness, "evbus.status.cancelled", 0)->data, "error");
  summary = evb_harness_summary (harness);
  assert_string_equal (summary, "dispatched 5 events, dropped 0, unhandled 0; jobs: 0 completed, 0 failed, 1 cancelled");
}

/* A handler that never returns, even when cancelled: the bus warns, and
 * freeing it keeps what the handler still reaches (the worker, the
 * plugin's host API, the completion inbox) instead of freeing it under
 * the handler.  When the handler does return, its emit is refused like any
 * emit after shutdown; nothing runs on the context any more.  Under ASan
 * the emit reads the bus: freed, it would be a use after free. */
static void
test_free_with_handler_that_never_returns (void **state)
{
  EvbHarness *harness = *state;
  g_autoptr (GMainContext) context = g_main_context_ref_thread_default (); /* the harness's */
  guint handler_id;
  g_autofree char *expected = NULL;

  gate_reset (FALSE);
  counter_init (&late_emits);
  add_route (harness, "work.item", "p.late-emit", "{\"mode\": \"async\"}");
  emit (harness, "work.item", NULL);
  run_until_int (harness, &gate.entered, 1);
  expected = g_strdup_printf ("job 1 of p.late-emit on work.item event %" G_GUINT64_FORMAT
                              " did not stop after cancellation; its plugin stays loaded",
                              evb_harness_find (harness, "work.item", 0)->id);

  handler_id = g_log_set_handler ("evbus", G_LOG_LEVEL_WARNING, record_warning, NULL);
  evb_harness_shutdown (harness, 20);
  evb_harness_free (g_steal_pointer (state));
  g_log_remove_handler ("evbus", handler_id);
  assert_int_equal (warnings->len, 1);
  assert_string_equal (g_ptr_array_index (warnings, 0), expected);

  gate_open ();
  assert_true (counter_wait (&late_emits, 1));
  g_mutex_lock (&late_emits.lock);
  assert_string_equal (late_emit_error, "the bus is shutting down: event refused");
  g_clear_pointer (&late_emit_error, g_free);
  g_mutex_unlock (&late_emits.lock);
  /* The job's completion notice is kept, never dispatched. */
  assert_false (g_main_context_pending (context));
  counter_clear (&late_emits);
}

/* A job still waiting for its max_concurrency slot at shutdown is cancelled
 * without ever running. */
static void
test_shutdown_cancels_waiting_job (void **state)
{
  EvbHarness *harness = *state;
  g_autofree char *summary = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  const EvbEvent *cancelled;

  gate_reset (TRUE);
  add_route (harness, "work.item", "p.gated", "{\"mode\": \"async\", \"max_concurrency\": 1}");
  emit (harness, "work.item", "{\"n\": 1}");
  emit (harness, "work.item", "{\"n\": 2}");
  run_until_count (harness, "evbus.status.waiting", 2);
  run_until_count (harness, "evbus.status.executing", 1);
  run_until_int (harness, &gate.entered, 1);

  evb_harness_shutdown (harness, 50);

  first = job_trace (harness, nth_job_id (harness, 0));
  second = job_trace (harness, nth_job_id (harness, 1));
  assert_string_equal (first, "waiting executing cancelling cancelled");
  assert_string_equal (second, "waiting cancelling cancelled");
  assert_int_equal (g_atomic_int_get (&gate.entered), 1);
  assert_int_equal (g_atomic_int_get (&gate.saw_cancel), 1);
  /* It never started: no queue wait, no run time. */
  for (guint i = 0; (cancelled = evb_harness_find (harness, "evbus.status.cancelled", i)) != NULL; i++)
    if (json_integer_value (json_object_get (cancelled->data, "job")) == nth_job_id (harness, 1))
      {
        check_null (cancelled->data, "queue_wait_us");
        check_null (cancelled->data, "run_time_us");
      }
  summary = evb_harness_summary (harness);
  assert_string_equal (summary, "dispatched 9 events, dropped 0, unhandled 0; jobs: 0 completed, 0 failed, 2 cancelled");
}

/* DESIGN "Status events": unsubscribing a route cancels its running job. */
static void
test_unsubscribe_cancels_running_job (void **state)
{
  EvbHarness *harness = *state;
  guint64 route_id;
  g_autoptr (json_t) stats = NULL;

  gate_reset (TRUE);
  route_id = add_route (harness, "work.item", "p.gated", "{\"mode\": \"async\"}");
  emit (harness, "work.item", NULL);
  run_until_count (harness, "evbus.status.executing", 1);
  run_until_int (harness, &gate.entered, 1);

  assert_true (evb_harness_remove_route (harness, route_id));
  assert_false (evb_harness_remove_route (harness, route_id));
  run_until_idle (harness);

  check_trace (harness, "evbus.status.>",
               "evbus.status.waiting evbus.status.executing evbus.status.cancelling evbus.status.cancelled");
  assert_int_equal (g_atomic_int_get (&gate.saw_cancel), 1);
  stats = evb_harness_stats (harness);
  assert_null (route_stats (stats, route_id));
  check_int (stats, "bus.jobs_cancelled", 1);
  check_int (stats, "bus.jobs_completed", 0);
}

static gpointer
unsubscribe_thread (gpointer data)
{
  gpointer *args = data;

  return GINT_TO_POINTER (evb_plugin_unsubscribe (args[0], *(guint64 *) args[1]));
}

/* Same when the plugin unsubscribes from a thread of its own: the cancel
 * is carried to the main thread. */
static void
test_unsubscribe_from_other_thread_cancels (void **state)
{
  EvbHarness *harness = *state;
  guint64 route_id;
  gpointer args[2];
  GThread *thread;

  gate_reset (TRUE);
  route_id = add_route (harness, "work.item", "p.gated", "{\"mode\": \"async\"}");
  emit (harness, "work.item", NULL);
  run_until_count (harness, "evbus.status.executing", 1);
  run_until_int (harness, &gate.entered, 1);

  args[0] = evb_harness_get_plugin (harness, "p");
  args[1] = &route_id;
  thread = g_thread_new ("unsubscriber", unsubscribe_thread, args);
  assert_true (GPOINTER_TO_INT (g_thread_join (thread)));
  run_until_idle (harness);

  check_trace (harness, "evbus.status.>",
               "evbus.status.waiting evbus.status.executing evbus.status.cancelling evbus.status.cancelled");
  assert_int_equal (g_atomic_int_get (&gate.saw_cancel), 1);
}

/* DESIGN "Dispatching" 4 + "Status events": a job past timeout_ms gives a
 * failure event and is cancelled, and the next level runs without waiting
 * for the stuck handler. */
static void
test_async_timeout (void **state)
{
  EvbHarness *harness = *state;
  guint64 slow_id;
  const EvbEvent *failure;
  g_autoptr (json_t) stats = NULL;

  gate_reset (FALSE);
  slow_id = add_route (harness, "work.item", "p.gated", "{\"mode\": \"async\", \"priority\": 10, \"timeout_ms\": 30}");
  add_route (harness, "work.item", "p.ok", "{\"priority\": 0}");
  emit (harness, "work.item", "{\"n\": 5}");

  run_until_count (harness, "evbus.failure", 1);
  run_until_count (harness, "evbus.status.cancelling", 1);
  /* The handler is still stuck at the gate, yet the lower level already ran. */
  run_until_int (harness, &ok_calls, 1);
  assert_int_equal (g_atomic_int_get (&gate.inside), 1);
  check_trace (harness, "evbus.status.>", "evbus.status.waiting evbus.status.executing evbus.status.cancelling");

  failure = evb_harness_find (harness, "evbus.failure", 0);
  check_string (failure->data, "error.domain", "evbus");
  check_int (failure->data, "error.code", 1);
  check_string (failure->data, "error.message", "handler exceeded its timeout of 30 ms");
  check_string (failure->data, "handler", "p.gated");
  check_string (failure->data, "thread", "worker");
  check_string (failure->data, "origin.type", "work.item");
  check_int (failure->data, "origin.data.n", 5);
  check_int (failure->data, "job", nth_job_id (harness, 0));

  gate_open ();
  run_until_idle (harness);
  check_trace (harness, "evbus.status.>",
               "evbus.status.waiting evbus.status.executing evbus.status.cancelling evbus.status.cancelled");
  /* The failure is reported before the job moves to cancelling. */
  check_trace (harness, "evbus.>",
               "evbus.status.waiting evbus.status.executing evbus.failure evbus.status.cancelling "
               "evbus.status.cancelled");
  assert_int_equal (g_atomic_int_get (&gate.saw_cancel), 1);
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 1);
  stats = evb_harness_stats (harness);
  check_int (route_stats (stats, slow_id), "timeouts", 1);
  check_int (route_stats (stats, slow_id), "cancelled", 1);
  check_int (route_stats (stats, slow_id), "failed", 0);
  check_int (stats, "bus.jobs_cancelled", 1);
}

/* DESIGN route option max_concurrency: never more than one job of the
 * route runs; the others wait their turn, in order. */
static void
test_max_concurrency_one (void **state)
{
  EvbHarness *harness = *state;
  guint64 route_id = add_route (harness, "work.item", "p.track", "{\"mode\": \"async\", \"max_concurrency\": 1}");
  g_autoptr (json_t) stats = NULL;
  const EvbEvent *completed;

  emit (harness, "work.item", "{\"n\": 0}");
  emit (harness, "work.item", "{\"n\": 1}");
  emit (harness, "work.item", "{\"n\": 2}");
  run_until_count (harness, "evbus.status.waiting", 3);
  run_until_count (harness, "evbus.status.executing", 1);
  run_until_int (harness, &gate.entered, 1);

  /* The first holds the only slot; the other two wait. */
  stats = evb_harness_stats (harness);
  check_int (route_stats (stats, route_id), "executing", 1);
  check_int (route_stats (stats, route_id), "waiting", 2);
  assert_int_equal (evb_harness_count (harness, "evbus.status.executing"), 1);

  gate_open ();
  run_until_idle (harness);

  assert_int_equal (g_atomic_int_get (&running_peak), 1);
  assert_int_equal (order->len, 3);
  for (guint i = 0; i < 3; i++)
    {
      assert_int_equal (g_array_index (order, gint, i), i);
      completed = evb_harness_find (harness, "evbus.status.completed", i);
      check_int (completed->data, "job", nth_job_id (harness, i));
    }
  assert_int_equal (evb_harness_count (harness, "evbus.status.completed"), 3);
  g_clear_pointer (&stats, json_decref);
  stats = evb_harness_stats (harness);
  check_int (route_stats (stats, route_id), "completed", 3);
  check_int (route_stats (stats, route_id), "executing", 0);
  check_int (route_stats (stats, route_id), "waiting", 0);
}

/* DESIGN "Status events": jobs that handle status events emit none, so an
 * async status watcher causes no feedback loop. */
static void
test_status_handlers_emit_no_status (void **state)
{
  EvbHarness *harness = *state;
  const EvbEvent *status;

  add_route (harness, "evbus.status.>", "p.watch", "{\"mode\": \"async\"}");
  add_route (harness, "work.item", "p.ok", "{\"mode\": \"async\"}");
  emit (harness, "work.item", NULL);
  run_until_idle (harness);

  check_trace (harness, ">", "work.item evbus.status.waiting evbus.status.executing evbus.status.completed");
  for (guint i = 0; (status = evb_harness_find (harness, "evbus.status.>", i)) != NULL; i++)
    {
      check_string (status->data, "event.type", "work.item");
      check_string (status->data, "handler", "p.ok");
    }
  assert_int_equal (g_atomic_int_get (&watch_calls), 3);
}

/* DESIGN "Failure events": on_failure emits the same data under that type
 * too. */
static void
test_on_failure_type (void **state)
{
  EvbHarness *harness = *state;
  const EvbEvent *failure;
  const EvbEvent *extra;

  add_route (harness, "work.item", "p.fail", "{\"mode\": \"async\", \"on_failure\": \"work.failed\"}");
  add_route (harness, "work.failed", "p.watch", NULL);
  emit (harness, "work.item", "{\"row\": 9}");
  run_until_idle (harness);

  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 1);
  assert_int_equal (evb_harness_count (harness, "work.failed"), 1);
  failure = evb_harness_find (harness, "evbus.failure", 0);
  extra = evb_harness_find (harness, "work.failed", 0);
  assert_true (json_equal (failure->data, extra->data));
  assert_string_equal (extra->source, "host");
  check_string (extra->data, "error.message", "no row 9");
  assert_int_equal (g_atomic_int_get (&watch_calls), 1);
}

/* DESIGN "Failure events": a failing handler of evbus.failure is logged and
 * counted, never re-emitted. */
static void
test_failure_handler_failure_not_reemitted (void **state)
{
  EvbHarness *harness = *state;
  guint handler_id;
  g_autoptr (json_t) stats = NULL;
  g_autofree char *expected = NULL;
  const EvbEvent *failure;

  add_route (harness, "evbus.failure", "p.fail", NULL);
  add_route (harness, "evbus.failure", "p.fail", "{\"mode\": \"async\"}");
  add_route (harness, "work.item", "p.fail", NULL);

  handler_id = g_log_set_handler ("evbus", G_LOG_LEVEL_WARNING, record_warning, NULL);
  emit (harness, "work.item", "{\"row\": 1}");
  run_until_idle (harness);
  g_log_remove_handler ("evbus", handler_id);

  /* One failure (of work.item); the two failing failure handlers add none. */
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 1);
  stats = evb_harness_stats (harness);
  check_int (stats, "bus.failures", 1);
  check_int (stats, "bus.failures_suppressed", 2);
  failure = evb_harness_find (harness, "evbus.failure", 0);
  expected = g_strdup_printf ("handler p.fail failed on evbus.failure event %" G_GUINT64_FORMAT
                              " (not re-emitted): store: no row 0", failure->id);
  assert_int_equal (warnings->len, 2);
  assert_string_equal (g_ptr_array_index (warnings, 0), expected);
  assert_string_equal (g_ptr_array_index (warnings, 1), expected);
}

/* Same for a failing handler of status events. */
static void
test_status_handler_failure_not_reemitted (void **state)
{
  EvbHarness *harness = *state;
  guint handler_id;
  g_autoptr (json_t) stats = NULL;

  add_route (harness, "evbus.status.>", "p.fail", "{\"mode\": \"async\"}");
  add_route (harness, "work.item", "p.ok", "{\"mode\": \"async\"}");

  handler_id = g_log_set_handler ("evbus", G_LOG_LEVEL_WARNING, record_warning, NULL);
  emit (harness, "work.item", NULL);
  run_until_idle (harness);
  g_log_remove_handler ("evbus", handler_id);

  check_trace (harness, ">", "work.item evbus.status.waiting evbus.status.executing evbus.status.completed");
  stats = evb_harness_stats (harness);
  check_int (stats, "bus.failures", 0);
  check_int (stats, "bus.failures_suppressed", 3);
  assert_int_equal (warnings->len, 3);
  for (guint i = 0; i < warnings->len; i++)
    assert_true (g_str_has_prefix (g_ptr_array_index (warnings, i), "handler p.fail failed on evbus.status."));
}

/* ---- the shape of reports --------------------------------------------- */

/* The keys of @object in iteration (insertion) order, space-separated. */
static char *
key_order (json_t *object)
{
  GString *keys = g_string_new (NULL);
  const char *key;
  json_t *value;

  if (!json_is_object (object))
    fail_msg ("expected an object");
  json_object_foreach (object, key, value)
    g_string_append_printf (keys, "%s%s", keys->len > 0 ? " " : "", key);
  return g_string_free (keys, FALSE);
}

static void
check_key_order (json_t *root, const char *path, const char *expected)
{
  g_autofree char *keys = key_order (path != NULL ? json_at (root, path) : root);

  if (strcmp (keys, expected) != 0)
    fail_msg ("%s: keys \"%s\", expected \"%s\"", path != NULL ? path : "data", keys, expected);
}

/* Serialised status and failure events (the dashboard's stream, stores)
 * list their keys in one fixed order, nested objects included. */
static void
test_report_key_order (void **state)
{
  EvbHarness *harness = *state;
  static const char *const states[] = { "waiting", "executing", "failed" };
  const EvbEvent *failure;

  add_route (harness, "work.item", "p.fail", "{\"mode\": \"async\"}");
  emit (harness, "work.item", "{\"row\": 3}");
  run_until_idle (harness);

  for (guint i = 0; i < G_N_ELEMENTS (states); i++)
    {
      g_autofree char *type = g_strdup_printf ("evbus.status.%s", states[i]);
      json_t *data = evb_harness_find (harness, type, 0)->data;

      check_key_order (data, NULL, "job state event route handler plugin time_us queue_wait_us run_time_us error");
      check_key_order (data, "event", "id type");
      check_key_order (data, "route", "id pattern mode priority");
    }
  check_key_order (evb_harness_find (harness, "evbus.status.failed", 0)->data, "error", "domain code message");

  failure = evb_harness_find (harness, "evbus.failure", 0);
  check_key_order (failure->data, NULL, "origin route handler plugin error thread job");
  check_key_order (failure->data, "origin", "type id source data");
  check_key_order (failure->data, "route", "id pattern mode priority");
  check_key_order (failure->data, "error", "domain code message");
}

/* What stays the same over a job's life reads the same in each of its
 * status events, and no job reads another's: one route, jobs of two types
 * in turn. */
static void
test_status_values_per_job (void **state)
{
  EvbHarness *harness = *state;
  static const char *const states[] = { "waiting", "executing", "completed" };
  static const char *const types[] = { "work.item", "work.other", "work.other", "work.item" };
  const EvbEvent *origin;

  add_route (harness, "work.*", "p.ok", "{\"mode\": \"async\", \"max_concurrency\": 1}");
  for (guint j = 0; j < G_N_ELEMENTS (types); j++)
    emit (harness, types[j], NULL);
  run_until_idle (harness);

  for (guint j = 0; j < G_N_ELEMENTS (types); j++)
    {
      json_int_t job_id = nth_job_id (harness, j);
      g_autofree char *trace = job_trace (harness, job_id);
      json_int_t queue_wait = -1;

      origin = evb_harness_find (harness, "work.*", j);
      assert_string_equal (origin->type, types[j]);
      assert_string_equal (trace, "waiting executing completed");
      for (guint i = 0; i < G_N_ELEMENTS (states); i++)
        {
          g_autofree char *type = g_strdup_printf ("evbus.status.%s", states[i]);
          const EvbEvent *status;

          for (guint k = 0; (status = evb_harness_find (harness, type, k)) != NULL; k++)
            if (json_integer_value (json_object_get (status->data, "job")) == job_id)
              break;
          assert_non_null (status);
          check_string (status->data, "state", states[i]);
          check_int (status->data, "event.id", (json_int_t) origin->id);
          check_string (status->data, "event.type", types[j]);
          assert_int_equal (json_object_size (json_object_get (status->data, "event")), 2);
          /* Known once the job started, then the same. */
          if (i == 1)
            queue_wait = json_integer_value (json_object_get (status->data, "queue_wait_us"));
          else if (i == 2)
            check_int (status->data, "queue_wait_us", queue_wait);
        }
    }
}

/* ---- status events cost nothing without listeners --------------------- */

static gint host_calls;   /* atomic */
static gint status_calls; /* atomic */

static EvbResult
count_host_call (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&host_calls);
  return EVB_CONTINUE;
}

static EvbResult
count_status_call (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&status_calls);
  return EVB_CONTINUE;
}

static void
iterate_until_idle (EvbBus *bus, GMainContext *context)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * 1000;
  GSource *tick = g_timeout_source_new (20);

  g_source_set_callback (tick, keep_ticking, NULL, NULL);
  g_source_attach (tick, context);
  while (!evb_bus_is_idle (bus) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (tick);
  g_source_unref (tick);
  assert_true (evb_bus_is_idle (bus));
}

/* DESIGN "Status events" (emitted "when someone listens"): with no
 * observer and no status route, 100 jobs make no status event at all; a
 * route on one state makes exactly those. */
static void
test_no_status_events_without_listener (void **state)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (GError) error = NULL;
  EvbBusSettings settings;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  EvbRouteSpec status_spec = EVB_ROUTE_SPEC_INIT;
  EvbBusTotals totals;
  EvbBus *bus;

  g_atomic_int_set (&host_calls, 0);
  g_atomic_int_set (&status_calls, 0);
  evb_bus_settings_init (&settings);
  settings.workers = 2;
  bus = evb_bus_new (&settings, context);
  spec.mode = EVB_MODE_ASYNC;
  spec.pattern = "work.item";
  spec.func = count_host_call;
  spec.handler = "count";
  assert_true (evb_bus_add_route (bus, NULL, &spec, NULL, &error) > 0);

  for (int i = 0; i < 100; i++)
    assert_true (evb_bus_emit (bus, "work.item", "test", json_pack ("{s:i}", "n", i), &error));
  iterate_until_idle (bus, context);

  evb_bus_get_totals (bus, &totals);
  assert_int_equal (g_atomic_int_get (&host_calls), 100);
  assert_int_equal (totals.jobs_completed, 100);
  assert_int_equal (totals.dispatched, 100);
  assert_int_equal (totals.emitted, 100);

  /* Listening to one state brings exactly that state's events. */
  status_spec.pattern = "evbus.status.completed";
  status_spec.func = count_status_call;
  status_spec.handler = "status";
  assert_true (evb_bus_add_route (bus, NULL, &status_spec, NULL, &error) > 0);
  for (int i = 0; i < 100; i++)
    assert_true (evb_bus_emit (bus, "work.item", "test", NULL, &error));
  iterate_until_idle (bus, context);

  evb_bus_get_totals (bus, &totals);
  assert_int_equal (g_atomic_int_get (&host_calls), 200);
  assert_int_equal (g_atomic_int_get (&status_calls), 100);
  assert_int_equal (totals.dispatched, 300);
  evb_bus_free (bus);
}

/* ---- per-route counters -------------------------------------------------- */

/* DESIGN "Status events": per route, matched, filtered, handled, completed,
 * failed, cancelled, waiting, executing and latency histograms. */
static void
test_route_counters (void **state)
{
  EvbHarness *harness = *state;
  static const char *const kinds[] = { "ok", "ok", "handled", "fail", "skip", "ok", "fail" };
  guint64 outcome_id = add_route (harness, "work.item", "p.outcome",
                                  "{\"mode\": \"async\", \"filter\": {\"kind\": {\"ne\": \"skip\"}}}");
  guint64 held_id = add_route (harness, "work.held", "p.gated", "{\"mode\": \"async\", \"max_concurrency\": 1}");
  guint64 slow_id = add_route (harness, "work.slow", "p.gated", "{\"mode\": \"async\", \"timeout_ms\": 20}");
  g_autoptr (json_t) stats = NULL;
  json_t *route;

  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autofree char *data = g_strdup_printf ("{\"kind\": \"%s\"}", kinds[i]);

      emit (harness, "work.item", data);
    }
  run_until_idle (harness);
  stats = evb_harness_stats (harness);
  route = route_stats (stats, outcome_id);
  check_int (route, "matched", 7);
  check_int (route, "filtered", 1);
  check_int (route, "handled", 1);
  check_int (route, "completed", 4);
  check_int (route, "failed", 2);
  check_int (route, "cancelled", 0);
  check_int (route, "timeouts", 0);
  check_int (route, "waiting", 0);
  check_int (route, "executing", 0);
  check_int (route, "queue_wait_us.count", 6);
  check_int (route, "run_time_us.count", 6);
  check_string (route, "handler", "p.outcome");
  check_string (route, "plugin", "p");
  check_string (route, "mode", "async");
  check_int (stats, "bus.jobs_completed", 4);
  check_int (stats, "bus.jobs_failed", 2);
  check_int (stats, "bus.failures", 2);

  /* In flight: one executing, one waiting for the slot. */
  emit (harness, "work.held", NULL);
  emit (harness, "work.held", NULL);
  run_until_count (harness, "evbus.status.waiting", 6 + 2);
  run_until_count (harness, "evbus.status.executing", 6 + 1);
  run_until_int (harness, &gate.entered, 1);
  g_clear_pointer (&stats, json_decref);
  stats = evb_harness_stats (harness);
  route = route_stats (stats, held_id);
  check_int (route, "waiting", 1);
  check_int (route, "executing", 1);
  check_int (route, "queue_wait_us.count", 1);
  check_int (route, "run_time_us.count", 0);
  check_int (stats, "bus.jobs_in_flight", 2);
  gate_open ();
  run_until_idle (harness);
  g_clear_pointer (&stats, json_decref);
  stats = evb_harness_stats (harness);
  route = route_stats (stats, held_id);
  check_int (route, "matched", 2);
  check_int (route, "completed", 2);
  check_int (route, "waiting", 0);
  check_int (route, "executing", 0);
  check_int (route, "queue_wait_us.count", 2);
  check_int (route, "run_time_us.count", 2);

  /* Cancelled by its timeout. */
  gate_reset (FALSE);
  emit (harness, "work.slow", NULL);
  run_until_count (harness, "evbus.failure", 2 + 1);
  gate_open ();
  run_until_idle (harness);
  g_clear_pointer (&stats, json_decref);
  stats = evb_harness_stats (harness);
  route = route_stats (stats, slow_id);
  check_int (route, "matched", 1);
  check_int (route, "completed", 0);
  check_int (route, "failed", 0);
  check_int (route, "cancelled", 1);
  check_int (route, "timeouts", 1);
  check_int (route, "queue_wait_us.count", 1);
  check_int (route, "run_time_us.count", 1);
  check_int (stats, "bus.jobs_completed", 4 + 2);
  check_int (stats, "bus.jobs_cancelled", 1);
  check_int (stats, "bus.jobs_in_flight", 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_completed_job_status, setup, teardown),
    cmocka_unit_test_setup_teardown (test_failed_job_status_and_failure, setup, teardown),
    cmocka_unit_test_setup_teardown (test_failure_text_not_utf8, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stats_oldest_jobs, setup, teardown),
    cmocka_unit_test_setup_teardown (test_workers_start_on_demand_and_end_with_bus, setup, teardown),
    cmocka_unit_test_setup_teardown (test_shutdown_cancels_running_job, setup, teardown),
    cmocka_unit_test_setup_teardown (test_free_with_handler_that_never_returns, setup, teardown),
    cmocka_unit_test_setup_teardown (test_shutdown_cancels_waiting_job, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unsubscribe_cancels_running_job, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unsubscribe_from_other_thread_cancels, setup, teardown),
    cmocka_unit_test_setup_teardown (test_async_timeout, setup, teardown),
    cmocka_unit_test_setup_teardown (test_max_concurrency_one, setup, teardown),
    cmocka_unit_test_setup_teardown (test_status_handlers_emit_no_status, setup, teardown),
    cmocka_unit_test_setup_teardown (test_on_failure_type, setup, teardown),
    cmocka_unit_test_setup_teardown (test_failure_handler_failure_not_reemitted, setup, teardown),
    cmocka_unit_test_setup_teardown (test_status_handler_failure_not_reemitted, setup, teardown),
    cmocka_unit_test_setup_teardown (test_report_key_order, setup, teardown),
    cmocka_unit_test_setup_teardown (test_status_values_per_job, setup, teardown),
    cmocka_unit_test (test_no_status_events_without_listener),
    cmocka_unit_test_setup_teardown (test_route_counters, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
