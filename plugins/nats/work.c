/* Work sharing on JetStream: the stream and the shared durable consumer,
 * the submit handler, and the delivery of jobs to the local bus.
 *
 * Consumption mode: a PUSH consumer with a deliver group, bound by every
 * worker host (js_Subscribe with a queue), not a pull consumer.  libnats
 * 3.4.1 (Debian's) has no async pull (js_PullSubscribeAsync came in 3.9),
 * so pulling means a thread blocked in natsSubscription_Fetch, and that
 * Fetch does not honour its timeout (fixed in 3.6.1) and can deadlock
 * (fixed in 3.10.0): a worker could hang at shutdown or sit on a dead
 * fetch.  With push, libnats calls us on its delivery thread; we never
 * block in a fetch, the server spreads jobs over the group's members, and
 * max_ack_pending bounds how many are out at once.  The redelivery rules
 * are the same (ack wait, max deliver, nak with delay).
 *
 * Receipts come on the main thread: they only queue an action for the
 * acker thread (acker.c), which talks to the server. */
#include "nats-private.h"

/* ---- references ------------------------------------------------------ */

static void
work_clear (gpointer data)
{
  NatsWork *work = data;

  g_free (work->stream);
  g_free (work->subject_prefix);
  g_free (work->consumer);
  g_free (work->deliver_subject);
  g_free (work->dead_prefix);
  g_free (work->dead_stream);
  g_free (work->msg_id_field);
  /* The acker took every action up to its QUIT; any left (none in
   * practice) still hold job references. */
  g_queue_clear_full (&work->actions, (GDestroyNotify) nats_action_free);
  g_cond_clear (&work->actions_cond);
  if (work->outstanding != NULL)
    g_hash_table_unref (work->outstanding);
  g_mutex_clear (&work->lock);
}

NatsWork *
nats_work_ref (NatsWork *work)
{
  __atomic_fetch_add (&work->ref_count, 1, __ATOMIC_RELAXED);
  return work;
}

void
nats_work_unref (NatsWork *work)
{
  /* Our own atomics, not g_atomic_rc_box: GLib's are compiled without
   * ThreadSanitizer, which then cannot see that the last release comes
   * after every other thread's use, and reports the free as a race. */
  if (__atomic_fetch_sub (&work->ref_count, 1, __ATOMIC_ACQ_REL) == 1)
    {
      work_clear (work);
      g_free (work);
    }
}

static void
job_clear (gpointer data)
{
  NatsJob *job = data;

  /* Unsettled (a receipt after shutdown): the server redelivers it after
   * the ack wait. */
  natsMsg_Destroy (job->msg);
  g_free (job->type);
  g_free (job->subject);
  nats_work_unref (job->work);
}

NatsJob *
nats_job_ref (NatsJob *job)
{
  __atomic_fetch_add (&job->ref_count, 1, __ATOMIC_RELAXED);
  return job;
}

void
nats_job_unref (NatsJob *job)
{
  /* Own atomics: see nats_work_unref. */
  if (__atomic_fetch_sub (&job->ref_count, 1, __ATOMIC_ACQ_REL) == 1)
    {
      job_clear (job);
      g_free (job);
    }
}

gboolean
nats_work_settle (NatsWork *work, NatsJob *job, NatsActionKind kind, const char *reason)
{
  NatsAction *action;
  gboolean queued = FALSE;

  g_mutex_lock (&work->lock);
  if (!work->closed)
    {
      action = g_new0 (NatsAction, 1);
      action->kind = kind;
      action->job = nats_job_ref (job);
      action->reason = g_strdup (reason);
      g_queue_push_tail (&work->actions, action);
      g_cond_signal (&work->actions_cond);
      queued = TRUE;
    }
  g_mutex_unlock (&work->lock);
  return queued;
}

/* ---- the stream and the consumer ------------------------------------- */

static char *
js_text (natsStatus status, jsErrCode code)
{
  g_autofree char *text = nats_status_text (status);

  return code != 0 ? g_strdup_printf ("%s (JetStream error %d)", text, (int) code) : g_steal_pointer (&text);
}

static gboolean
has_subject (jsStreamConfig *config, const char *subject)
{
  for (int i = 0; i < config->SubjectsLen; i++)
    if (g_strcmp0 (config->Subjects[i], subject) == 0)
      return TRUE;
  return FALSE;
}

static char *
subjects_text (jsStreamConfig *config)
{
  GString *text = g_string_new ("[");

  for (int i = 0; i < config->SubjectsLen; i++)
    g_string_append_printf (text, "%s\"%s\"", i > 0 ? ", " : "", config->Subjects[i]);
  g_string_append_c (text, ']');
  return g_string_free (text, FALSE);
}

static const char *
retention_name (jsRetentionPolicy retention)
{
  switch (retention)
    {
    case js_LimitsPolicy: return "limits";
    case js_InterestPolicy: return "interest";
    case js_WorkQueuePolicy: return "workqueue";
    }
  return "unknown";
}

/* Creates stream @name on @subject if absent; else checks it. */
static gboolean
ensure_stream (Nats *nats, const char *name, const char *subject, jsRetentionPolicy retention, const char *option,
               GError **error)
{
  EvbPlugin *plugin = nats->plugin;
  jsStreamInfo *info = NULL;
  jsErrCode code = 0;
  natsStatus status = js_GetStreamInfo (&info, nats->js, name, NULL, &code);
  gboolean ok = TRUE;

  if (status == NATS_OK)
    {
      if (info->Config->Retention != retention)
        {
          g_set_error (error, NATS_ERROR, NATS_ERROR_MISMATCH,
                       "option \"%s\": stream \"%s\" exists with retention \"%s\", this plugin needs \"%s\": "
                       "delete it (nats stream rm %s) or name another stream",
                       option, name, retention_name (info->Config->Retention), retention_name (retention), name);
          ok = FALSE;
        }
      else if (!has_subject (info->Config, subject))
        {
          g_autofree char *have = subjects_text (info->Config);

          g_set_error (error, NATS_ERROR, NATS_ERROR_MISMATCH,
                       "option \"%s\": stream \"%s\" exists with subjects %s, this plugin needs \"%s\": add it to "
                       "the stream, or make the prefix options agree with the stream",
                       option, name, have, subject);
          ok = FALSE;
        }
      jsStreamInfo_Destroy (info);
      return ok;
    }
  if (code != JSStreamNotFoundErr && status != NATS_NOT_FOUND)
    {
      g_autofree char *text = js_text (status, code);

      g_set_error (error, NATS_ERROR, NATS_ERROR_CONNECT,
                   "option \"%s\": cannot look up stream \"%s\": %s%s", option, name, text,
                   status == NATS_NO_RESPONDERS || status == NATS_TIMEOUT
                     ? "; is JetStream enabled on the server (nats-server -js)?" : "");
      return FALSE;
    }
  if (!evb_plugin_get_bool (plugin, "create"))
    {
      g_set_error (error, NATS_ERROR, NATS_ERROR_MISMATCH,
                   "option \"%s\": stream \"%s\" does not exist and option \"create\" is false: create it or set "
                   "\"create\": true", option, name);
      return FALSE;
    }
  {
    jsStreamConfig config;
    const char *subjects[] = { subject };

    jsStreamConfig_Init (&config);
    config.Name = name;
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Retention = retention;
    config.Storage = g_strcmp0 (evb_plugin_get_string (plugin, "storage"), "memory") == 0 ? js_MemoryStorage
                                                                                           : js_FileStorage;
    status = js_AddStream (NULL, nats->js, &config, NULL, &code);
  }
  if (status != NATS_OK)
    {
      g_autofree char *text = js_text (status, code);

      g_set_error (error, NATS_ERROR, NATS_ERROR_CONNECT, "option \"%s\": cannot create stream \"%s\" on \"%s\": %s",
                   option, name, subject, text);
      return FALSE;
    }
  evb_plugin_log (plugin, G_LOG_LEVEL_MESSAGE, "created stream \"%s\" (%s) on \"%s\"", name,
                  retention_name (retention), subject);
  return TRUE;
}

/* One line per setting that differs; "" when none does. */
static char *
consumer_differences (NatsWork *work, jsConsumerConfig *have, gint64 max_ack_pending)
{
  GString *text = g_string_new (NULL);
  gint64 ack_wait_ms = have->AckWait / 1000000;

#define DIFFER(...) g_string_append_printf (text, "%s" , text->len > 0 ? "; " : ""), g_string_append_printf (text, __VA_ARGS__)
  if (have->AckPolicy != js_AckExplicit)
    DIFFER ("it does not use explicit acks");
  if (have->DeliverSubject == NULL || *have->DeliverSubject == '\0')
    DIFFER ("it is a pull consumer, this plugin uses a push consumer with a deliver group");
  else if (g_strcmp0 (have->DeliverGroup, work->consumer) != 0)
    DIFFER ("deliver group \"%s\", expected \"%s\"", have->DeliverGroup != NULL ? have->DeliverGroup : "",
            work->consumer);
  if (ack_wait_ms != work->ack_wait_ms)
    DIFFER ("ack_wait_ms %" G_GINT64_FORMAT ", the config says %" G_GINT64_FORMAT, ack_wait_ms, work->ack_wait_ms);
  if (have->MaxDeliver != work->max_deliver + 1)
    DIFFER ("max deliver %" G_GINT64_FORMAT ", the config's max_deliver %" G_GINT64_FORMAT " needs %" G_GINT64_FORMAT,
            (gint64) have->MaxDeliver, work->max_deliver, work->max_deliver + 1);
  if (have->MaxAckPending != max_ack_pending)
    DIFFER ("max_ack_pending %" G_GINT64_FORMAT ", the config says %" G_GINT64_FORMAT, (gint64) have->MaxAckPending,
            max_ack_pending);
#undef DIFFER
  return g_string_free (text, FALSE);
}

static gboolean
ensure_consumer (Nats *nats, NatsWork *work, GError **error)
{
  gint64 max_ack_pending = evb_plugin_get_int (nats->plugin, "max_ack_pending");
  jsConsumerInfo *info = NULL;
  jsConsumerConfig config;
  jsErrCode code = 0;
  natsStatus status = js_GetConsumerInfo (&info, nats->js, work->stream, work->consumer, NULL, &code);

  if (status == NATS_OK)
    {
      g_autofree char *differences = consumer_differences (work, info->Config, max_ack_pending);
      gboolean same = *differences == '\0';

      jsConsumerInfo_Destroy (info);
      if (!same)
        g_set_error (error, NATS_ERROR, NATS_ERROR_MISMATCH,
                     "option \"consumer\": consumer \"%s\" of stream \"%s\" exists with other settings: %s; make the "
                     "options agree, or delete it (nats consumer rm %s %s) to have it made anew",
                     work->consumer, work->stream, differences, work->stream, work->consumer);
      return same;
    }
  if (code != JSConsumerNotFoundErr && status != NATS_NOT_FOUND)
    {
      g_autofree char *text = js_text (status, code);

      g_set_error (error, NATS_ERROR, NATS_ERROR_CONNECT, "option \"consumer\": cannot look up consumer \"%s\": %s",
                   work->consumer, text);
      return FALSE;
    }
  if (!evb_plugin_get_bool (nats->plugin, "create"))
    {
      g_set_error (error, NATS_ERROR, NATS_ERROR_MISMATCH,
                   "option \"consumer\": consumer \"%s\" of stream \"%s\" does not exist and option \"create\" is "
                   "false", work->consumer, work->stream);
      return FALSE;
    }
  jsConsumerConfig_Init (&config);
  config.Durable = work->consumer;
  config.AckPolicy = js_AckExplicit;
  config.AckWait = work->ack_wait_ms * 1000000;
  /* One more than max_deliver: the extra delivery only happens when the
   * host that held the last allowed one died; it is dead-lettered unrun
   * instead of staying in the stream for ever (the server keeps messages
   * past MaxDeliver by design). */
  config.MaxDeliver = work->max_deliver + 1;
  config.MaxAckPending = max_ack_pending;
  config.DeliverSubject = work->deliver_subject;
  config.DeliverGroup = work->consumer;
  status = js_AddConsumer (NULL, nats->js, work->stream, &config, NULL, &code);
  if (status != NATS_OK)
    {
      g_autofree char *text = js_text (status, code);

      g_set_error (error, NATS_ERROR, NATS_ERROR_CONNECT,
                   "option \"consumer\": cannot create consumer \"%s\" of stream \"%s\": %s", work->consumer,
                   work->stream, text);
      return FALSE;
    }
  evb_plugin_log (nats->plugin, G_LOG_LEVEL_MESSAGE, "created consumer \"%s\" of stream \"%s\"", work->consumer,
                  work->stream);
  return TRUE;
}

/* ---- submit ----------------------------------------------------------- */

/* The job's message id: the data field msg_id_field names when it holds a
 * string or integer (the source's own id: re-submitting it is no second
 * job), else this instance's run and the event's id (a retried publish of
 * the same event is no second job). */
static char *
message_id (Nats *nats, const EvbEvent *event)
{
  json_t *value = json_object_get (event->data, nats->work->msg_id_field);

  if (json_is_string (value) && *json_string_value (value) != '\0')
    return g_strdup (json_string_value (value));
  if (json_is_integer (value))
    return g_strdup_printf ("%" JSON_INTEGER_FORMAT, json_integer_value (value));
  return g_strdup_printf ("%s-%" G_GUINT64_FORMAT, nats->run_id, event->id);
}

EvbResult
nats_submit_handler (EvbCall *call, const EvbEvent *event)
{
  Nats *nats = call->instance_data;
  NatsWork *work = nats->work;
  g_autoptr (GError) error = NULL;
  g_autofree char *subject = NULL;
  g_autofree char *payload = NULL;
  g_autofree char *msg_id = NULL;
  jsPubOptions options;
  jsPubAck *ack = NULL;
  jsErrCode code = 0;
  natsMsg *msg = NULL;
  natsStatus status;

  if (work == NULL)
    return evb_call_fail (call, "nats", NATS_ERROR_CONFIG,
                          "submit needs work sharing: set option \"work_stream\" of instance \"%s\"",
                          call->plugin->name);
  /* A job this host is working (or an imported event) carries _origin:
   * submitting it again from a route such as "job.>" would loop. */
  if (json_object_get (event->data, NATS_ORIGIN_FIELD) != NULL)
    {
      NATS_COUNT (nats, submit_skipped);
      return EVB_CONTINUE;
    }
  subject = nats_subject_for_type (work->subject_prefix, event->type, FALSE, &error);
  if (subject == NULL)
    {
      NATS_COUNT (nats, submit_failed);
      return evb_call_fail (call, "nats", NATS_ERROR_SUBJECT, "%s: not submitted", error->message);
    }
  payload = evb_json_dumps (event->data, JSON_COMPACT);
  msg_id = message_id (nats, event);
  status = natsMsg_Create (&msg, subject, NULL, payload, (int) strlen (payload));
  if (status == NATS_OK)
    status = nats_set_origin_headers (nats, msg, event);
  jsPubOptions_Init (&options);
  options.MsgId = msg_id;
  options.ExpectStream = work->stream;
  options.MaxWait = work->submit_timeout_ms;
  /* A lost ack (timeout) or a server between leaders (no responders) is
   * retried with the same message id: the stream keeps one job. */
  for (guint attempt = 1; status == NATS_OK || status == NATS_TIMEOUT || status == NATS_NO_RESPONDERS; attempt++)
    {
      status = js_PublishMsg (&ack, nats->js, msg, &options, &code);
      if (status == NATS_OK || attempt == 3 || evb_call_wait (call, 100 * attempt))
        break;
      if (status != NATS_TIMEOUT && status != NATS_NO_RESPONDERS)
        break;
    }
  natsMsg_Destroy (msg);
  if (status != NATS_OK)
    {
      g_autofree char *text = js_text (status, code);

      NATS_COUNT (nats, submit_failed);
      return evb_call_fail (call, "nats", NATS_ERROR_PUBLISH,
                            "job %s (message id %s) not submitted to stream \"%s\": %s", event->type, msg_id,
                            work->stream, text);
    }
  if (ack->Duplicate)
    NATS_COUNT (nats, submit_duplicates);
  else
    NATS_COUNT (nats, submitted);
  jsPubAck_Destroy (ack);
  return EVB_CONTINUE;
}

/* ---- jobs in ---------------------------------------------------------- */

static void
on_job_receipt (const EvbReceipt *receipt, gpointer data)
{
  NatsJob *job = data;
  NatsWork *work = job->work;
  g_autofree char *reason = NULL;

  switch (receipt->outcome)
    {
    case EVB_RECEIPT_HANDLED:
    case EVB_RECEIPT_DONE:
      nats_work_settle (work, job, NATS_ACTION_ACK, NULL);
      return;
    case EVB_RECEIPT_CANCELLED:
      nats_work_settle (work, job, NATS_ACTION_RETRY_NOW, "cancelled on this host");
      return;
    case EVB_RECEIPT_UNHANDLED:
      reason = g_strdup_printf ("no route on host \"%s\" took %s", work->nats != NULL ? work->nats->host : "?",
                                job->type);
      break;
    case EVB_RECEIPT_FAILED:
      reason = g_strdup_printf ("%s (%u failure%s)", receipt->error_message != NULL ? receipt->error_message : "failed",
                                receipt->n_failures, receipt->n_failures == 1 ? "" : "s");
      break;
    case EVB_RECEIPT_DROPPED:
      reason = g_strdup ("dropped from a full inbox");
      break;
    case EVB_RECEIPT_REFUSED:
      reason = g_strdup_printf ("refused by the bus: %s", receipt->error_message != NULL ? receipt->error_message : "?");
      break;
    }
  nats_work_settle (work, job, (gint64) job->deliveries >= work->max_deliver ? NATS_ACTION_DEAD : NATS_ACTION_NAK,
                    reason);
}

static json_t *
job_origin (NatsJob *job)
{
  json_t *origin = nats_origin_from_headers (job->msg, job->subject);
  const char *msg_id = nats_header (job->msg, "Nats-Msg-Id");

  json_object_set_new (origin, "msg_id", msg_id != NULL ? json_string (msg_id) : json_null ());
  json_object_set_new (origin, "stream_seq", json_integer ((json_int_t) job->stream_seq));
  json_object_set_new (origin, "deliveries", json_integer ((json_int_t) job->deliveries));
  return origin;
}

/* Keeps @job outstanding (the acker marks it in progress) until settled. */
static void
track (NatsWork *work, NatsJob *job)
{
  job->touched_us = g_get_monotonic_time ();
  g_mutex_lock (&work->lock);
  g_hash_table_add (work->outstanding, nats_job_ref (job));
  g_mutex_unlock (&work->lock);
}

/* A libnats delivery thread. */
static void
on_job (natsConnection *conn, natsSubscription *sub, natsMsg *msg, void *closure)
{
  NatsWork *work = closure;
  Nats *nats;
  NatsJob *job = g_new0 (NatsJob, 1);
  EvbEmitOptions options = EVB_EMIT_OPTIONS_INIT;
  jsMsgMetaData *meta = NULL;
  json_error_t parse_error;
  const char *why = NULL;
  json_t *data = NULL;

  NATS_HANDOFF_ACQUIRE ();
  nats = work->nats;
  job->ref_count = 1;
  job->work = nats_work_ref (work);
  job->msg = msg;
  job->subject = g_strdup (natsMsg_GetSubject (msg));
  if (natsMsg_GetMetaData (&meta, msg) == NATS_OK)
    {
      job->deliveries = meta->NumDelivered;
      job->stream_seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy (meta);
    }
  NATS_COUNT (nats, jobs_received);
  if (job->deliveries > 1)
    NATS_COUNT (nats, jobs_redelivered);
  track (work, job);

  job->type = nats_type_for_subject (work->subject_prefix, job->subject, nats->host_events_as, &why);
  if (job->type != NULL && evb_type_is_reserved (job->subject + strlen (work->subject_prefix) + 1))
    why = "a job of the host's own type (evbus.) cannot be emitted";
  if (job->type == NULL || why != NULL)
    {
      g_autofree char *reason = g_strdup_printf ("subject \"%s\": %s", job->subject, why);

      nats_work_settle (work, job, NATS_ACTION_DEAD, reason);
      goto done;
    }
  if ((gint64) job->deliveries > work->max_deliver)
    {
      g_autofree char *reason = g_strdup_printf (
        "delivered %" G_GUINT64_FORMAT " times, past max_deliver %" G_GINT64_FORMAT
        ": the host holding its last delivery went away", job->deliveries, work->max_deliver);

      nats_work_settle (work, job, NATS_ACTION_DEAD, reason);
      goto done;
    }
  data = json_loadb (natsMsg_GetData (msg), (size_t) natsMsg_GetDataLength (msg), 0, &parse_error);
  if (!json_is_object (data))
    {
      g_autofree char *reason = g_strdup_printf ("the payload is not a JSON object%s%s", data == NULL ? ": " : "",
                                                 data == NULL ? parse_error.text : "");

      json_decref (data);
      nats_work_settle (work, job, NATS_ACTION_DEAD, reason);
      goto done;
    }
  json_object_set_new (data, NATS_ORIGIN_FIELD, job_origin (job));
  options.traceparent = nats_header (msg, NATS_HEADER_TRACEPARENT);
  options.tracestate = nats_header (msg, NATS_HEADER_TRACESTATE);
  options.receipt = on_job_receipt;
  options.receipt_data = nats_job_ref (job);
  options.receipt_destroy = (GDestroyNotify) nats_job_unref;
  /* A refused emit still gets its receipt (nak): nothing to do here. */
  evb_plugin_emit_full (nats->plugin, job->type, data, &options, NULL);
done:
  nats_job_unref (job);
}

/* ---- lifecycle -------------------------------------------------------- */

gboolean
nats_work_start (Nats *nats, GError **error)
{
  EvbPlugin *plugin = nats->plugin;
  const char *stream = evb_plugin_get_string (plugin, "work_stream");
  NatsWork *work;
  jsOptions js_options;
  natsStatus status;

  if (*stream == '\0')
    {
      if (evb_plugin_get_bool (plugin, "worker"))
        {
          g_set_error_literal (error, NATS_ERROR, NATS_ERROR_CONFIG,
                               "option \"worker\": working the queue needs option \"work_stream\"");
          return FALSE;
        }
      return TRUE;
    }
  if (strpbrk (stream, ".*> \t") != NULL)
    {
      g_set_error (error, NATS_ERROR, NATS_ERROR_CONFIG,
                   "option \"work_stream\": \"%s\" is not a stream name: no '.', '*', '>' or spaces", stream);
      return FALSE;
    }
  if (!evb_name_is_valid (evb_plugin_get_string (plugin, "consumer")))
    {
      g_set_error (error, NATS_ERROR, NATS_ERROR_CONFIG,
                   "option \"consumer\": \"%s\" is not a consumer name: use a-z 0-9 _ -",
                   evb_plugin_get_string (plugin, "consumer"));
      return FALSE;
    }
  if (!nats_prefix_check ("work_prefix", evb_plugin_get_string (plugin, "work_prefix"), error)
      || !nats_prefix_check ("dead_letter_prefix", evb_plugin_get_string (plugin, "dead_letter_prefix"), error))
    return FALSE;
  if (g_strcmp0 (evb_plugin_get_string (plugin, "work_prefix"), evb_plugin_get_string (plugin, "dead_letter_prefix"))
      == 0)
    {
      g_set_error_literal (error, NATS_ERROR, NATS_ERROR_CONFIG,
                           "option \"dead_letter_prefix\": must differ from \"work_prefix\"");
      return FALSE;
    }

  work = g_new0 (NatsWork, 1);
  work->ref_count = 1;
  g_mutex_init (&work->lock);
  work->nats = nats;
  work->stream = g_strdup (stream);
  work->subject_prefix = g_strdup (evb_plugin_get_string (plugin, "work_prefix"));
  work->consumer = g_strdup (evb_plugin_get_string (plugin, "consumer"));
  work->deliver_subject = g_strdup_printf ("%s-deliver.%s", work->subject_prefix, work->consumer);
  work->dead_prefix = g_strdup (evb_plugin_get_string (plugin, "dead_letter_prefix"));
  work->dead_stream = g_strdup_printf ("%s_DEAD", stream);
  work->msg_id_field = g_strdup (evb_plugin_get_string (plugin, "msg_id_field"));
  work->worker = evb_plugin_get_bool (plugin, "worker");
  work->ack_wait_ms = evb_plugin_get_int (plugin, "ack_wait_ms");
  work->max_deliver = evb_plugin_get_int (plugin, "max_deliver");
  work->nak_delay_ms = evb_plugin_get_int (plugin, "nak_delay_ms");
  work->nak_delay_max_ms = evb_plugin_get_int (plugin, "nak_delay_max_ms");
  work->submit_timeout_ms = evb_plugin_get_int (plugin, "submit_timeout_ms");
  g_queue_init (&work->actions);
  g_cond_init (&work->actions_cond);
  work->outstanding = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) nats_job_unref, NULL);
  nats->work = work;
  if (nats->conn == NULL) /* checking (nats_connection_open): no streams, no consumer */
    return TRUE;

  jsOptions_Init (&js_options);
  js_options.Wait = work->submit_timeout_ms;
  status = natsConnection_JetStream (&nats->js, nats->conn, &js_options);
  if (status != NATS_OK)
    {
      g_autofree char *text = nats_status_text (status);

      g_set_error (error, NATS_ERROR, NATS_ERROR_CONNECT, "JetStream: %s", text);
      return FALSE;
    }
  {
    g_autofree char *work_subject = g_strconcat (work->subject_prefix, ".>", NULL);
    g_autofree char *dead_subject = g_strconcat (work->dead_prefix, ".>", NULL);

    if (!ensure_stream (nats, work->stream, work_subject, js_WorkQueuePolicy, "work_stream", error)
        || !ensure_stream (nats, work->dead_stream, dead_subject, js_LimitsPolicy, "dead_letter_prefix", error))
      return FALSE;
  }
  if (!work->worker)
    return TRUE;
  if (!ensure_consumer (nats, work, error) || !nats_acker_start (work, error))
    return FALSE;
  {
    g_autofree char *work_subject = g_strconcat (work->subject_prefix, ".>", NULL);
    jsSubOptions sub_options;
    jsErrCode code = 0;

    jsSubOptions_Init (&sub_options);
    sub_options.Stream = work->stream;
    sub_options.Consumer = work->consumer; /* bind: never create, never delete */
    sub_options.Queue = work->consumer;
    sub_options.ManualAck = true;
    NATS_HANDOFF_RELEASE ();
    status = js_Subscribe (&work->sub, nats->js, work_subject, on_job, work, NULL, &sub_options, &code);
    if (status != NATS_OK)
      {
        g_autofree char *text = js_text (status, code);

        work->sub = NULL;
        g_set_error (error, NATS_ERROR, NATS_ERROR_CONNECT,
                     "option \"worker\": cannot bind to consumer \"%s\" of stream \"%s\": %s", work->consumer,
                     work->stream, text);
        return FALSE;
      }
  }
  evb_plugin_log (plugin, G_LOG_LEVEL_MESSAGE, "working stream \"%s\" as one of consumer \"%s\"", work->stream,
                  work->consumer);
  return TRUE;
}

/* No new jobs from here on.  Jobs already emitted settle as their
 * receipts come (the host still dispatches them); jobs libnats had not
 * handed us yet are redelivered by the server after the ack wait. */
void
nats_work_stop (Nats *nats)
{
  if (nats->work != NULL && nats->work->sub != NULL)
    natsSubscription_Unsubscribe (nats->work->sub);
}

/* Before the connection closes: the acker settles what is queued and
 * returns the rest. */
void
nats_work_shutdown (Nats *nats)
{
  NatsWork *work = nats->work;

  if (work == NULL)
    return;
  if (work->acker != NULL)
    nats_acker_stop (work);
  g_mutex_lock (&work->lock);
  work->closed = TRUE;
  work->nats = NULL;
  g_mutex_unlock (&work->lock);
}
