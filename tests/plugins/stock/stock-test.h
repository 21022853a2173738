/* Helpers shared by the stock plugin tests: JSON comparison with readable
 * failures, a temporary folder, and a capture of what plugins log.
 *
 * The tests see only sdk/ (plugin.h, harness.h) and load the built modules
 * by path, as a plugin author outside the tree would. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include <evbus/harness.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbHarness, evb_harness_free)

/* Generous: only a broken plugin ever waits this long. */
#define WAIT_MS 20000

#define assert_no_error(error) \
  do { if ((error) != NULL) fail_msg ("unexpected error: %s", (error)->message); } while (0)

static inline json_t *
parse_json (const char *text)
{
  json_error_t parse_error;
  json_t *json = json_loads (text, JSON_DECODE_ANY, &parse_error);

  if (json == NULL)
    fail_msg ("test bug: bad JSON %s: %s", text, parse_error.text);
  return json;
}

/* Compares as canonical text (sorted keys), so a failure shows both sides. */
static inline void
assert_json_equal (json_t *actual, const char *expected_text)
{
  g_autoptr (json_t) expected = parse_json (expected_text);
  char *actual_dump = json_dumps (actual, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
  char *expected_dump = json_dumps (expected, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);

  assert_string_equal (actual_dump, expected_dump);
  free (actual_dump);
  free (expected_dump);
}

static inline EvbHarness *
harness_new_or_fail (const char *settings_json)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = settings_json != NULL ? evb_harness_new_with_settings (settings_json, &error)
                                              : evb_harness_new ();

  assert_no_error (error);
  assert_non_null (harness);
  return harness;
}

static inline void
add_plugin_or_fail (EvbHarness *harness, const char *instance, const char *path, const char *config_json)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_add_plugin_file (harness, instance, path, config_json, &error))
    fail_msg ("loading %s as %s: %s", path, instance, error->message);
}

static inline void
add_route_or_fail (EvbHarness *harness, const char *pattern, const char *handler, const char *options_json)
{
  g_autoptr (GError) error = NULL;

  if (evb_harness_add_route (harness, pattern, handler, options_json, &error) == 0)
    fail_msg ("route %s -> %s: %s", pattern, handler, error->message);
}

static inline void
emit_or_fail (EvbHarness *harness, const char *type, const char *data_json)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_emit (harness, type, data_json, &error))
    fail_msg ("emit %s: %s", type, error->message);
}

static inline void
run_until_idle_or_fail (EvbHarness *harness)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_idle (harness, WAIT_MS, &error))
    fail_msg ("bus not idle: %s", error->message);
}

static inline void
run_until_count_or_fail (EvbHarness *harness, const char *pattern, guint count)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until_count (harness, pattern, count, WAIT_MS, &error))
    fail_msg ("waiting for %u x %s: %s", count, pattern, error->message);
}

/* The only event matching @pattern; fails unless there is exactly one. */
static inline const EvbEvent *
find_only (EvbHarness *harness, const char *pattern)
{
  assert_int_equal (evb_harness_count (harness, pattern), 1);
  return evb_harness_find (harness, pattern, 0);
}

/* The error of a plugin that must fail to load. */
static inline char *
load_error (const char *path, const char *config_json)
{
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autoptr (GError) error = NULL;

  assert_false (evb_harness_add_plugin_file (harness, "p", path, config_json, &error));
  assert_non_null (error);
  return g_strdup (error->message);
}

/* What `evbus check` would say of @path with @config_json: the plugin is
 * loaded in check mode (evb_harness_set_checking), shut down, and its
 * load error returned, or NULL when it loaded. */
static inline char *
check_error (const char *path, const char *config_json)
{
  g_autoptr (EvbHarness) harness = harness_new_or_fail (NULL);
  g_autoptr (GError) error = NULL;

  evb_harness_set_checking (harness);
  if (evb_harness_add_plugin_file (harness, "p", path, config_json, &error))
    return NULL;
  return g_strdup (error->message);
}

/* Fails unless @path loads in check mode with @config_json. */
static inline void
assert_checks_ok (const char *path, const char *config_json)
{
  g_autofree char *message = check_error (path, config_json);

  if (message != NULL)
    fail_msg ("checking %s: %s", path, message);
}

/* ---- a temporary folder ------------------------------------------------- */

static inline char *
temp_dir_new (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("evbus-stock-XXXXXX", &error);

  assert_no_error (error);
  return dir;
}

/* Removes @dir and the files in it (the tests make no subfolders). */
static inline void
temp_dir_free (char *dir)
{
  GDir *listing = g_dir_open (dir, 0, NULL);
  const char *name;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_unlink (path);
    }
  if (listing != NULL)
    g_dir_close (listing);
  g_rmdir (dir);
  g_free (dir);
}

static inline gint
dir_names_compare (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* The names in @dir, sorted, space-separated ("" when empty): what a test
 * compares to say which files a plugin made. */
static inline char *
dir_names (const char *dir)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GDir *listing = g_dir_open (dir, 0, NULL);
  const char *name;

  assert_non_null (listing);
  while ((name = g_dir_read_name (listing)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_dir_close (listing);
  g_ptr_array_sort (names, dir_names_compare);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static inline char *
write_temp_file (const char *dir, const char *name, const char *contents)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);

  g_file_set_contents (path, contents, -1, &error);
  assert_no_error (error);
  return path;
}

static inline char *
read_file_or_fail (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  assert_no_error (error);
  return contents;
}

/* ---- what plugins log ----------------------------------------------------- */

/* Plugins log through the host under the "evbus-plugin" domain, from any
 * thread; this keeps the warnings and above, in order. */
typedef struct {
  GMutex lock;
  GPtrArray *messages;
  guint handler_id;
} LogCapture;

static inline void
log_capture_handler (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  LogCapture *capture = data;

  g_mutex_lock (&capture->lock);
  g_ptr_array_add (capture->messages, g_strdup (message));
  g_mutex_unlock (&capture->lock);
}

/* The handler of a test that failed before log_capture_stop (cmocka jumps
 * out of it): removed by the next start, so that the next test does not
 * log into the failed one's dead frame. */
static guint log_capture_left_over;

static inline void
log_capture_start (LogCapture *capture)
{
  if (log_capture_left_over != 0)
    g_log_remove_handler ("evbus-plugin", log_capture_left_over);
  g_mutex_init (&capture->lock);
  capture->messages = g_ptr_array_new_with_free_func (g_free);
  capture->handler_id = g_log_set_handler ("evbus-plugin",
                                           G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL | G_LOG_FLAG_FATAL
                                             | G_LOG_FLAG_RECURSION,
                                           log_capture_handler, capture);
  log_capture_left_over = capture->handler_id;
}

/* The captured messages joined by "\n"; call after the plugin stopped. */
static inline char *
log_capture_text (LogCapture *capture)
{
  GString *text = g_string_new (NULL);

  g_mutex_lock (&capture->lock);
  for (guint i = 0; i < capture->messages->len; i++)
    g_string_append_printf (text, "%s%s", i > 0 ? "\n" : "", (char *) g_ptr_array_index (capture->messages, i));
  g_mutex_unlock (&capture->lock);
  return g_string_free (text, FALSE);
}

static inline void
log_capture_stop (LogCapture *capture)
{
  g_log_remove_handler ("evbus-plugin", capture->handler_id);
  log_capture_left_over = 0;
  g_ptr_array_unref (capture->messages);
  g_mutex_clear (&capture->lock);
}
