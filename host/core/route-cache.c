/* A one-thread, lock-free front for the route table (route-cache.h).
 *
 * Open addressing with linear probing over a power-of-two array kept at most
 * half full.  Entries are never removed one by one: a change in the table
 * (its generation) or reaching the bound empties the whole cache, as the
 * table does with its own. */
#include "route-cache.h"

#include <string.h>

#define ROUTE_CACHE_MAX_TYPES 65536
#define ROUTE_CACHE_MIN_SLOTS 64

/* One cache line: a probe that hits reads the type from the slot itself
 * rather than chasing a separate allocation (with thousands of types in
 * play, that is a cache miss per event). */
#define SLOT_INLINE_TYPE 40

typedef struct {
  guint hash;
  EvbRouteSnapshot *snapshot; /* the cache's reference */
  char *type;                 /* inline_type, or owned when longer; NULL: a free slot */
  char inline_type[SLOT_INLINE_TYPE];
} Slot;

G_STATIC_ASSERT (sizeof (Slot) <= 64);

static void
slot_set_type (Slot *slot, const char *type)
{
  gsize size = strlen (type) + 1;

  if (size <= SLOT_INLINE_TYPE)
    slot->type = memcpy (slot->inline_type, type, size);
  else
    slot->type = g_strdup (type);
}

static void
slot_clear_type (Slot *slot)
{
  if (slot->type != slot->inline_type)
    g_free (slot->type);
  slot->type = NULL;
}

/* Moves @from into @to (another array): an inline type moves with it. */
static void
slot_move (Slot *to, Slot *from)
{
  *to = *from;
  if (from->type == from->inline_type)
    to->type = to->inline_type;
}

struct _EvbRouteCache {
  EvbRouteTable *table;
  gint generation; /* of the table when the entries were taken */
  guint n_slots;   /* a power of two */
  guint n_used;
  Slot *slots;
};

EvbRouteCache *
evb_route_cache_new (EvbRouteTable *table)
{
  EvbRouteCache *cache = g_new0 (EvbRouteCache, 1);

  cache->table = table;
  cache->generation = evb_route_table_generation (table);
  cache->n_slots = ROUTE_CACHE_MIN_SLOTS;
  cache->slots = g_new0 (Slot, cache->n_slots);
  return cache;
}

static void
route_cache_clear (EvbRouteCache *cache)
{
  for (guint i = 0; i < cache->n_slots && cache->n_used > 0; i++)
    if (cache->slots[i].type != NULL)
      {
        slot_clear_type (&cache->slots[i]);
        evb_route_snapshot_unref (cache->slots[i].snapshot);
        cache->slots[i].snapshot = NULL;
        cache->n_used--;
      }
}

void
evb_route_cache_free (EvbRouteCache *cache)
{
  if (cache == NULL)
    return;
  route_cache_clear (cache);
  g_free (cache->slots);
  g_free (cache);
}

static guint
route_cache_free_slot (EvbRouteCache *cache, guint hash)
{
  guint mask = cache->n_slots - 1;
  guint i = hash & mask;

  while (cache->slots[i].type != NULL)
    i = (i + 1) & mask;
  return i;
}

static void
route_cache_grow (EvbRouteCache *cache)
{
  Slot *old_slots = cache->slots;
  guint old_n_slots = cache->n_slots;

  cache->n_slots *= 2;
  cache->slots = g_new0 (Slot, cache->n_slots);
  for (guint i = 0; i < old_n_slots; i++)
    if (old_slots[i].type != NULL)
      slot_move (&cache->slots[route_cache_free_slot (cache, old_slots[i].hash)], &old_slots[i]);
  g_free (old_slots);
}

EvbRouteSnapshot *
evb_route_cache_lookup (EvbRouteCache *cache, const char *type, guint type_hash)
{
  /* Read before the table is asked: a change after this read shows up as a
   * new generation on the next lookup, never as a stale hit. */
  gint generation = evb_route_table_generation (cache->table);
  guint mask = cache->n_slots - 1;
  EvbRouteSnapshot *snapshot;
  Slot *slot;

  if (G_UNLIKELY (generation != cache->generation))
    {
      route_cache_clear (cache);
      cache->generation = generation;
    }
  for (guint i = type_hash & mask; cache->slots[i].type != NULL; i = (i + 1) & mask)
    if (cache->slots[i].hash == type_hash && strcmp (cache->slots[i].type, type) == 0)
      return evb_route_snapshot_ref (cache->slots[i].snapshot);

  snapshot = evb_route_table_lookup (cache->table, type);
  if (cache->n_used >= ROUTE_CACHE_MAX_TYPES)
    route_cache_clear (cache);
  else if ((cache->n_used + 1) * 2 > cache->n_slots)
    route_cache_grow (cache);
  slot = &cache->slots[route_cache_free_slot (cache, type_hash)];
  slot->hash = type_hash;
  slot_set_type (slot, type);
  slot->snapshot = evb_route_snapshot_ref (snapshot);
  cache->n_used++;
  return snapshot;
}
