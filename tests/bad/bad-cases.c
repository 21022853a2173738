/* The bad-input matrix's reader (bad-cases.h). */
#include "bad-cases.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void
bad_case_free (gpointer data)
{
  BadCase *bad = data;

  g_free (bad->name);
  g_free (bad->setup);
  g_free (bad->command);
  g_free (bad->expected);
  g_free (bad);
}

static char *
unescape (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p; p++)
    {
      if (*p != '\\' || p[1] == '\0')
        {
          g_string_append_c (out, *p);
          continue;
        }
      p++;
      switch (*p)
        {
        case 'n': g_string_append_c (out, '\n'); break;
        case 't': g_string_append_c (out, '\t'); break;
        default: g_string_append_c (out, *p); break;
        }
    }
  return g_string_free (out, FALSE);
}

GPtrArray *
bad_cases_read (const char *tsv)
{
  GPtrArray *cases = g_ptr_array_new_with_free_func (bad_case_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (tsv, &text, NULL, &error))
    g_error ("%s", error->message);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = NULL;
      BadCase *bad;

      if (lines[i][0] == '\0' || lines[i][0] == '#')
        continue;
      fields = g_strsplit (lines[i], "\t", -1);
      if (g_strv_length (fields) != 5)
        g_error ("%s:%u: expected 5 tab-separated fields, got %u", tsv, i + 1, g_strv_length (fields));
      bad = g_new0 (BadCase, 1);
      bad->name = g_strdup (fields[0]);
      bad->setup = g_strdup (fields[1]);
      bad->command = g_strdup (fields[2]);
      bad->exit_status = atoi (fields[3]);
      bad->expected = unescape (fields[4]);
      bad->line = i + 1;
      g_ptr_array_add (cases, bad);
    }
  return cases;
}

char *
bad_cases_regex_error (const char *pattern)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GRegex) regex = g_regex_new (pattern, 0, 0, &error);

  return regex == NULL ? g_strdup (error->message) : g_strdup ("(regex compiles)");
}

char *
bad_cases_repeat (const char *spec)
{
  return g_strnfill ((gsize) g_ascii_strtoull (spec + 2, NULL, 10), spec[0]);
}

/* Replaces each "@NAME(argument)@" by @compute (argument). */
void
bad_cases_replace_calls (GString *text, const char *name, char *(*compute) (const char *))
{
  g_autofree char *opening = g_strdup_printf ("@%s(", name);
  char *start;

  while ((start = strstr (text->str, opening)) != NULL)
    {
      gsize at = start - text->str;
      const char *argument = start + strlen (opening);
      const char *end = strstr (argument, ")@");
      g_autofree char *value = NULL;
      g_autofree char *inner = NULL;

      if (end == NULL)
        fail_msg ("unterminated %s in cases.tsv", opening);
      inner = g_strndup (argument, end - argument);
      value = compute (inner);
      g_string_erase (text, at, (end + 2) - start);
      g_string_insert (text, at, value);
    }
}

