/* child — one command, its own process group, its pipes, its end.  See
 * child.h for why posix_spawn. */
#define _GNU_SOURCE
#include "child.h"

#include <glib-unix.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* How often a run looks at should_stop when nothing else wakes it. */
#define EXEC_SLICE_MS 50
/* After the command exited and its group was killed, how long a pipe may
 * stay open (held by a process that left the group: setsid) before the
 * run stops reading it. */
#define EXEC_DRAIN_MS 1000
#define EXEC_READ_CHUNK (64 * 1024)

static GQuark
spawn_error_quark (void)
{
  /* Copied, not _static_: GLib keeps quarks after this module is unloaded. */
  return g_quark_from_string ("evbus-exec-spawn-error");
}

typedef struct {
  int fd;             /* -1 once at EOF */
  GString *pending;   /* the line being read */
  gboolean discarding; /* inside a line over max_line */
  gboolean is_stdout;
} LineReader;

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

static int
pidfd_for (pid_t pid)
{
#ifdef SYS_pidfd_open
  return (int) syscall (SYS_pidfd_open, pid, 0);
#else
  return -1;
#endif
}

/* Starts the child as the leader of a new process group with stdin (a
 * socket, so that writing to a child that closed it is EPIPE and never
 * SIGPIPE: MSG_NOSIGNAL), stdout and stderr (pipes) connected. */
static gboolean
spawn_child (const ExecSpec *spec, pid_t *pid, int *in_fd, int *out_fd, int *err_fd, GError **error)
{
  int in_pair[2] = { -1, -1 };
  int out_pipe[2] = { -1, -1 };
  int err_pipe[2] = { -1, -1 };
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  sigset_t mask;
  sigset_t defaults;
  int rc;

  if ((spec->input != NULL && socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) < 0)
      || pipe2 (out_pipe, O_CLOEXEC) < 0 || pipe2 (err_pipe, O_CLOEXEC) < 0)
    {
      int saved = errno;

      g_set_error (error, spawn_error_quark (), saved, "cannot make pipes for \"%s\": %s", spec->argv[0],
                   g_strerror (saved));
      close_fd (&in_pair[0]), close_fd (&in_pair[1]);
      close_fd (&out_pipe[0]), close_fd (&out_pipe[1]);
      close_fd (&err_pipe[0]), close_fd (&err_pipe[1]);
      return FALSE;
    }

  posix_spawn_file_actions_init (&actions);
  if (spec->input != NULL)
    posix_spawn_file_actions_adddup2 (&actions, in_pair[1], STDIN_FILENO);
  else
    posix_spawn_file_actions_addopen (&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2 (&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2 (&actions, err_pipe[1], STDERR_FILENO);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
  /* A descriptor some library opened without O_CLOEXEC must not leak in. */
  posix_spawn_file_actions_addclosefrom_np (&actions, STDERR_FILENO + 1);
#endif
  if (spec->cwd != NULL)
    posix_spawn_file_actions_addchdir_np (&actions, spec->cwd);

  posix_spawnattr_init (&attr);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup (&attr, 0);
  /* Worker threads may block signals, and the host may ignore SIGPIPE: the
   * command starts with neither. */
  sigemptyset (&mask);
  posix_spawnattr_setsigmask (&attr, &mask);
  sigfillset (&defaults);
  sigdelset (&defaults, SIGKILL);
  sigdelset (&defaults, SIGSTOP);
  posix_spawnattr_setsigdefault (&attr, &defaults);

  rc = posix_spawnp (pid, spec->argv[0], &actions, &attr, spec->argv, spec->envp);
  posix_spawnattr_destroy (&attr);
  posix_spawn_file_actions_destroy (&actions);
  close_fd (&in_pair[1]);
  close_fd (&out_pipe[1]);
  close_fd (&err_pipe[1]);
  if (rc != 0)
    {
      g_set_error (error, spawn_error_quark (), rc, "cannot run \"%s\": %s", spec->argv[0], g_strerror (rc));
      close_fd (&in_pair[0]);
      close_fd (&out_pipe[0]);
      close_fd (&err_pipe[0]);
      return FALSE;
    }
  g_unix_set_fd_nonblocking (out_pipe[0], TRUE, NULL);
  g_unix_set_fd_nonblocking (err_pipe[0], TRUE, NULL);
  *in_fd = in_pair[0];
  *out_fd = out_pipe[0];
  *err_fd = err_pipe[0];
  return TRUE;
}

/* Hands one complete line to its callback.  FALSE: the callback said stop. */
static gboolean
deliver_line (LineReader *reader, const ExecSpec *spec, const char *line, gsize length)
{
  ExecLineFunc func = reader->is_stdout ? spec->on_stdout : spec->on_stderr;
  g_autofree char *copy = NULL;

  if (func == NULL)
    return TRUE;
  copy = g_strndup (line, length);
  return func (copy, length, spec->data);
}

static void
keep_tail (GString *tail, gsize limit, const char *bytes, gsize length)
{
  if (length >= limit)
    {
      g_string_truncate (tail, 0);
      g_string_append_len (tail, bytes + length - limit, (gssize) limit);
      return;
    }
  g_string_append_len (tail, bytes, (gssize) length);
  if (tail->len > limit)
    g_string_erase (tail, 0, (gssize) (tail->len - limit));
}

/* Splits what was read into lines.  FALSE: a callback said stop. */
static gboolean
reader_take (LineReader *reader, const ExecSpec *spec, ExecResult *result, const char *bytes, gsize length)
{
  gsize start = 0;
  const char *newline;

  g_string_append_len (reader->pending, bytes, (gssize) length);
  while ((newline = memchr (reader->pending->str + start, '\n', reader->pending->len - start)) != NULL)
    {
      gsize line_length = (gsize) (newline - (reader->pending->str + start));
      gboolean go_on = TRUE;

      if (reader->discarding)
        reader->discarding = FALSE;
      else if (line_length > spec->max_line)
        result->long_lines += reader->is_stdout;
      else
        go_on = deliver_line (reader, spec, reader->pending->str + start, line_length);
      start += line_length + 1;
      if (!go_on)
        {
          g_string_truncate (reader->pending, 0);
          return FALSE;
        }
    }
  g_string_erase (reader->pending, 0, (gssize) start);
  if (!reader->discarding && reader->pending->len > spec->max_line)
    {
      result->long_lines += reader->is_stdout;
      reader->discarding = TRUE;
    }
  if (reader->discarding)
    g_string_truncate (reader->pending, 0);
  return TRUE;
}

/* Reads what is there.  FALSE: a callback said stop. */
static gboolean
reader_read (LineReader *reader, const ExecSpec *spec, ExecResult *result, char *chunk)
{
  gssize got = read (reader->fd, chunk, EXEC_READ_CHUNK);

  if (got < 0 && (errno == EINTR || errno == EAGAIN))
    return TRUE;
  if (got > 0)
    {
      if (!reader->is_stdout)
        keep_tail (result->stderr_tail, spec->stderr_tail_bytes, chunk, (gsize) got);
      return reader_take (reader, spec, result, chunk, (gsize) got);
    }
  /* EOF (or an error, which ends the stream as well): a last line without
   * its newline is still a line. */
  close_fd (&reader->fd);
  if (reader->pending->len > 0 && !reader->discarding)
    {
      gboolean go_on = deliver_line (reader, spec, reader->pending->str, reader->pending->len);

      g_string_truncate (reader->pending, 0);
      return go_on;
    }
  return TRUE;
}

static int
ms_until (gint64 when_us, gint64 now_us)
{
  if (when_us == G_MAXINT64)
    return EXEC_SLICE_MS;
  if (when_us <= now_us)
    return 0;
  return (int) MIN ((when_us - now_us + 999) / 1000, EXEC_SLICE_MS);
}

/* TRUE once the leader has exited; it stays a zombie (WNOWAIT), so its pid,
 * which is the group's id, cannot be reused while the group is killed. */
static gboolean
leader_exited (pid_t pid)
{
  siginfo_t info;

  memset (&info, 0, sizeof info);
  return waitid (P_PID, (id_t) pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

gboolean
exec_run (const ExecSpec *spec, ExecResult *result, GError **error)
{
  LineReader out = { .fd = -1, .is_stdout = TRUE };
  LineReader err = { .fd = -1, .is_stdout = FALSE };
  g_autofree char *chunk = NULL;
  int in_fd = -1;
  int pid_fd;
  pid_t pid;
  gsize written = 0;
  gboolean exited = FALSE;
  gboolean killing = FALSE;
  gint64 now = g_get_monotonic_time ();
  gint64 deadline = spec->timeout_ms > 0 ? now + spec->timeout_ms * 1000 : G_MAXINT64;
  gint64 hard_kill_at = G_MAXINT64;
  gint64 drain_until = G_MAXINT64;

  memset (result, 0, sizeof *result);
  result->stderr_tail = g_string_new (NULL);
  result->end = EXEC_END_EXITED;
  if (!spawn_child (spec, &pid, &in_fd, &out.fd, &err.fd, error))
    return FALSE;
  result->pid = pid;
  out.pending = g_string_new (NULL);
  err.pending = g_string_new (NULL);
  chunk = g_malloc (EXEC_READ_CHUNK);
  /* Wakes poll when the leader exits; without pidfds, the slices do. */
  pid_fd = pidfd_for (pid);

  while (!exited || out.fd >= 0 || err.fd >= 0)
    {
      struct pollfd fds[4];
      int n_fds = 0;
      int in_at = -1, out_at = -1, err_at = -1;
      int wait_ms;
      gboolean go_on = TRUE;

      if (in_fd >= 0)
        in_at = n_fds, fds[n_fds++] = (struct pollfd) { .fd = in_fd, .events = POLLOUT };
      if (out.fd >= 0)
        out_at = n_fds, fds[n_fds++] = (struct pollfd) { .fd = out.fd, .events = POLLIN };
      if (err.fd >= 0)
        err_at = n_fds, fds[n_fds++] = (struct pollfd) { .fd = err.fd, .events = POLLIN };
      if (pid_fd >= 0 && !exited)
        fds[n_fds++] = (struct pollfd) { .fd = pid_fd, .events = POLLIN };

      now = g_get_monotonic_time ();
      wait_ms = MIN (ms_until (deadline, now), ms_until (hard_kill_at, now));
      wait_ms = MIN (wait_ms, ms_until (drain_until, now));
      if (pid_fd < 0 && !exited && out.fd < 0 && err.fd < 0)
        wait_ms = MIN (wait_ms, 5);
      if (poll (fds, (nfds_t) n_fds, wait_ms) < 0 && errno != EINTR)
        g_warning ("exec: poll failed: %s", g_strerror (errno));

      if (in_at >= 0 && fds[in_at].revents != 0)
        {
          gssize sent = send (in_fd, spec->input + written, spec->input_length - written, MSG_NOSIGNAL | MSG_DONTWAIT);

          if (sent > 0)
            written += (gsize) sent;
          /* A command that does not read its input may close it: fine. */
          if (written == spec->input_length || (sent < 0 && errno != EAGAIN && errno != EINTR))
            close_fd (&in_fd);
        }
      if (out_at >= 0 && fds[out_at].revents != 0)
        go_on = reader_read (&out, spec, result, chunk) && go_on;
      if (err_at >= 0 && fds[err_at].revents != 0)
        go_on = reader_read (&err, spec, result, chunk) && go_on;

      now = g_get_monotonic_time ();
      if (!exited && leader_exited (pid))
        {
          exited = TRUE;
          close_fd (&in_fd);
          /* What it left running in its group goes with it: no strays. */
          kill (-pid, SIGKILL);
          drain_until = now + EXEC_DRAIN_MS * 1000;
        }
      if (!killing && !exited)
        {
          if (!go_on || (spec->should_stop != NULL && spec->should_stop (spec->data)))
            result->end = EXEC_END_STOPPED, killing = TRUE;
          else if (now >= deadline)
            result->end = EXEC_END_TIMED_OUT, killing = TRUE;
          if (killing)
            {
              close_fd (&in_fd);
              if (spec->kill_grace_ms > 0)
                {
                  kill (-pid, SIGTERM);
                  hard_kill_at = now + spec->kill_grace_ms * 1000;
                }
              else
                {
                  kill (-pid, SIGKILL);
                  result->killed_hard = TRUE;
                }
            }
        }
      if (killing && !exited && now >= hard_kill_at)
        {
          kill (-pid, SIGKILL);
          result->killed_hard = TRUE;
          hard_kill_at = G_MAXINT64;
        }
      if (exited && now >= drain_until)
        {
          close_fd (&out.fd);
          close_fd (&err.fd);
        }
    }

  while (waitpid (pid, &result->status, 0) < 0 && errno == EINTR)
    ;
  close_fd (&pid_fd);
  close_fd (&in_fd);
  g_string_free (out.pending, TRUE);
  g_string_free (err.pending, TRUE);
  return TRUE;
}

void
exec_result_clear (ExecResult *result)
{
  if (result->stderr_tail != NULL)
    g_string_free (result->stderr_tail, TRUE);
  result->stderr_tail = NULL;
}

char *
exec_describe_status (int status)
{
  if (WIFEXITED (status))
    return g_strdup_printf ("exited with status %d", WEXITSTATUS (status));
  if (WIFSIGNALED (status))
    return g_strdup_printf ("was killed by signal %d (%s)", WTERMSIG (status), g_strsignal (WTERMSIG (status)));
  return g_strdup_printf ("ended with wait status %d", status);
}

int
exec_status_code (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 255;
}
