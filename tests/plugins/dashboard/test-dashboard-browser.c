/* The dashboard page in a real browser: headless Chromium opens it while a
 * pipeline runs, and the test reads the page's DOM to see the counts rise
 * live, a job in flight, a failure with its message, and the "disconnected"
 * banner once the bus is gone.  Screenshots go to the build folder
 * (dashboard.png, dashboard-disconnected.png).
 *
 * Chromium is driven over its DevTools pipe (--remote-debugging-pipe: JSON
 * messages ended by NUL on fds 3 and 4), read asynchronously on the bus's
 * own context: every wait is "iterate the loop until the page shows X",
 * bounded by a timeout.  --dump-dom cannot do this: it dumps at the load
 * event, and --virtual-time-budget never ends while an EventSource is open.
 *
 * Skipped only when /usr/bin/chromium is absent. */
#include "dashboard-test.h"
#include "temp-dir.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <glib-unix.h>
#include <gio/gunixinputstream.h>
#include <signal.h>
#include <unistd.h>

#define CHROMIUM "/usr/bin/chromium"

typedef struct {
  Dash *dash;
  GPid pid;
  gboolean exited;
  int to_browser;           /* our end of its fd 3 */
  GInputStream *from_browser; /* its fd 4 */
  GCancellable *cancellable;
  GByteArray *incoming;
  GHashTable *replies;      /* id -> json_t reply */
  guint next_id;
  gboolean read_failed;
  char *session;            /* flattened session of the page target */
  char *profile;            /* fresh --user-data-dir */
} Browser;

static void browser_read_next (Browser *browser);

static void
browser_chunk (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Browser *browser = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  guint8 *end;

  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    {
      browser->read_failed = TRUE;
      return;
    }
  g_byte_array_append (browser->incoming, g_bytes_get_data (bytes, NULL), (guint) g_bytes_get_size (bytes));
  /* One JSON message per NUL-terminated record; keep replies, drop events. */
  while ((end = memchr (browser->incoming->data, '\0', browser->incoming->len)) != NULL)
    {
      gsize length = (gsize) (end - browser->incoming->data);
      json_t *message = json_loadb ((const char *) browser->incoming->data, length, 0, NULL);

      g_byte_array_remove_range (browser->incoming, 0, (guint) length + 1);
      if (message != NULL && json_is_integer (json_object_get (message, "id")))
        g_hash_table_insert (browser->replies, GUINT_TO_POINTER ((guint) json_integer_value (json_object_get (message, "id"))),
                             message);
      else if (message != NULL)
        json_decref (message);
    }
  browser_read_next (browser);
}

static void
browser_read_next (Browser *browser)
{
  g_input_stream_read_bytes_async (browser->from_browser, 65536, G_PRIORITY_DEFAULT, browser->cancellable,
                                   browser_chunk, browser);
}

static void
browser_exited (GPid pid, gint status, gpointer user_data)
{
  ((Browser *) user_data)->exited = TRUE;
}

static Browser *
browser_start (Dash *dash)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *log_path = g_build_filename (DASHBOARD_SCREENSHOT_DIR, "dashboard-chromium.log", NULL);
  g_autofree char *profile_arg = NULL;
  Browser *browser = g_new0 (Browser, 1);
  int to_browser[2];
  int from_browser[2];
  int log_fd;
  GSource *watch;

  browser->dash = dash;
  browser->profile = g_dir_make_tmp ("evbus-dashboard-chromium-XXXXXX", &error);
  assert_no_error (error);
  profile_arg = g_strdup_printf ("--user-data-dir=%s", browser->profile);
  {
    const char *argv[] = {
      CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", profile_arg,
      "--remote-debugging-pipe", "--window-size=1280,900", "--hide-scrollbars", "about:blank", NULL,
    };

    assert_true (g_unix_open_pipe (to_browser, FD_CLOEXEC, &error));
    assert_true (g_unix_open_pipe (from_browser, FD_CLOEXEC, &error));
    log_fd = open (log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true (log_fd >= 0);
    {
      int source_fds[] = { to_browser[0], from_browser[1] };
      int target_fds[] = { 3, 4 };

      if (!g_spawn_async_with_pipes_and_fds (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, -1, log_fd,
                                             log_fd, source_fds, target_fds, 2, &browser->pid, NULL, NULL, NULL,
                                             &error))
        fail_msg ("starting %s: %s", CHROMIUM, error->message);
    }
  }
  close (log_fd);
  close (to_browser[0]);
  close (from_browser[1]);
  browser->to_browser = to_browser[1];
  browser->from_browser = g_unix_input_stream_new (from_browser[0], TRUE);
  browser->cancellable = g_cancellable_new ();
  browser->incoming = g_byte_array_new ();
  browser->replies = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) json_decref);
  browser->next_id = 1;

  /* On the bus's context, like everything else the test waits for. */
  watch = g_child_watch_source_new (browser->pid);
  g_source_set_callback (watch, (GSourceFunc) (void (*) (void)) browser_exited, browser, NULL);
  g_source_attach (watch, g_main_context_get_thread_default ());
  g_source_unref (watch);
  browser_read_next (browser);
  return browser;
}

typedef struct {
  Browser *browser;
  guint id;
} ReplyGoal;

static gboolean
reply_or_gone (EvbHarness *harness, gpointer user_data)
{
  ReplyGoal *goal = user_data;

  return g_hash_table_contains (goal->browser->replies, GUINT_TO_POINTER (goal->id)) || goal->browser->read_failed
         || goal->browser->exited;
}

/* Sends one DevTools command (to the page session when @on_page) and
 * iterates the bus loop until its reply; returns the "result" object. */
static json_t *
cdp (Browser *browser, gboolean on_page, const char *method, json_t *params /* stolen */)
{
  g_autoptr (GError) error = NULL;
  guint id = browser->next_id++;
  json_t *request = json_pack ("{s:i, s:s, s:o}", "id", (int) id, "method", method,
                               "params", params != NULL ? params : json_object ());
  g_autofree char *text = NULL;
  ReplyGoal goal = { browser, id };
  json_t *reply;
  json_t *result;
  gsize written = 0;
  gsize length;

  if (on_page)
    json_object_set_new (request, "sessionId", json_string (browser->session));
  {
    char *dump = json_dumps (request, JSON_COMPACT);

    text = g_strdup (dump);
    free (dump);
  }
  json_decref (request);
  length = strlen (text) + 1; /* the NUL ends the message */
  while (written < length)
    {
      ssize_t n = write (browser->to_browser, text + written, length - written);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        fail_msg ("writing to chromium: %s", g_strerror (errno));
      written += (gsize) n;
    }
  if (!evb_harness_run_until (browser->dash->harness, reply_or_gone, &goal, WAIT_MS, &error))
    fail_msg ("%s: no reply from chromium: %s", method, error->message);
  reply = g_hash_table_lookup (browser->replies, GUINT_TO_POINTER (id));
  if (reply == NULL)
    fail_msg ("%s: chromium went away (see dashboard-chromium.log)", method);
  if (json_object_get (reply, "error") != NULL)
    {
      char *dump = json_dumps (json_object_get (reply, "error"), JSON_COMPACT);

      fail_msg ("%s failed: %s", method, dump);
    }
  result = json_incref (json_object_get (reply, "result"));
  g_hash_table_remove (browser->replies, GUINT_TO_POINTER (id));
  return result;
}

/* Evaluates @expression (which must give a string) in the page. */
static char *
page_eval (Browser *browser, const char *expression)
{
  g_autoptr (json_t) result = cdp (browser, TRUE, "Runtime.evaluate",
                                   json_pack ("{s:s, s:b}", "expression", expression, "returnByValue", TRUE));
  json_t *value = json_object_get (json_object_get (result, "result"), "value");

  if (json_object_get (result, "exceptionDetails") != NULL)
    {
      char *dump = json_dumps (json_object_get (result, "exceptionDetails"), JSON_COMPACT);

      fail_msg ("page threw %s on: %s", dump, expression);
    }
  return g_strdup (json_is_string (value) ? json_string_value (value) : "");
}

/* What the test reads from the page, as one JSON object. */
static const char page_state_js[] =
  "JSON.stringify((function () {"
  "  if (document.readyState !== 'complete' || !document.getElementById('banner'))"
  "    return { stream: 'not loaded yet' };"
  "  var row = document.querySelector('#route-rows tr[data-handler=\"work.run\"]');"
  "  function field(name) { var td = row && row.querySelector('td[data-field=\"' + name + '\"]');"
  "                         return td ? td.textContent : null; }"
  "  return {"
  "    stream: document.body.dataset.stream,"
  "    snapshots: Number(document.body.dataset.snapshots),"
  "    updates: Number(document.body.dataset.updates),"
  "    completed: field('completed'), failed: field('failed'), executing: field('executing'),"
  "    failures: Array.from(document.querySelectorAll('#failures li .msg')).map(function (e) { return e.textContent; }),"
  "    jobs: Array.from(document.querySelectorAll('#job-rows tr[data-job]')).map(function (tr) {"
  "      return tr.children[1].textContent + ' ' + tr.children[3].textContent; }),"
  "    cluster: Array.from(document.querySelectorAll('#cluster-rows tr[data-host]')).map(function (tr) {"
  "      return Array.from(tr.children).slice(0, 5).map(function (td) { return td.textContent; }).join(' '); }),"
  "    failure_hosts: Array.from(document.querySelectorAll('#failures li .host')).map(function (e) {"
  "      return e.textContent; }),"
  "    banner: getComputedStyle(document.getElementById('banner')).display,"
  "    health: document.getElementById('health').textContent,"
  "    marker: window.evbusTestMarker || 0"
  "  };"
  "})())";

static json_t *
page_state (Browser *browser)
{
  g_autofree char *text = page_eval (browser, page_state_js);
  json_t *state = json_loads (text, 0, NULL);

  if (state == NULL)
    fail_msg ("page state is not JSON: %s", text);
  return state;
}

typedef gboolean (*PagePredicate) (json_t *state, gpointer data);

typedef struct {
  Browser *browser;
  PagePredicate predicate;
  gpointer data;
  gint64 next_poll;
  json_t *last;
} PageGoal;

/* Polls the DOM every 50 ms (paced by the loop) until @predicate holds. */
static gboolean
page_shows (EvbHarness *harness, gpointer user_data)
{
  PageGoal *goal = user_data;
  gint64 now = g_get_monotonic_time ();

  if (now < goal->next_poll)
    return FALSE;
  goal->next_poll = now + 50 * 1000;
  g_clear_pointer (&goal->last, json_decref);
  goal->last = page_state (goal->browser);
  return goal->predicate (goal->last, goal->data);
}

static json_t *
wait_for_page (Browser *browser, const char *what, PagePredicate predicate, gpointer data)
{
  g_autoptr (GError) error = NULL;
  PageGoal goal = { browser, predicate, data, 0, NULL };

  if (!evb_harness_run_until (browser->dash->harness, page_shows, &goal, WAIT_MS, &error))
    {
      char *dump = goal.last != NULL ? json_dumps (goal.last, JSON_COMPACT) : NULL;

      fail_msg ("page never showed %s: %s\nlast state: %s", what, error->message, dump != NULL ? dump : "(none)");
    }
  return goal.last;
}

static void
save_screenshot (Browser *browser, const char *name)
{
  g_autoptr (json_t) shot = cdp (browser, TRUE, "Page.captureScreenshot", json_pack ("{s:s}", "format", "png"));
  g_autofree char *path = g_build_filename (DASHBOARD_SCREENSHOT_DIR, name, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree guchar *png = NULL;
  gsize size = 0;

  png = g_base64_decode (json_string_value (json_object_get (shot, "data")), &size);
  assert_true (size > 8 && memcmp (png, "\x89PNG\r\n\x1a\n", 8) == 0);
  assert_true (g_file_set_contents (path, (const char *) png, (gssize) size, &error));
  print_message ("screenshot: %s (%" G_GSIZE_FORMAT " bytes)\n", path, size);
}

static gboolean
browser_gone (EvbHarness *harness, gpointer user_data)
{
  return ((Browser *) user_data)->exited;
}

static void
browser_stop (Browser *browser)
{
  g_autoptr (GError) error = NULL;
  guint id = browser->next_id++;
  g_autofree char *close_request = g_strdup_printf ("{\"id\":%u,\"method\":\"Browser.close\"}", id);

  if (write (browser->to_browser, close_request, strlen (close_request) + 1) < 0)
    kill (browser->pid, SIGTERM);
  if (!evb_harness_run_until (browser->dash->harness, browser_gone, browser, WAIT_MS, &error))
    {
      kill (browser->pid, SIGKILL);
      fail_msg ("chromium did not exit: %s", error->message);
    }
  g_spawn_close_pid (browser->pid);
  g_cancellable_cancel (browser->cancellable);
  /* Let the cancelled read finish before its buffers go. */
  while (g_main_context_iteration (g_main_context_get_thread_default (), FALSE))
    ;
  close (browser->to_browser);
  g_object_unref (browser->from_browser);
  g_object_unref (browser->cancellable);
  g_byte_array_unref (browser->incoming);
  g_hash_table_unref (browser->replies);
  temp_dir_remove (browser->profile);
  g_free (browser->profile);
  g_free (browser->session);
  g_free (browser);
}

/* ---- what the page must show ------------------------------------------- */

static gboolean
shows_completed (json_t *state, gpointer data)
{
  return g_strcmp0 (json_string_value (json_object_get (state, "stream")), "live") == 0
         && g_strcmp0 (json_string_value (json_object_get (state, "completed")), data) == 0;
}

static gboolean
shows_executing_job (json_t *state, gpointer data)
{
  json_t *jobs = json_object_get (state, "jobs");

  return json_array_size (jobs) == 1 && g_strcmp0 (json_string_value (json_array_get (jobs, 0)), data) == 0
         && g_strcmp0 (json_string_value (json_object_get (state, "executing")), "1") == 0;
}

static gboolean
shows_progress_and_failure (json_t *state, gpointer data)
{
  json_t *failures = json_object_get (state, "failures");

  return json_array_size (failures) == 1
         && g_strcmp0 (json_string_value (json_array_get (failures, 0)), data) == 0
         && g_strcmp0 (json_string_value (json_object_get (state, "completed")), "22") == 0
         && g_strcmp0 (json_string_value (json_object_get (state, "failed")), "1") == 0;
}

static gboolean
shows_disconnected (json_t *state, gpointer data)
{
  return g_strcmp0 (json_string_value (json_object_get (state, "stream")), "disconnected") == 0
         && g_strcmp0 (json_string_value (json_object_get (state, "banner")), "block") == 0;
}

#define FAILURE_MESSAGE "payment gateway timed out after 30 s (order 1042)"

/* Host A's job in the cluster table, and the failure list labelled by host
 * (the newest, A's, first; then this host's, "local"). */
static gboolean
shows_cluster (json_t *state, gpointer data)
{
  json_t *cluster = json_object_get (state, "cluster");
  json_t *hosts = json_object_get (state, "failure_hosts");

  return json_array_size (cluster) == 1 && g_strcmp0 (json_string_value (json_array_get (cluster, 0)), data) == 0
         && json_array_size (hosts) == 2 && g_strcmp0 (json_string_value (json_array_get (hosts, 0)), "A") == 0
         && g_strcmp0 (json_string_value (json_array_get (hosts, 1)), "local") == 0;
}

static void
test_page_live_in_chromium (G_GNUC_UNUSED void **state)
{
  Dash *dash;
  Browser *browser;
  g_autoptr (json_t) target = NULL;
  g_autoptr (json_t) attached = NULL;
  g_autoptr (json_t) metrics = NULL;
  json_t *seen;
  double updates_before;

  if (!g_file_test (CHROMIUM, G_FILE_TEST_IS_EXECUTABLE))
    {
      print_message ("%s is not installed\n", CHROMIUM);
      skip ();
    }

  dash = dash_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  dash_add_route (dash, "order.*", "work.run", "{\"mode\": \"async\"}");
  dash_add_route (dash, "audit.*", "work.note", NULL);
  for (guint i = 0; i < 3; i++)
    dash_emit (dash, "order.placed", NULL);
  dash_run_until_idle (dash);

  browser = browser_start (dash);
  target = cdp (browser, FALSE, "Target.createTarget", json_pack ("{s:s}", "url", "about:blank"));
  attached = cdp (browser, FALSE, "Target.attachToTarget",
                  json_pack ("{s:O, s:b}", "targetId", json_object_get (target, "targetId"), "flatten", TRUE));
  browser->session = g_strdup (json_string_value (json_object_get (attached, "sessionId")));
  metrics = cdp (browser, TRUE, "Emulation.setDeviceMetricsOverride",
                 json_pack ("{s:i, s:i, s:i, s:b}", "width", 1280, "height", 900, "deviceScaleFactor", 1, "mobile",
                            FALSE));
  json_decref (cdp (browser, TRUE, "Page.navigate", json_pack ("{s:s}", "url", dash->url)));

  /* Loaded, stream open, first snapshot rendered. */
  seen = wait_for_page (browser, "3 completed jobs on a live stream", shows_completed, "3");
  json_decref (seen);
  g_free (page_eval (browser, "String(window.evbusTestMarker = 42)"));
  seen = page_state (browser);
  updates_before = json_number_value (json_object_get (seen, "updates"));
  json_decref (seen);

  /* The pipeline runs while the page is open: a job held in its handler
   * shows in flight. */
  gate_set (FALSE);
  dash_emit (dash, "order.slow", "{\"block\": true}");
  seen = wait_for_page (browser, "the held job executing", shows_executing_job, "work.run executing");
  json_decref (seen);

  /* 20 more jobs complete and one fails; the page follows without reload. */
  for (guint i = 0; i < 19; i++)
    {
      dash_emit (dash, "order.placed", NULL);
      dash_emit (dash, "audit.logged", NULL);
    }
  dash_emit (dash, "order.charge", "{\"fail\": \"" FAILURE_MESSAGE "\"}");
  seen = wait_for_page (browser, "22 completed jobs, 1 failed and its message", shows_progress_and_failure,
                        FAILURE_MESSAGE);
  /* It came over the event stream, not only from periodic snapshots. */
  assert_true (json_number_value (json_object_get (seen, "updates")) > updates_before);
  assert_int_equal (json_integer_value (json_object_get (seen, "marker")), 42); /* never reloaded */
  json_decref (seen);
  save_screenshot (browser, "dashboard.png");

  gate_set (TRUE);
  seen = wait_for_page (browser, "the held job completed", shows_completed, "23");
  assert_int_equal (json_array_size (json_object_get (seen, "jobs")), 0);
  json_decref (seen);

  /* Another host's job and failure, as the nats plugin imports them. */
  dash_emit (dash, "cluster.status.executing",
             "{\"job\": 5, \"state\": \"executing\", \"event\": {\"id\": 9, \"type\": \"db.search\"},"
             " \"handler\": \"db.search\", \"plugin\": \"db\", \"_origin\": {\"host\": \"A\"}}");
  dash_emit (dash, "cluster.failure",
             "{\"origin\": {\"id\": 9, \"type\": \"db.search\"}, \"handler\": \"db.search\", \"plugin\": \"db\","
             " \"error\": {\"domain\": \"sql\", \"code\": 5, \"message\": \"database is locked\"},"
             " \"_origin\": {\"host\": \"A\"}}");
  seen = wait_for_page (browser, "host A's job and failure", shows_cluster, "A #5 db.search db.search executing");
  json_decref (seen);
  save_screenshot (browser, "dashboard-cluster.png");

  /* The bus goes away: the page says it is disconnected. */
  evb_harness_shutdown (dash->harness, -1);
  seen = wait_for_page (browser, "the disconnected banner", shows_disconnected, NULL);
  json_decref (seen);
  save_screenshot (browser, "dashboard-disconnected.png");

  browser_stop (browser);
  dash_stop (dash);
}

/* ---- the trace view ------------------------------------------------------ */

/* The waterfall's rows, one string each: "<depth> <kind> <name> <result>
 * [<states>]", e.g. "1 route work.run (async #3) FAILED waiting executing
 * failed"; and the trace view's state. */
static const char trace_state_js[] =
  "JSON.stringify((function () {"
  /* Until the whole page is parsed, some of its elements are not there. */
  "  if (document.readyState !== 'complete' || !document.getElementById('trace'))"
  "    return { trace: 'not loaded yet' };"
  "  var rows = Array.from(document.querySelectorAll('#waterfall .name')).map(function (n) {"
  "    var d = n.dataset;"
  "    return d.depth + ' ' + d.kind + ' ' + (d.kind === 'event' ? d.type + ' ' + d.outcome"
  "      : d.label + ' ' + d.result + (d.states ? ' ' + d.states : '')); });"
  "  var bars = Array.from(document.querySelectorAll('#waterfall .span')).filter(function (b) {"
  "    return b.getBoundingClientRect().width > 0; }).length;"
  "  return { trace: document.body.dataset.trace || '', shown: getComputedStyle(document.getElementById('trace')).display,"
  "           rows: rows, bars: bars, message: document.getElementById('trace-msg').textContent,"
  "           failure_links: Array.from(document.querySelectorAll('#failures a.trace')).map(function (a) {"
  "             return a.getAttribute('href'); }),"
  "           job_links: Array.from(document.querySelectorAll('#job-rows a.trace')).map(function (a) {"
  "             return a.getAttribute('href'); }) };"
  "})())";

static json_t *
trace_state (Browser *browser)
{
  g_autofree char *text = page_eval (browser, trace_state_js);
  json_t *state = json_loads (text, 0, NULL);

  if (state == NULL)
    fail_msg ("trace state is not JSON: %s", text);
  return state;
}

typedef struct {
  Browser *browser;
  const char *trace;     /* the body's data-trace to wait for */
  const char *link_list; /* "failure_links" or "job_links": wait for one link */
  guint n_rows;          /* rows to wait for (0: any) */
  gint64 next_poll;
  json_t *last;
} TraceGoal;

static gboolean
trace_shows (EvbHarness *harness, gpointer user_data)
{
  TraceGoal *goal = user_data;
  gint64 now = g_get_monotonic_time ();

  if (now < goal->next_poll)
    return FALSE;
  goal->next_poll = now + 50 * 1000;
  g_clear_pointer (&goal->last, json_decref);
  goal->last = trace_state (goal->browser);
  if (goal->link_list != NULL)
    return json_array_size (json_object_get (goal->last, goal->link_list)) > 0;
  return g_strcmp0 (json_string_value (json_object_get (goal->last, "trace")), goal->trace) == 0
         && (goal->n_rows == 0 || json_array_size (json_object_get (goal->last, "rows")) == goal->n_rows);
}

static json_t *
wait_for_trace (Browser *browser, const char *trace, const char *link_list, guint n_rows)
{
  g_autoptr (GError) error = NULL;
  TraceGoal goal = { browser, trace, link_list, n_rows, 0, NULL };

  if (!evb_harness_run_until (browser->dash->harness, trace_shows, &goal, WAIT_MS, &error))
    {
      char *dump = goal.last != NULL ? json_dumps (goal.last, JSON_COMPACT) : NULL;

      fail_msg ("the trace view never showed %s: %s\nlast state: %s", trace != NULL ? trace : link_list,
                error->message, dump != NULL ? dump : "(none)");
    }
  return goal.last;
}

static void
assert_rows (json_t *state, const char *const *expected)
{
  json_t *rows = json_object_get (state, "rows");
  guint n = g_strv_length ((char **) expected);

  if (json_array_size (rows) != n)
    {
      char *dump = json_dumps (rows, JSON_COMPACT);

      fail_msg ("expected %u rows, got %s", n, dump);
    }
  for (guint i = 0; i < n; i++)
    assert_string_equal (json_string_value (json_array_get (rows, i)), expected[i]);
}

static Browser *
browser_open (Dash *dash, const char *url)
{
  Browser *browser = browser_start (dash);
  g_autoptr (json_t) target = cdp (browser, FALSE, "Target.createTarget", json_pack ("{s:s}", "url", "about:blank"));
  g_autoptr (json_t) attached = cdp (browser, FALSE, "Target.attachToTarget",
                                     json_pack ("{s:O, s:b}", "targetId", json_object_get (target, "targetId"),
                                                "flatten", TRUE));

  browser->session = g_strdup (json_string_value (json_object_get (attached, "sessionId")));
  json_decref (cdp (browser, TRUE, "Emulation.setDeviceMetricsOverride",
                    json_pack ("{s:i, s:i, s:i, s:b}", "width", 1280, "height", 900, "deviceScaleFactor", 1,
                               "mobile", FALSE)));
  json_decref (cdp (browser, TRUE, "Page.navigate", json_pack ("{s:s}", "url", url)));
  return browser;
}

/* A failure's "trace" link opens the waterfall of its trace: the event,
 * the sync route that emitted the child, the child, its failed job with
 * its states and the route its filter skipped.  A job in flight links to
 * its trace too, shown running.  An id nobody kept says so. */
static void
test_trace_view_in_chromium (G_GNUC_UNUSED void **state)
{
  static const char *const failed_tree[] = {
    "0 event order.placed done",
    "1 route work.relay CONTINUE",
    "1 event order.charge failed",
    "2 route work.run FAILED waiting executing failed",
    "2 route work.note skipped",
    "2 event evbus.failure done", /* its route is the dashboard's own: hidden */
    NULL,
  };
  static const char *const running_tree[] = {
    "0 event order.slow running",
    "1 route work.run running waiting executing",
    NULL,
  };
  Dash *dash;
  Browser *browser;
  json_t *seen;
  char placed_trace[EVB_TRACE_ID_SIZE];
  char slow_trace[EVB_TRACE_ID_SIZE];
  g_autofree char *failure_href = NULL;
  g_autofree char *job_href = NULL;

  if (!g_file_test (CHROMIUM, G_FILE_TEST_IS_EXECUTABLE))
    {
      print_message ("%s is not installed\n", CHROMIUM);
      skip ();
    }

  dash = dash_start (NULL, "{\"listen\": \"127.0.0.1:0\"}");
  dash_add_route (dash, "order.placed", "work.relay", NULL);
  dash_add_route (dash, "order.charge", "work.run", "{\"mode\": \"async\"}");
  dash_add_route (dash, "order.charge", "work.note", "{\"filter\": {\"amount\": {\"gt\": 10}}}");
  dash_add_route (dash, "order.slow", "work.run", "{\"mode\": \"async\"}");
  dash_emit (dash, "order.placed", "{\"next\": \"order.charge\", \"then_fail\": \"" FAILURE_MESSAGE "\"}");
  dash_run_until_idle (dash);
  evb_event_format_trace_id (evb_harness_find (dash->harness, "order.placed", 0), placed_trace);

  browser = browser_open (dash, dash->url);
  seen = wait_for_trace (browser, NULL, "failure_links", 0);
  failure_href = g_strdup (json_string_value (json_array_get (json_object_get (seen, "failure_links"), 0)));
  json_decref (seen);
  {
    g_autofree char *expected = g_strconcat ("#trace=", placed_trace, NULL);

    assert_string_equal (failure_href, expected);
  }

  /* Follow the link as a user would: a click. */
  g_free (page_eval (browser, "document.querySelector('#failures a.trace').click(), ''"));
  seen = wait_for_trace (browser, placed_trace, NULL, 6);
  assert_string_equal (json_string_value (json_object_get (seen, "shown")), "block");
  assert_rows (seen, failed_tree);
  assert_true (json_integer_value (json_object_get (seen, "bars")) >= 5);
  json_decref (seen);
  save_screenshot (browser, "dashboard-trace.png");

  /* A job held in its handler: the jobs table links to its trace, which
   * shows it running. */
  gate_set (FALSE);
  dash_emit (dash, "order.slow", "{\"block\": true}");
  seen = wait_for_trace (browser, NULL, "job_links", 0);
  job_href = g_strdup (json_string_value (json_array_get (json_object_get (seen, "job_links"), 0)));
  json_decref (seen);
  evb_event_format_trace_id (evb_harness_find (dash->harness, "order.slow", 0), slow_trace);
  {
    g_autofree char *expected = g_strconcat ("#trace=", slow_trace, NULL);

    assert_string_equal (job_href, expected);
  }
  g_free (page_eval (browser, "document.querySelector('#job-rows a.trace').click(), ''"));
  seen = wait_for_trace (browser, slow_trace, NULL, 2);
  assert_rows (seen, running_tree);
  json_decref (seen);
  gate_set (TRUE);
  dash_run_until_idle (dash);

  /* An id nobody kept. */
  g_free (page_eval (browser, "location.hash = '#trace=0123456789abcdef0123456789abcdef', ''"));
  seen = wait_for_trace (browser, "0123456789abcdef0123456789abcdef", NULL, 0);
  assert_int_equal (json_array_size (json_object_get (seen, "rows")), 0);
  assert_string_equal (json_string_value (json_object_get (seen, "message")),
                       "nothing kept for this trace (it may be older than the kept records)");
  json_decref (seen);

  browser_stop (browser);
  dash_stop (dash);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_page_live_in_chromium),
    cmocka_unit_test (test_trace_view_in_chromium),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
