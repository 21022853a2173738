/* Latency histograms: log2 buckets in microseconds, cheap to add to. */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

/* Bucket i counts values v with 2^(i-1) <= v < 2^i µs (bucket 0: v < 1 µs);
 * the last bucket is open-ended (about 67 s and more). */
#define EVB_HISTOGRAM_BUCKETS 28

typedef struct {
  guint64 count;
  guint64 sum_us;
  guint64 max_us;
  guint64 buckets[EVB_HISTOGRAM_BUCKETS];
} EvbHistogram;

void evb_histogram_add (EvbHistogram *histogram, gint64 value_us);

/* Upper bound (µs) of the bucket holding quantile @q (0..1); 0 when empty. */
guint64 evb_histogram_quantile (const EvbHistogram *histogram, double q);

/* Exclusive upper bound of bucket @i in µs (G_MAXUINT64 for the open last
 * one). */
guint64 evb_histogram_bucket_bound (guint i);

/* {"count","sum_us","max_us","p50_us","p95_us","p99_us","buckets":[[bound_us,count],...]}
 * with only non-empty buckets listed.  bound_us is bucket i's exclusive
 * upper bound 2^i (its values are < bound_us, not <=; Prometheus's
 * inclusive le is bound_us - 1, plugins/dashboard/metrics.c), or "+Inf"
 * for the open last bucket. */
json_t *evb_histogram_to_json (const EvbHistogram *histogram);

G_END_DECLS
