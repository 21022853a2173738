/* Dispatching one event: match, filter, then walk the priority levels;
 * and what every handler's call came to, sync or async (one path for the
 * counters, the failure events and the chain). */
#include "bus-private.h"

#include "receipt.h"
#include "running.h"

void
evb_call_init (EvbCallPrivate *call, EvbRoute *route, EvbJob *job)
{
  call->pub.struct_size = sizeof (EvbCall);
  call->pub.reserved0 = 0;
  call->pub.api = &evb_host_api;
  call->pub.plugin = route->plugin != NULL ? &route->plugin->handle : NULL;
  call->pub.instance_data = route->plugin != NULL ? route->plugin->handle.instance_data : NULL;
  call->pub.route_data = route->user_data;
  call->route = route;
  call->job = job;
  call->failure.domain = NULL;
  call->failure.code = 0;
  call->failure.message = NULL;
  call->failure_set = FALSE;
}

static void
finish (EvbDispatch *dispatch)
{
  EvbBus *bus = dispatch->bus;

  /* The host's own events (status, failure) are reported to whoever
   * listens; nobody listening is normal for them, not "unhandled". */
  if (!dispatch->accepted && !evb_type_is_reserved (dispatch->event->type))
    {
      bus->unhandled++;
      if (bus->settings.emit_unhandled)
        evb_report_unhandled (bus, dispatch->event);
    }
  EVB_TRACE (bus, .step = EVB_TRACE_WALK_END, .event = dispatch->event,
             .text = dispatch->stopped ? "failed, lower levels stopped" : dispatch->failures > 0 ? "failed"
                     : dispatch->handled ? "handled" : dispatch->accepted ? "done" : "unhandled");
  evb_receipt_end_walk (dispatch->event, dispatch->accepted, dispatch->handled);
  evb_route_snapshot_unref (dispatch->snapshot);
  evb_event_unref (dispatch->event);
  if (dispatch->on_heap)
    g_free (dispatch);
}

/* Makes the call's failure whole once its handler has returned @result: a
 * result that is no EvbResult, or EVB_FAILED without evb_call_fail, gets
 * the host's own reason.  Sync or async, on the thread that ran the
 * handler: only the call knows whether evb_call_fail was used, and a job's
 * call lives on its worker's stack. */
void
evb_call_finish (EvbCallPrivate *call, EvbResult result)
{
  if (result == EVB_CONTINUE || result == EVB_HANDLED)
    return;
  if (result != EVB_FAILED)
    {
      evb_failure_clear (&call->failure);
      call->failure.domain = g_strdup ("evbus");
      call->failure.code = 0;
      call->failure.message = g_strdup_printf ("handler returned %d, which is not an EvbResult", (int) result);
    }
  else if (!call->failure_set)
    {
      call->failure.domain = g_strdup ("evbus");
      call->failure.message = g_strdup ("handler returned EVB_FAILED without an error (use evb_call_fail)");
    }
}

/* Reports a failed call and lets it stop the chain (DESIGN "Dispatching"
 * 4): whatever failed, a result or a timeout, sync or async. */
static void
record_failure (EvbDispatch *dispatch, EvbRoute *route, EvbJob *job, const EvbFailure *failure)
{
  EvbBus *bus = job != NULL ? job->bus : dispatch->bus;
  const EvbEvent *event = job != NULL ? job->event : dispatch->event;

  evb_report_failure (bus, route, event, failure, job != NULL, job != NULL ? job->id : 0);
  evb_receipt_note_failure (event, failure);
#ifndef EVB_NO_TRACE
  if (G_UNLIKELY (bus->tracer != NULL))
    {
      g_autofree char *text = g_strdup_printf ("%s %d: %s", failure->domain != NULL ? failure->domain : "?",
                                               failure->code, failure->message != NULL ? failure->message : "");

      EVB_TRACE (bus, .step = EVB_TRACE_FAILURE, .event = event, .route_id = route->id,
                 .route_label = route->label, .mode = route->mode, .priority = route->priority,
                 .job_id = job != NULL ? job->id : 0, .text = text);
    }
#endif
  if (dispatch != NULL)
    {
      dispatch->failures++;
      if (route->stop_on_failure)
        dispatch->stopped = TRUE;
    }
}

#ifndef EVB_NO_TRACE
/* Out of line: the record is built only while tracing, and the hot path
 * keeps a small frame (inline, this cost B1 2.5 ns per handler). */
G_GNUC_NO_INLINE void
evb_dispatch_trace_result (EvbDispatch *dispatch, EvbRoute *route, EvbJob *job, EvbResult result)
{
  EVB_TRACE (job != NULL ? job->bus : dispatch->bus, .step = EVB_TRACE_RESULT,
             .event = job != NULL ? job->event : dispatch->event, .route_id = route->id,
             .route_label = route->label, .mode = route->mode, .priority = route->priority, .result = result,
             .job_id = job != NULL ? job->id : 0);
}
#endif

/* The one path for what a handler returned, sync or async, on the main
 * thread: the route's counters, the job's end (status event), the failure
 * event, then the chain's state.  Cancelled jobs never get here: they
 * returned nothing the chain could use. */
gboolean
evb_dispatch_record_result (EvbDispatch *dispatch, EvbRoute *route, EvbJob *job, EvbResult result,
                            const EvbFailure *failure)
{
  gboolean failed = result != EVB_CONTINUE && result != EVB_HANDLED;


  if (failed)
    route->stats.failed++;
  else
    {
      route->stats.completed++;
      if (result == EVB_HANDLED)
        route->stats.handled++;
    }
  /* A job's last status event, which carries the same error, goes out
   * ahead of the failure event. */
  if (job != NULL)
    evb_job_end (job, failed);
  if (failed)
    record_failure (dispatch, route, job, failure);
  else if (result == EVB_HANDLED && dispatch != NULL)
    dispatch->handled = TRUE;
  return failed;
}

/* A call past its route's timeout counts as a timeout, not as a result: a
 * sync call has its result recorded as well, a job ends cancelled. */
void
evb_dispatch_record_overrun (EvbDispatch *dispatch, EvbRoute *route, EvbJob *job, gint64 elapsed_us)
{
  EvbFailure overrun = {
    .domain = (char *) "evbus",
    .code = 1,
  };

  /* A job is still running; a sync call has returned, so it says how long
   * it took. */
  if (job != NULL)
    overrun.message = g_strdup_printf ("handler exceeded its timeout of %u ms", route->timeout_ms);
  else
    overrun.message = g_strdup_printf ("sync handler ran %" G_GINT64_FORMAT " ms, over its timeout of %u ms",
                                       elapsed_us / 1000, route->timeout_ms);
  route->stats.timeouts++;
  record_failure (dispatch, route, job, &overrun);
  g_free (overrun.message);
}

static void
run_sync (EvbDispatch *dispatch, EvbRoute *route)
{
  EvbRunning *running = evb_running_self ();
  EvbCallPrivate call;
  gboolean timed;
  gboolean failed;
  gint64 started = 0;
  gint64 elapsed = 0;
  EvbResult result;

  evb_call_init (&call, route, NULL);
  /* The first call, then one in EVB_SYNC_TIMING_SAMPLE: a clock read costs
   * more than a small handler. */
  timed = route->timeout_ms > 0 || (++route->sync_calls & (EVB_SYNC_TIMING_SAMPLE - 1)) == 1;
  if (timed)
    started = g_get_monotonic_time ();
  /* Named by the crash line and the watchdog while it runs. */
  evb_running_enter (running, route, dispatch->event);
  result = route->func (&call.pub, dispatch->event);
  evb_running_leave (running);
  if (timed)
    {
      elapsed = g_get_monotonic_time () - started;
      evb_histogram_add (&route->stats.run_time, elapsed);
    }
  evb_call_finish (&call, result);
  TRACE_RESULT (dispatch->bus, dispatch, route, NULL, result);
  failed = evb_dispatch_record_result (dispatch, route, NULL, result, &call.failure);
  /* A sync handler cannot be interrupted; overrunning its timeout is still
   * a failure the operator must hear about, unless it failed anyway. */
  if (!failed && route->timeout_ms > 0 && elapsed > (gint64) route->timeout_ms * 1000)
    evb_dispatch_record_overrun (dispatch, route, NULL, elapsed);
  if (call.failure.domain != NULL || call.failure.message != NULL)
    evb_failure_clear (&call.failure);
}

#ifndef EVB_NO_TRACE
/* Why @route does not take the event, for the tracer only: the filter is
 * evaluated once more, to say which condition failed. */
static void
trace_skipped (EvbDispatch *dispatch, EvbRoute *route, const char *why)
{
  g_autofree char *reason = NULL;
  g_autofree char *text = NULL;

  if (why == NULL)
    {
      evb_filter_explain (route->filter, dispatch->event->data, &reason);
      why = text = g_strconcat ("filter ", reason != NULL ? reason : "refused it", NULL);
    }
  EVB_TRACE (dispatch->bus, .step = EVB_TRACE_SKIPPED, .event = dispatch->event, .route_id = route->id,
             .route_label = route->label, .mode = route->mode, .priority = route->priority, .text = why);
}
#define TRACE_SKIPPED(dispatch, route, why) \
  G_STMT_START { if (G_UNLIKELY ((dispatch)->bus->tracer != NULL)) trace_skipped ((dispatch), (route), (why)); } G_STMT_END
#else
#define TRACE_SKIPPED(dispatch, route, why) ((void) 0)
#endif

static EvbDispatch *
move_to_heap (EvbDispatch *dispatch)
{
  EvbDispatch *heap;

  if (dispatch->on_heap)
    return dispatch;
  heap = g_new (EvbDispatch, 1);
  *heap = *dispatch;
  heap->on_heap = TRUE;
  return heap;
}

/* Runs one route of the current level, or tells why it does not run. */
static void
run_route (EvbDispatch *dispatch, EvbRoute *route)
{
  GObject *owner = NULL;

  if (route->plugin != NULL && route->plugin->shut_down)
    return;
  if (route->has_owner)
    {
      owner = g_weak_ref_get (&route->owner);
      if (owner == NULL)
        {
          /* A dead owner is never called; its route goes now rather than
           * waiting for the finalize notice to arrive. */
          TRACE_SKIPPED (dispatch, route, "its owner is gone");
          evb_bus_prune_route (dispatch->bus, route);
          return;
        }
    }
  route->stats.matched++;
  if (route->filter != NULL && !evb_filter_match (route->filter, dispatch->event->data))
    {
      TRACE_SKIPPED (dispatch, route, NULL);
      route->stats.filtered++;
      g_clear_object (&owner);
      return;
    }
  dispatch->accepted = TRUE;
  if (route->mode == EVB_MODE_SYNC)
    {
      run_sync (dispatch, route);
      g_clear_object (&owner);
    }
  else
    {
      dispatch->pending_jobs++;
      evb_job_submit (dispatch->bus, dispatch, route, owner);
    }
}

/* Walks levels from dispatch->next until the event stops, runs out of
 * levels, or a level waits for jobs. */
static void
walk (EvbDispatch *dispatch)
{
  EvbRouteSnapshot *snapshot = dispatch->snapshot;
  /* What the sync handlers emit continues this event's trace: set once
   * for the walk, not per call (nothing else runs on this thread meanwhile). */
  const EvbEvent *previous = evb_event_set_current (dispatch->event);

  while (dispatch->next < snapshot->n_matches)
    {
      guint start = dispatch->next;
      guint end = start + 1;
      gint priority = snapshot->matches[start].priority;

      while (end < snapshot->n_matches && snapshot->matches[end].priority == priority)
        end++;
      dispatch->next = end;
      EVB_TRACE (dispatch->bus, .step = EVB_TRACE_LEVEL, .event = dispatch->event, .priority = priority,
                 .count = end - start);

      for (guint i = start; i < end; i++)
        {
          EvbRoute *route = snapshot->matches[i].route;

          /* Jobs keep a pointer to the walk, so it must outlive this frame
           * from the level's first async route on. */
          if (route->mode == EVB_MODE_ASYNC)
            dispatch = move_to_heap (dispatch);
          run_route (dispatch, route);
        }

      if (dispatch->pending_jobs > 0)
        {
          dispatch->bus->suspended++;
          evb_event_set_current (previous);
          return;
        }
      if (dispatch->handled || dispatch->stopped)
        break;
    }
  /* Before finish: a receipt it calls is a source's code, whose emits
   * start traces of their own. */
  evb_event_set_current (previous);
  finish (dispatch);
}

void
evb_dispatch_job_done (EvbDispatch *dispatch)
{
  g_assert (dispatch->pending_jobs > 0);
  if (--dispatch->pending_jobs > 0)
    return;
  dispatch->bus->suspended--;
  if (dispatch->handled || dispatch->stopped)
    finish (dispatch);
  else
    walk (dispatch);
}

void
evb_dispatch_event (EvbBus *bus, EvbEvent *event)
{
  EvbDispatch dispatch = {
    .bus = bus,
    .event = event,
    .snapshot = evb_route_cache_lookup (bus->route_cache, event->type, evb_event_type_hash (event)),
  };

  bus->dispatched++;
  evb_receipt_begin (event);
  if (bus->observer != NULL)
    bus->observer (bus, event, bus->observer_data);
  EVB_TRACE (bus, .step = EVB_TRACE_DISPATCH, .event = event, .count = dispatch.snapshot->n_matches);
  walk (&dispatch);
}
