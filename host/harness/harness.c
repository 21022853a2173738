/* The test harness (sdk/evbus/harness.h) over a private bus. */
#include "evbus/harness.h"

#include <string.h>

#include "bus-private.h"
#include "plugin-loader.h"

G_DEFINE_QUARK (evb-harness-error-quark, evb_harness_error)

struct _EvbHarness {
  GMainContext *context;
  EvbBus *bus;
  GPtrArray *events; /* EvbEvent, collected in dispatch order */
};

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

static gboolean
read_uint (json_t *value, const char *key, guint *out, GError **error)
{
  if (!json_is_integer (value) || json_integer_value (value) < 0 || json_integer_value (value) > G_MAXINT)
    {
      g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, "%s: expected a non-negative integer", key);
      return FALSE;
    }
  *out = (guint) json_integer_value (value);
  return TRUE;
}

static gboolean
read_bool (json_t *value, const char *key, gboolean *out, GError **error)
{
  if (!json_is_boolean (value))
    {
      g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, "%s: expected a boolean", key);
      return FALSE;
    }
  *out = json_is_true (value);
  return TRUE;
}

EvbHarness *
evb_harness_new_with_settings (const char *settings_json, GError **error)
{
  json_t *root;
  EvbBusSettings settings;
  const char *key;
  json_t *value;
  gboolean ok = TRUE;

  if (!parse_json_object (settings_json, "harness settings", &root, error))
    return NULL;
  evb_bus_settings_init (&settings);
  settings.workers = 2;
  if (root != NULL)
    json_object_foreach (root, key, value)
      {
        if (strcmp (key, "workers") == 0)
          ok = read_uint (value, key, &settings.workers, error);
        else if (strcmp (key, "inbox_limit") == 0)
          ok = read_uint (value, key, &settings.inbox_limit, error);
        else if (strcmp (key, "grace_ms") == 0)
          ok = read_uint (value, key, &settings.grace_ms, error);
        else if (strcmp (key, "slice_events") == 0)
          ok = read_uint (value, key, &settings.slice_events, error);
        else if (strcmp (key, "emit_unhandled") == 0)
          ok = read_bool (value, key, &settings.emit_unhandled, error);
        else if (strcmp (key, "status_events") == 0)
          ok = read_bool (value, key, &settings.status_events, error);
        else if (strcmp (key, "max_event_bytes") == 0)
          ok = read_uint (value, key, &settings.max_event_bytes, error);
        else if (strcmp (key, "overflow") == 0)
          {
            ok = evb_overflow_policy_from_string (json_string_value (value), &settings.overflow);
            if (!ok)
              g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID,
                           "overflow: expected \"block\", \"reject\" or \"drop-oldest\"");
          }
        else
          {
            ok = FALSE;
            g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, "unknown setting \"%s\"", key);
          }
        if (!ok)
          break;
      }
  json_decref (root);
  return ok ? harness_new (&settings) : NULL;
}

void
evb_harness_free (EvbHarness *harness)
{
  if (harness == NULL)
    return;
  evb_bus_free (harness->bus);
  g_ptr_array_unref (harness->events);
  /* Let sources the bus left behind (prune notices) run their destroy. */
  while (g_main_context_iteration (harness->context, FALSE))
    ;
  g_main_context_pop_thread_default (harness->context);
  g_main_context_unref (harness->context);
  g_free (harness);
}

gboolean
evb_harness_add_plugin_file (EvbHarness *harness, const char *instance, const char *path, const char *config_json,
                             GError **error)
{
  json_t *config;
  EvbPluginInstance *loaded;

  if (!parse_json_object (config_json, "plugin config", &config, error))
    return FALSE;
  loaded = evb_bus_load_plugin (harness->bus, instance, path, config, error);
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

  return found != NULL ? &found->handle : NULL;
}

static gboolean
route_options_apply (json_t *options, EvbRouteSpec *spec, GError **error)
{
  const char *key;
  json_t *value;
  gboolean ok = TRUE;

  json_object_foreach (options, key, value)
    {
      if (strcmp (key, "mode") == 0)
        {
          const char *mode = json_string_value (value);

          if (g_strcmp0 (mode, "sync") == 0)
            spec->mode = EVB_MODE_SYNC;
          else if (g_strcmp0 (mode, "async") == 0)
            spec->mode = EVB_MODE_ASYNC;
          else
            {
              ok = FALSE;
              g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, "mode: expected \"sync\" or \"async\"");
            }
        }
      else if (strcmp (key, "priority") == 0)
        {
          ok = json_is_integer (value);
          if (ok)
            spec->priority = (gint) json_integer_value (value);
          else
            g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, "priority: expected an integer");
        }
      else if (strcmp (key, "filter") == 0)
        spec->filter = value;
      else if (strcmp (key, "on_failure") == 0)
        {
          ok = json_is_string (value);
          if (ok)
            spec->on_failure = json_string_value (value);
          else
            g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, "on_failure: expected a string");
        }
      else if (strcmp (key, "timeout_ms") == 0)
        ok = read_uint (value, key, &spec->timeout_ms, error);
      else if (strcmp (key, "max_concurrency") == 0)
        ok = read_uint (value, key, &spec->max_concurrency, error);
      else if (strcmp (key, "stop_on_failure") == 0)
        ok = read_bool (value, key, &spec->stop_on_failure, error);
      else
        {
          ok = FALSE;
          g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, "unknown route option \"%s\"", key);
        }
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

guint64
evb_harness_add_route (EvbHarness *harness, const char *pattern, const char *handler, const char *options_json,
                       GError **error)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autofree char *instance_name = NULL;
  const char *dot = handler != NULL ? strchr (handler, '.') : NULL;
  EvbPluginInstance *instance;
  json_t *options;
  guint64 id = 0;

  if (dot == NULL || dot == handler || dot[1] == '\0')
    {
      g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID,
                   "handler \"%s\": expected \"instance.handler\"", handler != NULL ? handler : "");
      return 0;
    }
  instance_name = g_strndup (handler, (gsize) (dot - handler));
  instance = evb_bus_find_plugin (harness->bus, instance_name);
  if (instance == NULL)
    {
      g_set_error (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID, "handler \"%s\": no plugin instance \"%s\"",
                   handler, instance_name);
      return 0;
    }
  if (!parse_json_object (options_json, "route options", &options, error))
    return 0;
  spec.pattern = pattern;
  spec.handler = dot + 1;
  if (options == NULL || route_options_apply (options, &spec, error))
    id = evb_bus_add_route (harness->bus, instance, &spec, NULL, error);
  json_decref (options);
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
