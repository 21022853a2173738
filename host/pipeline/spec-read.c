/* Bus settings and route specs from JSON (spec-read.h). */
#include "spec-read.h"

#include <string.h>

#include "event.h"
#include "filter.h"
#include "json-text.h"
#include "plugin-abi.h"
#include "route-table.h"

const char *const evb_route_keys[] = {
  "on", "handler", "mode", "priority", "filter", "on_failure", "timeout_ms", "max_concurrency",
  "stop_on_failure", "params", NULL,
};

/* Indexed by EvbMode. */
static const char *const mode_names[] = { "sync", "async", NULL };

/* ---- settings ---- */

void
evb_settings_read (const EvbJsonReader *reader, json_t *object, const char *path, EvbBusSettings *settings)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  const EvbSettingInfo *infos = evb_bus_setting_infos ();

  if (!evb_json_read_object (reader, object, path))
    return;
  for (const EvbSettingInfo *info = infos; info->name != NULL; info++)
    g_ptr_array_add (names, (gpointer) info->name);
  g_ptr_array_add (names, NULL);
  evb_json_check_keys (reader, object, path, (const char *const *) names->pdata);

  for (const EvbSettingInfo *info = infos; info->name != NULL; info++)
    {
      json_t *value = json_object_get (object, info->name);
      guint *field = &G_STRUCT_MEMBER (guint, settings, info->offset);
      g_autofree char *member = NULL;
      gint choice;

      if (value == NULL)
        continue;
      member = evb_json_path_join (path, info->name);
      switch (info->kind)
        {
        case EVB_SETTING_COUNT:
          evb_json_read_count (reader, value, member, info->least, info->most, info->what, field);
          break;
        case EVB_SETTING_BOOLEAN:
          evb_json_read_bool (reader, value, member, (gboolean *) field);
          break;
        case EVB_SETTING_CHOICE:
          if ((choice = evb_json_read_choice (reader, value, member, info->choices)) >= 0)
            *field = (guint) choice;
          break;
        }
    }
}

/* ---- routes ---- */

void
evb_config_route_free (EvbConfigRoute *route)
{
  if (route == NULL)
    return;
  g_free (route->on);
  g_free (route->instance);
  g_free (route->handler);
  json_decref (route->filter);
  g_free (route->on_failure);
  json_decref (route->params);
  g_free (route->json_path);
  g_free (route);
}

/* Reports the message of a core rule that refused the value at @path. */
static gboolean
report_rule (const EvbJsonReader *reader, const char *path, const GError *error)
{
  evb_json_report (reader, EVB_PROBLEM_VALUE, path, "%s", error->message);
  return FALSE;
}

static gboolean
read_on (const EvbJsonReader *reader, json_t *value, const char *path, EvbConfigRoute *route)
{
  g_autoptr (GError) error = NULL;
  const char *pattern = evb_json_read_string (reader, value, path, FALSE);

  if (pattern == NULL)
    return FALSE;
  if (!evb_pattern_validate (pattern, &error))
    return report_rule (reader, path, error);
  route->on = g_strdup (pattern);
  return TRUE;
}

/* "instance.handler": exactly one dot between two names. */
static gboolean
read_handler (const EvbJsonReader *reader, json_t *value, const char *path, EvbConfigRoute *route)
{
  const char *text = evb_json_read_string (reader, value, path, FALSE);
  const char *dot;

  if (text == NULL)
    return FALSE;
  dot = strchr (text, '.');
  if (dot == NULL || !evb_name_is_valid_length (text, dot - text) || !evb_name_is_valid (dot + 1))
    {
      g_autofree char *quoted = evb_json_quote (text);

      evb_json_report (reader, EVB_PROBLEM_VALUE, path, "expected \"instance.handler\", got %s", quoted);
      return FALSE;
    }
  route->instance = g_strndup (text, dot - text);
  route->handler = g_strdup (dot + 1);
  return TRUE;
}

/* Compiled here only to find mistakes when the route is read; the bus
 * compiles its own copy when the route is added. */
static gboolean
read_filter (const EvbJsonReader *reader, json_t *value, const char *path, EvbConfigRoute *route)
{
  g_autoptr (EvbFilter) filter = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *error_path = NULL;

  if (!evb_json_read_object (reader, value, path))
    return FALSE;
  filter = evb_filter_compile (value, path, &error_path, &error);
  if (filter == NULL)
    {
      evb_json_report (reader, EVB_PROBLEM_VALUE, error_path ? error_path : path, "%s", error->message);
      return FALSE;
    }
  route->filter = json_incref (value);
  return TRUE;
}

static gboolean
read_on_failure (const EvbJsonReader *reader, json_t *value, const char *path, EvbConfigRoute *route)
{
  g_autoptr (GError) error = NULL;
  const char *type = evb_json_read_string (reader, value, path, FALSE);

  if (type == NULL)
    return FALSE;
  if (!evb_route_check_on_failure (type, &error))
    return report_rule (reader, path, error);
  route->on_failure = g_strdup (type);
  return TRUE;
}

EvbConfigRoute *
evb_route_read (const EvbJsonReader *reader, json_t *entry, const char *path, gboolean *complete)
{
  g_autoptr (EvbConfigRoute) route = g_new0 (EvbConfigRoute, 1);
  g_autofree char *max_concurrency_path = NULL;
  g_autoptr (GError) error = NULL;
  gboolean mode_known = TRUE;
  gboolean ok = TRUE;
  const char *key;
  json_t *value;

  route->mode = EVB_MODE_SYNC;
  route->json_path = g_strdup (path);

  *complete = FALSE;
  if (!evb_json_read_object (reader, entry, path))
    return NULL;
  evb_json_check_keys (reader, entry, path, evb_route_keys);
  if (!evb_json_require_key (reader, entry, path, "on"))
    ok = FALSE;
  if (!evb_json_require_key (reader, entry, path, "handler"))
    ok = FALSE;

  json_object_foreach (entry, key, value)
    {
      g_autofree char *member = evb_json_path_join (path, key);

      if (g_str_equal (key, "on"))
        ok &= read_on (reader, value, member, route);
      else if (g_str_equal (key, "handler"))
        ok &= read_handler (reader, value, member, route);
      else if (g_str_equal (key, "mode"))
        {
          gint mode = evb_json_read_choice (reader, value, member, mode_names);

          if (mode < 0)
            ok = mode_known = FALSE;
          else
            route->mode = (EvbMode) mode;
        }
      else if (g_str_equal (key, "priority"))
        ok &= evb_json_read_int (reader, value, member, &route->priority);
      else if (g_str_equal (key, "filter"))
        ok &= read_filter (reader, value, member, route);
      else if (g_str_equal (key, "on_failure"))
        ok &= read_on_failure (reader, value, member, route);
      else if (g_str_equal (key, "timeout_ms"))
        ok &= evb_json_read_count (reader, value, member, 0, G_MAXINT, NULL, &route->timeout_ms);
      else if (g_str_equal (key, "max_concurrency"))
        {
          ok &= evb_json_read_count (reader, value, member, 0, G_MAXINT, NULL, &route->max_concurrency);
          max_concurrency_path = g_steal_pointer (&member);
        }
      else if (g_str_equal (key, "stop_on_failure"))
        ok &= evb_json_read_bool (reader, value, member, &route->stop_on_failure);
      else if (g_str_equal (key, "params"))
        {
          /* Whatever the handler makes of it: an object, read by no one here. */
          if (evb_json_read_object (reader, value, member))
            route->params = json_incref (value);
          else
            ok = FALSE;
        }
    }

  /* Judged after the loop because "mode" may come after "max_concurrency"
   * in the object. */
  if (max_concurrency_path != NULL && mode_known &&
      !evb_route_check_concurrency (route->mode, route->max_concurrency, &error))
    {
      evb_json_report (reader, EVB_PROBLEM_SHAPE, max_concurrency_path, "%s", error->message);
      ok = FALSE;
    }
  *complete = ok;
  return g_steal_pointer (&route);
}

const char *
evb_route_error_key (const GError *error)
{
  /* The reader checked every other key; what only the bus can find is a
   * handler the plugin does not export. */
  if (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_NO_HANDLER))
    return "handler";
  /* ... and a mode its handler does not run in (whether the route wrote
   * "mode" or took the default, sync). */
  if (g_error_matches (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_HANDLER_MODE))
    return "mode";
  return NULL;
}

char *
evb_unknown_instance_problem (const char *instance, const char *const *declared)
{
  g_autofree char *quoted = evb_json_quote (instance);
  g_autofree char *listed = NULL;

  if (declared == NULL || declared[0] == NULL)
    return g_strdup_printf ("unknown plugin instance %s (no plugins are declared)", quoted);
  listed = g_strjoinv (", ", (char **) declared);
  return g_strdup_printf ("unknown plugin instance %s (declared: %s)", quoted, listed);
}

void
evb_config_route_to_spec (const EvbConfigRoute *route, EvbRouteSpec *spec)
{
  g_return_if_fail (route != NULL);
  g_return_if_fail (spec != NULL);

  spec->mode = route->mode;
  spec->pattern = route->on;
  spec->handler = route->handler;
  spec->priority = route->priority;
  spec->filter = route->filter;
  spec->on_failure = route->on_failure;
  spec->timeout_ms = route->timeout_ms;
  spec->max_concurrency = route->max_concurrency;
  spec->stop_on_failure = route->stop_on_failure;
  spec->params = route->params;
}
