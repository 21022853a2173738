/* A results window: the items of the last search.results any window's
 * search produced; selecting one fetches it (ui.fetch), editing its price
 * and saving sends an update (ui.update); a button opens another results
 * window.  Its spinner, state word and banner follow its own latest fetch
 * or update by trace.  Main thread. */
#pragma once

#include "desktop-app.h"

#define DESKTOP_TYPE_RESULTS_WINDOW (desktop_results_window_get_type ())
G_DECLARE_FINAL_TYPE (DesktopResultsWindow, desktop_results_window, DESKTOP, RESULTS_WINDOW, GtkWindow)

/* A new window, "Results N", with its routes (owned by it), or NULL with
 * @error. */
GtkWindow *desktop_results_window_new (DesktopApp *app, guint number, GError **error);
