/* Loading plugin files and running their lifecycle. */
#include "plugin-loader.h"

#include <dlfcn.h>
#include <string.h>

G_DEFINE_QUARK (evb-plugin-error-quark, evb_plugin_error)

const char *
evb_option_type_to_string (EvbOptionType type)
{
  switch (type)
    {
    case EVB_OPTION_STRING: return "string";
    case EVB_OPTION_INT: return "integer";
    case EVB_OPTION_DOUBLE: return "number";
    case EVB_OPTION_BOOL: return "boolean";
    case EVB_OPTION_OBJECT: return "object";
    case EVB_OPTION_ARRAY: return "array";
    }
  return "unknown";
}

static const char *
json_type_name (json_t *value)
{
  switch (json_typeof (value))
    {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
  return "unknown";
}

static gboolean
option_value_fits (EvbOptionType type, json_t *value)
{
  switch (type)
    {
    case EVB_OPTION_STRING: return json_is_string (value);
    case EVB_OPTION_INT: return json_is_integer (value);
    case EVB_OPTION_DOUBLE: return json_is_number (value);
    case EVB_OPTION_BOOL: return json_is_boolean (value);
    case EVB_OPTION_OBJECT: return json_is_object (value);
    case EVB_OPTION_ARRAY: return json_is_array (value);
    }
  return FALSE;
}

static gboolean
is_name (const char *name)
{
  if (name == NULL || *name == '\0')
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
      return FALSE;
  return TRUE;
}

gboolean
evb_plugin_descriptor_check (const EvbPluginDescriptor *descriptor, const char *origin, GError **error)
{
  if (descriptor->abi_major != EVB_ABI_MAJOR)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_ABI_MISMATCH,
                   "%s was built for evbus ABI %u.%u, this host speaks ABI %u.%u: rebuild the plugin against "
                   "this evbus", origin, descriptor->abi_major, descriptor->abi_minor, EVB_ABI_MAJOR,
                   EVB_ABI_MINOR);
      return FALSE;
    }
  if (descriptor->struct_size < sizeof (EvbPluginDescriptor))
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                   "%s: descriptor is %u bytes, ABI %u needs %u: write it with EVB_PLUGIN_DEFINE", origin,
                   descriptor->struct_size, EVB_ABI_MAJOR, (guint) sizeof (EvbPluginDescriptor));
      return FALSE;
    }
  if (!is_name (descriptor->name))
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                   "%s: descriptor name \"%s\" must be [a-z0-9_-]+", origin,
                   descriptor->name != NULL ? descriptor->name : "");
      return FALSE;
    }
  for (const EvbHandlerInfo *h = descriptor->handlers; h != NULL && h->name != NULL; h++)
    if (!is_name (h->name) || h->func == NULL)
      {
        g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                     "%s: handler \"%s\" needs a [a-z0-9_-]+ name and a function", origin, h->name);
        return FALSE;
      }
  for (const EvbOptionInfo *o = descriptor->options; o != NULL && o->name != NULL; o++)
    {
      json_t *fallback;

      if (o->type < EVB_OPTION_STRING || o->type > EVB_OPTION_ARRAY)
        {
          g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                       "%s: option \"%s\" has an unknown type %d", origin, o->name, (int) o->type);
          return FALSE;
        }
      if (o->default_json == NULL)
        continue;
      fallback = json_loads (o->default_json, JSON_DECODE_ANY, NULL);
      if (fallback == NULL || !option_value_fits (o->type, fallback))
        {
          g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                       "%s: option \"%s\": default %s is not a valid %s", origin, o->name, o->default_json,
                       evb_option_type_to_string (o->type));
          json_decref (fallback);
          return FALSE;
        }
      json_decref (fallback);
    }
  return TRUE;
}

const EvbPluginDescriptor *
evb_plugin_module_open (const char *path, gpointer *module, GError **error)
{
  const EvbPluginDescriptor *descriptor;
  g_autofree char *origin = g_strdup_printf ("\"%s\"", path);
  void *handle;

  *module = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NOT_FOUND, "plugin file \"%s\" not found", path);
      return NULL;
    }
  handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NOT_LOADABLE,
                   "\"%s\" is not a loadable shared object: %s", path, dlerror ());
      return NULL;
    }
  descriptor = dlsym (handle, EVB_PLUGIN_DESCRIPTOR_SYMBOL);
  if (descriptor == NULL)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_NO_DESCRIPTOR,
                   "\"%s\" exports no %s: is it an evbus plugin? (define one with EVB_PLUGIN_DEFINE)", path,
                   EVB_PLUGIN_DESCRIPTOR_SYMBOL);
      dlclose (handle);
      return NULL;
    }
  if (!evb_plugin_descriptor_check (descriptor, origin, error))
    {
      dlclose (handle);
      return NULL;
    }
  *module = handle;
  return descriptor;
}

void
evb_plugin_module_close (gpointer module)
{
  if (module != NULL)
    dlclose (module);
}

void
evb_option_problem_free (EvbOptionProblem *problem)
{
  g_free (problem->key);
  g_free (problem->message);
  g_free (problem);
}

static void
add_problem (GPtrArray *problems, const char *key, EvbPluginError code, char *message)
{
  EvbOptionProblem *problem = g_new (EvbOptionProblem, 1);

  problem->key = g_strdup (key);
  problem->code = code;
  problem->message = message;
  g_ptr_array_add (problems, problem);
}

static const EvbOptionInfo *
find_option (const EvbPluginDescriptor *descriptor, const char *key)
{
  for (const EvbOptionInfo *o = descriptor->options; o != NULL && o->name != NULL; o++)
    if (strcmp (o->name, key) == 0)
      return o;
  return NULL;
}

static char *
option_names (const EvbPluginDescriptor *descriptor)
{
  GString *names = g_string_new (NULL);

  for (const EvbOptionInfo *o = descriptor->options; o != NULL && o->name != NULL; o++)
    g_string_append_printf (names, "%s%s", names->len > 0 ? ", " : "", o->name);
  if (names->len == 0)
    g_string_append (names, "none");
  return g_string_free (names, FALSE);
}

json_t *
evb_plugin_options_resolve (const EvbPluginDescriptor *descriptor, json_t *config, GPtrArray *problems)
{
  json_t *options = json_object ();
  guint problems_before = problems->len;
  const char *key;
  json_t *value;

  if (config != NULL && !json_is_object (config))
    {
      add_problem (problems, "", EVB_PLUGIN_ERROR_OPTION_TYPE,
                   g_strdup_printf ("plugin config must be an object, got %s", json_type_name (config)));
      config = NULL;
    }
  if (config != NULL)
    json_object_foreach (config, key, value)
      {
        const EvbOptionInfo *option = find_option (descriptor, key);

        if (option == NULL)
          {
            g_autofree char *names = option_names (descriptor);

            add_problem (problems, key, EVB_PLUGIN_ERROR_UNKNOWN_OPTION,
                         g_strdup_printf ("unknown option (plugin \"%s\" takes: %s)", descriptor->name, names));
          }
        else if (!option_value_fits (option->type, value))
          add_problem (problems, key, EVB_PLUGIN_ERROR_OPTION_TYPE,
                       g_strdup_printf ("expected %s, got %s", evb_option_type_to_string (option->type),
                                        json_type_name (value)));
        else
          json_object_set (options, key, value);
      }
  for (const EvbOptionInfo *o = descriptor->options; o != NULL && o->name != NULL; o++)
    {
      if (json_object_get (options, o->name) != NULL || (config != NULL && json_object_get (config, o->name)))
        continue;
      if (o->default_json == NULL)
        add_problem (problems, o->name, EVB_PLUGIN_ERROR_MISSING_OPTION,
                     g_strdup_printf ("required option missing (%s: %s)", evb_option_type_to_string (o->type),
                                      o->doc != NULL ? o->doc : "no description"));
      else
        json_object_set_new (options, o->name, json_loads (o->default_json, JSON_DECODE_ANY, NULL));
    }
  if (problems->len > problems_before)
    {
      json_decref (options);
      return NULL;
    }
  return options;
}

EvbHandlerFunc
evb_plugin_instance_find_handler (EvbPluginInstance *instance, const char *name, GError **error)
{
  GString *names;

  for (const EvbHandlerInfo *h = instance->descriptor->handlers; h != NULL && h->name != NULL; h++)
    if (strcmp (h->name, name) == 0)
      return h->func;
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
  /* The code goes last, when no route, job or source can reach it. */
  if (!instance->pinned)
    evb_plugin_module_close (instance->module);
  json_decref (instance->options);
  g_array_unref (instance->sources);
  g_free (instance->name);
  g_free (instance->path);
  g_free (instance);
}

void
evb_plugin_instance_stop_sources (EvbPluginInstance *instance)
{
  GMainContext *context = instance->bus->context;

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
  instance->shut_down = TRUE;
}

static EvbPluginInstance *
instance_new (EvbBus *bus, const char *name, const char *path, const EvbPluginDescriptor *descriptor,
              gpointer module)
{
  EvbPluginInstance *instance = g_new0 (EvbPluginInstance, 1);

  instance->ref_count = 1;
  instance->bus = bus;
  instance->name = g_strdup (name);
  instance->path = g_strdup (path);
  instance->descriptor = descriptor;
  instance->module = module;
  instance->sources = g_array_new (FALSE, FALSE, sizeof (guint));
  instance->handle.struct_size = sizeof (EvbPlugin);
  instance->handle.api = &evb_host_api;
  instance->handle.name = instance->name;
  return instance;
}

static EvbPluginInstance *
add_instance (EvbBus *bus, const char *name, const char *path, const EvbPluginDescriptor *descriptor,
              gpointer module, json_t *config, GError **error)
{
  g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) evb_option_problem_free);
  g_autoptr (GError) init_error = NULL;
  const char *where = path != NULL ? path : "(linked in)";
  EvbPluginInstance *instance;
  json_t *options;

  if (!is_name (name))
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

  instance = instance_new (bus, name, path, descriptor, module);
  instance->options = options;
  /* Listed before init so that routes it subscribes can find it. */
  g_ptr_array_add (bus->plugins, instance);
  if (descriptor->init != NULL && !descriptor->init (&instance->handle, &init_error))
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
  evb_plugin_module_close (module);
  return NULL;
}

EvbPluginInstance *
evb_bus_load_plugin (EvbBus *bus, const char *instance_name, const char *path, json_t *config, GError **error)
{
  gpointer module;
  const EvbPluginDescriptor *descriptor = evb_plugin_module_open (path, &module, error);

  if (descriptor == NULL)
    return NULL;
  return add_instance (bus, instance_name, path, descriptor, module, config, error);
}

EvbPluginInstance *
evb_bus_add_plugin (EvbBus *bus, const char *instance_name, const EvbPluginDescriptor *descriptor, json_t *config,
                    GError **error)
{
  if (!evb_plugin_descriptor_check (descriptor, "linked-in descriptor", error))
    return NULL;
  return add_instance (bus, instance_name, NULL, descriptor, NULL, config, error);
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
