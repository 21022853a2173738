/* file-out: fields in the path, the line formats, size and age rotation,
 * fsync per event on an async route, a torn last line, write failures as
 * failure events, and every bad option with its message. */
#include "files-test.h"

static EvbHarness *
out_harness (const char *config, const char *route_options)
{
  EvbHarness *harness = harness_new_or_fail (NULL);

  add_plugin_or_fail (harness, "out", FILE_OUT_PLUGIN, config);
  add_route_or_fail (harness, "app.>", "out.write", route_options);
  return harness;
}

static void
test_path_fields_and_formats (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *config = g_strdup_printf ("{\"path\": \"%s/{data.user}-{type}.log\", \"format\": \"template\", "
                                             "\"template\": \"{type} {data.user}: {data.msg} {data.n} [{data.none}] "
                                             "{{ok}}\"}", dir);
  g_autoptr (EvbHarness) harness = out_harness (config, NULL);
  g_autofree char *ann = g_build_filename (dir, "ann-app.login.log", NULL);
  g_autofree char *slash = g_build_filename (dir, "a_b-app.login.log", NULL);
  g_autofree char *ann_text = NULL, *slash_text = NULL;

  emit_or_fail (harness, "app.login", "{\"user\": \"ann\", \"msg\": \"hi\\nthere\", \"n\": 2}");
  emit_or_fail (harness, "app.login", "{\"user\": \"ann\", \"msg\": \"again\", \"n\": [1]}");
  emit_or_fail (harness, "app.login", "{\"user\": \"a/b\", \"msg\": \"x\"}");
  run_until_idle_or_fail (harness);
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
  ann_text = read_file_or_fail (ann);
  assert_string_equal (ann_text, "app.login ann: hi\\nthere 2 [] {ok}\napp.login ann: again [1] [] {ok}\n");
  slash_text = read_file_or_fail (slash);
  assert_string_equal (slash_text, "app.login a/b: x  [] {ok}\n");
  g_unlink (ann);
  g_unlink (slash);
  temp_dir_free (g_steal_pointer (&dir));
}

/* format "event" is what replay reads back; the folders are made. */
static void
test_event_format_and_folders (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *sub = g_build_filename (dir, "logs", NULL);
  g_autofree char *config = g_strdup_printf ("{\"path\": \"%s/logs/{date}.jsonl\"}", dir);
  g_autoptr (EvbHarness) harness = out_harness (config, NULL);
  g_autoptr (GDateTime) now = NULL;
  g_autofree char *date = NULL, *path = NULL, *text = NULL;
  g_autoptr (json_t) line = NULL;
  const EvbEvent *event;

  emit_or_fail (harness, "app.x", "{\"a\": 1}");
  run_until_idle_or_fail (harness);
  event = evb_harness_find (harness, "app.x", 0);
  now = g_date_time_new_from_unix_utc (event->time_us / G_USEC_PER_SEC);
  date = g_date_time_format (now, "%Y-%m-%d");
  path = g_strdup_printf ("%s/logs/%s.jsonl", dir, date);
  text = read_file_or_fail (path);
  line = parse_json (text);
  assert_int_equal (json_integer_value (json_object_get (line, "id")), event->id);
  assert_int_equal (json_integer_value (json_object_get (line, "time_us")), event->time_us);
  json_object_del (line, "id");
  json_object_del (line, "time_us");
  assert_json_equal (line, "{\"type\": \"app.x\", \"source\": \"harness\", \"data\": {\"a\": 1}}");
  g_unlink (path);
  g_rmdir (sub);
  temp_dir_free (g_steal_pointer (&dir));
}

static void
test_size_rotation (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *config = g_strdup_printf ("{\"path\": \"%s\", \"format\": \"data\", \"max_bytes\": 30, "
                                             "\"keep\": 2}", path);
  g_autoptr (EvbHarness) harness = out_harness (config, NULL);
  g_autofree char *p1 = g_strdup_printf ("%s.1", path), *p2 = g_strdup_printf ("%s.2", path);
  g_autofree char *p3 = g_strdup_printf ("%s.3", path);
  g_autofree char *t0 = NULL, *t1 = NULL, *t2 = NULL;

  /* {"n":N} is 8 bytes with its newline: three per file. */
  for (guint n = 0; n < 10; n++)
    {
      g_autofree char *data = g_strdup_printf ("{\"n\": %u}", n);

      emit_or_fail (harness, "app.n", data);
    }
  run_until_idle_or_fail (harness);
  t0 = read_file_or_fail (path);
  t1 = read_file_or_fail (p1);
  t2 = read_file_or_fail (p2);
  assert_string_equal (t0, "{\"n\":9}\n");
  assert_string_equal (t1, "{\"n\":6}\n{\"n\":7}\n{\"n\":8}\n");
  assert_string_equal (t2, "{\"n\":3}\n{\"n\":4}\n{\"n\":5}\n");
  assert_false (g_file_test (p3, G_FILE_TEST_EXISTS));
  temp_dir_free (g_steal_pointer (&dir));
}

static void
test_age_rotation (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *config = g_strdup_printf ("{\"path\": \"%s\", \"format\": \"data\", \"max_age_s\": 60}", path);
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autofree char *p1 = g_strdup_printf ("%s.1", path);
  g_autofree char *t0 = NULL, *t1 = NULL;

  evb_harness_set_clock (harness, G_GINT64_CONSTANT (1700000000000000));
  add_plugin_or_fail (harness, "out", FILE_OUT_PLUGIN, config);
  add_route_or_fail (harness, "app.>", "out.write", NULL);
  emit_or_fail (harness, "app.n", "{\"n\": 0}");
  run_until_idle_or_fail (harness);
  evb_harness_advance_clock (harness, 59 * 1000);
  emit_or_fail (harness, "app.n", "{\"n\": 1}");
  run_until_idle_or_fail (harness);
  assert_false (g_file_test (p1, G_FILE_TEST_EXISTS));
  evb_harness_advance_clock (harness, 1000);
  emit_or_fail (harness, "app.n", "{\"n\": 2}");
  run_until_idle_or_fail (harness);
  t0 = read_file_or_fail (path);
  t1 = read_file_or_fail (p1);
  assert_string_equal (t1, "{\"n\":0}\n{\"n\":1}\n");
  assert_string_equal (t0, "{\"n\":2}\n");
  temp_dir_free (g_steal_pointer (&dir));
}

/* fsync per event on an async route, after a crash's torn last line. */
static void
test_fsync_event_async_and_torn_tail (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = write_temp_file (dir, "out.jsonl", "{\"n\":0}\n{\"n\"");
  g_autofree char *config = g_strdup_printf ("{\"path\": \"%s\", \"format\": \"data\", \"fsync\": \"event\"}", path);
  g_autoptr (EvbHarness) harness = out_harness (config, "{\"mode\": \"async\", \"max_concurrency\": 1}");
  g_autofree char *text = NULL;

  for (guint n = 1; n < 4; n++)
    {
      g_autofree char *data = g_strdup_printf ("{\"n\": %u}", n);

      emit_or_fail (harness, "app.n", data);
    }
  run_until_idle_or_fail (harness);
  assert_int_equal (evb_harness_count (harness, "evbus.status.completed"), 3);
  text = read_file_or_fail (path);
  assert_string_equal (text, "{\"n\":0}\n{\"n\"\n{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
  temp_dir_free (g_steal_pointer (&dir));
}

static void
assert_failure (EvbHarness *harness, guint index, const char *expected_message)
{
  const EvbEvent *failure = evb_harness_find (harness, "evbus.failure", index);
  json_t *error;

  assert_non_null (failure);
  error = json_object_get (failure->data, "error");
  assert_string_equal (json_string_value (json_object_get (error, "domain")), "out");
  assert_string_equal (json_string_value (json_object_get (error, "message")), expected_message);
}

static void
test_write_failures (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *blocker = write_temp_file (dir, "file", "x");
  g_autofree char *config = g_strdup_printf ("{\"path\": \"%s/{data.where}\"}", dir);
  g_autoptr (EvbHarness) harness = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  guint64 id;

  /* /dev/full takes the open and refuses every write. */
  {
    g_autoptr (EvbHarness) full = out_harness ("{\"path\": \"/dev/full\", \"mkdir\": false}", NULL);

    id = evb_harness_emit_with_receipt (full, "app.x", "{}", &error);
    assert_no_error (error);
    assert_true (evb_harness_run_until_receipt (full, id, WAIT_MS, &error));
    assert_int_equal (evb_harness_get_receipt (full, id)->outcome, EVB_RECEIPT_FAILED);
    assert_failure (full, 0, "cannot write \"/dev/full\": No space left on device");
  }
  harness = out_harness (config, NULL);
  emit_or_fail (harness, "app.x", "{}");
  emit_or_fail (harness, "app.x", "{\"where\": \"file/sub/x.log\"}");
  emit_or_fail (harness, "app.x", "{\"where\": \"file\"}");
  run_until_idle_or_fail (harness);
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 1);
  assert_failure (harness, 0, "option \"path\": no {data.where} in the event's data to make the file name from");
  /* "file/sub/x.log" is one name segment: file_sub_x.log, written. */
  {
    g_autofree char *made = g_build_filename (dir, "file_sub_x.log", NULL);

    assert_true (g_file_test (made, G_FILE_TEST_EXISTS));
  }
  g_clear_pointer (&harness, evb_harness_free);
  g_free (config);
  config = g_strdup_printf ("{\"path\": \"%s/file/x.log\"}", dir);
  harness = out_harness (config, NULL);
  emit_or_fail (harness, "app.x", "{}");
  run_until_idle_or_fail (harness);
  expected = g_strdup_printf ("cannot make the folder of \"%s/file/x.log\": Not a directory", dir);
  assert_failure (harness, 0, expected);
  temp_dir_free (g_steal_pointer (&dir));
}

static void
assert_init_error (const char *config, const char *expected)
{
  g_autofree char *message = load_error (FILE_OUT_PLUGIN, config);
  g_autofree char *full = g_strdup_printf ("plugin \"p\" (%s): init failed: %s", FILE_OUT_PLUGIN, expected);

  assert_string_equal (message, full);
}

static void
test_bad_options (void **state)
{
  g_autofree char *message = load_error (FILE_OUT_PLUGIN, "{\"path\": \"x\", \"fsync\": \"always\"}");
  g_autofree char *expected = g_strdup_printf ("plugin \"p\" (%s): option \"fsync\": expected one of \"never\", "
                                               "\"batch\", \"event\", got \"always\"", FILE_OUT_PLUGIN);

  assert_string_equal (message, expected);
  assert_init_error ("{\"path\": \"-\"}",
                     "option \"path\": give a file (\"out/{type}-{date}.jsonl\"); standard output is the console "
                     "plugin's");
  assert_init_error ("{\"path\": \"/tmp/{nope}.log\"}",
                     "option \"path\": unknown field {nope} (fields: type, source, id, date, hour, time, data, "
                     "data.KEY)");
  assert_init_error ("{\"path\": \"/tmp/{type.log\"}",
                     "option \"path\": \"{\" at byte 6 is not closed (write \"{{\" for a brace)");
  assert_init_error ("{\"path\": \"/tmp/type}.log\"}",
                     "option \"path\": \"}\" at byte 10 without its \"{\" (write \"}}\" for a brace)");
  assert_init_error ("{\"path\": \"/tmp/x.log\", \"format\": \"template\"}",
                     "option \"template\": format \"template\" needs one, e.g. \"{time} {type} {data.message}\"");
  assert_init_error ("{\"path\": \"/tmp/x.log\", \"template\": \"{type}\"}",
                     "option \"template\": only read with \"format\": \"template\" (the format is \"event\")");
  assert_init_error ("{\"path\": \"/tmp/x.log\", \"format\": \"template\", \"template\": \"{data.}\"}",
                     "option \"template\": unknown field {data.} (fields: type, source, id, date, hour, time, data, "
                     "data.KEY)");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_path_fields_and_formats),
    cmocka_unit_test (test_event_format_and_folders),
    cmocka_unit_test (test_size_rotation),
    cmocka_unit_test (test_age_rotation),
    cmocka_unit_test (test_fsync_event_async_and_torn_tail),
    cmocka_unit_test (test_write_failures),
    cmocka_unit_test (test_bad_options),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
