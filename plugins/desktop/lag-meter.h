/* The UI's own lag: a tick every tick_ms on the host's main loop (the one
 * GTK draws from) and how late each one ran.  A window shows
 * desktop_lag_meter_describe (); "changed" says when that text changed.
 * Main thread. */
#pragma once

#include <evbus/plugin.h>

#define DESKTOP_TYPE_LAG_METER (desktop_lag_meter_get_type ())
G_DECLARE_FINAL_TYPE (DesktopLagMeter, desktop_lag_meter, DESKTOP, LAG_METER, GObject)

/* Starts ticking (evb_plugin_add_timeout: the host removes the tick when
 * the plugin stops). */
DesktopLagMeter *desktop_lag_meter_new (EvbPlugin *plugin, guint tick_ms);

/* How late the last tick ran, and the worst in the last
 * DESKTOP_LAG_WINDOW_S seconds, in µs. */
gint64 desktop_lag_meter_get_last_us (DesktopLagMeter *meter);
gint64 desktop_lag_meter_get_worst_us (DesktopLagMeter *meter);

#define DESKTOP_LAG_WINDOW_S 2

/* "UI lag 1 ms · worst 412 ms in 2 s"; borrowed, valid until the next change. */
const char *desktop_lag_meter_describe (DesktopLagMeter *meter);
