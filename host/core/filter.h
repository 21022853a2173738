/* Attribute filters: compiled once from JSON, evaluated against event data. */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

typedef struct _EvbFilter EvbFilter;

/* Compiles @spec (a JSON object: field -> condition, see DESIGN.md "Filters").
 * @path is the JSON path of @spec in its document, e.g. "routes[2].filter";
 * it prefixes the path reported on error.  On error returns NULL, sets
 * @error to EVB_FILTER_ERROR with a message that does NOT contain the path,
 * e.g. `unknown operator "gtt"`, and, when @error_path is not NULL, stores
 * the full JSON path of the offending node (caller frees; NULL on success):
 * the operator for a bad operand, e.g. "routes[2].filter.size.gt", but the
 * condition object for an unknown operator, e.g. "routes[2].filter.size",
 * so that "<error_path>: <message>" reads
 * `routes[2].filter.size: unknown operator "gtt"`.  Keys are appended
 * verbatim after ".", array elements as "[i]"; @path NULL means "filter".
 * EVB_FILTER_ERROR_REGEX for a regex that does not compile, else
 * EVB_FILTER_ERROR_INVALID.  @spec is only read; the filter keeps no
 * reference to it.  Any thread.
 *
 * Matching: every operator but "exists" is false on a missing field, and
 * "all" / "any" / "not" are plain boolean logic over that, so
 * {"x": {"ne": 1}} needs x while {"x": {"not": 1}} also holds without it.
 * Numbers compare by value (1 == 1.0), at any depth of arrays and objects. */
EvbFilter *evb_filter_compile (json_t *spec, const char *path, char **error_path, GError **error);

/* TRUE when @data (a JSON object, may be NULL: treated as {}) satisfies
 * every condition.  A compiled filter is immutable: any thread, concurrently. */
gboolean evb_filter_match (const EvbFilter *filter, json_t *data);

void evb_filter_free (EvbFilter *filter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbFilter, evb_filter_free)

#define EVB_FILTER_ERROR (evb_filter_error_quark ())
GQuark evb_filter_error_quark (void);

typedef enum {
  EVB_FILTER_ERROR_INVALID, /* malformed filter: wrong type, unknown operator, bad operand */
  EVB_FILTER_ERROR_REGEX,   /* a regex that does not compile */
} EvbFilterError;

G_END_DECLS
