/* file-in across rotation while lines keep coming, with exact accounting:
 * every line exactly once.  The plugin reads on the harness's main loop, so
 * the test rotates between two turns of it with lines still unread. */
#include "files-test.h"

static EvbHarness *
follow_harness (Recorder *recorder, const char *pattern, const char *state_path)
{
  EvbHarness *harness = harness_new_or_fail (NULL);
  g_autofree char *config = g_strdup_printf ("{\"path\": \"%s\", \"format\": \"json\", \"follow\": true, "
                                             "\"poll_ms\": 10, \"rotate_wait_ms\": 20, \"max_in_flight\": 8, "
                                             "\"state\": \"%s\"}", pattern, state_path);

  recorder_init (recorder);
  recorder_route (harness, recorder, "file.line");
  add_plugin_or_fail (harness, "in", FILE_IN_PLUGIN, config);
  return harness;
}

/* rename + create: the writer keeps writing to the renamed file through
 * its descriptor for a while, then reopens the path.  The rotated name is
 * outside the glob: the old file is drained through the open descriptor. */
static void
test_rename_create (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "app.log", NULL);
  g_autofree char *rotated = g_build_filename (dir, "app.log.1", NULL);
  g_autofree char *state_path = g_build_filename (dir, "in.state", NULL);
  g_autoptr (EvbHarness) harness = NULL;
  Recorder recorder;
  int writer = open (path, O_WRONLY | O_APPEND | O_CREAT, 0644);

  write_numbered (writer, 0, 100);
  harness = follow_harness (&recorder, path, state_path);
  run_until_distinct_or_fail (harness, &recorder, 30);
  assert_true (recorder.calls < 100); /* lines still unread at the rotation */
  assert_int_equal (rename (path, rotated), 0);
  write_numbered (writer, 100, 150);   /* late lines into the renamed file */
  close (writer);
  writer = open (path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  write_numbered (writer, 150, 200);
  run_until_distinct_or_fail (harness, &recorder, 180);
  write_numbered (writer, 200, 300);   /* and on, in the new file */
  close (writer);
  run_until_distinct_or_fail (harness, &recorder, 300);
  run_until_idle_or_fail (harness);
  assert_each_once (&recorder, 300);
  g_array_unref (recorder.seen);
  g_clear_pointer (&harness, evb_harness_free);
  temp_dir_free (g_steal_pointer (&dir));
}

/* copytruncate: the file is copied to app.log.1 (inside the glob) and
 * truncated in place, with lines not yet read.  Those are read from the
 * copy, from where the original was cut; the original is read again from
 * its (new) start. */
static void
test_copytruncate (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "app.log", NULL);
  g_autofree char *rotated = g_build_filename (dir, "app.log.1", NULL);
  g_autofree char *pattern = g_build_filename (dir, "app.log*", NULL);
  g_autofree char *state_path = g_build_filename (dir, "in.state", NULL);
  g_autoptr (EvbHarness) harness = NULL;
  g_autofree char *contents = NULL;
  Recorder recorder;
  int writer = open (path, O_WRONLY | O_APPEND | O_CREAT, 0644);

  write_numbered (writer, 0, 100);
  harness = follow_harness (&recorder, pattern, state_path);
  run_until_distinct_or_fail (harness, &recorder, 30);
  assert_true (recorder.calls < 100);
  contents = read_file_or_fail (path);
  {
    g_autoptr (GError) error = NULL;

    g_file_set_contents (rotated, contents, -1, &error);
    assert_no_error (error);
  }
  assert_int_equal (ftruncate (writer, 0), 0);
  write_numbered (writer, 100, 150);
  run_until_distinct_or_fail (harness, &recorder, 150);
  write_numbered (writer, 150, 250);
  close (writer);
  run_until_distinct_or_fail (harness, &recorder, 250);
  run_until_idle_or_fail (harness);
  assert_each_once (&recorder, 250);
  g_array_unref (recorder.seen);
  g_clear_pointer (&harness, evb_harness_free);
  temp_dir_free (g_steal_pointer (&dir));
}

/* Truncated and refilled past the old read position between two polls: the
 * size alone does not show it, the fingerprint does. */
static void
test_truncate_and_refill (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "app.log", NULL);
  g_autofree char *state_path = g_build_filename (dir, "in.state", NULL);
  g_autoptr (EvbHarness) harness = NULL;
  Recorder recorder;
  int writer = open (path, O_WRONLY | O_APPEND | O_CREAT, 0644);

  write_numbered (writer, 0, 10);
  harness = follow_harness (&recorder, path, state_path);
  run_until_distinct_or_fail (harness, &recorder, 10);
  run_until_idle_or_fail (harness);
  assert_int_equal (ftruncate (writer, 0), 0);
  write_numbered (writer, 10, 40);
  close (writer);
  run_until_distinct_or_fail (harness, &recorder, 40);
  run_until_idle_or_fail (harness);
  assert_each_once (&recorder, 40);
  g_array_unref (recorder.seen);
  g_clear_pointer (&harness, evb_harness_free);
  temp_dir_free (g_steal_pointer (&dir));
}

/* A restart after a rename rotation: the saved position follows the inode
 * to its new name (inside the glob), and the new file is read whole. */
static void
test_restart_after_rotation (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *path = g_build_filename (dir, "app.log", NULL);
  g_autofree char *rotated = g_build_filename (dir, "app.log.1", NULL);
  g_autofree char *pattern = g_build_filename (dir, "app.log*", NULL);
  g_autofree char *state_path = g_build_filename (dir, "in.state", NULL);
  Recorder first, second;

  append_numbered (path, 0, 50);
  {
    g_autoptr (EvbHarness) harness = follow_harness (&first, pattern, state_path);

    run_until_distinct_or_fail (harness, &first, 50);
    run_until_idle_or_fail (harness);
  }
  append_numbered (path, 50, 60); /* written while the host was down */
  assert_int_equal (rename (path, rotated), 0);
  append_numbered (path, 60, 80);
  {
    g_autoptr (EvbHarness) harness = follow_harness (&second, pattern, state_path);

    run_until_distinct_or_fail (harness, &second, 30);
    run_until_idle_or_fail (harness);
  }
  for (guint n = 0; n < 80; n++)
    assert_int_equal (recorder_times (&first, n) + recorder_times (&second, n), 1);
  g_array_unref (first.seen);
  g_array_unref (second.seen);
  temp_dir_free (g_steal_pointer (&dir));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_rename_create),
    cmocka_unit_test (test_copytruncate),
    cmocka_unit_test (test_truncate_and_refill),
    cmocka_unit_test (test_restart_after_rotation),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
