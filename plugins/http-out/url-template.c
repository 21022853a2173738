/* URL templates: "http://127.0.0.1:8089/items/{data.id}?q={data.query}".
 *
 * Compiled at init into literal text and fields, so that a typo is a load
 * error; expanded per event with every value percent-encoded (a value
 * never adds a path segment or a query parameter of its own). */
#include "http-out-private.h"

#include <string.h>

typedef enum { PART_TEXT, PART_DATA, PART_TYPE, PART_ID, PART_TRACE_ID } PartKind;

typedef struct {
  PartKind kind;
  char *text; /* the literal, or the data path */
} Part;

struct _HttpOutTemplate {
  GArray *parts; /* Part */
};

static void
part_clear (gpointer data)
{
  g_free (((Part *) data)->text);
}

void
http_out_template_free (HttpOutTemplate *tmpl)
{
  g_array_unref (tmpl->parts);
  g_free (tmpl);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HttpOutTemplate, http_out_template_free)

static gboolean
data_path_is_valid (const char *path)
{
  g_auto (GStrv) segments = g_strsplit (path, ".", -1);

  for (guint i = 0; segments[i] != NULL; i++)
    if (segments[i][0] == '\0')
      return FALSE;
  return *path != '\0';
}

HttpOutTemplate *
http_out_template_new (const char *text, GError **error)
{
  g_autoptr (HttpOutTemplate) tmpl = g_new0 (HttpOutTemplate, 1);
  const char *p = text;

  tmpl->parts = g_array_new (FALSE, FALSE, sizeof (Part));
  g_array_set_clear_func (tmpl->parts, part_clear);
  if (!g_str_has_prefix (text, "http://") && !g_str_has_prefix (text, "https://"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "url \"%s\": must start with http:// or https://", text);
      return NULL;
    }
  while (*p != '\0')
    {
      const char *open = strchr (p, '{');
      const char *close;
      g_autofree char *name = NULL;
      Part part = { PART_TEXT, NULL };

      if (open == NULL)
        {
          part.text = g_strdup (p);
          g_array_append_val (tmpl->parts, part);
          break;
        }
      if (open > p)
        {
          part.text = g_strndup (p, (gsize) (open - p));
          g_array_append_val (tmpl->parts, part);
        }
      close = strchr (open, '}');
      if (close == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "url \"%s\": \"{\" at byte %zu is never closed with \"}\"", text, (gsize) (open - text));
          return NULL;
        }
      name = g_strndup (open + 1, (gsize) (close - open - 1));
      part.text = NULL;
      if (g_str_has_prefix (name, "data.") && data_path_is_valid (name + 5))
        {
          part.kind = PART_DATA;
          part.text = g_strdup (name + 5);
        }
      else if (strcmp (name, "type") == 0)
        part.kind = PART_TYPE;
      else if (strcmp (name, "id") == 0)
        part.kind = PART_ID;
      else if (strcmp (name, "trace_id") == 0)
        part.kind = PART_TRACE_ID;
      else
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "url \"%s\": unknown placeholder {%s} at byte %zu: use {data.<field>}, {type}, {id} or "
                       "{trace_id}",
                       text, name, (gsize) (open - text));
          return NULL;
        }
      g_array_append_val (tmpl->parts, part);
      p = close + 1;
    }
  return g_steal_pointer (&tmpl);
}

json_t *
http_out_lookup (json_t *data, const char *path)
{
  const char *start = path;

  for (;;)
    {
      const char *dot = strchr (start, '.');
      gsize length = dot != NULL ? (gsize) (dot - start) : strlen (start);
      g_autofree char *key = g_strndup (start, length);

      if (!json_is_object (data))
        return NULL;
      data = json_object_get (data, key);
      if (data == NULL || dot == NULL)
        return data;
      start = dot + 1;
    }
}

char *
http_out_template_expand (const HttpOutTemplate *tmpl, const EvbEvent *event, GError **error)
{
  GString *url = g_string_new (NULL);

  for (guint i = 0; i < tmpl->parts->len; i++)
    {
      const Part *part = &g_array_index (tmpl->parts, Part, i);
      g_autofree char *value = NULL;
      json_t *field;

      switch (part->kind)
        {
        case PART_TEXT:
          g_string_append (url, part->text);
          continue;
        case PART_TYPE:
          value = g_strdup (event->type);
          break;
        case PART_ID:
          value = g_strdup_printf ("%" G_GUINT64_FORMAT, event->id);
          break;
        case PART_TRACE_ID:
          if (!EVB_EVENT_HAS (event, trace_id_low))
            {
              g_set_error (error, g_quark_from_string (HTTP_OUT_DOMAIN), HTTP_OUT_BAD_INPUT,
                           "url: the event has no trace id (for {trace_id}; its host predates ABI 1.1)");
              g_string_free (url, TRUE);
              return NULL;
            }
          value = g_malloc (EVB_TRACE_ID_SIZE);
          evb_event_format_trace_id (event, value);
          break;
        case PART_DATA:
        default:
          field = http_out_lookup (event->data, part->text);
          if (field == NULL)
            {
              g_set_error (error, g_quark_from_string (HTTP_OUT_DOMAIN), HTTP_OUT_BAD_INPUT,
                           "url: the event has no data.%s (for {data.%s})", part->text, part->text);
              g_string_free (url, TRUE);
              return NULL;
            }
          if (json_is_string (field))
            value = g_strdup (json_string_value (field));
          else if (json_is_integer (field))
            value = g_strdup_printf ("%" JSON_INTEGER_FORMAT, json_integer_value (field));
          else if (json_is_real (field))
            {
              char number[G_ASCII_DTOSTR_BUF_SIZE];

              value = g_strdup (g_ascii_dtostr (number, sizeof number, json_real_value (field)));
            }
          else if (json_is_boolean (field))
            value = g_strdup (json_is_true (field) ? "true" : "false");
          else
            {
              g_set_error (error, g_quark_from_string (HTTP_OUT_DOMAIN), HTTP_OUT_BAD_INPUT,
                           "url: data.%s is %s; only a string, number or boolean fits in a URL", part->text,
                           json_is_object (field) ? "an object" : json_is_array (field) ? "an array" : "null");
              g_string_free (url, TRUE);
              return NULL;
            }
          break;
        }
      g_string_append_uri_escaped (url, value, NULL, FALSE);
    }
  return g_string_free (url, FALSE);
}
