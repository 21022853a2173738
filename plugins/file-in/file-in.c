/* file-in — a source that reads lines or JSON lines from files, following
 * them as they grow and across rotation, and commits its read position
 * only on receipts.
 *
 * Provides
 *   no handlers: it emits on its own
 *   emits   TYPE (option "type", default file.line) per line: format "line" gives
 *           {"line", "path", "offset", "number"}, format "json" the line's own object;
 *           file-in.done {"path", "lines", "emitted", "errors", "failed", "dropped",
 *           "unhandled"} per file once it is read and settled, when not following
 *
 * Threads: none of its own.  Reading a local file is quick, and a bounded
 * slice per main-loop turn (SLICE_LINES, and at most max_in_flight lines
 * awaiting receipts) keeps the loop responsive; in exchange the receipts,
 * the commit positions, the files and the state file all live on the main
 * thread, with no lock.  Followed files are polled every poll_ms (stat,
 * fstat and the fingerprint: a few hundred bytes per file), not watched
 * with GIO file monitors: inotify misses changes on network file systems
 * and copytruncate is seen as a mere change, while one poll loop sees every
 * case the same way (growth, truncation, rename, a new file of the glob).
 *
 * Commits: every line cut from a file waits in that file's queue; its
 * receipt settles it, and the file's committed offset moves past the
 * longest settled prefix.  The state file holds committed offsets only,
 * written (write a temporary, rename) on the main loop after they move.
 */
#include "file-in.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* Lines cut per file per main-loop turn. */
#define SLICE_LINES 256

static GQuark
file_in_error_quark (void)
{
  return g_quark_from_string ("evbus-file-in-error");
}

static void schedule_pump (FileIn *self);
static void check_done (FileIn *self);

/* ---- commits ------------------------------------------------------------ */

static gboolean
save_state_now (gpointer data)
{
  FileIn *self = data;
  g_autoptr (GError) error = NULL;

  self->save_id = 0;
  if (!self->state_dirty)
    return G_SOURCE_REMOVE;
  self->state_dirty = FALSE;
  if (!file_in_state_save (self, &error))
    evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING, "%s", error->message);
  return G_SOURCE_REMOVE;
}

void
file_in_mark_dirty (FileIn *self)
{
  if (self->state_path == NULL)
    return;
  self->state_dirty = TRUE;
  /* After stop the host takes no more timeouts: shutdown writes the rest. */
  if (self->save_id == 0 && !self->stopping)
    self->save_id = evb_plugin_add_timeout (self->plugin, self->state_interval_ms, save_state_now, self, NULL);
}

static void
retire_if_settled (FileIn *self, TailFile *file)
{
  guint index;

  if (file->retired && g_queue_is_empty (&file->pending) && g_ptr_array_find (self->retired, file, &index))
    tail_file_unref (g_ptr_array_steal_index (self->retired, index));
}

/* Moves @file's commit position past its longest settled prefix. */
static void
advance (TailFile *file)
{
  FileIn *self = file->owner;
  gboolean moved = FALSE;
  PendingLine *line;

  while ((line = g_queue_peek_head (&file->pending)) != NULL && line->settled)
    {
      g_queue_pop_head (&file->pending);
      file->committed = line->end;
      file->committed_lines = line->number;
      pending_line_free (line);
      moved = TRUE;
    }
  if (moved && !file->retired)
    file_in_mark_dirty (self);
  retire_if_settled (self, file);
}

static PendingLine *
pending_line_new (TailFile *file, guint64 start, guint64 end)
{
  PendingLine *line = g_new0 (PendingLine, 1);

  line->file = file;
  line->start = start;
  line->end = end;
  line->number = file->lines;
  g_queue_push_tail (&file->pending, line);
  return line;
}

static void
settle (PendingLine *line)
{
  line->settled = TRUE;
  advance (line->file);
}

void
file_in_bad_line (TailFile *file, guint64 end, const char *reason)
{
  FileIn *self = file->owner;
  PendingLine *line = pending_line_new (file, file->consumed, end);

  if (reason != NULL)
    {
      self->errors++;
      file->errors++;
      evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING, "%s:%" G_GUINT64_FORMAT ": %s", file->path, line->number,
                      reason);
    }
  settle (line);
}

/* ---- emitting ------------------------------------------------------------ */

static void emit_line (FileIn *self, PendingLine *line, json_t *data);

static gboolean
retry_line (gpointer data)
{
  PendingLine *line = data;
  FileIn *self = line->file->owner;

  if (self == NULL || self->stopping)
    return G_SOURCE_REMOVE; /* unsettled: read again at the next start */
  self->retried++;
  emit_line (self, line, json_deep_copy (line->retry_data));
  return G_SOURCE_REMOVE;
}

/* What each outcome does to the line's commit: see docs/plugins/file-in.md
 * "Outcomes". */
static void
on_receipt (const EvbReceipt *receipt, gpointer data)
{
  PendingLine *line = data;
  TailFile *file = line->file;
  FileIn *self = file->owner;

  if (self == NULL)
    return; /* the instance shut down with this line in flight */
  self->in_flight--;
  switch (receipt->outcome)
    {
    case EVB_RECEIPT_HANDLED:
    case EVB_RECEIPT_DONE:
      break;
    case EVB_RECEIPT_UNHANDLED:
      if (self->unhandled++ == 0)
        evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING,
                        "%s:%" G_GUINT64_FORMAT ": no route takes \"%s\" events: lines are committed unhandled "
                        "(counted; only the first is logged)", file->path, line->number, self->type);
      file->unhandled++;
      break;
    case EVB_RECEIPT_DROPPED:
      /* The operator chose a drop-oldest inbox: shed, counted by the host
       * and here, not read again. */
      self->dropped++;
      file->dropped++;
      break;
    case EVB_RECEIPT_REFUSED:
      if (self->stopping)
        return; /* left unsettled: read again at the next start */
      self->errors++;
      file->errors++;
      evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING, "%s:%" G_GUINT64_FORMAT ": not emitted: %s", file->path,
                      line->number, receipt->error_message != NULL ? receipt->error_message : "refused");
      break;
    case EVB_RECEIPT_CANCELLED:
    case EVB_RECEIPT_FAILED:
      if (self->stopping)
        {
          /* Cut short by the shutdown, or to be retried: read again at
           * the next start. */
          if (receipt->outcome == EVB_RECEIPT_CANCELLED || self->on_failed == FILE_IN_ON_FAILED_RETRY)
            return;
        }
      else if (self->on_failed == FILE_IN_ON_FAILED_RETRY && line->retry_data != NULL)
        {
          self->in_flight++; /* still this line's: the pump must not take its room */
          evb_plugin_add_timeout (self->plugin, self->retry_ms, retry_line, line, NULL);
          return;
        }
      self->failed++;
      file->failed++;
      break;
    }
  settle (line);
  check_done (self);
  schedule_pump (self);
}

static void
emit_line (FileIn *self, PendingLine *line, json_t *data)
{
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;

  options.receipt = on_receipt;
  options.receipt_data = line;
  /* A refused emit still gets its receipt, which settles the line. */
  evb_plugin_emit_full (self->plugin, self->type, data, &options, NULL);
}

static const char *
json_kind (json_t *value)
{
  switch (json_typeof (value))
    {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
  return "unknown";
}

void
file_in_take_line (TailFile *file, const char *text, gsize length, guint64 start, guint64 end)
{
  FileIn *self = file->owner;
  PendingLine *line;
  json_t *data;

  /* CRLF files: the carriage return belongs to the line ending. */
  if (length > 0 && text[length - 1] == '\r')
    length--;
  if (self->format == FILE_IN_FORMAT_JSON)
    {
      json_error_t parse_error;
      gsize blank = 0;

      /* Blank lines separate nothing in JSON lines: skipped, not bad. */
      while (blank < length && g_ascii_isspace (text[blank]))
        blank++;
      if (blank == length)
        {
          settle (pending_line_new (file, start, end));
          return;
        }

      data = json_loadb (text, length, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &parse_error);
      if (data == NULL)
        {
          /* jansson's "near '...'" may end inside a multi-byte character. */
          g_autofree char *why = g_utf8_make_valid (parse_error.text, -1);
          g_autofree char *reason = g_strdup_printf ("invalid JSON at column %d: %s", parse_error.column, why);

          file_in_bad_line (file, end, reason);
          return;
        }
      if (!json_is_object (data))
        {
          g_autofree char *reason = g_strdup_printf ("expected a JSON object, got %s", json_kind (data));

          json_decref (data);
          file_in_bad_line (file, end, reason);
          return;
        }
    }
  else
    {
      g_autofree char *valid = g_utf8_make_valid (text, (gssize) length);

      data = json_pack ("{s:s, s:s, s:I, s:I}", "line", valid, "path", file->path, "offset", (json_int_t) start,
                        "number", (json_int_t) file->lines);
    }

  line = pending_line_new (file, start, end);
  if (self->on_failed == FILE_IN_ON_FAILED_RETRY)
    line->retry_data = json_deep_copy (data);
  self->in_flight++;
  /* Counted as emitted even if refused: the receipt counts the refusal. */
  self->emitted++;
  file->emitted++;
  emit_line (self, line, data);
}

/* ---- reading ------------------------------------------------------------- */

static gboolean
pump (gpointer data)
{
  FileIn *self = data;
  gboolean more = FALSE;

  self->pump_id = 0;
  if (self->stopping)
    return G_SOURCE_REMOVE;
  /* Reading on at the old position of a file rewritten in place would
   * emit the middle of its new content: let a scan start it over first. */
  for (guint i = 0; i < self->files->len; i++)
    if (tail_file_was_rewritten (g_ptr_array_index (self->files, i)))
      {
        file_in_scan (self);
        break;
      }
  for (guint i = 0; i < self->files->len; i++)
    {
      TailFile *file = g_ptr_array_index (self->files, i);
      gboolean file_more = FALSE;

      tail_file_read (file, SLICE_LINES, !self->follow, &file_more);
      more |= file_more;
    }
  if (more && self->in_flight < self->max_in_flight)
    schedule_pump (self);
  check_done (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_pump (FileIn *self)
{
  if (self->pump_id == 0 && !self->stopping)
    self->pump_id = evb_plugin_add_timeout (self->plugin, 0, pump, self, NULL);
}

/* Not following: once every file is read and every line settled, say so
 * per file and let the host go idle. */
static void
check_done (FileIn *self)
{
  if (self->follow || self->stopping || !self->held)
    return;
  for (guint i = 0; i < self->files->len; i++)
    {
      TailFile *file = g_ptr_array_index (self->files, i);

      if (!file->at_eof || !g_queue_is_empty (&file->pending))
        return;
    }
  if (self->in_flight > 0 || self->retired->len > 0)
    return;
  for (guint i = 0; i < self->files->len; i++)
    {
      TailFile *file = g_ptr_array_index (self->files, i);
      g_autoptr (GError) error = NULL;

      if (file->done_reported)
        continue;
      file->done_reported = TRUE;
      if (!evb_plugin_emit (self->plugin, "file-in.done",
                            json_pack ("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "path", file->path, "lines",
                                       (json_int_t) file->lines, "emitted", (json_int_t) file->emitted, "errors",
                                       (json_int_t) file->errors, "failed", (json_int_t) file->failed, "dropped",
                                       (json_int_t) file->dropped, "unhandled", (json_int_t) file->unhandled),
                            &error))
        evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING, "%s: file-in.done not emitted: %s", file->path,
                        error->message);
    }
  if (self->save_id != 0)
    {
      evb_plugin_remove_source (self->plugin, self->save_id);
      save_state_now (self);
    }
  self->held = FALSE;
  evb_plugin_release (self->plugin);
}

/* Followed files: look for growth, rotation and new files; close the ones
 * that left the listing once drained and quiet for rotate_wait_ms. */
static gboolean
poll_files (gpointer data)
{
  FileIn *self = data;
  gint64 now = g_get_monotonic_time ();

  file_in_scan (self);
  for (guint i = 0; i < self->files->len;)
    {
      TailFile *file = g_ptr_array_index (self->files, i);
      gboolean more = FALSE;

      if (file->gone_since == 0)
        {
          i++;
          continue;
        }
      /* A renamed file may still be written through the writer's old
       * descriptor until it reopens: read on while it grows. */
      tail_file_read (file, SLICE_LINES, FALSE, &more);
      if (more || !file->at_eof || file->position > file->consumed + file->buffer->len)
        file->gone_since = now;
      if (now - file->gone_since < (gint64) self->rotate_wait_ms * 1000 || more)
        {
          i++;
          continue;
        }
      tail_file_read (file, SLICE_LINES, TRUE, &more);
      if (more)
        {
          i++;
          continue;
        }
      evb_plugin_log (self->plugin, G_LOG_LEVEL_INFO, "%s: closed (gone from the listing, read to its end)",
                      file->path);
      tail_file_close (file);
      g_ptr_array_steal_index (self->files, i);
      file->retired = TRUE;
      g_ptr_array_add (self->retired, file);
      retire_if_settled (self, file);
      file_in_mark_dirty (self);
    }
  pump (self);
  return G_SOURCE_CONTINUE;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void
file_in_free (FileIn *self)
{
  g_clear_pointer (&self->files, g_ptr_array_unref);
  g_clear_pointer (&self->retired, g_ptr_array_unref);
  g_clear_pointer (&self->saved, g_ptr_array_unref);
  g_clear_pointer (&self->rewritten, g_ptr_array_unref);
  g_clear_pointer (&self->deferred, g_hash_table_unref);
  g_free (self->pattern);
  g_free (self->folder);
  g_free (self->glob);
  g_free (self->type);
  g_free (self->state_path);
  g_free (self);
}

/* Drops a file for good: a late receipt of one of its lines finds no
 * owner.  One with lines still in flight (a job that never returned) is
 * left allocated for that receipt. */
static void
file_forget (gpointer data)
{
  TailFile *file = data;

  file->owner = NULL;
  tail_file_close (file);
  if (g_queue_is_empty (&file->pending))
    tail_file_unref (file);
}

static gboolean
has_wildcards (const char *name)
{
  return strpbrk (name, "*?[") != NULL;
}

/* What writing the state file needs (file_in_state_save writes a temporary
 * beside it and renames it), asked without writing, in its words. */
static gboolean
state_folder_writable (const char *state_path, GError **error)
{
  g_autofree char *folder = g_path_get_dirname (state_path);

  if (g_access (folder, W_OK) == 0)
    return TRUE;
  g_set_error (error, file_in_error_quark (), 0, "option \"state\": cannot write \"%s\": %s", state_path,
               g_strerror (errno));
  return FALSE;
}

static gboolean
file_in_init (EvbPlugin *plugin, GError **error)
{
  const char *path = evb_plugin_get_string (plugin, "path");
  const char *type = evb_plugin_get_string (plugin, "type");
  const char *state = evb_plugin_get_string (plugin, "state");
  g_autofree char *folder = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  guint segment = 0;
  FileIn *self;

  if (*path == '\0' || strcmp (path, "-") == 0)
    {
      g_set_error (error, file_in_error_quark (), 0,
                   "option \"path\": give a file or a glob (\"logs/*.log\"); standard input is the replay plugin's");
      return FALSE;
    }
  if (has_wildcards (folder))
    {
      g_set_error (error, file_in_error_quark (), 0,
                   "option \"path\": wildcards are allowed in the file name only, not in the folder \"%s\"", folder);
      return FALSE;
    }
  if (evb_type_find_fault (type, &segment) != EVB_TYPE_OK)
    {
      g_set_error (error, file_in_error_quark (), 0,
                   "option \"type\": \"%s\" is not an event type (dotted segments of [a-z0-9_-], segment %u)", type,
                   segment);
      return FALSE;
    }
  if (evb_type_is_reserved (type))
    {
      g_set_error (error, file_in_error_quark (), 0, "option \"type\": \"%s\" is reserved for the host", type);
      return FALSE;
    }
  /* A tailer waits for its folder (the first scan says so); a one-shot
   * read has nothing to wait for. */
  if (!evb_plugin_get_bool (plugin, "follow") && !g_file_test (folder, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, file_in_error_quark (), 0,
                   "option \"path\": folder \"%s\" does not exist (create it, or set \"follow\": true to wait "
                   "for it)", folder);
      return FALSE;
    }

  self = g_new0 (FileIn, 1);
  self->plugin = plugin;
  self->pattern = g_strdup (path);
  self->folder = g_steal_pointer (&folder);
  self->glob = has_wildcards (base) ? g_strdup (base) : NULL;
  self->type = g_strdup (type);
  self->format = strcmp (evb_plugin_get_string (plugin, "format"), "json") == 0 ? FILE_IN_FORMAT_JSON
                                                                                : FILE_IN_FORMAT_LINE;
  self->follow = evb_plugin_get_bool (plugin, "follow");
  self->start_at_tail = strcmp (evb_plugin_get_string (plugin, "start"), "tail") == 0;
  self->state_path = *state != '\0' ? g_strdup (state) : NULL;
  self->poll_ms = (guint) evb_plugin_get_int (plugin, "poll_ms");
  self->max_line_bytes = (guint64) evb_plugin_get_int (plugin, "max_line_bytes");
  self->max_in_flight = (guint) evb_plugin_get_int (plugin, "max_in_flight");
  self->rotate_wait_ms = (guint) evb_plugin_get_int (plugin, "rotate_wait_ms");
  self->on_failed = strcmp (evb_plugin_get_string (plugin, "on_failed"), "retry") == 0 ? FILE_IN_ON_FAILED_RETRY
                                                                                       : FILE_IN_ON_FAILED_COMMIT;
  self->retry_ms = (guint) evb_plugin_get_int (plugin, "retry_ms");
  self->state_interval_ms = (guint) evb_plugin_get_int (plugin, "state_interval_ms");
  self->files = g_ptr_array_new_with_free_func (file_forget);
  self->retired = g_ptr_array_new_with_free_func (file_forget);
  self->saved = g_ptr_array_new_with_free_func (known_position_free);
  self->rewritten = g_ptr_array_new_with_free_func (known_position_free);
  self->deferred = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (self->follow && self->state_path == NULL && !self->start_at_tail)
    evb_plugin_log (plugin, G_LOG_LEVEL_INFO, "no \"state\" file: a restart reads the files from their start again");
  if (!file_in_state_load (self, error))
    goto fail;
  if (evb_plugin_is_checking (plugin))
    {
      /* Read, never written: a host running this config owns the file.
       * Without a state path nothing below schedules a write. */
      if (self->state_path != NULL && !state_folder_writable (self->state_path, error))
        goto fail;
      g_clear_pointer (&self->state_path, g_free);
    }
  /* Written once now so that a state file that cannot be written is a load
   * error, not a warning after the first line. */
  else if (self->state_path != NULL && !file_in_state_save (self, error))
    goto fail;

  file_in_scan (self);
  if (!self->follow && self->files->len == 0)
    {
      g_set_error (error, file_in_error_quark (), 0,
                   self->glob != NULL ? "option \"path\": no file matches \"%s\""
                                      : "option \"path\": cannot open \"%s\": No such file or directory",
                   self->pattern);
      goto fail;
    }

  plugin->instance_data = self;
  /* Checked: the files are listed and opened, but neither read nor polled. */
  if (evb_plugin_is_checking (plugin))
    return TRUE;
  if (!self->follow)
    {
      /* So that "run until idle" and --exit-when-idle wait for the files. */
      self->held = TRUE;
      evb_plugin_hold (plugin);
    }
  else
    self->poll_id = evb_plugin_add_timeout (plugin, self->poll_ms, poll_files, self, NULL);
  schedule_pump (self);
  return TRUE;

fail:
  file_in_free (self);
  return FALSE;
}

static void
file_in_stop (EvbPlugin *plugin)
{
  FileIn *self = plugin->instance_data;

  /* Lines already emitted are still dispatched and their receipts still
   * commit; nothing more is read.  The host removes our timeouts and the
   * hold right after this returns. */
  self->stopping = TRUE;
  self->held = FALSE;
  self->pump_id = self->poll_id = self->save_id = 0;
}

static void
file_in_shutdown (EvbPlugin *plugin)
{
  FileIn *self = plugin->instance_data;
  g_autoptr (GError) error = NULL;

  if (self == NULL)
    return;
  if (self->state_path != NULL && !file_in_state_save (self, &error))
    evb_plugin_log (plugin, G_LOG_LEVEL_WARNING, "%s", error->message);
  evb_plugin_log (plugin, G_LOG_LEVEL_INFO,
                  "%s: %" G_GUINT64_FORMAT " lines emitted, %" G_GUINT64_FORMAT " bad, %" G_GUINT64_FORMAT
                  " failed, %" G_GUINT64_FORMAT " dropped, %" G_GUINT64_FORMAT " unhandled, %" G_GUINT64_FORMAT
                  " retried", self->pattern, self->emitted, self->errors, self->failed, self->dropped,
                  self->unhandled, self->retried);
  file_in_free (self);
  plugin->instance_data = NULL;
}

static const EvbHandlerInfo file_in_handlers[] = {
  EVB_HANDLERS_END,
};

static const EvbOptionInfo file_in_options[] = {
  EVB_OPTION_PATH ("path", NULL,
      "File to read, relative to the config file's folder; wildcards (* ? [...]) in the file name make it a "
      "glob (\"logs/*.log\"), read file by file"),
  EVB_OPTION_CHOICE ("format", "\"line\"", EVB_CHOICES ("line", "json"),
      "\"line\": data {line, path, offset, number}; \"json\": each line is a JSON object, the event's data "
      "(other lines are bad lines, logged as PATH:LINE and counted)"),
  EVB_OPTION ("type", EVB_OPTION_STRING, "\"file.line\"", "Event type emitted for each line"),
  EVB_OPTION ("follow", EVB_OPTION_BOOL, "false",
      "Keep reading as files grow, across rotation (rename + create, copytruncate) and as new files match; "
      "false: read each file to its end, emit file-in.done per file, then stop"),
  EVB_OPTION_CHOICE ("start", "\"head\"", EVB_CHOICES ("head", "tail"),
      "Where to begin a file with no saved position that exists at start-up; files that appear later, and "
      "files rewritten in place, are read from their head"),
  EVB_OPTION_PATH ("state", "\"\"",
      "State file keeping each file's committed position (device, inode, fingerprint, offset), relative to "
      "the config file's folder; \"\": positions are not kept across restarts"),
  EVB_OPTION_INT_RANGE ("poll_ms", "250", 10, 3600000,
      "How often followed files are checked for growth, rotation and new matches, in milliseconds"),
  EVB_OPTION_INT_RANGE ("max_line_bytes", "1048576", 1, 1073741824,
      "Longer lines are bad lines: logged as PATH:LINE, counted and skipped"),
  EVB_OPTION_INT_RANGE ("max_in_flight", "1024", 1, 1000000,
      "Lines emitted and awaiting their receipts at most; reading pauses at the limit (a kill -9 "
      "repeats at most about twice this many lines)"),
  EVB_OPTION_INT_RANGE ("rotate_wait_ms", "5000", 0, 3600000,
      "A followed file that left the listing (renamed, deleted) is read on until it has not grown for this "
      "long, then closed"),
  EVB_OPTION_CHOICE ("on_failed", "\"commit\"", EVB_CHOICES ("commit", "retry"),
      "A line whose event failed (a failure event was emitted) or was cancelled while running: \"commit\" "
      "counts it as failed and moves on; \"retry\" emits it again after retry_ms, holding the commit position"),
  EVB_OPTION_INT_RANGE ("retry_ms", "1000", 1, 3600000, "Pause before a failed line is emitted again (on_failed retry)"),
  EVB_OPTION_INT_RANGE ("state_interval_ms", "0", 0, 3600000,
      "Delay before the state file is written after positions move: 0 writes it on the next main-loop turn; "
      "more writes less often and repeats more lines after a crash"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE_WITH ("file-in", "0.1.0",
                        "Reads lines or JSON lines from files (a path or glob), following them across rotation; "
                        "positions are committed on receipts",
                        file_in_handlers, file_in_options, file_in_init, file_in_shutdown, .stop = file_in_stop);
