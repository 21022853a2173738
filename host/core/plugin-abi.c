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
    case EVB_OPTION_PATH: return "path";
    }
  return "unknown";
}

const char *
evb_handler_mode_to_string (EvbHandlerMode mode)
{
  switch (mode)
    {
    case EVB_HANDLER_MODE_EITHER: return "either";
    case EVB_HANDLER_MODE_SYNC: return "sync";
    case EVB_HANDLER_MODE_ASYNC: return "async";
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
    case EVB_OPTION_PATH: return "a path (a string)";
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
    case EVB_OPTION_PATH: return json_is_string (value);
    }
  return FALSE;
}

/* ---- ABI 1.1 fields ------------------------------------------------------
 *
 * 1.0 wrote its tables' and descriptor's reserved fields as zero but never
 * promised it; a later minor "may give them meaning (the descriptor's
 * abi_minor tells the host whether to read them)".  So they are read only
 * from a descriptor that says 1.1 or later. */

static gboolean
has_minor_1 (const EvbPluginDescriptor *descriptor)
{
  return descriptor->abi_minor >= 1;
}

const EvbOptionLimits *
evb_option_get_limits (const EvbPluginDescriptor *descriptor, const EvbOptionInfo *option)
{
  return has_minor_1 (descriptor) ? option->limits : NULL;
}

EvbHandlerMode
evb_handler_get_mode (const EvbPluginDescriptor *descriptor, const EvbHandlerInfo *handler)
{
  return has_minor_1 (descriptor) ? handler->mode : EVB_HANDLER_MODE_EITHER;
}

EvbPluginStopFunc
evb_plugin_descriptor_get_stop (const EvbPluginDescriptor *descriptor)
{
  return has_minor_1 (descriptor) ? descriptor->stop : NULL;
}

static gsize
n_handlers_known (const EvbPluginDescriptor *descriptor)
{
  return has_minor_1 (descriptor) && descriptor->handlers != NULL ? descriptor->n_handlers : 0;
}

static gsize
n_options_known (const EvbPluginDescriptor *descriptor)
{
  return has_minor_1 (descriptor) && descriptor->options != NULL ? descriptor->n_options : 0;
}

const EvbHandlerInfo *
evb_plugin_descriptor_find_handler (const EvbPluginDescriptor *descriptor, const char *name)
{
  for (const EvbHandlerInfo *h = descriptor->handlers; h != NULL && h->name != NULL; h++)
    if (strcmp (h->name, name) == 0)
      return h;
  return NULL;
}

/* ---- limits -------------------------------------------------------------- */

/* A number as messages write it: jansson's shortest form (0.5, 1.0). */
static char *
number_text (double value)
{
  json_t *real = json_real (value);
  char *text = real != NULL ? evb_json_describe (real) : g_strdup_printf ("%g", value);

  json_decref (real);
  return text;
}

static gboolean
has_min_int (const EvbOptionLimits *limits)
{
  return limits->min_int != G_MININT64;
}

static gboolean
has_max_int (const EvbOptionLimits *limits)
{
  return limits->max_int != G_MAXINT64;
}

static gboolean
has_min_number (const EvbOptionLimits *limits)
{
  return limits->min > -G_MAXDOUBLE;
}

static gboolean
has_max_number (const EvbOptionLimits *limits)
{
  return limits->max < G_MAXDOUBLE;
}

/* `"line", "json"` */
static char *
choices_text (const char *const *choices)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; choices[i] != NULL; i++)
    {
      g_autofree char *quoted = evb_json_quote (choices[i]);

      g_string_append_printf (text, "%s%s", i > 0 ? ", " : "", quoted);
    }
  return g_string_free (text, FALSE);
}

/* What is wrong with @value (of the option's type) under @limits, as
 * "expected at most 60000, got 90000", or NULL when it is allowed. */
static char *
limits_problem (EvbOptionType type, const EvbOptionLimits *limits, json_t *value)
{
  g_autofree char *got = NULL;
  g_autofree char *bound = NULL;

  switch (type)
    {
    case EVB_OPTION_INT:
      {
        json_int_t number = json_integer_value (value);

        if (number < limits->min_int)
          return g_strdup_printf ("expected at least %" G_GINT64_FORMAT ", got %" JSON_INTEGER_FORMAT,
                                  limits->min_int, number);
        if (number > limits->max_int)
          return g_strdup_printf ("expected at most %" G_GINT64_FORMAT ", got %" JSON_INTEGER_FORMAT,
                                  limits->max_int, number);
        return NULL;
      }
    case EVB_OPTION_DOUBLE:
      {
        double number = json_number_value (value);

        if (number >= limits->min && number <= limits->max)
          return NULL;
        got = evb_json_describe (value);
        bound = number_text (number < limits->min ? limits->min : limits->max);
        return g_strdup_printf ("expected %s %s, got %s", number < limits->min ? "at least" : "at most", bound, got);
      }
    case EVB_OPTION_STRING:
      {
        const char *text = json_string_value (value);
        gboolean has_nul = strlen (text) != json_string_length (value);
        g_autofree char *listed = NULL;

        /* Byte for byte: a value with a NUL inside matches nothing. */
        for (guint i = 0; !has_nul && limits->choices[i] != NULL; i++)
          if (strcmp (text, limits->choices[i]) == 0)
            return NULL;
        listed = choices_text (limits->choices);
        got = evb_json_describe (value);
        return g_strdup_printf ("expected one of %s, got %s", listed, got);
      }
    case EVB_OPTION_BOOL:
    case EVB_OPTION_OBJECT:
    case EVB_OPTION_ARRAY:
    case EVB_OPTION_PATH:
      break;
    }
  return NULL;
}

/* What is wrong with the limits themselves, or NULL. */
static char *
limits_fault (const EvbOptionInfo *option, const EvbOptionLimits *limits)
{
  if (limits->struct_size < sizeof (EvbOptionLimits))
    return g_strdup_printf ("limits are %u bytes, ABI %u.%u needs %u: write them with EVB_OPTION_INT_RANGE, "
                            "EVB_OPTION_DOUBLE_RANGE or EVB_OPTION_CHOICE", limits->struct_size, EVB_ABI_MAJOR,
                            EVB_ABI_MINOR, (guint) sizeof (EvbOptionLimits));
  switch (option->type)
    {
    case EVB_OPTION_INT:
      if (limits->min_int > limits->max_int)
        return g_strdup_printf ("its range is empty (min %" G_GINT64_FORMAT " is above max %" G_GINT64_FORMAT ")",
                                limits->min_int, limits->max_int);
      return NULL;
    case EVB_OPTION_DOUBLE:
      if (!(limits->min <= limits->max))
        {
          g_autofree char *min = number_text (limits->min);
          g_autofree char *max = number_text (limits->max);

          return g_strdup_printf ("its range is empty (min %s is not at most max %s)", min, max);
        }
      return NULL;
    case EVB_OPTION_STRING:
      if (limits->choices == NULL || limits->choices[0] == NULL)
        return g_strdup ("its limits need at least one choice");
      return NULL;
    case EVB_OPTION_BOOL:
    case EVB_OPTION_OBJECT:
    case EVB_OPTION_ARRAY:
    case EVB_OPTION_PATH:
      break;
    }
  return g_strdup_printf ("a %s option takes no limits (only integer, number and string options do)",
                          evb_option_type_to_string (option->type));
}

char *
evb_option_describe_limits (const EvbPluginDescriptor *descriptor, const EvbOptionInfo *option)
{
  const EvbOptionLimits *limits = evb_option_get_limits (descriptor, option);

  if (limits == NULL)
    return NULL;
  switch (option->type)
    {
    case EVB_OPTION_INT:
      if (has_min_int (limits) && has_max_int (limits))
        return g_strdup_printf ("from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, limits->min_int, limits->max_int);
      if (has_min_int (limits))
        return g_strdup_printf ("at least %" G_GINT64_FORMAT, limits->min_int);
      if (has_max_int (limits))
        return g_strdup_printf ("at most %" G_GINT64_FORMAT, limits->max_int);
      return NULL;
    case EVB_OPTION_DOUBLE:
      {
        g_autofree char *min = number_text (limits->min);
        g_autofree char *max = number_text (limits->max);

        if (has_min_number (limits) && has_max_number (limits))
          return g_strdup_printf ("from %s to %s", min, max);
        if (has_min_number (limits))
          return g_strdup_printf ("at least %s", min);
        if (has_max_number (limits))
          return g_strdup_printf ("at most %s", max);
        return NULL;
      }
    case EVB_OPTION_STRING:
      {
        g_autofree char *listed = choices_text (limits->choices);

        return g_strdup_printf ("one of %s", listed);
      }
    case EVB_OPTION_BOOL:
    case EVB_OPTION_OBJECT:
    case EVB_OPTION_ARRAY:
    case EVB_OPTION_PATH:
      break;
    }
  return NULL;
}

json_t *
evb_option_limits_to_json (const EvbPluginDescriptor *descriptor, const EvbOptionInfo *option)
{
  const EvbOptionLimits *limits = evb_option_get_limits (descriptor, option);
  json_t *members;

  if (limits == NULL)
    return NULL;
  members = json_object ();
  switch (option->type)
    {
    case EVB_OPTION_INT:
      if (has_min_int (limits))
        json_object_set_new (members, "min", json_integer (limits->min_int));
      if (has_max_int (limits))
        json_object_set_new (members, "max", json_integer (limits->max_int));
      break;
    case EVB_OPTION_DOUBLE:
      if (has_min_number (limits))
        json_object_set_new (members, "min", json_real (limits->min));
      if (has_max_number (limits))
        json_object_set_new (members, "max", json_real (limits->max));
      break;
    case EVB_OPTION_STRING:
      {
        json_t *choices = json_array ();

        for (guint i = 0; limits->choices[i] != NULL; i++)
          json_array_append_new (choices, json_string (limits->choices[i]));
        json_object_set_new (members, "choices", choices);
        break;
      }
    case EVB_OPTION_BOOL:
    case EVB_OPTION_OBJECT:
    case EVB_OPTION_ARRAY:
    case EVB_OPTION_PATH:
      break;
    }
  if (json_object_size (members) == 0)
    g_clear_pointer (&members, json_decref);
  return members;
}

/* ---- the descriptor check ------------------------------------------------ */

typedef const char *(*EntryName) (gconstpointer table, gsize i);

static const char *
handler_name (gconstpointer table, gsize i)
{
  return ((const EvbHandlerInfo *) table)[i].name;
}

static const char *
option_name (gconstpointer table, gsize i)
{
  return ((const EvbOptionInfo *) table)[i].name;
}

/* With a known length @n (0: not known), a table must end with its end
 * marker exactly at its last entry: one without would otherwise be walked
 * past its end, into whatever the linker put after it, and one that ends
 * early would hide the entries after the marker. */
static gboolean
check_table_end (const char *origin, const char *what, const char *marker, gconstpointer table, gsize n,
                 EntryName name_of, GError **error)
{
  const char *last;

  if (n == 0)
    return TRUE;
  for (gsize i = 0; i + 1 < n; i++)
    if (name_of (table, i) == NULL)
      {
        g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                     "%s: %s table ends early: entry %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " is %s, which only "
                     "the last entry may be", origin, what, i + 1, n, marker);
        return FALSE;
      }
  last = name_of (table, n - 1);
  if (last != NULL)
    {
      g_autofree char *quoted = evb_json_quote (last);

      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                   "%s: %s table does not end with %s (entry %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " is %s): "
                   "add %s after it", origin, what, marker, n, n, quoted, marker);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_option (const EvbPluginDescriptor *descriptor, const EvbOptionInfo *o, const char *origin, GError **error)
{
  const EvbOptionLimits *limits = evb_option_get_limits (descriptor, o);
  g_autofree char *fault = NULL;
  json_t *fallback;

  if (o->type < EVB_OPTION_STRING || o->type > EVB_OPTION_PATH)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR, "%s: option \"%s\" has an unknown type %d",
                   origin, o->name, (int) o->type);
      return FALSE;
    }
  if (limits != NULL && (fault = limits_fault (o, limits)) != NULL)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR, "%s: option \"%s\": %s", origin, o->name,
                   fault);
      return FALSE;
    }
  if (o->default_json == NULL)
    return TRUE;
  fallback = json_loads (o->default_json, JSON_DECODE_ANY, NULL);
  if (fallback == NULL || !option_value_fits (o->type, fallback))
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                   "%s: option \"%s\": default %s is not a valid %s", origin, o->name, o->default_json,
                   evb_option_type_to_string (o->type));
      json_decref (fallback);
      return FALSE;
    }
  if (limits != NULL && (fault = limits_problem (o->type, limits, fallback)) != NULL)
    {
      g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                   "%s: option \"%s\": default %s is outside its own limits: %s", origin, o->name, o->default_json,
                   fault);
      json_decref (fallback);
      return FALSE;
    }
  json_decref (fallback);
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
  /* The lengths first: every walk below stops at the end marker. */
  if (!check_table_end (origin, "handler", "EVB_HANDLERS_END", descriptor->handlers, n_handlers_known (descriptor),
                        handler_name, error)
      || !check_table_end (origin, "option", "EVB_OPTIONS_END", descriptor->options, n_options_known (descriptor),
                           option_name, error))
    return FALSE;
  for (const EvbHandlerInfo *h = descriptor->handlers; h != NULL && h->name != NULL; h++)
    {
      EvbHandlerMode mode = evb_handler_get_mode (descriptor, h);

      if (!evb_name_is_valid (h->name) || h->func == NULL)
        {
          g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                       "%s: handler \"%s\" needs a [a-z0-9_-]+ name and a function", origin, h->name);
          return FALSE;
        }
      if ((guint) mode > EVB_HANDLER_MODE_ASYNC)
        {
          g_set_error (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                       "%s: handler \"%s\" has an unknown mode %d", origin, h->name, (int) mode);
          return FALSE;
        }
    }
  for (const EvbOptionInfo *o = descriptor->options; o != NULL && o->name != NULL; o++)
    if (!check_option (descriptor, o, origin, error))
      return FALSE;
  return TRUE;
}

/* ---- an instance's options ----------------------------------------------- */

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

char *
evb_option_path_resolve (const char *path, const char *base_dir)
{
  g_autofree char *cwd = NULL;

  if (*path == '\0' || strcmp (path, "-") == 0 || g_path_is_absolute (path))
    return g_strdup (path);
  if (base_dir == NULL)
    base_dir = cwd = g_get_current_dir ();
  /* Joined, not canonicalised: "link/../x" must go where the file system
   * says, not where the text does. */
  return g_build_filename (base_dir, path, NULL);
}

/* Sets @key of @object to @path made absolute, when it was not already. */
static void
set_resolved_path (json_t *object, const char *key, const char *path, const char *base_dir)
{
  g_autofree char *resolved = evb_option_path_resolve (path, base_dir);

  if (strcmp (resolved, path) != 0)
    json_object_set_new (object, key, json_string (resolved));
}

json_t *
evb_plugin_options_resolve_paths (const EvbPluginDescriptor *descriptor, json_t *config, const char *base_dir)
{
  json_t *resolved;

  if (config != NULL && !json_is_object (config))
    return json_incref (config);
  resolved = config != NULL ? json_copy (config) : json_object ();
  for (const EvbOptionInfo *o = descriptor->options; o != NULL && o->name != NULL; o++)
    {
      json_t *value = json_object_get (resolved, o->name);

      if (o->type != EVB_OPTION_PATH)
        continue;
      if (value != NULL)
        {
          if (json_is_string (value))
            set_resolved_path (resolved, o->name, json_string_value (value), base_dir);
        }
      else if (o->default_json != NULL)
        {
          /* A relative default is relative to the config's folder too. */
          json_t *fallback = json_loads (o->default_json, JSON_DECODE_ANY, NULL);

          if (json_is_string (fallback))
            set_resolved_path (resolved, o->name, json_string_value (fallback), base_dir);
          json_decref (fallback);
        }
    }
  return resolved;
}

/* Checks @value, given for @option, and keeps it in @options. */
static void
take_value (const EvbPluginDescriptor *descriptor, const EvbOptionInfo *option, const char *key, json_t *value,
            json_t *options, GPtrArray *problems)
{
  const EvbOptionLimits *limits = evb_option_get_limits (descriptor, option);
  g_autofree char *problem = NULL;

  if (!option_value_fits (option->type, value))
    {
      g_autofree char *got = evb_json_describe (value);

      add_problem (problems, key, EVB_PLUGIN_ERROR_OPTION_TYPE,
                   g_strdup_printf ("expected %s, got %s", option_type_wanted (option->type), got));
      return;
    }
  if (limits != NULL && (problem = limits_problem (option->type, limits, value)) != NULL)
    {
      add_problem (problems, key, EVB_PLUGIN_ERROR_OPTION_VALUE, g_steal_pointer (&problem));
      return;
    }
  json_object_set (options, key, value);
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
        else
          take_value (descriptor, option, key, value, options, problems);
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
  /* What the caller did not resolve against a folder of its own (the
   * pipeline: the config file's) is relative to the current one. */
  for (const EvbOptionInfo *o = descriptor->options; o != NULL && o->name != NULL; o++)
    if (o->type == EVB_OPTION_PATH)
      set_resolved_path (options, o->name, json_string_value (json_object_get (options, o->name)), NULL);
  return options;
}
