/* The trace log (host/core/trace-log.c) through the SDK, as the dashboard
 * uses it: evb_plugin_keep_traces, then evb_plugin_get_trace gives one
 * trace's events, routes, jobs, skips, failures and receipt, with times. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "evbus/harness.h"

#define WAIT_MS 10000

#include "test-util.h"

/* ---- a plugin linked in ---- */

/* Emits data.next when it is set. */
static EvbResult
relay (EvbCall *call, const EvbEvent *event)
{
  const char *next = json_string_value (json_object_get (event->data, "next"));

  if (next != NULL && !evb_call_emit (call, next, NULL, NULL))
    return evb_call_fail (call, NULL, 1, "emit failed");
  return EVB_CONTINUE;
}

static EvbResult
refuse (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, "tl", 7, "refused %s", event->type);
}

static EvbResult
work (EvbCall *call, const EvbEvent *event)
{
  return EVB_HANDLED;
}

static const EvbHandlerInfo handlers[] = {
  EVB_HANDLER ("relay", relay, "Emits data.next."),
  EVB_HANDLER ("refuse", refuse, "Fails with code 7."),
  EVB_HANDLER_ASYNC ("work", work, "Returns HANDLED from a worker."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (tl_plugin, "tl", "1.0", "Linked into the trace-log test.", handlers, NULL, NULL, NULL);

static EvbHarness *
harness_keeping (guint records)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new ();

  if (!evb_harness_add_plugin (harness, "tl", &tl_plugin, NULL, &error))
    fail_msg ("%s", error->message);
  if (records > 0)
    evb_plugin_keep_traces (evb_harness_get_plugin (harness, "tl"), records);
  return harness;
}

static guint64
emit_and_wait (EvbHarness *harness, const char *type, const char *data)
{
  g_autoptr (GError) error = NULL;
  guint64 id = evb_harness_emit_with_receipt (harness, type, data, &error);

  if (id == 0 || !evb_harness_run_until_receipt (harness, id, WAIT_MS, &error))
    fail_msg ("%s: %s", type, error->message);
  run_until_idle (harness);
  return id;
}

static json_t *
trace_of (EvbHarness *harness, guint64 event_id)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  const EvbEvent *event = evb_harness_find_id (harness, event_id);
  json_t *trace;

  assert_non_null (event);
  id = g_strdup_printf ("%016" G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER "x", event->trace_id_high,
                        event->trace_id_low);
  trace = evb_plugin_get_trace (evb_harness_get_plugin (harness, "tl"), id, &error);
  if (trace == NULL)
    fail_msg ("%s", error->message);
  check_string (trace, "trace_id", id);
  return trace;
}

/* The @nth event of the answer that is not a status event (the harness
 * listens to everything, so the bus makes them; they are in the trace). */
static json_t *
nth_event (json_t *trace, guint nth)
{
  json_t *events = json_object_get (trace, "events");
  gsize i;
  json_t *event;

  json_array_foreach (events, i, event)
    if (!g_str_has_prefix (json_string_value (json_object_get (event, "type")), EVB_TYPE_STATUS_PREFIX)
        && nth-- == 0)
      return event;
  return NULL;
}

static json_t *
route_labelled (json_t *event, const char *label)
{
  json_t *routes = json_object_get (event, "routes");
  gsize i;
  json_t *route;

  json_array_foreach (routes, i, route)
    if (g_strcmp0 (json_string_value (json_object_get (route, "label")), label) == 0)
      return route;
  fail_msg ("no route %s in the trace", label);
  return NULL;
}

/* ---- tests ---- */

static void
test_errors (void **state)
{
  g_autoptr (EvbHarness) harness = harness_keeping (0);
  EvbPlugin *plugin = evb_harness_get_plugin (harness, "tl");
  g_autoptr (GError) error = NULL;

  assert_null (evb_plugin_get_trace (plugin, "4bf92f3577b34da6a3ce929d0e0e4736", &error));
  assert_true (g_error_matches (error, EVB_TRACE_ERROR, EVB_TRACE_ERROR_NOT_KEPT));
  assert_string_equal (error->message, "no traces are kept: a plugin must call evb_plugin_keep_traces first");
  g_clear_error (&error);

  evb_plugin_keep_traces (plugin, 16);
  assert_null (evb_plugin_get_trace (plugin, "4BF92F3577B34DA6A3CE929D0E0E4736", &error));
  assert_true (g_error_matches (error, EVB_TRACE_ERROR, EVB_TRACE_ERROR_INVALID));
  assert_string_equal (error->message, "invalid trace id \"4BF92F3577B34DA6A3CE929D0E0E4736\": expected 32 "
                                       "lowercase hex digits, not all zeros");
  g_clear_error (&error);
  assert_null (evb_plugin_get_trace (plugin, "00000000000000000000000000000000", &error));
  assert_true (g_error_matches (error, EVB_TRACE_ERROR, EVB_TRACE_ERROR_INVALID));
  g_clear_error (&error);
  assert_null (evb_plugin_get_trace (plugin, "abc", &error));
  assert_string_equal (error->message, "invalid trace id \"abc\": expected 32 lowercase hex digits, not all zeros");
}

/* An unknown trace is an empty answer, not an error. */
static void
test_unknown_trace (void **state)
{
  g_autoptr (EvbHarness) harness = harness_keeping (16);
  g_autoptr (GError) error = NULL;
  g_autoptr (json_t) trace = evb_plugin_get_trace (evb_harness_get_plugin (harness, "tl"),
                                                   "4bf92f3577b34da6a3ce929d0e0e4736", &error);

  assert_non_null (trace);
  check_int (trace, "records", 0);
  assert_int_equal (json_array_size (json_object_get (trace, "events")), 0);
  assert_true (json_is_false (json_object_get (trace, "partial")));
}

/* A sync route emits a child; the child runs a job, skips a filtered route
 * and is handled: two events, parent to child, every route with its
 * decision and times, the job with its states, the receipt. */
static void
test_tree (void **state)
{
  g_autoptr (EvbHarness) harness = harness_keeping (1000);
  g_autoptr (json_t) trace = NULL;
  json_t *parent, *child, *route, *job, *states;
  guint64 id;

  add_route (harness, "order.placed", "tl.relay", NULL);
  add_route (harness, "order.check", "tl.work", "{\"mode\": \"async\"}");
  add_route (harness, "order.check", "tl.refuse", "{\"filter\": {\"size\": {\"gt\": 10}}}");
  id = emit_and_wait (harness, "order.placed", "{\"next\": \"order.check\"}");
  emit_and_wait (harness, "order.other", "{}"); /* another trace: not in the answer */

  trace = trace_of (harness, id);
  assert_true (json_is_false (json_object_get (trace, "partial")));
  parent = nth_event (trace, 0);
  child = nth_event (trace, 1);
  assert_non_null (child);
  assert_null (nth_event (trace, 2));

  check_int (parent, "id", (json_int_t) id);
  check_string (parent, "type", "order.placed");
  check_int (parent, "matched", 1);
  check_string (parent, "outcome", "done");
  check_string (parent, "receipt", "done");
  assert_true (json_integer_value (json_object_get (parent, "end_us"))
               >= json_integer_value (json_object_get (parent, "time_us")));
  route = route_labelled (parent, "tl.relay");
  check_string (route, "mode", "sync");
  check_string (route, "result", "CONTINUE");
  assert_true (json_is_null (json_object_get (route, "job")));
  assert_true (json_integer_value (json_object_get (route, "end_us"))
               >= json_integer_value (json_object_get (route, "start_us")));

  check_string (child, "type", "order.check");
  check_int (child, "parent_id", (json_int_t) id);
  check_int (child, "matched", 2);
  check_string (child, "outcome", "handled");
  assert_true (json_is_null (json_object_get (child, "receipt")));
  job = route_labelled (child, "tl.work");
  check_string (job, "mode", "async");
  check_string (job, "result", "HANDLED");
  assert_true (json_integer_value (json_object_get (job, "job")) > 0);
  states = json_object_get (job, "states");
  assert_int_equal (json_array_size (states), 3);
  check_string (json_array_get (states, 0), "state", "waiting");
  check_string (json_array_get (states, 1), "state", "executing");
  check_string (json_array_get (states, 2), "state", "completed");
  check_int (job, "end_us", json_integer_value (json_object_get (json_array_get (states, 2), "time_us")));
  route = route_labelled (child, "tl.refuse");
  check_string (route, "skipped", "filter data.size: missing");
  assert_true (json_is_null (json_object_get (route, "result")));
}

static void
test_failure (void **state)
{
  g_autoptr (EvbHarness) harness = harness_keeping (1000);
  g_autoptr (json_t) trace = NULL;
  json_t *event, *route;
  guint64 id;

  add_route (harness, "order.placed", "tl.refuse", NULL);
  id = emit_and_wait (harness, "order.placed", "{}");
  trace = trace_of (harness, id);
  event = nth_event (trace, 0);
  check_string (event, "outcome", "failed");
  check_string (event, "receipt", "failed");
  route = route_labelled (event, "tl.refuse");
  check_string (route, "result", "FAILED");
  check_string (route, "failure", "tl 7: refused order.placed");
}

/* Four records cannot hold a trace of two events: the oldest are gone and
 * the answer says it is partial. */
static void
test_partial (void **state)
{
  g_autoptr (EvbHarness) harness = harness_keeping (4);
  g_autoptr (json_t) trace = NULL;
  json_t *events;
  guint64 id;

  add_route (harness, "order.placed", "tl.relay", NULL);
  add_route (harness, "order.check", "tl.relay", NULL);
  id = emit_and_wait (harness, "order.placed", "{\"next\": \"order.check\"}");
  trace = trace_of (harness, id);
  check_int (trace, "records", 4);
  assert_true (json_is_true (json_object_get (trace, "partial")));
  events = json_object_get (trace, "events");
  assert_true (json_array_size (events) >= 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_errors),
    cmocka_unit_test (test_unknown_trace),
    cmocka_unit_test (test_tree),
    cmocka_unit_test (test_failure),
    cmocka_unit_test (test_partial),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
