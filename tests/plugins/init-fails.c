/* init-fails — a plugin whose init gets halfway and then fails: it has
 * already subscribed a route and added a timeout, which the host must roll
 * back.  Its handler and timeout emit events, so a leftover would show.
 * Handlers: never (emits "init-fails.leftover").  No options. */
#include <evbus/plugin.h>

static EvbResult
never_handle (EvbCall *call, const EvbEvent *event)
{
  return evb_call_emit (call, "init-fails.leftover", NULL, NULL) ? EVB_CONTINUE : EVB_FAILED;
}

static gboolean
leftover_tick (gpointer data)
{
  evb_plugin_emit (data, "init-fails.leftover", NULL, NULL);
  return G_SOURCE_CONTINUE;
}

static const EvbHandlerInfo init_fails_handlers[] = {
  EVB_HANDLER ("never", never_handle, "Emits init-fails.leftover; must never run."),
  EVB_HANDLERS_END,
};

static gboolean
init_fails_init (EvbPlugin *plugin, GError **error)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;

  spec.pattern = "work.item";
  spec.handler = "never";
  if (evb_plugin_subscribe (plugin, &spec, NULL, error) == 0)
    return FALSE;
  evb_plugin_add_timeout (plugin, 1, leftover_tick, plugin, NULL);
  g_set_error (error, g_quark_from_static_string ("init-fails-error"), 7, "database \"orders\" unreachable");
  return FALSE;
}

EVB_PLUGIN_DEFINE ("init-fails", "1.0.0", "Fails init after registering things; a test plugin.",
                   init_fails_handlers, NULL, init_fails_init, NULL);
