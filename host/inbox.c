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
  gint visible_count; /* count, readable without the lock by prepare/check */
  guint waiting_producers;
  gboolean closed;
  gboolean never_block; /* shutdown: producers are admitted, never parked */
  GThread *consumer;

  guint limit;
  EvbOverflowPolicy policy;
  guint slice_items;
  EvbInboxDispatchFunc dispatch;
  GDestroyNotify item_free;
  gpointer user_data;

  GMainContext *context;
  GSource *source;

  guint peak;
  guint64 pushed;
  guint64 dropped;
  guint64 overcommitted;
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
  inbox->policy = policy;
  inbox->slice_items = CLAMP (slice_items, 1, EVB_INBOX_MAX_SLICE);
  inbox->dispatch = dispatch;
  inbox->item_free = item_free;
  inbox->user_data = user_data;
  inbox->consumer = g_thread_self ();
  inbox->context = context != NULL ? g_main_context_ref (context) : g_main_context_ref (g_main_context_default ());

  inbox->source = g_source_new (&inbox_source_funcs, sizeof (InboxSource));
  ((InboxSource *) inbox->source)->inbox = inbox;
  g_source_set_static_name (inbox->source, name);
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
  while (inbox->count > 0)
    {
      gpointer item = inbox->ring[inbox->head];

      inbox->head = (inbox->head + 1) & (inbox->capacity - 1);
      inbox->count--;
      if (inbox->item_free != NULL)
        inbox->item_free (item);
    }
  g_main_context_unref (inbox->context);
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

gboolean
evb_inbox_push (EvbInbox *inbox, gpointer item, GError **error)
{
  gpointer dropped_item = NULL;
  gboolean was_empty;

  g_mutex_lock (&inbox->lock);
  if (inbox->limit > 0 && inbox->count >= inbox->limit && !inbox->closed)
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
          dropped_item = ring_pop_locked (inbox);
          inbox->dropped++;
          break;
        case EVB_OVERFLOW_BLOCK:
          if (g_thread_self () == inbox->consumer || inbox->never_block)
            {
              inbox->overcommitted++;
              break;
            }
          inbox->blocked++;
          inbox->waiting_producers++;
          while (inbox->count >= inbox->limit && !inbox->closed && !inbox->never_block)
            g_cond_wait (&inbox->room, &inbox->lock);
          inbox->waiting_producers--;
          break;
        }
    }
  if (inbox->closed)
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
  g_atomic_int_set (&inbox->visible_count, inbox->count);
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
  /* On the stack, not in the inbox: a handler may drain re-entrantly
   * (shutdown from inside a handler iterates the context). */
  gpointer batch[EVB_INBOX_MAX_SLICE];
  guint taken = 0;

  g_mutex_lock (&inbox->lock);
  while (taken < inbox->slice_items && inbox->count > 0)
    batch[taken++] = ring_pop_locked (inbox);
  g_atomic_int_set (&inbox->visible_count, inbox->count);
  if (inbox->waiting_producers > 0 && taken > 0)
    g_cond_broadcast (&inbox->room);
  g_mutex_unlock (&inbox->lock);

  for (guint i = 0; i < taken; i++)
    inbox->dispatch (batch[i], inbox->user_data);
  return taken;
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
  stats->wakeups = inbox->wakeups;
  stats->blocked = inbox->blocked;
  g_mutex_unlock (&inbox->lock);
}

guint
evb_inbox_depth (EvbInbox *inbox)
{
  return (guint) g_atomic_int_get (&inbox->visible_count);
}
