#include "inbox.h"

typedef struct {
  GSource source;
  EvbInbox *inbox;
} InboxSource;

struct _EvbInbox {
  GMutex lock;
  GCond room; /* signalled when a slice frees space and producers wait */
  gpointer *ring;
  guint capacity; /* power of two */
  guint head;
  guint count;
  /* Items queued or taken but not dispatched yet: readable without the lock
   * by prepare/check, and what "drained" means. */
  gint visible_count;
  guint waiting_producers;
  gboolean closed;
  gboolean never_block; /* shutdown: producers are admitted, never parked */
  GThread *consumer;

  guint limit;
  guint overcommit_limit; /* "block": admitted past @limit at most, then refused */
  EvbOverflowPolicy policy;
  guint slice_items;
  EvbInboxDispatchFunc dispatch;
  GDestroyNotify item_free;
  EvbInboxKeepFunc keep; /* items never refused or dropped for want of room */
  gpointer user_data;

  GMainContext *context;
  GSource *source;

  /* The slice being dispatched; the consumer's thread only.  In the inbox,
   * not on the stack: a handler may drain re-entrantly (shutdown from inside
   * a handler iterates the context), and the nested drain must go on with
   * this slice's items before newer ones, or order breaks and the rest of
   * the slice runs only after shutdown. */
  gpointer *batch;
  guint batch_next;
  guint batch_len;

  guint peak;
  guint64 pushed;
  guint64 dropped;
  guint64 overcommitted;
  guint64 overcommit_refused;
  guint64 wakeups;
  guint64 blocked;
};

static gboolean
inbox_source_prepare (GSource *source, gint *timeout)
{
  InboxSource *self = (InboxSource *) source;

  *timeout = -1;
  return g_atomic_int_get (&self->inbox->visible_count) > 0;
}

static gboolean
inbox_source_check (GSource *source)
{
  InboxSource *self = (InboxSource *) source;

  return g_atomic_int_get (&self->inbox->visible_count) > 0;
}

static gboolean
inbox_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  InboxSource *self = (InboxSource *) source;

  evb_inbox_drain_slice (self->inbox);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs inbox_source_funcs = {
  .prepare = inbox_source_prepare,
  .check = inbox_source_check,
  .dispatch = inbox_source_dispatch,
};

EvbInbox *
evb_inbox_new (GMainContext *context, const char *name, guint limit, EvbOverflowPolicy policy,
               guint slice_items, EvbInboxDispatchFunc dispatch, GDestroyNotify item_free,
               gpointer user_data)
{
  EvbInbox *inbox = g_new0 (EvbInbox, 1);

  g_mutex_init (&inbox->lock);
  g_cond_init (&inbox->room);
  inbox->capacity = 64;
  inbox->ring = g_new (gpointer, inbox->capacity);
  inbox->limit = limit;
  inbox->overcommit_limit = G_MAXUINT;
  inbox->policy = policy;
  inbox->slice_items = CLAMP (slice_items, 1, EVB_INBOX_MAX_SLICE);
  inbox->dispatch = dispatch;
  inbox->item_free = item_free;
  inbox->user_data = user_data;
  inbox->consumer = g_thread_self ();
  inbox->context = context != NULL ? g_main_context_ref (context) : g_main_context_ref (g_main_context_default ());

  inbox->batch = g_new (gpointer, inbox->slice_items);

  inbox->source = g_source_new (&inbox_source_funcs, sizeof (InboxSource));
  ((InboxSource *) inbox->source)->inbox = inbox;
  g_source_set_static_name (inbox->source, name);
  /* GLib would not dispatch the source from a nested iteration otherwise,
   * and a shutdown begun in a handler could never drain. */
  g_source_set_can_recurse (inbox->source, TRUE);
  g_source_attach (inbox->source, inbox->context);
  return inbox;
}

void
evb_inbox_free (EvbInbox *inbox)
{
  if (inbox == NULL)
    return;
  evb_inbox_close (inbox);
  g_source_destroy (inbox->source);
  g_source_unref (inbox->source);
  while (inbox->batch_next < inbox->batch_len)
    {
      gpointer item = inbox->batch[inbox->batch_next++];

      if (inbox->item_free != NULL)
        inbox->item_free (item);
    }
  while (inbox->count > 0)
    {
      gpointer item = inbox->ring[inbox->head];

      inbox->head = (inbox->head + 1) & (inbox->capacity - 1);
      inbox->count--;
      if (inbox->item_free != NULL)
        inbox->item_free (item);
    }
  g_main_context_unref (inbox->context);
  g_free (inbox->batch);
  g_free (inbox->ring);
  g_cond_clear (&inbox->room);
  g_mutex_clear (&inbox->lock);
  g_free (inbox);
}

static void
ring_grow (EvbInbox *inbox)
{
  guint new_capacity = inbox->capacity * 2;
  gpointer *ring = g_new (gpointer, new_capacity);

  for (guint i = 0; i < inbox->count; i++)
    ring[i] = inbox->ring[(inbox->head + i) & (inbox->capacity - 1)];
  g_free (inbox->ring);
  inbox->ring = ring;
  inbox->capacity = new_capacity;
  inbox->head = 0;
}

static gpointer
ring_pop_locked (EvbInbox *inbox)
{
  gpointer item = inbox->ring[inbox->head];

  inbox->head = (inbox->head + 1) & (inbox->capacity - 1);
  inbox->count--;
  return item;
}

/* Removes and returns the oldest item the keep func lets go, or NULL when
 * every queued item must be kept.  The kept items before it move up one
 * slot, in order. */
static gpointer
ring_take_droppable_locked (EvbInbox *inbox)
{
  guint mask = inbox->capacity - 1;

  for (guint i = 0; i < inbox->count; i++)
    {
      gpointer item = inbox->ring[(inbox->head + i) & mask];

      if (inbox->keep != NULL && inbox->keep (item))
        continue;
      for (; i > 0; i--)
        inbox->ring[(inbox->head + i) & mask] = inbox->ring[(inbox->head + i - 1) & mask];
      inbox->head = (inbox->head + 1) & mask;
      inbox->count--;
      return item;
    }
  return NULL;
}

void
evb_inbox_set_keep_func (EvbInbox *inbox, EvbInboxKeepFunc keep)
{
  g_mutex_lock (&inbox->lock);
  inbox->keep = keep;
  g_mutex_unlock (&inbox->lock);
}

gboolean
evb_inbox_push (EvbInbox *inbox, gpointer item, GError **error)
{
  return evb_inbox_push_timed (inbox, item, -1, error);
}

gboolean
evb_inbox_push_timed (EvbInbox *inbox, gpointer item, gint64 timeout_us, GError **error)
{
  gpointer dropped_item = NULL;
  gboolean was_empty;
  gint64 deadline = timeout_us > 0 ? g_get_monotonic_time () + timeout_us : 0;

  g_mutex_lock (&inbox->lock);
  if (inbox->limit > 0 && inbox->count >= inbox->limit && !inbox->closed && inbox->keep != NULL
      && inbox->keep (item))
    inbox->overcommitted++; /* what must be kept passes a full inbox under every policy */
  else if (inbox->limit > 0 && inbox->count >= inbox->limit && !inbox->closed)
    {
      switch (inbox->policy)
        {
        case EVB_OVERFLOW_REJECT:
          inbox->dropped++;
          g_mutex_unlock (&inbox->lock);
          g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL,
                       "inbox full (%u events): event rejected; raise host.inbox_limit or choose another "
                       "overflow policy", inbox->limit);
          return FALSE;
        case EVB_OVERFLOW_DROP_OLDEST:
          /* Never an item that must be kept; if all of them must, this
           * one passes the limit instead. */
          dropped_item = ring_take_droppable_locked (inbox);
          if (dropped_item != NULL)
            inbox->dropped++;
          else
            inbox->overcommitted++;
          break;
        case EVB_OVERFLOW_BLOCK:
          if (g_thread_self () == inbox->consumer || inbox->never_block)
            {
              /* Admitted, not parked, but not without end: a sync handler
               * emitting in a loop would otherwise grow the host until
               * the system kills it. */
              if ((guint64) inbox->count >= (guint64) inbox->limit + inbox->overcommit_limit)
                {
                  /* The advice differs: the consumer is a sync handler
                   * emitting in a loop; any other thread is a producer
                   * still emitting while the host shuts down. */
                  gboolean from_consumer = g_thread_self () == inbox->consumer;

                  inbox->dropped++;
                  inbox->overcommit_refused++;
                  g_mutex_unlock (&inbox->lock);
                  g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL,
                               "inbox full (%u events, and %u more admitted past the limit, "
                               "host.inbox_overcommit): event refused; %s",
                               inbox->limit, inbox->overcommit_limit,
                               from_consumer ? "emit fewer events per sync handler call (or from an async one), "
                                               "or raise host.inbox_overcommit"
                                             : "the host is shutting down: a source should stop emitting when "
                                               "its plugin is stopped");
                  return FALSE;
                }
              inbox->overcommitted++;
              break;
            }
          if (timeout_us == 0)
            {
              inbox->dropped++;
              g_mutex_unlock (&inbox->lock);
              g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INBOX_FULL,
                           "inbox full (%u events): event refused without waiting (timeout 0)", inbox->limit);
              return FALSE;
            }
          inbox->blocked++;
          inbox->waiting_producers++;
          while (inbox->count >= inbox->limit && !inbox->closed && !inbox->never_block)
            if (timeout_us < 0)
              g_cond_wait (&inbox->room, &inbox->lock);
            else if (!g_cond_wait_until (&inbox->room, &inbox->lock, deadline)
                     && inbox->count >= inbox->limit && !inbox->closed && !inbox->never_block)
              {
                inbox->waiting_producers--;
                inbox->dropped++;
                g_mutex_unlock (&inbox->lock);
                g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_TIMEOUT,
                             "inbox full (%u events): no room within %" G_GINT64_FORMAT " ms; event refused",
                             inbox->limit, timeout_us / 1000);
                return FALSE;
              }
          inbox->waiting_producers--;
          break;
        }
    }
  /* What must be kept is still admitted: the consumer reports on work it
   * finishes while it drains a closed inbox. */
  if (inbox->closed && !(inbox->keep != NULL && inbox->keep (item)))
    {
      g_mutex_unlock (&inbox->lock);
      if (dropped_item != NULL && inbox->item_free != NULL)
        inbox->item_free (dropped_item);
      g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_SHUT_DOWN, "the bus is shutting down: event refused");
      return FALSE;
    }
  if (inbox->count == inbox->capacity)
    ring_grow (inbox);
  inbox->ring[(inbox->head + inbox->count) & (inbox->capacity - 1)] = item;
  was_empty = inbox->count == 0;
  inbox->count++;
  inbox->pushed++;
  if (inbox->count > inbox->peak)
    inbox->peak = inbox->count;
  if (dropped_item == NULL)
    g_atomic_int_inc (&inbox->visible_count);
  if (was_empty)
    inbox->wakeups++;
  g_mutex_unlock (&inbox->lock);

  /* Only the empty -> non-empty edge needs a wake-up: until the consumer has
   * emptied the queue it keeps coming back for more on its own. */
  if (was_empty)
    g_main_context_wakeup (inbox->context);
  if (dropped_item != NULL && inbox->item_free != NULL)
    inbox->item_free (dropped_item);
  return TRUE;
}

void
evb_inbox_detach (EvbInbox *inbox)
{
  g_source_destroy (inbox->source);
}

void
evb_inbox_close (EvbInbox *inbox)
{
  g_mutex_lock (&inbox->lock);
  inbox->closed = TRUE;
  g_cond_broadcast (&inbox->room);
  g_mutex_unlock (&inbox->lock);
}

void
evb_inbox_stop_blocking (EvbInbox *inbox)
{
  g_mutex_lock (&inbox->lock);
  inbox->never_block = TRUE;
  g_cond_broadcast (&inbox->room);
  g_mutex_unlock (&inbox->lock);
}

guint
evb_inbox_drain_slice (EvbInbox *inbox)
{
  guint dispatched = 0;

  /* A drain nested in a handler first finishes the slice in progress. */
  if (inbox->batch_next == inbox->batch_len)
    {
      guint taken = 0;

      g_mutex_lock (&inbox->lock);
      while (taken < inbox->slice_items && inbox->count > 0)
        inbox->batch[taken++] = ring_pop_locked (inbox);
      if (inbox->waiting_producers > 0 && taken > 0)
        g_cond_broadcast (&inbox->room);
      g_mutex_unlock (&inbox->lock);
      inbox->batch_next = 0;
      inbox->batch_len = taken;
    }

  while (inbox->batch_next < inbox->batch_len && dispatched < inbox->slice_items)
    {
      gpointer item = inbox->batch[inbox->batch_next++];

      g_atomic_int_add (&inbox->visible_count, -1);
      dispatched++;
      inbox->dispatch (item, inbox->user_data);
    }
  return dispatched;
}

void
evb_inbox_set_overcommit_limit (EvbInbox *inbox, guint overcommit_limit)
{
  g_mutex_lock (&inbox->lock);
  inbox->overcommit_limit = overcommit_limit;
  g_mutex_unlock (&inbox->lock);
}

void
evb_inbox_set_consumer (EvbInbox *inbox, GThread *thread)
{
  g_mutex_lock (&inbox->lock);
  inbox->consumer = thread;
  g_mutex_unlock (&inbox->lock);
}

void
evb_inbox_get_stats (EvbInbox *inbox, EvbInboxStats *stats)
{
  g_mutex_lock (&inbox->lock);
  stats->depth = inbox->count;
  stats->peak = inbox->peak;
  stats->limit = inbox->limit;
  stats->pushed = inbox->pushed;
  stats->dropped = inbox->dropped;
  stats->overcommitted = inbox->overcommitted;
  stats->overcommit_refused = inbox->overcommit_refused;
  stats->wakeups = inbox->wakeups;
  stats->blocked = inbox->blocked;
  g_mutex_unlock (&inbox->lock);
}

guint
evb_inbox_depth (EvbInbox *inbox)
{
  return (guint) g_atomic_int_get (&inbox->visible_count);
}
