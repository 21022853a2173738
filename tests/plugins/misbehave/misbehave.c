/* misbehave — a plugin that does what plugins must not, for the tests of
 * tests/plugins/misbehave/ (issue "Survive a misbehaving plugin").
 *
 * Provides: once the loop runs, "count" events of type "type" ({"n": N});
 * handlers that block forever, get stuck ignoring cancellation, crash in
 * the three usual ways, or just say they ran; an init that never returns.
 * Every handler prints one line on stdout before it misbehaves, so that a
 * test can wait for it instead of sleeping. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "evbus/plugin.h"

static void
say (const char *what, const EvbEvent *event)
{
  printf ("%s %" G_GINT64_FORMAT "\n", what, (gint64) json_integer_value (json_object_get (event->data, "n")));
  fflush (stdout);
}

/* Never returns, cancelled or not; sleeps rather than spins. */
static void G_GNUC_NORETURN
block_forever (void)
{
  for (;;)
    g_usleep (G_USEC_PER_SEC);
}

static gboolean
emit_all (gpointer data)
{
  EvbPlugin *plugin = data;
  gint64 count = evb_plugin_get_int (plugin, "count");
  const char *type = evb_plugin_get_string (plugin, "type");

  for (gint64 n = 1; n <= count; n++)
    {
      g_autoptr (GError) error = NULL;

      if (!evb_plugin_emit (plugin, type, json_pack ("{s:I}", "n", (json_int_t) n), &error))
        evb_plugin_log (plugin, G_LOG_LEVEL_WARNING, "emit failed: %s", error->message);
    }
  return G_SOURCE_REMOVE;
}

static gboolean
misbehave_init (EvbPlugin *plugin, GError **error)
{
  if (evb_plugin_get_bool (plugin, "block_init"))
    {
      printf ("init blocking\n");
      fflush (stdout);
      block_forever ();
    }
  evb_plugin_add_timeout (plugin, 0, emit_all, plugin, NULL);
  return TRUE;
}

static EvbResult
handle_block (EvbCall *call, const EvbEvent *event)
{
  say ("blocking", event);
  block_forever ();
}

static EvbResult
handle_stuck (EvbCall *call, const EvbEvent *event)
{
  say ("stuck", event);
  block_forever ();
}

static EvbResult
handle_slow (EvbCall *call, const EvbEvent *event)
{
  say ("slow", event);
  g_usleep (evb_plugin_get_int (call->plugin, "slow_ms") * 1000);
  return EVB_CONTINUE;
}

static EvbResult
handle_ran (EvbCall *call, const EvbEvent *event)
{
  say ("ran", event);
  return EVB_CONTINUE;
}

static EvbResult
handle_segv (EvbCall *call, const EvbEvent *event)
{
  /* Not NULL, which UBSan would stop at first: an unmapped low page,
   * from a variable so that the compiler cannot see it coming. */
  static volatile guintptr address = 16;
  volatile int *wild = (volatile int *) address;

  say ("crashing", event);
  *wild = 1;
  return EVB_CONTINUE;
}

static EvbResult
handle_abort (EvbCall *call, const EvbEvent *event)
{
  say ("aborting", event);
  abort ();
}

static EvbResult
handle_fpe (EvbCall *call, const EvbEvent *event)
{
  /* raise, not a division by zero: UBSan would report that and go on. */
  say ("dividing", event);
  raise (SIGFPE);
  return EVB_CONTINUE;
}

static const EvbHandlerInfo misbehave_handlers[] = {
  EVB_HANDLER ("block", handle_block, "Prints \"blocking N\", then never returns."),
  EVB_HANDLER ("stuck", handle_stuck, "Prints \"stuck N\", then never returns, even when cancelled."),
  EVB_HANDLER ("slow", handle_slow, "Prints \"slow N\", then sleeps slow_ms and completes."),
  EVB_HANDLER ("ran", handle_ran, "Prints \"ran N\" and completes."),
  EVB_HANDLER ("segv", handle_segv, "Prints \"crashing N\", then writes to an unmapped address."),
  EVB_HANDLER ("abort", handle_abort, "Prints \"aborting N\", then calls abort ()."),
  EVB_HANDLER ("fpe", handle_fpe, "Prints \"dividing N\", then raises SIGFPE."),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo misbehave_options[] = {
  EVB_OPTION ("count", EVB_OPTION_INT, "1", "How many events to emit once the loop runs."),
  EVB_OPTION ("type", EVB_OPTION_STRING, "\"tick\"", "Type of the events emitted."),
  EVB_OPTION ("slow_ms", EVB_OPTION_INT, "500", "How long the slow handler takes."),
  EVB_OPTION ("block_init", EVB_OPTION_BOOL, "false", "Print \"init blocking\", then never return from init."),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE ("misbehave", "1.0.0", "Blocks, gets stuck and crashes, on purpose.", misbehave_handlers,
                   misbehave_options, misbehave_init, NULL);
