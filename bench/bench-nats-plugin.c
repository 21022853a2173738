/* bench-nats — the worker hosts' side of bench-nats (loaded by `evbus run`
 * processes the benchmark spawns; never installed).
 *
 *   handler work (async)  waits delay_ms (cancellable, the IO a job waits
 *                         on), then appends "<host> <job_id> <deliveries>
 *                         <monotonic µs>\n" to the ledger with one write(2)
 *                         on an O_APPEND descriptor: a line is whole or
 *                         absent even when the host is killed with SIGKILL;
 *                         HANDLED only after the write, so the job is acked
 *                         only once it is in the ledger
 *   handler count (sync)  counts events; writes "<count> <first µs> <now µs>\n"
 *                         to the ledger at every `every`-th one, so the
 *                         benchmark reads the receive rate from the last line
 *   option  path      path     the ledger (shared by the hosts of one run)
 *   option  host      string   the label of work lines
 *   option  delay_ms  integer  how long each job waits
 *   option  every     integer  count lines every N events
 *
 * Times are g_get_monotonic_time (): CLOCK_MONOTONIC, one clock for every
 * process of the machine, so the benchmark compares them with its own. */
#include <evbus/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

typedef struct {
  int fd;
  char *host;
  guint delay_ms;
  guint every;
  guint64 counted; /* count runs on the main thread only (sync) */
  gint64 first_us;
} BenchNats;

static gboolean
append_line (BenchNats *self, const char *line)
{
  gsize length = strlen (line);

  return write (self->fd, line, length) == (gssize) length;
}

static EvbResult
bench_nats_work (EvbCall *call, const EvbEvent *event)
{
  BenchNats *self = call->instance_data;
  const char *job_id = json_string_value (json_object_get (event->data, "job_id"));
  json_t *origin = json_object_get (event->data, "_origin");
  g_autofree char *line = NULL;

  if (job_id == NULL)
    return evb_call_fail (call, NULL, 1, "job without a job_id");
  if (self->delay_ms > 0 && evb_call_wait (call, self->delay_ms))
    return evb_call_fail (call, NULL, 2, "cancelled");
  line = g_strdup_printf ("%s %s %" JSON_INTEGER_FORMAT " %" G_GINT64_FORMAT "\n", self->host, job_id,
                          json_integer_value (json_object_get (origin, "deliveries")), g_get_monotonic_time ());
  if (!append_line (self, line))
    return evb_call_fail (call, NULL, 3, "ledger write: %s", g_strerror (errno));
  return EVB_HANDLED;
}

static EvbResult
bench_nats_count (EvbCall *call, const EvbEvent *event)
{
  BenchNats *self = call->instance_data;

  if (self->counted++ == 0)
    self->first_us = g_get_monotonic_time ();
  if (self->counted % self->every == 0)
    {
      g_autofree char *line = g_strdup_printf ("%" G_GUINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n",
                                               self->counted, self->first_us, g_get_monotonic_time ());

      if (!append_line (self, line))
        return evb_call_fail (call, NULL, 3, "ledger write: %s", g_strerror (errno));
    }
  return EVB_HANDLED;
}

static gboolean
bench_nats_init (EvbPlugin *plugin, GError **error)
{
  BenchNats *self = g_new0 (BenchNats, 1);

  self->fd = g_open (evb_plugin_get_string (plugin, "path"), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (self->fd < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot open the ledger %s: %s",
                   evb_plugin_get_string (plugin, "path"), g_strerror (errno));
      g_free (self);
      return FALSE;
    }
  self->host = g_strdup (evb_plugin_get_string (plugin, "host"));
  self->delay_ms = (guint) evb_plugin_get_int (plugin, "delay_ms");
  self->every = (guint) evb_plugin_get_int (plugin, "every");
  plugin->instance_data = self;
  return TRUE;
}

static void
bench_nats_shutdown (EvbPlugin *plugin)
{
  BenchNats *self = plugin->instance_data;

  g_close (self->fd, NULL);
  g_free (self->host);
  g_free (self);
}

static const EvbHandlerInfo bench_nats_handlers[] = {
  EVB_HANDLER_ASYNC ("work", bench_nats_work, "Waits delay_ms, appends \"host job_id deliveries µs\" to the ledger"),
  EVB_HANDLER_SYNC ("count", bench_nats_count, "Counts events, a ledger line every `every`"),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo bench_nats_options[] = {
  EVB_OPTION_PATH ("path", NULL, "Ledger file"),
  EVB_OPTION ("host", EVB_OPTION_STRING, "\"\"", "Label of this host"),
  EVB_OPTION_INT_RANGE ("delay_ms", "0", 0, 60000, "Time each job waits, in ms"),
  EVB_OPTION_INT_RANGE ("every", "1000", 1, 1000000, "Events between count lines"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE ("bench-nats", "0.1.0", "bench-nats's worker: ledger lines and counts", bench_nats_handlers,
                   bench_nats_options, bench_nats_init, bench_nats_shutdown);
