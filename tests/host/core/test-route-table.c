/* Tests for host/route-table.c: pattern matching and validation, the trie
 * lookup against the evb_pattern_match() oracle, ordering, the cache and its
 * bound, snapshot lifetime, and concurrent use. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "route-table.h"

/* Mirrors ROUTE_CACHE_MAX_TYPES in route-table.c. */
#define CACHE_MAX_TYPES 65536

/* A route as the tests see it: a ref count the table's ref functions move,
 * so a test can tell exactly who holds it. */
typedef struct {
  gint refs; /* atomic */
  const char *pattern;
  gint priority;
  guint64 seq;
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
  /* Going below zero means an unref without a matching ref. */
  g_assert_cmpint (g_atomic_int_add (&((TestRoute *) route)->refs, -1), >, 0);
}

static gint
test_route_refs (TestRoute *route)
{
  return g_atomic_int_get (&route->refs);
}

static EvbRouteTable *
test_table_new (void)
{
  return evb_route_table_new (test_route_ref, test_route_unref);
}

static void
test_table_add (EvbRouteTable *table, TestRoute *route)
{
  evb_route_table_add (table, route->pattern, route, route->priority, route->seq);
}

/* ---------------------------------------------------------------- matching */

typedef struct {
  const char *pattern;
  const char *type;
  gboolean matches;
} MatchCase;

static const MatchCase match_cases[] = {
  { "a", "a", TRUE },
  { "a.b", "a.b", TRUE },
  { "a.b", "a.c", FALSE },
  { "a.b", "a", FALSE },
  { "a", "a.b", FALSE },
  { "a.b", "a.b.c", FALSE },
  { "ab", "a", FALSE },
  { "a", "ab", FALSE },
  { "search.request", "search.request", TRUE },
  { "search.request", "search.requests", FALSE },
  { "*", "a", TRUE },
  { "*", "a.b", FALSE },
  { "*.b", "x.b", TRUE },
  { "*.b", "x.c", FALSE },
  { "*.b", "b", FALSE },
  { "a.*", "a.b", TRUE },
  { "a.*", "a", FALSE },
  { "a.*", "a.b.c", FALSE },
  { "a.*.c", "a.x.c", TRUE },
  { "a.*.c", "a.x.d", FALSE },
  { "*.*", "a.b", TRUE },
  { "*.*", "a", FALSE },
  { ">", "a", TRUE },
  { ">", "a.b.c.d", TRUE },
  { "a.>", "a.b", TRUE },
  { "a.>", "a.b.c", TRUE },
  { "a.>", "a", FALSE },
  { "a.>", "b.c", FALSE },
  { "evbus.status.>", "evbus.status.completed", TRUE },
  { "evbus.status.>", "evbus.status", FALSE },
  { "evbus.status.>", "evbus.statuses.x", FALSE },
  { "*.>", "a", FALSE },
  { "*.>", "a.b", TRUE },
  { "a.*.>", "a.b.c.d", TRUE },
  { "a.*.>", "a.b", FALSE },
  { "x_1-y.*", "x_1-y.z", TRUE },
};

/* Each case through the oracle and through a one-route table. */
static void
test_match_cases (void **state)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (match_cases); i++)
    {
      const MatchCase *match_case = &match_cases[i];
      TestRoute route = { .pattern = match_case->pattern };
      EvbRouteTable *table = test_table_new ();
      g_autoptr (EvbRouteSnapshot) snapshot = NULL;

      if (evb_pattern_match (match_case->pattern, match_case->type) != match_case->matches)
        fail_msg ("evb_pattern_match (\"%s\", \"%s\") != %d", match_case->pattern, match_case->type,
                  match_case->matches);

      test_table_add (table, &route);
      snapshot = evb_route_table_lookup (table, match_case->type);
      if (snapshot->n_matches != (match_case->matches ? 1u : 0u))
        fail_msg ("lookup of \"%s\" with route \"%s\": %u matches", match_case->type, match_case->pattern,
                  snapshot->n_matches);
      if (match_case->matches)
        assert_ptr_equal (snapshot->matches[0].route, &route);

      evb_route_table_free (table);
      g_clear_pointer (&snapshot, evb_route_snapshot_unref);
      assert_int_equal (test_route_refs (&route), 0);
    }
}

/* ---------------------------------------------------------------- ordering */

static void
test_order_by_priority_then_seq (void **state)
{
  /* Added out of order, under different patterns that all match "a.b.c". */
  TestRoute routes[] = {
    { .pattern = "a.b.c", .priority = 0, .seq = 5 },
    { .pattern = ">", .priority = 10, .seq = 7 },
    { .pattern = "a.*.c", .priority = 0, .seq = 2 },
    { .pattern = "a.>", .priority = 10, .seq = 3 },
    { .pattern = "*.b.*", .priority = -5, .seq = 1 },
    { .pattern = "a.b.>", .priority = 0, .seq = 9 },
    { .pattern = "a.b.c", .priority = 10, .seq = 8 },
    { .pattern = "a.b", .priority = 100, .seq = 0 }, /* does not match */
  };
  /* Indexes into routes[] in the expected order. */
  const guint expected[] = { 3, 1, 6, 2, 0, 5, 4 };
  EvbRouteTable *table = test_table_new ();
  g_autoptr (EvbRouteSnapshot) snapshot = NULL;
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (routes); i++)
    test_table_add (table, &routes[i]);
  assert_int_equal (evb_route_table_size (table), G_N_ELEMENTS (routes));

  snapshot = evb_route_table_lookup (table, "a.b.c");
  assert_int_equal (snapshot->n_matches, G_N_ELEMENTS (expected));
  for (i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      const TestRoute *route = &routes[expected[i]];

      assert_ptr_equal (snapshot->matches[i].route, route);
      assert_int_equal (snapshot->matches[i].priority, route->priority);
      assert_int_equal (snapshot->matches[i].seq, route->seq);
    }

  evb_route_table_free (table);
  g_clear_pointer (&snapshot, evb_route_snapshot_unref);
  for (i = 0; i < G_N_ELEMENTS (routes); i++)
    assert_int_equal (test_route_refs (&routes[i]), 0);
}

/* ------------------------------------------------------------------- cache */

static void
test_cache_hit_and_invalidation (void **state)
{
  TestRoute first = { .pattern = "a.*", .seq = 1 };
  TestRoute second = { .pattern = "a.b", .seq = 2 };
  TestRoute unrelated = { .pattern = "z", .seq = 3 };
  EvbRouteTable *table = test_table_new ();
  EvbRouteSnapshot *before;
  EvbRouteSnapshot *again;
  EvbRouteSnapshot *after_add;
  EvbRouteSnapshot *after_remove;

  test_table_add (table, &first);
  before = evb_route_table_lookup (table, "a.b");
  again = evb_route_table_lookup (table, "a.b");
  assert_ptr_equal (again, before); /* a hit hands out the cached snapshot */
  assert_int_equal (before->n_matches, 1);

  /* Any add drops the cache, even of a route that does not match. */
  test_table_add (table, &unrelated);
  evb_route_snapshot_unref (again);
  again = evb_route_table_lookup (table, "a.b");
  assert_ptr_not_equal (again, before);
  assert_int_equal (again->n_matches, 1);

  test_table_add (table, &second);
  after_add = evb_route_table_lookup (table, "a.b");
  assert_int_equal (after_add->n_matches, 2);
  assert_ptr_equal (after_add->matches[0].route, &first);
  assert_ptr_equal (after_add->matches[1].route, &second);

  assert_true (evb_route_table_remove (table, "a.*", &first));
  after_remove = evb_route_table_lookup (table, "a.b");
  assert_int_equal (after_remove->n_matches, 1);
  assert_ptr_equal (after_remove->matches[0].route, &second);

  /* Snapshots taken earlier are unchanged. */
  assert_int_equal (before->n_matches, 1);
  assert_ptr_equal (before->matches[0].route, &first);
  assert_int_equal (after_add->n_matches, 2);

  evb_route_snapshot_unref (before);
  evb_route_snapshot_unref (again);
  evb_route_snapshot_unref (after_add);
  evb_route_snapshot_unref (after_remove);
  evb_route_table_free (table);
  assert_int_equal (test_route_refs (&first), 0);
  assert_int_equal (test_route_refs (&second), 0);
  assert_int_equal (test_route_refs (&unrelated), 0);
}

static void
test_empty_result (void **state)
{
  TestRoute route = { .pattern = "a.b" };
  EvbRouteTable *table = test_table_new ();
  g_autoptr (EvbRouteSnapshot) empty = evb_route_table_lookup (table, "a.b");
  g_autoptr (EvbRouteSnapshot) nothing = NULL;
  g_autoptr (EvbRouteSnapshot) found = NULL;

  assert_non_null (empty);
  assert_int_equal (empty->n_matches, 0);

  test_table_add (table, &route);
  found = evb_route_table_lookup (table, "a.b");
  assert_int_equal (found->n_matches, 1);
  nothing = evb_route_table_lookup (table, "a.c");
  assert_int_equal (nothing->n_matches, 0);

  evb_route_table_free (table);
  assert_int_equal (empty->n_matches, 0); /* still readable after the table is gone */
}

/* Every lookup of a new type under a ">" route caches a snapshot holding one
 * ref on that route, so the route's refs minus the table's own is exactly
 * the number of cached types: the bound can be watched from outside. */
static void
test_cache_bound (void **state)
{
  TestRoute everything = { .pattern = ">" };
  EvbRouteTable *table = test_table_new ();
  gint max_cached = 0;
  gboolean dropped = FALSE;
  gint previous_cached = 0;
  guint i;

  test_table_add (table, &everything);
  for (i = 0; i < 100000; i++)
    {
      char type[32];
      EvbRouteSnapshot *snapshot;
      gint cached;

      g_snprintf (type, sizeof type, "type.n%u", i);
      snapshot = evb_route_table_lookup (table, type);
      evb_route_snapshot_unref (snapshot);

      cached = test_route_refs (&everything) - 1;
      assert_true (cached <= CACHE_MAX_TYPES);
      if (cached < previous_cached)
        dropped = TRUE;
      previous_cached = cached;
      max_cached = MAX (max_cached, cached);
    }
  assert_int_equal (max_cached, CACHE_MAX_TYPES); /* it does cache up to the bound */
  assert_true (dropped);

  evb_route_table_free (table);
  assert_int_equal (test_route_refs (&everything), 0);
}

/* ------------------------------------------------------ snapshot lifetime */

static void
test_snapshot_outlives_remove (void **state)
{
  TestRoute route = { .pattern = "a.>", .priority = 3, .seq = 42 };
  EvbRouteTable *table = test_table_new ();
  EvbRouteSnapshot *snapshot;
  EvbRouteSnapshot *after;

  test_table_add (table, &route);
  assert_int_equal (test_route_refs (&route), 1); /* the table's */

  snapshot = evb_route_table_lookup (table, "a.b");
  assert_int_equal (test_route_refs (&route), 2); /* + the cached snapshot's */

  assert_true (evb_route_table_remove (table, "a.>", &route));
  assert_int_equal (evb_route_table_size (table), 0);
  /* The table and its cache let go; our snapshot still holds the route. */
  assert_int_equal (test_route_refs (&route), 1);
  assert_int_equal (snapshot->n_matches, 1);
  assert_ptr_equal (snapshot->matches[0].route, &route);
  assert_int_equal (snapshot->matches[0].priority, 3);
  assert_int_equal (snapshot->matches[0].seq, 42);

  after = evb_route_table_lookup (table, "a.b");
  assert_int_equal (after->n_matches, 0);
  evb_route_snapshot_unref (after);

  evb_route_snapshot_unref (snapshot);
  assert_int_equal (test_route_refs (&route), 0);
  evb_route_table_free (table);
}

static void
test_snapshot_outlives_table (void **state)
{
  TestRoute route = { .pattern = "a" };
  EvbRouteTable *table = test_table_new ();
  EvbRouteSnapshot *snapshot;

  test_table_add (table, &route);
  snapshot = evb_route_table_lookup (table, "a");
  evb_route_table_free (table);

  assert_int_equal (test_route_refs (&route), 1);
  assert_ptr_equal (snapshot->matches[0].route, &route);
  evb_route_snapshot_unref (snapshot);
  assert_int_equal (test_route_refs (&route), 0);
}

static void
test_free_releases_routes (void **state)
{
  TestRoute routes[] = {
    { .pattern = "a" }, { .pattern = "a.b" }, { .pattern = "a.*" }, { .pattern = ">" }, { .pattern = "*.>" },
  };
  EvbRouteTable *table = test_table_new ();
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (routes); i++)
    test_table_add (table, &routes[i]);
  /* Fill the cache too, so freeing it has something to drop. */
  evb_route_snapshot_unref (evb_route_table_lookup (table, "a"));
  evb_route_snapshot_unref (evb_route_table_lookup (table, "a.b"));
  evb_route_snapshot_unref (evb_route_table_lookup (table, "q.r.s"));

  evb_route_table_free (table);
  for (i = 0; i < G_N_ELEMENTS (routes); i++)
    assert_int_equal (test_route_refs (&routes[i]), 0);
}

/* ------------------------------------------------------------------ remove */

static void
test_remove_absent (void **state)
{
  TestRoute present = { .pattern = "a.*" };
  TestRoute absent = { .pattern = "a.*" };
  EvbRouteTable *table = test_table_new ();
  g_autoptr (EvbRouteSnapshot) snapshot = NULL;

  assert_false (evb_route_table_remove (table, "a.*", &present)); /* empty table */

  test_table_add (table, &present);
  assert_false (evb_route_table_remove (table, "a.*", &absent));  /* other route */
  assert_false (evb_route_table_remove (table, "a.b", &present)); /* other pattern */
  assert_false (evb_route_table_remove (table, "a", &present));   /* a prefix of it */
  assert_false (evb_route_table_remove (table, "a.>", &present)); /* same node, tail list */
  assert_false (evb_route_table_remove (table, "a..", &present)); /* invalid */
  assert_int_equal (evb_route_table_size (table), 1);
  assert_int_equal (test_route_refs (&present), 1);

  assert_true (evb_route_table_remove (table, "a.*", &present));
  assert_false (evb_route_table_remove (table, "a.*", &present)); /* already gone */
  assert_int_equal (evb_route_table_size (table), 0);
  assert_int_equal (test_route_refs (&present), 0);
  assert_int_equal (test_route_refs (&absent), 0);

  /* Nothing is left behind: the same pattern works again. */
  test_table_add (table, &present);
  snapshot = evb_route_table_lookup (table, "a.z");
  assert_int_equal (snapshot->n_matches, 1);
  g_clear_pointer (&snapshot, evb_route_snapshot_unref);

  evb_route_table_free (table);
  assert_int_equal (test_route_refs (&present), 0);
}

/* The same route may sit under one pattern twice; each remove takes one. */
static void
test_same_route_twice (void **state)
{
  TestRoute route = { .pattern = "a" };
  EvbRouteTable *table = test_table_new ();
  EvbRouteSnapshot *snapshot;

  evb_route_table_add (table, "a", &route, 0, 1);
  evb_route_table_add (table, "a", &route, 5, 2);
  assert_int_equal (evb_route_table_size (table), 2);
  snapshot = evb_route_table_lookup (table, "a");
  assert_int_equal (snapshot->n_matches, 2);
  assert_int_equal (snapshot->matches[0].priority, 5);
  evb_route_snapshot_unref (snapshot);

  assert_true (evb_route_table_remove (table, "a", &route));
  assert_true (evb_route_table_remove (table, "a", &route));
  assert_false (evb_route_table_remove (table, "a", &route));
  assert_int_equal (test_route_refs (&route), 0);
  evb_route_table_free (table);
}

/* -------------------------------------------------------------- validation */

static GQuark
pattern_error_quark (void)
{
  return g_quark_from_static_string ("evb-pattern-error-quark");
}

static void
test_validate_errors (void **state)
{
  static const struct {
    const char *pattern;
    const char *message;
  } cases[] = {
    { "", "invalid pattern \"\": empty pattern" },
    { "a..b", "invalid pattern \"a..b\": empty segment 2" },
    { ".a", "invalid pattern \".a\": empty segment 1" },
    { "a.", "invalid pattern \"a.\": empty segment 2" },
    { ".", "invalid pattern \".\": empty segment 1" },
    { "a.>.b", "invalid pattern \"a.>.b\": \">\" must be the last segment" },
    { ">.a", "invalid pattern \">.a\": \">\" must be the last segment" },
    { "a.B", "invalid pattern \"a.B\": segment 2 \"B\" may hold only a-z 0-9 _ -" },
    { "a.b*", "invalid pattern \"a.b*\": segment 2 \"b*\" may hold only a-z 0-9 _ -" },
    { "**", "invalid pattern \"**\": segment 1 \"**\" may hold only a-z 0-9 _ -" },
    { "a.b>", "invalid pattern \"a.b>\": segment 2 \"b>\" may hold only a-z 0-9 _ -" },
    { "a.>>", "invalid pattern \"a.>>\": segment 2 \">>\" may hold only a-z 0-9 _ -" },
    { "a b", "invalid pattern \"a b\": segment 1 \"a b\" may hold only a-z 0-9 _ -" },
    /* Quotes and control characters are escaped, not printed raw. */
    { "a.\"b\n", "invalid pattern \"a.\\\"b\\n\": segment 2 \"\\\"b\\n\" may hold only a-z 0-9 _ -" },
  };
  static const char *const valid[] = {
    "a", "a.b", "search.request", "*", ">", "a.*", "*.b", "a.>", "*.>", "a.*.c.>", "x_1-y.z-9_",
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;

      assert_false (evb_pattern_validate (cases[i].pattern, &error));
      assert_non_null (error);
      assert_int_equal (error->domain, pattern_error_quark ());
      assert_int_equal (error->code, 0);
      assert_string_equal (error->message, cases[i].message);
      assert_false (evb_pattern_validate (cases[i].pattern, NULL));
    }

  for (i = 0; i < G_N_ELEMENTS (valid); i++)
    {
      g_autoptr (GError) error = NULL;

      if (!evb_pattern_validate (valid[i], &error))
        fail_msg ("\"%s\" rejected: %s", valid[i], error->message);
      assert_null (error);
    }
}

/* ------------------------------------------------------- randomized oracle */

static const char *const random_words[] = { "a", "b", "c", "dd" };

static char *
random_type (GRand *rand)
{
  GString *type = g_string_new (NULL);
  gint n_segments = g_rand_int_range (rand, 1, 6);
  gint i;

  for (i = 0; i < n_segments; i++)
    {
      if (i > 0)
        g_string_append_c (type, '.');
      g_string_append (type, random_words[g_rand_int_range (rand, 0, G_N_ELEMENTS (random_words))]);
    }
  return g_string_free (type, FALSE);
}

static char *
random_pattern (GRand *rand)
{
  GString *pattern = g_string_new (NULL);
  gint n_segments = g_rand_int_range (rand, 1, 5);
  gint i;

  for (i = 0; i < n_segments; i++)
    {
      gint pick = g_rand_int_range (rand, 0, 10);

      if (i > 0)
        g_string_append_c (pattern, '.');
      if (i == n_segments - 1 && pick == 0)
        g_string_append_c (pattern, '>');
      else if (pick <= 2)
        g_string_append_c (pattern, '*');
      else
        g_string_append (pattern, random_words[g_rand_int_range (rand, 0, G_N_ELEMENTS (random_words))]);
    }
  return g_string_free (pattern, FALSE);
}

/* The routes of @routes whose pattern the oracle matches to @type, sorted
 * the way a snapshot must be, checked against the table's answer. */
static void
check_lookup_against_oracle (EvbRouteTable *table, TestRoute *routes, const gboolean *present, guint n_routes,
                             const char *type)
{
  g_autoptr (EvbRouteSnapshot) snapshot = evb_route_table_lookup (table, type);
  guint route_index = 0;
  guint64 previous_seq = 0;
  gint previous_priority = G_MAXINT;
  guint n_expected = 0;
  guint i;

  for (i = 0; i < n_routes; i++)
    if (present[i] && evb_pattern_match (routes[i].pattern, type))
      n_expected++;
  if (snapshot->n_matches != n_expected)
    fail_msg ("type \"%s\": %u matches, the oracle says %u", type, snapshot->n_matches, n_expected);

  for (i = 0; i < snapshot->n_matches; i++)
    {
      const EvbRouteMatch *match = &snapshot->matches[i];
      const TestRoute *route = match->route;

      route_index = (guint) (route - routes);
      assert_true (route_index < n_routes && present[route_index]);
      if (!evb_pattern_match (route->pattern, type))
        fail_msg ("type \"%s\" got route \"%s\"", type, route->pattern);
      assert_true (match->priority < previous_priority ||
                   (match->priority == previous_priority && match->seq > previous_seq));
      previous_priority = match->priority;
      previous_seq = match->seq;
    }
}

static void
test_random_against_oracle (void **state)
{
  enum { N_ROUTES = 400, N_TYPES = 600 };
  g_autoptr (GRand) rand = g_rand_new_with_seed (20240611);
  TestRoute *routes = g_new0 (TestRoute, N_ROUTES);
  gboolean *present = g_new0 (gboolean, N_ROUTES);
  g_auto (GStrv) types = g_new0 (char *, N_TYPES + 1);
  EvbRouteTable *table = test_table_new ();
  guint n_removed = 0;
  guint i;

  for (i = 0; i < N_TYPES; i++)
    types[i] = random_type (rand);

  for (i = 0; i < N_ROUTES; i++)
    {
      routes[i].pattern = random_pattern (rand);
      routes[i].priority = g_rand_int_range (rand, -2, 3); /* few levels: many ties on seq */
      routes[i].seq = i;
      assert_true (evb_pattern_validate (routes[i].pattern, NULL));
      test_table_add (table, &routes[i]);
      present[i] = TRUE;
    }

  for (i = 0; i < N_TYPES; i++)
    check_lookup_against_oracle (table, routes, present, N_ROUTES, types[i]);
  /* Again, now from the cache. */
  for (i = 0; i < N_TYPES; i++)
    check_lookup_against_oracle (table, routes, present, N_ROUTES, types[i]);

  /* Remove about half, in random order, checking some types as we go. */
  for (i = 0; i < N_ROUTES; i++)
    {
      guint victim = g_rand_int_range (rand, 0, N_ROUTES);

      if (!present[victim])
        continue;
      assert_true (evb_route_table_remove (table, routes[victim].pattern, &routes[victim]));
      present[victim] = FALSE;
      n_removed++;
      check_lookup_against_oracle (table, routes, present, N_ROUTES, types[i % N_TYPES]);
    }
  assert_int_equal (evb_route_table_size (table), N_ROUTES - n_removed);
  for (i = 0; i < N_TYPES; i++)
    check_lookup_against_oracle (table, routes, present, N_ROUTES, types[i]);

  evb_route_table_free (table);
  for (i = 0; i < N_ROUTES; i++)
    {
      assert_int_equal (test_route_refs (&routes[i]), 0);
      g_free ((char *) routes[i].pattern);
    }
  g_free (routes);
  g_free (present);
}

/* -------------------------------------------------------------- threading */

typedef struct {
  EvbRouteTable *table;
  TestRoute *routes;
  guint n_routes;
  const char *const *types;
  guint n_types;
  gint stop;     /* atomic */
  gint failures; /* atomic: CMocka asserts must stay on the main thread */
  gint lookups;  /* atomic */
} ConcurrentState;

static gpointer
lookup_thread (gpointer data)
{
  ConcurrentState *shared = data;
  guint n = 0;

  while (!g_atomic_int_get (&shared->stop) || n < 100)
    {
      const char *type = shared->types[n % shared->n_types];
      EvbRouteSnapshot *snapshot = evb_route_table_lookup (shared->table, type);
      guint i;

      for (i = 0; i < snapshot->n_matches; i++)
        {
          TestRoute *route = snapshot->matches[i].route;

          /* Held by this snapshot, so alive whatever the main thread did. */
          if (test_route_refs (route) <= 0 || !evb_pattern_match (route->pattern, type))
            g_atomic_int_inc (&shared->failures);
          if (i > 0 && snapshot->matches[i - 1].seq >= snapshot->matches[i].seq)
            g_atomic_int_inc (&shared->failures); /* all priorities are 0 here */
        }
      evb_route_snapshot_unref (snapshot);
      n++;
    }
  g_atomic_int_add (&shared->lookups, (gint) n);
  return NULL;
}

static void
test_concurrent_lookups (void **state)
{
  static const char *const patterns[] = { "a", "a.b", "a.*", "a.>", ">", "*.b", "b.*.c", "b.>" };
  static const char *const types[] = { "a", "a.b", "a.c", "a.b.c", "b.b", "b.x.c", "c", "z.b" };
  enum { N_ROUNDS = 2000 };
  TestRoute routes[G_N_ELEMENTS (patterns)] = { 0 };
  ConcurrentState shared = {
    .routes = routes, .n_routes = G_N_ELEMENTS (routes), .types = types, .n_types = G_N_ELEMENTS (types),
  };
  GThread *threads[4];
  guint64 next_seq = 1;
  gsize i;

  shared.table = test_table_new ();
  for (i = 0; i < G_N_ELEMENTS (routes); i++)
    routes[i].pattern = patterns[i];

  for (i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("lookup", lookup_thread, &shared);

  /* Each round toggles one route in or out, so lookups keep missing the
   * cache and racing with snapshots being built and released. */
  for (i = 0; i < N_ROUNDS; i++)
    {
      TestRoute *route = &routes[i % G_N_ELEMENTS (routes)];

      if (!evb_route_table_remove (shared.table, route->pattern, route))
        evb_route_table_add (shared.table, route->pattern, route, 0, next_seq++);
      if (i % 64 == 0)
        g_thread_yield ();
    }
  g_atomic_int_set (&shared.stop, 1);
  for (i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);

  assert_int_equal (g_atomic_int_get (&shared.failures), 0);
  assert_true (g_atomic_int_get (&shared.lookups) >= 400);

  evb_route_table_free (shared.table);
  for (i = 0; i < G_N_ELEMENTS (routes); i++)
    assert_int_equal (test_route_refs (&routes[i]), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_match_cases),
    cmocka_unit_test (test_order_by_priority_then_seq),
    cmocka_unit_test (test_cache_hit_and_invalidation),
    cmocka_unit_test (test_empty_result),
    cmocka_unit_test (test_cache_bound),
    cmocka_unit_test (test_snapshot_outlives_remove),
    cmocka_unit_test (test_snapshot_outlives_table),
    cmocka_unit_test (test_free_releases_routes),
    cmocka_unit_test (test_remove_absent),
    cmocka_unit_test (test_same_route_twice),
    cmocka_unit_test (test_validate_errors),
    cmocka_unit_test (test_random_against_oracle),
    cmocka_unit_test (test_concurrent_lookups),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
