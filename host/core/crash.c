/* One line on stderr when plugin code (or the host) dies of a fatal
 * signal (crash.h).  Everything here runs inside the signal handler, on
 * the faulting thread: write(2), our own formatting, nothing that
 * allocates or locks. */
#include "crash.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "running.h"

static const struct {
  int signum;
  const char *name;
} fatal_signals[] = {
  { SIGSEGV, "SIGSEGV" }, { SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" }, { SIGILL, "SIGILL" }, { SIGABRT, "SIGABRT" },
};

/* The main thread's alternate stack, so that a stack overflow in a
 * handler still gets its line. */
static char alternate_stack[64 * 1024];

static void
write_all (const char *text, gsize length)
{
  while (length > 0)
    {
      ssize_t written = write (STDERR_FILENO, text, length);

      if (written < 0 && errno == EINTR)
        continue;
      if (written <= 0)
        return;
      text += written;
      length -= (gsize) written;
    }
}

static void
on_fatal_signal (int signum)
{
  /* Static: the alternate stack is small, and a second fault of the same
   * kind no longer comes here (SA_RESETHAND). */
  static char line[1024];
  const char *name = "fatal signal";

  for (guint i = 0; i < G_N_ELEMENTS (fatal_signals); i++)
    if (fatal_signals[i].signum == signum)
      name = fatal_signals[i].name;
  line[0] = '\0';
  strcat (line, "evbus: ");
  strcat (line, name);
  strcat (line, " in ");
  evb_running_describe (evb_running_self (), line + strlen (line), sizeof line - strlen (line) - 1);
  strcat (line, "\n");
  write_all (line, strlen (line));
  /* The default action is back (SA_RESETHAND): raised again, the signal
   * is blocked until this returns, then kills the process as it would
   * have; a fault re-executes the faulting instruction and does the same. */
  raise (signum);
}

void
evb_crash_report_install (void)
{
  static gsize installed = 0;
  struct sigaction action;
  stack_t stack;

  if (!g_once_init_enter (&installed))
    return;
  memset (&stack, 0, sizeof stack);
  stack.ss_sp = alternate_stack;
  stack.ss_size = sizeof alternate_stack;
  if (sigaltstack (&stack, NULL) != 0)
    g_warning ("sigaltstack: %s: a stack overflow will leave no crash line", g_strerror (errno));

  memset (&action, 0, sizeof action);
  action.sa_handler = on_fatal_signal;
  action.sa_flags = SA_RESETHAND | SA_ONSTACK;
  sigemptyset (&action.sa_mask);
  for (guint i = 0; i < G_N_ELEMENTS (fatal_signals); i++)
    sigaction (fatal_signals[i].signum, &action, NULL);
  g_once_init_leave (&installed, 1);
}
