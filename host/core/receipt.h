/* Receipts (DESIGN "Receipts"): a source's callback, called exactly once on
 * the main thread when its event's chain is over, or when the event never
 * ran.
 *
 * A receipt rides on its event (event.h).  While the event is dispatched the
 * state counts what is still open: the walk down the priority levels, and
 * every job the walk started (a job the level stopped waiting for, after its
 * timeout, still counts until it ends).  The last of them to close fires
 * it.  An event that never runs (refused, dropped, left queued at teardown)
 * has its receipt posted to the main loop instead.  Main thread unless said
 * otherwise. */
#pragma once

#include "bus-private.h"

G_BEGIN_DECLS

/* A receipt for an event about to be queued on @bus.  Any thread. */
EvbReceiptState *evb_receipt_state_new (EvbBus *bus, EvbReceiptFunc func, gpointer data, GDestroyNotify destroy);

/* Frees @state without calling it (the event's last reference). */
void evb_receipt_state_free (EvbReceiptState *state);

/* The state's bookkeeping, out of line; the inline wrappers below cost
 * an event without a receipt one flag test (they sit on dispatch's path). */
void evb_receipt_hold_state (const EvbEvent *event);
void evb_receipt_release_state (const EvbEvent *event);
void evb_receipt_end_walk_state (const EvbEvent *event, gboolean accepted, gboolean handled);
void evb_receipt_note_failure_state (const EvbEvent *event, const EvbFailure *failure);
void evb_receipt_note_cancelled_state (const EvbEvent *event);

#define EVB_HAS_RECEIPT(event) G_UNLIKELY (((event)->flags & EVB_EVENT_FLAG_RECEIPT) != 0)

/* A job of @event's chain starts. */
static inline void
evb_receipt_hold (const EvbEvent *event)
{
  if (EVB_HAS_RECEIPT (event))
    evb_receipt_hold_state (event);
}

/* @event's dispatch begins: the walk holds the receipt open. */
static inline void
evb_receipt_begin (const EvbEvent *event)
{
  evb_receipt_hold (event);
}

/* A job of @event's chain ends. */
static inline void
evb_receipt_release (const EvbEvent *event)
{
  if (EVB_HAS_RECEIPT (event))
    evb_receipt_release_state (event);
}

/* The walk is over: what it came to.  Releases the walk's hold. */
static inline void
evb_receipt_end_walk (const EvbEvent *event, gboolean accepted, gboolean handled)
{
  if (EVB_HAS_RECEIPT (event))
    evb_receipt_end_walk_state (event, accepted, handled);
}

/* A failure (handler result or overrun) of @event's chain. */
static inline void
evb_receipt_note_failure (const EvbEvent *event, const EvbFailure *failure)
{
  if (EVB_HAS_RECEIPT (event))
    evb_receipt_note_failure_state (event, failure);
}

/* A job of @event's chain ended cancelled. */
static inline void
evb_receipt_note_cancelled (const EvbEvent *event)
{
  if (EVB_HAS_RECEIPT (event))
    evb_receipt_note_cancelled_state (event);
}

/* @event will never run: posts @outcome (with @reason, or NULL) to the
 * main loop and takes the receipt off the event.  Any thread.  A receipt
 * whose bus is being torn down reports EVB_RECEIPT_CANCELLED whatever
 * @outcome says. */
void evb_receipt_post_unrun (EvbEvent *event, EvbReceiptOutcome outcome, const GError *reason);

/* Same for an emit refused before any event was made (bad type or data). */
void evb_receipt_post_refused (EvbBus *bus, EvbReceiptFunc func, gpointer data, GDestroyNotify destroy,
                               const GError *reason);

/* "handled", "done", ... as `evbus run --trace` and messages say it. */
const char *evb_receipt_outcome_to_string (EvbReceiptOutcome outcome);

/* @event's receipt fires now as cancelled, if it has not fired (a bus
 * abandoned under a handler that never returned). */
void evb_receipt_cancel_now (const EvbEvent *event);

G_END_DECLS
