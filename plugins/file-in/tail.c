/* One file being tailed: open it, know it again (inode and fingerprint),
 * and cut what it holds into lines. */
#include "file-in.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

TailFile *
tail_file_open (FileIn *self, const char *path, GError **error)
{
  struct stat info;
  TailFile *file;
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);

  if (fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "cannot open \"%s\": %s", path,
                   g_strerror (saved_errno));
      return NULL;
    }
  if (fstat (fd, &info) < 0 || !S_ISREG (info.st_mode))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "cannot read \"%s\": not a regular file", path);
      g_close (fd, NULL);
      return NULL;
    }
  file = g_new0 (TailFile, 1);
  file->ref = 1;
  file->owner = self;
  file->path = g_strdup (path);
  file->dev = info.st_dev;
  file->ino = info.st_ino;
  file->fd = fd;
  file->buffer = g_string_sized_new (FILE_IN_READ_CHUNK);
  g_queue_init (&file->pending);
  file->fingerprint = fingerprint_of_fd (fd, FILE_IN_FINGERPRINT_BYTES, &file->fingerprint_length);
  return file;
}

TailFile *
tail_file_ref (TailFile *file)
{
  file->ref++;
  return file;
}

void
pending_line_free (gpointer data)
{
  PendingLine *line = data;

  if (line->retry_data != NULL)
    json_decref (line->retry_data);
  g_free (line);
}

void
tail_file_unref (TailFile *file)
{
  if (--file->ref > 0)
    return;
  tail_file_close (file);
  g_queue_clear_full (&file->pending, pending_line_free);
  g_string_free (file->buffer, TRUE);
  g_free (file->path);
  g_free (file);
}

void
tail_file_close (TailFile *file)
{
  if (file->fd >= 0)
    g_close (file->fd, NULL);
  file->fd = -1;
}

void
tail_file_start_at (TailFile *file, guint64 offset, guint64 lines)
{
  file->position = file->consumed = file->committed = offset;
  file->lines = file->committed_lines = lines;
  g_string_truncate (file->buffer, 0);
  file->discarding = FALSE;
}

/* FNV-1a, 64 bits: no cryptographic claim, only "the same first bytes". */
static guint64
fnv1a (const guint8 *bytes, gsize length)
{
  guint64 hash = G_GUINT64_CONSTANT (0xcbf29ce484222325);

  for (gsize i = 0; i < length; i++)
    {
      hash ^= bytes[i];
      hash *= G_GUINT64_CONSTANT (0x100000001b3);
    }
  return hash;
}

/* The fingerprint of the first @length bytes of @fd (fewer when the file
 * is shorter: *@got says how many). */
guint64
fingerprint_of_fd (int fd, guint length, guint *got)
{
  guint8 head[FILE_IN_FINGERPRINT_BYTES];
  gssize read_bytes;

  length = MIN (length, sizeof head);
  do
    read_bytes = pread (fd, head, length, 0);
  while (read_bytes < 0 && errno == EINTR);
  *got = read_bytes > 0 ? (guint) read_bytes : 0;
  return fnv1a (head, *got);
}

/* TRUE when the file still begins with the bytes it was known by: FALSE
 * after a truncation and refill, which a size check alone misses. */
gboolean
tail_file_fingerprint_matches (TailFile *file)
{
  guint got;
  guint64 now = fingerprint_of_fd (file->fd, file->fingerprint_length, &got);

  return got == file->fingerprint_length && now == file->fingerprint;
}

/* Lengthens the fingerprint of a file that was shorter than
 * FILE_IN_FINGERPRINT_BYTES when last looked at.  FALSE when its head
 * changed (the caller checked that first). */
gboolean
tail_file_refresh_fingerprint (TailFile *file)
{
  guint got;
  guint64 now;

  if (file->fingerprint_length >= FILE_IN_FINGERPRINT_BYTES || file->fd < 0)
    return TRUE;
  now = fingerprint_of_fd (file->fd, FILE_IN_FINGERPRINT_BYTES, &got);
  if (got > file->fingerprint_length)
    {
      file->fingerprint = now;
      file->fingerprint_length = got;
    }
  return TRUE;
}

/* Counts the lines that end before @up_to, and sets *@last_end to the
 * offset just past the last of them: where a reader starting "at the end"
 * begins, so that a half-written last line is read whole. */
guint64
tail_file_count_lines (TailFile *file, guint64 up_to, guint64 *last_end)
{
  g_autofree char *chunk = g_malloc (FILE_IN_READ_CHUNK);
  guint64 offset = 0;
  guint64 lines = 0;

  *last_end = 0;
  while (offset < up_to)
    {
      gssize got = pread (file->fd, chunk, MIN ((guint64) FILE_IN_READ_CHUNK, up_to - offset), (off_t) offset);

      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break;
      for (const char *p = chunk; (p = memchr (p, '\n', (gsize) (chunk + got - p))) != NULL; p++)
        {
          lines++;
          *last_end = offset + (guint64) (p - chunk) + 1;
        }
      offset += (guint64) got;
    }
  return lines;
}

guint
tail_file_read (TailFile *file, guint budget, gboolean final, gboolean *more)
{
  FileIn *self = file->owner;
  gsize cut = 0; /* bytes at the buffer's head already cut into lines */
  guint taken = 0;
  gboolean eof = FALSE;

  *more = FALSE;
  if (file->fd < 0)
    return 0;
  for (;;)
    {
      gsize available;
      gssize got;

      while (taken < budget && self->in_flight < self->max_in_flight)
        {
          char *start = file->buffer->str + cut;
          char *newline = memchr (start, '\n', file->buffer->len - cut);
          gsize length;
          guint64 line_start = file->consumed;

          if (newline == NULL)
            break;
          length = (gsize) (newline - start);
          cut += length + 1;
          file->consumed += length + 1;
          taken++;
          if (file->discarding)
            {
              /* The end of a line already reported as too long: only now
               * is its end, and so its commit position, known. */
              file->discarding = FALSE;
              file_in_bad_line (file, file->consumed, NULL);
              continue;
            }
          file->lines++;
          if (length > self->max_line_bytes)
            {
              g_autofree char *reason =
                g_strdup_printf ("line longer than %" G_GUINT64_FORMAT " bytes (max_line_bytes)", self->max_line_bytes);

              file_in_bad_line (file, file->consumed, reason);
            }
          else
            file_in_take_line (file, start, length, line_start, file->consumed);
        }
      if (taken >= budget || self->in_flight >= self->max_in_flight)
        {
          *more = TRUE;
          break;
        }

      available = file->buffer->len - cut;
      if (!file->discarding && available > self->max_line_bytes)
        {
          g_autofree char *reason =
            g_strdup_printf ("line longer than %" G_GUINT64_FORMAT " bytes (max_line_bytes)", self->max_line_bytes);

          file->lines++;
          file->discarding = TRUE;
          evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING, "%s:%" G_GUINT64_FORMAT ": %s", file->path, file->lines,
                          reason);
          self->errors++;
          file->errors++;
        }
      if (file->discarding)
        {
          cut += available;
          file->consumed += available;
        }
      if (eof)
        break;

      g_string_erase (file->buffer, 0, (gssize) cut);
      cut = 0;
      available = file->buffer->len;
      g_string_set_size (file->buffer, available + FILE_IN_READ_CHUNK);
      got = pread (file->fd, file->buffer->str + available, FILE_IN_READ_CHUNK, (off_t) file->position);
      g_string_set_size (file->buffer, available + (gsize) MAX (got, 0));
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        {
          evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING, "%s: read failed: %s", file->path, g_strerror (errno));
          eof = TRUE;
          continue;
        }
      if (got == 0)
        eof = TRUE;
      file->position += (guint64) got;
    }
  g_string_erase (file->buffer, 0, (gssize) cut);

  /* A file that is over (not followed, or closing) ends its last line
   * without a newline; a followed one waits for the rest of it. */
  if (eof && final && !*more)
    {
      if (file->discarding)
        {
          file->discarding = FALSE;
          file_in_bad_line (file, file->consumed, NULL);
        }
      else if (file->buffer->len > 0 && self->in_flight < self->max_in_flight)
        {
          guint64 line_start = file->consumed;
          g_autofree char *line = g_strndup (file->buffer->str, file->buffer->len);
          gsize length = file->buffer->len;

          file->consumed += length;
          file->lines++;
          g_string_truncate (file->buffer, 0);
          file_in_take_line (file, line, length, line_start, file->consumed);
          taken++;
        }
      else if (file->buffer->len > 0)
        *more = TRUE;
    }
  file->at_eof = eof && !*more;
  return taken;
}
