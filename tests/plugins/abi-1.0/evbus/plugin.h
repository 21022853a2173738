/* evbus plugin SDK — the one header a plugin author includes.
 *
 * A plugin is a shared object that exports one descriptor, written by
 * EVB_PLUGIN_DEFINE().  It never links against host symbols: every host
 * service reaches it through the EvbHostApi table that hangs off the
 * EvbPlugin and EvbCall handles it is given.  The table is append-only; an
 * entry added in ABI 1.N is guarded by `api->size` (use EVB_API_HAS()).
 *
 * Threads: the host runs one GLib main loop (the "main thread").  Sync
 * handlers, init and shutdown run there; async handlers run on worker
 * threads.  Functions below say which thread may call them.
 *
 * Ownership: `const` pointers handed to a plugin are borrowed for the call
 * they are passed to.  Functions that "steal" say so.
 */
#pragma once

#include <glib-object.h>
#include <jansson.h>

G_BEGIN_DECLS

#define EVB_ABI_MAJOR 1
#define EVB_ABI_MINOR 0

/* The symbol the host looks up in every plugin file. */
#define EVB_PLUGIN_DESCRIPTOR_SYMBOL "evb_plugin_descriptor"

#if defined(_WIN32)
#define EVB_PLUGIN_EXPORT __declspec(dllexport)
#else
#define EVB_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

typedef struct _EvbEvent EvbEvent;
typedef struct _EvbPlugin EvbPlugin;
typedef struct _EvbCall EvbCall;
typedef struct _EvbHostApi EvbHostApi;
typedef struct _EvbRouteSpec EvbRouteSpec;

/* What a handler tells the bus. */
typedef enum {
  EVB_CONTINUE = 0, /* done; lower priority levels still see the event */
  EVB_HANDLED = 1,  /* done; no lower priority level sees the event */
  EVB_FAILED = 2,   /* failed; set the error with evb_call_fail() first */
} EvbResult;

typedef enum {
  EVB_MODE_SYNC = 0,  /* runs inline on the main thread */
  EVB_MODE_ASYNC = 1, /* runs as a job on the worker pool */
} EvbMode;

/* An emitted event.  Immutable and reference-counted: read the fields, never
 * write them.  Valid for the duration of the handler call; keep it longer
 * with evb_event_hold() / evb_event_release(). */
struct _EvbEvent {
  guint32 struct_size; /* sizeof (EvbEvent) of the host that made it */
  guint32 flags;       /* reserved for the host */
  const char *type;    /* dotted name, segments [a-z0-9_-]+ */
  guint64 id;          /* unique within the host process, never 0 */
  gint64 time_us;      /* g_get_real_time () at emission */
  const char *source;  /* plugin instance name, or "host" */
  json_t *data;        /* a JSON object, never NULL; do not modify */
};

/* A handler.  `call` is valid only during the call; it tells which plugin
 * instance and route run it and carries the cancellation flag. */
typedef EvbResult (*EvbHandlerFunc) (EvbCall *call, const EvbEvent *event);

/* Handle of a loaded plugin instance.  Valid from init until shutdown
 * returns; may be used from any thread in that window. */
struct _EvbPlugin {
  guint32 struct_size;
  guint32 reserved0;
  const EvbHostApi *api;
  const char *name;      /* the instance name from the config */
  gpointer instance_data; /* what init stored; the host never touches it */
};

/* One handler execution.  Public fields are read-only. */
struct _EvbCall {
  guint32 struct_size;
  guint32 reserved0;
  const EvbHostApi *api;
  EvbPlugin *plugin;      /* NULL for routes added by host code */
  gpointer instance_data; /* plugin->instance_data, for convenience */
  gpointer route_data;    /* EvbRouteSpec.user_data of the route */
};

typedef enum {
  EVB_OPTION_STRING = 1,
  EVB_OPTION_INT,    /* JSON integer */
  EVB_OPTION_DOUBLE, /* JSON number */
  EVB_OPTION_BOOL,
  EVB_OPTION_OBJECT,
  EVB_OPTION_ARRAY,
} EvbOptionType;

/* An entry of the descriptor's handler table; the table ends with a
 * zeroed entry (EVB_HANDLERS_END).  Write entries with EVB_HANDLER () so
 * the reserved fields stay zero without -Wmissing-field-initializers
 * warnings: a later ABI 1.N may give them meaning (the descriptor's
 * abi_minor tells the host whether to read them) without changing the
 * table's stride. */
typedef struct {
  const char *name;    /* [a-z0-9_-]+, unique within the plugin */
  EvbHandlerFunc func;
  const char *doc;     /* one sentence: what it reads, emits, fails on */
  gpointer reserved[4];
} EvbHandlerInfo;

/* An entry of the descriptor's option table; ends with EVB_OPTIONS_END.
 * The host rejects config keys not in this table and values of another
 * type, and fills in defaults before init. */
typedef struct {
  const char *name;
  EvbOptionType type;
  const char *default_json; /* JSON text of the default, or NULL: required */
  const char *doc;
  gpointer reserved[4];     /* zero; see EvbHandlerInfo */
} EvbOptionInfo;

/* EVB_HANDLER ("greet", greet, "Emits greeting.made for each event with data.name.") */
#define EVB_HANDLER(name_, func_, doc_) { .name = (name_), .func = (func_), .doc = (doc_) }
/* EVB_OPTION ("latency_ms", EVB_OPTION_INT, "0", "Added to every call, in ms"); a NULL
 * default makes the option required. */
#define EVB_OPTION(name_, type_, default_json_, doc_) \
  { .name = (name_), .type = (type_), .default_json = (default_json_), .doc = (doc_) }

#define EVB_HANDLERS_END { NULL, NULL, NULL, { NULL } }
#define EVB_OPTIONS_END { NULL, 0, NULL, NULL, { NULL } }

/* init: main thread.  Store per-instance state in plugin->instance_data.
 * Return FALSE with @error set to refuse to load; the host then removes
 * every route and source the plugin registered and calls no shutdown.
 * shutdown: main thread, in reverse load order, after all of the plugin's
 * jobs have finished.  Join any thread the plugin started. */
typedef gboolean (*EvbPluginInitFunc) (EvbPlugin *plugin, GError **error);
typedef void (*EvbPluginShutdownFunc) (EvbPlugin *plugin);

typedef struct {
  guint16 abi_major;  /* EVB_ABI_MAJOR the plugin was built with */
  guint16 abi_minor;
  guint32 struct_size; /* sizeof (EvbPluginDescriptor) */
  const char *name;
  const char *version;
  const char *description;
  const EvbHandlerInfo *handlers;
  const EvbOptionInfo *options; /* may be NULL: no options */
  EvbPluginInitFunc init;       /* may be NULL */
  EvbPluginShutdownFunc shutdown; /* may be NULL */
  gpointer reserved[8];
} EvbPluginDescriptor;

/* Writes the exported descriptor.  One per shared object. */
#define EVB_PLUGIN_DEFINE(name_, version_, description_, handlers_, options_, init_, shutdown_) \
  EVB_PLUGIN_EXPORT const EvbPluginDescriptor evb_plugin_descriptor = {                        \
    .abi_major = EVB_ABI_MAJOR, .abi_minor = EVB_ABI_MINOR,                                   \
    .struct_size = sizeof (EvbPluginDescriptor),                                              \
    .name = (name_), .version = (version_), .description = (description_),                    \
    .handlers = (handlers_), .options = (options_), .init = (init_), .shutdown = (shutdown_), \
  }

/* Same, under another symbol and not exported: for a plugin linked into a
 * test program and added with evb_harness_add_plugin_descriptor(). */
#define EVB_PLUGIN_DEFINE_STATIC(symbol_, name_, version_, description_, handlers_, options_, init_, shutdown_) \
  static const EvbPluginDescriptor symbol_ = {                                                              \
    .abi_major = EVB_ABI_MAJOR, .abi_minor = EVB_ABI_MINOR,                                                \
    .struct_size = sizeof (EvbPluginDescriptor),                                                           \
    .name = (name_), .version = (version_), .description = (description_),                                 \
    .handlers = (handlers_), .options = (options_), .init = (init_), .shutdown = (shutdown_),              \
  }

/* A route made at run time (evb_plugin_subscribe()). Zero-initialise,
 * then set what you need; EVB_ROUTE_SPEC_INIT does that. */
struct _EvbRouteSpec {
  guint32 struct_size;     /* sizeof (EvbRouteSpec) */
  EvbMode mode;
  const char *pattern;     /* "a.b", "a.*", "a.>", ">" */
  const char *handler;     /* a handler of this plugin by name, or NULL ... */
  EvbHandlerFunc func;     /* ... a function (then @handler is only a label) */
  gpointer user_data;      /* EvbCall.route_data */
  gint priority;           /* higher runs first; default 0 */
  json_t *filter;          /* borrowed; compiled at subscribe; NULL: none */
  const char *on_failure;  /* extra event type for failures, or NULL */
  guint timeout_ms;        /* 0: none */
  guint max_concurrency;   /* async only; 0: unlimited */
  gboolean stop_on_failure;
};

#define EVB_ROUTE_SPEC_INIT { .struct_size = sizeof (EvbRouteSpec) }

/* The host function table.  Append-only: new entries go at the end under
 * an ABI 1.N marker.  Prefer the inline wrappers below. */
struct _EvbHostApi {
  guint16 abi_major;
  guint16 abi_minor;
  guint32 size; /* sizeof (EvbHostApi) of the running host */

  /* ABI 1.0 */
  gboolean (*emit) (EvbPlugin *plugin, const char *type, json_t *data, GError **error);
  guint64 (*subscribe) (EvbPlugin *plugin, const EvbRouteSpec *spec, GObject *owner, GError **error);
  gboolean (*unsubscribe) (EvbPlugin *plugin, guint64 route_id);
  json_t *(*options) (EvbPlugin *plugin);
  void (*log) (EvbPlugin *plugin, GLogLevelFlags level, const char *message);
  gboolean (*call_is_cancelled) (EvbCall *call);
  void (*call_set_error) (EvbCall *call, const char *domain, gint code, const char *message);
  EvbEvent *(*event_ref) (const EvbEvent *event);
  void (*event_unref) (EvbEvent *event);
  guint (*add_timeout) (EvbPlugin *plugin, guint interval_ms, GSourceFunc func, gpointer data, GDestroyNotify destroy);
  gboolean (*remove_source) (EvbPlugin *plugin, guint source_id);
  void (*hold) (EvbPlugin *plugin);
  void (*release) (EvbPlugin *plugin);
  json_t *(*stats) (EvbPlugin *plugin);
};

/* TRUE when the running host's table has @field. */
#define EVB_API_HAS(api, field) \
  ((api)->size >= G_STRUCT_OFFSET (EvbHostApi, field) + sizeof ((api)->field))

/* Emit an event.  Any thread.  Steals @data (a JSON object, or NULL for {}).
 * Never runs handlers inline.  Fails (FALSE, @error set) on an invalid type,
 * a type under the reserved "evbus." prefix, data that is not an object, a
 * full inbox under the "reject" policy, or a host shutting down. */
static inline gboolean
evb_plugin_emit (EvbPlugin *plugin, const char *type, json_t *data, GError **error)
{
  return plugin->api->emit (plugin, type, data, error);
}

/* Add a route at run time.  Any thread.  When @owner is not NULL the bus
 * keeps only a weak reference: once @owner is finalized the route is gone
 * and never called again.  Returns the route id, or 0 with @error set (bad
 * pattern, unknown handler, bad filter). */
static inline guint64
evb_plugin_subscribe (EvbPlugin *plugin, const EvbRouteSpec *spec, GObject *owner, GError **error)
{
  return plugin->api->subscribe (plugin, spec, owner, error);
}

/* Remove a route this plugin added.  Any thread.  Its waiting jobs are
 * cancelled; running ones are asked to stop.  FALSE if no such route. */
static inline gboolean
evb_plugin_unsubscribe (EvbPlugin *plugin, guint64 route_id)
{
  return plugin->api->unsubscribe (plugin, route_id);
}

/* The instance's validated options, defaults filled in.  Borrowed, read-only,
 * valid until shutdown returns.  Any thread. */
static inline json_t *
evb_plugin_get_options (EvbPlugin *plugin)
{
  return plugin->api->options (plugin);
}

static inline const char *
evb_plugin_get_string (EvbPlugin *plugin, const char *name)
{
  return json_string_value (json_object_get (plugin->api->options (plugin), name));
}

static inline gint64
evb_plugin_get_int (EvbPlugin *plugin, const char *name)
{
  return json_integer_value (json_object_get (plugin->api->options (plugin), name));
}

static inline double
evb_plugin_get_double (EvbPlugin *plugin, const char *name)
{
  return json_number_value (json_object_get (plugin->api->options (plugin), name));
}

static inline gboolean
evb_plugin_get_bool (EvbPlugin *plugin, const char *name)
{
  return json_is_true (json_object_get (plugin->api->options (plugin), name));
}

/* Log through the instance's logger (prefixed with the instance name, log
 * domain "evbus-plugin").  Any thread. */
static inline void evb_plugin_log (EvbPlugin *plugin, GLogLevelFlags level, const char *format, ...)
  G_GNUC_PRINTF (3, 4);
static inline void
evb_plugin_log (EvbPlugin *plugin, GLogLevelFlags level, const char *format, ...)
{
  va_list args;
  char *message;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  plugin->api->log (plugin, level, message);
  g_free (message);
}

/* Run @func every @interval_ms on the main loop until it returns
 * G_SOURCE_REMOVE or the plugin shuts down (or fails init): the host removes
 * the plugin's sources for it.  Main thread. */
static inline guint
evb_plugin_add_timeout (EvbPlugin *plugin, guint interval_ms, GSourceFunc func, gpointer data,
                        GDestroyNotify destroy)
{
  return plugin->api->add_timeout (plugin, interval_ms, func, data, destroy);
}

static inline gboolean
evb_plugin_remove_source (EvbPlugin *plugin, guint source_id)
{
  return plugin->api->remove_source (plugin, source_id);
}

/* A source that produces events on its own (a file reader, a socket) holds
 * the host while it has more to emit, so that "run until idle" waits for it.
 * Calls nest.  Any thread. */
static inline void
evb_plugin_hold (EvbPlugin *plugin)
{
  plugin->api->hold (plugin);
}

static inline void
evb_plugin_release (EvbPlugin *plugin)
{
  plugin->api->release (plugin);
}

/* A snapshot of the host's counters and histograms, as a new JSON object:
 * {"bus": {emitted, dispatched, dropped, unhandled, inbox_depth, ...},
 *  "routes": [{id, pattern, handler, plugin, mode, priority, matched,
 *  filtered, handled, completed, failed, cancelled, timeouts, waiting,
 *  executing, queue_wait_us: {...}, run_time_us: {...}}, ...],
 *  "jobs": [{job, state, route, handler, plugin, event: {id, type}, age_us,
 *  running_us (null while waiting)}, ...]: the oldest jobs in flight, oldest
 *  first, at most 100 (bus.jobs_in_flight counts them all)}.
 * For dashboards and metrics: reading it costs nothing while nobody asks,
 * where following every job through status events costs three events per
 * job.  Main thread. */
static inline json_t *
evb_plugin_get_stats (EvbPlugin *plugin)
{
  return plugin->api->stats (plugin);
}

/* TRUE once the host wants this job to stop (shutdown, unsubscribe,
 * timeout).  Long handlers should check it and return early.  The calling
 * handler's thread only. */
static inline gboolean
evb_call_is_cancelled (EvbCall *call)
{
  return call->api->call_is_cancelled (call);
}

/* Record why the handler fails; returns EVB_FAILED so a handler can write
 * `return evb_call_fail (call, "store", 2, "no row %d", id);`.
 * @domain names the area (plugin name by default when NULL).  The calling
 * handler's thread only. */
static inline EvbResult evb_call_fail (EvbCall *call, const char *domain, gint code, const char *format, ...)
  G_GNUC_PRINTF (4, 5);
static inline EvbResult
evb_call_fail (EvbCall *call, const char *domain, gint code, const char *format, ...)
{
  va_list args;
  char *message;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  call->api->call_set_error (call, domain, code, message);
  g_free (message);
  return EVB_FAILED;
}

/* Emit from inside a handler, as the handler's plugin. */
static inline gboolean
evb_call_emit (EvbCall *call, const char *type, json_t *data, GError **error)
{
  return call->api->emit (call->plugin, type, data, error);
}

/* Keep an event past the handler call.  Any thread. */
static inline EvbEvent *
evb_event_hold (EvbCall *call, const EvbEvent *event)
{
  return call->api->event_ref (event);
}

static inline void
evb_event_release (EvbCall *call, EvbEvent *event)
{
  call->api->event_unref (event);
}

G_END_DECLS
