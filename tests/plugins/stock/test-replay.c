/* Tests for plugins/replay: a JSON-lines file replayed in order with its bad
 * lines counted and reported by line number, every kind of bad line, stdin,
 * pacing, looping, a prompt stop at shutdown, replaying the console's JSON
 * output, and init's refusals. */
#include "stock-test.h"

#include <unistd.h>

/* Loads replay as "rp" on @path with @extra_options (JSON members or ""). */
static void
add_replay (EvbHarness *harness, const char *path, const char *extra_options)
{
  g_autoptr (json_t) config = json_pack ("{s:s}", "path", path);
  g_autofree char *config_text = NULL;

  if (extra_options != NULL)
    {
      g_autoptr (json_t) extra = parse_json (extra_options);

      json_object_update (config, extra);
    }
  config_text = json_dumps (config, JSON_COMPACT);
  add_plugin_or_fail (harness, "rp", REPLAY_PLUGIN, config_text);
}

static char *
done_data (const char *path, int lines, int emitted, int errors)
{
  g_autoptr (json_t) done = json_pack ("{s:s, s:i, s:i, s:i}", "path", path, "lines", lines, "emitted", emitted,
                                       "errors", errors);

  return json_dumps (done, JSON_COMPACT);
}

/* The example: good lines become events in file order, blank and
 * comment lines are skipped, a bad line is reported with its number and
 * counted, and replay.done closes the run.  Running "until idle" ends by
 * itself: the plugin holds the host only while it has more to emit. */
static void
test_file_with_a_bad_line (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "session.jsonl",
                                           "# a recorded session\n"
                                           "{\"type\": \"search.request\","
                                           " \"data\": {\"query\": \"lamp\", \"request_id\": 1}}\n"
                                           "\n"
                                           "{\"type\": \"fetch.request\", \"data\": {\"id\": 3}}\n"
                                           "{\"type\": \"fetch.request\", \"data\": \n"
                                           "{\"type\": \"update.request\", \"data\": {\"id\": 999, \"price\": 1.5}}\n");
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *trace = NULL;
  g_autofree char *expected_done = done_data (path, 6, 3, 1);
  g_autofree char *expected_log = NULL;
  g_autofree char *log = NULL;
  LogCapture capture;

  log_capture_start (&capture);
  add_replay (harness, path, NULL);
  run_until_idle_or_fail (harness);
  log = log_capture_text (&capture);
  log_capture_stop (&capture);

  trace = evb_harness_trace (harness, ">");
  assert_string_equal (trace, "search.request fetch.request update.request replay.done");
  for (guint i = 0; i < evb_harness_n_events (harness); i++)
    assert_string_equal (evb_harness_event (harness, i)->source, "rp");
  assert_json_equal (evb_harness_event (harness, 0)->data, "{\"query\": \"lamp\", \"request_id\": 1}");
  assert_json_equal (evb_harness_event (harness, 1)->data, "{\"id\": 3}");
  assert_json_equal (evb_harness_event (harness, 2)->data, "{\"id\": 999, \"price\": 1.5}");
  assert_json_equal (evb_harness_event (harness, 3)->data, expected_done);
  expected_log = g_strdup_printf ("rp: replay: %s:5: invalid JSON at column 34: unexpected token near end of file",
                                  path);
  assert_string_equal (log, expected_log);
  temp_dir_free (dir);
}

/* Every kind of bad line, each with its reason; the lines around them and
 * the forms that are fine (indented comment, ignored keys, CRLF, no data,
 * no final newline) still make their events. */
static void
test_every_kind_of_bad_line (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "bad.jsonl",
                                           "[1, 2]\n"                                          /* 1 */
                                           "\"just a string\"\n"                               /* 2 */
                                           "{\"data\": {}}\n"                                  /* 3 */
                                           "{\"type\": 5}\n"                                   /* 4 */
                                           "{\"type\": \"Search.Request\"}\n"                  /* 5 */
                                           "{\"type\": \"a..b\"}\n"                            /* 6 */
                                           "{\"type\": \"evbus.failure\"}\n"                   /* 7 */
                                           "{\"type\": \"a.b\", \"data\": [1]}\n"              /* 8 */
                                           "{\"type\": \"a.b\", \"extra\": 1}\n"               /* 9 */
                                           "{\"type\": \"a.b\", \"type\": \"c.d\"}\n"          /* 10 */
                                           "{\"type\": \"a.b\"} trailing\n"                    /* 11 */
                                           "   # an indented comment\n"                        /* 12 */
                                           "{\"type\": \"ok.event\", \"id\": 42, \"source\": \"x\","
                                           " \"time_us\": 1}\n"                                /* 13 */
                                           "\t \n"                                             /* 14 */
                                           "{\"type\": \"crlf.event\", \"data\": {\"n\": 1}}\r\n" /* 15 */
                                           "{\"type\": \"a.b\", \"new\\nline\": 1}\n"          /* 16 */
                                           "{\"type\": \"last.event\"}");                      /* 17 */
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *trace = NULL;
  g_autofree char *expected_done = done_data (path, 17, 3, 12);
  g_autoptr (GString) expected_log = g_string_new (NULL);
  g_autofree char *log = NULL;
  static const char *const reasons[] = {
    "1: expected a JSON object {\"type\": ..., \"data\": {...}}, got array",
    "2: expected a JSON object {\"type\": ..., \"data\": {...}}, got string",
    "3: missing \"type\"",
    "4: \"type\" must be a string, got integer",
    "5: \"type\" \"Search.Request\" is not an event type (dotted segments of [a-z0-9_-])",
    "6: \"type\" \"a..b\" is not an event type (dotted segments of [a-z0-9_-])",
    "7: \"type\" \"evbus.failure\" is reserved for the host",
    "8: \"data\" must be an object, got array",
    "9: unknown key \"extra\" (a line holds \"type\" and \"data\")",
    "10: invalid JSON at column 22: duplicate object key near '\"type\"'",
    "11: invalid JSON at column 24: end of file expected near 'trailing'",
    "16: unknown key \"new\\nline\" (a line holds \"type\" and \"data\")",
  };
  LogCapture capture;

  log_capture_start (&capture);
  add_replay (harness, path, NULL);
  run_until_idle_or_fail (harness);
  log = log_capture_text (&capture);
  log_capture_stop (&capture);

  trace = evb_harness_trace (harness, ">");
  assert_string_equal (trace, "ok.event crlf.event last.event replay.done");
  assert_json_equal (evb_harness_event (harness, 0)->data, "{}");
  assert_json_equal (evb_harness_event (harness, 1)->data, "{\"n\": 1}");
  assert_json_equal (evb_harness_event (harness, 2)->data, "{}");
  assert_json_equal (evb_harness_event (harness, 3)->data, expected_done);
  for (gsize i = 0; i < G_N_ELEMENTS (reasons); i++)
    g_string_append_printf (expected_log, "%srp: replay: %s:%s", i > 0 ? "\n" : "", path, reasons[i]);
  assert_string_equal (log, expected_log->str);
  temp_dir_free (dir);
}

/* A line over 1 MiB is a bad line, whether its end arrives with it or
 * later; the reader does not hold it whole, and goes on after it. */
static void
test_overlong_lines (void **state)
{
  char *dir = temp_dir_new ();
  g_autoptr (GString) contents = g_string_new (NULL);
  g_autofree char *filler = g_strnfill (1024 * 1024, 'x');
  g_autofree char *path = NULL;
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *trace = NULL;
  g_autofree char *expected_done = NULL;
  g_autofree char *expected_log = NULL;
  g_autofree char *log = NULL;
  LogCapture capture;

  /* Line 1 just over the limit, line 3 far over it (split across reads). */
  g_string_append (contents, "{\"type\": \"big\", \"data\": {\"s\": \"");
  g_string_append (contents, filler);
  g_string_append (contents, "\"}}\n{\"type\": \"after.first\"}\n");
  for (int i = 0; i < 3 * 1024; i++)
    g_string_append (contents, "# padding padding padding padding padding padding padding padding padding padding "
                               "padding padding padding padding padding padding padding padding padding padding "
                               "padding padding padding padding padding padding padding padding padding padding "
                               "padding padding padding padding padding padding padding padding padding padding "
                               "padding padding padding padding padding padding padding padding padding padding");
  g_string_append (contents, "\n{\"type\": \"after.second\"}\n");
  path = write_temp_file (dir, "long.jsonl", contents->str);

  log_capture_start (&capture);
  add_replay (harness, path, NULL);
  run_until_idle_or_fail (harness);
  log = log_capture_text (&capture);
  log_capture_stop (&capture);

  trace = evb_harness_trace (harness, ">");
  assert_string_equal (trace, "after.first after.second replay.done");
  expected_done = done_data (path, 4, 2, 2);
  assert_json_equal (evb_harness_find (harness, "replay.done", 0)->data, expected_done);
  expected_log = g_strdup_printf ("rp: replay: %s:1: line longer than 1048576 bytes\n"
                                  "rp: replay: %s:3: line longer than 1048576 bytes", path, path);
  assert_string_equal (log, expected_log);
  temp_dir_free (dir);
}

/* path "-" reads standard input; logs call it <stdin>. */
static void
test_standard_input (void **state)
{
  static const char input[] = "{\"type\": \"one.event\", \"data\": {\"n\": 1}}\n"
                              "oops\n"
                              "{\"type\": \"two.event\", \"data\": {\"n\": 2}}\n";
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *trace = NULL;
  g_autofree char *expected_done = done_data ("-", 3, 2, 1);
  g_autofree char *log = NULL;
  int saved_stdin = dup (STDIN_FILENO);
  int pipe_fds[2];
  LogCapture capture;

  assert_int_equal (pipe (pipe_fds), 0);
  assert_int_equal (write (pipe_fds[1], input, sizeof input - 1), (ssize_t) (sizeof input - 1));
  close (pipe_fds[1]);
  assert_int_equal (dup2 (pipe_fds[0], STDIN_FILENO), STDIN_FILENO);
  close (pipe_fds[0]);

  log_capture_start (&capture);
  add_replay (harness, "-", NULL);
  run_until_idle_or_fail (harness);
  log = log_capture_text (&capture);
  log_capture_stop (&capture);
  evb_harness_shutdown (harness, -1);
  assert_int_equal (dup2 (saved_stdin, STDIN_FILENO), STDIN_FILENO);
  close (saved_stdin);

  trace = evb_harness_trace (harness, ">");
  assert_string_equal (trace, "one.event two.event replay.done");
  assert_json_equal (evb_harness_event (harness, 1)->data, "{\"n\": 2}");
  assert_json_equal (evb_harness_event (harness, 2)->data, expected_done);
  assert_string_equal (log, "rp: replay: <stdin>:2: invalid JSON at column 4: invalid token near 'oops'");
}

/* interval_ms paces the events: three events 100 ms apart span at least
 * 200 ms of emission time. */
static void
test_interval_paces_events (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "paced.jsonl",
                                           "{\"type\": \"tick\"}\n{\"type\": \"tick\"}\n{\"type\": \"tick\"}\n");
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  gint64 first;
  gint64 last;

  add_replay (harness, path, "{\"interval_ms\": 100}");
  run_until_idle_or_fail (harness);

  assert_int_equal (evb_harness_count (harness, "tick"), 3);
  first = evb_harness_find (harness, "tick", 0)->time_us;
  last = evb_harness_find (harness, "tick", 2)->time_us;
  assert_true (last - first >= 200 * 1000);
  /* No pause before replay.done: the run ends with the last event. */
  assert_int_equal (evb_harness_count (harness, "replay.done"), 1);
  temp_dir_free (dir);
}

/* DESIGN "Lifecycle": shutdown stops sources first.  A replay in the middle
 * of a one-minute pause stops at once: the rest of the file is not emitted
 * and there is no replay.done. */
static void
test_shutdown_stops_promptly (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "slow.jsonl", "{\"type\": \"first\"}\n{\"type\": \"second\"}\n");
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *trace = NULL;
  gint64 started;

  add_replay (harness, path, "{\"interval_ms\": 60000}");
  run_until_count_or_fail (harness, "first", 1);
  /* The hold is still taken: idle is not reached while the replay waits. */
  assert_false (evb_harness_run_until_idle (harness, 100, &error));
  started = g_get_monotonic_time ();
  evb_harness_shutdown (harness, -1);

  assert_true (g_get_monotonic_time () - started < 10 * G_USEC_PER_SEC);
  trace = evb_harness_trace (harness, ">");
  assert_string_equal (trace, "first");
  temp_dir_free (dir);
}

/* loop: true starts over after each pass, with a replay.done per pass. */
static void
test_loop_repeats_passes (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "loop.jsonl",
                                           "{\"type\": \"a\", \"data\": {\"n\": 1}}\n# note\n{\"type\": \"b\"}\n");
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autoptr (GString) first_nine = g_string_new (NULL);
  g_autofree char *expected_done = done_data (path, 3, 2, 0);

  add_replay (harness, path, "{\"loop\": true}");
  run_until_count_or_fail (harness, "replay.done", 3);
  evb_harness_shutdown (harness, -1);

  for (guint i = 0; i < 9; i++)
    g_string_append_printf (first_nine, "%s%s", i > 0 ? " " : "", evb_harness_event (harness, i)->type);
  assert_string_equal (first_nine->str, "a b replay.done a b replay.done a b replay.done");
  for (guint pass = 0; pass < 3; pass++)
    assert_json_equal (evb_harness_find (harness, "replay.done", pass)->data, expected_done);
  temp_dir_free (dir);
}

/* A consumer slower than the replay: each event costs its handler 1 ms, so
 * that the inbox stays full while the replay floods it. */
static EvbResult
slow_consumer (EvbCall *call, const EvbEvent *event)
{
  g_usleep (1000);
  return EVB_CONTINUE;
}

static const EvbHandlerInfo slow_handlers[] = {
  EVB_HANDLER ("consume", slow_consumer, "Takes 1 ms per event."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (slow_descriptor, "slow", "1.0", "A slow consumer", slow_handlers, NULL, NULL, NULL);

/* DESIGN "Lifecycle": shutdown stops sources, then drains.  A loop without
 * pacing, feeding a slower consumer, keeps the (64-event) inbox full for
 * ever: unless the replay stops when the host stops plugin sources, the
 * drain only ends when the 5 s grace runs out (twice: drain, then cancel).
 * Stopped, what is left is at most an inbox of 1 ms events. */
static void
test_shutdown_stops_a_flooding_loop (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "flood.jsonl", "{\"type\": \"flood\"}\n");
  g_autoptr (EvbHarness) harness = harness_new_or_fail ("{\"grace_ms\": 5000, \"inbox_limit\": 64}");
  g_autoptr (GError) error = NULL;
  gint64 started;
  guint floods;

  assert_true (evb_harness_add_plugin (harness, "slow", &slow_descriptor, NULL, &error));
  add_route_or_fail (harness, "flood", "slow.consume", NULL);
  add_replay (harness, path, "{\"loop\": true}");
  run_until_count_or_fail (harness, "flood", 200);
  started = g_get_monotonic_time ();
  evb_harness_shutdown (harness, -1);

  assert_true (g_get_monotonic_time () - started < 2 * G_USEC_PER_SEC);
  /* Every pass is one event then its replay.done. */
  floods = evb_harness_count (harness, "flood");
  assert_true (evb_harness_count (harness, "replay.done") + 1 >= floods);
  assert_true (evb_harness_count (harness, "replay.done") <= floods);
  temp_dir_free (dir);
}

/* A file without a single event does not spin in loop mode. */
static void
test_loop_over_nothing_stops (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "empty.jsonl", "# nothing here\n\n");
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *expected_log = g_strdup_printf ("rp: replay: %s: no event in a whole pass, not looping", path);
  g_autofree char *expected_done = done_data (path, 2, 0, 0);
  g_autofree char *log = NULL;
  LogCapture capture;

  log_capture_start (&capture);
  add_replay (harness, path, "{\"loop\": true}");
  run_until_idle_or_fail (harness);
  log = log_capture_text (&capture);
  log_capture_stop (&capture);

  assert_json_equal (find_only (harness, ">")->data, expected_done);
  assert_string_equal (log, expected_log);
  temp_dir_free (dir);
}

/* The console's JSON output replays as it is: what was printed comes back
 * with the same types and data. */
static void
test_replays_console_json_output (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *recording = g_build_filename (dir, "recording.jsonl", NULL);
  g_autofree char *console_config = g_strdup_printf ("{\"path\": \"%s\", \"format\": \"json\"}", recording);

  {
    g_autoptr (EvbHarness) recorder = harness_new_or_fail (NULL);

    add_plugin_or_fail (recorder, "out", CONSOLE_PLUGIN, console_config);
    add_route_or_fail (recorder, "search.*", "out.print", NULL);
    emit_or_fail (recorder, "search.request", "{\"query\": \"desk lamp\", \"limit\": 2}");
    emit_or_fail (recorder, "search.results", "{\"count\": 0, \"items\": [], \"price\": 2.5}");
    run_until_idle_or_fail (recorder);
  }
  {
    g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
    g_autofree char *trace = NULL;

    add_replay (harness, recording, NULL);
    run_until_idle_or_fail (harness);
    trace = evb_harness_trace (harness, ">");
    assert_string_equal (trace, "search.request search.results replay.done");
    assert_json_equal (evb_harness_event (harness, 0)->data, "{\"query\": \"desk lamp\", \"limit\": 2}");
    assert_json_equal (evb_harness_event (harness, 1)->data, "{\"count\": 0, \"items\": [], \"price\": 2.5}");
  }
  temp_dir_free (dir);
}

/* path is a path option: a relative one is made absolute by the host (in
 * the harness against the current folder; in a config file against the
 * file's folder), and replay.done names the file it read. */
static void
test_relative_path (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *saved_cwd = g_get_current_dir ();
  g_autofree char *cwd = NULL;
  g_autofree char *path = NULL;
  g_autofree char *expected_done = NULL;
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);

  g_free (write_temp_file (dir, "relative.jsonl", "{\"type\": \"one\"}\n"));
  assert_int_equal (g_chdir (dir), 0);
  cwd = g_get_current_dir ();
  add_replay (harness, "relative.jsonl", NULL);
  assert_int_equal (g_chdir (saved_cwd), 0);
  run_until_idle_or_fail (harness);

  path = g_build_filename (cwd, "relative.jsonl", NULL);
  expected_done = done_data (path, 1, 1, 0);
  assert_json_equal (find_only (harness, "replay.done")->data, expected_done);
  temp_dir_free (dir);
}

static void
test_init_refusals (void **state)
{
  const char *so = REPLAY_PLUGIN;
  g_autofree char *missing_path = load_error (so, NULL);
  g_autofree char *no_file = load_error (so, "{\"path\": \"/nonexistent-evbus-dir/x.jsonl\"}");
  g_autofree char *stdin_loop = load_error (so, "{\"path\": \"-\", \"loop\": true}");
  g_autofree char *negative = load_error (so, "{\"path\": \"-\", \"interval_ms\": -1}");
  g_autofree char *expected = NULL;

  expected = g_strdup_printf ("plugin \"p\" (%s): option \"path\": required option missing (path: JSON-lines file "
                              "to replay, relative to the config file's folder; \"-\" reads standard input)", so);
  assert_string_equal (missing_path, expected);
  g_free (expected);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: cannot open \"/nonexistent-evbus-dir/x.jsonl\": No "
                              "such file or directory", so);
  assert_string_equal (no_file, expected);
  g_free (expected);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: loop needs a file: standard input (path \"-\") cannot "
                              "be read twice", so);
  assert_string_equal (stdin_loop, expected);
  g_free (expected);
  expected = g_strdup_printf ("plugin \"p\" (%s): option \"interval_ms\": expected at least 0, got -1", so);
  assert_string_equal (negative, expected);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_file_with_a_bad_line),
    cmocka_unit_test (test_every_kind_of_bad_line),
    cmocka_unit_test (test_overlong_lines),
    cmocka_unit_test (test_standard_input),
    cmocka_unit_test (test_interval_paces_events),
    cmocka_unit_test (test_shutdown_stops_promptly),
    cmocka_unit_test (test_loop_repeats_passes),
    cmocka_unit_test (test_shutdown_stops_a_flooding_loop),
    cmocka_unit_test (test_loop_over_nothing_stops),
    cmocka_unit_test (test_replays_console_json_output),
    cmocka_unit_test (test_relative_path),
    cmocka_unit_test (test_init_refusals),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
