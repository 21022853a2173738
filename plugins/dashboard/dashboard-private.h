/* The dashboard plugin's shared state.  Its stages, one file each:
 *
 *   dashboard.c  options, init/shutdown, the bus handlers: the last
 *                failures, status events for the streams that want them
 *   health.c     failure-rate window, stalled jobs, inbox saturation, plugins' own health
 *   cluster.c    other hosts' jobs and failures (imported by the nats plugin)
 *   sse.c        /events clients, bounded buffers
 *   metrics.c    Prometheus text for /metrics
 *   http.c       the libsoup server: routing, auth, page, snapshot, healthz
 *
 * Everything here runs on the host's main thread (the GMainContext that was
 * thread-default when init ran): bus handlers are sync routes, the server
 * and its timers are attached to that context.  Nothing locks.  The one
 * exception is front.c: the listening socket and /healthz on a thread of
 * their own (see there), which shares only atomics and read-only options
 * and hops to the main context for the rest. */
#pragma once

#include <evbus/json.h>
#include <evbus/plugin.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _Dashboard Dashboard;
typedef struct _SseClient SseClient;
typedef struct _SseBlockPool SseBlockPool;
typedef struct _DashFront DashFront;
typedef struct _DashCluster DashCluster;

/* What the front door (front.c) counted; read with dash_front_counters. */
typedef struct {
  gint accepted;
  gint refused_busy;        /* over max_connections: 503 */
  gint refused_host;        /* foreign Host or absolute-form: 403 */
  gint timeouts;            /* no complete header within header_timeout_s: 408 */
  gint accept_fd_exhausted; /* accept () failed with EMFILE/ENFILE */
  gint open;                /* connections open now */
} DashFrontCounters;

/* waiting, executing, completed, failed, cancelling, cancelled */
#define DASH_N_STATUS_STATES 6
/* The kinds of event a stream can carry: one per status state (in that
 * order), then evbus.failure.  A stream's pattern becomes a bit set of
 * them once, when it connects, not a match per event. */
#define DASH_KIND_FAILURE DASH_N_STATUS_STATES

/* A status route's user data: which kind its events are. */
typedef struct {
  Dashboard *dashboard;
  guint kind;
} DashStatusTap;

/* One evbus.failure, trimmed to what the page shows: one allocation, the
 * strings (NULL when absent) pointing into text[]. */
typedef struct {
  gint64 time_us;
  guint64 origin_id;
  guint64 job; /* 0: a sync handler */
  char trace_id[EVB_TRACE_ID_SIZE]; /* the failure's, which is its origin's */
  gint code;
  const char *plugin;
  const char *handler;
  const char *origin_type;
  const char *domain;
  const char *message;
  const char *thread;
  const char *host; /* another host's (cluster.failure's _origin.host); NULL: this host */
  char text[];
} DashFailure;

/* A sample of the host's handler-run counters, for the failure-rate window. */
typedef struct {
  gint64 mono_us;
  guint64 runs;   /* completed + failed, all routes but the dashboard's */
  guint64 failed;
} DashSample;

typedef struct {
  gboolean healthy;
  GPtrArray *reasons; /* char *, one sentence each */
  double failure_rate;
  guint64 window_runs;
  guint64 window_failed;
  guint stalled_jobs;
  guint inbox_depth;
  guint inbox_limit;
  gboolean inbox_saturated;
  guint unhealthy_plugins; /* instances that said so (evb_plugin_set_health) */
} DashHealth;

struct _Dashboard {
  EvbPlugin *plugin;
  GMainContext *context;
  SoupServer *server;
  DashFront *front;
  char *url;

  /* Options. */
  char *token;           /* NULL: no auth */
  gboolean loopback_only;
  guint history;
  gsize sse_buffer_cap;  /* bytes */
  double failure_rate_threshold;
  guint window_s;
  guint stall_s;
  guint max_connections;
  guint header_timeout_s;

  /* Per job state: /events clients whose pattern takes it, and our route
   * for evbus.status.<state> while there is any. */
  guint status_streams[DASH_N_STATUS_STATES];
  guint64 status_routes[DASH_N_STATUS_STATES];
  DashStatusTap status_taps[DASH_N_STATUS_STATES];
  gboolean shutting_down;
  guint64 failure_route;
  guint tick_source;     /* evb_plugin_add_timeout */

  DashCluster *cluster;  /* NULL: no cluster view (cluster_prefix "") */

  GQueue failures;       /* DashFailure, newest first, at most history */
  guint64 failures_seen;

  GArray *samples;       /* DashSample, oldest first */

  GList *sse_clients;    /* SseClient */
  GSource *sse_flush;    /* pending coalesced writes */
  SseBlockPool *sse_pool;
  GString *sse_scratch;  /* the event being sent, reused */
  guint64 sse_dropped_clients;
  guint64 sse_events_sent;
  guint64 sse_events_skipped; /* over a stream's max_rate */
  gsize sse_peak_buffered;
  gint64 sse_last_ping_us;
};

/* dashboard.c */
json_t *dash_snapshot (Dashboard *self, json_t *stats); /* steals @stats */
/* A sync route of ours that sees events before any other handler. */
guint64 dash_subscribe (Dashboard *self, const char *pattern, const char *label, EvbHandlerFunc func,
                        gpointer user_data, GError **error);
/* Puts a failure event (evbus.failure, or another host's cluster.failure)
 * at the head of the list. */
void dash_record_failure (Dashboard *self, const EvbEvent *event);

/* cluster.c: other hosts' jobs in flight and failures (nats imports). */
DashCluster *dash_cluster_start (Dashboard *dashboard, const char *prefix, guint max_jobs, GError **error);
void dash_cluster_stop (DashCluster *cluster);
/* {jobs: [{host, job, state, handler, plugin, event, trace_id, age_us}],
 *  jobs_in_flight, max_jobs, jobs_dropped, late_ignored, bad_events,
 *  hosts: {host: {jobs_in_flight, statuses, failures}}}; null without. */
json_t *dash_cluster_to_json (DashCluster *cluster);
/* The kinds @pattern (NULL: everything) takes, as bits 1 << kind. */
guint32 dash_kinds_of_pattern (const char *pattern);
/* An /events client taking @kinds came (@delta 1) or went (-1): the first
 * stream that takes a job state subscribes to its status events, the last
 * one to leave unsubscribes. */
void dash_watch_status (Dashboard *self, guint32 kinds, gint delta);

/* health.c */
void dash_health_sample (Dashboard *self, json_t *stats);
void dash_health_evaluate (Dashboard *self, json_t *stats, DashHealth *health);
void dash_health_clear (DashHealth *health);
json_t *dash_health_to_json (Dashboard *self, const DashHealth *health);
/* "plugin NAME: REASON", the /healthz line of an unhealthy plugin. */
char *dash_plugin_reason (const char *instance, const char *reason);
/* Those lines of every unhealthy plugin, each ending in "\n" ("" when
 * none), from evb_plugin_get_health: any thread (front.c's stalled path). */
char *dash_plugin_health_lines (EvbPlugin *plugin);
/* Sums completed and failed over routes that are not @self's own. */
void dash_count_runs (Dashboard *self, json_t *stats, guint64 *runs, guint64 *failed);

/* sse.c */
SseBlockPool *dash_sse_pool_new (void);
void dash_sse_pool_unref (SseBlockPool *pool);
/* ?max_rate= bounds: events per second a stream may ask to be limited to. */
#define DASH_SSE_MAX_RATE 1000000
/* @max_rate: events per second at most (0: all); what goes over is
 * counted and announced in an "event: skipped" message. */
void dash_sse_start (Dashboard *self, SoupServerMessage *msg, const char *pattern, guint max_rate);
void dash_sse_report_skipped (Dashboard *self);
void dash_sse_broadcast (Dashboard *self, const EvbEvent *event, guint kind);
void dash_sse_ping (Dashboard *self);
void dash_sse_reap_closed (Dashboard *self);
gsize dash_sse_buffered (Dashboard *self);
json_t *dash_sse_to_json (Dashboard *self);
void dash_sse_close_all (Dashboard *self);

/* metrics.c */
char *dash_metrics_render (Dashboard *self, json_t *stats, const DashHealth *health);

/* front.c: the listening socket and /healthz, on a thread of their own. */
DashFront *dash_front_start (Dashboard *self, GSocketAddress *address, GSocketAddress **bound, GError **error);
void dash_front_stop (DashFront *front);
void dash_front_counters (DashFront *front, DashFrontCounters *out);
/* "main loop stalled for 2.3 s, running <what>" while the host's watchdog
 * reports a stall, else NULL.  Any thread. */
char *dash_front_stall_reason (EvbPlugin *plugin);

/* cap.c: every string the dashboard copies out of an event or a trace
 * (a failure's message, an SSE message's data, a trace record) keeps at
 * most DASH_TEXT_MAX bytes, cut at a character boundary and followed by
 * " [truncated: N bytes]" (N: the original length). */
#define DASH_TEXT_MAX 4096
#define DASH_TEXT_MARK_FORMAT " [truncated: %zu bytes]"
/* How many bytes of @text (@length bytes) to keep: @length when it fits. */
gsize dash_text_keep (const char *text, gsize length);
char *dash_text_capped (const char *text, gsize length);
void dash_json_cap_strings (json_t *json);

/* procstat.c: process_* metrics (Prometheus' standard names). */
void dash_process_metrics (GString *out);

/* http.c */
/* The /healthz answer: "ok\n" (200) or "unhealthy\n" and one reason per
 * line (503).  Main thread. */
char *dash_healthz_text (Dashboard *self, guint *status);
gboolean dash_http_start (Dashboard *self, const char *listen, gboolean allow_remote, GError **error);
void dash_http_stop (Dashboard *self);

G_END_DECLS
