/* output — what a command's stdout line means: an event, a data object, a
 * line of text.  Pure (no I/O), shared by the handler and the source. */
#pragma once

#include <jansson.h>
#include <glib.h>

typedef enum {
  EXEC_OUTPUT_EVENTS, /* {"type": "a.b", "data": {...}} per line */
  EXEC_OUTPUT_DATA,   /* a JSON object per line, emitted as output_type */
  EXEC_OUTPUT_LINES,  /* any text, emitted as output_type {"line": "..."} */
  EXEC_OUTPUT_IGNORE, /* nothing is emitted */
} ExecOutput;

typedef enum {
  EXEC_LINE_SKIP,  /* blank (events, data) or ignored: nothing to emit */
  EXEC_LINE_EVENT, /* *type (g_free) and *data (json_decref) are set */
  EXEC_LINE_BAD,   /* *reason (g_free) says why */
} ExecLine;

ExecOutput exec_output_from_name (const char *name);

/* Parses @line (NUL-terminated, @length bytes) under @format; @output_type
 * is the type of data and lines output. */
ExecLine exec_output_parse (ExecOutput format, const char *output_type, const char *line, gsize length, char **type,
                            json_t **data, char **reason);

/* "object", "array", ... for messages. */
const char *exec_json_kind (json_t *value);
