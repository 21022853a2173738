/* The nats plugin's own declarations: one instance (Nats), its counters,
 * and the parts that live in their own files (subject.c, connection.c,
 * fanout.c, work.c, acker.c).  See nats.c for the manual. */
#pragma once

#include <evbus/json.h>
#include <evbus/plugin.h>
#include <nats/nats.h>

#include "../common/tsan.h"

/* libnats starts its threads from its own, uninstrumented code: under
 * ThreadSanitizer (ignore_noninstrumented_modules) their creation orders
 * nothing, so what the main thread set up before a connect or subscribe
 * looked written concurrently with the callbacks that read it.  RELEASE
 * before handing the instance to libnats, ACQUIRE first thing in every
 * callback.  No-ops in other builds. */
extern int nats_tsan_handoff;
#define NATS_HANDOFF_RELEASE() EVB_TSAN_RELEASE (&nats_tsan_handoff)
#define NATS_HANDOFF_ACQUIRE() EVB_TSAN_ACQUIRE (&nats_tsan_handoff)

/* Headers every message the plugin sends carries (fan-out and jobs). */
#define NATS_HEADER_HOST "Evbus-Origin-Host"
#define NATS_HEADER_ID "Evbus-Origin-Id"
#define NATS_HEADER_RUN "Evbus-Origin-Run"
#define NATS_HEADER_SOURCE "Evbus-Origin-Source"
#define NATS_HEADER_TRACEPARENT "traceparent"
#define NATS_HEADER_TRACESTATE "tracestate"
/* Dead letters say why and after how many deliveries. */
#define NATS_HEADER_DEAD_REASON "Evbus-Dead-Reason"
#define NATS_HEADER_DEAD_DELIVERIES "Evbus-Dead-Deliveries"

/* The data field an event that came in through NATS carries: where it came
 * from.  Its presence also means "came from NATS": the publish handler
 * never sends such an event out again (no relay loops). */
#define NATS_ORIGIN_FIELD "_origin"

GQuark nats_error_quark (void);
#define NATS_ERROR (nats_error_quark ())

typedef enum {
  NATS_ERROR_CONFIG,   /* an option is wrong: the message names it */
  NATS_ERROR_CONNECT,  /* the server cannot be reached or refused us */
  NATS_ERROR_MISMATCH, /* the stream or consumer exists with another config */
  NATS_ERROR_SUBJECT,  /* a type or pattern that is no subject */
  NATS_ERROR_PUBLISH,  /* the server did not take a message */
} NatsError;

/* Counters, read by the stats report.  Updated from libnats threads,
 * workers and the main thread: atomics. */
typedef struct {
  gint64 published;
  gint64 publish_failed;
  gint64 publish_skipped_relay;  /* came from NATS: not sent out again */
  gint64 publish_skipped_echo;   /* status/failure of our own jobs or of an imported event */
  gint64 published_disconnected; /* buffered by libnats while disconnected */
  gint64 imported;
  gint64 import_skipped_own;     /* our own message came back: dropped */
  gint64 import_bad;             /* subject not a type, data not an object */
  gint64 import_refused;         /* the bus refused the emit */
  gint64 import_dropped;         /* not emitted: the import queue was full, or the host was stopping */
  gint64 submitted;              /* acknowledged by the server */
  gint64 submit_duplicates;      /* acknowledged as a duplicate message id */
  gint64 submit_failed;
  gint64 submit_skipped;         /* came from NATS (a job being worked): not submitted again */
  gint64 jobs_received;
  gint64 jobs_redelivered;       /* received with a delivery count above 1 */
  gint64 jobs_acked;
  gint64 jobs_nacked;
  gint64 jobs_in_progress;       /* in-progress notices sent */
  gint64 jobs_dead_lettered;
  gint64 jobs_dead_letter_failed;
  gint64 ack_failed;             /* an ack, nak or in-progress libnats refused */
  gint64 reconnects;
  gint64 disconnects;
  gint64 async_errors;           /* slow consumer and other errors libnats reports */
} NatsCounters;

#define NATS_COUNT(nats, field) ((void) __atomic_fetch_add (&(nats)->counters.field, 1, __ATOMIC_RELAXED))
#define NATS_READ(nats, field) __atomic_load_n (&(nats)->counters.field, __ATOMIC_RELAXED)

typedef struct _NatsWork NatsWork;

typedef struct {
  /* Set in init, read-only afterwards. */
  EvbPlugin *plugin;
  char *host;           /* the label others see (option host, or the machine's name) */
  char *run_id;         /* random per instance: what "our own message" means */
  char *prefix;         /* fan-out subjects: <prefix>.<type> */
  char *host_events_as; /* imported evbus.X is emitted as <host_events_as>.X */
  natsConnection *conn;
  jsCtx *js;            /* NULL without work sharing */
  GPtrArray *imports;   /* natsSubscription *, one per import pattern */
  NatsWork *work;       /* NULL without work sharing */
  guint stats_source;

  /* Imported messages on their way to the main loop (fanout.c): libnats's
   * delivery threads append, the main loop takes them in batches, so one
   * wake-up carries a burst rather than one message. */
  GMutex import_lock;
  GArray *import_incoming;    /* under import_lock: NatsImport, oldest first */
  gint import_queued;         /* written under import_lock, read atomically: incoming + not yet emitted of taken */
  guint import_limit;         /* option import_queue_limit */
  gboolean import_closed;     /* under import_lock: stop drained the queue, drop what still comes */
  gboolean import_held;       /* under import_lock: evb_plugin_hold while messages wait */
  gboolean import_dropping;   /* under import_lock: a drop was logged, not again until one is queued */
  GArray *import_taken;       /* main thread: the batch being emitted */
  guint import_taken_next;    /* main thread: its next message */
  GMainContext *import_context; /* the host's main loop */
  GSource *import_source;     /* drains the queue there */

  /* Ids of recently imported events (bounded): a host event (status,
   * failure) caused by one is not exported again, or two hosts importing
   * each other's ">" would echo status events for ever. */
  GMutex imported_lock;
  GHashTable *imported_ids; /* GSIZE_TO_POINTER (event id) set */
  GQueue imported_order;    /* the same ids, oldest first */

  gint connected;       /* atomic: 1 while connected */
  gint64 disconnected_since_us; /* atomic (__atomic builtins); 0 while connected */
  GMutex server_lock;   /* guards last_server */
  char *last_server;    /* the server we were connected to last, for the health reason */
  gint64 unhealthy_after_ms; /* option; 0: never say unhealthy */
  guint health_source;  /* evb_plugin_add_timeout: checks how long we are disconnected */
  gint stopping;        /* atomic: stop was called */
  GMutex closed_lock;   /* closed: libnats ran its last connection callback */
  GCond closed_cond;
  gboolean closed;
  NatsCounters counters;
} Nats;

/* ---- subject.c: types and patterns as subjects (pure) ---- */

/* <prefix>.<type>; NULL with NATS_ERROR_SUBJECT when @type is not an event
 * type or is reserved ("evbus.", unless @allow_reserved). */
char *nats_subject_for_type (const char *prefix, const char *type, gboolean allow_reserved, GError **error);

/* <prefix>.<pattern>; NULL with NATS_ERROR_SUBJECT naming what is wrong. */
char *nats_subject_for_pattern (const char *prefix, const char *pattern, GError **error);

/* Checks a subject prefix option: dotted names, no wildcard. */
gboolean nats_prefix_check (const char *option, const char *prefix, GError **error);

/* The event type a received @subject stands for, or NULL (not under
 * @prefix, or the rest is not an event type: *@why says which).  Types
 * under "evbus." become <host_events_as>.<rest>. */
char *nats_type_for_subject (const char *prefix, const char *subject, const char *host_events_as, const char **why);

/* ---- connection.c ---- */

/* Connects with the instance's options; while checking (evb_plugin_is_checking)
 * only builds them, and nats->conn stays NULL.  Main thread, in init. */
gboolean nats_connection_open (Nats *nats, GError **error);

/* Closes the connection and waits until libnats made its last callback
 * (closed), so that the instance can be freed.  Main thread. */
void nats_connection_close (Nats *nats);

/* A natsStatus as one line, with libnats's last error when it says more. */
char *nats_status_text (natsStatus status);

/* Sets the headers every outgoing message carries for @event. */
natsStatus nats_set_origin_headers (Nats *nats, natsMsg *msg, const EvbEvent *event);

/* The value of header @key of @msg, or NULL.  Borrowed from @msg. */
const char *nats_header (natsMsg *msg, const char *key);

/* The origin headers of a received message: NULL where absent, borrowed
 * from the message. */
typedef struct {
  const char *host;
  const char *id;
  const char *source;
  const char *traceparent;
  const char *tracestate;
} NatsOrigin;

void nats_origin_read (natsMsg *msg, NatsOrigin *origin);

/* @origin as a new object for NATS_ORIGIN_FIELD. */
json_t *nats_origin_json (const NatsOrigin *origin, const char *subject);

/* Reads the origin headers of @msg into a new object for NATS_ORIGIN_FIELD. */
json_t *nats_origin_from_headers (natsMsg *msg, const char *subject);

/* The stats report (nats.stats's data).  Any thread. */
json_t *nats_stats_json (Nats *nats);

/* Tells the host the instance is unhealthy once it has been disconnected
 * for unhealthy_after_ms (evb_plugin_set_health), healthy again on
 * reconnect.  Starts a main-loop timer; nothing when the option is 0. */
void nats_health_start (Nats *nats);

/* ---- fanout.c ---- */

void nats_fanout_init (Nats *nats);
void nats_fanout_clear (Nats *nats);
gboolean nats_fanout_start (Nats *nats, GError **error);
void nats_fanout_stop (Nats *nats, gboolean emit);
EvbResult nats_publish_handler (EvbCall *call, const EvbEvent *event);

/* ---- work.c: JetStream work sharing ---- */

/* Shared by work.c and acker.c.  Reference-counted (ref_count, atomic):
 * a job whose receipt comes late keeps it alive after shutdown. */
struct _NatsWork {
  gint ref_count;
  Nats *nats;              /* NULL once shut down */
  char *stream;
  char *subject_prefix;    /* jobs are <subject_prefix>.<type> */
  char *consumer;          /* the durable every worker shares; also its deliver group */
  char *deliver_subject;
  char *dead_prefix;       /* dead letters go to <dead_prefix>.<type> */
  char *dead_stream;
  char *msg_id_field;
  gboolean worker;
  gint64 ack_wait_ms;
  gint64 max_deliver;
  gint64 nak_delay_ms;
  gint64 nak_delay_max_ms;
  gint64 submit_timeout_ms;
  natsSubscription *sub;   /* workers only */

  /* Not a GAsyncQueue: its lock is inside GLib, where ThreadSanitizer
   * cannot see it (libglib is not instrumented), so every hand-over
   * would be reported as a race.  A GQueue under our own lock and cond is
   * the same thing, visible. */
  GQueue actions;          /* under lock: NatsAction *, for the acker thread */
  GCond actions_cond;      /* signalled when an action is queued */
  GThread *acker;
  GMutex lock;
  GHashTable *outstanding; /* NatsJob * (a reference) -> itself: delivered, not yet settled */
  gboolean closed;         /* under lock: the acker is gone, settle nothing more */
};

/* One delivered job.  Reference-counted (ref_count, atomic): the receipt
 * and the outstanding table each hold one. */
typedef struct {
  gint ref_count;
  NatsWork *work;          /* a reference */
  natsMsg *msg;
  char *type;              /* NULL when the subject is no type */
  char *subject;
  guint64 deliveries;
  guint64 stream_seq;
  gint64 touched_us;       /* acker thread: delivery or the last in-progress */
} NatsJob;

typedef enum {
  NATS_ACTION_ACK,
  NATS_ACTION_NAK,       /* with back-off by deliveries */
  NATS_ACTION_RETRY_NOW, /* cancelled here (shutdown): let another host take it */
  NATS_ACTION_DEAD,      /* move to the dead-letter subject, then terminate */
  NATS_ACTION_QUIT,
} NatsActionKind;

typedef struct {
  NatsActionKind kind;
  NatsJob *job;          /* a reference; NULL for QUIT */
  char *reason;          /* DEAD, NAK: why (for logs and the dead letter) */
} NatsAction;

void nats_action_free (NatsAction *action);
NatsJob *nats_job_ref (NatsJob *job);
void nats_job_unref (NatsJob *job);
NatsWork *nats_work_ref (NatsWork *work);
void nats_work_unref (NatsWork *work);

/* Queues @kind for @job (takes a reference of its own).  Any thread.
 * FALSE (nothing queued) once the acker is gone. */
gboolean nats_work_settle (NatsWork *work, NatsJob *job, NatsActionKind kind, const char *reason);

gboolean nats_work_start (Nats *nats, GError **error);
void nats_work_stop (Nats *nats);
void nats_work_shutdown (Nats *nats);
EvbResult nats_submit_handler (EvbCall *call, const EvbEvent *event);

/* ---- acker.c: the one thread that acks, naks, marks in progress and
 * dead-letters (the main loop never waits on the network) ---- */

gboolean nats_acker_start (NatsWork *work, GError **error);
/* Settles what is queued, returns what is still outstanding to the
 * server (nak), and joins the thread. */
void nats_acker_stop (NatsWork *work);
