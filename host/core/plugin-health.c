/* What plugins say about their own health (evb_plugin_set_health, ABI
 * 1.1): one reason per unhealthy instance, set from any thread (a client
 * library's callback thread, a worker) and read from any thread (the
 * dashboard's /healthz answers off the main loop).
 *
 * One process-wide registry under one lock rather than a field per
 * instance: a reader on another thread cannot walk bus->plugins (the main
 * thread grows it while plugins load), and health changes are rare, so a
 * small array searched linearly costs nothing.  Entries point at their
 * instance without a reference; the instance's free removes its entry
 * first, so a name read under the lock is alive. */
#include "bus-private.h"

typedef struct {
  EvbPluginInstance *instance;
  char *reason;    /* NULL: healthy */
  gboolean closed; /* the instance was shut down: later sets are ignored */
} HealthEntry;

static GMutex health_lock;
static GPtrArray *health_entries; /* HealthEntry *, under health_lock; created on first use */

static HealthEntry *
find_entry (EvbPluginInstance *instance, guint *index)
{
  for (guint i = 0; health_entries != NULL && i < health_entries->len; i++)
    {
      HealthEntry *entry = g_ptr_array_index (health_entries, i);

      if (entry->instance == instance)
        {
          if (index != NULL)
            *index = i;
          return entry;
        }
    }
  return NULL;
}

static void
entry_free (HealthEntry *entry)
{
  g_free (entry->reason);
  g_free (entry);
}

void
evb_plugin_health_set (EvbPluginInstance *instance, const char *reason)
{
  HealthEntry *entry;
  HealthEntry *gone = NULL;
  guint index = 0;
  char *copy = reason != NULL ? g_strdup (reason) : NULL;
  char *old = NULL;

  g_mutex_lock (&health_lock);
  entry = find_entry (instance, &index);
  if (entry != NULL && entry->closed)
    {
      /* Shut down: what a late thread says is no longer its verdict. */
    }
  else if (copy == NULL)
    {
      /* Healthy: the entry goes, so that the list stays in the order
       * instances became unhealthy. */
      if (entry != NULL)
        gone = g_ptr_array_steal_index (health_entries, index);
    }
  else
    {
      if (entry == NULL)
        {
          if (health_entries == NULL)
            health_entries = g_ptr_array_new ();
          entry = g_new0 (HealthEntry, 1);
          entry->instance = instance;
          g_ptr_array_add (health_entries, entry);
        }
      old = entry->reason;
      entry->reason = g_steal_pointer (&copy);
    }
  g_mutex_unlock (&health_lock);
  if (gone != NULL)
    entry_free (gone);
  g_free (old);
  g_free (copy);
}

char *
evb_plugin_health_get (EvbPluginInstance *instance)
{
  HealthEntry *entry;
  char *reason = NULL;

  g_mutex_lock (&health_lock);
  entry = find_entry (instance, NULL);
  if (entry != NULL)
    reason = g_strdup (entry->reason);
  g_mutex_unlock (&health_lock);
  return reason;
}

json_t *
evb_bus_plugin_health (EvbBus *bus)
{
  json_t *reasons = json_object ();

  g_mutex_lock (&health_lock);
  for (guint i = 0; health_entries != NULL && i < health_entries->len; i++)
    {
      HealthEntry *entry = g_ptr_array_index (health_entries, i);

      if (entry->instance->bus == bus && entry->reason != NULL)
        json_object_set_new (reasons, entry->instance->name, json_string (entry->reason));
    }
  g_mutex_unlock (&health_lock);
  return reasons;
}

void
evb_plugin_health_close (EvbPluginInstance *instance)
{
  HealthEntry *entry;
  char *old = NULL;

  g_mutex_lock (&health_lock);
  entry = find_entry (instance, NULL);
  if (entry == NULL)
    {
      if (health_entries == NULL)
        health_entries = g_ptr_array_new ();
      entry = g_new0 (HealthEntry, 1);
      entry->instance = instance;
      g_ptr_array_add (health_entries, entry);
    }
  entry->closed = TRUE;
  old = g_steal_pointer (&entry->reason);
  g_mutex_unlock (&health_lock);
  g_free (old);
}

void
evb_plugin_health_forget (EvbPluginInstance *instance)
{
  HealthEntry *entry;
  guint index = 0;

  g_mutex_lock (&health_lock);
  entry = find_entry (instance, &index);
  if (entry != NULL)
    g_ptr_array_remove_index (health_entries, index); /* keeps the order sets came in */
  if (health_entries != NULL && health_entries->len == 0)
    g_clear_pointer (&health_entries, g_ptr_array_unref);
  g_mutex_unlock (&health_lock);
  if (entry != NULL)
    entry_free (entry);
}
