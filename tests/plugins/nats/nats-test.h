/* Helpers of the nats plugin's tests: a real nats-server with JetStream on
 * a free loopback port in a temporary store (tests/common/nats-server.h,
 * shared with bench/bench-nats.c), a raw libnats client to look at what
 * the plugin sends, and the harness helpers of the stock tests.  Tests
 * exit 77 (skipped) only when nats-server is not installed. */
#pragma once

#include "../stock/stock-test.h"

#include "nats-server.h"
#include "temp-dir.h"

#include <errno.h>
#include <nats/nats.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Exit 77 (meson's "skipped") when there is no server to test against. */
static inline void
nats_server_require (void)
{
  g_autofree char *program = nats_server_program ();

  if (program == NULL)
    {
      printf ("nats-server is not installed (apt-get install nats-server): skipped\n");
      exit (77);
    }
}

/* In a host's child process: it dies with the test, also when the test is
 * aborted (a sanitizer report, a crash) before its teardown. */
static inline void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* nats_server_start (nats-server.h), failing the test when it cannot. */
static inline void
nats_server_start_or_fail (NatsServer *server)
{
  g_autoptr (GError) error = NULL;

  if (!nats_server_start (server, &error))
    fail_msg ("%s", error->message);
}

/* ---- a raw client: what the plugin sends, as another program sees it ---- */

static inline natsConnection *
raw_connect (const NatsServer *server)
{
  natsConnection *conn = NULL;

  if (natsConnection_ConnectTo (&conn, server->url) != NATS_OK)
    fail_msg ("raw client cannot connect to %s", server->url);
  return conn;
}

static inline jsCtx *
raw_jetstream (natsConnection *conn)
{
  jsCtx *js = NULL;

  assert_int_equal (natsConnection_JetStream (&js, conn, NULL), NATS_OK);
  return js;
}

/* Messages in @stream, or -1 when it does not exist. */
static inline gint64
raw_stream_messages (jsCtx *js, const char *stream)
{
  jsStreamInfo *info = NULL;
  gint64 messages;

  if (js_GetStreamInfo (&info, js, stream, NULL, NULL) != NATS_OK)
    return -1;
  messages = (gint64) info->State.Msgs;
  jsStreamInfo_Destroy (info);
  return messages;
}

typedef struct {
  jsCtx *js;
  const char *stream;
  gint64 messages;
} StreamWait;

static inline gboolean
stream_has (EvbHarness *harness, gpointer data)
{
  StreamWait *wait = data;

  return raw_stream_messages (wait->js, wait->stream) == wait->messages;
}

static inline void
run_until_stream_has (EvbHarness *harness, jsCtx *js, const char *stream, gint64 messages)
{
  StreamWait wait = { js, stream, messages };
  g_autoptr (GError) error = NULL;

  if (!evb_harness_run_until (harness, stream_has, &wait, WAIT_MS, &error))
    fail_msg ("stream %s never had %" G_GINT64_FORMAT " messages (has %" G_GINT64_FORMAT "): %s", stream, messages,
              raw_stream_messages (js, stream), error->message);
}

/* The config of a nats instance on @server, with @extra members ("" or
 * "\"a\": 1, ..."). */
static inline char *
nats_config (const NatsServer *server, const char *host, const char *extra)
{
  return g_strdup_printf ("{\"servers\": [\"%s\"], \"host\": \"%s\"%s%s}", server->url, host,
                          *extra != '\0' ? ", " : "", extra);
}

/* The latest nats.stats of instance @instance, fresh: asks with report. */
static inline json_t *
nats_stats (EvbHarness *harness, const char *instance)
{
  g_autofree char *type = g_strdup_printf ("%s-stats.now", instance);
  guint before = evb_harness_count (harness, "nats.stats");

  emit_or_fail (harness, type, NULL);
  run_until_count_or_fail (harness, "nats.stats", before + 1);
  return json_incref (evb_harness_find (harness, "nats.stats", before)->data);
}

static inline gint64
stat_of (json_t *stats, const char *group, const char *name)
{
  json_t *value = json_object_get (json_object_get (stats, group), name);

  if (!json_is_integer (value))
    fail_msg ("nats.stats has no %s.%s", group, name);
  return json_integer_value (value);
}
