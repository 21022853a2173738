#include "event.h"

#include <string.h>

#include "bus.h"

typedef struct {
  EvbEvent pub;
  gint ref_count;
  guint type_hash; /* evb_type_hash (type): made once here, read by each lookup */
  guint alloc_size;
  char strings[]; /* type, NUL, source, NUL: one allocation per event */
} EvbEventPrivate;

static guint64 next_event_id = 1;

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
evb_event_new (const char *type, const char *source, json_t *data, guint32 flags)
{
  gsize type_size = strlen (type) + 1;
  gsize source_size;
  EvbEventPrivate *event;

  if (source == NULL)
    source = "host";
  source_size = strlen (source) + 1;

  event = EVENT_ALLOC (sizeof (EvbEventPrivate) + type_size + source_size);
  event->alloc_size = sizeof (EvbEventPrivate) + type_size + source_size;
  memcpy (event->strings, type, type_size);
  memcpy (event->strings + type_size, source, source_size);
  event->pub.struct_size = sizeof (EvbEvent);
  event->pub.flags = flags;
  event->pub.type = event->strings;
  event->pub.source = event->strings + type_size;
  event->pub.id = __atomic_fetch_add (&next_event_id, 1, __ATOMIC_RELAXED);
  event->pub.time_us = g_get_real_time ();
  event->pub.data = data != NULL ? data : json_incref (shared_empty_object ());
  event->ref_count = 1;
  event->type_hash = evb_type_hash (type, type_size - 1);
  return &event->pub;
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
