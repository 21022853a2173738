/* What plugin code each thread runs (running.h). */
#include "running.h"

#include <string.h>

static __thread EvbRunning running_self;

/* Readers of another thread's record take it; a thread leaving a call
 * that a reader is looking at takes it too, so it waits for the reader. */
static GMutex read_lock;

EvbRunning *
evb_running_self (void)
{
  return &running_self;
}

void
evb_running_read_lock (void)
{
  g_mutex_lock (&read_lock);
}

void
evb_running_read_unlock (void)
{
  g_mutex_unlock (&read_lock);
}

void
evb_running_wait_for_reader (void)
{
  g_mutex_lock (&read_lock);
  g_mutex_unlock (&read_lock);
}

/* Bounded appends: what does not fit is cut, and the result always ends
 * with a NUL.  No stdio: these run inside signal handlers. */
static void
append (char *out, gsize size, const char *text)
{
  gsize used = strlen (out);

  if (text == NULL)
    text = "?";
  while (*text != '\0' && used + 1 < size)
    out[used++] = *text++;
  out[used] = '\0';
}

static void
append_u64 (char *out, gsize size, guint64 value)
{
  char digits[21];
  guint n = sizeof digits - 1;

  digits[n] = '\0';
  do
    {
      digits[--n] = (char) ('0' + value % 10);
      value /= 10;
    }
  while (value > 0);
  append (out, size, digits + n);
}

static void
append_plugin (char *out, gsize size, const EvbPluginInstance *plugin)
{
  append (out, size, "plugin ");
  append (out, size, plugin->name);
  append (out, size, ", file ");
  append (out, size, plugin->path != NULL ? plugin->path : "(linked in)");
}

void
evb_running_describe (const EvbRunning *running, char *out, gsize size)
{
  const EvbRoute *route = __atomic_load_n (&running->route, __ATOMIC_ACQUIRE);
  const EvbPluginInstance *init = __atomic_load_n (&running->init, __ATOMIC_ACQUIRE);

  if (size == 0)
    return;
  if (route != NULL)
    {
      const EvbEvent *event = __atomic_load_n (&running->event, __ATOMIC_ACQUIRE);

      append (out, size, "handler ");
      append (out, size, route->label);
      append (out, size, " (");
      if (route->plugin != NULL)
        append_plugin (out, size, route->plugin);
      else
        append (out, size, "host route");
      append (out, size, ") on event ");
      append (out, size, event->type);
      append (out, size, " id ");
      append_u64 (out, size, event->id);
    }
  else if (init != NULL)
    {
      append (out, size, "init of ");
      append_plugin (out, size, init);
    }
  else
    append (out, size, "no plugin handler");
}
