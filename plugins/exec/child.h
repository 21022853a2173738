/* child — run one command in a process group of its own and see it to its
 * end: feed its stdin, split its stdout and stderr into lines, kill the
 * whole group on a deadline or a cancel, reap it.
 *
 * posix_spawn, not GSubprocess: a child must lead a new process group
 * (POSIX_SPAWN_SETPGROUP) so that a timeout kills what it started too, and
 * GSubprocess can only do that through a child-setup function, which makes
 * GLib fork instead of vfork-spawning.  posix_spawn also needs no main
 * context: a worker thread runs the child with poll(2) and reaps it with
 * waitpid() on its own pid, so exec never touches the host's main loop and
 * never races GLib's child watches (which wait on their own pids only).
 *
 * Threads: every function here works on the calling thread only; one
 * ExecRun is used by one thread. */
#pragma once

#include <glib.h>

/* A line of stdout or stderr, without its newline, NUL-terminated.  Return
 * FALSE to have the run kill the group and stop (the source mode stops that
 * way). */
typedef gboolean (*ExecLineFunc) (const char *line, gsize length, gpointer data);
/* Polled about every 50 ms; TRUE kills the group (a cancelled job, a
 * source told to stop). */
typedef gboolean (*ExecStopFunc) (gpointer data);

typedef struct {
  char **argv;               /* argv[0] looked up in the host's PATH */
  char **envp;               /* the whole environment of the child */
  const char *cwd;           /* NULL: the host's */
  const char *input;         /* written to stdin, then stdin is closed; NULL: stdin is /dev/null */
  gsize input_length;
  gint64 timeout_ms;         /* 0: none */
  gint64 kill_grace_ms;      /* SIGTERM to the group, SIGKILL this much later (0: SIGKILL at once) */
  gsize max_line;            /* longer stdout lines are discarded and counted */
  gsize stderr_tail_bytes;   /* how much of the end of stderr to keep */
  ExecLineFunc on_stdout;
  ExecLineFunc on_stderr;
  ExecStopFunc should_stop;
  gpointer data;
} ExecSpec;

typedef enum {
  EXEC_END_EXITED,    /* exited on its own (status in @status) */
  EXEC_END_TIMED_OUT, /* the deadline passed: group killed */
  EXEC_END_STOPPED,   /* should_stop or a line callback said so: group killed */
} ExecEnd;

typedef struct {
  ExecEnd end;
  int pid;
  int status;          /* waitpid's status of the leader */
  gboolean killed_hard; /* SIGKILL was needed */
  guint long_lines;    /* stdout lines over max_line, discarded */
  GString *stderr_tail; /* the last stderr_tail_bytes of stderr; free with exec_result_clear */
} ExecResult;

/* Runs @spec to its end.  FALSE with @error only when the command could
 * not be started at all (not found, not executable, no pipes). */
gboolean exec_run (const ExecSpec *spec, ExecResult *result, GError **error);

void exec_result_clear (ExecResult *result);

/* "exited with status 3", "was killed by signal 9 (Killed)". */
char *exec_describe_status (int status);

/* The exit code for a failure: the status, 128 + the signal. */
int exec_status_code (int status);
