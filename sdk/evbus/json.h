/* evbus SDK: JSON text with numbers as people wrote them.
 *
 * jansson prints every real with 17 significant digits, so a price of 24.99
 * read from a config or a database comes out as 24.989999999999998 in a
 * reply, a file or a message.  17 digits are what some doubles need to read
 * back the same; most need fewer.  evb_json_dumps prints the reals of a
 * value with the fewest digits (15, 16 or 17, one count for the whole
 * value, as jansson allows) at which every one of them reads back as the
 * same double: 24.99 stays 24.99, 0.1 + 0.2 stays 0.30000000000000004.
 * Nothing is lost, and a value without reals costs one walk.
 *
 * Header-only, like plugin.h: plugins and the host use the same code. */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

/* TRUE if @number printed with @digits significant digits reads back as
 * the same double.  Locale-independent. */
static inline gboolean
evb_json_real_reads_back (double number, int digits)
{
  char format[8];
  char text[G_ASCII_DTOSTR_BUF_SIZE];

  g_snprintf (format, sizeof format, "%%.%dg", digits);
  g_ascii_formatd (text, sizeof text, format, number);
  return g_ascii_strtod (text, NULL) == number;
}

/* The fewest digits (15..17) at which every real in @value reads back,
 * given that @digits already do for the reals seen so far. */
static inline int
evb_json_real_digits_ (const json_t *value, int digits)
{
  const char *key;
  json_t *member;
  size_t index;

  switch (json_typeof (value))
    {
    case JSON_REAL:
      while (digits < 17 && !evb_json_real_reads_back (json_real_value (value), digits))
        digits++;
      return digits;
    case JSON_OBJECT:
      json_object_foreach ((json_t *) value, key, member)
        if ((digits = evb_json_real_digits_ (member, digits)) == 17)
          break;
      return digits;
    case JSON_ARRAY:
      json_array_foreach (value, index, member)
        if ((digits = evb_json_real_digits_ (member, digits)) == 17)
          break;
      return digits;
    default:
      return digits;
    }
}

/* The JSON_REAL_PRECISION flag for @value (see the header); add it to the
 * flags of json_dumps, json_dumpb or json_dumpf. */
static inline size_t
evb_json_real_precision (const json_t *value)
{
  return value != NULL ? JSON_REAL_PRECISION (evb_json_real_digits_ (value, 15)) : 0;
}

/* json_dumps with the reals printed as evb_json_real_precision says; a
 * JSON_REAL_PRECISION in @flags is replaced.  Free the text with free(). */
static inline char *
evb_json_dumps (const json_t *value, size_t flags)
{
  return json_dumps (value, (flags & ~(size_t) JSON_REAL_PRECISION (31)) | evb_json_real_precision (value));
}

G_END_DECLS
