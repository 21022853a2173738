/* Signals for `evbus run` (run-signals.h).
 *
 * The handler does only what is async-signal-safe: it counts stop
 * signals, forces the exit itself on the second, and otherwise writes
 * the signal's number into a pipe.  A thread reads the pipe, writes the
 * line and asks the main loop to quit through an idle source, which the
 * loop runs whenever it runs: a quit asked before g_main_loop_run is not
 * lost, and one asked while a handler holds the loop waits for it (the
 * second signal does not). */
#include "run-signals.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int signal_pipe[2] = { -1, -1 };
static gint stop_signals;     /* SIGINT and SIGTERM so far (atomic) */
static gint stop_announced;   /* the thread has written the first one's line (atomic) */
static GMainLoop *run_loop;   /* set before the handlers are installed */
static GSource *stop_source;  /* quits run_loop once a stop is announced */
static guint run_grace_ms;

static const char *
signal_name (int signum)
{
  switch (signum)
    {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "a signal";
    }
}

static void
on_signal (int signum)
{
  static const char forced[] = "evbus: forced exit\n";
  int saved_errno = errno;
  unsigned char number = (unsigned char) signum;

  if (signum != SIGHUP && __atomic_add_fetch (&stop_signals, 1, __ATOMIC_SEQ_CST) >= 2)
    {
      /* No plugin code, no atexit handlers, no locks: out now. */
      if (write (STDERR_FILENO, forced, sizeof forced - 1) < 0)
        {
          /* nothing to do about it */
        }
      /* The system call itself: sanitizers wrap _exit with their own
       * end-of-process work, which must not run inside a signal handler. */
      syscall (SYS_exit_group, 128 + signum);
    }
  if (write (signal_pipe[1], &number, 1) < 0)
    {
      /* A full pipe already holds a byte that wakes the thread. */
    }
  errno = saved_errno;
}

/* Ready once the signal thread has announced a stop: quits the loop.
 * Made and attached by the main thread, so the signal thread allocates
 * nothing that the main thread frees (ThreadSanitizer cannot see GLib's
 * own locks hand it over); it only sets the flag and wakes the context. */
static gboolean
stop_is_due (GSource *source, gint *timeout)
{
  *timeout = -1;
  return __atomic_load_n (&stop_announced, __ATOMIC_SEQ_CST) != 0;
}

static gboolean
stop_is_due_after_poll (GSource *source)
{
  return __atomic_load_n (&stop_announced, __ATOMIC_SEQ_CST) != 0;
}

static gboolean
quit_loop (GSource *source, GSourceFunc callback, gpointer data)
{
  g_main_loop_quit (run_loop);
  return G_SOURCE_REMOVE;
}

static GSourceFuncs stop_funcs = {
  .prepare = stop_is_due,
  .check = stop_is_due_after_poll,
  .dispatch = quit_loop,
};

/* SIGINT, SIGTERM and SIGHUP. */
static void
stop_signal_set (sigset_t *set)
{
  sigemptyset (set);
  sigaddset (set, SIGINT);
  sigaddset (set, SIGTERM);
  sigaddset (set, SIGHUP);
}

void
evb_run_signals_block (void)
{
  sigset_t set;

  stop_signal_set (&set);
  pthread_sigmask (SIG_BLOCK, &set, NULL);
}

static gpointer
receive_signals (gpointer data)
{
  sigset_t set;

  /* The one thread the stop signals reach (evb_run_signals_block); its
   * handler runs here, interrupting the read below. */
  stop_signal_set (&set);
  pthread_sigmask (SIG_UNBLOCK, &set, NULL);
  for (;;)
    {
      unsigned char number;
      ssize_t got = read (signal_pipe[0], &number, 1);

      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        return NULL;
      if (number == SIGHUP)
        {
          /* Reloading is not there yet (DESIGN "Reload"); an operator's
           * habit of sending SIGHUP must not kill the host. */
          fputs ("evbus: SIGHUP received: reloading is not supported yet, carrying on\n", stderr);
          fflush (stderr);
          continue;
        }
      fprintf (stderr, "evbus: %s received, shutting down (grace %u ms; %s again forces exit)\n",
               signal_name (number), run_grace_ms, signal_name (number));
      fflush (stderr);
      __atomic_store_n (&stop_announced, 1, __ATOMIC_SEQ_CST);
      g_main_context_wakeup (g_main_loop_get_context (run_loop));
    }
}

void
evb_run_signals_start (GMainLoop *loop, guint grace_ms)
{
  static const int signals[] = { SIGINT, SIGTERM, SIGHUP };
  struct sigaction action;

  g_return_if_fail (run_loop == NULL);
  run_loop = g_main_loop_ref (loop);
  run_grace_ms = grace_ms;
  if (pipe (signal_pipe) != 0)
    g_error ("cannot make the signal pipe: %s", g_strerror (errno));
  for (int i = 0; i < 2; i++)
    fcntl (signal_pipe[i], F_SETFD, FD_CLOEXEC);
  fcntl (signal_pipe[1], F_SETFL, O_NONBLOCK);
  stop_source = g_source_new (&stop_funcs, sizeof (GSource));
  g_source_set_priority (stop_source, G_PRIORITY_HIGH);
  g_source_set_static_name (stop_source, "evbus signal stop");
  g_source_attach (stop_source, g_main_loop_get_context (loop));

  memset (&action, 0, sizeof action);
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset (&action.sa_mask);
  for (guint i = 0; i < G_N_ELEMENTS (signals); i++)
    sigaction (signals[i], &action, NULL);
  /* After the handlers: a signal that came while every thread blocked it
   * waits, pending, for this thread, and finds the handler. */
  g_thread_unref (g_thread_new ("evbus-signals", receive_signals, NULL));

  /* A server's rule: a peer that closed its end of a socket or pipe is
   * an EPIPE for the plugin that wrote, never the death of the whole host
   * (no failure event, no shutdown).  Commands the exec plugin starts get
   * the default back (posix_spawn SETSIGDEF). */
  action.sa_handler = SIG_IGN;
  action.sa_flags = 0;
  sigaction (SIGPIPE, &action, NULL);
}

gboolean
evb_run_signals_stop_requested (void)
{
  return __atomic_load_n (&stop_announced, __ATOMIC_SEQ_CST) != 0;
}
