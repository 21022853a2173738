/* The plugin ABI as the host enforces it (plugin-abi.h). */
#include "plugin-abi.h"

#include <string.h>

#include "json-text.h"

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

/* What a message says an option of @type takes: "an integer". */
static const char *
option_type_wanted (EvbOptionType type)
{
  switch (type)
    {
    case EVB_OPTION_STRING: return "a string";
    case EVB_OPTION_INT: return "an integer";
    case EVB_OPTION_DOUBLE: return "a number";
    case EVB_OPTION_BOOL: return "true or false";
    case EVB_OPTION_OBJECT: return "an object";
    case EVB_OPTION_ARRAY: return "an array";
    }
  return "a value of an unknown type";
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
  /* Minors are append-only: a plugin built for an older minor of this
   * major only uses what this host has, but one built for a newer minor
   * may call host functions past the end of our EvbHostApi or read event
   * fields we do not fill in.  Refuse it here, with the same words as a
   * major mismatch, rather than let it fail at run time. */
  if (descriptor->abi_minor > EVB_ABI_MINOR)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_ABI_MISMATCH,
                   "%s was built for evbus ABI %u.%u, this host speaks ABI %u.%u: upgrade evbus or rebuild the "
                   "plugin against this evbus", origin, descriptor->abi_major, descriptor->abi_minor,
                   EVB_ABI_MAJOR, EVB_ABI_MINOR);
      return FALSE;
    }
  if (descriptor->struct_size < sizeof (EvbPluginDescriptor))
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                   "%s: descriptor is %u bytes, ABI %u needs %u: write it with EVB_PLUGIN_DEFINE", origin,
                   descriptor->struct_size, EVB_ABI_MAJOR, (guint) sizeof (EvbPluginDescriptor));
      return FALSE;
    }
  if (!evb_name_is_valid (descriptor->name))
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                   "%s: descriptor name \"%s\" must be [a-z0-9_-]+", origin,
                   descriptor->name != NULL ? descriptor->name : "");
      return FALSE;
    }
  for (const EvbHandlerInfo *h = descriptor->handlers; h != NULL && h->name != NULL; h++)
    if (!evb_name_is_valid (h->name) || h->func == NULL)
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
      g_autofree char *got = evb_json_describe (config);

      add_problem (problems, "", EVB_PLUGIN_ERROR_OPTION_TYPE,
                   g_strdup_printf ("plugin config must be an object, got %s", got));
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
          {
            g_autofree char *got = evb_json_describe (value);

            add_problem (problems, key, EVB_PLUGIN_ERROR_OPTION_TYPE,
                         g_strdup_printf ("expected %s, got %s", option_type_wanted (option->type), got));
          }
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

