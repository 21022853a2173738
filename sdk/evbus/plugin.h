/* evbus plugin SDK — the one header a plugin author includes.
 *
 * A plugin is a shared object that exports one descriptor, written by
 * EVB_PLUGIN_DEFINE().  It never links against host symbols: every host
 * service reaches it through the EvbHostApi table that hangs off the
 * EvbPlugin and EvbCall handles it is given.  The table is append-only; an
 * entry added in ABI 1.N is guarded by `api->size` (use EVB_API_HAS()).
 * The descriptor and its handler and option tables keep their 1.0 size
 * and stride: fields added in 1.1 (stop, the tables' lengths, a handler's
 * mode, an option's limits) took reserved slots, which the host reads only
 * from a descriptor whose abi_minor says they are there.  EvbRouteSpec
 * grew at its end (struct_size tells the host).
 *
 * Threads: the host runs one GLib main loop (the "main thread").  Sync
 * handlers, init, stop and shutdown run there; async handlers run on
 * worker threads.  Functions below say which thread may call them.
 * Those marked "Main thread" (evb_plugin_add_timeout, _remove_source,
 * _get_stats, _keep_traces, _get_trace) refuse any other thread: the host
 * logs a critical, `plugin "P": evb_plugin_get_stats called off the main
 * thread; it is main-thread only (call it from init, a sync handler or a
 * timeout)`, and the call returns 0, FALSE or NULL and does nothing.
 *
 * Ownership: `const` pointers handed to a plugin are borrowed for the call
 * they are passed to.  Functions that "steal" say so.
 */
#pragma once

#include <string.h>

#include <glib-object.h>
#include <jansson.h>

G_BEGIN_DECLS

#define EVB_ABI_MAJOR 1
#define EVB_ABI_MINOR 1

/* The symbol the host looks up in every plugin file. */
#define EVB_PLUGIN_DESCRIPTOR_SYMBOL "evb_plugin_descriptor"

#if defined(_WIN32)
#define EVB_PLUGIN_EXPORT __declspec(dllexport)
#else
#define EVB_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ---- Names and event types: the grammar (header-only, no ABI) ----
 *
 * The one definition of what a name and an event type are, used by the host
 * (instance, handler and plugin names, emitted types, route patterns) and by
 * plugins that check types before emitting them.
 *
 * A name is one or more of a-z 0-9 _ -.  An event type is names joined by
 * dots ("search.request").  Types under EVB_RESERVED_TYPE_PREFIX are the
 * host's own (evbus.failure, evbus.status.*): plugins may not emit them. */

#define EVB_RESERVED_TYPE_PREFIX "evbus."

/* TRUE when @c may appear in a name. */
static inline gboolean
evb_name_char_is_valid (char c)
{
  /* One load per character rather than four range tests: every emit checks
   * its type with this. */
  static const guint8 name_chars[256] = {
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['_'] = 1, ['-'] = 1,
  };

  return name_chars[(guchar) c];
}

/* TRUE when the @length bytes at @text are a name. */
static inline gboolean
evb_name_is_valid_length (const char *text, gsize length)
{
  if (length == 0)
    return FALSE;
  for (gsize i = 0; i < length; i++)
    if (!evb_name_char_is_valid (text[i]))
      return FALSE;
  return TRUE;
}

/* TRUE when @name (NUL-terminated, may be NULL) is a name. */
static inline gboolean
evb_name_is_valid (const char *name)
{
  return name != NULL && evb_name_is_valid_length (name, strlen (name));
}

/* What is wrong with a type, for messages (evb_type_find_fault). */
typedef enum {
  EVB_TYPE_OK = 0,
  EVB_TYPE_EMPTY,          /* "" or NULL */
  EVB_TYPE_EMPTY_SEGMENT,  /* "a..b", ".a", "a." */
  EVB_TYPE_BAD_CHARACTER,  /* a segment holds something other than a-z 0-9 _ - */
} EvbTypeFault;

/* Checks @type (may be NULL) against the grammar; on a fault, *@segment
 * (when not NULL) is the 1-based segment at fault. */
static inline EvbTypeFault
evb_type_find_fault (const char *type, guint *segment)
{
  guint number = 1;
  gsize length = 0;

  if (segment != NULL)
    *segment = 0;
  if (type == NULL || *type == '\0')
    return EVB_TYPE_EMPTY;
  for (const char *p = type;; p++)
    {
      if (*p == '.' || *p == '\0')
        {
          if (length == 0)
            {
              if (segment != NULL)
                *segment = number;
              return EVB_TYPE_EMPTY_SEGMENT;
            }
          if (*p == '\0')
            return EVB_TYPE_OK;
          number++;
          length = 0;
        }
      else if (evb_name_char_is_valid (*p))
        length++;
      else
        {
          if (segment != NULL)
            *segment = number;
          return EVB_TYPE_BAD_CHARACTER;
        }
    }
}

/* TRUE when @type is an event type (dotted names, no wildcards). */
static inline gboolean
evb_type_is_valid (const char *type)
{
  return evb_type_find_fault (type, NULL) == EVB_TYPE_OK;
}

/* TRUE when @type is one of the host's own ("evbus." and below). */
static inline gboolean
evb_type_is_reserved (const char *type)
{
  return strncmp (type, EVB_RESERVED_TYPE_PREFIX, sizeof EVB_RESERVED_TYPE_PREFIX - 1) == 0;
}

/* What is wrong with a route pattern (evb_pattern_find_fault).  A pattern
 * is a type whose segments may also be "*" (one segment) or, last only,
 * ">" (one or more segments). */
typedef enum {
  EVB_PATTERN_OK = 0,
  EVB_PATTERN_EMPTY,          /* "" or NULL */
  EVB_PATTERN_EMPTY_SEGMENT,  /* "a..b" */
  EVB_PATTERN_BAD_CHARACTER,  /* a segment neither a name, "*" nor ">" */
  EVB_PATTERN_TAIL_NOT_LAST,  /* ">" before the last segment */
} EvbPatternFault;

/* Checks @pattern (may be NULL); on a fault, *@segment (when not NULL) is
 * the 1-based segment at fault. */
static inline EvbPatternFault
evb_pattern_find_fault (const char *pattern, guint *segment)
{
  const char *start = pattern;
  guint number = 1;

  if (segment != NULL)
    *segment = 0;
  if (pattern == NULL || *pattern == '\0')
    return EVB_PATTERN_EMPTY;
  for (;; number++)
    {
      gsize length = strcspn (start, ".");
      gboolean is_last = start[length] == '\0';
      EvbPatternFault fault = EVB_PATTERN_OK;

      if (length == 0)
        fault = EVB_PATTERN_EMPTY_SEGMENT;
      else if (length == 1 && start[0] == '>')
        fault = is_last ? EVB_PATTERN_OK : EVB_PATTERN_TAIL_NOT_LAST;
      else if (!(length == 1 && start[0] == '*') && !evb_name_is_valid_length (start, length))
        fault = EVB_PATTERN_BAD_CHARACTER;
      if (fault != EVB_PATTERN_OK)
        {
          if (segment != NULL)
            *segment = number;
          return fault;
        }
      if (is_last)
        return EVB_PATTERN_OK;
      start += length + 1;
    }
}

/* TRUE when @type (a valid type) matches @pattern (a valid pattern).
 * Walks both one segment at a time without allocating. */
static inline gboolean
evb_pattern_matches (const char *pattern, const char *type)
{
  /* A type has at least one segment; "" is no type, not one empty segment. */
  if (*type == '\0')
    return FALSE;
  for (;;)
    {
      gsize pattern_length = strcspn (pattern, ".");
      gsize type_length = strcspn (type, ".");
      gboolean pattern_ends = pattern[pattern_length] == '\0';
      gboolean type_ends = type[type_length] == '\0';

      /* A final ">" swallows this segment and any after it. */
      if (pattern_ends && pattern_length == 1 && pattern[0] == '>')
        return TRUE;
      if (!(pattern_length == 1 && pattern[0] == '*') &&
          (pattern_length != type_length || memcmp (pattern, type, type_length) != 0))
        return FALSE;
      if (pattern_ends || type_ends)
        return pattern_ends && type_ends;
      pattern += pattern_length + 1;
      type += type_length + 1;
    }
}

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

  /* ABI 1.1: trace context (DESIGN "Trace context").  Read them only when
   * EVB_EVENT_HAS (event, field): every 1.1 host sets them. */
  guint64 trace_id_high;  /* the 128-bit W3C trace id, high half; never both halves 0 */
  guint64 trace_id_low;
  guint64 parent_id;      /* id of the event whose handler emitted this one; 0: a source emitted it */
  const char *tracestate; /* W3C tracestate that came with the trace, or NULL */
};

/* TRUE when @event (made by the running host) has @field. */
#define EVB_EVENT_HAS(event, field) \
  ((event)->struct_size >= G_STRUCT_OFFSET (EvbEvent, field) + sizeof ((event)->field))

/* ---- Host event types and the fields of their data ----
 *
 * evbus.failure (and the route's on_failure type), one per failed call:
 *   "origin"  {"type", "id", "source", "data"} of the event the handler failed on
 *   "route"   {"id", "pattern", "mode": "sync"|"async", "priority"}
 *   "handler" "instance.handler";  "plugin": the instance's name, or null for host routes
 *   "error"   {"domain", "code", "message"}
 *   "thread"  "main" or "worker";  "job": the job's id, or null for a sync call
 * evbus.status.<state>, one per transition of an async job, <state> one of
 * waiting executing completed failed cancelling cancelled:
 *   "job" (its id), "state", "event" {"id", "type"}, "route", "handler",
 *   "plugin" (as above), "time_us" (real time of the transition),
 *   "queue_wait_us" (null until it started), "run_time_us" (null until it
 *   ended having run), "error" ({"domain", "code", "message"} when failed,
 *   else null)
 * evbus.unhandled (host.emit_unhandled): {"event": {"type", "id",
 *   "time_us", "source", "data"}} of the event no route took.
 * All carry the trace of the event they are about, with that event's id as
 * their parent_id.  Handlers of failure and status events make no failure
 * or status events of their own. */
#define EVB_TYPE_FAILURE "evbus.failure"
#define EVB_TYPE_STATUS_PREFIX "evbus.status."
#define EVB_TYPE_UNHANDLED "evbus.unhandled"
#define EVB_FIELD_ORIGIN "origin"
#define EVB_FIELD_ROUTE "route"
#define EVB_FIELD_HANDLER "handler"
#define EVB_FIELD_PLUGIN "plugin"
#define EVB_FIELD_ERROR "error"
#define EVB_FIELD_THREAD "thread"
#define EVB_FIELD_JOB "job"
#define EVB_FIELD_STATE "state"
#define EVB_FIELD_EVENT "event"

/* ---- W3C trace context (header-only) ---- */

/* "00-" 32 hex "-" 16 hex "-" 2 hex, and the NUL. */
#define EVB_TRACEPARENT_SIZE 56

/* Not g_quark_from_static_string: expanded in a plugin, the string would be
 * the plugin's, and GLib would keep pointing into it after the host unloads
 * the plugin.  The same holds for a plugin's own error quarks (and
 * G_DEFINE_QUARK, which uses the static form): intern a copy. */
#define EVB_TRACE_ERROR (g_quark_from_string ("evb-trace-error-quark"))
#define EVB_TRACE_ERROR_INVALID 0
#define EVB_TRACE_ERROR_NOT_KEPT 1 /* evb_plugin_get_trace: nobody asked to keep traces */

static inline gboolean
evb__hex_u64 (const char *text, guint digits, guint64 *out)
{
  guint64 value = 0;

  for (guint i = 0; i < digits; i++)
    {
      char c = text[i];

      if (c >= '0' && c <= '9')
        value = value << 4 | (guint64) (c - '0');
      else if (c >= 'a' && c <= 'f')
        value = value << 4 | (guint64) (c - 'a' + 10);
      else
        return FALSE;
    }
  *out = value;
  return TRUE;
}

/* Parses a W3C `traceparent` header value ("00-<trace id>-<parent id>-<flags>",
 * lowercase hex).  Version 00 must be exactly that; a later version may
 * carry more after the flags ("-..."); version ff is invalid.  All-zero
 * trace or parent ids are invalid.  FALSE with EVB_TRACE_ERROR naming what is
 * wrong.  Any of the outputs may be NULL. */
static inline gboolean
evb_traceparent_parse (const char *text, guint64 *trace_high, guint64 *trace_low, guint64 *parent_id,
                       guint8 *flags, GError **error)
{
  guint64 version, high, low, parent, bits;
  gsize length = text != NULL ? strlen (text) : 0;
  const char *why = NULL;

  if (length < 55)
    why = "expected 55 characters, version-traceid-parentid-flags";
  else if (!evb__hex_u64 (text, 2, &version) || text[2] != '-')
    why = "the version is not two lowercase hex digits";
  else if (version == 0xff)
    why = "version ff is invalid";
  else if (version == 0 && length != 55)
    why = "version 00 has exactly 55 characters";
  else if (version != 0 && length > 55 && text[55] != '-')
    why = "unexpected characters after the flags";
  else if (!evb__hex_u64 (text + 3, 16, &high) || !evb__hex_u64 (text + 19, 16, &low) || text[35] != '-')
    why = "the trace id is not 32 lowercase hex digits";
  else if (high == 0 && low == 0)
    why = "the trace id is all zeros";
  else if (!evb__hex_u64 (text + 36, 16, &parent) || text[52] != '-')
    why = "the parent id is not 16 lowercase hex digits";
  else if (parent == 0)
    why = "the parent id is all zeros";
  else if (!evb__hex_u64 (text + 53, 2, &bits))
    why = "the flags are not two lowercase hex digits";
  if (why != NULL)
    {
      g_set_error (error, EVB_TRACE_ERROR, EVB_TRACE_ERROR_INVALID, "invalid traceparent \"%.64s\": %s",
                   text != NULL ? text : "", why);
      return FALSE;
    }
  if (trace_high != NULL)
    *trace_high = high;
  if (trace_low != NULL)
    *trace_low = low;
  if (parent_id != NULL)
    *parent_id = parent;
  if (flags != NULL)
    *flags = (guint8) bits;
  return TRUE;
}

/* Parses a trace id as traceparent writes it: 32 lowercase hex digits, not
 * all zeros.  FALSE with EVB_TRACE_ERROR_INVALID. */
static inline gboolean
evb_trace_id_parse (const char *text, guint64 *trace_high, guint64 *trace_low, GError **error)
{
  guint64 high, low;

  if (text == NULL || strlen (text) != 32 || !evb__hex_u64 (text, 16, &high) || !evb__hex_u64 (text + 16, 16, &low)
      || (high == 0 && low == 0))
    {
      g_set_error (error, EVB_TRACE_ERROR, EVB_TRACE_ERROR_INVALID,
                   "invalid trace id \"%.40s\": expected 32 lowercase hex digits, not all zeros",
                   text != NULL ? text : "");
      return FALSE;
    }
  *trace_high = high;
  *trace_low = low;
  return TRUE;
}

/* 32 hex digits and the NUL. */
#define EVB_TRACE_ID_SIZE 33

/* Writes @event's trace id as 32 lowercase hex digits (as in traceparent,
 * evb_trace_id_parse's input) into @out. */
static inline void
evb_event_format_trace_id (const EvbEvent *event, char out[EVB_TRACE_ID_SIZE])
{
  g_snprintf (out, EVB_TRACE_ID_SIZE, "%016" G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER "x", event->trace_id_high,
              event->trace_id_low);
}

/* Writes the `traceparent` that continues @event's trace with @event as the
 * parent ("00-<trace id>-<event id>-01") into @out, for what leaves evbus
 * through @event (an HTTP call, a NATS message). */
static inline void
evb_event_format_traceparent (const EvbEvent *event, char out[EVB_TRACEPARENT_SIZE])
{
  g_snprintf (out, EVB_TRACEPARENT_SIZE, "00-%016" G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER "x-%016"
              G_GINT64_MODIFIER "x-01", event->trace_id_high, event->trace_id_low, event->id);
}

/* ---- Receipts (ABI 1.1; DESIGN "Receipts") ---- */

typedef enum {
  EVB_RECEIPT_HANDLED,   /* ran; some handler returned EVB_HANDLED */
  EVB_RECEIPT_DONE,      /* ran; no failure, nobody claimed it */
  EVB_RECEIPT_UNHANDLED, /* no route accepted it */
  EVB_RECEIPT_FAILED,    /* ran; one or more handlers failed or overran (n_failures, first error) */
  EVB_RECEIPT_DROPPED,   /* dropped from a full "drop-oldest" inbox, never ran */
  EVB_RECEIPT_REFUSED,   /* the emit failed (error: why), never ran */
  EVB_RECEIPT_CANCELLED, /* a job of its chain was cancelled (shutdown, unsubscribe), or
                          * the host went away with it still queued */
} EvbReceiptOutcome;

typedef struct {
  guint32 struct_size;
  EvbReceiptOutcome outcome;
  guint64 event_id;          /* 0 when refused before it was made (invalid type or data) */
  guint n_failures;          /* failure events its chain produced */
  const char *error_domain;  /* FAILED: the first failure; REFUSED: why; else NULL */
  gint error_code;
  const char *error_message;
} EvbReceipt;

/* Called exactly once, on the main thread, when the event's chain is over:
 * every priority level that ran has finished and every job it started has
 * ended; or when it never ran.  @receipt is borrowed for the call. */
typedef void (*EvbReceiptFunc) (const EvbReceipt *receipt, gpointer user_data);

/* A source's emit, with what EvbPlugin's plain emit cannot say. */
typedef struct {
  guint32 struct_size;       /* set by EVB_EMIT_OPTIONS_INIT */
  gint32 timeout_ms;         /* a full "block" inbox: -1 waits for room, 0 fails at once,
                              * N waits N ms at most (EVB_BUS_ERROR_TIMEOUT) */
  const char *traceparent;   /* continue this W3C trace (the event gets a parent_id of 0);
                              * NULL or invalid: inherit the handler's trace or start one */
  const char *tracestate;    /* travels with a continued trace, unchanged */
  EvbReceiptFunc receipt;    /* NULL: no receipt */
  gpointer receipt_data;
  GDestroyNotify receipt_destroy; /* on the main thread, after the receipt */
  gpointer reserved[4];
} EvbEmitOptions;

#define EVB_EMIT_OPTIONS_INIT { .struct_size = sizeof (EvbEmitOptions), .timeout_ms = -1 }

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
  /* ABI 1.1: a string naming a file.  The host makes a relative path
   * absolute before init: against the config file's folder (evbus run,
   * check), or the current folder (the harness, a linked-in descriptor),
   * so evb_plugin_get_string () returns an absolute path whatever folder
   * the host was started from.  "" and "-" (standard input or output, by
   * convention) are left as they are, and so is a default that is one. */
  EVB_OPTION_PATH,
} EvbOptionType;

/* ABI 1.1: the mode routes to a handler must have (EvbHandlerInfo.mode).
 * A route whose "mode" contradicts it does not load (the message names the
 * handler, what it declares and what the route says); routes default to
 * sync, so a route to an async-only handler says "mode": "async". */
typedef enum {
  EVB_HANDLER_MODE_EITHER = 0, /* sync or async, as the route says (1.0 handlers) */
  EVB_HANDLER_MODE_SYNC,       /* main thread only: it touches main-loop state */
  EVB_HANDLER_MODE_ASYNC,      /* workers only: it blocks (I/O, sleeps) */
} EvbHandlerMode;

/* An entry of the descriptor's handler table; the table ends with a
 * zeroed entry (EVB_HANDLERS_END).  Write entries with EVB_HANDLER (),
 * EVB_HANDLER_SYNC () or EVB_HANDLER_ASYNC () so the reserved fields stay
 * zero without -Wmissing-field-initializers warnings: a later ABI 1.N may
 * give them meaning (the descriptor's abi_minor tells the host whether to
 * read them) without changing the table's stride. */
typedef struct {
  const char *name;    /* [a-z0-9_-]+, unique within the plugin */
  EvbHandlerFunc func;
  const char *doc;     /* one sentence: what it reads, emits, fails on */
  /* ABI 1.1, in what 1.0 reserved (reserved[0]): read only from a
   * descriptor whose abi_minor is 1 or more. */
  EvbHandlerMode mode; /* default EVB_HANDLER_MODE_EITHER */
  gpointer reserved[3];
} EvbHandlerInfo;

/* ABI 1.1: what values an option takes beyond its type, pointed at by
 * EvbOptionInfo.limits (write it with the EVB_OPTION_*_RANGE and
 * EVB_OPTION_CHOICE macros, which make a static one).  The host checks the
 * instance's value against it before init (evbus check reports
 * "plugins[0].config.latency_ms: expected at most 60000, got 90000", or
 * "expected one of \"line\", \"json\", got \"xml\""), refuses a descriptor
 * whose default breaks its own limits, and `evbus inspect` shows them.
 * Bounds are inclusive.  Only the fields of the option's type are read:
 * min_int/max_int for EVB_OPTION_INT, min/max for EVB_OPTION_DOUBLE,
 * choices for EVB_OPTION_STRING; other types take no limits. */
typedef struct {
  guint32 struct_size;        /* sizeof (EvbOptionLimits) */
  guint32 reserved0;
  gint64 min_int;             /* G_MININT64: no lower bound */
  gint64 max_int;             /* G_MAXINT64: no upper bound */
  double min;                 /* -G_MAXDOUBLE: no lower bound */
  double max;                 /* G_MAXDOUBLE: no upper bound */
  const char *const *choices; /* NULL-terminated, at least one; compared byte for byte */
  gpointer reserved[4];
} EvbOptionLimits;

/* An entry of the descriptor's option table; ends with EVB_OPTIONS_END.
 * The host rejects config keys not in this table, values of another type
 * and values outside the limits, and fills in defaults before init. */
typedef struct {
  const char *name;
  EvbOptionType type;
  const char *default_json; /* JSON text of the default, or NULL: required */
  const char *doc;
  /* ABI 1.1, in what 1.0 reserved (reserved[0]); read only from a
   * descriptor whose abi_minor is 1 or more.  Borrowed for as long as the
   * descriptor: static. */
  const EvbOptionLimits *limits; /* NULL: any value of the type */
  gpointer reserved[3];     /* zero; see EvbHandlerInfo */
} EvbOptionInfo;

/* The tables keep the stride they had in ABI 1.0. */
G_STATIC_ASSERT (sizeof (EvbHandlerInfo) == 7 * sizeof (gpointer));
G_STATIC_ASSERT (G_STRUCT_OFFSET (EvbHandlerInfo, reserved) == 4 * sizeof (gpointer));
G_STATIC_ASSERT (sizeof (EvbOptionInfo) == 8 * sizeof (gpointer));
G_STATIC_ASSERT (G_STRUCT_OFFSET (EvbOptionInfo, limits) == 4 * sizeof (gpointer));

/* EVB_HANDLER ("greet", greet, "Emits greeting.made for each event with data.name.") */
#define EVB_HANDLER(name_, func_, doc_) { .name = (name_), .func = (func_), .doc = (doc_) }
/* ABI 1.1: a handler that must run on the main thread, or on workers; a
 * route of the other mode is a load error. */
#define EVB_HANDLER_SYNC(name_, func_, doc_) \
  { .name = (name_), .func = (func_), .doc = (doc_), .mode = EVB_HANDLER_MODE_SYNC }
#define EVB_HANDLER_ASYNC(name_, func_, doc_) \
  { .name = (name_), .func = (func_), .doc = (doc_), .mode = EVB_HANDLER_MODE_ASYNC }

/* EVB_OPTION ("latency_ms", EVB_OPTION_INT, "0", "Added to every call, in ms"); a NULL
 * default makes the option required. */
#define EVB_OPTION(name_, type_, default_json_, doc_) \
  { .name = (name_), .type = (type_), .default_json = (default_json_), .doc = (doc_) }

/* ABI 1.1.  The limits are compound literals: at file scope (where option
 * tables live) they are static, as the host needs.  C only; in C++ point
 * .limits at an EvbOptionLimits of your own.
 *
 * EVB_OPTION_INT_RANGE ("latency_ms", "0", 0, 60000, "Added to every call, in ms")
 * EVB_OPTION_INT_RANGE ("workers", "4", 1, G_MAXINT64, "...")   (no upper bound)
 * EVB_OPTION_DOUBLE_RANGE ("failure_rate", "0.5", 0.0, 1.0, "...")
 * EVB_OPTION_CHOICE ("format", "\"line\"", EVB_CHOICES ("line", "json"), "...")
 * EVB_OPTION_PATH ("path", NULL, "File to read") */
#define EVB_OPTION_INT_RANGE(name_, default_json_, min_, max_, doc_)                                  \
  { .name = (name_), .type = EVB_OPTION_INT, .default_json = (default_json_), .doc = (doc_),          \
    .limits = &(const EvbOptionLimits) { .struct_size = sizeof (EvbOptionLimits), .min_int = (min_), \
                                         .max_int = (max_) } }
#define EVB_OPTION_DOUBLE_RANGE(name_, default_json_, min_, max_, doc_)                         \
  { .name = (name_), .type = EVB_OPTION_DOUBLE, .default_json = (default_json_), .doc = (doc_), \
    .limits = &(const EvbOptionLimits) { .struct_size = sizeof (EvbOptionLimits), .min = (min_), .max = (max_) } }
/* @choices_: a NULL-terminated array of strings, e.g. EVB_CHOICES ("line", "json"). */
#define EVB_OPTION_CHOICE(name_, default_json_, choices_, doc_)                                 \
  { .name = (name_), .type = EVB_OPTION_STRING, .default_json = (default_json_), .doc = (doc_), \
    .limits = &(const EvbOptionLimits) { .struct_size = sizeof (EvbOptionLimits), .choices = (choices_) } }
#define EVB_CHOICES(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define EVB_OPTION_PATH(name_, default_json_, doc_) \
  { .name = (name_), .type = EVB_OPTION_PATH, .default_json = (default_json_), .doc = (doc_) }

#define EVB_HANDLERS_END { .name = NULL, .func = NULL }
#define EVB_OPTIONS_END { .name = NULL, .type = 0 }

/* init: main thread.  Store per-instance state in plugin->instance_data.
 * Return FALSE with @error set to refuse to load; the host then removes
 * every route and source the plugin registered and calls neither stop nor
 * shutdown.
 * stop (ABI 1.1): main thread, once, when the host begins to shut down —
 * before it drains the inbox, lets jobs finish and calls shutdown — and
 * only after a successful init.  "Sources stop now": a plugin that emits
 * on its own (a reader thread, a socket) stops taking input here and
 * returns without waiting; what it has already emitted is still
 * dispatched, and its handlers may still be called while the inbox
 * drains.  The host removes the plugin's timeouts and drops its holds
 * right after stop returns.  Join threads in shutdown, not here.
 * shutdown: main thread, in reverse load order, after all of the plugin's
 * jobs have finished (and after stop).  Join any thread the plugin started. */
typedef gboolean (*EvbPluginInitFunc) (EvbPlugin *plugin, GError **error);
typedef void (*EvbPluginStopFunc) (EvbPlugin *plugin);
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
  /* ABI 1.1, in what 1.0 reserved (reserved[0..2]): read only when
   * abi_minor is 1 or more.  EVB_PLUGIN_DEFINE fills them in. */
  EvbPluginStopFunc stop;       /* may be NULL */
  gsize n_handlers;             /* entries of @handlers, EVB_HANDLERS_END included; 0: not known */
  gsize n_options;              /* entries of @options, EVB_OPTIONS_END included; 0: not known */
  gpointer reserved[5];
} EvbPluginDescriptor;

G_STATIC_ASSERT (sizeof (EvbPluginDescriptor) == 8 + 15 * sizeof (gpointer));

/* The entries of a handler or option table, end marker included, when
 * @table_ is an array; 0 when it is a pointer (NULL included), whose
 * length the compiler cannot know.  With a known length the host refuses
 * a table whose last entry is not its end marker, instead of reading past
 * it; without one it trusts the end marker. */
#define EVB__TABLE_LENGTH(table_, type_) ((sizeof (table_) + 0) / sizeof (type_))

#define EVB__DESCRIPTOR_FIELDS(name_, version_, description_, handlers_, options_, init_, shutdown_) \
  .abi_major = EVB_ABI_MAJOR, .abi_minor = EVB_ABI_MINOR,                                          \
  .struct_size = sizeof (EvbPluginDescriptor),                                                     \
  .name = (name_), .version = (version_), .description = (description_),                           \
  .handlers = (handlers_), .options = (options_), .init = (init_), .shutdown = (shutdown_),        \
  .n_handlers = EVB__TABLE_LENGTH (handlers_, EvbHandlerInfo),                                     \
  .n_options = EVB__TABLE_LENGTH (options_, EvbOptionInfo)

/* Writes the exported descriptor.  One per shared object.  @handlers_ and
 * @options_ should be the tables themselves (arrays), not pointers to
 * them, so that the host knows their length. */
#define EVB_PLUGIN_DEFINE(name_, version_, description_, handlers_, options_, init_, shutdown_) \
  EVB_PLUGIN_EXPORT const EvbPluginDescriptor evb_plugin_descriptor = {                        \
    EVB__DESCRIPTOR_FIELDS (name_, version_, description_, handlers_, options_, init_, shutdown_), \
  }

/* ABI 1.1: the same with more fields, as designated initializers:
 * EVB_PLUGIN_DEFINE_WITH ("replay", "0.2.0", "...", handlers, options, replay_init,
 *                         replay_shutdown, .stop = replay_stop); */
#define EVB_PLUGIN_DEFINE_WITH(name_, version_, description_, handlers_, options_, init_, shutdown_, ...) \
  EVB_PLUGIN_EXPORT const EvbPluginDescriptor evb_plugin_descriptor = {                                  \
    EVB__DESCRIPTOR_FIELDS (name_, version_, description_, handlers_, options_, init_, shutdown_),       \
    __VA_ARGS__                                                                                          \
  }

/* Same, under another symbol and not exported: for a plugin linked into a
 * test program and added with evb_harness_add_plugin(). */
#define EVB_PLUGIN_DEFINE_STATIC(symbol_, name_, version_, description_, handlers_, options_, init_, shutdown_) \
  static const EvbPluginDescriptor symbol_ = {                                                              \
    EVB__DESCRIPTOR_FIELDS (name_, version_, description_, handlers_, options_, init_, shutdown_),          \
  }

#define EVB_PLUGIN_DEFINE_STATIC_WITH(symbol_, name_, version_, description_, handlers_, options_, init_, \
                                      shutdown_, ...)                                                  \
  static const EvbPluginDescriptor symbol_ = {                                                         \
    EVB__DESCRIPTOR_FIELDS (name_, version_, description_, handlers_, options_, init_, shutdown_),     \
    __VA_ARGS__                                                                                        \
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

  /* ABI 1.1 (a 1.0 spec is shorter: struct_size tells the host). */
  json_t *params;          /* a JSON object for the handler (evb_call_get_params), or NULL;
                            * borrowed: the host keeps a copy */
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

  /* ABI 1.1 */
  guint64 (*emit_full) (EvbPlugin *plugin, const char *type, json_t *data, const EvbEmitOptions *options,
                        GError **error);
  json_t *(*call_params) (EvbCall *call);
  gboolean (*call_wait) (EvbCall *call, guint timeout_ms);
  gint64 (*now) (EvbPlugin *plugin);
  void (*keep_traces) (EvbPlugin *plugin, guint records);
  json_t *(*get_trace) (EvbPlugin *plugin, const char *trace_id, GError **error);
  char *(*get_stall) (EvbPlugin *plugin, gint64 *stalled_ms);
  void (*set_health) (EvbPlugin *plugin, const char *unhealthy_reason);
  json_t *(*get_health) (EvbPlugin *plugin);
  gboolean (*is_checking) (EvbPlugin *plugin);
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

/* Emit with options (ABI 1.1): a trace to continue, a receipt, a bound on
 * waiting for room.  Any thread.  Steals @data.  Returns the event's id, or
 * 0 with @error as evb_plugin_emit fails.  With a receipt, a failed emit
 * still gets its receipt (EVB_RECEIPT_REFUSED), later, on the main thread.
 * An emit from inside a handler, on the handler's thread, inherits the
 * handler's trace (plain emits too). */
static inline guint64
evb_plugin_emit_full (EvbPlugin *plugin, const char *type, json_t *data, const EvbEmitOptions *options,
                      GError **error)
{
  return plugin->api->emit_full (plugin, type, data, options, error);
}

/* Add a route at run time.  Any thread.  When @owner is not NULL the bus
 * keeps only a weak reference: once @owner is finalized the route is gone
 * and never called again.  @spec is borrowed for the call (its filter and
 * params are copied).  Returns the route id, or 0 with @error set (bad
 * pattern, unknown handler, bad filter, params that are not an object, a
 * mode the handler does not run in: "handler \"l.work\" is declared async,
 * the route is sync: give the route \"mode\": \"async\""). */
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

/* The instance's validated options, defaults filled in: every value of
 * its type and within its limits (ABI 1.1), path options absolute (or ""
 * or "-").  Borrowed, read-only, valid until shutdown returns.  Any
 * thread. */
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
 * the plugin's sources for it.  Main thread (elsewhere: a critical, and 0). */
static inline guint
evb_plugin_add_timeout (EvbPlugin *plugin, guint interval_ms, GSourceFunc func, gpointer data,
                        GDestroyNotify destroy)
{
  return plugin->api->add_timeout (plugin, interval_ms, func, data, destroy);
}

/* Removes a source evb_plugin_add_timeout gave; FALSE when it is not
 * one of the plugin's.  Main thread (elsewhere: a critical, and FALSE). */
static inline gboolean
evb_plugin_remove_source (EvbPlugin *plugin, guint source_id)
{
  return plugin->api->remove_source (plugin, source_id);
}

/* Wall-clock time, µs since the epoch (ABI 1.1): g_get_real_time (), or a
 * test harness's fake clock (evb_harness_set_clock), which also drives
 * evb_plugin_add_timeout and route timeouts.  A plugin that schedules by
 * the clock (a timer, a cron schedule, an age limit) reads it here so that
 * its tests need not wait.  Events' time_us comes from the same clock.  On
 * a 1.0 host: g_get_real_time ().  Any thread. */
static inline gint64
evb_plugin_now (EvbPlugin *plugin)
{
  if (!EVB_API_HAS (plugin->api, now))
    return g_get_real_time ();
  return plugin->api->now (plugin);
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
 *  "jobs": [{job, state, route, handler, plugin, event: {id, type, trace_id}, age_us,
 *  running_us (null while waiting)}, ...]: the oldest jobs in flight, oldest
 *  first, at most 100 (bus.jobs_in_flight counts them all),
 *  "plugins": [{name, unhealthy}, ...]: the plugin instances in load order,
 *  unhealthy null or the reason given to evb_plugin_set_health (1.1)}.
 * run_time_us of an async route times every job; of a sync route, the
 * first call and then one call in 128 (reading the clock costs more than a
 * small handler), so its count is a sample, its quantiles estimates; a
 * sync route with a timeout_ms times every call.  queue_wait_us is for
 * async routes only.
 * For dashboards and metrics: reading it costs nothing while nobody asks,
 * where following every job through status events costs three events per
 * job.  Main thread (elsewhere: a critical, and NULL). */
static inline json_t *
evb_plugin_get_stats (EvbPlugin *plugin)
{
  return plugin->api->stats (plugin);
}

/* Asks the host to keep the last @records decisions of dispatch (events
 * dispatched, routes skipped with why, levels, results, job states,
 * failures, receipts), so that evb_plugin_get_trace can show a trace after
 * the fact (ABI 1.1).  Recording costs a copy of several ~330-byte
 * records per event (bench B1 "traces-kept" row); the host keeps the
 * largest number any plugin asked for, until it exits.  Main thread
 * (elsewhere: a critical, and nothing kept). */
static inline void
evb_plugin_keep_traces (EvbPlugin *plugin, guint records)
{
  plugin->api->keep_traces (plugin, records);
}

/* The kept records of trace @trace_id (32 lowercase hex) as a new JSON
 * object: {"trace_id", "records", "partial", "events": [{"id",
 * "parent_id", "type", "time_us", "matched", "outcome", "end_us",
 * "receipt", "routes": [{"id", "label", "mode", "priority", "job",
 * "start_us", "end_us", "result", "states": [{"state", "time_us"}],
 * "failure", "skipped"}]}]}, events in dispatch order; "partial" when the
 * oldest records of the trace were overwritten.  An unknown trace has no
 * events.  NULL with EVB_TRACE_ERROR_INVALID (a bad id) or
 * EVB_TRACE_ERROR_NOT_KEPT (no plugin called evb_plugin_keep_traces).
 * Main thread (elsewhere: a critical, and NULL with
 * EVB_TRACE_ERROR_INVALID). */
static inline json_t *
evb_plugin_get_trace (EvbPlugin *plugin, const char *trace_id, GError **error)
{
  return plugin->api->get_trace (plugin, trace_id, error);
}

/* Whether the host's main loop is stalled now (ABI 1.1): while the
 * host's watchdog reports a turn of the loop longer than host.stall_ms
 * (DESIGN "Watchdog"), what the main thread runs ("handler R (plugin P,
 * file F) on event T id I", or "init of plugin P (file F)") as a new
 * string, and in @stalled_ms for how long; NULL and 0 while the loop
 * turns, without a watchdog (a harness, stall_ms 0) and on an older host.
 * Any thread: a health check serving from a thread of its own answers
 * while the loop it reports on is stuck. */
static inline char *
evb_plugin_get_stall (EvbPlugin *plugin, gint64 *stalled_ms)
{
  *stalled_ms = 0;
  if (!EVB_API_HAS (plugin->api, get_stall))
    return NULL;
  return plugin->api->get_stall (plugin, stalled_ms);
}

/* Says this plugin instance is unhealthy, and why, in one line that names
 * what is wrong ("disconnected from nats://10.0.0.1:4222 for 5.2 s"); NULL
 * says it is healthy again (ABI 1.1).  The host keeps a copy until the next
 * call or the instance's shutdown, shows it in the stats
 * (plugins[].unhealthy) and to health checks (evb_plugin_get_health; the
 * dashboard's /healthz says "plugin NAME: REASON").  Any thread; a no-op
 * on an older host. */
static inline void
evb_plugin_set_health (EvbPlugin *plugin, const char *unhealthy_reason)
{
  if (EVB_API_HAS (plugin->api, set_health))
    plugin->api->set_health (plugin, unhealthy_reason);
}

/* The reasons of every unhealthy plugin instance of this host, as a new
 * JSON object {"instance": "reason", ...} in the order they became
 * unhealthy; {} when all are healthy, and on an older host (ABI 1.1).  Any
 * thread: a health check may answer while the main loop is stuck. */
static inline json_t *
evb_plugin_get_health (EvbPlugin *plugin)
{
  if (!EVB_API_HAS (plugin->api, get_health))
    return json_object ();
  return plugin->api->get_health (plugin);
}

/* TRUE while the host only checks the config (ABI 1.1): `evbus check`,
 * or a harness after evb_harness_set_checking ().  The plugin's init is
 * then called to find what is wrong with its options, and the pipeline
 * never runs: stop and shutdown follow init at once.  `check` may run
 * beside a host that runs the same config, so init must act on nothing:
 *
 *   skip   creating, opening for writing, truncating or locking files and
 *          folders (databases, state files, outputs); binding ports;
 *          connecting anywhere; starting processes or threads; watching
 *          files; timeouts (evb_plugin_add_timeout); opening a display or
 *          a window.  (Emitting is harmless: no route takes the events.)
 *   still  validate every option and what it can check without a side
 *          effect: address and port syntax, URLs, templates, schedules,
 *          globs, SQL (on a database in memory), that files it will read
 *          exist and are readable, that a program it will run exists.
 *          Report problems as a normal init does, in the same words: the
 *          operator runs `check` to see them before `run` does.
 *
 * Keep what init stores in instance_data such that shutdown frees it
 * whether the world was touched or not.  Any thread.  FALSE on an older
 * host: it has no check mode, so init acts as it always did. */
static inline gboolean
evb_plugin_is_checking (EvbPlugin *plugin)
{
  if (!EVB_API_HAS (plugin->api, is_checking))
    return FALSE;
  return plugin->api->is_checking (plugin);
}

/* TRUE once the host wants this job to stop (shutdown, unsubscribe,
 * timeout).  Long handlers should check it and return early.  The calling
 * handler's thread only (another thread is refused with a critical and
 * gets TRUE). */
static inline gboolean
evb_call_is_cancelled (EvbCall *call)
{
  return call->api->call_is_cancelled (call);
}

/* Waits up to @timeout_ms for the job to be cancelled (ABI 1.1): returns
 * TRUE as soon as it is (then return promptly), FALSE when the time ran
 * out.  A handler that must wait (a back-off, a rate limit) waits here
 * rather than sleeping and polling evb_call_is_cancelled.  A sync call
 * cannot be cancelled: it waits the whole time, on the main thread, and
 * every event waits with it; don't.  On a 1.0 host it sleeps and returns
 * evb_call_is_cancelled ().  The calling handler's thread only (another
 * thread is refused with a critical and gets TRUE). */
static inline gboolean
evb_call_wait (EvbCall *call, guint timeout_ms)
{
  if (!EVB_API_HAS (call->api, call_wait))
    {
      g_usleep ((gulong) timeout_ms * 1000);
      return call->api->call_is_cancelled (call);
    }
  return call->api->call_wait (call, timeout_ms);
}

/* Record why the handler fails; returns EVB_FAILED so a handler can write
 * `return evb_call_fail (call, "store", 2, "no row %d", id);`.
 * @domain names the area (the plugin instance's name, as in the config,
 * when NULL).  The host makes both valid UTF-8 and caps each at 4096
 * bytes: a longer one is cut at a character boundary and ends with
 * " [truncated: N bytes]" (N its length), 4096 bytes in all, so don't put
 * whole inputs in an error.  The calling handler's thread only (from
 * another thread it is refused with a critical and not recorded). */
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

/* Emit from inside a handler, as the handler's plugin: the event continues
 * the handled event's trace, with the handled event as its parent. */
static inline gboolean
evb_call_emit (EvbCall *call, const char *type, json_t *data, GError **error)
{
  return call->api->emit (call->plugin, type, data, error);
}

/* The route's "params" object (ABI 1.1): what the config wrote in the
 * route that called this handler ({"on": ..., "handler": ..., "params":
 * {...}}), or EvbRouteSpec.params of a route made in code; NULL when the
 * route has none (and on a 1.0 host).  Lets one handler serve several
 * routes differently.  Borrowed and read-only: valid during the call (the
 * route keeps it; json_incref it to keep it longer, json_deep_copy to
 * change it).  The calling handler's thread only, during the call (another
 * thread is refused with a critical and gets NULL). */
static inline json_t *
evb_call_get_params (EvbCall *call)
{
  if (!EVB_API_HAS (call->api, call_params))
    return NULL;
  return call->api->call_params (call);
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
