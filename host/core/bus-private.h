/* Internal structures shared by the bus's stages:
 * bus.c (object, emit, routes) -> dispatch.c (levels, sync calls) ->
 * job.c (async jobs, status) -> report.c (failure and status events). */
#pragma once

#if !defined(EVB_CORE_COMPILATION)
#error "bus-private.h belongs to host/core/: other layers use bus.h"
#endif

#include "bus.h"
#include "clock.h"
#include "event.h"
#include "filter.h"
#include "histogram.h"
#include "inbox.h"
#include "worker-pool.h"
#include "route-cache.h"
#include "route-table.h"
#include "trace-log.h"

G_BEGIN_DECLS

typedef struct _EvbRoute EvbRoute;
typedef struct _EvbJob EvbJob;
typedef struct _EvbDispatch EvbDispatch;
typedef struct _EvbOwnerWatch EvbOwnerWatch;

/* A reference-counted handle on a bus that outlives it: notices from other
 * threads (owner finalized, late cancels) hold a link, not the bus, and
 * find the bus gone once it is freed. */
typedef struct _EvbBusLink EvbBusLink;

EvbBusLink *evb_bus_link_ref (EvbBusLink *link);
void evb_bus_link_unref (EvbBusLink *link);
/* The bus, or NULL once freed.  Main thread. */
EvbBus *evb_bus_link_get (EvbBusLink *link);
/* The bus's context (new reference), or NULL once freed.  Any thread. */
GMainContext *evb_bus_link_context (EvbBusLink *link);
/* Counts owner-prune notices in flight (+1 posted, -1 gone), so that
 * evb_bus_is_idle waits for them.  Any thread. */
void evb_bus_link_count_prune (EvbBusLink *link, gint delta);
/* Counts receipt notices in flight the same way.  Any thread. */
void evb_bus_link_count_notice (EvbBusLink *link, gint delta);
/* TRUE once the bus is being freed.  Any thread. */
gboolean evb_bus_link_is_closing (EvbBusLink *link);
/* The bus's context, kept by the link (borrowed).  Any thread. */
GMainContext *evb_bus_link_get_context (EvbBusLink *link);

/* Per-route counters.  Main thread only. */
typedef struct {
  guint64 matched;   /* pattern matched and owner alive */
  guint64 filtered;  /* then rejected by the filter */
  guint64 handled;   /* returned HANDLED */
  guint64 completed; /* returned CONTINUE or HANDLED */
  guint64 failed;    /* returned FAILED */
  guint64 cancelled; /* async jobs that ended cancelled */
  guint64 timeouts;  /* overran timeout_ms */
  guint waiting;     /* async jobs not started yet */
  guint executing;   /* async jobs running */
  EvbHistogram queue_wait; /* async: submit -> start */
  EvbHistogram run_time;   /* async: every job; sync: the first call, then one in EVB_SYNC_TIMING_SAMPLE */
} EvbRouteStats;

/* Sync calls are timed one in this many (a power of two; the first call of a
 * route always) so the common path reads no clock. */
#define EVB_SYNC_TIMING_SAMPLE 128

struct _EvbRoute {
  gint ref_count; /* atomic */
  guint64 id;
  char *pattern;
  char *label;    /* "instance.handler" or the spec's handler label */
  char *handler;  /* handler name alone */
  EvbHandlerFunc func;
  gpointer user_data;
  EvbPluginInstance *plugin; /* strong; NULL for host routes */
  EvbMode mode;
  gint priority;
  EvbFilter *filter;
  char *on_failure;
  guint timeout_ms;
  guint max_concurrency;
  gboolean stop_on_failure;
  json_t *params;  /* the route's "params" (a private copy, read-only), or NULL */

  gboolean has_owner;
  GWeakRef owner;
  EvbOwnerWatch *owner_watch;

  /* Main thread only. */
  gint removed;    /* atomic: removal may come from any thread */
  guint running;   /* async jobs handed to the pool */
  GQueue held;     /* jobs waiting for a max_concurrency slot */
  guint sync_calls;
  EvbRouteStats stats;
  json_t *report_fields; /* {"route", "handler", "plugin"} of its reports, built once (report.c) */
  json_t *report_type;   /* the event type its last job's status events named, shared while it repeats */
};

EvbRoute *evb_route_ref (EvbRoute *route);
void evb_route_unref (EvbRoute *route);

typedef enum {
  EVB_JOB_WAITING,
  EVB_JOB_EXECUTING,
  EVB_JOB_COMPLETED,
  EVB_JOB_FAILED,
  EVB_JOB_CANCELLING,
  EVB_JOB_CANCELLED,
} EvbJobState;

/* The walk of one event down its priority levels.  Lives on the stack while
 * every handler is sync; moves to the heap when a level waits for jobs. */
struct _EvbDispatch {
  EvbBus *bus;
  EvbEvent *event;
  EvbRouteSnapshot *snapshot;
  guint next;         /* first snapshot index of the next level */
  guint pending_jobs; /* jobs of the current level still running */
  gboolean handled;   /* a handler of the current level returned HANDLED */
  gboolean stopped;   /* a stop_on_failure route failed */
  guint failures;     /* failures of its calls so far (for the tracer) */
  gboolean accepted;  /* some route passed pattern, owner and filter */
  gboolean on_heap;
};

/* A failure to report: what the handler said, or the host's own reason. */
typedef struct {
  char *domain;
  gint code;
  char *message;
} EvbFailure;

void evb_failure_clear (EvbFailure *failure);

/* Failure text (error messages and domains) is capped where failures are
 * made (report.c, issue 15 finding 5): a plugin that puts its input into
 * its error must not make every failure event, status event, receipt and
 * snapshot that large.  Over EVB_FAILURE_TEXT_MAX bytes, the text is cut at
 * a character boundary and marked with its original length so that text
 * and mark together are EVB_FAILURE_TEXT_MAX bytes at most (the mark's
 * words are the dashboard's, plugins/dashboard/cap.c). */
#define EVB_FAILURE_TEXT_MAX 4096
#define EVB_FAILURE_TEXT_MARK_FORMAT " [truncated: %" G_GSIZE_FORMAT " bytes]"

/* @text as valid UTF-8 (U+FFFD for invalid bytes), capped as above.
 * Caller frees. */
char *evb_failure_text_new (const char *text);

/* Private view of a handler call; EvbCall comes first so the API can cast. */
typedef struct {
  EvbCall pub;
  EvbRoute *route; /* borrowed: the snapshot or the job holds it */
  EvbJob *job; /* NULL for sync calls */
  EvbFailure failure;
  gboolean failure_set;
} EvbCallPrivate;

struct _EvbJob {
  guint64 id;
  EvbBus *bus;
  EvbRoute *route;       /* strong */
  EvbEvent *event;       /* strong */
  EvbDispatch *dispatch; /* NULL once detached (timed out, or level gone) */
  GObject *owner;        /* strong while in flight, released on the main thread */
  GList bus_link;        /* in bus->live_jobs */
  GList pool_link;       /* queued in bus->workers while handed over and not yet taken */
  gboolean in_held_queue;
  gboolean on_pool;      /* handed to the pool: counts in route->running */

  EvbJobState state;     /* main thread */
  gint cancel_requested; /* atomic: set by main, read by the worker */
  gboolean emits_status; /* FALSE for jobs that handle status events */
  gboolean timed_out;
  gboolean stuck;        /* timed out on a worker: the pool counts its thread as stuck */
  gboolean has_spare;    /* ... and started a spare thread in its place */
  GSource *timeout_source;

  gint64 created_us;
  gint64 started_us;  /* written by the worker before it posts "started" */
  gint64 finished_us; /* written by the worker before it posts "finished" */
  gboolean seen_started; /* main has handled the "started" notice */
  gboolean ran;       /* the handler was called */
  EvbResult result;
  EvbFailure failure;

  /* Status event values fixed for the job's life, made by its first report
   * and shared by the others (report.c).  Main thread. */
  json_t *report_job;        /* "job" */
  json_t *report_event;      /* "event": {"id", "type"} */
  json_t *report_queue_wait; /* "queue_wait_us", once started */
};

struct _EvbPluginInstance {
  EvbPlugin handle; /* first: the API casts EvbPlugin * back */
  gint ref_count;   /* atomic */
  EvbBus *bus;
  char *name;
  char *path;       /* NULL for linked-in descriptors */
  const EvbPluginDescriptor *descriptor;
  gpointer module;  /* the caller's handle on the code (dlopen), or NULL */
  GDestroyNotify unload; /* unloads @module once nothing can reach the code */
  json_t *options;
  GArray *sources;  /* guint source ids from add_timeout; main thread */
  gint holds;       /* atomic */
  gboolean initialized;
  gboolean shut_down;
  gboolean pinned;  /* a job never returned: never unload the code */
};

/* The host API table handed to plugins. */
extern const EvbHostApi evb_host_api;

typedef enum {
  EVB_BUS_RUNNING,
  EVB_BUS_DRAINING,  /* shutdown began: sources stopped, inbox draining */
  EVB_BUS_CANCELLING, /* grace ran out: new jobs are cancelled at birth */
  EVB_BUS_STOPPED,
} EvbBusState;

struct _EvbBus {
  EvbBusSettings settings;
  EvbBusLink *link;
  GMainContext *context;
  EvbClock *clock;        /* wall time and timeouts (clock.h); fake under a harness */
  GThread *main_thread;
  EvbInbox *inbox;       /* events */
  EvbInbox *completions; /* job started / finished notices (tagged pointers) */
  EvbWorkerPool *workers; /* up to `workers` threads running handed-over jobs */
  GSource *pool_kick;     /* wakes workers once per main-loop pass (job.c) */
  gboolean kick_pending; /* main thread: jobs were queued since the last kick */
  EvbRouteTable *table;
  EvbRouteCache *route_cache; /* main thread's front for table lookups */

  GMutex cancel_lock;    /* with cancel_cond: wakes handlers in evb_call_wait */
  GCond cancel_cond;     /* broadcast whenever a job is cancelled */

  GMutex routes_lock;    /* guards routes and next ids */
  GHashTable *routes;    /* id -> EvbRoute (strong) */
  guint64 next_route_id;
  guint64 next_route_seq;
  guint64 next_job_id;

  GPtrArray *plugins;    /* EvbPluginInstance, load order (strong) */

  EvbBusState state;
  EvbBusObserver observer;
  gpointer observer_data;
  EvbBusTracer tracer;      /* what EVB_TRACE calls: NULL almost always */
  gpointer tracer_data;
  EvbBusTracer user_tracer; /* `evbus run --trace` (evb_bus_set_tracer) */
  gpointer user_tracer_data;
  EvbTraceLog *trace_log;   /* kept records (evb_bus_keep_traces), or NULL */
  struct _EvbWatchdog *watchdog; /* evb_bus_watch_loop (watchdog.c), or NULL */

  /* Main thread counters. */
  guint64 dispatched;
  guint64 unhandled;
  guint64 jobs_completed;
  guint64 jobs_failed;
  guint64 jobs_cancelled;
  guint64 jobs_timed_out; /* cancelled by their route's timeout (a failure event each) */
  guint64 failures;
  guint64 failures_suppressed;
  guint64 dropped_at_teardown; /* still queued when the bus was freed */
  GQueue live_jobs;         /* EvbJob: created and not yet finished */
  GQueue reports;           /* EvbEvent: host reports, dispatched before the inbox */
  GSource *reports_source;  /* dispatches what the inbox callbacks did not */
  guint64 reports_emitted;
  guint suspended;          /* dispatches waiting for a level's jobs */
  gboolean checking;        /* evb_bus_set_checking: plugins' init acts on nothing */
  gint plugin_holds;        /* atomic: sum of plugin holds */
  gint rejected_oversize;   /* atomic: plugin emits over max_event_bytes (any thread) */
};

/* A decision of dispatch for the tracer (bus.h), when one is set.  The
 * arguments are evaluated only then.  Compiled out with EVB_NO_TRACE (the
 * benchmarks' twin core), so that bench/run can measure what it costs. */
#ifdef EVB_NO_TRACE
#define EVB_TRACE(bus, ...) ((void) 0)
#else
#define EVB_TRACE(bus, ...)                                                       \
  G_STMT_START                                                                   \
  {                                                                              \
    if (G_UNLIKELY ((bus)->tracer != NULL))                                      \
      {                                                                          \
        EvbTraceRecord trace_record_ = { __VA_ARGS__ };                          \
        (bus)->tracer ((bus), &trace_record_, (bus)->tracer_data);               \
      }                                                                          \
  }                                                                              \
  G_STMT_END
#endif

/* dispatch.c */
#ifndef EVB_NO_TRACE
/* The tracer's EVB_TRACE_RESULT, out of line: built only while tracing, so
 * that the call paths keep their small frames.  Main thread. */
void evb_dispatch_trace_result (EvbDispatch *dispatch, EvbRoute *route, EvbJob *job, EvbResult result);
#define TRACE_RESULT(bus, dispatch, route, job, result) \
  G_STMT_START { if (G_UNLIKELY ((bus)->tracer != NULL)) evb_dispatch_trace_result ((dispatch), (route), (job), (result)); } G_STMT_END
#else
#define TRACE_RESULT(bus, dispatch, route, job, result) ((void) 0)
#endif
void evb_dispatch_event (EvbBus *bus, EvbEvent *event); /* takes @event */
/* One of the current level's jobs has ended, its result recorded: the
 * walk goes on once the level's last job has. */
void evb_dispatch_job_done (EvbDispatch *dispatch);
void evb_call_init (EvbCallPrivate *call, EvbRoute *route, EvbJob *job);
/* Gives a failed call its host-made error; on the handler's thread. */
void evb_call_finish (EvbCallPrivate *call, EvbResult result);
/* Counts a handler's result, ends its job (@job NULL: a sync call),
 * reports a failure and updates the chain of @dispatch (NULL: the level no
 * longer waits).  Returns whether the call failed.  Main thread. */
gboolean evb_dispatch_record_result (EvbDispatch *dispatch, EvbRoute *route, EvbJob *job, EvbResult result,
                                     const EvbFailure *failure);
/* Counts and reports a call past its route's timeout, which may stop the
 * chain; @elapsed_us is a sync call's run time.  Main thread. */
void evb_dispatch_record_overrun (EvbDispatch *dispatch, EvbRoute *route, EvbJob *job, gint64 elapsed_us);

/* job.c */
void evb_job_submit (EvbBus *bus, EvbDispatch *dispatch, EvbRoute *route, GObject *owner);
void evb_job_completion (gpointer tagged_job, gpointer user_data); /* completions inbox callback */
void evb_job_free_tagged (gpointer tagged_job);
void evb_job_cancel (EvbJob *job);
void evb_job_end (EvbJob *job, gboolean failed); /* by evb_dispatch_record_result */
void evb_route_cancel_jobs (EvbBus *bus, EvbRoute *route);
void evb_job_run_on_worker (gpointer job); /* EvbWorkerRun */
GSource *evb_job_kick_source_new (EvbBus *bus);
void evb_job_kick_pool (EvbBus *bus);
void evb_bus_cancel_all_jobs (EvbBus *bus);

/* report.c */
gboolean evb_bus_wants (EvbBus *bus, const char *type);
void evb_report_failure (EvbBus *bus, EvbRoute *route, const EvbEvent *origin, const EvbFailure *failure,
                         gboolean on_worker, guint64 job_id);
void evb_report_status (EvbBus *bus, EvbJob *job);
void evb_report_unhandled (EvbBus *bus, const EvbEvent *event);
const char *evb_job_state_to_string (EvbJobState state);

/* work-source.c: a source for work the main thread queues for itself,
 * ready while @pending says so; it runs @run.  Nothing has to wake the
 * loop: only the thread that iterates the context queues such work, and
 * prepare () asks before every poll. */
typedef gboolean (*EvbBusPredicate) (EvbBus *bus);
typedef void (*EvbBusWork) (EvbBus *bus);
GSource *evb_bus_work_source_new (EvbBus *bus, const char *static_name, EvbBusPredicate pending, EvbBusWork run);

/* bus.c */
gboolean evb_bus_emit_event (EvbBus *bus, EvbEvent *event, GError **error); /* takes @event */
/* Queues @event (taken), waiting at most @timeout_ms for room (-1: the
 * policy's wait); a refused event's receipt reports it. */
gboolean evb_bus_queue_event (EvbBus *bus, EvbEvent *event, gint timeout_ms, GError **error);
/* FALSE with @error when @options (may be NULL) is not a whole EvbEmitOptions. */
gboolean evb_emit_options_check (const EvbEmitOptions *options, GError **error);
/* Makes and queues an event of a checked type and data (steals @data):
 * its trace from @options' traceparent, else inherited or new; @options'
 * receipt attached.  The id, or 0 with @error. */
guint64 evb_bus_emit_new (EvbBus *bus, const char *type, const char *source, json_t *data,
                          const EvbEmitOptions *options, GError **error);
/* An emit refused before its event was made: frees @data; @options'
 * receipt (if any) will report @reason.  Returns 0. */
guint64 evb_bus_refuse_emit (EvbBus *bus, const EvbEmitOptions *options, json_t *data, const GError *reason);
/* A host report (status, failure, unhandled), made on the main thread:
 * dispatched right after the event or job notice that caused it, ahead of
 * the inbox's backlog.  Takes @event. */
gboolean evb_bus_emit_report (EvbBus *bus, EvbEvent *event, GError **error);
void evb_bus_prune_route (EvbBus *bus, EvbRoute *route);
void evb_bus_remove_plugin_routes (EvbBus *bus, EvbPluginInstance *plugin);
gboolean evb_bus_is_main_thread (EvbBus *bus);

/* plugin-instance.c */
EvbPluginInstance *evb_plugin_instance_ref (EvbPluginInstance *instance);
void evb_plugin_instance_unref (EvbPluginInstance *instance);
/* The handler named @name, or NULL with EVB_BUS_ERROR_NO_HANDLER listing the
 * handlers that do exist. */
EvbHandlerFunc evb_plugin_instance_find_handler (EvbPluginInstance *instance, const char *name, GError **error);
void evb_plugin_instance_stop_sources (EvbPluginInstance *instance);
void evb_plugin_instance_shutdown (EvbPluginInstance *instance);

/* plugin-health.c: what plugins say of their own health (evb_plugin_set_health).
 * Any thread.  set: NULL is healthy again; get: a copy or NULL; close: at
 * shutdown, clears it and ignores later sets; forget: when the instance is
 * freed.  evb_bus_plugin_health: {"instance": "reason"} of @bus's unhealthy
 * instances, in the order they became so. */
void evb_plugin_health_set (EvbPluginInstance *instance, const char *reason);
char *evb_plugin_health_get (EvbPluginInstance *instance);
void evb_plugin_health_close (EvbPluginInstance *instance);
void evb_plugin_health_forget (EvbPluginInstance *instance);
json_t *evb_bus_plugin_health (EvbBus *bus);

G_END_DECLS
