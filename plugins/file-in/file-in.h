/* file-in's private header: the instance, the files it tails, the state
 * file.  Everything here lives on the main thread: the plugin reads in
 * bounded slices from main-loop sources, so it has no thread of its own and
 * no lock (see file-in.c for why). */
#pragma once

#include <evbus/json.h>
#include <evbus/plugin.h>

#include <sys/types.h>

#define FILE_IN_READ_CHUNK (64 * 1024)
/* Bytes at the head of a file that identify it together with its inode
 * (as Vector's fingerprint does): enough for a timestamped first line. */
#define FILE_IN_FINGERPRINT_BYTES 256

typedef struct _FileIn FileIn;
typedef struct _TailFile TailFile;

/* A line cut from a file, in its file's queue until every line before it
 * and itself are settled (receipt, or a bad line); then the file's commit
 * position passes it.  The queue owns it; its receipt borrows it. */
typedef struct {
  TailFile *file;
  guint64 start;      /* offset of its first byte */
  guint64 end;        /* offset just past its newline */
  guint64 number;     /* 1-based line number in the file */
  json_t *retry_data; /* a copy to emit again (on_failed "retry"), else NULL */
  gboolean settled;
} PendingLine;

/* A file being read, known by device and inode.  Reference-counted: the
 * receipts of its lines keep it alive after it is closed. */
struct _TailFile {
  gint ref;
  FileIn *owner;        /* NULL once the instance is gone (a late receipt) */
  char *path;           /* where it was last seen */
  dev_t dev;
  ino_t ino;
  int fd;               /* -1 once closed */
  guint64 fingerprint;  /* FNV-1a of the first fingerprint_length bytes */
  guint fingerprint_length;
  guint64 position;     /* bytes read from fd */
  GString *buffer;      /* read, not yet cut into lines */
  guint64 consumed;     /* offset just past the last line cut (position - buffer->len) */
  guint64 lines;        /* lines cut so far (the last one's number) */
  gboolean discarding;  /* inside a line over max_line_bytes */
  guint64 committed;    /* offset up to which every line is settled */
  guint64 committed_lines;
  GQueue pending;       /* PendingLine, in file order */
  gboolean at_eof;      /* the last read found nothing new */
  gboolean retired;     /* rewritten in place or forgotten: reads nothing, waits for receipts */
  gint64 gone_since;    /* monotonic µs since it left the path listing and stopped growing; 0: present */
  /* Per-file counts for file-in.done and the summary. */
  guint64 emitted, errors, failed, dropped, unhandled;
  gboolean done_reported; /* file-in.done emitted (not followed) */
};

/* A position remembered without an open file: from the state file (until
 * the first scan claims it) or a file rewritten in place (its old content
 * may reappear as the rotated copy, for one scan). */
typedef struct {
  char *path;
  dev_t dev;
  ino_t ino;
  guint64 fingerprint;
  guint fingerprint_length;
  guint64 offset;
  guint64 lines;
} KnownPosition;

typedef enum {
  FILE_IN_FORMAT_LINE,
  FILE_IN_FORMAT_JSON,
} FileInFormat;

typedef enum {
  FILE_IN_ON_FAILED_COMMIT,
  FILE_IN_ON_FAILED_RETRY,
} FileInOnFailed;

struct _FileIn {
  EvbPlugin *plugin;
  /* options */
  char *pattern;        /* absolute path; wildcards only in its last component */
  char *folder;         /* its folder */
  char *glob;           /* its last component when it has wildcards, else NULL */
  char *type;
  FileInFormat format;
  gboolean follow;
  gboolean start_at_tail;
  char *state_path;     /* NULL: positions are not kept */
  guint poll_ms;
  guint64 max_line_bytes;
  guint max_in_flight;
  guint rotate_wait_ms;
  FileInOnFailed on_failed;
  guint retry_ms;
  guint state_interval_ms;

  GPtrArray *files;     /* TailFile, reading or draining */
  GPtrArray *retired;   /* TailFile waiting for the receipts of their lines */
  GPtrArray *saved;     /* KnownPosition from the state file, until the first scan */
  GPtrArray *rewritten; /* KnownPosition of files rewritten in place, for one scan */
  GHashTable *deferred; /* path -> scans waited: a new file with a live file's fingerprint */
  gboolean scanned_once;
  gboolean folder_missing; /* the folder was absent at the last scan (following) */
  guint in_flight;
  gboolean stopping;
  gboolean held;        /* the hold taken in init (until a non-follow read is over) */
  gboolean state_dirty;
  guint pump_id, poll_id, save_id;
  guint64 emitted, errors, failed, dropped, unhandled, retried;
};

/* tail.c */
TailFile *tail_file_open (FileIn *self, const char *path, GError **error);
TailFile *tail_file_ref (TailFile *file);
void tail_file_unref (TailFile *file);
void tail_file_close (TailFile *file);
void tail_file_start_at (TailFile *file, guint64 offset, guint64 lines);
guint64 fingerprint_of_fd (int fd, guint length, guint *got);
gboolean tail_file_refresh_fingerprint (TailFile *file);
gboolean tail_file_fingerprint_matches (TailFile *file);
guint64 tail_file_count_lines (TailFile *file, guint64 up_to, guint64 *last_end);
void pending_line_free (gpointer data);

/* Cuts lines from @file and hands each to file_in_take_line (file-in.c)
 * until @budget lines were taken, the in-flight limit is reached or the
 * file has nothing more; returns the lines taken.  *@more says whether
 * more could be read right away. */
guint tail_file_read (TailFile *file, guint budget, gboolean final, gboolean *more);

/* file-in.c */
void file_in_take_line (TailFile *file, const char *line, gsize length, guint64 start, guint64 end);
void file_in_bad_line (TailFile *file, guint64 end, const char *reason);
void file_in_mark_dirty (FileIn *self);

/* scan.c */
void file_in_scan (FileIn *self);
/* TRUE when @file is shorter than what was read or its head changed. */
gboolean tail_file_was_rewritten (TailFile *file);

/* state.c */
gboolean file_in_state_load (FileIn *self, GError **error);
gboolean file_in_state_save (FileIn *self, GError **error);
void known_position_free (gpointer data);
