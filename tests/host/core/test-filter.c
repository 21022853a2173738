/* Tests for host/filter.c: every operator (true, false, missing field,
 * wrong-typed value), dotted paths, numeric equality, the combinators at
 * filter and condition level, every compile error with its exact message
 * and path, one filter matched from several threads at once, a regex that
 * hits its match limit, and evb_filter_explain's exact reasons (every
 * match case above is also explained, and must agree). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "filter.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)

/* ---- helpers ---------------------------------------------------------- */

static json_t *
parse_json (const char *text)
{
  json_error_t parse_error;
  json_t *json = json_loads (text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &parse_error);

  if (json == NULL)
    fail_msg ("test bug: bad JSON %s: %s", text, parse_error.text);
  return json;
}

static EvbFilter *
compile_or_fail (const char *spec_text)
{
  g_autoptr(json_t) spec = parse_json (spec_text);
  g_autoptr(GError) error = NULL;
  g_autofree char *error_path = NULL;
  EvbFilter *filter = evb_filter_compile (spec, "filter", &error_path, &error);

  if (filter == NULL)
    fail_msg ("%s does not compile: %s: %s", spec_text, error_path, error->message);
  assert_null (error_path);
  return filter;
}

typedef struct {
  const char *filter;
  const char *data;  /* JSON text; NULL: match against NULL data */
  gboolean expected;
} MatchCase;

static void
check_match_cases (const MatchCase *cases, gsize n_cases)
{
  for (gsize i = 0; i < n_cases; i++)
    {
      g_autoptr(EvbFilter) filter = compile_or_fail (cases[i].filter);
      g_autoptr(json_t) data = cases[i].data != NULL ? parse_json (cases[i].data) : NULL;
      gboolean matched = evb_filter_match (filter, data);
      g_autofree char *reason = NULL;

      if (matched != cases[i].expected)
        fail_msg ("case %" G_GSIZE_FORMAT ": filter %s on data %s: expected %s, got %s", i,
                  cases[i].filter, cases[i].data != NULL ? cases[i].data : "NULL",
                  cases[i].expected ? "match" : "no match", matched ? "match" : "no match");

      /* Explaining is the same evaluation: same answer, and a reason
       * exactly when it fails. */
      if (evb_filter_explain (filter, data, &reason) != matched || (reason == NULL) != matched)
        fail_msg ("case %" G_GSIZE_FORMAT ": filter %s on data %s: evb_filter_explain says %s",
                  i, cases[i].filter, cases[i].data != NULL ? cases[i].data : "NULL",
                  reason != NULL ? reason : "match");
    }
}

#define CHECK_MATCH_CASES(cases) check_match_cases (cases, G_N_ELEMENTS (cases))

typedef struct {
  const char *filter;
  const char *root;       /* path given to evb_filter_compile () */
  const char *message;    /* exact GError message */
  const char *error_path; /* exact error path */
} ErrorCase;

static void
check_error_cases (const ErrorCase *cases, gsize n_cases)
{
  for (gsize i = 0; i < n_cases; i++)
    {
      g_autoptr(json_t) spec = parse_json (cases[i].filter);
      g_autoptr(GError) error = NULL;
      g_autofree char *error_path = NULL;
      g_autoptr(EvbFilter) filter = evb_filter_compile (spec, cases[i].root, &error_path, &error);

      if (filter != NULL)
        fail_msg ("case %" G_GSIZE_FORMAT ": %s compiled, expected `%s`", i, cases[i].filter,
                  cases[i].message);
      if (!g_error_matches (error, EVB_FILTER_ERROR, EVB_FILTER_ERROR_INVALID) ||
          strcmp (error->message, cases[i].message) != 0 ||
          g_strcmp0 (error_path, cases[i].error_path) != 0)
        fail_msg ("case %" G_GSIZE_FORMAT ": %s: expected %s: %s (INVALID), got %s: %s (%s %d)", i,
                  cases[i].filter, cases[i].error_path, cases[i].message, error_path,
                  error->message, g_quark_to_string (error->domain), error->code);
    }
}

#define CHECK_ERROR_CASES(cases) check_error_cases (cases, G_N_ELEMENTS (cases))

/* ---- equality --------------------------------------------------------- */

static void
test_literal_equality (void **state)
{
  static const MatchCase cases[] = {
    /* string */
    { "{\"s\": \"x\"}", "{\"s\": \"x\"}", TRUE },
    { "{\"s\": \"x\"}", "{\"s\": \"y\"}", FALSE },
    { "{\"s\": \"x\"}", "{}", FALSE },
    { "{\"s\": \"1\"}", "{\"s\": 1}", FALSE },
    { "{\"s\": \"\"}", "{\"s\": \"\"}", TRUE },
    /* bool */
    { "{\"b\": true}", "{\"b\": true}", TRUE },
    { "{\"b\": true}", "{\"b\": false}", FALSE },
    { "{\"b\": true}", "{\"b\": 1}", FALSE },
    { "{\"b\": false}", "{\"b\": false}", TRUE },
    { "{\"b\": false}", "{\"b\": null}", FALSE },
    { "{\"b\": false}", "{}", FALSE },
    /* null: a missing field is not null */
    { "{\"n\": null}", "{\"n\": null}", TRUE },
    { "{\"n\": null}", "{\"n\": 0}", FALSE },
    { "{\"n\": null}", "{}", FALSE },
    /* array: whole-value equality, order matters, not membership */
    { "{\"a\": [1, \"x\"]}", "{\"a\": [1, \"x\"]}", TRUE },
    { "{\"a\": [1, \"x\"]}", "{\"a\": [\"x\", 1]}", FALSE },
    { "{\"a\": [1]}", "{\"a\": [1, 2]}", FALSE },
    { "{\"a\": [1]}", "{\"a\": 1}", FALSE },
    { "{\"a\": []}", "{\"a\": []}", TRUE },
    { "{\"a\": []}", "{}", FALSE },
    /* object literals go through "eq" */
    { "{\"o\": {\"eq\": {\"a\": 1, \"b\": [true]}}}", "{\"o\": {\"b\": [true], \"a\": 1}}", TRUE },
    { "{\"o\": {\"eq\": {\"a\": 1, \"b\": [true]}}}", "{\"o\": {\"a\": 1}}", FALSE },
    { "{\"o\": {\"eq\": {\"a\": 1}}}", "{\"o\": {\"a\": 1, \"c\": 0}}", FALSE },
    { "{\"o\": {\"eq\": {\"a\": 1}}}", "{\"o\": {\"b\": 1}}", FALSE },
    { "{\"o\": {\"eq\": {}}}", "{\"o\": {}}", TRUE },
    { "{\"o\": {\"eq\": {}}}", "{\"o\": []}", FALSE },
  };

  CHECK_MATCH_CASES (cases);
}

static void
test_numeric_equality (void **state)
{
  static const MatchCase cases[] = {
    { "{\"i\": 1}", "{\"i\": 1}", TRUE },
    { "{\"i\": 1}", "{\"i\": 1.0}", TRUE },
    { "{\"i\": 1.0}", "{\"i\": 1}", TRUE },
    { "{\"i\": 1}", "{\"i\": 1.5}", FALSE },
    { "{\"i\": 2.5}", "{\"i\": 2.5}", TRUE },
    { "{\"i\": 0}", "{\"i\": -0.0}", TRUE },
    { "{\"i\": -3}", "{\"i\": -3.0}", TRUE },
    { "{\"i\": -3}", "{\"i\": -3.5}", FALSE },
    { "{\"i\": 1}", "{\"i\": true}", FALSE },
    { "{\"i\": 1}", "{\"i\": \"1\"}", FALSE },
    /* exact beyond 2^53, where doubles cannot tell neighbours apart */
    { "{\"i\": 9007199254740992}", "{\"i\": 9007199254740992.0}", TRUE },
    { "{\"i\": 9007199254740993}", "{\"i\": 9007199254740992.0}", FALSE },
    { "{\"i\": 9223372036854775807}", "{\"i\": 9223372036854775808.0}", FALSE },
    { "{\"i\": -9223372036854775807}", "{\"i\": -9223372036854775808.0}", FALSE },
    /* numbers compare by value inside arrays and objects too */
    { "{\"a\": [1, 2.0]}", "{\"a\": [1.0, 2]}", TRUE },
    { "{\"o\": {\"eq\": {\"n\": [1]}}}", "{\"o\": {\"n\": [1.0]}}", TRUE },
  };

  CHECK_MATCH_CASES (cases);
}

static void
test_eq_ne (void **state)
{
  static const MatchCase cases[] = {
    { "{\"s\": {\"eq\": \"x\"}}", "{\"s\": \"x\"}", TRUE },
    { "{\"s\": {\"eq\": \"x\"}}", "{\"s\": \"y\"}", FALSE },
    { "{\"s\": {\"eq\": \"x\"}}", "{}", FALSE },
    { "{\"s\": {\"eq\": \"x\"}}", "{\"s\": [\"x\"]}", FALSE },
    { "{\"s\": {\"eq\": [1, 2]}}", "{\"s\": [1, 2]}", TRUE },
    { "{\"s\": {\"eq\": null}}", "{\"s\": null}", TRUE },
    { "{\"s\": {\"ne\": \"x\"}}", "{\"s\": \"y\"}", TRUE },
    { "{\"s\": {\"ne\": \"x\"}}", "{\"s\": \"x\"}", FALSE },
    { "{\"s\": {\"ne\": \"x\"}}", "{}", FALSE },           /* needs the field */
    { "{\"s\": {\"ne\": \"x\"}}", "{\"s\": 1}", TRUE },    /* another type differs */
    { "{\"s\": {\"ne\": \"x\"}}", "{\"s\": null}", TRUE },
    { "{\"i\": {\"ne\": 1}}", "{\"i\": 1.0}", FALSE },
    { "{\"i\": {\"ne\": 1}}", "{\"i\": 2}", TRUE },
    { "{\"o\": {\"ne\": {\"a\": 1}}}", "{\"o\": {\"a\": 2}}", TRUE },
    { "{\"o\": {\"ne\": {\"a\": 1}}}", "{\"o\": {\"a\": 1.0}}", FALSE },
  };

  CHECK_MATCH_CASES (cases);
}

/* ---- ordering --------------------------------------------------------- */

static void
test_ordering_numbers (void **state)
{
  static const MatchCase cases[] = {
    { "{\"n\": {\"lt\": 5}}", "{\"n\": 4}", TRUE },
    { "{\"n\": {\"lt\": 5}}", "{\"n\": 4.5}", TRUE },
    { "{\"n\": {\"lt\": 5}}", "{\"n\": 5}", FALSE },
    { "{\"n\": {\"lt\": 5}}", "{\"n\": 5.0}", FALSE },
    { "{\"n\": {\"lt\": 5}}", "{}", FALSE },
    { "{\"n\": {\"lt\": 5}}", "{\"n\": \"4\"}", FALSE },
    { "{\"n\": {\"lt\": 5}}", "{\"n\": null}", FALSE },
    { "{\"n\": {\"lt\": 5}}", "{\"n\": [4]}", FALSE },
    { "{\"n\": {\"le\": 5}}", "{\"n\": 5}", TRUE },
    { "{\"n\": {\"le\": 5}}", "{\"n\": 5.0}", TRUE },
    { "{\"n\": {\"le\": 5}}", "{\"n\": 5.5}", FALSE },
    { "{\"n\": {\"le\": 5}}", "{}", FALSE },
    { "{\"n\": {\"le\": 5}}", "{\"n\": false}", FALSE },
    { "{\"n\": {\"gt\": 5}}", "{\"n\": 6}", TRUE },
    { "{\"n\": {\"gt\": 5}}", "{\"n\": 5.000001}", TRUE },
    { "{\"n\": {\"gt\": 5}}", "{\"n\": 5}", FALSE },
    { "{\"n\": {\"gt\": 5}}", "{}", FALSE },
    { "{\"n\": {\"gt\": 5}}", "{\"n\": \"6\"}", FALSE },
    { "{\"n\": {\"gt\": 5}}", "{\"n\": true}", FALSE },
    { "{\"n\": {\"ge\": 5}}", "{\"n\": 5}", TRUE },
    { "{\"n\": {\"ge\": 5}}", "{\"n\": 4.999}", FALSE },
    { "{\"n\": {\"ge\": 5}}", "{}", FALSE },
    { "{\"n\": {\"ge\": 5}}", "{\"n\": {\"v\": 6}}", FALSE },
    /* real operands, negative numbers, beyond 2^53 */
    { "{\"n\": {\"gt\": 1.5}}", "{\"n\": 2}", TRUE },
    { "{\"n\": {\"gt\": 1.5}}", "{\"n\": 1}", FALSE },
    { "{\"n\": {\"lt\": -1.5}}", "{\"n\": -2}", TRUE },
    { "{\"n\": {\"lt\": -1.5}}", "{\"n\": -1}", FALSE },
    { "{\"n\": {\"gt\": 9007199254740992.0}}", "{\"n\": 9007199254740993}", TRUE },
    { "{\"n\": {\"lt\": 9223372036854775807}}", "{\"n\": 1e300}", FALSE },
    { "{\"n\": {\"gt\": -9223372036854775807}}", "{\"n\": -1e300}", FALSE },
    /* a range is two operators on the same field */
    { "{\"n\": {\"ge\": 1, \"lt\": 10}}", "{\"n\": 1}", TRUE },
    { "{\"n\": {\"ge\": 1, \"lt\": 10}}", "{\"n\": 10}", FALSE },
    { "{\"n\": {\"ge\": 1, \"lt\": 10}}", "{\"n\": 0}", FALSE },
  };

  CHECK_MATCH_CASES (cases);
}

static void
test_ordering_strings (void **state)
{
  static const MatchCase cases[] = {
    { "{\"s\": {\"lt\": \"b\"}}", "{\"s\": \"a\"}", TRUE },
    { "{\"s\": {\"lt\": \"b\"}}", "{\"s\": \"ab\"}", TRUE },
    { "{\"s\": {\"lt\": \"b\"}}", "{\"s\": \"b\"}", FALSE },
    { "{\"s\": {\"lt\": \"b\"}}", "{\"s\": \"ba\"}", FALSE },
    { "{\"s\": {\"lt\": \"b\"}}", "{\"s\": \"\"}", TRUE },
    { "{\"s\": {\"lt\": \"b\"}}", "{}", FALSE },
    { "{\"s\": {\"lt\": \"b\"}}", "{\"s\": 1}", FALSE },
    { "{\"s\": {\"le\": \"b\"}}", "{\"s\": \"b\"}", TRUE },
    { "{\"s\": {\"le\": \"b\"}}", "{\"s\": \"b0\"}", FALSE },
    { "{\"s\": {\"gt\": \"b\"}}", "{\"s\": \"ba\"}", TRUE },
    { "{\"s\": {\"gt\": \"b\"}}", "{\"s\": \"B\"}", FALSE }, /* byte order, like strcmp */
    { "{\"s\": {\"gt\": \"b\"}}", "{\"s\": \"\\u00e9\"}", TRUE },
    { "{\"s\": {\"gt\": \"b\"}}", "{\"s\": 5}", FALSE },
    { "{\"s\": {\"gt\": \"b\"}}", "{}", FALSE },
    { "{\"s\": {\"ge\": \"b\"}}", "{\"s\": \"b\"}", TRUE },
    { "{\"s\": {\"ge\": \"b\"}}", "{\"s\": \"a\"}", FALSE },
    { "{\"s\": {\"ge\": \"b\"}}", "{\"s\": [\"c\"]}", FALSE },
    { "{\"d\": {\"ge\": \"2024-01-01\", \"lt\": \"2025-01-01\"}}", "{\"d\": \"2024-06-30\"}", TRUE },
    { "{\"d\": {\"ge\": \"2024-01-01\", \"lt\": \"2025-01-01\"}}", "{\"d\": \"2025-01-01\"}", FALSE },
  };

  CHECK_MATCH_CASES (cases);
}

/* ---- in, exists, prefix, glob, regex ---------------------------------- */

static void
test_in (void **state)
{
  static const MatchCase cases[] = {
    { "{\"c\": {\"in\": [\"red\", \"green\"]}}", "{\"c\": \"red\"}", TRUE },
    { "{\"c\": {\"in\": [\"red\", \"green\"]}}", "{\"c\": \"green\"}", TRUE },
    { "{\"c\": {\"in\": [\"red\", \"green\"]}}", "{\"c\": \"blue\"}", FALSE },
    { "{\"c\": {\"in\": [\"red\", \"green\"]}}", "{}", FALSE },
    { "{\"c\": {\"in\": [\"red\", \"green\"]}}", "{\"c\": [\"red\"]}", FALSE },
    { "{\"c\": {\"in\": [1, 2]}}", "{\"c\": 2.0}", TRUE },
    { "{\"c\": {\"in\": [1, 2]}}", "{\"c\": 3}", FALSE },
    { "{\"c\": {\"in\": [1, 2]}}", "{\"c\": \"1\"}", FALSE },
    { "{\"c\": {\"in\": [[1], null]}}", "{\"c\": [1]}", TRUE },
    { "{\"c\": {\"in\": [[1], null]}}", "{\"c\": null}", TRUE },
    { "{\"c\": {\"in\": [[1], null]}}", "{\"c\": 1}", FALSE },
    { "{\"c\": {\"in\": []}}", "{\"c\": 1}", FALSE },
  };

  CHECK_MATCH_CASES (cases);
}

/* "in" is a hash set (issue 15, finding 7): it must say what comparing
 * with each element says.  Numbers by value (1 == 1.0 == -0.0 + 1, also
 * inside arrays and objects), never a number for a string, integers and
 * reals beyond 2^53 exactly, objects whatever their members' order,
 * strings by all their bytes. */
static void
test_in_as_set (void **state)
{
  static const MatchCase cases[] = {
    { "{\"c\": {\"in\": [1.0, 2.5]}}", "{\"c\": 1}", TRUE },
    { "{\"c\": {\"in\": [1.0, 2.5]}}", "{\"c\": 2.5}", TRUE },
    { "{\"c\": {\"in\": [1.0, 2.5]}}", "{\"c\": 2}", FALSE },
    { "{\"c\": {\"in\": [0]}}", "{\"c\": -0.0}", TRUE },
    { "{\"c\": {\"in\": [-0.0]}}", "{\"c\": 0}", TRUE },
    { "{\"c\": {\"in\": [9007199254740992.0]}}", "{\"c\": 9007199254740993}", FALSE },
    { "{\"c\": {\"in\": [9007199254740992.0]}}", "{\"c\": 9007199254740992}", TRUE },
    { "{\"c\": {\"in\": [9223372036854775807]}}", "{\"c\": 9223372036854775807}", TRUE },
    { "{\"c\": {\"in\": [9223372036854775807]}}", "{\"c\": 9223372036854775808.0}", FALSE },
    { "{\"c\": {\"in\": [1e300]}}", "{\"c\": 1e300}", TRUE },
    { "{\"c\": {\"in\": [-9223372036854775808]}}", "{\"c\": -9223372036854775808.0}", TRUE },
    { "{\"c\": {\"in\": [\"1\", true]}}", "{\"c\": 1}", FALSE },
    { "{\"c\": {\"in\": [\"1\", true]}}", "{\"c\": true}", TRUE },
    { "{\"c\": {\"in\": [\"1\", true]}}", "{\"c\": false}", FALSE },
    { "{\"c\": {\"in\": [\"a\\u0000b\"]}}", "{\"c\": \"a\"}", FALSE },
    { "{\"c\": {\"in\": [\"a\\u0000b\"]}}", "{\"c\": \"a\\u0000b\"}", TRUE },
    { "{\"c\": {\"in\": [[1.0, \"x\"]]}}", "{\"c\": [1, \"x\"]}", TRUE },
    { "{\"c\": {\"in\": [[1.0, \"x\"]]}}", "{\"c\": [\"x\", 1]}", FALSE },
    { "{\"c\": {\"in\": [{\"a\": 1, \"b\": [2]}]}}", "{\"c\": {\"b\": [2.0], \"a\": 1.0}}", TRUE },
    { "{\"c\": {\"in\": [{\"a\": 1, \"b\": [2]}]}}", "{\"c\": {\"a\": 1}}", FALSE },
    { "{\"c\": {\"in\": [{}]}}", "{\"c\": {}}", TRUE },
    { "{\"c\": {\"in\": [{}]}}", "{\"c\": []}", FALSE },
    { "{\"c\": {\"in\": [1, 1, 1.0]}}", "{\"c\": 1}", TRUE },
    { "{\"c\": {\"not\": {\"in\": [1, 2]}}}", "{\"c\": 2.0}", FALSE },
  };

  CHECK_MATCH_CASES (cases);
}

/* A set of 200,000: every member is found, and nothing else. */
static void
test_in_large (void **state)
{
  g_autoptr(json_t) members = json_array ();
  g_autoptr(json_t) spec = NULL;
  g_autoptr(EvbFilter) filter = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *error_path = NULL;

  for (gint i = 0; i < 100000; i++)
    {
      char text[32];

      g_snprintf (text, sizeof text, "user-%d", i);
      json_array_append_new (members, json_integer (i * 3));
      json_array_append_new (members, json_string (text));
    }
  spec = json_pack ("{s{sO}}", "c", "in", members);
  filter = evb_filter_compile (spec, "filter", &error_path, &error);
  assert_non_null (filter);
  for (gint i = 0; i < 300000; i += 7)
    {
      g_autoptr(json_t) number = json_pack ("{sf}", "c", (double) i);
      g_autoptr(json_t) name = json_pack ("{so}", "c", json_sprintf ("user-%d", i));

      assert_int_equal (evb_filter_match (filter, number), i % 3 == 0);
      assert_int_equal (evb_filter_match (filter, name), i < 100000);
    }
}

static void
test_exists (void **state)
{
  static const MatchCase cases[] = {
    { "{\"x\": {\"exists\": true}}", "{\"x\": 0}", TRUE },
    { "{\"x\": {\"exists\": true}}", "{\"x\": null}", TRUE }, /* present, even if null */
    { "{\"x\": {\"exists\": true}}", "{}", FALSE },
    { "{\"x\": {\"exists\": true}}", NULL, FALSE },
    { "{\"x\": {\"exists\": false}}", "{}", TRUE },
    { "{\"x\": {\"exists\": false}}", NULL, TRUE },
    { "{\"x\": {\"exists\": false}}", "{\"x\": null}", FALSE },
    { "{\"x\": {\"exists\": false}}", "{\"x\": false}", FALSE },
    /* a non-object on the way means missing */
    { "{\"a.b\": {\"exists\": false}}", "{\"a\": 1}", TRUE },
    { "{\"a.b\": {\"exists\": false}}", "{\"a\": [{\"b\": 1}]}", TRUE },
    { "{\"a.b\": {\"exists\": false}}", "{\"a\": {}}", TRUE },
    { "{\"a.b\": {\"exists\": false}}", "{\"a\": {\"b\": 1}}", FALSE },
    { "{\"a.b\": {\"exists\": true}}", "{\"a\": {\"b\": 1}}", TRUE },
    { "{\"a.b\": {\"exists\": true}}", "{\"a\": \"b\"}", FALSE },
  };

  CHECK_MATCH_CASES (cases);
}

static void
test_prefix (void **state)
{
  static const MatchCase cases[] = {
    { "{\"s\": {\"prefix\": \"ab\"}}", "{\"s\": \"abc\"}", TRUE },
    { "{\"s\": {\"prefix\": \"ab\"}}", "{\"s\": \"ab\"}", TRUE },
    { "{\"s\": {\"prefix\": \"ab\"}}", "{\"s\": \"a\"}", FALSE },
    { "{\"s\": {\"prefix\": \"ab\"}}", "{\"s\": \"xab\"}", FALSE },
    { "{\"s\": {\"prefix\": \"ab\"}}", "{\"s\": \"Abc\"}", FALSE },
    { "{\"s\": {\"prefix\": \"ab\"}}", "{}", FALSE },
    { "{\"s\": {\"prefix\": \"ab\"}}", "{\"s\": [\"abc\"]}", FALSE },
    { "{\"s\": {\"prefix\": \"12\"}}", "{\"s\": 123}", FALSE },
    { "{\"s\": {\"prefix\": \"\"}}", "{\"s\": \"\"}", TRUE },
    { "{\"s\": {\"prefix\": \"\"}}", "{\"s\": \"x\"}", TRUE },
    { "{\"s\": {\"prefix\": \"\"}}", "{\"s\": null}", FALSE },
    { "{\"s\": {\"prefix\": \"caf\\u00e9\"}}", "{\"s\": \"caf\\u00e9 au lait\"}", TRUE },
    { "{\"s\": {\"prefix\": \"a\\u0000b\"}}", "{\"s\": \"a\\u0000bc\"}", TRUE },
    { "{\"s\": {\"prefix\": \"a\\u0000b\"}}", "{\"s\": \"a\\u0000c\"}", FALSE },
  };

  CHECK_MATCH_CASES (cases);
}

static void
test_glob (void **state)
{
  static const MatchCase cases[] = {
    { "{\"f\": {\"glob\": \"*.txt\"}}", "{\"f\": \"a.txt\"}", TRUE },
    { "{\"f\": {\"glob\": \"*.txt\"}}", "{\"f\": \".txt\"}", TRUE },
    { "{\"f\": {\"glob\": \"*.txt\"}}", "{\"f\": \"a.txt.gz\"}", FALSE },
    { "{\"f\": {\"glob\": \"*.txt\"}}", "{}", FALSE },
    { "{\"f\": {\"glob\": \"*.txt\"}}", "{\"f\": [\"a.txt\"]}", FALSE },
    { "{\"f\": {\"glob\": \"*\"}}", "{\"f\": \"\"}", TRUE },
    { "{\"f\": {\"glob\": \"*\"}}", "{\"f\": 1}", FALSE },
    { "{\"f\": {\"glob\": \"a?c\"}}", "{\"f\": \"abc\"}", TRUE },
    { "{\"f\": {\"glob\": \"a?c\"}}", "{\"f\": \"a\\u00e9c\"}", TRUE }, /* ? is a character */
    { "{\"f\": {\"glob\": \"a?c\"}}", "{\"f\": \"ac\"}", FALSE },
    { "{\"f\": {\"glob\": \"a?c\"}}", "{\"f\": \"abbc\"}", FALSE },
    { "{\"f\": {\"glob\": \"a*b*c\"}}", "{\"f\": \"aXbYc\"}", TRUE },
    { "{\"f\": {\"glob\": \"a*b*c\"}}", "{\"f\": \"abc\"}", TRUE },
    { "{\"f\": {\"glob\": \"a*b*c\"}}", "{\"f\": \"acb\"}", FALSE },
    { "{\"f\": {\"glob\": \"abc\"}}", "{\"f\": \"abc\"}", TRUE },
    { "{\"f\": {\"glob\": \"abc\"}}", "{\"f\": \"abcd\"}", FALSE },
    { "{\"f\": {\"glob\": \"[ab]\"}}", "{\"f\": \"[ab]\"}", TRUE }, /* no classes: literal */
    { "{\"f\": {\"glob\": \"[ab]\"}}", "{\"f\": \"a\"}", FALSE },
    { "{\"f\": {\"glob\": \"a*c\"}}", "{\"f\": \"a\\u0000bc\"}", TRUE }, /* NUL is a character */
    { "{\"f\": {\"glob\": \"a?c\"}}", "{\"f\": \"a\\u0000c\"}", TRUE },
  };

  CHECK_MATCH_CASES (cases);
}

/* "glob" promises GPatternSpec semantics: check it agrees with GLib on a
 * grid of patterns and strings, including multi-byte characters and the
 * pattern shapes GPatternSpec treats specially (head, tail, reversed). */
static void
test_glob_agrees_with_gpatternspec (void **state)
{
  static const char *const patterns[] = {
    "", "*", "**", "?", "??", "*?", "?*", "a", "a*", "*a", "*a*", "a*a", "a?a", "*?a", "a?*",
    "ab*cd", "*ab?", "?b*d*", "*b*b*", "a*?*b", "\u00e9*", "*\u00e9", "?\u00e9?", "*.*",
  };
  static const char *const strings[] = {
    "", "a", "aa", "aaa", "ab", "ba", "abcd", "abxcd", "abbb", "bab", "abab", "a.b", ".",
    "\u00e9", "\u00e9\u00e9", "a\u00e9", "\u00e9a", "x\u00e9y", "aXbYcd", "abab?",
  };

  for (gsize p = 0; p < G_N_ELEMENTS (patterns); p++)
    {
      g_autoptr(GPatternSpec) spec = g_pattern_spec_new (patterns[p]);
      g_autoptr(json_t) filter_json = json_pack ("{s{ss}}", "f", "glob", patterns[p]);
      g_autoptr(GError) error = NULL;
      g_autoptr(EvbFilter) filter = evb_filter_compile (filter_json, NULL, NULL, &error);

      assert_non_null (filter);
      for (gsize s = 0; s < G_N_ELEMENTS (strings); s++)
        {
          g_autoptr(json_t) data = json_pack ("{ss}", "f", strings[s]);
          gboolean expected = g_pattern_spec_match_string (spec, strings[s]);

          if (evb_filter_match (filter, data) != expected)
            fail_msg ("glob \"%s\" on \"%s\": GPatternSpec says %d", patterns[p], strings[s],
                      expected);
        }
    }
}

static void
test_regex (void **state)
{
  static const MatchCase cases[] = {
    { "{\"s\": {\"regex\": \"b+c\"}}", "{\"s\": \"abbcd\"}", TRUE }, /* unanchored */
    { "{\"s\": {\"regex\": \"b+c\"}}", "{\"s\": \"ac\"}", FALSE },
    { "{\"s\": {\"regex\": \"b+c\"}}", "{}", FALSE },
    { "{\"s\": {\"regex\": \"b+c\"}}", "{\"s\": null}", FALSE },
    { "{\"s\": {\"regex\": \"b+c\"}}", "{\"s\": [\"bc\"]}", FALSE },
    { "{\"s\": {\"regex\": \"^ab$\"}}", "{\"s\": \"ab\"}", TRUE },
    { "{\"s\": {\"regex\": \"^ab$\"}}", "{\"s\": \"xab\"}", FALSE },
    { "{\"s\": {\"regex\": \"^[0-9]+$\"}}", "{\"s\": 123}", FALSE }, /* numbers are not strings */
    { "{\"s\": {\"regex\": \"\\u00e9.$\"}}", "{\"s\": \"caf\\u00e9\\u00e8\"}", TRUE }, /* UTF-8 */
    { "{\"s\": {\"regex\": \"\"}}", "{\"s\": \"\"}", TRUE },
    { "{\"s\": {\"regex\": \"c$\"}}", "{\"s\": \"ab\\u0000c\"}", TRUE }, /* whole string, NUL included */
  };

  CHECK_MATCH_CASES (cases);
}

/* ---- paths and data --------------------------------------------------- */

static void
test_dotted_paths (void **state)
{
  static const MatchCase cases[] = {
    { "{\"user.name\": \"bob\"}", "{\"user\": {\"name\": \"bob\"}}", TRUE },
    { "{\"user.name\": \"bob\"}", "{\"user\": {\"name\": \"al\"}}", FALSE },
    { "{\"user.name\": \"bob\"}", "{\"user\": {}}", FALSE },
    { "{\"user.name\": \"bob\"}", "{\"user\": \"bob\"}", FALSE },
    { "{\"user.name\": \"bob\"}", "{\"user\": null}", FALSE },
    { "{\"user.name\": \"bob\"}", "{}", FALSE },
    { "{\"user.name\": \"bob\"}", "{\"user.name\": \"bob\"}", FALSE }, /* dots always split */
    { "{\"a.b.c\": 1}", "{\"a\": {\"b\": {\"c\": 1}}}", TRUE },
    { "{\"a.b.c\": 1}", "{\"a\": {\"b\": {\"c\": 2}}}", FALSE },
    { "{\"a.b.c\": 1}", "{\"a\": {\"b\": [1]}}", FALSE },
    { "{\"a.b.c\": 1}", "{\"a\": [{\"b\": {\"c\": 1}}]}", FALSE }, /* arrays are not walked */
    { "{\"a.b.c\": {\"gt\": 0}, \"a.b.d\": \"x\"}", "{\"a\": {\"b\": {\"c\": 1, \"d\": \"x\"}}}", TRUE },
    { "{\"a.b.c\": {\"gt\": 0}, \"a.b.d\": \"x\"}", "{\"a\": {\"b\": {\"c\": 1, \"d\": \"y\"}}}", FALSE },
    { "{\"a.b\": {\"eq\": {\"c\": 1}}}", "{\"a\": {\"b\": {\"c\": 1.0}}}", TRUE },
    { "{\"caf\\u00e9.cr\\u00e8me\": 1}", "{\"caf\\u00e9\": {\"cr\\u00e8me\": 1}}", TRUE },
  };

  CHECK_MATCH_CASES (cases);
}

static void
test_data_null_or_not_object (void **state)
{
  static const MatchCase cases[] = {
    { "{}", NULL, TRUE },
    { "{}", "{\"x\": 1}", TRUE },
    { "{\"x\": 1}", NULL, FALSE },
    { "{\"x\": {\"exists\": false}}", "[1]", TRUE }, /* a non-object has no fields */
    { "{\"x\": 1}", "1", FALSE },
    { "{\"x\": 1}", "\"x\"", FALSE },
    { "{\"not\": {\"x\": 1}}", NULL, TRUE },
  };

  CHECK_MATCH_CASES (cases);
}

/* ---- combinators ------------------------------------------------------ */

static void
test_filter_combinators (void **state)
{
  static const MatchCase cases[] = {
    /* fields of one object: all must hold */
    { "{\"a\": 1, \"b\": 2}", "{\"a\": 1, \"b\": 2}", TRUE },
    { "{\"a\": 1, \"b\": 2}", "{\"a\": 1, \"b\": 3}", FALSE },
    { "{\"a\": 1, \"b\": 2}", "{\"a\": 1}", FALSE },
    /* all */
    { "{\"all\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1, \"b\": 2}", TRUE },
    { "{\"all\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1, \"b\": 1}", FALSE },
    { "{\"all\": [{\"a\": 1}, {\"b\": 2}]}", "{}", FALSE },
    { "{\"all\": []}", "{}", TRUE },
    { "{\"all\": [{}]}", "{}", TRUE },
    /* any */
    { "{\"any\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1}", TRUE },
    { "{\"any\": [{\"a\": 1}, {\"b\": 2}]}", "{\"b\": 2}", TRUE },
    { "{\"any\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 2, \"b\": 1}", FALSE },
    { "{\"any\": [{\"a\": 1}, {\"b\": 2}]}", "{}", FALSE },
    /* not: a missing field fails the inner filter, so "not" holds */
    { "{\"not\": {\"a\": 1}}", "{\"a\": 1}", FALSE },
    { "{\"not\": {\"a\": 1}}", "{\"a\": 2}", TRUE },
    { "{\"not\": {\"a\": 1}}", "{}", TRUE },
    { "{\"not\": {\"a\": 1, \"b\": 1}}", "{\"a\": 1}", TRUE },
    { "{\"not\": {}}", "{}", FALSE },
    /* mixed with fields, and nested */
    { "{\"a\": 1, \"not\": {\"b\": 2}}", "{\"a\": 1, \"b\": 3}", TRUE },
    { "{\"a\": 1, \"not\": {\"b\": 2}}", "{\"a\": 1, \"b\": 2}", FALSE },
    { "{\"a\": 1, \"not\": {\"b\": 2}}", "{\"b\": 3}", FALSE },
    { "{\"any\": [{\"all\": [{\"a\": 1}, {\"b\": 1}]}, {\"not\": {\"c\": {\"exists\": true}}}]}",
      "{\"a\": 1, \"b\": 1, \"c\": 0}", TRUE },
    { "{\"any\": [{\"all\": [{\"a\": 1}, {\"b\": 1}]}, {\"not\": {\"c\": {\"exists\": true}}}]}",
      "{\"a\": 1, \"b\": 2}", TRUE },
    { "{\"any\": [{\"all\": [{\"a\": 1}, {\"b\": 1}]}, {\"not\": {\"c\": {\"exists\": true}}}]}",
      "{\"a\": 1, \"b\": 2, \"c\": 0}", FALSE },
    { "{\"not\": {\"not\": {\"a\": 1}}}", "{\"a\": 1}", TRUE },
    { "{\"not\": {\"any\": [{\"a\": 1}, {\"a\": 2}]}}", "{\"a\": 3}", TRUE },
    { "{\"not\": {\"any\": [{\"a\": 1}, {\"a\": 2}]}}", "{\"a\": 2}", FALSE },
  };

  CHECK_MATCH_CASES (cases);
}

static void
test_condition_combinators (void **state)
{
  static const MatchCase cases[] = {
    /* all */
    { "{\"n\": {\"all\": [{\"gt\": 1}, {\"lt\": 5}]}}", "{\"n\": 3}", TRUE },
    { "{\"n\": {\"all\": [{\"gt\": 1}, {\"lt\": 5}]}}", "{\"n\": 6}", FALSE },
    { "{\"n\": {\"all\": [{\"gt\": 1}, {\"lt\": 5}]}}", "{}", FALSE },
    { "{\"n\": {\"all\": [{\"ne\": 2}, 3]}}", "{\"n\": 3}", TRUE }, /* literals are eq */
    { "{\"n\": {\"all\": [{\"ne\": 2}, 3]}}", "{\"n\": 4}", FALSE },
    { "{\"n\": {\"all\": []}}", "{\"n\": 5}", TRUE },
    { "{\"n\": {\"all\": []}}", "{}", TRUE }, /* vacuously, like {"all": []} */
    /* any */
    { "{\"n\": {\"any\": [1, 2, {\"gt\": 10}]}}", "{\"n\": 2}", TRUE },
    { "{\"n\": {\"any\": [1, 2, {\"gt\": 10}]}}", "{\"n\": 11}", TRUE },
    { "{\"n\": {\"any\": [1, 2, {\"gt\": 10}]}}", "{\"n\": 5}", FALSE },
    { "{\"n\": {\"any\": [1, 2, {\"gt\": 10}]}}", "{}", FALSE },
    { "{\"n\": {\"any\": [[1, 2], \"x\"]}}", "{\"n\": [1, 2]}", TRUE },
    { "{\"n\": {\"any\": [{\"exists\": false}, {\"gt\": 3}]}}", "{}", TRUE },
    { "{\"n\": {\"any\": [{\"exists\": false}, {\"gt\": 3}]}}", "{\"n\": 4}", TRUE },
    { "{\"n\": {\"any\": [{\"exists\": false}, {\"gt\": 3}]}}", "{\"n\": 2}", FALSE },
    /* not */
    { "{\"n\": {\"not\": {\"gt\": 3}}}", "{\"n\": 2}", TRUE },
    { "{\"n\": {\"not\": {\"gt\": 3}}}", "{\"n\": 4}", FALSE },
    { "{\"n\": {\"not\": {\"gt\": 3}}}", "{\"n\": \"x\"}", TRUE },
    { "{\"n\": {\"not\": 5}}", "{\"n\": 4}", TRUE },
    { "{\"n\": {\"not\": 5}}", "{\"n\": 5.0}", FALSE },
    { "{\"n\": {\"not\": {\"exists\": true}}}", "{}", TRUE },
    { "{\"n\": {\"not\": {\"exists\": true}}}", "{\"n\": null}", FALSE },
    { "{\"n\": {\"not\": {\"not\": {\"in\": [1, 2]}}}}", "{\"n\": 2}", TRUE },
    /* several operators in one object, combinators among them */
    { "{\"n\": {\"gt\": 1, \"not\": {\"in\": [3, 4]}}}", "{\"n\": 2}", TRUE },
    { "{\"n\": {\"gt\": 1, \"not\": {\"in\": [3, 4]}}}", "{\"n\": 3}", FALSE },
    { "{\"n\": {\"gt\": 1, \"not\": {\"in\": [3, 4]}}}", "{\"n\": 0}", FALSE },
    { "{\"s\": {\"all\": [{\"prefix\": \"a\"}, {\"glob\": \"*z\"}], \"not\": {\"regex\": \"q\"}}}",
      "{\"s\": \"abz\"}", TRUE },
    { "{\"s\": {\"all\": [{\"prefix\": \"a\"}, {\"glob\": \"*z\"}], \"not\": {\"regex\": \"q\"}}}",
      "{\"s\": \"aqz\"}", FALSE },
    { "{\"s\": {\"all\": [{\"prefix\": \"a\"}, {\"glob\": \"*z\"}], \"not\": {\"regex\": \"q\"}}}",
      "{\"s\": \"abc\"}", FALSE },
  };

  CHECK_MATCH_CASES (cases);
}

/* Condition-level "not" is plain negation, so {"x": {"not": C}} and
 * {"not": {"x": C}} agree on every value, missing included; "ne" instead
 * needs the field. */
static void
test_not_is_plain_negation (void **state)
{
  static const char *const conditions[] = {
    "1", "{\"gt\": 1}", "{\"in\": [1, 2]}", "{\"prefix\": \"a\"}", "{\"glob\": \"a*\"}",
    "{\"regex\": \"^a\"}", "{\"exists\": true}", "{\"exists\": false}", "{\"any\": [1, \"a\"]}",
  };
  static const char *const data[] = {
    "{}", "{\"x\": 1}", "{\"x\": 2}", "{\"x\": \"abc\"}", "{\"x\": null}", "{\"x\": [1]}",
  };

  for (gsize c = 0; c < G_N_ELEMENTS (conditions); c++)
    {
      g_autofree char *inner_text = g_strdup_printf ("{\"x\": {\"not\": %s}}", conditions[c]);
      g_autofree char *outer_text = g_strdup_printf ("{\"not\": {\"x\": %s}}", conditions[c]);
      g_autoptr(EvbFilter) inner = compile_or_fail (inner_text);
      g_autoptr(EvbFilter) outer = compile_or_fail (outer_text);

      for (gsize d = 0; d < G_N_ELEMENTS (data); d++)
        {
          g_autoptr(json_t) event_data = parse_json (data[d]);

          if (evb_filter_match (inner, event_data) != evb_filter_match (outer, event_data))
            fail_msg ("%s and %s disagree on %s", inner_text, outer_text, data[d]);
        }
    }

  {
    g_autoptr(EvbFilter) not_filter = compile_or_fail ("{\"x\": {\"not\": {\"eq\": 1}}}");
    g_autoptr(EvbFilter) ne_filter = compile_or_fail ("{\"x\": {\"ne\": 1}}");
    g_autoptr(json_t) missing = parse_json ("{}");

    assert_true (evb_filter_match (not_filter, missing));
    assert_false (evb_filter_match (ne_filter, missing));
  }
}

/* ---- compile errors --------------------------------------------------- */

static void
test_compile_errors (void **state)
{
  static const ErrorCase cases[] = {
    /* filter level */
    { "[1]", "routes[2].filter", "filter must be an object", "routes[2].filter" },
    { "\"x\"", "routes[2].filter", "filter must be an object", "routes[2].filter" },
    { "null", "routes[2].filter", "filter must be an object", "routes[2].filter" },
    { "{\"\": 1}", "routes[2].filter", "empty field name", "routes[2].filter." },
    { "{\"a..b\": 1}", "routes[2].filter", "empty segment in field name \"a..b\"",
      "routes[2].filter.a..b" },
    { "{\".a\": 1}", "routes[2].filter", "empty segment in field name \".a\"", "routes[2].filter..a" },
    { "{\"a.\": 1}", "routes[2].filter", "empty segment in field name \"a.\"", "routes[2].filter.a." },
    { "{\"all\": {\"a\": 1}}", "routes[2].filter", "all needs an array of filters",
      "routes[2].filter.all" },
    { "{\"any\": 1}", "routes[2].filter", "any needs an array of filters", "routes[2].filter.any" },
    { "{\"any\": []}", "routes[2].filter", "any needs at least one filter", "routes[2].filter.any" },
    { "{\"not\": [{\"a\": 1}]}", "routes[2].filter", "filter must be an object", "routes[2].filter.not" },
    { "{\"not\": true}", "routes[2].filter", "filter must be an object", "routes[2].filter.not" },
    { "{\"all\": [{\"a\": 1}, 3]}", "routes[2].filter", "filter must be an object",
      "routes[2].filter.all[1]" },
    { "{\"any\": [{\"a\": 1}, {\"b\": {\"not\": {\"in\": 2}}}]}", "routes[2].filter",
      "operator \"in\" needs an array", "routes[2].filter.any[1].b.not.in" },
    { "{\"not\": {\"x.\": 1}}", "routes[2].filter", "empty segment in field name \"x.\"",
      "routes[2].filter.not.x." },
    /* unknown operator: reported at the condition object */
    { "{\"size\": {\"gtt\": 1}}", "routes[2].filter", "unknown operator \"gtt\"",
      "routes[2].filter.size" },
    { "{\"size\": {\"gt\": 1, \"EQ\": 1}}", "routes[2].filter", "unknown operator \"EQ\"",
      "routes[2].filter.size" },
    { "{\"x\": {\"all\": [1, {\"gtt\": 2}]}}", "routes[2].filter", "unknown operator \"gtt\"",
      "routes[2].filter.x.all[1]" },
    { "{\"x\": {}}", "routes[2].filter", "condition needs at least one operator", "routes[2].filter.x" },
    /* bad operands: reported at the operator */
    { "{\"size\": {\"gt\": true}}", "routes[2].filter", "operator \"gt\" needs a number or a string",
      "routes[2].filter.size.gt" },
    { "{\"size\": {\"ge\": null}}", "routes[2].filter", "operator \"ge\" needs a number or a string",
      "routes[2].filter.size.ge" },
    { "{\"size\": {\"lt\": [1]}}", "routes[2].filter", "operator \"lt\" needs a number or a string",
      "routes[2].filter.size.lt" },
    { "{\"size\": {\"le\": {}}}", "routes[2].filter", "operator \"le\" needs a number or a string",
      "routes[2].filter.size.le" },
    { "{\"x\": {\"in\": \"abc\"}}", "routes[2].filter", "operator \"in\" needs an array",
      "routes[2].filter.x.in" },
    { "{\"x\": {\"exists\": 1}}", "routes[2].filter", "operator \"exists\" needs a boolean",
      "routes[2].filter.x.exists" },
    { "{\"x\": {\"exists\": \"true\"}}", "routes[2].filter", "operator \"exists\" needs a boolean",
      "routes[2].filter.x.exists" },
    { "{\"x\": {\"prefix\": 1}}", "routes[2].filter", "operator \"prefix\" needs a string",
      "routes[2].filter.x.prefix" },
    { "{\"x\": {\"glob\": [\"*\"]}}", "routes[2].filter", "operator \"glob\" needs a string",
      "routes[2].filter.x.glob" },
    { "{\"x\": {\"regex\": null}}", "routes[2].filter", "operator \"regex\" needs a string",
      "routes[2].filter.x.regex" },
    { "{\"user.name\": {\"eq\": 1, \"regex\": 5}}", "routes[2].filter",
      "operator \"regex\" needs a string", "routes[2].filter.user.name.regex" },
    /* condition-level combinators */
    { "{\"x\": {\"all\": 1}}", "routes[2].filter", "all needs an array of conditions",
      "routes[2].filter.x.all" },
    { "{\"x\": {\"any\": \"a\"}}", "routes[2].filter", "any needs an array of conditions",
      "routes[2].filter.x.any" },
    { "{\"x\": {\"any\": []}}", "routes[2].filter", "any needs at least one condition",
      "routes[2].filter.x.any" },
    { "{\"x\": {\"not\": {\"prefix\": 1}}}", "routes[2].filter", "operator \"prefix\" needs a string",
      "routes[2].filter.x.not.prefix" },
    { "{\"x\": {\"any\": [1, {\"exists\": null}]}}", "routes[2].filter",
      "operator \"exists\" needs a boolean", "routes[2].filter.x.any[1].exists" },
    { "{\"x\": {\"not\": {}}}", "routes[2].filter", "condition needs at least one operator",
      "routes[2].filter.x.not" },
  };

  CHECK_ERROR_CASES (cases);
}

/* The root of error paths is the caller's @path: "filter" when NULL, and
 * with "" the first key stands alone. */
static void
test_error_path_roots (void **state)
{
  static const ErrorCase cases[] = {
    { "{\"size\": {\"gtt\": 1}}", NULL, "unknown operator \"gtt\"", "filter.size" },
    { "[]", NULL, "filter must be an object", "filter" },
    { "{\"size\": {\"gtt\": 1}}", "", "unknown operator \"gtt\"", "size" },
    { "{\"size\": {\"gt\": []}}", "", "operator \"gt\" needs a number or a string", "size.gt" },
    { "{\"all\": [1]}", "", "filter must be an object", "all[0]" },
    { "[]", "", "filter must be an object", "" },
    { "{\"size\": {\"gtt\": 1}}", "routes[0].filter.any[3]", "unknown operator \"gtt\"",
      "routes[0].filter.any[3].size" },
  };

  CHECK_ERROR_CASES (cases);
}

/* @error_path and @error may both be NULL; on success *error_path is NULL. */
static void
test_error_out_params_optional (void **state)
{
  g_autoptr(json_t) bad = parse_json ("{\"size\": {\"gtt\": 1}}");
  g_autoptr(json_t) good = parse_json ("{\"size\": {\"gt\": 1}}");
  g_autoptr(GError) error = NULL;
  static char sentinel[] = "sentinel";
  char *error_path = sentinel;
  g_autoptr(EvbFilter) filter = NULL;

  assert_null (evb_filter_compile (bad, "filter", NULL, NULL));
  assert_null (evb_filter_compile (bad, "filter", NULL, &error));
  assert_true (g_error_matches (error, EVB_FILTER_ERROR, EVB_FILTER_ERROR_INVALID));

  filter = evb_filter_compile (good, "filter", &error_path, NULL);
  assert_non_null (filter);
  assert_null (error_path);
}

static void
test_bad_regex (void **state)
{
  static const char *const bad_patterns[] = { "a(b", "*", "[z-a]", "(?<", "\\" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad_patterns); i++)
    {
      g_autoptr(json_t) spec = json_pack ("{s{ss}}", "name", "regex", bad_patterns[i]);
      g_autoptr(GError) glib_error = NULL;
      g_autoptr(GRegex) regex = g_regex_new (bad_patterns[i], 0, 0, &glib_error);
      g_autofree char *expected_message = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *error_path = NULL;
      g_autoptr(EvbFilter) filter = NULL;

      assert_null (regex);
      expected_message = g_strdup_printf ("invalid regex \"%s\": %s", bad_patterns[i], glib_error->message);

      filter = evb_filter_compile (spec, "routes[2].filter", &error_path, &error);
      assert_null (filter);
      assert_true (g_error_matches (error, EVB_FILTER_ERROR, EVB_FILTER_ERROR_REGEX));
      assert_string_equal (error->message, expected_message);
      assert_string_equal (error_path, "routes[2].filter.name.regex");
    }

  {
    /* and the first line of it, spelled out for the one in the contract */
    g_autoptr(json_t) spec = parse_json ("{\"name\": {\"regex\": \"a(b\"}}");
    g_autoptr(GError) error = NULL;

    assert_null (evb_filter_compile (spec, "filter", NULL, &error));
    assert_true (g_str_has_prefix (error->message, "invalid regex \"a(b\": "));
    assert_true (strlen (error->message) > strlen ("invalid regex \"a(b\": "));
  }
}

/* The filter keeps no reference to its spec. */
static void
test_spec_not_referenced (void **state)
{
  json_t *spec = parse_json ("{\"a\": {\"eq\": {\"k\": [1, \"v\"]}}, \"b\": {\"in\": [\"x\", \"y\"]},"
                             " \"c\": {\"prefix\": \"pre\", \"glob\": \"*fix\", \"regex\": \"^p\"},"
                             " \"d\": {\"ge\": \"m\"}, \"e\": [true, null]}");
  g_autoptr(json_t) data = parse_json ("{\"a\": {\"k\": [1.0, \"v\"]}, \"b\": \"y\", \"c\": \"prefix\","
                                       " \"d\": \"z\", \"e\": [true, null]}");
  g_autoptr(EvbFilter) filter = NULL;
  g_autoptr(GError) error = NULL;

  filter = evb_filter_compile (spec, "filter", NULL, &error);
  assert_non_null (filter);
  assert_int_equal (spec->refcount, 1);
  json_decref (spec); /* ASan/valgrind would catch a later read */

  assert_true (evb_filter_match (filter, data));
  json_object_set_new (data, "b", json_string ("z"));
  assert_false (evb_filter_match (filter, data));
}

/* ---- explaining ------------------------------------------------------- */

typedef struct {
  const char *filter;
  const char *data;   /* JSON text; NULL: explain against NULL data */
  const char *reason; /* exact; NULL: the filter holds */
} ExplainCase;

static void
check_explain_cases (const ExplainCase *cases, gsize n_cases)
{
  for (gsize i = 0; i < n_cases; i++)
    {
      g_autoptr(EvbFilter) filter = compile_or_fail (cases[i].filter);
      g_autoptr(json_t) data = cases[i].data != NULL ? parse_json (cases[i].data) : NULL;
      g_autofree char *reason = NULL;
      gboolean matched = evb_filter_explain (filter, data, &reason);

      if (matched != evb_filter_match (filter, data) || matched != (cases[i].reason == NULL) ||
          g_strcmp0 (reason, cases[i].reason) != 0)
        fail_msg ("case %" G_GSIZE_FORMAT ": filter %s on data %s:\n  expected %s\n  got      %s (%s)", i,
                  cases[i].filter, cases[i].data != NULL ? cases[i].data : "NULL",
                  cases[i].reason != NULL ? cases[i].reason : "(match)",
                  reason != NULL ? reason : "(match)", matched ? "match" : "no match");
    }
}

#define CHECK_EXPLAIN_CASES(cases) check_explain_cases (cases, G_N_ELEMENTS (cases))

static void
test_explain_operators (void **state)
{
  static const ExplainCase cases[] = {
    /* ordering: numbers, strings, and values that do not compare */
    { "{\"size\": {\"gt\": 10}}", "{\"size\": 4}", "data.size: 4 is not > 10" },
    { "{\"size\": {\"gt\": 10}}", "{\"size\": 12}", NULL },
    { "{\"size\": {\"ge\": 10}}", "{\"size\": 9.5}", "data.size: 9.5 is not >= 10" },
    { "{\"size\": {\"lt\": 3}}", "{\"size\": 4}", "data.size: 4 is not < 3" },
    { "{\"size\": {\"le\": 3.5}}", "{\"size\": 4}", "data.size: 4 is not <= 3.5" },
    { "{\"size\": {\"gt\": 10}}", "{\"size\": \"40\"}", "data.size: \"40\" is not > 10 (not comparable)" },
    { "{\"size\": {\"gt\": 10}}", "{\"size\": null}", "data.size: null is not > 10 (not comparable)" },
    { "{\"d\": {\"lt\": \"2024\"}}", "{\"d\": \"2025-01\"}", "data.d: \"2025-01\" is not < \"2024\"" },
    { "{\"d\": {\"lt\": \"2024\"}}", "{\"d\": 2023}", "data.d: 2023 is not < \"2024\" (not comparable)" },
    /* the first operator of a condition that fails is the one named */
    { "{\"size\": {\"gt\": 1, \"lt\": 3}}", "{\"size\": 4}", "data.size: 4 is not < 3" },
    { "{\"size\": {\"gt\": 1, \"lt\": 3}}", "{\"size\": 0}", "data.size: 0 is not > 1" },
    /* equality, literal or "eq", and "ne" */
    { "{\"kind\": \"a\"}", "{\"kind\": \"x\"}", "data.kind: \"x\" is not \"a\"" },
    { "{\"kind\": {\"eq\": \"a\"}}", "{\"kind\": 1}", "data.kind: 1 is not \"a\"" },
    { "{\"n\": 1}", "{\"n\": 1.5}", "data.n: 1.5 is not 1" },
    { "{\"n\": 1}", "{\"n\": 1.0}", NULL },
    { "{\"o\": {\"eq\": {\"a\": [1, 2]}}}", "{\"o\": {\"a\": [2]}}", "data.o: {\"a\": [2]} is not {\"a\": [1, 2]}" },
    { "{\"b\": true}", "{\"b\": false}", "data.b: false is not true" },
    { "{\"kind\": {\"ne\": \"x\"}}", "{\"kind\": \"x\"}", "data.kind: \"x\" is \"x\"" },
    { "{\"kind\": {\"ne\": \"x\"}}", "{}", "data.kind: missing" },
    /* missing fields, data NULL, a non-object on the way */
    { "{\"user.name\": \"bob\"}", "{\"user\": {}}", "data.user.name: missing" },
    { "{\"user.name\": \"bob\"}", "{\"user\": \"bob\"}", "data.user.name: missing" },
    { "{\"user.name\": \"bob\"}", "{\"user\": {\"name\": \"al\"}}", "data.user.name: \"al\" is not \"bob\"" },
    { "{\"x\": 1}", NULL, "data.x: missing" },
    { "{\"x\": {\"in\": [1]}}", "[1]", "data.x: missing" },
    /* in */
    { "{\"kind\": {\"in\": [\"b\", \"c\"]}}", "{\"kind\": \"x\"}", "data.kind: \"x\" is not in [\"b\", \"c\"]" },
    { "{\"kind\": {\"in\": []}}", "{\"kind\": \"x\"}", "data.kind: \"x\" is not in []" },
    { "{\"kind\": {\"in\": [\"b\", \"c\"]}}", "{}", "data.kind: missing" },
    /* exists */
    { "{\"x\": {\"exists\": true}}", "{}", "data.x: missing" },
    { "{\"x\": {\"exists\": true}}", NULL, "data.x: missing" },
    { "{\"x\": {\"exists\": false}}", "{\"x\": null}", "data.x: present (null)" },
    { "{\"x\": {\"exists\": false}}", "{\"x\": {\"y\": 1}}", "data.x: present ({\"y\": 1})" },
    /* prefix, glob, regex: on strings, and on what is not one */
    { "{\"name\": {\"prefix\": \"a\"}}", "{\"name\": \"bob\"}", "data.name: \"bob\" does not start with \"a\"" },
    { "{\"name\": {\"prefix\": \"1\"}}", "{\"name\": 12}", "data.name: 12 is not a string (prefix \"1\")" },
    { "{\"name\": {\"prefix\": \"a\"}}", "{}", "data.name: missing" },
    { "{\"f\": {\"glob\": \"*.txt\"}}", "{\"f\": \"a.gz\"}", "data.f: \"a.gz\" does not match glob \"*.txt\"" },
    { "{\"f\": {\"glob\": \"*.txt\"}}", "{\"f\": true}", "data.f: true is not a string (glob \"*.txt\")" },
    { "{\"name\": {\"regex\": \"^a\"}}", "{\"name\": \"bob\"}", "data.name: \"bob\" does not match regex \"^a\"" },
    { "{\"name\": {\"regex\": \"^a\"}}", "{\"name\": [\"a\"]}", "data.name: [\"a\"] is not a string (regex \"^a\")" },
    { "{\"name\": {\"regex\": \"\\\"q\\\\d\"}}", "{\"name\": \"q\"}",
      "data.name: \"q\" does not match regex \"\\\"q\\\\d\"" },
    /* NUL bytes stay visible, escaped */
    { "{\"s\": {\"prefix\": \"a\\u0000b\"}}", "{\"s\": \"a\\u0000c\"}",
      "data.s: \"a\\u0000c\" does not start with \"a\\u0000b\"" },
    /* the fields of one object: the first that fails */
    { "{\"a\": 1, \"b\": 2}", "{\"a\": 1, \"b\": 3}", "data.b: 3 is not 2" },
    { "{\"a\": 1, \"b\": 2}", "{\"b\": 3}", "data.a: missing" },
    { "{\"a.b.c\": {\"gt\": 0}}", "{\"a\": {\"b\": {\"c\": -1}}}", "data.a.b.c: -1 is not > 0" },
  };

  CHECK_EXPLAIN_CASES (cases);
}

/* Long values and operands are cut as evb_json_quote cuts: 64 bytes, then
 * the length. */
static void
test_explain_cuts_long_values (void **state)
{
  g_autofree char *long_string = g_strnfill (100, 'y');
  g_autofree char *kept = g_strnfill (64, 'y');
  g_autoptr(json_t) spec = json_pack ("{s{s[iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii]}}", "n", "in", 1000, 1001, 1002, 1003,
                                      1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015, 1016,
                                      1017, 1018, 1019, 1020, 1021, 1022, 1023, 1024, 1025, 1026, 1027, 1028, 1029,
                                      1030, 1031);
  g_autoptr(json_t) data = json_pack ("{si}", "n", 5);
  g_autoptr(EvbFilter) filter = evb_filter_compile (spec, NULL, NULL, NULL);
  g_autoptr(EvbFilter) string_filter = compile_or_fail ("{\"s\": \"x\"}");
  g_autoptr(json_t) string_data = json_pack ("{ss}", "s", long_string);
  g_autofree char *reason = NULL;
  g_autofree char *string_reason = NULL;
  g_autofree char *expected = g_strdup_printf ("data.s: \"%s...\" (100 bytes) is not \"x\"", kept);

  assert_non_null (filter);
  assert_false (evb_filter_explain (filter, data, &reason));
  assert_string_equal (reason, "data.n: 5 is not in [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, "
                               "101... (192 bytes)");

  assert_false (evb_filter_explain (string_filter, string_data, &string_reason));
  assert_string_equal (string_reason, expected);
}

static void
test_explain_combinators (void **state)
{
  static const ExplainCase cases[] = {
    /* any, at filter and at condition level: every member, in order */
    { "{\"any\": [{\"kind\": \"a\"}, {\"kind\": {\"in\": [\"b\", \"c\"]}}]}", "{\"kind\": \"x\"}",
      "none of: (data.kind: \"x\" is not \"a\"; data.kind: \"x\" is not in [\"b\", \"c\"])" },
    { "{\"kind\": {\"any\": [\"a\", {\"in\": [\"b\", \"c\"]}]}}", "{\"kind\": \"x\"}",
      "none of: (data.kind: \"x\" is not \"a\"; data.kind: \"x\" is not in [\"b\", \"c\"])" },
    { "{\"any\": [{\"kind\": \"a\"}, {\"kind\": {\"in\": [\"b\", \"c\"]}}]}", "{\"kind\": \"c\"}", NULL },
    { "{\"any\": [{\"kind\": \"a\"}]}", "{\"kind\": \"x\"}", "data.kind: \"x\" is not \"a\"" },
    { "{\"n\": {\"any\": [1, 2, 3, 4, 5, 6, 7]}}", "{\"n\": 0}",
      "none of: (data.n: 0 is not 1; data.n: 0 is not 2; data.n: 0 is not 3; data.n: 0 is not 4; "
      "data.n: 0 is not 5; and 2 more)" },
    { "{\"any\": [{\"a\": 1}, {\"any\": [{\"b\": 1}, {\"c\": 1}]}]}", "{}",
      "none of: (data.a: missing; none of: (data.b: missing; data.c: missing))" },
    /* all: the first member that fails */
    { "{\"all\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1}", "data.b: missing" },
    { "{\"n\": {\"all\": [{\"gt\": 1}, {\"lt\": 5}]}}", "{\"n\": 6}", "data.n: 6 is not < 5" },
    { "{\"a\": 1, \"any\": [{\"b\": 1}, {\"c\": 1}]}", "{\"a\": 2, \"b\": 2}", "data.a: 2 is not 1" },
    /* not: the negated condition held, said the way it held */
    { "{\"not\": {\"deleted\": true}}", "{\"deleted\": true}", "not: data.deleted: true is true" },
    { "{\"not\": {\"deleted\": true}}", "{}", NULL },
    { "{\"kind\": {\"not\": {\"in\": [\"a\", \"b\"]}}}", "{\"kind\": \"a\"}",
      "not: data.kind: \"a\" is in [\"a\", \"b\"]" },
    { "{\"kind\": {\"not\": {\"ne\": \"a\"}}}", "{\"kind\": \"b\"}", "not: data.kind: \"b\" is not \"a\"" },
    { "{\"n\": {\"not\": {\"gt\": 3}}}", "{\"n\": 4}", "not: data.n: 4 is > 3" },
    { "{\"n\": {\"not\": {\"le\": 3}}}", "{\"n\": 3.0}", "not: data.n: 3.0 is <= 3" },
    { "{\"x\": {\"not\": {\"exists\": true}}}", "{\"x\": 1}", "not: data.x: present (1)" },
    { "{\"x\": {\"not\": {\"exists\": false}}}", "{}", "not: data.x: missing" },
    { "{\"s\": {\"not\": {\"prefix\": \"a\"}}}", "{\"s\": \"ab\"}", "not: data.s: \"ab\" starts with \"a\"" },
    { "{\"s\": {\"not\": {\"glob\": \"a*\"}}}", "{\"s\": \"ab\"}", "not: data.s: \"ab\" matches glob \"a*\"" },
    { "{\"s\": {\"not\": {\"regex\": \"b$\"}}}", "{\"s\": \"ab\"}", "not: data.s: \"ab\" matches regex \"b$\"" },
    /* not over several conditions that all held: each is named */
    { "{\"not\": {\"a\": 1, \"b\": 2}}", "{\"a\": 1, \"b\": 2}", "not: (data.a: 1 is 1; data.b: 2 is 2)" },
    /* not over an "any": the member that held */
    { "{\"not\": {\"any\": [{\"a\": 1}, {\"b\": 2}]}}", "{\"a\": 5, \"b\": 2}", "not: data.b: 2 is 2" },
    { "{\"not\": {\"not\": {\"a\": 1}}}", "{\"a\": 2}", "not: not: data.a: 2 is not 1" },
    { "{\"any\": [{\"not\": {\"a\": 1}}, {\"b\": 2}]}", "{\"a\": 1, \"b\": 3}",
      "none of: (not: data.a: 1 is 1; data.b: 3 is not 2)" },
    { "{\"not\": {}}", "{}", "not: (empty, so it holds)" },
    { "{\"x\": {\"not\": {\"all\": []}}}", "{}", "not: (empty, so it holds)" },
    /* the README's example */
    { "{\"size\": {\"gt\": 10, \"le\": 100}, \"user.name\": {\"prefix\": \"a\"},"
      " \"any\": [{\"kind\": \"a\"}, {\"kind\": {\"in\": [\"b\", \"c\"]}}]}",
      "{\"size\": 50, \"user\": {\"name\": \"al\"}, \"kind\": \"z\"}",
      "none of: (data.kind: \"z\" is not \"a\"; data.kind: \"z\" is not in [\"b\", \"c\"])" },
    { "{\"size\": {\"gt\": 10, \"le\": 100}, \"user.name\": {\"prefix\": \"a\"},"
      " \"any\": [{\"kind\": \"a\"}, {\"kind\": {\"in\": [\"b\", \"c\"]}}]}",
      "{\"size\": 500, \"user\": {\"name\": \"al\"}, \"kind\": \"b\"}", "data.size: 500 is not <= 100" },
  };

  CHECK_EXPLAIN_CASES (cases);
}

/* A NULL @reason only asks for the answer. */
static void
test_explain_reason_optional (void **state)
{
  g_autoptr(EvbFilter) filter = compile_or_fail ("{\"a\": 1}");
  g_autoptr(json_t) yes = parse_json ("{\"a\": 1}");
  g_autoptr(json_t) no = parse_json ("{\"a\": 2}");
  char *reason = (char *) "sentinel";

  assert_true (evb_filter_explain (filter, yes, NULL));
  assert_false (evb_filter_explain (filter, no, NULL));
  assert_true (evb_filter_explain (filter, yes, &reason));
  assert_null (reason);
}

/* ---- a regex that hits its match limit -------------------------------- */

/* (a+)+$ on "aaa...ab" backtracks exponentially: PCRE2 gives up at its
 * match limit (GLib: "backtracking limit reached"), in about 0.1 s. */
#define RUNAWAY_REGEX "(a+)+$"

static char *
runaway_subject (void)
{
  g_autofree char *as = g_strnfill (30, 'a');

  return g_strconcat (as, "b", NULL);
}

/* What GLib says when the match gives up, after "...: ". */
static char *
runaway_reason (void)
{
  g_autoptr(GRegex) regex = g_regex_new (RUNAWAY_REGEX, 0, 0, NULL);
  g_autofree char *subject = runaway_subject ();
  g_autoptr(GError) error = NULL;
  const char *tail;

  assert_false (g_regex_match_full (regex, subject, -1, 0, 0, NULL, &error));
  assert_non_null (error); /* the premise of these tests */
  tail = g_strrstr (error->message, ": ");
  return g_strdup (tail != NULL ? tail + 2 : error->message);
}

/* It fails the whole filter closed: under "not", and in an "any" whose
 * other member holds, too. */
static void
test_regex_match_limit (void **state)
{
  static const char *const filters[] = {
    "{\"s\": {\"regex\": \"" RUNAWAY_REGEX "\"}}",
    "{\"not\": {\"s\": {\"regex\": \"" RUNAWAY_REGEX "\"}}}",
    "{\"s\": {\"not\": {\"regex\": \"" RUNAWAY_REGEX "\"}}}",
    "{\"any\": [{\"s\": {\"regex\": \"" RUNAWAY_REGEX "\"}}, {\"t\": 1}]}",
  };
  g_autofree char *subject = runaway_subject ();
  g_autofree char *glib_reason = runaway_reason ();
  g_autoptr(json_t) data = json_pack ("{sssi}", "s", subject, "t", 1);
  g_autofree char *expected = g_strdup_printf ("data.s: regex \"" RUNAWAY_REGEX "\" could not be evaluated on "
                                               "\"%s\" (%s): the filter fails closed", subject, glib_reason);

  for (gsize i = 0; i < G_N_ELEMENTS (filters); i++)
    {
      g_autoptr(EvbFilter) filter = compile_or_fail (filters[i]);
      g_autofree char *reason = NULL;

      if (evb_filter_match (filter, data))
        fail_msg ("%s took the event", filters[i]);
      assert_false (evb_filter_explain (filter, data, &reason));
      assert_string_equal (reason, expected);
    }

  {
    /* Only when the regex is reached: an "any" decided before it holds. */
    g_autoptr(EvbFilter) filter = compile_or_fail ("{\"any\": [{\"t\": 1}, {\"s\": {\"regex\": \"" RUNAWAY_REGEX
                                                   "\"}}]}");

    assert_true (evb_filter_match (filter, data));
  }
}

/* ---- threads ---------------------------------------------------------- */

#define N_THREADS 4
#define N_ROUNDS 2000

typedef struct {
  const EvbFilter *filter;
  json_t *data[6];
  gboolean expected[6];
  gint ready; /* atomic: threads waiting at the start line */
} ThreadShared;

static gpointer
match_repeatedly (gpointer user_data)
{
  ThreadShared *shared = user_data;
  guint mismatches = 0;

  /* Start together, so that the first matches (and any lazy state, such
   * as a regex JIT-compiled on first use) really overlap. */
  g_atomic_int_inc (&shared->ready);
  while (g_atomic_int_get (&shared->ready) < N_THREADS)
    g_thread_yield ();

  for (guint round = 0; round < N_ROUNDS; round++)
    for (gsize i = 0; i < G_N_ELEMENTS (shared->data); i++)
      if (evb_filter_match (shared->filter, shared->data[i]) != shared->expected[i])
        mismatches++;

  return GUINT_TO_POINTER (mismatches);
}

static void
test_concurrent_match (void **state)
{
  static const struct {
    const char *data;
    gboolean expected;
  } cases[] = {
    { "{\"type\": \"order\", \"user\": {\"name\": \"bob\"}, \"size\": 12, \"tags\": \"a.txt\"}", TRUE },
    { "{\"type\": \"order\", \"user\": {\"name\": \"bob\"}, \"size\": 12.0, \"tags\": \"b.txt\"}", TRUE },
    { "{\"type\": \"order\", \"user\": {\"name\": \"eve\"}, \"size\": 12, \"tags\": \"a.txt\"}", FALSE },
    { "{\"type\": \"order\", \"user\": {\"name\": \"bob\"}, \"size\": 9, \"tags\": \"a.txt\"}", FALSE },
    { "{\"type\": \"refund\", \"user\": {\"name\": \"bob\"}, \"size\": 12}", TRUE },
    { "{\"user\": \"bob\"}", FALSE },
  };
  g_autoptr(EvbFilter) filter = NULL;
  GThread *threads[N_THREADS];
  ThreadShared shared = { 0 };

  /* Freshly compiled and never matched before the threads start. */
  filter = compile_or_fail ("{\"user.name\": {\"regex\": \"^b.b$\", \"in\": [\"bob\", \"bib\"]},"
                            " \"size\": {\"gt\": 10, \"le\": 12.5},"
                            " \"any\": [{\"type\": \"refund\"},"
                            "           {\"tags\": {\"glob\": \"?.t*\", \"prefix\": \"\"}}],"
                            " \"not\": {\"deleted\": {\"exists\": true}}}");
  shared.filter = filter;
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      shared.data[i] = parse_json (cases[i].data);
      shared.expected[i] = cases[i].expected;
    }

  for (guint t = 0; t < N_THREADS; t++)
    threads[t] = g_thread_new ("filter-match", match_repeatedly, &shared);
  for (guint t = 0; t < N_THREADS; t++)
    assert_int_equal (GPOINTER_TO_UINT (g_thread_join (threads[t])), 0);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    json_decref (shared.data[i]);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_literal_equality),
    cmocka_unit_test (test_numeric_equality),
    cmocka_unit_test (test_eq_ne),
    cmocka_unit_test (test_ordering_numbers),
    cmocka_unit_test (test_ordering_strings),
    cmocka_unit_test (test_in),
    cmocka_unit_test (test_in_as_set),
    cmocka_unit_test (test_in_large),
    cmocka_unit_test (test_exists),
    cmocka_unit_test (test_prefix),
    cmocka_unit_test (test_glob),
    cmocka_unit_test (test_glob_agrees_with_gpatternspec),
    cmocka_unit_test (test_regex),
    cmocka_unit_test (test_dotted_paths),
    cmocka_unit_test (test_data_null_or_not_object),
    cmocka_unit_test (test_filter_combinators),
    cmocka_unit_test (test_condition_combinators),
    cmocka_unit_test (test_not_is_plain_negation),
    cmocka_unit_test (test_compile_errors),
    cmocka_unit_test (test_error_path_roots),
    cmocka_unit_test (test_error_out_params_optional),
    cmocka_unit_test (test_bad_regex),
    cmocka_unit_test (test_spec_not_referenced),
    cmocka_unit_test (test_concurrent_match),
    cmocka_unit_test (test_explain_operators),
    cmocka_unit_test (test_explain_cuts_long_values),
    cmocka_unit_test (test_explain_combinators),
    cmocka_unit_test (test_explain_reason_optional),
    cmocka_unit_test (test_regex_match_limit),
  };

  return cmocka_run_group_tests_name ("filter", tests, NULL, NULL);
}
