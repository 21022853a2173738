/* A nats-server for tests and benchmarks (nats-server.h). */
#include "nats-server.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "temp-dir.h"

#define LISTENING "Listening for client connections on "

G_DEFINE_QUARK (nats-server-error-quark, nats_server_error)

char *
nats_server_program (void)
{
  char *path = g_find_program_in_path ("nats-server");

  /* Debian installs it in /usr/sbin, not on every user's PATH. */
  if (path == NULL && g_file_test ("/usr/sbin/nats-server", G_FILE_TEST_IS_EXECUTABLE))
    path = g_strdup ("/usr/sbin/nats-server");
  return path;
}

/* In the server's process, before exec: it dies with the test or the
 * benchmark, also when that is aborted (a sanitizer report, a crash). */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* The URL in a ports file of @dir ({"nats": ["nats://127.0.0.1:PORT"], ...}),
 * NULL when there is none yet. */
static char *
read_ports_file (const char *dir)
{
  g_autoptr (GDir) folder = g_dir_open (dir, 0, NULL);
  const char *name;
  char *url = NULL;

  while (url == NULL && folder != NULL && (name = g_dir_read_name (folder)) != NULL)
    if (g_str_has_suffix (name, ".ports"))
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);
        json_t *ports = json_load_file (path, 0, NULL);

        url = g_strdup (json_string_value (json_array_get (json_object_get (ports, "nats"), 0)));
        json_decref (ports);
      }
  return url;
}

/* The URL of the log line "Listening for client connections on HOST:PORT". */
static char *
read_listening_line (const char *log)
{
  const char *address = strstr (log, LISTENING);

  if (address == NULL)
    return NULL;
  address += strlen (LISTENING);
  return g_strdup_printf ("nats://%.*s", (int) strcspn (address, "\r\n"), address);
}

gboolean
nats_server_start (NatsServer *server, GError **error)
{
  g_autofree char *program = nats_server_program ();
  g_autofree char *store = NULL;
  g_autoptr (GString) log = g_string_new (NULL);
  const char *port = server->url != NULL ? strrchr (server->url, ':') + 1 : "-1";
  char buffer[4096];
  gssize got;

  if (program == NULL)
    {
      g_set_error (error, NATS_SERVER_ERROR, NATS_SERVER_ERROR_NOT_INSTALLED,
                   "nats-server is not installed (apt-get install nats-server)");
      return FALSE;
    }
  if (server->dir == NULL && (server->dir = g_dir_make_tmp ("evbus-nats-XXXXXX", error)) == NULL)
    return FALSE;
  store = g_build_filename (server->dir, "store", NULL);
  {
    const char *argv[] = { program, "-a", "127.0.0.1", "-p", port, "-js", "-sd", store,
                           "--ports_file_dir", server->dir, NULL };

    if (!g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                                   die_with_parent, NULL, &server->pid, NULL, NULL, &server->log_fd, error))
      {
        g_prefix_error (error, "cannot start nats-server: ");
        return FALSE;
      }
  }
  /* It logs "Listening for client connections on ...", then "Server is
   * ready"; its stderr ends if it exits first. */
  while (strstr (log->str, "Server is ready") == NULL && (got = read (server->log_fd, buffer, sizeof buffer)) != 0)
    if (got > 0)
      g_string_append_len (log, buffer, got);
    else if (errno != EINTR)
      break;
  /* The ports file when it is there already (it may be written just after
   * the server says it is ready), else the log line. */
  {
    char *url = read_ports_file (server->dir);

    if (url == NULL)
      url = read_listening_line (log->str);
    if (url != NULL)
      {
        g_free (server->url);
        server->url = url;
      }
  }
  if (strstr (log->str, "Server is ready") == NULL || server->url == NULL)
    {
      g_set_error (error, NATS_SERVER_ERROR, NATS_SERVER_ERROR_NOT_READY, "nats-server did not start:\n%s",
                   log->str);
      nats_server_kill (server, SIGKILL);
      return FALSE;
    }
  return TRUE;
}

void
nats_server_kill (NatsServer *server, int signal_number)
{
  int status;

  kill (server->pid, signal_number);
  while (waitpid (server->pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (server->pid);
  server->pid = 0;
  close (server->log_fd);
  server->log_fd = -1;
}

void
nats_server_stop (NatsServer *server)
{
  if (server->pid != 0)
    nats_server_kill (server, SIGTERM);
  if (server->dir != NULL)
    temp_dir_remove (server->dir);
  g_clear_pointer (&server->dir, g_free);
  g_clear_pointer (&server->url, g_free);
}
