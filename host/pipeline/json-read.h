/* Reading typed values out of JSON, reporting every problem as (JSON path,
 * message) and going on: the one place that words "expected X, got Y".
 * The config file (config.c) turns each problem into a FILE:LINE:COL line,
 * the harness into a GError; both say the same words.
 *
 * A problem is either about the shape of an object (an unknown or missing
 * key) or about the value at its path; the config file leaves out value
 * problems of values whose "${VAR}" did not expand, so it needs to know. */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

typedef enum {
  EVB_PROBLEM_SHAPE, /* unknown key, missing key, duplicate name */
  EVB_PROBLEM_VALUE, /* the value at the path */
} EvbProblemKind;

typedef void (*EvbProblemFunc) (EvbProblemKind kind, const char *path, const char *message, gpointer user_data);

typedef struct {
  EvbProblemFunc report;
  gpointer user_data;
} EvbJsonReader;

void evb_json_report (const EvbJsonReader *reader, EvbProblemKind kind, const char *path, const char *format, ...)
  G_GNUC_PRINTF (4, 5);

/* "a.b" from "a" and "b"; "b" from "" and "b".  Caller frees. */
char *evb_json_path_join (const char *path, const char *key);

/* Reports each key of @object not in @allowed (NULL-terminated). */
void evb_json_check_keys (const EvbJsonReader *reader, json_t *object, const char *path,
                          const char *const *allowed);

/* The value of @key, or NULL after reporting it missing. */
json_t *evb_json_require_key (const EvbJsonReader *reader, json_t *object, const char *path, const char *key);

/* Each returns FALSE (NULL, -1) after reporting, TRUE when *@out was set. */
gboolean evb_json_read_object (const EvbJsonReader *reader, json_t *value, const char *path);
gboolean evb_json_read_array (const EvbJsonReader *reader, json_t *value, const char *path);
const char *evb_json_read_string (const EvbJsonReader *reader, json_t *value, const char *path,
                                  gboolean allow_empty);
gboolean evb_json_read_bool (const EvbJsonReader *reader, json_t *value, const char *path, gboolean *out);
/* An integer in [@least, @most] (@what as in evb_count_range_problem). */
gboolean evb_json_read_count (const EvbJsonReader *reader, json_t *value, const char *path, guint least,
                              guint most, const char *what, guint *out);
/* An integer that fits a gint. */
gboolean evb_json_read_int (const EvbJsonReader *reader, json_t *value, const char *path, gint *out);
/* The index of the value in @choices (NULL-terminated), or -1. */
gint evb_json_read_choice (const EvbJsonReader *reader, json_t *value, const char *path,
                           const char *const *choices);

G_END_DECLS
