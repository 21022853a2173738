/* bench-dashboard-overhead — bus throughput with and without the dashboard.
 *
 *   build/plugins/dashboard/bench-dashboard-overhead [--events N] [--runs N] [--clients N]
 *                          [--mode sync|async] [--fail-every N] [--only with|without]
 *
 * Each run builds a bus (host/bus.h, as the evbus executable does) with one
 * route "bench.work" -> a trivial handler, sync or async, failing one event
 * in --fail-every (100) so that failure events flow to the streams too.  It
 * emits N events from the main thread in batches of 10000, driving the loop
 * until the bus is idle after each.  "with" adds the dashboard and
 * --clients (10) /events clients reading their streams on their own threads,
 * as browsers would.  The two configurations alternate; the program prints
 * each run and the medians, in events per second of wall time and per
 * second of the bus thread's CPU time (steadier on a shared machine).
 *
 * --mode async: while the dashboard listens, every job also produces three
 * evbus.status.* events (nobody listens without it, so they are not made),
 * which is what the dashboard costs an async pipeline.  --only runs one
 * configuration, for profiling. */
#include <evbus/plugin.h>

#include "bus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 10000

static gint fail_every = 100; /* 0: never */

static EvbResult
bench_work (EvbCall *call, const EvbEvent *event)
{
  if (fail_every > 0 && json_integer_value (json_object_get (event->data, "n")) % fail_every == fail_every - 1)
    return evb_call_fail (call, "bench", 1, "event %" G_GINT64_FORMAT " failed on purpose",
                          (gint64) json_integer_value (json_object_get (event->data, "n")));
  return EVB_CONTINUE;
}

static const EvbHandlerInfo bench_handlers[] = {
  EVB_HANDLER ("work", bench_work, "Does nothing; fails one event in --fail-every."),
  EVB_HANDLERS_END
};

EVB_PLUGIN_DEFINE_STATIC (bench_descriptor, "bench", "1.0", "Throughput workload.", bench_handlers, NULL, NULL,
                          NULL);

/* ---- SSE clients: one thread each, reading and discarding ---------------- */

typedef struct {
  guint16 port;
  int fd;
  int idle_peer; /* "without": closing it ends the idle thread */
  GThread *thread;
  guint64 received;
  gint *ready; /* shared counter: clients that got the stream's first bytes */
} Client;

/* "without": a thread that only waits, so that both configurations run
 * with as many threads (glibc's malloc is slower in a threaded process;
 * real browsers are other processes and should not count either way). */
static gpointer
idle_main (gpointer data)
{
  Client *client = data;
  char byte;

  while (recv (client->fd, &byte, 1, 0) > 0)
    ;
  return NULL;
}

static gpointer
client_main (gpointer data)
{
  Client *client = data;
  static const char request[] = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  struct sockaddr_in address = { .sin_family = AF_INET };
  char buffer[65536];
  gboolean counted = FALSE;

  address.sin_port = htons (client->port);
  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (connect (client->fd, (struct sockaddr *) &address, sizeof address) != 0
      || send (client->fd, request, sizeof request - 1, 0) != (ssize_t) (sizeof request - 1))
    {
      g_printerr ("client: %s\n", g_strerror (errno));
      return NULL;
    }
  for (;;)
    {
      ssize_t n = recv (client->fd, buffer, sizeof buffer, 0);

      if (n <= 0)
        break;
      client->received += (guint64) n;
      if (!counted && g_strstr_len (buffer, n, ": evbus dashboard stream") != NULL)
        {
          counted = TRUE;
          g_atomic_int_inc (client->ready);
        }
    }
  return NULL;
}

/* ---- one run --------------------------------------------------------------- */

static void
die (const char *what, GError *error)
{
  g_printerr ("%s: %s\n", what, error != NULL ? error->message : "failed");
  exit (1);
}

static EvbResult
remember_url (EvbCall *call, const EvbEvent *event)
{
  char **url = call->route_data;

  g_free (*url);
  *url = g_strdup (json_string_value (json_object_get (event->data, "url")));
  return EVB_CONTINUE;
}

typedef gboolean (*Condition) (EvbBus *bus, gpointer data);

static void
run_until (EvbBus *bus, Condition condition, gpointer data, const char *what)
{
  GMainContext *context = evb_bus_get_context (bus);
  gint64 deadline = g_get_monotonic_time () + 600 * G_USEC_PER_SEC;

  while (!condition (bus, data))
    {
      if (g_get_monotonic_time () > deadline)
        die (what, NULL);
      g_main_context_iteration (context, TRUE);
    }
}

static gboolean
bus_idle (EvbBus *bus, gpointer data)
{
  return evb_bus_is_idle (bus);
}

static gboolean
url_known (EvbBus *bus, gpointer data)
{
  return *(char **) data != NULL;
}

static gboolean
clients_ready (EvbBus *bus, gpointer data)
{
  gint *counts = data; /* [ready, wanted] */

  return g_atomic_int_get (&counts[0]) >= counts[1];
}

/* The bus itself rather than the test harness: the harness observes every
 * event, which turns status events on for everyone.  Here, as in the evbus
 * executable, they exist only while somebody (the dashboard) listens. */
/* CPU time of the calling thread (the bus's main thread), in µs: less
 * sensitive than wall time to whatever else the machine runs. */
static gint64
thread_cpu_us (void)
{
  struct timespec now;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &now);
  return (gint64) now.tv_sec * G_USEC_PER_SEC + now.tv_nsec / 1000;
}

typedef struct {
  double wall; /* events per second of wall time */
  double cpu;  /* events per second of main-thread CPU time */
  guint64 sse_bytes;
} Result;

static Result
run_once (gboolean with_dashboard, guint n_events, guint n_clients, EvbMode mode)
{
  Result result = { 0 };
  gint64 cpu_started;
  g_autoptr (GError) error = NULL;
  GMainContext *context = g_main_context_new ();
  EvbBusSettings settings;
  EvbRouteSpec work = EVB_ROUTE_SPEC_INIT;
  EvbPluginInstance *bench;
  EvbBus *bus;
  Client *clients = g_new0 (Client, n_clients);
  gint counts[2] = { 0, (gint) n_clients };
  g_autofree char *url = NULL;
  gint64 started;
  gint64 elapsed;

  g_main_context_push_thread_default (context);
  evb_bus_settings_init (&settings);
  settings.workers = 2;
  bus = evb_bus_new (&settings, context);
  bench = evb_bus_add_plugin (bus, "bench", &bench_descriptor, NULL, &error);
  if (bench == NULL)
    die ("bench plugin", error);
  work.pattern = "bench.work";
  work.handler = "work";
  work.mode = mode;
  if (evb_bus_add_route (bus, bench, &work, NULL, &error) == 0)
    die ("route", error);

  if (with_dashboard)
    {
      EvbRouteSpec ready = EVB_ROUTE_SPEC_INIT;
      json_t *config = json_pack ("{s:s}", "listen", "127.0.0.1:0");

      ready.pattern = "dashboard.ready";
      ready.handler = "remember-url";
      ready.func = remember_url;
      ready.user_data = &url;
      if (evb_bus_add_route (bus, NULL, &ready, NULL, &error) == 0)
        die ("ready route", error);
      if (evb_bus_load_plugin (bus, "dashboard", DASHBOARD_MODULE, config, &error) == NULL)
        die ("dashboard", error);
      json_decref (config);
      run_until (bus, url_known, &url, "dashboard.ready");
      for (guint i = 0; i < n_clients; i++)
        {
          clients[i].port = (guint16) atoi (strrchr (url, ':') + 1);
          clients[i].fd = socket (AF_INET, SOCK_STREAM, 0);
          clients[i].ready = &counts[0];
          clients[i].thread = g_thread_new ("sse-client", client_main, &clients[i]);
        }
      run_until (bus, clients_ready, counts, "SSE clients");
    }
  else
    {
      int pair[2];

      for (guint i = 0; i < n_clients; i++)
        {
          if (socketpair (AF_UNIX, SOCK_STREAM, 0, pair) != 0)
            die ("socketpair", NULL);
          clients[i].fd = pair[0];
          clients[i].idle_peer = pair[1];
          clients[i].thread = g_thread_new ("idle-client", idle_main, &clients[i]);
        }
    }
  run_until (bus, bus_idle, NULL, "idle");

  started = g_get_monotonic_time ();
  cpu_started = thread_cpu_us ();
  for (guint sent = 0; sent < n_events;)
    {
      guint batch_end = MIN (sent + BATCH, n_events);

      for (; sent < batch_end; sent++)
        if (!evb_bus_emit (bus, "bench.work", "bench", json_pack ("{s:i}", "n", (int) sent), &error))
          die ("emit", error);
      run_until (bus, bus_idle, NULL, "idle");
    }
  elapsed = g_get_monotonic_time () - started;
  result.cpu = (double) n_events / ((double) (thread_cpu_us () - cpu_started) / G_USEC_PER_SEC);
  result.wall = (double) n_events / ((double) elapsed / G_USEC_PER_SEC);

  evb_bus_free (bus); /* the dashboard closes its streams: clients see EOF */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  for (guint i = 0; i < n_clients; i++)
    {
      if (!with_dashboard)
        close (clients[i].idle_peer);
      g_thread_join (clients[i].thread);
      close (clients[i].fd);
      result.sse_bytes += clients[i].received;
    }
  g_free (clients);
  return result;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
median (double *values, guint n)
{
  qsort (values, n, sizeof *values, compare_doubles);
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

int
main (int argc, char **argv)
{
  gint events = 1000000;
  gint runs = 5;
  gint n_clients = 10;
  g_autofree char *mode = g_strdup ("sync");
  g_autofree char *only = NULL;
  GOptionEntry entries[] = {
    { "only", 0, 0, G_OPTION_ARG_STRING, &only, "run one configuration only (for profiling)", "with|without" },
    { "events", 0, 0, G_OPTION_ARG_INT, &events, "events per run (default 1000000)", "N" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "runs of each configuration (default 5)", "N" },
    { "clients", 0, 0, G_OPTION_ARG_INT, &n_clients, "SSE clients with the dashboard (default 10)", "N" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode, "handler mode: sync (default) or async", "MODE" },
    { "fail-every", 0, 0, G_OPTION_ARG_INT, &fail_every, "one event in N fails (default 100; 0: none)", "N" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) options = g_option_context_new ("- bus throughput with and without the dashboard");
  g_autoptr (GError) error = NULL;
  g_autofree double *wall[2] = { NULL, NULL };
  g_autofree double *cpu[2] = { NULL, NULL };
  EvbMode handler_mode;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error) || events <= 0 || runs <= 0 || n_clients < 0
      || (g_strcmp0 (mode, "sync") != 0 && g_strcmp0 (mode, "async") != 0))
    {
      g_printerr ("%s\n", error != NULL ? error->message : "bad arguments (see --help)");
      return 2;
    }
  handler_mode = g_strcmp0 (mode, "async") == 0 ? EVB_MODE_ASYNC : EVB_MODE_SYNC;
  for (guint c = 0; c < 2; c++)
    {
      wall[c] = g_new0 (double, runs);
      cpu[c] = g_new0 (double, runs);
    }
  printf ("%d %s events per run (1 in %d fails), %d runs, dashboard with %d SSE clients\n", events, mode,
          fail_every, runs, n_clients);
  /* Alternate the two so that drift (thermal, other load) hits both. */
  for (gint i = 0; i < runs; i++)
    for (guint c = 0; c < 2; c++)
      {
        Result result;

        if (only != NULL && g_strcmp0 (only, c == 1 ? "with" : "without") != 0)
          continue;
        result = run_once (c == 1, (guint) events, (guint) n_clients, handler_mode);

        wall[c][i] = result.wall;
        cpu[c][i] = result.cpu;
        printf ("run %d %-7s %9.0f events/s wall, %9.0f events/s per main-thread CPU second",
                i + 1, c == 1 ? "with" : "without", result.wall, result.cpu);
        if (c == 1)
          printf (" (clients read %" G_GUINT64_FORMAT " bytes)", result.sse_bytes);
        printf ("\n");
      }
  {
    double wall_without = median (wall[0], (guint) runs);
    double wall_with = median (wall[1], (guint) runs);
    double cpu_without = median (cpu[0], (guint) runs);
    double cpu_with = median (cpu[1], (guint) runs);

    printf ("median wall: without %.0f, with %.0f events/s: %+.1f%%\n", wall_without, wall_with,
            (wall_with / wall_without - 1.0) * 100.0);
    printf ("median CPU:  without %.0f, with %.0f events/s: %+.1f%%\n", cpu_without, cpu_with,
            (cpu_with / cpu_without - 1.0) * 100.0);
  }
  return 0;
}
