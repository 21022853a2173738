/* The acker: one thread per working instance that settles jobs with the
 * server.  Receipts arrive on the main thread, which must never wait on
 * the network; they queue an action here.  Acks, naks and in-progress
 * notices are small publishes, but a dead letter waits for JetStream's
 * acknowledgement, so all of them live on this thread, in order.
 *
 * Between actions it wakes every quarter of the ack wait and sends an
 * in-progress notice for every job outstanding longer than half the ack
 * wait, so a long job is not redelivered to another host while it runs. */
#include "nats-private.h"

void
nats_action_free (NatsAction *action)
{
  if (action->job != NULL)
    nats_job_unref (action->job);
  g_free (action->reason);
  g_free (action);
}

static void
count_ack_failure (Nats *nats, NatsJob *job, const char *what, natsStatus status)
{
  g_autofree char *text = nats_status_text (status);

  NATS_COUNT (nats, ack_failed);
  evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING,
                  "%s of job %s (stream sequence %" G_GUINT64_FORMAT ") failed: %s; the server redelivers it "
                  "after the ack wait",
                  what, job->type != NULL ? job->type : job->subject, job->stream_seq, text);
}

/* Back-off by delivery: nak_delay_ms, doubled for each earlier delivery,
 * capped at nak_delay_max_ms. */
static gint64
nak_delay_ms (NatsWork *work, NatsJob *job)
{
  gint64 delay = work->nak_delay_ms;

  for (guint64 i = 1; i < job->deliveries && delay < work->nak_delay_max_ms; i++)
    delay *= 2;
  return MIN (delay, work->nak_delay_max_ms);
}

static void
emit_dead_letter_event (Nats *nats, NatsJob *job, const char *dead_subject, const char *reason)
{
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;
  g_autoptr (GError) error = NULL;
  json_t *data = json_loadb (natsMsg_GetData (job->msg), (size_t) natsMsg_GetDataLength (job->msg), 0, NULL);
  const char *msg_id = nats_header (job->msg, "Nats-Msg-Id");

  options.traceparent = nats_header (job->msg, NATS_HEADER_TRACEPARENT);
  options.tracestate = nats_header (job->msg, NATS_HEADER_TRACESTATE);
  if (!evb_plugin_emit_full (
        nats->plugin, "nats.dead-letter",
        json_pack ("{s:o, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:o, s:o}", "type",
                   job->type != NULL ? json_string (job->type) : json_null (), "subject", job->subject,
                   "dead_subject", dead_subject, "reason", reason, "host", nats->host, "msg_id",
                   msg_id != NULL ? json_string (msg_id) : json_null (), "stream_seq", (json_int_t) job->stream_seq,
                   "deliveries", (json_int_t) job->deliveries, "origin",
                   nats_origin_from_headers (job->msg, job->subject), "data",
                   data != NULL ? data : json_null ()),
        &options, &error))
    evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING, "nats.dead-letter for %s not emitted: %s",
                    job->subject, error->message);
}

/* Copies @job to <dead_prefix>.<type> (kept by the dead-letter stream),
 * then terminates it in the work queue.  On failure the job is nak'ed
 * with the longest back-off: it comes back past max_deliver and is tried
 * again. */
static void
dead_letter (NatsWork *work, Nats *nats, NatsJob *job, const char *reason)
{
  g_autofree char *dead_subject = g_strconcat (work->dead_prefix, ".", job->type != NULL ? job->type : "invalid",
                                               NULL);
  g_autofree char *msg_id = g_strdup_printf ("%s-%" G_GUINT64_FORMAT, work->stream, job->stream_seq);
  g_autofree char *deliveries = g_strdup_printf ("%" G_GUINT64_FORMAT, job->deliveries);
  const char *keep[] = { NATS_HEADER_HOST, NATS_HEADER_ID, NATS_HEADER_RUN, NATS_HEADER_SOURCE,
                         NATS_HEADER_TRACEPARENT, NATS_HEADER_TRACESTATE, "Nats-Msg-Id" };
  jsPubOptions options;
  jsErrCode code = 0;
  natsMsg *copy = NULL;
  natsStatus status;

  status = natsMsg_Create (&copy, dead_subject, NULL, natsMsg_GetData (job->msg), natsMsg_GetDataLength (job->msg));
  for (guint i = 0; status == NATS_OK && i < G_N_ELEMENTS (keep); i++)
    {
      const char *value = nats_header (job->msg, keep[i]);

      /* Nats-Msg-Id would dedupe the copy against nothing useful: keep it
       * under another name. */
      if (value != NULL)
        status = natsMsgHeader_Set (copy, strcmp (keep[i], "Nats-Msg-Id") == 0 ? "Evbus-Job-Msg-Id" : keep[i], value);
    }
  if (status == NATS_OK)
    status = natsMsgHeader_Set (copy, NATS_HEADER_DEAD_REASON, reason);
  if (status == NATS_OK)
    status = natsMsgHeader_Set (copy, NATS_HEADER_DEAD_DELIVERIES, deliveries);
  jsPubOptions_Init (&options);
  /* The same job dead-lettered twice (a lost Term) is stored once. */
  options.MsgId = msg_id;
  options.ExpectStream = work->dead_stream;
  options.MaxWait = work->submit_timeout_ms;
  if (status == NATS_OK)
    status = js_PublishMsg (NULL, nats->js, copy, &options, &code);
  natsMsg_Destroy (copy);
  if (status != NATS_OK)
    {
      g_autofree char *text = nats_status_text (status);

      NATS_COUNT (nats, jobs_dead_letter_failed);
      evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING,
                      "job %s (stream sequence %" G_GUINT64_FORMAT ") could not be moved to %s: %s; it stays "
                      "in stream \"%s\" and is tried again in %" G_GINT64_FORMAT " ms",
                      job->subject, job->stream_seq, dead_subject, text, work->stream, work->nak_delay_max_ms);
      if ((status = natsMsg_NakWithDelay (job->msg, work->nak_delay_max_ms, NULL)) != NATS_OK)
        count_ack_failure (nats, job, "nak", status);
      return;
    }
  if ((status = natsMsg_Term (job->msg, NULL)) != NATS_OK)
    count_ack_failure (nats, job, "term", status);
  NATS_COUNT (nats, jobs_dead_lettered);
  evb_plugin_log (nats->plugin, G_LOG_LEVEL_WARNING,
                  "job %s (stream sequence %" G_GUINT64_FORMAT ") moved to %s after %" G_GUINT64_FORMAT
                  " deliveries: %s",
                  job->subject, job->stream_seq, dead_subject, job->deliveries, reason);
  emit_dead_letter_event (nats, job, dead_subject, reason);
}

static void
settle (NatsWork *work, Nats *nats, NatsAction *action)
{
  NatsJob *job = action->job;
  natsStatus status;

  switch (action->kind)
    {
    case NATS_ACTION_ACK:
      if ((status = natsMsg_Ack (job->msg, NULL)) != NATS_OK)
        count_ack_failure (nats, job, "ack", status);
      else
        NATS_COUNT (nats, jobs_acked);
      break;
    case NATS_ACTION_NAK:
      if ((status = natsMsg_NakWithDelay (job->msg, nak_delay_ms (work, job), NULL)) != NATS_OK)
        count_ack_failure (nats, job, "nak", status);
      else
        NATS_COUNT (nats, jobs_nacked);
      evb_plugin_log (nats->plugin, G_LOG_LEVEL_DEBUG, "job %s delivery %" G_GUINT64_FORMAT " failed: %s",
                      job->subject, job->deliveries, action->reason);
      break;
    case NATS_ACTION_RETRY_NOW:
      if ((status = natsMsg_Nak (job->msg, NULL)) != NATS_OK)
        count_ack_failure (nats, job, "nak", status);
      else
        NATS_COUNT (nats, jobs_nacked);
      break;
    case NATS_ACTION_DEAD:
      dead_letter (work, nats, job, action->reason);
      break;
    case NATS_ACTION_QUIT:
      return;
    }
  g_mutex_lock (&work->lock);
  g_hash_table_remove (work->outstanding, job);
  g_mutex_unlock (&work->lock);
}

static void
mark_in_progress (NatsWork *work, Nats *nats)
{
  gint64 now = g_get_monotonic_time ();
  gint64 half_us = work->ack_wait_ms * 1000 / 2;
  g_autoptr (GPtrArray) due = g_ptr_array_new_with_free_func ((GDestroyNotify) nats_job_unref);
  GHashTableIter iter;
  gpointer key;

  /* Collected under the lock, sent outside it: the delivery thread adds
   * jobs meanwhile. */
  g_mutex_lock (&work->lock);
  g_hash_table_iter_init (&iter, work->outstanding);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      NatsJob *job = key;

      if (now - job->touched_us >= half_us)
        {
          job->touched_us = now;
          g_ptr_array_add (due, nats_job_ref (job));
        }
    }
  g_mutex_unlock (&work->lock);
  for (guint i = 0; i < due->len; i++)
    {
      NatsJob *job = g_ptr_array_index (due, i);
      natsStatus status = natsMsg_InProgress (job->msg, NULL);

      if (status != NATS_OK)
        count_ack_failure (nats, job, "in-progress notice", status);
      else
        NATS_COUNT (nats, jobs_in_progress);
    }
}

/* The next queued action, or NULL after @timeout_us without one. */
static NatsAction *
take_action (NatsWork *work, guint64 timeout_us)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_us;
  NatsAction *action;

  g_mutex_lock (&work->lock);
  while (g_queue_is_empty (&work->actions))
    if (!g_cond_wait_until (&work->actions_cond, &work->lock, deadline))
      break;
  action = g_queue_pop_head (&work->actions);
  g_mutex_unlock (&work->lock);
  return action;
}

static gpointer
acker_thread (gpointer data)
{
  NatsWork *work = data;
  Nats *nats = work->nats;
  guint64 tick_us = (guint64) CLAMP (work->ack_wait_ms * 1000 / 4, 10000, 1000000);

  for (;;)
    {
      NatsAction *action = take_action (work, tick_us);

      if (action != NULL && action->kind == NATS_ACTION_QUIT)
        {
          nats_action_free (action);
          break;
        }
      if (action != NULL)
        {
          settle (work, nats, action);
          nats_action_free (action);
        }
      mark_in_progress (work, nats);
    }
  return NULL;
}

gboolean
nats_acker_start (NatsWork *work, GError **error)
{
  work->acker = g_thread_try_new ("evbus-nats-ack", acker_thread, work, error);
  return work->acker != NULL;
}

void
nats_acker_stop (NatsWork *work)
{
  NatsAction *quit = g_new0 (NatsAction, 1);
  g_autoptr (GPtrArray) unsettled = g_ptr_array_new_with_free_func ((GDestroyNotify) nats_job_unref);
  GHashTableIter iter;
  gpointer key;

  /* Actions queued before this one are settled first (FIFO). */
  quit->kind = NATS_ACTION_QUIT;
  g_mutex_lock (&work->lock);
  g_queue_push_tail (&work->actions, quit);
  g_cond_signal (&work->actions_cond);
  work->closed = TRUE;
  g_mutex_unlock (&work->lock);
  g_thread_join (work->acker);
  work->acker = NULL;

  /* Jobs whose receipt has not come: give them back now rather than
   * after the ack wait. */
  g_mutex_lock (&work->lock);
  g_hash_table_iter_init (&iter, work->outstanding);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (unsettled, nats_job_ref (key));
  g_hash_table_remove_all (work->outstanding);
  g_mutex_unlock (&work->lock);
  for (guint i = 0; i < unsettled->len; i++)
    {
      NatsJob *job = g_ptr_array_index (unsettled, i);

      natsMsg_Nak (job->msg, NULL);
      NATS_COUNT (work->nats, jobs_nacked);
    }
}
