/* plugins/nats/subject.c alone: types and patterns to subjects and back,
 * and the exact refusals. */
#include "../stock/stock-test.h"

#include "nats-private.h"

GQuark
nats_error_quark (void)
{
  return g_quark_from_static_string ("evbus-nats-error-quark");
}

/* The error of a call that must fail (a macro: the call runs first). */
#define assert_subject_error(call, error, expected) \
  do { \
    char *subject_ = (call); \
    assert_null (subject_); \
    assert_non_null (error); \
    assert_string_equal ((error)->message, (expected)); \
    g_clear_error (&(error)); \
  } while (0)

static void
test_types (void **state)
{
  GError *error = NULL;
  g_autofree char *plain = nats_subject_for_type ("evbus", "search.request", FALSE, &error);
  g_autofree char *host = nats_subject_for_type ("site.evbus", "evbus.status.completed", TRUE, &error);

  assert_string_equal (plain, "evbus.search.request");
  assert_string_equal (host, "site.evbus.evbus.status.completed");
  assert_subject_error (nats_subject_for_type ("evbus", "a..b", FALSE, &error), error,
                        "event type \"a..b\" is not a valid subject: segment 2 has an empty segment");
  assert_subject_error (nats_subject_for_type ("evbus", "a.>", FALSE, &error), error,
                        "event type \"a.>\" is not a valid subject: segment 2 has a character other than a-z 0-9 _ - "
                        "(wildcards are not allowed here)");
  assert_subject_error (nats_subject_for_type ("evbus", "", FALSE, &error), error,
                        "an empty event type is not a subject");
  assert_subject_error (nats_subject_for_type ("evbus", "evbus.x", FALSE, &error), error,
                        "event type \"evbus.x\" is the host's own (\"evbus.\"): it cannot be a job, no host could "
                        "emit it");
}

static void
test_patterns (void **state)
{
  GError *error = NULL;
  g_autofree char *all = nats_subject_for_pattern ("evbus", ">", &error);
  g_autofree char *star = nats_subject_for_pattern ("evbus", "a.*.c", &error);

  assert_string_equal (all, "evbus.>");
  assert_string_equal (star, "evbus.a.*.c");
  assert_subject_error (nats_subject_for_pattern ("evbus", "sea*", &error), error,
                        "\"sea*\" is not a pattern: segment 1 has a segment that is neither a name (a-z 0-9 _ -), "
                        "\"*\" nor \">\"");
  assert_subject_error (nats_subject_for_pattern ("evbus", "$SYS.>", &error), error,
                        "\"$SYS.>\" is not a pattern: segment 1 has a segment that is neither a name (a-z 0-9 _ -), "
                        "\"*\" nor \">\"");
}

static void
test_received_subjects (void **state)
{
  const char *why = NULL;
  g_autofree char *type = nats_type_for_subject ("evbus", "evbus.search.request", "cluster", &why);
  g_autofree char *host = nats_type_for_subject ("evbus", "evbus.evbus.failure", "cluster", &why);

  assert_string_equal (type, "search.request");
  assert_string_equal (host, "cluster.failure");
  assert_null (nats_type_for_subject ("evbus", "evbus.Search", "cluster", &why));
  assert_string_equal (why, "the rest is not an event type (dotted names of a-z 0-9 _ -)");
  assert_null (nats_type_for_subject ("evbus", "evbusx.a", "cluster", &why));
  assert_string_equal (why, "not under the prefix");
  assert_null (nats_type_for_subject ("evbus", "evbus.x.>", "cluster", &why));
}

static void
test_prefixes (void **state)
{
  GError *error = NULL;

  assert_true (nats_prefix_check ("prefix", "site.evbus", &error));
  assert_false (nats_prefix_check ("prefix", "", &error));
  assert_string_equal (error->message, "option \"prefix\": a subject prefix cannot be empty");
  g_clear_error (&error);
  assert_false (nats_prefix_check ("work_prefix", "jobs.*", &error));
  assert_string_equal (error->message, "option \"work_prefix\": \"jobs.*\" is not a subject prefix: segment 2 has a "
                                       "character other than a-z 0-9 _ - (wildcards are not allowed here); write "
                                       "dotted names such as \"evbus\" or \"site.evbus\"");
  g_clear_error (&error);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_types),
    cmocka_unit_test (test_patterns),
    cmocka_unit_test (test_received_subjects),
    cmocka_unit_test (test_prefixes),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
