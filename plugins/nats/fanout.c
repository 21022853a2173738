/* Fan-out: the publish handler sends events to <prefix>.<type>; the import
 * patterns are subscribed and what arrives is emitted on the local bus.
 *
 * No loops, whatever the patterns: (1) the connection is made with NoEcho,
 * so the server never hands our own publications back to us; (2) a message
 * whose Evbus-Origin-Run header is ours is dropped anyway (counted), in
 * case a second connection of this instance would see it; (3) an event
 * that came in through NATS (its data has "_origin") is never published
 * again, so two hosts importing each other's ">" do not ping-pong a relay.
 * (4) host events (evbus.status.*, evbus.failure) about this plugin's own
 * jobs, or caused by an event we imported (their parent_id), are not
 * published: a publish job on an imported event makes status events of
 * its own, and exporting them would make the other host's publish job make
 * more, for ever.
 * Events a handler emits in response to an imported one are new events
 * and are published as usual.
 *
 * Core NATS subscriptions are at-most-once: a message sent while this
 * host is away is not kept.  Use work sharing (JetStream) for what must
 * not be lost. */
#include "nats-private.h"

/* A queued message and its origin headers, read on the delivery thread
 * along with Evbus-Origin-Run: one pass over libnats's header table while
 * it is fresh in that thread's cache, rather than a second one on the
 * main loop. */
typedef struct {
  natsMsg *msg;
  NatsOrigin origin;
} NatsImport;

/* ---- echoes of imported events -------------------------------------------- */

/* Enough for the status events of every job still running on an imported
 * event; older ids are forgotten. */
#define IMPORTED_IDS_KEPT 16384

void
nats_fanout_init (Nats *nats)
{
  g_mutex_init (&nats->imported_lock);
  nats->imported_ids = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_queue_init (&nats->imported_order);
  g_mutex_init (&nats->import_lock);
  nats->import_incoming = g_array_new (FALSE, FALSE, sizeof (NatsImport));
  nats->import_taken = g_array_new (FALSE, FALSE, sizeof (NatsImport));
}

/* Main thread, after the connection is closed: no delivery thread calls
 * on_import any more. */
void
nats_fanout_clear (Nats *nats)
{
  if (nats->import_source != NULL)
    {
      g_source_destroy (nats->import_source);
      g_clear_pointer (&nats->import_source, g_source_unref);
    }
  g_clear_pointer (&nats->import_context, g_main_context_unref);
  /* Nothing is left after stop; after a failed init there may be. */
  for (guint i = nats->import_taken_next; i < nats->import_taken->len; i++)
    natsMsg_Destroy (g_array_index (nats->import_taken, NatsImport, i).msg);
  for (guint i = 0; i < nats->import_incoming->len; i++)
    natsMsg_Destroy (g_array_index (nats->import_incoming, NatsImport, i).msg);
  g_array_unref (nats->import_taken);
  g_array_unref (nats->import_incoming);
  g_mutex_clear (&nats->import_lock);
  g_clear_pointer (&nats->imported_ids, g_hash_table_unref);
  g_queue_clear (&nats->imported_order);
  g_mutex_clear (&nats->imported_lock);
}

static void
remember_imported (Nats *nats, guint64 id)
{
  g_mutex_lock (&nats->imported_lock);
  if (g_hash_table_add (nats->imported_ids, GSIZE_TO_POINTER ((gsize) id)))
    g_queue_push_tail (&nats->imported_order, GSIZE_TO_POINTER ((gsize) id));
  while (g_queue_get_length (&nats->imported_order) > IMPORTED_IDS_KEPT)
    g_hash_table_remove (nats->imported_ids, g_queue_pop_head (&nats->imported_order));
  g_mutex_unlock (&nats->imported_lock);
}

static gboolean
was_imported (Nats *nats, guint64 id)
{
  gboolean found;

  g_mutex_lock (&nats->imported_lock);
  found = g_hash_table_contains (nats->imported_ids, GSIZE_TO_POINTER ((gsize) id));
  g_mutex_unlock (&nats->imported_lock);
  return found;
}

/* A status or failure event that only echoes fan-out (rule 4 above). */
static gboolean
is_echo (Nats *nats, const EvbEvent *event)
{
  if (!g_str_has_prefix (event->type, "evbus.status.") && strcmp (event->type, "evbus.failure") != 0)
    return FALSE;
  if (g_strcmp0 (json_string_value (json_object_get (event->data, "plugin")), nats->plugin->name) == 0)
    return TRUE;
  return EVB_EVENT_HAS (event, parent_id) && event->parent_id != 0 && was_imported (nats, event->parent_id);
}

/* ---- out ------------------------------------------------------------------ */

EvbResult
nats_publish_handler (EvbCall *call, const EvbEvent *event)
{
  Nats *nats = call->instance_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *subject = NULL;
  g_autofree char *payload = NULL;
  g_autofree char *status_text = NULL;
  natsMsg *msg = NULL;
  natsStatus status;

  if (json_object_get (event->data, NATS_ORIGIN_FIELD) != NULL)
    {
      NATS_COUNT (nats, publish_skipped_relay);
      return EVB_CONTINUE;
    }
  if (is_echo (nats, event))
    {
      NATS_COUNT (nats, publish_skipped_echo);
      return EVB_CONTINUE;
    }
  /* evbus.* (status, failure) may be exported: the importing host renames
   * them (host_events_as). */
  subject = nats_subject_for_type (nats->prefix, event->type, TRUE, &error);
  if (subject == NULL)
    {
      NATS_COUNT (nats, publish_failed);
      return evb_call_fail (call, "nats", NATS_ERROR_SUBJECT, "%s: not published", error->message);
    }
  payload = evb_json_dumps (event->data, JSON_COMPACT);
  status = natsMsg_Create (&msg, subject, NULL, payload, (int) strlen (payload));
  if (status == NATS_OK)
    status = nats_set_origin_headers (nats, msg, event);
  if (status == NATS_OK)
    {
      if (!g_atomic_int_get (&nats->connected))
        NATS_COUNT (nats, published_disconnected);
      /* Buffered by libnats (also while reconnecting, up to
       * reconnect_buffer_bytes): this worker may wait on a socket, the
       * main loop never does (the handler is async-only). */
      status = natsConnection_PublishMsg (nats->conn, msg);
    }
  natsMsg_Destroy (msg);
  if (status != NATS_OK)
    {
      NATS_COUNT (nats, publish_failed);
      status_text = nats_status_text (status);
      return evb_call_fail (call, "nats", NATS_ERROR_PUBLISH, "cannot publish %s to %s: %s%s", event->type, subject,
                            status_text,
                            status == NATS_INSUFFICIENT_BUFFER ? " (disconnected and the reconnect buffer is full: "
                                                                 "raise reconnect_buffer_bytes)"
                                                               : "");
    }
  NATS_COUNT (nats, published);
  return EVB_CONTINUE;
}

/* ---- in ------------------------------------------------------------------- */

/* How messages get from libnats to the bus.  libnats hands each message
 * to on_import on a delivery thread of its own (one per import pattern).
 * Emitting there, one any-thread emit per message, woke the main loop for
 * nearly every message (it drained the inbox faster than one message
 * came) and made every allocation on one thread and freed it on another:
 * most of an importing host's time went to context switches and malloc
 * arena locks.  So on_import only drops our own messages and appends
 * the rest to a queue, waking the main loop when the queue goes from
 * empty to non-empty; the main loop takes what has gathered and parses
 * and emits each message there, so the payload and the event are freed
 * on the thread that allocated them.
 *
 * Bounded: past import_queue_limit messages waiting, a message is
 * dropped and counted (import_dropped), as libnats would drop it for a
 * slow consumer; core NATS is at-most-once anyway.  The delivery thread
 * never waits for the bus, so libnats's own pending limits are only
 * reached when that thread gets no CPU at all (async_errors). */

/* Messages emitted per turn of the main loop: the bus's default slice
 * (host.slice_events), so that the inbox takes each batch in one slice
 * and timers still run between batches under a flood. */
#define IMPORT_SLICE 256

static gboolean
is_own_message (Nats *nats, natsMsg *msg)
{
  const char *run = NULL;

  return natsMsgHeader_Get (msg, NATS_HEADER_RUN, &run) == NATS_OK && g_strcmp0 (run, nats->run_id) == 0;
}

/* Main thread: one message onto the bus.  Takes @import's message. */
static void
import_one (Nats *nats, const NatsImport *import)
{
  natsMsg *msg = import->msg;
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;
  g_autoptr (GError) error = NULL;
  g_autofree char *type = NULL;
  const char *subject = natsMsg_GetSubject (msg);
  const char *why = NULL;
  json_error_t parse_error;
  json_t *data;
  guint64 id;

  type = nats_type_for_subject (nats->prefix, subject, nats->host_events_as, &why);
  if (type == NULL)
    {
      NATS_COUNT (nats, import_bad);
      evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING, "dropped a message on \"%s\": %s", subject, why);
      goto done;
    }
  data = json_loadb (natsMsg_GetData (msg), (size_t) natsMsg_GetDataLength (msg), 0, &parse_error);
  if (!json_is_object (data))
    {
      NATS_COUNT (nats, import_bad);
      evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING,
                      "dropped a message on \"%s\": the payload is not a JSON object%s%s", subject,
                      data == NULL ? ": " : "", data == NULL ? parse_error.text : "");
      json_decref (data);
      goto done;
    }
  json_object_set_new (data, NATS_ORIGIN_FIELD, nats_origin_json (&import->origin, subject));
  options.traceparent = import->origin.traceparent;
  options.tracestate = import->origin.tracestate;
  /* Counted before the emit: once the event is on the bus (a handler or
   * a test may look at the stats right then) it is already counted; a
   * refused emit takes it back. */
  NATS_COUNT (nats, imported);
  /* On the main thread a full "block" inbox admits the event (counted
   * overcommitted by the bus) rather than waiting: the slice above keeps
   * what we add per turn to what the inbox takes per turn. */
  id = evb_plugin_emit_full (nats->plugin, type, data, &options, &error);
  if (id != 0)
    remember_imported (nats, id);
  else
    {
      (void) __atomic_fetch_sub (&nats->counters.imported, 1, __ATOMIC_RELAXED);
      NATS_COUNT (nats, import_refused);
      if (!g_atomic_int_get (&nats->stopping))
        evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING, "%s from \"%s\" not emitted: %s", type, subject,
                        error->message);
    }
done:
  natsMsg_Destroy (msg);
}

/* A libnats delivery thread, one per import pattern: queue, never wait. */
static void
on_import (natsConnection *conn, natsSubscription *sub, natsMsg *msg, void *closure)
{
  Nats *nats = closure;
  NatsImport import = { .msg = msg };
  gboolean wake = FALSE;
  gboolean log_drop = FALSE;

  NATS_HANDOFF_ACQUIRE ();
  /* Here, not on the main loop: the first header read makes libnats
   * parse them all into allocations of its own, which its garbage
   * collector thread frees with the message.  Made on this thread, they
   * keep the main loop's malloc arena out of that thread's way. */
  if (is_own_message (nats, msg))
    {
      NATS_COUNT (nats, import_skipped_own);
      natsMsg_Destroy (msg);
      return;
    }
  nats_origin_read (msg, &import.origin);
  g_mutex_lock (&nats->import_lock);
  if (nats->import_closed || (guint) nats->import_queued >= nats->import_limit)
    {
      log_drop = !nats->import_closed && !nats->import_dropping;
      nats->import_dropping |= log_drop;
      g_mutex_unlock (&nats->import_lock);
      NATS_COUNT (nats, import_dropped);
      if (log_drop)
        evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING,
                        "%u imported messages wait for the bus (option import_queue_limit): dropping what comes "
                        "until it catches up (counted in nats.stats import.import_dropped)",
                        nats->import_limit);
      natsMsg_Destroy (msg);
      return;
    }
  g_array_append_val (nats->import_incoming, import);
  nats->import_dropping = FALSE;
  wake = nats->import_queued == 0;
  g_atomic_int_set (&nats->import_queued, nats->import_queued + 1);
  /* "Run until idle" (a harness) waits while messages wait here.  Taken
   * under the lock, so that the main loop's release of an earlier hold
   * cannot come between the flag and the hold. */
  if (!nats->import_held)
    {
      nats->import_held = TRUE;
      evb_plugin_hold (nats->plugin);
    }
  g_mutex_unlock (&nats->import_lock);
  /* Only the empty -> non-empty edge: until the queue is empty again the
   * main loop comes back for more on its own (import_prepare). */
  if (wake)
    g_main_context_wakeup (nats->import_context);
}

/* Main thread: emits up to @most queued messages (the batch taken last,
 * then a new one), returns how many. */
static guint
import_emit (Nats *nats, guint most)
{
  guint emitted = 0;
  gboolean release = FALSE;

  while (emitted < most)
    {
      if (nats->import_taken_next == nats->import_taken->len)
        {
          GArray *empty = nats->import_taken;

          /* Swap arrays: the lock is held for two pointer stores, not
           * for the batch, and neither array is reallocated in a steady
           * flow. */
          g_array_set_size (empty, 0);
          nats->import_taken_next = 0;
          g_mutex_lock (&nats->import_lock);
          nats->import_taken = nats->import_incoming;
          nats->import_incoming = empty;
          g_mutex_unlock (&nats->import_lock);
          if (nats->import_taken->len == 0)
            break;
        }
      import_one (nats, &g_array_index (nats->import_taken, NatsImport, nats->import_taken_next++));
      emitted++;
    }
  g_mutex_lock (&nats->import_lock);
  g_atomic_int_set (&nats->import_queued, nats->import_queued - (gint) emitted);
  if (nats->import_queued == 0 && nats->import_held)
    {
      nats->import_held = FALSE;
      release = TRUE;
    }
  g_mutex_unlock (&nats->import_lock);
  /* After the emits: the events are on the bus before the hold goes. */
  if (release)
    evb_plugin_release (nats->plugin);
  return emitted;
}

typedef struct {
  GSource source;
  Nats *nats;
} ImportSource;

static gboolean
import_prepare (GSource *source, gint *timeout)
{
  *timeout = -1;
  return g_atomic_int_get (&((ImportSource *) source)->nats->import_queued) > 0;
}

static gboolean
import_check (GSource *source)
{
  return g_atomic_int_get (&((ImportSource *) source)->nats->import_queued) > 0;
}

static gboolean
import_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  import_emit (((ImportSource *) source)->nats, IMPORT_SLICE);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs import_source_funcs = {
  .prepare = import_prepare,
  .check = import_check,
  .dispatch = import_dispatch,
};

gboolean
nats_fanout_start (Nats *nats, GError **error)
{
  json_t *patterns = json_object_get (evb_plugin_get_options (nats->plugin), "import");
  gsize i;
  json_t *pattern;

  nats->imports = g_ptr_array_new ();
  nats->import_limit = (guint) evb_plugin_get_int (nats->plugin, "import_queue_limit");
  /* The host's main loop: init runs on it (a harness pushes its own
   * context as the thread's default). */
  nats->import_context = g_main_context_ref_thread_default ();
  nats->import_source = g_source_new (&import_source_funcs, sizeof (ImportSource));
  ((ImportSource *) nats->import_source)->nats = nats;
  g_source_set_static_name (nats->import_source, "nats import");
  g_source_attach (nats->import_source, nats->import_context);
  json_array_foreach (patterns, i, pattern)
    {
      g_autoptr (GError) local_error = NULL;
      g_autofree char *subject = NULL;
      natsSubscription *sub = NULL;
      natsStatus status;

      if (!json_is_string (pattern))
        {
          g_set_error (error, NATS_ERROR, NATS_ERROR_CONFIG, "option \"import\"[%zu]: expected a pattern string", i);
          return FALSE;
        }
      subject = nats_subject_for_pattern (nats->prefix, json_string_value (pattern), &local_error);
      if (subject == NULL)
        {
          g_set_error (error, NATS_ERROR, NATS_ERROR_SUBJECT, "option \"import\"[%zu]: %s", i, local_error->message);
          return FALSE;
        }
      if (nats->conn == NULL) /* checking (nats_connection_open) */
        continue;
      NATS_HANDOFF_RELEASE ();
      status = natsConnection_Subscribe (&sub, nats->conn, subject, on_import, nats);
      if (status != NATS_OK)
        {
          g_autofree char *text = nats_status_text (status);

          g_set_error (error, NATS_ERROR, NATS_ERROR_CONNECT, "option \"import\"[%zu]: cannot subscribe to %s: %s",
                       i, subject, text);
          return FALSE;
        }
      g_ptr_array_add (nats->imports, sub);
    }
  /* The subscriptions reach the server before init returns, so that what
   * is published after the host is up is seen. */
  if (nats->imports->len > 0 && natsConnection_FlushTimeout (nats->conn, 5000) != NATS_OK)
    {
      g_set_error_literal (error, NATS_ERROR, NATS_ERROR_CONNECT,
                           "option \"import\": the server did not confirm the subscriptions within 5 s");
      return FALSE;
    }
  return TRUE;
}

/* Stop: no more deliveries.  What is queued is emitted now (@emit, from
 * the host's stop: the bus still takes events) or dropped (a failed
 * init), counted either way; what libnats still delivers is dropped and
 * counted.  Main thread; a second call does nothing more.
 * The subscriptions are destroyed with the connection in shutdown
 * (libnats 3.4 can crash on a message for a subscription destroyed while
 * its connection still reads). */
void
nats_fanout_stop (Nats *nats, gboolean emit)
{
  guint left;
  gboolean held;

  for (guint i = 0; nats->imports != NULL && i < nats->imports->len; i++)
    natsSubscription_Unsubscribe (g_ptr_array_index (nats->imports, i));
  g_mutex_lock (&nats->import_lock);
  nats->import_closed = TRUE;
  g_mutex_unlock (&nats->import_lock);
  /* Closed: the count only goes down now. */
  if (emit)
    while (import_emit (nats, G_MAXUINT) > 0)
      ;
  left = (guint) g_atomic_int_get (&nats->import_queued);
  if (left > 0)
    {
      (void) __atomic_fetch_add (&nats->counters.import_dropped, left, __ATOMIC_RELAXED);
      /* nats_fanout_clear destroys the messages; the hold goes now. */
      g_mutex_lock (&nats->import_lock);
      g_atomic_int_set (&nats->import_queued, 0);
      held = nats->import_held;
      nats->import_held = FALSE;
      g_mutex_unlock (&nats->import_lock);
      if (held)
        evb_plugin_release (nats->plugin);
    }
}
