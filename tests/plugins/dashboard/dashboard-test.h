/* Helpers shared by the dashboard tests: a harness with the built dashboard
 * module and a small linked-in "work" plugin, and a libsoup client that runs
 * on the harness's own context (so waiting for a reply is iterating the bus
 * loop until the reply is there, bounded by a timeout).
 *
 * The tests see only sdk/ and load the module by path, as a plugin author
 * outside the tree would. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
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
 * run   (async) data {"fail": "message"} fails with that message (domain
 *       "work", code 7); {"block": true} waits until the test opens the gate.
 * fail  (sync)  fails with data.message.
 * spin  (sync)  while `spinning`, emits two more "spin" events: with a
 *       small inbox under the reject policy that keeps it full.
 * note  (sync)  does nothing.
 * health (sync or async) says data.reason with evb_plugin_set_health
 *       (null: healthy again). */

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
work_run (EvbCall *call, const EvbEvent *event)
{
  const char *message = json_string_value (json_object_get (event->data, "fail"));

  if (json_is_true (json_object_get (event->data, "block")))
    {
      pthread_mutex_lock (&gate.lock);
      while (!gate.open)
        pthread_cond_wait (&gate.opened, &gate.lock);
      pthread_mutex_unlock (&gate.lock);
    }
  if (message != NULL)
    return evb_call_fail (call, "work", 7, "%s", message);
  return EVB_CONTINUE;
}

static EvbResult
work_fail (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, "work", 9, "%s", json_string_value (json_object_get (event->data, "message")));
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

static EvbResult
work_note (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

/* Emits data.next {"fail": data.then_fail}: a trace of two events. */
static EvbResult
work_relay (EvbCall *call, const EvbEvent *event)
{
  const char *next = json_string_value (json_object_get (event->data, "next"));
  json_t *then_fail = json_object_get (event->data, "then_fail");
  json_t *data = json_object ();

  if (then_fail != NULL)
    json_object_set (data, "fail", then_fail);
  if (next == NULL || !evb_call_emit (call, next, data, NULL))
    return evb_call_fail (call, "work", 3, "cannot emit data.next");
  return EVB_CONTINUE;
}

static EvbResult
work_health (EvbCall *call, const EvbEvent *event)
{
  evb_plugin_set_health (call->plugin, json_string_value (json_object_get (event->data, "reason")));
  return EVB_CONTINUE;
}

static const EvbHandlerInfo work_handlers[] = {
  EVB_HANDLER ("run", work_run, "Fails with data.fail; waits for the test's gate with data.block."),
  EVB_HANDLER ("fail", work_fail, "Always fails with data.message."),
  EVB_HANDLER ("spin", work_spin, "Keeps the inbox full while the test says so."),
  EVB_HANDLER ("note", work_note, "Does nothing."),
  EVB_HANDLER ("relay", work_relay, "Emits data.next with data.then_fail as its data.fail."),
  EVB_HANDLER ("health", work_health, "Says data.reason (null: healthy) with evb_plugin_set_health."),
  EVB_HANDLERS_END
};

EVB_PLUGIN_DEFINE_STATIC (work_descriptor, "work", "1.0", "Test workloads for the dashboard.", work_handlers, NULL,
                          NULL, NULL);

/* ---- a bus with the dashboard ------------------------------------------- */

typedef struct {
  EvbHarness *harness;
  SoupSession *session;
  char *url;  /* "http://127.0.0.1:<port>/" from dashboard.ready */
  guint port;
} Dash;

static inline void
dash_add_route (Dash *dash, const char *pattern, const char *handler, const char *options_json)
{
  g_autoptr (GError) error = NULL;

  if (evb_harness_add_route (dash->harness, pattern, handler, options_json, &error) == 0)
    fail_msg ("route %s -> %s: %s", pattern, handler, error->message);
}

static inline void
dash_emit (Dash *dash, const char *type, const char *data_json)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_emit (dash->harness, type, data_json, &error))
    fail_msg ("emit %s: %s", type, error->message);
}

static inline void
dash_run_until_idle (Dash *dash)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_idle (dash->harness, WAIT_MS, &error))
    fail_msg ("bus not idle: %s", error->message);
}

static inline void
dash_run_until_count (Dash *dash, const char *pattern, guint count)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_count (dash->harness, pattern, count, WAIT_MS, &error))
    fail_msg ("waiting for %u x %s: %s", count, pattern, error->message);
}

/* A harness (@settings_json or defaults), the work plugin and a dashboard
 * with @config_json, listening on a free port; waits for dashboard.ready. */
static inline Dash *
dash_start (const char *settings_json, const char *config_json)
{
  g_autoptr (GError) error = NULL;
  Dash *dash = g_new0 (Dash, 1);
  const EvbEvent *ready;
  const char *url;
  const char *port;

  dash->harness = settings_json != NULL ? evb_harness_new_with_settings (settings_json, &error)
                                        : evb_harness_new ();
  assert_no_error (error);
  if (!evb_harness_add_plugin (dash->harness, "work", &work_descriptor, NULL, &error))
    fail_msg ("work plugin: %s", error->message);
  if (!evb_harness_add_plugin_file (dash->harness, "dashboard", DASHBOARD_PLUGIN, config_json, &error))
    fail_msg ("dashboard plugin: %s", error->message);
  dash_run_until_count (dash, "dashboard.ready", 1);
  ready = evb_harness_find (dash->harness, "dashboard.ready", 0);
  assert_string_equal (ready->source, "dashboard");
  url = json_string_value (json_object_get (ready->data, "url"));
  assert_non_null (url);
  port = strrchr (url, ':');
  assert_non_null (port);
  dash->port = (guint) g_ascii_strtoull (port + 1, NULL, 10);
  assert_true (dash->port > 0 && dash->port < 65536);
  dash->url = g_strdup (url);
  /* No proxy from the environment between the test and the dashboard. */
  /* Room for open /events streams besides ordinary requests. */
  dash->session = soup_session_new_with_options ("max-conns-per-host", 16, "max-conns", 32, NULL);
  soup_session_set_proxy_resolver (dash->session, NULL);
  return dash;
}

static inline void
dash_stop (Dash *dash)
{
  g_clear_object (&dash->session);
  evb_harness_free (dash->harness);
  g_free (dash->url);
  g_free (dash);
}

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct {
  SoupMessage *msg;
  gboolean done;
  guint status;
  char *body;
  gsize length;
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
      reply->length = g_bytes_get_size (bytes);
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

/* Starts @method @path (relative to the dashboard's URL) with an optional
 * extra header ("Name: value"); does not wait. */
static inline Reply *
http_start (Dash *dash, const char *method, const char *path, const char *header)
{
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u%s", dash->port, path);
  Reply *reply = g_new0 (Reply, 1);

  reply->msg = soup_message_new (method, uri);
  assert_non_null (reply->msg);
  if (header != NULL)
    {
      const char *colon = strchr (header, ':');
      g_autofree char *name = g_strndup (header, (gsize) (colon - header));

      soup_message_headers_replace (soup_message_get_request_headers (reply->msg), name, colon + 2);
    }
  soup_session_send_and_read_async (dash->session, reply->msg, G_PRIORITY_DEFAULT, NULL, reply_arrived, reply);
  return reply;
}

/* @method @path, iterating the bus loop until the reply is complete. */
static inline Reply *
http_request (Dash *dash, const char *method, const char *path, const char *header)
{
  g_autoptr (GError) error = NULL;
  Reply *reply = http_start (dash, method, path, header);

  if (!evb_harness_run_until (dash->harness, reply_done, reply, WAIT_MS, &error))
    fail_msg ("%s %s: no reply: %s", method, path, error->message);
  if (reply->error != NULL)
    fail_msg ("%s %s: %s", method, path, reply->error->message);
  return reply;
}

static inline Reply *
http_get (Dash *dash, const char *path)
{
  return http_request (dash, "GET", path, NULL);
}

static inline const char *
reply_header (Reply *reply, const char *name)
{
  return soup_message_headers_get_one (soup_message_get_response_headers (reply->msg), name);
}

static inline json_t *
get_snapshot (Dash *dash)
{
  g_autoptr (Reply) reply = http_get (dash, "/api/v1/snapshot");
  json_error_t parse_error;
  json_t *snapshot;

  assert_int_equal (reply->status, 200);
  assert_string_equal (reply_header (reply, "Content-Type"), "application/json");
  snapshot = json_loads (reply->body, 0, &parse_error);
  if (snapshot == NULL)
    fail_msg ("snapshot is not JSON: %s: %s", parse_error.text, reply->body);
  return snapshot;
}

/* The snapshot's route whose handler label is @handler. */
static inline json_t *
route_by_handler (json_t *snapshot, const char *handler)
{
  gsize i;
  json_t *route;

  json_array_foreach (json_object_get (snapshot, "routes"), i, route)
    if (g_strcmp0 (json_string_value (json_object_get (route, "handler")), handler) == 0)
      return route;
  fail_msg ("no route with handler %s in the snapshot", handler);
  return NULL;
}

static inline json_int_t
json_path_int (json_t *root, const char *first, ...)
{
  va_list args;
  const char *key = first;
  json_t *node = root;

  va_start (args, first);
  while (key != NULL)
    {
      node = json_object_get (node, key);
      key = va_arg (args, const char *);
    }
  va_end (args);
  if (!json_is_integer (node))
    fail_msg ("%s...: not an integer", first);
  return json_integer_value (node);
}
