/* The private X server (xserver.h). */
#include "xserver.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define XSERVER_START_TIMEOUT_MS 10000

gboolean
test_xserver_available (void)
{
  g_autofree char *path = g_find_program_in_path ("Xvfb");

  return path != NULL;
}

/* In the child: die with the test, so that a crashed test leaves no server. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* Reads the display number Xvfb writes to @fd, up to its newline. */
static char *
read_display (int fd, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + XSERVER_START_TIMEOUT_MS * 1000;
  GString *text = g_string_new (NULL);

  while (strchr (text->str, '\n') == NULL)
    {
      struct pollfd poll_fd = { .fd = fd, .events = POLLIN, .revents = 0 };
      gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;
      char buffer[64];
      ssize_t n;

      if (left_ms <= 0 || poll (&poll_fd, 1, (int) left_ms) == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "Xvfb reported no display within %d ms",
                       XSERVER_START_TIMEOUT_MS);
          return (g_string_free (text, TRUE), NULL);
        }
      n = read (fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Xvfb exited before reporting a display");
          return (g_string_free (text, TRUE), NULL);
        }
      g_string_append_len (text, buffer, n);
    }
  g_strstrip (text->str);
  return g_strdup_printf (":%s", text->str);
}

gboolean
test_xserver_start (TestXServer *server, const char *log_path, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  int fds[2];

  memset (server, 0, sizeof *server);
  if (pipe (fds) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "pipe: %s", g_strerror (errno));
      return FALSE;
    }
  g_subprocess_launcher_set_stderr_file_path (launcher, log_path);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_take_fd (launcher, fds[1], 3);
  server->process = g_subprocess_launcher_spawn (launcher, error, "Xvfb", "-displayfd", "3", "-screen", "0",
                                                 "1600x1000x24", "-nolisten", "tcp", "-noreset", NULL);
  /* Closes our copy of the write end: a dead server reads as end of file. */
  g_clear_object (&launcher);
  if (server->process == NULL)
    {
      close (fds[0]);
      return FALSE;
    }
  server->display = read_display (fds[0], error);
  close (fds[0]);
  if (server->display == NULL)
    {
      g_prefix_error (error, "(see %s) ", log_path);
      test_xserver_stop (server);
      return FALSE;
    }
  g_setenv ("DISPLAY", server->display, TRUE);
  return TRUE;
}

void
test_xserver_stop (TestXServer *server)
{
  if (server->process != NULL)
    {
      g_subprocess_send_signal (server->process, SIGTERM);
      g_subprocess_wait (server->process, NULL, NULL);
    }
  g_clear_object (&server->process);
  g_clear_pointer (&server->display, g_free);
}
