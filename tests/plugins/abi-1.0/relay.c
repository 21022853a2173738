/* abi-1.0-relay — a plugin built against the ABI 1.0 header as it shipped
 * (tests/plugins/abi-1.0/evbus/plugin.h, a copy kept for this), to prove
 * that a 1.1 host loads and runs it: "relay" emits old.out with the handled
 * event's data.n, through the 1.0 way of emitting from a handler. */
#include <evbus/plugin.h>

#if EVB_ABI_MINOR != 0
#error "this plugin must be built against the 1.0 header"
#endif

static EvbResult
relay (EvbCall *call, const EvbEvent *event)
{
  json_t *n = json_object_get (event->data, "n");
  GError *error = NULL;

  if (!evb_call_emit (call, "old.out", json_pack ("{s:O?}", "n", n), &error))
    {
      EvbResult result = evb_call_fail (call, NULL, 1, "%s", error->message);

      g_error_free (error);
      return result;
    }
  return EVB_CONTINUE;
}

static const EvbHandlerInfo handlers[] = {
  EVB_HANDLER ("relay", relay, "Emits old.out {n: data.n}."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE ("abi-one-oh", "1.0", "Built against the ABI 1.0 header.", handlers, NULL, NULL, NULL);
