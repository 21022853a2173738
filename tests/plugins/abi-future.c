/* abi-future — a plugin from a future host: its descriptor says ABI 99.3.
 * Written by hand rather than with EVB_PLUGIN_DEFINE, which always stamps
 * this SDK's version.  The loader must refuse it before touching anything
 * else in the descriptor. */
#include <evbus/plugin.h>

static EvbResult
future_handle (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static const EvbHandlerInfo future_handlers[] = {
  EVB_HANDLER ("handle", future_handle, "Does nothing."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_EXPORT const EvbPluginDescriptor evb_plugin_descriptor = {
  .abi_major = 99,
  .abi_minor = 3,
  .struct_size = sizeof (EvbPluginDescriptor),
  .name = "future",
  .version = "99.0.0",
  .description = "Built for an ABI this host does not speak.",
  .handlers = future_handlers,
};
