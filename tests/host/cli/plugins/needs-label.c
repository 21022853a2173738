/* needs-label — a test plugin with a required option (tests/cli/).
 *
 * Provides: handler "take" (accepts anything); option "label" (string,
 * required: no default) and "limit" (integer, default 10). */
#include "evbus/plugin.h"

static EvbResult
handle_take (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static const EvbHandlerInfo needs_label_handlers[] = {
  EVB_HANDLER ("take", handle_take, "Accepts any event."),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo needs_label_options[] = {
  EVB_OPTION ("label", EVB_OPTION_STRING, NULL, "What to call the sink."),
  EVB_OPTION ("limit", EVB_OPTION_INT, "10", "Largest batch."),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE ("needs-label", "0.1.0", "Takes events; needs a label.", needs_label_handlers,
                   needs_label_options, NULL, NULL);
