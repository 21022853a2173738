/* exec's source mode: one command from init to shutdown, its stdout lines
 * emitted as events with receipts, restarted with back-off when it exits.
 *
 * The receipts bound what is in flight: at max_in_flight unfinished events
 * the thread stops reading, the pipe fills and the command blocks on its
 * next write, so a fast producer cannot flood the inbox.  Receipts may
 * come after the instance is gone (events cancelled at shutdown), so they
 * hold a reference to the flow, not to the instance. */
#include "exec-private.h"

struct _ExecFlow {
  gatomicrefcount ref;
  GMutex lock;
  GCond changed;    /* a receipt came, or stop was asked */
  guint in_flight;
  guint max_in_flight;
  gboolean stop;
  guint64 not_delivered; /* refused, dropped or cancelled receipts */
};

typedef struct {
  Exec *exec;
  const ExecResult *result;
  guint lines;
  guint emitted;
  guint bad;
} SourceRun;

static ExecFlow *
flow_ref (ExecFlow *flow)
{
  g_atomic_ref_count_inc (&flow->ref);
  return flow;
}

static void
flow_unref (gpointer data)
{
  ExecFlow *flow = data;

  if (!g_atomic_ref_count_dec (&flow->ref))
    return;
  g_mutex_clear (&flow->lock);
  g_cond_clear (&flow->changed);
  g_free (flow);
}

static gboolean
flow_stopped (ExecFlow *flow)
{
  gboolean stop;

  g_mutex_lock (&flow->lock);
  stop = flow->stop;
  g_mutex_unlock (&flow->lock);
  return stop;
}

/* Main thread, once per emitted line. */
static void
flow_receipt (const EvbReceipt *receipt, gpointer data)
{
  ExecFlow *flow = data;

  g_mutex_lock (&flow->lock);
  flow->in_flight--;
  if (receipt->outcome == EVB_RECEIPT_REFUSED || receipt->outcome == EVB_RECEIPT_DROPPED
      || receipt->outcome == EVB_RECEIPT_CANCELLED)
    flow->not_delivered++;
  g_cond_broadcast (&flow->changed);
  g_mutex_unlock (&flow->lock);
}

/* Waits for room under max_in_flight; FALSE when told to stop. */
static gboolean
flow_take (ExecFlow *flow)
{
  gboolean go_on;

  g_mutex_lock (&flow->lock);
  while (flow->in_flight >= flow->max_in_flight && !flow->stop)
    g_cond_wait (&flow->changed, &flow->lock);
  go_on = !flow->stop;
  if (go_on)
    flow->in_flight++;
  g_mutex_unlock (&flow->lock);
  return go_on;
}

static gboolean
source_stdout (const char *line, gsize length, gpointer data)
{
  SourceRun *run = data;
  Exec *exec = run->exec;
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;
  g_autoptr (GError) error = NULL;
  g_autofree char *type = NULL;
  g_autofree char *reason = NULL;
  json_t *event_data = NULL;

  run->lines++;
  switch (exec_output_parse (exec->output, exec->output_type, line, length, &type, &event_data, &reason))
    {
    case EXEC_LINE_SKIP:
      return TRUE;
    case EXEC_LINE_BAD:
      run->bad++;
      evb_plugin_log (exec->plugin, G_LOG_LEVEL_WARNING, "%s (pid %d): stdout line %u: %s", exec->shown,
                      run->result->pid, run->lines, reason);
      return TRUE;
    case EXEC_LINE_EVENT:
      break;
    }
  if (!flow_take (exec->flow))
    {
      json_decref (event_data);
      return FALSE;
    }
  options.receipt = flow_receipt;
  options.receipt_data = flow_ref (exec->flow);
  options.receipt_destroy = flow_unref;
  /* A refused emit still gets its receipt, which gives the slot back. */
  if (evb_plugin_emit_full (exec->plugin, type, event_data, &options, &error) == 0)
    evb_plugin_log (exec->plugin, G_LOG_LEVEL_WARNING, "%s (pid %d): stdout line %u not emitted: %s", exec->shown,
                    run->result->pid, run->lines, error->message);
  else
    run->emitted++;
  return TRUE;
}

static gboolean
source_stderr (const char *line, gsize length, gpointer data)
{
  SourceRun *run = data;

  return exec_log_stderr_line (run->exec, run->result->pid, line);
}

static gboolean
source_should_stop (gpointer data)
{
  SourceRun *run = data;

  return flow_stopped (run->exec->flow);
}

/* Waits @ms or until stop; FALSE when stopped. */
static gboolean
flow_pause (ExecFlow *flow, gint64 ms)
{
  gint64 deadline = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;
  gboolean go_on;

  g_mutex_lock (&flow->lock);
  while (!flow->stop && g_cond_wait_until (&flow->changed, &flow->lock, deadline))
    ;
  go_on = !flow->stop;
  g_mutex_unlock (&flow->lock);
  return go_on;
}

static void
report_exit (Exec *exec, const SourceRun *run, const ExecResult *result, const GError *error, gint64 backoff_ms)
{
  g_autofree char *how = error != NULL ? g_strdup_printf ("could not start: %s", error->message)
                                       : exec_describe_status (result->status);
  g_autofree char *stderr_suffix = error != NULL ? g_strdup ("") : exec_stderr_suffix (result->stderr_tail);
  guint64 not_delivered;

  g_mutex_lock (&exec->flow->lock);
  not_delivered = exec->flow->not_delivered;
  g_mutex_unlock (&exec->flow->lock);
  evb_plugin_log (exec->plugin, G_LOG_LEVEL_WARNING,
                  "source \"%s\" %s after %u stdout lines (%u emitted, %u bad, %u too long; %" G_GUINT64_FORMAT
                  " not delivered so far)%s; restarting in %" G_GINT64_FORMAT " ms",
                  exec->shown, how, run->lines, run->emitted, run->bad, error != NULL ? 0 : result->long_lines,
                  not_delivered, stderr_suffix, backoff_ms);
}

static gpointer
source_thread (gpointer data)
{
  Exec *exec = data;
  gint64 backoff_ms = exec->restart_ms;

  while (!flow_stopped (exec->flow))
    {
      g_autoptr (GError) error = NULL;
      g_auto (GStrv) env = exec_environment (exec, NULL);
      ExecResult result;
      SourceRun run = { .exec = exec, .result = &result };
      ExecSpec spec;
      gint64 started = g_get_monotonic_time ();
      gboolean ran;

      memset (&spec, 0, sizeof spec);
      spec.argv = exec->argv;
      spec.envp = env;
      spec.cwd = exec->cwd;
      spec.kill_grace_ms = exec->kill_grace_ms;
      spec.max_line = EXEC_MAX_LINE;
      spec.stderr_tail_bytes = EXEC_STDERR_TAIL;
      spec.on_stdout = source_stdout;
      spec.on_stderr = source_stderr;
      spec.should_stop = source_should_stop;
      spec.data = &run;
      ran = exec_run (&spec, &result, &error);
      if (flow_stopped (exec->flow))
        {
          exec_result_clear (&result);
          break;
        }
      /* A run that lasted a while was healthy: start the back-off over. */
      if (ran && g_get_monotonic_time () - started >= exec->restart_max_ms * G_TIME_SPAN_MILLISECOND)
        backoff_ms = exec->restart_ms;
      report_exit (exec, &run, &result, ran ? NULL : error, backoff_ms);
      exec_result_clear (&result);
      if (!flow_pause (exec->flow, backoff_ms))
        break;
      backoff_ms = MIN (backoff_ms * 2, exec->restart_max_ms);
    }
  return NULL;
}

gboolean
exec_source_start (Exec *exec, guint max_in_flight, GError **error)
{
  ExecFlow *flow = g_new0 (ExecFlow, 1);

  g_atomic_ref_count_init (&flow->ref);
  g_mutex_init (&flow->lock);
  g_cond_init (&flow->changed);
  flow->max_in_flight = max_in_flight;
  exec->flow = flow;
  exec->thread = g_thread_try_new ("evbus-exec", source_thread, exec, error);
  if (exec->thread == NULL)
    {
      g_clear_pointer (&exec->flow, flow_unref);
      return FALSE;
    }
  return TRUE;
}

void
exec_source_request_stop (Exec *exec)
{
  g_mutex_lock (&exec->flow->lock);
  exec->flow->stop = TRUE;
  g_cond_broadcast (&exec->flow->changed);
  g_mutex_unlock (&exec->flow->lock);
}

void
exec_source_join (Exec *exec)
{
  exec_source_request_stop (exec);
  g_thread_join (exec->thread);
  exec->thread = NULL;
  g_clear_pointer (&exec->flow, flow_unref);
}
