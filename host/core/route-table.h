/* Type patterns -> routes, resolved without scanning all routes.
 *
 * Patterns are dotted names; a segment is [a-z0-9_-]+, or "*" (exactly one
 * segment), or ">" as the last segment only (one or more trailing segments;
 * ">" alone matches every type).  "*" and ">" must be whole segments.
 * The table stores opaque route pointers; it refs them with the functions
 * given at construction whenever it or a snapshot holds them.
 *
 * Thread safety: all functions may be called from any thread; the table
 * locks internally (one mutex).  Snapshots are immutable once returned and
 * may be read and unreffed from any thread. */
#pragma once

#include <glib.h>
#include <glib-object.h> /* GBoxedCopyFunc */

#include "evbus/plugin.h" /* the name grammar */

G_BEGIN_DECLS

typedef struct _EvbRouteTable EvbRouteTable;

/* One entry of a lookup result. */
typedef struct {
  gpointer route;
  gint priority;
  guint64 seq; /* subscription order: smaller came first */
} EvbRouteMatch;

/* An immutable, reference-counted lookup result: the matching routes sorted
 * by priority (higher first), equal priorities by seq (smaller first). */
typedef struct {
  gint ref_count;   /* private */
  guint n_matches;
  EvbRouteMatch matches[]; /* n_matches entries */
} EvbRouteSnapshot;

/* Atomic.  The last unref drops the snapshot's ref on each of its routes,
 * with the route_unref of the table that made it, even if that table has
 * been freed since. */
EvbRouteSnapshot *evb_route_snapshot_ref (EvbRouteSnapshot *snapshot);
void evb_route_snapshot_unref (EvbRouteSnapshot *snapshot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbRouteSnapshot, evb_route_snapshot_unref)

/* @route_ref / @route_unref are applied to a route each time a snapshot
 * takes / drops it, and once by add / remove.  Either may be NULL (routes
 * are then borrowed).  @route_ref must take a reference and return its
 * argument (its return value is ignored: a copy would not do); it is called
 * with the table lock held, so it must not call into the table.
 * @route_unref is never called with the table lock held: a route's
 * finalizer may call into the table.
 *
 * free drops the table's refs on the routes it still holds and on its
 * cached snapshots; snapshots held elsewhere stay valid.  NULL is a no-op. */
EvbRouteTable *evb_route_table_new (GBoxedCopyFunc route_ref, GDestroyNotify route_unref);
void evb_route_table_free (EvbRouteTable *table);

/* FALSE with @error when @pattern is not a valid pattern.  The message
 * names the first fault, segments numbered from 1, e.g.
 *   invalid pattern "": empty pattern
 *   invalid pattern "a..b": empty segment 2
 *   invalid pattern "a.>.b": ">" must be the last segment
 *   invalid pattern "a.b*": segment 2 "b*" may hold only a-z 0-9 _ -
 * (quotes and control characters in the pattern are backslash-escaped).
 * The error domain is g_quark_from_static_string ("evb-pattern-error-quark"),
 * code 0; callers are expected to report the message, not to branch on it. */
gboolean evb_pattern_validate (const char *pattern, GError **error);

/* TRUE when @type (a concrete type, no wildcards) matches @pattern.  No
 * allocation, no table: the reference semantics of lookup.  An empty @type
 * matches nothing. */
gboolean evb_pattern_match (const char *pattern, const char *type);

/* Adds @route under @pattern (must be valid: a critical otherwise) and
 * takes one ref on it.  Adding the same route twice makes two entries.
 * Invalidates cached lookups. */
void evb_route_table_add (EvbRouteTable *table, const char *pattern, gpointer route, gint priority, guint64 seq);

/* Removes one entry of @route added under @pattern and drops the ref add
 * took; FALSE if it was not there (including when @pattern is invalid).
 * Invalidates cached lookups; snapshots already returned keep the route. */
gboolean evb_route_table_remove (EvbRouteTable *table, const char *pattern, gpointer route);

/* The routes whose pattern matches @type, as a new reference (never NULL;
 * n_matches may be 0).  Repeated lookups of the same type between changes
 * cost one hash lookup and an atomic ref, with no allocation: results,
 * empty ones included, are cached per type.  The cache holds at most 65536
 * types and is emptied when full, so distinct types cannot grow it without
 * bound.  Routes added or removed later do not change a returned snapshot.
 * @type is assumed valid (the bus validates types on emit). */
EvbRouteSnapshot *evb_route_table_lookup (EvbRouteTable *table, const char *type);

/* Changes whenever a route is added or removed (a snapshot taken when it
 * read N is current for as long as it still reads N).  Any thread. */
gint evb_route_table_generation (EvbRouteTable *table);

/* Number of routes in the table. */
guint evb_route_table_size (EvbRouteTable *table);

G_END_DECLS
