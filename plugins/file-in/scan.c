/* Which files file-in reads: the listing of the path or glob, matched to
 * the files already open (by device and inode), to positions saved in the
 * state file and to files just rewritten in place (by fingerprint).
 *
 * Identity: a file is its device and inode, checked against a fingerprint
 * (FNV-1a of its first 256 bytes, fewer while it is shorter).  The inode
 * follows a file through rename rotation; the fingerprint catches what the
 * inode cannot: an inode reused after a delete, and a file truncated and
 * refilled between two polls (copytruncate).  A file whose fingerprint
 * matches a file just rewritten in place is that file's copy (the rotated
 * "app.log.1" of copytruncate) and is read on from where the original was
 * cut, so that the lines written between the last read and the truncation
 * are neither lost nor read twice. */
#include "file-in.h"

#include <fnmatch.h>
#include <string.h>
#include <sys/stat.h>

void
known_position_free (gpointer data)
{
  KnownPosition *known = data;

  g_free (known->path);
  g_free (known);
}

static KnownPosition *
known_position_of (TailFile *file, guint64 offset, guint64 lines)
{
  KnownPosition *known = g_new0 (KnownPosition, 1);

  known->path = g_strdup (file->path);
  known->dev = file->dev;
  known->ino = file->ino;
  known->fingerprint = file->fingerprint;
  known->fingerprint_length = file->fingerprint_length;
  known->offset = offset;
  known->lines = lines;
  return known;
}

/* TRUE when @file begins with the bytes @known was fingerprinted on. */
static gboolean
begins_like (TailFile *file, const KnownPosition *known)
{
  guint got;

  if (known->fingerprint_length > file->fingerprint_length)
    return FALSE;
  return fingerprint_of_fd (file->fd, known->fingerprint_length, &got) == known->fingerprint
         && got == known->fingerprint_length;
}

static TailFile *
find_open (FileIn *self, dev_t dev, ino_t ino)
{
  for (guint i = 0; i < self->files->len; i++)
    {
      TailFile *file = g_ptr_array_index (self->files, i);

      if (file->dev == dev && file->ino == ino)
        return file;
    }
  return NULL;
}

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The paths of the listing, sorted (files are read in name order). */
static GPtrArray *
list_paths (FileIn *self)
{
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  GDir *dir;
  const char *name;

  if (self->glob == NULL)
    {
      if (g_file_test (self->pattern, G_FILE_TEST_EXISTS))
        g_ptr_array_add (paths, g_strdup (self->pattern));
      return paths;
    }
  dir = g_dir_open (self->folder, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (fnmatch (self->glob, name, FNM_PERIOD) == 0)
      g_ptr_array_add (paths, g_build_filename (self->folder, name, NULL));
  if (dir != NULL)
    g_dir_close (dir);
  g_ptr_array_sort (paths, compare_paths);
  return paths;
}

/* Says when a followed path's folder is missing, and when it is back:
 * once per change, not once per poll. */
static void
note_folder (FileIn *self)
{
  gboolean missing = !g_file_test (self->folder, G_FILE_TEST_IS_DIR);

  if (missing == self->folder_missing)
    return;
  if (missing && !self->scanned_once)
    evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING,
                    "folder \"%s\" does not exist: waiting for it (checked every %u ms)", self->folder,
                    self->poll_ms);
  else if (missing)
    evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING, "folder \"%s\" is gone: waiting for it to come back",
                    self->folder);
  else
    evb_plugin_log (self->plugin, G_LOG_LEVEL_MESSAGE, "folder \"%s\" appeared: reading its files", self->folder);
  self->folder_missing = missing;
}

/* Moves @file (rewritten in place) aside to wait for its receipts, and
 * remembers where its old content was cut for a copy that may appear. */
static void
retire_rewritten (FileIn *self, guint index)
{
  TailFile *file = g_ptr_array_steal_index (self->files, index);

  evb_plugin_log (self->plugin, G_LOG_LEVEL_INFO, "%s: truncated or rewritten in place: reading it from its start",
                  file->path);
  g_ptr_array_add (self->rewritten, known_position_of (file, file->consumed, file->lines));
  tail_file_close (file);
  file->retired = TRUE;
  if (g_queue_is_empty (&file->pending))
    tail_file_unref (file);
  else
    g_ptr_array_add (self->retired, file);
}

/* Takes the position of the first entry of @positions that @file is,
 * by inode (and fingerprint) when @by_inode, else by fingerprint alone. */
static gboolean
claim_position (GPtrArray *positions, TailFile *file, gboolean by_inode)
{
  for (guint i = 0; i < positions->len; i++)
    {
      KnownPosition *known = g_ptr_array_index (positions, i);
      gboolean same_inode = known->dev == file->dev && known->ino == file->ino;

      if (by_inode ? !same_inode : (same_inode || known->fingerprint_length == 0))
        continue;
      if (!begins_like (file, known))
        continue;
      tail_file_start_at (file, known->offset, known->lines);
      g_ptr_array_remove_index (positions, i);
      return TRUE;
    }
  return FALSE;
}

static gboolean
inode_was_saved (FileIn *self, TailFile *file)
{
  for (guint i = 0; i < self->saved->len; i++)
    {
      KnownPosition *known = g_ptr_array_index (self->saved, i);

      if (known->dev == file->dev && known->ino == file->ino)
        return TRUE;
    }
  return FALSE;
}

/* TRUE when an open file begins as @file does: @file may be a copy being
 * made before its original is truncated (logrotate's copytruncate), so it
 * waits one scan for the truncation to show. */
static gboolean
looks_like_open_file (FileIn *self, TailFile *file)
{
  for (guint i = 0; i < self->files->len; i++)
    {
      TailFile *other = g_ptr_array_index (self->files, i);
      guint got;

      if (other->fingerprint_length > 0 && other->fingerprint_length <= file->fingerprint_length
          && fingerprint_of_fd (file->fd, other->fingerprint_length, &got) == other->fingerprint)
        return TRUE;
    }
  return FALSE;
}

static void
add_new_file (FileIn *self, const char *path)
{
  g_autoptr (GError) error = NULL;
  TailFile *file = tail_file_open (self, path, &error);
  gpointer waited;

  if (file == NULL)
    {
      /* Gone between the listing and the open, or not a regular file. */
      g_debug ("%s", error->message);
      return;
    }
  if (self->scanned_once == FALSE && claim_position (self->saved, file, TRUE))
    ;
  else if (claim_position (self->rewritten, file, FALSE)
           || (!self->scanned_once && claim_position (self->saved, file, FALSE)))
    evb_plugin_log (self->plugin, G_LOG_LEVEL_INFO, "%s: a copy of a file already read up to offset %" G_GUINT64_FORMAT
                    ": reading on from there", path, file->position);
  else if (looks_like_open_file (self, file)
           && !g_hash_table_lookup_extended (self->deferred, path, NULL, &waited))
    {
      g_hash_table_insert (self->deferred, g_strdup (path), GUINT_TO_POINTER (1));
      tail_file_unref (file);
      return;
    }
  else if (!self->scanned_once && self->start_at_tail && !inode_was_saved (self, file))
    {
      struct stat info;
      guint64 last_end = 0;
      guint64 lines = 0;

      if (fstat (file->fd, &info) == 0)
        lines = tail_file_count_lines (file, (guint64) info.st_size, &last_end);
      tail_file_start_at (file, last_end, lines);
    }
  g_hash_table_remove (self->deferred, path);
  g_ptr_array_add (self->files, file);
  file_in_mark_dirty (self);
}

gboolean
tail_file_was_rewritten (TailFile *file)
{
  struct stat info;

  return fstat (file->fd, &info) == 0 && ((guint64) info.st_size < file->position
                                          || !tail_file_fingerprint_matches (file));
}

void
file_in_scan (FileIn *self)
{
  g_autoptr (GPtrArray) paths = NULL;
  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);

  /* 1. Open files rewritten in place (size below what was read, or a head
   *    that changed) go first, so that their copy, if listed, is known. */
  for (guint i = 0; i < self->files->len;)
    {
      TailFile *file = g_ptr_array_index (self->files, i);

      if (tail_file_was_rewritten (file))
        {
          retire_rewritten (self, i);
          /* The same inode, new content: listed again below, from its
           * head, whatever "start" says. */
          continue;
        }
      tail_file_refresh_fingerprint (file);
      i++;
    }

  /* 2. The listing: known inodes follow their file (a rename); others are
   *    new files, copies or files remembered in the state file. */
  note_folder (self);
  paths = list_paths (self);
  for (guint i = 0; i < paths->len; i++)
    {
      const char *path = g_ptr_array_index (paths, i);
      struct stat info;
      TailFile *file;

      if (stat (path, &info) < 0 || !S_ISREG (info.st_mode))
        continue;
      file = find_open (self, info.st_dev, info.st_ino);
      if (file == NULL)
        {
          add_new_file (self, path);
          file = find_open (self, info.st_dev, info.st_ino);
        }
      else if (strcmp (file->path, path) != 0)
        {
          g_free (file->path);
          file->path = g_strdup (path);
        }
      if (file != NULL)
        {
          file->gone_since = 0;
          g_hash_table_add (seen, file);
        }
    }

  /* 3. Open files no longer listed are drained (poll_files closes them). */
  for (guint i = 0; i < self->files->len; i++)
    {
      TailFile *file = g_ptr_array_index (self->files, i);

      if (!g_hash_table_contains (seen, file) && file->gone_since == 0)
        file->gone_since = g_get_monotonic_time ();
    }

  /* Saved positions not claimed by the first scan belong to files that are
   * gone; copies of rewritten files show up in the same scan or never. */
  g_ptr_array_set_size (self->saved, 0);
  g_ptr_array_set_size (self->rewritten, 0);
  self->scanned_once = TRUE;
}
