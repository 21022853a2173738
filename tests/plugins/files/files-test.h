/* Helpers of the file-in and file-out tests: writing numbered lines,
 * a sink that records them, and a ledger check. */
#pragma once

#include "stock-test.h"

#include <fcntl.h>
#include <unistd.h>

/* Appends {"n": from} .. {"n": to - 1}, one per line, through @fd. */
static inline void
write_numbered (int fd, guint from, guint to)
{
  g_autoptr (GString) text = g_string_new (NULL);

  for (guint n = from; n < to; n++)
    g_string_append_printf (text, "{\"n\": %u}\n", n);
  assert_int_equal (write (fd, text->str, text->len), (gssize) text->len);
}

static inline void
append_numbered (const char *path, guint from, guint to)
{
  int fd = open (path, O_WRONLY | O_APPEND | O_CREAT, 0644);

  assert_true (fd >= 0);
  write_numbered (fd, from, to);
  close (fd);
}

/* A sink: counts each data.n it sees; fails the first `fail_times` calls
 * for n == fail_n. */
typedef struct {
  GArray *seen; /* guint per n: times seen */
  gint fail_n;
  guint fail_times;
  guint calls;
} Recorder;

static inline void
recorder_init (Recorder *recorder)
{
  memset (recorder, 0, sizeof *recorder);
  recorder->seen = g_array_new (FALSE, TRUE, sizeof (guint));
  recorder->fail_n = -1;
}

static inline guint
recorder_times (Recorder *recorder, guint n)
{
  return n < recorder->seen->len ? g_array_index (recorder->seen, guint, n) : 0;
}

static inline EvbResult
recorder_handler (EvbCall *call, const EvbEvent *event)
{
  Recorder *recorder = call->route_data;
  json_t *n = json_object_get (event->data, "n");
  guint value;

  recorder->calls++;
  if (!json_is_integer (n))
    return evb_call_fail (call, "test", 1, "no n");
  value = (guint) json_integer_value (n);
  if ((gint) value == recorder->fail_n && recorder->fail_times > 0)
    {
      recorder->fail_times--;
      return evb_call_fail (call, "test", 2, "refusing n %u", value);
    }
  if (value >= recorder->seen->len)
    g_array_set_size (recorder->seen, value + 1);
  g_array_index (recorder->seen, guint, value)++;
  return EVB_CONTINUE;
}

static inline void
recorder_route (EvbHarness *harness, Recorder *recorder, const char *pattern)
{
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;

  spec.pattern = pattern;
  spec.handler = "recorder";
  spec.func = recorder_handler;
  spec.user_data = recorder;
  assert_true (evb_harness_add_route_spec (harness, &spec, NULL, &error) != 0);
  assert_no_error (error);
}

typedef struct {
  Recorder *recorder;
  guint distinct;
} DistinctWait;

static inline gboolean
recorder_has_distinct (EvbHarness *harness, gpointer data)
{
  DistinctWait *wait = data;
  guint distinct = 0;

  for (guint n = 0; n < wait->recorder->seen->len; n++)
    distinct += g_array_index (wait->recorder->seen, guint, n) > 0;
  return distinct >= wait->distinct;
}

static inline void
run_until_distinct_or_fail (EvbHarness *harness, Recorder *recorder, guint distinct)
{
  g_autoptr (GError) error = NULL;
  DistinctWait wait = { recorder, distinct };

  if (!evb_harness_run_until (harness, recorder_has_distinct, &wait, WAIT_MS, &error))
    fail_msg ("waiting for %u distinct lines: %s", distinct, error->message);
}

/* Every n below @total seen exactly once. */
static inline void
assert_each_once (Recorder *recorder, guint total)
{
  for (guint n = 0; n < total; n++)
    if (recorder_times (recorder, n) != 1)
      fail_msg ("line n=%u seen %u times", n, recorder_times (recorder, n));
  assert_int_equal (recorder->seen->len, total);
}
