/* What the desktop plugin's windows share: the instance, the lag meter,
 * the list of open windows, and the event types of the conversation with
 * the database (sqlite-store's, see docs/plugins/desktop.md).  Main thread. */
#pragma once

#include <evbus/plugin.h>
#include <gtk/gtk.h>

#include "lag-meter.h"

#define DESKTOP_SEARCH_REQUEST "ui.search"
#define DESKTOP_FETCH_REQUEST "ui.fetch"
#define DESKTOP_UPDATE_REQUEST "ui.update"
#define DESKTOP_SEARCH_RESULTS "search.results"
#define DESKTOP_FETCH_RESULT "fetch.result"
#define DESKTOP_UPDATE_DONE "update.done"

typedef struct {
  EvbPlugin *plugin;
  DesktopLagMeter *meter;
  GPtrArray *windows;        /* GtkWindow *, borrowed: each leaves the array when destroyed */
  guint results_opened;      /* results windows opened so far, to number their titles */
  gboolean held;             /* the host is held while the search window is open */
  gboolean stopping;         /* stop has begun: windows go without closing the others */
} DesktopApp;

/* Opens one more results window; NULL with @error when its routes cannot
 * be made. */
GtkWindow *desktop_app_open_results_window (DesktopApp *app, GError **error);

/* Puts @window in the app's list until it is destroyed. */
void desktop_app_track_window (DesktopApp *app, GtkWindow *window);

/* A label that shows the meter's text, kept current while both live. */
GtkWidget *desktop_app_lag_label_new (DesktopApp *app);
