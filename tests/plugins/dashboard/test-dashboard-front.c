/* The dashboard's front door (plugins/dashboard/front.c) against an
 * `evbus run` child, as an operator and a hostile client would meet it:
 * /healthz says 503 while a sync handler holds the main loop, silent and
 * half-sent connections are closed, the connection cap refuses with a
 * line, the listener comes back after running out of file descriptors,
 * absolute-form requests and "user@host" Hosts are refused, /metrics
 * carries the process_* metrics (and promtool accepts it when installed).
 *
 * Nothing sleeps: every wait reads the child's output or a socket, or
 * polls an endpoint, with a deadline that fails the test. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "child-or-fail.h"

#define DEADLINE_MS 30000
/* The child's open-file limit in the EMFILE test: above what evbus
 * needs to start (under the sanitizers too), below the clients it gets. */
#define FD_LIMIT 64

/* In the child, before exec: the file-descriptor limit to run under
 * (0: as inherited). */
static void
limit_fds (gpointer data)
{
  rlim_t limit = (rlim_t) GPOINTER_TO_UINT (data);
  struct rlimit rl;

  if (limit == 0 || getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return;
  rl.rlim_cur = limit;
  setrlimit (RLIMIT_NOFILE, &rl);
}

/* Starts `evbus COMMAND [OPTION] pipeline.json` in a fresh folder holding
 * @config as pipeline.json (removed when the child is finished), under
 * @fd_limit open files (0: as inherited). */
static void
child_start (TestChild *child, const char *command, const char *option, const char *config, guint fd_limit)
{
  const char *argv[] = { EVB_TEST_EVBUS, command, option != NULL ? option : "pipeline.json",
                         option != NULL ? "pipeline.json" : NULL, NULL };
  char *dir = child_dir_new_or_fail ("evbus-dash-front-XXXXXX", "pipeline.json", config);

  child_start_or_fail (child, dir, argv, NULL, TEST_CHILD_DEFAULT, limit_fds, GUINT_TO_POINTER (fd_limit));
  child->dir = dir;
}

/* ---- the dashboard in a child ---- */

/* The evbus of the running test: when its port refuses, say how it ended. */
static TestChild *running_child;

typedef struct {
  GRegex *url;
  GMatchInfo *match;
} UrlWait;

static gboolean
dashboard_logged_url (TestChild *child, gpointer data)
{
  UrlWait *wait = data;

  g_clear_pointer (&wait->match, g_match_info_unref);
  return g_regex_match (wait->url, child->err_text->str, 0, &wait->match);
}

/* `evbus run` with the dashboard ("d", @dash_config fields after listen)
 * and the misbehave plugin ("m", @m_config), host settings @host and
 * @routes; returns the port the dashboard logged. */
static guint
dash_start (TestChild *child, const char *host, const char *dash_config, const char *m_config, const char *routes,
            guint fd_limit)
{
  g_autofree char *config = g_strdup_printf (
    "{\"host\": %s, \"plugins\": ["
    "{\"name\": \"m\", \"path\": \"" MISBEHAVE_PLUGIN "\", \"config\": %s},"
    "{\"name\": \"d\", \"path\": \"" DASHBOARD_PLUGIN "\", \"config\": {\"listen\": \"127.0.0.1:0\"%s%s}}],"
    " \"routes\": %s}",
    host, m_config, dash_config[0] != '\0' ? ", " : "", dash_config, routes);
  g_autoptr (GRegex) url = g_regex_new ("http://127\\.0\\.0\\.1:([0-9]+)/\n", 0, 0, NULL);
  UrlWait wait = { url, NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *port = NULL;

  /* The dashboard loads last, so that its URL means every plugin is in:
   * a test that floods the port must not starve a later plugin's load
   * of file descriptors. */
  child_start (child, "run", NULL, config, fd_limit);
  if (!test_child_wait_until (child, dashboard_logged_url, &wait, "URL from the dashboard", DEADLINE_MS, &error))
    fail_msg ("%s", error->message);
  port = g_match_info_fetch (wait.match, 1);
  g_match_info_unref (wait.match);
  running_child = child;
  return (guint) g_ascii_strtoull (port, NULL, 10);
}

static void
dash_kill (TestChild *child)
{
  running_child = NULL;
  kill (child->pid, SIGKILL);
  child_finish_or_fail (child, DEADLINE_MS);
  test_child_clear (child);
}

/* ---- raw HTTP ---- */

static int
connect_to (guint port)
{
  struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((guint16) port) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd < 0 || connect (fd, (struct sockaddr *) &address, sizeof address) != 0)
    {
      int saved = errno;

      if (running_child != NULL)
        {
          TestChild *child = g_steal_pointer (&running_child);

          kill (child->pid, SIGKILL);
          child_finish_or_fail (child, DEADLINE_MS);
          fail_msg ("connect to port %u: %s; evbus ended with status %d; stderr:\n%s", port, g_strerror (saved),
                    child->status, child->err_text->str);
        }
      fail_msg ("connect to port %u: %s", port, g_strerror (saved));
    }
  return fd;
}

/* Everything the server says on @fd until it closes, within the deadline. */
static char *
read_to_end (int fd)
{
  gint64 deadline = g_get_monotonic_time () + DEADLINE_MS * G_TIME_SPAN_MILLISECOND;
  GString *text = g_string_new (NULL);

  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      char buffer[4096];
      ssize_t got;

      if (poll (&pfd, 1, (int) MAX (0, (deadline - g_get_monotonic_time ()) / 1000)) <= 0)
        fail_msg ("no end of response within %d ms; so far:\n%s", DEADLINE_MS, text->str);
      got = read (fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break;
      g_string_append_len (text, buffer, got);
    }
  close (fd);
  return g_string_free (text, FALSE);
}

static char *
request (guint port, const char *text)
{
  int fd = connect_to (port);

  if (write (fd, text, strlen (text)) != (ssize_t) strlen (text))
    fail_msg ("write: %s", g_strerror (errno));
  return read_to_end (fd);
}

static guint
status_of (const char *response)
{
  if (!g_str_has_prefix (response, "HTTP/1.1 "))
    fail_msg ("not an HTTP response:\n%s", response);
  return (guint) g_ascii_strtoull (response + strlen ("HTTP/1.1 "), NULL, 10);
}

static const char *
body_of (const char *response)
{
  const char *end = strstr (response, "\r\n\r\n");

  if (end == NULL)
    fail_msg ("no end of header:\n%s", response);
  return end + 4;
}

static void
assert_response (const char *response, guint status, const char *body)
{
  assert_int_equal (status_of (response), status);
  assert_string_equal (body_of (response), body);
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

/* Asks @path until it answers @status; the last response. */
static char *
poll_status (guint port, const char *text, guint status)
{
  gint64 deadline = g_get_monotonic_time () + DEADLINE_MS * G_TIME_SPAN_MILLISECOND;

  for (;;)
    {
      char *response = request (port, text);

      if (g_str_has_prefix (response, "HTTP/1.1 ") && status_of (response) == status)
        return response;
      if (g_get_monotonic_time () >= deadline)
        fail_msg ("never %u; last:\n%s", status, response);
      g_free (response);
    }
}

/* The value of sample @name (exact line start "name " or "name{...} ") in
 * the /metrics text @metrics; -1 when absent. */
static double
metric (const char *metrics, const char *name_and_labels)
{
  g_autofree char *needle = g_strdup_printf ("\n%s ", name_and_labels);
  const char *at = strstr (metrics, needle);

  return at != NULL ? g_ascii_strtod (at + strlen (needle), NULL) : -1;
}

/* ---- the tests ---- */

/* A sync handler that never returns: while it holds the loop, /healthz
 * answers 503 naming it (from the front thread), not nothing. */
static void
test_healthz_while_stalled (void **state)
{
  TestChild child;
  guint port = dash_start (&child, "{\"stall_ms\": 200}", "", "{}", "[{\"on\": \"tick\", \"handler\": \"m.block\"}]", 0);
  g_autofree char *response = NULL;
  g_autoptr (GRegex) reason = g_regex_new (
    "^unhealthy\nmain loop stalled for [0-9]+\\.[0-9] s, running handler m\\.block \\(plugin m, file "
    MISBEHAVE_PLUGIN "\\) on event tick id [0-9]+\n$", 0, 0, NULL);

  child_wait_for_or_fail (&child, child.out_text, "blocking 1\n", DEADLINE_MS);
  response = poll_status (port, GET ("/healthz"), 503);
  if (!g_regex_match (reason, body_of (response), 0, NULL))
    fail_msg ("unexpected /healthz body:\n%s", body_of (response));
  dash_kill (&child);
}

/* Not a proxy, and "evil.com@127.0.0.1" is evil.com's: both refused like
 * any foreign Host, on every path; a loopback Host still gets in. */
static void
test_foreign_hosts_refused (void **state)
{
  TestChild child;
  guint port = dash_start (&child, "{}", "", "{\"count\": 0}", "[]", 0);
  const char *const absolute
    = "forbidden: this dashboard answers only to a path (GET /path), not to an absolute URL\n";
  const char *const foreign = "forbidden: this dashboard answers only to a loopback Host\n";
  const char *const cases[][2] = {
    { "GET http://evil.com/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", absolute },
    { "GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", absolute },
    { "GET / HTTP/1.1\r\nHost: evil.com@127.0.0.1\r\n\r\n", foreign },
    { "GET /healthz HTTP/1.1\r\nHost: evil.com@127.0.0.1:8080\r\n\r\n", foreign },
    { "GET /metrics HTTP/1.1\r\nHost: evil.com\r\n\r\n", foreign },
    { "GET /metrics HTTP/1.1\r\n\r\n", foreign },
  };
  g_autofree char *metrics = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *response = request (port, cases[i][0]);

      assert_response (response, 403, cases[i][1]);
    }
  g_free (request (port, GET ("/healthz")));
  metrics = request (port, GET ("/metrics"));
  assert_int_equal (status_of (metrics), 200);
  assert_true (metric (metrics, "evbus_dashboard_http_refused_total{reason=\"host\"}") == G_N_ELEMENTS (cases));
  dash_kill (&child);
}

/* A connection that says nothing, and one that stops halfway through its
 * header, are answered 408 and closed after header_timeout_s. */
static void
test_idle_connections_closed (void **state)
{
  TestChild child;
  guint port = dash_start (&child, "{}", "\"header_timeout_s\": 1", "{\"count\": 0}", "[]", 0);
  int silent = connect_to (port);
  int half = connect_to (port);
  const char partial[] = "GET /metrics HTTP/1.1\r\nHo";
  g_autofree char *silent_response = NULL;
  g_autofree char *half_response = NULL;
  g_autofree char *metrics = NULL;

  assert_int_equal (write (half, partial, sizeof partial - 1), sizeof partial - 1);
  silent_response = read_to_end (silent);
  half_response = read_to_end (half);
  assert_response (silent_response, 408, "request timeout: no complete request header within 1 s\n");
  assert_response (half_response, 408, "request timeout: no complete request header within 1 s\n");
  metrics = request (port, GET ("/metrics"));
  assert_true (metric (metrics, "evbus_dashboard_http_refused_total{reason=\"timeout\"}") == 2);
  dash_kill (&child);
}

/* max_connections 2: a third is answered 503 with one line and closed,
 * counted; once the two close, requests get in again. */
static void
test_connection_cap (void **state)
{
  TestChild child;
  guint port = dash_start (&child, "{}", "\"max_connections\": 2", "{\"count\": 0}", "[]", 0);
  int first = connect_to (port);
  int second = connect_to (port);
  g_autofree char *refused = read_to_end (connect_to (port));
  g_autofree char *ok = NULL;
  g_autofree char *metrics = NULL;

  assert_response (refused, 503, "busy: 2 connections open, the dashboard's max_connections; try again later\n");
  close (first);
  close (second);
  ok = poll_status (port, GET ("/healthz"), 200);
  assert_string_equal (body_of (ok), "ok\n");
  metrics = poll_status (port, GET ("/metrics"), 200);
  assert_true (metric (metrics, "evbus_dashboard_http_refused_total{reason=\"busy\"}") >= 1);
  dash_kill (&child);
}

/* Under a low file-descriptor limit, more clients than fds: accept fails
 * with EMFILE, which is logged once; once they close, the listener
 * accepts again (today's bug: never). */
static void
test_emfile_recovery (void **state)
{
  TestChild child;
  guint port = dash_start (&child, "{}", "\"header_timeout_s\": 600", "{\"count\": 0}", "[]", FD_LIMIT);
  int clients[FD_LIMIT + 16];
  g_autofree char *metrics = NULL;
  g_autofree char *ok = NULL;
  const char *log_line = "dashboard: out of file descriptors (";

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    clients[i] = connect_to (port);
  child_wait_for_or_fail (&child, child.err_text, log_line, DEADLINE_MS);
  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    close (clients[i]);
  ok = poll_status (port, GET ("/healthz"), 200);
  assert_string_equal (body_of (ok), "ok\n");
  metrics = poll_status (port, GET ("/metrics"), 200);
  assert_true (metric (metrics, "evbus_dashboard_http_accept_fd_exhausted_total") >= 1);
  child_wait_for_or_fail (&child, child.err_text, "dashboard: accepting connections again\n", DEADLINE_MS);
  /* Logged once per episode, not once per failed accept. */
  assert_ptr_equal (strstr (strstr (child.err_text->str, log_line) + 1, log_line), NULL);
  dash_kill (&child);
}

/* The standard process_* metrics are there with plausible values, and
 * promtool (Debian's prometheus package) accepts the whole exposition. */
static void
test_process_metrics (void **state)
{
  TestChild child;
  guint port = dash_start (&child, "{}", "", "{\"count\": 0}", "[]", 0);
  g_autofree char *response = request (port, GET ("/metrics"));
  const char *metrics = body_of (response);
  g_autofree char *promtool = g_find_program_in_path ("promtool");
  struct rlimit limit;

  assert_int_equal (status_of (response), 200);
  assert_true (metric (metrics, "process_open_fds") >= 3);
  assert_int_equal (getrlimit (RLIMIT_NOFILE, &limit), 0);
  assert_true (metric (metrics, "process_max_fds") == (double) limit.rlim_cur);
  assert_true (metric (metrics, "process_resident_memory_bytes") > 1024 * 1024);
  assert_true (metric (metrics, "process_cpu_seconds_total") >= 0);
  assert_true (metric (metrics, "process_start_time_seconds") > 1.6e9);
  assert_true (metric (metrics, "process_start_time_seconds") <= (double) g_get_real_time () / 1e6 + 1);
  if (promtool != NULL)
    {
      const char *argv[] = { promtool, "check", "metrics", NULL };
      g_autoptr (GSubprocess) check = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE
                                                                 | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                                 | G_SUBPROCESS_FLAGS_STDERR_MERGE, NULL);
      g_autoptr (GBytes) input = g_bytes_new (metrics, strlen (metrics));
      g_autoptr (GBytes) output = NULL;
      g_autoptr (GError) error = NULL;

      assert_non_null (check);
      assert_true (g_subprocess_communicate (check, input, NULL, &output, NULL, &error));
      if (!g_subprocess_get_successful (check))
        fail_msg ("promtool check metrics:\n%.*s", (int) g_bytes_get_size (output),
                  (const char *) g_bytes_get_data (output, NULL));
    }
  dash_kill (&child);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_healthz_while_stalled),
    cmocka_unit_test (test_foreign_hosts_refused),
    cmocka_unit_test (test_idle_connections_closed),
    cmocka_unit_test (test_connection_cap),
    cmocka_unit_test (test_emfile_recovery),
    cmocka_unit_test (test_process_metrics),
  };

  signal (SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
