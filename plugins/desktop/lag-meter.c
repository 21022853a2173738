/* The lag meter: lateness of a periodic tick on the main loop.  A handler
 * that blocks the loop (a sync route to a slow database) delays the tick
 * exactly as long as it delays drawing and input. */
#include "lag-meter.h"

/* A ring of ticks: it covers the 2 s window at ticks of 4 ms or more; at
 * shorter ticks "worst" is that of the last 512 ticks. */
#define LAG_SAMPLES 512
/* The text changes at most this often, so the label does not relayout at
 * every tick; a new worst shows at once. */
#define LAG_NOTIFY_INTERVAL_US (100 * 1000)

struct _DesktopLagMeter {
  GObject parent_instance;
  guint tick_ms;
  gint64 last_tick_us;  /* monotonic time of the last tick, 0 before the first */
  gint64 sample_time_us[LAG_SAMPLES];
  gint64 sample_late_us[LAG_SAMPLES];
  guint next_sample;
  guint n_samples;
  gint64 last_late_us;
  gint64 worst_us;
  gint64 last_notify_us;
  char *text;
};

G_DEFINE_FINAL_TYPE (DesktopLagMeter, desktop_lag_meter, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static gint64
worst_since (DesktopLagMeter *self, gint64 since_us)
{
  gint64 worst = 0;

  for (guint i = 0; i < self->n_samples; i++)
    if (self->sample_time_us[i] >= since_us)
      worst = MAX (worst, self->sample_late_us[i]);
  return worst;
}

static char *
format_text (gint64 last_us, gint64 worst_us)
{
  return g_strdup_printf ("UI lag %" G_GINT64_FORMAT " ms · worst %" G_GINT64_FORMAT " ms in %d s", last_us / 1000,
                          worst_us / 1000, DESKTOP_LAG_WINDOW_S);
}

static gboolean
on_tick (gpointer data)
{
  DesktopLagMeter *self = data;
  gint64 now = g_get_monotonic_time ();
  gint64 previous_worst = self->worst_us;
  g_autofree char *text = NULL;

  if (self->last_tick_us != 0)
    {
      self->last_late_us = MAX (0, now - self->last_tick_us - (gint64) self->tick_ms * 1000);
      self->sample_time_us[self->next_sample] = now;
      self->sample_late_us[self->next_sample] = self->last_late_us;
      self->next_sample = (self->next_sample + 1) % LAG_SAMPLES;
      self->n_samples = MIN (self->n_samples + 1, LAG_SAMPLES);
    }
  self->last_tick_us = now;
  self->worst_us = worst_since (self, now - DESKTOP_LAG_WINDOW_S * G_USEC_PER_SEC);

  text = format_text (self->last_late_us, self->worst_us);
  if (g_strcmp0 (text, self->text) != 0
      && (self->worst_us > previous_worst || now - self->last_notify_us >= LAG_NOTIFY_INTERVAL_US))
    {
      g_free (self->text);
      self->text = g_steal_pointer (&text);
      self->last_notify_us = now;
      g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
    }
  return G_SOURCE_CONTINUE;
}

static void
desktop_lag_meter_finalize (GObject *object)
{
  DesktopLagMeter *self = DESKTOP_LAG_METER (object);

  g_free (self->text);
  G_OBJECT_CLASS (desktop_lag_meter_parent_class)->finalize (object);
}

static void
desktop_lag_meter_class_init (DesktopLagMeterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = desktop_lag_meter_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                          NULL, G_TYPE_NONE, 0);
}

static void
desktop_lag_meter_init (DesktopLagMeter *self)
{
  self->text = format_text (0, 0);
}

DesktopLagMeter *
desktop_lag_meter_new (EvbPlugin *plugin, guint tick_ms)
{
  DesktopLagMeter *self = g_object_new (DESKTOP_TYPE_LAG_METER, NULL);

  self->tick_ms = tick_ms;
  /* The tick keeps its own reference: the host removes it after stop. */
  evb_plugin_add_timeout (plugin, tick_ms, on_tick, g_object_ref (self), g_object_unref);
  return self;
}

gint64
desktop_lag_meter_get_last_us (DesktopLagMeter *meter)
{
  return meter->last_late_us;
}

gint64
desktop_lag_meter_get_worst_us (DesktopLagMeter *meter)
{
  return meter->worst_us;
}

const char *
desktop_lag_meter_describe (DesktopLagMeter *meter)
{
  return meter->text;
}
