/* file-out — a sink that appends events to files, one line each.
 *
 * Provides
 *   handler write   appends the event to the file its "path" template names; a write that fails
 *                   (open, write, rotate, sync per event, a {data.KEY} of the path missing) fails the
 *                   call: a failure event carries the path and the system's message
 *   no events of its own
 *
 * Sync or async: the handler runs in either mode.  Sync (the default of a
 * route) keeps lines in event order and costs the main loop one write()
 * into the page cache per event.  Async (with "max_concurrency": 1 to keep
 * the order) moves the disk off the main loop, which fsync "event" needs:
 * an fsync per event on the main thread would stall every other route.
 * A mutex serialises the files either way.
 */
#include "file-out.h"

#include <string.h>

static GQuark
file_out_error_quark (void)
{
  return g_quark_from_string ("evbus-file-out-error");
}

typedef enum {
  FORMAT_EVENT,
  FORMAT_DATA,
  FORMAT_TEMPLATE,
} LineFormat;

typedef struct {
  EvbPlugin *plugin;
  Template *path;
  Template *line;      /* format "template" */
  LineFormat format;
  Outputs outputs;
  guint sync_id;
} FileOut;

static gboolean
format_line (FileOut *self, const EvbEvent *event, GString *out)
{
  char *dumped = NULL;
  json_t *record;

  switch (self->format)
    {
    case FORMAT_TEMPLATE:
      template_expand (self->line, event, TEMPLATE_FOR_TEXT, out, NULL);
      break;
    case FORMAT_DATA:
      dumped = evb_json_dumps (event->data, JSON_COMPACT);
      break;
    case FORMAT_EVENT:
      /* What the console prints and replay reads back. */
      record = json_pack ("{s:s, s:I, s:I, s:s, s:O}", "type", event->type, "id", (json_int_t) event->id, "time_us",
                          (json_int_t) event->time_us, "source", event->source, "data", event->data);
      dumped = evb_json_dumps (record, JSON_COMPACT);
      json_decref (record);
      break;
    }
  if (dumped != NULL)
    {
      g_string_append (out, dumped);
      free (dumped);
    }
  g_string_append_c (out, '\n');
  return TRUE;
}

static EvbResult
file_out_write (EvbCall *call, const EvbEvent *event)
{
  FileOut *self = call->instance_data;
  g_autoptr (GString) path = g_string_new (NULL);
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  if (!template_expand (self->path, event, TEMPLATE_FOR_PATH, path, &error))
    return evb_call_fail (call, NULL, 1, "option \"path\": %s", error->message);
  format_line (self, event, line);
  if (!outputs_write (&self->outputs, path->str, line->str, line->len, evb_plugin_now (self->plugin), &error))
    return evb_call_fail (call, NULL, error->code, "%s", error->message);
  return EVB_CONTINUE;
}

static gboolean
sync_batch (gpointer data)
{
  FileOut *self = data;

  outputs_sync_dirty (&self->outputs);
  return G_SOURCE_CONTINUE;
}

static void
file_out_free (FileOut *self)
{
  outputs_clear (&self->outputs);
  template_free (self->path);
  template_free (self->line);
  g_free (self);
}

static gboolean
file_out_init (EvbPlugin *plugin, GError **error)
{
  const char *format = evb_plugin_get_string (plugin, "format");
  const char *fsync_policy = evb_plugin_get_string (plugin, "fsync");
  const char *line_template = evb_plugin_get_string (plugin, "template");
  const char *path = evb_plugin_get_string (plugin, "path");
  FileOut *self = g_new0 (FileOut, 1);

  self->plugin = plugin;
  outputs_init (&self->outputs);
  self->outputs.plugin = plugin;
  self->outputs.fsync = strcmp (fsync_policy, "event") == 0   ? FSYNC_EVENT
                        : strcmp (fsync_policy, "batch") == 0 ? FSYNC_BATCH
                                                              : FSYNC_NEVER;
  self->outputs.max_bytes = (guint64) evb_plugin_get_int (plugin, "max_bytes");
  self->outputs.max_age_us = evb_plugin_get_int (plugin, "max_age_s") * G_USEC_PER_SEC;
  self->outputs.keep = (guint) evb_plugin_get_int (plugin, "keep");
  self->outputs.mkdir = evb_plugin_get_bool (plugin, "mkdir");
  self->outputs.max_open = (guint) evb_plugin_get_int (plugin, "max_open");
  self->format = strcmp (format, "template") == 0 ? FORMAT_TEMPLATE
                 : strcmp (format, "data") == 0   ? FORMAT_DATA
                                                  : FORMAT_EVENT;

  if (*path == '\0' || strcmp (path, "-") == 0)
    {
      g_set_error (error, file_out_error_quark (), 0,
                   "option \"path\": give a file (\"out/{type}-{date}.jsonl\"); standard output is the console plugin's");
      goto fail;
    }
  self->path = template_new (path, "path", error);
  if (self->path == NULL)
    goto fail;
  if (self->format == FORMAT_TEMPLATE)
    {
      if (*line_template == '\0')
        {
          g_set_error (error, file_out_error_quark (), 0,
                       "option \"template\": format \"template\" needs one, e.g. \"{time} {type} {data.message}\"");
          goto fail;
        }
      self->line = template_new (line_template, "template", error);
      if (self->line == NULL)
        goto fail;
    }
  else if (*line_template != '\0')
    {
      g_set_error (error, file_out_error_quark (), 0,
                   "option \"template\": only read with \"format\": \"template\" (the format is \"%s\")", format);
      goto fail;
    }

  plugin->instance_data = self;
  /* Files and folders are made by the first write, never by init; a
   * check makes no timeout either. */
  if (self->outputs.fsync == FSYNC_BATCH && !evb_plugin_is_checking (plugin))
    self->sync_id = evb_plugin_add_timeout (plugin, (guint) evb_plugin_get_int (plugin, "batch_ms"), sync_batch, self,
                                            NULL);
  return TRUE;

fail:
  file_out_free (self);
  return FALSE;
}

static void
file_out_shutdown (EvbPlugin *plugin)
{
  FileOut *self = plugin->instance_data;

  if (self == NULL)
    return;
  /* Every job has ended: the last batch is synced as the files close
   * (unless fsync is "never"). */
  if (self->outputs.fsync != FSYNC_NEVER)
    outputs_sync_dirty (&self->outputs);
  file_out_free (self);
  plugin->instance_data = NULL;
}

static const EvbHandlerInfo file_out_handlers[] = {
  EVB_HANDLER ("write", file_out_write,
      "Appends the event as one line to the file its path names (sync keeps event order; async, with "
      "max_concurrency 1, keeps fsync off the main loop); fails with the path and the system's message when "
      "the file cannot be opened, written, rotated or synced"),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo file_out_options[] = {
  EVB_OPTION_PATH ("path", NULL,
      "File to append to, relative to the config file's folder; {fields} of the event make its name: "
      "{type} {source} {id} {date} {hour} (UTC, of the event's time) {data.KEY} (\"logs/{type}-{date}.jsonl\")"),
  EVB_OPTION_CHOICE ("format", "\"event\"", EVB_CHOICES ("event", "data", "template"),
      "\"event\": {type, id, time_us, source, data} per line (replay reads it back); \"data\": the data "
      "object; \"template\": the template option's text"),
  EVB_OPTION ("template", EVB_OPTION_STRING, "\"\"",
      "Line of fields for format \"template\": {time} (ISO 8601 UTC) {type} {source} {id} {date} {hour} {data} "
      "{data.KEY}; missing fields are empty, newlines escaped"),
  EVB_OPTION_CHOICE ("fsync", "\"batch\"", EVB_CHOICES ("never", "batch", "event"),
      "When written lines are forced to disk: \"never\" (the kernel decides; a kill -9 loses nothing, a "
      "power cut may), \"batch\" (every batch_ms when something was written, and at rotation and exit), "
      "\"event\" (before the handler returns; use an async route)"),
  EVB_OPTION_INT_RANGE ("batch_ms", "1000", 1, 3600000, "Interval of the \"batch\" fsync, in milliseconds"),
  EVB_OPTION_INT_RANGE ("max_bytes", "0", 0, G_MAXINT64,
      "Rotate a file before a line would take it past this size (PATH -> PATH.1 -> ...); 0: never"),
  EVB_OPTION_INT_RANGE ("max_age_s", "0", 0, G_MAXINT32,
      "Rotate a file opened this many seconds ago at its next line; 0: never ({date} in the path rotates daily "
      "on its own)"),
  EVB_OPTION_INT_RANGE ("keep", "5", 0, 10000, "Rotated files kept (PATH.1 newest to PATH.N oldest); 0 deletes them"),
  EVB_OPTION ("mkdir", EVB_OPTION_BOOL, "true", "Make missing folders of the path"),
  EVB_OPTION_INT_RANGE ("max_open", "16", 1, 1024,
      "Files kept open at once; the least recently written is closed first"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE ("file-out", "0.1.0",
                   "Appends events to files as JSON lines or a template, with fields in the file name, "
                   "size and age rotation and an fsync policy",
                   file_out_handlers, file_out_options, file_out_init, file_out_shutdown);
