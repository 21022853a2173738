/* fuzz-replay-line: the replay plugin's line parser (plugins/replay/replay.c,
 * replay_parse_line), on arbitrary bytes.
 *
 * The parser is static and pure by design; the plugin's source is compiled
 * into this target as it is (included below), so nothing in it changes
 * for the fuzzer's sake.  The input is cut into lines at '\n' as the
 * plugin's reader cuts its file, and each line is parsed.
 *
 * Checks besides "no crash, no leak, no undefined behaviour", from the
 * parser's comment: SKIP sets nothing; EVENT gives a type the host itself
 * accepts from a plugin (evb_event_type_validate, not under "evbus.") and
 * an object; BAD gives a reason on one valid UTF-8 line (jansson's
 * "near '...'" can cut a multi-byte character: the parser mends it). */
#include "fuzz-common.h"

#include <string.h>

#include "event.h"

/* The plugin, whole: its static parser becomes reachable from here. */
#include "../../plugins/replay/replay.c"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_setup ();
  return 0;
}

static void
check_line (const char *line, gsize length)
{
  char *type = (char *) "unset";
  json_t *data = (json_t *) 1;
  char *reason = (char *) "unset";
  g_autoptr (GError) error = NULL;

  switch (replay_parse_line (line, length, &type, &data, &reason))
    {
    case REPLAY_LINE_SKIP:
      fuzz_check (type == NULL && data == NULL && reason == NULL, "a skipped line set something");
      break;
    case REPLAY_LINE_EVENT:
      fuzz_check (reason == NULL, "an event with a reason");
      fuzz_check (evb_event_type_validate (type, &error), "type \"%s\" the host refuses: %s", type,
                  error->message);
      fuzz_check (!g_str_has_prefix (type, "evbus."), "reserved type \"%s\"", type);
      fuzz_check (json_is_object (data), "data is not an object");
      g_free (type);
      json_decref (data);
      break;
    case REPLAY_LINE_BAD:
      fuzz_check (type == NULL && data == NULL, "a bad line with an event");
      fuzz_check (reason != NULL && *reason != '\0', "a bad line without its reason");
      fuzz_check (strchr (reason, '\n') == NULL, "a reason on two lines: %s", reason);
      fuzz_check (g_utf8_validate (reason, -1, NULL), "a reason that is not UTF-8: %s", reason);
      g_free (reason);
      break;
    default:
      fuzz_check (FALSE, "unknown result");
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
  const char *text = (const char *) bytes;
  const char *end = text + size;

  /* Lines as the reader gives them: without their '\n', the last one
   * possibly unterminated. */
  while (text < end)
    {
      const char *newline = memchr (text, '\n', end - text);
      const char *stop = newline != NULL ? newline : end;

      check_line (text, stop - text);
      text = newline != NULL ? newline + 1 : end;
    }
  return 0;
}
