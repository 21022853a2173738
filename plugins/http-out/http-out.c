/* http-out — calls an HTTP service for each event (libsoup-3 client).
 *
 * Handler "send" (async: it blocks on the network): builds the request
 * from the event — method, URL template filled from its fields, headers
 * (literal, or from environment variables), the event's data (or one
 * field) as a JSON body, and a `traceparent` whose parent is the event —
 * and sends it, retrying connection errors, timeouts, 408, 429 and 5xx with
 * exponential back-off and jitter (or the server's Retry-After).  On a
 * 2xx it may emit the response as an event in the same trace; after the
 * last attempt (or on another 4xx at once) it fails with the status as the
 * error code and a message that names the attempts and shows the start of
 * the response body, and may emit a structured failure event first.
 *
 * Threads: each worker thread that runs the handler gets its own
 * SoupSession and GMainContext (kept in a GPrivate, freed when the thread
 * ends), and runs each attempt as libsoup's async send on that context,
 * iterated right there until it ends, with the attempt's timeout and a
 * look at the job's cancellation as sources on the same context.  Nothing
 * of libsoup or of a main context is shared between threads: a session
 * shared by the workers would synchronise inside libsoup and GLib, where
 * ThreadSanitizer cannot see it.  Connections are kept per thread.  At
 * most max_in_flight requests are on the wire at once; more jobs wait for
 * a slot (and give up when cancelled).  Manual: docs/plugins/http-out.md. */
#include "http-out-private.h"

#include <stdlib.h>
#include <string.h>

#define BODY_EXCERPT_BYTES 200

typedef struct {
  EvbPlugin *plugin;
  guint64 serial;          /* this instance among all, for the threads' sessions */
  gboolean use_proxy;
  HttpOutTemplate *url;
  char *method;
  char *body_field;        /* NULL: the whole data */
  GPtrArray *header_names;
  GPtrArray *header_values;
  guint timeout_ms;
  HttpOutRetryPolicy retry;
  char *response_type;     /* NULL: no response event */
  char *failure_type;      /* NULL: no structured failure event */
  gsize max_response_bytes;

  GMutex lock;
  GCond slot_freed;
  guint in_flight;
  guint max_in_flight;
} HttpOut;

static GQuark
http_out_quark (void)
{
  return g_quark_from_string (HTTP_OUT_DOMAIN);
}

/* ---- the in-flight cap ---------------------------------------------------- */

/* Waits for a slot; FALSE when the job was cancelled meanwhile.  Wakes at
 * least every 50 ms to look at the job's cancellation flag: the host
 * cancels through its own condition, which this wait cannot see. */
static gboolean
slot_acquire (HttpOut *self, EvbCall *call)
{
  gboolean acquired = FALSE;

  g_mutex_lock (&self->lock);
  for (;;)
    {
      if (self->in_flight < self->max_in_flight)
        {
          self->in_flight++;
          acquired = TRUE;
          break;
        }
      if (evb_call_is_cancelled (call))
        break;
      g_cond_wait_until (&self->slot_freed, &self->lock, g_get_monotonic_time () + 50 * G_TIME_SPAN_MILLISECOND);
    }
  g_mutex_unlock (&self->lock);
  return acquired;
}

static void
slot_release (HttpOut *self)
{
  g_mutex_lock (&self->lock);
  self->in_flight--;
  g_cond_signal (&self->slot_freed);
  g_mutex_unlock (&self->lock);
}

/* ---- one attempt ------------------------------------------------------------ */

/* What a worker thread keeps: its context and one session per instance. */
typedef struct {
  GMainContext *context;
  GHashTable *sessions; /* &serial -> SoupSession */
} ThreadState;

static void
thread_state_free (gpointer data)
{
  ThreadState *state = data;

  g_main_context_push_thread_default (state->context);
  g_hash_table_unref (state->sessions);
  g_main_context_pop_thread_default (state->context);
  g_main_context_unref (state->context);
  g_free (state);
}

static GPrivate thread_state_key = G_PRIVATE_INIT (thread_state_free);
static gint next_serial = 1;

/* The calling thread's session for @self, made on first use; call with
 * the thread's context pushed. */
static SoupSession *
thread_session (HttpOut *self, ThreadState *state)
{
  SoupSession *session = g_hash_table_lookup (state->sessions, &self->serial);
  guint64 *key;

  if (session != NULL)
    return session;
  session = soup_session_new_with_options ("max-conns", (int) self->max_in_flight * 2,
                                           "max-conns-per-host", (int) self->max_in_flight,
                                           "user-agent", "evbus-http-out/1.0 ", NULL);
  /* No proxy unless asked: a pipeline calls what its config names. */
  if (!self->use_proxy)
    soup_session_set_proxy_resolver (session, NULL);
  key = g_new (guint64, 1);
  *key = self->serial;
  g_hash_table_insert (state->sessions, key, session);
  return session;
}

static ThreadState *
thread_state (void)
{
  ThreadState *state = g_private_get (&thread_state_key);

  if (state == NULL)
    {
      state = g_new0 (ThreadState, 1);
      state->context = g_main_context_new ();
      state->sessions = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
      g_private_set (&thread_state_key, state);
    }
  return state;
}

typedef struct {
  EvbCall *call;
  GCancellable *cancellable;
  gboolean timed_out;
  gboolean cancelled;
  gboolean done;
  GBytes *response;
  GError *error;
} Attempt;

static gboolean
attempt_timed_out (gpointer user_data)
{
  Attempt *attempt = user_data;

  attempt->timed_out = TRUE;
  g_cancellable_cancel (attempt->cancellable);
  return G_SOURCE_REMOVE;
}

/* The host cancels a job (route timeout, unsubscribe, shutdown) through
 * a flag: looked at every 100 ms while the attempt runs. */
static gboolean
attempt_check_cancelled (gpointer user_data)
{
  Attempt *attempt = user_data;

  if (!evb_call_is_cancelled (attempt->call))
    return G_SOURCE_CONTINUE;
  attempt->cancelled = TRUE;
  g_cancellable_cancel (attempt->cancellable);
  return G_SOURCE_REMOVE;
}

static void
attempt_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Attempt *attempt = user_data;

  attempt->response = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &attempt->error);
  attempt->done = TRUE;
}

static GSource *
attach_timeout (GMainContext *context, guint ms, GSourceFunc func, gpointer data)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, context);
  return source;
}

/* Sends once, within timeout_ms, on this thread.  Returns the response
 * body (NULL with @error on a transport error, a timeout or a cancel). */
static GBytes *
send_once (HttpOut *self, EvbCall *call, SoupMessage *msg, GError **error)
{
  ThreadState *state = thread_state ();
  Attempt attempt = { call, g_cancellable_new (), FALSE, FALSE, FALSE, NULL, NULL };
  GSource *timeout;
  GSource *watch;

  g_main_context_push_thread_default (state->context);
  timeout = attach_timeout (state->context, self->timeout_ms, attempt_timed_out, &attempt);
  watch = attach_timeout (state->context, 100, attempt_check_cancelled, &attempt);
  soup_session_send_and_read_async (thread_session (self, state), msg, G_PRIORITY_DEFAULT, attempt.cancellable,
                                    attempt_done, &attempt);
  while (!attempt.done)
    g_main_context_iteration (state->context, TRUE);
  g_source_destroy (timeout);
  g_source_unref (timeout);
  g_source_destroy (watch);
  g_source_unref (watch);
  g_main_context_pop_thread_default (state->context);
  g_object_unref (attempt.cancellable);

  if (attempt.response == NULL && attempt.timed_out)
    {
      g_clear_error (&attempt.error);
      g_set_error (&attempt.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no response within %u ms (timeout_ms)",
                   self->timeout_ms);
    }
  else if (attempt.response == NULL && attempt.cancelled)
    {
      g_clear_error (&attempt.error);
      g_set_error (&attempt.error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the job was cancelled during the request");
    }
  if (attempt.error != NULL)
    g_propagate_error (error, attempt.error);
  return attempt.response;
}

static SoupMessage *
build_message (HttpOut *self, const EvbEvent *event, const char *url, GBytes *body)
{
  SoupMessage *msg = soup_message_new (self->method, url);
  SoupMessageHeaders *headers;
  char traceparent[EVB_TRACEPARENT_SIZE];

  if (msg == NULL)
    return NULL;
  /* libsoup sends a POST (any method it does not know to be idempotent) on
   * a new connection, a TCP handshake per call, unless told otherwise.
   * http-out resends after a connection error or a timeout anyway, so its
   * receivers already take a request twice: reusing kept-alive connections
   * adds no new repeat. */
  soup_message_add_flags (msg, SOUP_MESSAGE_IDEMPOTENT);
  headers = soup_message_get_request_headers (msg);
  for (guint i = 0; i < self->header_names->len; i++)
    soup_message_headers_replace (headers, g_ptr_array_index (self->header_names, i),
                                  g_ptr_array_index (self->header_values, i));
  if (EVB_EVENT_HAS (event, trace_id_low))
    {
      evb_event_format_traceparent (event, traceparent);
      soup_message_headers_replace (headers, "traceparent", traceparent);
      if (event->tracestate != NULL)
        soup_message_headers_replace (headers, "tracestate", event->tracestate);
    }
  if (body != NULL)
    soup_message_set_request_body_from_bytes (msg, "application/json", body);
  return msg;
}

/* ---- what comes back -------------------------------------------------------- */

static gboolean
is_json_response (SoupMessage *msg)
{
  const char *type = soup_message_headers_get_content_type (soup_message_get_response_headers (msg), NULL);

  return type != NULL && (g_ascii_strcasecmp (type, "application/json") == 0 || g_str_has_suffix (type, "+json"));
}

/* The body as JSON when it says it is and parses, else as text (invalid
 * UTF-8 replaced), cut at max_response_bytes. */
static json_t *
body_to_json (HttpOut *self, SoupMessage *msg, GBytes *body, gboolean *truncated)
{
  gsize size = g_bytes_get_size (body);
  const char *data = g_bytes_get_data (body, NULL);
  g_autofree char *text = NULL;

  *truncated = size > self->max_response_bytes;
  if (!*truncated && is_json_response (msg))
    {
      json_t *parsed = json_loadb (data, size, JSON_DECODE_ANY, NULL);

      if (parsed != NULL)
        return parsed;
    }
  text = g_utf8_make_valid (data != NULL ? data : "", (gssize) MIN (size, self->max_response_bytes));
  return json_string (text);
}

static void
add_header (const char *name, const char *value, gpointer user_data)
{
  g_autofree char *key = g_ascii_strdown (name, -1);

  json_object_set_new (user_data, key, json_string (value));
}

static EvbResult
emit_response (HttpOut *self, EvbCall *call, const EvbEvent *event, SoupMessage *msg, GBytes *body,
               const char *url, guint attempts)
{
  g_autoptr (GError) error = NULL;
  json_t *headers = json_object ();
  json_t *request_id = json_object_get (event->data, "request_id");
  gboolean truncated = FALSE;
  json_t *body_json = body_to_json (self, msg, body, &truncated);
  json_t *data;

  soup_message_headers_foreach (soup_message_get_response_headers (msg), add_header, headers);
  data = json_pack ("{s:i, s:s, s:o, s:o, s:b, s:s, s:s, s:i}", "status", (int) soup_message_get_status (msg),
                    "reason", soup_message_get_reason_phrase (msg) != NULL ? soup_message_get_reason_phrase (msg) : "",
                    "headers", headers, "body", body_json, "body_truncated", truncated,
                    "url", url, "method", self->method, "attempts", (int) attempts);
  if (request_id != NULL)
    json_object_set (data, "request_id", request_id);
  if (!evb_call_emit (call, self->response_type, data, &error))
    return evb_call_fail (call, HTTP_OUT_DOMAIN, 503, "%s not emitted: %s", self->response_type, error->message);
  return EVB_CONTINUE;
}

/* After the last attempt: the structured failure event (if asked for),
 * then the handler's failure, whose code is the status (0: no response). */
static EvbResult
fail_after (HttpOut *self, EvbCall *call, const EvbEvent *event, const char *url, guint attempts, guint status,
            const char *reason, GBytes *body, const GError *transport)
{
  g_autofree char *excerpt = NULL;
  g_autofree char *what = NULL;

  if (body != NULL)
    {
      gsize size = g_bytes_get_size (body);

      excerpt = g_utf8_make_valid (g_bytes_get_data (body, NULL) != NULL ? g_bytes_get_data (body, NULL) : "",
                                   (gssize) MIN (size, BODY_EXCERPT_BYTES));
      g_strstrip (excerpt);
    }
  what = transport != NULL ? g_strdup (transport->message) : g_strdup_printf ("%u %s", status, reason);
  if (self->failure_type != NULL)
    {
      json_t *data = json_pack ("{s:s, s:s, s:i, s:s, s:s?, s:i, s:I}", "url", url, "method", self->method, "status",
                                (int) status, "error", what, "body_excerpt", excerpt, "attempts", (int) attempts,
                                "event_id", (json_int_t) event->id);
      json_t *request_id = json_object_get (event->data, "request_id");

      if (request_id != NULL)
        json_object_set (data, "request_id", request_id);
      /* The failure below is what counts; this one is best effort. */
      evb_call_emit (call, self->failure_type, data, NULL);
    }
  return evb_call_fail (call, HTTP_OUT_DOMAIN, (gint) status, "%s %s: %s after %u attempt%s%s%s%s", self->method, url,
                        what, attempts, attempts == 1 ? "" : "s", excerpt != NULL && *excerpt != '\0' ? ": \"" : "",
                        excerpt != NULL && *excerpt != '\0' ? excerpt : "",
                        excerpt != NULL && *excerpt != '\0' ? "\"" : "");
}

/* ---- the handler ------------------------------------------------------------- */

static GBytes *
request_body (HttpOut *self, const EvbEvent *event, GError **error)
{
  json_t *value = event->data;
  char *text;

  if (strcmp (self->method, "GET") == 0 || strcmp (self->method, "HEAD") == 0 || strcmp (self->method, "DELETE") == 0)
    return NULL;
  if (self->body_field != NULL)
    {
      value = http_out_lookup (event->data, self->body_field);
      if (value == NULL)
        {
          g_set_error (error, http_out_quark (), HTTP_OUT_BAD_INPUT, "body: the event has no data.%s (body_field)",
                       self->body_field);
          return NULL;
        }
    }
  text = evb_json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
  return g_bytes_new_with_free_func (text, strlen (text), free, text);
}

static EvbResult
http_out_send (EvbCall *call, const EvbEvent *event)
{
  HttpOut *self = call->instance_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *url = http_out_template_expand (self->url, event, &error);
  g_autoptr (GBytes) body = NULL;

  if (url == NULL)
    return evb_call_fail (call, HTTP_OUT_DOMAIN, HTTP_OUT_BAD_INPUT, "%s", error->message);
  body = request_body (self, event, &error);
  if (error != NULL)
    return evb_call_fail (call, HTTP_OUT_DOMAIN, HTTP_OUT_BAD_INPUT, "%s", error->message);

  for (guint attempt = 1;; attempt++)
    {
      g_autoptr (SoupMessage) msg = build_message (self, event, url, body);
      g_autoptr (GBytes) response = NULL;
      g_autoptr (GError) send_error = NULL;
      gboolean retryable;
      gint64 wait_ms;
      guint status = 0;

      if (msg == NULL)
        return evb_call_fail (call, HTTP_OUT_DOMAIN, HTTP_OUT_BAD_INPUT, "url \"%s\" is not a valid URL", url);
      if (!slot_acquire (self, call))
        return evb_call_fail (call, HTTP_OUT_DOMAIN, HTTP_OUT_CANCELLED,
                              "%s %s: cancelled while waiting for a slot (max_in_flight %u) before attempt %u",
                              self->method, url, self->max_in_flight, attempt);
      response = send_once (self, call, msg, &send_error);
      slot_release (self);

      if (response != NULL)
        {
          status = soup_message_get_status (msg);
          if (SOUP_STATUS_IS_SUCCESSFUL (status))
            return self->response_type != NULL ? emit_response (self, call, event, msg, response, url, attempt)
                                               : EVB_CONTINUE;
          retryable = http_out_status_is_retryable (status);
        }
      else
        retryable = !g_error_matches (send_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

      if (!retryable || attempt > self->retry.retries)
        return fail_after (self, call, event, url, attempt, status,
                           response != NULL ? soup_message_get_reason_phrase (msg) : NULL, response,
                           response == NULL ? send_error : NULL);

      wait_ms = response != NULL
                  ? http_out_retry_after_ms (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                                           "Retry-After"),
                                             self->retry.retry_after_max_ms)
                  : -1;
      if (wait_ms < 0)
        wait_ms = http_out_backoff_ms (&self->retry, attempt);
      if (evb_call_wait (call, (guint) wait_ms))
        return evb_call_fail (call, HTTP_OUT_DOMAIN, HTTP_OUT_CANCELLED,
                              "%s %s: cancelled while waiting %" G_GINT64_FORMAT " ms to retry after attempt %u (%s)",
                              self->method, url, wait_ms, attempt,
                              response != NULL ? soup_message_get_reason_phrase (msg) : send_error->message);
    }
}

/* ---- init -------------------------------------------------------------------- */

static void
http_out_free (HttpOut *self)
{
  g_clear_pointer (&self->url, http_out_template_free);
  g_clear_pointer (&self->header_names, g_ptr_array_unref);
  g_clear_pointer (&self->header_values, g_ptr_array_unref);
  g_free (self->method);
  g_free (self->body_field);
  g_free (self->response_type);
  g_free (self->failure_type);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->slot_freed);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HttpOut, http_out_free)

static gboolean
header_name_is_valid (const char *name)
{
  if (*name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("!#$%&'*+-.^_`|~", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
header_value_is_valid (const char *value)
{
  return strpbrk (value, "\r\n") == NULL;
}

static gboolean
add_headers (HttpOut *self, json_t *headers, gboolean from_env, GError **error)
{
  const char *option = from_env ? "header_env" : "headers";
  const char *name;
  json_t *value;

  json_object_foreach (headers, name, value)
    {
      const char *text;

      if (!header_name_is_valid (name))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: \"%s\" is not a header name", option,
                       name);
          return FALSE;
        }
      if (!json_is_string (value))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s.%s: expected a string%s", option, name,
                       from_env ? " (the name of an environment variable)" : "");
          return FALSE;
        }
      text = json_string_value (value);
      if (from_env)
        {
          const char *variable = text;

          text = g_getenv (variable);
          if (text == NULL)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                           "header_env.%s: environment variable \"%s\" is not set", name, variable);
              return FALSE;
            }
        }
      if (!header_value_is_valid (text))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s.%s: the value holds a line break", option,
                       name);
          return FALSE;
        }
      g_ptr_array_add (self->header_names, g_strdup (name));
      g_ptr_array_add (self->header_values, g_strdup (text));
    }
  return TRUE;
}

static char *
event_type_option (EvbPlugin *plugin, const char *name, GError **error)
{
  const char *value = evb_plugin_get_string (plugin, name);

  if (*value == '\0')
    return NULL;
  if (!evb_type_is_valid (value) || evb_type_is_reserved (value))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%s: \"%s\" is not an event type a plugin may emit (dotted names of a-z 0-9 _ -, not under "
                   "\"evbus.\")",
                   name, value);
      return NULL;
    }
  return g_strdup (value);
}

/* Initialises, here on the main thread, the classes a send uses, so that
 * workers never run a class_init: GObject's type locks are GLib's own,
 * which ThreadSanitizer cannot see. */
static void
prepare_types (void)
{
  const GType types[] = {
    G_TYPE_SOCKET_CLIENT, G_TYPE_SOCKET, G_TYPE_TCP_CONNECTION, G_TYPE_SOCKET_CONNECTION, G_TYPE_NETWORK_ADDRESS,
    G_TYPE_INET_SOCKET_ADDRESS, G_TYPE_INET_ADDRESS, G_TYPE_TASK, G_TYPE_MEMORY_INPUT_STREAM,
    G_TYPE_MEMORY_OUTPUT_STREAM, G_TYPE_BUFFERED_INPUT_STREAM, G_TYPE_CONVERTER_INPUT_STREAM,
  };

  /* A session and a message make the classes they are built from. */
  g_object_unref (soup_session_new ());
  g_object_unref (soup_message_new ("GET", "http://127.0.0.1/"));
  g_object_unref (g_cancellable_new ());
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    g_type_class_unref (g_type_class_ref (types[i]));
}

static gboolean
http_out_init (EvbPlugin *plugin, GError **error)
{
  g_autoptr (HttpOut) self = g_new0 (HttpOut, 1);
  json_t *options = evb_plugin_get_options (plugin);
  const char *body_field = evb_plugin_get_string (plugin, "body_field");

  self->plugin = plugin;
  g_mutex_init (&self->lock);
  g_cond_init (&self->slot_freed);
  self->serial = (guint64) g_atomic_int_add (&next_serial, 1);
  self->use_proxy = evb_plugin_get_bool (plugin, "use_proxy");
  self->header_names = g_ptr_array_new_with_free_func (g_free);
  self->header_values = g_ptr_array_new_with_free_func (g_free);
  self->method = g_strdup (evb_plugin_get_string (plugin, "method"));
  self->body_field = *body_field != '\0' ? g_strdup (body_field) : NULL;
  self->timeout_ms = (guint) evb_plugin_get_int (plugin, "timeout_ms");
  self->retry.retries = (guint) evb_plugin_get_int (plugin, "retries");
  self->retry.backoff_ms = (guint) evb_plugin_get_int (plugin, "backoff_ms");
  self->retry.backoff_max_ms = (guint) evb_plugin_get_int (plugin, "backoff_max_ms");
  self->retry.jitter = evb_plugin_get_double (plugin, "jitter");
  self->retry.retry_after_max_ms = (guint) evb_plugin_get_int (plugin, "retry_after_max_ms");
  self->max_in_flight = (guint) evb_plugin_get_int (plugin, "max_in_flight");
  self->max_response_bytes = (gsize) evb_plugin_get_int (plugin, "max_response_bytes");

  self->url = http_out_template_new (evb_plugin_get_string (plugin, "url"), error);
  if (self->url == NULL)
    return FALSE;
  if (self->retry.backoff_max_ms < self->retry.backoff_ms)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "backoff_max_ms: %u is less than backoff_ms (%u)", self->retry.backoff_max_ms,
                   self->retry.backoff_ms);
      return FALSE;
    }
  if (!add_headers (self, json_object_get (options, "headers"), FALSE, error)
      || !add_headers (self, json_object_get (options, "header_env"), TRUE, error))
    return FALSE;
  self->response_type = event_type_option (plugin, "response_type", error);
  if (self->response_type == NULL && *evb_plugin_get_string (plugin, "response_type") != '\0')
    return FALSE;
  self->failure_type = event_type_option (plugin, "failure_type", error);
  if (self->failure_type == NULL && *evb_plugin_get_string (plugin, "failure_type") != '\0')
    return FALSE;

  prepare_types ();
  plugin->instance_data = g_steal_pointer (&self);
  return TRUE;
}

static void
http_out_shutdown (EvbPlugin *plugin)
{
  HttpOut *self = plugin->instance_data;

  plugin->instance_data = NULL;
  http_out_free (self);
}

static const EvbHandlerInfo handlers[] = {
  EVB_HANDLER_ASYNC ("send", http_out_send,
      "Sends a request built from the event (retrying connection errors, timeouts, 408, 429, 5xx); emits "
      "response_type on a 2xx; fails with the status (0: no response) after the last attempt."),
  EVB_HANDLERS_END
};

static const EvbOptionInfo options[] = {
  EVB_OPTION ("url", EVB_OPTION_STRING, NULL,
      "http:// or https:// URL; {data.<field>}, {type}, {id}, {trace_id} are filled from the event, percent-encoded"),
  EVB_OPTION_CHOICE ("method", "\"POST\"", EVB_CHOICES ("POST", "PUT", "PATCH", "GET", "DELETE", "HEAD"),
      "HTTP method; POST, PUT and PATCH send a body"),
  EVB_OPTION ("body_field", EVB_OPTION_STRING, "\"\"",
      "dotted path of the data field sent as the JSON body; \"\": the whole data"),
  EVB_OPTION ("headers", EVB_OPTION_OBJECT, "{}", "headers to send: {\"name\": \"value\"}"),
  EVB_OPTION ("header_env", EVB_OPTION_OBJECT, "{}",
      "headers whose values come from environment variables, read at load: {\"Authorization\": \"API_AUTH\"}; an "
      "unset variable is a load error"),
  EVB_OPTION_INT_RANGE ("timeout_ms", "10000", 1, 600000, "how long one attempt may take, connecting included"),
  EVB_OPTION_INT_RANGE ("retries", "3", 0, 100,
      "attempts after the first, on a connection error, a timeout, 408, 429 or 5xx"),
  EVB_OPTION_INT_RANGE ("backoff_ms", "200", 0, 600000, "wait before the first retry; doubles with each retry"),
  EVB_OPTION_INT_RANGE ("backoff_max_ms", "10000", 0, 3600000, "longest wait between attempts"),
  EVB_OPTION_DOUBLE_RANGE ("jitter", "0.5", 0.0, 1.0,
      "share of each wait taken off at random (0: exact; 0.5: between half and all of it)"),
  EVB_OPTION_INT_RANGE ("retry_after_max_ms", "60000", 0, 3600000,
      "a response's Retry-After (seconds or HTTP date) replaces the back-off, up to this"),
  EVB_OPTION_INT_RANGE ("max_in_flight", "16", 1, 10000,
      "requests of this instance on the wire at once; more jobs wait for a slot"),
  EVB_OPTION ("response_type", EVB_OPTION_STRING, "\"\"",
      "on a 2xx, emit this event in the same trace: {status, reason, headers, body (JSON or text), "
      "body_truncated, url, method, attempts, request_id?}; \"\": none"),
  EVB_OPTION ("failure_type", EVB_OPTION_STRING, "\"\"",
      "after the last attempt, also emit this event: {url, method, status, error, body_excerpt, attempts, "
      "event_id, request_id?}; \"\": none (the handler's failure event is always there)"),
  EVB_OPTION_INT_RANGE ("max_response_bytes", "1048576", 0, 1073741824,
      "response body kept in the response event; a longer one is cut (body_truncated: true)"),
  EVB_OPTION ("use_proxy", EVB_OPTION_BOOL, "false",
      "use the proxy settings of the environment (http_proxy, ...); off by default"),
  EVB_OPTIONS_END
};

EVB_PLUGIN_DEFINE ("http-out", "1.0", "Calls an HTTP service for each event, with retries, back-off and a cap on "
                   "requests in flight.",
                   handlers, options, http_out_init, http_out_shutdown);
