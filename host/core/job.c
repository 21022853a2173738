/* Async jobs: one per async handler execution.
 *
 * The main thread owns a job's state; the worker only runs the handler and
 * posts two notices through the completions inbox: "started" (the job
 * pointer tagged with 1) and "finished" (the bare pointer).  One worker
 * posts both, in that order, through one FIFO, so main sees them in order. */
#include "bus-private.h"

#include "receipt.h"
#include "running.h"

#define STARTED_TAG ((guintptr) 1)

static void
set_state (EvbJob *job, EvbJobState state)
{
  job->state = state;
  EVB_TRACE (job->bus, .step = EVB_TRACE_JOB, .event = job->event, .route_id = job->route->id,
             .route_label = job->route->label, .mode = job->route->mode, .priority = job->route->priority,
             .job_id = job->id, .text = evb_job_state_to_string (state));
  evb_report_status (job->bus, job);
}

static void
post (EvbJob *job, guintptr tag)
{
  /* The completions inbox is unbounded and stays open while jobs live. */
  if (!evb_inbox_push (job->bus->completions, (gpointer) ((guintptr) job | tag), NULL))
    g_critical ("job %" G_GUINT64_FORMAT ": completion notice lost", job->id);
}

void
evb_job_run_on_worker (gpointer data)
{
  EvbJob *job = data;
  EvbCallPrivate call;

  if (g_atomic_int_get (&job->cancel_requested))
    {
      post (job, 0);
      return;
    }
  job->started_us = g_get_monotonic_time ();
  post (job, STARTED_TAG);

  evb_call_init (&call, job->route, job);
  /* What the handler emits on this worker continues the job's trace. */
  evb_event_set_current (job->event);
  evb_running_enter (evb_running_self (), job->route, job->event); /* for the crash line */
  job->result = job->route->func (&call.pub, job->event);
  evb_running_leave (evb_running_self ());
  evb_event_set_current (NULL);
  evb_call_finish (&call, job->result);
  job->ran = TRUE;
  job->failure = call.failure;
  job->finished_us = g_get_monotonic_time ();
  post (job, 0);
}

/* Wakes or starts a worker for each job handed over since the last kick.
 * Main thread. */
void
evb_job_kick_pool (EvbBus *bus)
{
  bus->kick_pending = FALSE;
  evb_worker_pool_kick (bus->workers);
}

/* Jobs handed over during one main-loop pass (a slice of the inbox, a batch
 * of completions) start together when the pass ends, or sooner once a batch
 * is this long: one wake-up of an idle worker per batch, not per job. */
#define KICK_BATCH 64

static gboolean
kick_pending (EvbBus *bus)
{
  return bus->kick_pending;
}

GSource *
evb_job_kick_source_new (EvbBus *bus)
{
  return evb_bus_work_source_new (bus, "evbus pool kick", kick_pending, evb_job_kick_pool);
}

static void
hand_to_pool (EvbJob *job)
{
  EvbBus *bus = job->bus;
  guint ready;

  job->on_pool = TRUE;
  job->route->running++;
  job->pool_link.data = job;
  ready = evb_worker_pool_push (bus->workers, &job->pool_link);

  bus->kick_pending = TRUE;
  if (ready >= KICK_BATCH)
    evb_job_kick_pool (bus);
}

void
evb_job_submit (EvbBus *bus, EvbDispatch *dispatch, EvbRoute *route, GObject *owner)
{
  EvbJob *job = g_new0 (EvbJob, 1);

  job->id = ++bus->next_job_id;
  job->bus = bus;
  job->route = evb_route_ref (route);
  job->event = evb_event_ref (dispatch->event);
  job->dispatch = dispatch;
  job->owner = owner;
  job->created_us = g_get_monotonic_time ();
  job->emits_status = (dispatch->event->flags & EVB_EVENT_FLAG_STATUS) == 0;
  job->bus_link.data = job;
  g_queue_push_tail_link (&bus->live_jobs, &job->bus_link);
  evb_receipt_hold (job->event); /* the chain is not over while a job lives */
  route->stats.waiting++;
  set_state (job, EVB_JOB_WAITING);

  /* A route removed after this event's snapshot was taken still runs for
   * it, async like sync (DESIGN "Dispatching" 1); removal cancels only the
   * jobs that exist when it happens. */
  if (bus->state >= EVB_BUS_CANCELLING)
    {
      evb_job_cancel (job);
      return;
    }
  if (route->max_concurrency > 0 && route->running >= route->max_concurrency)
    {
      job->in_held_queue = TRUE;
      g_queue_push_tail (&route->held, job);
      return;
    }
  hand_to_pool (job);
}

static gboolean
job_timed_out (gpointer data)
{
  EvbJob *job = data;
  EvbDispatch *dispatch = job->dispatch;

  g_source_unref (job->timeout_source);
  job->timeout_source = NULL;
  job->timed_out = TRUE;
  /* It ends cancelled, as its status events say; the summary tells it
   * apart, as its failure event does. */
  job->bus->jobs_timed_out++;
  /* Its handler may never return: a spare thread takes its worker's place
   * (worker-pool.h), so that other routes' jobs still run. */
  if (job->on_pool && job->seen_started)
    {
      job->stuck = TRUE;
      job->has_spare = evb_worker_pool_stick (job->bus->workers);
    }
  /* The failure event goes out ahead of "cancelling". */
  evb_dispatch_record_overrun (dispatch, job->route, job, 0);
  evb_job_cancel (job);

  /* The level does not wait for a handler that overran; the overrun has
   * already stopped the chain if the route says so. */
  if (dispatch != NULL)
    {
      job->dispatch = NULL;
      evb_dispatch_job_done (dispatch);
    }
  return G_SOURCE_REMOVE;
}

/* The end of a job whose handler returned: the bus counts it, and its
 * last status event says how it ended. */
void
evb_job_end (EvbJob *job, gboolean failed)
{
  if (failed)
    {
      job->bus->jobs_failed++;
      set_state (job, EVB_JOB_FAILED);
    }
  else
    {
      job->bus->jobs_completed++;
      set_state (job, EVB_JOB_COMPLETED);
    }
}

static void
job_started (EvbJob *job)
{
  EvbRoute *route = job->route;

  job->seen_started = TRUE;
  route->stats.waiting--;
  route->stats.executing++;
  evb_histogram_add (&route->stats.queue_wait, job->started_us - job->created_us);
  if (job->state == EVB_JOB_WAITING)
    set_state (job, EVB_JOB_EXECUTING);
  if (route->timeout_ms > 0 && job->state == EVB_JOB_EXECUTING)
    {
      job->timeout_source = evb_clock_timeout_source_new (job->bus->clock, route->timeout_ms);
      g_source_set_callback (job->timeout_source, job_timed_out, job, NULL);
      g_source_set_static_name (job->timeout_source, "evbus job timeout");
      g_source_attach (job->timeout_source, job->bus->context);
    }
}

static void
start_held_jobs (EvbRoute *route)
{
  while (route->held.length > 0 && (route->max_concurrency == 0 || route->running < route->max_concurrency))
    {
      EvbJob *next = g_queue_pop_head (&route->held);

      next->in_held_queue = FALSE;
      hand_to_pool (next);
    }
}

static void
job_finished (EvbJob *job)
{
  EvbBus *bus = job->bus;
  EvbRoute *route = job->route;
  EvbDispatch *dispatch = job->dispatch;

  if (job->timeout_source != NULL)
    {
      g_source_destroy (job->timeout_source);
      g_clear_pointer (&job->timeout_source, g_source_unref);
    }
  if (job->seen_started)
    {
      route->stats.executing--;
      if (job->ran)
        evb_histogram_add (&route->stats.run_time, job->finished_us - job->started_us);
    }
  else
    route->stats.waiting--;
  if (job->on_pool)
    route->running--;
  if (job->stuck)
    evb_worker_pool_unstick (bus->workers, job->has_spare);

  if (g_atomic_int_get (&job->cancel_requested))
    {
      route->stats.cancelled++;
      bus->jobs_cancelled++;
      set_state (job, EVB_JOB_CANCELLED);
      evb_receipt_note_cancelled (job->event);
    }
  else
    {
      /* Counted, ended and reported as a sync call's result is (dispatch.c). */
      TRACE_RESULT (bus, dispatch, route, job, job->result);
      evb_dispatch_record_result (dispatch, route, job, job->result, &job->failure);
    }

  g_queue_unlink (&bus->live_jobs, &job->bus_link);
  start_held_jobs (route);

  /* The owner may be finalized right here, on the main thread, never on a
   * worker: that is why the job, not the worker, holds it. */
  g_clear_object (&job->owner);
  evb_receipt_release (job->event);
  evb_event_unref (job->event);
  evb_failure_clear (&job->failure);
  json_decref (job->report_job);
  json_decref (job->report_event);
  json_decref (job->report_queue_wait);
  evb_route_unref (route);
  g_free (job);

  if (dispatch != NULL)
    evb_dispatch_job_done (dispatch);
}

void
evb_job_completion (gpointer tagged_job, gpointer user_data)
{
  guintptr bits = (guintptr) tagged_job;
  EvbJob *job = (EvbJob *) (bits & ~STARTED_TAG);

  if (bits & STARTED_TAG)
    job_started (job);
  else
    job_finished (job);
}

void
evb_job_free_tagged (gpointer tagged_job)
{
  /* Only reached if the bus is freed with notices still queued, which
   * shutdown prevents; a job that never reported is leaked on purpose
   * rather than freed under a running worker. */
  g_critical ("completion notice dropped at bus teardown");
}

void
evb_job_cancel (EvbJob *job)
{
  if (job->state != EVB_JOB_WAITING && job->state != EVB_JOB_EXECUTING)
    return;
  g_atomic_int_set (&job->cancel_requested, 1);
  /* Under the lock, so a handler in evb_call_wait either saw the flag or
   * is waiting when the broadcast comes. */
  g_mutex_lock (&job->bus->cancel_lock);
  g_cond_broadcast (&job->bus->cancel_cond);
  g_mutex_unlock (&job->bus->cancel_lock);
  set_state (job, EVB_JOB_CANCELLING);
  if (job->timeout_source != NULL)
    {
      g_source_destroy (job->timeout_source);
      g_clear_pointer (&job->timeout_source, g_source_unref);
    }
  /* Jobs no worker holds finish now, through the same path as the rest. */
  if (job->in_held_queue)
    {
      g_queue_remove (&job->route->held, job);
      job->in_held_queue = FALSE;
      post (job, 0);
    }
  else if (!job->on_pool)
    post (job, 0);
}

void
evb_route_cancel_jobs (EvbBus *bus, EvbRoute *route)
{
  /* Cancelling posts notices but frees nothing, so the list stays valid. */
  for (GList *l = bus->live_jobs.head; l != NULL; l = l->next)
    {
      EvbJob *job = l->data;

      if (job->route == route)
        evb_job_cancel (job);
    }
}

void
evb_bus_cancel_all_jobs (EvbBus *bus)
{
  for (GList *l = bus->live_jobs.head; l != NULL; l = l->next)
    evb_job_cancel (l->data);
}
