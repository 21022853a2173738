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
 *   limits.so        ABI 1.1: options with limits and paths, handlers with
 *                    a mode, route params, a stop function
 *   abi-1.0-reserved.so  built against the 1.0 header, junk in every
 *                    reserved field 1.1 gave a meaning to
 * and every load error word for word; and, with descriptors linked in,
 * every 1.1 descriptor fault (limits that cannot hold, a default outside
 * its own limits, a table without its end marker, an unknown mode). */

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
#include "plugin-module.h"

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

/* ==== ABI 1.1: what writing the stock plugins showed the SDK lacked ===== */

/* @value equals the JSON text @expected. */
static void
check_json (json_t *value, const char *expected)
{
  g_autoptr (json_t) wanted = json_loads (expected, JSON_DECODE_ANY, NULL);
  g_autofree char *got = value != NULL ? json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

  assert_non_null (wanted);
  if (value == NULL || !json_equal (value, wanted))
    fail_msg ("got %s, expected %s", got != NULL ? got : "(nothing)", expected);
}

#define LIMITS PLUGIN_PATH ("limits")

/* The options the limits instance @instance resolved, as its "options"
 * handler reports them (limits.options). */
static json_t *
limits_options_of (EvbHarness *harness, const char *instance)
{
  g_autofree char *handler = g_strdup_printf ("%s.options", instance);
  g_autofree char *type = g_strdup_printf ("ask.%s", instance);
  guint before = evb_harness_count (harness, "limits.options");
  const EvbEvent *reply;

  add_route (harness, type, handler, NULL);
  emit (harness, type, NULL);
  run_until_idle (harness);
  reply = evb_harness_find (harness, "limits.options", before);
  assert_non_null (reply);
  return json_object_get (reply->data, "options");
}

/* A linked-in descriptor: @handlers, @options, stop. */
#define LINKED_1_1(handlers_, options_, stop_)                                                                 \
  { .abi_major = EVB_ABI_MAJOR, .abi_minor = EVB_ABI_MINOR, .struct_size = sizeof (EvbPluginDescriptor),      \
    .name = "linked", .version = "1.1.0", .description = "Linked into the test.", .handlers = (handlers_),     \
    .options = (options_), .stop = (stop_), .n_handlers = EVB__TABLE_LENGTH (handlers_, EvbHandlerInfo),      \
    .n_options = EVB__TABLE_LENGTH (options_, EvbOptionInfo) }

static void
check_linked_refused (EvbHarness *harness, const EvbPluginDescriptor *descriptor, const char *config, gint code,
                      const char *expected_message)
{
  g_autoptr (GError) error = NULL;

  assert_false (evb_harness_add_plugin (harness, "x", descriptor, config, &error));
  assert_non_null (error);
  assert_string_equal (error->message, expected_message);
  if (!g_error_matches (error, EVB_PLUGIN_ERROR, code))
    fail_msg ("\"%s\": error code %d, expected %d", error->message, error->code, code);
  assert_null (evb_harness_get_plugin (harness, "x"));
}

/* ---- 1. options with limits ---------------------------------------------- */

/* Values on the bounds load; a number option takes an integer; defaults
 * fill in what is not given and are within their own limits. */
static void
test_limits_on_the_bounds (void **state)
{
  json_t *options;

  load (*state, "low", LIMITS, "{\"latency_ms\": 0, \"ratio\": 0.0}");
  load (*state, "high", LIMITS, "{\"latency_ms\": 60000, \"format\": \"json\", \"ratio\": 1}");
  options = limits_options_of (*state, "low");
  check_int (options, "latency_ms", 0);
  check_string (options, "format", "line");
  assert_true (json_number_value (json_object_get (options, "ratio")) == 0.0);
  options = limits_options_of (*state, "high");
  check_int (options, "latency_ms", 60000);
  check_string (options, "format", "json");
  assert_true (json_number_value (json_object_get (options, "ratio")) == 1.0);
}

/* Each value outside the limits is refused by the host, before init, in
 * the words of `evbus check`; the type is checked first. */
static void
test_limits_refusals (void **state)
{
  static const struct {
    const char *config;
    gint code;
    const char *message;
  } cases[] = {
    { "{\"latency_ms\": 90000}", EVB_PLUGIN_ERROR_OPTION_VALUE,
      "option \"latency_ms\": expected at most 60000, got 90000" },
    { "{\"latency_ms\": -1}", EVB_PLUGIN_ERROR_OPTION_VALUE, "option \"latency_ms\": expected at least 0, got -1" },
    { "{\"latency_ms\": 9223372036854775807}", EVB_PLUGIN_ERROR_OPTION_VALUE,
      "option \"latency_ms\": expected at most 60000, got 9223372036854775807" },
    { "{\"latency_ms\": \"90\"}", EVB_PLUGIN_ERROR_OPTION_TYPE,
      "option \"latency_ms\": expected an integer, got \"90\"" },
    { "{\"format\": \"xml\"}", EVB_PLUGIN_ERROR_OPTION_VALUE,
      "option \"format\": expected one of \"line\", \"json\", got \"xml\"" },
    { "{\"format\": \"JSON\"}", EVB_PLUGIN_ERROR_OPTION_VALUE,
      "option \"format\": expected one of \"line\", \"json\", got \"JSON\"" },
    { "{\"format\": \"\"}", EVB_PLUGIN_ERROR_OPTION_VALUE,
      "option \"format\": expected one of \"line\", \"json\", got \"\"" },
    { "{\"format\": 1}", EVB_PLUGIN_ERROR_OPTION_TYPE, "option \"format\": expected a string, got 1" },
    { "{\"ratio\": 1.5}", EVB_PLUGIN_ERROR_OPTION_VALUE, "option \"ratio\": expected at most 1.0, got 1.5" },
    { "{\"ratio\": -0.25}", EVB_PLUGIN_ERROR_OPTION_VALUE, "option \"ratio\": expected at least 0.0, got -0.25" },
    { "{\"ratio\": 2}", EVB_PLUGIN_ERROR_OPTION_VALUE, "option \"ratio\": expected at most 1.0, got 2" },
    { "{\"ratio\": true}", EVB_PLUGIN_ERROR_OPTION_TYPE, "option \"ratio\": expected a number, got true" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *expected = g_strdup_printf ("plugin \"l\" (%s): %s", LIMITS, cases[i].message);

      check_load_error (*state, "l", LIMITS, cases[i].config, cases[i].code, expected);
    }
  /* Nothing of it ran: no init was logged. */
  check_log ((const char *const[]) { NULL });
}

/* Every problem at once, one line each; the code is the first's. */
static void
test_limits_several_problems (void **state)
{
  check_load_error (*state, "l", LIMITS, "{\"latency_ms\": 90000, \"format\": \"xml\", \"ratio\": \"half\"}",
                    EVB_PLUGIN_ERROR_OPTION_VALUE,
                    "plugin \"l\" (" LIMITS "): option \"latency_ms\": expected at most 60000, got 90000\n"
                    "plugin \"l\" (" LIMITS "): option \"format\": expected one of \"line\", \"json\", got \"xml\"\n"
                    "plugin \"l\" (" LIMITS "): option \"ratio\": expected a number, got \"half\"");
}

static EvbResult
noop_handler (EvbCall *call, const EvbEvent *event)
{
  return EVB_CONTINUE;
}

static const EvbHandlerInfo one_handler[] = {
  EVB_HANDLER ("handle", noop_handler, "Does nothing."),
  EVB_HANDLERS_END,
};

static const EvbOptionLimits tiny_limits = { .struct_size = 8, .max_int = 5 };

static const EvbOptionInfo default_above_max[] = {
  EVB_OPTION_INT_RANGE ("latency_ms", "90000", 0, 60000, "Too slow by default."), EVB_OPTIONS_END,
};
static const EvbOptionInfo default_below_min[] = {
  EVB_OPTION_DOUBLE_RANGE ("ratio", "-0.5", 0.0, 1.0, "Negative by default."), EVB_OPTIONS_END,
};
static const EvbOptionInfo default_not_a_choice[] = {
  EVB_OPTION_CHOICE ("format", "\"xml\"", EVB_CHOICES ("line", "json"), "Not one of them."), EVB_OPTIONS_END,
};
static const EvbOptionInfo empty_int_range[] = {
  EVB_OPTION_INT_RANGE ("n", "7", 10, 5, "Nothing fits."), EVB_OPTIONS_END,
};
static const EvbOptionInfo empty_number_range[] = {
  EVB_OPTION_DOUBLE_RANGE ("x", NULL, 1.0, 0.5, "Nothing fits."), EVB_OPTIONS_END,
};
static const EvbOptionInfo no_choices[] = {
  { .name = "format", .type = EVB_OPTION_STRING, .default_json = "\"line\"", .doc = "Choices of none.",
    .limits = &(const EvbOptionLimits) { .struct_size = sizeof (EvbOptionLimits), .choices = EVB_CHOICES (NULL) } },
  EVB_OPTIONS_END,
};
static const EvbOptionInfo limits_on_a_bool[] = {
  { .name = "on", .type = EVB_OPTION_BOOL, .default_json = "true", .doc = "A switch with a range.",
    .limits = &(const EvbOptionLimits) { .struct_size = sizeof (EvbOptionLimits), .max_int = 1 } },
  EVB_OPTIONS_END,
};
static const EvbOptionInfo limits_too_small[] = {
  { .name = "n", .type = EVB_OPTION_INT, .default_json = "1", .doc = "Limits by hand.", .limits = &tiny_limits },
  EVB_OPTIONS_END,
};

static const EvbPluginDescriptor bad_default_above_max = LINKED_1_1 (one_handler, default_above_max, NULL);
static const EvbPluginDescriptor bad_default_below_min = LINKED_1_1 (one_handler, default_below_min, NULL);
static const EvbPluginDescriptor bad_default_not_a_choice = LINKED_1_1 (one_handler, default_not_a_choice, NULL);
static const EvbPluginDescriptor bad_empty_int_range = LINKED_1_1 (one_handler, empty_int_range, NULL);
static const EvbPluginDescriptor bad_empty_number_range = LINKED_1_1 (one_handler, empty_number_range, NULL);
static const EvbPluginDescriptor bad_no_choices = LINKED_1_1 (one_handler, no_choices, NULL);
static const EvbPluginDescriptor bad_limits_on_a_bool = LINKED_1_1 (one_handler, limits_on_a_bool, NULL);
static const EvbPluginDescriptor bad_limits_too_small = LINKED_1_1 (one_handler, limits_too_small, NULL);

/* The descriptor check refuses limits that make no sense, and a default
 * that breaks its own limits, whatever the instance's config says. */
static void
test_limits_descriptor_faults (void **state)
{
  g_autofree char *too_small = g_strdup_printf ("linked-in descriptor: option \"n\": limits are 8 bytes, ABI %d.%d "
                                                "needs %u: write them with EVB_OPTION_INT_RANGE, "
                                                "EVB_OPTION_DOUBLE_RANGE or EVB_OPTION_CHOICE", EVB_ABI_MAJOR,
                                                EVB_ABI_MINOR, (guint) sizeof (EvbOptionLimits));

  check_linked_refused (*state, &bad_default_above_max, "{\"latency_ms\": 5}", EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: option \"latency_ms\": default 90000 is outside its own limits: "
                        "expected at most 60000, got 90000");
  check_linked_refused (*state, &bad_default_below_min, NULL, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: option \"ratio\": default -0.5 is outside its own limits: "
                        "expected at least 0.0, got -0.5");
  check_linked_refused (*state, &bad_default_not_a_choice, NULL, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: option \"format\": default \"xml\" is outside its own limits: "
                        "expected one of \"line\", \"json\", got \"xml\"");
  check_linked_refused (*state, &bad_empty_int_range, NULL, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: option \"n\": its range is empty (min 10 is above max 5)");
  check_linked_refused (*state, &bad_empty_number_range, "{\"x\": 1}", EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: option \"x\": its range is empty (min 1.0 is not at most max 0.5)");
  check_linked_refused (*state, &bad_no_choices, NULL, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: option \"format\": its limits need at least one choice");
  check_linked_refused (*state, &bad_limits_on_a_bool, NULL, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: option \"on\": a boolean option takes no limits (only integer, "
                        "number and string options do)");
  check_linked_refused (*state, &bad_limits_too_small, NULL, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR, too_small);
}

/* What `evbus inspect` prints of each option's limits: as text, and as
 * JSON members of the option. */
static const EvbOptionInfo inspected[] = {
  EVB_OPTION_INT_RANGE ("both", "0", 0, 60000, ""),
  EVB_OPTION_INT_RANGE ("at_least", "1", 1, G_MAXINT64, ""),
  EVB_OPTION_INT_RANGE ("at_most", "1", G_MININT64, 5, ""),
  EVB_OPTION_INT_RANGE ("any_int", "1", G_MININT64, G_MAXINT64, ""),
  EVB_OPTION_DOUBLE_RANGE ("share", "0.5", 0.0, 1.0, ""),
  EVB_OPTION_DOUBLE_RANGE ("positive", "0.5", 0.25, G_MAXDOUBLE, ""),
  EVB_OPTION_CHOICE ("format", "\"line\"", EVB_CHOICES ("line", "json"), ""),
  EVB_OPTION_PATH ("file", "\"-\"", ""),
  EVB_OPTION ("plain", EVB_OPTION_INT, "1", ""),
  EVB_OPTIONS_END,
};
static const EvbPluginDescriptor inspected_plugin = LINKED_1_1 (one_handler, inspected, NULL);

static void
test_limits_described (void **state)
{
  static const char *const texts[] = {
    "from 0 to 60000", "at least 1", "at most 5", NULL, "from 0.0 to 1.0", "at least 0.25",
    "one of \"line\", \"json\"", NULL, NULL,
  };
  static const char *const members[] = {
    "{\"min\": 0, \"max\": 60000}", "{\"min\": 1}", "{\"max\": 5}", NULL, "{\"min\": 0.0, \"max\": 1.0}",
    "{\"min\": 0.25}", "{\"choices\": [\"line\", \"json\"]}", NULL, NULL,
  };
  g_autoptr (GError) error = NULL;

  assert_true (evb_plugin_descriptor_check (&inspected_plugin, "inspected", &error));
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autofree char *text = evb_option_describe_limits (&inspected_plugin, &inspected[i]);
      g_autoptr (json_t) json = evb_option_limits_to_json (&inspected_plugin, &inspected[i]);

      if (g_strcmp0 (text, texts[i]) != 0)
        fail_msg ("%s: \"%s\", expected \"%s\"", inspected[i].name, text, texts[i]);
      if (members[i] == NULL)
        assert_null (json);
      else
        check_json (json, members[i]);
    }
  assert_string_equal (evb_option_type_to_string (EVB_OPTION_PATH), "path");
}

/* A descriptor that says ABI 1.0 has no limits, whatever its reserved
 * field holds: the host does not read it (see also abi-1.0-reserved.so). */
static const EvbPluginDescriptor old_with_limits = {
  .abi_major = EVB_ABI_MAJOR, .abi_minor = 0, .struct_size = sizeof (EvbPluginDescriptor), .name = "old",
  .handlers = one_handler, .options = default_above_max, .n_handlers = 1,
};

static void
test_limits_not_read_from_1_0 (void **state)
{
  g_autoptr (GError) error = NULL;

  if (!evb_harness_add_plugin (*state, "old", &old_with_limits, "{\"latency_ms\": 123456}", &error))
    fail_msg ("%s", error->message);
  check_int (evb_plugin_get_options (evb_harness_get_plugin (*state, "old")), "latency_ms", 123456);
}

/* ---- 2. path options ----------------------------------------------------- */

/* In the harness (and any host without a config file) a relative path is
 * relative to the current folder; "-", "" and absolute paths stay. */
static void
test_path_relative_to_current_folder (void **state)
{
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  json_t *options;

  load (*state, "rel", LIMITS, "{\"input\": \"data/in.jsonl\"}");
  load (*state, "dash", LIMITS, "{\"input\": \"-\", \"output\": \"\"}");
  load (*state, "abs", LIMITS, "{\"input\": \"/srv/in.jsonl\", \"output\": \"../up/out.txt\"}");

  input = g_build_filename (cwd, "data/in.jsonl", NULL);
  output = g_build_filename (cwd, "out.txt", NULL);
  options = limits_options_of (*state, "rel");
  check_string (options, "input", input);
  check_string (options, "output", output); /* the default, "out.txt" */
  g_free (output);
  options = limits_options_of (*state, "dash");
  check_string (options, "input", "-");
  check_string (options, "output", "");
  options = limits_options_of (*state, "abs");
  check_string (options, "input", "/srv/in.jsonl");
  output = g_build_filename (cwd, "../up/out.txt", NULL); /* joined, not canonicalised */
  check_string (options, "output", output);

  check_load_error (*state, "bad", LIMITS, "{\"input\": 5}", EVB_PLUGIN_ERROR_OPTION_TYPE,
                    "plugin \"bad\" (" LIMITS "): option \"input\": expected a path (a string), got 5");
}

/* The pipeline's half: given values and relative defaults joined to the
 * config's folder; what resolve must report is left as it is. */
static void
test_path_resolved_against_a_folder (void **state)
{
  g_autoptr (GError) error = NULL;
  const EvbPluginDescriptor *descriptor;
  gpointer module = NULL;
  g_autoptr (json_t) given = json_loads ("{\"input\": \"in.jsonl\", \"latency_ms\": 5}", 0, NULL);
  g_autoptr (json_t) kept = json_loads ("{\"input\": \"-\", \"output\": \"/abs/out\"}", 0, NULL);
  g_autoptr (json_t) wrong = json_loads ("{\"input\": 5}", 0, NULL);
  g_autoptr (json_t) not_object = json_string ("x");
  g_autoptr (json_t) resolved = NULL;

  descriptor = evb_plugin_module_open (LIMITS, &module, &error);
  assert_non_null (descriptor);

  resolved = evb_plugin_options_resolve_paths (descriptor, given, "/etc/evbus");
  check_json (resolved, "{\"input\": \"/etc/evbus/in.jsonl\", \"output\": \"/etc/evbus/out.txt\", \"latency_ms\": 5}");
  check_json (given, "{\"input\": \"in.jsonl\", \"latency_ms\": 5}"); /* untouched */
  json_decref (resolved);
  resolved = evb_plugin_options_resolve_paths (descriptor, NULL, "/etc/evbus");
  check_json (resolved, "{\"output\": \"/etc/evbus/out.txt\"}");
  json_decref (resolved);
  resolved = evb_plugin_options_resolve_paths (descriptor, kept, "/etc/evbus");
  check_json (resolved, "{\"input\": \"-\", \"output\": \"/abs/out\"}");
  json_decref (resolved);
  resolved = evb_plugin_options_resolve_paths (descriptor, wrong, "/etc/evbus");
  check_json (resolved, "{\"input\": 5, \"output\": \"/etc/evbus/out.txt\"}");
  json_decref (resolved);
  resolved = evb_plugin_options_resolve_paths (descriptor, not_object, "/etc/evbus");
  assert_ptr_equal (resolved, not_object);
  evb_plugin_module_close (module);
}

/* ---- 3. stop ------------------------------------------------------------- */

/* Stop comes once, on the main thread, at the start of shutdown and before
 * shutdown; the plugin's timeouts are still there when it runs, and what
 * it emits then is dispatched. */
static void
test_stop_once_before_shutdown (void **state)
{
  EvbHarness *harness = *state;

  load (harness, "l", LIMITS, NULL);
  add_route (harness, "limits.stopped", "l.params", NULL);
  check_log ((const char *const[]) { "other l: init", NULL });
  evb_harness_shutdown (harness, -1);
  check_log ((const char *const[]) { "other l: init", "other l: stop (timeout still there: yes)",
                                     "other l: shutdown", NULL });
  check_trace (harness, "limits.>", "limits.stopped limits.params");
  /* Freeing the harness shuts the bus down again: nothing more is called. */
}

static gint linked_stops;     /* main thread */
static gint handled_at_stop;  /* how many events "count" had taken when stop ran */
static gint counted;          /* main thread */
static GThread *stop_thread;

static EvbResult
count_handler (EvbCall *call, const EvbEvent *event)
{
  counted++;
  return EVB_CONTINUE;
}

static void
linked_stop (EvbPlugin *plugin)
{
  linked_stops++;
  handled_at_stop = counted;
  stop_thread = g_thread_self ();
}

static gboolean
refusing_init (EvbPlugin *plugin, GError **error)
{
  g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "not today");
  return FALSE;
}

static const EvbHandlerInfo count_handlers[] = {
  EVB_HANDLER ("count", count_handler, "Counts."),
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC_WITH (stopping_plugin, "stopping", "1.1.0", "Counts, and notes when it is stopped.",
                               count_handlers, NULL, NULL, NULL, .stop = linked_stop);
EVB_PLUGIN_DEFINE_STATIC_WITH (refusing_plugin, "refusing", "1.1.0", "Refuses to start.", count_handlers, NULL,
                               refusing_init, NULL, .stop = linked_stop);

/* "Before the inbox drains": events still queued when shutdown begins are
 * dispatched after stop. */
static void
test_stop_before_the_inbox_drains (void **state)
{
  EvbHarness *harness = *state;
  g_autoptr (GError) error = NULL;

  linked_stops = handled_at_stop = counted = 0;
  stop_thread = NULL;
  if (!evb_harness_add_plugin (harness, "s", &stopping_plugin, NULL, &error))
    fail_msg ("%s", error->message);
  add_route (harness, "tick", "s.count", NULL);
  emit (harness, "tick", NULL);
  emit (harness, "tick", NULL);
  emit (harness, "tick", NULL);
  evb_harness_shutdown (harness, -1);
  assert_int_equal (linked_stops, 1);
  assert_int_equal (handled_at_stop, 0);
  assert_int_equal (counted, 3);
  assert_ptr_equal (stop_thread, g_thread_self ());
  evb_harness_shutdown (harness, -1);
  assert_int_equal (linked_stops, 1);
}

/* A plugin whose init failed is neither stopped nor shut down. */
static void
test_stop_not_after_failed_init (void **state)
{
  linked_stops = 0;
  check_linked_refused (*state, &refusing_plugin, NULL, EVB_PLUGIN_ERROR_INIT_FAILED,
                        "plugin \"x\" ((linked in)): init failed: not today");
  evb_harness_shutdown (*state, -1);
  assert_int_equal (linked_stops, 0);
}

/* ---- 4. tables without their end marker ---------------------------------- */

static const EvbHandlerInfo no_end_marker[] = {
  EVB_HANDLER ("first", noop_handler, "One."),
  EVB_HANDLER ("second", noop_handler, "Two; no EVB_HANDLERS_END after it."),
};
static const EvbHandlerInfo early_end_marker[] = {
  EVB_HANDLER ("first", noop_handler, "One."),
  EVB_HANDLERS_END,
  EVB_HANDLER ("hidden", noop_handler, "Never seen."),
  EVB_HANDLERS_END,
};
static const EvbOptionInfo options_no_end_marker[] = {
  EVB_OPTION ("n", EVB_OPTION_INT, "1", "No EVB_OPTIONS_END after it."),
};

EVB_PLUGIN_DEFINE_STATIC (unterminated_plugin, "unterminated", "1.1.0", "Forgot EVB_HANDLERS_END.", no_end_marker,
                          NULL, NULL, NULL);
EVB_PLUGIN_DEFINE_STATIC (early_end_plugin, "early", "1.1.0", "Ends its table early.", early_end_marker, NULL,
                          NULL, NULL);
EVB_PLUGIN_DEFINE_STATIC (unterminated_options_plugin, "unterminated-options", "1.1.0", "Forgot EVB_OPTIONS_END.",
                          one_handler, options_no_end_marker, NULL, NULL);
/* Given as a pointer, a table's length is not known: its end marker is
 * trusted, as in 1.0. */
EVB_PLUGIN_DEFINE_STATIC (pointer_plugin, "pointer", "1.1.0", "Tables given as pointers.",
                          (const EvbHandlerInfo *) one_handler, (const EvbOptionInfo *) inspected, NULL, NULL);

static void
test_table_without_end_marker (void **state)
{
  g_autoptr (GError) error = NULL;

  /* EVB_PLUGIN_DEFINE counts the entries of a table given as an array. */
  assert_int_equal (unterminated_plugin.n_handlers, 2);
  assert_int_equal (unterminated_plugin.n_options, 0);
  assert_int_equal (stopping_plugin.n_handlers, 2);
  assert_int_equal (pointer_plugin.n_handlers, 0);
  assert_int_equal (pointer_plugin.n_options, 0);

  check_linked_refused (*state, &unterminated_plugin, NULL, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: handler table does not end with EVB_HANDLERS_END (entry 2 of 2 is "
                        "\"second\"): add EVB_HANDLERS_END after it");
  check_linked_refused (*state, &early_end_plugin, NULL, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: handler table ends early: entry 2 of 4 is EVB_HANDLERS_END, which "
                        "only the last entry may be");
  check_linked_refused (*state, &unterminated_options_plugin, NULL, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: option table does not end with EVB_OPTIONS_END (entry 1 of 1 is "
                        "\"n\"): add EVB_OPTIONS_END after it");
  if (!evb_harness_add_plugin (*state, "p", &pointer_plugin, NULL, &error))
    fail_msg ("%s", error->message);
}

/* ---- 5. route params ----------------------------------------------------- */

/* The config's "params" object reaches the handler, sync and async; a
 * route without params gives NULL; route_data is untouched. */
static void
test_params_from_route_options (void **state)
{
  EvbHarness *harness = *state;

  load (harness, "l", LIMITS, NULL);
  add_route (harness, "p.sync", "l.params", "{\"params\": {\"greeting\": \"hi\", \"n\": [1, 2]}}");
  add_route (harness, "p.async", "l.params", "{\"mode\": \"async\", \"params\": {\"greeting\": \"yo\"}}");
  add_route (harness, "p.none", "l.params", NULL);
  add_route (harness, "p.empty", "l.params", "{\"params\": {}}");
  emit (harness, "p.sync", NULL);
  run_until_idle (harness);
  emit (harness, "p.async", NULL);
  run_until_idle (harness);
  emit (harness, "p.none", NULL);
  run_until_idle (harness);
  emit (harness, "p.empty", NULL);
  run_until_idle (harness);

  assert_int_equal (evb_harness_count (harness, "limits.params"), 4);
  check_json (evb_harness_find (harness, "limits.params", 0)->data,
              "{\"params\": {\"greeting\": \"hi\", \"n\": [1, 2]}, \"route_data\": null}");
  check_json (evb_harness_find (harness, "limits.params", 1)->data,
              "{\"params\": {\"greeting\": \"yo\"}, \"route_data\": null}");
  check_json (evb_harness_find (harness, "limits.params", 2)->data, "{\"params\": null, \"route_data\": null}");
  check_json (evb_harness_find (harness, "limits.params", 3)->data, "{\"params\": {}, \"route_data\": null}");
}

/* EvbRouteSpec.params of a route made in code: copied at subscribe, and
 * the route's own user_data still reaches the handler as route_data. */
static void
test_params_from_spec (void **state)
{
  EvbHarness *harness = *state;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (json_t) params = json_pack ("{s:s}", "greeting", "hello");
  g_autoptr (GError) error = NULL;
  EvbPlugin *plugin;

  load (harness, "l", LIMITS, NULL);
  plugin = evb_harness_get_plugin (harness, "l");
  spec.pattern = "p.code";
  spec.handler = "params";
  spec.user_data = (gpointer) "the route's data";
  spec.params = params;
  assert_true (evb_plugin_subscribe (plugin, &spec, NULL, &error) != 0);
  json_object_set_new (params, "greeting", json_string ("changed after subscribe"));

  spec.pattern = "p.code.async";
  spec.mode = EVB_MODE_ASYNC;
  assert_true (evb_plugin_subscribe (plugin, &spec, NULL, &error) != 0);

  emit (harness, "p.code", NULL);
  emit (harness, "p.code.async", NULL);
  run_until_idle (harness);
  check_json (evb_harness_find (harness, "limits.params", 0)->data,
              "{\"params\": {\"greeting\": \"hello\"}, \"route_data\": \"the route's data\"}");
  check_json (evb_harness_find (harness, "limits.params", 1)->data,
              "{\"params\": {\"greeting\": \"changed after subscribe\"}, \"route_data\": \"the route's data\"}");

  /* Not an object: refused, naming the key. */
  spec.pattern = "p.bad";
  spec.params = json_integer (5);
  assert_int_equal (evb_plugin_subscribe (plugin, &spec, NULL, &error), 0);
  json_decref (spec.params);
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_ROUTE));
  assert_string_equal (error->message, "route on \"p.bad\": params: expected an object, got 5");
}

/* The harness reads "params" with the config's reader. */
static void
test_params_refused (void **state)
{
  g_autoptr (GError) error = NULL;

  load (*state, "l", LIMITS, NULL);
  assert_int_equal (evb_harness_add_route (*state, "p", "l.params", "{\"params\": [1]}", &error), 0);
  assert_true (g_error_matches (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID));
  assert_string_equal (error->message, "params: expected an object, got an array");
  assert_int_equal (n_routes (*state), 0);
}

/* A 1.0 plugin's spec is shorter than 1.1's: still a spec (its init
 * subscribes with one); and params reach a 1.0 handler's route without
 * disturbing it. */
static void
test_params_and_1_0_plugins (void **state)
{
  EvbHarness *harness = *state;

  load (harness, "old", PLUGIN_PATH ("abi-1.0-reserved"), "{\"name\": \"n\"}");
  assert_int_equal (n_routes (harness), 1);
  add_route (harness, "old.params", "old.report", "{\"params\": {\"unread\": true}}");
  emit (harness, "old.ping", NULL);
  emit (harness, "old.params", NULL);
  run_until_idle (harness);
  assert_int_equal (evb_harness_count (harness, "old.report"), 2);
  assert_int_equal (evb_harness_count (harness, "evbus.failure"), 0);
}

/* ---- 6. handler modes ---------------------------------------------------- */

static void
check_route_refused (EvbHarness *harness, const char *pattern, const char *handler, const char *options,
                     const char *expected_message)
{
  g_autoptr (GError) error = NULL;

  assert_int_equal (evb_harness_add_route (harness, pattern, handler, options, &error), 0);
  assert_non_null (error);
  assert_string_equal (error->message, expected_message);
  assert_true (g_error_matches (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_HANDLER_MODE));
}

/* A handler that declares a mode takes routes of that mode only; routes
 * default to sync; handlers that declare none take both. */
static void
test_handler_modes (void **state)
{
  EvbHarness *harness = *state;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;

  load (harness, "l", LIMITS, NULL);
  check_route_refused (harness, "w", "l.work", NULL,
                       "mode: handler \"l.work\" is declared async, the route is sync: give the route \"mode\": "
                       "\"async\"");
  check_route_refused (harness, "w", "l.work", "{\"mode\": \"sync\"}",
                       "mode: handler \"l.work\" is declared async, the route is sync: give the route \"mode\": "
                       "\"async\"");
  check_route_refused (harness, "m", "l.main", "{\"mode\": \"async\"}",
                       "mode: handler \"l.main\" is declared sync, the route is async: give the route \"mode\": "
                       "\"sync\"");
  assert_int_equal (n_routes (harness), 0);

  add_route (harness, "w", "l.work", "{\"mode\": \"async\"}");
  add_route (harness, "m", "l.main", NULL);
  add_route (harness, "m", "l.main", "{\"mode\": \"sync\"}");
  add_route (harness, "e", "l.options", NULL);
  add_route (harness, "e", "l.options", "{\"mode\": \"async\"}");
  emit (harness, "w", NULL);
  emit (harness, "m", NULL);
  emit (harness, "e", NULL);
  run_until_idle (harness);
  assert_int_equal (evb_harness_count (harness, "limits.work"), 1);
  assert_int_equal (evb_harness_count (harness, "limits.main"), 2);
  assert_int_equal (evb_harness_count (harness, "limits.options"), 2);

  /* From code, the same rule in the bus's words. */
  spec.pattern = "w.code";
  spec.handler = "work";
  assert_int_equal (evb_plugin_subscribe (evb_harness_get_plugin (harness, "l"), &spec, NULL, &error), 0);
  assert_true (g_error_matches (error, EVB_PLUGIN_ERROR, EVB_PLUGIN_ERROR_HANDLER_MODE));
  assert_string_equal (error->message,
                       "handler \"l.work\" is declared async, the route is sync: give the route \"mode\": \"async\"");
}

static const EvbHandlerInfo odd_mode[] = {
  { .name = "odd", .func = noop_handler, .doc = "Mode 7.", .mode = (EvbHandlerMode) 7 },
  EVB_HANDLERS_END,
};
static const EvbPluginDescriptor odd_mode_plugin = LINKED_1_1 (odd_mode, NULL, NULL);

static void
test_handler_mode_unknown (void **state)
{
  check_linked_refused (*state, &odd_mode_plugin, NULL, EVB_PLUGIN_ERROR_BAD_DESCRIPTOR,
                        "linked-in descriptor: handler \"odd\" has an unknown mode 7");
}

/* ---- a plugin built against the 1.0 header ------------------------------- */

/* abi-1.0-reserved.so has junk in every reserved field 1.1 gave meaning to
 * (stop, table lengths, handler mode, option limits): it loads, its
 * options have no limits, its async-looking handler takes a sync route,
 * and shutdown calls no stop. */
static void
test_1_0_reserved_fields_unread (void **state)
{
  EvbHarness *harness = *state;

  load (harness, "old", PLUGIN_PATH ("abi-1.0-reserved"), "{\"name\": \"n\", \"count\": 90000}");
  add_route (harness, "old.sync", "old.report", "{\"mode\": \"sync\"}");
  emit (harness, "old.sync", NULL);
  run_until_idle (harness);
  check_json (evb_harness_find (harness, "old.report", 0)->data, "{\"options\": {\"name\": \"n\", \"count\": 90000}}");
  evb_harness_shutdown (harness, -1);
  check_log ((const char *const[]) { "message old: shutdown", NULL });
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
    cmocka_unit_test_setup_teardown (test_limits_on_the_bounds, setup, teardown),
    cmocka_unit_test_setup_teardown (test_limits_refusals, setup, teardown),
    cmocka_unit_test_setup_teardown (test_limits_several_problems, setup, teardown),
    cmocka_unit_test_setup_teardown (test_limits_descriptor_faults, setup, teardown),
    cmocka_unit_test_setup_teardown (test_limits_described, setup, teardown),
    cmocka_unit_test_setup_teardown (test_limits_not_read_from_1_0, setup, teardown),
    cmocka_unit_test_setup_teardown (test_path_relative_to_current_folder, setup, teardown),
    cmocka_unit_test_setup_teardown (test_path_resolved_against_a_folder, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stop_once_before_shutdown, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stop_before_the_inbox_drains, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stop_not_after_failed_init, setup, teardown),
    cmocka_unit_test_setup_teardown (test_table_without_end_marker, setup, teardown),
    cmocka_unit_test_setup_teardown (test_params_from_route_options, setup, teardown),
    cmocka_unit_test_setup_teardown (test_params_from_spec, setup, teardown),
    cmocka_unit_test_setup_teardown (test_params_refused, setup, teardown),
    cmocka_unit_test_setup_teardown (test_params_and_1_0_plugins, setup, teardown),
    cmocka_unit_test_setup_teardown (test_handler_modes, setup, teardown),
    cmocka_unit_test_setup_teardown (test_handler_mode_unknown, setup, teardown),
    cmocka_unit_test_setup_teardown (test_1_0_reserved_fields_unread, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
