/* `evbus explain CONFIG EVENT` as an operator runs it (host/cli/cli-explain.c).
 *
 * Every test spawns the built `evbus` in tests/host/cli/explain/ and
 * asserts its exact stdout, stderr and exit status.  The configs there name
 * plugin files that do not exist: explain reads the config only, so a run
 * that tried to load a plugin would fail.  Children run in the C locale.
 * Nothing sleeps: a child's stdin is a pipe the test writes and closes, and
 * its output is read to the end with a deadline that fails the test. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "child-or-fail.h"

#define EXPLAIN_DIR EVB_TEST_SOURCE_DIR "/explain"
#define DEADLINE_MS 20000

/* ---- running evbus ---- */

typedef struct {
  char *out;
  char *err;
  int status; /* exit code, or 128 + signal */
} Result;

static void
result_clear (Result *result)
{
  g_clear_pointer (&result->out, g_free);
  g_clear_pointer (&result->err, g_free);
}

static void
write_all (int fd, const char *text)
{
  gsize left = strlen (text);

  while (left > 0)
    {
      ssize_t n = write (fd, text, left);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EPIPE)
        return; /* it did not want it all: its output says what it made of that */
      if (n < 0)
        fail_msg ("write to evbus: %s", g_strerror (errno));
      text += n;
      left -= n;
    }
}

/* Runs `evbus ARGS...` (NULL-terminated) in EXPLAIN_DIR with @input (may
 * be NULL: nothing) on its stdin, a pipe, to completion. */
static void
run_evbus_input (Result *result, const char *input, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  const char *arg;
  va_list args;
  TestChild child;

  g_ptr_array_add (argv, (char *) EVB_TEST_EVBUS);
  va_start (args, input);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  child_start_or_fail (&child, EXPLAIN_DIR, (const char *const *) argv->pdata, NULL, TEST_CHILD_STDIN_PIPE, NULL,
                       NULL);
  /* An event is small: the pipe takes it whole before evbus reads. */
  if (input != NULL)
    write_all (child.in, input);
  close (child.in);
  child.in = -1;
  child_finish_or_fail (&child, DEADLINE_MS);
  result->status = child.status;
  result->out = g_string_free (g_steal_pointer (&child.out_text), FALSE);
  result->err = g_string_free (g_steal_pointer (&child.err_text), FALSE);
  test_child_clear (&child);
}

#define run_evbus(result, ...) run_evbus_input (result, NULL, __VA_ARGS__, NULL)

static void
assert_result (Result *result, int status, const char *out, const char *err)
{
  /* Output first: when the status is wrong, what it said tells why. */
  assert_string_equal (result->err, err);
  assert_string_equal (result->out, out);
  assert_int_equal (result->status, status);
}

/* TRUE when @text has @line as one of its lines, exactly. */
static gboolean
has_line (const char *text, const char *line)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  return g_strv_contains ((const char *const *) lines, line);
}

#define assert_has_line(text, line)                                                     \
  do {                                                                                  \
    if (!has_line ((text), (line)))                                                     \
      fail_msg ("missing line \"%s\" in:\n%s", (line), (text));                         \
  } while (0)

/* ---- the command line ---- */

static void
test_help (void **state)
{
  Result result;

  run_evbus (&result, "explain", "--help");
  assert_int_equal (result.status, 0);
  assert_string_equal (result.err, "");
  assert_true (g_str_has_prefix (result.out, "Usage:\n  evbus explain [OPTION"));
  assert_non_null (strstr (result.out, "] CONFIG EVENT\n"));
  assert_has_line (result.out, "Show which routes of CONFIG an event would go to, in the order \"evbus run\"");
  assert_has_line (result.out, "(\"data\" may be left out: {}), or \"-\" to read it from standard input.");
  assert_has_line (result.out, "  level 1, priority 10: a HANDLED return here stops level 2");
  assert_has_line (result.out, "    routes[3] db.search (async, priority 0): skipped, filter data.size: 4 is not > 10");
  assert_has_line (result.out, "\"routes for other types:\".  Routes that plugins add in code at run time");
  assert_has_line (result.out, "line as FILE:LINE:COLUMN: JSON_PATH: message, and exits 2.");
  result_clear (&result);

  run_evbus (&result, "--help");
  assert_int_equal (result.status, 0);
  assert_has_line (result.out, "  explain  Show the routes a config gives an event, in order, running nothing");
  result_clear (&result);
}

static void
test_usage_errors (void **state)
{
  Result result;

  run_evbus (&result, "explain");
  assert_result (&result, 2, "", "evbus explain: missing CONFIG (try \"evbus explain --help\")\n");
  result_clear (&result);

  run_evbus (&result, "explain", "routes.json");
  assert_result (&result, 2, "", "evbus explain: missing EVENT (try \"evbus explain --help\")\n");
  result_clear (&result);

  run_evbus (&result, "explain", "routes.json", "search.json", "deep.json");
  assert_result (&result, 2, "",
                 "evbus explain: unexpected argument \"deep.json\" after EVENT (try \"evbus explain --help\")\n");
  result_clear (&result);

  run_evbus (&result, "explain", "--verbose", "routes.json", "search.json");
  assert_result (&result, 2, "", "evbus explain: Unknown option --verbose (try \"evbus explain --help\")\n");
  result_clear (&result);
}

/* ---- explaining ---- */

/* Every level of routes.json: priorities 10, 5, 0 and -3, equal
 * priorities in config order; a filtered "any", a "gt", a "prefix"; the
 * route on "search.results" last, as not for this type. */
static void
test_levels_and_filters (void **state)
{
  Result result;

  run_evbus (&result, "explain", "routes.json", "search.json");
  assert_result (&result, 0,
                 "ui.search: 6 routes match the type, 3 take the event\n"
                 "level 1, priority 10: a HANDLED return here stops levels 2 to 4\n"
                 "  routes[1] audit.log (sync, priority 10): runs\n"
                 "  routes[2] audit.all (sync, priority 10): runs\n"
                 "level 2, priority 5: no route here takes the event\n"
                 "  routes[5] view.cache (sync, priority 5): skipped, filter none of: (data.kind: \"x\" is not \"a\"; "
                 "data.kind: \"x\" is not in [\"b\", \"c\"])\n"
                 "level 3, priority 0: a HANDLED return here stops level 4\n"
                 "  routes[0] db.search (async, priority 0): runs\n"
                 "  routes[3] db.search (async, priority 0): skipped, filter data.size: 4 is not > 10\n"
                 "level 4, priority -3: no route here takes the event\n"
                 "  routes[6] view.guard (sync, priority -3): skipped, filter data.user.name: \"bob\" does not "
                 "start with \"a\"\n"
                 "routes for other types:\n"
                 "  routes[4] view.print (on search.results)\n",
                 "");
  result_clear (&result);
}

/* "-" reads the event from stdin: a "not" that held skips routes[2]; the
 * stop_on_failure route of level 2 is named in its header. */
static void
test_event_from_stdin (void **state)
{
  Result result;

  run_evbus_input (&result,
                   "{\"type\": \"ui.search\",\n"
                   " \"data\": {\"size\": 40, \"kind\": \"b\", \"internal\": true, \"user\": {\"name\": \"ann\"}}}\n",
                   "explain", "routes.json", "-", NULL);
  assert_result (&result, 0,
                 "ui.search: 6 routes match the type, 5 take the event\n"
                 "level 1, priority 10: a HANDLED return here stops levels 2 to 4\n"
                 "  routes[1] audit.log (sync, priority 10): runs\n"
                 "  routes[2] audit.all (sync, priority 10): skipped, filter not: data.internal: true is true\n"
                 "level 2, priority 5: a HANDLED return here, or a failure of routes[5], stops levels 3 to 4\n"
                 "  routes[5] view.cache (sync, priority 5): runs\n"
                 "level 3, priority 0: a HANDLED return here stops level 4\n"
                 "  routes[0] db.search (async, priority 0): runs\n"
                 "  routes[3] db.search (async, priority 0): runs\n"
                 "level 4, priority -3: the last level\n"
                 "  routes[6] view.guard (sync, priority -3): runs\n"
                 "routes for other types:\n"
                 "  routes[4] view.print (on search.results)\n",
                 "");
  result_clear (&result);

  /* The same file through stdin explains the same. */
  {
    g_autofree char *text = NULL;
    Result from_file;

    assert_true (g_file_get_contents (EXPLAIN_DIR "/search.json", &text, NULL, NULL));
    run_evbus_input (&result, text, "explain", "routes.json", "-", NULL);
    run_evbus (&from_file, "explain", "routes.json", "search.json");
    assert_result (&result, 0, from_file.out, "");
    result_clear (&from_file);
    result_clear (&result);
  }
}

/* "*" takes one segment, ">" one or more: "ui.open.deep" goes to ">" and
 * "ui.>" but not to "ui.*". */
static void
test_wildcards (void **state)
{
  Result result;

  run_evbus (&result, "explain", "routes.json", "deep.json");
  assert_result (&result, 0,
                 "ui.open.deep: 2 routes match the type, 2 take the event\n"
                 "level 1, priority 10: a HANDLED return here stops level 2\n"
                 "  routes[2] audit.all (sync, priority 10): runs\n"
                 "level 2, priority 5: the last level\n"
                 "  routes[5] view.cache (sync, priority 5): runs\n"
                 "routes for other types:\n"
                 "  routes[0] db.search (on ui.search)\n"
                 "  routes[1] audit.log (on ui.*)\n"
                 "  routes[3] db.search (on ui.search)\n"
                 "  routes[4] view.print (on search.results)\n"
                 "  routes[6] view.guard (on ui.search)\n",
                 "");
  result_clear (&result);

  /* No "data": {}, so the "not" of routes[2] holds. */
  run_evbus (&result, "explain", "routes.json", "no-data.json");
  assert_result (&result, 0,
                 "orders.new: 1 route matches the type, 1 takes the event\n"
                 "level 1, priority 10: the last level\n"
                 "  routes[2] audit.all (sync, priority 10): runs\n"
                 "routes for other types:\n"
                 "  routes[0] db.search (on ui.search)\n"
                 "  routes[1] audit.log (on ui.*)\n"
                 "  routes[3] db.search (on ui.search)\n"
                 "  routes[4] view.print (on search.results)\n"
                 "  routes[5] view.cache (on ui.>)\n"
                 "  routes[6] view.guard (on ui.search)\n",
                 "");
  result_clear (&result);
}

/* What `evbus run` does with an event no route takes: counted as
 * unhandled (and re-emitted when the config says so); a host event is
 * not. */
static void
test_nobody_takes_it (void **state)
{
  static const char others[] = "routes for other types:\n"
                               "  routes[0] db.search (on ui.search)\n"
                               "  routes[1] audit.log (on ui.*)\n"
                               "  routes[3] db.search (on ui.search)\n"
                               "  routes[4] view.print (on search.results)\n"
                               "  routes[5] view.cache (on ui.>)\n"
                               "  routes[6] view.guard (on ui.search)\n";
  g_autofree char *expected = NULL;
  Result result;

  run_evbus (&result, "explain", "routes.json", "nobody.json");
  expected = g_strconcat ("orders.new: 1 route matches the type, none takes the event: \"evbus run\" counts it as "
                          "unhandled\n"
                          "level 1, priority 10: no route here takes the event\n"
                          "  routes[2] audit.all (sync, priority 10): skipped, filter not: data.internal: true is "
                          "true\n",
                          others, NULL);
  assert_result (&result, 0, expected, "");
  result_clear (&result);
  g_free (expected);

  run_evbus (&result, "explain", "routes.json", "host-event.json");
  expected = g_strconcat ("evbus.failure: 1 route matches the type, none takes the event (a host event that no "
                          "route takes is not counted as unhandled)\n"
                          "level 1, priority 10: no route here takes the event\n"
                          "  routes[2] audit.all (sync, priority 10): skipped, filter not: data.internal: true is "
                          "true\n",
                          others, NULL);
  assert_result (&result, 0, expected, "");
  result_clear (&result);

  run_evbus (&result, "explain", "unhandled.json", "nobody.json");
  assert_result (&result, 0,
                 "orders.new: no route matches the type: \"evbus run\" counts it as unhandled and emits "
                 "evbus.unhandled\n"
                 "routes for other types:\n"
                 "  routes[0] view.print (on search.results)\n",
                 "");
  result_clear (&result);
}

/* A regex that hits PCRE2's match limit fails its filter closed, under
 * "not" too.  GLib's words for the limit are taken from GLib. */
static void
test_regex_match_limit (void **state)
{
  g_autoptr (GRegex) regex = g_regex_new ("(a+)+$", 0, 0, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  const char *subject = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";
  const char *reason;
  Result result;

  assert_false (g_regex_match_full (regex, subject, -1, 0, 0, NULL, &error));
  assert_non_null (error);
  reason = g_strrstr (error->message, ": ");
  reason = reason != NULL ? reason + 2 : error->message;
  expected = g_strdup_printf ("text.in: 1 route matches the type, none takes the event: \"evbus run\" counts it as "
                              "unhandled\n"
                              "level 1, priority 0: no route here takes the event\n"
                              "  routes[0] audit.log (sync, priority 0): skipped, filter data.s: regex \"(a+)+$\" "
                              "could not be evaluated on \"%s\" (%s): the filter fails closed\n",
                              subject, reason);

  run_evbus (&result, "explain", "runaway.json", "runaway-event.json");
  assert_result (&result, 0, expected, "");
  result_clear (&result);
}

/* ---- bad input: exit 2, one line per problem, nothing on stdout ---- */

typedef struct {
  const char *event;
  const char *stderr_lines;
} BadEvent;

static const BadEvent bad_events[] = {
  { "event-not-json.json", "event-not-json.json:1:45: string or '}' expected near '}'\n" },
  { "event-not-object.json", "event-not-object.json:1:1: expected an object, got an array\n" },
  { "event-no-type.json", "event-no-type.json:1:1: missing key \"type\"\n" },
  { "event-bad-type.json",
    "event-bad-type.json:2:3: type: invalid event type \"UI.search\": segment 1 may hold only a-z 0-9 _ -\n" },
  { "event-data-array.json", "event-data-array.json:1:24: data: expected an object, got an array\n" },
  { "event-unknown-keys.json",
    "event-unknown-keys.json:1:24: id: unknown key (expected one of: type, data)\n"
    "event-unknown-keys.json:1:45: source: unknown key (expected one of: type, data)\n" },
  /* every problem, in document order */
  { "event-many-problems.json",
    "event-many-problems.json:1:3: type: invalid event type \"ui..search\": empty segment 2\n"
    "event-many-problems.json:1:25: data: expected an object, got \"x\"\n"
    "event-many-problems.json:1:38: extra: unknown key (expected one of: type, data)\n" },
  { "missing.json", "missing.json: cannot read: No such file or directory\n" },
};

static void
test_bad_events (void **state)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_events); i++)
    {
      Result result;

      run_evbus (&result, "explain", "routes.json", bad_events[i].event);
      assert_result (&result, 2, "", bad_events[i].stderr_lines);
      result_clear (&result);
    }
}

/* Through stdin, the file is called "<stdin>". */
static void
test_bad_events_from_stdin (void **state)
{
  static const struct {
    const char *input;
    const char *stderr_lines;
  } cases[] = {
    { "not json\n", "<stdin>:1:3: invalid token near 'not'\n" },
    { "", "<stdin>:1:1: unexpected token near end of file\n" },
    { "{\"type\": 5}", "<stdin>:1:2: type: expected a string, got 5\n" },
    { "{\"type\": \"\"}", "<stdin>:1:2: type: invalid event type \"\": empty type\n" },
    { "{\"type\": \"a.b\", \"data\": null}", "<stdin>:1:17: data: expected an object, got null\n" },
    /* a key with a newline stays on its line */
    { "{\"type\": \"a.b\", \"x\\ny\": 1}", "<stdin>:1:17: x\\ny: unknown key (expected one of: type, data)\n" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Result result;

      run_evbus_input (&result, cases[i].input, "explain", "routes.json", "-", NULL);
      assert_result (&result, 2, "", cases[i].stderr_lines);
      result_clear (&result);
    }
}

/* Config problems are exactly `evbus check`'s lines (evb_config_load's);
 * a bad event is reported too, after them. */
static void
test_bad_config (void **state)
{
  static const char config_lines[] =
    "bad-config.json:4:62: routes[0].filter.size: unknown operator \"gtt\"\n"
    "bad-config.json:5:7: routes[1].on: invalid pattern \"ui..x\": empty segment 2\n"
    "bad-config.json:5:46: routes[1].prioirty: unknown key (expected one of: on, handler, mode, priority, filter, "
    "on_failure, timeout_ms, max_concurrency, stop_on_failure, params)\n";
  Result result;

  run_evbus (&result, "check", "bad-config.json");
  assert_result (&result, 2, "", config_lines);
  result_clear (&result);

  run_evbus (&result, "explain", "bad-config.json", "search.json");
  assert_result (&result, 2, "", config_lines);
  result_clear (&result);

  {
    g_autofree char *both = g_strconcat (config_lines, "event-no-type.json:1:1: missing key \"type\"\n", NULL);

    run_evbus (&result, "explain", "bad-config.json", "event-no-type.json");
    assert_result (&result, 2, "", both);
    result_clear (&result);
  }

  run_evbus (&result, "explain", "missing.json", "search.json");
  assert_result (&result, 2, "", "missing.json: cannot read: No such file or directory\n");
  result_clear (&result);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_help),
    cmocka_unit_test (test_usage_errors),
    cmocka_unit_test (test_levels_and_filters),
    cmocka_unit_test (test_event_from_stdin),
    cmocka_unit_test (test_wildcards),
    cmocka_unit_test (test_nobody_takes_it),
    cmocka_unit_test (test_regex_match_limit),
    cmocka_unit_test (test_bad_events),
    cmocka_unit_test (test_bad_events_from_stdin),
    cmocka_unit_test (test_bad_config),
  };

  /* A child that exits before reading its stdin must not kill the test. */
  signal (SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests_name ("explain", tests, NULL, NULL);
}
