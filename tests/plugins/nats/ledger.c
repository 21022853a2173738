/* nats-ledger — a test plugin for the cluster tests: a worker's job.
 *
 *   handler work (async)  waits delay_ms (cancellable), then appends one line
 *                         "<host> <data.job_id> <data._origin.deliveries>\n" to the ledger
 *                         with one write(2) on an O_APPEND descriptor, so a line is either
 *                         whole in the file or absent even when the host is killed with
 *                         SIGKILL; returns HANDLED only after the write
 *   option  path      path     the ledger file (shared by every host of a test)
 *   option  host      string   the label written first on each line
 *   option  delay_ms  integer  time each job takes
 */
#include <evbus/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

typedef struct {
  int fd;
  char *host;
  guint delay_ms;
} Ledger;

static EvbResult
ledger_work (EvbCall *call, const EvbEvent *event)
{
  Ledger *ledger = call->instance_data;
  const char *job_id = json_string_value (json_object_get (event->data, "job_id"));
  json_t *origin = json_object_get (event->data, "_origin");
  g_autofree char *line = NULL;

  if (job_id == NULL)
    return evb_call_fail (call, NULL, 1, "job without a job_id");
  if (ledger->delay_ms > 0 && evb_call_wait (call, ledger->delay_ms))
    return evb_call_fail (call, NULL, 2, "cancelled");
  line = g_strdup_printf ("%s %s %" JSON_INTEGER_FORMAT "\n", ledger->host, job_id,
                          json_integer_value (json_object_get (origin, "deliveries")));
  if (write (ledger->fd, line, strlen (line)) != (gssize) strlen (line))
    return evb_call_fail (call, NULL, 3, "ledger write: %s", g_strerror (errno));
  return EVB_HANDLED;
}

static gboolean
ledger_init (EvbPlugin *plugin, GError **error)
{
  Ledger *ledger = g_new0 (Ledger, 1);

  ledger->fd = g_open (evb_plugin_get_string (plugin, "path"), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (ledger->fd < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot open the ledger");
      g_free (ledger);
      return FALSE;
    }
  ledger->host = g_strdup (evb_plugin_get_string (plugin, "host"));
  ledger->delay_ms = (guint) evb_plugin_get_int (plugin, "delay_ms");
  plugin->instance_data = ledger;
  return TRUE;
}

static void
ledger_shutdown (EvbPlugin *plugin)
{
  Ledger *ledger = plugin->instance_data;

  g_close (ledger->fd, NULL);
  g_free (ledger->host);
  g_free (ledger);
}

static const EvbHandlerInfo ledger_handlers[] = {
  EVB_HANDLER_ASYNC ("work", ledger_work, "Waits delay_ms, appends \"host job_id deliveries\" to the ledger"),
  EVB_HANDLERS_END,
};

static const EvbOptionInfo ledger_options[] = {
  EVB_OPTION_PATH ("path", NULL, "Ledger file"),
  EVB_OPTION ("host", EVB_OPTION_STRING, NULL, "Label of this host"),
  EVB_OPTION_INT_RANGE ("delay_ms", "0", 0, 60000, "Time each job takes, in ms"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE ("nats-ledger", "0.1.0", "Test worker: appends each job to a ledger", ledger_handlers,
                   ledger_options, ledger_init, ledger_shutdown);
