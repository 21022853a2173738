/* The output files: opened on first use (folders made), appended to with
 * one write() per line, rotated by size or age, synced by policy.
 *
 * One write() per line and no user-space buffer: when the handler returns,
 * the line is in the kernel's page cache, so a receipt that says "done"
 * survives a kill -9 of the host (fsync is about the machine, not the
 * process).  O_APPEND keeps lines whole next to other writers. */
#include "file-out.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  char *path;
  int fd;
  guint64 size;
  gint64 opened_us;   /* plugin clock: for max_age */
  gint64 used;        /* monotonic: least recently used is closed first */
  gboolean dirty;     /* written since the last fsync */
  gboolean torn;      /* the last write stopped mid-line: start the next on a new line */
} OutFile;

static void
out_file_free (gpointer data)
{
  OutFile *file = data;

  if (file->fd >= 0)
    {
      if (file->dirty)
        fsync (file->fd);
      g_close (file->fd, NULL);
    }
  g_free (file->path);
  g_free (file);
}

void
outputs_init (Outputs *outputs)
{
  g_mutex_init (&outputs->lock);
  outputs->files = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, out_file_free);
}

void
outputs_clear (Outputs *outputs)
{
  g_clear_pointer (&outputs->files, g_hash_table_unref);
  g_mutex_clear (&outputs->lock);
}

static gboolean
fail_errno (GError **error, int saved_errno, const char *what, const char *path)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "cannot %s \"%s\": %s", what, path,
               g_strerror (saved_errno));
  return FALSE;
}

static gboolean
write_all (int fd, const char *bytes, gsize length, gsize *written)
{
  *written = 0;
  while (*written < length)
    {
      gssize got = write (fd, bytes + *written, length - *written);

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        return FALSE;
      *written += (gsize) got;
    }
  return TRUE;
}

/* Closes the least recently used file while more than max_open are open. */
static void
close_extra (Outputs *outputs)
{
  while (g_hash_table_size (outputs->files) > outputs->max_open)
    {
      GHashTableIter iter;
      OutFile *file, *oldest = NULL;

      g_hash_table_iter_init (&iter, outputs->files);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &file))
        if (oldest == NULL || file->used < oldest->used)
          oldest = file;
      g_hash_table_remove (outputs->files, oldest->path);
    }
}

static OutFile *
open_file (Outputs *outputs, const char *path, gint64 now_us, GError **error)
{
  struct stat info;
  OutFile *file;
  int fd;

  if (outputs->mkdir)
    {
      g_autofree char *folder = g_path_get_dirname (path);

      if (g_mkdir_with_parents (folder, 0755) < 0)
        {
          fail_errno (error, errno, "make the folder of", path);
          return NULL;
        }
    }
  fd = g_open (path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      fail_errno (error, errno, "open", path);
      return NULL;
    }
  file = g_new0 (OutFile, 1);
  file->path = g_strdup (path);
  file->fd = fd;
  file->opened_us = now_us;
  if (fstat (fd, &info) == 0)
    {
      file->size = (guint64) info.st_size;
      /* A crash mid-write left a torn last line: keep it on its own. */
      if (S_ISREG (info.st_mode) && info.st_size > 0)
        {
          char last = '\n';

          if (pread (fd, &last, 1, info.st_size - 1) == 1 && last != '\n')
            file->torn = TRUE;
        }
    }
  g_hash_table_insert (outputs->files, file->path, file);
  close_extra (outputs);
  return file;
}

/* PATH -> PATH.1 -> ... -> PATH.keep (the oldest is deleted). */
static gboolean
rotate (Outputs *outputs, OutFile *file, GError **error)
{
  g_autofree char *path = g_strdup (file->path);

  if (file->dirty && outputs->fsync != FSYNC_NEVER)
    fsync (file->fd);
  for (guint n = outputs->keep; n >= 1; n--)
    {
      g_autofree char *from = n == 1 ? g_strdup (path) : g_strdup_printf ("%s.%u", path, n - 1);
      g_autofree char *to = g_strdup_printf ("%s.%u", path, n);

      if (g_rename (from, to) < 0 && errno != ENOENT)
        return fail_errno (error, errno, "rotate", from);
    }
  if (outputs->keep == 0 && g_unlink (path) < 0 && errno != ENOENT)
    return fail_errno (error, errno, "rotate", path);
  g_hash_table_remove (outputs->files, path); /* closes it */
  return TRUE;
}

gboolean
outputs_write (Outputs *outputs, const char *path, const char *line, gsize length, gint64 now_us, GError **error)
{
  gboolean ok = FALSE;
  OutFile *file;
  gsize written = 0;

  g_mutex_lock (&outputs->lock);
  file = g_hash_table_lookup (outputs->files, path);
  if (file == NULL && (file = open_file (outputs, path, now_us, error)) == NULL)
    goto out;
  if (file->size > 0
      && ((outputs->max_bytes > 0 && file->size + length > outputs->max_bytes)
          || (outputs->max_age_us > 0 && now_us - file->opened_us >= outputs->max_age_us)))
    {
      if (!rotate (outputs, file, error) || (file = open_file (outputs, path, now_us, error)) == NULL)
        goto out;
    }
  file->used = g_get_monotonic_time ();
  if (file->torn)
    {
      if (!write_all (file->fd, "\n", 1, &written))
        {
          fail_errno (error, errno, "write", path);
          goto out;
        }
      file->size += written;
      file->torn = FALSE;
    }
  if (!write_all (file->fd, line, length, &written))
    {
      int saved_errno = errno;

      file->size += written;
      file->torn = written > 0;
      fail_errno (error, saved_errno, "write", path);
      goto out;
    }
  file->size += written;
  file->dirty = TRUE;
  if (outputs->fsync == FSYNC_EVENT)
    {
      if (fsync (file->fd) < 0)
        {
          fail_errno (error, errno, "sync", path);
          goto out;
        }
      file->dirty = FALSE;
    }
  ok = TRUE;

out:
  g_mutex_unlock (&outputs->lock);
  return ok;
}

void
outputs_sync_dirty (Outputs *outputs)
{
  GHashTableIter iter;
  OutFile *file;

  g_mutex_lock (&outputs->lock);
  g_hash_table_iter_init (&iter, outputs->files);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &file))
    {
      if (!file->dirty)
        continue;
      file->dirty = FALSE;
      if (fsync (file->fd) < 0)
        {
          outputs->sync_failures++;
          evb_plugin_log (outputs->plugin, G_LOG_LEVEL_WARNING, "cannot sync \"%s\": %s", file->path,
                          g_strerror (errno));
        }
    }
  g_mutex_unlock (&outputs->lock);
}
