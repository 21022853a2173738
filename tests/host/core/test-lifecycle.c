/* Tests for DESIGN.md "Lifecycle": an owner dying while its job is in
 * flight (the job keeps it alive, it is finalized on the main thread, the
 * route is pruned), an owner dying with nothing in flight, graceful
 * shutdown (inbox drained, in-flight job finished, plugin shutdown in
 * reverse load order, exact summary line, no events afterwards), and an
 * init that fails halfway leaving nothing behind. */

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

static GMutex gate_lock;
static GCond gate_cond;
static gboolean gate_is_open;
static gint gate_entered; /* atomic */

static void
gate_reset (void)
{
  g_mutex_lock (&gate_lock);
  gate_is_open = FALSE;
  g_mutex_unlock (&gate_lock);
  g_atomic_int_set (&gate_entered, 0);
}

static void
gate_open (void)
{
  g_mutex_lock (&gate_lock);
  gate_is_open = TRUE;
  g_cond_broadcast (&gate_cond);
  g_mutex_unlock (&gate_lock);
}

static void
gate_pass (void)
{
  g_atomic_int_inc (&gate_entered);
  g_mutex_lock (&gate_lock);
  while (!gate_is_open)
    g_cond_wait (&gate_cond, &gate_lock);
  g_mutex_unlock (&gate_lock);
}

/* ---- helpers ----------------------------------------------------------- */

typedef struct {
  guint64 route_id;
} RouteGoal;

static gboolean
route_gone (EvbHarness *harness, gpointer user_data)
{
  RouteGoal *goal = user_data;
  g_autoptr (json_t) stats = evb_harness_stats (harness);

  return route_stats (stats, goal->route_id) == NULL;
}

static void
run_until_route_gone (EvbHarness *harness, guint64 route_id)
{
  g_autoptr (GError) error = NULL;
  RouteGoal goal = { route_id };

  if (!evb_harness_run_until (harness, route_gone, &goal, WAIT_MS, &error))
    fail_msg ("route %" G_GUINT64_FORMAT " not pruned: %s", route_id, error->message);
}

/* ---- owners -------------------------------------------------------------- */

static gint owned_calls;           /* atomic */
static gint owner_finalized;       /* atomic */
static gint finalized_before_return; /* atomic: seen by the handler as it returns */
static GThread *finalizing_thread;

static void
note_owner_finalized (gpointer data, GObject *where_the_object_was)
{
  finalizing_thread = g_thread_self ();
  g_atomic_int_set (&owner_finalized, 1);
}

static EvbResult
handle_owned (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&owned_calls);
  gate_pass ();
  g_atomic_int_set (&finalized_before_return, g_atomic_int_get (&owner_finalized));
  return EVB_CONTINUE;
}

static void
reset_owner_state (void)
{
  gate_reset ();
  g_atomic_int_set (&owned_calls, 0);
  g_atomic_int_set (&owner_finalized, 0);
  g_atomic_int_set (&finalized_before_return, 0);
  finalizing_thread = NULL;
}

/* DESIGN "Lifecycle": an in-flight job holds a strong reference to its
 * owner until its handler returns; the owner is finalized on the main
 * thread; the route with a dead owner is pruned and never called again. */
static void
test_owner_dies_while_job_in_flight (void **state)
{
  EvbHarness *harness = evb_harness_new ();
  g_autoptr (GError) error = NULL;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  GObject *owner = g_object_new (G_TYPE_OBJECT, NULL);
  gpointer owner_pointer = owner;
  g_autoptr (json_t) stats = NULL;
  guint64 route_id;

  reset_owner_state ();
  g_object_weak_ref (owner, note_owner_finalized, NULL);
  g_object_add_weak_pointer (owner, &owner_pointer);
  spec.mode = EVB_MODE_ASYNC;
  spec.pattern = "work.item";
  spec.func = handle_owned;
  spec.handler = "owned";
  route_id = evb_harness_add_route_spec (harness, &spec, owner, &error);
  assert_true (route_id > 0);

  emit (harness, "work.item", NULL);
  run_until_int (harness, &gate_entered, 1);

  /* The test lets go of the owner while the handler runs: the job keeps it,
   * or this very unref would finalize it. */
  g_object_unref (owner);
  assert_int_equal (g_atomic_int_get (&owner_finalized), 0);
  assert_non_null (owner_pointer);
  stats = evb_harness_stats (harness);
  assert_non_null (route_stats (stats, route_id));

  gate_open ();
  run_until_idle (harness);
  assert_int_equal (g_atomic_int_get (&finalized_before_return), 0);
  assert_int_equal (g_atomic_int_get (&owner_finalized), 1);
  assert_null (owner_pointer);
  assert_true (finalizing_thread == g_thread_self ());
  check_trace (harness, "evbus.status.>", "evbus.status.waiting evbus.status.executing evbus.status.completed");

  /* The route goes without another event, and never runs again. */
  run_until_route_gone (harness, route_id);
  emit (harness, "work.item", NULL);
  run_until_idle (harness);
  assert_int_equal (g_atomic_int_get (&owned_calls), 1);
  check_trace (harness, "evbus.status.>", "evbus.status.waiting evbus.status.executing evbus.status.completed");
  evb_harness_free (harness);
}

static gint flood_on;             /* atomic: handle_flood keeps emitting */
static EvbHarness *flood_harness; /* its route has no plugin to emit as */

/* Emits its own event again while the flood is on: the inbox is never
 * empty, so the loop always has an event to dispatch. */
static EvbResult
handle_flood (EvbCall *call, const EvbEvent *event)
{
  if (g_atomic_int_get (&flood_on))
    assert_true (evb_harness_emit (flood_harness, event->type, NULL, NULL));
  return EVB_CONTINUE;
}

/* A dead owner's route is pruned while a flood keeps the inbox busy, not
 * after it (the prune notice was posted at idle priority, below the
 * inbox, and waited for the flood to end). */
static void
test_owner_dies_during_a_flood (void **state)
{
  g_autoptr (EvbHarness) harness = evb_harness_new ();
  g_autoptr (GError) error = NULL;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  GObject *owner = g_object_new (G_TYPE_OBJECT, NULL);
  guint64 route_id;

  reset_owner_state ();
  flood_harness = harness;
  spec.pattern = "flood.x";
  spec.func = handle_flood;
  spec.handler = "flood";
  assert_true (evb_harness_add_route_spec (harness, &spec, NULL, &error) > 0);
  spec.pattern = "work.item";
  spec.func = handle_owned;
  spec.handler = "owned";
  route_id = evb_harness_add_route_spec (harness, &spec, owner, &error);
  assert_true (route_id > 0);

  g_atomic_int_set (&flood_on, 1);
  emit (harness, "flood.x", NULL);
  g_object_unref (owner);
  run_until_route_gone (harness, route_id);
  assert_int_equal (n_routes (harness), 1);
  g_atomic_int_set (&flood_on, 0);
  run_until_idle (harness);
}

/* A dead owner's route is pruned even when no event comes; a sync route
 * whose owner is gone is never called. */
static void
test_owner_dies_idle (void **state)
{
  EvbHarness *harness = evb_harness_new ();
  g_autoptr (GError) error = NULL;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  GObject *owner = g_object_new (G_TYPE_OBJECT, NULL);
  g_autoptr (json_t) stats = NULL;
  guint64 route_id;

  reset_owner_state ();
  gate_open ();
  spec.pattern = "work.item";
  spec.func = handle_owned;
  spec.handler = "owned";
  route_id = evb_harness_add_route_spec (harness, &spec, owner, &error);
  assert_true (route_id > 0);
  emit (harness, "work.item", NULL);
  run_until_idle (harness);
  assert_int_equal (g_atomic_int_get (&owned_calls), 1);

  g_object_unref (owner);
  /* The prune notice is work the bus still has: idle means it ran. */
  run_until_idle (harness);
  assert_int_equal (n_routes (harness), 0);
  run_until_route_gone (harness, route_id);
  emit (harness, "work.item", NULL);
  run_until_idle (harness);
  assert_int_equal (g_atomic_int_get (&owned_calls), 1);
  stats = evb_harness_stats (harness);
  check_int (stats, "bus.unhandled", 1);
  evb_harness_free (harness);
}

/* ---- shutdown -------------------------------------------------------------- */

static GMutex record_lock;
static GString *shutdown_order; /* "third second first" */
static GString *byes;           /* "first<-third ..." */
static gint counted;            /* atomic */
static gint slow_done;          /* atomic */

static void
record (GString *into, const char *text)
{
  g_mutex_lock (&record_lock);
  g_string_append_printf (into, "%s%s", into->len > 0 ? " " : "", text);
  g_mutex_unlock (&record_lock);
}

static EvbResult
handle_count (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&counted);
  return EVB_CONTINUE;
}

static EvbResult
handle_slow (EvbCall *call, const EvbEvent *event)
{
  gate_pass ();
  g_atomic_int_set (&slow_done, 1);
  return EVB_CONTINUE;
}

static EvbResult
handle_release (EvbCall *call, const EvbEvent *event)
{
  gate_open ();
  return EVB_CONTINUE;
}

static EvbResult
handle_bye (EvbCall *call, const EvbEvent *event)
{
  g_autofree char *entry = g_strdup_printf ("%s<-%s", call->plugin->name, event->source);

  record (byes, entry);
  return EVB_CONTINUE;
}

static const EvbHandlerInfo lifecycle_handlers[] = {
  EVB_HANDLER ("count", handle_count, "Counts calls."),
  EVB_HANDLER ("slow", handle_slow, "Waits at the gate."),
  EVB_HANDLER ("release", handle_release, "Opens the gate."),
  EVB_HANDLER ("bye", handle_bye, "Records <receiver><-<sender>."),
  EVB_HANDLERS_END,
};

/* Records its name and says goodbye with an event, which the plugins not
 * yet shut down still receive. */
static void
lifecycle_shutdown (EvbPlugin *plugin)
{
  g_autoptr (GError) error = NULL;

  record (shutdown_order, plugin->name);
  if (!evb_plugin_emit (plugin, "plugin.bye", NULL, &error))
    g_critical ("bye from %s: %s", plugin->name, error->message);
}

EVB_PLUGIN_DEFINE_STATIC (lifecycle_plugin, "lifecycle", "1.0", "Handlers for the lifecycle tests.",
                          lifecycle_handlers, NULL, NULL, lifecycle_shutdown);

/* DESIGN "Lifecycle": shutdown drains the inbox, lets the in-flight job
 * finish within the grace period, calls plugin shutdown in reverse load
 * order (what they emit still reaches those not yet stopped), and reports
 * one summary line; afterwards emit is refused. */
static void
test_graceful_shutdown (void **state)
{
  EvbHarness *harness = evb_harness_new ();
  static const char *const names[] = { "first", "second", "third" };
  g_autoptr (GError) error = NULL;
  g_autofree char *summary = NULL;

  gate_reset ();
  g_atomic_int_set (&counted, 0);
  g_atomic_int_set (&slow_done, 0);
  shutdown_order = g_string_new (NULL);
  byes = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (!evb_harness_add_plugin (harness, names[i], &lifecycle_plugin, NULL, &error))
      fail_msg ("add %s: %s", names[i], error->message);
  add_route (harness, "work.slow", "third.slow", "{\"mode\": \"async\"}");
  add_route (harness, "work.a", "first.count", NULL);
  add_route (harness, "work.release", "second.release", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *handler = g_strdup_printf ("%s.bye", names[i]);

      add_route (harness, "plugin.bye", handler, NULL);
    }

  emit (harness, "work.slow", NULL);
  run_until_int (harness, &gate_entered, 1);
  /* Queued, not dispatched yet: shutdown must drain them; the last one
   * lets the in-flight job finish. */
  emit (harness, "work.a", NULL);
  emit (harness, "work.a", NULL);
  emit (harness, "work.a", NULL);
  emit (harness, "work.release", NULL);

  evb_harness_shutdown (harness, 5000);

  assert_int_equal (g_atomic_int_get (&counted), 3);
  assert_int_equal (g_atomic_int_get (&slow_done), 1);
  check_trace (harness, "evbus.status.>", "evbus.status.waiting evbus.status.executing evbus.status.completed");
  assert_string_equal (shutdown_order->str, "third second first");
  assert_string_equal (byes->str, "first<-third second<-third first<-second");
  summary = evb_harness_summary (harness);
  /* 11 = work.slow, 3 status, 3 work.a, work.release, 3 plugin.bye; only
   * first's farewell found no route (nobody was left to hear it). */
  assert_string_equal (summary, "dispatched 11 events, dropped 0, unhandled 1; jobs: 1 completed, 0 failed, 0 cancelled");

  assert_false (evb_harness_emit (harness, "work.a", NULL, &error));
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN));
  assert_string_equal (error->message, "the bus is shutting down: event refused");

  /* Idempotent: a second shutdown (and free's own) changes nothing. */
  evb_harness_shutdown (harness, 0);
  assert_string_equal (shutdown_order->str, "third second first");
  evb_harness_free (harness);
  assert_string_equal (shutdown_order->str, "third second first");
  g_string_free (shutdown_order, TRUE);
  g_string_free (byes, TRUE);
}

/* ---- init that fails halfway --------------------------------------------- */

static gint half_calls;      /* atomic */
static gint half_ticks;      /* atomic */
static gint half_data_freed; /* atomic */
static gint half_shutdowns;  /* atomic */

static EvbResult
half_handle (EvbCall *call, const EvbEvent *event)
{
  g_atomic_int_inc (&half_calls);
  return EVB_CONTINUE;
}

static gboolean
half_tick (gpointer data)
{
  g_atomic_int_inc (&half_ticks);
  return G_SOURCE_CONTINUE;
}

static void
half_data_free (gpointer data)
{
  g_atomic_int_inc (&half_data_freed);
  g_free (data);
}

static gboolean
half_init (EvbPlugin *plugin, GError **error)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;

  spec.pattern = "work.item";
  spec.handler = "handle";
  if (evb_plugin_subscribe (plugin, &spec, NULL, error) == 0)
    return FALSE;
  spec.mode = EVB_MODE_ASYNC;
  spec.pattern = "work.>";
  if (evb_plugin_subscribe (plugin, &spec, NULL, error) == 0)
    return FALSE;
  evb_plugin_add_timeout (plugin, 1, half_tick, g_strdup ("tick data"), half_data_free);
  g_set_error (error, g_quark_from_static_string ("half-error"), 3, "cannot reach %s", "the database");
  return FALSE;
}

static void
half_shutdown (EvbPlugin *plugin)
{
  g_atomic_int_inc (&half_shutdowns);
}

static const EvbHandlerInfo half_handlers[] = {
  EVB_HANDLER ("handle", half_handle, "Counts calls; must never run."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (half_plugin, "half", "1.0", "Fails init after subscribing.", half_handlers, NULL,
                          half_init, half_shutdown);

/* DESIGN "Lifecycle": a plugin whose init fails leaves nothing behind (its
 * routes and timers are rolled back, no shutdown), and the error names the
 * plugin, where it came from and why. */
static void
test_init_failure_leaves_nothing (void **state)
{
  EvbHarness *harness = evb_harness_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (json_t) stats = NULL;
  gint waited = 0;
  GSource *later;

  g_atomic_int_set (&half_calls, 0);
  g_atomic_int_set (&half_ticks, 0);
  g_atomic_int_set (&half_data_freed, 0);
  g_atomic_int_set (&half_shutdowns, 0);

  assert_false (evb_harness_add_plugin (harness, "x", &half_plugin, NULL, &error));
  assert_string_equal (error->message, "plugin \"x\" ((linked in)): init failed: cannot reach the database");
  assert_null (evb_harness_get_plugin (harness, "x"));
  assert_int_equal (n_routes (harness), 0);
  /* The timeout's data was released with it, at once. */
  assert_int_equal (g_atomic_int_get (&half_data_freed), 1);

  /* Run well past the 1 ms timeout: it never fires; events find no route. */
  emit (harness, "work.item", NULL);
  later = g_timeout_source_new (50);
  g_source_set_callback (later, set_flag, &waited, NULL);
  g_source_attach (later, g_main_context_get_thread_default ());
  g_source_unref (later);
  g_clear_error (&error);
  if (!evb_harness_run_until (harness, flag_set, &waited, WAIT_MS, &error))
    fail_msg ("%s", error->message);
  run_until_idle (harness);
  assert_int_equal (g_atomic_int_get (&half_ticks), 0);
  assert_int_equal (g_atomic_int_get (&half_calls), 0);
  check_trace (harness, ">", "work.item");
  stats = evb_harness_stats (harness);
  check_int (stats, "bus.unhandled", 1);

  /* The name is free again. */
  assert_true (evb_harness_add_plugin (harness, "x", &lifecycle_plugin, NULL, &error));
  shutdown_order = g_string_new (NULL);
  byes = g_string_new (NULL);
  evb_harness_free (harness);
  assert_int_equal (g_atomic_int_get (&half_shutdowns), 0);
  assert_string_equal (shutdown_order->str, "x");
  g_string_free (shutdown_order, TRUE);
  g_string_free (byes, TRUE);
}

/* ---- a source thread parked in emit on a full "block" inbox ---- */

typedef struct {
  EvbPlugin *plugin;
  gint stop;    /* atomic */
  gint emitted; /* atomic */
} Flooder;

static Flooder flooder;

static gpointer
flood (gpointer data)
{
  Flooder *self = data;

  while (!g_atomic_int_get (&self->stop))
    {
      if (!evb_plugin_emit (self->plugin, "flood.tick", NULL, NULL))
        break;
      g_atomic_int_inc (&self->emitted);
    }
  return NULL;
}

static gboolean
flooder_init (EvbPlugin *plugin, GError **error)
{
  flooder.plugin = plugin;
  return TRUE;
}

/* The source is still emitting when its plugin is stopped, and the main
 * loop does not turn while shutdown callbacks run: the inbox fills, and
 * without the host's help the thread would park in emit and the join below
 * would never return. */
static void
flooder_shutdown (EvbPlugin *plugin)
{
  GThread *thread = g_thread_new ("flooder", flood, &flooder);
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (g_atomic_int_get (&flooder.emitted) < 8 && g_get_monotonic_time () < deadline)
    g_thread_yield ();
  g_atomic_int_set (&flooder.stop, 1);
  g_thread_join (thread);
}

static const EvbHandlerInfo flooder_handlers[] = { EVB_HANDLERS_END };

EVB_PLUGIN_DEFINE_STATIC (flooder_descriptor, "flooder", "1.0", "Emits until told to stop.", flooder_handlers, NULL,
                          flooder_init, flooder_shutdown);

static void
test_shutdown_releases_producer_parked_on_full_inbox (void **state)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *h = evb_harness_new_with_settings ("{\"inbox_limit\": 4, \"overflow\": \"block\", "
                                                 "\"grace_ms\": 50}", &error);
  json_t *stats;
  json_t *bus;

  memset (&flooder, 0, sizeof flooder);
  assert_non_null (h);
  assert_true (evb_harness_add_plugin (h, "flood", &flooder_descriptor, NULL, &error));

  evb_harness_shutdown (h, 50);

  /* It got past the limit of 4 instead of parking, and every event it got
   * in was dispatched or is counted. */
  assert_true (g_atomic_int_get (&flooder.emitted) >= 8);
  stats = evb_harness_stats (h);
  bus = json_object_get (stats, "bus");
  assert_int_equal (json_integer_value (json_object_get (bus, "emitted")), g_atomic_int_get (&flooder.emitted));
  assert_true (json_integer_value (json_object_get (bus, "overcommitted")) >= 4);
  assert_int_equal (json_integer_value (json_object_get (bus, "dispatched"))
                    + json_integer_value (json_object_get (bus, "dropped"))
                    + json_integer_value (json_object_get (bus, "inbox_depth")),
                    g_atomic_int_get (&flooder.emitted));
  json_decref (stats);
  evb_harness_free (h);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_owner_dies_while_job_in_flight),
    cmocka_unit_test (test_owner_dies_idle),
    cmocka_unit_test (test_owner_dies_during_a_flood),
    cmocka_unit_test (test_graceful_shutdown),
    cmocka_unit_test (test_init_failure_leaves_nothing),
    cmocka_unit_test (test_shutdown_releases_producer_parked_on_full_inbox),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
