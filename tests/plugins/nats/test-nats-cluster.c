/* Several hosts on one nats-server: real `evbus run` processes beside a
 * harness host.
 *
 * - fan-out both ways between two hosts that both import ">" and publish
 *   ">": each sees the other's events once, with origin and trace, and
 *   nothing comes back (no loop);
 * - kill -9: three worker hosts share one queue; one is killed with
 *   SIGKILL while it holds jobs; the ledger shows every submitted job done
 *   at least once (duplicates counted, none lost) and the stream empties;
 * - the cluster view: host A exports its status and failure events, host
 *   B imports them, and B's dashboard lists A's failure labelled "A". */
#include "nats-test.h"

#include <libsoup/soup.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/wait.h>
#include <unistd.h>

static NatsServer server;
static char *work_dir;

static int
suite_setup (void **state)
{
  g_autoptr (GError) error = NULL;

  nats_server_start_or_fail (&server);
  work_dir = g_dir_make_tmp ("evbus-nats-hosts-XXXXXX", &error);
  assert_no_error (error);
  return 0;
}

static int
suite_teardown (void **state)
{
  nats_server_stop (&server);
  temp_dir_remove (work_dir);
  g_free (work_dir);
  return 0;
}

/* Starts `evbus run CONFIG` with the stock and test plugins on the path,
 * its stderr in NAME.log.  g_spawn and waitpid rather than GSubprocess:
 * GSubprocess reaps its children on GLib's worker thread, whose
 * hand-overs ThreadSanitizer cannot see (libglib is not instrumented),
 * and every spawn would be reported as a race in GLib. */
static GPid
host_spawn (const char *name, const char *config_text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config_name = g_strdup_printf ("%s.json", name);
  g_autofree char *log_name = g_strdup_printf ("%s.log", name);
  g_autofree char *config = write_temp_file (work_dir, config_name, config_text);
  g_autofree char *log = g_build_filename (work_dir, log_name, NULL);
  g_auto (GStrv) envp = g_environ_setenv (g_get_environ (), "EVBUS_PLUGIN_PATH", EVB_TEST_PLUGIN_PATH, TRUE);
  const char *argv[] = { EVB_TEST_EVBUS, "run", config, NULL };
  int log_fd = g_open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int null_fd = g_open ("/dev/null", O_WRONLY | O_CLOEXEC, 0);
  GPid pid = 0;

  assert_true (log_fd >= 0 && null_fd >= 0);
  g_spawn_async_with_pipes_and_fds (NULL, argv, (const char *const *) envp, G_SPAWN_DO_NOT_REAP_CHILD,
                                    die_with_parent, NULL, -1, null_fd, log_fd, NULL, NULL, 0, &pid, NULL, NULL,
                                    NULL, &error);
  close (log_fd);
  close (null_fd);
  assert_no_error (error);
  return pid;
}

static void
host_kill (GPid pid, int signal_number)
{
  int status;

  kill (pid, signal_number);
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (pid);
}

static void
host_stop (GPid pid)
{
  host_kill (pid, SIGTERM);
}

/* ---- fan-out ------------------------------------------------------------- */

/* Host b's stats, imported here, show it took a's ping and did not send
 * it back: since one connection's messages arrive in order, a relay of the
 * ping would have reached us before these stats. */
static gboolean
b_saw_ping (EvbHarness *harness, gpointer data)
{
  for (guint i = 0; i < evb_harness_count (harness, "nats.stats"); i++)
    {
      json_t *stats = evb_harness_find (harness, "nats.stats", i)->data;
      json_t *origin = json_object_get (stats, "_origin");

      if (g_strcmp0 (json_string_value (json_object_get (origin, "host")), "b") == 0
          && json_integer_value (json_object_get (json_object_get (stats, "import"), "imported")) >= 1
          && json_integer_value (json_object_get (json_object_get (stats, "publish"), "publish_skipped_relay")) >= 1)
        return TRUE;
    }
  return FALSE;
}

static void
test_fanout_two_hosts (void **state)
{
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *a_config = nats_config (&server, "a", "\"import\": [\">\"]");
  g_autofree char *input = write_temp_file (work_dir, "b-input.jsonl", "{\"type\": \"hello.b\", \"data\": {\"n\": 2}}\n");
  g_autofree char *b_config = g_strdup_printf (
    "{\"plugins\": ["
    " {\"name\": \"nats\", \"path\": \"nats\", \"config\": {\"servers\": [\"%s\"], \"host\": \"b\", \"import\": [\">\"],"
    "  \"stats_interval_ms\": 50}},"
    " {\"name\": \"in\", \"path\": \"replay\", \"config\": {\"path\": \"%s\"}}],"
    " \"routes\": [{\"on\": \">\", \"handler\": \"nats.publish\", \"mode\": \"async\"}]}",
    server.url, input);
  g_autoptr (GError) error = NULL;
  GPid b;
  const EvbEvent *hello;
  g_autoptr (json_t) stats = NULL;

  add_plugin_or_fail (harness, "nats", NATS_PLUGIN, a_config);
  add_route_or_fail (harness, ">", "nats.publish", "{\"mode\": \"async\"}");
  add_route_or_fail (harness, "nats-stats.now", "nats.report", NULL);
  b = host_spawn ("b", b_config);

  run_until_count_or_fail (harness, "hello.b", 1);
  hello = find_only (harness, "hello.b");
  assert_string_equal (json_string_value (json_object_get (json_object_get (hello->data, "_origin"), "host")), "b");
  assert_string_equal (json_string_value (json_object_get (json_object_get (hello->data, "_origin"), "source")), "in");

  emit_or_fail (harness, "ping.a", "{\"n\": 1}");
  if (!evb_harness_run_until (harness, b_saw_ping, NULL, WAIT_MS, &error))
    fail_msg ("host b never reported the ping: %s", error->message);
  run_until_idle_or_fail (harness);
  /* Our ping did not come back; b's imported events were not relayed. */
  assert_int_equal (evb_harness_count (harness, "ping.a"), 1);
  assert_string_equal (evb_harness_find (harness, "ping.a", 0)->source, "harness");
  assert_int_equal (evb_harness_count (harness, "hello.b"), 1);
  stats = nats_stats (harness, "nats");
  assert_int_equal (stat_of (stats, "import", "import_skipped_own"), 0);
  assert_true (stat_of (stats, "publish", "publish_skipped_relay") >= 2); /* hello.b and b's stats */
  host_stop (b);
}

/* ---- kill -9 ---------------------------------------------------------------- */

#define JOBS 300

typedef struct {
  char *ledger;
  const char *victim;
  guint victim_lines;
  gboolean all;
  GHashTable *done; /* job id -> times done */
  guint lines;
} Ledger;

static void
ledger_read (Ledger *ledger)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (ledger->ledger, &text, NULL, NULL))
    return;
  lines = g_strsplit (text, "\n", -1);
  g_hash_table_remove_all (ledger->done);
  ledger->lines = 0;
  ledger->victim_lines = 0;
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], " ", 3);

      if (g_strv_length (fields) != 3)
        continue; /* a partial last line cannot happen (one write per line) */
      ledger->lines++;
      if (strcmp (fields[0], ledger->victim) == 0)
        ledger->victim_lines++;
      g_hash_table_insert (ledger->done, g_strdup (fields[1]),
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (ledger->done, fields[1])) + 1));
    }
}

static gboolean
victim_busy (EvbHarness *harness, gpointer data)
{
  Ledger *ledger = data;

  ledger_read (ledger);
  return ledger->victim_lines >= 20;
}

static gboolean
all_done (EvbHarness *harness, gpointer data)
{
  Ledger *ledger = data;

  ledger_read (ledger);
  return g_hash_table_size (ledger->done) == JOBS;
}

static char *
worker_config (const char *host, const char *ledger)
{
  return g_strdup_printf (
    "{\"host\": {\"workers\": 4, \"grace_ms\": 3000},"
    " \"plugins\": ["
    "  {\"name\": \"nats\", \"path\": \"nats\", \"config\": {\"servers\": [\"%s\"], \"host\": \"%s\","
    "   \"work_stream\": \"KILL\", \"work_prefix\": \"kill\", \"dead_letter_prefix\": \"kill-dead\","
    "   \"worker\": true, \"ack_wait_ms\": 1000, \"max_ack_pending\": 60}},"
    "  {\"name\": \"ledger\", \"path\": \"nats-ledger\", \"config\": {\"path\": \"%s\", \"host\": \"%s\","
    "   \"delay_ms\": 20}}],"
    " \"routes\": [{\"on\": \"job.>\", \"handler\": \"ledger.work\", \"mode\": \"async\"}]}",
    server.url, host, ledger, host);
}

/* The worker logs this once bound to the consumer. */
static gboolean
host_working (const char *name)
{
  g_autofree char *log_name = g_strdup_printf ("%s.log", name);
  g_autofree char *log = g_build_filename (work_dir, log_name, NULL);
  g_autofree char *text = NULL;

  return g_file_get_contents (log, &text, NULL, NULL) && strstr (text, "working stream \"KILL\"") != NULL;
}

static gboolean
workers_ready (EvbHarness *harness, gpointer data)
{
  return host_working ("w1") && host_working ("w2") && host_working ("w3");
}

static void
test_kill_worker (void **state)
{
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *front = nats_config (&server, "front", "\"work_stream\": \"KILL\", \"work_prefix\": \"kill\", "
                                                          "\"dead_letter_prefix\": \"kill-dead\"");
  Ledger ledger = { .victim = "w2", .done = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };
  g_autofree char *c1 = NULL, *c2 = NULL, *c3 = NULL;
  g_autoptr (GError) error = NULL;
  GPid w1, w2, w3;
  natsConnection *raw = raw_connect (&server);
  jsCtx *js = raw_jetstream (raw);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint duplicates = 0;
  GHashTableIter iter;
  gpointer times;

  ledger.ledger = g_build_filename (work_dir, "ledger.txt", NULL);
  c1 = worker_config ("w1", ledger.ledger);
  c2 = worker_config ("w2", ledger.ledger);
  c3 = worker_config ("w3", ledger.ledger);
  add_plugin_or_fail (harness, "nats", NATS_PLUGIN, front);
  add_route_or_fail (harness, "job.>", "nats.submit", "{\"mode\": \"async\"}");
  w1 = host_spawn ("w1", c1);
  w2 = host_spawn ("w2", c2);
  w3 = host_spawn ("w3", c3);
  if (!evb_harness_run_until (harness, workers_ready, NULL, WAIT_MS, &error))
    fail_msg ("workers did not start: %s", error->message);

  for (guint i = 0; i < JOBS; i++)
    {
      g_autofree char *data = g_strdup_printf ("{\"job_id\": \"j%u\"}", i);
      guint64 id = evb_harness_emit_with_receipt (harness, "job.work", data, NULL);

      assert_true (id != 0);
      g_array_append_val (ids, id);
    }
  if (!evb_harness_run_until (harness, victim_busy, &ledger, WAIT_MS, &error))
    fail_msg ("w2 never got to work: %s", error->message);
  host_kill (w2, SIGKILL);

  /* Every submit was acknowledged by JetStream... */
  for (guint i = 0; i < ids->len; i++)
    {
      const EvbReceipt *receipt;

      assert_true (evb_harness_run_until_receipt (harness, g_array_index (ids, guint64, i), WAIT_MS, NULL));
      receipt = evb_harness_get_receipt (harness, g_array_index (ids, guint64, i));
      assert_int_equal (receipt->outcome, EVB_RECEIPT_DONE);
    }
  /* ...and every job is in the ledger, the stream empty. */
  if (!evb_harness_run_until (harness, all_done, &ledger, 60000, &error))
    fail_msg ("only %u of %d jobs done: %s", g_hash_table_size (ledger.done), JOBS, error->message);
  run_until_idle_or_fail (harness);
  g_hash_table_iter_init (&iter, ledger.done);
  while (g_hash_table_iter_next (&iter, NULL, &times))
    duplicates += GPOINTER_TO_UINT (times) - 1;
  printf ("kill -9: submitted %d, completed %u, duplicated %u, lost %d (victim did %u before the kill)\n", JOBS,
          g_hash_table_size (ledger.done), duplicates, JOBS - (int) g_hash_table_size (ledger.done),
          ledger.victim_lines);
  assert_int_equal (g_hash_table_size (ledger.done), JOBS);
  run_until_stream_has (harness, js, "KILL", 0);
  host_stop (w1);
  host_stop (w3);
  g_hash_table_unref (ledger.done);
  g_free (ledger.ledger);
  jsCtx_Destroy (js);
  natsConnection_Destroy (raw);
}

/* ---- the cluster view ------------------------------------------------------- */

typedef struct {
  SoupSession *session;
  char *url;           /* B's dashboard snapshot */
  SoupMessage *msg;    /* the request in flight, or NULL */
  GBytes *body;        /* its answer, once done */
  gboolean done;
  json_t *failure;     /* the failure labelled "A", once seen */
} SnapshotPoll;

static void
snapshot_arrived (GObject *source, GAsyncResult *result, gpointer data)
{
  SnapshotPoll *poll = data;

  poll->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, NULL);
  poll->done = TRUE;
}

/* Asks B's dashboard for its snapshot, one request at a time, until its
 * failure list has one from host A. */
static gboolean
a_failure_listed (EvbHarness *harness, gpointer data)
{
  SnapshotPoll *poll = data;
  json_t *snapshot;
  json_t *failure;
  gsize i;

  if (poll->msg != NULL && !poll->done)
    return FALSE;
  if (poll->msg != NULL)
    {
      snapshot = poll->body != NULL ? json_loadb (g_bytes_get_data (poll->body, NULL), g_bytes_get_size (poll->body),
                                                  0, NULL)
                                    : NULL;
      g_clear_pointer (&poll->body, g_bytes_unref);
      g_clear_object (&poll->msg);
      json_array_foreach (json_object_get (json_object_get (snapshot, "dashboard"), "recent_failures"), i, failure)
        if (g_strcmp0 (json_string_value (json_object_get (failure, "host")), "A") == 0)
          poll->failure = json_incref (failure);
      json_decref (snapshot);
      if (poll->failure != NULL)
        return TRUE;
    }
  poll->done = FALSE;
  poll->msg = soup_message_new ("GET", poll->url);
  soup_session_send_and_read_async (poll->session, poll->msg, G_PRIORITY_DEFAULT, NULL, snapshot_arrived, poll);
  return FALSE;
}

static void
test_cluster_view (void **state)
{
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *b_config = nats_config (&server, "B", "\"import\": [\"evbus.status.>\", \"evbus.failure\"]");
  g_autofree char *input = write_temp_file (work_dir, "a-input.jsonl", "{\"type\": \"job.x\", \"data\": {}}\n");
  g_autofree char *ledger = g_build_filename (work_dir, "a-ledger.txt", NULL);
  g_autofree char *a_config = g_strdup_printf (
    "{\"plugins\": ["
    " {\"name\": \"nats\", \"path\": \"nats\", \"config\": {\"servers\": [\"%s\"], \"host\": \"A\"}},"
    " {\"name\": \"ledger\", \"path\": \"nats-ledger\", \"config\": {\"path\": \"%s\", \"host\": \"A\"}},"
    " {\"name\": \"in\", \"path\": \"replay\", \"config\": {\"path\": \"%s\"}}],"
    " \"routes\": [{\"on\": \"job.>\", \"handler\": \"ledger.work\", \"mode\": \"async\"},"
    "  {\"on\": \"evbus.status.>\", \"handler\": \"nats.publish\", \"mode\": \"async\"},"
    "  {\"on\": \"evbus.failure\", \"handler\": \"nats.publish\", \"mode\": \"async\"}]}",
    server.url, ledger, input);
  SnapshotPoll poll = { 0 };
  g_autoptr (GError) error = NULL;
  const char *url;
  GPid a;

  add_plugin_or_fail (harness, "nats", NATS_PLUGIN, b_config);
  add_plugin_or_fail (harness, "dashboard", DASHBOARD_PLUGIN, "{\"listen\": \"127.0.0.1:0\"}");
  run_until_count_or_fail (harness, "dashboard.ready", 1);
  url = json_string_value (json_object_get (find_only (harness, "dashboard.ready")->data, "url"));
  poll.url = g_strdup_printf ("%sapi/v1/snapshot", url);
  poll.session = soup_session_new ();
  soup_session_set_proxy_resolver (poll.session, NULL);

  a = host_spawn ("a", a_config);
  if (!evb_harness_run_until (harness, a_failure_listed, &poll, WAIT_MS, &error))
    fail_msg ("B's dashboard never listed a failure of host A: %s", error->message);
  assert_string_equal (json_string_value (json_object_get (poll.failure, "handler")), "ledger.work");
  assert_string_equal (json_string_value (json_object_get (json_object_get (poll.failure, "error"), "message")),
                       "job without a job_id");
  assert_string_equal (json_string_value (json_object_get (json_object_get (poll.failure, "origin"), "type")),
                       "job.x");
  host_stop (a);
  json_decref (poll.failure);
  g_clear_object (&poll.session);
  g_free (poll.url);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_fanout_two_hosts),
    cmocka_unit_test (test_kill_worker),
    cmocka_unit_test (test_cluster_view),
  };

  nats_server_require ();
  return cmocka_run_group_tests (tests, suite_setup, suite_teardown);
}
