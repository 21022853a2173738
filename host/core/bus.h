/* The bus: inbox, routes, dispatch, jobs, plugin instances.
 *
 * One EvbBus is bound to one GMainContext (the "main thread" is whichever
 * thread iterates it).  Functions marked "main thread" must be called there;
 * "any thread" ones lock or post as needed. */
#pragma once

#include <glib-object.h>
#include <jansson.h>

#include "evbus/plugin.h"

G_BEGIN_DECLS

typedef struct _EvbBus EvbBus;

typedef enum {
  EVB_OVERFLOW_BLOCK,       /* emitters off the main thread wait for room */
  EVB_OVERFLOW_REJECT,      /* emit fails with EVB_BUS_ERROR_INBOX_FULL */
  EVB_OVERFLOW_DROP_OLDEST, /* the oldest queued event is dropped */
} EvbOverflowPolicy;

typedef struct {
  guint workers;            /* worker threads; 0: number of CPUs, at least 2 */
  guint inbox_limit;        /* queued events at most; default 65536 */
  EvbOverflowPolicy overflow; /* default EVB_OVERFLOW_BLOCK */
  guint inbox_overcommit;   /* "block": events the main thread (and, during shutdown, any
                             * producer) may queue past inbox_limit; its emits then fail
                             * (counted as dropped and overcommit_refused); default 65536 */
  guint grace_ms;           /* shutdown: time in-flight jobs get; default 5000 */
  guint slice_events;       /* events dispatched per main-loop slice; default 256 */
  gboolean emit_unhandled;  /* re-emit unrouted events as evbus.unhandled */
  gboolean status_events;   /* emit evbus.status.* (when someone listens); default TRUE */
  guint max_event_bytes;    /* plugins may not emit data larger than this, measured as
                             * json-size.h says; 0: no limit; default 1 MiB */
  guint stall_ms;           /* the watchdog reports a main-loop turn this long
                             * (evb_bus_watch_loop); 0: no watchdog; default 1000 */
} EvbBusSettings;

void evb_bus_settings_init (EvbBusSettings *settings);
const char *evb_overflow_policy_to_string (EvbOverflowPolicy policy);
gboolean evb_overflow_policy_from_string (const char *text, EvbOverflowPolicy *policy);

/* The settings' table (settings.c): the one home of each setting's name,
 * kind and limits.  Readers of settings (the config file's "host", the
 * harness's JSON) walk it; evb_bus_settings_validate checks against it. */
typedef enum {
  EVB_SETTING_COUNT,   /* guint from least to most */
  EVB_SETTING_BOOLEAN, /* gboolean */
  EVB_SETTING_CHOICE,  /* an enum: choices[value] names it */
} EvbSettingKind;

typedef struct {
  const char *name;           /* the JSON key and the field's name */
  EvbSettingKind kind;
  gsize offset;               /* of the field in EvbBusSettings */
  guint least;                /* counts */
  guint most;                 /* counts; the last value of a choice */
  const char *what;           /* counts: what is counted, for messages ("worker threads"), or NULL */
  const char *const *choices; /* choices: NULL-terminated names */
} EvbSettingInfo;

/* Terminated by an entry whose name is NULL. */
const EvbSettingInfo *evb_bus_setting_infos (void);

/* The problem with a count @value that must lie in [@least, @most], or NULL
 * when it does: "expected a positive integer, got 0", "expected at most 1024
 * worker threads, got 5000".  Caller frees. */
char *evb_count_range_problem (gint64 value, guint least, guint most, const char *what);

/* FALSE with EVB_BUS_ERROR_INVALID_SETTING ("inbox_limit: expected a
 * positive integer, got 0") when a setting is out of its range. */
gboolean evb_bus_settings_validate (const EvbBusSettings *settings, GError **error);

#define EVB_BUS_ERROR (evb_bus_error_quark ())
GQuark evb_bus_error_quark (void);

typedef enum {
  EVB_BUS_ERROR_INVALID_TYPE,   /* event type or pattern malformed */
  EVB_BUS_ERROR_RESERVED_TYPE,  /* "evbus." types are the host's */
  EVB_BUS_ERROR_INVALID_DATA,   /* event data not an object */
  EVB_BUS_ERROR_INBOX_FULL,     /* reject policy and the inbox is full */
  EVB_BUS_ERROR_SHUT_DOWN,      /* the bus no longer takes events */
  EVB_BUS_ERROR_INVALID_ROUTE,  /* bad route spec */
  EVB_BUS_ERROR_NO_HANDLER,     /* route names a handler that does not exist */
  EVB_BUS_ERROR_TIMEOUT,        /* a wait ran out */
  EVB_BUS_ERROR_INVALID_SETTING, /* a bus setting out of its range */
} EvbBusError;

/* Creates a bus dispatching on @context (NULL: the global default).
 * @settings NULL: defaults.  Settings that evb_bus_settings_validate ()
 * refuses are a programming error: a critical, and NULL. */
EvbBus *evb_bus_new (const EvbBusSettings *settings, GMainContext *context);

/* Shuts down if still running (see evb_bus_shutdown), then frees. Main thread. */
void evb_bus_free (EvbBus *bus);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbBus, evb_bus_free)

const EvbBusSettings *evb_bus_get_settings (EvbBus *bus);
GMainContext *evb_bus_get_context (EvbBus *bus);

/* Emit an event from the host ("host" as source, or @source).  Any thread.
 * Steals @data (object or NULL).  Host code may emit "evbus." types. */
gboolean evb_bus_emit (EvbBus *bus, const char *type, const char *source, json_t *data, GError **error);

/* Same with options (plugin.h EvbEmitOptions: a trace to continue, a
 * receipt, a bound on waiting for room).  Returns the event's id, or 0 with
 * @error; a refused emit with a receipt still gets it (later, on the main
 * thread, EVB_RECEIPT_REFUSED). */
guint64 evb_bus_emit_full (EvbBus *bus, const char *type, const char *source, json_t *data,
                           const EvbEmitOptions *options, GError **error);

/* ---- plugins ---- */

/* Marks @bus as one that only checks a config (`evbus check`, a harness's
 * evb_harness_set_checking): plugins' evb_plugin_is_checking () says TRUE,
 * so that their init validates and acts on nothing.  Set it before adding
 * plugins and leave it set.  Main thread. */
void evb_bus_set_checking (EvbBus *bus, gboolean checking);
gboolean evb_bus_is_checking (EvbBus *bus);

typedef struct _EvbPluginInstance EvbPluginInstance;

/* Adds plugin instance @instance_name of @descriptor: checks the
 * descriptor (plugin-abi.h) and the name, validates @config (object or NULL)
 * against the option table, calls init.  On failure nothing is left behind.
 * Main thread.  Errors: EVB_PLUGIN_ERROR. */
EvbPluginInstance *evb_bus_add_plugin (EvbBus *bus, const char *instance_name,
                                       const EvbPluginDescriptor *descriptor, json_t *config,
                                       GError **error);

/* Same for code the caller loaded (pipeline/plugin-module.h: dlopen), whose
 * descriptor it checked: @path names it in messages; the bus calls
 * @unload (@module) once nothing can reach the code any more, or at once
 * when adding fails.  @unload may be NULL. */
EvbPluginInstance *evb_bus_add_plugin_code (EvbBus *bus, const char *instance_name,
                                            const EvbPluginDescriptor *descriptor, const char *path,
                                            gpointer module, GDestroyNotify unload, json_t *config,
                                            GError **error);

EvbPluginInstance *evb_bus_find_plugin (EvbBus *bus, const char *instance_name);

/* The names of the bus's plugin instances in load order, NULL-terminated.
 * Main thread.  Free with g_strfreev. */
char **evb_bus_plugin_names (EvbBus *bus);

/* The handle the instance's plugin code is given (to call host functions as
 * the plugin would). */
EvbPlugin *evb_plugin_instance_get_handle (EvbPluginInstance *instance);

/* ---- routes ---- */

/* Adds a route for @plugin's handler (or spec->func).  @plugin may be NULL
 * for host routes (spec->func required).  Any thread.  Returns the route id
 * or 0 with @error (EVB_BUS_ERROR_INVALID_ROUTE, _NO_HANDLER, _INVALID_TYPE,
 * or EVB_FILTER_ERROR; for a filter error the message is prefixed with the
 * filter node's JSON path relative to the route, e.g. "filter.size: ..."). */
guint64 evb_bus_add_route (EvbBus *bus, EvbPluginInstance *plugin, const EvbRouteSpec *spec,
                           GObject *owner, GError **error);

/* The rules of a route's keys beyond their JSON types, for readers of
 * route specs (config file, harness) to report per key; evb_bus_add_route
 * applies them too.  The pattern's rule is evb_pattern_validate
 * (route-table.h), the filter's evb_filter_compile (filter.h).
 * max_concurrency with a sync mode: EVB_BUS_ERROR_INVALID_ROUTE. */
gboolean evb_route_check_concurrency (EvbMode mode, guint max_concurrency, GError **error);
/* on_failure: a concrete event type outside "evbus." (EVB_BUS_ERROR_INVALID_TYPE
 * or _RESERVED_TYPE). */
gboolean evb_route_check_on_failure (const char *type, GError **error);

/* Removes a route; cancels its waiting jobs and asks running ones to stop.
 * Any thread.  FALSE if there is no such route. */
gboolean evb_bus_remove_route (EvbBus *bus, guint64 route_id);

/* ---- running ---- */

/* Called on the main thread for every event as its dispatch begins,
 * including status and failure events.  For tests and tools (the harness). */
typedef void (*EvbBusObserver) (EvbBus *bus, const EvbEvent *event, gpointer user_data);
void evb_bus_set_observer (EvbBus *bus, EvbBusObserver observer, gpointer user_data);

/* The decisions of dispatch, one record each, for `evbus run --trace`.
 * Called on the main thread as they are made; nothing is built while no
 * tracer is set (one pointer test per decision). */
typedef enum {
  EVB_TRACE_DISPATCH, /* the event's dispatch begins: @count routes match its type */
  EVB_TRACE_SKIPPED,  /* @route does not take it: @text says why (filter, owner gone) */
  EVB_TRACE_LEVEL,    /* a priority level runs: @priority, @count routes */
  EVB_TRACE_RESULT,   /* @route's handler returned @result (@job_id 0: a sync call) */
  EVB_TRACE_JOB,      /* @route's job @job_id moved to state @text */
  EVB_TRACE_FAILURE,  /* @route failed: @text is "domain code: message" */
  EVB_TRACE_WALK_END, /* the levels are done: @text "failed, lower levels stopped"
                       * (stop_on_failure), "failed", "handled", "done" or "unhandled"; a job
                       * the walk stopped waiting for (timed out) may still run */
  EVB_TRACE_RECEIPT,  /* the receipt was called: @text is its outcome */
} EvbTraceStep;

typedef struct {
  EvbTraceStep step;
  const EvbEvent *event;
  guint64 route_id;        /* 0 when the step is about no route */
  const char *route_label; /* "instance.handler", or NULL */
  EvbMode mode;
  gint priority;
  guint count;
  EvbResult result;
  guint64 job_id;
  const char *text;
} EvbTraceRecord;

typedef void (*EvbBusTracer) (EvbBus *bus, const EvbTraceRecord *record, gpointer user_data);

/* "CONTINUE", "HANDLED", "FAILED", as traces name them. */
const char *evb_result_to_string (EvbResult result);

/* Sets (or with NULL clears) the tracer.  Main thread. */
void evb_bus_set_tracer (EvbBus *bus, EvbBusTracer tracer, gpointer user_data);

/* Keeps the last @records decisions of dispatch (trace-log.h), or more if
 * asked before; never fewer, until the bus is freed.  Main thread. */
void evb_bus_keep_traces (EvbBus *bus, guint records);
/* The kept records of one trace (evb_trace_log_query's JSON), or NULL when
 * nothing asked to keep traces.  Main thread. */
json_t *evb_bus_query_trace (EvbBus *bus, guint64 trace_high, guint64 trace_low);

/* Wall-clock µs since the epoch as the bus tells plugins (events'
 * time_us, evb_plugin_now): real time, or the fake clock.  Any thread. */
gint64 evb_bus_now (EvbBus *bus);
/* Switches the bus to a fake clock at @now_us, for tests (clock.h says
 * what it covers).  Call before plugins add timeouts: earlier ones stay
 * real.  Main thread. */
void evb_bus_set_fake_clock (EvbBus *bus, gint64 now_us);
/* Moves the fake clock forward by @ms (a no-op on a real clock); the
 * timeouts that became due fire when the context is next iterated.  Main
 * thread. */
void evb_bus_advance_clock (EvbBus *bus, gint64 ms);
/* Steps the fake wall clock by @ms, forward or back, leaving timeouts
 * where they are (evb_clock_jump).  Main thread. */
void evb_bus_jump_clock (EvbBus *bus, gint64 ms);

/* TRUE when the inbox is empty, no dispatch waits on jobs, no job is queued
 * or running, and no plugin holds the bus.  Main thread. */
gboolean evb_bus_is_idle (EvbBus *bus);

/* Graceful shutdown, iterating the bus's context until done: stop plugin
 * sources, drain the inbox, give running jobs @grace_ms (settings default
 * when < 0), then cancel the rest, call plugin shutdown in reverse load
 * order, unload.  Idempotent.  Main thread. */
void evb_bus_shutdown (EvbBus *bus, gint grace_ms);

/* One line: "dispatched N events, dropped N, unhandled N; jobs: N completed,
 * N failed, N cancelled", then ", N timed out" when timeouts cancelled
 * jobs (each was a failure event; each is also among the cancelled or,
 * if its handler never came back, the never returned), ", N never
 * returned" when jobs are still live (after a shutdown: handlers that did
 * not return), and "; main loop stalled N times" after watchdog reports.
 * Caller frees. */
char *evb_bus_summary (EvbBus *bus);

/* How many in-flight jobs a stats snapshot lists (the oldest). */
#define EVB_STATS_MAX_JOBS 100

/* Snapshot of every counter and histogram, and the oldest jobs in flight,
 * as a new JSON object (its shape: evb_plugin_get_stats () in plugin.h).
 * Main thread. */
json_t *evb_bus_stats (EvbBus *bus);

/* Totals, for tests, benchmarks and the summary line.  Main thread. */
typedef struct {
  guint64 emitted;      /* accepted into the inbox */
  guint64 dispatched;   /* taken out of the inbox and routed */
  guint64 dropped;      /* lost to overflow (drop-oldest) or rejected */
  guint64 overcommitted; /* main-thread emits admitted past a full "block" inbox */
  guint64 overcommit_refused; /* ... refused past inbox_overcommit (also in dropped) */
  guint64 unhandled;    /* no route accepted them */
  guint64 jobs_completed;
  guint64 jobs_failed;
  guint64 jobs_cancelled;
  guint64 jobs_timed_out; /* of those cancelled, cancelled by their timeout */
  guint64 failures;     /* handler failures reported (the event is built only if someone listens) */
  guint64 failures_suppressed; /* failures of failure handlers: logged, not re-emitted */
  guint inbox_depth;
  guint inbox_peak;
  guint jobs_in_flight; /* queued or running */
  guint64 rejected_oversize; /* plugin emits refused for host.max_event_bytes */
  guint routes;         /* routes in the table now */
  guint workers_stuck;  /* worker threads held by timed-out jobs that have not returned */
  guint64 workers_replaced; /* spare threads started in place of stuck ones */
  guint64 stalls;       /* main-loop stalls the watchdog reported */
} EvbBusTotals;

void evb_bus_get_totals (EvbBus *bus, EvbBusTotals *totals);

/* Starts the watchdog (DESIGN "Watchdog") when settings.stall_ms > 0: a
 * thread that reports, as a warning, each turn of the bus's main loop
 * lasting stall_ms or more, naming the handler (route, plugin, event)
 * or plugin init the main thread runs and since when; the main thread
 * reports the stall's length when the loop turns again.  Counted in the
 * totals and the stats ("stalls", "stalled_ms").  Stopped by
 * evb_bus_free.  Main thread, the thread that iterates the context. */
void evb_bus_watch_loop (EvbBus *bus);

/* While the watchdog reports a stall of the main loop: what the main
 * thread runs ("handler R (plugin P, file F) on event T id I") and, in
 * @stalled_ms, for how long; NULL and 0 while the loop turns or without a
 * watchdog.  Caller frees.  Any thread: for health checks that must not
 * wait for the loop they report on. */
char *evb_bus_describe_stall (EvbBus *bus, gint64 *stalled_ms);

G_END_DECLS
