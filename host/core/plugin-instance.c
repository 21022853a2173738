/* Plugin instances on a bus: options, init, sources, shutdown, and the
 * code kept loaded while anything can reach it. */
#include "bus-private.h"

#include <string.h>

#include "plugin-abi.h"
#include "running.h"

/* An instance as this file allocates it: the core's struct first, then what
 * only this file reads. */
typedef struct {
  EvbPluginInstance base;
  gboolean stop_called; /* the plugin's stop ran (or never will); main thread */
} InstanceState;

EvbHandlerFunc
evb_plugin_instance_find_handler (EvbPluginInstance *instance, const char *name, GError **error)
{
  const EvbHandlerInfo *found = evb_plugin_descriptor_find_handler (instance->descriptor, name);
  GString *names;

  if (found != NULL)
    return found->func;
  names = g_string_new (NULL);
  for (const EvbHandlerInfo *h = instance->descriptor->handlers; h != NULL && h->name != NULL; h++)
    g_string_append_printf (names, "%s%s", names->len > 0 ? ", " : "", h->name);
  g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_NO_HANDLER, "plugin \"%s\" has no handler \"%s\" (handlers: %s)",
               instance->name, name, names->len > 0 ? names->str : "none");
  g_string_free (names, TRUE);
  return NULL;
}

EvbPluginInstance *
evb_plugin_instance_ref (EvbPluginInstance *instance)
{
  g_atomic_int_inc (&instance->ref_count);
  return instance;
}

void
evb_plugin_instance_unref (EvbPluginInstance *instance)
{
  if (!g_atomic_int_dec_and_test (&instance->ref_count))
    return;
  evb_plugin_health_forget (instance);
  /* The code goes last, when no route, job or source can reach it. */
  if (!instance->pinned && instance->unload != NULL)
    instance->unload (instance->module);
  json_decref (instance->options);
  g_array_unref (instance->sources);
  g_free (instance->name);
  g_free (instance->path);
  g_free ((InstanceState *) instance);
}

/* The plugin's stop (ABI 1.1), at most once, and only after a successful
 * init: the first time its sources are stopped, which is the start of the
 * bus's shutdown (bus.c), or its own shutdown if that comes first. */
static void
call_stop (EvbPluginInstance *instance)
{
  InstanceState *state = (InstanceState *) instance;
  EvbPluginStopFunc stop;

  if (!instance->initialized || state->stop_called)
    return;
  state->stop_called = TRUE;
  stop = evb_plugin_descriptor_get_stop (instance->descriptor);
  if (stop != NULL)
    stop (&instance->handle);
}

void
evb_plugin_instance_stop_sources (EvbPluginInstance *instance)
{
  GMainContext *context = instance->bus->context;

  /* "Sources stop now" first: the plugin may remove its own sources. */
  call_stop (instance);
  while (instance->sources->len > 0)
    {
      guint id = g_array_index (instance->sources, guint, instance->sources->len - 1);
      GSource *source;

      g_array_remove_index (instance->sources, instance->sources->len - 1);
      source = g_main_context_find_source_by_id (context, id);
      if (source != NULL)
        g_source_destroy (source);
    }
  /* Holds are the plugin's promise of more events; they end with it. */
  g_atomic_int_add (&instance->bus->plugin_holds, -g_atomic_int_and (&instance->holds, 0));
}

void
evb_plugin_instance_shutdown (EvbPluginInstance *instance)
{
  if (instance->shut_down)
    return;
  evb_plugin_instance_stop_sources (instance);
  if (instance->initialized && instance->descriptor->shutdown != NULL)
    instance->descriptor->shutdown (&instance->handle);
  evb_plugin_instance_stop_sources (instance);
  /* A reason a plugin left behind is no longer its verdict. */
  evb_plugin_health_close (instance);
  instance->shut_down = TRUE;
}

/* Calls the plugin's init, named by the crash line while it runs. */
static gboolean
init_instance (EvbPluginInstance *instance, GError **error)
{
  EvbRunning *running = evb_running_self ();
  gboolean ok;

  evb_running_enter_init (running, instance);
  ok = instance->descriptor->init (&instance->handle, error);
  evb_running_leave_init (running);
  return ok;
}

static EvbPluginInstance *
instance_new (EvbBus *bus, const char *name, const char *path, const EvbPluginDescriptor *descriptor,
              gpointer module, GDestroyNotify unload)
{
  InstanceState *state = g_new0 (InstanceState, 1);
  EvbPluginInstance *instance = &state->base;

  instance->ref_count = 1;
  instance->bus = bus;
  instance->name = g_strdup (name);
  instance->path = g_strdup (path);
  instance->descriptor = descriptor;
  instance->module = module;
  instance->unload = unload;
  instance->sources = g_array_new (FALSE, FALSE, sizeof (guint));
  instance->handle.struct_size = sizeof (EvbPlugin);
  instance->handle.api = &evb_host_api;
  instance->handle.name = instance->name;
  return instance;
}

EvbPluginInstance *
evb_bus_add_plugin_code (EvbBus *bus, const char *name, const EvbPluginDescriptor *descriptor, const char *path,
                         gpointer module, GDestroyNotify unload, json_t *config, GError **error)
{
  g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) evb_option_problem_free);
  g_autoptr (GError) init_error = NULL;
  const char *where = path != NULL ? path : "(linked in)";
  EvbPluginInstance *instance;
  json_t *options;

  if (!evb_name_is_valid (name))
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_NAME,
                   "instance name \"%s\" must be [a-z0-9_-]+", name != NULL ? name : "");
      goto fail;
    }
  if (evb_bus_find_plugin (bus, name) != NULL)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_DUPLICATE_NAME, "duplicate instance name \"%s\"",
                   name);
      goto fail;
    }
  options = evb_plugin_options_resolve (descriptor, config, problems);
  if (options == NULL)
    {
      EvbOptionProblem *first = g_ptr_array_index (problems, 0);
      GString *message = g_string_new (NULL);

      for (guint i = 0; i < problems->len; i++)
        {
          EvbOptionProblem *problem = g_ptr_array_index (problems, i);

          g_string_append_printf (message, "%splugin \"%s\" (%s): option \"%s\": %s", i > 0 ? "\n" : "", name,
                                  where, problem->key, problem->message);
        }
      g_set_error_literal (error, EVB_PLUGIN_ERROR, first->code, message->str);
      g_string_free (message, TRUE);
      goto fail;
    }

  instance = instance_new (bus, name, path, descriptor, module, unload);
  instance->options = options;
  /* Listed before init so that routes it subscribes can find it. */
  g_ptr_array_add (bus->plugins, instance);
  if (descriptor->init != NULL && !init_instance (instance, &init_error))
    {
      /* Roll back everything init registered, then the instance itself. */
      evb_bus_remove_plugin_routes (bus, instance);
      evb_plugin_instance_stop_sources (instance);
      instance->shut_down = TRUE;
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_INIT_FAILED, "plugin \"%s\" (%s): init failed: %s",
                   name, where, init_error != NULL ? init_error->message : "(init gave no reason)");
      g_ptr_array_remove (bus->plugins, instance); /* drops the bus's ref; unloads */
      return NULL;
    }
  instance->initialized = TRUE;
  return instance;

fail:
  if (unload != NULL)
    unload (module);
  return NULL;
}

EvbPluginInstance *
evb_bus_add_plugin (EvbBus *bus, const char *instance_name, const EvbPluginDescriptor *descriptor, json_t *config,
                    GError **error)
{
  if (!evb_plugin_descriptor_check (descriptor, "linked-in descriptor", error))
    return NULL;
  return evb_bus_add_plugin_code (bus, instance_name, descriptor, NULL, NULL, NULL, config, error);
}

char **
evb_bus_plugin_names (EvbBus *bus)
{
  g_autoptr (GStrvBuilder) names = g_strv_builder_new ();

  for (guint i = 0; i < bus->plugins->len; i++)
    g_strv_builder_add (names, ((EvbPluginInstance *) g_ptr_array_index (bus->plugins, i))->name);
  return g_strv_builder_end (names);
}

EvbPlugin *
evb_plugin_instance_get_handle (EvbPluginInstance *instance)
{
  return &instance->handle;
}

EvbPluginInstance *
evb_bus_find_plugin (EvbBus *bus, const char *instance_name)
{
  for (guint i = 0; i < bus->plugins->len; i++)
    {
      EvbPluginInstance *instance = g_ptr_array_index (bus->plugins, i);

      if (strcmp (instance->name, instance_name) == 0)
        return instance;
    }
  return NULL;
}
