/* One HTTP request on its way through the pipeline: an HttpInRequest.
 *
 * The request's message is paused while its event runs; the answer comes
 * from the first of:
 *   - the event's receipt: 202 (handled, done), unhandled_status
 *     (unhandled), 500 (failed), 503 + Retry-After (refused, dropped,
 *     cancelled); for a path with a "reply", handled/done answer nothing
 *     and the request waits on;
 *   - the reply event (a path with "reply"): the first event matching the
 *     pattern in the request's trace, answered 200 with its data;
 *   - an evbus.failure in that trace (a path with "reply"): 500;
 *   - the reply timeout: 504;
 *   - the client going away (its socket hangs up): nothing is answered.
 *
 * The pending table holds the only strong reference.  Once answered or
 * abandoned the request leaves it and is finalized, and with it goes
 * everything it held: the reply route (tied to the request as its owner,
 * and also removed at once), the timeout, the socket watch, the hold on
 * the host, the message.  The receipt holds only a weak reference, so a
 * receipt that comes after the client left finds nothing to answer.
 *
 * Every request starts or continues a W3C trace: an incoming valid
 * `traceparent` is continued (its `tracestate` travels along); otherwise
 * http-in starts one with a random id, so that it knows the trace id
 * replies will carry.  Answers after the emit carry
 * `traceparent: 00-<trace id>-<event id>-01`. */
#include "http-in-private.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* Sees replies and failures before any handler can stop their chain. */
#define OBSERVER_PRIORITY 1000000

struct _HttpInRequest {
  GObject parent_instance;

  HttpIn *owner;               /* NULL once the instance shut down */
  SoupServerMessage *msg;      /* a reference while paused */
  gulong finished_handler;
  char *type;
  char *reply;                 /* pattern, or NULL */
  guint64 event_id;
  guint64 trace_high;
  guint64 trace_low;
  char trace_id[EVB_TRACE_ID_SIZE];
  guint64 reply_route;
  guint timeout_ms;            /* for the reply */
  guint timeout_source;
  GSource *hangup_watch;
  gboolean held;
  gboolean answered;
  gboolean finished;           /* libsoup is done with the message */
};

G_DEFINE_FINAL_TYPE (HttpInRequest, http_in_request, G_TYPE_OBJECT)

static gint alive_count;

guint
http_in_request_count_alive (void)
{
  return (guint) g_atomic_int_get (&alive_count);
}

/* Drops what ties the request to the bus and the loop; safe twice. */
static void
request_detach (HttpInRequest *req)
{
  HttpIn *self = req->owner;

  if (req->hangup_watch != NULL)
    {
      g_source_destroy (req->hangup_watch);
      g_clear_pointer (&req->hangup_watch, g_source_unref);
    }
  if (self == NULL)
    return;
  if (req->timeout_source != 0)
    {
      evb_plugin_remove_source (self->plugin, req->timeout_source);
      req->timeout_source = 0;
    }
  if (req->reply_route != 0)
    {
      evb_plugin_unsubscribe (self->plugin, req->reply_route);
      req->reply_route = 0;
    }
  if (req->reply != NULL && g_hash_table_lookup (self->by_trace, req->trace_id) == req)
    g_hash_table_remove (self->by_trace, req->trace_id);
  if (req->held)
    {
      evb_plugin_release (self->plugin);
      req->held = FALSE;
    }
}

static void
http_in_request_finalize (GObject *object)
{
  HttpInRequest *req = HTTP_IN_REQUEST (object);

  request_detach (req);
  if (req->msg != NULL)
    {
      g_signal_handler_disconnect (req->msg, req->finished_handler);
      if (!req->answered && !req->finished)
        {
          /* The client is gone: libsoup must still finish the message (its
           * write fails and the connection closes). */
          soup_server_message_set_status (req->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
          soup_server_message_unpause (req->msg);
        }
      g_object_unref (req->msg);
    }
  g_free (req->type);
  g_free (req->reply);
  g_atomic_int_add (&alive_count, -1);
  G_OBJECT_CLASS (http_in_request_parent_class)->finalize (object);
}

static void
http_in_request_class_init (HttpInRequestClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = http_in_request_finalize;
}

static void
http_in_request_init (HttpInRequest *req)
{
  g_atomic_int_inc (&alive_count);
}

/* Takes the request out of the pending table: its last strong reference
 * unless a caller holds one. */
static void
request_forget (HttpInRequest *req)
{
  request_detach (req);
  if (req->owner != NULL)
    g_hash_table_remove (req->owner->pending, req);
}

/* The SDK formats the trace context of events (evb_event_format_trace_id,
 * evb_event_format_traceparent); a request has its trace before its event
 * exists, so it formats through a stand-in event that carries only the
 * trace and, as the parent to name, @id. */
static void
trace_carrier_init (EvbEvent *carrier, guint64 trace_high, guint64 trace_low, guint64 id)
{
  memset (carrier, 0, sizeof *carrier);
  carrier->struct_size = sizeof *carrier;
  carrier->id = id;
  carrier->trace_id_high = trace_high;
  carrier->trace_id_low = trace_low;
}

static void
set_traceparent_header (HttpInRequest *req)
{
  char traceparent[EVB_TRACEPARENT_SIZE];
  EvbEvent carrier;

  if (req->event_id == 0)
    return;
  trace_carrier_init (&carrier, req->trace_high, req->trace_low, req->event_id);
  evb_event_format_traceparent (&carrier, traceparent);
  soup_message_headers_replace (soup_server_message_get_response_headers (req->msg), "traceparent", traceparent);
}

/* The answer: @body stolen, @reason counted. */
static void
request_answer (HttpInRequest *req, guint status, HttpInReason reason, json_t *body)
{
  if (req->answered || req->owner == NULL)
    {
      json_decref (body);
      return;
    }
  req->answered = TRUE;
  req->owner->counts[reason]++;
  set_traceparent_header (req);
  http_in_respond_json (req->msg, status, body);
  soup_server_message_unpause (req->msg);
  request_forget (req);
}

/* A refusal after the emit: {"status", "error", "message", "id", "trace_id"}. */
static void
request_refuse (HttpInRequest *req, guint status, HttpInReason reason, const char *message, json_t *extra)
{
  json_t *body = json_pack ("{s:i, s:s, s:s, s:s, s:s}", "status", (int) status, "error",
                            http_in_reason_names[reason], "message", message, "type", req->type, "trace_id",
                            req->trace_id);

  if (req->event_id != 0)
    json_object_set_new (body, "id", json_integer ((json_int_t) req->event_id));
  if (extra != NULL)
    {
      json_object_update (body, extra);
      json_decref (extra);
    }
  request_answer (req, status, reason, body);
}

static void
refuse_retry_later (HttpInRequest *req, HttpInReason reason, const char *message)
{
  g_autofree char *seconds = g_strdup_printf ("%u", req->owner->retry_after_s);

  soup_message_headers_replace (soup_server_message_get_response_headers (req->msg), "Retry-After", seconds);
  request_refuse (req, SOUP_STATUS_SERVICE_UNAVAILABLE, reason, message, NULL);
}

/* ---- what ends a request ------------------------------------------------ */

static void
on_receipt (const EvbReceipt *receipt, gpointer user_data)
{
  g_autoptr (HttpInRequest) req = g_weak_ref_get (user_data);
  g_autofree char *message = NULL;

  if (req == NULL || req->answered || req->owner == NULL)
    return;
  if (req->event_id == 0)
    req->event_id = receipt->event_id;
  switch (receipt->outcome)
    {
    case EVB_RECEIPT_HANDLED:
    case EVB_RECEIPT_DONE:
      /* A path with a reply waits for it (or its timeout). */
      if (req->reply == NULL)
        request_answer (req, SOUP_STATUS_ACCEPTED, HTTP_IN_ACCEPTED,
                        json_pack ("{s:I, s:s, s:s, s:s}", "id", (json_int_t) req->event_id, "type", req->type,
                                   "trace_id", req->trace_id, "outcome",
                                   receipt->outcome == EVB_RECEIPT_HANDLED ? "handled" : "done"));
      break;
    case EVB_RECEIPT_UNHANDLED:
      message = g_strdup_printf ("no route took the event %s", req->type);
      request_refuse (req, req->owner->unhandled_status, HTTP_IN_UNHANDLED, message, NULL);
      break;
    case EVB_RECEIPT_FAILED:
      request_refuse (req, SOUP_STATUS_INTERNAL_SERVER_ERROR, HTTP_IN_FAILED,
                      receipt->error_message != NULL ? receipt->error_message : "a handler failed",
                      json_pack ("{s:s?, s:i, s:i}", "domain", receipt->error_domain, "code", receipt->error_code,
                                 "failures", (int) receipt->n_failures));
      break;
    case EVB_RECEIPT_REFUSED:
      message = g_strdup_printf ("the bus refused the event: %s",
                                 receipt->error_message != NULL ? receipt->error_message : "no reason given");
      refuse_retry_later (req, HTTP_IN_REFUSED, message);
      break;
    case EVB_RECEIPT_DROPPED:
      refuse_retry_later (req, HTTP_IN_DROPPED, "the event was dropped from a full inbox before it ran");
      break;
    case EVB_RECEIPT_CANCELLED:
    default:
      refuse_retry_later (req, HTTP_IN_CANCELLED, "the event's work was cancelled (shutdown or unsubscribe)");
      break;
    }
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

static gboolean
same_trace (HttpInRequest *req, const EvbEvent *event)
{
  return EVB_EVENT_HAS (event, trace_id_low) && event->trace_id_high == req->trace_high
         && event->trace_id_low == req->trace_low;
}

/* The per-request route to the reply pattern; the bus calls it only while
 * the request (its owner) lives, and holds it during the call. */
static EvbResult
on_reply (EvbCall *call, const EvbEvent *event)
{
  HttpInRequest *req = call->route_data;

  if (!req->answered && same_trace (req, event))
    request_answer (req, SOUP_STATUS_OK, HTTP_IN_REPLIED, json_incref (event->data));
  return EVB_CONTINUE;
}

EvbResult
http_in_on_failure (EvbCall *call, const EvbEvent *event)
{
  HttpIn *self = call->route_data;
  char trace_id[EVB_TRACE_ID_SIZE];
  HttpInRequest *req;
  json_t *error;
  const char *message;

  if (!EVB_EVENT_HAS (event, trace_id_low) || g_hash_table_size (self->by_trace) == 0)
    return EVB_CONTINUE;
  evb_event_format_trace_id (event, trace_id);
  req = g_hash_table_lookup (self->by_trace, trace_id);
  if (req == NULL)
    return EVB_CONTINUE;
  error = json_object_get (event->data, "error");
  message = json_string_value (json_object_get (error, "message"));
  g_object_ref (req);
  request_refuse (req, SOUP_STATUS_INTERNAL_SERVER_ERROR, HTTP_IN_FAILED, message != NULL ? message : "a handler failed",
                  json_pack ("{s:O?, s:O?, s:i, s:O?}", "domain", json_object_get (error, "domain"), "code",
                             json_object_get (error, "code"), "failures", 1, "handler",
                             json_object_get (event->data, "handler")));
  g_object_unref (req);
  return EVB_CONTINUE;
}

static gboolean
on_reply_timeout (gpointer user_data)
{
  HttpInRequest *req = user_data;
  g_autofree char *message = g_strdup_printf ("no %s came within %u ms", req->reply, req->timeout_ms);

  req->timeout_source = 0;
  g_object_ref (req);
  request_refuse (req, SOUP_STATUS_GATEWAY_TIMEOUT, HTTP_IN_REPLY_TIMEOUT, message, NULL);
  g_object_unref (req);
  return G_SOURCE_REMOVE;
}

/* The client's socket turned readable while we owe it an answer: with
 * nothing to read, it closed.  (libsoup would only find out when it
 * writes the answer.) */
static gboolean
on_hangup (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  HttpInRequest *req = user_data;
  char byte;
  gssize peeked = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);

  if (peeked > 0 || (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
    {
      /* A pipelined next request, not a hang-up: stop watching. */
      if (peeked > 0)
        g_clear_pointer (&req->hangup_watch, g_source_unref);
      return peeked > 0 ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
    }
  g_clear_pointer (&req->hangup_watch, g_source_unref);
  if (req->owner != NULL)
    req->owner->counts[HTTP_IN_CLIENT_GONE]++;
  request_forget (req);
  return G_SOURCE_REMOVE;
}

/* libsoup is done with the message (written, or its connection died). */
static void
on_finished (SoupServerMessage *msg, gpointer user_data)
{
  HttpInRequest *req = user_data;

  req->finished = TRUE;
  if (!req->answered && req->owner != NULL)
    {
      req->owner->counts[HTTP_IN_CLIENT_GONE]++;
      request_forget (req);
    }
}

static void
watch_hangup (HttpInRequest *req, HttpIn *self)
{
  GSocket *socket = soup_server_message_get_socket (req->msg);

  if (socket == NULL)
    return;
  req->hangup_watch = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (req->hangup_watch, G_SOURCE_FUNC (on_hangup), req, NULL);
  g_source_set_static_name (req->hangup_watch, "http-in client hang-up");
  g_source_attach (req->hangup_watch, self->context);
}

/* The trace to continue: the request's valid traceparent, else a new one. */
static void
choose_trace (HttpInRequest *req, SoupServerMessage *msg, char traceparent[EVB_TRACEPARENT_SIZE],
              const char **tracestate)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *given = soup_message_headers_get_one (headers, "traceparent");
  guint64 parent;
  EvbEvent carrier;

  *tracestate = NULL;
  if (given != NULL && evb_traceparent_parse (given, &req->trace_high, &req->trace_low, &parent, NULL, NULL))
    {
      /* Re-written as version 00 with the caller's parent id. */
      *tracestate = soup_message_headers_get_one (headers, "tracestate");
    }
  else
    {
      do
        {
          req->trace_high = ((guint64) g_random_int () << 32) | g_random_int ();
          req->trace_low = ((guint64) g_random_int () << 32) | g_random_int ();
        }
      while (req->trace_high == 0 && req->trace_low == 0);
      do
        parent = ((guint64) g_random_int () << 32) | g_random_int ();
      while (parent == 0);
    }
  trace_carrier_init (&carrier, req->trace_high, req->trace_low, parent);
  evb_event_format_trace_id (&carrier, req->trace_id);
  evb_event_format_traceparent (&carrier, traceparent);
}

void
http_in_request_start (HttpIn *self, SoupServerMessage *msg, const HttpInPath *path, const char *type, json_t *data)
{
  HttpInRequest *req = g_object_new (HTTP_IN_TYPE_REQUEST, NULL);
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;
  char traceparent[EVB_TRACEPARENT_SIZE];
  g_autoptr (GError) error = NULL;
  const char *tracestate;
  GWeakRef *weak;

  req->owner = self;
  req->msg = g_object_ref (msg);
  req->type = g_strdup (type);
  req->reply = g_strdup (path->reply);
  req->timeout_ms = path->timeout_ms;
  choose_trace (req, msg, traceparent, &tracestate);
  /* The pending table owns the request from here on. */
  g_hash_table_add (self->pending, req);
  soup_server_message_pause (msg);
  req->finished_handler = g_signal_connect (msg, "finished", G_CALLBACK (on_finished), req);
  watch_hangup (req, self);
  /* "Run until idle" (evbus run --exit-when-idle, the harness) waits for
   * the answer. */
  evb_plugin_hold (self->plugin);
  req->held = TRUE;

  if (req->reply != NULL)
    {
      EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;

      spec.mode = EVB_MODE_SYNC;
      spec.pattern = req->reply;
      spec.handler = "reply";
      spec.func = on_reply;
      spec.user_data = req;
      spec.priority = OBSERVER_PRIORITY;
      req->reply_route = evb_plugin_subscribe (self->plugin, &spec, G_OBJECT (req), &error);
      if (req->reply_route == 0)
        {
          g_autofree char *message = g_strdup_printf ("cannot wait for %s: %s", req->reply, error->message);

          json_decref (data);
          request_refuse (req, SOUP_STATUS_INTERNAL_SERVER_ERROR, HTTP_IN_FAILED, message, NULL);
          return;
        }
      g_hash_table_insert (self->by_trace, req->trace_id, req);
      req->timeout_source = evb_plugin_add_timeout (self->plugin, req->timeout_ms, on_reply_timeout, req, NULL);
    }

  weak = g_new0 (GWeakRef, 1);
  g_weak_ref_init (weak, req);
  options.timeout_ms = self->emit_timeout_ms;
  options.traceparent = traceparent;
  options.tracestate = tracestate;
  options.receipt = on_receipt;
  options.receipt_data = weak;
  options.receipt_destroy = weak_ref_free;
  req->event_id = evb_plugin_emit_full (self->plugin, type, data, &options, &error);
  if (req->event_id == 0)
    {
      /* Its receipt (refused) comes later, from an idle source that a
       * flood of events would hold back: answer the refusal now, and let
       * the receipt find the request gone. */
      g_autofree char *message = g_strdup_printf ("the bus refused the event: %s", error->message);

      g_object_ref (req);
      refuse_retry_later (req, HTTP_IN_REFUSED, message);
      g_object_unref (req);
    }
}

void
http_in_requests_abandon (HttpIn *self)
{
  GHashTableIter iter;
  gpointer key;
  g_autoptr (GPtrArray) requests = g_ptr_array_new_with_free_func (g_object_unref);

  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (requests, g_object_ref (key));
  for (guint i = 0; i < requests->len; i++)
    {
      HttpInRequest *req = g_ptr_array_index (requests, i);

      refuse_retry_later (req, HTTP_IN_SHUTTING_DOWN, "the pipeline shut down before the request was answered");
      /* Answered or not, it no longer reaches the instance. */
      request_detach (req);
      req->owner = NULL;
    }
  g_hash_table_remove_all (self->pending);
}
