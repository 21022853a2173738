/* The exec instance, shared by its handler (exec.c) and its source mode
 * (source.c). */
#pragma once

#include <evbus/json.h>
#include <evbus/plugin.h>

#include "output.h"
#include "child.h"

#define EXEC_DOMAIN "exec"
/* A stdout line longer than this is discarded and counted as bad. */
#define EXEC_MAX_LINE (1024 * 1024)
/* How much of the end of stderr a failure quotes. */
#define EXEC_STDERR_TAIL 1024

/* Failure codes (error.code of evbus.failure), after timeout(1) and sh. */
enum {
  EXEC_CODE_BAD_OUTPUT = 65,  /* exited 0, but stdout lines were not events (EX_DATAERR) */
  EXEC_CODE_TIMED_OUT = 124,  /* the deadline passed; the group was killed */
  EXEC_CODE_CANNOT_RUN = 127, /* not found, not executable */
  EXEC_CODE_CANCELLED = 499,  /* the host cancelled the job; the group was killed */
  EXEC_CODE_NOT_EMITTED = 503, /* output events the host refused */
  EXEC_CODE_SOURCE_MODE = 400, /* a route to the handler of a source instance */
};

typedef enum {
  EXEC_INPUT_EVENT,
  EXEC_INPUT_DATA,
  EXEC_INPUT_NONE,
} ExecInput;

typedef struct _ExecFlow ExecFlow;

typedef struct {
  EvbPlugin *plugin;
  char **argv;
  char *shown;         /* argv[0], or "sh -c" with shell: how messages name the command */
  char *cwd;           /* NULL: the host's */
  char **base_env;     /* the host's environment at init */
  json_t *env_fields;  /* {"VAR": "dotted.path"}, a reference */
  ExecInput input;
  ExecOutput output;
  char *output_type;
  gint64 timeout_ms;
  gint64 kill_grace_ms;

  /* The concurrency cap, across every route to the handler. */
  GMutex slots_lock;
  GCond slot_freed;
  guint running;
  guint max_running;

  /* Source mode. */
  gboolean is_source;
  gint64 restart_ms;
  gint64 restart_max_ms;
  ExecFlow *flow;
  GThread *thread;
} Exec;

/* The child's environment for @event: the host's, then EVB_* and the
 * configured fields.  @event NULL: the host's and EVB_INSTANCE only. */
char **exec_environment (Exec *exec, const EvbEvent *event);

/* Logs one stderr line of the command with pid @pid. */
gboolean exec_log_stderr_line (Exec *exec, int pid, const char *line);

/* A one-line JSON string literal of the end of stderr, or "" when empty:
 * "; stderr: \"...\"". */
char *exec_stderr_suffix (const GString *tail);

/* Source mode (source.c): start the reader thread in init, tell it to stop
 * in stop, join it in shutdown. */
gboolean exec_source_start (Exec *exec, guint max_in_flight, GError **error);
void exec_source_request_stop (Exec *exec);
void exec_source_join (Exec *exec);
