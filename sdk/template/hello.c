/* hello — an evbus plugin in one file.
 *
 * Handlers:
 *   greet   for each event with data.name, emits greeting.made
 *           {"text": "<greeting>, <name>"}; fails without data.name.
 * Options:
 *   greeting (string, default "hello")
 */
#include <evbus/plugin.h>

static EvbResult
greet (EvbCall *call, const EvbEvent *event)
{
  const char *name = json_string_value (json_object_get (event->data, "name"));
  const char *greeting = evb_plugin_get_string (call->plugin, "greeting");
  GError *error = NULL;

  if (name == NULL)
    return evb_call_fail (call, NULL, 1, "greet needs data.name (a string)");
  if (!evb_call_emit (call, "greeting.made", json_pack ("{s:s++}", "text", greeting, ", ", name), &error))
    {
      EvbResult result = evb_call_fail (call, NULL, 2, "cannot emit: %s", error->message);

      g_error_free (error);
      return result;
    }
  return EVB_CONTINUE;
}

static const EvbHandlerInfo handlers[] = {
  EVB_HANDLER ("greet", greet, "Emits greeting.made for each event with data.name; fails without it."),
  EVB_HANDLERS_END
};

static const EvbOptionInfo options[] = {
  EVB_OPTION ("greeting", EVB_OPTION_STRING, "\"hello\"", "The word to greet with."),
  EVB_OPTIONS_END
};

EVB_PLUGIN_DEFINE ("hello", "1.0", "Greets whoever an event names.", handlers, options, NULL, NULL);
