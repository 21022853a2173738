/* A program run as a child process by a test, followed through its output:
 * `evbus run CONFIG` as an operator starts it, with its stdout and stderr
 * read through pipes as they come, waited on until a text appears or it
 * exits, and its exit status collected.
 *
 * Nothing sleeps: every wait polls the pipes with a deadline and fails
 * (GError) when the deadline passes, after killing the child so that a
 * hung one cannot outlive the test.  Reaping is waitpid() on this thread,
 * not GSubprocess: GSubprocess reaps on GLib's worker thread, whose
 * hand-overs ThreadSanitizer cannot see (libglib is not instrumented).
 *
 * CMocka tests use the _or_fail forms in child-or-fail.h. */
#pragma once

#include <glib.h>

typedef struct {
  GPid pid;
  int in;             /* its stdin (TEST_CHILD_STDIN_PIPE), else -1; closed by test_child_finish */
  int out;            /* read ends of its stdout and stderr; -1 once closed */
  int err;
  GString *out_text;  /* all it has written so far */
  GString *err_text;
  char *dir;          /* owned; when set, a folder made for this child, removed by test_child_finish */
  char *program;      /* the basename of argv[0], for messages */
  int status;         /* once finished: its exit code, or 128 + the signal that ended it */
} TestChild;

typedef enum {
  TEST_CHILD_DEFAULT = 0,
  /* Give it a pipe for stdin (TestChild.in) instead of the test's own:
   * a handler can then be held in flight until the test writes. */
  TEST_CHILD_STDIN_PIPE = 1 << 0,
} TestChildFlags;

#define TEST_CHILD_ERROR (test_child_error_quark ())
GQuark test_child_error_quark (void);

typedef enum {
  TEST_CHILD_ERROR_NOT_SEEN,     /* what was waited for did not come in time */
  TEST_CHILD_ERROR_NOT_EXITED,   /* its output did not end in time */
  TEST_CHILD_ERROR_NOT_REAPED,   /* waitpid failed */
} TestChildError;

/* The environment children run in: the test's, in the C locale (so GLib's
 * own words, such as option and regex errors, are those the test computes)
 * and without G_MESSAGES_DEBUG (no debug lines in the stderr it checks).
 * Free with g_strfreev. */
char **test_child_environ (void);

/* Starts @argv (NULL-terminated; argv[0] a path) in @cwd (NULL: here) with
 * @envp (NULL: test_child_environ()).  @setup, when not NULL, runs in the
 * child before exec (a resource limit, say).  @child is filled in; clear it
 * with test_child_clear.  FALSE and @error when it cannot be started. */
gboolean test_child_start (TestChild *child, const char *cwd, const char *const *argv, const char *const *envp,
                           TestChildFlags flags, GSpawnChildSetupFunc setup, gpointer setup_data,
                           GError **error);

/* TRUE when the child's output satisfies the predicate. */
typedef gboolean (*TestChildCondition) (TestChild *child, gpointer data);

/* Reads the child's output until @condition holds.  FALSE and @error
 * ("no @what from PROGRAM", with all it wrote) when @timeout_ms pass or its
 * output ends first; the child is then killed with SIGKILL, and still has
 * to be finished. */
gboolean test_child_wait_until (TestChild *child, TestChildCondition condition, gpointer data, const char *what,
                                guint timeout_ms, GError **error);

/* Reads the child's output until @text appears on @stream (its out_text
 * or err_text); the errors of test_child_wait_until. */
gboolean test_child_wait_for (TestChild *child, GString *stream, const char *text, guint timeout_ms,
                              GError **error);

/* Reads the child's output to the end, reaps it and sets status; closes
 * its stdin and removes its dir.  When its output has not ended within
 * @timeout_ms: kills it with SIGKILL, reaps it all the same, FALSE and
 * @error (with all it wrote). */
gboolean test_child_finish (TestChild *child, guint timeout_ms, GError **error);

/* A waitpid() status as a shell gives it: the exit code, or 128 + the
 * signal that ended the process; -1 for neither. */
int test_child_status_of (int wait_status);

/* Frees what test_child_start allocated (after test_child_finish). */
void test_child_clear (TestChild *child);
