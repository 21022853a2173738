/* Requests on traces of their own, owned routes, and the words for what
 * went wrong (request.h). */
#include "request.h"

gboolean
desktop_trace_is_set (const DesktopTrace *trace)
{
  return trace->high != 0 || trace->low != 0;
}

gboolean
desktop_trace_equal (const DesktopTrace *a, const DesktopTrace *b)
{
  return a->high == b->high && a->low == b->low;
}

gboolean
desktop_trace_matches (const DesktopTrace *trace, const EvbEvent *event)
{
  return desktop_trace_is_set (trace) && EVB_EVENT_HAS (event, trace_id_low) && event->trace_id_high == trace->high
         && event->trace_id_low == trace->low;
}

static guint64
random_u64 (void)
{
  return (guint64) g_random_int () << 32 | g_random_int ();
}

typedef struct {
  GWeakRef owner;
  DesktopReceiptFunc func;
  DesktopTrace trace;
} ReceiptClosure;

static void
receipt_closure_free (gpointer data)
{
  ReceiptClosure *closure = data;

  g_weak_ref_clear (&closure->owner);
  g_free (closure);
}

static void
on_receipt (const EvbReceipt *receipt, gpointer data)
{
  ReceiptClosure *closure = data;
  g_autoptr (GObject) owner = g_weak_ref_get (&closure->owner);

  if (owner != NULL)
    closure->func (owner, &closure->trace, receipt);
}

gboolean
desktop_request_send (EvbPlugin *plugin, const char *type, json_t *data, GObject *owner,
                      DesktopReceiptFunc receipt, DesktopTrace *trace, GError **error)
{
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;
  ReceiptClosure *closure = g_new0 (ReceiptClosure, 1);
  char traceparent[EVB_TRACEPARENT_SIZE];
  DesktopTrace fresh;

  do
    {
      fresh.high = random_u64 ();
      fresh.low = random_u64 ();
    }
  while (!desktop_trace_is_set (&fresh));
  /* The parent id only has to be valid: the event itself gets parent 0. */
  g_snprintf (traceparent, sizeof traceparent, "00-%016" G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER "x-%016"
              G_GINT64_MODIFIER "x-01", fresh.high, fresh.low, random_u64 () | 1);

  g_weak_ref_init (&closure->owner, owner);
  closure->func = receipt;
  closure->trace = fresh;
  options.traceparent = traceparent;
  /* A window never waits for room on the main loop it runs on. */
  options.timeout_ms = 0;
  options.receipt = on_receipt;
  options.receipt_data = closure;
  options.receipt_destroy = receipt_closure_free;
  *trace = fresh;
  return evb_plugin_emit_full (plugin, type, data, &options, error) != 0;
}

guint64
desktop_subscribe (EvbPlugin *plugin, GObject *owner, const char *pattern, const char *label, EvbHandlerFunc func,
                   GError **error)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;

  spec.mode = EVB_MODE_SYNC;
  spec.pattern = pattern;
  spec.handler = label;
  spec.func = func;
  /* Borrowed: the bus never calls a route whose owner is gone. */
  spec.user_data = owner;
  return evb_plugin_subscribe (plugin, &spec, owner, error);
}

char *
desktop_failure_describe (const EvbEvent *failure)
{
  json_t *error = json_object_get (failure->data, EVB_FIELD_ERROR);
  const char *handler = json_string_value (json_object_get (failure->data, EVB_FIELD_HANDLER));
  const char *message = json_string_value (json_object_get (error, "message"));

  return g_strdup_printf ("%s: %s", handler != NULL ? handler : "a handler",
                          message != NULL ? message : "failed without a message");
}

char *
desktop_receipt_describe (const char *type, const EvbReceipt *receipt)
{
  const char *message = receipt->error_message != NULL ? receipt->error_message : "no message";

  switch (receipt->outcome)
    {
    case EVB_RECEIPT_HANDLED:
    case EVB_RECEIPT_DONE:
      return NULL;
    case EVB_RECEIPT_FAILED:
      return g_strdup_printf ("%s failed: %s", type, message);
    case EVB_RECEIPT_UNHANDLED:
      return g_strdup_printf ("nobody handles %s: check the config's routes", type);
    case EVB_RECEIPT_DROPPED:
      return g_strdup_printf ("%s was dropped: the host's inbox is full", type);
    case EVB_RECEIPT_REFUSED:
      return g_strdup_printf ("%s was refused: %s", type, message);
    case EVB_RECEIPT_CANCELLED:
      return g_strdup_printf ("%s was cancelled (the host is shutting down or the route went away)", type);
    }
  return g_strdup_printf ("%s: unknown outcome %d", type, receipt->outcome);
}
