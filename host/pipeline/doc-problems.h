/* Problems found in one JSON document (a config file, an event file), as
 * the lines an operator reads: "FILE:LINE:COL: PATH: message" (PATH left
 * out for the top level, the position when it cannot be found), one line
 * each, in document order whatever order the checks ran in.  The one place
 * that spells an error line. */
#pragma once

#include <glib.h>

#include "json-doc.h"

G_BEGIN_DECLS

typedef struct _EvbDocProblems EvbDocProblems;

/* Problems of @doc (borrowed; it must outlive them), named @name in the
 * lines (NULL: the file @doc was read from). */
EvbDocProblems *evb_doc_problems_new (EvbJsonDoc *doc, const char *name);
void evb_doc_problems_free (EvbDocProblems *problems);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbDocProblems, evb_doc_problems_free)

void evb_doc_problems_add (EvbDocProblems *problems, const char *path, const char *message);
guint evb_doc_problems_count (EvbDocProblems *problems);

/* Appends the lines, in document order, to @lines (char *; may be NULL to
 * drop them) and forgets them. */
void evb_doc_problems_move_to (EvbDocProblems *problems, GPtrArray *lines);

/* One error line about @path of @doc, named @name (NULL: its file). */
char *evb_doc_error_line (EvbJsonDoc *doc, const char *name, const char *path, const char *message);

/* @raw as one line of valid UTF-8: control characters escaped (\n, \t,
 * \u0001), invalid bytes replaced, and past 2048 bytes its two ends kept
 * around " [... N bytes ...] ".  Caller frees. */
char *evb_one_line (const char *raw);

G_END_DECLS
