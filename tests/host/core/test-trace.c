/* Tests for DESIGN.md "Trace context": every event carries a trace id and a
 * parent id; what a handler emits, sync or async, continues the handled
 * event's trace with no code in the plugin; a source starts a trace or
 * continues a W3C traceparent; failure and status events carry their
 * origin's trace; a plugin built against the 1.0 header gets all of it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "evbus/harness.h"

#define WAIT_MS 10000

#include "test-util.h"

#define PLUGIN_PATH(name) EVB_TEST_PLUGIN_DIR "/" name ".so"

#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TRACE_HIGH G_GUINT64_CONSTANT (0x4bf92f3577b34da6)
#define TRACE_LOW G_GUINT64_CONSTANT (0xa3ce929d0e0e4736)

/* ---- a plugin linked in: emits from its handlers ---- */

static GThread *relay_thread; /* the thread the last relay ran on */

static EvbResult
relay (EvbCall *call, const EvbEvent *event)
{
  g_autoptr (GError) error = NULL;

  g_atomic_pointer_set (&relay_thread, g_thread_self ());
  if (!evb_call_emit (call, "relay.out", json_pack ("{s:I}", "from", (json_int_t) event->id), &error))
    return evb_call_fail (call, NULL, 1, "%s", error->message);
  return EVB_CONTINUE;
}

/* Emits <type>.deeper: a chain as long as the routes make it. */
static EvbResult
deeper (EvbCall *call, const EvbEvent *event)
{
  g_autofree char *type = g_strconcat (event->type, ".deeper", NULL);

  return evb_call_emit (call, type, NULL, NULL) ? EVB_CONTINUE : EVB_FAILED;
}

static EvbResult
refuse (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, "relay", 7, "refused %s", event->type);
}

static const EvbHandlerInfo relay_handlers[] = {
  EVB_HANDLER ("relay", relay, "Emits relay.out {from: the handled event's id}."),
  EVB_HANDLER ("deeper", deeper, "Emits <type>.deeper."),
  EVB_HANDLER ("refuse", refuse, "Fails with code 7."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (relay_plugin, "relay", "1.0", "Emits from handlers; linked into the trace test.",
                          relay_handlers, NULL, NULL, NULL);

static EvbHarness *
relay_harness (void)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new ();

  if (!evb_harness_add_plugin (harness, "r", &relay_plugin, NULL, &error))
    fail_msg ("%s", error->message);
  return harness;
}

static void
assert_same_trace (const EvbEvent *a, const EvbEvent *b)
{
  assert_true (a->trace_id_high == b->trace_id_high);
  assert_true (a->trace_id_low == b->trace_id_low);
}

/* The only event of @type collected. */
static const EvbEvent *
only (EvbHarness *harness, const char *type)
{
  assert_int_equal (evb_harness_count (harness, type), 1);
  return evb_harness_find (harness, type, 0);
}

/* "Every event carries a trace id ... and a parent id (0 when a source
 * emitted it)": two source emits start two traces. */
static void
test_source_starts_a_trace (void **state)
{
  g_autoptr (EvbHarness) harness = evb_harness_new ();
  const EvbEvent *a, *b;

  emit (harness, "a.one", NULL);
  emit (harness, "a.two", NULL);
  run_until_idle (harness);
  a = only (harness, "a.one");
  b = only (harness, "a.two");
  assert_true (EVB_EVENT_HAS (a, tracestate));
  assert_true (a->trace_id_high != 0 || a->trace_id_low != 0);
  assert_int_equal (a->parent_id, 0);
  assert_int_equal (b->parent_id, 0);
  assert_false (a->trace_id_high == b->trace_id_high && a->trace_id_low == b->trace_id_low);
  assert_null (a->tracestate);
}

/* "An emit made through a handler's call ... inherits the trace id of the
 * event being handled", sync on the main thread and async on a worker. */
static void
check_inherit (const char *mode)
{
  g_autoptr (EvbHarness) harness = relay_harness ();
  g_autofree char *options = g_strdup_printf ("{\"mode\": \"%s\"}", mode);
  const EvbEvent *in, *out;

  add_route (harness, "job.in", "r.relay", options);
  emit (harness, "job.in", NULL);
  run_until_count_ok (harness, "relay.out", 1);
  run_until_idle (harness);
  in = only (harness, "job.in");
  out = only (harness, "relay.out");
  assert_same_trace (in, out);
  assert_int_equal (out->parent_id, in->id);
  assert_int_equal (json_integer_value (json_object_get (out->data, "from")), in->id);
}

static void
test_sync_handler_emit_inherits (void **state)
{
  check_inherit ("sync");
  assert_true (g_atomic_pointer_get (&relay_thread) == g_thread_self ());
}

static void
test_async_handler_emit_inherits (void **state)
{
  check_inherit ("async");
  assert_true (g_atomic_pointer_get (&relay_thread) != g_thread_self ());
}

static int
compare_strings (const char *const *a, const char *const *b)
{
  return strcmp (*a, *b);
}

/* A chain of three: the trace goes down it, each parent the one above. */
static void
test_trace_is_a_tree (void **state)
{
  g_autoptr (EvbHarness) harness = relay_harness ();
  g_autofree char *types = NULL;
  const EvbEvent *in, *mid, *last;

  add_route (harness, "job.in", "r.deeper", "{\"mode\": \"async\"}");
  add_route (harness, "job.in.deeper", "r.deeper", NULL);
  emit (harness, "job.in", NULL);
  emit (harness, "other.in", NULL);
  run_until_count_ok (harness, "job.in.deeper.deeper", 1);
  run_until_idle (harness);
  in = only (harness, "job.in");
  mid = only (harness, "job.in.deeper");
  last = only (harness, "job.in.deeper.deeper");
  assert_int_equal (mid->parent_id, in->id);
  assert_int_equal (last->parent_id, mid->id);
  assert_same_trace (in, last);
  /* The worker's emit and the job's "executing" race: compare as sets. */
  types = evb_harness_trace_of (harness, last->id);
  {
    g_auto (GStrv) sorted = g_strsplit (types, " ", -1);
    g_autofree char *joined = NULL;

    qsort (sorted, g_strv_length (sorted), sizeof (char *), (GCompareFunc) compare_strings);
    joined = g_strjoinv (" ", sorted);
    assert_string_equal (joined, "evbus.status.completed evbus.status.executing evbus.status.waiting job.in "
                                 "job.in.deeper job.in.deeper.deeper");
  }
}

/* "Failure and status events carry the trace id of their origin event",
 * with the origin as their parent. */
static void
test_reports_carry_the_origin_trace (void **state)
{
  g_autoptr (EvbHarness) harness = relay_harness ();
  const EvbEvent *in;

  add_route (harness, "job.in", "r.refuse", "{\"mode\": \"async\", \"on_failure\": \"job.failed\"}");
  emit (harness, "job.in", NULL);
  run_until_count_ok (harness, "evbus.failure", 1);
  run_until_idle (harness);
  in = only (harness, "job.in");
  for (guint i = 0; i < evb_harness_n_events (harness); i++)
    {
      const EvbEvent *event = evb_harness_event (harness, i);

      if (event == in)
        continue;
      assert_same_trace (in, event);
      assert_int_equal (event->parent_id, in->id);
    }
  check_trace (harness, ">", "job.in evbus.status.waiting evbus.status.executing evbus.status.failed "
                             "job.failed evbus.failure");
}

/* "A source ... continues one it received": a valid traceparent gives its
 * trace id, parent 0, and the tracestate travels unchanged down the tree. */
static void
test_source_continues_traceparent (void **state)
{
  g_autoptr (EvbHarness) harness = relay_harness ();
  g_autoptr (GError) error = NULL;
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;
  const EvbEvent *in, *out;
  char header[EVB_TRACEPARENT_SIZE];
  guint64 id;

  add_route (harness, "job.in", "r.relay", "{\"mode\": \"async\"}");
  options.traceparent = TRACEPARENT;
  options.tracestate = "congo=t61rcWkgMzE";
  id = evb_harness_emit_full (harness, "job.in", NULL, &options, &error);
  assert_true (id != 0);
  run_until_count_ok (harness, "relay.out", 1);
  run_until_idle (harness);
  in = only (harness, "job.in");
  assert_int_equal (in->id, id);
  assert_true (in->trace_id_high == TRACE_HIGH && in->trace_id_low == TRACE_LOW);
  assert_int_equal (in->parent_id, 0);
  assert_string_equal (in->tracestate, "congo=t61rcWkgMzE");
  out = only (harness, "relay.out");
  assert_same_trace (in, out);
  assert_string_equal (out->tracestate, "congo=t61rcWkgMzE");

  /* What leaves through relay.out names it as the parent. */
  evb_event_format_traceparent (out, header);
  {
    g_autofree char *expected = g_strdup_printf ("00-4bf92f3577b34da6a3ce929d0e0e4736-%016" G_GINT64_MODIFIER "x-01",
                                                 out->id);

    assert_string_equal (header, expected);
  }
}

/* "An invalid traceparent starts a new trace." */
static void
test_invalid_traceparent_starts_a_trace (void **state)
{
  g_autoptr (EvbHarness) harness = evb_harness_new ();
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;
  const EvbEvent *in;

  options.traceparent = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
  options.tracestate = "ignored=1";
  assert_true (evb_harness_emit_full (harness, "job.in", NULL, &options, NULL) != 0);
  run_until_idle (harness);
  in = only (harness, "job.in");
  assert_true (in->trace_id_high != 0 || in->trace_id_low != 0);
  assert_null (in->tracestate);
}

/* Parsing both ways, and every invalid form with its message. */
static void
test_traceparent_parse (void **state)
{
  static const struct {
    const char *text;
    const char *message; /* NULL: valid */
  } cases[] = {
    { TRACEPARENT, NULL },
    { "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future", NULL },
    { "", "invalid traceparent \"\": expected 55 characters, version-traceid-parentid-flags" },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
      "invalid traceparent \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x\": version 00 has "
      "exactly 55 characters" },
    { "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "invalid traceparent \"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\": version ff is invalid" },
    { "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "invalid traceparent \"0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\": the version is not two "
      "lowercase hex digits" },
    { "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
      "invalid traceparent \"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\": the trace id is not 32 "
      "lowercase hex digits" },
    { "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "invalid traceparent \"00-00000000000000000000000000000000-00f067aa0ba902b7-01\": the trace id is all zeros" },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "invalid traceparent \"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01\": the parent id is all "
      "zeros" },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
      "invalid traceparent \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01\": the parent id is not 16 "
      "lowercase hex digits" },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
      "invalid traceparent \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g\": the flags are not two "
      "lowercase hex digits" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      guint64 high = 0, low = 0, parent = 0;
      guint8 flags = 0;
      gboolean ok = evb_traceparent_parse (cases[i].text, &high, &low, &parent, &flags, &error);

      if (cases[i].message == NULL)
        {
          assert_true (ok);
          assert_true (high == TRACE_HIGH && low == TRACE_LOW);
          assert_true (parent == G_GUINT64_CONSTANT (0x00f067aa0ba902b7));
        }
      else
        {
          assert_false (ok);
          assert_true (g_error_matches (error, EVB_TRACE_ERROR, EVB_TRACE_ERROR_INVALID));
          assert_string_equal (error->message, cases[i].message);
        }
    }
  assert_false (evb_traceparent_parse (NULL, NULL, NULL, NULL, NULL, NULL));
}

/* Host code running as a handler (a route with a func) inherits too. */
static EvbResult
host_relay (EvbCall *call, const EvbEvent *event)
{
  EvbHarness *harness = call->route_data;

  emit (harness, "host.out", NULL);
  return EVB_CONTINUE;
}

static void
test_host_handler_emit_inherits (void **state)
{
  g_autoptr (EvbHarness) harness = evb_harness_new ();
  g_autoptr (GError) error = NULL;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;

  spec.pattern = "job.in";
  spec.func = host_relay;
  spec.user_data = harness;
  assert_true (evb_harness_add_route_spec (harness, &spec, NULL, &error) != 0);
  emit (harness, "job.in", NULL);
  run_until_idle (harness);
  assert_same_trace (only (harness, "job.in"), only (harness, "host.out"));
  assert_int_equal (only (harness, "host.out")->parent_id, only (harness, "job.in")->id);
}

/* A receipt is a source's code: what it emits starts a trace of its own,
 * though it runs at the end of the event's chain. */
static void
emit_from_receipt (const EvbReceipt *receipt, gpointer user_data)
{
  emit (user_data, "from.receipt", NULL);
}

static void
test_receipt_emits_start_a_trace (void **state)
{
  g_autoptr (EvbHarness) harness = relay_harness ();
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;
  const EvbEvent *in, *next;

  add_route (harness, "job.in", "r.relay", NULL);
  options.receipt = emit_from_receipt;
  options.receipt_data = harness;
  assert_true (evb_harness_emit_full (harness, "job.in", NULL, &options, NULL) != 0);
  run_until_count_ok (harness, "from.receipt", 1);
  run_until_idle (harness);
  in = only (harness, "job.in");
  next = only (harness, "from.receipt");
  assert_int_equal (next->parent_id, 0);
  assert_false (in->trace_id_high == next->trace_id_high && in->trace_id_low == next->trace_id_low);
  assert_same_trace (in, only (harness, "relay.out"));
}

/* "A 1.0 plugin still loads and works": built against the 1.0 header, its
 * emits inherit the trace all the same (the host knows which handler runs
 * on the emitting thread). */
static void
test_abi_1_0_plugin (void **state)
{
  g_autoptr (EvbHarness) harness = evb_harness_new ();
  g_autoptr (GError) error = NULL;
  const EvbEvent *in, *out;

  if (!evb_harness_add_plugin_file (harness, "old", PLUGIN_PATH ("abi-1.0-relay"), NULL, &error))
    fail_msg ("%s", error->message);
  add_route (harness, "job.in", "old.relay", "{\"mode\": \"async\"}");
  emit (harness, "job.in", "{\"n\": 4}");
  run_until_count_ok (harness, "old.out", 1);
  run_until_idle (harness);
  in = only (harness, "job.in");
  out = only (harness, "old.out");
  assert_same_trace (in, out);
  assert_int_equal (out->parent_id, in->id);
  assert_int_equal (json_integer_value (json_object_get (out->data, "n")), 4);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_source_starts_a_trace),
    cmocka_unit_test (test_sync_handler_emit_inherits),
    cmocka_unit_test (test_async_handler_emit_inherits),
    cmocka_unit_test (test_trace_is_a_tree),
    cmocka_unit_test (test_reports_carry_the_origin_trace),
    cmocka_unit_test (test_source_continues_traceparent),
    cmocka_unit_test (test_invalid_traceparent_starts_a_trace),
    cmocka_unit_test (test_traceparent_parse),
    cmocka_unit_test (test_host_handler_emit_inherits),
    cmocka_unit_test (test_receipt_emits_start_a_trace),
    cmocka_unit_test (test_abi_1_0_plugin),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
