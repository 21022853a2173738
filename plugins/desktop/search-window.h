/* The search window: a query entry, the count of results of its latest
 * search, a spinner and state word that follow that search's jobs through
 * their status events, and a banner for its failures.  It knows nothing
 * of the results windows nor of the database: it sends ui.search and reads
 * what comes back on its request's trace.  Main thread. */
#pragma once

#include "desktop-app.h"

#define DESKTOP_TYPE_SEARCH_WINDOW (desktop_search_window_get_type ())
G_DECLARE_FINAL_TYPE (DesktopSearchWindow, desktop_search_window, DESKTOP, SEARCH_WINDOW, GtkWindow)

/* A new window with its routes (owned by it), or NULL with @error. */
GtkWindow *desktop_search_window_new (DesktopApp *app, const char *query, GError **error);
