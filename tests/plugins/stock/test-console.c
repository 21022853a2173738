/* Tests for plugins/console: the exact line and JSON forms written to a
 * file, a failure event printed, count and report, append versus truncate,
 * a failed write reported as a handler failure, and init's refusals. */
#include "stock-test.h"

/* A handler that always fails, to make an evbus.failure to print. */
static EvbResult
always_fail (EvbCall *call, const EvbEvent *event)
{
  return evb_call_fail (call, "demo", 7, "no luck with %s", event->type);
}

static const EvbHandlerInfo failing_handlers[] = {
  EVB_HANDLER ("fail", always_fail, "Fails every event."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (failing_descriptor, "failing", "1.0", "Fails on purpose", failing_handlers, NULL, NULL,
                          NULL);

/* A harness with console "out" writing @format to @path, print routed from
 * @pattern. */
static EvbHarness *
console_harness (const char *path, const char *format, const char *pattern)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  g_autoptr (json_t) config = json_pack ("{s:s, s:s}", "path", path, "format", format);
  g_autofree char *config_text = json_dumps (config, JSON_COMPACT);

  add_plugin_or_fail (harness, "out", CONSOLE_PLUGIN, config_text);
  add_route_or_fail (harness, pattern, "out.print", NULL);
  return harness;
}

/* The readable form: "[type] source=... key=value ...", strings bare when
 * they can be, quoted otherwise, everything else compact JSON, reals with
 * 15 significant digits. */
static void
test_line_format (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "console.txt", NULL);
  g_autofree char *written = NULL;

  {
    g_autoptr (EvbHarness) harness = console_harness (path, "line", ">");

    emit_or_fail (harness, "search.results",
                  "{\"query\": \"desk lamp\", \"count\": 1,"
                  " \"items\": [{\"id\": 1, \"name\": \"Desk lamp\", \"price\": 24.99}]}");
    emit_or_fail (harness, "ping", NULL);
    emit_or_fail (harness, "odd.values",
                  "{\"word\": \"lamp\", \"empty\": \"\", \"eq\": \"a=b\", \"quote\": \"say \\\"hi\\\"\","
                  " \"flag\": true, \"none\": null, \"odd key\": 1.5, \"unicode\": \"caf\\u00e9\"}");
    run_until_idle_or_fail (harness);
    written = read_file_or_fail (path);
  }

  assert_string_equal (written,
                       "[search.results] source=harness query=\"desk lamp\" count=1"
                       " items=[{\"id\":1,\"name\":\"Desk lamp\",\"price\":24.99}]\n"
                       "[ping] source=harness\n"
                       "[odd.values] source=harness word=lamp empty=\"\" eq=\"a=b\" quote=\"say \\\"hi\\\"\""
                       " flag=true none=null \"odd key\"=1.5 unicode=caf\xc3\xa9\n");
  temp_dir_free (dir);
}

/* The JSON form: {"type", "id", "source", "data"}, one per line, the id
 * being the event's own. */
static void
test_json_format (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "console.jsonl", NULL);
  g_autofree char *written = NULL;
  g_autofree char *expected = NULL;
  guint64 first_id;
  guint64 second_id;

  {
    g_autoptr (EvbHarness) harness = console_harness (path, "json", ">");

    emit_or_fail (harness, "fetch.result", "{\"id\": 3, \"item\": {\"name\": \"Lamp shade\", \"price\": 12.5}}");
    emit_or_fail (harness, "ping", NULL);
    run_until_idle_or_fail (harness);
    first_id = evb_harness_find (harness, "fetch.result", 0)->id;
    second_id = evb_harness_find (harness, "ping", 0)->id;
    written = read_file_or_fail (path);
  }

  expected = g_strdup_printf ("{\"type\":\"fetch.result\",\"id\":%" G_GUINT64_FORMAT ",\"source\":\"harness\","
                              "\"data\":{\"id\":3,\"item\":{\"name\":\"Lamp shade\",\"price\":12.5}}}\n"
                              "{\"type\":\"ping\",\"id\":%" G_GUINT64_FORMAT ",\"source\":\"harness\",\"data\":{}}\n",
                              first_id, second_id);
  assert_string_equal (written, expected);
  temp_dir_free (dir);
}

/* The demo's last step: a failing handler's evbus.failure, printed. */
static void
test_prints_failure_events (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "failures.txt", NULL);
  g_autofree char *written = NULL;
  g_autofree char *expected = NULL;
  guint64 origin_id;

  {
    g_autoptr (EvbHarness) harness = console_harness (path, "line", "evbus.failure");
    g_autoptr (GError) error = NULL;

    assert_true (evb_harness_add_plugin (harness, "bad", &failing_descriptor, NULL, &error));
    add_route_or_fail (harness, "update.request", "bad.fail", NULL);
    emit_or_fail (harness, "update.request", "{\"id\": 999}");
    run_until_idle_or_fail (harness);
    origin_id = evb_harness_find (harness, "update.request", 0)->id;
    written = read_file_or_fail (path);
  }

  expected = g_strdup_printf ("[evbus.failure] bad.fail failed on update.request #%" G_GUINT64_FORMAT
                              " (main): demo 7: no luck with update.request\n",
                              origin_id);
  assert_string_equal (written, expected);
  temp_dir_free (dir);
}

/* count counts what it is routed; report tells the count as console.count. */
static void
test_count_and_report (void **state)
{
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);

  add_plugin_or_fail (harness, "out", CONSOLE_PLUGIN, NULL);
  add_route_or_fail (harness, "item.*", "out.count", NULL);
  add_route_or_fail (harness, "stats.request", "out.report", NULL);
  emit_or_fail (harness, "stats.request", NULL);
  emit_or_fail (harness, "item.a", NULL);
  emit_or_fail (harness, "item.b", NULL);
  emit_or_fail (harness, "other", NULL);
  emit_or_fail (harness, "item.c", NULL);
  emit_or_fail (harness, "stats.request", NULL);
  run_until_idle_or_fail (harness);

  assert_int_equal (evb_harness_count (harness, "console.count"), 2);
  assert_json_equal (evb_harness_find (harness, "console.count", 0)->data, "{\"count\": 0}");
  assert_json_equal (evb_harness_find (harness, "console.count", 1)->data, "{\"count\": 3}");
  assert_string_equal (evb_harness_find (harness, "console.count", 0)->source, "out");
}

/* append: false (the default) truncates the file at start; true keeps it. */
/* claim prints like print and stops lower priority levels; other events
 * still reach them. */
static void
test_claim_stops_lower_levels (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "console.txt", NULL);
  g_autofree char *config = g_strdup_printf ("{\"path\": \"%s\", \"prefix\": \"guard: \"}", path);
  g_autofree char *written = NULL;

  {
    g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);

    add_plugin_or_fail (harness, "out", CONSOLE_PLUGIN, config);
    add_route_or_fail (harness, "ui.search", "out.claim", "{\"priority\": 10, \"filter\": {\"query\": \"\"}}");
    add_route_or_fail (harness, "ui.search", "out.count", NULL);
    add_route_or_fail (harness, "stats.request", "out.report", NULL);
    emit_or_fail (harness, "ui.search", "{\"query\": \"\"}");
    emit_or_fail (harness, "ui.search", "{\"query\": \"lamp\"}");
    emit_or_fail (harness, "stats.request", NULL);
    run_until_idle_or_fail (harness);
    written = read_file_or_fail (path);
    assert_json_equal (evb_harness_find (harness, "console.count", 0)->data, "{\"count\": 1}");
  }

  assert_string_equal (written, "guard: [ui.search] source=harness query=\"\"\n");
  temp_dir_free (dir);
}

static void
test_append_or_truncate (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "log.txt", "old line\n");
  g_autoptr (json_t) config = json_pack ("{s:s, s:b}", "path", path, "append", TRUE);
  g_autofree char *append_config = json_dumps (config, JSON_COMPACT);
  g_autofree char *appended = NULL;
  g_autofree char *truncated = NULL;

  {
    g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);

    add_plugin_or_fail (harness, "out", CONSOLE_PLUGIN, append_config);
    add_route_or_fail (harness, "ping", "out.print", NULL);
    emit_or_fail (harness, "ping", "{\"n\": 1}");
    run_until_idle_or_fail (harness);
    appended = read_file_or_fail (path);
  }
  {
    g_autoptr (EvbHarness) harness = console_harness (path, "line", "ping");

    emit_or_fail (harness, "ping", "{\"n\": 2}");
    run_until_idle_or_fail (harness);
    truncated = read_file_or_fail (path);
  }

  assert_string_equal (appended, "old line\n[ping] source=harness n=1\n");
  assert_string_equal (truncated, "[ping] source=harness n=2\n");
  temp_dir_free (dir);
}

/* A write that fails (a full device) is the handler's failure, with the
 * reason, not a silent loss. */
static void
test_write_failure_fails_the_handler (void **state)
{
  g_autoptr (EvbHarness) harness = NULL;
  const EvbEvent *failure;

  if (!g_file_test ("/dev/full", G_FILE_TEST_EXISTS))
    skip ();
  harness = console_harness ("/dev/full", "line", "ping");
  emit_or_fail (harness, "ping", NULL);
  run_until_idle_or_fail (harness);

  failure = find_only (harness, "evbus.failure");
  assert_json_equal (json_object_get (failure->data, "error"),
                     "{\"domain\": \"console\", \"code\": 500,"
                     " \"message\": \"writing to \\\"/dev/full\\\" failed: No space left on device\"}");
}

/* path is a path option: a relative one is made absolute by the host (in
 * the harness against the current folder; in a config file against the
 * file's folder), so the plugin opens, and names, the file it means. */
static void
test_relative_path (void **state)
{
  char *dir = temp_dir_new ();
  g_autofree char *saved_cwd = g_get_current_dir ();
  g_autofree char *cwd = NULL;
  g_autofree char *path = NULL;
  g_autofree char *written = NULL;
  g_autofree char *missing = NULL;
  g_autofree char *expected = NULL;

  assert_int_equal (g_chdir (dir), 0);
  cwd = g_get_current_dir ();
  path = g_build_filename (cwd, "relative.txt", NULL);
  {
    g_autoptr (EvbHarness) harness = console_harness ("relative.txt", "line", "ping");

    emit_or_fail (harness, "ping", "{\"n\": 1}");
    run_until_idle_or_fail (harness);
  }
  missing = load_error (CONSOLE_PLUGIN, "{\"path\": \"no-such-folder/out.txt\"}");
  assert_int_equal (g_chdir (saved_cwd), 0);

  written = read_file_or_fail (path);
  assert_string_equal (written, "[ping] source=harness n=1\n");
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: cannot open \"%s/no-such-folder/out.txt\" for "
                              "writing: No such file or directory", CONSOLE_PLUGIN, cwd);
  assert_string_equal (missing, expected);
  temp_dir_free (dir);
}

static void
test_init_refusals (void **state)
{
  const char *so = CONSOLE_PLUGIN;
  g_autofree char *bad_format = load_error (so, "{\"format\": \"xml\"}");
  g_autofree char *no_folder = load_error (so, "{\"path\": \"/nonexistent-evbus-dir/out.txt\"}");
  g_autofree char *wrong_type = load_error (so, "{\"append\": \"yes\"}");
  g_autofree char *expected = NULL;

  expected = g_strdup_printf ("plugin \"p\" (%s): option \"format\": expected one of \"line\", \"json\", got \"xml\"",
                              so);
  assert_string_equal (bad_format, expected);
  g_free (expected);
  expected = g_strdup_printf ("plugin \"p\" (%s): init failed: cannot open \"/nonexistent-evbus-dir/out.txt\" for "
                              "writing: No such file or directory", so);
  assert_string_equal (no_folder, expected);
  g_free (expected);
  expected = g_strdup_printf ("plugin \"p\" (%s): option \"append\": expected true or false, got \"yes\"", so);
  assert_string_equal (wrong_type, expected);
  /* The plugin is unloaded by now; the error domain it made lives on in
   * GLib's quark table, so its name must not be a string of the plugin's
   * (which a static quark would be: this lookup would read unmapped
   * memory). */
  assert_string_equal (g_quark_to_string (g_quark_try_string ("evbus-console-error")), "evbus-console-error");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_line_format),
    cmocka_unit_test (test_json_format),
    cmocka_unit_test (test_prints_failure_events),
    cmocka_unit_test (test_count_and_report),
    cmocka_unit_test (test_claim_stops_lower_levels),
    cmocka_unit_test (test_append_or_truncate),
    cmocka_unit_test (test_write_failure_fails_the_handler),
    cmocka_unit_test (test_relative_path),
    cmocka_unit_test (test_init_refusals),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
