/* Sources for work the bus's main thread queues for itself. */
#include "bus-private.h"

typedef struct {
  GSource source;
  EvbBus *bus;
  EvbBusPredicate pending;
  EvbBusWork run;
} EvbWorkSource;

static gboolean
work_prepare (GSource *source, gint *timeout)
{
  EvbWorkSource *work = (EvbWorkSource *) source;

  *timeout = -1;
  return work->pending (work->bus);
}

static gboolean
work_check (GSource *source)
{
  EvbWorkSource *work = (EvbWorkSource *) source;

  return work->pending (work->bus);
}

static gboolean
work_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  EvbWorkSource *work = (EvbWorkSource *) source;

  work->run (work->bus);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs work_funcs = {
  .prepare = work_prepare,
  .check = work_check,
  .dispatch = work_dispatch,
};

GSource *
evb_bus_work_source_new (EvbBus *bus, const char *static_name, EvbBusPredicate pending, EvbBusWork run)
{
  GSource *source = g_source_new (&work_funcs, sizeof (EvbWorkSource));
  EvbWorkSource *work = (EvbWorkSource *) source;

  work->bus = bus;
  work->pending = pending;
  work->run = run;
  g_source_set_static_name (source, static_name);
  return source;
}
