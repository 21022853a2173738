/* A JSON document that knows where each of its values sits in the file.
 *
 * jansson parses the text but forgets positions once parsing succeeds; the
 * config loader needs them for every error it finds later ("pipeline.json:
 * 14:9: routes[2].filter.size: ...").  EvbJsonDoc parses with jansson and
 * then scans the same text once more to map each JSON path to a line and
 * column.
 *
 * Paths: object members are ".key" (members of the root object have no
 * leading dot), array elements "[i]"; the root itself is "".  Examples:
 * "routes", "routes[2].filter.size", "host.workers".  Keys are written as
 * they are, unquoted, so a key containing "." or "[" makes paths that look
 * nested; the first value recorded under a path keeps it.
 *
 * Positions: lines and columns are 1-based and count characters (UTF-8
 * code points), not bytes, the way jansson counts in its parse errors.  An
 * object member is positioned at the opening quote of its KEY, where an
 * operator looks for it; an array element at its first character.
 *
 * Thread safety: a document is not locked; use it from one thread at a
 * time. */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

typedef struct _EvbJsonDoc EvbJsonDoc;

#define EVB_JSON_DOC_ERROR (evb_json_doc_error_quark ())
GQuark evb_json_doc_error_quark (void);

typedef enum {
  EVB_JSON_DOC_ERROR_READ,  /* "FILE: cannot read: No such file or directory" */
  EVB_JSON_DOC_ERROR_PARSE, /* "FILE:LINE:COL: <jansson's text>" */
  EVB_JSON_DOC_ERROR_ENV,   /* see evb_json_expand_env_string() */
  EVB_JSON_DOC_ERROR_TOO_BIG, /* see evb_json_doc_expand_env() */
} EvbJsonDocError;

/* What "${...}" may substitute in one document, in all: 16 MiB.  A 120 KB
 * variable used 4,000 times would otherwise make half a gigabyte of config
 * out of a 50 KB file (issue 15, finding 7); no sane config comes near. */
#define EVB_JSON_EXPANSION_MAX (16u * 1024 * 1024)

/* Reads and parses @file (any JSON value at the top; duplicate keys and NUL
 * bytes are errors) and records the position of every value.  @file is
 * kept as given and starts every message.  Returns NULL with @error
 * (EVB_JSON_DOC_ERROR, message ready to print as one line) on failure. */
EvbJsonDoc *evb_json_doc_load (const char *file, GError **error);

/* The parsed value.  Borrowed: valid until the document is freed.  The
 * caller may change string values in place (evb_json_doc_expand_env does)
 * but should not add or remove members, or positions stop matching. */
json_t *evb_json_doc_root (EvbJsonDoc *doc);

/* The file name as passed to evb_json_doc_load(). */
const char *evb_json_doc_file (EvbJsonDoc *doc);

/* Position of @path, or of its nearest ancestor that has one ("a.b[3].c"
 * tries "a.b[3].c", "a.b[3]", "a.b", "a", "").  FALSE when none has
 * (only for a path outside the document). */
gboolean evb_json_doc_locate (EvbJsonDoc *doc, const char *path, guint *line, guint *column);

/* "FILE:LINE:COL" for @path (see evb_json_doc_locate), or "FILE" when
 * nothing is known.  Caller frees. */
char *evb_json_doc_where (EvbJsonDoc *doc, const char *path);

/* Called once per problem found while walking a document.  @path is the
 * JSON path of the offending value; @message does not contain it. */
typedef void (*EvbJsonDocProblemFunc) (const char *path, const char *message, gpointer user_data);

/* Expands environment variables (see evb_json_expand_env_string) in every
 * string value of the document, in place; object keys are left alone.
 * Each string that cannot be expanded is left as written and reported to
 * @report.  The values substituted add up to EVB_JSON_EXPANSION_MAX bytes
 * at most: the string that would pass it is reported ("${BIG} takes the
 * text substituted for environment variables in this file past 16 MiB:
 * ...") and nothing after it is expanded.  Returns TRUE when every string
 * expanded. */
gboolean evb_json_doc_expand_env (EvbJsonDoc *doc, EvbJsonDocProblemFunc report, gpointer user_data);

/* Expands "${VAR}" and "${VAR:-default}" in @text from the process
 * environment, as a shell would: the default applies when VAR is unset or
 * empty, and is taken literally up to the first "}".  "$${" stands for a
 * literal "${"; any other "$" is kept as is.  VAR is [A-Za-z_][A-Za-z0-9_]*.
 * Returns a new string, or NULL with @error (EVB_JSON_DOC_ERROR_ENV, no
 * path or position in the message) for an unset VAR without default, an
 * unterminated "${", an invalid name, or a value that is not UTF-8.
 * Reads the environment: not safe against concurrent setenv(). */
char *evb_json_expand_env_string (const char *text, GError **error);

void evb_json_doc_free (EvbJsonDoc *doc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbJsonDoc, evb_json_doc_free)

G_END_DECLS
