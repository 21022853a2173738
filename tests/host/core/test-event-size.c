/* host.max_event_bytes: plugins may not emit event data larger than the
 * limit (README "host" table; host/json-size.h says how data is measured).
 *
 * - the measure: exactly the compact JSON length where json-size.h says
 *   so, its stated approximations elsewhere, an early stop just past the
 *   limit, no recursion (deep data) and no endless loop (cyclic data);
 * - the limit: an emit over it fails with EVB_BUS_ERROR_INVALID_DATA and a
 *   message naming plugin, type and limit, is counted as
 *   bus.rejected_oversize and never dispatched; one at the limit passes;
 *   0 means no limit; the default is 1 MiB; the host's own emits are not
 *   limited;
 * - the setting in the config file and in the harness. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib/gstdio.h>

#include "bus.h"
#include "config.h"
#include "json-size.h"
#include "evbus/harness.h"

#define TIMEOUT_MS 30000
#define MIB (1024 * 1024)

/* ---- the measure ---- */

static gsize
compact_length (json_t *value)
{
  char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
  gsize length = strlen (text);

  free (text);
  return length;
}

static void
test_size_is_compact_json_length (void **state)
{
  static const char *const documents[] = {
    "{}", "[]", "{\"a\": 1}", "[1, 2, 3]", "{\"a\": {\"b\": [true, false, null]}}",
    "{\"n\": -9223372036854775808, \"m\": 9223372036854775807, \"z\": 0, \"t\": 10, \"u\": -1}",
    "{\"s\": \"\", \"caf\\u00e9\": \"cr\\u00e8me br\\u00fbl\\u00e9e\", \"e\": \"\\ud83d\\ude00\"}",
    "[[], {}, [[]], [{}, {\"x\": []}], \"\"]",
    "{\"user\": {\"name\": \"alice\", \"id\": 42, \"tags\": [\"a\", \"b\"]}, \"size\": 12, \"ok\": true}",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (documents); i++)
    {
      json_t *value = json_loads (documents[i], JSON_DECODE_ANY, NULL);

      assert_non_null (value);
      if (evb_json_size_bounded (value, G_MAXSIZE) != compact_length (value))
        fail_msg ("%s: measured %" G_GSIZE_FORMAT ", compact JSON has %" G_GSIZE_FORMAT, documents[i],
                  evb_json_size_bounded (value, G_MAXSIZE), compact_length (value));
      json_decref (value);
    }
  /* No data is the empty object. */
  assert_int_equal (evb_json_size_bounded (NULL, G_MAXSIZE), 2);
}

/* Where the measure is cheap rather than exact, as json-size.h says. */
static void
test_size_approximations (void **state)
{
  json_t *real = json_pack ("{s:f}", "x", 1.5);               /* {"x":1.5} */
  json_t *escaped = json_pack ("{s:s}", "s", "a\nb");         /* {"s":"a\nb"} */

  /* 2 braces + "x": (4) + a real (8). */
  assert_int_equal (evb_json_size_bounded (real, G_MAXSIZE), 14);
  assert_int_equal (compact_length (real), 9);
  /* The newline counts one byte, not the two of its escape. */
  assert_int_equal (evb_json_size_bounded (escaped, G_MAXSIZE), 11);
  assert_int_equal (compact_length (escaped), 12);
  json_decref (real);
  json_decref (escaped);
}

/* The walk stops at the first count past the limit: a container counts its
 * brackets and commas before its members. */
static void
test_size_stops_past_limit (void **state)
{
  json_t *array = json_array ();
  json_t *object = json_object ();
  g_autofree char *long_text = g_strnfill (1000, 'x');

  for (guint i = 0; i < 1000; i++)
    json_array_append_new (array, json_string ("12345678"));
  /* Full size: 2 + 999 commas + 1000 * 10. */
  assert_int_equal (evb_json_size_bounded (array, G_MAXSIZE), 11001);
  assert_int_equal (evb_json_size_bounded (array, 11001), 11001);
  /* Past 100 already with the brackets and commas. */
  assert_int_equal (evb_json_size_bounded (array, 100), 1001);
  /* {"a":"x...x","b":"x...x"}: 3, then "a": 4, then the string 1002. */
  json_object_set_new (object, "a", json_string (long_text));
  json_object_set_new (object, "b", json_string (long_text));
  assert_int_equal (evb_json_size_bounded (object, G_MAXSIZE), 2015);
  assert_int_equal (evb_json_size_bounded (object, 10), 1009);
  json_decref (array);
  json_decref (object);
}

/* Deep data from code: no recursion to overflow the stack. */
static void
test_size_deep_nesting (void **state)
{
  json_t *root = json_array ();
  json_t *innermost = root;

  for (guint i = 1; i < 10000; i++)
    {
      json_t *inner = json_array ();

      json_array_append_new (innermost, inner);
      innermost = inner;
    }
  /* Ten thousand "[]" pairs. */
  assert_int_equal (evb_json_size_bounded (root, G_MAXSIZE), 20000);
  assert_int_equal (evb_json_size_bounded (root, 999), 1000);
  json_decref (root);
}

/* Data made cyclic by a plugin bug: the limit ends the walk. */
static void
test_size_cycle_ends_at_limit (void **state)
{
  json_t *a = json_array ();
  json_t *b = json_array ();

  json_array_append (a, b);
  json_array_append (b, a);
  assert_int_equal (evb_json_size_bounded (a, 1000), 1002);
  json_array_clear (b); /* breaks the cycle, so both can be freed */
  json_decref (a);
  json_decref (b);
}

/* ---- the limit on emits ---- */

static const EvbHandlerInfo source_handlers[] = {
  EVB_HANDLERS_END,
};

EVB_PLUGIN_DEFINE_STATIC (source_descriptor, "source", "1.0", "Emits what the test asks", source_handlers, NULL,
                          NULL, NULL);

/* {"s": "x...x"} with @n x: n + 8 bytes. */
static json_t *
data_of_size (gsize size)
{
  g_autofree char *text = g_strnfill (size - 8, 'x');
  json_t *data = json_pack ("{s:s}", "s", text);

  g_assert_cmpuint (evb_json_size_bounded (data, G_MAXSIZE), ==, size);
  return data;
}

static EvbHarness *
harness_with_source (const char *settings_json, EvbPlugin **plugin)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new_with_settings (settings_json, &error);

  g_assert_no_error (error);
  g_assert_true (evb_harness_add_plugin (harness, "feed", &source_descriptor, NULL, &error));
  g_assert_no_error (error);
  *plugin = evb_harness_get_plugin (harness, "feed");
  return harness;
}

static json_int_t
bus_stat (EvbHarness *harness, const char *name)
{
  json_t *stats = evb_harness_stats (harness);
  json_t *value = json_object_get (json_object_get (stats, "bus"), name);
  json_int_t number;

  g_assert_true (json_is_integer (value));
  number = json_integer_value (value);
  json_decref (stats);
  return number;
}

static void
test_emit_over_limit_refused (void **state)
{
  EvbPlugin *plugin;
  EvbHarness *harness = harness_with_source ("{\"max_event_bytes\": 64}", &plugin);
  g_autoptr (GError) error = NULL;

  assert_true (evb_plugin_emit (plugin, "feed.fits", data_of_size (64), &error));
  assert_null (error);
  assert_false (evb_plugin_emit (plugin, "feed.big", data_of_size (65), &error));
  assert_true (g_error_matches (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_DATA));
  assert_string_equal (error->message, "plugin \"feed\": event \"feed.big\" refused: its data is over 64 bytes as "
                                       "JSON (host.max_event_bytes)");
  g_clear_error (&error);
  assert_false (evb_plugin_emit (plugin, "feed.big", data_of_size (10000), &error));
  g_clear_error (&error);

  assert_true (evb_harness_run_until_idle (harness, TIMEOUT_MS, &error));
  /* Only the event that fits went through. */
  assert_int_equal (evb_harness_count (harness, "feed.*"), 1);
  assert_non_null (evb_harness_find (harness, "feed.fits", 0));
  assert_int_equal (bus_stat (harness, "rejected_oversize"), 2);
  assert_int_equal (bus_stat (harness, "emitted"), 1);
  assert_int_equal (bus_stat (harness, "dropped"), 0);
  evb_harness_free (harness);
}

/* 0: no limit at all. */
static void
test_emit_no_limit (void **state)
{
  EvbPlugin *plugin;
  EvbHarness *harness = harness_with_source ("{\"max_event_bytes\": 0}", &plugin);
  g_autoptr (GError) error = NULL;

  assert_true (evb_plugin_emit (plugin, "feed.huge", data_of_size (3 * MIB), &error));
  assert_true (evb_harness_run_until_idle (harness, TIMEOUT_MS, &error));
  assert_int_equal (evb_harness_count (harness, "feed.huge"), 1);
  assert_int_equal (bus_stat (harness, "rejected_oversize"), 0);
  evb_harness_free (harness);
}

/* The default is 1 MiB, in the bus settings and so in the harness. */
static void
test_emit_default_limit (void **state)
{
  EvbBusSettings settings;
  EvbPlugin *plugin;
  EvbHarness *harness = harness_with_source (NULL, &plugin);
  g_autoptr (GError) error = NULL;

  evb_bus_settings_init (&settings);
  assert_int_equal (settings.max_event_bytes, MIB);
  assert_true (evb_plugin_emit (plugin, "feed.mib", data_of_size (MIB), &error));
  assert_false (evb_plugin_emit (plugin, "feed.more", data_of_size (MIB + 1), &error));
  assert_string_equal (error->message, "plugin \"feed\": event \"feed.more\" refused: its data is over 1048576 bytes "
                                       "as JSON (host.max_event_bytes)");
  g_clear_error (&error);
  assert_true (evb_harness_run_until_idle (harness, TIMEOUT_MS, &error));
  assert_int_equal (evb_harness_count (harness, "feed.*"), 1);
  assert_int_equal (bus_stat (harness, "rejected_oversize"), 1);
  evb_harness_free (harness);
}

/* The limit is on sources (plugins); the host's own events, failure
 * events quoting a big origin among them, are not refused. */
static void
test_host_emits_not_limited (void **state)
{
  EvbPlugin *plugin;
  EvbHarness *harness = harness_with_source ("{\"max_event_bytes\": 64}", &plugin);
  g_autoptr (GError) error = NULL;

  assert_true (evb_harness_emit_json (harness, "host.big", data_of_size (1000), &error));
  assert_true (evb_harness_run_until_idle (harness, TIMEOUT_MS, &error));
  assert_int_equal (evb_harness_count (harness, "host.big"), 1);
  assert_int_equal (bus_stat (harness, "rejected_oversize"), 0);
  evb_harness_free (harness);
}

static void
test_harness_setting_checked (void **state)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *harness = evb_harness_new_with_settings ("{\"max_event_bytes\": -1}", &error);

  assert_null (harness);
  assert_true (g_error_matches (error, EVB_HARNESS_ERROR, EVB_HARNESS_ERROR_INVALID));
}

/* ---- the setting in a config file ---- */

static EvbConfig *
load_text (const char *text, GPtrArray *errors, char **file)
{
  g_autofree char *dir = g_dir_make_tmp ("evbus-event-size-XXXXXX", NULL);
  EvbConfig *config;

  *file = g_build_filename (dir, "pipeline.json", NULL);
  g_assert_true (g_file_set_contents (*file, text, -1, NULL));
  config = evb_config_load (*file, errors);
  g_unlink (*file);
  g_rmdir (dir);
  return config;
}

static void
test_config_setting (void **state)
{
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *file = NULL;
  g_autofree char *expected = NULL;
  EvbConfig *config;

  config = load_text ("{\"host\": {\"max_event_bytes\": 4096}, \"plugins\": []}", errors, &file);
  assert_non_null (config);
  assert_int_equal (config->settings.max_event_bytes, 4096);
  evb_config_free (config);
  g_free (file);

  config = load_text ("{\"plugins\": []}", errors, &file);
  assert_int_equal (config->settings.max_event_bytes, MIB);
  evb_config_free (config);
  g_free (file);

  config = load_text ("{\"host\": {\"max_event_bytes\": -1}, \"plugins\": []}", errors, &file);
  assert_null (config);
  expected = g_strdup_printf ("%s:1:11: host.max_event_bytes: expected a non-negative integer, got -1", file);
  assert_int_equal (errors->len, 1);
  assert_string_equal (g_ptr_array_index (errors, 0), expected);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_size_is_compact_json_length),
    cmocka_unit_test (test_size_approximations),
    cmocka_unit_test (test_size_stops_past_limit),
    cmocka_unit_test (test_size_deep_nesting),
    cmocka_unit_test (test_size_cycle_ends_at_limit),
    cmocka_unit_test (test_emit_over_limit_refused),
    cmocka_unit_test (test_emit_no_limit),
    cmocka_unit_test (test_emit_default_limit),
    cmocka_unit_test (test_host_emits_not_limited),
    cmocka_unit_test (test_harness_setting_checked),
    cmocka_unit_test (test_config_setting),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
