/* Tests for DESIGN.md "Plugin ABI (sdk/)" and the loading half of
 * "Lifecycle", with real shared objects from tests/plugins/, each built
 * from one .c file against sdk/ alone:
 *   echo.so          handlers run sync and async and emit back; options
 *                    with defaults; logging through the instance logger
 *   subscriber.so    run-time subscriptions owned by a GObject, made from
 *                    inside a handler (main thread or worker)
 *   no-descriptor.so a shared object without EVB_PLUGIN_DEFINE
 *   abi-future.so    a descriptor that says ABI 99.3
 *   abi-newer-minor.so  a descriptor that says this major, the next minor
 *   init-fails.so    init that subscribes and adds a timeout, then fails
 * and every load error word for word. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <glib/gstdio.h>

#include "evbus/harness.h"
#include "bus.h"
#include "plugin-abi.h"

#define WAIT_MS 10000

#include "test-util.h"

#define PLUGIN_PATH(name) EVB_TEST_PLUGIN_DIR "/" name ".so"

/* ---- helpers ----------------------------------------------------------- */

static void
check_bool (json_t *root, const char *path, gboolean expected)
{
  json_t *value = json_at (root, path);

  if (!json_is_boolean (value))
    fail_msg ("%s: expected a boolean", path);
  assert_int_equal (json_is_true (value), expected);
}

static void
load (EvbHarness *harness, const char *instance, const char *path, const char *config)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_add_plugin_file (harness, instance, path, config, &error))
    fail_msg ("load %s: %s", path, error->message);
}

/* Records what plugins log ("evbus-plugin" domain), from any thread. */
static GMutex log_lock;
static GPtrArray *plugin_log;
static guint log_handler_id;

static void
record_plugin_log (const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
  g_mutex_lock (&log_lock);
  g_ptr_array_add (plugin_log, g_strdup_printf ("%s %s",
                                                (level & G_LOG_LEVEL_MESSAGE) ? "message" : "other", message));
  g_mutex_unlock (&log_lock);
}

static void
check_log (const char *const *expected)
{
  guint n = g_strv_length ((char **) expected);

  g_mutex_lock (&log_lock);
  for (guint i = 0; i < MIN (n, plugin_log->len); i++)
    assert_string_equal (g_ptr_array_index (plugin_log, i), expected[i]);
  assert_int_equal (plugin_log->len, n);
  g_mutex_unlock (&log_lock);
}

static int
setup (void **state)
{
  plugin_log = g_ptr_array_new_with_free_func (g_free);
  log_handler_id = g_log_set_handler ("evbus-plugin", G_LOG_LEVEL_MASK, record_plugin_log, NULL);
  *state = evb_harness_new ();
  return 0;
}

static int
teardown (void **state)
{
  evb_harness_free (*state);
  g_log_remove_handler ("evbus-plugin", log_handler_id);
  g_ptr_array_unref (plugin_log);
  return 0;
}

/* ---- a real plugin ------------------------------------------------------- */

/* DESIGN "Plugin ABI": a plugin built against sdk/ alone loads from its
 * file, reads its options with defaults filled in, logs through its
 * logger, and its handlers run in both modes and emit back. */
static void
test_echo_sync_and_async (void **state)
{
  EvbHarness *harness = *state;
  const EvbEvent *request;
  const EvbEvent *reply;
  static const char *const log_while_running[] = {
    "message e: ready {\"factor\":2,\"label\":\"L\",\"prefix\":\"echo\"}",
    "message e: reply to ping.sync 3",
    "message e: reply to ping.async 4",
    NULL,
  };

  load (harness, "e", PLUGIN_PATH ("echo"), "{\"label\": \"L\"}");
  assert_non_null (evb_harness_get_plugin (harness, "e"));
  assert_string_equal (evb_harness_get_plugin (harness, "e")->name, "e");
  add_route (harness, "ping.sync", "e.reply", "{\"mode\": \"sync\"}");
  add_route (harness, "ping.async", "e.reply", "{\"mode\": \"async\"}");

  emit (harness, "ping.sync", "{\"n\": 3}");
  run_until_idle (harness);
  check_trace (harness, ">", "ping.sync echo.reply");
  emit (harness, "ping.async", "{\"n\": 4}");
  run_until_idle (harness);

  check_trace (harness, "evbus.status.>", "evbus.status.waiting evbus.status.executing evbus.status.completed");
  assert_int_equal (evb_harness_count (harness, "echo.reply"), 2);

  request = evb_harness_find (harness, "ping.sync", 0);
  reply = evb_harness_find (harness, "echo.reply", 0);
  assert_string_equal (reply->source, "e");
  check_int (reply->data, "n", 6);
  check_string (reply->data, "label", "L");
  check_bool (reply->data, "on_main", TRUE);
  check_int (reply->data, "origin", (json_int_t) request->id);

  request = evb_harness_find (harness, "ping.async", 0);
  reply = evb_harness_find (harness, "echo.reply", 1);
  assert_string_equal (reply->source, "e");
  check_int (reply->data, "n", 8);
  check_bool (reply->data, "on_main", FALSE);
  check_int (reply->data, "origin", (json_int_t) request->id);
  check_string (evb_harness_find (harness, "evbus.status.completed", 0)->data, "plugin", "e");
  check_log (log_while_running);

  /* Its shutdown runs, and logs, when the host stops. */
  evb_harness_shutdown (harness, -1);
  {
    static const char *const log_after_shutdown[] = {
      "message e: ready {\"factor\":2,\"label\":\"L\",\"prefix\":\"echo\"}",
      "message e: reply to ping.sync 3",
      "message e: reply to ping.async 4",
      "message e: bye after 2 replies",
      NULL,
    };

    check_log (log_after_shutdown);
  }
}

/* Given options replace the defaults; two instances of one file keep
 * separate options and state. */
static void
test_echo_options_and_two_instances (void **state)
{
  EvbHarness *harness = *state;
  static const char *const expected_log[] = {
    "message one: ready {\"factor\":5,\"label\":\"first\",\"prefix\":\"pong\"}",
    "message two: ready {\"factor\":2,\"label\":\"second\",\"prefix\":\"echo\"}",
    "message one: reply to ping 7",
    "message two: reply to ping 7",
    NULL,
  };

  load (harness, "one", PLUGIN_PATH ("echo"), "{\"label\": \"first\", \"prefix\": \"pong\", \"factor\": 5}");
  load (harness, "two", PLUGIN_PATH ("echo"), "{\"label\": \"second\"}");
  add_route (harness, "ping", "one.reply", "{\"priority\": 1}");
  add_route (harness, "ping", "two.reply", NULL);
  emit (harness, "ping", "{\"n\": 7}");
  run_until_idle (harness);

  check_trace (harness, ">", "ping pong.reply echo.reply");
  check_int (evb_harness_find (harness, "pong.reply", 0)->data, "n", 35);
  check_string (evb_harness_find (harness, "pong.reply", 0)->data, "label", "first");
  assert_string_equal (evb_harness_find (harness, "pong.reply", 0)->source, "one");
  check_int (evb_harness_find (harness, "echo.reply", 0)->data, "n", 14);
  assert_string_equal (evb_harness_find (harness, "echo.reply", 0)->source, "two");
  check_log (expected_log);
}

/* A plugin's failure names the plugin: evb_call_fail with no domain uses
 * the instance name. */
static void
test_echo_failure_names_instance (void **state)
{
  EvbHarness *harness = *state;
  const EvbEvent *failure;

  load (harness, "e", PLUGIN_PATH ("echo"), "{\"label\": \"L\"}");
  add_route (harness, "ping", "e.fail", NULL);
  add_route (harness, "ping.bad", "e.reply", "{\"mode\": \"async\"}");
  emit (harness, "ping", NULL);
  emit (harness, "ping.bad", "{\"n\": \"three\"}");
  run_until_idle (harness);

  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 2);
  failure = evb_harness_find (harness, "evbus.failure", 0);
  check_string (failure->data, "plugin", "e");
  check_string (failure->data, "handler", "e.fail");
  check_string (failure->data, "error.domain", "e");
  check_int (failure->data, "error.code", 3);
  check_string (failure->data, "error.message", "echo refuses ping");
  check_string (failure->data, "thread", "main");
  failure = evb_harness_find (harness, "evbus.failure", 1);
  check_string (failure->data, "handler", "e.reply");
  check_int (failure->data, "error.code", 1);
  check_string (failure->data, "error.message", "ping.bad: data.n must be an integer");
  check_string (failure->data, "thread", "worker");
}

/* A file name without a folder is a file in the current folder, as
 * `cc -o greeter.so` leaves it, not a name for dlopen's library search. */
static void
test_file_in_current_folder (void **state)
{
  g_autofree char *cwd = g_get_current_dir ();

  assert_int_equal (g_chdir (EVB_TEST_PLUGIN_DIR), 0);
  load (*state, "e", "echo.so", "{\"label\": \"L\"}");
  assert_int_equal (g_chdir (cwd), 0);
  assert_non_null (evb_harness_get_plugin (*state, "e"));
}

/* ---- load errors, word for word ----------------------------------------- */

static void
check_load_error (EvbHarness *harness, const char *instance, const char *path, const char *config, gint code,
                  const char *expected_message)
{
  g_autoptr (GError) error = NULL;

  assert_false (evb_harness_add_plugin_file (harness, instance, path, config, &error));
  assert_non_null (error);
  assert_string_equal (error->message, expected_message);
  if (!g_error_matches (error, EVB_PLUGIN_ERROR, code))
    fail_msg ("\"%s\": error code %d, expected %d", error->message, error->code, code);
}

static void
test_error_file_missing (void **state)
{
  check_load_error (*state, "e", PLUGIN_PATH ("missing"), NULL, EVB_PLUGIN_ERROR_NOT_FOUND,
                    "plugin file \"" PLUGIN_PATH ("missing") "\" not found");
  assert_null (evb_harness_get_plugin (*state, "e"));
}

static void
test_error_not_a_shared_object (void **state)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("evbus-loader-XXXXXX", &error);
  g_autofree char *path = NULL;
  g_autofree char *expected = NULL;

  assert_non_null (dir);
  path = g_build_filename (dir, "text.so", NULL);
  assert_true (g_file_set_contents (path, "This is a text file with a .so name; it has no ELF header at all.\n", -1,
                                    &error));
  expected = g_strdup_printf ("\"%s\" is not a loadable shared object: %s: invalid ELF header", path, path);
  check_load_error (*state, "e", path, NULL, EVB_PLUGIN_ERROR_NOT_LOADABLE, expected);
  assert_null (evb_harness_get_plugin (*state, "e"));
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_error_no_descriptor (void **state)
{
  check_load_error (*state, "e", PLUGIN_PATH ("no-descriptor"), NULL, EVB_PLUGIN_ERROR_NO_DESCRIPTOR,
                    "\"" PLUGIN_PATH ("no-descriptor") "\" exports no evb_plugin_descriptor: is it an evbus "
                    "plugin? (define one with EVB_PLUGIN_DEFINE)");
}

/* What a host says it speaks in ABI messages: "ABI 1.0". */
#define HOST_ABI "ABI " G_STRINGIFY (EVB_ABI_MAJOR) "." G_STRINGIFY (EVB_ABI_MINOR)

static void
test_error_abi_mismatch (void **state)
{
  check_load_error (*state, "e", PLUGIN_PATH ("abi-future"), NULL, EVB_PLUGIN_ERROR_ABI_MISMATCH,
                    "\"" PLUGIN_PATH ("abi-future") "\" was built for evbus ABI 99.3, this host speaks " HOST_ABI
                    ": rebuild the plugin against this evbus");
}

/* A newer minor of this major is refused in the same words, plus the
 * other way out (a newer host); nothing is left loaded. */
static void
test_error_abi_newer_minor (void **state)
{
  g_autofree char *expected = g_strdup_printf ("\"%s\" was built for evbus ABI %d.%d, this host speaks ABI %d.%d: "
                                               "upgrade evbus or rebuild the plugin against this evbus",
                                               PLUGIN_PATH ("abi-newer-minor"), EVB_ABI_MAJOR, EVB_ABI_MINOR + 1,
                                               EVB_ABI_MAJOR, EVB_ABI_MINOR);

  check_load_error (*state, "e", PLUGIN_PATH ("abi-newer-minor"), NULL, EVB_PLUGIN_ERROR_ABI_MISMATCH, expected);
  assert_null (evb_harness_get_plugin (*state, "e"));
}

static EvbResult
linked_handle (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static const EvbHandlerInfo linked_handlers[] = {
  EVB_HANDLER ("handle", linked_handle, "Does nothing."),
  EVB_HANDLERS_END,
};

#define LINKED_DESCRIPTOR(minor_)                                                                   \
  { .abi_major = EVB_ABI_MAJOR, .abi_minor = (minor_), .struct_size = sizeof (EvbPluginDescriptor), \
    .name = "linked", .version = "1.0.0", .description = "Linked into the test.",                   \
    .handlers = linked_handlers }

/* The bus keeps pointing into a descriptor while the instance lives. */
static const EvbPluginDescriptor linked_minor_0 = LINKED_DESCRIPTOR (0);
static const EvbPluginDescriptor linked_minor_next = LINKED_DESCRIPTOR (EVB_ABI_MINOR + 1);

/* The minor rule holds for descriptors linked into a program too: minor
 * 0 of this major (older or the same) loads, the next minor does not. */
static void
test_abi_minor_linked_in (void **state)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;

  if (!evb_harness_add_plugin (*state, "old", &linked_minor_0, NULL, &error))
    fail_msg ("minor 0: %s", error->message);
  assert_non_null (evb_harness_get_plugin (*state, "old"));

  expected = g_strdup_printf ("linked-in descriptor was built for evbus ABI %d.%d, this host speaks ABI %d.%d: "
                              "upgrade evbus or rebuild the plugin against this evbus",
                              EVB_ABI_MAJOR, EVB_ABI_MINOR + 1, EVB_ABI_MAJOR, EVB_ABI_MINOR);
  assert_false (evb_harness_add_plugin (*state, "new", &linked_minor_next, NULL, &error));
  assert_non_null (error);
  assert_string_equal (error->message, expected);
  assert_true (g_error_matches (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_ABI_MISMATCH));
  assert_null (evb_harness_get_plugin (*state, "new"));
}

static void
test_error_unknown_option (void **state)
{
  check_load_error (*state, "e", PLUGIN_PATH ("echo"), "{\"label\": \"L\", \"colour\": \"red\"}",
                    EVB_PLUGIN_ERROR_UNKNOWN_OPTION,
                    "plugin \"e\" (" PLUGIN_PATH ("echo") "): option \"colour\": unknown option (plugin \"echo\" "
                    "takes: label, prefix, factor)");
  assert_null (evb_harness_get_plugin (*state, "e"));
  check_log ((const char *const[]) { NULL });
}

static void
test_error_option_type (void **state)
{
  check_load_error (*state, "e", PLUGIN_PATH ("echo"), "{\"label\": \"L\", \"factor\": \"5\"}",
                    EVB_PLUGIN_ERROR_OPTION_TYPE,
                    "plugin \"e\" (" PLUGIN_PATH ("echo") "): option \"factor\": expected an integer, got \"5\"");
  check_load_error (*state, "e", PLUGIN_PATH ("echo"), "{\"label\": \"L\", \"factor\": 2.5}",
                    EVB_PLUGIN_ERROR_OPTION_TYPE,
                    "plugin \"e\" (" PLUGIN_PATH ("echo") "): option \"factor\": expected an integer, got 2.5");
}

static void
test_error_required_option_missing (void **state)
{
  check_load_error (*state, "e", PLUGIN_PATH ("echo"), NULL, EVB_PLUGIN_ERROR_MISSING_OPTION,
                    "plugin \"e\" (" PLUGIN_PATH ("echo") "): option \"label\": required option missing "
                    "(string: copied into every reply)");
}

/* Every problem is reported at once, one per line; the code is the first's. */
static void
test_error_several_options (void **state)
{
  check_load_error (*state, "e", PLUGIN_PATH ("echo"), "{\"prefix\": 1, \"colour\": \"red\"}",
                    EVB_PLUGIN_ERROR_OPTION_TYPE,
                    "plugin \"e\" (" PLUGIN_PATH ("echo") "): option \"prefix\": expected a string, got 1\n"
                    "plugin \"e\" (" PLUGIN_PATH ("echo") "): option \"colour\": unknown option (plugin \"echo\" "
                    "takes: label, prefix, factor)\n"
                    "plugin \"e\" (" PLUGIN_PATH ("echo") "): option \"label\": required option missing "
                    "(string: copied into every reply)");
}

static void
test_error_duplicate_instance (void **state)
{
  load (*state, "e", PLUGIN_PATH ("echo"), "{\"label\": \"L\"}");
  check_load_error (*state, "e", PLUGIN_PATH ("subscriber"), NULL, EVB_PLUGIN_ERROR_DUPLICATE_NAME,
                    "duplicate instance name \"e\"");
  /* The first one is untouched. */
  add_route (*state, "ping", "e.reply", NULL);
  emit (*state, "ping", "{\"n\": 1}");
  run_until_idle (*state);
  check_trace (*state, ">", "ping echo.reply");
}

static void
test_error_bad_instance_name (void **state)
{
  check_load_error (*state, "Echo.1", PLUGIN_PATH ("echo"), "{\"label\": \"L\"}", EVB_PLUGIN_ERROR_BAD_NAME,
                    "instance name \"Echo.1\" must be [a-z0-9_-]+");
  check_load_error (*state, "", PLUGIN_PATH ("echo"), "{\"label\": \"L\"}", EVB_PLUGIN_ERROR_BAD_NAME,
                    "instance name \"\" must be [a-z0-9_-]+");
}

/* A route to a handler the plugin does not have: the message lists those
 * it has, under the key at fault as `evbus check` words it. */
static void
test_error_handler_not_found (void **state)
{
  g_autoptr (GError) error = NULL;

  load (*state, "e", PLUGIN_PATH ("echo"), "{\"label\": \"L\"}");
  assert_int_equal (evb_harness_add_route (*state, "ping", "e.nope", NULL, &error), 0);
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_NO_HANDLER));
  assert_string_equal (error->message, "handler: plugin \"e\" has no handler \"nope\" (handlers: reply, fail)");
  assert_int_equal (n_routes (*state), 0);
}

/* DESIGN "Lifecycle": an init that fails halfway leaves nothing behind, and
 * the error names the plugin, the file and the reason. */
static void
test_error_init_fails (void **state)
{
  EvbHarness *harness = *state;
  g_autoptr (GError) error = NULL;
  gint waited = 0;
  GSource *later;

  check_load_error (harness, "x", PLUGIN_PATH ("init-fails"), NULL, EVB_PLUGIN_ERROR_INIT_FAILED,
                    "plugin \"x\" (" PLUGIN_PATH ("init-fails") "): init failed: database \"orders\" unreachable");
  assert_null (evb_harness_get_plugin (harness, "x"));
  assert_int_equal (n_routes (harness), 0);

  /* Well past its 1 ms timeout, with an event its route would have taken:
   * nothing of it runs. */
  emit (harness, "work.item", NULL);
  later = g_timeout_source_new (50);
  g_source_set_callback (later, set_flag, &waited, NULL);
  g_source_attach (later, g_main_context_get_thread_default ());
  g_source_unref (later);
  if (!evb_harness_run_until (harness, flag_set, &waited, WAIT_MS, &error))
    fail_msg ("%s", error->message);
  run_until_idle (harness);
  check_trace (harness, ">", "work.item");
}

/* ---- run-time subscription with an owner --------------------------------- */

/* The route id the subscriber reported for @session (0: none), checking
 * that the plugin itself emitted it. */
static guint64
opened_route (EvbHarness *harness, const char *session)
{
  const EvbEvent *opened;

  for (guint i = 0; (opened = evb_harness_find (harness, "session.opened", i)) != NULL; i++)
    if (g_strcmp0 (json_string_value (json_object_get (opened->data, "session")), session) == 0)
      {
        assert_string_equal (opened->source, "sub");
        return (guint64) json_integer_value (json_object_get (opened->data, "route"));
      }
  return 0;
}

/* DESIGN "Words: owner" + evb_plugin_subscribe: a handler subscribes a
 * route owned by a GObject; the route works while the owner lives and is
 * gone once the plugin drops it.  @open_mode is the open handler's. */
static void
test_runtime_subscription (void **state, const char *open_mode)
{
  EvbHarness *harness = *state;
  g_autofree char *open_options = g_strdup_printf ("{\"mode\": \"%s\"}", open_mode);
  g_autoptr (json_t) stats = NULL;
  guint64 s1_route;
  guint64 s2_route;

  load (harness, "sub", PLUGIN_PATH ("subscriber"), NULL);
  add_route (harness, "session.open", "sub.open", open_options);
  add_route (harness, "session.close", "sub.close", NULL);
  assert_int_equal (n_routes (harness), 2);

  emit (harness, "session.open", "{\"session\": \"s1\", \"mode\": \"sync\"}");
  emit (harness, "session.open", "{\"session\": \"s2\", \"mode\": \"async\"}");
  run_until_idle (harness);
  assert_int_equal (evb_harness_count (harness, "session.opened"), 2);
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
  /* Async opens may finish in either order. */
  s1_route = opened_route (harness, "s1");
  s2_route = opened_route (harness, "s2");
  assert_true (s1_route > 0 && s2_route > 0 && s1_route != s2_route);

  stats = evb_harness_stats (harness);
  assert_int_equal (json_array_size (json_object_get (stats, "routes")), 4);
  check_string (route_stats (stats, s1_route), "handler", "sub.msg");
  check_string (route_stats (stats, s1_route), "plugin", "sub");
  check_string (route_stats (stats, s1_route), "pattern", "session.msg");
  check_string (route_stats (stats, s1_route), "mode", "sync");
  check_string (route_stats (stats, s2_route), "mode", "async");

  /* Each session's route takes its own messages only. */
  emit (harness, "session.msg", "{\"session\": \"s1\", \"text\": \"hi\"}");
  emit (harness, "session.msg", "{\"session\": \"s2\", \"text\": \"yo\"}");
  emit (harness, "session.msg", "{\"session\": \"s3\", \"text\": \"nobody\"}");
  run_until_idle (harness);
  assert_int_equal (evb_harness_count (harness, "session.echo"), 2);
  check_string (evb_harness_find (harness, "session.echo", 0)->data, "text", "hi");
  check_string (evb_harness_find (harness, "session.echo", 1)->data, "text", "yo");

  /* Closing s1 drops its owner: the route goes and takes nothing more. */
  emit (harness, "session.close", "{\"session\": \"s1\"}");
  run_until_idle (harness);
  emit (harness, "session.msg", "{\"session\": \"s1\", \"text\": \"late\"}");
  emit (harness, "session.msg", "{\"session\": \"s2\", \"text\": \"still\"}");
  run_until_idle (harness);
  assert_int_equal (evb_harness_count (harness, "session.echo"), 3);
  check_string (evb_harness_find (harness, "session.echo", 2)->data, "text", "still");
  g_clear_pointer (&stats, json_decref);
  stats = evb_harness_stats (harness);
  assert_null (route_stats (stats, s1_route));
  assert_non_null (route_stats (stats, s2_route));
  /* It saw every message since it came: hi, yo, nobody, late, still. */
  check_int (route_stats (stats, s2_route), "matched", 5);
  check_int (route_stats (stats, s2_route), "filtered", 3);
  check_int (route_stats (stats, s2_route), "completed", 2);

  emit (harness, "session.close", "{\"session\": \"s2\"}");
  run_until_idle (harness);
  emit (harness, "session.msg", "{\"session\": \"s2\", \"text\": \"gone\"}");
  run_until_idle (harness);
  assert_int_equal (evb_harness_count (harness, "session.echo"), 3);
  assert_int_equal (n_routes (harness), 2);
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
}

static void
test_runtime_subscription_from_main (void **state)
{
  test_runtime_subscription (state, "sync");
}

static void
test_runtime_subscription_from_worker (void **state)
{
  test_runtime_subscription (state, "async");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_echo_sync_and_async, setup, teardown),
    cmocka_unit_test_setup_teardown (test_echo_options_and_two_instances, setup, teardown),
    cmocka_unit_test_setup_teardown (test_echo_failure_names_instance, setup, teardown),
    cmocka_unit_test_setup_teardown (test_file_in_current_folder, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_file_missing, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_not_a_shared_object, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_no_descriptor, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_abi_mismatch, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_abi_newer_minor, setup, teardown),
    cmocka_unit_test_setup_teardown (test_abi_minor_linked_in, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_unknown_option, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_option_type, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_required_option_missing, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_several_options, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_duplicate_instance, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_bad_instance_name, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_handler_not_found, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_init_fails, setup, teardown),
    cmocka_unit_test_setup_teardown (test_runtime_subscription_from_main, setup, teardown),
    cmocka_unit_test_setup_teardown (test_runtime_subscription_from_worker, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
