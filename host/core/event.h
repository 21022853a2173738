/* Events: immutable, reference-counted, one allocation each. */
#pragma once

#include "evbus/plugin.h"

G_BEGIN_DECLS

/* EvbEvent.flags values (host-private meaning). */
#define EVB_EVENT_FLAG_FAILURE (1u << 0) /* an evbus.failure or on_failure event */
#define EVB_EVENT_FLAG_STATUS (1u << 1)  /* an evbus.status.* event */
/* Handlers of these events report their own failures by log and counter only. */
#define EVB_EVENT_FLAGS_META (EVB_EVENT_FLAG_FAILURE | EVB_EVENT_FLAG_STATUS)
#define EVB_EVENT_FLAG_RECEIPT (1u << 2) /* a receipt waits for its chain (receipt.h) */

/* Where a new event's trace comes from (DESIGN "Trace context"). */
typedef struct {
  guint64 high;           /* trace id; both 0: start a new trace */
  guint64 low;
  guint64 parent_id;      /* the event whose handler emits it; 0 for a source */
  const char *tracestate; /* copied into the event; NULL for none */
} EvbTrace;

/* The trace an event emitted on behalf of @event continues: the same id
 * and tracestate, @event as the parent. */
void evb_trace_continue (const EvbEvent *event, EvbTrace *trace);

/* The event whose handler runs on this thread (sync on the main thread, or
 * a job on a worker), or NULL: emits made meanwhile inherit its trace. */
const EvbEvent *evb_event_get_current (void);
/* Makes @event the current one; returns the one it replaces. */
const EvbEvent *evb_event_set_current (const EvbEvent *event);

typedef struct _EvbReceiptState EvbReceiptState;

/* Checks a concrete event type: dotted segments of [a-z0-9_-]+ (the
 * grammar is the SDK's evb_type_find_fault).  EVB_BUS_ERROR_INVALID_TYPE
 * naming the segment at fault. */
gboolean evb_event_type_validate (const char *type, GError **error);

/* Refuses a type under "evbus." (EVB_BUS_ERROR_RESERVED_TYPE): `event type
 * "evbus.x" is reserved (types under "evbus." belong to the host)`. */
gboolean evb_event_type_check_unreserved (const char *type, GError **error);

/* Makes an event with a fresh id and the current time.  Steals @data (an
 * object; NULL means {}).  @type must be valid.  Any thread.  @trace NULL:
 * the current handler's event's trace continues (evb_event_get_current),
 * or, outside a handler, a new trace starts; a @trace whose id is 0 starts
 * a new one too. */
EvbEvent *evb_event_new (const char *type, const char *source, json_t *data, guint32 flags, const EvbTrace *trace,
                         gint64 time_us);

/* The receipt waiting on @event, or NULL (receipt.c reads and clears it). */
EvbReceiptState *evb_event_get_receipt (const EvbEvent *event);
/* Before @event is queued (its emitting thread owns it alone). */
void evb_event_set_receipt (EvbEvent *event, EvbReceiptState *receipt);

/* A hash of the @length bytes of @type, for lookups keyed by type.  Any thread. */
guint evb_type_hash (const char *type, gsize length);

/* evb_type_hash () of @event's type, computed once when it was made. */
guint evb_event_type_hash (const EvbEvent *event);

EvbEvent *evb_event_ref (const EvbEvent *event);
void evb_event_unref (EvbEvent *event);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbEvent, evb_event_unref)

/* {"type", "id", "time_us", "source", "data"}; new reference. */
json_t *evb_event_to_json (const EvbEvent *event);

G_END_DECLS
