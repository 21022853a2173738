/* evbus test harness — run one or more plugins on a private bus, push events,
 * crank the loop deterministically and look at what came out.
 *
 * In the spirit of GStreamer's GstHarness: no config file, no sleeping.
 * Every wait is "iterate the bus's main context until a condition holds",
 * bounded by a timeout that turns into a GError, never a hang.
 *
 * Link tests with the harness library: `pkg-config --cflags --libs
 * evbus-harness-1` (libevbus-1).  Plugins themselves build with `evbus-1`,
 * which links nothing of the host; sdk/template/meson.build shows both.
 *
 * Threads: a harness belongs to the thread that made it; call every
 * function from that thread.  It makes its own GMainContext and pushes it
 * as that thread's default while the harness lives.
 *
 * Collected events: the harness records every event as its dispatch begins
 * — events plugins emitted, evbus.status.* and evbus.failure — in dispatch
 * order.  Records hold a reference; they live until evb_harness_clear() or
 * evb_harness_free(). */
#pragma once

#include <evbus/plugin.h>

G_BEGIN_DECLS

#if defined(EVB_COMPILATION)
#define EVB_HARNESS_API EVB_PLUGIN_EXPORT
#else
#define EVB_HARNESS_API
#endif

typedef struct _EvbHarness EvbHarness;

/* A harness with default bus settings (2 workers, status events on).
 * Never NULL. */
EVB_HARNESS_API EvbHarness *evb_harness_new (void);

/* Same with bus settings as JSON, the config file's "host" object:
 * {"workers": N, "inbox_limit": N, "overflow": "block"|"reject"|"drop-oldest",
 * "grace_ms": N, "slice_events": N, "emit_unhandled": bool,
 * "status_events": bool, "max_event_bytes": N}.  Read by the same reader
 * as the config file: NULL with @error (EVB_HARNESS_ERROR_INVALID) on an
 * unknown key or a bad value, one line per problem in the words of
 * `evbus check` without the file position and the "host." prefix, e.g.
 * "workers: expected at most 1024 worker threads, got 5000". */
EVB_HARNESS_API EvbHarness *evb_harness_new_with_settings (const char *settings_json, GError **error);

/* Shuts the bus down (grace from settings) and frees everything.  As in
 * `evbus run`, plugins are shut down newest first (the reverse of the
 * order they were added); what one emits from its shutdown is still
 * dispatched to the plugins added before it. */
EVB_HARNESS_API void evb_harness_free (EvbHarness *harness);

/* Loads the plugins added from now on as `evbus check` does: their
 * evb_plugin_is_checking () says TRUE, so init validates its options and
 * acts on nothing (no file, port, connection, process or window).  A test
 * of a plugin's check mode adds it, reads the load error or its absence,
 * and frees the harness; don't emit to such a plugin. */
EVB_HARNESS_API void evb_harness_set_checking (EvbHarness *harness);

/* Loads a plugin file as instance @instance with @config_json (an object,
 * or NULL for {}).  Errors are the host's own load errors, word for word
 * (e.g. "plugin \"l\" (FILE): option \"latency_ms\": expected at most 60000,
 * got 90000").  With no config file to be relative to, relative values of
 * path options (EVB_OPTION_PATH) are made absolute against the current
 * folder. */
EVB_HARNESS_API gboolean evb_harness_add_plugin_file (EvbHarness *harness, const char *instance, const char *path,
                                                      const char *config_json, GError **error);

/* Adds a plugin whose descriptor is linked into the test program
 * (EVB_PLUGIN_DEFINE_STATIC), checked as a loaded one is: errors name it
 * "linked-in descriptor". */
EVB_HARNESS_API gboolean evb_harness_add_plugin (EvbHarness *harness, const char *instance,
                                                 const EvbPluginDescriptor *descriptor, const char *config_json,
                                                 GError **error);

/* The instance handle, to call host functions as the plugin would (NULL if
 * there is no such instance). */
EVB_HARNESS_API EvbPlugin *evb_harness_get_plugin (EvbHarness *harness, const char *instance);

/* Routes @pattern to "instance.handler".  @options_json (or NULL) takes the
 * config file's other route keys: {"mode": "sync"|"async", "priority": N,
 * "filter": {...}, "on_failure": "type", "timeout_ms": N,
 * "max_concurrency": N, "stop_on_failure": bool, "params": {...}} ("params"
 * is what the handler's evb_call_get_params () returns).  A mode the
 * handler does not run in is refused: "mode: handler \"l.work\" is declared
 * async, the route is sync: give the route \"mode\": \"async\"".  The route
 * is read by the config file's reader: returns the route id, or 0 with
 * @error whose lines are `evbus check`'s words without the position and
 * "routes[N].", e.g. "priority: expected an integer, got \"high\"" or
 * "handler: plugin \"e\" has no handler \"nope\" (handlers: reply, fail)". */
EVB_HARNESS_API guint64 evb_harness_add_route (EvbHarness *harness, const char *pattern, const char *handler,
                                               const char *options_json, GError **error);

/* Adds a route from a spec (e.g. with spec->func set), optionally owned. */
EVB_HARNESS_API guint64 evb_harness_add_route_spec (EvbHarness *harness, const EvbRouteSpec *spec, GObject *owner,
                                                    GError **error);

EVB_HARNESS_API gboolean evb_harness_remove_route (EvbHarness *harness, guint64 route_id);

/* Emits as the host ("harness" is the source).  @data_json: an object or
 * NULL.  Host-side emission may use "evbus." types. */
EVB_HARNESS_API gboolean evb_harness_emit (EvbHarness *harness, const char *type, const char *data_json,
                                           GError **error);

/* Same, stealing @data. */
EVB_HARNESS_API gboolean evb_harness_emit_json (EvbHarness *harness, const char *type, json_t *data,
                                                GError **error);

/* Emits with options (plugin.h EvbEmitOptions: a traceparent to continue,
 * a receipt, a bound on waiting), as a source would.  @data_json: an object
 * or NULL.  Returns the event's id, or 0 with @error. */
EVB_HARNESS_API guint64 evb_harness_emit_full (EvbHarness *harness, const char *type, const char *data_json,
                                               const EvbEmitOptions *options, GError **error);

/* Emits with a receipt the harness keeps: read it with
 * evb_harness_get_receipt () once evb_harness_run_until_receipt () says it
 * came.  Returns the event's id, or 0 with @error.  The receipts are kept by
 * event id; to see the receipt of an emit refused before its event was
 * made (id 0), emit with evb_harness_emit_full and a receipt of your own. */
EVB_HARNESS_API guint64 evb_harness_emit_with_receipt (EvbHarness *harness, const char *type,
                                                       const char *data_json, GError **error);

/* The receipt of @event_id (from evb_harness_emit_with_receipt), or NULL
 * while it has not come.  Borrowed; its strings live with the harness. */
EVB_HARNESS_API const EvbReceipt *evb_harness_get_receipt (EvbHarness *harness, guint64 event_id);

/* Iterates until the receipt of @event_id has come.  FALSE with @error
 * after @timeout_ms. */
EVB_HARNESS_API gboolean evb_harness_run_until_receipt (EvbHarness *harness, guint64 event_id, guint timeout_ms,
                                                        GError **error);

/* The collected events of the trace @event_id (a collected event) belongs
 * to, in dispatch order, as space-separated types; "" when @event_id was
 * not collected.  Caller frees. */
EVB_HARNESS_API char *evb_harness_trace_of (EvbHarness *harness, guint64 event_id);

/* The collected event with id @event_id, or NULL.  Borrowed. */
EVB_HARNESS_API const EvbEvent *evb_harness_find_id (EvbHarness *harness, guint64 event_id);

/* Iterates until the bus is idle (inbox empty, no job queued or running,
 * no plugin hold).  FALSE with @error (EVB_HARNESS_ERROR_TIMEOUT) after
 * @timeout_ms. */
EVB_HARNESS_API gboolean evb_harness_run_until_idle (EvbHarness *harness, guint timeout_ms, GError **error);

typedef gboolean (*EvbHarnessCondition) (EvbHarness *harness, gpointer user_data);

/* Iterates until @condition returns TRUE (checked before every iteration).
 * FALSE with @error after @timeout_ms. */
EVB_HARNESS_API gboolean evb_harness_run_until (EvbHarness *harness, EvbHarnessCondition condition,
                                                gpointer user_data, guint timeout_ms, GError **error);

/* Iterates until @count events matching @pattern have been collected. */
EVB_HARNESS_API gboolean evb_harness_run_until_count (EvbHarness *harness, const char *pattern, guint count,
                                                      guint timeout_ms, GError **error);

/* A fake clock (ABI 1.1), so that timers, schedules and route timeouts are
 * tested without waiting.  From this call on, evb_plugin_now () and events'
 * time_us read @now_us (µs since the epoch) until advanced, and timeouts
 * (evb_plugin_add_timeout, routes' timeout_ms) fire only when the clock is
 * advanced past them.  Call before adding plugins: timeouts made earlier
 * stay real.  Durations in statistics and the harness's own run_until
 * timeouts stay in real time. */
EVB_HARNESS_API void evb_harness_set_clock (EvbHarness *harness, gint64 now_us);

/* Moves the fake clock forward by @ms and iterates until nothing more is
 * ready, so every timeout that became due has fired (each repeating one
 * once, re-armed from the new time, as a real timeout after a suspend)
 * and the events they emitted have been dispatched; async jobs may still
 * run (evb_harness_run_until_idle).  A no-op without evb_harness_set_clock. */
EVB_HARNESS_API void evb_harness_advance_clock (EvbHarness *harness, gint64 ms);

/* Steps the fake wall clock (evb_plugin_now, events' time_us) by @ms,
 * forward or back, as NTP or an operator setting the date does, without
 * moving the timeouts: they wait on monotonic time, which only
 * evb_harness_advance_clock moves.  Then iterates as that does.  Tests
 * how a plugin takes a clock that is stepped.  A no-op without
 * evb_harness_set_clock. */
EVB_HARNESS_API void evb_harness_jump_clock (EvbHarness *harness, gint64 ms);

/* The clock plugins see: the fake one once set, else real time. */
EVB_HARNESS_API gint64 evb_harness_now (EvbHarness *harness);

/* Graceful shutdown now (see DESIGN.md "Lifecycle"); @grace_ms < 0: the
 * setting.  Collected events stay readable. */
EVB_HARNESS_API void evb_harness_shutdown (EvbHarness *harness, gint grace_ms);

/* Collected events, in dispatch order.  Borrowed. */
EVB_HARNESS_API guint evb_harness_n_events (EvbHarness *harness);
EVB_HARNESS_API const EvbEvent *evb_harness_event (EvbHarness *harness, guint index);

/* How many collected events match @pattern ("a.*", "evbus.status.>", ...). */
EVB_HARNESS_API guint evb_harness_count (EvbHarness *harness, const char *pattern);

/* The @nth (from 0) collected event matching @pattern, or NULL. */
EVB_HARNESS_API const EvbEvent *evb_harness_find (EvbHarness *harness, const char *pattern, guint nth);

/* Space-separated types of the collected events matching @pattern, e.g.
 * "evbus.status.waiting evbus.status.executing evbus.status.completed".
 * Caller frees. */
EVB_HARNESS_API char *evb_harness_trace (EvbHarness *harness, const char *pattern);

/* Forgets collected events. */
EVB_HARNESS_API void evb_harness_clear (EvbHarness *harness);

/* Snapshot of the bus's counters and histograms (new reference). */
EVB_HARNESS_API json_t *evb_harness_stats (EvbHarness *harness);

/* The summary line the host prints at shutdown. Caller frees. */
EVB_HARNESS_API char *evb_harness_summary (EvbHarness *harness);

#define EVB_HARNESS_ERROR (evb_harness_error_quark ())
EVB_HARNESS_API GQuark evb_harness_error_quark (void);

typedef enum {
  EVB_HARNESS_ERROR_TIMEOUT,
  EVB_HARNESS_ERROR_INVALID, /* bad JSON given to the harness */
} EvbHarnessError;

G_END_DECLS
