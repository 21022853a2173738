/* Tests for host/route-cache.c, the main thread's lock-free front for the
 * route table: it answers exactly what evb_route_table_lookup () answers,
 * lets go of everything when the table changes, grows past its first
 * array, keeps types too long for a slot, stays within its bound, and drops
 * every reference it holds when freed. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "event.h"
#include "route-cache.h"

/* Mirrors ROUTE_CACHE_MAX_TYPES in route-cache.c. */
#define CACHE_MAX_TYPES 65536

typedef struct {
  gint refs; /* atomic */
} TestRoute;

static gpointer
test_route_ref (gpointer route)
{
  g_atomic_int_inc (&((TestRoute *) route)->refs);
  return route;
}

static void
test_route_unref (gpointer route)
{
  g_assert_cmpint (g_atomic_int_add (&((TestRoute *) route)->refs, -1), >, 0);
}

static EvbRouteSnapshot *
cache_lookup (EvbRouteCache *cache, const char *type)
{
  return evb_route_cache_lookup (cache, type, evb_type_hash (type, strlen (type)));
}

/* A hit returns the very snapshot the table's lookup returns, as a new
 * reference, and holds one reference of its own on it. */
static void
test_route_cache_hit_is_table_snapshot (void **state)
{
  EvbRouteTable *table = evb_route_table_new (test_route_ref, test_route_unref);
  EvbRouteCache *cache = evb_route_cache_new (table);
  TestRoute route = { 0 };
  EvbRouteSnapshot *first;
  EvbRouteSnapshot *second;
  EvbRouteSnapshot *direct;

  evb_route_table_add (table, "a.b", &route, 0, 1);
  first = cache_lookup (cache, "a.b");
  second = cache_lookup (cache, "a.b");
  direct = evb_route_table_lookup (table, "a.b");
  assert_ptr_equal (first, second);
  assert_ptr_equal (first, direct);
  assert_int_equal (first->n_matches, 1);
  assert_ptr_equal (first->matches[0].route, &route);
  /* table entry + the snapshot (one, shared by the table's cache, ours and
   * the three references returned). */
  assert_int_equal (g_atomic_int_get (&route.refs), 2);

  evb_route_snapshot_unref (first);
  evb_route_snapshot_unref (second);
  evb_route_snapshot_unref (direct);
  evb_route_cache_free (cache);
  evb_route_table_free (table);
  assert_int_equal (g_atomic_int_get (&route.refs), 0);
}

/* An add or a remove in the table is seen by the very next lookup, and the
 * cache's reference on the stale snapshot is gone. */
static void
test_route_cache_follows_table_changes (void **state)
{
  EvbRouteTable *table = evb_route_table_new (test_route_ref, test_route_unref);
  EvbRouteCache *cache = evb_route_cache_new (table);
  TestRoute exact = { 0 };
  TestRoute wildcard = { 0 };
  EvbRouteSnapshot *before;
  EvbRouteSnapshot *after;
  EvbRouteSnapshot *removed;

  evb_route_table_add (table, "a.b", &exact, 0, 1);
  before = cache_lookup (cache, "a.b");
  assert_int_equal (before->n_matches, 1);

  evb_route_table_add (table, "a.*", &wildcard, 5, 2);
  after = cache_lookup (cache, "a.b");
  assert_int_equal (after->n_matches, 2);
  assert_ptr_equal (after->matches[0].route, &wildcard); /* higher priority first */
  assert_ptr_equal (after->matches[1].route, &exact);
  /* The stale snapshot lives on only through the reference we hold. */
  assert_int_equal (before->ref_count, 1);
  assert_int_equal (before->n_matches, 1);

  assert_true (evb_route_table_remove (table, "a.b", &exact));
  removed = cache_lookup (cache, "a.b");
  assert_int_equal (removed->n_matches, 1);
  assert_ptr_equal (removed->matches[0].route, &wildcard);

  evb_route_snapshot_unref (before);
  evb_route_snapshot_unref (after);
  evb_route_snapshot_unref (removed);
  assert_int_equal (g_atomic_int_get (&exact.refs), 0);
  evb_route_cache_free (cache);
  evb_route_table_free (table);
  assert_int_equal (g_atomic_int_get (&wildcard.refs), 0);
}

/* Thousands of types (the array grows many times), some longer than a
 * slot's inline room, each answered right, before and after growing. */
static void
test_route_cache_grows_and_keeps_long_types (void **state)
{
  EvbRouteTable *table = evb_route_table_new (test_route_ref, test_route_unref);
  EvbRouteCache *cache = evb_route_cache_new (table);
  g_autofree TestRoute *routes = g_new0 (TestRoute, 3000);
  g_autoptr (GPtrArray) types = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < 3000; i++)
    {
      /* Every third type is longer than the 40 bytes a slot holds inline. */
      char *type = i % 3 == 0 ? g_strdup_printf ("a-rather-long-segment-name.%u.that-goes-on-and-on", i)
                              : g_strdup_printf ("t%u.evt", i);

      g_ptr_array_add (types, type);
      evb_route_table_add (table, type, &routes[i], 0, i + 1);
    }
  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < 3000; i++)
      {
        EvbRouteSnapshot *snapshot = cache_lookup (cache, g_ptr_array_index (types, i));

        assert_int_equal (snapshot->n_matches, 1);
        assert_ptr_equal (snapshot->matches[0].route, &routes[i]);
        evb_route_snapshot_unref (snapshot);
      }
  /* Unrouted types are cached too, as empty snapshots. */
  {
    EvbRouteSnapshot *nothing = cache_lookup (cache, "no.such.type");

    assert_int_equal (nothing->n_matches, 0);
    evb_route_snapshot_unref (nothing);
  }

  evb_route_cache_free (cache);
  evb_route_table_free (table);
  for (guint i = 0; i < 3000; i++)
    assert_int_equal (g_atomic_int_get (&routes[i].refs), 0);
}

/* Distinct types beyond the bound empty the cache rather than grow it;
 * answers stay right across the clearing. */
static void
test_route_cache_bound (void **state)
{
  EvbRouteTable *table = evb_route_table_new (test_route_ref, test_route_unref);
  EvbRouteCache *cache = evb_route_cache_new (table);
  TestRoute route = { 0 };

  evb_route_table_add (table, "hot.>", &route, 0, 1);
  for (guint i = 0; i < CACHE_MAX_TYPES + 10; i++)
    {
      char type[32];
      EvbRouteSnapshot *snapshot;

      g_snprintf (type, sizeof type, "hot.t%u", i);
      snapshot = cache_lookup (cache, type);
      assert_int_equal (snapshot->n_matches, 1);
      evb_route_snapshot_unref (snapshot);
    }
  /* One snapshot (one route reference) per distinct type.  Both caches
   * emptied themselves on the type after the bound and hold the last 10
   * types, the same snapshots: the table's entry plus 10. */
  assert_int_equal (g_atomic_int_get (&route.refs), 1 + 10);

  evb_route_cache_free (cache);
  evb_route_table_free (table);
  assert_int_equal (g_atomic_int_get (&route.refs), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_route_cache_hit_is_table_snapshot),
    cmocka_unit_test (test_route_cache_follows_table_changes),
    cmocka_unit_test (test_route_cache_grows_and_keeps_long_types),
    cmocka_unit_test (test_route_cache_bound),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
