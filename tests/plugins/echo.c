/* echo — a test plugin built against sdk/ alone, as a plugin author would.
 *
 * Handlers:
 *   reply  reads data.n (an integer) and emits "<prefix>.reply" with
 *          {"n": n * factor, "label": label, "on_main": bool, "origin": id};
 *          fails (code 1) when data.n is not an integer.
 *   fail   always fails, domain left to the host (the instance name), code 3.
 * Options: label (string, required), prefix (string, "echo"),
 *          factor (integer, 2).
 * Logs "ready <options as compact JSON>" at init, "reply to <type> <n>" per
 * reply and "bye after <N> replies" at shutdown. */
#include <evbus/plugin.h>

#include <stdlib.h>

typedef struct {
  GThread *main_thread; /* init runs on the main thread */
  gint replies;         /* atomic: handlers run on workers too */
} EchoState;

static EvbResult
echo_reply (EvbCall *call, const EvbEvent *event)
{
  EvbPlugin *plugin = call->plugin;
  EchoState *state = call->instance_data;
  json_t *n = json_object_get (event->data, "n");
  g_autofree char *type = NULL;
  g_autoptr (GError) error = NULL;
  json_t *reply;

  if (!json_is_integer (n))
    return evb_call_fail (call, NULL, 1, "%s: data.n must be an integer", event->type);
  evb_plugin_log (plugin, G_LOG_LEVEL_MESSAGE, "reply to %s %" JSON_INTEGER_FORMAT, event->type,
                  json_integer_value (n));
  type = g_strdup_printf ("%s.reply", evb_plugin_get_string (plugin, "prefix"));
  reply = json_pack ("{s:I, s:s, s:b, s:I}",
                     "n", json_integer_value (n) * evb_plugin_get_int (plugin, "factor"),
                     "label", evb_plugin_get_string (plugin, "label"),
                     "on_main", g_thread_self () == state->main_thread,
                     "origin", (json_int_t) event->id);
  if (!evb_call_emit (call, type, reply, &error))
    return evb_call_fail (call, NULL, 2, "could not emit %s: %s", type, error->message);
  g_atomic_int_inc (&state->replies);
  return EVB_CONTINUE;
}

static EvbResult
echo_fail (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, NULL, 3, "echo refuses %s", event->type);
}

static const EvbHandlerInfo echo_handlers[] = {
  EVB_HANDLER ("reply", echo_reply,
      "Reads data.n, emits <prefix>.reply with n * factor; fails without data.n."),
  EVB_HANDLER ("fail", echo_fail, "Always fails with code 3."),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo echo_options[] = {
  EVB_OPTION ("label", EVB_OPTION_STRING, NULL, "copied into every reply"),
  EVB_OPTION ("prefix", EVB_OPTION_STRING, "\"echo\"", "replies are emitted as <prefix>.reply"),
  EVB_OPTION ("factor", EVB_OPTION_INT, "2", "the reply's n is the request's n times this"),
  EVB_OPTIONS_END,
};

static gboolean
echo_init (EvbPlugin *plugin, GError **error)
{
  EchoState *state;
  char *options;

  /* The newest entry this plugin uses: an older host would lack it. */
  if (!EVB_API_HAS (plugin->api, release))
    {
      g_set_error (error, g_quark_from_static_string ("echo-error"), 1, "host API too old");
      return FALSE;
    }
  state = g_new0 (EchoState, 1);
  state->main_thread = g_thread_self ();
  plugin->instance_data = state;

  options = json_dumps (evb_plugin_get_options (plugin), JSON_COMPACT | JSON_SORT_KEYS);
  evb_plugin_log (plugin, G_LOG_LEVEL_MESSAGE, "ready %s", options);
  free (options);
  return TRUE;
}

static void
echo_shutdown (EvbPlugin *plugin)
{
  EchoState *state = plugin->instance_data;

  evb_plugin_log (plugin, G_LOG_LEVEL_MESSAGE, "bye after %d replies", g_atomic_int_get (&state->replies));
  g_free (state);
}

EVB_PLUGIN_DEFINE ("echo", "1.0.0", "Answers requests; a test plugin.", echo_handlers, echo_options, echo_init,
                   echo_shutdown);
