/* abi-mismatch — a plugin built for a future plugin ABI major
 * (EVB_ABI_MAJOR + 1), which this host must refuse (tests/cli/). */
#include "evbus/plugin.h"

static EvbResult
handle_any (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static const EvbHandlerInfo abi_mismatch_handlers[] = {
  EVB_HANDLER ("any", handle_any, "Accepts any event."),
  EVB_HANDLERS_END,
};

/* Written out by hand: EVB_PLUGIN_DEFINE always says this SDK's ABI. */
EVB_PLUGIN_EXPORT const EvbPluginDescriptor evb_plugin_descriptor = {
  .abi_major = EVB_ABI_MAJOR + 1,
  .abi_minor = 4,
  .struct_size = sizeof (EvbPluginDescriptor),
  .name = "abi-mismatch",
  .version = "9.0.0",
  .description = "Built for a newer plugin ABI.",
  .handlers = abi_mismatch_handlers,
};
