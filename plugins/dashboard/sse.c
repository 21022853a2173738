/* GET /events: status and failure events as Server-Sent Events.
 *
 * The bus must never wait for a browser, nor pay much for one.  Each event
 * is serialized once, in one pass, into a reused buffer, and copied into
 * every matching client's current block; a short timer (or a full block)
 * hands blocks to libsoup, so a burst of events costs one write per client
 * and block, not one per event.  Blocks are fixed-size and recycled through
 * a pool: under a flood, no large allocation happens per event or per
 * write (each one would make glibc consolidate its free lists).
 *
 * A client whose unsent bytes (its current block, plus blocks queued in
 * libsoup and not yet written to the socket) would go over sse_buffer_kb
 * is cut off: its connection is reset and its buffers freed.  Memory per
 * client is therefore bounded by the cap (plus what the kernel holds for
 * the socket). */
#include "dashboard-private.h"

#include <errno.h>
#include <gio/gnetworking.h>
#include <poll.h>
#include <string.h>

/* How long events may wait to be coalesced into one write... */
#define SSE_FLUSH_MS 50
/* ...unless a block fills up: then it goes to libsoup at once, to be
 * written between dispatch slices. */
#define SSE_BLOCK_SIZE (16 * 1024)
/* Free blocks the pool keeps for reuse (1 MiB); more are freed. */
#define SSE_POOL_KEEP 64
/* A comment line this often lets proxies keep the stream open and shows a
 * vanished client, whose socket then fails on write. */
#define SSE_PING_US (15 * G_USEC_PER_SEC)

/* Recycled blocks.  libsoup may hold a block after its client, or the whole
 * dashboard, is gone (until the message is finalized), so each block handed
 * out holds a reference on the pool. */
struct _SseBlockPool {
  gint ref_count;
  GPtrArray *free_blocks;
};

/* A block: the pool pointer, then SSE_BLOCK_SIZE bytes of text. */
typedef struct {
  SseBlockPool *pool;
  char text[SSE_BLOCK_SIZE];
} SseBlock;

struct _SseClient {
  Dashboard *dashboard;
  SoupServerMessage *msg; /* strong */
  guint32 kinds;          /* what its ?pattern takes: bits 1 << DASH_KIND_* */
  SseBlock *block;        /* being filled, not yet handed to libsoup */
  gsize fill;             /* bytes used in @block */
  guint64 appended;       /* bytes handed to libsoup */
  guint64 written;        /* bytes libsoup wrote to the socket */
  gulong wrote_handler;
  gulong finished_handler;
  /* ?max_rate: a token bucket holding up to one second of events. */
  guint max_rate;         /* 0: unlimited */
  double tokens;
  gint64 refilled_us;
  guint64 skipped;        /* since the last "skipped" message */
};

SseBlockPool *
dash_sse_pool_new (void)
{
  SseBlockPool *pool = g_new0 (SseBlockPool, 1);

  pool->ref_count = 1;
  pool->free_blocks = g_ptr_array_new_with_free_func (g_free);
  return pool;
}

static SseBlockPool *
pool_ref (SseBlockPool *pool)
{
  pool->ref_count++;
  return pool;
}

void
dash_sse_pool_unref (SseBlockPool *pool)
{
  if (--pool->ref_count > 0)
    return;
  g_ptr_array_unref (pool->free_blocks);
  g_free (pool);
}

static SseBlock *
pool_take (SseBlockPool *pool)
{
  SseBlock *block = pool->free_blocks->len > 0 ? g_ptr_array_steal_index_fast (pool->free_blocks,
                                                                                pool->free_blocks->len - 1)
                                               : g_new (SseBlock, 1);

  block->pool = pool_ref (pool);
  return block;
}

/* Back to the pool when nobody (libsoup, a client) uses it any more.
 * Main thread: libsoup releases chunks where it writes them. */
static void
block_release (gpointer data)
{
  SseBlock *block = data;
  SseBlockPool *pool = g_steal_pointer (&block->pool);

  if (pool->free_blocks->len < SSE_POOL_KEEP && pool->ref_count > 1)
    g_ptr_array_add (pool->free_blocks, block);
  else
    g_free (block);
  dash_sse_pool_unref (pool);
}

static gsize
client_buffered (SseClient *client)
{
  return (gsize) (client->appended - client->written) + client->fill;
}

gsize
dash_sse_buffered (Dashboard *self)
{
  gsize total = 0;

  for (GList *l = self->sse_clients; l != NULL; l = l->next)
    total += client_buffered (l->data);
  return total;
}

/* Detaches and frees a client; libsoup finishes the message on its own. */
static void
client_forget (SseClient *client)
{
  Dashboard *self = client->dashboard;

  self->sse_clients = g_list_remove (self->sse_clients, client);
  dash_watch_status (self, client->kinds, -1);
  g_signal_handler_disconnect (client->msg, client->wrote_handler);
  g_signal_handler_disconnect (client->msg, client->finished_handler);
  g_object_unref (client->msg);
  if (client->block != NULL)
    block_release (client->block);
  g_free (client);
}

/* Ends a client's stream now: takes the connection away from libsoup, which
 * then drops the message and every chunk it still queued, and closes it.
 * With @reset, an abortive close (RST): the kernel also drops what it
 * still holds for a peer that does not read. */
static void
client_close (SseClient *client, gboolean reset)
{
  SoupServerMessage *msg = g_object_ref (client->msg);
  GSocket *socket = soup_server_message_get_socket (msg);
  g_autoptr (GSocketAddress) peer = socket != NULL ? g_socket_get_remote_address (socket, NULL) : NULL;
  g_autoptr (GIOStream) stream = NULL;

  client_forget (client);
  if (peer == NULL)
    {
      /* The peer has gone already (and libsoup would warn, failing to
       * name it, if we stole the connection): end the response; the
       * write of its last chunk fails and libsoup drops the message. */
      soup_message_body_complete (soup_server_message_get_response_body (msg));
      soup_server_message_unpause (msg);
      g_object_unref (msg);
      return;
    }
  if (reset)
    {
      struct linger abortive = { .l_onoff = 1, .l_linger = 0 };

      setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
    }
  stream = soup_server_message_steal_connection (msg);
  if (stream != NULL)
    g_io_stream_close (stream, NULL, NULL);
  g_object_unref (msg);
}

/* Cuts off a client that fell too far behind. */
static void
client_drop (SseClient *client)
{
  Dashboard *self = client->dashboard;
  GSocket *socket = soup_server_message_get_socket (client->msg);
  g_autoptr (GSocketAddress) peer = socket != NULL ? g_socket_get_remote_address (socket, NULL) : NULL;
  g_autofree char *peer_text = NULL;

  /* From the socket: libsoup warns when asked to name a peer that left. */
  if (peer != NULL && G_IS_INET_SOCKET_ADDRESS (peer))
    peer_text = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (peer)));
  self->sse_dropped_clients++;
  evb_plugin_log (self->plugin, G_LOG_LEVEL_WARNING,
                  "/events client %s cut off: %" G_GSIZE_FORMAT " bytes unsent, over the %" G_GSIZE_FORMAT
                  "-byte cap (sse_buffer_kb)", peer_text != NULL ? peer_text : "(gone)", client_buffered (client),
                  self->sse_buffer_cap);
  client_close (client, TRUE);
}

static void
client_wrote (SoupServerMessage *msg, guint chunk_size, gpointer user_data)
{
  SseClient *client = user_data;

  client->written += chunk_size;
}

static void
client_finished (SoupServerMessage *msg, gpointer user_data)
{
  client_forget (user_data);
}

/* Hands a client's current block to libsoup as one chunk. */
static void
client_flush (SseClient *client)
{
  SseBlock *block = client->block;
  g_autoptr (GBytes) chunk = NULL;

  if (client->fill == 0)
    return;
  client->block = NULL;
  chunk = g_bytes_new_with_free_func (block->text, client->fill, block_release, block);
  soup_message_body_append_bytes (soup_server_message_get_response_body (client->msg), chunk);
  client->appended += client->fill;
  client->fill = 0;
  soup_server_message_unpause (client->msg);
}

static gboolean
flush_pending (gpointer user_data)
{
  Dashboard *self = user_data;

  for (GList *l = self->sse_clients; l != NULL; l = l->next)
    client_flush (l->data);
  g_clear_pointer (&self->sse_flush, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
schedule_flush (Dashboard *self)
{
  if (self->sse_flush != NULL)
    return;
  self->sse_flush = g_timeout_source_new (SSE_FLUSH_MS);
  g_source_set_static_name (self->sse_flush, "dashboard sse flush");
  g_source_set_callback (self->sse_flush, flush_pending, self, NULL);
  g_source_attach (self->sse_flush, self->context);
}

/* Queues @text for @client, or cuts the client off if that would take its
 * backlog over the cap.  Returns FALSE when the client is gone. */
static gboolean
client_queue (SseClient *client, const char *text, gsize length)
{
  Dashboard *self = client->dashboard;
  gsize after = client_buffered (client) + length;

  if (after > self->sse_buffer_cap)
    {
      client_drop (client);
      return FALSE;
    }
  self->sse_peak_buffered = MAX (self->sse_peak_buffered, after);
  while (length > 0)
    {
      gsize room;

      if (client->block == NULL)
        client->block = pool_take (self->sse_pool);
      room = MIN (length, SSE_BLOCK_SIZE - client->fill);
      memcpy (client->block->text + client->fill, text, room);
      client->fill += room;
      text += room;
      length -= room;
      if (client->fill == SSE_BLOCK_SIZE)
        client_flush (client);
    }
  if (client->fill > 0)
    schedule_flush (self);
  return TRUE;
}

void
dash_sse_start (Dashboard *self, SoupServerMessage *msg, const char *pattern, guint max_rate)
{
  static const char preamble[] = ": evbus dashboard stream\nretry: 2000\n\n";
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  SseClient *client = g_new0 (SseClient, 1);

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  soup_message_headers_set_content_type (headers, "text/event-stream", NULL);
  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_message_headers_replace (headers, "X-Accel-Buffering", "no");
  /* Written chunks are dropped, not kept for a body nobody will read. */
  soup_message_body_set_accumulate (body, FALSE);

  client->dashboard = self;
  client->msg = g_object_ref (msg);
  client->kinds = dash_kinds_of_pattern (pattern);
  client->max_rate = max_rate;
  client->tokens = max_rate;
  client->refilled_us = g_get_monotonic_time ();
  client->wrote_handler = g_signal_connect (msg, "wrote-body-data", G_CALLBACK (client_wrote), client);
  client->finished_handler = g_signal_connect (msg, "finished", G_CALLBACK (client_finished), client);
  self->sse_clients = g_list_prepend (self->sse_clients, client);
  dash_watch_status (self, client->kinds, 1);

  soup_message_body_append (body, SOUP_MEMORY_STATIC, preamble, sizeof preamble - 1);
  client->appended += sizeof preamble - 1;
}

static void
append_u64 (GString *out, guint64 value)
{
  char digits[24];
  int n = (int) sizeof digits;

  do
    digits[--n] = (char) ('0' + value % 10);
  while ((value /= 10) != 0);
  g_string_append_len (out, digits + n, (gssize) sizeof digits - n);
}

static void
append_i64 (GString *out, gint64 value)
{
  if (value < 0)
    {
      g_string_append_c (out, '-');
      append_u64 (out, (guint64) 0 - (guint64) value);
    }
  else
    append_u64 (out, (guint64) value);
}

/* A JSON string: runs of plain bytes in one copy; quote, backslash and
 * control characters escaped.  jansson strings are valid UTF-8, which
 * JSON takes as it is. */
static void
append_json_string (GString *out, const char *text, gsize length)
{
  static const char hex[] = "0123456789abcdef";
  gsize run = 0;

  g_string_append_c (out, '"');
  for (gsize i = 0; i < length; i++)
    {
      guchar c = (guchar) text[i];

      if (c >= 0x20 && c != '"' && c != '\\')
        continue;
      g_string_append_len (out, text + run, (gssize) (i - run));
      run = i + 1;
      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          g_string_append (out, "\\u00");
          g_string_append_c (out, hex[c >> 4]);
          g_string_append_c (out, hex[c & 0xf]);
        }
    }
  g_string_append_len (out, text + run, (gssize) (length - run));
  g_string_append_c (out, '"');
}

/* Compact JSON for @json, in one pass.  jansson's own dumper would do, at
 * several times the cost (it checks for cycles through a hash table keyed
 * by printf'ed pointers), and this runs for every event streamed. */
static void
append_json (GString *out, json_t *json)
{
  switch (json_typeof (json))
    {
    case JSON_OBJECT:
      {
        const char *key;
        json_t *value;
        gboolean first = TRUE;

        g_string_append_c (out, '{');
        json_object_foreach (json, key, value)
          {
            if (!first)
              g_string_append_c (out, ',');
            first = FALSE;
            append_json_string (out, key, strlen (key));
            g_string_append_c (out, ':');
            append_json (out, value);
          }
        g_string_append_c (out, '}');
        break;
      }
    case JSON_ARRAY:
      {
        gsize index;
        json_t *value;

        g_string_append_c (out, '[');
        json_array_foreach (json, index, value)
          {
            if (index > 0)
              g_string_append_c (out, ',');
            append_json (out, value);
          }
        g_string_append_c (out, ']');
        break;
      }
    case JSON_STRING:
      {
        const char *text = json_string_value (json);
        gsize length = json_string_length (json);
        gsize keep = dash_text_keep (text, length);

        if (keep == length)
          append_json_string (out, text, length);
        else
          {
            g_autofree char *capped = dash_text_capped (text, length);

            append_json_string (out, capped, strlen (capped));
          }
      }
      break;
    case JSON_INTEGER:
      append_i64 (out, json_integer_value (json));
      break;
    case JSON_REAL:
      {
        char number[G_ASCII_DTOSTR_BUF_SIZE];

        g_ascii_dtostr (number, sizeof number, json_real_value (json));
        g_string_append (out, number);
        /* Keep it a real for readers that care, as jansson does. */
        if (strpbrk (number, ".eE") == NULL)
          g_string_append (out, ".0");
        break;
      }
    case JSON_TRUE:
      g_string_append (out, "true");
      break;
    case JSON_FALSE:
      g_string_append (out, "false");
      break;
    case JSON_NULL:
      g_string_append (out, "null");
      break;
    }
}

/* One SSE message into @out: the event as JSON on one data line (compact
 * JSON has no raw newline: control characters are escaped).  No
 * intermediate document:
 *   data: {"type":...,"id":...,"time_us":...,"trace_id":...,"source":...,"data":{...}} */
static void
format_event (GString *out, const EvbEvent *event)
{
  char trace_id[EVB_TRACE_ID_SIZE];

  evb_event_format_trace_id (event, trace_id);
  g_string_truncate (out, 0);
  /* Types are [a-z0-9_-.] by construction. */
  g_string_append (out, "data: {\"type\":\"");
  g_string_append (out, event->type);
  g_string_append (out, "\",\"id\":");
  append_u64 (out, event->id);
  g_string_append (out, ",\"time_us\":");
  append_u64 (out, (guint64) MAX (event->time_us, 0));
  g_string_append (out, ",\"trace_id\":\"");
  g_string_append (out, trace_id);
  g_string_append (out, "\",\"source\":");
  append_json_string (out, event->source, strlen (event->source));
  g_string_append (out, ",\"data\":");
  append_json (out, event->data);
  g_string_append (out, "}\n\n");
}

/* FALSE when @client is over its max_rate (and the event is counted as
 * skipped for it). */
static gboolean
client_takes_one (SseClient *client, gint64 now_us)
{
  if (client->max_rate == 0)
    return TRUE;
  client->tokens = MIN ((double) client->max_rate,
                        client->tokens + (double) (now_us - client->refilled_us) * client->max_rate / G_USEC_PER_SEC);
  client->refilled_us = now_us;
  if (client->tokens >= 1.0)
    {
      client->tokens -= 1.0;
      return TRUE;
    }
  client->skipped++;
  client->dashboard->sse_events_skipped++;
  return FALSE;
}

/* Tells the client how many events it did not get:
 *   event: skipped
 *   data: {"skipped":N,"max_rate":R}
 * Returns FALSE when the client is gone. */
static gboolean
client_report_skipped (SseClient *client)
{
  char text[128];
  int length;

  if (client->skipped == 0)
    return TRUE;
  length = g_snprintf (text, sizeof text, "event: skipped\ndata: {\"skipped\":%" G_GUINT64_FORMAT
                       ",\"max_rate\":%u}\n\n", client->skipped, client->max_rate);
  client->skipped = 0;
  return client_queue (client, text, (gsize) length);
}

void
dash_sse_broadcast (Dashboard *self, const EvbEvent *event, guint kind)
{
  gboolean formatted = FALSE;
  gint64 now_us = 0;
  GList *next;

  for (GList *l = self->sse_clients; l != NULL; l = next)
    {
      SseClient *client = l->data;

      next = l->next; /* a client may be dropped below */
      if ((client->kinds & (1u << kind)) == 0)
        continue;
      if (client->max_rate != 0 && now_us == 0)
        now_us = g_get_monotonic_time ();
      if (!client_takes_one (client, now_us) || !client_report_skipped (client))
        continue;
      if (!formatted)
        {
          format_event (self->sse_scratch, event);
          formatted = TRUE;
        }
      if (client_queue (client, self->sse_scratch->str, self->sse_scratch->len))
        self->sse_events_sent++;
    }
}

/* On the tick: a burst that went over a stream's rate and then stopped
 * is still announced. */
void
dash_sse_report_skipped (Dashboard *self)
{
  GList *next;

  for (GList *l = self->sse_clients; l != NULL; l = next)
    {
      next = l->next;
      client_report_skipped (l->data);
    }
}

/* A stream's peer never sends anything: its socket turning readable with
 * nothing to read means it closed (a closed page, a killed curl).  libsoup
 * would only find out at the next write, and until then the client keeps
 * its buffers and, if it asked for status events, the bus making them.
 * Looked for on the dashboard's tick, in one poll () for all streams,
 * rather than with a watch per socket that every loop iteration would
 * poll while the bus is busy. */
void
dash_sse_reap_closed (Dashboard *self)
{
  guint n = g_list_length (self->sse_clients);
  g_autofree struct pollfd *fds = g_new0 (struct pollfd, MAX (n, 1));
  g_autofree SseClient **clients = g_new0 (SseClient *, MAX (n, 1));
  guint i = 0;

  for (GList *l = self->sse_clients; l != NULL; l = l->next)
    {
      GSocket *socket = soup_server_message_get_socket (((SseClient *) l->data)->msg);

      if (socket == NULL)
        continue;
      clients[i] = l->data;
      fds[i].fd = g_socket_get_fd (socket);
      fds[i].events = POLLIN;
      i++;
    }
  if (i == 0 || poll (fds, i, 0) <= 0)
    return;
  for (guint k = 0; k < i; k++)
    {
      char byte;
      gssize peeked;

      if ((fds[k].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
        continue;
      /* Readable with bytes (a pipelined request) is not a hang-up. */
      peeked = recv (fds[k].fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (peeked == 0 || (peeked < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        client_close (clients[k], FALSE);
    }
}

void
dash_sse_ping (Dashboard *self)
{
  static const char ping[] = ": ping\n\n";
  gint64 now = g_get_monotonic_time ();
  GList *next;

  if (now - self->sse_last_ping_us < SSE_PING_US)
    return;
  self->sse_last_ping_us = now;
  for (GList *l = self->sse_clients; l != NULL; l = next)
    {
      next = l->next;
      client_queue (l->data, ping, sizeof ping - 1);
    }
}

json_t *
dash_sse_to_json (Dashboard *self)
{
  return json_pack ("{s:i, s:I, s:I, s:I, s:I, s:I, s:I}",
                    "clients", (int) g_list_length (self->sse_clients),
                    "dropped_clients", (json_int_t) self->sse_dropped_clients,
                    "events_sent", (json_int_t) self->sse_events_sent,
                    "events_skipped", (json_int_t) self->sse_events_skipped,
                    "buffered_bytes", (json_int_t) dash_sse_buffered (self),
                    "peak_buffered_bytes", (json_int_t) self->sse_peak_buffered,
                    "buffer_cap_bytes", (json_int_t) self->sse_buffer_cap);
}

/* Shutdown: end every stream (the page then shows "disconnected").  What
 * was not written yet is dropped: the streams are live views, not logs. */
void
dash_sse_close_all (Dashboard *self)
{
  if (self->sse_flush != NULL)
    {
      g_source_destroy (self->sse_flush);
      g_clear_pointer (&self->sse_flush, g_source_unref);
    }
  while (self->sse_clients != NULL)
    client_close (self->sse_clients->data, FALSE);
}
