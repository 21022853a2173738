/* sdk/evbus/json.h: reals printed in the fewest digits that read back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "evbus/json.h"

static void
assert_dumps (json_t *value, size_t flags, const char *expected)
{
  char *text = evb_json_dumps (value, flags);

  assert_non_null (text);
  assert_string_equal (text, expected);
  free (text);
  json_decref (value);
}

/* Prices as people write them come out as written (plain jansson: 17
 * digits, 24.989999999999998). */
static void
test_short_reals (void **state)
{
  assert_dumps (json_pack ("{s:f, s:f, s:f}", "a", 24.99, "b", 59.0, "c", 0.1), JSON_COMPACT | JSON_SORT_KEYS,
                "{\"a\":24.99,\"b\":59.0,\"c\":0.1}");
  assert_dumps (json_pack ("[f, f]", 19.99, -1e-7), JSON_COMPACT, "[19.99,-1e-7]");
}

/* A real that needs 17 digits gets them, and then so do the others:
 * nothing is lost. */
static void
test_long_reals_kept_exact (void **state)
{
  double sum = 0.1 + 0.2;
  json_t *value = json_pack ("[f, f]", sum, 24.99);
  char *text = evb_json_dumps (value, JSON_COMPACT);
  json_t *back = json_loads (text, 0, NULL);

  assert_string_equal (text, "[0.30000000000000004,24.989999999999998]");
  assert_true (json_real_value (json_array_get (back, 0)) == sum);
  assert_true (json_real_value (json_array_get (back, 1)) == 24.99);
  free (text);
  json_decref (back);
  json_decref (value);
}

/* Every digit count at its edge, and values that read back exactly whatever
 * the count. */
static void
test_reads_back (void **state)
{
  json_t *sum = json_real (0.1 + 0.2);

  assert_true (evb_json_real_reads_back (24.99, 15));
  assert_false (evb_json_real_reads_back (0.1 + 0.2, 16));
  assert_true (evb_json_real_reads_back (0.1 + 0.2, 17));
  assert_int_equal (evb_json_real_precision (sum) >> 11, 17);
  json_decref (sum);
  for (int i = 0; i < 1000; i++)
    {
      double number = g_random_double () * 1e6;
      json_t *value = json_real (number);
      char *text = evb_json_dumps (value, JSON_ENCODE_ANY);

      assert_true (g_ascii_strtod (text, NULL) == number);
      free (text);
      json_decref (value);
    }
}

/* No reals: the flags pass through; a JSON_REAL_PRECISION given is
 * replaced; NULL is NULL, as json_dumps has it. */
static void
test_flags (void **state)
{
  assert_dumps (json_pack ("{s:i, s:s, s:[b, n]}", "n", 3, "s", "x", "a", 1), JSON_COMPACT | JSON_SORT_KEYS,
                "{\"a\":[true,null],\"n\":3,\"s\":\"x\"}");
  assert_dumps (json_pack ("[f]", 24.99), JSON_COMPACT | JSON_REAL_PRECISION (3), "[24.99]");
  assert_dumps (json_pack ("{s:{s:[f]}}", "deep", "er", 1.5), JSON_INDENT (1),
                "{\n \"deep\": {\n  \"er\": [\n   1.5\n  ]\n }\n}");
  assert_int_equal (evb_json_real_precision (NULL), 0);
  assert_null (evb_json_dumps (NULL, 0));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_short_reals),
    cmocka_unit_test (test_long_reals_kept_exact),
    cmocka_unit_test (test_reads_back),
    cmocka_unit_test (test_flags),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
