/* Templates of fields: the output path ("logs/{type}-{date}.jsonl") and
 * the "template" line format.  Parsed once at init, so that a typo is a
 * load error naming the option.
 *
 * Fields: {type} {source} {id} {date} (YYYY-MM-DD) {hour} (HH) {time}
 * (ISO 8601, ms, Z) — all of the event's time_us, in UTC — {data} (the
 * data object as JSON) and {data.KEY} / {data.KEY.SUB} (a field of the
 * data; strings as they are, other values as JSON).  "{{" and "}}" are
 * literal braces. */
#include "file-out.h"

#include <string.h>

static GQuark
template_error_quark (void)
{
  return g_quark_from_string ("evbus-file-out-template-error");
}

typedef enum {
  PART_LITERAL,
  PART_TYPE,
  PART_SOURCE,
  PART_ID,
  PART_DATE,
  PART_HOUR,
  PART_TIME,
  PART_DATA,
  PART_DATA_FIELD,
} PartKind;

typedef struct {
  PartKind kind;
  char *text;  /* the literal, or the field's name as written */
  char **keys; /* PART_DATA_FIELD: the dotted path below data */
} Part;

struct _Template {
  GArray *parts;
};

#define FIELDS_HELP "type, source, id, date, hour, time, data, data.KEY"

static void
part_clear (gpointer data)
{
  Part *part = data;

  g_free (part->text);
  g_strfreev (part->keys);
}

static gboolean
field_kind (const char *name, PartKind *kind)
{
  static const struct { const char *name; PartKind kind; } fields[] = {
    { "type", PART_TYPE }, { "source", PART_SOURCE }, { "id", PART_ID }, { "date", PART_DATE },
    { "hour", PART_HOUR }, { "time", PART_TIME },     { "data", PART_DATA },
  };

  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    if (strcmp (name, fields[i].name) == 0)
      {
        *kind = fields[i].kind;
        return TRUE;
      }
  if (g_str_has_prefix (name, "data.") && name[5] != '\0' && strstr (name, "..") == NULL
      && !g_str_has_suffix (name, "."))
    {
      *kind = PART_DATA_FIELD;
      return TRUE;
    }
  return FALSE;
}

Template *
template_new (const char *text, const char *option, GError **error)
{
  Template *template = g_new0 (Template, 1);
  g_autoptr (GString) literal = g_string_new (NULL);

  template->parts = g_array_new (FALSE, TRUE, sizeof (Part));
  g_array_set_clear_func (template->parts, part_clear);
  for (const char *p = text; *p != '\0'; p++)
    {
      const char *close;
      Part part = { 0 };

      if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}'))
        {
          g_string_append_c (literal, *p);
          p++;
          continue;
        }
      if (*p == '}')
        {
          g_set_error (error, template_error_quark (), 0,
                       "option \"%s\": \"}\" at byte %d without its \"{\" (write \"}}\" for a brace)", option,
                       (int) (p - text) + 1);
          goto fail;
        }
      if (*p != '{')
        {
          g_string_append_c (literal, *p);
          continue;
        }
      close = strchr (p, '}');
      if (close == NULL)
        {
          g_set_error (error, template_error_quark (), 0,
                       "option \"%s\": \"{\" at byte %d is not closed (write \"{{\" for a brace)", option,
                       (int) (p - text) + 1);
          goto fail;
        }
      part.text = g_strndup (p + 1, (gsize) (close - p - 1));
      if (!field_kind (part.text, &part.kind))
        {
          g_set_error (error, template_error_quark (), 0, "option \"%s\": unknown field {%s} (fields: " FIELDS_HELP ")",
                       option, part.text);
          g_free (part.text);
          goto fail;
        }
      if (part.kind == PART_DATA_FIELD)
        part.keys = g_strsplit (part.text + 5, ".", -1);
      if (literal->len > 0)
        {
          Part before = { .kind = PART_LITERAL, .text = g_strndup (literal->str, literal->len) };

          g_array_append_val (template->parts, before);
          g_string_truncate (literal, 0);
        }
      g_array_append_val (template->parts, part);
      p = close;
    }
  if (literal->len > 0)
    {
      Part last = { .kind = PART_LITERAL, .text = g_strndup (literal->str, literal->len) };

      g_array_append_val (template->parts, last);
    }
  return template;

fail:
  template_free (template);
  return NULL;
}

void
template_free (Template *template)
{
  if (template == NULL)
    return;
  g_array_unref (template->parts);
  g_free (template);
}

gboolean
template_is_constant (const Template *template)
{
  for (guint i = 0; i < template->parts->len; i++)
    if (g_array_index (template->parts, Part, i).kind != PART_LITERAL)
      return FALSE;
  return TRUE;
}

/* A value as one file-name segment: no "/", no NUL, not "." or "..", not
 * empty; control characters become "_" too. */
static void
append_path_safe (GString *out, const char *value, gsize length)
{
  gsize start = out->len;

  for (gsize i = 0; i < length; i++)
    {
      guchar c = (guchar) value[i];

      g_string_append_c (out, (c == '/' || c == '\\' || c < 0x20 || c == 0x7f) ? '_' : (char) c);
    }
  if (out->len == start || strcmp (out->str + start, ".") == 0 || strcmp (out->str + start, "..") == 0)
    {
      g_string_truncate (out, start);
      g_string_append_c (out, '_');
    }
}

/* A value on one line: newlines and carriage returns escaped. */
static void
append_text_safe (GString *out, const char *value, gsize length)
{
  for (gsize i = 0; i < length; i++)
    {
      if (value[i] == '\n')
        g_string_append (out, "\\n");
      else if (value[i] == '\r')
        g_string_append (out, "\\r");
      else
        g_string_append_c (out, value[i]);
    }
}

static json_t *
data_field (const EvbEvent *event, char **keys)
{
  json_t *value = event->data;

  for (char **key = keys; *key != NULL && value != NULL; key++)
    value = json_is_object (value) ? json_object_get (value, *key) : NULL;
  return value;
}

gboolean
template_expand (const Template *template, const EvbEvent *event, TemplateUse use, GString *out, GError **error)
{
  g_autoptr (GDateTime) seconds = g_date_time_new_from_unix_utc (event->time_us / G_USEC_PER_SEC);
  g_autoptr (GDateTime) time = g_date_time_add (seconds, event->time_us % G_USEC_PER_SEC);

  for (guint i = 0; i < template->parts->len; i++)
    {
      const Part *part = &g_array_index (template->parts, Part, i);
      g_autofree char *value = NULL;
      json_t *field;

      switch (part->kind)
        {
        case PART_LITERAL:
          g_string_append (out, part->text);
          continue;
        case PART_TYPE:
          value = g_strdup (event->type);
          break;
        case PART_SOURCE:
          value = g_strdup (event->source);
          break;
        case PART_ID:
          value = g_strdup_printf ("%" G_GUINT64_FORMAT, event->id);
          break;
        case PART_DATE:
          value = g_date_time_format (time, "%Y-%m-%d");
          break;
        case PART_HOUR:
          value = g_date_time_format (time, "%H");
          break;
        case PART_TIME:
          value = g_date_time_format (time, "%Y-%m-%dT%H:%M:%S.%fZ");
          /* %f gives µs; ms is what log readers expect. */
          if (value != NULL && strlen (value) == 27)
            {
              value[23] = 'Z';
              value[24] = '\0';
            }
          break;
        case PART_DATA:
          {
            char *dumped = evb_json_dumps (event->data, JSON_COMPACT | JSON_ENCODE_ANY);

            value = g_strdup (dumped);
            free (dumped);
          }
          break;
        case PART_DATA_FIELD:
          field = data_field (event, part->keys);
          if (field == NULL || json_is_null (field))
            {
              if (use == TEMPLATE_FOR_PATH)
                {
                  g_set_error (error, template_error_quark (), 1,
                               "no {%s} in the event's data to make the file name from", part->text);
                  return FALSE;
                }
              continue;
            }
          if (json_is_string (field))
            value = g_strndup (json_string_value (field), json_string_length (field));
          else
            {
              char *dumped = evb_json_dumps (field, JSON_COMPACT | JSON_ENCODE_ANY);

              value = g_strdup (dumped);
              free (dumped);
            }
          break;
        }
      if (value == NULL)
        value = g_strdup ("");
      if (use == TEMPLATE_FOR_PATH)
        append_path_safe (out, value, strlen (value));
      else
        append_text_safe (out, value, strlen (value));
    }
  return TRUE;
}
