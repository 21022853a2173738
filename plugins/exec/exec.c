/* exec — run a command per event, or keep one running as a source.
 *
 * Provides
 *   handler run (async only)  runs the command once per event: the event as
 *           JSON on stdin, its fields in the environment; every stdout line
 *           becomes an event in the handled event's trace; stderr lines are
 *           logged; fails on a non-zero exit, a timeout (the process group
 *           killed), a start failure or output that is not events.
 *   source mode ("mode": "source"): starts the command at init; every
 *           stdout line becomes an event (emitted with a receipt, at most
 *           max_in_flight unfinished at once); restarted with doubling
 *           back-off whenever it exits.
 *
 * Environment of the command: the host's, plus EVB_INSTANCE (this
 * instance), EVB_TYPE, EVB_ID, EVB_SOURCE, EVB_TIME_US, EVB_TRACEPARENT
 * (the trace, with the handled event as parent), EVB_TRACESTATE (when the
 * trace has one) and one variable per entry of "env" ({"VAR":
 * "dotted.path"} into data; strings as they are, other values as JSON;
 * a missing field or null leaves the variable unset).
 *
 * Processes: started with posix_spawn (child.h says why) as the leader of
 * a new process group.  A timeout or a cancel sends SIGTERM to the group
 * and SIGKILL kill_grace_ms later; when the leader exits, what is left of
 * its group is killed (SIGKILL), and the leader is reaped before the
 * handler returns: no zombies, no strays.
 *
 * Threads: the handler runs on workers, at most max_concurrency at once
 * across all its routes (more wait, cancellably); the source has a thread
 * of its own, told to stop by the host's stop and joined in shutdown.
 */
#include "exec-private.h"

#include <string.h>

static GQuark
exec_error_quark (void)
{
  /* Copied, not _static_: GLib keeps quarks after this module is unloaded. */
  return g_quark_from_string ("evbus-exec-error");
}

/* ---- environment -------------------------------------------------------- */

static json_t *
lookup_path (json_t *data, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, ".", -1);
  json_t *value = data;

  for (guint i = 0; parts[i] != NULL && value != NULL; i++)
    value = json_object_get (value, parts[i]);
  return value;
}

static char *
env_value (json_t *value)
{
  if (json_is_string (value))
    return g_strdup (json_string_value (value));
  return evb_json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
}

char **
exec_environment (Exec *exec, const EvbEvent *event)
{
  char **env = g_strdupv (exec->base_env);
  char traceparent[EVB_TRACEPARENT_SIZE];
  char number[32];
  const char *name;
  json_t *path;

  env = g_environ_setenv (env, "EVB_INSTANCE", exec->plugin->name, TRUE);
  if (event == NULL)
    return env;
  env = g_environ_setenv (env, "EVB_TYPE", event->type, TRUE);
  g_snprintf (number, sizeof number, "%" G_GUINT64_FORMAT, event->id);
  env = g_environ_setenv (env, "EVB_ID", number, TRUE);
  env = g_environ_setenv (env, "EVB_SOURCE", event->source, TRUE);
  g_snprintf (number, sizeof number, "%" G_GINT64_FORMAT, event->time_us);
  env = g_environ_setenv (env, "EVB_TIME_US", number, TRUE);
  if (EVB_EVENT_HAS (event, tracestate))
    {
      evb_event_format_traceparent (event, traceparent);
      env = g_environ_setenv (env, "EVB_TRACEPARENT", traceparent, TRUE);
      if (event->tracestate != NULL)
        env = g_environ_setenv (env, "EVB_TRACESTATE", event->tracestate, TRUE);
    }
  json_object_foreach (exec->env_fields, name, path)
    {
      json_t *value = lookup_path (event->data, json_string_value (path));

      if (value != NULL && !json_is_null (value))
        {
          g_autofree char *text = env_value (value);

          env = g_environ_setenv (env, name, text, TRUE);
        }
      else
        env = g_environ_unsetenv (env, name);
    }
  return env;
}

char *
exec_stderr_suffix (const GString *tail)
{
  g_autofree char *trimmed = NULL;
  g_autofree char *valid = NULL;
  json_t *string;
  char *quoted;
  char *suffix;

  if (tail == NULL || tail->len == 0)
    return g_strdup ("");
  valid = g_utf8_make_valid (tail->str, (gssize) tail->len);
  trimmed = g_strdup (g_strchomp (valid));
  if (*trimmed == '\0')
    return g_strdup ("");
  string = json_string (trimmed);
  quoted = evb_json_dumps (string, JSON_ENCODE_ANY);
  suffix = g_strdup_printf ("; stderr: %s", quoted);
  free (quoted);
  json_decref (string);
  return suffix;
}

/* ---- the handler -------------------------------------------------------- */

typedef struct {
  Exec *exec;
  EvbCall *call;
  const ExecResult *result; /* its pid is set before the first line */
  guint lines;
  guint bad;
  char *first_bad;
  guint refused;
  char *first_refused;
} HandlerRun;

static gboolean
handler_stdout (const char *line, gsize length, gpointer data)
{
  HandlerRun *run = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *type = NULL;
  g_autofree char *reason = NULL;
  json_t *event_data = NULL;

  run->lines++;
  switch (exec_output_parse (run->exec->output, run->exec->output_type, line, length, &type, &event_data, &reason))
    {
    case EXEC_LINE_SKIP:
      return TRUE;
    case EXEC_LINE_BAD:
      run->bad++;
      evb_plugin_log (run->exec->plugin, G_LOG_LEVEL_WARNING, "%s (pid %d): stdout line %u: %s", run->exec->shown,
                      run->result->pid, run->lines, reason);
      if (run->first_bad == NULL)
        run->first_bad = g_strdup_printf ("line %u: %s", run->lines, reason);
      return TRUE;
    case EXEC_LINE_EVENT:
      break;
    }
  /* On the handler's thread: the event continues the handled one's trace. */
  if (!evb_call_emit (run->call, type, event_data, &error))
    {
      run->refused++;
      if (run->first_refused == NULL)
        run->first_refused = g_strdup_printf ("line %u: %s", run->lines, error->message);
    }
  return TRUE;
}

gboolean
exec_log_stderr_line (Exec *exec, int pid, const char *line)
{
  g_autofree char *valid = g_utf8_make_valid (line, -1);

  evb_plugin_log (exec->plugin, G_LOG_LEVEL_MESSAGE, "%s (pid %d): stderr: %s", exec->shown, pid, valid);
  return TRUE;
}

static gboolean
handler_stderr (const char *line, gsize length, gpointer data)
{
  HandlerRun *run = data;

  return exec_log_stderr_line (run->exec, run->result->pid, line);
}

static gboolean
handler_cancelled (gpointer data)
{
  HandlerRun *run = data;

  return evb_call_is_cancelled (run->call);
}

/* Waits for one of the max_concurrency slots; FALSE when the job was
 * cancelled meanwhile. */
static gboolean
take_slot (Exec *exec, EvbCall *call)
{
  gboolean taken = FALSE;

  g_mutex_lock (&exec->slots_lock);
  while (!(taken = exec->running < exec->max_running) && !evb_call_is_cancelled (call))
    g_cond_wait_until (&exec->slot_freed, &exec->slots_lock, g_get_monotonic_time () + 50 * G_TIME_SPAN_MILLISECOND);
  if (taken)
    exec->running++;
  g_mutex_unlock (&exec->slots_lock);
  return taken;
}

static void
give_slot (Exec *exec)
{
  g_mutex_lock (&exec->slots_lock);
  exec->running--;
  g_cond_signal (&exec->slot_freed);
  g_mutex_unlock (&exec->slots_lock);
}

static char *
input_for (Exec *exec, const EvbEvent *event)
{
  g_autoptr (GString) text = NULL;
  char traceparent[EVB_TRACEPARENT_SIZE];
  json_t *object;
  char *dumped;

  if (exec->input == EXEC_INPUT_DATA)
    dumped = evb_json_dumps (event->data, JSON_COMPACT);
  else
    {
      evb_event_format_traceparent (event, traceparent);
      object = json_pack ("{s:s, s:I, s:s, s:I, s:s, s:O}", "type", event->type, "id", (json_int_t) event->id,
                          "source", event->source, "time_us", (json_int_t) event->time_us, "traceparent",
                          traceparent, "data", event->data);
      dumped = evb_json_dumps (object, JSON_COMPACT);
      json_decref (object);
    }
  text = g_string_new (dumped);
  free (dumped);
  g_string_append_c (text, '\n');
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* The call's result once the command ran. */
static EvbResult
judge_run (HandlerRun *run, const ExecResult *result)
{
  Exec *exec = run->exec;
  g_autofree char *stderr_suffix = exec_stderr_suffix (result->stderr_tail);
  g_autofree char *status = exec_describe_status (result->status);

  switch (result->end)
    {
    case EXEC_END_TIMED_OUT:
      return evb_call_fail (run->call, EXEC_DOMAIN, EXEC_CODE_TIMED_OUT,
                            "\"%s\" timed out after %" G_GINT64_FORMAT " ms: process group %d killed (%s)%s",
                            exec->shown, exec->timeout_ms, result->pid,
                            result->killed_hard ? (exec->kill_grace_ms > 0 ? "SIGTERM, then SIGKILL" : "SIGKILL")
                                                : "SIGTERM",
                            stderr_suffix);
    case EXEC_END_STOPPED:
      return evb_call_fail (run->call, EXEC_DOMAIN, EXEC_CODE_CANCELLED,
                            "\"%s\" cancelled by the host: process group %d killed%s", exec->shown, result->pid,
                            stderr_suffix);
    case EXEC_END_EXITED:
      break;
    }
  if (exec_status_code (result->status) != 0)
    return evb_call_fail (run->call, EXEC_DOMAIN, exec_status_code (result->status), "\"%s\" %s%s", exec->shown,
                          status, stderr_suffix);
  if (run->bad > 0 || result->long_lines > 0)
    return evb_call_fail (run->call, EXEC_DOMAIN, EXEC_CODE_BAD_OUTPUT,
                          "\"%s\" exited with status 0, but %u of its %u stdout lines were not events "
                          "(%u over %d bytes)%s%s",
                          exec->shown, run->bad + result->long_lines, run->lines + result->long_lines,
                          result->long_lines, EXEC_MAX_LINE, run->first_bad != NULL ? ": first: " : "",
                          run->first_bad != NULL ? run->first_bad : "");
  if (run->refused > 0)
    return evb_call_fail (run->call, EXEC_DOMAIN, EXEC_CODE_NOT_EMITTED,
                          "\"%s\": %u output events not emitted: first: %s", exec->shown, run->refused,
                          run->first_refused);
  return EVB_CONTINUE;
}

static EvbResult
exec_handle_run (EvbCall *call, const EvbEvent *event)
{
  Exec *exec = call->instance_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_auto (GStrv) env = NULL;
  ExecResult result;
  HandlerRun run = { .exec = exec, .call = call, .result = &result };
  ExecSpec spec;
  EvbResult verdict;

  if (exec->is_source)
    return evb_call_fail (call, EXEC_DOMAIN, EXEC_CODE_SOURCE_MODE,
                          "instance \"%s\" runs in source mode: it has no per-event handler (drop the route, or "
                          "use another exec instance without \"mode\": \"source\")",
                          exec->plugin->name);
  if (!take_slot (exec, call))
    return evb_call_fail (call, EXEC_DOMAIN, EXEC_CODE_CANCELLED, "\"%s\" cancelled while waiting for one of the "
                          "%u concurrent runs", exec->shown, exec->max_running);

  env = exec_environment (exec, event);
  if (exec->input != EXEC_INPUT_NONE)
    input = input_for (exec, event);
  memset (&spec, 0, sizeof spec);
  spec.argv = exec->argv;
  spec.envp = env;
  spec.cwd = exec->cwd;
  spec.input = input;
  spec.input_length = input != NULL ? strlen (input) : 0;
  spec.timeout_ms = exec->timeout_ms;
  spec.kill_grace_ms = exec->kill_grace_ms;
  spec.max_line = EXEC_MAX_LINE;
  spec.stderr_tail_bytes = EXEC_STDERR_TAIL;
  spec.on_stdout = handler_stdout;
  spec.on_stderr = handler_stderr;
  spec.should_stop = handler_cancelled;
  spec.data = &run;

  if (!exec_run (&spec, &result, &error))
    verdict = evb_call_fail (call, EXEC_DOMAIN, EXEC_CODE_CANNOT_RUN, "%s", error->message);
  else
    verdict = judge_run (&run, &result);
  exec_result_clear (&result);
  give_slot (exec);
  g_free (run.first_bad);
  g_free (run.first_refused);
  return verdict;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void
exec_free (Exec *exec)
{
  g_strfreev (exec->argv);
  g_free (exec->shown);
  g_free (exec->cwd);
  g_strfreev (exec->base_env);
  json_decref (exec->env_fields);
  g_free (exec->output_type);
  g_mutex_clear (&exec->slots_lock);
  g_cond_clear (&exec->slot_freed);
  g_free (exec);
}

static gboolean
read_command (Exec *exec, json_t *command, gboolean shell, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  size_t index;
  json_t *value;

  if (json_array_size (command) == 0)
    {
      g_set_error_literal (error, exec_error_quark (), 0,
                           "command: expected the program and its arguments, e.g. [\"./enrich.sh\", \"--fast\"], "
                           "got []");
      return FALSE;
    }
  json_array_foreach (command, index, value)
    if (!json_is_string (value) || (index == 0 && json_string_length (value) == 0))
      {
        g_set_error (error, exec_error_quark (), 0, "command[%zu]: expected %s, got %s", index,
                     index == 0 ? "a program name or path" : "a string",
                     json_is_string (value) ? "\"\"" : exec_json_kind (value));
        return FALSE;
      }
  if (shell)
    {
      if (json_array_size (command) != 1)
        {
          g_set_error (error, exec_error_quark (), 0,
                       "command: with \"shell\": true, give one string (the shell script), got %zu strings",
                       json_array_size (command));
          return FALSE;
        }
      g_ptr_array_add (argv, g_strdup ("/bin/sh"));
      g_ptr_array_add (argv, g_strdup ("-c"));
      g_ptr_array_add (argv, g_strdup (json_string_value (json_array_get (command, 0))));
      exec->shown = g_strdup ("sh -c");
    }
  else
    {
      json_array_foreach (command, index, value)
        g_ptr_array_add (argv, g_strdup (json_string_value (value)));
      exec->shown = g_strdup (g_ptr_array_index (argv, 0));
    }
  g_ptr_array_add (argv, NULL);
  exec->argv = (char **) g_ptr_array_steal (argv, NULL);
  return TRUE;
}

/* Finds the program now, so that a typo is a load error, not a failure per
 * event.  A relative path with a slash is relative to cwd, as the child
 * will see it. */
static gboolean
check_program (Exec *exec, GError **error)
{
  const char *program = exec->argv[0];
  g_autofree char *found = NULL;

  if (strchr (program, '/') == NULL)
    {
      found = g_find_program_in_path (program);
      if (found == NULL)
        {
          g_set_error (error, exec_error_quark (), 0, "command[0]: \"%s\" not found in PATH (%s)", program,
                       g_getenv ("PATH") != NULL ? g_getenv ("PATH") : "unset");
          return FALSE;
        }
      return TRUE;
    }
  found = g_path_is_absolute (program) || exec->cwd == NULL ? g_strdup (program)
                                                            : g_build_filename (exec->cwd, program, NULL);
  if (!g_file_test (found, G_FILE_TEST_IS_REGULAR) || !g_file_test (found, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, exec_error_quark (), 0, "command[0]: \"%s\" is not an executable file%s%s%s", program,
                   exec->cwd != NULL && !g_path_is_absolute (program) ? " (looked for in cwd \"" : "",
                   exec->cwd != NULL && !g_path_is_absolute (program) ? exec->cwd : "",
                   exec->cwd != NULL && !g_path_is_absolute (program) ? "\")" : "");
      return FALSE;
    }
  return TRUE;
}

static gboolean
is_env_name (const char *name)
{
  if (!(g_ascii_isalpha (*name) || *name == '_'))
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!(g_ascii_isalnum (*p) || *p == '_'))
      return FALSE;
  return TRUE;
}

static gboolean
check_env_fields (json_t *env, GError **error)
{
  const char *name;
  json_t *path;

  json_object_foreach (env, name, path)
    {
      if (!is_env_name (name))
        {
          g_set_error (error, exec_error_quark (), 0,
                       "env.\"%s\": not an environment variable name (letters, digits and _, not starting with "
                       "a digit)", name);
          return FALSE;
        }
      if (g_str_has_prefix (name, "EVB_"))
        {
          g_set_error (error, exec_error_quark (), 0, "env.%s: names starting with EVB_ are exec's own", name);
          return FALSE;
        }
      if (!json_is_string (path) || json_string_length (path) == 0 || json_string_value (path)[0] == '.'
          || g_str_has_suffix (json_string_value (path), ".") || strstr (json_string_value (path), "..") != NULL)
        {
          g_set_error (error, exec_error_quark (), 0,
                       "env.%s: expected a field of data as a dotted path (e.g. \"order.id\"), got %s", name,
                       json_is_string (path) ? "a malformed path" : exec_json_kind (path));
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
check_output_type (const char *type, GError **error)
{
  if (!evb_type_is_valid (type))
    {
      g_set_error (error, exec_error_quark (), 0,
                   "output_type: \"%s\" is not an event type (dotted segments of [a-z0-9_-])", type);
      return FALSE;
    }
  if (evb_type_is_reserved (type))
    {
      g_set_error (error, exec_error_quark (), 0, "output_type: \"%s\" is reserved for the host", type);
      return FALSE;
    }
  return TRUE;
}

static gboolean
exec_init (EvbPlugin *plugin, GError **error)
{
  const char *cwd = evb_plugin_get_string (plugin, "cwd");
  const char *input = evb_plugin_get_string (plugin, "stdin");
  Exec *exec = g_new0 (Exec, 1);

  g_mutex_init (&exec->slots_lock);
  g_cond_init (&exec->slot_freed);
  exec->plugin = plugin;
  exec->cwd = *cwd != '\0' ? g_strdup (cwd) : NULL;
  exec->env_fields = json_incref (json_object_get (evb_plugin_get_options (plugin), "env"));
  exec->input = g_strcmp0 (input, "data") == 0 ? EXEC_INPUT_DATA
              : g_strcmp0 (input, "none") == 0 ? EXEC_INPUT_NONE
                                               : EXEC_INPUT_EVENT;
  exec->output = exec_output_from_name (evb_plugin_get_string (plugin, "stdout"));
  exec->output_type = g_strdup (evb_plugin_get_string (plugin, "output_type"));
  exec->timeout_ms = evb_plugin_get_int (plugin, "timeout_ms");
  exec->kill_grace_ms = evb_plugin_get_int (plugin, "kill_grace_ms");
  exec->max_running = (guint) evb_plugin_get_int (plugin, "max_concurrency");
  exec->is_source = g_strcmp0 (evb_plugin_get_string (plugin, "mode"), "source") == 0;
  exec->restart_ms = evb_plugin_get_int (plugin, "restart_ms");
  exec->restart_max_ms = evb_plugin_get_int (plugin, "restart_max_ms");
  /* Read once here: environ is not safe to read while another thread
   * changes it, and workers would read it per run. */
  exec->base_env = g_get_environ ();

  if (!read_command (exec, json_object_get (evb_plugin_get_options (plugin), "command"),
                     evb_plugin_get_bool (plugin, "shell"), error)
      || !check_program (exec, error) || !check_env_fields (exec->env_fields, error)
      || !check_output_type (exec->output_type, error))
    goto fail;
  if (exec->cwd != NULL && !g_file_test (exec->cwd, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, exec_error_quark (), 0, "cwd: \"%s\" is not a folder", exec->cwd);
      goto fail;
    }
  if (exec->restart_max_ms < exec->restart_ms)
    {
      g_set_error (error, exec_error_quark (), 0,
                   "restart_max_ms: %" G_GINT64_FORMAT " is below restart_ms (%" G_GINT64_FORMAT ")",
                   exec->restart_max_ms, exec->restart_ms);
      goto fail;
    }
  if (exec->is_source && exec->output == EXEC_OUTPUT_IGNORE)
    {
      g_set_error_literal (error, exec_error_quark (), 0,
                           "stdout: \"ignore\" in source mode would emit nothing: choose \"events\", \"data\" or "
                           "\"lines\"");
      goto fail;
    }
  plugin->instance_data = exec;
  /* Checked: the program was found (check_program), nothing is started. */
  if (evb_plugin_is_checking (plugin))
    return TRUE;
  if (exec->is_source && !exec_source_start (exec, (guint) evb_plugin_get_int (plugin, "max_in_flight"), error))
    {
      plugin->instance_data = NULL;
      goto fail;
    }
  return TRUE;

fail:
  exec_free (exec);
  return FALSE;
}

static void
exec_stop (EvbPlugin *plugin)
{
  Exec *exec = plugin->instance_data;

  /* A source that was only checked has no thread. */
  if (exec != NULL && exec->thread != NULL)
    exec_source_request_stop (exec);
}

static void
exec_shutdown (EvbPlugin *plugin)
{
  Exec *exec = plugin->instance_data;

  if (exec == NULL)
    return;
  if (exec->thread != NULL)
    exec_source_join (exec);
  exec_free (exec);
  plugin->instance_data = NULL;
}

static const EvbHandlerInfo exec_handlers[] = {
  EVB_HANDLER_ASYNC ("run", exec_handle_run,
      "Runs the command for the event (event JSON on stdin, EVB_* and env fields in the environment); its stdout "
      "lines become events in the same trace; fails on a non-zero exit, a timeout or bad output."),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo exec_options[] = {
  EVB_OPTION ("command", EVB_OPTION_ARRAY, NULL,
      "The program and its arguments, e.g. [\"./enrich.sh\", \"--fast\"]; no shell unless \"shell\" is true"),
  EVB_OPTION ("shell", EVB_OPTION_BOOL, "false",
      "Run the one string of \"command\" with /bin/sh -c (pipes, $VARS, globbing)"),
  EVB_OPTION_PATH ("cwd", "\".\"",
      "Folder the command runs in; default: the config file's folder (the current one in the harness)"),
  EVB_OPTION ("env", EVB_OPTION_OBJECT, "{}",
      "Extra environment variables from the event's data: {\"VAR\": \"dotted.path\"}; strings as they are, "
      "other values as JSON, missing or null: unset"),
  EVB_OPTION_CHOICE ("stdin", "\"event\"", EVB_CHOICES ("event", "data", "none"),
      "What the command reads: the event as one JSON line {type, id, source, time_us, traceparent, data}, "
      "only its data, or nothing (/dev/null)"),
  EVB_OPTION_CHOICE ("stdout", "\"events\"", EVB_CHOICES ("events", "data", "lines", "ignore"),
      "What a stdout line is: an event {\"type\", \"data\"}, a data object emitted as output_type, "
      "text emitted as output_type {\"line\"}, or nothing"),
  EVB_OPTION ("output_type", EVB_OPTION_STRING, "\"exec.output\"",
      "Event type of \"data\" and \"lines\" output"),
  EVB_OPTION_INT_RANGE ("timeout_ms", "60000", 0, G_MAXINT,
      "Kill the command's process group after this long, in ms (0: never); the run fails with code 124"),
  EVB_OPTION_INT_RANGE ("kill_grace_ms", "1000", 0, 60000,
      "Between SIGTERM and SIGKILL to the process group, in ms (0: SIGKILL at once)"),
  EVB_OPTION_INT_RANGE ("max_concurrency", "4", 1, 1024,
      "Commands of this instance running at once, across all routes; more events wait"),
  EVB_OPTION_CHOICE ("mode", "\"handler\"", EVB_CHOICES ("handler", "source"),
      "\"handler\": run per event; \"source\": run the command from start to shutdown, its stdout lines are "
      "events, restarted when it exits"),
  EVB_OPTION_INT_RANGE ("restart_ms", "1000", 1, 3600000,
      "Source mode: wait before the first restart, in ms; doubled after each quick exit"),
  EVB_OPTION_INT_RANGE ("restart_max_ms", "60000", 1, 3600000,
      "Source mode: the longest wait between restarts, in ms; a run that lasted this long resets the back-off"),
  EVB_OPTION_INT_RANGE ("max_in_flight", "100", 1, 1000000,
      "Source mode: emitted events whose receipt has not come yet; at the limit stdout is not read"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE_WITH ("exec", "0.1.0", "Runs a command per event, or keeps one running as an event source",
                        exec_handlers, exec_options, exec_init, exec_shutdown, .stop = exec_stop);
