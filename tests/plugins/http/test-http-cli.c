/* The search service through the real `evbus run`: http-in on a free
 * loopback port, sqlite-store answering in the request's trace.  The test
 * reads the port from the log, talks to it with libsoup, and stops the
 * host with SIGTERM. */
#include "http-test.h"

#include <glib/gstdio.h>
#include <signal.h>

#define CONFIG                                                                                                  \
  "{\"host\": {\"workers\": 2, \"grace_ms\": 2000},\n"                                                          \
  " \"plugins\": [\n"                                                                                           \
  "  {\"name\": \"api\", \"path\": \"http-in\", \"config\": {\"listen\": \"127.0.0.1:0\", \"paths\": [\n"       \
  "    {\"path\": \"/search\", \"type\": \"search.request\", \"reply\": \"search.results\"}]}},\n"              \
  "  {\"name\": \"db\", \"path\": \"sqlite-store\", \"config\": {}}\n"                                          \
  " ],\n"                                                                                                       \
  " \"routes\": [{\"on\": \"search.request\", \"handler\": \"db.search\", \"mode\": \"async\"}]}\n"

typedef struct {
  GSubprocess *process;
  GDataInputStream *log;
  GString *seen; /* every log line read */
} Host;

static char *
read_log_line (Host *host)
{
  g_autoptr (GError) error = NULL;
  char *line = g_data_input_stream_read_line_utf8 (host->log, NULL, NULL, &error);

  assert_no_error (error);
  if (line != NULL)
    g_string_append_printf (host->seen, "%s\n", line);
  return line;
}

/* Reads the log until "<instance>: listening on <url>"; returns the port. */
static guint
wait_listening (Host *host, const char *instance)
{
  g_autofree char *marker = g_strdup_printf ("%s: listening on http://127.0.0.1:", instance);

  for (;;)
    {
      g_autofree char *line = read_log_line (host);
      const char *at;

      if (line == NULL)
        fail_msg ("evbus ended before %s listened:\n%s", instance, host->seen->str);
      at = strstr (line, marker);
      if (at != NULL)
        return (guint) g_ascii_strtoull (at + strlen (marker), NULL, 10);
    }
}

static Reply *
post_sync (SoupSession *session, guint port, const char *path, const char *body)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", port, path);
  g_autoptr (GBytes) bytes = g_bytes_new (body, strlen (body));
  g_autoptr (GBytes) answer = NULL;
  Reply *reply = g_new0 (Reply, 1);

  reply->msg = soup_message_new ("POST", url);
  soup_message_set_request_body_from_bytes (reply->msg, "application/json", bytes);
  answer = soup_session_send_and_read (session, reply->msg, NULL, &reply->error);
  assert_no_error (reply->error);
  reply->status = soup_message_get_status (reply->msg);
  reply->body = g_strndup (g_bytes_get_data (answer, NULL), g_bytes_get_size (answer));
  return reply;
}

static void
test_search_through_evbus_run (G_GNUC_UNUSED void **state)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("evbus-http-XXXXXX", &error);
  g_autofree char *config = g_build_filename (dir, "search.json", NULL);
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE
                                                                        | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autofree char *plugin_path = g_strjoin (":", HTTP_IN_PLUGIN_DIR, SQLITE_STORE_PLUGIN_DIR, NULL);
  g_autoptr (SoupSession) session = session_new ();
  g_autoptr (Reply) found = NULL;
  g_autoptr (Reply) bad = NULL;
  g_autoptr (json_t) body = NULL;
  Host host = { NULL, NULL, g_string_new (NULL) };
  guint port;

  assert_no_error (error);
  g_file_set_contents (config, CONFIG, -1, &error);
  assert_no_error (error);
  g_subprocess_launcher_setenv (launcher, "EVBUS_PLUGIN_PATH", plugin_path, TRUE);
  host.process = g_subprocess_launcher_spawn (launcher, &error, EVB_TEST_EVBUS, "run", config, NULL);
  assert_no_error (error);
  host.log = g_data_input_stream_new (g_subprocess_get_stderr_pipe (host.process));
  port = wait_listening (&host, "api");

  found = post_sync (session, port, "/search", "{\"query\": \"lamp\", \"limit\": 2}");
  assert_int_equal (found->status, 200);
  body = parse_json (found->body);
  assert_string_equal (json_string_value (json_object_get (body, "query")), "lamp");
  assert_int_equal (json_integer_value (json_object_get (body, "count")), 2);
  assert_true (evb_traceparent_parse (soup_message_headers_get_one (soup_message_get_response_headers (found->msg),
                                                                    "traceparent"),
                                      NULL, NULL, NULL, NULL, NULL));
  /* sqlite-store refuses a search without a query: the failure, as 500. */
  bad = post_sync (session, port, "/search", "{\"limit\": 2}");
  assert_int_equal (bad->status, 500);
  g_clear_pointer (&body, json_decref);
  body = parse_json (bad->body);
  assert_string_equal (json_string_value (json_object_get (body, "message")), "search: missing \"query\" (a string)");

  g_subprocess_send_signal (host.process, SIGTERM);
  for (char *line; (line = read_log_line (&host)) != NULL;)
    g_free (line);
  g_subprocess_wait (host.process, NULL, &error);
  assert_no_error (error);
  if (!g_subprocess_get_if_exited (host.process) || g_subprocess_get_exit_status (host.process) != 0)
    fail_msg ("evbus did not exit cleanly:\n%s", host.seen->str);
  assert_non_null (strstr (host.seen->str, "SIGTERM received, shutting down"));

  g_object_unref (host.log);
  g_object_unref (host.process);
  g_string_free (host.seen, TRUE);
  g_unlink (config);
  g_rmdir (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_search_through_evbus_run),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
