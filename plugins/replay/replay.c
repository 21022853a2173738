/* replay — a source that emits the events of a JSON-lines file or stdin.
 *
 * Provides
 *   no handlers: it emits on its own, from init to the end of its input
 *   emits   one event per line {"type": "a.b", "data": {...}} ("data" optional, {} when absent),
 *           in file order; then replay.done {"path", "lines", "emitted", "errors"} at the end of
 *           each pass (lines: every line read, blank and comment lines included)
 *   option  path         path     required  file to read, relative to the config file's folder;
 *                                            "-" reads standard input
 *   option  interval_ms  integer  0         pause between two emitted events, in milliseconds
 *                                            (0 to 2147483647)
 *   option  loop         boolean  false     start over at the top after each pass (files only)
 *
 * Blank lines and lines whose first non-blank character is '#' are skipped.
 * The keys "id", "source" and "time_us" are accepted and ignored, so that
 * the console plugin's JSON output replays as it is.  Anything else wrong
 * with a line (invalid JSON, not an object, an unknown key, a missing or
 * invalid "type", "data" not an object, a line over 1 MiB) makes it a bad
 * line: logged as a warning "replay: PATH:LINE: REASON", counted in
 * replay.done's "errors", and skipped.  An event the host refuses is
 * counted and logged the same way.
 *
 * Threads: a reader thread owned by the instance reads, parses and emits,
 * so that a slow stdin or a long pause never blocks the main loop.  The
 * instance holds the host (evb_plugin_hold) from init until its input ends,
 * so "run until idle" waits for the whole file.  The reader stops as soon
 * as the host calls stop (the start of shutdown), and shutdown joins it; a
 * wake-up pipe interrupts its waits on input and pauses.
 */
#include <evbus/json.h>
#include <evbus/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#define REPLAY_MAX_LINE (1024 * 1024)
#define REPLAY_READ_CHUNK (64 * 1024)

static GQuark
replay_error_quark (void)
{
  return g_quark_from_string ("evbus-replay-error");
}

/* ---- the line parser ---------------------------------------------------- */

typedef enum {
  REPLAY_LINE_SKIP,  /* blank or comment: nothing to emit, nothing wrong */
  REPLAY_LINE_EVENT, /* *type and *data are set */
  REPLAY_LINE_BAD,   /* *reason is set */
} ReplayLine;

static const char *
json_kind (json_t *value)
{
  switch (json_typeof (value))
    {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
  return "unknown";
}

/* @text as a JSON string literal, so that reasons stay on one printable line. */
static char *
quoted (const char *text)
{
  json_t *string = json_string (text);
  char *dumped = string != NULL ? evb_json_dumps (string, JSON_ENCODE_ANY) : NULL;
  char *result = g_strdup (dumped != NULL ? dumped : "\"?\"");

  free (dumped);
  json_decref (string);
  return result;
}

static gboolean
is_ignored_key (const char *key)
{
  return strcmp (key, "id") == 0 || strcmp (key, "source") == 0 || strcmp (key, "time_us") == 0;
}

/* Parses one input line.  @line holds @length bytes without the newline;
 * it need not be NUL-terminated and may hold any bytes.  Pure — no I/O, no
 * state — so that it can be fuzzed alone.
 *
 * REPLAY_LINE_EVENT: the caller owns *type (g_free) and *data (json_decref,
 * always an object).  REPLAY_LINE_BAD: the caller owns *reason (g_free), one
 * line of text.  REPLAY_LINE_SKIP: nothing is set. */
static ReplayLine
replay_parse_line (const char *line, gsize length, char **type, json_t **data, char **reason)
{
  json_error_t parse_error;
  json_t *root;
  json_t *type_value;
  json_t *data_value;
  const char *key;
  json_t *value;
  gsize first = 0;

  *type = NULL;
  *data = NULL;
  *reason = NULL;

  while (first < length && g_ascii_isspace (line[first]))
    first++;
  if (first == length || line[first] == '#')
    return REPLAY_LINE_SKIP;

  root = json_loadb (line, length, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &parse_error);
  if (root == NULL)
    {
      /* jansson's "near '...'" may end inside a multi-byte character; the
       * reason goes to logs and must stay valid UTF-8. */
      g_autofree char *text = g_utf8_make_valid (parse_error.text, -1);

      *reason = g_strdup_printf ("invalid JSON at column %d: %s", parse_error.column, text);
      return REPLAY_LINE_BAD;
    }
  if (!json_is_object (root))
    {
      *reason = g_strdup_printf ("expected a JSON object {\"type\": ..., \"data\": {...}}, got %s",
                                 json_kind (root));
      goto bad;
    }
  json_object_foreach (root, key, value)
    if (strcmp (key, "type") != 0 && strcmp (key, "data") != 0 && !is_ignored_key (key))
      {
        g_autofree char *name = quoted (key);

        *reason = g_strdup_printf ("unknown key %s (a line holds \"type\" and \"data\")", name);
        goto bad;
      }

  type_value = json_object_get (root, "type");
  if (type_value == NULL)
    {
      *reason = g_strdup ("missing \"type\"");
      goto bad;
    }
  if (!json_is_string (type_value))
    {
      *reason = g_strdup_printf ("\"type\" must be a string, got %s", json_kind (type_value));
      goto bad;
    }
  /* Checked here (the SDK's grammar) to reject a bad line with a reason
   * instead of a failed emit. */
  if (!evb_type_is_valid (json_string_value (type_value)))
    {
      g_autofree char *name = quoted (json_string_value (type_value));

      *reason = g_strdup_printf ("\"type\" %s is not an event type (dotted segments of [a-z0-9_-])", name);
      goto bad;
    }
  if (evb_type_is_reserved (json_string_value (type_value)))
    {
      g_autofree char *name = quoted (json_string_value (type_value));

      *reason = g_strdup_printf ("\"type\" %s is reserved for the host", name);
      goto bad;
    }

  data_value = json_object_get (root, "data");
  if (data_value != NULL && !json_is_object (data_value))
    {
      *reason = g_strdup_printf ("\"data\" must be an object, got %s", json_kind (data_value));
      goto bad;
    }

  *type = g_strdup (json_string_value (type_value));
  *data = data_value != NULL ? json_incref (data_value) : json_object ();
  json_decref (root);
  return REPLAY_LINE_EVENT;

bad:
  json_decref (root);
  return REPLAY_LINE_BAD;
}

/* ---- the reader --------------------------------------------------------- */

typedef struct {
  EvbPlugin *plugin;
  char *path;         /* as configured: "-" is stdin */
  const char *shown;  /* how logs name the input */
  gint64 interval_ms;
  gboolean loop;
  int fd;             /* the input; closed at shutdown unless it is stdin */
  int wake[2];        /* a byte in wake[1] interrupts the reader's waits */
  gint stop;          /* atomic: set once, by request_stop() */
  GThread *thread;

  /* Reader thread only. */
  gboolean emitted_before; /* pace from the second event of the run on */
} Replay;

typedef struct {
  guint64 lines;
  guint64 emitted;
  guint64 errors;
} PassCounts;

static gboolean
stop_requested (Replay *replay)
{
  return g_atomic_int_get (&replay->stop) != 0;
}

/* Any thread; idempotent. */
static void
request_stop (Replay *replay)
{
  g_atomic_int_set (&replay->stop, 1);
  /* Only ever one byte per request, far below the pipe's capacity. */
  if (write (replay->wake[1], "s", 1) < 0)
    g_warning ("replay: cannot wake the reader: %s", g_strerror (errno));
}

/* Waits @ms or until a stop request; FALSE when stopped. */
static gboolean
pause_for (Replay *replay, gint64 ms)
{
  gint64 deadline = g_get_monotonic_time () + ms * 1000;
  struct pollfd wake = { .fd = replay->wake[0], .events = POLLIN };

  while (!stop_requested (replay))
    {
      gint64 left_ms = (deadline - g_get_monotonic_time () + 999) / 1000;

      if (left_ms <= 0)
        return TRUE;
      poll (&wake, 1, (int) MIN (left_ms, G_MAXINT));
    }
  return FALSE;
}

/* Waits until the input has something to say (data, EOF or an error);
 * FALSE when stopped. */
static gboolean
wait_readable (Replay *replay)
{
  struct pollfd fds[2] = {
    { .fd = replay->wake[0], .events = POLLIN },
    { .fd = replay->fd, .events = POLLIN },
  };

  while (!stop_requested (replay))
    {
      int ready = poll (fds, G_N_ELEMENTS (fds), -1);

      if (ready < 0 && errno != EINTR)
        return TRUE; /* let read() report what is wrong */
      if (ready > 0 && fds[1].revents != 0)
        return TRUE;
    }
  return FALSE;
}

static void
report_bad_line (Replay *replay, PassCounts *counts, const char *reason)
{
  counts->errors++;
  evb_plugin_log (replay->plugin, G_LOG_LEVEL_WARNING, "replay: %s:%" G_GUINT64_FORMAT ": %s", replay->shown,
                  counts->lines, reason);
}

/* One line of the current pass.  FALSE when the reader must stop. */
static gboolean
handle_line (Replay *replay, PassCounts *counts, const char *line, gsize length)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *type = NULL;
  g_autofree char *reason = NULL;
  json_t *data = NULL;

  counts->lines++;
  switch (replay_parse_line (line, length, &type, &data, &reason))
    {
    case REPLAY_LINE_SKIP:
      return TRUE;
    case REPLAY_LINE_BAD:
      report_bad_line (replay, counts, reason);
      return TRUE;
    case REPLAY_LINE_EVENT:
      break;
    }

  /* Checked per event, not only in waits: a buffer may hold many lines. */
  if (stop_requested (replay)
      || (replay->emitted_before && replay->interval_ms > 0 && !pause_for (replay, replay->interval_ms)))
    {
      json_decref (data);
      return FALSE;
    }
  replay->emitted_before = TRUE;
  if (!evb_plugin_emit (replay->plugin, type, data, &error))
    {
      g_autofree char *refused = g_strdup_printf ("not emitted: %s", error->message);

      report_bad_line (replay, counts, refused);
      return TRUE;
    }
  counts->emitted++;
  return TRUE;
}

/* Reads the input to its end, one line at a time.  FALSE when stopped. */
static gboolean
replay_pass (Replay *replay, PassCounts *counts)
{
  g_autoptr (GString) pending = g_string_new (NULL);
  g_autofree char *chunk = g_malloc (REPLAY_READ_CHUNK);
  gboolean discarding = FALSE; /* inside a line over REPLAY_MAX_LINE */

  for (;;)
    {
      gsize start = 0;
      const char *newline;
      gssize got;

      while ((newline = memchr (pending->str + start, '\n', pending->len - start)) != NULL)
        {
          gsize length = (gsize) (newline - (pending->str + start));

          if (discarding)
            discarding = FALSE; /* the end of the long line, already counted */
          else if (length > REPLAY_MAX_LINE)
            {
              counts->lines++;
              report_bad_line (replay, counts, "line longer than 1048576 bytes");
            }
          else if (!handle_line (replay, counts, pending->str + start, length))
            return FALSE;
          start += length + 1;
        }
      g_string_erase (pending, 0, (gssize) start);
      if (!discarding && pending->len > REPLAY_MAX_LINE)
        {
          counts->lines++;
          report_bad_line (replay, counts, "line longer than 1048576 bytes");
          discarding = TRUE;
        }
      if (discarding)
        g_string_truncate (pending, 0);

      if (!wait_readable (replay))
        return FALSE;
      got = read (replay->fd, chunk, REPLAY_READ_CHUNK);
      if (got < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (got < 0)
        {
          evb_plugin_log (replay->plugin, G_LOG_LEVEL_WARNING, "replay: %s: read failed: %s", replay->shown,
                          g_strerror (errno));
          counts->errors++;
          break;
        }
      if (got == 0)
        break;
      g_string_append_len (pending, chunk, got);
    }

  /* A last line without a newline is still a line. */
  if (pending->len > 0 && !discarding)
    return handle_line (replay, counts, pending->str, pending->len);
  return TRUE;
}

static void
emit_done (Replay *replay, const PassCounts *counts)
{
  g_autoptr (GError) error = NULL;

  if (!evb_plugin_emit (replay->plugin, "replay.done",
                        json_pack ("{s:s, s:I, s:I, s:I}", "path", replay->path, "lines", (json_int_t) counts->lines,
                                   "emitted", (json_int_t) counts->emitted, "errors", (json_int_t) counts->errors),
                        &error))
    evb_plugin_log (replay->plugin, G_LOG_LEVEL_WARNING, "replay: %s: replay.done not emitted: %s", replay->shown,
                    error->message);
}

static gpointer
replay_thread (gpointer data)
{
  Replay *replay = data;

  for (;;)
    {
      PassCounts counts = { 0 };

      if (!replay_pass (replay, &counts))
        break;
      emit_done (replay, &counts);
      if (!replay->loop || stop_requested (replay))
        break;
      if (counts.emitted == 0)
        {
          /* Looping over nothing would only spin. */
          evb_plugin_log (replay->plugin, G_LOG_LEVEL_WARNING, "replay: %s: no event in a whole pass, not looping",
                          replay->shown);
          break;
        }
      if (lseek (replay->fd, 0, SEEK_SET) < 0)
        {
          evb_plugin_log (replay->plugin, G_LOG_LEVEL_WARNING, "replay: %s: cannot start over: %s", replay->shown,
                          g_strerror (errno));
          break;
        }
    }
  /* The hold taken in init: nothing more will come from this instance. */
  evb_plugin_release (replay->plugin);
  return NULL;
}

/* ---- lifecycle -------------------------------------------------------- */

static void
replay_free (Replay *replay)
{
  if (replay->fd > STDIN_FILENO)
    g_close (replay->fd, NULL);
  if (replay->wake[0] >= 0)
    g_close (replay->wake[0], NULL);
  if (replay->wake[1] >= 0)
    g_close (replay->wake[1], NULL);
  g_free (replay->path);
  g_free (replay);
}

static gboolean
replay_init (EvbPlugin *plugin, GError **error)
{
  /* Absolute (or "-"): the host resolved it against the config's folder. */
  const char *path = evb_plugin_get_string (plugin, "path");
  gint64 interval_ms = evb_plugin_get_int (plugin, "interval_ms"); /* in range: the host checked it */
  gboolean loop = evb_plugin_get_bool (plugin, "loop");
  gboolean from_stdin = g_strcmp0 (path, "-") == 0;
  Replay *replay;

  if (loop && from_stdin)
    {
      g_set_error_literal (error, replay_error_quark (), 0,
                           "loop needs a file: standard input (path \"-\") cannot be read twice");
      return FALSE;
    }

  replay = g_new0 (Replay, 1);
  replay->plugin = plugin;
  replay->path = g_strdup (path);
  replay->shown = from_stdin ? "<stdin>" : replay->path;
  replay->interval_ms = interval_ms;
  replay->loop = loop;
  replay->wake[0] = replay->wake[1] = -1;
  replay->fd = from_stdin ? STDIN_FILENO : g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (replay->fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, replay_error_quark (), 0, "cannot open \"%s\": %s", path, g_strerror (saved_errno));
      replay->fd = -1;
      goto fail;
    }
  /* Checked: the file opens for reading; nothing reads it. */
  if (evb_plugin_is_checking (plugin))
    {
      replay_free (replay);
      return TRUE;
    }
  if (!g_unix_open_pipe (replay->wake, FD_CLOEXEC, error))
    goto fail;

  /* Taken before the reader starts, released by it at the end. */
  evb_plugin_hold (plugin);
  replay->thread = g_thread_try_new ("evbus-replay", replay_thread, replay, error);
  if (replay->thread == NULL)
    {
      evb_plugin_release (plugin);
      goto fail;
    }
  plugin->instance_data = replay;
  return TRUE;

fail:
  replay_free (replay);
  return FALSE;
}

/* The host begins to shut down: emit nothing more.  Shutdown joins the
 * reader; here it is only told, so that the host's drain starts at once. */
static void
replay_stop (EvbPlugin *plugin)
{
  if (plugin->instance_data != NULL) /* NULL: only checked, no reader */
    request_stop (plugin->instance_data);
}

static void
replay_shutdown (EvbPlugin *plugin)
{
  Replay *replay = plugin->instance_data;

  if (replay == NULL)
    return;
  request_stop (replay);
  g_thread_join (replay->thread);
  replay_free (replay);
  plugin->instance_data = NULL;
}

static const EvbHandlerInfo replay_handlers[] = {
  EVB_HANDLERS_END,
};

static const EvbOptionInfo replay_options[] = {
  EVB_OPTION_PATH ("path", NULL,
      "JSON-lines file to replay, relative to the config file's folder; \"-\" reads standard input"),
  EVB_OPTION_INT_RANGE ("interval_ms", "0", 0, G_MAXINT, "Pause between two emitted events, in milliseconds"),
  EVB_OPTION ("loop", EVB_OPTION_BOOL, "false", "Start over at the top of the file after each pass"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE_WITH ("replay", "0.1.0", "Emits the events of a JSON-lines file or stdin, with optional pacing",
                        replay_handlers, replay_options, replay_init, replay_shutdown, .stop = replay_stop);
