#include "event.h"

#include <string.h>

#include "bus.h"
#include "receipt.h"

typedef struct {
  EvbEvent pub;
  EvbReceiptState *receipt; /* NULL unless a source asked for a receipt */
  gint ref_count;
  guint type_hash; /* evb_type_hash (type): made once here, read by each lookup */
  guint alloc_size;
  char strings[]; /* type, NUL, source, NUL[, tracestate, NUL]: one allocation per event */
} EvbEventPrivate;

static guint64 next_event_id = 1;

/* The event whose handler this thread runs (event.h). */
static __thread const EvbEvent *current_event;

#ifndef EVB_NO_TRACE
/* Per thread, so that starting a trace takes no lock: splitmix64, seeded
 * once per thread from GLib's generator. */
static __thread guint64 trace_seed;

static guint64
next_random (void)
{
  guint64 z;

  if (G_UNLIKELY (trace_seed == 0))
    trace_seed = ((guint64) g_random_int () << 32 | g_random_int ()) | 1;
  z = (trace_seed += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
#endif

const EvbEvent *
evb_event_get_current (void)
{
  return current_event;
}

const EvbEvent *
evb_event_set_current (const EvbEvent *event)
{
#ifdef EVB_NO_TRACE
  return NULL;
#else
  const EvbEvent *previous = current_event;

  current_event = event;
  return previous;
#endif
}

void
evb_trace_continue (const EvbEvent *event, EvbTrace *trace)
{
  trace->high = event->trace_id_high;
  trace->low = event->trace_id_low;
  trace->parent_id = event->id;
  trace->tracestate = event->tracestate;
}

/* Events are made on the emitting thread and mostly freed on the main one.
 * GSlice's per-thread magazines hand that memory back without the malloc
 * arena traffic this pattern costs (GLib >= 2.76 maps GSlice to malloc: no
 * worse).  Sanitizer builds use malloc, so that a leaked or misused event
 * stays visible to them. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EVENT_ALLOC(size) g_malloc (size)
#define EVENT_FREE(size, memory) g_free (memory)
#else
#define EVENT_ALLOC(size) g_slice_alloc (size)
#define EVENT_FREE(size, memory) g_slice_free1 ((size), (memory))
#endif

static json_t *
shared_empty_object (void)
{
  /* Published with an atomic exchange rather than g_once_init_*: their
   * release happens inside libglib, where ThreadSanitizer cannot see it, and
   * two threads emitting their first event with no data were reported. */
  static json_t *empty; /* atomic */
  json_t *object = g_atomic_pointer_get (&empty);

  if (G_UNLIKELY (object == NULL))
    {
      json_t *fresh = json_object ();

      if (!g_atomic_pointer_compare_and_exchange (&empty, NULL, fresh))
        json_decref (fresh); /* another thread was first */
      object = g_atomic_pointer_get (&empty);
    }
  return object;
}

gboolean
evb_event_type_validate (const char *type, GError **error)
{
  guint segment;

  switch (evb_type_find_fault (type, &segment))
    {
    case EVB_TYPE_OK:
      return TRUE;
    case EVB_TYPE_EMPTY:
      g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_TYPE, "invalid event type \"\": empty type");
      break;
    case EVB_TYPE_EMPTY_SEGMENT:
      g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_TYPE, "invalid event type \"%s\": empty segment %u",
                   type, segment);
      break;
    case EVB_TYPE_BAD_CHARACTER:
      g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_TYPE,
                   "invalid event type \"%s\": segment %u may hold only a-z 0-9 _ -", type, segment);
      break;
    }
  return FALSE;
}

gboolean
evb_event_type_check_unreserved (const char *type, GError **error)
{
  if (!evb_type_is_reserved (type))
    return TRUE;
  g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_RESERVED_TYPE,
               "event type \"%s\" is reserved (types under \"%s\" belong to the host)", type,
               EVB_RESERVED_TYPE_PREFIX);
  return FALSE;
}

guint
evb_type_hash (const char *type, gsize length)
{
  /* Eight bytes per step: types are short, and the main thread's lookup
   * cache is probed once per event. */
  guint64 hash = 0x9e3779b97f4a7c15ull ^ length;

  for (; length >= 8; type += 8, length -= 8)
    {
      guint64 word;

      memcpy (&word, type, 8);
      hash = (hash ^ word) * 0xff51afd7ed558ccdull;
      hash ^= hash >> 32;
    }
  if (length > 0)
    {
      guint64 word = 0;

      /* Gathered in a register: a memcpy into `word` costs a stalled
       * store-to-load forward. */
      for (gsize i = 0; i < length; i++)
        word |= (guint64) (guchar) type[i] << (8 * i);
      hash = (hash ^ word) * 0xff51afd7ed558ccdull;
      hash ^= hash >> 32;
    }
  return (guint) hash;
}

guint
evb_event_type_hash (const EvbEvent *event)
{
  return ((const EvbEventPrivate *) event)->type_hash;
}

EvbEvent *
evb_event_new (const char *type, const char *source, json_t *data, guint32 flags, const EvbTrace *trace,
               gint64 time_us)
{
  gsize type_size = strlen (type) + 1;
  gsize source_size;
  gsize state_size;
  EvbTrace inherited;
  EvbEventPrivate *event;

  if (source == NULL)
    source = "host";
  source_size = strlen (source) + 1;
  if (trace == NULL && current_event != NULL)
    {
      evb_trace_continue (current_event, &inherited);
      trace = &inherited;
    }
  state_size = trace != NULL && trace->tracestate != NULL ? strlen (trace->tracestate) + 1 : 0;

  event = EVENT_ALLOC (sizeof (EvbEventPrivate) + type_size + source_size + state_size);
  event->alloc_size = sizeof (EvbEventPrivate) + type_size + source_size + state_size;
  memcpy (event->strings, type, type_size);
  memcpy (event->strings + type_size, source, source_size);
  event->pub.struct_size = sizeof (EvbEvent);
  event->pub.flags = flags;
  event->pub.type = event->strings;
  event->pub.source = event->strings + type_size;
  event->pub.id = __atomic_fetch_add (&next_event_id, 1, __ATOMIC_RELAXED);
  event->pub.time_us = time_us;
  event->pub.data = data != NULL ? data : json_incref (shared_empty_object ());
  if (trace != NULL && (trace->high != 0 || trace->low != 0))
    {
      event->pub.trace_id_high = trace->high;
      event->pub.trace_id_low = trace->low;
      event->pub.parent_id = trace->parent_id;
    }
  else
    {
#ifdef EVB_NO_TRACE
      /* bench/: the same core without trace propagation, to measure it. */
      event->pub.trace_id_high = 0;
      event->pub.trace_id_low = 0;
#else
      event->pub.trace_id_high = next_random ();
      event->pub.trace_id_low = next_random () | 1; /* never all zeros */
#endif
      event->pub.parent_id = 0;
    }
  if (state_size > 0)
    {
      memcpy (event->strings + type_size + source_size, trace->tracestate, state_size);
      event->pub.tracestate = event->strings + type_size + source_size;
    }
  else
    event->pub.tracestate = NULL;
  event->receipt = NULL;
  event->ref_count = 1;
  event->type_hash = evb_type_hash (type, type_size - 1);
  return &event->pub;
}

EvbReceiptState *
evb_event_get_receipt (const EvbEvent *event)
{
  return ((const EvbEventPrivate *) event)->receipt;
}

void
evb_event_set_receipt (EvbEvent *event, EvbReceiptState *receipt)
{
  ((EvbEventPrivate *) event)->receipt = receipt;
  if (receipt != NULL)
    event->flags |= EVB_EVENT_FLAG_RECEIPT;
  else
    event->flags &= ~EVB_EVENT_FLAG_RECEIPT;
}

EvbEvent *
evb_event_ref (const EvbEvent *event)
{
  EvbEventPrivate *priv = (EvbEventPrivate *) event;

  g_atomic_int_inc (&priv->ref_count);
  return (EvbEvent *) event;
}

void
evb_event_unref (EvbEvent *event)
{
  EvbEventPrivate *priv = (EvbEventPrivate *) event;

  if (event == NULL || !g_atomic_int_dec_and_test (&priv->ref_count))
    return;
  if (priv->receipt != NULL)
    evb_receipt_state_free (priv->receipt);
  json_decref (event->data);
  EVENT_FREE (priv->alloc_size, priv);
}

json_t *
evb_event_to_json (const EvbEvent *event)
{
  return json_pack ("{s:s, s:I, s:I, s:s, s:O}",
                    "type", event->type,
                    "id", (json_int_t) event->id,
                    "time_us", (json_int_t) event->time_us,
                    "source", event->source,
                    "data", event->data);
}
