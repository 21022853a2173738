/* Plugins' own health (evb_plugin_set_health / evb_plugin_get_health, ABI
 * 1.1, host/core/plugin-health.c): the reason shows in the stats
 * (plugins[].unhealthy) and in get_health, NULL clears it, any thread may
 * set it while another reads (TSan runs this too). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "evbus/harness.h"

#define WAIT_MS 10000

#include "test-util.h"

/* set: data.reason (a string, or null for healthy), on whichever thread
 * the route runs it. */
static EvbResult
set_health (EvbCall *call, const EvbEvent *event)
{
  evb_plugin_set_health (call->plugin, json_string_value (json_object_get (event->data, "reason")));
  return EVB_CONTINUE;
}

static const EvbHandlerInfo health_handlers[] = {
  EVB_HANDLER ("set", set_health, "Says data.reason (null: healthy)."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (health_plugin, "health", "1.0", "Reports its health; linked into the test.",
                          health_handlers, NULL, NULL, NULL);

static EvbHarness *
health_harness (void)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new ();

  if (!evb_harness_add_plugin (harness, "a", &health_plugin, NULL, &error)
      || !evb_harness_add_plugin (harness, "b", &health_plugin, NULL, &error))
    fail_msg ("%s", error->message);
  return harness;
}

/* plugins[] of the stats entry of @instance: its "unhealthy", or NULL. */
static char *
stats_reason (EvbHarness *harness, const char *instance)
{
  json_t *stats = evb_harness_stats (harness);
  json_t *plugin;
  gsize i;
  char *reason = NULL;
  gboolean found = FALSE;

  json_array_foreach (json_object_get (stats, "plugins"), i, plugin)
    if (g_strcmp0 (json_string_value (json_object_get (plugin, "name")), instance) == 0)
      {
        json_t *value = json_object_get (plugin, "unhealthy");

        if (!json_is_null (value) && !json_is_string (value))
          fail_msg ("plugins[%zu].unhealthy is neither null nor a string", i);
        reason = g_strdup (json_string_value (value));
        found = TRUE;
      }
  json_decref (stats);
  if (!found)
    fail_msg ("no plugin %s in the stats", instance);
  return reason;
}

static char *
health_text (EvbHarness *harness)
{
  json_t *health = evb_plugin_get_health (evb_harness_get_plugin (harness, "a"));
  char *text = json_dumps (health, JSON_COMPACT);

  json_decref (health);
  return text;
}

/* Set and cleared from the main thread (a sync route). */
static void
test_set_and_clear (void **state)
{
  g_autoptr (EvbHarness) harness = health_harness ();
  g_autofree char *none = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *text = NULL;
  g_autofree char *cleared = NULL;
  g_autofree char *empty = NULL;

  add_route (harness, "a.set", "a.set", NULL);
  none = stats_reason (harness, "a");
  assert_null (none);
  empty = health_text (harness);
  assert_string_equal (empty, "{}");

  emit (harness, "a.set", "{\"reason\": \"disconnected from nats://127.0.0.1:4222 for 5.2 s\"}");
  run_until_idle (harness);
  reason = stats_reason (harness, "a");
  assert_string_equal (reason, "disconnected from nats://127.0.0.1:4222 for 5.2 s");
  text = health_text (harness);
  assert_string_equal (text, "{\"a\":\"disconnected from nats://127.0.0.1:4222 for 5.2 s\"}");
  g_clear_pointer (&reason, g_free);
  reason = stats_reason (harness, "b");
  assert_null (reason);

  emit (harness, "a.set", "{\"reason\": null}");
  run_until_idle (harness);
  cleared = stats_reason (harness, "a");
  assert_null (cleared);
  g_free (text);
  text = health_text (harness);
  assert_string_equal (text, "{}");
}

/* From a worker (an async route); two instances, in the order they said so. */
static void
test_set_from_worker (void **state)
{
  g_autoptr (EvbHarness) harness = health_harness ();
  g_autofree char *text = NULL;
  g_autofree char *b = NULL;

  add_route (harness, "a.set", "a.set", "{\"mode\": \"async\"}");
  add_route (harness, "b.set", "b.set", "{\"mode\": \"async\"}");
  emit (harness, "b.set", "{\"reason\": \"b is down\"}");
  run_until_idle (harness);
  emit (harness, "a.set", "{\"reason\": \"a is down\"}");
  run_until_idle (harness);
  text = health_text (harness);
  assert_string_equal (text, "{\"b\":\"b is down\",\"a\":\"a is down\"}");
  b = stats_reason (harness, "b");
  assert_string_equal (b, "b is down");

  /* b well again, then down again: now after a. */
  emit (harness, "b.set", "{\"reason\": null}");
  run_until_idle (harness);
  emit (harness, "b.set", "{\"reason\": \"b is down again\"}");
  run_until_idle (harness);
  g_free (text);
  text = health_text (harness);
  assert_string_equal (text, "{\"a\":\"a is down\",\"b\":\"b is down again\"}");
}

/* A shut-down instance has no verdict: its reason goes, and what a late
 * thread of its says afterwards is ignored. */
static void
test_cleared_at_shutdown (void **state)
{
  g_autoptr (EvbHarness) harness = health_harness ();
  EvbPlugin *a = evb_harness_get_plugin (harness, "a");
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  evb_plugin_set_health (a, "a is down");
  before = health_text (harness);
  assert_string_equal (before, "{\"a\":\"a is down\"}");
  evb_harness_shutdown (harness, 0);
  evb_plugin_set_health (a, "too late");
  after = health_text (harness);
  assert_string_equal (after, "{}");
}

/* A thread of the plugin's own (as libnats's) sets and clears while the
 * main thread reads the stats and get_health: no race (TSan), and the
 * last word wins. */
typedef struct {
  EvbPlugin *plugin;
  gint done; /* atomic */
} Setter;

static gpointer
setter_thread (gpointer data)
{
  Setter *setter = data;

  for (guint i = 0; i < 2000; i++)
    {
      g_autofree char *reason = g_strdup_printf ("try %u", i);

      evb_plugin_set_health (setter->plugin, i % 2 == 0 ? reason : NULL);
    }
  evb_plugin_set_health (setter->plugin, "the last word");
  g_atomic_int_set (&setter->done, 1);
  return NULL;
}

static void
test_any_thread (void **state)
{
  g_autoptr (EvbHarness) harness = health_harness ();
  Setter setter = { evb_harness_get_plugin (harness, "a"), 0 };
  GThread *thread = g_thread_new ("setter", setter_thread, &setter);
  g_autofree char *last = NULL;
  guint reads = 0;

  /* Read while it writes; the count only makes sure reads overlap. */
  while (!g_atomic_int_get (&setter.done) || reads == 0)
    {
      g_autofree char *reason = stats_reason (harness, "a");
      g_autofree char *text = health_text (harness);

      assert_true (reason == NULL || g_str_has_prefix (reason, "try ") || strcmp (reason, "the last word") == 0);
      assert_true (g_str_has_prefix (text, "{"));
      reads++;
    }
  g_thread_join (thread);
  last = stats_reason (harness, "a");
  assert_string_equal (last, "the last word");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_set_and_clear),
    cmocka_unit_test (test_set_from_worker),
    cmocka_unit_test (test_any_thread),
    cmocka_unit_test (test_cleared_at_shutdown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
