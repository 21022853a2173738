/* Receipts (receipt.h). */
#include "receipt.h"

#include "tsan.h"

struct _EvbReceiptState {
  EvbReceiptFunc func;
  gpointer data;
  GDestroyNotify destroy;
  EvbBusLink *link;  /* to post to the loop, and to tell a teardown */
  guint open;        /* the walk and the jobs not yet ended */
  guint n_failures;
  EvbFailure first;  /* the first failure's error */
  gboolean accepted; /* some route took the event */
  gboolean handled;  /* some handler returned HANDLED */
  gboolean cancelled;
  gboolean fired;
};

EvbReceiptState *
evb_receipt_state_new (EvbBus *bus, EvbReceiptFunc func, gpointer data, GDestroyNotify destroy)
{
  EvbReceiptState *state = g_new0 (EvbReceiptState, 1);

  state->func = func;
  state->data = data;
  state->destroy = destroy;
  state->link = evb_bus_link_ref (bus->link);
  return state;
}

void
evb_receipt_state_free (EvbReceiptState *state)
{
  if (!state->fired)
    g_critical ("a receipt was freed without being called (event freed mid-chain?)");
  evb_failure_clear (&state->first);
  evb_bus_link_unref (state->link);
  g_free (state);
}

/* Calls the source back; once. */
static void
fire (EvbReceiptState *state, guint64 event_id, EvbReceiptOutcome outcome, const char *domain, gint code,
      const char *message)
{
  EvbReceipt receipt = {
    .struct_size = sizeof (EvbReceipt),
    .outcome = outcome,
    .event_id = event_id,
    .n_failures = state->n_failures,
    .error_domain = domain,
    .error_code = code,
    .error_message = message,
  };

  g_assert (!state->fired);
  state->fired = TRUE;
  if (state->func != NULL)
    state->func (&receipt, state->data);
  if (state->destroy != NULL)
    state->destroy (state->data);
}

static const char *const outcome_names[] = {
  [EVB_RECEIPT_HANDLED] = "handled",     [EVB_RECEIPT_DONE] = "done",       [EVB_RECEIPT_UNHANDLED] = "unhandled",
  [EVB_RECEIPT_FAILED] = "failed",       [EVB_RECEIPT_DROPPED] = "dropped", [EVB_RECEIPT_REFUSED] = "refused",
  [EVB_RECEIPT_CANCELLED] = "cancelled",
};

const char *
evb_receipt_outcome_to_string (EvbReceiptOutcome outcome)
{
  return (guint) outcome < G_N_ELEMENTS (outcome_names) ? outcome_names[outcome] : "unknown";
}

/* The chain is over: failed > cancelled > handled > done > unhandled. */
static void
fire_chain (EvbReceiptState *state, const EvbEvent *event)
{
  EvbReceiptOutcome outcome = state->n_failures > 0 ? EVB_RECEIPT_FAILED
                              : state->cancelled    ? EVB_RECEIPT_CANCELLED
                              : state->handled      ? EVB_RECEIPT_HANDLED
                              : state->accepted     ? EVB_RECEIPT_DONE
                                                    : EVB_RECEIPT_UNHANDLED;
  EvbBus *bus = evb_bus_link_get (state->link);
  guint64 event_id = event->id;

  if (bus != NULL)
    EVB_TRACE (bus, .step = EVB_TRACE_RECEIPT, .event = event, .text = evb_receipt_outcome_to_string (outcome));
  if (outcome == EVB_RECEIPT_FAILED)
    fire (state, event_id, outcome, state->first.domain, state->first.code, state->first.message);
  else
    fire (state, event_id, outcome, NULL, 0, NULL);
}

static EvbReceiptState *
state_of (const EvbEvent *event)
{
  if (G_LIKELY (!(event->flags & EVB_EVENT_FLAG_RECEIPT)))
    return NULL;
  return evb_event_get_receipt (event);
}

void
evb_receipt_hold_state (const EvbEvent *event)
{
  EvbReceiptState *state = state_of (event);

  if (state != NULL)
    state->open++;
}

void
evb_receipt_release_state (const EvbEvent *event)
{
  EvbReceiptState *state = state_of (event);

  if (state == NULL)
    return;
  g_assert (state->open > 0);
  if (--state->open == 0 && !state->fired)
    fire_chain (state, event);
}

void
evb_receipt_end_walk_state (const EvbEvent *event, gboolean accepted, gboolean handled)
{
  EvbReceiptState *state = state_of (event);

  if (state == NULL)
    return;
  state->accepted = accepted;
  state->handled = handled;
  evb_receipt_release_state (event);
}

void
evb_receipt_note_failure_state (const EvbEvent *event, const EvbFailure *failure)
{
  EvbReceiptState *state = state_of (event);

  if (state == NULL)
    return;
  if (state->n_failures++ == 0)
    {
      state->first.domain = g_strdup (failure->domain);
      state->first.code = failure->code;
      state->first.message = g_strdup (failure->message);
    }
}

void
evb_receipt_note_cancelled_state (const EvbEvent *event)
{
  EvbReceiptState *state = state_of (event);

  if (state != NULL)
    state->cancelled = TRUE;
}

void
evb_receipt_cancel_now (const EvbEvent *event)
{
  EvbReceiptState *state = state_of (event);

  if (state != NULL && !state->fired)
    fire (state, event->id, EVB_RECEIPT_CANCELLED, NULL, 0, NULL);
}

/* ---- events that never run: posted to the loop ---- */

typedef struct {
  EvbReceiptState *state;
  guint64 event_id;
  EvbReceiptOutcome outcome;
  EvbFailure reason;
} UnrunNotice;

static gboolean
unrun_notice_run (gpointer data)
{
  UnrunNotice *notice = data;

  EVB_TSAN_ACQUIRE (notice); /* posted from the emitting thread */
  fire (notice->state, notice->event_id, notice->outcome, notice->reason.domain, notice->reason.code,
        notice->reason.message);
  return G_SOURCE_REMOVE;
}

static void
unrun_notice_free (gpointer data)
{
  UnrunNotice *notice = data;

  /* A context freed before it ran the notice: the receipt is lost with
   * the loop, but its data is still released. */
  if (!notice->state->fired)
    {
      notice->state->fired = TRUE;
      if (notice->state->destroy != NULL)
        notice->state->destroy (notice->state->data);
    }
  evb_bus_link_count_notice (notice->state->link, -1);
  evb_receipt_state_free (notice->state);
  evb_failure_clear (&notice->reason);
  g_free (notice);
}

static void
post (EvbReceiptState *state, guint64 event_id, EvbReceiptOutcome outcome, const GError *reason)
{
  UnrunNotice *notice = g_new0 (UnrunNotice, 1);
  GSource *idle = g_idle_source_new ();

  if (evb_bus_link_is_closing (state->link))
    outcome = EVB_RECEIPT_CANCELLED;
  notice->state = state;
  notice->event_id = event_id;
  notice->outcome = outcome;
  if (reason != NULL)
    {
      notice->reason.domain = g_strdup (g_quark_to_string (reason->domain));
      notice->reason.code = reason->code;
      notice->reason.message = g_strdup (reason->message);
    }
  evb_bus_link_count_notice (state->link, 1);
  /* Never inline, even on the main thread: a source's callback must not
   * run inside its own emit.  At the inbox's priority, not idle's: under
   * a flood the inbox is always ready, and an idle source would wait until
   * the flood ends, with the source waiting on its receipt. */
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, unrun_notice_run, notice, unrun_notice_free);
  g_source_set_static_name (idle, "evbus receipt");
  EVB_TSAN_RELEASE (notice);
  g_source_attach (idle, evb_bus_link_get_context (state->link));
  g_source_unref (idle);
}

void
evb_receipt_post_unrun (EvbEvent *event, EvbReceiptOutcome outcome, const GError *reason)
{
  EvbReceiptState *state = state_of (event);

  if (state == NULL)
    return;
  evb_event_set_receipt (event, NULL);
  post (state, event->id, outcome, reason);
}

void
evb_receipt_post_refused (EvbBus *bus, EvbReceiptFunc func, gpointer data, GDestroyNotify destroy,
                          const GError *reason)
{
  post (evb_receipt_state_new (bus, func, data, destroy), 0, EVB_RECEIPT_REFUSED, reason);
}
