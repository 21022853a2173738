/* desktop — the desktop application evbus was made for, in GTK 4: a search
 * window and results windows that know nothing of each other nor of the
 * database, and talk only through the bus.
 *
 * Provides
 *   no handlers: the windows subscribe their own routes at run time, each
 *   owned by its window, so that closing a window removes its routes
 *   sends   ui.search {"query"}, ui.fetch {"id"}, ui.update {"id", "price"},
 *           each on a trace of its own, with a receipt
 *   reads   search.results {"query", "count", "items": [{"id", "name", "price"}]},
 *           fetch.result {"id", "item": {"id", "name", "price", "updated_us"}},
 *           update.done {"id"} (sqlite-store's answers), and evbus.status.*
 *           and evbus.failure of its own requests, matched by trace
 *   option  results_windows  integer  1   results windows opened at start (0 to 16)
 *   option  query            string   ""  text in the search box at start
 *   option  tick_ms          integer  16  period of the lag meter's tick (1 to 1000)
 *
 * Threads: GTK runs on GLib's default main context, which is the one
 * `evbus run` dispatches the bus on: every handler here is a sync route,
 * so widgets are touched on the main thread only, and the windows draw
 * between two events.  A sync route to a slow handler of another plugin
 * therefore freezes them; an async one does not.  The lag meter shows which.
 *
 * The search window holds the host while it is open, so `evbus run
 * --exit-when-idle` ends when the user closes it; closing it closes the
 * results windows too.  At stop every window closes, taking its routes.
 * docs/plugins/desktop.md is the manual.
 */
#include "desktop-app.h"
#include "results-window.h"
#include "search-window.h"

#define DESKTOP_MAX_RESULTS_WINDOWS 16

static GQuark
desktop_error_quark (void)
{
  return g_quark_from_string ("evbus-desktop-error");
}

/* ---- windows ------------------------------------------------------------ */

static void
close_all_windows (DesktopApp *app)
{
  g_autoptr (GPtrArray) windows = g_ptr_array_copy (app->windows, NULL, NULL);

  for (guint i = 0; i < windows->len; i++)
    gtk_window_destroy (g_ptr_array_index (windows, i));
}

static void
on_window_destroy (GtkWidget *window, gpointer data)
{
  DesktopApp *app = data;

  g_ptr_array_remove (app->windows, window);
  if (!DESKTOP_IS_SEARCH_WINDOW (window) || app->stopping)
    return;
  /* The main window closed: the application ends. */
  close_all_windows (app);
  if (app->held)
    {
      app->held = FALSE;
      evb_plugin_release (app->plugin);
    }
}

void
desktop_app_track_window (DesktopApp *app, GtkWindow *window)
{
  g_ptr_array_add (app->windows, window);
  g_signal_connect (window, "destroy", G_CALLBACK (on_window_destroy), app);
}

GtkWindow *
desktop_app_open_results_window (DesktopApp *app, GError **error)
{
  GtkWindow *window = desktop_results_window_new (app, app->results_opened + 1, error);

  if (window == NULL)
    return NULL;
  app->results_opened++;
  desktop_app_track_window (app, window);
  gtk_window_present (window);
  return window;
}

static void
on_lag_changed (DesktopLagMeter *meter, gpointer label)
{
  gtk_label_set_text (label, desktop_lag_meter_describe (meter));
}

GtkWidget *
desktop_app_lag_label_new (DesktopApp *app)
{
  GtkWidget *label = gtk_label_new (desktop_lag_meter_describe (app->meter));

  gtk_widget_set_name (label, "lag");
  gtk_widget_add_css_class (label, "dim-label");
  gtk_widget_add_css_class (label, "numeric");
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  g_signal_connect_object (app->meter, "changed", G_CALLBACK (on_lag_changed), label, 0);
  return label;
}

/* ---- the instance ----------------------------------------------------------- */

static void
app_free (DesktopApp *app)
{
  app->stopping = TRUE;
  close_all_windows (app);
  g_ptr_array_unref (app->windows);
  g_clear_object (&app->meter);
  g_free (app);
}

/* gtk_init_check () once succeeded stays succeeded, even where a later
 * display cannot be opened: the default display says whether there is one. */
static gboolean
open_display (GError **error)
{
  if (!gtk_init_check () || gdk_display_get_default () == NULL)
    {
      const char *x11 = g_getenv ("DISPLAY");
      const char *wayland = g_getenv ("WAYLAND_DISPLAY");

      g_set_error (error, desktop_error_quark (), 0,
                   "cannot open a display (DISPLAY=%s, WAYLAND_DISPLAY=%s): run it in a desktop session, "
                   "or headless under xvfb-run",
                   x11 != NULL ? x11 : "unset", wayland != NULL ? wayland : "unset");
      return FALSE;
    }
  return TRUE;
}

static gboolean
desktop_init (EvbPlugin *plugin, GError **error)
{
  gint64 n_results = evb_plugin_get_int (plugin, "results_windows");
  DesktopApp *app;
  GtkWindow *search;

  /* Checked: the options were checked by the host; the display and the
   * windows are all there is to the rest, and they would show. */
  if (evb_plugin_is_checking (plugin))
    return TRUE;
  if (!open_display (error))
    return FALSE;

  app = g_new0 (DesktopApp, 1);
  app->plugin = plugin;
  app->windows = g_ptr_array_new ();
  app->meter = desktop_lag_meter_new (plugin, (guint) evb_plugin_get_int (plugin, "tick_ms"));

  search = desktop_search_window_new (app, evb_plugin_get_string (plugin, "query"), error);
  if (search == NULL)
    {
      app_free (app);
      return FALSE;
    }
  desktop_app_track_window (app, search);
  for (gint64 i = 0; i < n_results; i++)
    if (desktop_app_open_results_window (app, error) == NULL)
      {
        app_free (app);
        return FALSE;
      }
  /* Last, so that it has the focus. */
  gtk_window_present (search);
  evb_plugin_hold (plugin);
  app->held = TRUE;
  plugin->instance_data = app;
  return TRUE;
}

/* Sources stop now: the windows close (their routes go with them). */
static void
desktop_stop (EvbPlugin *plugin)
{
  DesktopApp *app = plugin->instance_data;

  if (app == NULL) /* only checked: no windows */
    return;
  app->stopping = TRUE;
  close_all_windows (app);
  if (app->held)
    {
      app->held = FALSE;
      evb_plugin_release (plugin);
    }
}

static void
desktop_shutdown (EvbPlugin *plugin)
{
  g_clear_pointer (&plugin->instance_data, app_free);
}

static const EvbHandlerInfo desktop_handlers[] = {
  EVB_HANDLERS_END,
};

static const EvbOptionInfo desktop_options[] = {
  EVB_OPTION_INT_RANGE ("results_windows", "1", 0, DESKTOP_MAX_RESULTS_WINDOWS,
      "Results windows opened at start; each has a button that opens another"),
  EVB_OPTION ("query", EVB_OPTION_STRING, "\"\"", "Text in the search box at start"),
  EVB_OPTION_INT_RANGE ("tick_ms", "16", 1, 1000,
      "Period of the lag meter's tick in milliseconds: each window shows how late it runs"),
  EVB_OPTIONS_END,
};

EVB_PLUGIN_DEFINE_WITH ("desktop", "0.1.0",
                        "GTK 4 search and results windows on the host's main loop, talking only through the bus",
                        desktop_handlers, desktop_options, desktop_init, desktop_shutdown, .stop = desktop_stop);
