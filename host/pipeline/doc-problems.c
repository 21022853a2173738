/* Problems of a JSON document as error lines (doc-problems.h). */
#include "doc-problems.h"

#include <string.h>

/* An error line longer than this (a path through a huge key, a message
 * quoting a huge pattern) keeps its start and its end, each half of it. */
#define ERROR_LINE_MAX_BYTES 2048

typedef struct {
  guint line;   /* 0 with column 0: no position known */
  guint column;
  guint seq;    /* report order, to keep ties stable */
  char *text;
} DocProblem;

struct _EvbDocProblems {
  EvbJsonDoc *doc;
  char *name;
  GPtrArray *list; /* DocProblem */
};

static void
doc_problem_free (gpointer data)
{
  DocProblem *problem = data;

  g_free (problem->text);
  g_free (problem);
}

static int
doc_problem_compare (gconstpointer a, gconstpointer b)
{
  const DocProblem *pa = *(const DocProblem *const *) a;
  const DocProblem *pb = *(const DocProblem *const *) b;

  if (pa->line != pb->line)
    return pa->line < pb->line ? -1 : 1;
  if (pa->column != pb->column)
    return pa->column < pb->column ? -1 : 1;
  return pa->seq < pb->seq ? -1 : (pa->seq > pb->seq);
}

/* Escapes control characters, so that a key or value holding a newline
 * (paths and messages quote user text) still gives one line per error.
 * Also replaces invalid UTF-8 by U+FFFD: jansson's "near '...'" may cut a
 * multi-byte character in two (found by tests/fuzz/fuzz-config). */
char *
evb_one_line (const char *raw)
{
  g_autofree char *text = g_utf8_make_valid (raw, -1);
  g_autoptr (GString) out = g_string_sized_new (strlen (text));

  for (const char *p = text; *p; p++)
    {
      guchar c = (guchar) *p;

      if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, (char) c);
    }
  if (out->len > ERROR_LINE_MAX_BYTES)
    {
      gsize head = ERROR_LINE_MAX_BYTES / 2;
      gsize tail = out->len - ERROR_LINE_MAX_BYTES / 2;
      g_autofree char *cut = NULL;

      /* Cut at character boundaries. */
      while (head > 0 && ((guchar) out->str[head] & 0xC0) == 0x80)
        head--;
      while (tail < out->len && ((guchar) out->str[tail] & 0xC0) == 0x80)
        tail++;
      cut = g_strdup_printf (" [... %" G_GSIZE_FORMAT " bytes ...] ", tail - head);
      g_string_erase (out, head, tail - head);
      g_string_insert (out, head, cut);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static char *
error_line (EvbJsonDoc *doc, const char *name, const char *path, const char *message, guint *line, guint *column)
{
  const char *file = name != NULL ? name : evb_json_doc_file (doc);
  g_autofree char *text = NULL;

  *line = *column = 0;
  if (!evb_json_doc_locate (doc, path, line, column))
    text = *path ? g_strdup_printf ("%s: %s: %s", file, path, message)
                 : g_strdup_printf ("%s: %s", file, message);
  else
    text = *path ? g_strdup_printf ("%s:%u:%u: %s: %s", file, *line, *column, path, message)
                 : g_strdup_printf ("%s:%u:%u: %s", file, *line, *column, message);
  return evb_one_line (text);
}

char *
evb_doc_error_line (EvbJsonDoc *doc, const char *name, const char *path, const char *message)
{
  guint line, column;

  return error_line (doc, name, path, message, &line, &column);
}

EvbDocProblems *
evb_doc_problems_new (EvbJsonDoc *doc, const char *name)
{
  EvbDocProblems *problems = g_new0 (EvbDocProblems, 1);

  problems->doc = doc;
  problems->name = g_strdup (name);
  problems->list = g_ptr_array_new_with_free_func (doc_problem_free);
  return problems;
}

void
evb_doc_problems_free (EvbDocProblems *problems)
{
  if (problems == NULL)
    return;
  g_ptr_array_unref (problems->list);
  g_free (problems->name);
  g_free (problems);
}

void
evb_doc_problems_add (EvbDocProblems *problems, const char *path, const char *message)
{
  DocProblem *problem = g_new0 (DocProblem, 1);

  problem->seq = problems->list->len;
  problem->text = error_line (problems->doc, problems->name, path, message, &problem->line, &problem->column);
  g_ptr_array_add (problems->list, problem);
}

guint
evb_doc_problems_count (EvbDocProblems *problems)
{
  return problems->list->len;
}

void
evb_doc_problems_move_to (EvbDocProblems *problems, GPtrArray *lines)
{
  /* g_ptr_array_sort is stable since GLib 2.32; seq breaks ties anyway. */
  g_ptr_array_sort (problems->list, doc_problem_compare);
  for (guint i = 0; lines != NULL && i < problems->list->len; i++)
    g_ptr_array_add (lines, g_steal_pointer (&((DocProblem *) g_ptr_array_index (problems->list, i))->text));
  g_ptr_array_set_size (problems->list, 0);
}
