/* Helpers the host tests share: a counter threads wait on, waits that
 * iterate a main context (or deliberately do not) until a condition holds,
 * readers of the stats JSON, and wrappers around the harness that fail the
 * test with the reason instead of returning an error.
 *
 * Header-only (static inline), so each test program takes what it uses and
 * the build needs no extra source.  Helpers that hold state (gates,
 * recorders, plugins) stay in the test files: each keeps its own.
 *
 * The includer defines WAIT_MS, the deadline of every wait, before
 * including this: a wait that runs out is a failure, never a pass. */

#ifndef EVB_TEST_UTIL_H
#define EVB_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "evbus/harness.h"

#ifndef WAIT_MS
#error "define WAIT_MS (the deadline of every wait, in ms) before including test-util.h"
#endif

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbHarness, evb_harness_free)

/* --------------------------------------------------------------- counters */

/* A counter threads bump and others wait on, with a deadline. */
typedef struct {
  GMutex lock;
  GCond changed;
  guint value;
} Counter;

static inline void
counter_init (Counter *counter)
{
  g_mutex_init (&counter->lock);
  g_cond_init (&counter->changed);
  counter->value = 0;
}

static inline void
counter_clear (Counter *counter)
{
  g_mutex_clear (&counter->lock);
  g_cond_clear (&counter->changed);
}

static inline void
counter_set (Counter *counter, guint value)
{
  g_mutex_lock (&counter->lock);
  counter->value = value;
  g_cond_broadcast (&counter->changed);
  g_mutex_unlock (&counter->lock);
}

static inline void
counter_add (Counter *counter, guint delta)
{
  g_mutex_lock (&counter->lock);
  counter->value += delta;
  g_cond_broadcast (&counter->changed);
  g_mutex_unlock (&counter->lock);
}

static inline guint
counter_get (Counter *counter)
{
  guint value;

  g_mutex_lock (&counter->lock);
  value = counter->value;
  g_mutex_unlock (&counter->lock);
  return value;
}

/* FALSE if @counter did not reach @value within WAIT_MS. */
static inline gboolean
counter_wait (Counter *counter, guint value)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;
  gboolean reached = TRUE;

  g_mutex_lock (&counter->lock);
  while (counter->value < value && reached)
    reached = g_cond_wait_until (&counter->changed, &counter->lock, deadline) || counter->value >= value;
  g_mutex_unlock (&counter->lock);
  return reached;
}

/* -------------------------------------------------------------- main loop */

/* A GSourceFunc that keeps its source: a tick that bounds each blocking
 * iteration of a loop that waits for a condition. */
static inline gboolean
keep_ticking (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* What the waits below wait for. */
typedef gboolean (*WaitCondition) (gpointer user_data);

/* Iterates @context until @condition holds (checked before every
 * iteration); fails the test after WAIT_MS, naming @what. */
static inline void
context_run_until (GMainContext *context, WaitCondition condition, gpointer user_data, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;
  GSource *tick = g_timeout_source_new (10);
  gboolean reached;

  /* The tick only bounds each blocking iteration so the deadline is seen. */
  g_source_set_callback (tick, keep_ticking, NULL, NULL);
  g_source_attach (tick, context);
  while (!(reached = condition (user_data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (tick);
  g_source_unref (tick);
  if (!reached)
    fail_msg ("not reached within %d ms: %s", WAIT_MS, what);
}

/* For conditions the main loop must not help with (iterating would drain
 * an inbox the test wants full): checks every 0.2 ms without iterating
 * anything, fails the test after WAIT_MS.  The assertion depends on the
 * condition, never on the time. */
static inline void
wait_without_iterating (WaitCondition condition, gpointer user_data, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;

  while (!condition (user_data))
    {
      if (g_get_monotonic_time () >= deadline)
        fail_msg ("not reached within %d ms: %s", WAIT_MS, what);
      g_usleep (200);
    }
}

/* An atomic counter and the value a wait expects of it ... */
typedef struct {
  gint *counter;
  gint goal;
} CounterGoal;

/* ... and the condition: *counter >= goal (a WaitCondition). */
static inline gboolean
int_goal_reached (gpointer user_data)
{
  CounterGoal *goal = user_data;

  return g_atomic_int_get (goal->counter) >= goal->goal;
}

/* Iterates @context until the atomic *@counter reaches @goal. */
static inline void
context_run_until_int (GMainContext *context, gint *counter, gint goal, const char *what)
{
  CounterGoal wait = { counter, goal };

  context_run_until (context, int_goal_reached, &wait, what);
}

/* A one-shot GSourceFunc that sets the atomic flag *@data ... */
static inline gboolean
set_flag (gpointer data)
{
  g_atomic_int_set ((gint *) data, 1);
  return G_SOURCE_REMOVE;
}

/* ... and the WaitCondition that waits for it. */
static inline gboolean
flag_is_set (gpointer data)
{
  return g_atomic_int_get ((gint *) data) != 0;
}

/* ---------------------------------------------------------------- threads */

static inline gpointer
unref_thread_run (gpointer object)
{
  g_object_unref (object);
  return NULL;
}

/* Drops a reference to @object on a thread of its own, and joins it: the
 * last reference going away off the main thread. */
static inline void
unref_on_other_thread (gpointer object)
{
  g_thread_join (g_thread_new ("unref", unref_thread_run, object));
}

/* ------------------------------------------------------------------- JSON */

/* The value at the dotted @path ("bus.blocked") under @root, or NULL;
 * borrowed from @root. */
static inline json_t *
json_at (json_t *root, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, ".", -1);

  for (guint i = 0; parts[i] != NULL && root != NULL; i++)
    root = json_object_get (root, parts[i]);
  return root;
}

/* The integer at the dotted @path under @root; 0 when there is none. */
static inline gint64
json_int_at (json_t *root, const char *path)
{
  return json_integer_value (json_at (root, path));
}

static inline void
check_int (json_t *root, const char *path, json_int_t expected)
{
  json_t *value = json_at (root, path);

  if (!json_is_integer (value))
    fail_msg ("%s: expected the integer %" JSON_INTEGER_FORMAT ", got %s", path, expected,
              value == NULL ? "nothing" : "another type");
  assert_int_equal (json_integer_value (value), expected);
}

static inline void
check_string (json_t *root, const char *path, const char *expected)
{
  json_t *value = json_at (root, path);

  if (!json_is_string (value))
    fail_msg ("%s: expected the string \"%s\"", path, expected);
  assert_string_equal (json_string_value (value), expected);
}

/* The stats entry of route @id, or NULL when the route is gone; borrowed
 * from @stats. */
static inline json_t *
route_stats (json_t *stats, guint64 id)
{
  json_t *route;
  gsize i;

  json_array_foreach (json_object_get (stats, "routes"), i, route)
    if ((guint64) json_integer_value (json_object_get (route, "id")) == id)
      return route;
  return NULL;
}

/* How many routes a stats snapshot lists. */
static inline guint
stats_n_routes (json_t *stats)
{
  return (guint) json_array_size (json_object_get (stats, "routes"));
}

/* ---------------------------------------------------------------- harness */

static inline guint
n_routes (EvbHarness *harness)
{
  g_autoptr (json_t) stats = evb_harness_stats (harness);

  return stats_n_routes (stats);
}

static inline guint64
add_route (EvbHarness *harness, const char *pattern, const char *handler, const char *options)
{
  g_autoptr (GError) error = NULL;
  guint64 id = evb_harness_add_route (harness, pattern, handler, options, &error);

  if (id == 0)
    fail_msg ("route %s -> %s: %s", pattern, handler, error->message);
  return id;
}

static inline void
emit (EvbHarness *harness, const char *type, const char *data)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_emit (harness, type, data, &error))
    fail_msg ("emit %s: %s", type, error->message);
}

static inline void
run_until_idle (EvbHarness *harness)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_idle (harness, WAIT_MS, &error))
    fail_msg ("not idle: %s", error->message);
}

/* Iterates until @count collected events match @pattern. */
static inline void
run_until_count_ok (EvbHarness *harness, const char *pattern, guint count)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_count (harness, pattern, count, WAIT_MS, &error))
    fail_msg ("%u of %s: %s", count, pattern, error->message);
}

static inline gboolean
counter_reached (EvbHarness *harness, gpointer user_data)
{
  return int_goal_reached (user_data);
}

/* Iterates until the atomic *counter reaches @goal. */
static inline void
run_until_int (EvbHarness *harness, gint *counter, gint goal)
{
  g_autoptr (GError) error = NULL;
  CounterGoal wait = { counter, goal };

  if (!evb_harness_run_until (harness, counter_reached, &wait, WAIT_MS, &error))
    fail_msg ("counter stuck at %d, waiting for %d: %s", g_atomic_int_get (counter), goal, error->message);
}

static inline void
check_trace (EvbHarness *harness, const char *pattern, const char *expected)
{
  g_autofree char *trace = evb_harness_trace (harness, pattern);

  assert_string_equal (trace, expected);
}

/* The harness condition that waits for set_flag (). */
static inline gboolean
flag_set (EvbHarness *harness, gpointer data)
{
  return flag_is_set (data);
}

#endif /* EVB_TEST_UTIL_H */
