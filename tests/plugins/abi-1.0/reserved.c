/* abi-1.0-reserved — a plugin built against the ABI 1.0 header as it
 * shipped (tests/plugins/abi-1.0/evbus/plugin.h), whose descriptor and
 * table entries carry something in their reserved fields.  1.0 wrote them
 * as zero through its macros but never promised it: "a later ABI 1.N may
 * give them meaning (the descriptor's abi_minor tells the host whether to
 * read them)".  A 1.1 host must therefore not read them here: were it to,
 * it would call a stop function at 0x10, refuse a handler table it
 * believes has one entry, refuse a route to "report" as async-only, or
 * read option limits at 0x10.
 *
 * Handler "report" (any mode): emits old.report {"options": the options}.
 * Options: count (integer, 1), name (string, required).
 * Init subscribes old.ping -> "report" with a 1.0 EvbRouteSpec (shorter
 * than 1.1's, which appended params).  Logs "shutdown" at shutdown. */
#include <evbus/plugin.h>

#if EVB_ABI_MINOR != 0
#error "this plugin must be built against the 1.0 header"
#endif

/* Not zero, and not anything a host could use. */
#define JUNK ((gpointer) 0x10)

static EvbResult
report (EvbCall *call, const EvbEvent *event)
{
  GError *error = NULL;

  if (!evb_call_emit (call, "old.report", json_pack ("{s:O}", "options", evb_plugin_get_options (call->plugin)),
                      &error))
    {
      EvbResult result = evb_call_fail (call, NULL, 1, "%s", error->message);

      g_error_free (error);
      return result;
    }
  return EVB_CONTINUE;
}

static gboolean
reserved_init (EvbPlugin *plugin, GError **error)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;

  spec.pattern = "old.ping";
  spec.handler = "report";
  spec.mode = EVB_MODE_ASYNC;
  return evb_plugin_subscribe (plugin, &spec, NULL, error) != 0;
}

static void
reserved_shutdown (EvbPlugin *plugin)
{
  evb_plugin_log (plugin, G_LOG_LEVEL_MESSAGE, "shutdown");
}

static const EvbHandlerInfo handlers[] = {
  /* 1.1 would read reserved[0] as the mode: 2 is "async only". */
  { .name = "report", .func = report, .doc = "Emits old.report {options}.", .reserved = { (gpointer) 2, JUNK } },
  EVB_HANDLERS_END,
};

static const EvbOptionInfo options[] = {
  /* 1.1 would read reserved[0] as a pointer to the option's limits. */
  { .name = "count", .type = EVB_OPTION_INT, .default_json = "1", .doc = "A count.", .reserved = { JUNK } },
  { .name = "name", .type = EVB_OPTION_STRING, .default_json = NULL, .doc = "A name.", .reserved = { JUNK, JUNK } },
  EVB_OPTIONS_END,
};

/* 1.1 would read reserved[0] as stop, [1] and [2] as the tables' lengths. */
EVB_PLUGIN_EXPORT const EvbPluginDescriptor evb_plugin_descriptor = {
  .abi_major = EVB_ABI_MAJOR,
  .abi_minor = EVB_ABI_MINOR,
  .struct_size = sizeof (EvbPluginDescriptor),
  .name = "abi-one-oh-reserved",
  .version = "1.0",
  .description = "Built against the ABI 1.0 header, with its reserved fields not zero.",
  .handlers = handlers,
  .options = options,
  .init = reserved_init,
  .shutdown = reserved_shutdown,
  .reserved = { JUNK, (gpointer) 1, (gpointer) 1, JUNK, JUNK, JUNK, JUNK, JUNK },
};
