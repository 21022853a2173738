/* fuzz-filter: the filter compiler and evaluator (host/filter.c).
 *
 * Input: the first line is the filter (any JSON value, as a config could
 * hold one), the rest is the event's data (any JSON value; the bus only
 * ever passes an object or nothing, so anything else is matched as
 * "no data").  Seeds in corpus/fuzz-filter/ read that way.
 *
 * Checks besides "no crash, no leak, no undefined behaviour", from
 * filter.h: a failed compile sets exactly one error, in EVB_FILTER_ERROR,
 * and a path under the given one; a successful one sets no path; a
 * compiled filter does not depend on its spec (the spec is freed before
 * matching); matching does not change the data and gives the same answer
 * on an equal copy of it. */
#include "fuzz-common.h"

#include <string.h>

#include "filter.h"

#define FILTER_PATH "routes[0].filter"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_setup ();
  return 0;
}

static json_t *
parse (const char *text, size_t length)
{
  return json_loadb (text, length, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
  const char *text = (const char *) bytes;
  const char *newline = memchr (text, '\n', size);
  size_t filter_length = newline != NULL ? (size_t) (newline - text) : size;
  g_autoptr (EvbFilter) filter = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *error_path = NULL;
  json_t *spec = parse (text, filter_length);
  json_t *data = NULL;
  json_t *data_copy = NULL;
  json_t *event_data;
  gboolean first;

  if (spec == NULL)
    return 0;
  filter = evb_filter_compile (spec, FILTER_PATH, &error_path, &error);
  json_decref (spec);
  if (filter == NULL)
    {
      fuzz_check (error != NULL && error->domain == EVB_FILTER_ERROR, "a failed compile without its error");
      fuzz_check (error_path != NULL && g_str_has_prefix (error_path, FILTER_PATH), "error path %s",
                  error_path != NULL ? error_path : "(null)");
      return 0;
    }
  fuzz_check (error == NULL && error_path == NULL, "a compiled filter with an error");

  if (newline != NULL)
    data = parse (newline + 1, size - filter_length - 1);
  event_data = json_is_object (data) ? data : NULL;
  data_copy = json_deep_copy (event_data);

  first = evb_filter_match (filter, event_data);
  fuzz_check (json_equal (event_data, data_copy) || (event_data == NULL && data_copy == NULL),
              "matching changed the data");
  fuzz_check (evb_filter_match (filter, data_copy) == first, "an equal copy of the data matches differently");
  fuzz_check (evb_filter_match (filter, event_data) == first, "a second match differs");
  /* No data at all, as for an event emitted with NULL. */
  evb_filter_match (filter, NULL);

  json_decref (data);
  json_decref (data_copy);
  return 0;
}
