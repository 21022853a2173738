/* FILES (issue 13): plugins/file-in -> plugins/file-out lines per second,
 * against `cat` copying the same file and a plain GLib JSON-lines copier,
 * in the same process and run.
 *
 *   bench-files [--quick] [--rounds N] [--only VARIANT] [--no-peer]
 *
 * A generated file of N JSON lines (objects of about 90 bytes) is read to
 * its end by file-in (format json, follow off) on a bus with 2 workers and
 * default settings; a sync route sends each line to file-out (format data,
 * fsync never), which appends it to a file in the same folder.  The round
 * ends at file-in.done, once every line's receipt settled; the output is
 * checked to hold N lines.  Peers, same input, output deleted between
 * rounds:
 *   - "cat": `sh -c 'cat IN > OUT'` (a byte copy: the floor, no parsing);
 *   - "glib": GDataInputStream lines -> json_loads -> json_dumps -> a
 *     buffered GFileOutputStream: the same parse and write per line with
 *     no bus, to tell the format's cost from the pipeline's.
 * Lines/s of wall time, ratio evbus / peer, information (no target). */
#include "bench-common.h"
#include "plugin-module.h"

#include <evbus/plugin.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static EvbResult
set_flag (EvbCall *call, const EvbEvent *event)
{
  *(gboolean *) call->route_data = TRUE;
  return EVB_CONTINUE;
}

static guint
count_lines (const char *path)
{
  g_autofree char *text = NULL;
  gsize length;
  guint lines = 0;

  if (!g_file_get_contents (path, &text, &length, NULL))
    return 0;
  for (gsize i = 0; i < length; i++)
    lines += text[i] == '\n';
  return lines;
}

static void
write_input (const char *path, guint lines)
{
  GString *text = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < lines; i++)
    g_string_append_printf (text, "{\"n\":%u,\"name\":\"item-%u\",\"price\":%u.5,\"tags\":[\"a\",\"b\"],"
                            "\"note\":\"a line of a log\"}\n", i, i, i % 1000);
  if (!g_file_set_contents (path, text->str, text->len, &error))
    g_error ("bench-files: %s", error->message);
  g_string_free (text, TRUE);
}

static double
evbus_lines_per_second (const char *in, const char *out, guint lines)
{
  GMainContext *context = g_main_context_new ();
  g_autoptr (GError) error = NULL;
  gboolean done = FALSE;
  EvbPluginInstance *writer;
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  EvbBus *bus;
  json_t *config;
  gint64 start;
  double rate;

  g_main_context_push_thread_default (context);
  bus = bench_bus_new (context, 2, 0);
  bench_add_route (bus, "file-in.done", EVB_MODE_SYNC, set_flag, &done, NULL);
  config = json_pack ("{s:s, s:s, s:s}", "path", out, "format", "data", "fsync", "never");
  writer = evb_plugin_load (bus, "out", FILE_OUT_MODULE, config, &error);
  if (writer == NULL)
    g_error ("bench-files: loading %s: %s", FILE_OUT_MODULE, error->message);
  json_decref (config);
  spec.mode = EVB_MODE_SYNC;
  spec.pattern = "file.line";
  spec.handler = "write";
  if (evb_bus_add_route (bus, writer, &spec, NULL, &error) == 0)
    g_error ("bench-files: route: %s", error->message);
  start = bench_now_ns ();
  config = json_pack ("{s:s, s:s, s:b}", "path", in, "format", "json", "follow", FALSE);
  if (evb_plugin_load (bus, "in", FILE_IN_MODULE, config, &error) == NULL)
    g_error ("bench-files: loading %s: %s", FILE_IN_MODULE, error->message);
  json_decref (config);
  while (!done)
    g_main_context_iteration (context, TRUE);
  rate = lines / ((bench_now_ns () - start) / 1e9);
  evb_bus_free (bus); /* closes the output */
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  if (count_lines (out) != lines)
    g_error ("bench-files: file-out wrote %u lines of %u", count_lines (out), lines);
  return rate;
}

static double
cat_lines_per_second (const char *in, const char *out, guint lines)
{
  const char *argv[] = { "/bin/sh", "-c", "cat \"$0\" > \"$1\"", in, out, NULL };
  g_autoptr (GError) error = NULL;
  gint64 start = bench_now_ns ();
  int status;
  double rate;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, &error)
      || !g_spawn_check_wait_status (status, &error))
    g_error ("bench-files: cat: %s", error->message);
  rate = lines / ((bench_now_ns () - start) / 1e9);
  if (count_lines (out) != lines)
    g_error ("bench-files: cat wrote %u lines of %u", count_lines (out), lines);
  return rate;
}

static double
glib_lines_per_second (const char *in, const char *out, guint lines)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GFile) in_file = g_file_new_for_path (in);
  g_autoptr (GFile) out_file = g_file_new_for_path (out);
  g_autoptr (GFileInputStream) raw_in = NULL;
  g_autoptr (GFileOutputStream) raw_out = NULL;
  g_autoptr (GDataInputStream) reader = NULL;
  g_autoptr (GOutputStream) writer = NULL;
  gint64 start = bench_now_ns ();
  char *line;
  gsize length;
  double rate;

  raw_in = g_file_read (in_file, NULL, &error);
  if (raw_in != NULL)
    raw_out = g_file_append_to (out_file, G_FILE_CREATE_NONE, NULL, &error);
  if (raw_out == NULL)
    g_error ("bench-files: %s", error->message);
  reader = g_data_input_stream_new (G_INPUT_STREAM (raw_in));
  writer = g_buffered_output_stream_new (G_OUTPUT_STREAM (raw_out));
  while ((line = g_data_input_stream_read_line (reader, &length, NULL, &error)) != NULL)
    {
      json_t *json = json_loadb (line, length, 0, NULL);
      char *text;

      if (!json_is_object (json))
        g_error ("bench-files: bad line %s", line);
      text = json_dumps (json, JSON_COMPACT);
      if (!g_output_stream_write_all (writer, text, strlen (text), NULL, NULL, &error)
          || !g_output_stream_write_all (writer, "\n", 1, NULL, NULL, &error))
        g_error ("bench-files: %s", error->message);
      free (text);
      json_decref (json);
      g_free (line);
    }
  if (error != NULL || !g_output_stream_close (writer, NULL, &error))
    g_error ("bench-files: %s", error->message);
  rate = lines / ((bench_now_ns () - start) / 1e9);
  if (count_lines (out) != lines)
    g_error ("bench-files: the GLib copier wrote %u lines of %u", count_lines (out), lines);
  return rate;
}

int
main (int argc, char **argv)
{
  BenchOptions options;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *in = NULL;
  g_autofree char *out = NULL;
  guint lines;
  g_autofree double *evbus = NULL;
  g_autofree double *cat = NULL;
  g_autofree double *glib = NULL;

  bench_parse_options (argc, argv, &options);
  if (!bench_wants (&options, "json-lines"))
    return 0;
  lines = options.quick ? 20000 : 100000;
  dir = g_dir_make_tmp ("bench-files-XXXXXX", &error);
  if (dir == NULL)
    g_error ("bench-files: %s", error->message);
  in = g_build_filename (dir, "in.jsonl", NULL);
  out = g_build_filename (dir, "out.jsonl", NULL);
  write_input (in, lines);
  evbus = g_new0 (double, options.rounds);
  cat = g_new0 (double, options.rounds);
  glib = g_new0 (double, options.rounds);

  /* Warm-up: the input in the page cache, the code paged in. */
  evbus_lines_per_second (in, out, lines);
  g_unlink (out);
  for (guint r = 0; r < options.rounds; r++)
    {
      evbus[r] = evbus_lines_per_second (in, out, lines);
      g_unlink (out);
      if (!options.skip_peer)
        {
          cat[r] = cat_lines_per_second (in, out, lines);
          g_unlink (out);
          glib[r] = glib_lines_per_second (in, out, lines);
          g_unlink (out);
        }
      printf ("# round %u: file-in->file-out %.0f lines/s, cat %.0f lines/s, GLib copier %.0f lines/s\n", r,
              evbus[r], cat[r], glib[r]);
    }
  {
    double evbus_median = bench_median (evbus, options.rounds);
    double cat_median = options.skip_peer ? 0 : bench_median (cat, options.rounds);
    double glib_median = options.skip_peer ? 0 : bench_median (glib, options.rounds);

    /* Higher is better: evbus / peer. */
    bench_result ("FILES", "json-lines", "lines/s", evbus_median, cat_median, "cat",
                  cat_median > 0 ? evbus_median / cat_median : 0, "info");
    bench_result ("FILES", "json-lines", "lines/s", evbus_median, glib_median, "glib-json-copier",
                  glib_median > 0 ? evbus_median / glib_median : 0, "info");
  }
  g_unlink (in);
  g_rmdir (dir);
  return 0;
}
