/* wrong-thread — a test plugin that calls the host's main-thread-only
 * functions (sdk/evbus/plugin.h: "Main thread.") from a worker, as a
 * careless plugin would (issue 15, finding 8).  Built against sdk/ alone.
 *
 * Handlers:
 *   misuse  async only: calls evb_plugin_add_timeout, _remove_source,
 *           _get_stats, _keep_traces and _get_trace on its worker and emits
 *           wrong-thread.results {"add_timeout": the id it got,
 *           "remove_source": the boolean it got, "get_stats": whether it
 *           got a snapshot, "get_trace": whether it got a trace,
 *           "get_trace_error": the error's message or null}.
 *   lend    sync or async: hands its EvbCall to a thread of its own, which
 *           calls evb_call_is_cancelled, _wait (0 ms), _get_params and
 *           _fail on it, as a plugin finishing work in a callback would;
 *           then emits wrong-thread.lent {"is_cancelled", "wait": the
 *           booleans they returned, "params": whether it got them} and
 *           returns EVB_CONTINUE (so the refused evb_call_fail shows).
 * init adds a timeout that never fires, whose id misuse tries to remove. */
#include <evbus/plugin.h>

static gboolean
never (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static EvbResult
wrong_thread_misuse (EvbCall *call, const EvbEvent *event)
{
  EvbPlugin *plugin = call->plugin;
  g_autoptr (GError) error = NULL;
  guint timeout_id = evb_plugin_add_timeout (plugin, 10, never, NULL, NULL);
  gboolean removed = evb_plugin_remove_source (plugin, GPOINTER_TO_UINT (plugin->instance_data));
  json_t *stats = evb_plugin_get_stats (plugin);
  json_t *trace;
  json_t *results;

  evb_plugin_keep_traces (plugin, 64);
  trace = evb_plugin_get_trace (plugin, "4bf92f3577b34da6a3ce929d0e0e4736", &error);
  results = json_pack ("{s:I, s:b, s:b, s:b, s:s?}", "add_timeout", (json_int_t) timeout_id, "remove_source",
                       removed, "get_stats", stats != NULL, "get_trace", trace != NULL, "get_trace_error",
                       error != NULL ? error->message : NULL);
  json_decref (stats);
  json_decref (trace);
  g_clear_error (&error);
  if (!evb_call_emit (call, "wrong-thread.results", results, &error))
    return evb_call_fail (call, NULL, 1, "%s", error->message);
  return EVB_CONTINUE;
}

typedef struct {
  EvbCall *call;
  gboolean is_cancelled;
  gboolean wait;
  gboolean params;
} Lent;

static gpointer
use_lent_call (gpointer data)
{
  Lent *lent = data;

  lent->is_cancelled = evb_call_is_cancelled (lent->call);
  lent->wait = evb_call_wait (lent->call, 0);
  lent->params = evb_call_get_params (lent->call) != NULL;
  evb_call_fail (lent->call, NULL, 7, "set from another thread");
  return NULL;
}

static EvbResult
wrong_thread_lend (EvbCall *call, const EvbEvent *event)
{
  Lent lent = { call, FALSE, FALSE, FALSE };
  g_autoptr (GError) error = NULL;

  g_thread_join (g_thread_new ("wrong-thread-lent", use_lent_call, &lent));
  if (!evb_call_emit (call, "wrong-thread.lent",
                      json_pack ("{s:b, s:b, s:b}", "is_cancelled", lent.is_cancelled, "wait", lent.wait, "params",
                                 lent.params),
                      &error))
    return evb_call_fail (call, NULL, 1, "%s", error->message);
  return EVB_CONTINUE;
}

static gboolean
wrong_thread_init (EvbPlugin *plugin, GError **error)
{
  plugin->instance_data = GUINT_TO_POINTER (evb_plugin_add_timeout (plugin, G_MAXUINT, never, NULL, NULL));
  return TRUE;
}

static const EvbHandlerInfo wrong_thread_handlers[] = {
  EVB_HANDLER_ASYNC ("misuse", wrong_thread_misuse, "Calls main-thread-only host functions from a worker."),
  EVB_HANDLER ("lend", wrong_thread_lend, "Hands its EvbCall to another thread, which uses it."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE ("wrong-thread", "1.0", "Calls main-thread-only host functions from a worker.",
                   wrong_thread_handlers, NULL, wrong_thread_init, NULL);
