/* JSON values in messages: the one way a message names a JSON value or
 * quotes user text, so that every "expected X, got Y" reads alike. */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

/* "object", "array", "string", "integer", "number", "boolean" or "null". */
const char *evb_json_kind (json_t *value);

/* @value as a message names it: scalars by value (1.5, "ten", true, null;
 * strings quoted and cut as evb_json_quote does), containers by kind
 * ("an object", "an array").  Caller frees. */
char *evb_json_describe (json_t *value);

/* @text as a JSON string literal, so that quotes and control characters in
 * user text cannot break a one-line message; past 64 bytes it is cut at a
 * character boundary and its length given: "aaaa..." (10485760 bytes).
 * Caller frees. */
char *evb_json_quote (const char *text);

G_END_DECLS
