/* host/core/histogram.c: the latency histograms of the route stats.
 *
 * Log2 buckets in microseconds: bucket i holds 2^(i-1) <= v < 2^i (bucket
 * 0: v < 1), the last bucket is open-ended; quantiles are the upper bound
 * of the bucket holding the rank, never above the largest value seen; the
 * JSON lists only non-empty buckets. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "histogram.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)

#define LAST (EVB_HISTOGRAM_BUCKETS - 1)

/* The only non-empty bucket of a histogram that holds one value. */
static guint
bucket_of (gint64 value_us)
{
  EvbHistogram histogram = { 0 };
  guint found = G_MAXUINT;

  evb_histogram_add (&histogram, value_us);
  for (guint i = 0; i < EVB_HISTOGRAM_BUCKETS; i++)
    if (histogram.buckets[i] != 0)
      {
        assert_int_equal (histogram.buckets[i], 1);
        assert_int_equal (found, G_MAXUINT);
        found = i;
      }
  assert_int_not_equal (found, G_MAXUINT);
  return found;
}

static void
assert_json (json_t *actual, const char *expected_text)
{
  g_autoptr (json_t) expected = json_loads (expected_text, 0, NULL);

  assert_non_null (expected);
  if (!json_equal (actual, expected))
    {
      g_autofree char *text = json_dumps (actual, JSON_COMPACT | JSON_SORT_KEYS);

      fail_msg ("expected %s, got %s", expected_text, text);
    }
}

/* Bounds are powers of two, 1 µs up; the last one is open. */
static void
test_bucket_bounds (void **state)
{
  assert_int_equal (evb_histogram_bucket_bound (0), 1);
  assert_int_equal (evb_histogram_bucket_bound (1), 2);
  assert_int_equal (evb_histogram_bucket_bound (10), 1024);
  assert_int_equal (evb_histogram_bucket_bound (LAST - 1), G_GUINT64_CONSTANT (1) << (LAST - 1));
  assert_true (evb_histogram_bucket_bound (LAST) == G_MAXUINT64);
  assert_true (evb_histogram_bucket_bound (LAST + 1) == G_MAXUINT64);
  assert_true (evb_histogram_bucket_bound (G_MAXUINT) == G_MAXUINT64);
}

/* Every value lands in the bucket the header promises, at both edges of
 * every bucket; negative values count as 0; huge ones in the open bucket. */
static void
test_bucket_edges (void **state)
{
  assert_int_equal (bucket_of (0), 0);
  assert_int_equal (bucket_of (-1), 0);
  assert_int_equal (bucket_of (G_MININT64), 0);
  for (guint i = 1; i < LAST; i++)
    {
      gint64 low = (gint64) 1 << (i - 1);
      gint64 high = ((gint64) 1 << i) - 1;

      assert_int_equal (bucket_of (low), i);
      assert_int_equal (bucket_of (high), i);
      /* Each bucket holds exactly the values below its bound. */
      assert_true ((guint64) high < evb_histogram_bucket_bound (i));
      assert_true ((guint64) low >= evb_histogram_bucket_bound (i - 1));
    }
  assert_int_equal (bucket_of ((gint64) 1 << (LAST - 1)), LAST);
  assert_int_equal (bucket_of ((gint64) 1 << 40), LAST);
  assert_int_equal (bucket_of (G_MAXINT64), LAST);
}

/* count, sum and max; a negative value is a 0 (counted, adds nothing). */
static void
test_add_totals (void **state)
{
  EvbHistogram histogram = { 0 };
  static const gint64 values[] = { 5, 0, 1000, -7, 3 };

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    evb_histogram_add (&histogram, values[i]);
  assert_int_equal (histogram.count, 5);
  assert_int_equal (histogram.sum_us, 1008);
  assert_int_equal (histogram.max_us, 1000);
  assert_int_equal (histogram.buckets[0], 2); /* 0 and -7 */
  assert_int_equal (histogram.buckets[2], 1); /* 3 */
  assert_int_equal (histogram.buckets[3], 1); /* 5 */
  assert_int_equal (histogram.buckets[10], 1); /* 1000 */

  /* Only negative values: counted, max stays 0. */
  memset (&histogram, 0, sizeof histogram);
  evb_histogram_add (&histogram, -1);
  assert_int_equal (histogram.count, 1);
  assert_int_equal (histogram.sum_us, 0);
  assert_int_equal (histogram.max_us, 0);
}

/* Quantiles: 0 when empty; the bound of the bucket that holds rank
 * round(q * count) (at least 1), capped at the largest value seen. */
static void
test_quantiles (void **state)
{
  EvbHistogram histogram = { 0 };

  assert_int_equal (evb_histogram_quantile (&histogram, 0.0), 0);
  assert_int_equal (evb_histogram_quantile (&histogram, 0.5), 0);
  assert_int_equal (evb_histogram_quantile (&histogram, 1.0), 0);

  /* Nine of 1 µs (bucket [1, 2)) and one of 1000 µs (bucket [512, 1024)). */
  for (guint i = 0; i < 9; i++)
    evb_histogram_add (&histogram, 1);
  evb_histogram_add (&histogram, 1000);
  assert_int_equal (evb_histogram_quantile (&histogram, 0.0), 2);  /* rank 0 -> 1 */
  assert_int_equal (evb_histogram_quantile (&histogram, 0.5), 2);  /* rank 5 */
  assert_int_equal (evb_histogram_quantile (&histogram, 0.9), 2);  /* rank 9 */
  assert_int_equal (evb_histogram_quantile (&histogram, 0.95), 1000); /* rank 10: 1024 capped at max */
  assert_int_equal (evb_histogram_quantile (&histogram, 0.99), 1000);
  assert_int_equal (evb_histogram_quantile (&histogram, 1.0), 1000);

  /* One value: every quantile is that value (capped at max), not its bound. */
  memset (&histogram, 0, sizeof histogram);
  evb_histogram_add (&histogram, 300);
  assert_int_equal (evb_histogram_quantile (&histogram, 0.01), 300);
  assert_int_equal (evb_histogram_quantile (&histogram, 0.5), 300);
  assert_int_equal (evb_histogram_quantile (&histogram, 1.0), 300);

  /* The open bucket: capped at max, never G_MAXUINT64. */
  memset (&histogram, 0, sizeof histogram);
  evb_histogram_add (&histogram, (gint64) 1 << 30);
  assert_int_equal (evb_histogram_quantile (&histogram, 0.5), (guint64) 1 << 30);
}

/* The JSON: totals, p50/p95/p99, only non-empty buckets as [bound, count],
 * the open one as "+Inf". */
static void
test_to_json (void **state)
{
  EvbHistogram histogram = { 0 };
  g_autoptr (json_t) empty = evb_histogram_to_json (&histogram);
  g_autoptr (json_t) full = NULL;
  static const gint64 values[] = { 0, 1, 3, 3, 1000, (gint64) 1 << 26 };

  assert_json (empty, "{\"count\": 0, \"sum_us\": 0, \"max_us\": 0, \"p50_us\": 0, \"p95_us\": 0, \"p99_us\": 0,"
                      " \"buckets\": []}");

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    evb_histogram_add (&histogram, values[i]);
  full = evb_histogram_to_json (&histogram);
  assert_json (full, "{\"count\": 6, \"sum_us\": 67109871, \"max_us\": 67108864,"
                     " \"p50_us\": 4, \"p95_us\": 67108864, \"p99_us\": 67108864,"
                     " \"buckets\": [[1, 1], [2, 1], [4, 2], [1024, 1], [\"+Inf\", 1]]}");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_bucket_bounds),
    cmocka_unit_test (test_bucket_edges),
    cmocka_unit_test (test_add_totals),
    cmocka_unit_test (test_quantiles),
    cmocka_unit_test (test_to_json),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
