/* A real nats-server with JetStream for the nats plugin's tests and
 * bench/bench-nats.c: on a free loopback port (-p -1; -p 0 would bind
 * 4222), with its store and ports file in a temporary folder.
 *
 * Spawned with g_spawn and reaped with waitpid, not run as a GSubprocess:
 * GSubprocess reaps on GLib's worker thread, whose hand-overs
 * ThreadSanitizer cannot see (libglib is not instrumented).  The server is
 * killed with its parent (PR_SET_PDEATHSIG), also when a test is aborted
 * before its teardown. */
#pragma once

#include <glib.h>

typedef struct {
  GPid pid;     /* 0 while not running */
  int log_fd;   /* its stderr, read until "Server is ready", kept open (no SIGPIPE) until it exits */
  char *dir;    /* owned: the ports file and store/; made by the first start */
  char *url;    /* nats://127.0.0.1:PORT once started */
} NatsServer;

#define NATS_SERVER_ERROR (nats_server_error_quark ())
GQuark nats_server_error_quark (void);

typedef enum {
  NATS_SERVER_ERROR_NOT_INSTALLED,
  NATS_SERVER_ERROR_NOT_READY,  /* it exited before saying it was ready */
} NatsServerError;

/* The nats-server program's path, NULL when it is not installed. */
char *nats_server_program (void);

/* Starts the server in @server->dir (made when NULL, kept when restarting)
 * and waits until it is ready: its log line "Server is ready" on stderr,
 * read with blocking reads that end at that line or when it exits.  A
 * restart (@server->url set) listens on the same port again, so that
 * clients reconnect to the URL they know.  FALSE and @error (with its
 * log) when it is not installed or does not start. */
gboolean nats_server_start (NatsServer *server, GError **error);

/* Sends @signal_number and reaps it; the store stays for a restart. */
void nats_server_kill (NatsServer *server, int signal_number);

/* Stops it with SIGTERM when running, removes its folder, frees @server's
 * fields. */
void nats_server_stop (NatsServer *server);
