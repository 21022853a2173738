/* Type patterns -> routes: a segment trie behind a bounded per-type cache.
 *
 * Routes live in a trie keyed by pattern segment.  A node has literal
 * children (hashed by segment), one "*" child, the entries whose pattern
 * ends exactly at the node and the entries whose pattern ends at the node
 * with ">".  Resolving a type walks the trie along the type's segments,
 * following both the literal and the "*" child at each step, so the cost
 * depends on the shape of the patterns that can match, never on the number
 * of routes.
 *
 * The bus resolves a type once per event, and a few types make up most of
 * the traffic, so results are cached per type as immutable snapshots.  A
 * cache hit is one hash lookup and an atomic ref under the lock, with no
 * allocation.  Any add or remove throws the whole cache away: changes are
 * rare next to lookups, and per-entry invalidation would cost a match
 * against every cached type.
 *
 * Lock discipline: route_unref is never called with the lock held (stale
 * caches and removed routes are released after unlocking), so a route's
 * finalizer may itself call into the table.  route_ref is called under the
 * lock on a cache miss, when a new snapshot takes the routes that only the
 * trie keeps alive at that moment. */

#include "route-table.h"

#include <string.h>

/* Distinct types cached before the cache is dropped wholesale.  Event types
 * come from plugins and may be built from data, so without a bound a stream
 * of distinct types would grow memory without limit; dropping everything
 * at once keeps the hit path free of any LRU bookkeeping, and the common
 * types come back on their next lookup. */
#define ROUTE_CACHE_MAX_TYPES 65536

/* Pattern errors get a domain of their own rather than G_IO_ERROR so the
 * host does not need gio for one error code.  Callers report the message;
 * the domain is documented in route-table.h. */
#define PATTERN_ERROR (pattern_error_quark ())
#define PATTERN_ERROR_INVALID 0

static GQuark
pattern_error_quark (void)
{
  return g_quark_from_static_string ("evb-pattern-error-quark");
}

/* ---------------------------------------------------------------- patterns */

static gboolean fail_invalid_pattern (GError **error, const char *pattern, const char *format, ...) G_GNUC_PRINTF (3, 4);

/* Sets `invalid pattern "<pattern>": <detail>` and returns FALSE.  The
 * pattern is escaped so that a stray quote or newline in a config file
 * cannot garble the message. */
static gboolean
fail_invalid_pattern (GError **error, const char *pattern, const char *format, ...)
{
  g_autofree char *escaped_pattern = NULL;
  g_autofree char *detail = NULL;
  va_list args;

  if (error == NULL)
    return FALSE;

  va_start (args, format);
  detail = g_strdup_vprintf (format, args);
  va_end (args);

  escaped_pattern = g_strescape (pattern, NULL);
  g_set_error (error, PATTERN_ERROR, PATTERN_ERROR_INVALID, "invalid pattern \"%s\": %s", escaped_pattern, detail);
  return FALSE;
}

gboolean
evb_pattern_validate (const char *pattern, GError **error)
{
  guint segment;

  g_return_val_if_fail (pattern != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  switch (evb_pattern_find_fault (pattern, &segment))
    {
    case EVB_PATTERN_OK:
      return TRUE;
    case EVB_PATTERN_EMPTY:
      return fail_invalid_pattern (error, pattern, "empty pattern");
    case EVB_PATTERN_EMPTY_SEGMENT:
      return fail_invalid_pattern (error, pattern, "empty segment %u", segment);
    case EVB_PATTERN_TAIL_NOT_LAST:
      return fail_invalid_pattern (error, pattern, "\">\" must be the last segment");
    case EVB_PATTERN_BAD_CHARACTER:
      {
        const char *start = pattern;
        g_autofree char *raw_segment = NULL;
        g_autofree char *escaped_segment = NULL;

        for (guint i = 1; i < segment; i++)
          start = strchr (start, '.') + 1;
        raw_segment = g_strndup (start, strcspn (start, "."));
        escaped_segment = g_strescape (raw_segment, NULL);
        return fail_invalid_pattern (error, pattern, "segment %u \"%s\" may hold only a-z 0-9 _ -", segment,
                                     escaped_segment);
      }
    }
  return FALSE;
}

/* The reference the trie is tested against: the SDK's own matcher. */
gboolean
evb_pattern_match (const char *pattern, const char *type)
{
  g_return_val_if_fail (pattern != NULL, FALSE);
  g_return_val_if_fail (type != NULL, FALSE);

  return evb_pattern_matches (pattern, type);
}

/* --------------------------------------------------------------- snapshots */

/* What a snapshot needs to free itself but its readers need not see.  It
 * sits in the same allocation, just before the public struct (whose
 * flexible array member rules out embedding it). */
typedef struct {
  GDestroyNotify route_unref;
} SnapshotPrivate;

/* Rounded up so the public part that follows stays aligned. */
#define SNAPSHOT_PRIVATE_SIZE \
  ((sizeof (SnapshotPrivate) + G_ALIGNOF (EvbRouteSnapshot) - 1) / G_ALIGNOF (EvbRouteSnapshot) * G_ALIGNOF (EvbRouteSnapshot))

static SnapshotPrivate *
snapshot_get_private (EvbRouteSnapshot *snapshot)
{
  return (SnapshotPrivate *) (gpointer) ((guint8 *) snapshot - SNAPSHOT_PRIVATE_SIZE);
}

/* A new snapshot (one ref) holding a ref on each route of @matches. */
static EvbRouteSnapshot *
snapshot_new (const EvbRouteMatch *matches, guint n_matches, GBoxedCopyFunc route_ref, GDestroyNotify route_unref)
{
  guint8 *block = g_malloc (SNAPSHOT_PRIVATE_SIZE + sizeof (EvbRouteSnapshot) + n_matches * sizeof (EvbRouteMatch));
  SnapshotPrivate *priv = (SnapshotPrivate *) (gpointer) block;
  EvbRouteSnapshot *snapshot = (EvbRouteSnapshot *) (gpointer) (block + SNAPSHOT_PRIVATE_SIZE);
  guint i;

  priv->route_unref = route_unref;
  snapshot->ref_count = 1;
  snapshot->n_matches = n_matches;
  if (n_matches > 0)
    memcpy (snapshot->matches, matches, n_matches * sizeof (EvbRouteMatch));
  if (route_ref != NULL)
    for (i = 0; i < n_matches; i++)
      route_ref (matches[i].route);
  return snapshot;
}

EvbRouteSnapshot *
evb_route_snapshot_ref (EvbRouteSnapshot *snapshot)
{
  g_return_val_if_fail (snapshot != NULL, NULL);

  g_atomic_int_inc (&snapshot->ref_count);
  return snapshot;
}

void
evb_route_snapshot_unref (EvbRouteSnapshot *snapshot)
{
  SnapshotPrivate *priv;
  guint i;

  g_return_if_fail (snapshot != NULL);

  if (!g_atomic_int_dec_and_test (&snapshot->ref_count))
    return;

  priv = snapshot_get_private (snapshot);
  if (priv->route_unref != NULL)
    for (i = 0; i < snapshot->n_matches; i++)
      priv->route_unref (snapshot->matches[i].route);
  g_free (priv);
}

/* Priority descending, then subscription order. */
static gint
compare_matches_by_priority_then_seq (gconstpointer a, gconstpointer b)
{
  const EvbRouteMatch *match_a = a;
  const EvbRouteMatch *match_b = b;

  if (match_a->priority != match_b->priority)
    return match_a->priority > match_b->priority ? -1 : 1;
  if (match_a->seq != match_b->seq)
    return match_a->seq < match_b->seq ? -1 : 1;
  return 0;
}

/* -------------------------------------------------------------------- trie */

/* Every member is NULL while it would be empty, so that a node with all
 * four NULL can be pruned and a table that had routes removed does not keep
 * their paths. */
typedef struct _TrieNode TrieNode;
struct _TrieNode {
  GHashTable *literal_children; /* owned segment -> owned TrieNode */
  TrieNode *star_child;         /* the "*" segment */
  GArray *exact_entries;        /* EvbRouteMatch: patterns that end here */
  GArray *tail_entries;         /* EvbRouteMatch: patterns that end here with ">" */
};

static TrieNode *
trie_node_new (void)
{
  return g_new0 (TrieNode, 1);
}

static gboolean
trie_node_is_empty (const TrieNode *node)
{
  return node->literal_children == NULL && node->star_child == NULL && node->exact_entries == NULL &&
         node->tail_entries == NULL;
}

static void
entries_release (GArray *entries, GDestroyNotify route_unref)
{
  guint i;

  if (entries == NULL)
    return;
  if (route_unref != NULL)
    for (i = 0; i < entries->len; i++)
      route_unref (g_array_index (entries, EvbRouteMatch, i).route);
  g_array_unref (entries);
}

/* Frees @node and everything below it, dropping the table's ref on every
 * route still stored there. */
static void
trie_node_free (TrieNode *node, GDestroyNotify route_unref)
{
  if (node->literal_children != NULL)
    {
      GHashTableIter iter;
      gpointer child;

      g_hash_table_iter_init (&iter, node->literal_children);
      while (g_hash_table_iter_next (&iter, NULL, &child))
        trie_node_free (child, route_unref);
      g_hash_table_unref (node->literal_children);
    }
  if (node->star_child != NULL)
    trie_node_free (node->star_child, route_unref);
  entries_release (node->exact_entries, route_unref);
  entries_release (node->tail_entries, route_unref);
  g_free (node);
}

static TrieNode *
trie_node_get_child (const TrieNode *node, const char *segment)
{
  if (strcmp (segment, "*") == 0)
    return node->star_child;
  if (node->literal_children == NULL)
    return NULL;
  return g_hash_table_lookup (node->literal_children, segment);
}

static TrieNode *
trie_node_ensure_child (TrieNode *node, const char *segment)
{
  TrieNode *child = trie_node_get_child (node, segment);

  if (child != NULL)
    return child;

  child = trie_node_new ();
  if (strcmp (segment, "*") == 0)
    {
      node->star_child = child;
    }
  else
    {
      /* Values are freed by hand in trie_node_free, which needs route_unref. */
      if (node->literal_children == NULL)
        node->literal_children = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (node->literal_children, g_strdup (segment), child);
    }
  return child;
}

/* Only for a child that trie_node_is_empty(), so there are no routes to drop. */
static void
trie_node_drop_empty_child (TrieNode *node, const char *segment)
{
  if (strcmp (segment, "*") == 0)
    {
      g_clear_pointer (&node->star_child, g_free);
      return;
    }
  g_free (g_hash_table_lookup (node->literal_children, segment));
  g_hash_table_remove (node->literal_children, segment);
  if (g_hash_table_size (node->literal_children) == 0)
    g_clear_pointer (&node->literal_children, g_hash_table_unref);
}

static void
entries_append (GArray **entries, const EvbRouteMatch *entry)
{
  if (*entries == NULL)
    *entries = g_array_new (FALSE, FALSE, sizeof (EvbRouteMatch));
  g_array_append_vals (*entries, entry, 1);
}

/* Removes one entry for @route; order does not matter here since lookups
 * sort what they collect. */
static gboolean
entries_remove_route (GArray **entries, gpointer route)
{
  guint i;

  if (*entries == NULL)
    return FALSE;
  for (i = 0; i < (*entries)->len; i++)
    {
      if (g_array_index (*entries, EvbRouteMatch, i).route != route)
        continue;
      g_array_remove_index_fast (*entries, i);
      if ((*entries)->len == 0)
        g_clear_pointer (entries, g_array_unref);
      return TRUE;
    }
  return FALSE;
}

/* Removes one entry for @route from the node reached from @node through
 * @path, then frees the nodes this left empty on the way back up. */
static gboolean
trie_remove_entry (TrieNode *node, char **path, guint path_length, gboolean is_tail, gpointer route)
{
  TrieNode *child;
  gboolean removed;

  if (path_length == 0)
    return entries_remove_route (is_tail ? &node->tail_entries : &node->exact_entries, route);

  child = trie_node_get_child (node, path[0]);
  if (child == NULL)
    return FALSE;

  removed = trie_remove_entry (child, path + 1, path_length - 1, is_tail, route);
  if (removed && trie_node_is_empty (child))
    trie_node_drop_empty_child (node, path[0]);
  return removed;
}

static void
entries_collect (const GArray *entries, GArray *matches)
{
  if (entries != NULL)
    g_array_append_vals (matches, entries->data, entries->len);
}

/* Appends to @matches the entries of every pattern below @node that matches
 * @segments[depth..].  Each node is reached at most once per walk: a node
 * stands for one pattern prefix, and the walk reaches it only if that prefix
 * matches the type's first segments. */
static void
trie_collect_matches (const TrieNode *node, char **segments, guint depth, guint n_segments, GArray *matches)
{
  if (depth == n_segments)
    {
      entries_collect (node->exact_entries, matches);
      return;
    }

  /* At least one segment is left: that is what ">" needs. */
  entries_collect (node->tail_entries, matches);

  if (node->literal_children != NULL)
    {
      const TrieNode *literal_child = g_hash_table_lookup (node->literal_children, segments[depth]);

      if (literal_child != NULL)
        trie_collect_matches (literal_child, segments, depth + 1, n_segments, matches);
    }
  if (node->star_child != NULL)
    trie_collect_matches (node->star_child, segments, depth + 1, n_segments, matches);
}

/* ------------------------------------------------------------------- table */

struct _EvbRouteTable {
  GMutex lock; /* guards everything below */

  GBoxedCopyFunc route_ref;   /* may be NULL */
  GDestroyNotify route_unref; /* may be NULL */

  TrieNode *root;
  guint n_routes;

  /* type (owned) -> EvbRouteSnapshot (the table's ref).  Replaced, never
   * cleared in place, so that the old one can be released after unlocking. */
  GHashTable *cache;

  /* Shared by every type that matches nothing: an empty result needs no
   * allocation of its own, and having no routes it never goes stale. */
  EvbRouteSnapshot *empty_snapshot;

  /* Atomic; bumped under the lock by every add and remove, so that caches
   * in front of the table (route-cache.h) know when to let go. */
  gint generation;
};

static GHashTable *
route_cache_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) evb_route_snapshot_unref);
}

/* Installs an empty cache and returns the old one, for the caller to
 * g_hash_table_unref() once it has unlocked (see "Lock discipline"). */
static GHashTable *
route_cache_replace_locked (EvbRouteTable *table)
{
  GHashTable *stale_cache = table->cache;

  table->cache = route_cache_new ();
  return stale_cache;
}

/* A new snapshot of the routes matching @type, from the trie. */
static EvbRouteSnapshot *
route_table_resolve_locked (EvbRouteTable *table, const char *type)
{
  g_auto (GStrv) segments = g_strsplit (type, ".", -1);
  g_autoptr (GArray) matches = g_array_new (FALSE, FALSE, sizeof (EvbRouteMatch));

  trie_collect_matches (table->root, segments, 0, g_strv_length (segments), matches);
  if (matches->len == 0)
    return evb_route_snapshot_ref (table->empty_snapshot);

  g_array_sort (matches, compare_matches_by_priority_then_seq);
  return snapshot_new ((const EvbRouteMatch *) (gconstpointer) matches->data, matches->len, table->route_ref,
                       table->route_unref);
}

EvbRouteTable *
evb_route_table_new (GBoxedCopyFunc route_ref, GDestroyNotify route_unref)
{
  EvbRouteTable *table = g_new0 (EvbRouteTable, 1);

  g_mutex_init (&table->lock);
  table->route_ref = route_ref;
  table->route_unref = route_unref;
  table->root = trie_node_new ();
  table->cache = route_cache_new ();
  table->empty_snapshot = snapshot_new (NULL, 0, NULL, NULL);
  return table;
}

void
evb_route_table_free (EvbRouteTable *table)
{
  if (table == NULL)
    return;

  /* Snapshots still held elsewhere keep their routes and outlive this. */
  g_hash_table_unref (table->cache);
  trie_node_free (table->root, table->route_unref);
  evb_route_snapshot_unref (table->empty_snapshot);
  g_mutex_clear (&table->lock);
  g_free (table);
}

void
evb_route_table_add (EvbRouteTable *table, const char *pattern, gpointer route, gint priority, guint64 seq)
{
  g_auto (GStrv) segments = NULL;
  EvbRouteMatch entry = { .route = route, .priority = priority, .seq = seq };
  GHashTable *stale_cache;
  TrieNode *node;
  guint n_segments;
  guint path_length;
  gboolean is_tail;
  guint i;

  g_return_if_fail (table != NULL);
  g_return_if_fail (evb_pattern_validate (pattern, NULL));

  segments = g_strsplit (pattern, ".", -1);
  n_segments = g_strv_length (segments);
  is_tail = strcmp (segments[n_segments - 1], ">") == 0;
  /* A ">" entry lives on the node of the segments before it. */
  path_length = is_tail ? n_segments - 1 : n_segments;

  if (table->route_ref != NULL)
    table->route_ref (route);

  g_mutex_lock (&table->lock);
  node = table->root;
  for (i = 0; i < path_length; i++)
    node = trie_node_ensure_child (node, segments[i]);
  entries_append (is_tail ? &node->tail_entries : &node->exact_entries, &entry);
  table->n_routes++;
  g_atomic_int_inc (&table->generation);
  stale_cache = route_cache_replace_locked (table);
  g_mutex_unlock (&table->lock);

  g_hash_table_unref (stale_cache);
}

gboolean
evb_route_table_remove (EvbRouteTable *table, const char *pattern, gpointer route)
{
  g_auto (GStrv) segments = NULL;
  GHashTable *stale_cache = NULL;
  guint n_segments;
  gboolean is_tail;
  gboolean removed;

  g_return_val_if_fail (table != NULL, FALSE);
  g_return_val_if_fail (pattern != NULL, FALSE);

  /* add() never stores an invalid pattern, so there is nothing to find. */
  if (!evb_pattern_validate (pattern, NULL))
    return FALSE;

  segments = g_strsplit (pattern, ".", -1);
  n_segments = g_strv_length (segments);
  is_tail = strcmp (segments[n_segments - 1], ">") == 0;

  g_mutex_lock (&table->lock);
  removed = trie_remove_entry (table->root, segments, is_tail ? n_segments - 1 : n_segments, is_tail, route);
  if (removed)
    {
      table->n_routes--;
      g_atomic_int_inc (&table->generation);
      stale_cache = route_cache_replace_locked (table);
    }
  g_mutex_unlock (&table->lock);

  if (!removed)
    return FALSE;

  g_hash_table_unref (stale_cache);
  if (table->route_unref != NULL)
    table->route_unref (route);
  return TRUE;
}

EvbRouteSnapshot *
evb_route_table_lookup (EvbRouteTable *table, const char *type)
{
  EvbRouteSnapshot *snapshot;
  GHashTable *stale_cache = NULL;

  g_return_val_if_fail (table != NULL, NULL);
  g_return_val_if_fail (type != NULL, NULL);

  g_mutex_lock (&table->lock);
  snapshot = g_hash_table_lookup (table->cache, type);
  if (G_UNLIKELY (snapshot == NULL))
    {
      snapshot = route_table_resolve_locked (table, type);
      if (g_hash_table_size (table->cache) >= ROUTE_CACHE_MAX_TYPES)
        stale_cache = route_cache_replace_locked (table);
      g_hash_table_insert (table->cache, g_strdup (type), snapshot);
    }
  evb_route_snapshot_ref (snapshot);
  g_mutex_unlock (&table->lock);

  if (stale_cache != NULL)
    g_hash_table_unref (stale_cache);
  return snapshot;
}

gint
evb_route_table_generation (EvbRouteTable *table)
{
  return g_atomic_int_get (&table->generation);
}

guint
evb_route_table_size (EvbRouteTable *table)
{
  guint n_routes;

  g_return_val_if_fail (table != NULL, 0);

  g_mutex_lock (&table->lock);
  n_routes = table->n_routes;
  g_mutex_unlock (&table->lock);
  return n_routes;
}
