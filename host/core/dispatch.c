/* Dispatching one event: match, filter, then walk the priority levels. */
#include "bus-private.h"

void
evb_call_init (EvbCallPrivate *call, EvbRoute *route, EvbJob *job)
{
  call->pub.struct_size = sizeof (EvbCall);
  call->pub.reserved0 = 0;
  call->pub.api = &evb_host_api;
  call->pub.plugin = route->plugin != NULL ? &route->plugin->handle : NULL;
  call->pub.instance_data = route->plugin != NULL ? route->plugin->handle.instance_data : NULL;
  call->pub.route_data = route->user_data;
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
  evb_route_snapshot_unref (dispatch->snapshot);
  evb_event_unref (dispatch->event);
  if (dispatch->on_heap)
    g_free (dispatch);
}

/* Turns what a sync handler returned into counters, chain state and
 * failure events. */
static void
account_sync_result (EvbDispatch *dispatch, EvbRoute *route, EvbCallPrivate *call, EvbResult result,
                     gint64 elapsed_us)
{
  EvbBus *bus = dispatch->bus;
  gboolean failed = FALSE;

  switch (result)
    {
    case EVB_HANDLED:
      route->stats.handled++;
      dispatch->handled = TRUE;
      G_GNUC_FALLTHROUGH;
    case EVB_CONTINUE:
      route->stats.completed++;
      break;
    case EVB_FAILED:
    default:
      route->stats.failed++;
      failed = TRUE;
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
      evb_report_failure (bus, route, dispatch->event, &call->failure, FALSE, 0);
      break;
    }

  /* A sync handler cannot be interrupted; overrunning its timeout is still
   * a failure the operator must hear about. */
  if (route->timeout_ms > 0 && elapsed_us > (gint64) route->timeout_ms * 1000 && !failed)
    {
      EvbFailure overrun = {
        .domain = (char *) "evbus",
        .code = 1,
        .message = g_strdup_printf ("sync handler ran %" G_GINT64_FORMAT " ms, over its timeout of %u ms",
                                    elapsed_us / 1000, route->timeout_ms),
      };

      route->stats.timeouts++;
      failed = TRUE;
      evb_report_failure (bus, route, dispatch->event, &overrun, FALSE, 0);
      g_free (overrun.message);
    }
  if (failed && route->stop_on_failure)
    dispatch->stopped = TRUE;
}

static void
run_sync (EvbDispatch *dispatch, EvbRoute *route)
{
  EvbCallPrivate call;
  gboolean timed;
  gint64 started = 0;
  gint64 elapsed = 0;
  EvbResult result;

  evb_call_init (&call, route, NULL);
  /* The first call, then one in EVB_SYNC_TIMING_SAMPLE: a clock read costs
   * more than a small handler. */
  timed = route->timeout_ms > 0 || (++route->sync_calls & (EVB_SYNC_TIMING_SAMPLE - 1)) == 1;
  if (timed)
    started = g_get_monotonic_time ();
  result = route->func (&call.pub, dispatch->event);
  if (timed)
    {
      elapsed = g_get_monotonic_time () - started;
      evb_histogram_add (&route->stats.run_time, elapsed);
    }
  account_sync_result (dispatch, route, &call, result, elapsed);
  if (call.failure.domain != NULL || call.failure.message != NULL)
    evb_failure_clear (&call.failure);
}

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
          evb_bus_prune_route (dispatch->bus, route);
          return;
        }
    }
  route->stats.matched++;
  if (route->filter != NULL && !evb_filter_match (route->filter, dispatch->event->data))
    {
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

  while (dispatch->next < snapshot->n_matches)
    {
      guint start = dispatch->next;
      guint end = start + 1;
      gint priority = snapshot->matches[start].priority;

      while (end < snapshot->n_matches && snapshot->matches[end].priority == priority)
        end++;
      dispatch->next = end;

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
          return;
        }
      if (dispatch->handled || dispatch->stopped)
        break;
    }
  finish (dispatch);
}

void
evb_dispatch_job_done (EvbDispatch *dispatch, EvbResult result, gboolean failed_stop)
{
  g_assert (dispatch->pending_jobs > 0);
  if (result == EVB_HANDLED)
    dispatch->handled = TRUE;
  if (failed_stop)
    dispatch->stopped = TRUE;
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
  if (bus->observer != NULL)
    bus->observer (bus, event, bus->observer_data);
  walk (&dispatch);
}
