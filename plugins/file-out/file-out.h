/* file-out's private header: templates (path and line) and the open
 * output files. */
#pragma once

#include <evbus/json.h>
#include <evbus/plugin.h>

#include <sys/types.h>

/* ---- template.c: "logs/{type}-{date}.jsonl", "{time} {type} {data.msg}" */

typedef struct _Template Template;

/* NULL with @error naming the field or the brace at fault; @option names
 * the option in the message. */
Template *template_new (const char *text, const char *option, GError **error);
void template_free (Template *template);
gboolean template_is_constant (const Template *template);

typedef enum {
  TEMPLATE_FOR_PATH, /* values made safe as one file name segment; a missing field is an error */
  TEMPLATE_FOR_TEXT, /* values on one line; a missing field is empty */
} TemplateUse;

gboolean template_expand (const Template *template, const EvbEvent *event, TemplateUse use, GString *out,
                          GError **error);

/* ---- output.c: files by path, appended to, rotated, synced ------------- */

typedef enum {
  FSYNC_NEVER,
  FSYNC_BATCH,
  FSYNC_EVENT,
} FsyncPolicy;

typedef struct {
  EvbPlugin *plugin;
  FsyncPolicy fsync;
  guint64 max_bytes;   /* 0: no size rotation */
  gint64 max_age_us;   /* 0: no time rotation */
  guint keep;          /* rotated files kept: PATH.1 .. PATH.keep */
  gboolean mkdir;
  guint max_open;

  GMutex lock;         /* handlers may run async on several workers */
  GHashTable *files;   /* path -> OutFile */
  guint64 sync_failures;
} Outputs;

void outputs_init (Outputs *outputs);
void outputs_clear (Outputs *outputs);

/* Appends @line (ending in "\n") to @path: opens (and creates folders),
 * rotates first when the line would pass max_bytes or the file is older
 * than max_age, syncs per the policy.  @now_us: the plugin's clock.
 * FALSE with @error (a G_FILE_ERROR from errno) naming the path. */
gboolean outputs_write (Outputs *outputs, const char *path, const char *line, gsize length, gint64 now_us,
                        GError **error);

/* fsync of every file written since the last one (the "batch" policy). */
void outputs_sync_dirty (Outputs *outputs);
