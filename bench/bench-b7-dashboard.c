/* B7: bus throughput with the dashboard loaded and 10 SSE clients
 * connected, against the same bus without it (target: within 10 %).
 *
 *   bench-b7-dashboard [--quick] [--rounds N] [--only VARIANT] [--no-peer]
 *                      [--clients N] [--fail-every N] [--work-us N]
 *
 * Each round builds a bus as the evbus executable does (host/bus.h, two
 * workers) with one route "bench.work" and emits events {"n": i} from the
 * main thread in windows of WINDOW, iterating until the bus is idle after
 * each window.  One event in --fail-every (100; 0: none) fails, so failure
 * events flow.  "With": the dashboard module loaded (listening on a free
 * loopback port) and --clients (10) clients, each a thread reading a raw
 * socket as a browser would; "without": as many threads that only wait
 * (the same thread count: glibc's malloc is slower in a threaded process).
 * The two alternate, swapping which goes first every round.
 *
 * Workloads: "sync" (a trivial sync handler), "async" (the same as a job
 * on the workers), "async-work" (a job that spins --work-us, 20, µs of CPU:
 * a query, a parse; a calibrated busy loop, not a sleep).
 * Clients: "page" is what the dashboard's page opens: GET
 * /events?pattern=evbus.failure&max_rate=20, plus GET /api/v1/snapshot once a second on
 * a fresh connection, read to the end.  A page client must stay connected
 * through the whole run: if one is cut off (the dashboard's warning) or its
 * stream does not end cleanly at shutdown, the program says so and exits 1.
 * "firehose" is GET /events with no pattern: every status and failure
 * event (three status events per async job); the dashboard cuts off
 * clients that fall too far behind, by design, and the program reports how
 * many it cut off per round.
 *
 * Variants are named <clients>-<workload>: page-sync ... firehose-async-work.
 *
 * Figures: the throughput, events per second of wall time, checked for
 * page clients (ratio = with / without >= 0.90); events per second of the
 * main thread's CPU time (CLOCK_THREAD_CPUTIME_ID), as information: what
 * the dashboard costs the bus thread per event, which is the throughput
 * where that thread is the bottleneck (sync, async) and not where the
 * workers are (async-work); for firehose, the clients cut off per round.
 * Lines starting with "#" give each round. */
#include "bench-common.h"
#include "plugin-module.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 1000
#define SNAPSHOT_INTERVAL_US G_USEC_PER_SEC
#define STREAM_PREAMBLE ": evbus dashboard stream"

typedef enum {
  CLIENT_PAGE,
  CLIENT_FIREHOSE,
} ClientKind;

typedef struct {
  guint n_clients;
  guint fail_every;
  guint work_us;
  guint64 spin_per_us; /* calibrated busy-loop iterations per µs */
} Settings;

/* ---- the workload ------------------------------------------------------- */

static gint sink; /* atomic: keeps spin () from being optimised away */

static guint64
spin (guint64 iterations, guint64 seed)
{
  guint64 x = seed | 1;

  for (guint64 i = 0; i < iterations; i++)
    x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

static gint64
thread_cpu_ns (void)
{
  struct timespec now;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &now);
  return (gint64) now.tv_sec * 1000000000 + now.tv_nsec;
}

/* Iterations per µs of CPU, the best of a few tries of at least 20 ms. */
static guint64
calibrate_spin (void)
{
  double best = 0;

  for (guint attempt = 0; attempt < 5; attempt++)
    {
      guint64 iterations = 1 << 16;
      gint64 elapsed;

      for (;;)
        {
          gint64 start = thread_cpu_ns ();

          g_atomic_int_set (&sink, (gint) spin (iterations, (guint64) start));
          elapsed = thread_cpu_ns () - start;
          if (elapsed >= 20000000)
            break;
          iterations *= 2;
        }
      best = MAX (best, (double) iterations * 1000.0 / (double) elapsed);
    }
  return (guint64) MAX (best, 1.0);
}

typedef struct {
  guint fail_every;        /* 0: no event fails */
  guint64 spin_iterations; /* 0: trivial handler */
} Work;

static EvbResult
work_handler (EvbCall *call, const EvbEvent *event)
{
  const Work *work = call->route_data;
  json_int_t n = json_integer_value (json_object_get (event->data, "n"));

  if (work->spin_iterations > 0)
    g_atomic_int_set (&sink, (gint) spin (work->spin_iterations, (guint64) n));
  if (work->fail_every > 0 && n % work->fail_every == work->fail_every - 1)
    return evb_call_fail (call, "bench", 1, "event %" JSON_INTEGER_FORMAT " failed on purpose", n);
  return EVB_CONTINUE;
}

/* ---- clients: one thread each --------------------------------------------- */

typedef struct {
  ClientKind kind;
  guint16 port;
  gint ready;    /* atomic: streams that sent their preamble */
  gint run_over; /* atomic: set before the bus (and the dashboard) goes */
} Shared;

typedef struct {
  Shared *shared;
  guint index;
  int fd;        /* the /events socket ("with"), or one end of a socketpair */
  int idle_peer; /* "without": closing it ends the idle thread */
  GThread *thread;
  /* Written by the thread, read after the join. */
  guint64 sse_bytes;
  guint snapshots;
  guint snapshot_errors;
  guint64 snapshot_bytes;
  gboolean stayed; /* the stream ended cleanly, and only after the run */
} Client;

/* "Without": a thread that only waits, for the same thread count. */
static gpointer
idle_main (gpointer data)
{
  Client *client = data;
  char byte;

  while (recv (client->fd, &byte, 1, 0) > 0)
    ;
  return NULL;
}

/* A loopback connection with @request sent, or -1. */
static int
http_connect (guint16 port, const char *request)
{
  struct sockaddr_in address = { .sin_family = AF_INET };
  gsize length = strlen (request);
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  address.sin_port = htons (port);
  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd < 0)
    return -1;
  if (connect (fd, (struct sockaddr *) &address, sizeof address) != 0
      || send (fd, request, length, MSG_NOSIGNAL) != (ssize_t) length)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* Reads the stream (and, for a page, a snapshot a second) until the
 * stream ends. */
static gpointer
client_main (gpointer data)
{
  static const char page_request[] = "GET /events?pattern=evbus.failure&max_rate=20 HTTP/1.1\r\n"
                                     "Host: 127.0.0.1\r\n\r\n";
  static const char firehose_request[] = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  static const char snapshot_request[] = "GET /api/v1/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                         "Connection: close\r\n\r\n";
  Client *client = data;
  Shared *shared = client->shared;
  gboolean page = shared->kind == CLIENT_PAGE;
  char buffer[65536];
  char status_line[16];
  gsize status_fill = 0;
  gboolean counted = FALSE;
  int snapshot_fd = -1;
  /* Spread the clients' polls over the second, as independent pages would. */
  gint64 next_snapshot = g_get_monotonic_time () + (gint64) (client->index % 10) * SNAPSHOT_INTERVAL_US / 10;

  client->fd = http_connect (shared->port, page ? page_request : firehose_request);
  if (client->fd < 0)
    {
      g_printerr ("B7 client: %s\n", g_strerror (errno));
      return NULL;
    }
  for (;;)
    {
      struct pollfd fds[2] = { { .fd = client->fd, .events = POLLIN }, { .fd = snapshot_fd, .events = POLLIN } };
      int timeout = -1;

      if (page && snapshot_fd < 0)
        timeout = (int) MAX (0, (next_snapshot - g_get_monotonic_time () + 999) / 1000);
      if (poll (fds, snapshot_fd >= 0 ? 2 : 1, timeout) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (fds[0].revents != 0)
        {
          ssize_t n = recv (client->fd, buffer, sizeof buffer, 0);

          if (n <= 0)
            {
              client->stayed = n == 0 && g_atomic_int_get (&shared->run_over);
              break;
            }
          client->sse_bytes += (guint64) n;
          if (!counted && g_strstr_len (buffer, n, STREAM_PREAMBLE) != NULL)
            {
              counted = TRUE;
              g_atomic_int_inc (&shared->ready);
            }
        }
      if (snapshot_fd >= 0 && fds[1].revents != 0)
        {
          ssize_t n = recv (snapshot_fd, buffer, sizeof buffer, 0);

          if (n > 0)
            {
              gsize take = MIN ((gsize) n, sizeof status_line - status_fill);

              memcpy (status_line + status_fill, buffer, take);
              status_fill += take;
              client->snapshot_bytes += (guint64) n;
            }
          else
            {
              /* Connection: close: the end of the connection is the end of
               * the response. */
              if (n == 0 && status_fill >= 13 && memcmp (status_line, "HTTP/1.1 200 ", 13) == 0)
                client->snapshots++;
              else if (!g_atomic_int_get (&shared->run_over))
                client->snapshot_errors++;
              close (snapshot_fd);
              snapshot_fd = -1;
              next_snapshot = MAX (next_snapshot + SNAPSHOT_INTERVAL_US, g_get_monotonic_time ());
            }
        }
      if (page && snapshot_fd < 0 && g_get_monotonic_time () >= next_snapshot
          && !g_atomic_int_get (&shared->run_over))
        {
          status_fill = 0;
          snapshot_fd = http_connect (shared->port, snapshot_request);
          if (snapshot_fd < 0)
            {
              client->snapshot_errors++;
              next_snapshot += SNAPSHOT_INTERVAL_US;
            }
        }
    }
  if (snapshot_fd >= 0)
    close (snapshot_fd);
  return NULL;
}

/* The dashboard reports a cut-off client through its logger (a warning in
 * the "evbus-plugin" domain): count those instead of printing them, and
 * keep its URL message quiet. */
static gint cut_off_total; /* atomic */

static void
plugin_log (const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
  if (strstr (message, "cut off") != NULL)
    g_atomic_int_inc (&cut_off_total);
  else if ((level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) == 0)
    g_log_default_handler (domain, level, message, user_data);
}

/* ---- one round ------------------------------------------------------------- */

typedef struct {
  double cpu;            /* events per second of main-thread CPU time */
  double wall;           /* events per second of wall time */
  guint cut_off;         /* clients the dashboard cut off, warm-up included */
  guint cut_off_warm_up; /* ...of which before the measured run */
  guint stayed;          /* clients whose stream ended cleanly at shutdown */
  guint snapshots;
  guint snapshot_errors;
  guint64 snapshot_bytes;
  guint64 sse_bytes;
} Round;

static EvbResult
remember_url (EvbCall *call, const EvbEvent *event)
{
  char **url = call->route_data;

  g_free (*url);
  *url = g_strdup (json_string_value (json_object_get (event->data, "url")));
  return EVB_CONTINUE;
}

/* Iterates @context until *@counter reaches @wanted; aborts after a minute. */
static void
run_until_count (GMainContext *context, gint *counter, gint wanted, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  while (g_atomic_int_get (counter) < wanted)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("B7: timed out waiting for %s", what);
      g_main_context_iteration (context, TRUE);
    }
}

static void
emit_events (EvbBus *bus, guint64 first, guint64 count)
{
  g_autoptr (GError) error = NULL;

  for (guint64 done = 0; done < count;)
    {
      guint64 window_end = MIN (done + WINDOW, count);

      for (; done < window_end; done++)
        if (!evb_bus_emit (bus, "bench.work", "bench", json_pack ("{s:I}", "n", (json_int_t) (first + done)), &error))
          g_error ("B7: emit: %s", error->message);
      bench_run_until_idle (bus);
    }
}

static Round
run_round (const Settings *settings, ClientKind kind, EvbMode mode, gboolean spinning, guint64 events,
           gboolean with_dashboard)
{
  Round round = { 0 };
  GMainContext *context = g_main_context_new ();
  Work work = { settings->fail_every, spinning ? settings->spin_per_us * settings->work_us : 0 };
  Shared shared = { .kind = kind };
  Client *clients = g_new0 (Client, settings->n_clients);
  g_autofree char *url = NULL;
  gint cut_off_before;
  EvbBus *bus;
  gint64 wall_start;
  gint64 cpu_start;

  g_main_context_push_thread_default (context);
  bus = bench_bus_new (context, 2, 0);
  bench_add_route (bus, "bench.work", mode, work_handler, &work, NULL);
  if (with_dashboard)
    {
      g_autoptr (GError) error = NULL;
      json_t *config = json_pack ("{s:s}", "listen", "127.0.0.1:0");

      bench_add_route (bus, "dashboard.ready", EVB_MODE_SYNC, remember_url, &url, NULL);
      if (evb_plugin_load (bus, "dashboard", DASHBOARD_MODULE, config, &error) == NULL)
        g_error ("B7: loading %s: %s", DASHBOARD_MODULE, error->message);
      json_decref (config);
      bench_run_until_idle (bus); /* dispatches dashboard.ready */
      if (url == NULL)
        g_error ("B7: no dashboard.ready");
      shared.port = (guint16) atoi (strrchr (url, ':') + 1);
      for (guint i = 0; i < settings->n_clients; i++)
        {
          clients[i].shared = &shared;
          clients[i].index = i;
          clients[i].fd = -1;
          clients[i].thread = g_thread_new ("b7-client", client_main, &clients[i]);
        }
      run_until_count (context, &shared.ready, (gint) settings->n_clients, "the SSE clients");
    }
  else
    for (guint i = 0; i < settings->n_clients; i++)
      {
        int pair[2];

        if (socketpair (AF_UNIX, SOCK_STREAM, 0, pair) != 0)
          g_error ("B7: socketpair: %s", g_strerror (errno));
        clients[i].fd = pair[0];
        clients[i].idle_peer = pair[1];
        clients[i].thread = g_thread_new ("b7-idle", idle_main, &clients[i]);
      }

  cut_off_before = g_atomic_int_get (&cut_off_total);
  emit_events (bus, 0, events / 10); /* warm-up */
  round.cut_off_warm_up = (guint) (g_atomic_int_get (&cut_off_total) - cut_off_before);
  wall_start = bench_now_ns ();
  cpu_start = thread_cpu_ns ();
  emit_events (bus, events / 10, events);
  round.cpu = (double) events / ((double) (thread_cpu_ns () - cpu_start) / 1e9);
  round.wall = (double) events / ((double) (bench_now_ns () - wall_start) / 1e9);
  round.cut_off = (guint) (g_atomic_int_get (&cut_off_total) - cut_off_before);

  g_atomic_int_set (&shared.run_over, 1);
  evb_bus_free (bus); /* the dashboard ends its streams: clients see EOF */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  for (guint i = 0; i < settings->n_clients; i++)
    {
      if (!with_dashboard)
        close (clients[i].idle_peer);
      g_thread_join (clients[i].thread);
      if (clients[i].fd >= 0)
        close (clients[i].fd);
      round.stayed += clients[i].stayed;
      round.snapshots += clients[i].snapshots;
      round.snapshot_errors += clients[i].snapshot_errors;
      round.snapshot_bytes += clients[i].snapshot_bytes;
      round.sse_bytes += clients[i].sse_bytes;
    }
  g_free (clients);
  return round;
}

/* ---- variants -------------------------------------------------------------- */

typedef struct {
  const char *name;
  EvbMode mode;
  gboolean spinning;
  guint64 events;
  guint64 quick_events;
} Workload;

static const Workload workloads[] = {
  { "sync", EVB_MODE_SYNC, FALSE, 1000000, 200000 },
  { "async", EVB_MODE_ASYNC, FALSE, 300000, 60000 },
  { "async-work", EVB_MODE_ASYNC, TRUE, 60000, 20000 },
};

/* FALSE when a page client was cut off or did not stay to the end. */
static gboolean
run_variant (const BenchOptions *options, const Settings *settings, const Workload *workload, ClientKind kind,
             const char *name)
{
  guint64 events = options->quick ? workload->quick_events : workload->events;
  g_autofree double *cpu_without_rounds = g_new0 (double, options->rounds);
  g_autofree double *cpu_with_rounds = g_new0 (double, options->rounds);
  g_autofree double *wall_without_rounds = g_new0 (double, options->rounds);
  g_autofree double *wall_with_rounds = g_new0 (double, options->rounds);
  g_autofree double *cut_off = g_new0 (double, options->rounds);
  double *cpu[2] = { cpu_without_rounds, cpu_with_rounds };
  double *wall[2] = { wall_without_rounds, wall_with_rounds };
  gboolean valid = TRUE;
  double cpu_with;
  double cpu_without;
  double wall_with;
  double wall_without;

  for (guint r = 0; r < options->rounds; r++)
    for (guint step = 0; step < 2; step++)
      {
        /* Round 1: with, without; round 2: without, with; ... */
        gboolean with_dashboard = (step == 0) == (r % 2 == 0);
        Round round;

        if (!with_dashboard && options->skip_peer)
          continue;
        round = run_round (settings, kind, workload->mode, workload->spinning, events, with_dashboard);
        cpu[with_dashboard][r] = round.cpu;
        wall[with_dashboard][r] = round.wall;
        if (!with_dashboard)
          {
            printf ("# B7 %s round %u without: %.0f events/s-cpu, %.0f events/s-wall\n", name, r + 1, round.cpu,
                    round.wall);
            continue;
          }
        cut_off[r] = round.cut_off;
        printf ("# B7 %s round %u with: %.0f events/s-cpu, %.0f events/s-wall; %u/%u clients cut off (%u in the "
                "warm-up), %u stayed to the end; %.1f MiB streamed",
                name, r + 1, round.cpu, round.wall, round.cut_off, settings->n_clients, round.cut_off_warm_up,
                round.stayed, (double) round.sse_bytes / 1048576.0);
        if (kind == CLIENT_PAGE)
          printf ("; %u snapshots (%.1f KiB each), %u failed", round.snapshots,
                  round.snapshots > 0 ? (double) round.snapshot_bytes / round.snapshots / 1024.0 : 0.0,
                  round.snapshot_errors);
        printf ("\n");
        if (kind == CLIENT_PAGE
            && (round.cut_off > 0 || round.stayed < settings->n_clients || round.snapshot_errors > 0))
          {
            fprintf (stderr, "B7 %s round %u: %u of %u page clients cut off, %u stayed to the end, %u snapshots "
                     "failed: this round does not measure what it should\n",
                     name, r + 1, round.cut_off, settings->n_clients, round.stayed, round.snapshot_errors);
            valid = FALSE;
          }
      }
  fflush (stdout);

  cpu_with = bench_median (cpu[1], options->rounds);
  cpu_without = bench_median (cpu[0], options->rounds);
  wall_with = bench_median (wall[1], options->rounds);
  wall_without = bench_median (wall[0], options->rounds);
  /* Throughput is events per second of wall time; the bus thread's CPU
   * per event is what the dashboard costs it, shown beside. */
  bench_result ("B7", name, "events/s-wall", wall_with, wall_without, "no-dashboard",
                wall_without > 0 ? wall_with / wall_without : 0, kind == CLIENT_PAGE ? "ratio>=0.90" : "info");
  bench_result ("B7", name, "events/s-cpu", cpu_with, cpu_without, "no-dashboard",
                cpu_without > 0 ? cpu_with / cpu_without : 0, "info");
  if (kind == CLIENT_FIREHOSE)
    bench_result ("B7", name, "clients-cut-off", bench_median (cut_off, options->rounds), 0, "no-dashboard", 0,
                  "info");
  return valid;
}

/* Takes this program's own options out of @argv, leaving the common ones
 * to bench_parse_options (). */
static void
parse_own_options (int *argc, char **argv, Settings *settings)
{
  int kept = 1;

  for (int i = 1; i < *argc; i++)
    {
      guint *target = NULL;

      if (strcmp (argv[i], "--clients") == 0)
        target = &settings->n_clients;
      else if (strcmp (argv[i], "--fail-every") == 0)
        target = &settings->fail_every;
      else if (strcmp (argv[i], "--work-us") == 0)
        target = &settings->work_us;
      if (target != NULL && i + 1 < *argc)
        {
          int value = atoi (argv[++i]);

          *target = (guint) MAX (0, value);
        }
      else
        argv[kept++] = argv[i];
    }
  argv[kept] = NULL;
  *argc = kept;
}

int
main (int argc, char **argv)
{
  static const struct {
    ClientKind kind;
    const char *name;
  } kinds[] = { { CLIENT_PAGE, "page" }, { CLIENT_FIREHOSE, "firehose" } };
  Settings settings = { .n_clients = 10, .fail_every = 100, .work_us = 20 };
  BenchOptions options;
  gboolean valid = TRUE;

  parse_own_options (&argc, argv, &settings);
  bench_parse_options (argc, argv, &options);
  g_log_set_handler ("evbus-plugin", G_LOG_LEVEL_MASK, plugin_log, NULL);
  printf ("# B7: %u clients, 1 event in %u fails, windows of %d events\n", settings.n_clients, settings.fail_every,
          WINDOW);
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    for (guint w = 0; w < G_N_ELEMENTS (workloads); w++)
      {
        g_autofree char *name = g_strdup_printf ("%s-%s", kinds[k].name, workloads[w].name);

        if (!bench_wants (&options, name))
          continue;
        if (workloads[w].spinning && settings.spin_per_us == 0)
          {
            settings.spin_per_us = calibrate_spin ();
            printf ("# B7: %u us of work = %" G_GUINT64_FORMAT " busy-loop iterations\n", settings.work_us,
                    settings.spin_per_us * settings.work_us);
          }
        if (!run_variant (&options, &settings, &workloads[w], kinds[k].kind, name))
          valid = FALSE;
      }
  if (!valid)
    {
      fprintf (stderr, "B7: page clients were cut off or lost: the checked figures are not valid\n");
      return 1;
    }
  return 0;
}
