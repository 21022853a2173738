/* `evbus inspect PLUGIN`: what a plugin file offers, read from its
 * descriptor (like gst-inspect).  The plugin is opened, never initialised. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evbus/json.h"

#include "build.h"
#include "cli.h"
#include "plugin-module.h"
#include "trust.h"

static guint
name_width (const EvbPluginDescriptor *descriptor)
{
  gsize width = 0;

  for (const EvbHandlerInfo *h = descriptor->handlers; h != NULL && h->name != NULL; h++)
    width = MAX (width, strlen (h->name));
  for (const EvbOptionInfo *o = descriptor->options; o != NULL && o->name != NULL; o++)
    width = MAX (width, strlen (o->name));
  return (guint) width;
}

static const char *
or_empty (const char *text)
{
  return text != NULL ? text : "";
}

static void
print_text (const EvbPluginDescriptor *descriptor, const char *file)
{
  guint width = name_width (descriptor);
  guint n = 0;

  printf ("Name         %s\n", descriptor->name);
  printf ("Version      %s\n", or_empty (descriptor->version));
  printf ("ABI          %u.%u\n", descriptor->abi_major, descriptor->abi_minor);
  printf ("File         %s\n", file);
  printf ("Description  %s\n", or_empty (descriptor->description));

  printf ("\nHandlers:\n");
  for (const EvbHandlerInfo *h = descriptor->handlers; h != NULL && h->name != NULL; h++, n++)
    {
      EvbHandlerMode mode = evb_handler_get_mode (descriptor, h);

      if (mode != EVB_HANDLER_MODE_EITHER)
        printf ("  %-*s  (%s only) %s\n", (int) width, h->name, evb_handler_mode_to_string (mode), or_empty (h->doc));
      else
        printf ("  %-*s  %s\n", (int) width, h->name, or_empty (h->doc));
    }
  if (n == 0)
    printf ("  (none)\n");

  n = 0;
  printf ("\nOptions:\n");
  for (const EvbOptionInfo *o = descriptor->options; o != NULL && o->name != NULL; o++, n++)
    {
      g_autofree char *fallback = o->default_json != NULL ? g_strdup_printf ("default %s", o->default_json)
                                                          : g_strdup ("required");
      g_autofree char *limits = evb_option_describe_limits (descriptor, o);

      printf ("  %-*s  %s, %s%s%s\n", (int) width, o->name, evb_option_type_to_string (o->type), fallback,
              limits != NULL ? ", " : "", limits != NULL ? limits : "");
      if (o->doc != NULL && o->doc[0] != '\0')
        printf ("  %-*s  %s\n", (int) width, "", o->doc);
    }
  if (n == 0)
    printf ("  (none)\n");
}

static json_t *
describe_json (const EvbPluginDescriptor *descriptor, const char *file)
{
  json_t *handlers = json_array ();
  json_t *options = json_array ();
  g_autofree char *abi = g_strdup_printf ("%u.%u", descriptor->abi_major, descriptor->abi_minor);

  for (const EvbHandlerInfo *h = descriptor->handlers; h != NULL && h->name != NULL; h++)
    {
      json_t *handler = json_pack ("{s:s, s:s}", "name", h->name, "doc", or_empty (h->doc));
      EvbHandlerMode mode = evb_handler_get_mode (descriptor, h);

      if (mode != EVB_HANDLER_MODE_EITHER)
        json_object_set_new (handler, "mode", json_string (evb_handler_mode_to_string (mode)));
      json_array_append_new (handlers, handler);
    }
  for (const EvbOptionInfo *o = descriptor->options; o != NULL && o->name != NULL; o++)
    {
      json_t *option = json_pack ("{s:s, s:s}", "name", o->name, "type", evb_option_type_to_string (o->type));
      json_t *limits = evb_option_limits_to_json (descriptor, o);

      /* The descriptor check already parsed every default. */
      if (o->default_json != NULL)
        json_object_set_new (option, "default", json_loads (o->default_json, JSON_DECODE_ANY, NULL));
      json_object_set_new (option, "required", json_boolean (o->default_json == NULL));
      json_object_set_new (option, "doc", json_string (or_empty (o->doc)));
      if (limits != NULL)
        json_object_update (option, limits); /* "min", "max" or "choices" */
      json_decref (limits);
      json_array_append_new (options, option);
    }
  return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}",
                    "name", descriptor->name,
                    "version", or_empty (descriptor->version),
                    "abi", abi,
                    "file", file,
                    "description", or_empty (descriptor->description),
                    "handlers", handlers,
                    "options", options);
}

int
evb_cli_inspect (int argc, char **argv)
{
  g_autofree char *lookup = evb_cli_plugin_lookup_help ("the current folder");
  g_autofree char *file = NULL;
  g_autoptr (GError) error = NULL;
  GOptionContext *context = g_option_context_new ("PLUGIN");
  const EvbPluginDescriptor *descriptor;
  gboolean as_json = FALSE;
  gboolean allow_insecure = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the description as one JSON object", NULL },
    { "allow-insecure", 0, 0, G_OPTION_ARG_NONE, &allow_insecure,
      "Load the plugin file even when others could have changed it", NULL },
    G_OPTION_ENTRY_NULL,
  };
  gpointer module;
  const char *name;

  g_option_context_set_summary (context,
                                "Describe the plugin file PLUGIN (a path, or a bare name such as \"console\"):\n"
                                "name, version, plugin ABI, description, handlers with their docs, options\n"
                                "with their type, default and doc. The plugin is loaded but not initialised.\n"
                                "\n"
                                "Exit status: 0, or 2 when PLUGIN is missing, not a shared object, not an\n"
                                "evbus plugin or built for another plugin ABI.");
  g_option_context_set_description (context, lookup);
  g_option_context_add_main_entries (context, entries, NULL);
  name = evb_cli_parse_one_argument (context, "inspect", "PLUGIN", &argc, &argv);
  if (name == NULL)
    return EVB_EXIT_USAGE;
  evb_trust_set_enforced (!allow_insecure);

  /* Opening a plugin runs its constructors: the same trust as for run. */
  file = evb_plugin_find (name, NULL, &error);
  descriptor = file != NULL && evb_trust_check (file, &error) ? evb_plugin_module_open (file, &module, &error)
                                                              : NULL;
  if (descriptor == NULL)
    {
      fprintf (stderr, "evbus inspect: %s\n", error->message);
      return EVB_EXIT_USAGE;
    }

  if (as_json)
    {
      json_t *description = describe_json (descriptor, file);
      char *text = evb_json_dumps (description, JSON_INDENT (2) | JSON_PRESERVE_ORDER);

      printf ("%s\n", text);
      free (text);
      json_decref (description);
    }
  else
    print_text (descriptor, file);
  fflush (stdout);
  evb_plugin_module_close (module);
  return EVB_EXIT_OK;
}
