/* Signals for `evbus run` (run-signals.h).
 *
 * SIGINT, SIGTERM and SIGHUP are blocked in every thread
 * (evb_run_signals_block, before the bus starts any) and taken by one
 * thread of ours with sigwaitinfo: no asynchronous handler at all.  That
 * thread writes the line, counts stop signals, forces the exit itself on
 * the second, and asks the main loop to quit through a source the loop
 * runs whenever it runs: a quit asked before g_main_loop_run is not lost,
 * and one asked while a handler holds the loop waits for it (the second
 * signal does not).  A signal that comes before the thread runs waits,
 * pending, for it; none can find the default action once blocked.  And
 * since the signals are taken synchronously, a sanitizer that holds back
 * asynchronous handlers until a thread wakes has nothing to hold back. */
#include "run-signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static gint stop_announced;   /* the thread has written the first one's line (atomic) */
static GMainLoop *run_loop;   /* set before the thread starts */
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
  guint stops = 0;
  sigset_t set;

  stop_signal_set (&set);
  for (;;)
    {
      int number = sigwaitinfo (&set, NULL);

      if (number < 0)
        continue; /* EINTR: another signal's handler (a profiler's) ran here */
      if (number == SIGHUP)
        {
          /* Reloading is not there yet (DESIGN "Reload"); an operator's
           * habit of sending SIGHUP must not kill the host. */
          fputs ("evbus: SIGHUP received: reloading is not supported yet, carrying on\n", stderr);
          fflush (stderr);
          continue;
        }
      if (++stops >= 2)
        {
          /* No plugin code, no atexit handlers, no locks: out now, from
           * here, whatever the main thread is doing.  The system call
           * itself: sanitizers wrap _exit with end-of-process work that
           * may wait for the thread that is stuck. */
          fputs ("evbus: forced exit\n", stderr);
          fflush (stderr);
          syscall (SYS_exit_group, 128 + number);
        }
      fprintf (stderr, "evbus: %s received, shutting down (grace %u ms; %s again forces exit)\n",
               signal_name (number), run_grace_ms, signal_name (number));
      fflush (stderr);
      __atomic_store_n (&stop_announced, 1, __ATOMIC_SEQ_CST);
      g_main_context_wakeup (g_main_loop_get_context (run_loop));
    }
  return NULL;
}

void
evb_run_signals_start (GMainLoop *loop, guint grace_ms)
{
  struct sigaction action;

  g_return_if_fail (run_loop == NULL);
  run_loop = g_main_loop_ref (loop);
  run_grace_ms = grace_ms;
  /* Idempotent, and it makes sure of the mask however the caller began. */
  evb_run_signals_block ();
  stop_source = g_source_new (&stop_funcs, sizeof (GSource));
  g_source_set_priority (stop_source, G_PRIORITY_HIGH);
  g_source_set_static_name (stop_source, "evbus signal stop");
  g_source_attach (stop_source, g_main_loop_get_context (loop));
  g_thread_unref (g_thread_new ("evbus-signals", receive_signals, NULL));

  /* A server's rule: a peer that closed its end of a socket or pipe is
   * an EPIPE for the plugin that wrote, never the death of the whole host
   * (no failure event, no shutdown).  Commands the exec plugin starts get
   * the default back and a clean mask (posix_spawn SETSIGDEF, SETSIGMASK). */
  memset (&action, 0, sizeof action);
  action.sa_handler = SIG_IGN;
  sigemptyset (&action.sa_mask);
  sigaction (SIGPIPE, &action, NULL);
}

gboolean
evb_run_signals_stop_requested (void)
{
  return __atomic_load_n (&stop_announced, __ATOMIC_SEQ_CST) != 0;
}
