/* Routes: validation, the id registry, removal, and weak owners.
 *
 * A route tied to an owner holds only a GWeakRef.  Dispatch checks it before
 * every call (a dead owner is never called), and a weak notify posts the
 * route's removal to the main loop so that a route whose owner died while
 * no event came is not kept forever either. */
#include "bus-private.h"

#include "json-text.h"
#include "plugin-abi.h"
#include "tsan.h"

/* Shared by a route and the weak notify on its owner: whichever of the two
 * goes last frees it.  The bus link lets a notify that fires after the bus
 * is gone do nothing. */
struct _EvbOwnerWatch {
  gint ref_count;
  guint64 route_id;
  EvbBusLink *link;
};

static void
owner_watch_unref (EvbOwnerWatch *watch)
{
  if (!g_atomic_int_dec_and_test (&watch->ref_count))
    return;
  evb_bus_link_unref (watch->link);
  g_free (watch);
}

typedef struct {
  EvbBusLink *link;
  guint64 route_id;
} PruneRequest;

static gboolean
prune_on_main (gpointer data)
{
  PruneRequest *request = data;
  EvbBus *bus;

  EVB_TSAN_ACQUIRE (request); /* attached from the finalizing thread */
  bus = evb_bus_link_get (request->link);
  if (bus != NULL)
    evb_bus_remove_route (bus, request->route_id);
  return G_SOURCE_REMOVE;
}

static void
prune_request_free (gpointer data)
{
  PruneRequest *request = data;

  evb_bus_link_count_prune (request->link, -1);
  evb_bus_link_unref (request->link);
  g_free (request);
}

/* Runs on whatever thread drops the owner's last reference. */
static void
owner_finalized (gpointer data, GObject *where_the_object_was)
{
  EvbOwnerWatch *watch = data;
  GMainContext *context = evb_bus_link_context (watch->link);

  if (context != NULL)
    {
      PruneRequest *request = g_new (PruneRequest, 1);
      GSource *idle = g_idle_source_new ();

      request->link = evb_bus_link_ref (watch->link);
      request->route_id = watch->route_id;
      evb_bus_link_count_prune (request->link, 1);
      /* At the inbox's priority, not idle's: under a flood the inbox is
       * always ready, and the route (and what it holds) would stay until
       * the flood ends. */
      g_source_set_priority (idle, G_PRIORITY_DEFAULT);
      g_source_set_callback (idle, prune_on_main, request, prune_request_free);
      EVB_TSAN_RELEASE (request);
      g_source_set_static_name (idle, "evbus owner prune");
      g_source_attach (idle, context);
      g_source_unref (idle);
      g_main_context_unref (context);
    }
  owner_watch_unref (watch);
}

EvbRoute *
evb_route_ref (EvbRoute *route)
{
  g_atomic_int_inc (&route->ref_count);
  return route;
}

void
evb_route_unref (EvbRoute *route)
{
  if (!g_atomic_int_dec_and_test (&route->ref_count))
    return;
  if (route->has_owner)
    g_weak_ref_clear (&route->owner);
  if (route->owner_watch != NULL)
    owner_watch_unref (route->owner_watch);
  g_clear_pointer (&route->filter, evb_filter_free);
  g_clear_pointer (&route->report_fields, json_decref);
  g_clear_pointer (&route->report_type, json_decref);
  g_clear_pointer (&route->plugin, evb_plugin_instance_unref);
  json_decref (route->params);
  g_free (route->pattern);
  g_free (route->label);
  g_free (route->handler);
  g_free (route->on_failure);
  g_free (route);
}

gboolean
evb_route_check_concurrency (EvbMode mode, guint max_concurrency, GError **error)
{
  /* Sync handlers run one at a time on the main thread: a limit would be
   * silently meaningless, so say so. */
  if (max_concurrency == 0 || mode == EVB_MODE_ASYNC)
    return TRUE;
  g_set_error_literal (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_ROUTE,
                       "only async routes take max_concurrency (add \"mode\": \"async\")");
  return FALSE;
}

gboolean
evb_route_check_on_failure (const char *type, GError **error)
{
  return evb_event_type_validate (type, error) && evb_event_type_check_unreserved (type, error);
}

/* A 1.0 plugin's EvbRouteSpec ends at stop_on_failure; 1.1 appended params. */
#define ROUTE_SPEC_1_0_SIZE (G_STRUCT_OFFSET (EvbRouteSpec, stop_on_failure) + sizeof (gboolean))
#define ROUTE_SPEC_HAS(spec, field) \
  ((spec)->struct_size >= G_STRUCT_OFFSET (EvbRouteSpec, field) + sizeof ((spec)->field))

static gboolean
resolve_handler (EvbPluginInstance *plugin, const EvbRouteSpec *spec, EvbRoute *route, GError **error)
{
  if (spec->func != NULL)
    {
      route->func = spec->func;
      route->handler = g_strdup (spec->handler != NULL ? spec->handler : "func");
    }
  else if (spec->handler == NULL)
    {
      g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_ROUTE,
                   "route on \"%s\" names no handler: set handler or func", spec->pattern);
      return FALSE;
    }
  else if (plugin == NULL)
    {
      g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_ROUTE,
                   "route on \"%s\": handler \"%s\" given by name without a plugin", spec->pattern,
                   spec->handler);
      return FALSE;
    }
  else
    {
      route->func = evb_plugin_instance_find_handler (plugin, spec->handler, error);
      if (route->func == NULL)
        return FALSE;
      route->handler = g_strdup (spec->handler);
    }
  route->label = plugin != NULL ? g_strdup_printf ("%s.%s", plugin->name, route->handler)
                                : g_strdup (route->handler);
  return TRUE;
}

/* A handler that declares a mode (EvbHandlerInfo.mode, ABI 1.1) takes
 * routes of that mode only. */
static gboolean
check_handler_mode (EvbPluginInstance *plugin, const EvbRouteSpec *spec, GError **error)
{
  const EvbHandlerInfo *info = evb_plugin_descriptor_find_handler (plugin->descriptor, spec->handler);
  EvbHandlerMode declared = info != NULL ? evb_handler_get_mode (plugin->descriptor, info) : EVB_HANDLER_MODE_EITHER;
  EvbHandlerMode wanted = spec->mode == EVB_MODE_ASYNC ? EVB_HANDLER_MODE_ASYNC : EVB_HANDLER_MODE_SYNC;

  if (declared == EVB_HANDLER_MODE_EITHER || declared == wanted)
    return TRUE;
  g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_HANDLER_MODE,
               "handler \"%s.%s\" is declared %s, the route is %s: give the route \"mode\": \"%s\"", plugin->name,
               spec->handler, evb_handler_mode_to_string (declared), evb_handler_mode_to_string (wanted),
               evb_handler_mode_to_string (declared));
  return FALSE;
}

/* `route on "PATTERN": KEY: message`, keeping the rule's error code. */
static EvbRoute *
fail_on_key (GError **error, const EvbRouteSpec *spec, const char *key, const GError *rule_error)
{
  g_set_error (error, EVB_BUS_ERROR, rule_error->code, "route on \"%s\": %s: %s", spec->pattern, key,
               rule_error->message);
  return NULL;
}

static EvbRoute *
route_new_from_spec (EvbPluginInstance *plugin, const EvbRouteSpec *spec, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *error_path = NULL;
  json_t *params = NULL;
  EvbRoute *route;

  /* A 1.0 plugin's spec ends at stop_on_failure. */
  if (spec->struct_size < ROUTE_SPEC_1_0_SIZE)
    {
      g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_ROUTE,
                   "EvbRouteSpec.struct_size is %u, expected at least %u: initialise specs with EVB_ROUTE_SPEC_INIT",
                   spec->struct_size, (guint) ROUTE_SPEC_1_0_SIZE);
      return NULL;
    }
  if (ROUTE_SPEC_HAS (spec, params))
    params = spec->params;
  if (!evb_pattern_validate (spec->pattern, &local_error))
    {
      g_set_error_literal (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_TYPE, local_error->message);
      return NULL;
    }
  if (spec->mode != EVB_MODE_SYNC && spec->mode != EVB_MODE_ASYNC)
    {
      g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_ROUTE, "route on \"%s\": unknown mode %d",
                   spec->pattern, (int) spec->mode);
      return NULL;
    }
  if (!evb_route_check_concurrency (spec->mode, spec->max_concurrency, &local_error))
    return fail_on_key (error, spec, "max_concurrency", local_error);
  if (spec->on_failure != NULL && !evb_route_check_on_failure (spec->on_failure, &local_error))
    return fail_on_key (error, spec, "on_failure", local_error);
  if (params != NULL && !json_is_object (params))
    {
      g_autofree char *got = evb_json_describe (params);

      g_set_error (&local_error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_ROUTE, "expected an object, got %s", got);
      return fail_on_key (error, spec, "params", local_error);
    }

  route = g_new0 (EvbRoute, 1);
  route->ref_count = 1;
  route->pattern = g_strdup (spec->pattern);
  route->user_data = spec->user_data;
  route->mode = spec->mode;
  route->priority = spec->priority;
  route->on_failure = g_strdup (spec->on_failure);
  route->timeout_ms = spec->timeout_ms;
  route->max_concurrency = spec->max_concurrency;
  route->stop_on_failure = spec->stop_on_failure;
  g_queue_init (&route->held);
  if (plugin != NULL)
    route->plugin = evb_plugin_instance_ref (plugin);
  if (!resolve_handler (plugin, spec, route, error))
    goto fail;
  if (spec->func == NULL && !check_handler_mode (plugin, spec, error))
    goto fail;
  /* A copy, read-only: handlers on several workers read it at once. */
  if (params != NULL)
    route->params = json_deep_copy (params);
  if (spec->filter != NULL)
    {
      route->filter = evb_filter_compile (spec->filter, "filter", &error_path, &local_error);
      if (route->filter == NULL)
        {
          g_set_error (error, local_error->domain, local_error->code, "%s: %s",
                       error_path != NULL ? error_path : "filter", local_error->message);
          goto fail;
        }
    }
  return route;

fail:
  evb_route_unref (route);
  return NULL;
}

guint64
evb_bus_add_route (EvbBus *bus, EvbPluginInstance *plugin, const EvbRouteSpec *spec, GObject *owner,
                   GError **error)
{
  EvbRoute *route = route_new_from_spec (plugin, spec, error);
  guint64 id;

  if (route == NULL)
    return 0;
  if (owner != NULL)
    {
      g_return_val_if_fail (G_IS_OBJECT (owner), 0);
      route->has_owner = TRUE;
      g_weak_ref_init (&route->owner, owner);
    }

  g_mutex_lock (&bus->routes_lock);
  id = route->id = ++bus->next_route_id;
  g_mutex_unlock (&bus->routes_lock);

  /* The watch is in place before the route is visible, so a remove from
   * another thread always finds it. */
  if (owner != NULL)
    {
      EvbOwnerWatch *watch = g_new (EvbOwnerWatch, 1);

      watch->ref_count = 2; /* the route's share and the notify's share */
      watch->route_id = id;
      watch->link = evb_bus_link_ref (bus->link);
      route->owner_watch = watch;
      g_object_weak_ref (owner, owner_finalized, watch);
    }

  g_mutex_lock (&bus->routes_lock);
  g_hash_table_insert (bus->routes, &route->id, route);
  evb_route_table_add (bus->table, route->pattern, route, route->priority, ++bus->next_route_seq);
  g_mutex_unlock (&bus->routes_lock);
  return id;
}

typedef struct {
  EvbBusLink *link;
  EvbRoute *route;
} CancelRequest;

static gboolean
cancel_request_run (gpointer data)
{
  CancelRequest *request = data;
  EvbBus *bus;

  EVB_TSAN_ACQUIRE (request); /* invoked from another thread */
  bus = evb_bus_link_get (request->link);
  if (bus != NULL)
    evb_route_cancel_jobs (bus, request->route);
  return G_SOURCE_REMOVE;
}

static void
cancel_request_free (gpointer data)
{
  CancelRequest *request = data;

  evb_bus_link_unref (request->link);
  evb_route_unref (request->route);
  g_free (request);
}

gboolean
evb_bus_remove_route (EvbBus *bus, guint64 route_id)
{
  EvbRoute *route = NULL;
  GObject *owner;

  g_mutex_lock (&bus->routes_lock);
  if (g_hash_table_steal_extended (bus->routes, &route_id, NULL, (gpointer *) &route))
    evb_route_table_remove (bus->table, route->pattern, route);
  g_mutex_unlock (&bus->routes_lock);
  if (route == NULL)
    return FALSE;

  g_atomic_int_set (&route->removed, 1);
  if (evb_bus_is_main_thread (bus))
    evb_route_cancel_jobs (bus, route);
  else
    {
      CancelRequest *request = g_new (CancelRequest, 1);

      request->link = evb_bus_link_ref (bus->link);
      request->route = evb_route_ref (route);
      EVB_TSAN_RELEASE (request);
      g_main_context_invoke_full (bus->context, G_PRIORITY_DEFAULT, cancel_request_run, request,
                                  cancel_request_free);
    }

  /* If the owner is still alive we hold it now and it cannot be disposed
   * under us, so the notify can be taken back; if it is already dying, its
   * notify will run (or ran) and finds no route. */
  if (route->owner_watch != NULL && (owner = g_weak_ref_get (&route->owner)) != NULL)
    {
      g_object_weak_unref (owner, owner_finalized, route->owner_watch);
      owner_watch_unref (route->owner_watch);
      g_object_unref (owner);
    }
  evb_route_unref (route);
  return TRUE;
}

void
evb_bus_prune_route (EvbBus *bus, EvbRoute *route)
{
  evb_bus_remove_route (bus, route->id);
}

void
evb_bus_remove_plugin_routes (EvbBus *bus, EvbPluginInstance *plugin)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  GHashTableIter iter;
  gpointer value;

  g_mutex_lock (&bus->routes_lock);
  g_hash_table_iter_init (&iter, bus->routes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((EvbRoute *) value)->plugin == plugin)
      g_array_append_val (ids, ((EvbRoute *) value)->id);
  g_mutex_unlock (&bus->routes_lock);
  for (guint i = 0; i < ids->len; i++)
    evb_bus_remove_route (bus, g_array_index (ids, guint64, i));
}
