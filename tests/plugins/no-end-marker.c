/* no-end-marker — a plugin whose handler table lacks EVB_HANDLERS_END.
 * EVB_PLUGIN_DEFINE stores the table's length (ABI 1.1), so the loader
 * refuses it instead of walking past the table's end. */
#include <evbus/plugin.h>

static EvbResult
lonely (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static const EvbHandlerInfo handlers[] = {
  EVB_HANDLER ("lonely", lonely, "Does nothing; the table has no end marker after it."),
};

EVB_PLUGIN_DEFINE ("no-end-marker", "1.1.0", "Forgot EVB_HANDLERS_END.", handlers, NULL, NULL, NULL);
