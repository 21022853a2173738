/* Tests for DESIGN.md "Receipts": a source's receipt is called exactly
 * once, on the main thread, when the event's chain is over (every level
 * that ran has finished, every job it started has ended), or when the
 * event never ran; its outcome says which. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "bus.h"
#include "evbus/harness.h"

#define WAIT_MS 10000

#include "test-util.h"

/* ---- what each receipt did ---- */

typedef struct {
  gint calls;       /* atomic */
  gint destroyed;   /* atomic */
  gboolean on_main;
  EvbReceipt receipt;
  char *domain;
  char *message;
} Seen;

static GThread *main_thread;

static void
seen_receipt (const EvbReceipt *receipt, gpointer user_data)
{
  Seen *seen = user_data;

  seen->on_main = g_thread_self () == main_thread;
  seen->receipt = *receipt;
  g_free (seen->domain);
  g_free (seen->message);
  seen->domain = g_strdup (receipt->error_domain);
  seen->message = g_strdup (receipt->error_message);
  g_atomic_int_inc (&seen->calls);
}

static void
seen_destroy (gpointer user_data)
{
  Seen *seen = user_data;

  g_atomic_int_inc (&seen->destroyed);
}

static void
seen_clear (Seen *seen)
{
  g_clear_pointer (&seen->domain, g_free);
  g_clear_pointer (&seen->message, g_free);
}

static EvbEmitOptions
options_for (Seen *seen)
{
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;

  options.receipt = seen_receipt;
  options.receipt_data = seen;
  options.receipt_destroy = seen_destroy;
  return options;
}

/* Emits @type with a receipt into @seen; returns the id (0 if refused). */
static guint64
emit_seen (EvbHarness *harness, const char *type, const char *data, Seen *seen, GError **error)
{
  EvbEmitOptions options = options_for (seen);

  return evb_harness_emit_full (harness, type, data, &options, error);
}

static gboolean
seen_called (EvbHarness *harness, gpointer user_data)
{
  return g_atomic_int_get (&((Seen *) user_data)->calls) > 0;
}

static void
run_until_seen (EvbHarness *harness, Seen *seen)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until (harness, seen_called, seen, WAIT_MS, &error))
    fail_msg ("no receipt: %s", error->message);
}

/* Exactly once, on the main thread, then its data destroyed once. */
static void
assert_outcome (Seen *seen, guint64 id, EvbReceiptOutcome outcome)
{
  assert_int_equal (g_atomic_int_get (&seen->calls), 1);
  assert_int_equal (g_atomic_int_get (&seen->destroyed), 1);
  assert_true (seen->on_main);
  assert_int_equal (seen->receipt.struct_size, sizeof (EvbReceipt));
  assert_int_equal (seen->receipt.outcome, outcome);
  assert_int_equal (seen->receipt.event_id, id);
}

/* ---- a linked-in plugin whose handlers say what the test needs ---- */

static gint gate_open;    /* atomic: "gate" handlers may return */
static gint gate_entered; /* atomic: "gate" handlers that started */

static EvbResult
pass (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static EvbResult
claim (EvbCall *call, const EvbEvent *event)
{
  return EVB_HANDLED;
}

static EvbResult
fail_with_code (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, "test", (gint) json_integer_value (json_object_get (event->data, "code")),
                        "failed %s", event->type);
}

/* Waits (a worker only) until the gate opens or the job is cancelled;
 * with data.stubborn, until the gate opens, cancelled or not. */
static EvbResult
gate (EvbCall *call, const EvbEvent *event)
{
  gboolean stubborn = json_is_true (json_object_get (event->data, "stubborn"));

  g_atomic_int_inc (&gate_entered);
  while (!g_atomic_int_get (&gate_open) && (stubborn || !evb_call_is_cancelled (call)))
    g_usleep (200);
  return json_is_true (json_object_get (event->data, "claim")) ? EVB_HANDLED : EVB_CONTINUE;
}

static gint flood_on; /* atomic: "again" keeps emitting */
static gint flood_refused;

/* Emits its own event again while the flood is on: the inbox is never
 * empty, so the loop always has an event to dispatch. */
static EvbResult
again (EvbCall *call, const EvbEvent *event)
{
  if (g_atomic_int_get (&flood_on) && !evb_call_emit (call, event->type, NULL, NULL))
    flood_refused++;
  return EVB_CONTINUE;
}

static const EvbHandlerInfo receipt_handlers[] = {
  EVB_HANDLER ("pass", pass, "Returns CONTINUE."),
  EVB_HANDLER ("again", again, "Emits its event again while the test's flood is on."),
  EVB_HANDLER ("claim", claim, "Returns HANDLED."),
  EVB_HANDLER ("fail", fail_with_code, "Fails with data.code."),
  EVB_HANDLER ("gate", gate, "Waits for the test's gate or its cancellation; data.claim: HANDLED."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (receipt_plugin, "receipts", "1.0", "Handlers for the receipt tests.", receipt_handlers,
                          NULL, NULL, NULL);

static EvbHarness *
harness_with (const char *settings)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new_with_settings (settings, &error);

  if (harness == NULL)
    fail_msg ("%s", error->message);
  if (!evb_harness_add_plugin (harness, "t", &receipt_plugin, NULL, &error))
    fail_msg ("%s", error->message);
  g_atomic_int_set (&gate_open, 0);
  g_atomic_int_set (&gate_entered, 0);
  return harness;
}

/* ---- the outcomes of a chain ---- */

static void
test_unhandled (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with (NULL);
  Seen seen = { 0 };
  guint64 id = emit_seen (harness, "nobody.listens", NULL, &seen, NULL);

  assert_true (id != 0);
  run_until_seen (harness, &seen);
  assert_outcome (&seen, id, EVB_RECEIPT_UNHANDLED);
  assert_int_equal (seen.receipt.n_failures, 0);
  assert_null (seen.receipt.error_message);
  seen_clear (&seen);
}

static void
test_done_and_handled (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with (NULL);
  Seen done = { 0 }, handled = { 0 };
  guint64 done_id, handled_id;

  add_route (harness, "a.done", "t.pass", NULL);
  add_route (harness, "a.claimed", "t.claim", "{\"priority\": 1}");
  add_route (harness, "a.claimed", "t.pass", NULL);
  done_id = emit_seen (harness, "a.done", NULL, &done, NULL);
  handled_id = emit_seen (harness, "a.claimed", NULL, &handled, NULL);
  run_until_idle (harness);
  assert_outcome (&done, done_id, EVB_RECEIPT_DONE);
  assert_outcome (&handled, handled_id, EVB_RECEIPT_HANDLED);
}

/* "failed (with the number of failures and the first error)": failures of
 * a level do not stop the chain, and every one is counted. */
static void
test_failed_counts_and_first_error (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with (NULL);
  Seen seen = { 0 };
  guint64 id;

  add_route (harness, "a.bad", "t.fail", "{\"priority\": 2}");
  add_route (harness, "a.bad", "t.fail", "{\"priority\": 1, \"mode\": \"async\"}");
  add_route (harness, "a.bad", "t.claim", NULL);
  id = emit_seen (harness, "a.bad", "{\"code\": 4}", &seen, NULL);
  run_until_idle (harness);
  assert_outcome (&seen, id, EVB_RECEIPT_FAILED);
  assert_int_equal (seen.receipt.n_failures, 2);
  assert_string_equal (seen.domain, "test");
  assert_int_equal (seen.receipt.error_code, 4);
  assert_string_equal (seen.message, "failed a.bad");
  seen_clear (&seen);
}

/* "after every level that ran has finished and every job it started has
 * ended": not while the job runs. */
static void
test_waits_for_jobs (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with (NULL);
  Seen seen = { 0 };
  guint64 id;

  add_route (harness, "a.slow", "t.gate", "{\"mode\": \"async\"}");
  add_route (harness, "a.slow", "t.gate", "{\"mode\": \"async\"}");
  id = emit_seen (harness, "a.slow", "{\"claim\": true}", &seen, NULL);
  run_until_int (harness, &gate_entered, 2);
  run_until_count_ok (harness, "evbus.status.executing", 2);
  assert_int_equal (g_atomic_int_get (&seen.calls), 0);
  g_atomic_int_set (&gate_open, 1);
  run_until_seen (harness, &seen);
  run_until_idle (harness);
  assert_outcome (&seen, id, EVB_RECEIPT_HANDLED);
  assert_int_equal (evb_harness_count (harness, "evbus.status.completed"), 2);
}

/* An async timeout moves on without the stuck job (the level does not wait
 * for it), but the receipt waits until the job has ended. */
static void
test_timeout_waits_for_the_stuck_job (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with (NULL);
  Seen seen = { 0 };
  guint64 id;

  add_route (harness, "a.stuck", "t.gate", "{\"mode\": \"async\", \"timeout_ms\": 20, \"priority\": 1}");
  add_route (harness, "a.stuck", "t.pass", NULL);
  id = emit_seen (harness, "a.stuck", "{\"stubborn\": true}", &seen, NULL);
  run_until_count_ok (harness, "evbus.failure", 1);
  run_until_count_ok (harness, "evbus.status.cancelling", 1);
  assert_int_equal (g_atomic_int_get (&seen.calls), 0); /* the job still runs */
  g_atomic_int_set (&gate_open, 1);
  run_until_seen (harness, &seen);
  run_until_idle (harness);
  assert_outcome (&seen, id, EVB_RECEIPT_FAILED);
  assert_int_equal (seen.receipt.n_failures, 1);
  assert_string_equal (seen.message, "handler exceeded its timeout of 20 ms");
  check_trace (harness, "evbus.status.>", "evbus.status.waiting evbus.status.executing evbus.status.cancelling "
                                          "evbus.status.cancelled");
  seen_clear (&seen);
}

/* A route removed while its job runs: the job is cancelled, and so is the
 * chain's outcome. */
static void
test_unsubscribe_during_the_chain (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with (NULL);
  Seen seen = { 0 };
  guint64 route, id;

  route = add_route (harness, "a.slow", "t.gate", "{\"mode\": \"async\"}");
  id = emit_seen (harness, "a.slow", NULL, &seen, NULL);
  run_until_int (harness, &gate_entered, 1);
  assert_true (evb_harness_remove_route (harness, route));
  run_until_seen (harness, &seen);
  run_until_idle (harness);
  assert_outcome (&seen, id, EVB_RECEIPT_CANCELLED);
}

/* A route whose owner dies before the event runs is never called: the
 * event was not accepted.  One whose owner dies while its job runs: the job
 * holds the owner, finishes, and the chain is done. */
static void
test_owner_finalized (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with (NULL);
  g_autoptr (GError) error = NULL;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  GObject *owner = g_object_new (G_TYPE_OBJECT, NULL);
  Seen gone = { 0 }, running = { 0 };
  guint64 gone_id, running_id;
  EvbPlugin *plugin = evb_harness_get_plugin (harness, "t");

  spec.pattern = "a.owned";
  spec.handler = "gate";
  spec.mode = EVB_MODE_ASYNC;
  assert_true (evb_plugin_subscribe (plugin, &spec, owner, &error) != 0);
  running_id = emit_seen (harness, "a.owned", NULL, &running, NULL);
  run_until_int (harness, &gate_entered, 1);
  g_object_unref (owner); /* the job still holds it */
  g_atomic_int_set (&gate_open, 1);
  run_until_seen (harness, &running);
  run_until_idle (harness);
  assert_outcome (&running, running_id, EVB_RECEIPT_DONE);

  gone_id = emit_seen (harness, "a.owned", NULL, &gone, NULL);
  run_until_seen (harness, &gone);
  assert_outcome (&gone, gone_id, EVB_RECEIPT_UNHANDLED);
}

/* ---- events that never ran ---- */

static gboolean
emit_flag_checked (Seen *seen)
{
  return g_atomic_int_get (&seen->calls) == 0;
}

/* "refused": a full "reject" inbox.  The receipt comes later, on the loop,
 * never inside the emit that failed. */
static void
test_refused_by_a_full_inbox (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with ("{\"inbox_limit\": 1, \"overflow\": \"reject\"}");
  g_autoptr (GError) error = NULL;
  Seen first = { 0 }, second = { 0 };
  guint64 first_id, second_id;

  add_route (harness, ">", "t.pass", NULL);
  first_id = emit_seen (harness, "a.one", NULL, &first, NULL);
  second_id = emit_seen (harness, "a.two", NULL, &second, &error);
  assert_int_equal (second_id, 0);
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL));
  assert_true (emit_flag_checked (&second));
  run_until_idle (harness);
  assert_outcome (&first, first_id, EVB_RECEIPT_DONE);
  assert_int_equal (g_atomic_int_get (&second.calls), 1);
  assert_int_equal (second.receipt.outcome, EVB_RECEIPT_REFUSED);
  assert_true (second.receipt.event_id != 0); /* it was made, then refused */
  assert_string_equal (second.domain, "evb-bus-error-quark");
  assert_string_equal (second.message, error->message);
  seen_clear (&second);
}

/* A refused receipt is not starved by a flood: while a handler keeps the
 * inbox busy (each event emits the next), the notice still comes, on the
 * next turn of the loop (it was posted at idle priority, below the inbox,
 * and never ran while events kept coming). */
static void
test_refused_during_a_flood (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with ("{\"inbox_limit\": 1, \"overflow\": \"reject\"}");
  g_autoptr (GError) error = NULL;
  Seen seen = { 0 }, flood = { 0 };

  add_route (harness, "flood.x", "t.again", NULL);
  g_atomic_int_set (&flood_on, 1);
  flood_refused = 0;
  assert_true (emit_seen (harness, "flood.x", NULL, &flood, NULL) != 0);
  assert_int_equal (emit_seen (harness, "a.two", NULL, &seen, &error), 0);
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL));
  run_until_seen (harness, &seen);
  assert_int_equal (seen.receipt.outcome, EVB_RECEIPT_REFUSED);
  assert_int_equal (flood_refused, 0); /* the flood was still going */
  g_atomic_int_set (&flood_on, 0);
  run_until_idle (harness);
  seen_clear (&seen);
  seen_clear (&flood);
}

/* Refused before any event was made: a bad type.  Id 0, the reason. */
static void
test_refused_bad_type (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with (NULL);
  g_autoptr (GError) error = NULL;
  Seen seen = { 0 };

  assert_int_equal (emit_seen (harness, "Bad Type", NULL, &seen, &error), 0);
  assert_true (emit_flag_checked (&seen));
  run_until_seen (harness, &seen);
  assert_outcome (&seen, 0, EVB_RECEIPT_REFUSED);
  assert_string_equal (seen.message, "invalid event type \"Bad Type\": segment 1 may hold only a-z 0-9 _ -");
  seen_clear (&seen);
}

/* "dropped": the oldest event of a full "drop-oldest" inbox. */
static void
test_dropped (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with ("{\"inbox_limit\": 1, \"overflow\": \"drop-oldest\"}");
  Seen first = { 0 }, second = { 0 };
  guint64 first_id, second_id;

  add_route (harness, ">", "t.pass", NULL);
  first_id = emit_seen (harness, "a.one", NULL, &first, NULL);
  second_id = emit_seen (harness, "a.two", NULL, &second, NULL);
  run_until_idle (harness);
  assert_outcome (&first, first_id, EVB_RECEIPT_DROPPED);
  assert_outcome (&second, second_id, EVB_RECEIPT_DONE);
  check_trace (harness, ">", "a.two");
}

/* A timed emit: 0 refuses at once, N after N ms, off the main thread under
 * "block" (the main thread itself is admitted past the limit). */
typedef struct {
  EvbHarness *harness;
  gint timeout_ms;
  Seen *seen;
  GError *error;
  guint64 id;
} TimedEmit;

static gpointer
timed_emit_thread (gpointer data)
{
  TimedEmit *emit = data;
  EvbEmitOptions options = options_for (emit->seen);

  options.timeout_ms = emit->timeout_ms;
  emit->id = evb_harness_emit_full (emit->harness, "a.late", NULL, &options, &emit->error);
  return NULL;
}

static void
check_timed_emit (gint timeout_ms, gint code, const char *message)
{
  g_autoptr (EvbHarness) harness = harness_with ("{\"inbox_limit\": 1, \"overflow\": \"block\"}");
  Seen seen = { 0 };
  TimedEmit late = { harness, timeout_ms, &seen, NULL, 0 };
  GThread *thread;

  emit (harness, "a.fill", NULL); /* the inbox is full until the loop runs */
  thread = g_thread_new ("timed-emit", timed_emit_thread, &late);
  g_thread_join (thread);
  assert_int_equal (late.id, 0);
  assert_true (g_error_matches (late.error, EVB_BUS_ERROR, code));
  assert_string_equal (late.error->message, message);
  run_until_seen (harness, &seen);
  run_until_idle (harness);
  assert_int_equal (seen.receipt.outcome, EVB_RECEIPT_REFUSED);
  assert_true (seen.on_main);
  g_error_free (late.error);
  seen_clear (&seen);
}

static void
test_timed_emit (void **state)
{
  check_timed_emit (0, EVB_BUS_ERROR_INBOX_FULL, "inbox full (1 events): event refused without waiting (timeout 0)");
  check_timed_emit (30, EVB_BUS_ERROR_TIMEOUT, "inbox full (1 events): no room within 30 ms; event refused");
}

/* ---- shutdown ---- */

/* "shutdown with the event still queued": shutdown drains the inbox, so it
 * runs, and its receipt says how. */
static void
test_shutdown_with_the_event_queued (void **state)
{
  EvbHarness *harness = harness_with (NULL);
  Seen seen = { 0 };
  guint64 id;

  add_route (harness, "a.late", "t.claim", NULL);
  id = emit_seen (harness, "a.late", NULL, &seen, NULL);
  evb_harness_free (harness);
  assert_outcome (&seen, id, EVB_RECEIPT_HANDLED);
}

/* "... or its jobs still running": with no grace the job is cancelled. */
static void
test_shutdown_with_jobs_running (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with ("{\"grace_ms\": 0}");
  Seen seen = { 0 };
  guint64 id;

  add_route (harness, "a.slow", "t.gate", "{\"mode\": \"async\"}");
  id = emit_seen (harness, "a.slow", NULL, &seen, NULL);
  run_until_int (harness, &gate_entered, 1);
  evb_harness_shutdown (harness, -1);
  assert_outcome (&seen, id, EVB_RECEIPT_CANCELLED);
}

/* After shutdown the bus refuses, and says so in the receipt. */
static void
test_refused_after_shutdown (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with (NULL);
  g_autoptr (GError) error = NULL;
  Seen seen = { 0 };

  evb_harness_shutdown (harness, 0);
  assert_int_equal (emit_seen (harness, "a.late", NULL, &seen, &error), 0);
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN));
  run_until_seen (harness, &seen);
  assert_int_equal (seen.receipt.outcome, EVB_RECEIPT_REFUSED);
  assert_string_equal (seen.message, "the bus is shutting down: event refused");
  seen_clear (&seen);
}

/* "Events emitted by handlers during the chain have receipts of their own;
 * they do not extend the parent's": the harness's own receipts, too. */
static void
test_harness_receipts (void **state)
{
  g_autoptr (EvbHarness) harness = harness_with (NULL);
  g_autoptr (GError) error = NULL;
  const EvbReceipt *receipt;
  guint64 id;

  add_route (harness, "a.bad", "t.fail", NULL);
  id = evb_harness_emit_with_receipt (harness, "a.bad", "{\"code\": 9}", &error);
  assert_true (id != 0);
  assert_null (evb_harness_get_receipt (harness, id));
  assert_true (evb_harness_run_until_receipt (harness, id, WAIT_MS, &error));
  receipt = evb_harness_get_receipt (harness, id);
  assert_int_equal (receipt->outcome, EVB_RECEIPT_FAILED);
  assert_int_equal (receipt->n_failures, 1);
  assert_int_equal (receipt->error_code, 9);
  assert_string_equal (receipt->error_message, "failed a.bad");
  assert_false (evb_harness_run_until_receipt (harness, id + 1000, 20, &error) || error == NULL);
}

static int
setup (void **state)
{
  main_thread = g_thread_self ();
  return 0;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_unhandled),
    cmocka_unit_test (test_done_and_handled),
    cmocka_unit_test (test_failed_counts_and_first_error),
    cmocka_unit_test (test_waits_for_jobs),
    cmocka_unit_test (test_timeout_waits_for_the_stuck_job),
    cmocka_unit_test (test_unsubscribe_during_the_chain),
    cmocka_unit_test (test_owner_finalized),
    cmocka_unit_test (test_refused_by_a_full_inbox),
    cmocka_unit_test (test_refused_during_a_flood),
    cmocka_unit_test (test_refused_bad_type),
    cmocka_unit_test (test_dropped),
    cmocka_unit_test (test_timed_emit),
    cmocka_unit_test (test_shutdown_with_the_event_queued),
    cmocka_unit_test (test_shutdown_with_jobs_running),
    cmocka_unit_test (test_refused_after_shutdown),
    cmocka_unit_test (test_harness_receipts),
  };

  return cmocka_run_group_tests (tests, setup, NULL);
}
