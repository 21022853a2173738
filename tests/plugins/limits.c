/* limits — a test plugin of the ABI 1.1 descriptor and option fields,
 * built against sdk/ alone, as a plugin author would.
 *
 * Options (each with the limits its macro gives it):
 *   latency_ms  integer 0..60000, default 0
 *   format      one of "line", "json", default "line"
 *   ratio       number 0.0..1.0, default 0.5
 *   input       path, default "-" (kept as it is)
 *   output      path, default "out.txt" (relative: resolved like a given one)
 * Handlers:
 *   options  either mode: emits limits.options {"options": the resolved options}
 *   params   either mode: emits limits.params {"params": the route's params or null,
 *            "route_data": the route's route_data as a string, or null}
 *   main     sync only: emits limits.main
 *   work     async only: emits limits.work
 * Lifecycle (logged at INFO level, which stays quiet outside tests that
 * record it): init adds a timeout that never fires and logs "init"; stop
 * removes it, logs "stop (timeout still there: yes)" when it was still
 * there (the host removes timeouts only after stop) and emits
 * limits.stopped; shutdown logs "shutdown". */
#include <evbus/plugin.h>

static gboolean
keep (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static EvbResult
emit_or_fail (EvbCall *call, const char *type, json_t *data)
{
  g_autoptr (GError) error = NULL;

  if (!evb_call_emit (call, type, data, &error))
    return evb_call_fail (call, NULL, 1, "%s", error->message);
  return EVB_CONTINUE;
}

static EvbResult
limits_options (EvbCall *call, const EvbEvent *event)
{
  return emit_or_fail (call, "limits.options", json_pack ("{s:O}", "options", evb_plugin_get_options (call->plugin)));
}

static EvbResult
limits_params (EvbCall *call, const EvbEvent *event)
{
  json_t *params = evb_call_get_params (call);

  return emit_or_fail (call, "limits.params",
                       json_pack ("{s:O?, s:s?}", "params", params, "route_data", (const char *) call->route_data));
}

static EvbResult
limits_main (EvbCall *call, const EvbEvent *event)
{
  return emit_or_fail (call, "limits.main", NULL);
}

static EvbResult
limits_work (EvbCall *call, const EvbEvent *event)
{
  return emit_or_fail (call, "limits.work", NULL);
}

static gboolean
limits_init (EvbPlugin *plugin, GError **error)
{
  /* The id of a timeout that never fires, for stop to look for. */
  plugin->instance_data = GUINT_TO_POINTER (evb_plugin_add_timeout (plugin, G_MAXUINT, keep, NULL, NULL));
  evb_plugin_log (plugin, G_LOG_LEVEL_INFO, "init");
  return TRUE;
}

static void
limits_stop (EvbPlugin *plugin)
{
  g_autoptr (GError) error = NULL;
  /* Still there: the host removes a plugin's timeouts after its stop. */
  gboolean removed = evb_plugin_remove_source (plugin, GPOINTER_TO_UINT (plugin->instance_data));

  evb_plugin_log (plugin, G_LOG_LEVEL_INFO, "stop (timeout still there: %s)", removed ? "yes" : "no");
  if (!evb_plugin_emit (plugin, "limits.stopped", NULL, &error))
    evb_plugin_log (plugin, G_LOG_LEVEL_WARNING, "limits.stopped: %s", error->message);
}

static void
limits_shutdown (EvbPlugin *plugin)
{
  evb_plugin_log (plugin, G_LOG_LEVEL_INFO, "shutdown");
}

static const EvbHandlerInfo limits_handlers[] = {
  EVB_HANDLER ("options", limits_options, "Emits limits.options with the resolved options."),
  EVB_HANDLER ("params", limits_params, "Emits limits.params with the route's params and route_data."),
  EVB_HANDLER_SYNC ("main", limits_main, "Emits limits.main; main thread only."),
  EVB_HANDLER_ASYNC ("work", limits_work, "Emits limits.work; workers only."),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo limits_options_table[] = {
  EVB_OPTION_INT_RANGE ("latency_ms", "0", 0, 60000, "Added latency, in ms"),
  EVB_OPTION_CHOICE ("format", "\"line\"", EVB_CHOICES ("line", "json"), "How to print"),
  EVB_OPTION_DOUBLE_RANGE ("ratio", "0.5", 0.0, 1.0, "A share"),
  EVB_OPTION_PATH ("input", "\"-\"", "File to read; \"-\" is standard input"),
  EVB_OPTION_PATH ("output", "\"out.txt\"", "File to write"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE_WITH ("limits", "1.1.0", "Options with limits, handler modes, params and stop; a test plugin.",
                        limits_handlers, limits_options_table, limits_init, limits_shutdown, .stop = limits_stop);
