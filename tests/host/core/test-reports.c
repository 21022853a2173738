/* Tests for DESIGN.md "Failure events" through a bare bus: no observer
 * and no route on evbus.failure, the path the harness (which always
 * attaches an observer) never takes.  A route's on_failure event still
 * goes out there (issue 15, finding 10), and failure messages (and
 * domains) are capped where failures are made (finding 5).
 *
 * Each test drives an EvbBus on a private GMainContext with host routes;
 * nothing sleeps to wait for work. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "bus.h"
#include "event.h"
#include "evbus/harness.h"

/* Generous: a wait that runs out is a failure, never a pass. */
#define WAIT_MS 30000

#include "test-util.h"

/* ---------------------------------------------------------------- fixture */

typedef struct {
  GMainContext *context;
  EvbBus *bus;
  GPtrArray *received; /* EvbEvent refs the recording routes saw; main thread */
} Fixture;

static Fixture *
fixture_new (void)
{
  Fixture *fixture = g_new0 (Fixture, 1);
  EvbBusSettings settings;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  fixture->context = g_main_context_new ();
  fixture->bus = evb_bus_new (&settings, fixture->context);
  fixture->received = g_ptr_array_new_with_free_func ((GDestroyNotify) evb_event_unref);
  return fixture;
}

static void
fixture_free (Fixture *fixture)
{
  evb_bus_free (fixture->bus);
  g_ptr_array_unref (fixture->received);
  while (g_main_context_iteration (fixture->context, FALSE))
    ;
  g_main_context_unref (fixture->context);
  g_free (fixture);
}

static EvbResult
record_event (EvbCall *call, const EvbEvent *event)
{
  Fixture *fixture = call->route_data;

  g_ptr_array_add (fixture->received, evb_event_ref (event));
  return EVB_CONTINUE;
}

/* Fails with the message data.message, in the domain data.domain or
 * "test". */
static EvbResult
fail_with_message (EvbCall *call, const EvbEvent *event)
{
  const char *domain = json_string_value (json_object_get (event->data, "domain"));

  return evb_call_fail (call, domain != NULL ? domain : "test", 7, "%s",
                        json_string_value (json_object_get (event->data, "message")));
}

static void
add_host_route (Fixture *fixture, const char *pattern, const char *label, EvbMode mode, EvbHandlerFunc func,
                const char *on_failure)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;

  spec.pattern = pattern;
  spec.handler = label;
  spec.func = func;
  spec.user_data = fixture;
  spec.mode = mode;
  spec.on_failure = on_failure;
  if (evb_bus_add_route (fixture->bus, NULL, &spec, NULL, &error) == 0)
    fail_msg ("route %s: %s", label, error->message);
}

static void
emit_message (Fixture *fixture, const char *type, const char *message)
{
  g_autoptr (GError) error = NULL;

  if (!evb_bus_emit (fixture->bus, type, NULL, json_pack ("{s:s}", "message", message), &error))
    fail_msg ("emit %s: %s", type, error->message);
}

static gboolean
received_one (gpointer data)
{
  return ((Fixture *) data)->received->len >= 1;
}

static gboolean
bus_idle (gpointer data)
{
  return evb_bus_is_idle (((Fixture *) data)->bus);
}

/* ------------------------------------------------ on_failure, no observer */

/* A failing route with "on_failure": "app.failed"; the only other route
 * takes app.failed.  Nobody listens to evbus.failure and no observer is
 * attached, so the on_failure event is the only failure event made. */
static void
check_on_failure_alone (EvbMode mode)
{
  Fixture *fixture = fixture_new ();
  EvbBusTotals totals;
  const EvbEvent *failed;

  add_host_route (fixture, "app.work", "app.fail", mode, fail_with_message, "app.failed");
  add_host_route (fixture, "app.failed", "app.record", EVB_MODE_SYNC, record_event, NULL);
  emit_message (fixture, "app.work", "no luck");
  context_run_until (fixture->context, received_one, fixture, "the on_failure event");
  context_run_until (fixture->context, bus_idle, fixture, "an idle bus");

  assert_int_equal (fixture->received->len, 1);
  failed = g_ptr_array_index (fixture->received, 0);
  assert_string_equal (failed->type, "app.failed");
  check_string (failed->data, "origin.type", "app.work");
  check_string (failed->data, "handler", "app.fail");
  check_string (failed->data, "error.domain", "test");
  check_int (failed->data, "error.code", 7);
  check_string (failed->data, "error.message", "no luck");
  check_string (failed->data, "thread", mode == EVB_MODE_ASYNC ? "worker" : "main");
  evb_bus_get_totals (fixture->bus, &totals);
  assert_int_equal (totals.failures, 1);
  fixture_free (fixture);
}

static void
test_on_failure_without_listeners_sync (void **state)
{
  check_on_failure_alone (EVB_MODE_SYNC);
}

static void
test_on_failure_without_listeners_async (void **state)
{
  check_on_failure_alone (EVB_MODE_ASYNC);
}

/* ------------------------------------------------- capped failure text */

/* @count copies of @unit. */
static char *
repeat (const char *unit, gsize count)
{
  gsize unit_length = strlen (unit);
  char *text = g_malloc (unit_length * count + 1);

  for (gsize i = 0; i < count; i++)
    memcpy (text + i * unit_length, unit, unit_length);
  text[unit_length * count] = '\0';
  return text;
}

static gboolean
received_three (gpointer data)
{
  return ((Fixture *) data)->received->len >= 3;
}

/* The error message of the first event of @type the recording route saw. */
static const char *
received_message (Fixture *fixture, const char *type)
{
  for (guint i = 0; i < fixture->received->len; i++)
    {
      const EvbEvent *event = g_ptr_array_index (fixture->received, i);

      if (strcmp (event->type, type) == 0)
        return json_string_value (json_at (event->data, "error.message"));
    }
  fail_msg ("no %s event", type);
  return NULL;
}

/* An async handler fails with @message: the failure event, the on_failure
 * event and the job's evbus.status.failed all carry @expected. */
static void
check_capped (const char *message, const char *expected)
{
  Fixture *fixture = fixture_new ();

  add_host_route (fixture, "app.work", "app.fail", EVB_MODE_ASYNC, fail_with_message, "app.failed");
  add_host_route (fixture, "app.failed", "app.record", EVB_MODE_SYNC, record_event, NULL);
  add_host_route (fixture, "evbus.failure", "failure.record", EVB_MODE_SYNC, record_event, NULL);
  add_host_route (fixture, "evbus.status.failed", "status.record", EVB_MODE_SYNC, record_event, NULL);
  emit_message (fixture, "app.work", message);
  context_run_until (fixture->context, received_three, fixture, "three failure reports");
  context_run_until (fixture->context, bus_idle, fixture, "an idle bus");

  assert_string_equal (received_message (fixture, "evbus.failure"), expected);
  assert_string_equal (received_message (fixture, "app.failed"), expected);
  assert_string_equal (received_message (fixture, "evbus.status.failed"), expected);
  fixture_free (fixture);
}

/* A 1 MB message: 4069 bytes of it and the mark, 4096 bytes in all. */
static void
test_huge_message_capped (void **state)
{
  g_autofree char *message = repeat ("x", 1024 * 1024);
  g_autofree char *kept = repeat ("x", 4069);
  g_autofree char *expected = g_strconcat (kept, " [truncated: 1048576 bytes]", NULL);

  assert_int_equal (strlen (expected), 4096);
  check_capped (message, expected);
}

/* The cut never splits a character: byte 4069 of "ééé…" is the second
 * byte of an "é", so 4068 bytes (2034 of them) are kept. */
static void
test_capped_message_cut_at_character (void **state)
{
  g_autofree char *message = repeat ("\xc3\xa9", 600000);
  g_autofree char *kept = repeat ("\xc3\xa9", 2034);
  g_autofree char *expected = g_strconcat (kept, " [truncated: 1200000 bytes]", NULL);

  check_capped (message, expected);
}

/* Exactly 4096 bytes is not cut; one more is. */
static void
test_message_at_the_cap (void **state)
{
  g_autofree char *at_cap = repeat ("y", 4096);
  g_autofree char *over = repeat ("y", 4097);
  g_autofree char *kept = repeat ("y", 4072);
  g_autofree char *expected = g_strconcat (kept, " [truncated: 4097 bytes]", NULL);

  check_capped (at_cap, at_cap);
  check_capped (over, expected);
}

/* The domain is the plugin's text too: capped the same way. */
static void
test_huge_domain_capped (void **state)
{
  Fixture *fixture = fixture_new ();
  g_autofree char *domain = repeat ("d", 100000);
  g_autofree char *kept = repeat ("d", 4070);
  g_autofree char *expected = g_strconcat (kept, " [truncated: 100000 bytes]", NULL);
  g_autoptr (GError) error = NULL;
  const EvbEvent *failure;

  add_host_route (fixture, "app.work", "app.fail", EVB_MODE_SYNC, fail_with_message, NULL);
  add_host_route (fixture, "evbus.failure", "failure.record", EVB_MODE_SYNC, record_event, NULL);
  if (!evb_bus_emit (fixture->bus, "app.work", NULL, json_pack ("{s:s, s:s}", "domain", domain, "message", "m"),
                     &error))
    fail_msg ("emit: %s", error->message);
  context_run_until (fixture->context, received_one, fixture, "the failure event");
  failure = g_ptr_array_index (fixture->received, 0);
  check_string (failure->data, "error.domain", expected);
  check_string (failure->data, "error.message", "m");
  fixture_free (fixture);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_on_failure_without_listeners_sync),
    cmocka_unit_test (test_on_failure_without_listeners_async),
    cmocka_unit_test (test_huge_message_capped),
    cmocka_unit_test (test_capped_message_cut_at_character),
    cmocka_unit_test (test_message_at_the_cap),
    cmocka_unit_test (test_huge_domain_capped),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
