/* A one-thread front for evb_route_table_lookup ().
 *
 * The bus resolves the type of every event it dispatches, and of every
 * status or failure event it might build, on the main thread.  The table's
 * own cache serves any thread, so each lookup there takes its mutex and
 * hashes the type string.  This cache belongs to one thread: a hit is an
 * atomic read of the table's generation, a probe keyed by a hash computed
 * when the event was made (evb_event_type_hash ()), one strcmp and the
 * snapshot's ref, with no lock.  Any add or remove in the table changes its
 * generation, and the next lookup here drops everything.  Bounded like the
 * table's cache (65536 types). */
#pragma once

#include "route-table.h"

G_BEGIN_DECLS

typedef struct _EvbRouteCache EvbRouteCache;

/* Borrows @table, which must outlive the cache. */
EvbRouteCache *evb_route_cache_new (EvbRouteTable *table);

/* Drops the cache's snapshots.  NULL is a no-op. */
void evb_route_cache_free (EvbRouteCache *cache);

/* evb_route_table_lookup (table, type), new reference.  @type_hash must be
 * evb_type_hash (type, strlen (type)).  The owning thread only. */
EvbRouteSnapshot *evb_route_cache_lookup (EvbRouteCache *cache, const char *type, guint type_hash);

G_END_DECLS
