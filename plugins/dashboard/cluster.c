/* The cluster view: other hosts' jobs in flight, from the status events
 * the nats plugin imports (docs/plugins/nats.md "Cluster view").
 *
 * Hosts export evbus.status.* and evbus.failure; an importing host gets
 * them as <cluster_prefix>.status.<state> and <cluster_prefix>.failure with
 * data._origin.host.  Failures go into the dashboard's failure list
 * (dashboard.c, labelled with their host); this file keeps the jobs of
 * other hosts that are waiting, executing or cancelling, keyed by (host,
 * job id) since job ids are per host, and drops them on a terminal state.
 *
 * Unlike the local evbus.status.* routes, these are subscribed for the
 * dashboard's whole life: the local host makes status events only while
 * someone listens, but imported ones arrive whether we listen or not, so
 * listening costs only the map update.
 *
 * Bounded: at most cluster_jobs entries; a new one beyond that evicts the
 * oldest (counted: a host that died with jobs in flight never sends their
 * end).  The publish handler that exports status events is async, so a
 * host's "completed" may overtake its "executing": the last cluster_jobs
 * ended keys are remembered and a late state for them is ignored
 * (counted). */
#include "dashboard-private.h"

#include <string.h>

/* The jobs listed in the snapshot, oldest first; the rest are counted. */
#define CLUSTER_LIST_MAX 100

typedef struct {
  GList link;        /* in DashCluster.order; data points here */
  char *key;         /* "host\njob": the table's key, owned here */
  char *host;
  guint64 job;
  char *state;
  char *handler;
  char *plugin;
  char *event_type;
  guint64 event_id;
  char trace_id[EVB_TRACE_ID_SIZE];
  gint64 first_mono_us; /* when we first heard of it (our clock: hosts' clocks differ) */
} ClusterJob;

struct _DashCluster {
  Dashboard *dashboard;
  guint max_jobs;
  GHashTable *jobs;     /* key -> ClusterJob (borrowed; freed through order) */
  GQueue order;         /* ClusterJob links, oldest first */
  GHashTable *ended;    /* key set of jobs seen ending, at most max_jobs */
  GQueue ended_order;   /* the same keys (owned by the table), oldest first */
  GHashTable *hosts;    /* host -> ClusterHost */
  guint64 routes[2];
  guint64 jobs_dropped; /* evicted as the oldest over max_jobs */
  guint64 late_ignored; /* a state after the job's end */
  guint64 bad_events;   /* no _origin.host or no job id */
};

typedef struct {
  guint64 statuses;
  guint64 failures;
} ClusterHost;

/* _origin.host of @data, capped like every string we keep (cap.c); NULL
 * when absent.  @capped holds the copy when one was needed. */
static const char *
origin_host (json_t *data, char **capped)
{
  json_t *host = json_object_get (json_object_get (data, "_origin"), "host");

  *capped = NULL;
  if (!json_is_string (host))
    return NULL;
  if (dash_text_keep (json_string_value (host), json_string_length (host)) == json_string_length (host))
    return json_string_value (host);
  *capped = dash_text_capped (json_string_value (host), json_string_length (host));
  return *capped;
}

static ClusterHost *
host_counts (DashCluster *self, const char *host)
{
  ClusterHost *counts = g_hash_table_lookup (self->hosts, host);

  if (counts == NULL)
    {
      counts = g_new0 (ClusterHost, 1);
      g_hash_table_insert (self->hosts, g_strdup (host), counts);
    }
  return counts;
}

static void
cluster_job_free (ClusterJob *job)
{
  g_free (job->key);
  g_free (job->host);
  g_free (job->state);
  g_free (job->handler);
  g_free (job->plugin);
  g_free (job->event_type);
  g_free (job);
}

static void
remove_job (DashCluster *self, ClusterJob *job)
{
  g_hash_table_remove (self->jobs, job->key);
  g_queue_unlink (&self->order, &job->link);
  cluster_job_free (job);
}

static void
remember_ended (DashCluster *self, char *key)
{
  if (g_hash_table_contains (self->ended, key))
    {
      g_free (key);
      return;
    }
  g_hash_table_add (self->ended, key);
  g_queue_push_tail (&self->ended_order, key);
  if (self->ended_order.length > self->max_jobs)
    g_hash_table_remove (self->ended, g_queue_pop_head (&self->ended_order));
}

static gboolean
is_terminal (const char *state)
{
  return strcmp (state, "completed") == 0 || strcmp (state, "failed") == 0 || strcmp (state, "cancelled") == 0;
}

static void
set_string (char **slot, json_t *value)
{
  const char *text = json_string_value (value);

  if (text == NULL)
    return;
  g_free (*slot);
  *slot = dash_text_capped (text, json_string_length (value));
}

/* <prefix>.status.<state>: one job of another host changed state. */
static EvbResult
on_cluster_status (EvbCall *call, const EvbEvent *event)
{
  DashCluster *self = call->route_data;
  json_t *data = event->data;
  g_autofree char *capped = NULL;
  const char *host = origin_host (data, &capped);
  json_t *job_id = json_object_get (data, "job");
  const char *state = strrchr (event->type, '.') + 1;
  g_autofree char *key = NULL;
  ClusterJob *job;

  if (host == NULL || !json_is_integer (job_id))
    {
      self->bad_events++;
      return EVB_CONTINUE;
    }
  host_counts (self, host)->statuses++;
  key = g_strdup_printf ("%s\n%" G_GINT64_FORMAT, host, (gint64) json_integer_value (job_id));
  job = g_hash_table_lookup (self->jobs, key);
  if (is_terminal (state))
    {
      if (job != NULL)
        remove_job (self, job);
      remember_ended (self, g_steal_pointer (&key));
      return EVB_CONTINUE;
    }
  if (g_hash_table_contains (self->ended, key))
    {
      self->late_ignored++;
      return EVB_CONTINUE;
    }
  if (job == NULL)
    {
      json_t *origin_event = json_object_get (data, "event");

      if (self->order.length >= self->max_jobs)
        {
          remove_job (self, ((GList *) self->order.head)->data);
          self->jobs_dropped++;
        }
      job = g_new0 (ClusterJob, 1);
      job->link.data = job;
      job->key = g_steal_pointer (&key);
      job->host = g_strdup (host);
      job->job = (guint64) json_integer_value (job_id);
      job->event_id = (guint64) json_integer_value (json_object_get (origin_event, "id"));
      set_string (&job->event_type, json_object_get (origin_event, "type"));
      set_string (&job->handler, json_object_get (data, "handler"));
      set_string (&job->plugin, json_object_get (data, "plugin"));
      /* The imported event continues the job's trace: its trace is the job's. */
      evb_event_format_trace_id (event, job->trace_id);
      job->first_mono_us = g_get_monotonic_time ();
      g_hash_table_insert (self->jobs, job->key, job);
      g_queue_push_tail_link (&self->order, &job->link);
    }
  g_free (job->state);
  job->state = g_strdup (state);
  return EVB_CONTINUE;
}

/* <prefix>.failure: into the failure list, labelled with its host. */
static EvbResult
on_cluster_failure (EvbCall *call, const EvbEvent *event)
{
  DashCluster *self = call->route_data;
  g_autofree char *capped = NULL;
  const char *host = origin_host (event->data, &capped);

  if (host == NULL)
    {
      self->bad_events++;
      return EVB_CONTINUE;
    }
  host_counts (self, host)->failures++;
  dash_record_failure (self->dashboard, event);
  return EVB_CONTINUE;
}

DashCluster *
dash_cluster_start (Dashboard *dashboard, const char *prefix, guint max_jobs, GError **error)
{
  DashCluster *self;
  g_autofree char *status_pattern = NULL;
  g_autofree char *failure_type = NULL;

  if (!evb_type_is_valid (prefix))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "option \"cluster_prefix\": \"%s\" is not a type prefix: give dotted names such as \"cluster\" "
                   "(the nats plugin's host_events_as), or \"\" for no cluster view", prefix);
      return NULL;
    }
  /* evbus.status.* are this host's own: they would pass for other hosts'. */
  if (evb_type_is_reserved (prefix) || strcmp (prefix, "evbus") == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "option \"cluster_prefix\": \"%s\" names this host's own events; give the nats plugin's "
                   "host_events_as, e.g. \"cluster\"", prefix);
      return NULL;
    }
  self = g_new0 (DashCluster, 1);
  status_pattern = g_strdup_printf ("%s.status.*", prefix);
  failure_type = g_strdup_printf ("%s.failure", prefix);

  self->dashboard = dashboard;
  self->max_jobs = max_jobs;
  self->jobs = g_hash_table_new (g_str_hash, g_str_equal);
  self->ended = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init (&self->order);
  g_queue_init (&self->ended_order);
  self->routes[0] = dash_subscribe (dashboard, status_pattern, "cluster-status", on_cluster_status, self, error);
  if (self->routes[0] != 0)
    self->routes[1] = dash_subscribe (dashboard, failure_type, "cluster-failure", on_cluster_failure, self, error);
  if (self->routes[1] == 0)
    {
      dash_cluster_stop (self);
      return NULL;
    }
  return self;
}

void
dash_cluster_stop (DashCluster *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (self->routes); i++)
    if (self->routes[i] != 0)
      evb_plugin_unsubscribe (self->dashboard->plugin, self->routes[i]);
  while (self->order.head != NULL)
    remove_job (self, self->order.head->data);
  g_hash_table_unref (self->jobs);
  g_queue_clear (&self->ended_order);
  g_hash_table_unref (self->ended);
  g_hash_table_unref (self->hosts);
  g_free (self);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

json_t *
dash_cluster_to_json (DashCluster *self)
{
  gint64 now = g_get_monotonic_time ();
  json_t *jobs;
  json_t *hosts;
  g_autoptr (GPtrArray) names = NULL;
  GHashTableIter iter;
  gpointer name;
  guint listed = 0;

  if (self == NULL)
    return json_null ();
  jobs = json_array ();
  hosts = json_object ();
  names = g_ptr_array_new ();
  for (GList *l = self->order.head; l != NULL && listed < CLUSTER_LIST_MAX; l = l->next, listed++)
    {
      ClusterJob *job = l->data;

      json_array_append_new (jobs, json_pack ("{s:s, s:I, s:s, s:s?, s:s?, s:{s:I, s:s?}, s:s, s:I}",
                                              "host", job->host,
                                              "job", (json_int_t) job->job,
                                              "state", job->state,
                                              "handler", job->handler,
                                              "plugin", job->plugin,
                                              "event", "id", (json_int_t) job->event_id, "type", job->event_type,
                                              "trace_id", job->trace_id,
                                              "age_us", (json_int_t) MAX (0, now - job->first_mono_us)));
    }
  /* Hosts in name order: a stable page and a stable /metrics. */
  g_hash_table_iter_init (&iter, self->hosts);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    g_ptr_array_add (names, name);
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      const char *host = g_ptr_array_index (names, i);
      ClusterHost *counts = g_hash_table_lookup (self->hosts, host);

      json_object_set_new (hosts, host, json_pack ("{s:i, s:I, s:I}", "jobs_in_flight", 0, "statuses",
                                                   (json_int_t) counts->statuses, "failures",
                                                   (json_int_t) counts->failures));
    }
  for (GList *l = self->order.head; l != NULL; l = l->next)
    {
      json_t *counts = json_object_get (hosts, ((ClusterJob *) l->data)->host);

      json_object_set_new (counts, "jobs_in_flight",
                           json_integer (json_integer_value (json_object_get (counts, "jobs_in_flight")) + 1));
    }
  return json_pack ("{s:o, s:i, s:i, s:I, s:I, s:I, s:o}",
                    "jobs", jobs,
                    "jobs_in_flight", (int) self->order.length,
                    "max_jobs", (int) self->max_jobs,
                    "jobs_dropped", (json_int_t) self->jobs_dropped,
                    "late_ignored", (json_int_t) self->late_ignored,
                    "bad_events", (json_int_t) self->bad_events,
                    "hosts", hosts);
}
