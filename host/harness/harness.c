/* The test harness (sdk/evbus/harness.h) over a private bus. */
#include "evbus/harness.h"

#include "bus.h"
#include "event.h"
#include "plugin-module.h"
#include "route-table.h"
#include "spec-read.h"

G_DEFINE_QUARK (evb-harness-error-quark, evb_harness_error)

struct _EvbHarness {
  GMainContext *context;
  EvbBus *bus;
  GPtrArray *events;   /* EvbEvent, collected in dispatch order */
  GHashTable *receipts; /* event id (guint64 *) -> HarnessReceipt *, as they come */
};

/* A receipt as the harness keeps it: the struct and copies of its strings. */
typedef struct {
  EvbReceipt receipt;
  char *domain;
  char *message;
} HarnessReceipt;

static void
harness_receipt_free (gpointer data)
{
  HarnessReceipt *kept = data;

  g_free (kept->domain);
  g_free (kept->message);
  g_free (kept);
}

static void
collect (EvbBus *bus, const EvbEvent *event, gpointer user_data)
{
  EvbHarness *harness = user_data;

  g_ptr_array_add (harness->events, evb_event_ref (event));
}

static EvbHarness *
harness_new (const EvbBusSettings *settings)
{
  EvbHarness *harness = g_new0 (EvbHarness, 1);

  harness->context = g_main_context_new ();
  g_main_context_push_thread_default (harness->context);
  harness->bus = evb_bus_new (settings, harness->context);
  harness->events = g_ptr_array_new_with_free_func ((GDestroyNotify) evb_event_unref);
  harness->receipts = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, harness_receipt_free);
  evb_bus_set_observer (harness->bus, collect, harness);
  return harness;
}

EvbHarness *
evb_harness_new (void)
{
  EvbBusSettings settings;

  evb_bus_settings_init (&settings);
  settings.workers = 2;
  return harness_new (&settings);
}

static gboolean
parse_json_object (const char *text, const char *what, json_t **out, GError **error)
{
  json_error_t json_error;

  *out = NULL;
  if (text == NULL)
    return TRUE;
  *out = json_loads (text, JSON_REJECT_DUPLICATES, &json_error);
  if (*out == NULL)
    {
      g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, "%s: %d:%d: %s", what, json_error.line,
                   json_error.column, json_error.text);
      return FALSE;
    }
  if (!json_is_object (*out))
    {
      g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, "%s: must be a JSON object", what);
      g_clear_pointer (out, json_decref);
      return FALSE;
    }
  return TRUE;
}

/* Collects the readers' problems as "PATH: message" lines: the words of
 * `evbus check`, without the file position and the config file's prefix
 * ("host.", "routes[N]."). */
static void
collect_problem (EvbProblemKind kind, const char *path, const char *message, gpointer user_data)
{
  GString *text = user_data;

  if (text->len > 0)
    g_string_append_c (text, '\n');
  if (*path != '\0')
    g_string_append_printf (text, "%s: ", path);
  g_string_append (text, message);
}

EvbHarness *
evb_harness_new_with_settings (const char *settings_json, GError **error)
{
  g_autoptr (GString) problems = g_string_new (NULL);
  EvbJsonReader reader = { collect_problem, problems };
  EvbBusSettings settings;
  json_t *root;

  if (!parse_json_object (settings_json, "harness settings", &root, error))
    return NULL;
  evb_bus_settings_init (&settings);
  settings.workers = 2;
  if (root != NULL)
    evb_settings_read (&reader, root, "", &settings);
  json_decref (root);
  if (problems->len > 0)
    {
      g_set_error_literal (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, problems->str);
      return NULL;
    }
  return harness_new (&settings);
}

void
evb_harness_free (EvbHarness *harness)
{
  if (harness == NULL)
    return;
  evb_bus_free (harness->bus);
  g_ptr_array_unref (harness->events);
  /* Let sources the bus left behind (prune notices, receipts) run. */
  while (g_main_context_iteration (harness->context, FALSE))
    ;
  g_hash_table_unref (harness->receipts);
  g_main_context_pop_thread_default (harness->context);
  g_main_context_unref (harness->context);
  g_free (harness);
}

void
evb_harness_set_checking (EvbHarness *harness)
{
  evb_bus_set_checking (harness->bus, TRUE);
}

gboolean
evb_harness_add_plugin_file (EvbHarness *harness, const char *instance, const char *path, const char *config_json,
                             GError **error)
{
  json_t *config;
  EvbPluginInstance *loaded;

  if (!parse_json_object (config_json, "plugin config", &config, error))
    return FALSE;
  loaded = evb_plugin_load (harness->bus, instance, path, config, error);
  json_decref (config);
  return loaded != NULL;
}

gboolean
evb_harness_add_plugin (EvbHarness *harness, const char *instance, const EvbPluginDescriptor *descriptor,
                        const char *config_json, GError **error)
{
  json_t *config;
  EvbPluginInstance *added;

  if (!parse_json_object (config_json, "plugin config", &config, error))
    return FALSE;
  added = evb_bus_add_plugin (harness->bus, instance, descriptor, config, error);
  json_decref (config);
  return added != NULL;
}

EvbPlugin *
evb_harness_get_plugin (EvbHarness *harness, const char *instance)
{
  EvbPluginInstance *found = evb_bus_find_plugin (harness->bus, instance);

  return found != NULL ? evb_plugin_instance_get_handle (found) : NULL;
}

guint64
evb_harness_add_route (EvbHarness *harness, const char *pattern, const char *handler, const char *options_json,
                       GError **error)
{
  g_autoptr (GString) problems = g_string_new (NULL);
  EvbJsonReader reader = { collect_problem, problems };
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (EvbConfigRoute) route = NULL;
  EvbPluginInstance *instance = NULL;
  g_autoptr (GError) add_error = NULL;
  gboolean complete = FALSE;
  json_t *entry;
  guint64 id;

  if (!parse_json_object (options_json, "route options", &entry, error))
    return 0;
  if (entry == NULL)
    entry = json_object ();
  /* The same route object a config file holds, read by the same reader. */
  if (json_object_get (entry, "on") != NULL || json_object_get (entry, "handler") != NULL)
    g_string_append (problems, "route options: \"on\" and \"handler\" are the pattern and handler arguments");
  else
    {
      json_object_set_new (entry, "on", json_string (pattern != NULL ? pattern : ""));
      json_object_set_new (entry, "handler", json_string (handler != NULL ? handler : ""));
      route = evb_route_read (&reader, entry, "", &complete);
    }
  json_decref (entry);

  if (route != NULL && route->instance != NULL &&
      (instance = evb_bus_find_plugin (harness->bus, route->instance)) == NULL)
    {
      g_auto (GStrv) declared = evb_bus_plugin_names (harness->bus);
      g_autofree char *problem = evb_unknown_instance_problem (route->instance, (const char *const *) declared);

      collect_problem (EVB_PROBLEM_VALUE, "handler", problem, problems);
    }
  if (problems->len > 0 || !complete || instance == NULL)
    {
      g_set_error_literal (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, problems->str);
      return 0;
    }
  evb_config_route_to_spec (route, &spec);
  id = evb_bus_add_route (harness->bus, instance, &spec, NULL, &add_error);
  if (id == 0)
    {
      const char *key = evb_route_error_key (add_error);

      if (key != NULL)
        g_prefix_error (&add_error, "%s: ", key);
      g_propagate_error (error, g_steal_pointer (&add_error));
    }
  return id;
}

guint64
evb_harness_add_route_spec (EvbHarness *harness, const EvbRouteSpec *spec, GObject *owner, GError **error)
{
  return evb_bus_add_route (harness->bus, NULL, spec, owner, error);
}

gboolean
evb_harness_remove_route (EvbHarness *harness, guint64 route_id)
{
  return evb_bus_remove_route (harness->bus, route_id);
}

gboolean
evb_harness_emit_json (EvbHarness *harness, const char *type, json_t *data, GError **error)
{
  return evb_bus_emit (harness->bus, type, "harness", data, error);
}

gboolean
evb_harness_emit (EvbHarness *harness, const char *type, const char *data_json, GError **error)
{
  json_t *data;

  if (!parse_json_object (data_json, "event data", &data, error))
    return FALSE;
  return evb_harness_emit_json (harness, type, data, error);
}

guint64
evb_harness_emit_full (EvbHarness *harness, const char *type, const char *data_json, const EvbEmitOptions *options,
                       GError **error)
{
  json_t *data;

  if (!parse_json_object (data_json, "event data", &data, error))
    return 0;
  return evb_bus_emit_full (harness->bus, type, "harness", data, options, error);
}

static void
keep_receipt (const EvbReceipt *receipt, gpointer user_data)
{
  EvbHarness *harness = user_data;
  HarnessReceipt *kept = g_new0 (HarnessReceipt, 1);

  kept->receipt = *receipt;
  kept->domain = g_strdup (receipt->error_domain);
  kept->message = g_strdup (receipt->error_message);
  kept->receipt.error_domain = kept->domain;
  kept->receipt.error_message = kept->message;
  g_hash_table_replace (harness->receipts, g_memdup2 (&receipt->event_id, sizeof (guint64)), kept);
}

guint64
evb_harness_emit_with_receipt (EvbHarness *harness, const char *type, const char *data_json, GError **error)
{
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;

  options.receipt = keep_receipt;
  options.receipt_data = harness;
  return evb_harness_emit_full (harness, type, data_json, &options, error);
}

const EvbReceipt *
evb_harness_get_receipt (EvbHarness *harness, guint64 event_id)
{
  HarnessReceipt *kept = g_hash_table_lookup (harness->receipts, &event_id);

  return kept != NULL ? &kept->receipt : NULL;
}

static gboolean
receipt_came (EvbHarness *harness, gpointer user_data)
{
  return g_hash_table_contains (harness->receipts, user_data);
}

gboolean
evb_harness_run_until_receipt (EvbHarness *harness, guint64 event_id, guint timeout_ms, GError **error)
{
  return evb_harness_run_until (harness, receipt_came, &event_id, timeout_ms, error);
}

const EvbEvent *
evb_harness_find_id (EvbHarness *harness, guint64 event_id)
{
  for (guint i = 0; i < harness->events->len; i++)
    {
      EvbEvent *event = g_ptr_array_index (harness->events, i);

      if (event->id == event_id)
        return event;
    }
  return NULL;
}

char *
evb_harness_trace_of (EvbHarness *harness, guint64 event_id)
{
  const EvbEvent *root = evb_harness_find_id (harness, event_id);
  GString *types = g_string_new (NULL);

  for (guint i = 0; root != NULL && i < harness->events->len; i++)
    {
      EvbEvent *event = g_ptr_array_index (harness->events, i);

      if (event->trace_id_high == root->trace_id_high && event->trace_id_low == root->trace_id_low)
        g_string_append_printf (types, "%s%s", types->len > 0 ? " " : "", event->type);
    }
  return g_string_free (types, FALSE);
}

static gboolean
keep_ticking (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

gboolean
evb_harness_run_until (EvbHarness *harness, EvbHarnessCondition condition, gpointer user_data, guint timeout_ms,
                       GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  GSource *tick = g_timeout_source_new (MAX (1u, MIN (timeout_ms / 20, 50u)));
  gboolean reached;

  /* The tick only bounds each blocking iteration so the deadline is seen. */
  g_source_set_callback (tick, keep_ticking, NULL, NULL);
  g_source_attach (tick, harness->context);
  while (!(reached = condition (harness, user_data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (harness->context, TRUE);
  g_source_destroy (tick);
  g_source_unref (tick);
  if (!reached)
    g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_TIMEOUT,
                 "condition not reached within %u ms (%u events collected)", timeout_ms, harness->events->len);
  return reached;
}

void
evb_harness_set_clock (EvbHarness *harness, gint64 now_us)
{
  evb_bus_set_fake_clock (harness->bus, now_us);
}

/* Bounds the iterations of one advance: a source that is always ready
 * (a 0 ms timeout re-armed forever) must not hang the test. */
#define ADVANCE_MAX_ITERATIONS 100000

void
evb_harness_advance_clock (EvbHarness *harness, gint64 ms)
{
  evb_bus_advance_clock (harness->bus, ms);
  for (guint i = 0; i < ADVANCE_MAX_ITERATIONS && g_main_context_iteration (harness->context, FALSE); i++)
    ;
}

void
evb_harness_jump_clock (EvbHarness *harness, gint64 ms)
{
  evb_bus_jump_clock (harness->bus, ms);
  for (guint i = 0; i < ADVANCE_MAX_ITERATIONS && g_main_context_iteration (harness->context, FALSE); i++)
    ;
}

gint64
evb_harness_now (EvbHarness *harness)
{
  return evb_bus_now (harness->bus);
}

static gboolean
bus_is_idle (EvbHarness *harness, gpointer user_data)
{
  return evb_bus_is_idle (harness->bus);
}

gboolean
evb_harness_run_until_idle (EvbHarness *harness, guint timeout_ms, GError **error)
{
  return evb_harness_run_until (harness, bus_is_idle, NULL, timeout_ms, error);
}

typedef struct {
  const char *pattern;
  guint count;
} CountGoal;

static gboolean
count_reached (EvbHarness *harness, gpointer user_data)
{
  CountGoal *goal = user_data;

  return evb_harness_count (harness, goal->pattern) >= goal->count;
}

gboolean
evb_harness_run_until_count (EvbHarness *harness, const char *pattern, guint count, guint timeout_ms,
                             GError **error)
{
  CountGoal goal = { pattern, count };

  return evb_harness_run_until (harness, count_reached, &goal, timeout_ms, error);
}

void
evb_harness_shutdown (EvbHarness *harness, gint grace_ms)
{
  evb_bus_shutdown (harness->bus, grace_ms);
}

guint
evb_harness_n_events (EvbHarness *harness)
{
  return harness->events->len;
}

const EvbEvent *
evb_harness_event (EvbHarness *harness, guint index)
{
  return index < harness->events->len ? g_ptr_array_index (harness->events, index) : NULL;
}

guint
evb_harness_count (EvbHarness *harness, const char *pattern)
{
  guint count = 0;

  for (guint i = 0; i < harness->events->len; i++)
    if (evb_pattern_match (pattern, ((EvbEvent *) g_ptr_array_index (harness->events, i))->type))
      count++;
  return count;
}

const EvbEvent *
evb_harness_find (EvbHarness *harness, const char *pattern, guint nth)
{
  for (guint i = 0; i < harness->events->len; i++)
    {
      EvbEvent *event = g_ptr_array_index (harness->events, i);

      if (evb_pattern_match (pattern, event->type) && nth-- == 0)
        return event;
    }
  return NULL;
}

char *
evb_harness_trace (EvbHarness *harness, const char *pattern)
{
  GString *trace = g_string_new (NULL);

  for (guint i = 0; i < harness->events->len; i++)
    {
      EvbEvent *event = g_ptr_array_index (harness->events, i);

      if (evb_pattern_match (pattern, event->type))
        g_string_append_printf (trace, "%s%s", trace->len > 0 ? " " : "", event->type);
    }
  return g_string_free (trace, FALSE);
}

void
evb_harness_clear (EvbHarness *harness)
{
  g_ptr_array_set_size (harness->events, 0);
}

json_t *
evb_harness_stats (EvbHarness *harness)
{
  return evb_bus_stats (harness->bus);
}

char *
evb_harness_summary (EvbHarness *harness)
{
  return evb_bus_summary (harness->bus);
}
