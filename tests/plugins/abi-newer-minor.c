/* abi-newer-minor — a plugin built for the next minor of this ABI: its
 * descriptor says EVB_ABI_MAJOR.(EVB_ABI_MINOR + 1).  Written by hand
 * rather than with EVB_PLUGIN_DEFINE, which always stamps this SDK's
 * version.  Minors are append-only, so it may need host functions this
 * host lacks: the loader must refuse it, as it refuses another major. */
#include <evbus/plugin.h>

static EvbResult
newer_handle (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static const EvbHandlerInfo newer_handlers[] = {
  EVB_HANDLER ("handle", newer_handle, "Does nothing."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_EXPORT const EvbPluginDescriptor evb_plugin_descriptor = {
  .abi_major = EVB_ABI_MAJOR,
  .abi_minor = EVB_ABI_MINOR + 1,
  .struct_size = sizeof (EvbPluginDescriptor),
  .name = "newer",
  .version = "1.0.0",
  .description = "Built for a newer minor ABI than this host speaks.",
  .handlers = newer_handlers,
};
