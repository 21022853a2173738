#include "event.h"

#include <string.h>

#include "bus.h"

typedef struct {
  EvbEvent pub;
  gint ref_count;
  char strings[]; /* type, NUL, source, NUL: one allocation per event */
} EvbEventPrivate;

static guint64 next_event_id = 1;

static json_t *
shared_empty_object (void)
{
  static json_t *empty;
  static gsize initialized;

  if (g_once_init_enter (&initialized))
    {
      empty = json_object ();
      g_once_init_leave (&initialized, 1);
    }
  return empty;
}

static gboolean
is_type_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

gboolean
evb_event_type_validate (const char *type, GError **error)
{
  guint segment = 1;
  gsize segment_length = 0;

  if (type == NULL || *type == '\0')
    {
      g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_TYPE, "invalid event type \"\": empty type");
      return FALSE;
    }
  for (const char *p = type;; p++)
    {
      if (*p == '.' || *p == '\0')
        {
          if (segment_length == 0)
            {
              g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_TYPE,
                           "invalid event type \"%s\": empty segment %u", type, segment);
              return FALSE;
            }
          if (*p == '\0')
            return TRUE;
          segment++;
          segment_length = 0;
        }
      else if (is_type_char (*p))
        segment_length++;
      else
        {
          g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_TYPE,
                       "invalid event type \"%s\": segment %u may hold only a-z 0-9 _ -", type, segment);
          return FALSE;
        }
    }
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

  event = g_malloc (sizeof (EvbEventPrivate) + type_size + source_size);
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
  g_free (priv);
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
