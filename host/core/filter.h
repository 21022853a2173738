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
 * every condition.  A condition that cannot be evaluated (a regex that hits
 * PCRE2's match limit) fails the whole filter, even under "not": the filter
 * fails closed.  Allocates nothing (but inside GRegex).  A compiled filter
 * is immutable: any thread, concurrently. */
gboolean evb_filter_match (const EvbFilter *filter, json_t *data);

/* evb_filter_match () of @filter on @data, the same evaluation, and when it
 * fails, why.  When @reason is not NULL it is set to NULL on a match, else
 * to one line (caller frees) naming the conditions that decided, each as
 * "data.FIELD: what the field held and what the operator made of it":
 *   data.size: 4 is not > 10                       eq ne lt le gt ge, in
 *   data.user.name: missing                        any operator but exists
 *   data.deleted: present (true)                   {"exists": false}
 *   data.name: "bob" does not match regex "^a"     prefix, glob, regex
 *   data.size: "4" is not > 10 (not comparable)    a string against a number
 *   not: data.kind: "a" is in ["a", "b"]           a "not" whose condition held
 *   none of: (data.kind: "x" is not "a"; data.kind: "x" is not in ["b", "c"])
 *                                                  an "any": every member, at most
 *                                                  5, then "; and N more"
 *   data.name: regex "(a+)+$" could not be evaluated on "aaab" (backtracking
 *     limit reached): the filter fails closed     nothing else is said then
 * Where every condition of an "all" held under a "not", each is named.
 * Values and operands are written as JSON, cut past 64 bytes as
 * evb_json_quote () cuts strings.  Allocates: meant for tools (`evbus
 * explain`), not for dispatching.  Any thread. */
gboolean evb_filter_explain (const EvbFilter *filter, json_t *data, char **reason);

void evb_filter_free (EvbFilter *filter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbFilter, evb_filter_free)

#define EVB_FILTER_ERROR (evb_filter_error_quark ())
GQuark evb_filter_error_quark (void);

typedef enum {
  EVB_FILTER_ERROR_INVALID, /* malformed filter: wrong type, unknown operator, bad operand */
  EVB_FILTER_ERROR_REGEX,   /* a regex that does not compile */
} EvbFilterError;

G_END_DECLS
