/* Helpers shared by the http-in and http-out tests: a harness bus with a
 * small linked-in "work" plugin, a libsoup client and a libsoup test
 * server that both run on the harness's own context (so waiting for a
 * reply is iterating the bus loop until it is there, bounded by a timeout).
 *
 * The tests see only sdk/ and load the built modules by path, as a plugin
 * author outside the tree would.  Loopback addresses and ports picked by
 * the kernel only. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <evbus/harness.h>
#include <libsoup/soup.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)

/* Generous: only a broken plugin ever waits this long. */
#define WAIT_MS 20000

#define assert_no_error(error) \
  do { if ((error) != NULL) fail_msg ("unexpected error: %s", (error)->message); } while (0)

/* ---- the "work" plugin ------------------------------------------------------
 *
 * ok      (sync)  returns CONTINUE: the receipt says done.
 * claim   (sync)  returns HANDLED.
 * fail    (sync)  fails with data.message (domain "work", code 7).
 * answer  (async) emits test.reply {"echo": data}; waits for the gate first
 *                 when data.block is true.
 * relay   (sync)  emits test.step {"message": data.message}.
 * spin    (sync)  while `spinning`, emits two more "spin" events: with a
 *                 small inbox under the reject policy that keeps it full. */

/* pthread, not GMutex: under ThreadSanitizer the project wraps GMutex calls
 * with helpers that live inside the host. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t opened;
  gboolean open;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, TRUE };

static gint spinning;

static inline void
gate_set (gboolean open)
{
  pthread_mutex_lock (&gate.lock);
  gate.open = open;
  pthread_cond_broadcast (&gate.opened);
  pthread_mutex_unlock (&gate.lock);
}

static EvbResult
work_ok (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static EvbResult
work_claim (EvbCall *call, const EvbEvent *event)
{
  return EVB_HANDLED;
}

static EvbResult
work_fail (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, "work", 7, "%s", json_string_value (json_object_get (event->data, "message")));
}

static EvbResult
work_answer (EvbCall *call, const EvbEvent *event)
{
  if (json_is_true (json_object_get (event->data, "block")))
    {
      pthread_mutex_lock (&gate.lock);
      while (!gate.open)
        pthread_cond_wait (&gate.opened, &gate.lock);
      pthread_mutex_unlock (&gate.lock);
    }
  if (!evb_call_emit (call, "test.reply", json_pack ("{s:O}", "echo", event->data), NULL))
    return evb_call_fail (call, "work", 3, "cannot emit test.reply");
  return EVB_CONTINUE;
}

static EvbResult
work_relay (EvbCall *call, const EvbEvent *event)
{
  if (!evb_call_emit (call, "test.step", json_pack ("{s:O?}", "message", json_object_get (event->data, "message")),
                      NULL))
    return evb_call_fail (call, "work", 3, "cannot emit test.step");
  return EVB_CONTINUE;
}

static EvbResult
work_spin (EvbCall *call, const EvbEvent *event)
{
  if (g_atomic_int_get (&spinning))
    for (guint i = 0; i < 2; i++)
      {
        GError *error = NULL;

        /* The second one is refused while the inbox is full: the point. */
        if (!evb_call_emit (call, "spin", NULL, &error))
          g_error_free (error);
      }
  return EVB_CONTINUE;
}

static const EvbHandlerInfo work_handlers[] = {
  EVB_HANDLER ("ok", work_ok, "Does nothing."),
  EVB_HANDLER ("claim", work_claim, "Returns HANDLED."),
  EVB_HANDLER ("fail", work_fail, "Fails with data.message."),
  EVB_HANDLER ("answer", work_answer, "Emits test.reply {echo: data}; waits for the gate with data.block."),
  EVB_HANDLER ("relay", work_relay, "Emits test.step {message: data.message}."),
  EVB_HANDLER ("spin", work_spin, "Keeps the inbox full while the test says so."),
  EVB_HANDLERS_END
};

EVB_PLUGIN_DEFINE_STATIC (work_descriptor, "work", "1.0", "Test workloads for the HTTP plugins.", work_handlers, NULL,
                          NULL, NULL);

/* ---- a bus ------------------------------------------------------------------ */

static inline EvbHarness *
harness_new_or_fail (const char *settings_json)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = settings_json != NULL ? evb_harness_new_with_settings (settings_json, &error)
                                              : evb_harness_new ();

  assert_no_error (error);
  if (!evb_harness_add_plugin (harness, "work", &work_descriptor, NULL, &error))
    fail_msg ("work plugin: %s", error->message);
  return harness;
}

static inline guint64
add_route_or_fail (EvbHarness *harness, const char *pattern, const char *handler, const char *options_json)
{
  g_autoptr (GError) error = NULL;
  guint64 id = evb_harness_add_route (harness, pattern, handler, options_json, &error);

  if (id == 0)
    fail_msg ("route %s -> %s: %s", pattern, handler, error->message);
  return id;
}

static inline void
run_until_count_or_fail (EvbHarness *harness, const char *pattern, guint count)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_count (harness, pattern, count, WAIT_MS, &error))
    fail_msg ("waiting for %u x %s: %s", count, pattern, error->message);
}

static inline void
run_until_idle_or_fail (EvbHarness *harness)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_idle (harness, WAIT_MS, &error))
    fail_msg ("bus not idle: %s", error->message);
}

static inline void
run_until_or_fail (EvbHarness *harness, EvbHarnessCondition condition, gpointer data, const char *what)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until (harness, condition, data, WAIT_MS, &error))
    fail_msg ("waiting for %s: %s", what, error->message);
}

static inline guint
route_count (EvbHarness *harness)
{
  g_autoptr (json_t) stats = evb_harness_stats (harness);

  return (guint) json_array_size (json_object_get (stats, "routes"));
}

static inline json_t *
parse_json (const char *text)
{
  json_error_t parse_error;
  json_t *json = json_loads (text, JSON_DECODE_ANY, &parse_error);

  if (json == NULL)
    fail_msg ("not JSON (%s): %s", parse_error.text, text);
  return json;
}

/* Compares as canonical text (sorted keys), so a failure shows both sides. */
static inline void
assert_json_equal (json_t *actual, const char *expected_text)
{
  g_autoptr (json_t) expected = parse_json (expected_text);
  char *actual_dump = json_dumps (actual, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
  char *expected_dump = json_dumps (expected, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);

  assert_string_equal (actual_dump, expected_dump);
  free (actual_dump);
  free (expected_dump);
}

/* ---- an HTTP client on the harness's context ---------------------------- */

typedef struct {
  SoupMessage *msg;
  gboolean done;
  guint status;
  char *body;
  GError *error;
} Reply;

static inline void
reply_free (Reply *reply)
{
  g_clear_object (&reply->msg);
  g_clear_error (&reply->error);
  g_free (reply->body);
  g_free (reply);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Reply, reply_free)

static inline void
reply_arrived (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Reply *reply = user_data;
  GBytes *bytes = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &reply->error);

  if (bytes != NULL)
    {
      reply->body = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
      g_bytes_unref (bytes);
    }
  reply->status = soup_message_get_status (reply->msg);
  reply->done = TRUE;
}

static inline gboolean
reply_done (EvbHarness *harness, gpointer user_data)
{
  return ((Reply *) user_data)->done;
}

static inline SoupSession *
session_new (void)
{
  SoupSession *session = soup_session_new_with_options ("max-conns-per-host", 16, "max-conns", 32, NULL);

  /* No proxy from the environment between the test and the server. */
  soup_session_set_proxy_resolver (session, NULL);
  return session;
}

/* Starts @method @url with @body (NULL: none) of @content_type and extra
 * headers ("Name: value", NULL-terminated); does not wait. */
static inline Reply *
http_start (SoupSession *session, const char *method, const char *url, const char *content_type, const char *body,
            const char *const *headers)
{
  Reply *reply = g_new0 (Reply, 1);

  reply->msg = soup_message_new (method, url);
  if (reply->msg == NULL)
    fail_msg ("bad test URL %s", url);
  for (guint i = 0; headers != NULL && headers[i] != NULL; i++)
    {
      const char *colon = strchr (headers[i], ':');
      g_autofree char *name = g_strndup (headers[i], (gsize) (colon - headers[i]));

      soup_message_headers_replace (soup_message_get_request_headers (reply->msg), name, colon + 2);
    }
  if (body != NULL)
    {
      g_autoptr (GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (reply->msg, content_type, bytes);
    }
  soup_session_send_and_read_async (session, reply->msg, G_PRIORITY_DEFAULT, NULL, reply_arrived, reply);
  return reply;
}

static inline Reply *
http_wait (EvbHarness *harness, Reply *reply)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until (harness, reply_done, reply, WAIT_MS, &error))
    fail_msg ("no reply: %s", error->message);
  if (reply->error != NULL)
    fail_msg ("request failed: %s", reply->error->message);
  return reply;
}

static inline const char *
reply_header (Reply *reply, const char *name)
{
  return soup_message_headers_get_one (soup_message_get_response_headers (reply->msg), name);
}

static inline json_t *
reply_json (Reply *reply)
{
  assert_non_null (reply->body);
  assert_string_equal (reply_header (reply, "Content-Type"), "application/json");
  return parse_json (reply->body);
}

/* ---- a test HTTP server (for http-out) ---------------------------------- */

/* One scripted answer: status, then optional Retry-After and body.  A
 * status of 0 means "never answer" (the message stays paused). */
typedef struct {
  guint status;
  const char *retry_after;
  const char *content_type;
  const char *body;
} Scripted;

typedef struct {
  gint64 time_us;   /* monotonic, at arrival */
  char *method;
  char *path;
  char *query;
  char *body;
  SoupMessageHeaders *headers;
} Seen;

typedef struct {
  SoupServer *server;
  guint port;
  GArray *script;    /* Scripted, one per request in order; then the last repeats */
  GPtrArray *seen;   /* Seen * */
  GPtrArray *paused; /* SoupServerMessage * left unanswered */
  guint in_progress; /* paused now */
  guint max_in_progress;
} TestServer;

static inline void
seen_free (gpointer data)
{
  Seen *seen = data;

  g_free (seen->method);
  g_free (seen->path);
  g_free (seen->query);
  g_free (seen->body);
  soup_message_headers_unref (seen->headers);
  g_free (seen);
}

static inline void
test_server_handle (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                    gpointer user_data)
{
  TestServer *test = user_data;
  Seen *seen = g_new0 (Seen, 1);
  g_autoptr (GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  const Scripted *answer;
  guint index;

  seen->time_us = g_get_monotonic_time ();
  seen->method = g_strdup (soup_server_message_get_method (msg));
  /* As sent, percent-encoding included (libsoup hands handlers the
   * decoded path). */
  seen->path = g_strdup (g_uri_get_path (soup_server_message_get_uri (msg)));
  seen->query = g_strdup (g_uri_get_query (soup_server_message_get_uri (msg)));
  seen->body = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  seen->headers = soup_message_headers_ref (soup_server_message_get_request_headers (msg));
  g_ptr_array_add (test->seen, seen);

  index = MIN (test->seen->len - 1, test->script->len - 1);
  answer = &g_array_index (test->script, Scripted, index);
  if (answer->status == 0)
    {
      soup_server_message_pause (msg);
      g_ptr_array_add (test->paused, g_object_ref (msg));
      test->in_progress++;
      test->max_in_progress = MAX (test->max_in_progress, test->in_progress);
      return;
    }
  soup_server_message_set_status (msg, answer->status, NULL);
  if (answer->retry_after != NULL)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After", answer->retry_after);
  if (answer->body != NULL)
    soup_server_message_set_response (msg, answer->content_type != NULL ? answer->content_type : "application/json",
                                      SOUP_MEMORY_COPY, answer->body, strlen (answer->body));
}

/* A server on 127.0.0.1:<free port> answering with @script (@n entries). */
static inline TestServer *
test_server_new (const Scripted *script, guint n)
{
  TestServer *test = g_new0 (TestServer, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  GSList *listeners;

  test->script = g_array_new (FALSE, FALSE, sizeof (Scripted));
  g_array_append_vals (test->script, script, n);
  test->seen = g_ptr_array_new_with_free_func (seen_free);
  test->paused = g_ptr_array_new ();
  test->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (test->server, NULL, test_server_handle, test, NULL);
  if (!soup_server_listen (test->server, address, 0, &error))
    fail_msg ("test server: %s", error->message);
  listeners = soup_server_get_listeners (test->server);
  bound = g_socket_get_local_address (listeners->data, NULL);
  test->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_slist_free (listeners);
  return test;
}

/* Answers every paused request with 200. */
static inline void
test_server_release (TestServer *test)
{
  for (guint i = 0; i < test->paused->len; i++)
    {
      SoupServerMessage *msg = g_ptr_array_index (test->paused, i);

      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_unpause (msg);
      g_object_unref (msg);
    }
  test->in_progress -= test->paused->len;
  g_ptr_array_set_size (test->paused, 0);
}

static inline void
test_server_free (TestServer *test)
{
  test_server_release (test);
  soup_server_disconnect (test->server);
  g_object_unref (test->server);
  g_ptr_array_unref (test->paused);
  g_ptr_array_unref (test->seen);
  g_array_unref (test->script);
  g_free (test);
}

static inline Seen *
test_server_seen (TestServer *test, guint index)
{
  assert_true (index < test->seen->len);
  return g_ptr_array_index (test->seen, index);
}

/* A loopback port nobody listens on: bound, then closed. */
static inline guint
closed_port (void)
{
  g_autoptr (GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  assert_true (g_socket_bind (socket, address, FALSE, NULL));
  bound = g_socket_get_local_address (socket, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}
