/* The cap on text the dashboard copies out of events (failure messages,
 * SSE data, trace records): a plugin that puts megabytes into its error
 * messages must not make every snapshot, stream message and trace that
 * large (issue 15, finding 5).  See DASH_TEXT_MAX. */
#include "dashboard-private.h"

#include <string.h>

gsize
dash_text_keep (const char *text, gsize length)
{
  gsize keep;

  if (length <= DASH_TEXT_MAX)
    return length;
  /* Cut at a character boundary: back over UTF-8 continuation bytes. */
  keep = DASH_TEXT_MAX;
  while (keep > 0 && ((guchar) text[keep] & 0xC0) == 0x80)
    keep--;
  return keep;
}

char *
dash_text_capped (const char *text, gsize length)
{
  gsize keep = dash_text_keep (text, length);

  if (keep == length)
    return g_strndup (text, length);
  return g_strdup_printf ("%.*s" DASH_TEXT_MARK_FORMAT, (int) keep, text, length);
}

void
dash_json_cap_strings (json_t *json)
{
  const char *key;
  json_t *value;
  gsize i;

  if (json_is_string (json))
    {
      gsize length = json_string_length (json);

      if (length > DASH_TEXT_MAX)
        {
          g_autofree char *capped = dash_text_capped (json_string_value (json), length);

          json_string_set (json, capped);
        }
    }
  else if (json_is_object (json))
    {
      json_object_foreach (json, key, value)
        dash_json_cap_strings (value);
    }
  else if (json_is_array (json))
    {
      json_array_foreach (json, i, value)
        dash_json_cap_strings (value);
    }
}
