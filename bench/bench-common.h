/* Shared helpers of the benchmark programs (bench/README in RESULTS.md).
 *
 * Every program measures evbus and its peer in the same process, alternating
 * rounds (evbus, peer, evbus, peer, ...) so that drift in a shared machine's
 * speed hits both sides alike, and prints one machine-readable line per
 * figure:
 *
 *   RESULT bench=B1 variant=n8-nofilter unit=ns/handler evbus=4.1 peer=61.0
 *          peer_name=gsignal ratio=14.9 check=ratio>=10
 *
 * `ratio` is peer / evbus for "lower is better" units (so > 1 means evbus
 * wins) unless the program says otherwise; `check` is what bench/run tests
 * on the median of the runs: "ratio>=X", "ratio<=X", "evbus<=X" or "info". */
#pragma once

#include <glib.h>

#include "bus.h"
#include "event.h"

G_BEGIN_DECLS

typedef struct {
  gboolean quick; /* --quick: smaller sizes, fewer rounds */
  guint rounds;   /* alternating evbus/peer rounds inside this process */
  const char *only; /* --only TEXT: just the variants whose name holds TEXT */
  gboolean skip_peer; /* --no-peer: measure evbus alone (for profiling) */
} BenchOptions;

/* Parses --quick, --rounds N, --only TEXT, --no-peer; exits on anything else. */
void bench_parse_options (int argc, char **argv, BenchOptions *options);

/* FALSE when --only excludes @variant. */
gboolean bench_wants (const BenchOptions *options, const char *variant);

/* Monotonic nanoseconds. */
gint64 bench_now_ns (void);

/* Median of @n doubles (sorts @values in place). */
double bench_median (double *values, guint n);

/* One RESULT line (see above).  @peer_name has no spaces. */
void bench_result (const char *bench, const char *variant, const char *unit, double evbus, double peer,
                   const char *peer_name, double ratio, const char *check);

/* Resident set size in bytes, from /proc/self/statm. */
gsize bench_rss_bytes (void);

/* Bytes malloc has handed out and not taken back (mallinfo2 ().uordblks +
 * hblkhd: small and mmap-ed blocks). */
gsize bench_heap_bytes (void);

/* A bus on @context with default settings but @workers threads (0: default)
 * and an inbox of @inbox_limit (0: default). */
EvbBus *bench_bus_new (GMainContext *context, guint workers, guint inbox_limit);

/* Iterates @bus's context without blocking until @bus has dispatched
 * @target events in total.  Main thread. */
void bench_drain_until_dispatched (EvbBus *bus, guint64 target);
/* Events the bus dispatched so far. */
guint64 bench_dispatched (EvbBus *bus);
/* Jobs completed so far. */
guint64 bench_jobs_completed (EvbBus *bus);

/* Iterates @bus's context (blocking) until the bus is idle. */
void bench_run_until_idle (EvbBus *bus);

/* Adds a host route calling @func on @pattern; aborts on error. */
guint64 bench_add_route (EvbBus *bus, const char *pattern, EvbMode mode, EvbHandlerFunc func, gpointer user_data,
                         const char *filter_json);

G_END_DECLS
