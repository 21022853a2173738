/* Tests for DESIGN.md "Type patterns" (through the bus) and "Dispatching one
 * event", driven through the public harness (sdk/evbus/harness.h): priority
 * order, the chain of responsibility for sync and async levels, concurrent
 * async levels, filters at route level, wildcards, snapshot semantics,
 * unhandled events, failures and sync timeouts, per-route counters, and
 * routes tied to a GObject owner.
 *
 * Handlers record what they see into one trace ("A B C", "high:1 old:1"),
 * which every test compares exactly.  Nothing sleeps to wait for work: the
 * loop is iterated until a condition holds, bounded by WAIT_MS; a job is
 * held "in flight" by a gate the test opens. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "evbus/harness.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)

/* Every wait is bounded by this; reaching it fails the test, never hangs it. */
#define WAIT_MS 20000
/* How long a blocked handler waits for the test (or its peer) before it
 * gives up and fails: well under WAIT_MS so the failure is what gets seen. */
#define BLOCK_LIMIT_MS 5000

/* ---- the call trace --------------------------------------------------- */

/* Written by handlers on the main thread and on workers. */
static GMutex trace_lock;
static GString *trace_text;

static void trace_addf (const char *format, ...) G_GNUC_PRINTF (1, 2);
static void
trace_addf (const char *format, ...)
{
  va_list args;

  g_mutex_lock (&trace_lock);
  if (trace_text->len > 0)
    g_string_append_c (trace_text, ' ');
  va_start (args, format);
  g_string_append_vprintf (trace_text, format, args);
  va_end (args);
  g_mutex_unlock (&trace_lock);
}

/* The trace so far, which is then forgotten.  Caller frees. */
static char *
trace_take (void)
{
  char *text;

  g_mutex_lock (&trace_lock);
  text = g_strdup (trace_text->str);
  g_string_truncate (trace_text, 0);
  g_mutex_unlock (&trace_lock);
  return text;
}

#define assert_trace(expected)                                                                                      \
  do                                                                                                                \
    {                                                                                                               \
      g_autofree char *trace_now_ = trace_take ();                                                                  \
      assert_string_equal (trace_now_, (expected));                                                                 \
    }                                                                                                               \
  while (0)

static int
group_setup (void **state)
{
  trace_text = g_string_new (NULL);
  return 0;
}

static int
group_teardown (void **state)
{
  g_string_free (trace_text, TRUE);
  trace_text = NULL;
  return 0;
}

static int
reset_trace (void **state)
{
  g_string_truncate (trace_text, 0);
  return 0;
}

/* ---- JSON helpers ----------------------------------------------------- */

static json_t *
parse_json (const char *text)
{
  json_error_t parse_error;
  json_t *json = json_loads (text, 0, &parse_error);

  if (json == NULL)
    fail_msg ("test bug: bad JSON %s: %s", text, parse_error.text);
  return json;
}

/* The value at a dotted path of objects, or NULL. */
static json_t *
json_at (json_t *root, const char *path)
{
  g_auto (GStrv) keys = g_strsplit (path, ".", -1);

  for (guint i = 0; keys[i] != NULL && root != NULL; i++)
    root = json_object_get (root, keys[i]);
  return root;
}

static const char *
json_string_at (json_t *root, const char *path)
{
  json_t *value = json_at (root, path);

  if (!json_is_string (value))
    fail_msg ("%s is not a string", path);
  return json_string_value (value);
}

static gint64
json_int_at (json_t *root, const char *path)
{
  json_t *value = json_at (root, path);

  if (!json_is_integer (value))
    fail_msg ("%s is not an integer", path);
  return json_integer_value (value);
}

/* Compact text with sorted keys, for exact comparison. */
static char *
json_text (json_t *value)
{
  char *dumped = json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  char *text = g_strdup (dumped);

  free (dumped);
  return text;
}

/* ---- handlers --------------------------------------------------------- */

/* Records "label", or "label:tag" when the event data has a string "tag". */
static void
record_call (const char *label, const EvbEvent *event)
{
  const char *tag = json_string_value (json_object_get (event->data, "tag"));

  if (tag != NULL)
    trace_addf ("%s:%s", label, tag);
  else
    trace_addf ("%s", label);
}

/* What a route labelled @label answers, read from the event itself so one
 * script drives many routes: data[label] is "handled", "failed", or absent
 * (continue). */
static EvbResult
verdict_of (EvbCall *call, const EvbEvent *event, const char *label)
{
  const char *verdict = json_string_value (json_object_get (event->data, label));

  if (g_strcmp0 (verdict, "handled") == 0)
    return EVB_HANDLED;
  if (g_strcmp0 (verdict, "failed") == 0)
    return evb_call_fail (call, "test", 3, "%s failed on %s", label, event->type);
  return EVB_CONTINUE;
}

/* route_data: the route's label (a string literal). */
static EvbResult
record_handler (EvbCall *call, const EvbEvent *event)
{
  const char *label = call->route_data;

  record_call (label, event);
  return verdict_of (call, event, label);
}

/* route_data: the label; records "label=type". */
static EvbResult
record_type_handler (EvbCall *call, const EvbEvent *event)
{
  trace_addf ("%s=%s", (const char *) call->route_data, event->type);
  return EVB_CONTINUE;
}

/* A handler that overruns a 1 ms timeout; the test only relies on "over".
 * Answers like record_handler. */
static EvbResult
slow_handler (EvbCall *call, const EvbEvent *event)
{
  const char *label = call->route_data;

  g_usleep (20 * G_TIME_SPAN_MILLISECOND);
  record_call (label, event);
  return verdict_of (call, event, label);
}

/* route_data: the label; records "label:<origin.type>" of a failure event. */
static EvbResult
failure_watch_handler (EvbCall *call, const EvbEvent *event)
{
  trace_addf ("%s:%s", (const char *) call->route_data, json_string_value (json_at (event->data, "origin.type")));
  return EVB_CONTINUE;
}

/* route_data: the label; records "label=<original type>:<original data>"
 * of an evbus.unhandled event. */
static EvbResult
unhandled_watch_handler (EvbCall *call, const EvbEvent *event)
{
  g_autofree char *data = json_text (json_at (event->data, "event.data"));

  trace_addf ("%s=%s:%s", (const char *) call->route_data, json_string_value (json_at (event->data, "event.type")),
              data);
  return EVB_CONTINUE;
}

/* An async handler held in flight until the test opens its gate. */
typedef struct {
  const char *label;
  GMutex lock;
  GCond cond;
  gboolean open;
  gint started; /* atomic */
} Gate;

static void
gate_init (Gate *gate, const char *label)
{
  gate->label = label;
  g_mutex_init (&gate->lock);
  g_cond_init (&gate->cond);
  gate->open = FALSE;
  gate->started = 0;
}

static void
gate_clear (Gate *gate)
{
  g_mutex_clear (&gate->lock);
  g_cond_clear (&gate->cond);
}

static void
gate_open (Gate *gate)
{
  g_mutex_lock (&gate->lock);
  gate->open = TRUE;
  g_cond_broadcast (&gate->cond);
  g_mutex_unlock (&gate->lock);
}

static void
gate_rearm (Gate *gate)
{
  g_mutex_lock (&gate->lock);
  gate->open = FALSE;
  g_mutex_unlock (&gate->lock);
  g_atomic_int_set (&gate->started, 0);
}

static EvbResult
gated_handler (EvbCall *call, const EvbEvent *event)
{
  Gate *gate = call->route_data;
  gint64 deadline = g_get_monotonic_time () + BLOCK_LIMIT_MS * G_TIME_SPAN_MILLISECOND;
  gboolean opened;

  trace_addf ("%s:start", gate->label);
  g_atomic_int_inc (&gate->started);
  g_mutex_lock (&gate->lock);
  while (!gate->open)
    if (!g_cond_wait_until (&gate->cond, &gate->lock, deadline))
      break;
  opened = gate->open;
  g_mutex_unlock (&gate->lock);
  if (!opened)
    return evb_call_fail (call, "test", 1, "%s: the test never opened the gate", gate->label);
  trace_addf ("%s:end", gate->label);
  return verdict_of (call, event, gate->label);
}

/* ---- a plugin linked into the test ------------------------------------ */

static EvbResult
plugin_continue (EvbCall *call, const EvbEvent *event)
{
  trace_addf ("rec.continue");
  return EVB_CONTINUE;
}

static EvbResult
plugin_bad_result (EvbCall *call, const EvbEvent *event)
{
  trace_addf ("rec.bad_result");
  return (EvbResult) 7;
}

static EvbResult
plugin_fail_bare (EvbCall *call, const EvbEvent *event)
{
  trace_addf ("rec.fail_bare");
  return EVB_FAILED;
}

static EvbResult
plugin_fail_plugin_domain (EvbCall *call, const EvbEvent *event)
{
  trace_addf ("rec.fail_plugin_domain");
  return evb_call_fail (call, NULL, 42, "no row %d", 17);
}

static const EvbHandlerInfo rec_handlers[] = {
  EVB_HANDLER ("continue", plugin_continue, "Records its call; lets the chain go on."),
  EVB_HANDLER ("bad_result", plugin_bad_result, "Returns 7, which is no EvbResult."),
  EVB_HANDLER ("fail_bare", plugin_fail_bare, "Returns EVB_FAILED without calling evb_call_fail."),
  EVB_HANDLER ("fail_plugin_domain", plugin_fail_plugin_domain,
      "Fails with a NULL domain, code 42, \"no row 17\"."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (rec_plugin, "rec", "1.0", "Recording handlers linked into test-dispatch.", rec_handlers,
                          NULL, NULL, NULL);

/* ---- harness helpers -------------------------------------------------- */

static EvbHarness *
harness_new_or_fail (const char *settings_json)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness;

  if (settings_json == NULL)
    return evb_harness_new ();
  harness = evb_harness_new_with_settings (settings_json, &error);
  if (harness == NULL)
    fail_msg ("harness settings %s: %s", settings_json, error->message);
  return harness;
}

static void
emit_or_fail (EvbHarness *harness, const char *type, const char *data_json)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_emit (harness, type, data_json, &error))
    fail_msg ("emit %s %s: %s", type, data_json != NULL ? data_json : "NULL", error->message);
}

static void
run_idle_or_fail (EvbHarness *harness)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_idle (harness, WAIT_MS, &error))
    fail_msg ("bus not idle: %s", error->message);
}

static void
run_until_or_fail (EvbHarness *harness, EvbHarnessCondition condition, gpointer user_data, const char *what)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until (harness, condition, user_data, WAIT_MS, &error))
    fail_msg ("%s: %s", what, error->message);
}

static void
run_until_count_or_fail (EvbHarness *harness, const char *pattern, guint count)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_count (harness, pattern, count, WAIT_MS, &error))
    fail_msg ("%u x %s: %s", count, pattern, error->message);
}

/* Handles whatever the main loop has ready now, without blocking. */
static void
run_pending (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

typedef struct {
  const char *pattern;
  const char *label;    /* spec->handler, and route_data unless @data is set */
  EvbMode mode;
  gint priority;
  EvbHandlerFunc func;  /* NULL: record_handler */
  gconstpointer data;
  const char *filter;   /* JSON text or NULL */
  guint timeout_ms;
  gboolean stop_on_failure;
  GObject *owner;
} RouteArgs;

static guint64
add_route (EvbHarness *harness, const RouteArgs *args)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (json_t) filter = args->filter != NULL ? parse_json (args->filter) : NULL;
  g_autoptr (GError) error = NULL;
  guint64 id;

  spec.mode = args->mode;
  spec.pattern = args->pattern;
  spec.handler = args->label;
  spec.func = args->func != NULL ? args->func : record_handler;
  spec.user_data = (gpointer) (args->data != NULL ? args->data : args->label);
  spec.priority = args->priority;
  spec.filter = filter;
  spec.timeout_ms = args->timeout_ms;
  spec.stop_on_failure = args->stop_on_failure;
  id = evb_harness_add_route_spec (harness, &spec, args->owner, &error);
  if (id == 0)
    fail_msg ("route %s on %s: %s", args->label, args->pattern, error->message);
  return id;
}

static guint64
add_plugin_route (EvbHarness *harness, const char *pattern, const char *handler, const char *options_json)
{
  g_autoptr (GError) error = NULL;
  guint64 id = evb_harness_add_route (harness, pattern, handler, options_json, &error);

  if (id == 0)
    fail_msg ("route %s on %s: %s", handler, pattern, error->message);
  return id;
}

/* The stats entry of @route_id in @stats, or NULL when the route is gone. */
static json_t *
find_route_stats (json_t *stats, guint64 route_id)
{
  json_t *routes = json_object_get (stats, "routes");
  json_t *route;
  size_t i;

  json_array_foreach (routes, i, route)
    if ((guint64) json_integer_value (json_object_get (route, "id")) == route_id)
      return route;
  return NULL;
}

static gboolean
route_in_stats (EvbHarness *harness, guint64 route_id)
{
  g_autoptr (json_t) stats = evb_harness_stats (harness);

  return find_route_stats (stats, route_id) != NULL;
}

static gint64
route_counter (EvbHarness *harness, guint64 route_id, const char *name)
{
  g_autoptr (json_t) stats = evb_harness_stats (harness);
  json_t *route = find_route_stats (stats, route_id);

  if (route == NULL)
    fail_msg ("route %" G_GUINT64_FORMAT " is not in the stats", route_id);
  return json_int_at (route, name);
}

static gint64
bus_counter (EvbHarness *harness, const char *name)
{
  g_autoptr (json_t) stats = evb_harness_stats (harness);

  return json_int_at (json_object_get (stats, "bus"), name);
}

/* Checks matched, filtered, handled, completed and failed of one route. */
static void
assert_route_counters (EvbHarness *harness, guint64 route_id, gint64 matched, gint64 filtered, gint64 handled,
                       gint64 completed, gint64 failed)
{
  static const char *const names[] = { "matched", "filtered", "handled", "completed", "failed" };
  const gint64 expected[] = { matched, filtered, handled, completed, failed };
  g_autoptr (json_t) stats = evb_harness_stats (harness);
  json_t *route = find_route_stats (stats, route_id);

  if (route == NULL)
    fail_msg ("route %" G_GUINT64_FORMAT " is not in the stats", route_id);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      gint64 actual = json_int_at (route, names[i]);

      if (actual != expected[i])
        fail_msg ("route %s: %s is %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT,
                  json_string_at (route, "handler"), names[i], actual, expected[i]);
    }
}

/* The data of the @nth collected evbus.failure event (borrowed). */
static json_t *
failure_data (EvbHarness *harness, guint nth)
{
  const EvbEvent *failure = evb_harness_find (harness, "evbus.failure", nth);

  if (failure == NULL)
    fail_msg ("no evbus.failure number %u (%u collected)", nth, evb_harness_count (harness, "evbus.failure"));
  return failure->data;
}

/* Checks the error of the @nth failure event and who it names. */
static void
assert_failure (EvbHarness *harness, guint nth, const char *origin_type, const char *handler, const char *domain,
                gint64 code, const char *message, const char *thread)
{
  json_t *data = failure_data (harness, nth);

  assert_string_equal (json_string_at (data, "origin.type"), origin_type);
  assert_string_equal (json_string_at (data, "handler"), handler);
  assert_string_equal (json_string_at (data, "error.domain"), domain);
  assert_int_equal (json_int_at (data, "error.code"), code);
  assert_string_equal (json_string_at (data, "error.message"), message);
  assert_string_equal (json_string_at (data, "thread"), thread);
}

/* ---- 1. priority order ------------------------------------------------ */

/* DESIGN "Dispatching" 2: higher priority first; equal priorities keep
 * subscription order, whatever pattern (exact, "*", ">") each route uses. */
static void
test_priority_order_across_patterns (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);

  /* Subscribed deliberately out of order. */
  add_route (harness, &(RouteArgs){ .pattern = "a.b", .label = "exact@0" });
  add_route (harness, &(RouteArgs){ .pattern = "*.b", .label = "star-b@5", .priority = 5 });
  add_route (harness, &(RouteArgs){ .pattern = ">", .label = "all@0" });
  add_route (harness, &(RouteArgs){ .pattern = "a.*", .label = "a-star@5", .priority = 5 });
  add_route (harness, &(RouteArgs){ .pattern = "a.>", .label = "a-tail@-3", .priority = -3 });
  add_route (harness, &(RouteArgs){ .pattern = "a.b", .label = "exact@10", .priority = 10 });
  add_route (harness, &(RouteArgs){ .pattern = ">", .label = "all@5", .priority = 5 });
  add_route (harness, &(RouteArgs){ .pattern = "a.b", .label = "exact@-3", .priority = -3 });

  emit_or_fail (harness, "a.b", NULL);
  run_idle_or_fail (harness);
  assert_trace ("exact@10 star-b@5 a-star@5 all@5 exact@0 all@0 a-tail@-3 exact@-3");

  emit_or_fail (harness, "c.b", NULL);
  run_idle_or_fail (harness);
  assert_trace ("star-b@5 all@5 all@0");

  /* A later subscription of an existing priority goes last in its level,
   * also once the type's routes have been resolved (and cached) before. */
  add_route (harness, &(RouteArgs){ .pattern = "*.*", .label = "stars@5", .priority = 5 });
  emit_or_fail (harness, "a.b", NULL);
  run_idle_or_fail (harness);
  assert_trace ("exact@10 star-b@5 a-star@5 all@5 stars@5 exact@0 all@0 a-tail@-3 exact@-3");

  evb_harness_free (harness);
}

/* ---- 2. chain of responsibility --------------------------------------- */

/* DESIGN "Dispatching" 3: HANDLED from a sync handler stops the lower
 * levels, but every route of its own level still runs. */
static void
test_handled_sync_stops_lower_levels (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  guint64 first = add_route (harness, &(RouteArgs){ .pattern = "h.x", .label = "A", .priority = 10 });
  guint64 second = add_route (harness, &(RouteArgs){ .pattern = "h.x", .label = "B", .priority = 10 });
  guint64 lower = add_route (harness, &(RouteArgs){ .pattern = "h.x", .label = "C" });

  /* The first route of the level handles it: the second still runs. */
  emit_or_fail (harness, "h.x", "{\"tag\": \"1\", \"A\": \"handled\"}");
  run_idle_or_fail (harness);
  assert_trace ("A:1 B:1");

  /* The last route of the level handles it: same outcome. */
  emit_or_fail (harness, "h.x", "{\"tag\": \"2\", \"B\": \"handled\"}");
  run_idle_or_fail (harness);
  assert_trace ("A:2 B:2");

  assert_route_counters (harness, first, 2, 0, 1, 2, 0);
  assert_route_counters (harness, second, 2, 0, 1, 2, 0);
  /* A level the walk never reached is not even counted as matched. */
  assert_route_counters (harness, lower, 0, 0, 0, 0, 0);
  assert_int_equal (bus_counter (harness, "unhandled"), 0);

  evb_harness_free (harness);
}

/* DESIGN "Dispatching" 3: CONTINUE lets the next level run, level by level. */
static void
test_continue_lets_next_level_run (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  guint64 top = add_route (harness, &(RouteArgs){ .pattern = "h.x", .label = "A", .priority = 10 });
  guint64 middle = add_route (harness, &(RouteArgs){ .pattern = "h.x", .label = "B", .priority = 5 });
  guint64 bottom = add_route (harness, &(RouteArgs){ .pattern = "h.x", .label = "C", .priority = -5 });

  emit_or_fail (harness, "h.x", "{\"tag\": \"1\"}");
  emit_or_fail (harness, "h.x", "{\"tag\": \"2\", \"B\": \"handled\"}");
  run_idle_or_fail (harness);
  assert_trace ("A:1 B:1 C:1 A:2 B:2");

  assert_route_counters (harness, top, 2, 0, 0, 2, 0);
  assert_route_counters (harness, middle, 2, 0, 1, 2, 0);
  assert_route_counters (harness, bottom, 1, 0, 0, 1, 0);

  evb_harness_free (harness);
}

static gboolean
gate_started (EvbHarness *harness, gpointer user_data)
{
  Gate *gate = user_data;

  return g_atomic_int_get (&gate->started) > 0;
}

/* DESIGN "Dispatching" 3: the next level runs only once the async level has
 * finished, and not at all when an async handler returned HANDLED. */
static void
test_handled_async_stops_lower_levels (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  Gate gate;
  guint64 async_id;
  guint64 lower;

  gate_init (&gate, "G");
  async_id = add_route (harness, &(RouteArgs){ .pattern = "h.x", .label = "G", .mode = EVB_MODE_ASYNC,
                                               .priority = 10, .func = gated_handler, .data = &gate });
  lower = add_route (harness, &(RouteArgs){ .pattern = "h.x", .label = "C" });

  /* CONTINUE: the lower level waits for the job, then runs. */
  emit_or_fail (harness, "h.x", "{\"tag\": \"1\"}");
  run_until_or_fail (harness, gate_started, &gate, "async handler started");
  run_until_count_or_fail (harness, "evbus.status.executing", 1);
  run_pending ();
  assert_trace ("G:start");
  assert_int_equal (route_counter (harness, lower, "matched"), 0);
  gate_open (&gate);
  run_idle_or_fail (harness);
  assert_trace ("G:end C:1");

  /* HANDLED: the lower level never runs. */
  gate_rearm (&gate);
  emit_or_fail (harness, "h.x", "{\"tag\": \"2\", \"G\": \"handled\"}");
  run_until_or_fail (harness, gate_started, &gate, "async handler started");
  run_until_count_or_fail (harness, "evbus.status.executing", 2);
  run_pending ();
  assert_trace ("G:start");
  gate_open (&gate);
  run_idle_or_fail (harness);
  assert_trace ("G:end");

  assert_route_counters (harness, async_id, 2, 0, 1, 2, 0);
  assert_route_counters (harness, lower, 1, 0, 0, 1, 0);
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);

  evb_harness_free (harness);
  gate_clear (&gate);
}

/* ---- 3. a level's async handlers run concurrently ---------------------- */

typedef struct {
  EvbHarness *harness;
  GMutex lock;
  GCond cond;
  guint arrived;
  gint finished; /* atomic */
  guint64 route_ids[2];
} Barrier;

/* Each of the two waits until the other has started: only concurrent
 * execution lets both through; run one after the other, the first fails. */
static EvbResult
barrier_handler (EvbCall *call, const EvbEvent *event)
{
  Barrier *barrier = call->route_data;
  gint64 deadline = g_get_monotonic_time () + BLOCK_LIMIT_MS * G_TIME_SPAN_MILLISECOND;
  gboolean met;

  g_mutex_lock (&barrier->lock);
  barrier->arrived++;
  g_cond_broadcast (&barrier->cond);
  while (barrier->arrived < 2)
    if (!g_cond_wait_until (&barrier->cond, &barrier->lock, deadline))
      break;
  met = barrier->arrived >= 2;
  g_mutex_unlock (&barrier->lock);
  if (!met)
    return evb_call_fail (call, "test", 2, "the other async handler of the level never started");
  g_atomic_int_inc (&barrier->finished);
  return EVB_CONTINUE;
}

/* The next level: records how much of the async level had finished, both
 * as the handlers saw it and as the bus accounted it. */
static EvbResult
after_barrier_handler (EvbCall *call, const EvbEvent *event)
{
  Barrier *barrier = call->route_data;

  trace_addf ("after:finished=%d:completed=%" G_GINT64_FORMAT "+%" G_GINT64_FORMAT,
              g_atomic_int_get (&barrier->finished),
              route_counter (barrier->harness, barrier->route_ids[0], "completed"),
              route_counter (barrier->harness, barrier->route_ids[1], "completed"));
  return EVB_CONTINUE;
}

static void
test_async_level_runs_concurrently (void **state)
{
  EvbHarness *harness = harness_new_or_fail ("{\"workers\": 2}");
  Barrier barrier = { .harness = harness };

  g_mutex_init (&barrier.lock);
  g_cond_init (&barrier.cond);
  barrier.route_ids[0] = add_route (harness, &(RouteArgs){ .pattern = "c.x", .label = "P", .mode = EVB_MODE_ASYNC,
                                                           .priority = 10, .func = barrier_handler, .data = &barrier });
  barrier.route_ids[1] = add_route (harness, &(RouteArgs){ .pattern = "c.x", .label = "Q", .mode = EVB_MODE_ASYNC,
                                                           .priority = 10, .func = barrier_handler, .data = &barrier });
  add_route (harness, &(RouteArgs){ .pattern = "c.x", .label = "after", .func = after_barrier_handler,
                                    .data = &barrier });

  emit_or_fail (harness, "c.x", NULL);
  run_idle_or_fail (harness);

  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
  assert_trace ("after:finished=2:completed=1+1");
  assert_route_counters (harness, barrier.route_ids[0], 1, 0, 0, 1, 0);
  assert_route_counters (harness, barrier.route_ids[1], 1, 0, 0, 1, 0);
  assert_int_equal (bus_counter (harness, "jobs_completed"), 2);

  evb_harness_free (harness);
  g_mutex_clear (&barrier.lock);
  g_cond_clear (&barrier.cond);
}

/* ---- 4. filters through routes ---------------------------------------- */

/* DESIGN "Dispatching" 1 and "Filters": a route sees only the events its
 * filter accepts; matched counts every event its pattern matched, filtered
 * those the filter then refused. */
static void
test_filter_route_sees_only_matching (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  guint64 big = add_route (harness, &(RouteArgs){ .pattern = "f.*", .label = "big",
                                                  .filter = "{\"size\": {\"gt\": 10}}" });
  guint64 every = add_route (harness, &(RouteArgs){ .pattern = "f.*", .label = "every" });

  emit_or_fail (harness, "f.x", "{\"tag\": \"s5\", \"size\": 5}");
  emit_or_fail (harness, "f.x", "{\"tag\": \"s15\", \"size\": 15}");
  emit_or_fail (harness, "f.y", "{\"tag\": \"none\"}");
  emit_or_fail (harness, "f.y", "{\"tag\": \"s10\", \"size\": 10}");
  emit_or_fail (harness, "f.x", "{\"tag\": \"s11\", \"size\": 11}");
  emit_or_fail (harness, "g.x", "{\"tag\": \"s99\", \"size\": 99}");
  run_idle_or_fail (harness);

  assert_trace ("every:s5 big:s15 every:s15 every:none every:s10 big:s11 every:s11");
  assert_route_counters (harness, big, 5, 3, 0, 2, 0);
  assert_route_counters (harness, every, 5, 0, 0, 5, 0);
  /* g.x: no route. */
  assert_int_equal (bus_counter (harness, "unhandled"), 1);

  evb_harness_free (harness);
}

/* DESIGN "Filters": a missing field fails the match (even for "ne"); an
 * event every route filtered out is unhandled. */
static void
test_filter_missing_field_fails (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  guint64 is_ann = add_route (harness, &(RouteArgs){ .pattern = "m.x", .label = "is-ann",
                                                     .filter = "{\"user.name\": \"ann\"}" });
  guint64 not_bob = add_route (harness, &(RouteArgs){ .pattern = "m.x", .label = "not-bob",
                                                      .filter = "{\"user.name\": {\"ne\": \"bob\"}}" });

  emit_or_fail (harness, "m.x", "{\"tag\": \"ann\", \"user\": {\"name\": \"ann\"}}");
  emit_or_fail (harness, "m.x", "{\"tag\": \"bob\", \"user\": {\"name\": \"bob\"}}");
  emit_or_fail (harness, "m.x", "{\"tag\": \"no-name\", \"user\": {}}");
  emit_or_fail (harness, "m.x", "{\"tag\": \"no-user\"}");
  emit_or_fail (harness, "m.x", "{\"tag\": \"user-string\", \"user\": \"ann\"}");
  run_idle_or_fail (harness);

  assert_trace ("is-ann:ann not-bob:ann");
  assert_route_counters (harness, is_ann, 5, 4, 0, 1, 0);
  assert_route_counters (harness, not_bob, 5, 4, 0, 1, 0);
  assert_int_equal (bus_counter (harness, "unhandled"), 4);

  evb_harness_free (harness);
}

/* DESIGN "Filters": one route per operator family, each event dispatched
 * alone so the trace lists exactly the routes that accepted it. */
static void
test_filter_operator_families (void **state)
{
  static const struct {
    const char *label;
    const char *filter;
    gint64 accepted;
  } routes[] = {
    { "eq", "{\"s\": \"abc\"}", 1 },
    { "ne", "{\"s\": {\"ne\": \"abc\"}}", 3 },
    { "cmp", "{\"n\": {\"gt\": 1, \"le\": 7}}", 2 },
    { "in", "{\"n\": {\"in\": [1, 7]}}", 2 },
    { "exists", "{\"opt\": {\"exists\": true}}", 1 },
    { "absent", "{\"n\": {\"exists\": false}}", 1 },
    { "prefix", "{\"s\": {\"prefix\": \"ab\"}}", 2 },
    { "glob", "{\"s\": {\"glob\": \"a??\"}}", 2 },
    { "regex", "{\"s\": {\"regex\": \"^a[0-9]+$\"}}", 1 },
    { "any", "{\"any\": [{\"n\": 1}, {\"s\": \"xyz\"}]}", 2 },
    { "not", "{\"not\": {\"n\": {\"lt\": 5}}}", 2 },
    { "all", "{\"all\": [{\"n\": {\"gt\": 0}}, {\"s\": {\"prefix\": \"a\"}}]}", 3 },
  };
  static const struct {
    const char *data;
    const char *accepted_by;
  } events[] = {
    { "{\"n\": 3, \"s\": \"abc\", \"opt\": true}", "eq cmp exists prefix glob all" },
    { "{\"n\": 7, \"s\": \"a12\"}", "ne cmp in glob regex not all" },
    { "{\"s\": \"xyz\"}", "ne absent any not" },
    { "{\"n\": 1, \"s\": \"ab\"}", "ne in prefix any all" },
  };
  EvbHarness *harness = harness_new_or_fail (NULL);
  guint64 ids[G_N_ELEMENTS (routes)];

  for (guint i = 0; i < G_N_ELEMENTS (routes); i++)
    ids[i] = add_route (harness, &(RouteArgs){ .pattern = "op.x", .label = routes[i].label,
                                               .filter = routes[i].filter });
  for (guint i = 0; i < G_N_ELEMENTS (events); i++)
    {
      g_autofree char *trace = NULL;

      emit_or_fail (harness, "op.x", events[i].data);
      run_idle_or_fail (harness);
      trace = trace_take ();
      if (strcmp (trace, events[i].accepted_by) != 0)
        fail_msg ("event %s: accepted by \"%s\", expected \"%s\"", events[i].data, trace, events[i].accepted_by);
    }
  for (guint i = 0; i < G_N_ELEMENTS (routes); i++)
    assert_route_counters (harness, ids[i], G_N_ELEMENTS (events), G_N_ELEMENTS (events) - routes[i].accepted, 0,
                           routes[i].accepted, 0);

  evb_harness_free (harness);
}

/* DESIGN "Failure events": handlers of failure events filter on
 * origin.type like any attribute. */
static void
test_filter_failure_origin_type (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  guint64 failing = add_route (harness, &(RouteArgs){ .pattern = "job.*", .label = "worker" });
  guint64 bad_watch = add_route (harness, &(RouteArgs){ .pattern = "evbus.failure", .label = "bad",
                                                        .func = failure_watch_handler,
                                                        .filter = "{\"origin.type\": \"job.bad\"}" });
  guint64 other_watch = add_route (harness, &(RouteArgs){ .pattern = "evbus.failure", .label = "other",
                                                          .func = failure_watch_handler,
                                                          .filter = "{\"origin.type\": {\"prefix\": \"job.o\"}}" });

  emit_or_fail (harness, "job.bad", "{\"tag\": \"1\", \"worker\": \"failed\"}");
  emit_or_fail (harness, "job.other", "{\"tag\": \"2\", \"worker\": \"failed\"}");
  emit_or_fail (harness, "job.bad", "{\"tag\": \"3\", \"worker\": \"failed\"}");
  emit_or_fail (harness, "job.fine", "{\"tag\": \"4\"}");
  run_idle_or_fail (harness);

  /* Each failure is dispatched right after its event, ahead of the events
   * still queued. */
  assert_trace ("worker:1 bad:job.bad worker:2 other:job.other worker:3 bad:job.bad worker:4");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 3);
  assert_route_counters (harness, failing, 4, 0, 0, 1, 3);
  assert_route_counters (harness, bad_watch, 3, 1, 0, 2, 0);
  assert_route_counters (harness, other_watch, 3, 2, 0, 1, 0);
  assert_int_equal (bus_counter (harness, "failures"), 3);

  evb_harness_free (harness);
}

/* ---- 5. wildcards ----------------------------------------------------- */

/* DESIGN "Type patterns": "*" is one segment, ">" one or more trailing
 * segments; "a.>" does not match "a". */
static void
test_wildcard_patterns (void **state)
{
  static const struct {
    const char *type;
    const char *seen_by;
  } events[] = {
    { "search.request", "search=search.request all=search.request" },
    { "search.request.more", "all=search.request.more" },
    { "search", "all=search" },
    { "evbus.status.done", "status=evbus.status.done all=evbus.status.done" },
    { "evbus.status.a.b", "status=evbus.status.a.b all=evbus.status.a.b" },
    { "evbus.status", "all=evbus.status" },
    { "a", "all=a" },
    { "a.b", "all=a.b star-b=a.b a-tail=a.b" },
    { "x.b", "all=x.b star-b=x.b" },
    { "a.b.c", "all=a.b.c a-tail=a.b.c" },
    { "x.b.c", "all=x.b.c" },
    { "b", "all=b" },
  };
  EvbHarness *harness = harness_new_or_fail (NULL);

  add_route (harness, &(RouteArgs){ .pattern = "search.*", .label = "search", .func = record_type_handler });
  add_route (harness, &(RouteArgs){ .pattern = "evbus.status.>", .label = "status", .func = record_type_handler });
  add_route (harness, &(RouteArgs){ .pattern = ">", .label = "all", .func = record_type_handler });
  add_route (harness, &(RouteArgs){ .pattern = "*.b", .label = "star-b", .func = record_type_handler });
  add_route (harness, &(RouteArgs){ .pattern = "a.>", .label = "a-tail", .func = record_type_handler });

  for (guint i = 0; i < G_N_ELEMENTS (events); i++)
    {
      emit_or_fail (harness, events[i].type, NULL);
      run_idle_or_fail (harness);
      assert_trace (events[i].seen_by);
    }
  assert_int_equal (bus_counter (harness, "dispatched"), G_N_ELEMENTS (events));

  evb_harness_free (harness);
}

/* ---- 6. snapshot semantics -------------------------------------------- */

/* A sync handler that, on its first call only, adds and/or removes a
 * route of a lower level. */
typedef struct {
  EvbHarness *harness;
  gboolean done;
  const char *add_label; /* route to add on "s.x", or NULL */
  guint64 added_id;
  guint64 remove_ids[2]; /* routes to remove, or 0 */
  guint n_removed;
} Mutator;

static EvbResult
mutator_handler (EvbCall *call, const EvbEvent *event)
{
  Mutator *mutator = call->route_data;

  record_call ("high", event);
  if (!mutator->done)
    {
      mutator->done = TRUE;
      if (mutator->add_label != NULL)
        mutator->added_id = add_route (mutator->harness, &(RouteArgs){ .pattern = "s.x",
                                                                       .label = mutator->add_label });
      for (guint i = 0; i < G_N_ELEMENTS (mutator->remove_ids); i++)
        if (mutator->remove_ids[i] != 0 && evb_harness_remove_route (mutator->harness, mutator->remove_ids[i]))
          mutator->n_removed++;
    }
  return EVB_CONTINUE;
}

/* DESIGN "Dispatching" 1: a route added during dispatch does not see the
 * current event, but sees the next. */
static void
test_snapshot_route_added_during_dispatch (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  Mutator mutator = { .harness = harness, .add_label = "new" };

  add_route (harness, &(RouteArgs){ .pattern = "s.x", .label = "high", .priority = 10, .func = mutator_handler,
                                    .data = &mutator });
  /* Both queued before either is dispatched. */
  emit_or_fail (harness, "s.x", "{\"tag\": \"1\"}");
  emit_or_fail (harness, "s.x", "{\"tag\": \"2\"}");
  run_idle_or_fail (harness);

  assert_trace ("high:1 high:2 new:2");
  assert_true (mutator.added_id != 0);
  assert_route_counters (harness, mutator.added_id, 1, 0, 0, 1, 0);
  assert_int_equal (bus_counter (harness, "unhandled"), 0);

  evb_harness_free (harness);
}

/* DESIGN "Dispatching" 1: a route removed during dispatch still runs for
 * the current event, and not for the next; an async route too (its job is
 * not cancelled at birth). */
static void
test_snapshot_route_removed_during_dispatch (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  Mutator mutator = { .harness = harness };
  guint64 old;
  guint64 old_async;

  add_route (harness, &(RouteArgs){ .pattern = "s.x", .label = "high", .priority = 10, .func = mutator_handler,
                                    .data = &mutator });
  old = add_route (harness, &(RouteArgs){ .pattern = "s.x", .label = "old" });
  /* A level of its own, below "old", so the trace order is fixed. */
  old_async = add_route (harness, &(RouteArgs){ .pattern = "s.x", .label = "old-async", .mode = EVB_MODE_ASYNC,
                                                .priority = -1 });
  mutator.remove_ids[0] = old;
  mutator.remove_ids[1] = old_async;

  emit_or_fail (harness, "s.x", "{\"tag\": \"1\"}");
  run_idle_or_fail (harness);
  assert_trace ("high:1 old:1 old-async:1");
  assert_int_equal (mutator.n_removed, 2);
  assert_false (route_in_stats (harness, old));
  assert_false (route_in_stats (harness, old_async));
  assert_int_equal (evb_harness_count (harness, "evbus.status.cancelled"), 0);
  assert_int_equal (bus_counter (harness, "jobs_completed"), 1);

  emit_or_fail (harness, "s.x", "{\"tag\": \"2\"}");
  run_idle_or_fail (harness);
  assert_trace ("high:2");
  assert_int_equal (bus_counter (harness, "jobs_completed"), 1);

  evb_harness_free (harness);
}

/* ---- 7. unhandled events ---------------------------------------------- */

/* DESIGN "Dispatching" 5: an event no route accepted (no match, or all
 * filtered) is counted and, with emit_unhandled, re-emitted as
 * evbus.unhandled with its type and data; the host's evbus.* events are
 * neither. */
static void
test_unhandled_counted_and_reemitted (void **state)
{
  EvbHarness *harness = harness_new_or_fail ("{\"emit_unhandled\": true}");
  const EvbEvent *original;
  const EvbEvent *unhandled;

  add_route (harness, &(RouteArgs){ .pattern = "u.seen", .label = "seen" });
  add_route (harness, &(RouteArgs){ .pattern = "u.filtered", .label = "filt", .filter = "{\"pass\": true}" });
  add_route (harness, &(RouteArgs){ .pattern = "u.fail", .label = "fails" });
  add_route (harness, &(RouteArgs){ .pattern = "evbus.unhandled", .label = "unh", .func = unhandled_watch_handler });

  emit_or_fail (harness, "u.none", "{\"tag\": \"n\", \"k\": [1, 2]}");      /* no route */
  emit_or_fail (harness, "u.filtered", "{\"tag\": \"f\", \"pass\": false}"); /* all filtered */
  emit_or_fail (harness, "u.seen", "{\"tag\": \"s\"}");
  emit_or_fail (harness, "evbus.custom", "{\"tag\": \"e\"}");                /* no route, evbus.* */
  emit_or_fail (harness, "u.filtered", "{\"tag\": \"p\", \"pass\": true}");
  emit_or_fail (harness, "u.fail", "{\"tag\": \"x\", \"fails\": \"failed\"}"); /* its evbus.failure: no route */
  run_idle_or_fail (harness);

  /* Each evbus.unhandled right after its event, ahead of the queue. */
  assert_trace ("unh=u.none:{\"k\":[1,2],\"tag\":\"n\"} unh=u.filtered:{\"pass\":false,\"tag\":\"f\"}"
                " seen:s filt:p fails:x");
  /* u.none and the filtered u.filtered.  The host's own evbus.* events
   * (evbus.custom, evbus.failure) are neither counted nor re-emitted. */
  assert_int_equal (bus_counter (harness, "unhandled"), 2);
  assert_int_equal (evb_harness_count (harness, "evbus.unhandled"), 2);
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 1);
  /* 6 emitted, 1 failure, 2 re-emitted. */
  assert_int_equal (bus_counter (harness, "dispatched"), 9);

  /* The re-emitted event names the original: id, source, type, data. */
  original = evb_harness_find (harness, "u.none", 0);
  unhandled = evb_harness_find (harness, "evbus.unhandled", 0);
  assert_non_null (original);
  assert_non_null (unhandled);
  assert_int_equal (json_int_at (unhandled->data, "event.id"), original->id);
  assert_string_equal (json_string_at (unhandled->data, "event.source"), "harness");
  assert_string_equal (json_string_at (unhandled->data, "event.type"), "u.none");
  assert_true (json_equal (json_at (unhandled->data, "event.data"), original->data));
  assert_string_equal (unhandled->source, "host");

  evb_harness_free (harness);
}

static void
test_unhandled_not_reemitted_by_default (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  g_autofree char *trace = NULL;

  add_route (harness, &(RouteArgs){ .pattern = "evbus.unhandled", .label = "unh", .func = unhandled_watch_handler });
  emit_or_fail (harness, "u.none", NULL);
  run_idle_or_fail (harness);

  assert_trace ("");
  assert_int_equal (bus_counter (harness, "unhandled"), 1);
  trace = evb_harness_trace (harness, ">");
  assert_string_equal (trace, "u.none");

  evb_harness_free (harness);
}

/* ---- 8. failures from handlers ---------------------------------------- */

/* DESIGN "Dispatching" 4: FAILED produces a failure event; the chain goes
 * on; one handler's failure does not silence the others of its level. */
static void
test_sync_failure_chain_goes_on (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  guint64 first = add_route (harness, &(RouteArgs){ .pattern = "f.x", .label = "F1", .priority = 5 });
  guint64 second = add_route (harness, &(RouteArgs){ .pattern = "f.x", .label = "F2", .priority = 5 });
  guint64 lower = add_route (harness, &(RouteArgs){ .pattern = "f.x", .label = "L" });
  json_t *data;

  emit_or_fail (harness, "f.x", "{\"tag\": \"1\", \"F1\": \"failed\"}");
  run_idle_or_fail (harness);
  assert_trace ("F1:1 F2:1 L:1");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 1);
  assert_failure (harness, 0, "f.x", "F1", "test", 3, "F1 failed on f.x", "main");
  data = failure_data (harness, 0);
  assert_int_equal (json_int_at (data, "route.id"), first);
  assert_int_equal (json_int_at (data, "route.priority"), 5);
  assert_string_equal (json_string_at (data, "route.mode"), "sync");
  assert_string_equal (json_string_at (data, "route.pattern"), "f.x");
  assert_string_equal (json_string_at (data, "origin.data.F1"), "failed");
  assert_true (json_is_null (json_at (data, "plugin")));
  assert_true (json_is_null (json_at (data, "job")));

  /* Both handlers of the level fail: both are reported, in order, and the
   * next level still runs. */
  emit_or_fail (harness, "f.x", "{\"tag\": \"2\", \"F1\": \"failed\", \"F2\": \"failed\"}");
  run_idle_or_fail (harness);
  assert_trace ("F1:2 F2:2 L:2");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 3);
  assert_failure (harness, 1, "f.x", "F1", "test", 3, "F1 failed on f.x", "main");
  assert_failure (harness, 2, "f.x", "F2", "test", 3, "F2 failed on f.x", "main");

  assert_route_counters (harness, first, 2, 0, 0, 0, 2);
  assert_route_counters (harness, second, 2, 0, 0, 1, 1);
  assert_route_counters (harness, lower, 2, 0, 0, 2, 0);
  assert_int_equal (bus_counter (harness, "failures"), 3);

  evb_harness_free (harness);
}

/* DESIGN "Dispatching" 4: stop_on_failure stops the lower levels, but not
 * the rest of the failing route's own level. */
static void
test_stop_on_failure_stops_lower_levels (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  guint64 stopper = add_route (harness, &(RouteArgs){ .pattern = "f.x", .label = "F1", .priority = 5,
                                                      .stop_on_failure = TRUE });
  guint64 sibling = add_route (harness, &(RouteArgs){ .pattern = "f.x", .label = "F2", .priority = 5 });
  guint64 lower = add_route (harness, &(RouteArgs){ .pattern = "f.x", .label = "L" });

  emit_or_fail (harness, "f.x", "{\"tag\": \"1\", \"F1\": \"failed\"}");
  /* The route says stop on failure, but it succeeds: the chain goes on. */
  emit_or_fail (harness, "f.x", "{\"tag\": \"2\"}");
  /* A sibling without stop_on_failure fails: the chain goes on. */
  emit_or_fail (harness, "f.x", "{\"tag\": \"3\", \"F2\": \"failed\"}");
  run_idle_or_fail (harness);

  assert_trace ("F1:1 F2:1 F1:2 F2:2 L:2 F1:3 F2:3 L:3");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 2);
  assert_failure (harness, 0, "f.x", "F1", "test", 3, "F1 failed on f.x", "main");
  assert_failure (harness, 1, "f.x", "F2", "test", 3, "F2 failed on f.x", "main");
  assert_route_counters (harness, stopper, 3, 0, 0, 2, 1);
  assert_route_counters (harness, sibling, 3, 0, 0, 2, 1);
  assert_route_counters (harness, lower, 2, 0, 0, 2, 0);

  evb_harness_free (harness);
}

/* DESIGN "Dispatching" 3 and 4 for an async level: a job's failure stops
 * the lower levels on a stop_on_failure route, as a sync failure does, and
 * a job that overruns its timeout counts as failed for the chain too, with
 * the level not waiting for it. */
static void
test_async_stop_on_failure_stops_lower_levels (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  Gate gate;
  guint64 stopper, slow, lower;

  gate_init (&gate, "G");
  stopper = add_route (harness, &(RouteArgs){ .pattern = "f.x", .label = "F", .mode = EVB_MODE_ASYNC,
                                              .priority = 5, .stop_on_failure = TRUE });
  slow = add_route (harness, &(RouteArgs){ .pattern = "f.y", .label = "G", .mode = EVB_MODE_ASYNC, .priority = 5,
                                           .func = gated_handler, .data = &gate, .timeout_ms = 30,
                                           .stop_on_failure = TRUE });
  lower = add_route (harness, &(RouteArgs){ .pattern = "f.*", .label = "L" });

  /* One event at a time: the jobs of two events would run side by side. */
  emit_or_fail (harness, "f.x", "{\"tag\": \"1\", \"F\": \"failed\"}");
  run_idle_or_fail (harness);
  assert_trace ("F:1");
  emit_or_fail (harness, "f.x", "{\"tag\": \"2\"}");
  run_idle_or_fail (harness);
  assert_trace ("F:2 L:2");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 1);
  assert_failure (harness, 0, "f.x", "F", "test", 3, "F failed on f.x", "worker");
  assert_route_counters (harness, stopper, 2, 0, 0, 1, 1);
  assert_route_counters (harness, lower, 1, 0, 0, 1, 0);

  /* The overrun stops the chain at once; the stuck handler ends later,
   * cancelled, and nothing below runs then either. */
  emit_or_fail (harness, "f.y", "{\"tag\": \"3\"}");
  run_until_count_or_fail (harness, "evbus.status.cancelling", 1);
  assert_failure (harness, 1, "f.y", "G", "evbus", 1, "handler exceeded its timeout of 30 ms", "worker");
  gate_open (&gate);
  run_idle_or_fail (harness);
  assert_trace ("G:start G:end");
  assert_route_counters (harness, slow, 1, 0, 0, 0, 0);
  assert_int_equal (route_counter (harness, slow, "timeouts"), 1);
  assert_int_equal (route_counter (harness, slow, "cancelled"), 1);
  assert_route_counters (harness, lower, 1, 0, 0, 1, 0);
  assert_int_equal (bus_counter (harness, "failures"), 2);

  evb_harness_free (harness);
  gate_clear (&gate);
}

/* DESIGN "Dispatching" 4 with host/dispatch.c's exact messages: a result
 * that is no EvbResult is a failure; FAILED without evb_call_fail gets the
 * default message; evb_call_fail with a NULL domain uses the instance name.
 * None of them stops the chain. */
static void
test_invalid_result_and_bare_failed (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  g_autoptr (GError) error = NULL;
  guint64 bad, bare, plugin_domain, lower;
  json_t *data;

  if (!evb_harness_add_plugin (harness, "rec1", &rec_plugin, NULL, &error))
    fail_msg ("add plugin: %s", error->message);
  bad = add_plugin_route (harness, "r.x", "rec1.bad_result", "{\"priority\": 5}");
  bare = add_plugin_route (harness, "r.x", "rec1.fail_bare", "{\"priority\": 5}");
  plugin_domain = add_plugin_route (harness, "r.x", "rec1.fail_plugin_domain", "{\"priority\": 5}");
  lower = add_plugin_route (harness, "r.x", "rec1.continue", NULL);

  emit_or_fail (harness, "r.x", NULL);
  run_idle_or_fail (harness);

  assert_trace ("rec.bad_result rec.fail_bare rec.fail_plugin_domain rec.continue");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 3);
  assert_failure (harness, 0, "r.x", "rec1.bad_result", "evbus", 0, "handler returned 7, which is not an EvbResult",
                  "main");
  assert_failure (harness, 1, "r.x", "rec1.fail_bare", "evbus", 0,
                  "handler returned EVB_FAILED without an error (use evb_call_fail)", "main");
  assert_failure (harness, 2, "r.x", "rec1.fail_plugin_domain", "rec1", 42, "no row 17", "main");
  data = failure_data (harness, 0);
  assert_string_equal (json_string_at (data, "plugin"), "rec1");
  assert_route_counters (harness, bad, 1, 0, 0, 0, 1);
  assert_route_counters (harness, bare, 1, 0, 0, 0, 1);
  assert_route_counters (harness, plugin_domain, 1, 0, 0, 0, 1);
  assert_route_counters (harness, lower, 1, 0, 0, 1, 0);

  evb_harness_free (harness);
}

/* The same two messages from async handlers (host/job.c), on a worker. */
static void
test_async_invalid_result_and_bare_failed (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  g_autoptr (GError) error = NULL;
  guint64 bad, bare, lower;
  json_t *first;
  json_t *second;

  if (!evb_harness_add_plugin (harness, "rec1", &rec_plugin, NULL, &error))
    fail_msg ("add plugin: %s", error->message);
  bad = add_plugin_route (harness, "r.x", "rec1.bad_result", "{\"priority\": 5, \"mode\": \"async\"}");
  bare = add_plugin_route (harness, "r.x", "rec1.fail_bare", "{\"priority\": 4, \"mode\": \"async\"}");
  lower = add_plugin_route (harness, "r.x", "rec1.continue", NULL);

  emit_or_fail (harness, "r.x", NULL);
  run_idle_or_fail (harness);

  /* One route per level, so the order is fixed. */
  assert_trace ("rec.bad_result rec.fail_bare rec.continue");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 2);
  assert_failure (harness, 0, "r.x", "rec1.bad_result", "evbus", 0, "handler returned 7, which is not an EvbResult",
                  "worker");
  assert_failure (harness, 1, "r.x", "rec1.fail_bare", "evbus", 0,
                  "handler returned EVB_FAILED without an error (use evb_call_fail)", "worker");
  first = failure_data (harness, 0);
  second = failure_data (harness, 1);
  assert_true (json_is_integer (json_at (first, "job")));
  assert_true (json_is_integer (json_at (second, "job")));
  assert_true (json_int_at (first, "job") != json_int_at (second, "job"));
  /* Each job's last status event carries the error its failure event
   * does, and goes out just before it. */
  for (guint i = 0; i < 2; i++)
    {
      json_t *failure = failure_data (harness, i);
      json_t *status = evb_harness_find (harness, "evbus.status.failed", i)->data;
      g_autofree char *failure_error = json_text (json_at (failure, "error"));
      g_autofree char *status_error = json_text (json_at (status, "error"));

      assert_int_equal (json_int_at (status, "job"), json_int_at (failure, "job"));
      assert_string_equal (status_error, failure_error);
    }
  {
    g_autofree char *trace = evb_harness_trace (harness, "evbus.>");

    assert_string_equal (trace, "evbus.status.waiting evbus.status.executing evbus.status.failed evbus.failure "
                                "evbus.status.waiting evbus.status.executing evbus.status.failed evbus.failure");
  }
  assert_route_counters (harness, bad, 1, 0, 0, 0, 1);
  assert_route_counters (harness, bare, 1, 0, 0, 0, 1);
  assert_route_counters (harness, lower, 1, 0, 0, 1, 0);
  assert_int_equal (bus_counter (harness, "jobs_failed"), 2);

  evb_harness_free (harness);
}

/* ---- 9. sync timeout -------------------------------------------------- */

/* DESIGN "Dispatching" 4: a sync handler that overruns its timeout produces
 * a failure event (it cannot be interrupted, so it completes too) and
 * counts a timeout; the chain goes on. */
static void
test_sync_timeout (void **state)
{
  static const char prefix[] = "sync handler ran ";
  static const char suffix[] = " ms, over its timeout of 1 ms";
  EvbHarness *harness = harness_new_or_fail (NULL);
  guint64 slow = add_route (harness, &(RouteArgs){ .pattern = "t.x", .label = "slow", .priority = 1,
                                                   .func = slow_handler, .timeout_ms = 1 });
  guint64 lower = add_route (harness, &(RouteArgs){ .pattern = "t.x", .label = "L" });
  const char *message;
  g_autofree char *digits = NULL;
  char *end = NULL;
  guint64 ran_ms;

  emit_or_fail (harness, "t.x", NULL);
  run_idle_or_fail (harness);

  assert_trace ("slow L");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 1);
  message = json_string_at (failure_data (harness, 0), "error.message");
  if (!g_str_has_prefix (message, prefix) || !g_str_has_suffix (message, suffix)
      || strlen (message) <= strlen (prefix) + strlen (suffix))
    fail_msg ("unexpected timeout message \"%s\"", message);
  digits = g_strndup (message + strlen (prefix), strlen (message) - strlen (prefix) - strlen (suffix));
  ran_ms = g_ascii_strtoull (digits, &end, 10);
  if (*end != '\0' || ran_ms < 1)
    fail_msg ("unexpected run time \"%s\" in \"%s\"", digits, message);
  assert_failure (harness, 0, "t.x", "slow", "evbus", 1, message, "main");

  assert_int_equal (route_counter (harness, slow, "timeouts"), 1);
  assert_route_counters (harness, slow, 1, 0, 0, 1, 0);
  assert_route_counters (harness, lower, 1, 0, 0, 1, 0);
  assert_int_equal (bus_counter (harness, "failures"), 1);

  evb_harness_free (harness);
}

/* A sync overrun is a failure for the chain as well: on a stop_on_failure
 * route it stops the lower levels, whatever the handler returned, and what
 * it returned is counted all the same. */
static void
test_sync_timeout_stop_on_failure (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  guint64 slow = add_route (harness, &(RouteArgs){ .pattern = "t.x", .label = "slow", .priority = 1,
                                                   .func = slow_handler, .timeout_ms = 1,
                                                   .stop_on_failure = TRUE });
  guint64 lower = add_route (harness, &(RouteArgs){ .pattern = "t.x", .label = "L" });

  emit_or_fail (harness, "t.x", "{\"tag\": \"1\"}");
  emit_or_fail (harness, "t.x", "{\"tag\": \"2\", \"slow\": \"handled\"}");
  /* A failure that also overran is one failure, not two. */
  emit_or_fail (harness, "t.x", "{\"tag\": \"3\", \"slow\": \"failed\"}");
  run_idle_or_fail (harness);

  assert_trace ("slow:1 slow:2 slow:3");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 3);
  assert_int_equal (json_int_at (failure_data (harness, 0), "error.code"), 1);
  assert_int_equal (json_int_at (failure_data (harness, 1), "error.code"), 1);
  assert_failure (harness, 2, "t.x", "slow", "test", 3, "slow failed on t.x", "main");
  assert_int_equal (route_counter (harness, slow, "timeouts"), 2);
  assert_route_counters (harness, slow, 3, 0, 1, 2, 1);
  assert_int_equal (route_counter (harness, lower, "matched"), 0);
  assert_int_equal (bus_counter (harness, "failures"), 3);

  evb_harness_free (harness);
}

/* ---- 10. per-route counters over a scripted run ------------------------ */

/* DESIGN "Status events": per-route matched, filtered, handled, completed,
 * failed, over 20 events that exercise every outcome.  Each event's data
 * says what each route answers ("handled"/"failed"; absent: continue). */
static void
test_route_counters_scripted_run (void **state)
{
  static const struct {
    const char *type;
    const char *data;
  } script[] = {
    /* 1 */ { "w.a", "{\"n\": 1}" },
    /* 2 */ { "w.a", "{\"n\": 2, \"gate\": \"handled\"}" },
    /* 3 */ { "w.a", "{\"n\": 20}" },
    /* 4 */ { "w.b", "{\"n\": 3}" },
    /* 5 */ { "w.b", "{}" },
    /* 6 */ { "w.a", "{}" },
    /* 7 */ { "w.a", "{\"n\": 4, \"fan\": \"handled\"}" },
    /* 8 */ { "w.a", "{\"n\": 5, \"side\": \"handled\"}" },
    /* 9 */ { "w.a", "{\"n\": 6, \"gate\": \"failed\"}" },
    /* 10 */ { "w.a", "{\"n\": 7, \"fan\": \"failed\"}" },
    /* 11 */ { "w.a.b", "{\"n\": 1}" },
    /* 12 */ { "w.a.b", "{\"tail\": \"failed\"}" },
    /* 13 */ { "w", "{\"n\": 1}" },
    /* 14 */ { "x.y", "{\"n\": 1}" },
    /* 15 */ { "x.y", "{\"n\": -1}" },
    /* 16 */ { "x.y", "{\"n\": 2, \"other\": \"handled\"}" },
    /* 17 */ { "x.y", "{\"n\": 3, \"other\": \"failed\"}" },
    /* 18 */ { "w.c", "{\"n\": 8, \"gate\": \"handled\", \"fan\": \"failed\"}" },
    /* 19 */ { "w.a", "{\"n\": 9, \"fan\": \"handled\", \"side\": \"failed\", \"tail\": \"failed\"}" },
    /* 20 */ { "w.a", "{\"n\": 11, \"side\": \"handled\"}" },
  };
  EvbHarness *harness = harness_new_or_fail ("{\"status_events\": false}");
  guint64 gate, fan, side, tail, other, failures;

  gate = add_route (harness, &(RouteArgs){ .pattern = "w.*", .label = "gate", .priority = 10 });
  fan = add_route (harness, &(RouteArgs){ .pattern = "w.*", .label = "fan", .mode = EVB_MODE_ASYNC, .priority = 5,
                                          .filter = "{\"n\": {\"lt\": 10}}" });
  side = add_route (harness, &(RouteArgs){ .pattern = "w.a", .label = "side", .priority = 5,
                                           .filter = "{\"n\": {\"exists\": true}}" });
  tail = add_route (harness, &(RouteArgs){ .pattern = "w.>", .label = "tail" });
  other = add_route (harness, &(RouteArgs){ .pattern = "x.*", .label = "other", .filter = "{\"n\": {\"ge\": 0}}" });
  failures = add_route (harness, &(RouteArgs){ .pattern = "evbus.failure", .label = "failures",
                                               .func = failure_watch_handler });

  for (guint i = 0; i < G_N_ELEMENTS (script); i++)
    emit_or_fail (harness, script[i].type, script[i].data);
  run_idle_or_fail (harness);

  /*                                  matched filtered handled completed failed */
  /* gate: w.<one>: 1-10, 18-20; handles 2 and 18; fails 9. */
  assert_route_counters (harness, gate, 13, 0, 2, 12, 1);
  /* fan: reached unless gate handled (2, 18); n < 10 filters 3, 5, 6, 20;
   * handles 7 and 19; fails 10. */
  assert_route_counters (harness, fan, 11, 4, 2, 6, 1);
  /* side: w.a reached at level 5: 1, 3, 6-10, 19, 20; no n in 6; handles 8
   * and 20; fails 19. */
  assert_route_counters (harness, side, 9, 1, 2, 7, 1);
  /* tail: w.>, reached unless a higher level handled (2, 7, 8, 18, 19, 20):
   * 1, 3-6, 9-12; fails 12. */
  assert_route_counters (harness, tail, 9, 0, 0, 8, 1);
  /* other: x.*: 14-17; n >= 0 filters 15; handles 16; fails 17. */
  assert_route_counters (harness, other, 4, 1, 1, 2, 1);
  /* One failure event each for 9 (gate), 10 (fan), 12 (tail), 17 (other),
   * 19 (side). */
  assert_route_counters (harness, failures, 5, 0, 0, 5, 0);

  assert_int_equal (bus_counter (harness, "dispatched"), 25);
  assert_int_equal (bus_counter (harness, "failures"), 5);
  /* 13 (no route) and 15 (filtered). */
  assert_int_equal (bus_counter (harness, "unhandled"), 2);
  assert_int_equal (bus_counter (harness, "jobs_completed"), 6);
  assert_int_equal (bus_counter (harness, "jobs_failed"), 1);

  evb_harness_free (harness);
}

/* ---- 11. routes tied to a GObject owner -------------------------------- */

static gboolean
route_is_gone (EvbHarness *harness, gpointer user_data)
{
  return !route_in_stats (harness, *(guint64 *) user_data);
}

/* DESIGN "Words" (owner) and "Lifecycle": while the owner lives the route
 * runs; once it is finalized the route is never called and is pruned. */
static void
test_owner_route_runs_while_owner_lives (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  GObject *owner = g_object_new (G_TYPE_OBJECT, NULL);
  guint64 owned = add_route (harness, &(RouteArgs){ .pattern = "o.x", .label = "owned", .priority = 1,
                                                    .owner = owner });
  guint64 plain = add_route (harness, &(RouteArgs){ .pattern = "o.x", .label = "plain" });

  emit_or_fail (harness, "o.x", "{\"tag\": \"1\"}");
  emit_or_fail (harness, "o.x", "{\"tag\": \"2\"}");
  run_idle_or_fail (harness);
  assert_trace ("owned:1 plain:1 owned:2 plain:2");
  assert_route_counters (harness, owned, 2, 0, 0, 2, 0);

  /* Finalized on the main thread while the bus is idle; the next event
   * comes before the loop has run at all. */
  g_object_unref (owner);
  emit_or_fail (harness, "o.x", "{\"tag\": \"3\"}");
  run_idle_or_fail (harness);
  assert_trace ("plain:3");
  run_until_or_fail (harness, route_is_gone, &owned, "owned route pruned");
  assert_route_counters (harness, plain, 3, 0, 0, 3, 0);

  emit_or_fail (harness, "o.x", "{\"tag\": \"4\"}");
  run_idle_or_fail (harness);
  assert_trace ("plain:4");

  evb_harness_free (harness);
}

/* A route whose owner died while no event came is pruned all the same, by
 * the main loop; it is never called afterwards. */
static void
test_owner_route_pruned_when_idle (void **state)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  GObject *owner = g_object_new (G_TYPE_OBJECT, NULL);
  guint64 owned = add_route (harness, &(RouteArgs){ .pattern = "o.x", .label = "owned", .owner = owner });
  guint64 other_owned;
  GObject *other_owner = g_object_new (G_TYPE_OBJECT, NULL);

  other_owned = add_route (harness, &(RouteArgs){ .pattern = "o.y", .label = "other", .owner = other_owner });
  emit_or_fail (harness, "o.x", "{\"tag\": \"1\"}");
  run_idle_or_fail (harness);
  assert_trace ("owned:1");

  g_object_unref (owner);
  run_until_or_fail (harness, route_is_gone, &owned, "owned route pruned");
  /* Only the dead owner's route went. */
  assert_true (route_in_stats (harness, other_owned));

  emit_or_fail (harness, "o.x", "{\"tag\": \"2\"}");
  emit_or_fail (harness, "o.y", "{\"tag\": \"3\"}");
  run_idle_or_fail (harness);
  assert_trace ("other:3");
  assert_int_equal (bus_counter (harness, "unhandled"), 1);

  /* A route whose owner outlives the bus is freed with the bus (and the
   * owner's weak reference taken back): valgrind/ASan check that. */
  evb_harness_free (harness);
  g_object_unref (other_owner);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup (test_priority_order_across_patterns, reset_trace),
    cmocka_unit_test_setup (test_handled_sync_stops_lower_levels, reset_trace),
    cmocka_unit_test_setup (test_continue_lets_next_level_run, reset_trace),
    cmocka_unit_test_setup (test_handled_async_stops_lower_levels, reset_trace),
    cmocka_unit_test_setup (test_async_level_runs_concurrently, reset_trace),
    cmocka_unit_test_setup (test_filter_route_sees_only_matching, reset_trace),
    cmocka_unit_test_setup (test_filter_missing_field_fails, reset_trace),
    cmocka_unit_test_setup (test_filter_operator_families, reset_trace),
    cmocka_unit_test_setup (test_filter_failure_origin_type, reset_trace),
    cmocka_unit_test_setup (test_wildcard_patterns, reset_trace),
    cmocka_unit_test_setup (test_snapshot_route_added_during_dispatch, reset_trace),
    cmocka_unit_test_setup (test_snapshot_route_removed_during_dispatch, reset_trace),
    cmocka_unit_test_setup (test_unhandled_counted_and_reemitted, reset_trace),
    cmocka_unit_test_setup (test_unhandled_not_reemitted_by_default, reset_trace),
    cmocka_unit_test_setup (test_sync_failure_chain_goes_on, reset_trace),
    cmocka_unit_test_setup (test_stop_on_failure_stops_lower_levels, reset_trace),
    cmocka_unit_test_setup (test_async_stop_on_failure_stops_lower_levels, reset_trace),
    cmocka_unit_test_setup (test_invalid_result_and_bare_failed, reset_trace),
    cmocka_unit_test_setup (test_async_invalid_result_and_bare_failed, reset_trace),
    cmocka_unit_test_setup (test_sync_timeout, reset_trace),
    cmocka_unit_test_setup (test_sync_timeout_stop_on_failure, reset_trace),
    cmocka_unit_test_setup (test_route_counters_scripted_run, reset_trace),
    cmocka_unit_test_setup (test_owner_route_runs_while_owner_lives, reset_trace),
    cmocka_unit_test_setup (test_owner_route_pruned_when_idle, reset_trace),
  };

  return cmocka_run_group_tests_name ("dispatch", tests, group_setup, group_teardown);
}
