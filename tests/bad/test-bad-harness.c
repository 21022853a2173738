/* The settings and route cases of the bad-input matrix (cases.tsv), run
 * through the harness instead of `evbus check`: the harness reads settings
 * and routes with the pipeline's own readers, so each case must fail with
 * the same words, without the file position and the config's prefix:
 *
 *   evbus check:  workers-million.json:2:13: host.workers: expected at most 1024 ...
 *   the harness:  workers: expected at most 1024 ...
 *
 * A case applies when evbus exits 2 with one line naming "host.KEY" or
 * "routes[N].KEY", from a file of cases/ as it is (no setup step, no
 * computed text, no variables).  Its plugins are loaded into the harness
 * first, found as `evbus` finds them ($EVBUS_PLUGIN_PATH).  Every case
 * that applies is counted; the test fails if none does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bad-cases.h"
#include "evbus/harness.h"
#include "plugin-module.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)

#define CASES_DIR EVB_TEST_SOURCE_DIR "/cases"
#define CASES_TSV EVB_TEST_SOURCE_DIR "/cases.tsv"

typedef struct {
  char *file;     /* cases/NAME */
  char *path;     /* "host.workers", "routes[0].priority" */
  char *message;  /* what follows "PATH: " */
  guint line;     /* in cases.tsv */
} HarnessCase;

static void
harness_case_free (gpointer data)
{
  HarnessCase *item = data;

  g_free (item->file);
  g_free (item->path);
  g_free (item->message);
  g_free (item);
}

/* "NAME:L:C: PATH: message" -> PATH and message, when PATH is one the
 * harness reads. */
static gboolean
split_error_line (const char *line, char **path, char **message)
{
  g_autoptr (GRegex) regex = g_regex_new ("^[^:]+:[0-9]+:[0-9]+: ((host|routes\\[[0-9]+\\])\\.[^ :]+): (.*)$", 0, 0,
                                          NULL);
  g_autoptr (GMatchInfo) match = NULL;

  if (!g_regex_match (regex, line, 0, &match))
    return FALSE;
  *path = g_match_info_fetch (match, 1);
  *message = g_match_info_fetch (match, 3);
  return TRUE;
}

/* The cases that apply (see the top of this file), with @REGEX()@ and
 * @REPEAT()@ computed.  A line the config file had to cut ("[... N bytes
 * ...]") is left out: the cut is the file's error-line format, not the
 * message. */
static GPtrArray *
read_harness_cases (void)
{
  g_autoptr (GPtrArray) all = bad_cases_read (CASES_TSV);
  GPtrArray *cases = g_ptr_array_new_with_free_func (harness_case_free);

  for (guint i = 0; i < all->len; i++)
    {
      const BadCase *bad = g_ptr_array_index (all, i);
      g_autoptr (GString) expected = g_string_new (bad->expected);
      g_autofree char *file = NULL;
      g_autofree char *raw = NULL;
      HarnessCase *item;
      char *path, *message;

      if (strcmp (bad->setup, "-") != 0 || bad->exit_status != 2 || strchr (bad->expected, '\n') != NULL)
        continue;
      bad_cases_replace_calls (expected, "REGEX", bad_cases_regex_error);
      bad_cases_replace_calls (expected, "REPEAT", bad_cases_repeat);
      if (strchr (expected->str, '@') != NULL || strstr (expected->str, "[... ") != NULL)
        continue;
      file = g_build_filename (CASES_DIR, bad->name, NULL);
      if (!g_file_get_contents (file, &raw, NULL, NULL) || strstr (raw, "${") != NULL)
        continue;
      if (!split_error_line (expected->str, &path, &message))
        continue;
      item = g_new0 (HarnessCase, 1);
      item->file = g_steal_pointer (&file);
      item->path = path;
      item->message = message;
      item->line = bad->line;
      g_ptr_array_add (cases, item);
    }
  return cases;
}

/* What the harness says of @item's file: the error of new_with_settings
 * for a "host." case, of add_route for a "routes[N]." case. */
static char *
harness_error (const HarnessCase *item, guint *route_index)
{
  g_autoptr (json_t) root = json_load_file (item->file, 0, NULL);
  g_autoptr (GError) error = NULL;
  EvbHarness *harness;
  json_t *plugin, *route;
  size_t index;
  char *message;

  assert_non_null (root);
  if (g_str_has_prefix (item->path, "host."))
    {
      g_autofree char *settings = json_dumps (json_object_get (root, "host"), JSON_ENCODE_ANY);

      assert_null (evb_harness_new_with_settings (settings, &error));
      assert_non_null (error);
      return g_strdup (error->message);
    }

  harness = evb_harness_new ();
  json_array_foreach (json_object_get (root, "plugins"), index, plugin)
    {
      g_autofree char *dir = g_path_get_dirname (item->file);
      g_autofree char *found = evb_plugin_find (json_string_value (json_object_get (plugin, "path")), dir, &error);
      g_autofree char *config = json_object_get (plugin, "config") != NULL
                                  ? json_dumps (json_object_get (plugin, "config"), 0) : NULL;

      assert_non_null (found);
      assert_true (evb_harness_add_plugin_file (harness, json_string_value (json_object_get (plugin, "name")),
                                                found, config, &error));
    }
  *route_index = (guint) g_ascii_strtoull (item->path + strlen ("routes["), NULL, 10);
  route = json_array_get (json_object_get (root, "routes"), *route_index);
  assert_non_null (route);
  {
    g_autoptr (json_t) options = json_deep_copy (route);
    g_autofree char *options_json = NULL;

    json_object_del (options, "on");
    json_object_del (options, "handler");
    options_json = json_dumps (options, 0);
    assert_int_equal (evb_harness_add_route (harness, json_string_value (json_object_get (route, "on")),
                                             json_string_value (json_object_get (route, "handler")), options_json,
                                             &error), 0);
  }
  assert_non_null (error);
  message = g_strdup (error->message);
  evb_harness_free (harness);
  return message;
}

static void
test_harness_words_as_check (void **state)
{
  g_autoptr (GPtrArray) cases = read_harness_cases ();
  guint failed = 0;
  guint regex_cases = 0;

  for (guint i = 0; i < cases->len; i++)
    {
      const HarnessCase *item = g_ptr_array_index (cases, i);
      guint route_index = 0;
      g_autofree char *got = harness_error (item, &route_index);
      const char *key = strchr (item->path, '.') + 1;
      g_autofree char *expected = g_strdup_printf ("%s: %s", key, item->message);

      regex_cases += strstr (item->message, "invalid regex") != NULL;
      if (g_strcmp0 (got, expected) != 0)
        {
          print_error ("cases.tsv:%u (%s): the harness says\n  %s\nwhere evbus check says\n  %s\n", item->line,
                       item->path, got, expected);
          failed++;
        }
    }
  print_message ("%u settings and route cases of cases.tsv run through the harness\n", cases->len);
  /* The matrix's settings and route cases, the filters' regexes among them:
   * a reader that skipped them all would pass with nothing checked. */
  assert_true (cases->len >= 20);
  assert_true (regex_cases >= 2);
  assert_int_equal (failed, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_harness_words_as_check),
  };

  g_setenv ("EVBUS_PLUGIN_PATH", EVB_TEST_PLUGIN_DIR, TRUE);
  g_setenv ("EVB_TEST_PLUGINS", EVB_TEST_MODULE_DIR, TRUE);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
