/* A window's requests and how it recognises what belongs to them.
 *
 * Each request starts a trace of its own: the window makes the trace id
 * and emits with it as a traceparent, so it knows the id before anything
 * comes back.  Everything the request causes carries that trace — the
 * database's answer, the status events of its jobs, its failure events —
 * so a window keeps the trace of its latest request and takes only what
 * matches it.  The receipt says when the whole chain is over.
 * Main thread. */
#pragma once

#include <evbus/plugin.h>

typedef struct {
  guint64 high;
  guint64 low;
} DesktopTrace;

/* TRUE once @trace was set by desktop_request_send. */
gboolean desktop_trace_is_set (const DesktopTrace *trace);
gboolean desktop_trace_equal (const DesktopTrace *a, const DesktopTrace *b);
/* TRUE when @event belongs to @trace. */
gboolean desktop_trace_matches (const DesktopTrace *trace, const EvbEvent *event);

/* Called on the main thread when the request's chain is over, only while
 * @owner lives. */
typedef void (*DesktopReceiptFunc) (GObject *owner, const DesktopTrace *trace, const EvbReceipt *receipt);

/* Emits @type with @data (stolen) on a new trace, written to @trace.  On
 * FALSE (@error says why) the receipt still comes, refused. */
gboolean desktop_request_send (EvbPlugin *plugin, const char *type, json_t *data, GObject *owner,
                               DesktopReceiptFunc receipt, DesktopTrace *trace, GError **error);

/* A sync route of @pattern to @func, owned by @owner (route_data is
 * @owner): gone when @owner is finalized.  Returns the route id, or 0. */
guint64 desktop_subscribe (EvbPlugin *plugin, GObject *owner, const char *pattern, const char *label,
                           EvbHandlerFunc func, GError **error);

/* One line for a failure event: "db.update: update of item 7 failed: no such item". */
char *desktop_failure_describe (const EvbEvent *failure);

/* One line for a receipt whose request did not run or failed: "nobody
 * handles ui.search: check the config's routes"; NULL for handled and done. */
char *desktop_receipt_describe (const char *type, const EvbReceipt *receipt);
