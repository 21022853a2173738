/* The state file: each open file's committed position, so that a restart
 * (after a clean stop or a kill -9) reads on from where the pipeline had
 * finished.
 *
 *   {"version": 1, "files": [{"path", "dev", "inode", "fingerprint" (16 hex
 *    digits), "fingerprint_length", "offset", "lines"}, ...]}
 *
 * Written whole to "STATE.tmp", then renamed over STATE: a reader (or a
 * restart after a crash at any moment) sees the old file or the new one,
 * never half of one.  No fsync: the guarantee is about the process dying,
 * not the machine (the page cache survives a kill -9). */
#include "file-in.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <unistd.h>

#define STATE_VERSION 1

static GQuark
state_error_quark (void)
{
  return g_quark_from_string ("evbus-file-in-state-error");
}

static json_t *
position_to_json (const char *path, dev_t dev, ino_t ino, guint64 fingerprint, guint fingerprint_length,
                  guint64 offset, guint64 lines)
{
  char hex[17];

  g_snprintf (hex, sizeof hex, "%016" G_GINT64_MODIFIER "x", fingerprint);
  return json_pack ("{s:s, s:I, s:I, s:s, s:i, s:I, s:I}", "path", path, "dev", (json_int_t) dev, "inode",
                    (json_int_t) ino, "fingerprint", hex, "fingerprint_length", (int) fingerprint_length, "offset",
                    (json_int_t) offset, "lines", (json_int_t) lines);
}

gboolean
file_in_state_save (FileIn *self, GError **error)
{
  g_autofree char *temporary = g_strconcat (self->state_path, ".tmp", NULL);
  g_autofree char *text = NULL;
  json_t *files = json_array ();
  json_t *root;
  int fd;
  gsize length;
  gsize written = 0;

  for (guint i = 0; i < self->files->len; i++)
    {
      TailFile *file = g_ptr_array_index (self->files, i);

      json_array_append_new (files, position_to_json (file->path, file->dev, file->ino, file->fingerprint,
                                                      file->fingerprint_length, file->committed,
                                                      file->committed_lines));
    }
  /* Before the first scan (init) the saved positions are still unclaimed:
   * keep them. */
  for (guint i = 0; i < self->saved->len; i++)
    {
      KnownPosition *known = g_ptr_array_index (self->saved, i);

      json_array_append_new (files, position_to_json (known->path, known->dev, known->ino, known->fingerprint,
                                                      known->fingerprint_length, known->offset, known->lines));
    }
  root = json_pack ("{s:i, s:o}", "version", STATE_VERSION, "files", files);
  text = evb_json_dumps (root, JSON_INDENT (1));
  json_decref (root);
  length = strlen (text);

  fd = g_open (temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    goto fail;
  while (written < length)
    {
      gssize got = write (fd, text + written, length - written);

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        {
          int saved_errno = errno;

          g_close (fd, NULL);
          errno = saved_errno;
          goto fail;
        }
      written += (gsize) got;
    }
  if (!g_close (fd, NULL) || g_rename (temporary, self->state_path) < 0)
    goto fail;
  return TRUE;

fail:
  {
    int saved_errno = errno;

    g_set_error (error, state_error_quark (), 0, "option \"state\": cannot write \"%s\": %s", self->state_path,
                 g_strerror (saved_errno));
    g_unlink (temporary);
    return FALSE;
  }
}

static gboolean
read_entry (json_t *entry, KnownPosition *known, const char **why)
{
  json_int_t dev, ino, offset, lines;
  int fingerprint_length;
  const char *path, *hex;
  char *end = NULL;

  if (json_unpack (entry, "{s:s, s:I, s:I, s:s, s:i, s:I, s:I}", "path", &path, "dev", &dev, "inode", &ino,
                   "fingerprint", &hex, "fingerprint_length", &fingerprint_length, "offset", &offset, "lines",
                   &lines) != 0)
    {
      *why = "expected {\"path\", \"dev\", \"inode\", \"fingerprint\", \"fingerprint_length\", \"offset\", \"lines\"}";
      return FALSE;
    }
  known->fingerprint = g_ascii_strtoull (hex, &end, 16);
  if (strlen (hex) != 16 || end == NULL || *end != '\0')
    {
      *why = "\"fingerprint\" is not 16 hex digits";
      return FALSE;
    }
  if (fingerprint_length < 0 || fingerprint_length > FILE_IN_FINGERPRINT_BYTES || offset < 0 || lines < 0)
    {
      *why = "a negative or out-of-range number";
      return FALSE;
    }
  known->path = g_strdup (path);
  known->dev = (dev_t) dev;
  known->ino = (ino_t) ino;
  known->fingerprint_length = (guint) fingerprint_length;
  known->offset = (guint64) offset;
  known->lines = (guint64) lines;
  return TRUE;
}

gboolean
file_in_state_load (FileIn *self, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) read_error = NULL;
  json_error_t parse_error;
  json_t *root;
  json_t *files;
  json_t *entry;
  gsize index;
  gsize length;

  if (self->state_path == NULL)
    return TRUE;
  if (!g_file_get_contents (self->state_path, &text, &length, &read_error))
    {
      if (g_error_matches (read_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE; /* the first run */
      g_set_error (error, state_error_quark (), 0, "option \"state\": %s", read_error->message);
      return FALSE;
    }
  root = json_loadb (text, length, 0, &parse_error);
  if (root == NULL)
    {
      g_set_error (error, state_error_quark (), 0,
                   "option \"state\": %s:%d:%d: %s (not a file-in state file? move it away to start over)",
                   self->state_path, parse_error.line, parse_error.column, parse_error.text);
      return FALSE;
    }
  files = json_object_get (root, "files");
  if (json_integer_value (json_object_get (root, "version")) != STATE_VERSION || !json_is_array (files))
    {
      g_set_error (error, state_error_quark (), 0,
                   "option \"state\": %s: expected {\"version\": %d, \"files\": [...]} (not a file-in state file? "
                   "move it away to start over)", self->state_path, STATE_VERSION);
      json_decref (root);
      return FALSE;
    }
  json_array_foreach (files, index, entry)
    {
      KnownPosition *known = g_new0 (KnownPosition, 1);
      const char *why = NULL;

      if (!read_entry (entry, known, &why))
        {
          g_set_error (error, state_error_quark (), 0, "option \"state\": %s: files[%zu]: %s", self->state_path,
                       index, why);
          known_position_free (known);
          json_decref (root);
          return FALSE;
        }
      g_ptr_array_add (self->saved, known);
    }
  json_decref (root);
  return TRUE;
}
