/* Tests for plugins/exec: a command per event with the event on stdin and
 * in the environment, its stdout as events of the same trace, stderr
 * logged, failures with the exit status and the end of stderr, timeouts
 * that kill the whole process group (children too, SIGKILL when SIGTERM is
 * ignored), no zombies, the concurrency cap, the source mode restarted
 * with back-off, and every load error. */
#include "stock-test.h"

#include <sys/wait.h>
#include <unistd.h>

#define ASYNC "{\"mode\": \"async\"}"

/* Everything the plugin logs, every level, in order. */
typedef struct {
  GMutex lock;
  GPtrArray *messages;
  guint handler_id;
} AllLogs;

static void
all_logs_handler (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  AllLogs *logs = data;

  g_mutex_lock (&logs->lock);
  g_ptr_array_add (logs->messages, g_strdup (message));
  g_mutex_unlock (&logs->lock);
}

static void
all_logs_start (AllLogs *logs)
{
  g_mutex_init (&logs->lock);
  logs->messages = g_ptr_array_new_with_free_func (g_free);
  logs->handler_id = g_log_set_handler ("evbus-plugin", G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION,
                                        all_logs_handler, logs);
}

/* The messages that contain @needle, joined by "\n". */
static char *
all_logs_grep (AllLogs *logs, const char *needle)
{
  GString *text = g_string_new (NULL);

  g_mutex_lock (&logs->lock);
  for (guint i = 0; i < logs->messages->len; i++)
    if (strstr (g_ptr_array_index (logs->messages, i), needle) != NULL)
      g_string_append_printf (text, "%s%s", text->len > 0 ? "\n" : "", (char *) g_ptr_array_index (logs->messages, i));
  g_mutex_unlock (&logs->lock);
  return g_string_free (text, FALSE);
}

static void
all_logs_stop (AllLogs *logs)
{
  g_log_remove_handler ("evbus-plugin", logs->handler_id);
  g_ptr_array_unref (logs->messages);
  g_mutex_clear (&logs->lock);
}

/* A harness with exec as "x" on @config_json, its handler routed from
 * job.request. */
static EvbHarness *
exec_harness (const char *config_json)
{
  EvbHarness *harness = harness_new_or_fail (NULL);

  add_plugin_or_fail (harness, "x", EXEC_PLUGIN, config_json);
  add_route_or_fail (harness, "job.request", "x.run", ASYNC);
  return harness;
}

/* {"command": [@script], "shell": true} with @extra members. */
static char *
shell_config (const char *script, const char *extra_members)
{
  g_autoptr (json_t) config = json_pack ("{s:[s], s:b}", "command", script, "shell", TRUE);

  if (extra_members != NULL)
    {
      g_autoptr (json_t) extra = parse_json (extra_members);

      json_object_update (config, extra);
    }
  return json_dumps (config, JSON_COMPACT);
}

static const EvbEvent *
only_failure (EvbHarness *harness)
{
  const EvbEvent *failure = find_only (harness, "evbus.failure");

  assert_string_equal (json_string_value (json_object_get (failure->data, "handler")), "x.run");
  assert_string_equal (json_string_value (json_object_get (json_object_get (failure->data, "error"), "domain")),
                       "exec");
  return failure;
}

static gint64
failure_code (const EvbEvent *failure)
{
  return json_integer_value (json_object_get (json_object_get (failure->data, "error"), "code"));
}

static const char *
failure_message (const EvbEvent *failure)
{
  return json_string_value (json_object_get (json_object_get (failure->data, "error"), "message"));
}

/* No child of this process is left, running or zombie. */
static void
assert_no_children (void)
{
  int status;

  assert_int_equal (waitpid (-1, &status, WNOHANG), -1);
  assert_int_equal (errno, ECHILD);
}

/* TRUE when @pid runs no more (gone, or a zombie waiting for its reaper). */
static gboolean
process_is_dead (gint64 pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/stat", pid);
  g_autofree char *stat = NULL;
  const char *end;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return TRUE;
  end = strrchr (stat, ')');
  return end != NULL && (end[2] == 'Z' || end[2] == 'X');
}

static gboolean
pid_is_dead (EvbHarness *harness, gpointer data)
{
  return process_is_dead (*(gint64 *) data);
}

static void
run_until_dead_or_fail (EvbHarness *harness, gint64 pid)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until (harness, pid_is_dead, &pid, WAIT_MS, &error))
    fail_msg ("process %" G_GINT64_FORMAT " still runs: %s", pid, error->message);
}

/* The contract's core: the event on stdin, EVB_* and a configured field in
 * the environment, and a stdout line that becomes an event of the same
 * trace, with the handled event as its parent. */
static void
test_event_in_output_out_same_trace (void **state)
{
  g_autofree char *config = shell_config (
    "read -r event; "
    "printf '{\"type\":\"job.done\",\"data\":{\"type\":\"%s\",\"id\":\"%s\",\"source\":\"%s\",\"order\":\"%s\","
    "\"instance\":\"%s\",\"traceparent\":\"%s\",\"stdin\":%s}}\\n' "
    "\"$EVB_TYPE\" \"$EVB_ID\" \"$EVB_SOURCE\" \"$ORDER\" \"$EVB_INSTANCE\" \"$EVB_TRACEPARENT\" \"$event\"",
    "{\"env\": {\"ORDER\": \"order.id\"}}");
  g_autoptr (EvbHarness) harness = exec_harness (config);
  g_autoptr (GError) error = NULL;
  g_autofree char *id_text = NULL;
  g_autofree char *trace = NULL;
  char traceparent[EVB_TRACEPARENT_SIZE];
  const EvbEvent *request;
  const EvbEvent *done;
  json_t *stdin_event;
  guint64 id;

  id = evb_harness_emit_with_receipt (harness, "job.request", "{\"order\": {\"id\": 42}, \"note\": \"it's \\\"q\\\"\"}",
                                      &error);
  assert_no_error (error);
  assert_true (evb_harness_run_until_receipt (harness, id, WAIT_MS, &error));
  assert_no_error (error);
  assert_int_equal (evb_harness_get_receipt (harness, id)->outcome, EVB_RECEIPT_DONE);

  request = evb_harness_find_id (harness, id);
  done = find_only (harness, "job.done");
  id_text = g_strdup_printf ("%" G_GUINT64_FORMAT, id);
  evb_event_format_traceparent (request, traceparent);
  assert_string_equal (done->source, "x");
  assert_string_equal (json_string_value (json_object_get (done->data, "type")), "job.request");
  assert_string_equal (json_string_value (json_object_get (done->data, "id")), id_text);
  assert_string_equal (json_string_value (json_object_get (done->data, "source")), "harness");
  assert_string_equal (json_string_value (json_object_get (done->data, "order")), "42");
  assert_string_equal (json_string_value (json_object_get (done->data, "instance")), "x");
  assert_string_equal (json_string_value (json_object_get (done->data, "traceparent")), traceparent);
  stdin_event = json_object_get (done->data, "stdin");
  assert_json_equal (json_object_get (stdin_event, "data"), "{\"order\": {\"id\": 42}, \"note\": \"it's \\\"q\\\"\"}");
  assert_string_equal (json_string_value (json_object_get (stdin_event, "type")), "job.request");
  assert_int_equal (json_integer_value (json_object_get (stdin_event, "id")), id);
  assert_int_equal (json_integer_value (json_object_get (stdin_event, "time_us")), request->time_us);
  assert_string_equal (json_string_value (json_object_get (stdin_event, "traceparent")), traceparent);

  /* Same trace, parent = the handled event. */
  assert_true (done->trace_id_high == request->trace_id_high && done->trace_id_low == request->trace_id_low);
  assert_int_equal (done->parent_id, id);
  trace = evb_harness_trace_of (harness, id);
  assert_non_null (strstr (trace, "job.request"));
  assert_non_null (strstr (trace, "job.done"));
}

/* Without "shell" the argv goes to the program as it is: no expansion, no
 * globbing, quotes kept. */
static void
test_argv_without_shell (void **state)
{
  g_autoptr (EvbHarness) harness = exec_harness (
    "{\"command\": [\"printf\", \"%s\\\\n\", \"{\\\"type\\\": \\\"argv.seen\\\", \\\"data\\\": "
    "{\\\"text\\\": \\\"$HOME * `id` 'q'\\\"}}\"]}");

  emit_or_fail (harness, "job.request", NULL);
  run_until_idle_or_fail (harness);
  assert_json_equal (find_only (harness, "argv.seen")->data, "{\"text\": \"$HOME * `id` 'q'\"}");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
}

/* Configured fields: strings as they are, other values as JSON, missing and
 * null unset (a variable of the same name in the host is unset too). */
static void
test_env_field_values (void **state)
{
  g_autofree char *config = shell_config (
    "printf '{\"type\":\"env.seen\",\"data\":{\"s\":\"%s\",\"n\":%s,\"o\":%s,\"missing\":\"%s\",\"null\":\"%s\"}}\\n' "
    "\"$S\" \"$N\" \"$O\" \"${MISSING-unset}\" \"${NUL-unset}\"",
    "{\"env\": {\"S\": \"s\", \"N\": \"deep.n\", \"O\": \"deep\", \"MISSING\": \"nope.x\", \"NUL\": \"z\"}}");
  g_autoptr (EvbHarness) harness = NULL;

  g_setenv ("MISSING", "from the host", TRUE);
  harness = exec_harness (config);
  emit_or_fail (harness, "job.request", "{\"s\": \"two words\", \"deep\": {\"n\": 2.5}, \"z\": null}");
  run_until_idle_or_fail (harness);
  g_unsetenv ("MISSING");
  assert_json_equal (find_only (harness, "env.seen")->data,
                     "{\"s\": \"two words\", \"n\": 2.5, \"o\": {\"n\": 2.5}, \"missing\": \"unset\","
                     " \"null\": \"unset\"}");
}

/* stdin "data" and "none"; stdout "data" and "lines" with output_type. */
static void
test_input_and_output_formats (void **state)
{
  g_autofree char *data_config = shell_config ("cat", "{\"stdin\": \"data\", \"stdout\": \"data\", "
                                                      "\"output_type\": \"job.echo\"}");
  g_autofree char *none_config = shell_config ("cat; echo 'plain text'; echo", "{\"stdin\": \"none\", "
                                               "\"stdout\": \"lines\", \"output_type\": \"job.line\"}");
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);

  add_plugin_or_fail (harness, "d", EXEC_PLUGIN, data_config);
  add_plugin_or_fail (harness, "n", EXEC_PLUGIN, none_config);
  add_route_or_fail (harness, "job.request", "d.run", ASYNC);
  add_route_or_fail (harness, "job.request", "n.run", ASYNC);
  emit_or_fail (harness, "job.request", "{\"a\": [1, \"two\"]}");
  run_until_idle_or_fail (harness);

  assert_json_equal (find_only (harness, "job.echo")->data, "{\"a\": [1, \"two\"]}");
  assert_int_equal (evb_harness_count (harness, "job.line"), 2);
  assert_json_equal (evb_harness_find (harness, "job.line", 0)->data, "{\"line\": \"plain text\"}");
  assert_json_equal (evb_harness_find (harness, "job.line", 1)->data, "{\"line\": \"\"}");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
}

/* A non-zero exit is a failure whose code is the status and whose message
 * quotes the end of stderr; every stderr line is logged with the pid. */
static void
test_nonzero_exit_fails_with_stderr (void **state)
{
  g_autofree char *config = shell_config ("echo '{\"type\": \"job.partial\"}'; echo oops >&2; "
                                          "echo 'second \"line\"' >&2; exit 3", NULL);
  g_autoptr (EvbHarness) harness = NULL;
  g_autofree char *logged = NULL;
  const EvbEvent *failure;
  AllLogs logs;

  all_logs_start (&logs);
  harness = exec_harness (config);
  emit_or_fail (harness, "job.request", NULL);
  run_until_idle_or_fail (harness);

  /* What it printed before failing still went out. */
  assert_int_equal (evb_harness_count (harness, "job.partial"), 1);
  failure = only_failure (harness);
  assert_int_equal (failure_code (failure), 3);
  assert_string_equal (failure_message (failure),
                       "\"sh -c\" exited with status 3; stderr: \"oops\\nsecond \\\"line\\\"\"");
  logged = all_logs_grep (&logs, "stderr:");
  assert_true (g_regex_match_simple ("^x: sh -c \\(pid [0-9]+\\): stderr: oops\n"
                                     "x: sh -c \\(pid [0-9]+\\): stderr: second \"line\"$", logged, 0, 0));
  evb_harness_free (g_steal_pointer (&harness));
  all_logs_stop (&logs);
}

/* Killed by a signal: code 128 + signal. */
static void
test_killed_by_signal (void **state)
{
  g_autofree char *config = shell_config ("kill -9 $$", NULL);
  g_autoptr (EvbHarness) harness = exec_harness (config);
  const EvbEvent *failure;

  emit_or_fail (harness, "job.request", NULL);
  run_until_idle_or_fail (harness);
  failure = only_failure (harness);
  assert_int_equal (failure_code (failure), 137);
  assert_string_equal (failure_message (failure), "\"sh -c\" was killed by signal 9 (Killed)");
}

/* The issue's case: a timeout kills the process group, the child the
 * script started included; the failure says so, with code 124. */
static void
test_timeout_kills_group_with_child (void **state)
{
  g_autofree char *config = shell_config ("sleep 30 & echo \"{\\\"type\\\": \\\"job.child\\\", \\\"data\\\": "
                                          "{\\\"pid\\\": $!}}\"; echo started >&2; wait",
                                          "{\"timeout_ms\": 1000, \"kill_grace_ms\": 5000}");
  g_autoptr (EvbHarness) harness = exec_harness (config);
  const EvbEvent *failure;
  gint64 child;

  emit_or_fail (harness, "job.request", NULL);
  run_until_count_or_fail (harness, "evbus.failure", 1);
  child = json_integer_value (json_object_get (find_only (harness, "job.child")->data, "pid"));
  assert_true (child > 0);
  failure = only_failure (harness);
  assert_int_equal (failure_code (failure), 124);
  assert_true (g_regex_match_simple ("^\"sh -c\" timed out after 1000 ms: process group [0-9]+ killed \\(SIGTERM\\); "
                                     "stderr: \"started\"$", failure_message (failure), 0, 0));
  run_until_dead_or_fail (harness, child);
  run_until_idle_or_fail (harness);
  evb_harness_free (g_steal_pointer (&harness));
  assert_no_children ();
}

/* A group that ignores SIGTERM gets SIGKILL after kill_grace_ms. */
static void
test_timeout_sigkill_after_grace (void **state)
{
  g_autofree char *config = shell_config ("trap '' TERM; sleep 30 & echo \"{\\\"type\\\": \\\"job.child\\\", "
                                          "\\\"data\\\": {\\\"pid\\\": $!}}\"; wait; wait",
                                          "{\"timeout_ms\": 1000, \"kill_grace_ms\": 100}");
  g_autoptr (EvbHarness) harness = exec_harness (config);
  const EvbEvent *failure;
  gint64 child;

  emit_or_fail (harness, "job.request", NULL);
  run_until_count_or_fail (harness, "evbus.failure", 1);
  child = json_integer_value (json_object_get (find_only (harness, "job.child")->data, "pid"));
  failure = only_failure (harness);
  assert_int_equal (failure_code (failure), 124);
  assert_true (g_regex_match_simple ("^\"sh -c\" timed out after 1000 ms: process group [0-9]+ killed "
                                     "\\(SIGTERM, then SIGKILL\\)$", failure_message (failure), 0, 0));
  run_until_dead_or_fail (harness, child);
  evb_harness_free (g_steal_pointer (&harness));
  assert_no_children ();
}

/* When the command exits, what it left behind in its group is killed: a
 * background child holding stdout open does not hold the run. */
static void
test_exit_kills_leftovers (void **state)
{
  g_autofree char *config = shell_config ("sleep 30 & echo \"{\\\"type\\\": \\\"job.child\\\", \\\"data\\\": "
                                          "{\\\"pid\\\": $!}}\"", "{\"timeout_ms\": 20000}");
  g_autoptr (EvbHarness) harness = exec_harness (config);
  gint64 child;

  emit_or_fail (harness, "job.request", NULL);
  run_until_idle_or_fail (harness);
  child = json_integer_value (json_object_get (find_only (harness, "job.child")->data, "pid"));
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
  run_until_dead_or_fail (harness, child);
}

/* Lines that are not events: the good ones are emitted, the run fails with
 * code 65 naming the first bad line, each bad line is logged. */
static void
test_bad_output_lines (void **state)
{
  g_autofree char *config = shell_config ("echo '{\"type\": \"job.ok\", \"data\": {\"n\": 1}}'; echo 'not json'; "
                                          "echo; echo '{\"type\": \"evbus.fake\"}'; echo '[1]'; "
                                          "echo '{\"type\": \"a.b\", \"extra\": 1}'",
                                          NULL);
  g_autoptr (EvbHarness) harness = NULL;
  g_autofree char *logged = NULL;
  const EvbEvent *failure;
  AllLogs logs;

  all_logs_start (&logs);
  harness = exec_harness (config);
  emit_or_fail (harness, "job.request", NULL);
  run_until_idle_or_fail (harness);

  assert_json_equal (find_only (harness, "job.ok")->data, "{\"n\": 1}");
  failure = only_failure (harness);
  assert_int_equal (failure_code (failure), 65);
  assert_string_equal (failure_message (failure),
                       "\"sh -c\" exited with status 0, but 4 of its 6 stdout lines were not events (0 over 1048576 "
                       "bytes): first: line 2: invalid JSON at column 3: invalid token near 'not'");
  logged = all_logs_grep (&logs, "stdout line");
  assert_true (g_regex_match_simple (
    "^x: sh -c \\(pid [0-9]+\\): stdout line 2: invalid JSON at column 3: invalid token near 'not'\n"
    "x: sh -c \\(pid [0-9]+\\): stdout line 4: \"type\" \"evbus.fake\" is reserved for the host\n"
    "x: sh -c \\(pid [0-9]+\\): stdout line 5: expected a JSON object, got an array\n"
    "x: sh -c \\(pid [0-9]+\\): stdout line 6: unknown key \"extra\" \\(a line holds \"type\" and \"data\"\\)$",
    logged, 0, 0));
  evb_harness_free (g_steal_pointer (&harness));
  all_logs_stop (&logs);
}

/* A program gone since init: code 127 with the OS's reason. */
static void
test_cannot_run (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *script = write_temp_file (dir, "gone.sh", "#!/bin/sh\nexit 0\n");
  g_autoptr (json_t) config_json = json_pack ("{s:[s]}", "command", script);
  g_autofree char *config = json_dumps (config_json, JSON_COMPACT);
  g_autofree char *expected = g_strdup_printf ("cannot run \"%s\": No such file or directory", script);
  g_autoptr (EvbHarness) harness = NULL;
  const EvbEvent *failure;

  g_chmod (script, 0755);
  harness = exec_harness (config);
  g_unlink (script);
  emit_or_fail (harness, "job.request", NULL);
  run_until_idle_or_fail (harness);
  failure = only_failure (harness);
  assert_int_equal (failure_code (failure), 127);
  assert_string_equal (failure_message (failure), expected);
  temp_dir_free (dir);
}

/* max_concurrency 1: runs never overlap, though the pool has two workers
 * and the route no limit. */
static void
test_concurrency_cap (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *log_path = g_build_filename (dir, "runs.log", NULL);
  g_autoptr (json_t) config_json = json_pack ("{s:[s], s:b, s:i, s:{s:s}}", "command",
                                              "echo start >> \"$LOG\"; sleep 0.1; echo end >> \"$LOG\"", "shell",
                                              TRUE, "max_concurrency", 1, "env", "LOG", "log");
  g_autofree char *config = json_dumps (config_json, JSON_COMPACT);
  g_autoptr (EvbHarness) harness = exec_harness (config);
  g_autofree char *data = NULL;
  g_autofree char *runs = NULL;
  g_autoptr (json_t) data_json = json_pack ("{s:s}", "log", log_path);

  data = json_dumps (data_json, JSON_COMPACT);
  for (int i = 0; i < 3; i++)
    emit_or_fail (harness, "job.request", data);
  run_until_idle_or_fail (harness);
  runs = read_file_or_fail (log_path);
  assert_string_equal (runs, "start\nend\nstart\nend\nstart\nend\n");
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
  temp_dir_free (dir);
}

/* A run cancelled by the host (shutdown with no grace) kills its group. */
static void
test_shutdown_cancels_a_run (void **state)
{
  g_autofree char *config = shell_config ("sleep 30 & echo \"{\\\"type\\\": \\\"job.child\\\", \\\"data\\\": "
                                          "{\\\"pid\\\": $!}}\"; wait", "{\"kill_grace_ms\": 0}");
  g_autoptr (EvbHarness) harness = exec_harness (config);
  gint64 child;

  emit_or_fail (harness, "job.request", NULL);
  run_until_count_or_fail (harness, "job.child", 1);
  child = json_integer_value (json_object_get (find_only (harness, "job.child")->data, "pid"));
  evb_harness_shutdown (harness, 0);
  run_until_dead_or_fail (harness, child);
  evb_harness_free (g_steal_pointer (&harness));
  assert_no_children ();
}

/* Source mode: lines become events; each exit is logged with its status
 * and stderr, and the command restarts after a doubling back-off (runs far
 * shorter than restart_max_ms, so it never starts over: a loaded machine
 * cannot change the sequence). */
static void
test_source_restarts_with_backoff (void **state)
{
  g_autofree char *config = shell_config ("echo \"{\\\"type\\\": \\\"tick.line\\\", \\\"data\\\": "
                                          "{\\\"instance\\\": \\\"$EVB_INSTANCE\\\"}}\"; echo bye >&2; exit 2",
                                          "{\"mode\": \"source\", \"restart_ms\": 1, \"restart_max_ms\": 5000}");
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *logged = NULL;
#define EXPECTED_EXIT                                                                                        \
  "s: source \"sh -c\" exited with status 2 after 1 stdout lines (1 emitted, 0 bad, 0 too long; 0 not delivered " \
  "so far); stderr: \"bye\"; restarting in %d ms"
  g_autofree char *first = g_strdup_printf (EXPECTED_EXIT, 1);
  g_autofree char *second = g_strdup_printf (EXPECTED_EXIT, 2);
  g_autofree char *third = g_strdup_printf (EXPECTED_EXIT, 4);
  g_autofree char *fourth = g_strdup_printf (EXPECTED_EXIT, 8);
  g_autofree char *all = g_strjoin ("\n", first, second, third, fourth, NULL);
  AllLogs logs;

  all_logs_start (&logs);
  add_plugin_or_fail (harness, "s", EXEC_PLUGIN, config);
  run_until_count_or_fail (harness, "tick.line", 5);
  evb_harness_shutdown (harness, -1);
  assert_json_equal (evb_harness_find (harness, "tick.line", 0)->data, "{\"instance\": \"s\"}");
  assert_int_equal (evb_harness_find (harness, "tick.line", 0)->parent_id, 0);
  logged = all_logs_grep (&logs, "restarting in");
  /* At least four exits were reported before the fifth line. */
  if (!g_str_has_prefix (logged, all))
    fail_msg ("expected the log to begin with\n%s\ngot\n%s", all, logged);
  evb_harness_free (g_steal_pointer (&harness));
  all_logs_stop (&logs);
  assert_no_children ();
}

/* Stop kills the running source's group at once; its handler refuses
 * events. */
static void
test_source_stop_and_handler (void **state)
{
  g_autofree char *config = shell_config ("echo '{\"type\": \"tick.up\"}'; exec sleep 30",
                                          "{\"mode\": \"source\", \"kill_grace_ms\": 0}");
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  const EvbEvent *failure;

  add_plugin_or_fail (harness, "x", EXEC_PLUGIN, config);
  add_route_or_fail (harness, "job.request", "x.run", ASYNC);
  run_until_count_or_fail (harness, "tick.up", 1);
  emit_or_fail (harness, "job.request", NULL);
  run_until_count_or_fail (harness, "evbus.failure", 1);
  failure = only_failure (harness);
  assert_int_equal (failure_code (failure), 400);
  assert_string_equal (failure_message (failure),
                       "instance \"x\" runs in source mode: it has no per-event handler (drop the route, or use "
                       "another exec instance without \"mode\": \"source\")");
  evb_harness_free (g_steal_pointer (&harness));
  assert_no_children ();
}

/* Source back-pressure: with max_in_flight 1 and a slow consumer, the
 * command still delivers every line, in order. */
static void
test_source_in_flight_cap (void **state)
{
  g_autofree char *config = shell_config ("for i in 1 2 3 4 5 6; do echo \"{\\\"type\\\": \\\"tick.n\\\", "
                                          "\\\"data\\\": {\\\"n\\\": $i}}\"; done; exec sleep 30",
                                          "{\"mode\": \"source\", \"max_in_flight\": 1, \"kill_grace_ms\": 0}");
  g_autofree char *slow = shell_config ("sleep 0.02", "{\"stdin\": \"none\"}");
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);

  add_plugin_or_fail (harness, "slow", EXEC_PLUGIN, slow);
  add_route_or_fail (harness, "tick.n", "slow.run", ASYNC);
  add_plugin_or_fail (harness, "s", EXEC_PLUGIN, config);
  run_until_count_or_fail (harness, "evbus.status.completed", 6);
  for (int i = 0; i < 6; i++)
    assert_int_equal (json_integer_value (json_object_get (evb_harness_find (harness, "tick.n", i)->data, "n")), i + 1);
  /* One in flight: each line waited for the previous one's job. */
  for (int i = 1; i < 6; i++)
    assert_true (evb_harness_find (harness, "tick.n", i)->time_us
                 >= json_integer_value (json_object_get (evb_harness_find (harness, "evbus.status.completed", i - 1)->data,
                                                         "time_us")));
  evb_harness_free (g_steal_pointer (&harness));
  assert_no_children ();
}

static void
assert_load_error (const char *config_json, const char *expected_reason)
{
  g_autofree char *message = load_error (EXEC_PLUGIN, config_json);
  g_autofree char *expected = g_strdup_printf ("plugin \"p\" (%s): %s", EXEC_PLUGIN, expected_reason);

  assert_string_equal (message, expected);
}

static void
test_load_errors (void **state)
{
  g_autofree char *path = g_strdup (g_getenv ("PATH"));
  g_autofree char *not_found = g_strdup_printf ("init failed: command[0]: \"no-such-program-x\" not found in PATH (%s)",
                                                path);

  assert_load_error ("{}", "option \"command\": required option missing (array: The program and its arguments, "
                           "e.g. [\"./enrich.sh\", \"--fast\"]; no shell unless \"shell\" is true)");
  assert_load_error ("{\"command\": []}", "init failed: command: expected the program and its arguments, e.g. "
                                          "[\"./enrich.sh\", \"--fast\"], got []");
  assert_load_error ("{\"command\": [\"\"]}", "init failed: command[0]: expected a program name or path, got \"\"");
  assert_load_error ("{\"command\": [\"true\", 5]}", "init failed: command[1]: expected a string, got an integer");
  assert_load_error ("{\"command\": \"true\"}", "option \"command\": expected an array, got \"true\"");
  assert_load_error ("{\"command\": [\"echo\", \"hi\"], \"shell\": true}",
                     "init failed: command: with \"shell\": true, give one string (the shell script), got 2 strings");
  assert_load_error ("{\"command\": [\"no-such-program-x\"]}", not_found);
  assert_load_error ("{\"command\": [\"/etc/passwd\"]}", "init failed: command[0]: \"/etc/passwd\" is not an "
                                                          "executable file");
  assert_load_error ("{\"command\": [\"./nope.sh\"], \"cwd\": \"/tmp\"}",
                     "init failed: command[0]: \"./nope.sh\" is not an executable file (looked for in cwd \"/tmp\")");
  assert_load_error ("{\"command\": [\"true\"], \"cwd\": \"/etc/passwd\"}",
                     "init failed: cwd: \"/etc/passwd\" is not a folder");
  assert_load_error ("{\"command\": [\"true\"], \"env\": {\"1X\": \"a\"}}",
                     "init failed: env.\"1X\": not an environment variable name (letters, digits and _, not "
                     "starting with a digit)");
  assert_load_error ("{\"command\": [\"true\"], \"env\": {\"EVB_X\": \"a\"}}",
                     "init failed: env.EVB_X: names starting with EVB_ are exec's own");
  assert_load_error ("{\"command\": [\"true\"], \"env\": {\"X\": 5}}",
                     "init failed: env.X: expected a field of data as a dotted path (e.g. \"order.id\"), got an "
                     "integer");
  assert_load_error ("{\"command\": [\"true\"], \"env\": {\"X\": \"a..b\"}}",
                     "init failed: env.X: expected a field of data as a dotted path (e.g. \"order.id\"), got a "
                     "malformed path");
  assert_load_error ("{\"command\": [\"true\"], \"output_type\": \"Bad\"}",
                     "init failed: output_type: \"Bad\" is not an event type (dotted segments of [a-z0-9_-])");
  assert_load_error ("{\"command\": [\"true\"], \"output_type\": \"evbus.x\"}",
                     "init failed: output_type: \"evbus.x\" is reserved for the host");
  assert_load_error ("{\"command\": [\"true\"], \"stdin\": \"file\"}",
                     "option \"stdin\": expected one of \"event\", \"data\", \"none\", got \"file\"");
  assert_load_error ("{\"command\": [\"true\"], \"stdout\": \"xml\"}",
                     "option \"stdout\": expected one of \"events\", \"data\", \"lines\", \"ignore\", got \"xml\"");
  assert_load_error ("{\"command\": [\"true\"], \"timeout_ms\": -1}",
                     "option \"timeout_ms\": expected at least 0, got -1");
  assert_load_error ("{\"command\": [\"true\"], \"max_concurrency\": 0}",
                     "option \"max_concurrency\": expected at least 1, got 0");
  assert_load_error ("{\"command\": [\"true\"], \"kill_grace_ms\": 60001}",
                     "option \"kill_grace_ms\": expected at most 60000, got 60001");
  assert_load_error ("{\"command\": [\"true\"], \"restart_ms\": 500, \"restart_max_ms\": 100}",
                     "init failed: restart_max_ms: 100 is below restart_ms (500)");
  assert_load_error ("{\"command\": [\"true\"], \"mode\": \"source\", \"stdout\": \"ignore\"}",
                     "init failed: stdout: \"ignore\" in source mode would emit nothing: choose \"events\", "
                     "\"data\" or \"lines\"");
  assert_load_error ("{\"command\": [\"true\"], \"mode\": \"daemon\"}",
                     "option \"mode\": expected one of \"handler\", \"source\", got \"daemon\"");
  assert_load_error ("{\"command\": [\"true\"], \"nope\": 1}", "option \"nope\": unknown option (plugin \"exec\" "
                     "takes: command, shell, cwd, env, stdin, stdout, output_type, timeout_ms, kill_grace_ms, max_concurrency, mode, "
                     "restart_ms, restart_max_ms, max_in_flight)");
}

/* Relative programs are found in cwd, which defaults to the folder the
 * paths are relative to. */
static void
test_relative_program_in_cwd (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *script = write_temp_file (dir, "hello.sh", "#!/bin/sh\necho '{\"type\": \"job.hello\", "
                                             "\"data\": {\"pwd\": \"'\"$(pwd)\"'\"}}'\n");
  g_autoptr (json_t) config_json = json_pack ("{s:[s], s:s}", "command", "./hello.sh", "cwd", dir);
  g_autofree char *config = json_dumps (config_json, JSON_COMPACT);
  g_autoptr (EvbHarness) harness = NULL;

  g_chmod (script, 0755);
  harness = exec_harness (config);
  emit_or_fail (harness, "job.request", NULL);
  run_until_idle_or_fail (harness);
  assert_string_equal (json_string_value (json_object_get (find_only (harness, "job.hello")->data, "pwd")), dir);
  temp_dir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_event_in_output_out_same_trace),
    cmocka_unit_test (test_argv_without_shell),
    cmocka_unit_test (test_env_field_values),
    cmocka_unit_test (test_input_and_output_formats),
    cmocka_unit_test (test_nonzero_exit_fails_with_stderr),
    cmocka_unit_test (test_killed_by_signal),
    cmocka_unit_test (test_timeout_kills_group_with_child),
    cmocka_unit_test (test_timeout_sigkill_after_grace),
    cmocka_unit_test (test_exit_kills_leftovers),
    cmocka_unit_test (test_bad_output_lines),
    cmocka_unit_test (test_cannot_run),
    cmocka_unit_test (test_concurrency_cap),
    cmocka_unit_test (test_shutdown_cancels_a_run),
    cmocka_unit_test (test_source_restarts_with_backoff),
    cmocka_unit_test (test_source_stop_and_handler),
    cmocka_unit_test (test_source_in_flight_cap),
    cmocka_unit_test (test_load_errors),
    cmocka_unit_test (test_relative_program_in_cwd),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
