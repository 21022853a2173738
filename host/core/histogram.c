#include "histogram.h"

static guint
bucket_index (guint64 value_us)
{
  guint index;

  if (value_us == 0)
    return 0;
  index = 64 - (guint) __builtin_clzll (value_us); /* bit length: 1 -> 1, 2..3 -> 2, ... */
  return MIN (index, EVB_HISTOGRAM_BUCKETS - 1);
}

void
evb_histogram_add (EvbHistogram *histogram, gint64 value_us)
{
  guint64 value = value_us > 0 ? (guint64) value_us : 0;

  histogram->count++;
  histogram->sum_us += value;
  if (value > histogram->max_us)
    histogram->max_us = value;
  histogram->buckets[bucket_index (value)]++;
}

guint64
evb_histogram_bucket_bound (guint i)
{
  if (i >= EVB_HISTOGRAM_BUCKETS - 1)
    return G_MAXUINT64;
  return ((guint64) 1) << i;
}

guint64
evb_histogram_quantile (const EvbHistogram *histogram, double q)
{
  guint64 rank;
  guint64 seen = 0;

  if (histogram->count == 0)
    return 0;
  rank = (guint64) (q * (double) histogram->count + 0.5);
  if (rank < 1)
    rank = 1;
  for (guint i = 0; i < EVB_HISTOGRAM_BUCKETS; i++)
    {
      seen += histogram->buckets[i];
      if (seen >= rank)
        return MIN (evb_histogram_bucket_bound (i), histogram->max_us);
    }
  return histogram->max_us;
}

json_t *
evb_histogram_to_json (const EvbHistogram *histogram)
{
  json_t *buckets = json_array ();

  for (guint i = 0; i < EVB_HISTOGRAM_BUCKETS; i++)
    {
      guint64 bound = evb_histogram_bucket_bound (i);

      if (histogram->buckets[i] == 0)
        continue;
      json_array_append_new (buckets, json_pack ("[o, I]",
                                                 bound == G_MAXUINT64 ? json_string ("+Inf")
                                                                      : json_integer ((json_int_t) bound),
                                                 (json_int_t) histogram->buckets[i]));
    }
  return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
                    "count", (json_int_t) histogram->count,
                    "sum_us", (json_int_t) histogram->sum_us,
                    "max_us", (json_int_t) histogram->max_us,
                    "p50_us", (json_int_t) evb_histogram_quantile (histogram, 0.50),
                    "p95_us", (json_int_t) evb_histogram_quantile (histogram, 0.95),
                    "p99_us", (json_int_t) evb_histogram_quantile (histogram, 0.99),
                    "buckets", buckets);
}
