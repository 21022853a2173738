/* Tests for host/json-doc.c and host/config.c: positions (in characters,
 * like jansson), environment expansion, the pipeline model of a good file,
 * and the exact error lines of broken ones (tests/host/pipeline/configs/).
 *
 * Needs EVB_TEST_CONFIG_DIR, the absolute path of tests/host/pipeline/configs. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "json-doc.h"

#ifndef EVB_TEST_CONFIG_DIR
#error "define EVB_TEST_CONFIG_DIR as the path of tests/host/pipeline/configs"
#endif

static char *
config_file (const char *name)
{
  return g_build_filename (EVB_TEST_CONFIG_DIR, name, NULL);
}

/* The variables the data files use.  Set here, not by the caller, so that
 * the results do not depend on who runs the tests. */
static int
setup_environment (void **state)
{
  g_setenv ("EVB_TEST_PLUGIN_DIR", "/plugins", TRUE);
  g_setenv ("EVB_TEST_SET", "value", TRUE);
  g_setenv ("EVB_TEST_EMPTY", "", TRUE);
  g_unsetenv ("EVB_TEST_DB_URL");
  g_unsetenv ("EVB_TEST_UNSET");
  g_unsetenv ("EVB_TEST_UNSET_OVERFLOW");
  g_unsetenv ("EVB_TEST_UNSET_DIR");
  g_unsetenv ("EVB_TEST_UNSET_ITEM");
  g_unsetenv ("EVB_TEST_UNSET_WORKERS");
  return 0;
}

/* Loads @name and checks that it fails with exactly the lines of
 * @expected (NULL-terminated), each written without the leading file name
 * (":3:5: host.workers: ..."): the helper puts the path in front, as it was
 * passed to the loader.  Compared as one text, so a failure shows all. */
static void
assert_config_errors (const char *name, const char *const *expected)
{
  g_autofree char *file = config_file (name);
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) expected_text = g_string_new (NULL);
  g_autoptr (GString) actual_text = g_string_new (NULL);
  g_autoptr (EvbConfig) config = NULL;

  config = evb_config_load (file, errors);

  for (guint i = 0; expected[i]; i++)
    g_string_append_printf (expected_text, "%s%s\n", file, expected[i]);
  for (guint i = 0; i < errors->len; i++)
    g_string_append_printf (actual_text, "%s\n", (const char *) g_ptr_array_index (errors, i));

  assert_string_equal (actual_text->str, expected_text->str);
  assert_null (config);
}

#define ASSERT_CONFIG_ERRORS(name, ...) \
  assert_config_errors ((name), (const char *const[]) { __VA_ARGS__, NULL })

static void
assert_position (EvbJsonDoc *doc, const char *path, const char *expected_position)
{
  g_autofree char *where = evb_json_doc_where (doc, path);
  g_autofree char *expected = g_strdup_printf ("%s:%s", evb_json_doc_file (doc), expected_position);

  assert_string_equal (where, expected);
}

/* ---- json-doc ---- */

static void
test_doc_positions (void **state)
{
  g_autofree char *file = config_file ("good.json");
  g_autoptr (GError) error = NULL;
  g_autoptr (EvbJsonDoc) doc = evb_json_doc_load (file, &error);

  assert_null (error);
  assert_non_null (doc);
  assert_string_equal (evb_json_doc_file (doc), file);
  assert_true (json_is_object (evb_json_doc_root (doc)));

  /* Members at their key, elements at their first character. */
  assert_position (doc, "", "1:1");
  assert_position (doc, "$schema", "2:3");
  assert_position (doc, "host", "3:3");
  assert_position (doc, "host.workers", "4:5");
  assert_position (doc, "host.status_events", "10:5");
  assert_position (doc, "plugins", "12:3");
  assert_position (doc, "plugins[0]", "13:5");
  assert_position (doc, "plugins[0].config.url", "13:73");
  assert_position (doc, "plugins[2].name", "15:7");
  assert_position (doc, "routes[1]", "19:5");
  assert_position (doc, "routes[1].filter", "24:7");
  /* A filter field with a dot in its name is one key. */
  assert_position (doc, "routes[1].filter.user.name", "24:19");
  assert_position (doc, "routes[1].filter.size.gt", "24:61");
  assert_position (doc, "routes[2].priority", "30:65");

  /* Unknown paths fall back to the nearest ancestor, then to the root. */
  assert_position (doc, "routes[1].filter.size.gt.deeper[3]", "24:61");
  assert_position (doc, "routes[9]", "17:3");
  assert_position (doc, "nothing.here", "1:1");
}

/* Columns count characters, not bytes, and agree with jansson's. */
static void
test_doc_columns_are_characters (void **state)
{
  g_autofree char *file = config_file ("utf8-parse-error.json");
  g_autofree char *expected = g_strdup_printf ("%s:1:39: invalid token near 'x'", file);
  g_autoptr (GError) error = NULL;
  g_autoptr (EvbJsonDoc) doc = evb_json_doc_load (file, &error);

  /* 'x' is the 39th character of the line and its 40th byte. */
  assert_null (doc);
  assert_true (g_error_matches (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_PARSE));
  assert_string_equal (error->message, expected);

  /* Same line structure, no error: our own scan counts the same way. */
  ASSERT_CONFIG_ERRORS ("utf8-columns.json",
                        ":1:22: h\xc3\xb4st: unknown key (expected one of: $schema, host, plugins, routes)");
}

/* Keys appear in paths decoded, as jansson stores them. */
static void
test_doc_escaped_keys (void **state)
{
  g_autofree char *file = config_file ("escaped-keys.json");
  g_autoptr (GError) error = NULL;
  g_autoptr (EvbJsonDoc) doc = evb_json_doc_load (file, &error);

  assert_non_null (doc);
  assert_position (doc, "k\xc3\xa9y\"q", "1:18");
  assert_position (doc, "\xf0\x9f\x98\x80", "1:36");
  assert_position (doc, "\xf0\x9f\x98\x80.a.b", "1:54");
  assert_position (doc, "\xf0\x9f\x98\x80.a.b[0]", "1:63");
  assert_position (doc, "\xf0\x9f\x98\x80.a.b[1]", "1:67");
  assert_position (doc, "\xf0\x9f\x98\x80.a.b[1].\t", "1:69");
  assert_position (doc, "\xf0\x9f\x98\x80.a.b[7]", "1:54");
}

static void
test_doc_unreadable (void **state)
{
  g_autofree char *missing = config_file ("no-such-file.json");
  g_autofree char *expected_missing = g_strdup_printf ("%s: cannot read: No such file or directory", missing);
  g_autofree char *expected_dir = g_strdup_printf ("%s: cannot read: Is a directory", EVB_TEST_CONFIG_DIR);
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  EvbJsonDoc *doc;

  doc = evb_json_doc_load (missing, &error);
  assert_null (doc);
  assert_true (g_error_matches (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_READ));
  assert_string_equal (error->message, expected_missing);

  assert_null (evb_config_load (missing, errors));
  assert_null (evb_config_load (EVB_TEST_CONFIG_DIR, errors));
  assert_int_equal (errors->len, 2);
  assert_string_equal (g_ptr_array_index (errors, 0), expected_missing);
  assert_string_equal (g_ptr_array_index (errors, 1), expected_dir);
}

/* ---- environment ---- */

static void
assert_expands (const char *text, const char *expected)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *expanded = evb_json_expand_env_string (text, &error);

  assert_null (error);
  assert_string_equal (expanded, expected);
}

static void
assert_expand_fails (const char *text, const char *expected_message)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *expanded = evb_json_expand_env_string (text, &error);

  assert_null (expanded);
  assert_true (g_error_matches (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_ENV));
  assert_string_equal (error->message, expected_message);
}

static void
test_env_expansion (void **state)
{
  assert_expands ("", "");
  assert_expands ("plain", "plain");
  assert_expands ("${EVB_TEST_SET}", "value");
  assert_expands ("a-${EVB_TEST_SET}-${EVB_TEST_SET}-b", "a-value-value-b");
  assert_expands ("${EVB_TEST_SET:-other}", "value");
  assert_expands ("${EVB_TEST_UNSET:-fall back}", "fall back");
  assert_expands ("${EVB_TEST_UNSET:-}", "");
  /* As in a shell, ":-" also replaces an empty value. */
  assert_expands ("${EVB_TEST_EMPTY:-x}", "x");
  assert_expands ("[${EVB_TEST_EMPTY}]", "[]");
  /* The default is literal up to the first "}". */
  assert_expands ("${EVB_TEST_UNSET:-a:-b$c}", "a:-b$c");
  assert_expands ("$${EVB_TEST_SET}", "${EVB_TEST_SET}");
  assert_expands ("$$${EVB_TEST_SET}", "$${EVB_TEST_SET}");
  assert_expands ("cost: $5, $$, $EVB_TEST_SET, $", "cost: $5, $$, $EVB_TEST_SET, $");

  assert_expand_fails ("${EVB_TEST_UNSET}",
                       "environment variable \"EVB_TEST_UNSET\" is not set "
                       "(set it or write ${EVB_TEST_UNSET:-default})");
  assert_expand_fails ("x${EVB_TEST_SET", "unterminated \"${\" (close it with \"}\" or write $${ for a literal \"${\")");
  assert_expand_fails ("${}", "invalid reference \"${}\" (write ${NAME} or ${NAME:-default}, "
                              "NAME made of letters, digits and \"_\")");
  assert_expand_fails ("${A-B}", "invalid reference \"${A-B}\" (write ${NAME} or ${NAME:-default}, "
                                 "NAME made of letters, digits and \"_\")");
}

/* ---- a good file ---- */

static void
test_config_good (void **state)
{
  g_autofree char *file = config_file ("good.json");
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (EvbConfig) config = evb_config_load (file, errors);
  g_autofree char *where = NULL;
  g_autofree char *expected_where = NULL;
  g_autofree char *line = NULL;
  g_autofree char *expected_line = NULL;
  g_autofree char *canonical_dir = g_canonicalize_filename (EVB_TEST_CONFIG_DIR, NULL);
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  EvbConfigPlugin *plugin;
  EvbConfigRoute *route;

  assert_int_equal (errors->len, 0);
  assert_non_null (config);
  assert_string_equal (config->file, file);
  assert_string_equal (config->base_dir, canonical_dir);

  assert_int_equal (config->settings.workers, 4);
  assert_int_equal (config->settings.inbox_limit, 1024);
  assert_int_equal (config->settings.overflow, EVB_OVERFLOW_DROP_OLDEST);
  assert_int_equal (config->settings.grace_ms, 2500);
  assert_int_equal (config->settings.slice_events, 64);
  assert_true (config->settings.emit_unhandled);
  assert_false (config->settings.status_events);

  assert_int_equal (config->plugins->len, 3);
  plugin = g_ptr_array_index (config->plugins, 0);
  assert_string_equal (plugin->name, "db");
  assert_string_equal (plugin->path, "/plugins/db.so");
  assert_string_equal (json_string_value (json_object_get (plugin->config, "url")), "sqlite::memory:");
  assert_string_equal (plugin->json_path, "plugins[0]");
  plugin = g_ptr_array_index (config->plugins, 1);
  assert_string_equal (plugin->name, "search_v2");
  assert_string_equal (plugin->path, "search.so");
  assert_null (plugin->config);
  plugin = g_ptr_array_index (config->plugins, 2);
  assert_string_equal (plugin->name, "audit-log");
  assert_string_equal (json_string_value (json_object_get (plugin->config, "template")),
                       "cost: $$5, ${literal}");

  assert_int_equal (config->routes->len, 3);
  route = g_ptr_array_index (config->routes, 0);
  assert_string_equal (route->on, "search.request");
  assert_string_equal (route->instance, "search_v2");
  assert_string_equal (route->handler, "query");
  assert_int_equal (route->mode, EVB_MODE_SYNC);
  assert_int_equal (route->priority, 0);
  assert_null (route->filter);
  assert_null (route->on_failure);
  assert_int_equal (route->timeout_ms, 0);
  assert_int_equal (route->max_concurrency, 0);
  assert_false (route->stop_on_failure);
  assert_null (route->params);
  assert_string_equal (route->json_path, "routes[0]");

  route = g_ptr_array_index (config->routes, 1);
  assert_string_equal (route->on, "search.*");
  assert_string_equal (route->instance, "db");
  assert_string_equal (route->handler, "lookup");
  assert_int_equal (route->mode, EVB_MODE_ASYNC);
  assert_int_equal (route->priority, -5);
  assert_true (json_is_object (route->filter));
  assert_int_equal (json_object_size (route->filter), 2);
  assert_string_equal (route->on_failure, "search.failed");
  assert_int_equal (route->timeout_ms, 1500);
  assert_int_equal (route->max_concurrency, 8);
  assert_true (route->stop_on_failure);
  assert_int_equal (json_object_size (route->params), 2);
  assert_string_equal (json_string_value (json_object_get (route->params, "table")), "items");
  assert_string_equal (route->json_path, "routes[1]");

  evb_config_route_to_spec (route, &spec);
  assert_int_equal (spec.struct_size, sizeof (EvbRouteSpec));
  assert_int_equal (spec.mode, EVB_MODE_ASYNC);
  assert_string_equal (spec.pattern, "search.*");
  assert_string_equal (spec.handler, "lookup");
  assert_ptr_equal (spec.filter, route->filter);
  assert_string_equal (spec.on_failure, "search.failed");
  assert_int_equal (spec.priority, -5);
  assert_int_equal (spec.timeout_ms, 1500);
  assert_int_equal (spec.max_concurrency, 8);
  assert_true (spec.stop_on_failure);
  assert_ptr_equal (spec.params, route->params);

  route = g_ptr_array_index (config->routes, 2);
  assert_string_equal (route->on, ">");
  assert_string_equal (route->instance, "audit-log");
  assert_string_equal (route->handler, "record");
  assert_int_equal (route->priority, 100);

  /* Positions for problems found after loading. */
  where = evb_config_where (config, "routes[1].handler");
  expected_where = g_strdup_printf ("%s:21:7", file);
  assert_string_equal (where, expected_where);
  line = evb_config_error_line (config, "plugins[1]", "cannot load %s: %s", "search.so", "not found");
  expected_line = g_strdup_printf ("%s:14:5: plugins[1]: cannot load search.so: not found", file);
  assert_string_equal (line, expected_line);
}

static void
test_config_defaults (void **state)
{
  g_autofree char *file = config_file ("minimal.json");
  g_autoptr (EvbConfig) config = evb_config_load (file, NULL);
  EvbBusSettings defaults;

  evb_bus_settings_init (&defaults);
  assert_non_null (config);
  assert_memory_equal (&config->settings, &defaults, sizeof defaults);
  assert_int_equal (config->plugins->len, 0);
  assert_int_equal (config->routes->len, 0);
}

/* ---- broken files ---- */

static void
test_config_bad_json (void **state)
{
  ASSERT_CONFIG_ERRORS ("bad-json.json", ":4:3: unexpected token near ']'");
  ASSERT_CONFIG_ERRORS ("empty.json", ":1:1: unexpected token near end of file");
}

static void
test_config_duplicate_key (void **state)
{
  ASSERT_CONFIG_ERRORS ("duplicate-key.json", ":4:11: duplicate object key near '\"plugins\"'");
}

static void
test_config_not_an_object (void **state)
{
  ASSERT_CONFIG_ERRORS ("not-object.json", ":1:1: expected an object at the top level, got an array");
}

static void
test_config_missing_plugins (void **state)
{
  ASSERT_CONFIG_ERRORS ("missing-plugins.json", ":1:1: missing key \"plugins\"");
}

static void
test_config_missing_keys (void **state)
{
  ASSERT_CONFIG_ERRORS ("missing-keys.json",
                        ":3:5: plugins[0]: missing key \"name\"",
                        ":7:5: routes[0]: missing key \"handler\"",
                        ":8:5: routes[1]: missing key \"on\"");
}

static void
test_config_unknown_keys (void **state)
{
  ASSERT_CONFIG_ERRORS ("unknown-key-top.json",
                        ":3:3: route: unknown key (expected one of: $schema, host, plugins, routes)");
  ASSERT_CONFIG_ERRORS ("unknown-key-host.json",
                        ":2:27: host.worker: unknown key (expected one of: workers, inbox_limit, overflow, "
                        "inbox_overcommit, grace_ms, slice_events, emit_unhandled, status_events, "
                        "max_event_bytes, stall_ms)");
  ASSERT_CONFIG_ERRORS ("unknown-key-plugin.json",
                        ":3:38: plugins[0].confg: unknown key (expected one of: name, path, config)");
  ASSERT_CONFIG_ERRORS ("unknown-key-route.json",
                        ":5:41: routes[1].prioirty: unknown key (expected one of: on, handler, mode, priority, "
                        "filter, on_failure, timeout_ms, max_concurrency, stop_on_failure, params)");
  /* Control characters are escaped: one error, one line. */
  ASSERT_CONFIG_ERRORS ("control-chars.json",
                        ":1:18: a\\nb: unknown key (expected one of: $schema, host, plugins, routes)");
  ASSERT_CONFIG_ERRORS ("escaped-keys.json",
                        ":1:18: k\xc3\xa9y\"q: unknown key (expected one of: $schema, host, plugins, routes)",
                        ":1:36: \xf0\x9f\x98\x80: unknown key (expected one of: $schema, host, plugins, routes)");
}

/* Neither plugin entry has a usable name, so routes[0].handler ("db.run")
 * is not checked against the instances: the list is not known. */
static void
test_config_wrong_types (void **state)
{
  ASSERT_CONFIG_ERRORS ("wrong-types.json",
                        ":2:3: $schema: expected a string, got 7",
                        ":4:5: host.workers: expected a non-negative integer, got \"4\"",
                        ":5:5: host.inbox_limit: expected a positive integer, got 0",
                        ":6:5: host.grace_ms: expected a non-negative integer, got -1",
                        ":7:5: host.slice_events: expected a positive integer, got 1.5",
                        ":8:5: host.emit_unhandled: expected true or false, got \"yes\"",
                        ":9:5: host.status_events: expected true or false, got null",
                        ":12:5: plugins[0]: expected an object, got \"db.so\"",
                        ":13:7: plugins[1].name: expected a non-empty string, got 12",
                        ":13:19: plugins[1].path: expected a non-empty string, got \"\"",
                        ":13:31: plugins[1].config: expected an object, got an array",
                        ":16:7: routes[0].on: expected a non-empty string, got 5",
                        ":16:37: routes[0].mode: expected one of \"sync\", \"async\", got 1",
                        ":16:48: routes[0].priority: expected an integer, got \"high\"",
                        ":16:68: routes[0].timeout_ms: expected at most 2147483647, got 5000000000",
                        ":17:39: routes[1].params: expected an object, got \"table=items\"");
}

static void
test_config_bad_overflow (void **state)
{
  ASSERT_CONFIG_ERRORS ("bad-overflow.json",
                        ":2:13: host.overflow: expected one of \"block\", \"reject\", \"drop-oldest\", "
                        "got \"drop-newest\"");
}

static void
test_config_bad_pattern (void **state)
{
  ASSERT_CONFIG_ERRORS ("bad-pattern.json",
                        ":4:7: routes[0].on: invalid pattern \"search..request\": empty segment 2",
                        ":5:7: routes[1].on: invalid pattern \"search.>.tail\": \">\" must be the last segment",
                        ":6:7: routes[2].on: invalid pattern \"Search.Request\": segment 1 \"Search\" "
                        "may hold only a-z 0-9 _ -");
}

static void
test_config_bad_filter_operator (void **state)
{
  ASSERT_CONFIG_ERRORS ("bad-filter-operator.json", ":9:9: routes[0].filter.size: unknown operator \"gtt\"");
}

static void
test_config_bad_regex (void **state)
{
  g_autoptr (GError) regex_error = NULL;
  g_autoptr (GRegex) regex = g_regex_new ("(unclosed", 0, 0, &regex_error);
  g_autofree char *expected = NULL;

  /* The tail is GLib's own message, which varies with its version and the
   * locale: take it from GLib rather than spell it here. */
  assert_null (regex);
  expected = g_strdup_printf (":4:75: routes[0].filter.query.regex: invalid regex \"(unclosed\": %s",
                              regex_error->message);
  ASSERT_CONFIG_ERRORS ("bad-regex.json", expected);
}

static void
test_config_bad_handler (void **state)
{
  ASSERT_CONFIG_ERRORS ("handler-without-dot.json",
                        ":4:20: routes[0].handler: expected \"instance.handler\", got \"dbrun\"",
                        ":5:20: routes[1].handler: expected \"instance.handler\", got \"db.run.now\"",
                        ":6:20: routes[2].handler: expected \"instance.handler\", got \".run\"");
}

static void
test_config_unknown_instance (void **state)
{
  ASSERT_CONFIG_ERRORS ("unknown-instance.json",
                        ":7:20: routes[0].handler: unknown plugin instance \"cache\" (declared: db, search)");
  ASSERT_CONFIG_ERRORS ("no-instances.json",
                        ":3:30: routes[0].handler: unknown plugin instance \"db\" (no plugins are declared)");
}

static void
test_config_instance_names (void **state)
{
  ASSERT_CONFIG_ERRORS ("duplicate-instance.json",
                        ":6:7: plugins[3].name: duplicate instance name \"db\" (first at plugins[1])");
  ASSERT_CONFIG_ERRORS ("bad-instance-name.json",
                        ":3:7: plugins[0].name: invalid instance name \"My DB\" (use only a-z, 0-9, \"_\" and \"-\")",
                        ":5:30: routes[0].handler: expected \"instance.handler\", got \"My DB.run\"");
}

static void
test_config_unset_env (void **state)
{
  /* host.overflow is reported once: "${...}" is not then also checked as a
   * policy name. */
  ASSERT_CONFIG_ERRORS ("unset-env.json",
                        ":2:13: host.overflow: environment variable \"EVB_TEST_UNSET_OVERFLOW\" is not set "
                        "(set it or write ${EVB_TEST_UNSET_OVERFLOW:-default})",
                        ":4:21: plugins[0].path: environment variable \"EVB_TEST_UNSET_DIR\" is not set "
                        "(set it or write ${EVB_TEST_UNSET_DIR:-default})",
                        ":4:88: plugins[0].config.list[1]: environment variable \"EVB_TEST_UNSET_ITEM\" is not set "
                        "(set it or write ${EVB_TEST_UNSET_ITEM:-default})");
  ASSERT_CONFIG_ERRORS ("unterminated-env.json",
                        ":3:21: plugins[0].path: unterminated \"${\" (close it with \"}\" or write $${ "
                        "for a literal \"${\")",
                        ":4:25: plugins[1].path: invalid reference \"${1DIR}\" (write ${NAME} or "
                        "${NAME:-default}, NAME made of letters, digits and \"_\")");
}

static void
test_config_max_concurrency_sync (void **state)
{
  ASSERT_CONFIG_ERRORS ("max-concurrency-sync.json",
                        ":4:41: routes[0].max_concurrency: only async routes take max_concurrency "
                        "(add \"mode\": \"async\")",
                        ":5:7: routes[1].max_concurrency: only async routes take max_concurrency "
                        "(add \"mode\": \"async\")");
}

static void
test_config_bad_on_failure (void **state)
{
  ASSERT_CONFIG_ERRORS ("bad-on-failure.json",
                        ":4:41: routes[0].on_failure: invalid event type \"a.*\": segment 2 may hold only a-z "
                        "0-9 _ -",
                        ":5:41: routes[1].on_failure: event type \"evbus.failure\" is reserved (types under "
                        "\"evbus.\" belong to the host)");
}

/* Every problem, in document order, though the checks run in another:
 * variables first, then top-level keys, host, plugins, routes. */
static void
test_config_many_errors (void **state)
{
  ASSERT_CONFIG_ERRORS ("many-errors.json",
                        ":3:7: routes[0].on: invalid pattern \"a..b\": empty segment 2",
                        ":3:42: routes[0].mode: expected one of \"sync\", \"async\", got \"parallel\"",
                        ":4:20: routes[1].handler: unknown plugin instance \"nowhere\" (declared: db)",
                        ":4:46: routes[1].timeout_ms: expected a non-negative integer, got -3",
                        ":6:13: host.workers: environment variable \"EVB_TEST_UNSET_WORKERS\" is not set "
                        "(set it or write ${EVB_TEST_UNSET_WORKERS:-default})",
                        ":6:53: host.threads: unknown key (expected one of: workers, inbox_limit, overflow, "
                        "inbox_overcommit, grace_ms, slice_events, emit_unhandled, status_events, "
                        "max_event_bytes, stall_ms)",
                        ":8:38: plugins[0].extra: unknown key (expected one of: name, path, config)",
                        ":10:3: version: unknown key (expected one of: $schema, host, plugins, routes)");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_doc_positions),
    cmocka_unit_test (test_doc_columns_are_characters),
    cmocka_unit_test (test_doc_escaped_keys),
    cmocka_unit_test (test_doc_unreadable),
    cmocka_unit_test (test_env_expansion),
    cmocka_unit_test (test_config_good),
    cmocka_unit_test (test_config_defaults),
    cmocka_unit_test (test_config_bad_json),
    cmocka_unit_test (test_config_duplicate_key),
    cmocka_unit_test (test_config_not_an_object),
    cmocka_unit_test (test_config_missing_plugins),
    cmocka_unit_test (test_config_missing_keys),
    cmocka_unit_test (test_config_unknown_keys),
    cmocka_unit_test (test_config_wrong_types),
    cmocka_unit_test (test_config_bad_overflow),
    cmocka_unit_test (test_config_bad_pattern),
    cmocka_unit_test (test_config_bad_filter_operator),
    cmocka_unit_test (test_config_bad_regex),
    cmocka_unit_test (test_config_bad_handler),
    cmocka_unit_test (test_config_unknown_instance),
    cmocka_unit_test (test_config_instance_names),
    cmocka_unit_test (test_config_unset_env),
    cmocka_unit_test (test_config_max_concurrency_sync),
    cmocka_unit_test (test_config_bad_on_failure),
    cmocka_unit_test (test_config_many_errors),
  };

  return cmocka_run_group_tests (tests, setup_environment, NULL);
}
