/* The bus object: settings, emission, idleness, shutdown, statistics. */
#include "bus-private.h"

#include <string.h>

#include "plugin-abi.h"
#include "receipt.h"
#include "watchdog.h"

/* Not G_DEFINE_QUARK: its plain static is a data race when the first errors
 * of the process come from several emitting threads at once (TSan). */
GQuark
evb_bus_error_quark (void)
{
  static gsize quark = 0;

  if (g_once_init_enter (&quark))
    g_once_init_leave (&quark, g_quark_from_static_string ("evb-bus-error-quark"));
  return (GQuark) quark;
}

struct _EvbBusLink {
  gint ref_count;
  GMutex lock;
  EvbBus *bus; /* NULL once the bus is freed */
  GMainContext *context; /* a reference, for notices posted after the bus is gone */
  gint prunes_pending;  /* atomic: owner-prune notices posted, not yet gone */
  gint notices_pending; /* atomic: receipt notices posted, not yet gone */
  gint closing;         /* atomic: the bus is being freed */
};

void
evb_bus_link_count_prune (EvbBusLink *link, gint delta)
{
  g_atomic_int_add (&link->prunes_pending, delta);
}

void
evb_bus_link_count_notice (EvbBusLink *link, gint delta)
{
  g_atomic_int_add (&link->notices_pending, delta);
}

gboolean
evb_bus_link_is_closing (EvbBusLink *link)
{
  return g_atomic_int_get (&link->closing);
}

GMainContext *
evb_bus_link_get_context (EvbBusLink *link)
{
  return link->context;
}

EvbBusLink *
evb_bus_link_ref (EvbBusLink *link)
{
  g_atomic_int_inc (&link->ref_count);
  return link;
}

void
evb_bus_link_unref (EvbBusLink *link)
{
  if (!g_atomic_int_dec_and_test (&link->ref_count))
    return;
  g_mutex_clear (&link->lock);
  g_main_context_unref (link->context);
  g_free (link);
}

EvbBus *
evb_bus_link_get (EvbBusLink *link)
{
  EvbBus *bus;

  g_mutex_lock (&link->lock);
  bus = link->bus;
  g_mutex_unlock (&link->lock);
  return bus;
}

GMainContext *
evb_bus_link_context (EvbBusLink *link)
{
  GMainContext *context = NULL;

  g_mutex_lock (&link->lock);
  if (link->bus != NULL)
    context = g_main_context_ref (link->context);
  g_mutex_unlock (&link->lock);
  return context;
}

static guint
default_workers (void)
{
  return MAX (2, g_get_num_processors ());
}

/* Host reports go out as soon as what caused them is done: a failure
 * event queued behind the inbox's backlog would reach observers late and
 * keep its origin's data alive across the whole backlog (which costs
 * glibc's allocator more than building the report did). */
static void
dispatch_reports (EvbBus *bus)
{
  EvbEvent *report;

  while ((report = g_queue_pop_head (&bus->reports)) != NULL)
    evb_dispatch_event (bus, report);
}

static void
dispatch_from_inbox (gpointer item, gpointer user_data)
{
  evb_dispatch_event (user_data, item);
  dispatch_reports (user_data);
}

static void
complete_from_inbox (gpointer item, gpointer user_data)
{
  evb_job_completion (item, user_data);
  dispatch_reports (user_data);
}

/* For reports made elsewhere (timeouts, unsubscribe, API calls). */
static gboolean
reports_pending (EvbBus *bus)
{
  return bus->reports.length > 0;
}

gboolean
evb_bus_emit_report (EvbBus *bus, EvbEvent *event, GError **error)
{
  /* Off the main thread, or once the bus stopped, the inbox decides. */
  if (!evb_bus_is_main_thread (bus) || bus->state == EVB_BUS_STOPPED)
    return evb_bus_emit_event (bus, event, error);
  g_queue_push_tail (&bus->reports, event);
  bus->reports_emitted++;
  return TRUE;
}

/* The inbox lets go of an event it will not dispatch: dropped for a newer
 * one (drop-oldest, on the emitting thread), or left at teardown. */
static void
event_free (gpointer item)
{
  evb_receipt_post_unrun (item, EVB_RECEIPT_DROPPED, NULL);
  evb_event_unref (item);
}

/* Status and failure events report on work the inbox already admitted;
 * losing one to overflow would break "each failure, one failure event" and
 * the jobs' state machines, so they pass a full inbox. */
static gboolean
is_host_report (gpointer item)
{
  return (((EvbEvent *) item)->flags & EVB_EVENT_FLAGS_META) != 0;
}

EvbBus *
evb_bus_new (const EvbBusSettings *settings, GMainContext *context)
{
  g_autoptr (GError) error = NULL;
  EvbBus *bus;

  if (settings != NULL && !evb_bus_settings_validate (settings, &error))
    {
      g_critical ("evb_bus_new: %s", error->message);
      return NULL;
    }
  bus = g_new0 (EvbBus, 1);
  if (settings != NULL)
    bus->settings = *settings;
  else
    evb_bus_settings_init (&bus->settings);
  if (bus->settings.workers == 0)
    bus->settings.workers = default_workers ();

  bus->context = g_main_context_ref (context != NULL ? context : g_main_context_default ());
  bus->clock = evb_clock_new ();
  bus->main_thread = g_thread_self ();
  bus->link = g_new0 (EvbBusLink, 1);
  bus->link->ref_count = 1;
  g_mutex_init (&bus->link->lock);
  bus->link->bus = bus;
  bus->link->context = g_main_context_ref (bus->context);

  bus->inbox = evb_inbox_new (bus->context, "evbus inbox", bus->settings.inbox_limit, bus->settings.overflow,
                              bus->settings.slice_events, dispatch_from_inbox, event_free, bus);
  evb_inbox_set_keep_func (bus->inbox, is_host_report);
  evb_inbox_set_overcommit_limit (bus->inbox, bus->settings.inbox_overcommit);
  /* Completions are never refused: a finished job must always get home. */
  bus->completions = evb_inbox_new (bus->context, "evbus completions", 0, EVB_OVERFLOW_BLOCK, 1024,
                                    complete_from_inbox, evb_job_free_tagged, bus);
  g_queue_init (&bus->reports);
  bus->reports_source = evb_bus_work_source_new (bus, "evbus reports", reports_pending, dispatch_reports);
  g_source_attach (bus->reports_source, bus->context);
  bus->workers = evb_worker_pool_new ("evbus-worker", bus->settings.workers, evb_job_run_on_worker);
  bus->pool_kick = evb_job_kick_source_new (bus);
  g_source_attach (bus->pool_kick, bus->context);
  bus->table = evb_route_table_new ((GBoxedCopyFunc) evb_route_ref, (GDestroyNotify) evb_route_unref);
  bus->route_cache = evb_route_cache_new (bus->table);
  g_mutex_init (&bus->routes_lock);
  g_mutex_init (&bus->cancel_lock);
  g_cond_init (&bus->cancel_cond);
  bus->routes = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) evb_route_unref);
  bus->plugins = g_ptr_array_new_with_free_func ((GDestroyNotify) evb_plugin_instance_unref);
  g_queue_init (&bus->live_jobs);
  bus->state = EVB_BUS_RUNNING;
  return bus;
}

const EvbBusSettings *
evb_bus_get_settings (EvbBus *bus)
{
  return &bus->settings;
}

GMainContext *
evb_bus_get_context (EvbBus *bus)
{
  return bus->context;
}

gboolean
evb_bus_is_main_thread (EvbBus *bus)
{
  return g_thread_self () == bus->main_thread;
}

gboolean
evb_bus_emit_event (EvbBus *bus, EvbEvent *event, GError **error)
{
  return evb_bus_queue_event (bus, event, -1, error);
}

gboolean
evb_bus_queue_event (EvbBus *bus, EvbEvent *event, gint timeout_ms, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (evb_inbox_push_timed (bus->inbox, event, timeout_ms < 0 ? -1 : (gint64) timeout_ms * 1000, &local_error))
    return TRUE;
  evb_receipt_post_unrun (event, EVB_RECEIPT_REFUSED, local_error);
  evb_event_unref (event);
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

gboolean
evb_emit_options_check (const EvbEmitOptions *options, GError **error)
{
  if (options == NULL || options->struct_size >= sizeof (EvbEmitOptions))
    return TRUE;
  g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_DATA,
               "EvbEmitOptions.struct_size is %u, expected %u: initialise options with EVB_EMIT_OPTIONS_INIT",
               options->struct_size, (guint) sizeof (EvbEmitOptions));
  return FALSE;
}

guint64
evb_bus_refuse_emit (EvbBus *bus, const EvbEmitOptions *options, json_t *data, const GError *reason)
{
  json_decref (data);
  if (options != NULL && options->struct_size >= sizeof (EvbEmitOptions) && options->receipt != NULL)
    evb_receipt_post_refused (bus, options->receipt, options->receipt_data, options->receipt_destroy, reason);
  return 0;
}

guint64
evb_bus_emit_new (EvbBus *bus, const char *type, const char *source, json_t *data, const EvbEmitOptions *options,
                  GError **error)
{
  EvbTrace continued = { 0 };
  const EvbTrace *trace = NULL;
  EvbEvent *event;
  guint64 id;

  /* A valid traceparent continues its trace; an invalid one starts a new
   * trace, as W3C Trace Context says (a source that wants to refuse it
   * checks with evb_traceparent_parse first). */
  if (options != NULL && options->traceparent != NULL
      && evb_traceparent_parse (options->traceparent, &continued.high, &continued.low, NULL, NULL, NULL))
    {
      continued.tracestate = options->tracestate;
      trace = &continued;
    }
  event = evb_event_new (type, source, data, 0, trace, evb_clock_now (bus->clock));
  id = event->id;
  if (options != NULL && options->receipt != NULL)
    evb_event_set_receipt (event, evb_receipt_state_new (bus, options->receipt, options->receipt_data,
                                                         options->receipt_destroy));
  if (!evb_bus_queue_event (bus, event, options != NULL ? options->timeout_ms : -1, error))
    return 0;
  return id;
}

guint64
evb_bus_emit_full (EvbBus *bus, const char *type, const char *source, json_t *data, const EvbEmitOptions *options,
                   GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (!evb_emit_options_check (options, &local_error) || !evb_event_type_validate (type, &local_error))
    goto refuse;
  if (data != NULL && !json_is_object (data))
    {
      g_set_error (&local_error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_DATA, "data of \"%s\" must be a JSON object",
                   type);
      goto refuse;
    }
  return evb_bus_emit_new (bus, type, source, data, options, error);

refuse:
  evb_bus_refuse_emit (bus, options, data, local_error);
  g_propagate_error (error, g_steal_pointer (&local_error));
  return 0;
}

gboolean
evb_bus_emit (EvbBus *bus, const char *type, const char *source, json_t *data, GError **error)
{
  return evb_bus_emit_full (bus, type, source, data, NULL, error) != 0;
}

void
evb_bus_set_observer (EvbBus *bus, EvbBusObserver observer, gpointer user_data)
{
  bus->observer = observer;
  bus->observer_data = user_data;
}

void
evb_bus_set_checking (EvbBus *bus, gboolean checking)
{
  bus->checking = checking;
}

gboolean
evb_bus_is_checking (EvbBus *bus)
{
  return bus->checking;
}

static void
trace_to_log (EvbBus *bus, const EvbTraceRecord *record, gpointer user_data)
{
  evb_trace_log_add (bus->trace_log, record, evb_clock_now (bus->clock));
  if (bus->user_tracer != NULL)
    bus->user_tracer (bus, record, bus->user_tracer_data);
}

/* EVB_TRACE calls one function: the user's tracer, or the log (which
 * passes records on to the user's). */
static void
update_tracer (EvbBus *bus)
{
  bus->tracer = bus->trace_log != NULL ? trace_to_log : bus->user_tracer;
  bus->tracer_data = bus->trace_log != NULL ? NULL : bus->user_tracer_data;
}

void
evb_bus_set_tracer (EvbBus *bus, EvbBusTracer tracer, gpointer user_data)
{
  bus->user_tracer = tracer;
  bus->user_tracer_data = user_data;
  update_tracer (bus);
}

void
evb_bus_keep_traces (EvbBus *bus, guint records)
{
  if (records == 0 || (bus->trace_log != NULL && evb_trace_log_get_capacity (bus->trace_log) >= records))
    return;
  evb_trace_log_free (bus->trace_log);
  bus->trace_log = evb_trace_log_new (records);
  update_tracer (bus);
}

json_t *
evb_bus_query_trace (EvbBus *bus, guint64 trace_high, guint64 trace_low)
{
  if (bus->trace_log == NULL)
    return NULL;
  return evb_trace_log_query (bus->trace_log, trace_high, trace_low);
}

static gboolean
is_drained (EvbBus *bus)
{
  return evb_inbox_depth (bus->inbox) == 0 && evb_inbox_depth (bus->completions) == 0 && bus->reports.length == 0
         && bus->live_jobs.length == 0 && bus->suspended == 0;
}

gboolean
evb_bus_is_idle (EvbBus *bus)
{
  /* A route whose owner died is still there until its prune notice runs:
   * until then the bus has work left. */
  return is_drained (bus) && g_atomic_int_get (&bus->plugin_holds) == 0
         && g_atomic_int_get (&bus->link->prunes_pending) == 0
         && g_atomic_int_get (&bus->link->notices_pending) == 0;
}

static gboolean
wake_only (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates the context until @done holds or @deadline (monotonic µs) passes. */
static gboolean
iterate_until (EvbBus *bus, gboolean (*done) (EvbBus *), gint64 deadline)
{
  GSource *tick = NULL;
  gboolean reached;

  while (!(reached = done (bus)))
    {
      gint64 now = g_get_monotonic_time ();

      if (now >= deadline)
        break;
      if (tick == NULL)
        {
          /* Bounds each blocking iteration so the deadline is noticed. */
          tick = g_timeout_source_new (MAX (1, (deadline - now) / 1000 / 10));
          g_source_set_callback (tick, wake_only, NULL, NULL);
          g_source_set_static_name (tick, "evbus shutdown tick");
          g_source_attach (tick, bus->context);
        }
      g_main_context_iteration (bus->context, TRUE);
    }
  if (tick != NULL)
    {
      g_source_destroy (tick);
      g_source_unref (tick);
    }
  return reached;
}

static void
log_stuck_jobs (EvbBus *bus)
{
  for (GList *l = bus->live_jobs.head; l != NULL; l = l->next)
    {
      EvbJob *job = l->data;

      g_warning ("job %" G_GUINT64_FORMAT " of %s on %s event %" G_GUINT64_FORMAT
                 " did not stop after cancellation; its plugin stays loaded",
                 job->id, job->route->label, job->event->type, job->event->id);
      if (job->route->plugin != NULL)
        job->route->plugin->pinned = TRUE;
    }
}

/* Drained but for jobs whose handler was cancelled while it ran and has
 * not returned: what shutdown's last step stops waiting for. */
static gboolean
nothing_but_stuck (EvbBus *bus)
{
  if (evb_inbox_depth (bus->inbox) > 0 || evb_inbox_depth (bus->completions) > 0 || bus->reports.length > 0)
    return FALSE;
  for (GList *l = bus->live_jobs.head; l != NULL; l = l->next)
    {
      EvbJob *job = l->data;

      if (!job->seen_started || !g_atomic_int_get (&job->cancel_requested))
        return FALSE;
    }
  return TRUE;
}

/* How long cancelled handlers get to notice, once the grace period is
 * over: as long again, within [100 ms, 1 s], so that a shutdown with
 * handlers that never return lasts the grace period plus at most 1 s. */
static gint64
cancel_notice_us (gint64 grace_us)
{
  return CLAMP (grace_us, 100 * 1000, 1000 * 1000);
}

void
evb_bus_shutdown (EvbBus *bus, gint grace_ms)
{
  gint64 grace_us;
  gint64 deadline;
  gboolean stuck = FALSE;

  if (bus->state != EVB_BUS_RUNNING)
    return;
  grace_us = (gint64) (grace_ms >= 0 ? (guint) grace_ms : bus->settings.grace_ms) * 1000;

  /* 1. No new events from plugin sources; drain what is queued; let jobs
   *    finish within the grace period. */
  bus->state = EVB_BUS_DRAINING;
  for (guint i = 0; i < bus->plugins->len; i++)
    evb_plugin_instance_stop_sources (g_ptr_array_index (bus->plugins, i));
  deadline = g_get_monotonic_time () + grace_us;
  if (!iterate_until (bus, is_drained, deadline))
    {
      /* 2. Out of time: cancel what runs, refuse new jobs at birth, and give
       *    handlers cancelled now a little time to notice (jobs cancelled
       *    before, by their timeout, have had theirs). */
      gboolean cancelling_now = FALSE;

      for (GList *l = bus->live_jobs.head; l != NULL; l = l->next)
        cancelling_now |= !g_atomic_int_get (&((EvbJob *) l->data)->cancel_requested);
      bus->state = EVB_BUS_CANCELLING;
      evb_bus_cancel_all_jobs (bus);
      deadline = g_get_monotonic_time () + (cancelling_now ? cancel_notice_us (grace_us) : 0);
      iterate_until (bus, is_drained, deadline);
      /* Only handlers that never returned make the bus "stuck"; a source
       * that keeps the inbox busy does not, nor do the notices of cancelled
       * jobs still on their way home: step 4 tells them apart. */
      stuck = bus->live_jobs.length > 0;
    }
  bus->state = EVB_BUS_CANCELLING;
  evb_inbox_stop_blocking (bus->inbox);

  /* 3. Plugins go in reverse load order; what they emit while stopping is
   *    still dispatched to those not yet stopped and to host routes. */
  for (guint i = bus->plugins->len; i > 0; i--)
    {
      evb_plugin_instance_shutdown (g_ptr_array_index (bus->plugins, i - 1));
      if (!stuck)
        iterate_until (bus, is_drained, g_get_monotonic_time () + MAX (grace_us, 100 * 1000));
    }

  /* 4. Nothing more comes in: producers still blocked are refused.  Closed,
   *    the inbox only shrinks, so it is drained to the end, however long:
   *    what is queued is dispatched (its jobs cancelled at birth), cancelled
   *    jobs' notices come home (their status reports are still admitted),
   *    and the summary accounts for every event and job.  A job still live
   *    then never returned from its handler. */
  evb_inbox_close (bus->inbox);
  while (evb_inbox_depth (bus->inbox) > 0 || bus->reports.length > 0)
    g_main_context_iteration (bus->context, FALSE);
  /* Handlers that were cancelled while running had their time to notice:
   * wait only for the rest (jobs cancelled before a worker took them). */
  iterate_until (bus, nothing_but_stuck, g_get_monotonic_time () + cancel_notice_us (grace_us));
  if (!is_drained (bus))
    log_stuck_jobs (bus);
  bus->state = EVB_BUS_STOPPED;
}

static void
count_leftovers_as_dropped (EvbBus *bus)
{
  guint left = evb_inbox_depth (bus->inbox) + bus->reports.length;

  if (left > 0)
    {
      g_warning ("%u events were still queued at teardown and are dropped", left);
      bus->dropped_at_teardown += left;
    }
}

/* Buses that still had a handler running when freed; reachable, so a
 * leak checker counts them as kept, which they are. */
static GPtrArray *abandoned_buses;
G_LOCK_DEFINE_STATIC (abandoned_buses);

/* A handler never returned: its worker, and the plugin through the host
 * API, still use the bus (its settings, its closed inbox, the completion
 * inbox the job's notice goes to).  Nothing is freed; nothing runs on the
 * context any more. */
static void
abandon (EvbBus *bus)
{
  /* Their chains never end: their sources hear it now, once. */
  for (GList *l = bus->live_jobs.head; l != NULL; l = l->next)
    evb_receipt_cancel_now (((EvbJob *) l->data)->event);

  evb_inbox_detach (bus->inbox);
  evb_inbox_detach (bus->completions);
  g_source_destroy (bus->reports_source);
  g_source_destroy (bus->pool_kick);
  evb_worker_pool_stop (bus->workers, FALSE);
  G_LOCK (abandoned_buses);
  if (abandoned_buses == NULL)
    abandoned_buses = g_ptr_array_new ();
  g_ptr_array_add (abandoned_buses, bus);
  G_UNLOCK (abandoned_buses);
}

void
evb_bus_free (EvbBus *bus)
{
  if (bus == NULL)
    return;
  evb_bus_shutdown (bus, -1);
  g_clear_pointer (&bus->watchdog, evb_watchdog_free);
  count_leftovers_as_dropped (bus);
  /* Receipts of events still queued now say "cancelled", not "dropped". */
  g_atomic_int_set (&bus->link->closing, 1);

  g_mutex_lock (&bus->link->lock);
  bus->link->bus = NULL;
  g_mutex_unlock (&bus->link->lock);

  if (bus->live_jobs.length > 0)
    {
      abandon (bus);
      return;
    }

  /* Routes first: they hold the plugins, whose code must stay mapped until
   * the last route and job are gone. */
  g_mutex_lock (&bus->routes_lock);
  g_hash_table_remove_all (bus->routes);
  g_mutex_unlock (&bus->routes_lock);
  g_clear_pointer (&bus->route_cache, evb_route_cache_free);
  evb_route_table_free (bus->table);
  bus->table = NULL;

  evb_worker_pool_stop (bus->workers, TRUE);
  evb_inbox_free (bus->completions);
  evb_inbox_free (bus->inbox);
  g_queue_clear_full (&bus->reports, (GDestroyNotify) evb_event_unref);
  g_source_destroy (bus->reports_source);
  g_source_unref (bus->reports_source);
  g_source_destroy (bus->pool_kick);
  g_source_unref (bus->pool_kick);
  g_ptr_array_unref (bus->plugins);
  g_hash_table_unref (bus->routes);
  g_mutex_clear (&bus->routes_lock);
  g_mutex_clear (&bus->cancel_lock);
  g_cond_clear (&bus->cancel_cond);
  evb_bus_link_unref (bus->link);
  evb_clock_unref (bus->clock);
  evb_trace_log_free (bus->trace_log);
  g_main_context_unref (bus->context);
  g_free (bus);
}

void
evb_bus_get_totals (EvbBus *bus, EvbBusTotals *totals)
{
  EvbInboxStats inbox;

  evb_inbox_get_stats (bus->inbox, &inbox);
  memset (totals, 0, sizeof *totals);
  totals->emitted = inbox.pushed + bus->reports_emitted;
  totals->dispatched = bus->dispatched;
  totals->dropped = inbox.dropped + bus->dropped_at_teardown;
  totals->overcommitted = inbox.overcommitted;
  totals->overcommit_refused = inbox.overcommit_refused;
  totals->unhandled = bus->unhandled;
  totals->jobs_completed = bus->jobs_completed;
  totals->jobs_failed = bus->jobs_failed;
  totals->jobs_cancelled = bus->jobs_cancelled;
  totals->jobs_timed_out = bus->jobs_timed_out;
  totals->failures = bus->failures;
  totals->failures_suppressed = bus->failures_suppressed;
  totals->inbox_depth = inbox.depth;
  totals->inbox_peak = inbox.peak;
  totals->jobs_in_flight = bus->live_jobs.length;
  totals->rejected_oversize = (guint) g_atomic_int_get (&bus->rejected_oversize);
  evb_worker_pool_get_stuck (bus->workers, &totals->workers_stuck, &totals->workers_replaced);
  totals->stalls = evb_watchdog_get_stalls (bus->watchdog);
  g_mutex_lock (&bus->routes_lock);
  totals->routes = g_hash_table_size (bus->routes);
  g_mutex_unlock (&bus->routes_lock);
}

char *
evb_bus_summary (EvbBus *bus)
{
  EvbBusTotals totals;

  GString *line = g_string_new (NULL);

  evb_bus_get_totals (bus, &totals);
  g_string_printf (line, "dispatched %" G_GUINT64_FORMAT " events, dropped %" G_GUINT64_FORMAT
                   ", unhandled %" G_GUINT64_FORMAT "; jobs: %" G_GUINT64_FORMAT " completed, %"
                   G_GUINT64_FORMAT " failed, %" G_GUINT64_FORMAT " cancelled",
                   totals.dispatched, totals.dropped, totals.unhandled, totals.jobs_completed,
                   totals.jobs_failed, totals.jobs_cancelled);
  if (totals.jobs_timed_out > 0)
    g_string_append_printf (line, ", %" G_GUINT64_FORMAT " timed out", totals.jobs_timed_out);
  if (totals.jobs_in_flight > 0)
    g_string_append_printf (line, ", %u never returned", totals.jobs_in_flight);
  if (totals.stalls > 0)
    g_string_append_printf (line, "; main loop stalled %" G_GUINT64_FORMAT " time%s", totals.stalls,
                            totals.stalls == 1 ? "" : "s");
  return g_string_free (line, FALSE);
}

static json_t *
route_stats_to_json (EvbRoute *route)
{
  const EvbRouteStats *stats = &route->stats;

  return json_pack ("{s:I, s:s, s:s, s:s?, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:o, s:o}",
                    "id", (json_int_t) route->id,
                    "pattern", route->pattern,
                    "handler", route->label,
                    "plugin", route->plugin != NULL ? route->plugin->name : NULL,
                    "mode", route->mode == EVB_MODE_ASYNC ? "async" : "sync",
                    "priority", route->priority,
                    "matched", (json_int_t) stats->matched,
                    "filtered", (json_int_t) stats->filtered,
                    "handled", (json_int_t) stats->handled,
                    "completed", (json_int_t) stats->completed,
                    "failed", (json_int_t) stats->failed,
                    "cancelled", (json_int_t) stats->cancelled,
                    "timeouts", (json_int_t) stats->timeouts,
                    "waiting", (int) stats->waiting,
                    "executing", (int) stats->executing,
                    "queue_wait_us", evb_histogram_to_json (&stats->queue_wait),
                    "run_time_us", evb_histogram_to_json (&stats->run_time));
}

static gint
compare_route_ids (gconstpointer a, gconstpointer b)
{
  guint64 x = (*(EvbRoute *const *) a)->id;
  guint64 y = (*(EvbRoute *const *) b)->id;

  return x < y ? -1 : x > y;
}

/* The oldest jobs in flight, for "what is stuck" views: live_jobs is in
 * creation order, so the head is the oldest.  Ages rather than times: the
 * jobs' clock is monotonic, and a reader only wants "how long". */
static json_t *
oldest_jobs_to_json (EvbBus *bus)
{
  gint64 now_us = g_get_monotonic_time ();
  json_t *list = json_array ();
  guint listed = 0;

  for (GList *l = bus->live_jobs.head; l != NULL && listed < EVB_STATS_MAX_JOBS; l = l->next, listed++)
    {
      EvbJob *job = l->data;
      EvbRoute *route = job->route;

      char trace_id[EVB_TRACE_ID_SIZE];

      evb_event_format_trace_id (job->event, trace_id);
      json_array_append_new (list, json_pack ("{s:I, s:s, s:I, s:s, s:s?, s:{s:I, s:s, s:s}, s:I, s:o}",
                                              "job", (json_int_t) job->id,
                                              "state", evb_job_state_to_string (job->state),
                                              "route", (json_int_t) route->id,
                                              "handler", route->label,
                                              "plugin", route->plugin != NULL ? route->plugin->name : NULL,
                                              "event", "id", (json_int_t) job->event->id, "type", job->event->type,
                                              "trace_id", trace_id,
                                              "age_us", (json_int_t) MAX (0, now_us - job->created_us),
                                              "running_us", job->seen_started
                                                              ? json_integer (MAX (0, now_us - job->started_us))
                                                              : json_null ()));
    }
  return list;
}

/* Plugin instances in load order with what they say of their health
 * (evb_plugin_set_health): null, or the reason they are unhealthy. */
static json_t *
plugins_to_json (EvbBus *bus)
{
  json_t *list = json_array ();

  for (guint i = 0; i < bus->plugins->len; i++)
    {
      EvbPluginInstance *instance = g_ptr_array_index (bus->plugins, i);
      char *reason = evb_plugin_health_get (instance);

      json_array_append_new (list, json_pack ("{s:s, s:o}", "name", instance->name, "unhealthy",
                                              reason != NULL ? json_string (reason) : json_null ()));
      g_free (reason);
    }
  return list;
}

json_t *
evb_bus_stats (EvbBus *bus)
{
  g_autoptr (GPtrArray) routes = g_ptr_array_new_with_free_func ((GDestroyNotify) evb_route_unref);
  EvbInboxStats inbox;
  EvbBusTotals totals;
  GHashTableIter iter;
  gpointer value;
  json_t *route_list = json_array ();
  json_t *stats;
  json_t *stuck;

  g_mutex_lock (&bus->routes_lock);
  g_hash_table_iter_init (&iter, bus->routes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (routes, evb_route_ref (value));
  g_mutex_unlock (&bus->routes_lock);
  g_ptr_array_sort (routes, compare_route_ids);
  for (guint i = 0; i < routes->len; i++)
    json_array_append_new (route_list, route_stats_to_json (g_ptr_array_index (routes, i)));

  evb_inbox_get_stats (bus->inbox, &inbox);
  evb_bus_get_totals (bus, &totals);
  stats = json_pack ("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:i, s:s, s:i,"
                    " s:i}, s:o, s:o}",
                    "bus",
                    "emitted", (json_int_t) totals.emitted,
                    "dispatched", (json_int_t) totals.dispatched,
                    "dropped", (json_int_t) totals.dropped,
                    "rejected_oversize", (json_int_t) totals.rejected_oversize,
                    "overcommitted", (json_int_t) totals.overcommitted,
                    "unhandled", (json_int_t) totals.unhandled,
                    "wakeups", (json_int_t) inbox.wakeups,
                    "blocked", (json_int_t) inbox.blocked,
                    "jobs_completed", (json_int_t) totals.jobs_completed,
                    "jobs_failed", (json_int_t) totals.jobs_failed,
                    "jobs_cancelled", (json_int_t) totals.jobs_cancelled,
                    "failures", (json_int_t) totals.failures,
                    "failures_suppressed", (json_int_t) totals.failures_suppressed,
                    "jobs_in_flight", (int) totals.jobs_in_flight,
                    "inbox_depth", (int) inbox.depth,
                    "inbox_peak", (int) inbox.peak,
                    "overflow", evb_overflow_policy_to_string (bus->settings.overflow),
                    "inbox_limit", (int) inbox.limit,
                    "workers", (int) bus->settings.workers,
                    "routes", route_list,
                    "jobs", oldest_jobs_to_json (bus));
  /* What the watchdog and the pool saw of code that does not return. */
  stuck = json_pack ("{s:I, s:I, s:I, s:I, s:I}", "jobs_timed_out", (json_int_t) totals.jobs_timed_out,
                     "stalls", (json_int_t) totals.stalls,
                     "stalled_ms", (json_int_t) evb_watchdog_get_stalled_ms (bus->watchdog),
                     "workers_stuck", (json_int_t) totals.workers_stuck,
                     "workers_replaced", (json_int_t) totals.workers_replaced);
  json_object_update (json_object_get (stats, "bus"), stuck);
  json_decref (stuck);
  /* Emits refused past host.inbox_overcommit (each also in "dropped"). */
  json_object_set_new (json_object_get (stats, "bus"), "overcommit_refused",
                       json_integer ((json_int_t) totals.overcommit_refused));
  json_object_set_new (stats, "plugins", plugins_to_json (bus));
  return stats;
}

gint64
evb_bus_now (EvbBus *bus)
{
  return evb_clock_now (bus->clock);
}

void
evb_bus_set_fake_clock (EvbBus *bus, gint64 now_us)
{
  evb_clock_set_fake (bus->clock, now_us);
}

void
evb_bus_advance_clock (EvbBus *bus, gint64 ms)
{
  evb_clock_advance (bus->clock, ms, bus->context);
}

void
evb_bus_jump_clock (EvbBus *bus, gint64 ms)
{
  evb_clock_jump (bus->clock, ms, bus->context);
}
