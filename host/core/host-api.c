/* The function table plugins reach the host through (sdk/evbus/plugin.h). */
#include "bus-private.h"

#include "json-size.h"
#include "plugin-abi.h"
#include "running.h"

static EvbPluginInstance *
instance_of (EvbPlugin *plugin)
{
  return (EvbPluginInstance *) plugin;
}

/* The one check of every entry plugin.h says is "Main thread" (issue 15,
 * finding 8): they touch main-loop state without a lock (the instance's
 * source ids, the live jobs list, the trace ring), so a call from a worker
 * or a plugin's own thread is a race, not a slow path.  Refused with a
 * critical naming the plugin and the call; the caller returns its failure
 * value.  @error, when not NULL, gets the same words. */
static gboolean
on_main_thread (EvbPlugin *plugin, const char *call, GError **error)
{
  EvbPluginInstance *instance = instance_of (plugin);

  if (G_LIKELY (evb_bus_is_main_thread (instance->bus)))
    return TRUE;
  g_critical ("plugin \"%s\": %s called off the main thread; it is main-thread only (call it from init, "
              "a sync handler or a timeout)", instance->name, call);
  if (error != NULL)
    g_set_error (error, EVB_TRACE_ERROR, EVB_TRACE_ERROR_INVALID, "%s called off the main thread; it is "
                 "main-thread only", call);
  return FALSE;
}

/* The one check of every EvbCall entry plugin.h says is "the calling
 * handler's thread only": a call lives on the stack of the thread that runs
 * its handler, for as long as the handler runs.  Another thread using it
 * (a callback on the plugin's own thread, a job finishing on the main
 * loop) writes the failure the worker is about to read, or into a call
 * that is gone.  The thread's running record (running.h, kept for the
 * crash line) says which route's handler it runs, so the check costs one
 * thread-local read and nothing on the dispatch path.  Refused with a
 * critical naming the route and the call; the caller returns what tells
 * a handler to give up. */
static gboolean
in_its_call (EvbCall *call, const char *function)
{
  const EvbRoute *route = ((EvbCallPrivate *) call)->route;

  if (G_LIKELY (__atomic_load_n (&evb_running_self ()->route, __ATOMIC_RELAXED) == route))
    return TRUE;
  g_critical ("route \"%s\": %s called from a thread that is not running its handler; an EvbCall belongs to "
              "the handler's thread during the call (hand results back to the handler, e.g. with a GAsyncQueue)",
              route->label, function);
  return FALSE;
}

static guint64
api_emit_full (EvbPlugin *plugin, const char *type, json_t *data, const EvbEmitOptions *options, GError **error)
{
  EvbPluginInstance *instance = instance_of (plugin);
  g_autoptr (GError) local_error = NULL;
  guint limit;

  if (!evb_emit_options_check (options, &local_error) || !evb_event_type_validate (type, &local_error))
    goto refuse;
  if (evb_type_is_reserved (type))
    {
      g_set_error (&local_error, EVB_BUS_ERROR, EVB_BUS_ERROR_RESERVED_TYPE,
                   "plugin \"%s\" may not emit \"%s\": types under \"%s\" are the host's", instance->name, type,
                   EVB_RESERVED_TYPE_PREFIX);
      goto refuse;
    }
  if (data != NULL && !json_is_object (data))
    {
      g_set_error (&local_error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_DATA,
                   "plugin \"%s\": data of \"%s\" must be a JSON object", instance->name, type);
      goto refuse;
    }
  /* Sources read the outside world (files, sockets): one huge event would
   * otherwise travel the whole pipeline.  The walk stops just past the
   * limit, so an oversized event costs at most the limit to measure. */
  limit = instance->bus->settings.max_event_bytes;
  if (limit > 0 && evb_json_size_bounded (data, limit) > limit)
    {
      g_atomic_int_inc (&instance->bus->rejected_oversize);
      g_set_error (&local_error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_DATA,
                   "plugin \"%s\": event \"%s\" refused: its data is over %u bytes as JSON "
                   "(host.max_event_bytes)", instance->name, type, limit);
      goto refuse;
    }
  return evb_bus_emit_new (instance->bus, type, instance->name, data, options, error);

refuse:
  evb_bus_refuse_emit (instance->bus, options, data, local_error);
  g_propagate_error (error, g_steal_pointer (&local_error));
  return 0;
}

static gboolean
api_emit (EvbPlugin *plugin, const char *type, json_t *data, GError **error)
{
  return api_emit_full (plugin, type, data, NULL, error) != 0;
}

static guint64
api_subscribe (EvbPlugin *plugin, const EvbRouteSpec *spec, GObject *owner, GError **error)
{
  EvbPluginInstance *instance = instance_of (plugin);

  return evb_bus_add_route (instance->bus, instance, spec, owner, error);
}

static gboolean
api_unsubscribe (EvbPlugin *plugin, guint64 route_id)
{
  EvbPluginInstance *instance = instance_of (plugin);
  EvbBus *bus = instance->bus;
  EvbRoute *route;
  gboolean own;

  g_mutex_lock (&bus->routes_lock);
  route = g_hash_table_lookup (bus->routes, &route_id);
  own = route != NULL && route->plugin == instance;
  g_mutex_unlock (&bus->routes_lock);
  return own && evb_bus_remove_route (bus, route_id);
}

static json_t *
api_options (EvbPlugin *plugin)
{
  return instance_of (plugin)->options;
}

static void
api_log (EvbPlugin *plugin, GLogLevelFlags level, const char *message)
{
  level &= G_LOG_LEVEL_MASK;
  /* A plugin must not abort the host through its logger. */
  if (level == 0 || (level & G_LOG_LEVEL_ERROR))
    level = G_LOG_LEVEL_CRITICAL;
  g_log ("evbus-plugin", level, "%s: %s", instance_of (plugin)->name, message);
}

static gboolean
api_call_is_cancelled (EvbCall *call)
{
  EvbCallPrivate *priv = (EvbCallPrivate *) call;

  if (!in_its_call (call, "evb_call_is_cancelled"))
    return TRUE;
  return priv->job != NULL && g_atomic_int_get (&priv->job->cancel_requested);
}

static void
api_call_set_error (EvbCall *call, const char *domain, gint code, const char *message)
{
  EvbCallPrivate *priv = (EvbCallPrivate *) call;

  if (!in_its_call (call, "evb_call_fail"))
    return;
  evb_failure_clear (&priv->failure);
  /* Made valid UTF-8 here, once: a message built from a file's bytes must
   * not cost the failure event (JSON strings are UTF-8) its error.  And
   * capped here, where a plugin's text becomes a failure: every report,
   * receipt and snapshot copies it. */
  priv->failure.domain = evb_failure_text_new (domain != NULL ? domain
                                               : (call->plugin != NULL ? call->plugin->name : "host"));
  priv->failure.code = code;
  priv->failure.message = evb_failure_text_new (message != NULL ? message : "(no message)");
  priv->failure_set = TRUE;
}

static EvbEvent *
api_event_ref (const EvbEvent *event)
{
  return evb_event_ref (event);
}

static void
api_event_unref (EvbEvent *event)
{
  evb_event_unref (event);
}

typedef struct {
  EvbPluginInstance *instance;
  GSourceFunc func;
  gpointer data;
  GDestroyNotify destroy;
  guint id;
} PluginSource;

static gboolean
plugin_source_run (gpointer data)
{
  PluginSource *source = data;

  return source->func (source->data);
}

static void
plugin_source_free (gpointer data)
{
  PluginSource *source = data;
  GArray *ids = source->instance->sources;

  for (guint i = 0; i < ids->len; i++)
    if (g_array_index (ids, guint, i) == source->id)
      {
        g_array_remove_index_fast (ids, i);
        break;
      }
  if (source->destroy != NULL)
    source->destroy (source->data);
  evb_plugin_instance_unref (source->instance);
  g_free (source);
}

static guint
api_add_timeout (EvbPlugin *plugin, guint interval_ms, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
  EvbPluginInstance *instance = instance_of (plugin);
  PluginSource *closure;
  GSource *source;

  if (!on_main_thread (plugin, "evb_plugin_add_timeout", NULL))
    return 0;
  closure = g_new0 (PluginSource, 1);
  source = evb_clock_timeout_source_new (instance->bus->clock, interval_ms);
  closure->instance = evb_plugin_instance_ref (instance);
  closure->func = func;
  closure->data = data;
  closure->destroy = destroy;
  g_source_set_callback (source, plugin_source_run, closure, plugin_source_free);
  g_source_set_static_name (source, "evbus plugin timeout");
  closure->id = g_source_attach (source, instance->bus->context);
  g_source_unref (source);
  g_array_append_val (instance->sources, closure->id);
  return closure->id;
}

static gboolean
api_remove_source (EvbPlugin *plugin, guint source_id)
{
  EvbPluginInstance *instance = instance_of (plugin);

  if (!on_main_thread (plugin, "evb_plugin_remove_source", NULL))
    return FALSE;
  for (guint i = 0; i < instance->sources->len; i++)
    if (g_array_index (instance->sources, guint, i) == source_id)
      {
        GSource *source = g_main_context_find_source_by_id (instance->bus->context, source_id);

        if (source != NULL)
          g_source_destroy (source);
        return TRUE;
      }
  return FALSE;
}

static void
api_hold (EvbPlugin *plugin)
{
  EvbPluginInstance *instance = instance_of (plugin);

  g_atomic_int_inc (&instance->holds);
  g_atomic_int_inc (&instance->bus->plugin_holds);
}

static void
api_release (EvbPlugin *plugin)
{
  EvbPluginInstance *instance = instance_of (plugin);
  gint holds = g_atomic_int_get (&instance->holds);

  /* Tolerate a release after shutdown already dropped the holds. */
  while (holds > 0)
    {
      if (g_atomic_int_compare_and_exchange (&instance->holds, holds, holds - 1))
        {
          g_atomic_int_add (&instance->bus->plugin_holds, -1);
          /* The loop may be asleep waiting for exactly this. */
          g_main_context_wakeup (instance->bus->context);
          return;
        }
      holds = g_atomic_int_get (&instance->holds);
    }
}

static json_t *
api_stats (EvbPlugin *plugin)
{
  if (!on_main_thread (plugin, "evb_plugin_get_stats", NULL))
    return NULL;
  return evb_bus_stats (instance_of (plugin)->bus);
}

static gboolean
api_call_wait (EvbCall *call, guint timeout_ms)
{
  EvbCallPrivate *priv = (EvbCallPrivate *) call;
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  EvbBus *bus;
  gboolean cancelled;

  if (!in_its_call (call, "evb_call_wait"))
    return TRUE;
  if (priv->job == NULL)
    {
      /* A sync call is never cancelled: the wait is all it can do. */
      g_usleep ((gulong) timeout_ms * 1000);
      return FALSE;
    }
  bus = priv->job->bus;
  g_mutex_lock (&bus->cancel_lock);
  while (!(cancelled = g_atomic_int_get (&priv->job->cancel_requested)))
    if (!g_cond_wait_until (&bus->cancel_cond, &bus->cancel_lock, deadline))
      {
        cancelled = g_atomic_int_get (&priv->job->cancel_requested);
        break;
      }
  g_mutex_unlock (&bus->cancel_lock);
  return cancelled;
}

static gint64
api_now (EvbPlugin *plugin)
{
  return evb_bus_now (instance_of (plugin)->bus);
}

static void
api_keep_traces (EvbPlugin *plugin, guint records)
{
  if (!on_main_thread (plugin, "evb_plugin_keep_traces", NULL))
    return;
  evb_bus_keep_traces (instance_of (plugin)->bus, records);
}

static json_t *
api_get_trace (EvbPlugin *plugin, const char *trace_id, GError **error)
{
  guint64 high, low;
  json_t *trace;

  if (!on_main_thread (plugin, "evb_plugin_get_trace", error))
    return NULL;
  if (!evb_trace_id_parse (trace_id, &high, &low, error))
    return NULL;
  trace = evb_bus_query_trace (instance_of (plugin)->bus, high, low);
  if (trace == NULL)
    g_set_error (error, EVB_TRACE_ERROR, EVB_TRACE_ERROR_NOT_KEPT,
                 "no traces are kept: a plugin must call evb_plugin_keep_traces first");
  return trace;
}

static char *
api_get_stall (EvbPlugin *plugin, gint64 *stalled_ms)
{
  return evb_bus_describe_stall (instance_of (plugin)->bus, stalled_ms);
}

static void
api_set_health (EvbPlugin *plugin, const char *unhealthy_reason)
{
  evb_plugin_health_set (instance_of (plugin), unhealthy_reason);
}

static json_t *
api_get_health (EvbPlugin *plugin)
{
  return evb_bus_plugin_health (instance_of (plugin)->bus);
}

static gboolean
api_is_checking (EvbPlugin *plugin)
{
  return evb_bus_is_checking (instance_of (plugin)->bus);
}

static json_t *
api_call_params (EvbCall *call)
{
  if (!in_its_call (call, "evb_call_get_params"))
    return NULL;
  return ((EvbCallPrivate *) call)->route->params;
}

const EvbHostApi evb_host_api = {
  .abi_major = EVB_ABI_MAJOR,
  .abi_minor = EVB_ABI_MINOR,
  .size = sizeof (EvbHostApi),
  .emit = api_emit,
  .subscribe = api_subscribe,
  .unsubscribe = api_unsubscribe,
  .options = api_options,
  .log = api_log,
  .call_is_cancelled = api_call_is_cancelled,
  .call_set_error = api_call_set_error,
  .event_ref = api_event_ref,
  .event_unref = api_event_unref,
  .add_timeout = api_add_timeout,
  .remove_source = api_remove_source,
  .hold = api_hold,
  .release = api_release,
  .stats = api_stats,
  .emit_full = api_emit_full,
  .call_params = api_call_params,
  .call_wait = api_call_wait,
  .now = api_now,
  .keep_traces = api_keep_traces,
  .get_trace = api_get_trace,
  .get_stall = api_get_stall,
  .set_health = api_set_health,
  .get_health = api_get_health,
  .is_checking = api_is_checking,
};
