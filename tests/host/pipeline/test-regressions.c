/* Regressions: each test reproduces a problem the fuzz targets of
 * tests/fuzz found (their inputs are in tests/fuzz/corpus/ as regress-*),
 * fixed in the core, so that the plain test suite keeps it fixed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib/gstdio.h>

#include "config.h"
#include "json-doc.h"

/* A config file with @length bytes of @text, in a folder of its own. */
typedef struct {
  char *dir;
  char *file;
} TempConfig;

static void
temp_config_write (TempConfig *temp, const char *text, gsize length)
{
  temp->dir = g_dir_make_tmp ("evbus-regress-XXXXXX", NULL);
  assert_non_null (temp->dir);
  temp->file = g_build_filename (temp->dir, "pipeline.json", NULL);
  assert_true (g_file_set_contents (temp->file, text, (gssize) length, NULL));
}

static void
temp_config_remove (TempConfig *temp)
{
  g_unlink (temp->file);
  g_rmdir (temp->dir);
  g_free (temp->file);
  g_free (temp->dir);
}

/* fuzz-config, regress-nul-after-number.json: jansson 2.14 skips a NUL
 * byte after a number or a literal, so {"a": 1<NUL>} loaded, while the
 * position scanner stopped at the NUL (a g_warning, and positions lost for
 * everything after it).  A NUL byte is never valid JSON text: refused,
 * with its position. */
static void
test_nul_byte_in_text (void **state)
{
  static const char text[] = "{\n  \"host\": { \"workers\": 2\0 },\n  \"plugins\": []\n}\n";
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  TempConfig temp;
  EvbJsonDoc *doc;

  temp_config_write (&temp, text, sizeof text - 1);
  doc = evb_json_doc_load (temp.file, &error);
  assert_null (doc);
  assert_true (g_error_matches (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_PARSE));
  expected = g_strdup_printf ("%s:2:25: NUL byte in the text (not valid JSON)", temp.file);
  assert_string_equal (error->message, expected);

  assert_null (evb_config_load (temp.file, errors));
  assert_int_equal (errors->len, 1);
  assert_string_equal (g_ptr_array_index (errors, 0), expected);

  /* Also at the very start, and after a string (where jansson did refuse,
   * with a misleading "end of file"). */
  g_clear_error (&error);
  assert_true (g_file_set_contents (temp.file, "\0{}", 3, NULL));
  assert_null (evb_json_doc_load (temp.file, &error));
  g_free (expected);
  expected = g_strdup_printf ("%s:1:1: NUL byte in the text (not valid JSON)", temp.file);
  assert_string_equal (error->message, expected);
  g_clear_error (&error);
  assert_true (g_file_set_contents (temp.file, "[\"caf\xc3\xa9\"\0]", 10, NULL));
  assert_null (evb_json_doc_load (temp.file, &error));
  g_free (expected);
  expected = g_strdup_printf ("%s:1:8: NUL byte in the text (not valid JSON)", temp.file);
  assert_string_equal (error->message, expected);
  temp_config_remove (&temp);
}

/* fuzz-config, regress-cut-utf8-in-error.json: jansson's parse error
 * quotes the text "near" the error and may cut a multi-byte character in
 * two, so the error line was not valid UTF-8 (a lone 0xd1 here).  The cut
 * character now shows as U+FFFD. */
static void
test_error_line_is_utf8 (void **state)
{
  static const char text[] = "{\"plugins\": [], \"x\": \"req\\u00e\xd1\x99\xd1\x99\"}";
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *expected = NULL;
  TempConfig temp;

  temp_config_write (&temp, text, sizeof text - 1);
  assert_null (evb_config_load (temp.file, errors));
  assert_int_equal (errors->len, 1);
  expected = g_strdup_printf ("%s:1:31: invalid escape near '\"req\\u00e\xef\xbf\xbd'", temp.file);
  assert_string_equal (g_ptr_array_index (errors, 0), expected);
  assert_true (g_utf8_validate (g_ptr_array_index (errors, 0), -1, NULL));
  temp_config_remove (&temp);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_nul_byte_in_text),
    cmocka_unit_test (test_error_line_is_utf8),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
