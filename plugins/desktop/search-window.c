/* The search window (search-window.h).  Routes, all sync and owned by the
 * window: search.results, evbus.status.> and evbus.failure, each handler
 * taking only events of the window's latest request's trace. */
#include "search-window.h"

#include "activity.h"
#include "banner.h"

struct _DesktopSearchWindow {
  GtkWindow parent_instance;
  DesktopApp *app;
  GtkWidget *entry;
  GtkWidget *count;
  GtkWidget *activity;
  GtkWidget *banner;
  DesktopTrace trace; /* of the latest search */
  char *query;        /* of the latest search */
};

G_DEFINE_FINAL_TYPE (DesktopSearchWindow, desktop_search_window, GTK_TYPE_WINDOW)

static void
desktop_search_window_finalize (GObject *object)
{
  DesktopSearchWindow *self = DESKTOP_SEARCH_WINDOW (object);

  g_free (self->query);
  G_OBJECT_CLASS (desktop_search_window_parent_class)->finalize (object);
}

static void
desktop_search_window_class_init (DesktopSearchWindowClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = desktop_search_window_finalize;
}

static void
desktop_search_window_init (DesktopSearchWindow *self)
{
}

/* ---- what comes back ---------------------------------------------------- */

static EvbResult
on_results (EvbCall *call, const EvbEvent *event)
{
  DesktopSearchWindow *self = call->route_data;
  json_int_t count = json_integer_value (json_object_get (event->data, "count"));
  g_autofree char *text = NULL;

  if (!desktop_trace_matches (&self->trace, event))
    return EVB_CONTINUE;
  text = g_strdup_printf (count == 1 ? "%" JSON_INTEGER_FORMAT " result" : "%" JSON_INTEGER_FORMAT " results", count);
  gtk_label_set_text (GTK_LABEL (self->count), text);
  return EVB_CONTINUE;
}

static EvbResult
on_status (EvbCall *call, const EvbEvent *event)
{
  DesktopSearchWindow *self = call->route_data;

  desktop_activity_follow_status (DESKTOP_ACTIVITY (self->activity), event);
  return EVB_CONTINUE;
}

static EvbResult
on_failure (EvbCall *call, const EvbEvent *event)
{
  DesktopSearchWindow *self = call->route_data;
  g_autofree char *text = NULL;

  if (!desktop_trace_matches (&self->trace, event))
    return EVB_CONTINUE;
  text = desktop_failure_describe (event);
  desktop_banner_show (self->banner, text);
  return EVB_CONTINUE;
}

static void
on_receipt (GObject *owner, const DesktopTrace *trace, const EvbReceipt *receipt)
{
  DesktopSearchWindow *self = DESKTOP_SEARCH_WINDOW (owner);
  g_autofree char *problem = NULL;

  if (!desktop_trace_equal (&self->trace, trace))
    return; /* an older search: the window follows the latest only */
  desktop_activity_end (DESKTOP_ACTIVITY (self->activity), trace, receipt);
  problem = desktop_receipt_describe (DESKTOP_SEARCH_REQUEST, receipt);
  /* A failure event said it better already, with the handler's name. */
  if (problem != NULL && desktop_banner_get_text (self->banner) == NULL)
    desktop_banner_show (self->banner, problem);
  if (receipt->outcome != EVB_RECEIPT_HANDLED && receipt->outcome != EVB_RECEIPT_DONE)
    gtk_label_set_text (GTK_LABEL (self->count), "no results");
}

/* ---- what the user does --------------------------------------------------- */

static void
search (DesktopSearchWindow *self)
{
  const char *query = gtk_editable_get_text (GTK_EDITABLE (self->entry));
  g_autoptr (GError) error = NULL;

  desktop_banner_hide (self->banner);
  g_free (self->query);
  self->query = g_strdup (query);
  gtk_label_set_text (GTK_LABEL (self->count), "searching…");
  if (!desktop_request_send (self->app->plugin, DESKTOP_SEARCH_REQUEST, json_pack ("{s:s}", "query", query),
                             G_OBJECT (self), on_receipt, &self->trace, &error))
    desktop_banner_show (self->banner, error->message);
  desktop_activity_begin (DESKTOP_ACTIVITY (self->activity), &self->trace);
}

static void
on_activate (GtkWidget *widget, gpointer data)
{
  search (data);
}

/* ---- the window ------------------------------------------------------------ */

static GtkWidget *
build_content (DesktopSearchWindow *self, const char *query)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *body = gtk_box_new (GTK_ORIENTATION_VERTICAL, 10);
  GtkWidget *line = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *state = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *button = gtk_button_new_with_mnemonic ("_Search");
  GtkWidget *lag = desktop_app_lag_label_new (self->app);

  self->banner = desktop_banner_new ();
  self->entry = gtk_entry_new ();
  gtk_widget_set_name (self->entry, "query");
  gtk_entry_set_placeholder_text (GTK_ENTRY (self->entry), "Search the catalog, e.g. lamp");
  gtk_editable_set_text (GTK_EDITABLE (self->entry), query);
  gtk_widget_set_hexpand (self->entry, TRUE);
  g_signal_connect_object (self->entry, "activate", G_CALLBACK (on_activate), self, 0);
  gtk_widget_set_name (button, "search-button");
  gtk_widget_add_css_class (button, "suggested-action");
  g_signal_connect_object (button, "clicked", G_CALLBACK (on_activate), self, 0);
  gtk_box_append (GTK_BOX (line), self->entry);
  gtk_box_append (GTK_BOX (line), button);

  self->activity = desktop_activity_new ("idle");
  gtk_widget_set_name (self->activity, "search-activity");
  self->count = gtk_label_new ("no search yet");
  gtk_widget_set_name (self->count, "result-count");
  gtk_widget_set_hexpand (self->count, TRUE);
  gtk_label_set_xalign (GTK_LABEL (self->count), 1);
  gtk_box_append (GTK_BOX (state), self->activity);
  gtk_box_append (GTK_BOX (state), self->count);

  gtk_widget_set_margin_start (body, 12);
  gtk_widget_set_margin_end (body, 12);
  gtk_widget_set_margin_top (body, 12);
  gtk_widget_set_margin_bottom (body, 12);
  gtk_box_append (GTK_BOX (body), line);
  gtk_box_append (GTK_BOX (body), state);
  gtk_box_append (GTK_BOX (body), lag);
  gtk_box_append (GTK_BOX (box), self->banner);
  gtk_box_append (GTK_BOX (box), body);
  return box;
}

GtkWindow *
desktop_search_window_new (DesktopApp *app, const char *query, GError **error)
{
  DesktopSearchWindow *self = g_object_new (DESKTOP_TYPE_SEARCH_WINDOW, NULL);
  EvbPlugin *plugin = app->plugin;
  GObject *owner = G_OBJECT (self);

  self->app = app;
  gtk_widget_set_name (GTK_WIDGET (self), "desktop-search");
  gtk_window_set_title (GTK_WINDOW (self), "evbus — search");
  gtk_window_set_default_size (GTK_WINDOW (self), 440, -1);
  /* Client-side decorations: the same title bar under any window manager, or none. */
  gtk_window_set_titlebar (GTK_WINDOW (self), gtk_header_bar_new ());
  gtk_window_set_child (GTK_WINDOW (self), build_content (self, query));
  if (desktop_subscribe (plugin, owner, DESKTOP_SEARCH_RESULTS, "search-window.results", on_results, error) == 0
      || desktop_subscribe (plugin, owner, EVB_TYPE_STATUS_PREFIX ">", "search-window.status", on_status, error) == 0
      || desktop_subscribe (plugin, owner, EVB_TYPE_FAILURE, "search-window.failure", on_failure, error) == 0)
    {
      /* The routes made so far go with the window. */
      gtk_window_destroy (GTK_WINDOW (self));
      return NULL;
    }
  return GTK_WINDOW (self);
}
