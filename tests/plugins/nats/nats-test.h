/* Helpers of the nats plugin's tests: a real nats-server with JetStream on
 * a free loopback port in a temporary store, a raw libnats client to look
 * at what the plugin sends, and the harness helpers of the stock tests.
 *
 * The server is started with -p -1 (a free port; -p 0 would bind 4222);
 * its log line "Listening for client connections on ..." gives the URL.  Tests exit 77 (skipped) only when
 * nats-server is not installed. */
#pragma once

#include "../stock/stock-test.h"

#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <nats/nats.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* The server is spawned with g_spawn and reaped with waitpid, not run as a
 * GSubprocess: GSubprocess reaps on GLib's worker thread, whose hand-overs
 * ThreadSanitizer cannot see (libglib is not instrumented). */
typedef struct {
  GPid pid;     /* 0 while not running */
  int log_fd;   /* its stderr, read until "Server is ready", kept open (no SIGPIPE) until it exits */
  char *dir;   /* the ports file and store/ */
  char *url;   /* nats://127.0.0.1:PORT */
} NatsServer;

static inline char *
nats_server_program (void)
{
  char *path = g_find_program_in_path ("nats-server");

  /* Debian installs it in /usr/sbin, not on every user's PATH. */
  if (path == NULL && g_file_test ("/usr/sbin/nats-server", G_FILE_TEST_IS_EXECUTABLE))
    path = g_strdup ("/usr/sbin/nats-server");
  return path;
}

/* Exit 77 (meson's "skipped") when there is no server to test against. */
static inline void
nats_server_require (void)
{
  g_autofree char *program = nats_server_program ();

  if (program == NULL)
    {
      printf ("nats-server is not installed (apt-get install nats-server): skipped\n");
      exit (77);
    }
}

static inline void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  if (dir != NULL)
    g_dir_close (dir);
  g_rmdir (path);
}

/* In the server's child process: it dies with the test, also when the
 * test is aborted (a sanitizer report, a crash) before its teardown. */
static inline void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* Starts the server in @server->dir (made when NULL, kept when restarting)
 * and waits until it is ready: its log line "Server is ready" on stderr,
 * read with blocking reads that end at the line or when the server dies.
 * A restart (@server->url set) listens on the same port again, so that
 * clients reconnect to the URL they know. */
static inline void
nats_server_start (NatsServer *server)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *program = nats_server_program ();
  g_autofree char *store = NULL;
  g_autoptr (GDataInputStream) log = NULL;
  gboolean ready = FALSE;
  char *line;

  if (server->dir == NULL)
    server->dir = g_dir_make_tmp ("evbus-nats-XXXXXX", &error);
  assert_no_error (error);
  store = g_build_filename (server->dir, "store", NULL);
  {
    const char *port = server->url != NULL ? strrchr (server->url, ':') + 1 : "-1";
    const char *argv[] = { program, "-a", "127.0.0.1", "-p", port, "-js", "-sd", store, NULL };
    g_autoptr (GInputStream) pipe = NULL;

    g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                              die_with_parent, NULL, &server->pid, NULL, NULL, &server->log_fd, &error);
    assert_no_error (error);
    pipe = g_unix_input_stream_new (server->log_fd, FALSE);
    log = g_data_input_stream_new (pipe);
  }
  /* "Listening for client connections on 127.0.0.1:PORT", then "Server is ready". */
  while (!ready && (line = g_data_input_stream_read_line (log, NULL, NULL, NULL)) != NULL)
    {
      const char *listening = strstr (line, "Listening for client connections on ");

      if (listening != NULL)
        {
          g_free (server->url);
          server->url = g_strdup_printf ("nats://%s", listening + strlen ("Listening for client connections on "));
        }
      ready = strstr (line, "Server is ready") != NULL;
      g_free (line);
    }
  if (!ready || server->url == NULL)
    fail_msg ("nats-server did not start (see its log above)");
  assert_non_null (server->url);
}

/* Stops the process; the store stays for a restart. */
static inline void
nats_server_kill (NatsServer *server, int signal_number)
{
  int status;

  kill (server->pid, signal_number);
  while (waitpid (server->pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (server->pid);
  server->pid = 0;
  close (server->log_fd);
}

static inline void
nats_server_stop (NatsServer *server)
{
  if (server->pid != 0)
    nats_server_kill (server, SIGTERM);
  remove_tree (server->dir);
  g_clear_pointer (&server->dir, g_free);
  g_clear_pointer (&server->url, g_free);
}

/* ---- a raw client: what the plugin sends, as another program sees it ---- */

static inline natsConnection *
raw_connect (const NatsServer *server)
{
  natsConnection *conn = NULL;

  if (natsConnection_ConnectTo (&conn, server->url) != NATS_OK)
    fail_msg ("raw client cannot connect to %s", server->url);
  return conn;
}

static inline jsCtx *
raw_jetstream (natsConnection *conn)
{
  jsCtx *js = NULL;

  assert_int_equal (natsConnection_JetStream (&js, conn, NULL), NATS_OK);
  return js;
}

/* Messages in @stream, or -1 when it does not exist. */
static inline gint64
raw_stream_messages (jsCtx *js, const char *stream)
{
  jsStreamInfo *info = NULL;
  gint64 messages;

  if (js_GetStreamInfo (&info, js, stream, NULL, NULL) != NATS_OK)
    return -1;
  messages = (gint64) info->State.Msgs;
  jsStreamInfo_Destroy (info);
  return messages;
}

typedef struct {
  jsCtx *js;
  const char *stream;
  gint64 messages;
} StreamWait;

static inline gboolean
stream_has (EvbHarness *harness, gpointer data)
{
  StreamWait *wait = data;

  return raw_stream_messages (wait->js, wait->stream) == wait->messages;
}

static inline void
run_until_stream_has (EvbHarness *harness, jsCtx *js, const char *stream, gint64 messages)
{
  StreamWait wait = { js, stream, messages };
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until (harness, stream_has, &wait, WAIT_MS, &error))
    fail_msg ("stream %s never had %" G_GINT64_FORMAT " messages (has %" G_GINT64_FORMAT "): %s", stream, messages,
              raw_stream_messages (js, stream), error->message);
}

/* The config of a nats instance on @server, with @extra members ("" or
 * "\"a\": 1, ..."). */
static inline char *
nats_config (const NatsServer *server, const char *host, const char *extra)
{
  return g_strdup_printf ("{\"servers\": [\"%s\"], \"host\": \"%s\"%s%s}", server->url, host,
                          *extra != '\0' ? ", " : "", extra);
}

/* The latest nats.stats of instance @instance, fresh: asks with report. */
static inline json_t *
nats_stats (EvbHarness *harness, const char *instance)
{
  g_autofree char *type = g_strdup_printf ("%s-stats.now", instance);
  guint before = evb_harness_count (harness, "nats.stats");

  emit_or_fail (harness, type, NULL);
  run_until_count_or_fail (harness, "nats.stats", before + 1);
  return json_incref (evb_harness_find (harness, "nats.stats", before)->data);
}

static inline gint64
stat_of (json_t *stats, const char *group, const char *name)
{
  json_t *value = json_object_get (json_object_get (stats, group), name);

  if (!json_is_integer (value))
    fail_msg ("nats.stats has no %s.%s", group, name);
  return json_integer_value (value);
}
