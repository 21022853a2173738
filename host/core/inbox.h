/* The main loop's inbox: a bounded multi-producer queue drained on one
 * GMainContext in bounded slices.
 *
 * Producers (any thread) wake the context only when the queue goes from
 * empty to non-empty, so a burst costs one wake-up, not one per item.  The
 * single queue keeps every producer's items in the order it pushed them. */
#pragma once

#include <glib.h>

#include "bus.h"

G_BEGIN_DECLS

typedef struct _EvbInbox EvbInbox;

#define EVB_INBOX_MAX_SLICE 1024

/* Called on the context's thread for each item, in FIFO order; takes the item. */
typedef void (*EvbInboxDispatchFunc) (gpointer item, gpointer user_data);

/* @limit 0: unbounded.  @item_free frees items dropped or left at free time.
 * @slice_items: items handled per main-loop dispatch at most. */
EvbInbox *evb_inbox_new (GMainContext *context, const char *name, guint limit, EvbOverflowPolicy policy,
                         guint slice_items, EvbInboxDispatchFunc dispatch, GDestroyNotify item_free,
                         gpointer user_data);

/* Detaches the source and frees items still queued.  The context's thread. */
void evb_inbox_free (EvbInbox *inbox);

/* Queues @item.  Any thread.  On FALSE (@error set: full under "reject",
 * or closed) the caller keeps @item.  Under "block", a producer that is not
 * the consumer waits for room; the consumer itself is admitted past the
 * limit (counted as overcommitted) since waiting on itself would deadlock.
 * Under "drop-oldest" the oldest item is freed and counted.  Items the keep
 * func keeps are exempt from all of this (evb_inbox_set_keep_func). */
gboolean evb_inbox_push (EvbInbox *inbox, gpointer item, GError **error);

/* Same, bounding the wait of a "block" producer: @timeout_us < 0 waits as
 * long as it takes; 0 fails at once (EVB_BUS_ERROR_INBOX_FULL) when there is
 * no room; N fails after N µs (EVB_BUS_ERROR_TIMEOUT).  Either refusal is
 * counted as dropped. */
gboolean evb_inbox_push_timed (EvbInbox *inbox, gpointer item, gint64 timeout_us, GError **error);

/* Makes every later push fail with EVB_BUS_ERROR_SHUT_DOWN (but for items
 * the keep func keeps) and releases blocked producers.  Any thread. */
void evb_inbox_close (EvbInbox *inbox);

/* Stops handing items to the consumer: pushes still succeed (or fail) as
 * before, and what they queue stays until evb_inbox_free ().  For a bus
 * abandoned under a handler that never returned.  Main thread. */
void evb_inbox_detach (EvbInbox *inbox);

/* From now on "block" admits producers past the limit (counted as
 * overcommitted) and releases those waiting: a producer thread parked in
 * emit must not hold up its plugin's shutdown, which joins it.  Any thread. */
void evb_inbox_stop_blocking (EvbInbox *inbox);

/* Handles up to one slice now; returns how many.  The context's thread. */
guint evb_inbox_drain_slice (EvbInbox *inbox);

/* Under "block", the consumer (and every producer once blocking stopped)
 * is admitted past the limit by @overcommit_limit items at most; past
 * that its push fails (EVB_BUS_ERROR_INBOX_FULL), counted as dropped and
 * as overcommit_refused.  Items the keep func keeps are exempt.  Default:
 * G_MAXUINT (no bound).  Any thread. */
void evb_inbox_set_overcommit_limit (EvbInbox *inbox, guint overcommit_limit);

/* The thread whose items are admitted past a full "block" inbox. */
void evb_inbox_set_consumer (EvbInbox *inbox, GThread *thread);

/* TRUE for an item that must never be refused or dropped for want of room
 * (the bus's own status and failure reports).  Called under the inbox's
 * lock: cheap, and never calls back into the inbox. */
typedef gboolean (*EvbInboxKeepFunc) (gpointer item);

/* Items @keep says TRUE for pass a full inbox under every policy (counted
 * as overcommitted) and a closed one; "drop-oldest" drops the oldest item
 * that is not one of them.  Set before the first push.  Any thread. */
void evb_inbox_set_keep_func (EvbInbox *inbox, EvbInboxKeepFunc keep);

typedef struct {
  guint depth;
  guint peak;
  guint limit;
  guint64 pushed;
  guint64 dropped;       /* drop-oldest losses and reject refusals */
  guint64 overcommitted;
  guint64 overcommit_refused; /* "block" pushes refused past limit + overcommit_limit (also in dropped) */
  guint64 wakeups;       /* context wake-ups producers caused */
  guint64 blocked;       /* pushes that had to wait for room */
} EvbInboxStats;

void evb_inbox_get_stats (EvbInbox *inbox, EvbInboxStats *stats);
guint evb_inbox_depth (EvbInbox *inbox);

G_END_DECLS
