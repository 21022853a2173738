/* Children of tests, followed through their output (child.h). */
#include "child.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "temp-dir.h"

char **
test_child_environ (void)
{
  char **env = g_get_environ ();

  env = g_environ_setenv (env, "LC_ALL", "C", TRUE);
  return g_environ_unsetenv (env, "G_MESSAGES_DEBUG");
}

gboolean
test_child_start (TestChild *child, const char *cwd, const char *const *argv, const char *const *envp,
                  TestChildFlags flags, GSpawnChildSetupFunc setup, gpointer setup_data, GError **error)
{
  g_auto (GStrv) default_env = envp == NULL ? test_child_environ () : NULL;
  gboolean stdin_pipe = (flags & TEST_CHILD_STDIN_PIPE) != 0;

  memset (child, 0, sizeof *child);
  child->in = child->out = child->err = -1;
  child->status = -1;
  if (!g_spawn_async_with_pipes (cwd, (char **) argv, envp != NULL ? (char **) envp : default_env,
                                 G_SPAWN_DO_NOT_REAP_CHILD, setup, setup_data, &child->pid,
                                 stdin_pipe ? &child->in : NULL, &child->out, &child->err, error))
    {
      g_prefix_error (error, "cannot start %s: ", argv[0]);
      return FALSE;
    }
  child->program = g_path_get_basename (argv[0]);
  child->out_text = g_string_new (NULL);
  child->err_text = g_string_new (NULL);
  return TRUE;
}

/* Reads what is there on the child's stdout and stderr, waiting at most
 * until @deadline (monotonic µs).  FALSE once both are closed. */
static gboolean
child_read (TestChild *child, gint64 deadline)
{
  struct pollfd fds[2] = { { .fd = child->out, .events = POLLIN }, { .fd = child->err, .events = POLLIN } };
  GString *texts[2] = { child->out_text, child->err_text };
  int *ends[2] = { &child->out, &child->err };
  int n;

  if (child->out < 0 && child->err < 0)
    return FALSE;
  n = poll (fds, 2, (int) MAX (0, (deadline - g_get_monotonic_time ()) / 1000));
  /* Only a bad argument or no memory: a bug here, not in what is tested. */
  if (n < 0 && errno != EINTR)
    g_error ("poll: %s", g_strerror (errno));
  for (int i = 0; i < 2 && n > 0; i++)
    if (fds[i].revents != 0)
      {
        char buffer[4096];
        ssize_t got = read (*ends[i], buffer, sizeof buffer);

        if (got > 0)
          g_string_append_len (texts[i], buffer, got);
        else if (got == 0 || errno != EINTR)
          {
            close (*ends[i]);
            *ends[i] = -1;
          }
      }
  return TRUE;
}

G_DEFINE_QUARK (test-child-error-quark, test_child_error)

static void
set_output_error (TestChild *child, GError **error, TestChildError code, const char *problem)
{
  g_set_error (error, TEST_CHILD_ERROR, code, "%s; stdout:\n%s\nstderr:\n%s", problem, child->out_text->str,
               child->err_text->str);
}

gboolean
test_child_wait_until (TestChild *child, TestChildCondition condition, gpointer data, const char *what,
                       guint timeout_ms, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * G_TIME_SPAN_MILLISECOND;

  while (!condition (child, data))
    if (g_get_monotonic_time () >= deadline || !child_read (child, deadline))
      {
        g_autofree char *problem = g_strdup_printf ("no %s from %s", what, child->program);

        kill (child->pid, SIGKILL);
        set_output_error (child, error, TEST_CHILD_ERROR_NOT_SEEN, problem);
        return FALSE;
      }
  return TRUE;
}

typedef struct {
  GString *stream;
  const char *text;
} TextWait;

static gboolean
stream_has_text (TestChild *child, gpointer data)
{
  TextWait *wait = data;

  return strstr (wait->stream->str, wait->text) != NULL;
}

gboolean
test_child_wait_for (TestChild *child, GString *stream, const char *text, guint timeout_ms, GError **error)
{
  TextWait wait = { stream, text };
  g_autofree char *what = g_strdup_printf ("\"%s\"", text);

  return test_child_wait_until (child, stream_has_text, &wait, what, timeout_ms, error);
}

int
test_child_status_of (int wait_status)
{
  if (WIFEXITED (wait_status))
    return WEXITSTATUS (wait_status);
  if (WIFSIGNALED (wait_status))
    return 128 + WTERMSIG (wait_status);
  return -1;
}

gboolean
test_child_finish (TestChild *child, guint timeout_ms, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * G_TIME_SPAN_MILLISECOND;
  gboolean ended = TRUE;
  int wait_status = 0;
  GPid reaped;

  while (child_read (child, deadline))
    if (g_get_monotonic_time () >= deadline)
      {
        g_autofree char *problem = g_strdup_printf ("%s did not exit", child->program);

        kill (child->pid, SIGKILL);
        set_output_error (child, error, TEST_CHILD_ERROR_NOT_EXITED, problem);
        ended = FALSE;
        break;
      }
  /* Both pipes closed (or it was killed): the process is gone or going. */
  while ((reaped = waitpid (child->pid, &wait_status, 0)) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (child->pid);
  child->status = reaped == child->pid ? test_child_status_of (wait_status) : -1;
  if (reaped != child->pid && ended)
    {
      g_set_error (error, TEST_CHILD_ERROR, TEST_CHILD_ERROR_NOT_REAPED, "waitpid %d: %s", (int) child->pid,
                   g_strerror (errno));
      ended = FALSE;
    }
  if (child->in >= 0)
    close (child->in);
  child->in = -1;
  if (child->dir != NULL)
    temp_dir_remove (child->dir);
  return ended;
}

void
test_child_clear (TestChild *child)
{
  /* Still open when a wait gave up before the output ended. */
  if (child->out >= 0)
    close (child->out);
  if (child->err >= 0)
    close (child->err);
  if (child->out_text != NULL)
    g_string_free (child->out_text, TRUE);
  if (child->err_text != NULL)
    g_string_free (child->err_text, TRUE);
  g_free (child->dir);
  g_free (child->program);
  memset (child, 0, sizeof *child);
}
