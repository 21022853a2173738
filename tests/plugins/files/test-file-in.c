/* file-in: formats, bad lines with their numbers, the line limit, head and
 * tail, the state file and resume, the outcome policies, globs, and every
 * bad option with its message. */
#include "files-test.h"

static char *
config_of (const char *format, ...) G_GNUC_PRINTF (1, 2);
static char *
config_of (const char *format, ...)
{
  va_list args;
  char *text;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  return text;
}

static json_t *
done_of (EvbHarness *harness)
{
  return find_only (harness, "file-in.done")->data;
}

static void
test_json_lines_and_bad_lines (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "in.jsonl",
                                           "{\"n\": 0}\n"
                                           "\n"
                                           "{\"n\": 1\n"
                                           "[1, 2]\n"
                                           "{\"n\": 2}\r\n"
                                           "{\"n\": 3}");
  g_autofree char *config = config_of ("{\"path\": \"%s\", \"format\": \"json\"}", path);
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *logged = NULL;
  g_autofree char *expected = NULL;
  LogCapture capture;

  log_capture_start (&capture);
  add_plugin_or_fail (harness, "in", FILE_IN_PLUGIN, config);
  run_until_idle_or_fail (harness);
  assert_int_equal (evb_harness_count (harness, "file.line"), 3);
  assert_json_equal (evb_harness_find (harness, "file.line", 0)->data, "{\"n\": 0}");
  assert_json_equal (evb_harness_find (harness, "file.line", 1)->data, "{\"n\": 2}");
  assert_json_equal (evb_harness_find (harness, "file.line", 2)->data, "{\"n\": 3}");
  expected = g_strdup_printf ("{\"path\": \"%s\", \"lines\": 6, \"emitted\": 3, \"errors\": 2, \"failed\": 0, "
                              "\"dropped\": 0, \"unhandled\": 3}", path);
  assert_json_equal (done_of (harness), expected);
  evb_harness_shutdown (harness, -1);
  logged = log_capture_text (&capture);
  log_capture_stop (&capture);
  g_free (expected);
  expected = g_strdup_printf ("in: %s:3: invalid JSON at column 7: '}' expected near end of file\n"
                              "in: %s:4: expected a JSON object, got an array\n"
                              "in: %s:1: no route takes \"file.line\" events: lines are committed unhandled "
                              "(counted; only the first is logged)", path, path, path);
  assert_string_equal (logged, expected);
  temp_dir_free (g_steal_pointer (&dir));
}

static void
test_line_format (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "in.log", "first\r\nsecond \xff\nlast");
  g_autofree char *config = config_of ("{\"path\": \"%s\", \"type\": \"app.log\"}", path);
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *first = NULL, *second = NULL, *last = NULL;

  add_plugin_or_fail (harness, "in", FILE_IN_PLUGIN, config);
  run_until_idle_or_fail (harness);
  assert_int_equal (evb_harness_count (harness, "app.log"), 3);
  first = g_strdup_printf ("{\"line\": \"first\", \"path\": \"%s\", \"offset\": 0, \"number\": 1}", path);
  second = g_strdup_printf ("{\"line\": \"second \\ufffd\", \"path\": \"%s\", \"offset\": 7, \"number\": 2}", path);
  last = g_strdup_printf ("{\"line\": \"last\", \"path\": \"%s\", \"offset\": 16, \"number\": 3}", path);
  assert_json_equal (evb_harness_find (harness, "app.log", 0)->data, first);
  assert_json_equal (evb_harness_find (harness, "app.log", 1)->data, second);
  assert_json_equal (evb_harness_find (harness, "app.log", 2)->data, last);
  temp_dir_free (g_steal_pointer (&dir));
}

static void
test_line_limit (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = NULL;
  g_autofree char *config = NULL;
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autoptr (GString) text = g_string_new ("{\"n\": 0}\n{\"pad\": \"");
  g_autofree char *logged = NULL;
  g_autofree char *expected = NULL;
  Recorder recorder;
  LogCapture capture;

  /* A long line that spans several reads, then a good one. */
  for (guint i = 0; i < 200000; i++)
    g_string_append_c (text, 'x');
  g_string_append (text, "\"}\n{\"n\": 1}\n");
  path = write_temp_file (dir, "in.jsonl", text->str);
  config = config_of ("{\"path\": \"%s\", \"format\": \"json\", \"max_line_bytes\": 1000}", path);
  recorder_init (&recorder);
  recorder_route (harness, &recorder, "file.line");
  log_capture_start (&capture);
  add_plugin_or_fail (harness, "in", FILE_IN_PLUGIN, config);
  run_until_idle_or_fail (harness);
  assert_each_once (&recorder, 2);
  evb_harness_shutdown (harness, -1);
  logged = log_capture_text (&capture);
  log_capture_stop (&capture);
  expected = g_strdup_printf ("in: %s:2: line longer than 1000 bytes (max_line_bytes)", path);
  assert_string_equal (logged, expected);
  g_array_unref (recorder.seen);
  temp_dir_free (g_steal_pointer (&dir));
}

/* Reads a file with a state file, then again after it grew: the second
 * run emits only the new lines, numbered on from the first. */
static void
test_state_resume (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "in.jsonl", NULL);
  g_autofree char *state_path = g_build_filename (dir, "in.state", NULL);
  g_autofree char *config = NULL;

  append_numbered (path, 0, 10);
  config = config_of ("{\"path\": \"%s\", \"format\": \"json\", \"state\": \"%s\"}", path, state_path);
  for (guint run = 0; run < 3; run++)
    {
      g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
      g_autoptr (json_t) saved = NULL;
      Recorder recorder;

      recorder_init (&recorder);
      recorder_route (harness, &recorder, "file.line");
      add_plugin_or_fail (harness, "in", FILE_IN_PLUGIN, config);
      run_until_idle_or_fail (harness);
      for (guint n = 0; n < 20; n++)
        assert_int_equal (recorder_times (&recorder, n), (run == 0 && n < 10) || (run == 1 && n >= 10) ? 1 : 0);
      evb_harness_shutdown (harness, -1);
      saved = json_load_file (state_path, 0, NULL);
      assert_non_null (saved);
      assert_int_equal (json_array_size (json_object_get (saved, "files")), 1);
      assert_int_equal (json_integer_value (json_object_get (json_array_get (json_object_get (saved, "files"), 0),
                                                             "lines")), run == 0 ? 10 : 20);
      g_array_unref (recorder.seen);
      if (run == 0)
        append_numbered (path, 10, 20);
    }
  temp_dir_free (g_steal_pointer (&dir));
}

/* start "tail": what the file held at start-up is skipped, a half-written
 * last line included whole; what is appended is read. */
static void
test_start_tail_follow (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "in.jsonl", "{\"n\": 100}\n{\"n\": 101}\n{\"n\"");
  g_autofree char *config = config_of ("{\"path\": \"%s\", \"format\": \"json\", \"follow\": true, "
                                       "\"start\": \"tail\", \"poll_ms\": 10}", path);
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  Recorder recorder;

  recorder_init (&recorder);
  recorder_route (harness, &recorder, "file.line");
  add_plugin_or_fail (harness, "in", FILE_IN_PLUGIN, config);
  append_numbered (path, 0, 0);
  {
    int fd = open (path, O_WRONLY | O_APPEND);

    assert_int_equal (write (fd, ": 0}\n", 5), 5);
    write_numbered (fd, 1, 5);
    close (fd);
  }
  run_until_distinct_or_fail (harness, &recorder, 5);
  assert_each_once (&recorder, 5);
  g_array_unref (recorder.seen);
  temp_dir_free (g_steal_pointer (&dir));
}

/* Following, a missing folder is waited for and said once, not once per
 * poll; its files are read from their head once it appears; a folder that
 * goes away again is said once more.  The fake clock counts the polls. */
static void
advance_polls (EvbHarness *harness, guint polls)
{
  for (guint i = 0; i < polls; i++)
    evb_harness_advance_clock (harness, 10);
}

static void
test_follow_waits_for_its_folder (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *folder = g_build_filename (dir, "later", NULL);
  g_autofree char *path = g_build_filename (folder, "in.jsonl", NULL);
  g_autofree char *config = config_of ("{\"path\": \"%s/*.jsonl\", \"format\": \"json\", \"follow\": true, "
                                       "\"start\": \"tail\", \"poll_ms\": 10, \"rotate_wait_ms\": 0}", folder);
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *logged = NULL;
  g_autofree char *expected = NULL;
  LogCapture capture;
  Recorder recorder;
  guint polls = 0;

  log_capture_start (&capture);
  evb_harness_set_clock (harness, G_GINT64_CONSTANT (1700000000000000));
  recorder_init (&recorder);
  recorder_route (harness, &recorder, "file.line");
  add_plugin_or_fail (harness, "in", FILE_IN_PLUGIN, config);
  advance_polls (harness, 5);
  assert_int_equal (g_mkdir (folder, 0700), 0);
  /* Appeared after start-up: read from its head, "start" notwithstanding. */
  append_numbered (path, 0, 3);
  while (!recorder_has_distinct (harness, &(DistinctWait) { &recorder, 3 }) && polls++ < 1000)
    advance_polls (harness, 1);
  assert_true (evb_harness_run_until_idle (harness, WAIT_MS, NULL));
  assert_int_equal (g_unlink (path), 0);
  assert_int_equal (g_rmdir (folder), 0);
  advance_polls (harness, 5);
  evb_harness_shutdown (harness, -1);
  assert_each_once (&recorder, 3);
  logged = log_capture_text (&capture);
  expected = g_strdup_printf ("in: folder \"%s\" does not exist: waiting for it (checked every 10 ms)\n"
                              "in: folder \"%s\" is gone: waiting for it to come back", folder, folder);
  assert_string_equal (logged, expected);
  log_capture_stop (&capture);
  g_array_unref (recorder.seen);
  temp_dir_free (g_steal_pointer (&dir));
}

/* on_failed "commit": the failed line is counted and passed; "retry": it is
 * emitted again until it succeeds, and the commit waits for it. */
static void
test_failed_policies (void **state)
{
  for (guint retry = 0; retry < 2; retry++)
    {
      g_autofree char *dir = temp_dir_new ();
      g_autofree char *path = g_build_filename (dir, "in.jsonl", NULL);
      g_autofree char *state_path = g_build_filename (dir, "in.state", NULL);
      g_autofree char *config = NULL;
      g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
      g_autoptr (json_t) saved = NULL;
      json_t *done;
      Recorder recorder;

      append_numbered (path, 0, 6);
      config = config_of ("{\"path\": \"%s\", \"format\": \"json\", \"state\": \"%s\", \"on_failed\": \"%s\", "
                          "\"retry_ms\": 1}", path, state_path, retry ? "retry" : "commit");
      recorder_init (&recorder);
      recorder.fail_n = 3;
      recorder.fail_times = 2;
      recorder_route (harness, &recorder, "file.line");
      add_plugin_or_fail (harness, "in", FILE_IN_PLUGIN, config);
      run_until_idle_or_fail (harness);
      done = done_of (harness);
      assert_int_equal (json_integer_value (json_object_get (done, "failed")), retry ? 0 : 1);
      assert_int_equal (json_integer_value (json_object_get (done, "emitted")), 6);
      assert_int_equal (evb_harness_count (harness, "evbus.failure"), retry ? 2 : 1);
      assert_int_equal (recorder_times (&recorder, 3), retry ? 1 : 0);
      assert_int_equal (recorder.calls, retry ? 8 : 6);
      evb_harness_shutdown (harness, -1);
      saved = json_load_file (state_path, 0, NULL);
      assert_int_equal (json_integer_value (json_object_get (json_array_get (json_object_get (saved, "files"), 0),
                                                             "lines")), 6);
      g_array_unref (recorder.seen);
      temp_dir_free (g_steal_pointer (&dir));
    }
}

/* A glob reads every matching file, in name order, and no other. */
static void
test_glob (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *a = g_build_filename (dir, "a.log", NULL);
  g_autofree char *b = g_build_filename (dir, "b.log", NULL);
  g_autofree char *c = g_build_filename (dir, "c.txt", NULL);
  g_autofree char *config = config_of ("{\"path\": \"%s/*.log\", \"format\": \"json\"}", dir);
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  Recorder recorder;

  append_numbered (a, 0, 3);
  append_numbered (b, 3, 5);
  append_numbered (c, 5, 9);
  recorder_init (&recorder);
  recorder_route (harness, &recorder, "file.line");
  add_plugin_or_fail (harness, "in", FILE_IN_PLUGIN, config);
  run_until_idle_or_fail (harness);
  assert_each_once (&recorder, 5);
  assert_int_equal (evb_harness_count (harness, "file-in.done"), 2);
  g_array_unref (recorder.seen);
  temp_dir_free (g_steal_pointer (&dir));
}

/* The reader pauses at max_in_flight lines without receipts. */
static EvbResult
slow_handler (EvbCall *call, const EvbEvent *event)
{
  gint *running = call->route_data;
  gint now = g_atomic_int_add (running, 1) + 1;
  gint *peak = running + 1;
  gint seen;

  while ((seen = g_atomic_int_get (peak)) < now && !g_atomic_int_compare_and_exchange (peak, seen, now))
    ;
  evb_call_wait (call, 2);
  g_atomic_int_add (running, -1);
  return EVB_CONTINUE;
}

static void
test_max_in_flight (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "in.jsonl", NULL);
  g_autofree char *config = config_of ("{\"path\": \"%s\", \"format\": \"json\", \"max_in_flight\": 3}", path);
  g_autoptr (EvbHarness) harness = harness_new_or_fail ("{\"workers\": 8}");
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;
  gint counters[2] = { 0, 0 };

  append_numbered (path, 0, 40);
  spec.pattern = "file.line";
  spec.handler = "slow";
  spec.func = slow_handler;
  spec.mode = EVB_MODE_ASYNC;
  spec.user_data = counters;
  assert_true (evb_harness_add_route_spec (harness, &spec, NULL, &error) != 0);
  add_plugin_or_fail (harness, "in", FILE_IN_PLUGIN, config);
  run_until_idle_or_fail (harness);
  assert_int_equal (json_integer_value (json_object_get (done_of (harness), "emitted")), 40);
  assert_true (g_atomic_int_get (&counters[1]) <= 3);
  assert_true (g_atomic_int_get (&counters[1]) >= 2);
  temp_dir_free (g_steal_pointer (&dir));
}

static void
assert_load_error (const char *config, const char *expected)
{
  g_autofree char *message = load_error (FILE_IN_PLUGIN, config);
  g_autofree char *prefix = g_strdup_printf ("plugin \"p\" (%s): ", FILE_IN_PLUGIN);

  if (!g_str_has_prefix (message, prefix))
    fail_msg ("unexpected error: %s", message);
  assert_string_equal (message + strlen (prefix), expected);
}

/* Errors of the plugin's own init, which the host prefixes. */
static void
assert_init_error (const char *config, const char *expected)
{
  g_autofree char *full = g_strconcat ("init failed: ", expected, NULL);

  assert_load_error (config, full);
}

static void
test_bad_options (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *input = write_temp_file (dir, "in.log", "x\n");
  g_autofree char *bad_state = write_temp_file (dir, "bad.state", "{\"version\": 1, \"files\": [{\"path\": 1}]}");
  g_autofree char *junk_state = write_temp_file (dir, "junk.state", "not json");
  g_autofree char *config = NULL;
  g_autofree char *expected = NULL;

  assert_load_error ("{}", "option \"path\": required option missing (path: File to read, relative to the config "
                           "file's folder; wildcards (* ? [...]) in the file name make it a glob (\"logs/*.log\"), "
                           "read file by file)");
  assert_init_error ("{\"path\": \"-\"}",
                     "option \"path\": give a file or a glob (\"logs/*.log\"); standard input is the replay plugin's");
  config = config_of ("{\"path\": \"%s/*/x.log\"}", dir);
  expected = g_strdup_printf ("option \"path\": wildcards are allowed in the file name only, not in the folder "
                              "\"%s/*\"", dir);
  assert_init_error (config, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&expected, g_free);
  config = config_of ("{\"path\": \"%s\", \"type\": \"Bad.type\"}", input);
  assert_init_error (config, "option \"type\": \"Bad.type\" is not an event type (dotted segments of [a-z0-9_-], "
                             "segment 1)");
  g_free (config);
  config = config_of ("{\"path\": \"%s\", \"type\": \"evbus.x\"}", input);
  assert_init_error (config, "option \"type\": \"evbus.x\" is reserved for the host");
  g_free (config);
  config = config_of ("{\"path\": \"%s/nope/x.log\"}", dir);
  expected = g_strdup_printf ("option \"path\": folder \"%s/nope\" does not exist (create it, or set \"follow\": "
                              "true to wait for it)", dir);
  assert_init_error (config, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&expected, g_free);
  config = config_of ("{\"path\": \"%s/none.log\"}", dir);
  expected = g_strdup_printf ("option \"path\": cannot open \"%s/none.log\": No such file or directory", dir);
  assert_init_error (config, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&expected, g_free);
  config = config_of ("{\"path\": \"%s/*.none\"}", dir);
  expected = g_strdup_printf ("option \"path\": no file matches \"%s/*.none\"", dir);
  assert_init_error (config, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&expected, g_free);
  config = config_of ("{\"path\": \"%s\", \"state\": \"%s\"}", input, junk_state);
  expected = g_strdup_printf ("option \"state\": %s:1:3: '[' or '{' expected near 'not' (not a file-in state "
                              "file? move it away to start over)", junk_state);
  assert_init_error (config, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&expected, g_free);
  config = config_of ("{\"path\": \"%s\", \"state\": \"%s\"}", input, bad_state);
  expected = g_strdup_printf ("option \"state\": %s: files[0]: expected {\"path\", \"dev\", \"inode\", "
                              "\"fingerprint\", \"fingerprint_length\", \"offset\", \"lines\"}", bad_state);
  assert_init_error (config, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&expected, g_free);
  config = config_of ("{\"path\": \"%s\", \"state\": \"%s/nope/s.state\"}", input, dir);
  expected = g_strdup_printf ("option \"state\": cannot write \"%s/nope/s.state\": No such file or directory", dir);
  assert_init_error (config, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&expected, g_free);
  config = config_of ("{\"path\": \"%s\", \"poll_ms\": 0}", input);
  assert_load_error (config, "option \"poll_ms\": expected at least 10, got 0");
  g_free (config);
  config = config_of ("{\"path\": \"%s\", \"on_failed\": \"drop\"}", input);
  assert_load_error (config, "option \"on_failed\": expected one of \"commit\", \"retry\", got \"drop\"");
  g_free (config);
  config = config_of ("{\"path\": \"%s\", \"format\": \"xml\"}", input);
  assert_load_error (config, "option \"format\": expected one of \"line\", \"json\", got \"xml\"");
  g_free (config);
  config = config_of ("{\"path\": \"%s\", \"max_in_flight\": 0}", input);
  assert_load_error (config, "option \"max_in_flight\": expected at least 1, got 0");
  temp_dir_free (g_steal_pointer (&dir));
}

/* Checked (`evbus check`): the options, the folder, the files and an
 * existing state file are validated in run's words; the state file is
 * neither made nor changed, and nothing is read or emitted. */
static void
test_check_mode (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *input = write_temp_file (dir, "in.log", "x\n");
  g_autofree char *junk_state = write_temp_file (dir, "junk.state", "not json");
  g_autofree char *config = NULL;
  g_autofree char *message = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *names = NULL;

  config = config_of ("{\"path\": \"%s\", \"state\": \"%s/in.state\"}", input, dir);
  assert_checks_ok (FILE_IN_PLUGIN, config);
  g_clear_pointer (&config, g_free);
  config = config_of ("{\"path\": \"%s/*.log\", \"follow\": true, \"state\": \"%s/in.state\"}", dir, dir);
  assert_checks_ok (FILE_IN_PLUGIN, config);
  g_clear_pointer (&config, g_free);
  names = dir_names (dir);
  assert_string_equal (names, "in.log junk.state");

  config = config_of ("{\"path\": \"%s\", \"state\": \"%s\"}", input, junk_state);
  message = check_error (FILE_IN_PLUGIN, config);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: option \"state\": %s:1:3: '[' or '{' expected near "
                              "'not' (not a file-in state file? move it away to start over)", FILE_IN_PLUGIN,
                              junk_state);
  assert_string_equal (message, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&message, g_free);
  g_clear_pointer (&expected, g_free);
  config = config_of ("{\"path\": \"%s\", \"state\": \"%s/nope/s.state\"}", input, dir);
  message = check_error (FILE_IN_PLUGIN, config);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: option \"state\": cannot write \"%s/nope/s.state\": "
                              "No such file or directory", FILE_IN_PLUGIN, dir);
  assert_string_equal (message, expected);
  g_clear_pointer (&config, g_free);
  g_clear_pointer (&message, g_free);
  g_clear_pointer (&expected, g_free);
  config = config_of ("{\"path\": \"%s/*.none\"}", dir);
  message = check_error (FILE_IN_PLUGIN, config);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: option \"path\": no file matches \"%s/*.none\"",
                              FILE_IN_PLUGIN, dir);
  assert_string_equal (message, expected);
  temp_dir_free (g_steal_pointer (&dir));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_json_lines_and_bad_lines),
    cmocka_unit_test (test_line_format),
    cmocka_unit_test (test_line_limit),
    cmocka_unit_test (test_state_resume),
    cmocka_unit_test (test_start_tail_follow),
    cmocka_unit_test (test_follow_waits_for_its_folder),
    cmocka_unit_test (test_failed_policies),
    cmocka_unit_test (test_glob),
    cmocka_unit_test (test_max_in_flight),
    cmocka_unit_test (test_bad_options),
    cmocka_unit_test (test_check_mode),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
