/* A results window (results-window.h).  Routes, all sync and owned by the
 * window: search.results (every search: the window shows the last one),
 * fetch.result and update.done (its own requests' traces), evbus.status.>
 * and evbus.failure (its own requests' traces). */
#include "results-window.h"

#include "activity.h"
#include "banner.h"

struct _DesktopResultsWindow {
  GtkWindow parent_instance;
  DesktopApp *app;
  GtkWidget *summary;
  GtkWidget *list;
  GArray *item_ids;         /* gint64 per row of @list */
  GPtrArray *price_labels;  /* GtkLabel * per row, borrowed from @list */
  gboolean filling;         /* the list is being refilled: selections are not the user's */
  GtkWidget *detail_name;
  GtkWidget *detail_info;
  GtkWidget *detail_price;
  GtkWidget *detail_save;
  gint64 detail_id;         /* the item shown in the detail pane; 0: none */
  double sent_price;        /* of the latest update */
  GtkWidget *activity;
  GtkWidget *banner;
  DesktopTrace fetch_trace;
  DesktopTrace update_trace;
};

G_DEFINE_FINAL_TYPE (DesktopResultsWindow, desktop_results_window, GTK_TYPE_WINDOW)

static void
desktop_results_window_finalize (GObject *object)
{
  DesktopResultsWindow *self = DESKTOP_RESULTS_WINDOW (object);

  g_array_unref (self->item_ids);
  g_ptr_array_unref (self->price_labels);
  G_OBJECT_CLASS (desktop_results_window_parent_class)->finalize (object);
}

static void
desktop_results_window_class_init (DesktopResultsWindowClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = desktop_results_window_finalize;
}

static void
desktop_results_window_init (DesktopResultsWindow *self)
{
  self->item_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->price_labels = g_ptr_array_new ();
}

static char *
format_price (double price)
{
  return g_strdup_printf ("%.2f", price);
}

static gboolean
is_own (DesktopResultsWindow *self, const EvbEvent *event)
{
  return desktop_trace_matches (&self->fetch_trace, event) || desktop_trace_matches (&self->update_trace, event);
}

/* ---- the list ------------------------------------------------------------ */

static GtkWidget *
item_row_new (DesktopResultsWindow *self, json_t *item)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *name = gtk_label_new (json_string_value (json_object_get (item, "name")));
  g_autofree char *price_text = format_price (json_number_value (json_object_get (item, "price")));
  GtkWidget *price = gtk_label_new (price_text);

  gtk_widget_set_margin_start (row, 8);
  gtk_widget_set_margin_end (row, 8);
  gtk_widget_set_margin_top (row, 4);
  gtk_widget_set_margin_bottom (row, 4);
  gtk_label_set_xalign (GTK_LABEL (name), 0);
  gtk_widget_set_hexpand (name, TRUE);
  gtk_widget_add_css_class (price, "numeric");
  gtk_box_append (GTK_BOX (row), name);
  gtk_box_append (GTK_BOX (row), price);
  g_ptr_array_add (self->price_labels, price);
  return row;
}

static void
fill_list (DesktopResultsWindow *self, json_t *items)
{
  GtkWidget *child;
  json_t *item;
  gsize index;

  self->filling = TRUE;
  while ((child = gtk_widget_get_first_child (self->list)) != NULL)
    gtk_list_box_remove (GTK_LIST_BOX (self->list), child);
  g_array_set_size (self->item_ids, 0);
  g_ptr_array_set_size (self->price_labels, 0);
  json_array_foreach (items, index, item)
    {
      gint64 id = json_integer_value (json_object_get (item, "id"));

      g_array_append_val (self->item_ids, id);
      gtk_list_box_append (GTK_LIST_BOX (self->list), item_row_new (self, item));
    }
  self->filling = FALSE;
}

static EvbResult
on_results (EvbCall *call, const EvbEvent *event)
{
  DesktopResultsWindow *self = call->route_data;
  json_t *items = json_object_get (event->data, "items");
  const char *query = json_string_value (json_object_get (event->data, "query"));
  g_autofree char *summary = NULL;

  summary = g_strdup_printf ("%zu %s for “%s”", json_array_size (items),
                             json_array_size (items) == 1 ? "result" : "results", query != NULL ? query : "");
  gtk_label_set_text (GTK_LABEL (self->summary), summary);
  fill_list (self, items);
  return EVB_CONTINUE;
}

/* ---- the detail pane -------------------------------------------------------- */

static void on_receipt (GObject *owner, const DesktopTrace *trace, const EvbReceipt *receipt);

static void
send_request (DesktopResultsWindow *self, const char *type, json_t *data, DesktopTrace *trace)
{
  g_autoptr (GError) error = NULL;

  desktop_banner_hide (self->banner);
  if (!desktop_request_send (self->app->plugin, type, data, G_OBJECT (self), on_receipt, trace, &error))
    desktop_banner_show (self->banner, error->message);
  desktop_activity_begin (DESKTOP_ACTIVITY (self->activity), trace);
}

static void
on_row_selected (GtkListBox *list, GtkListBoxRow *row, gpointer data)
{
  DesktopResultsWindow *self = data;
  gint64 id;

  if (row == NULL || self->filling)
    return;
  id = g_array_index (self->item_ids, gint64, gtk_list_box_row_get_index (row));
  gtk_label_set_text (GTK_LABEL (self->detail_info), "loading…");
  send_request (self, DESKTOP_FETCH_REQUEST, json_pack ("{s:I}", "id", (json_int_t) id), &self->fetch_trace);
}

static EvbResult
on_fetched (EvbCall *call, const EvbEvent *event)
{
  DesktopResultsWindow *self = call->route_data;
  json_t *item = json_object_get (event->data, "item");
  gint64 updated_us = json_integer_value (json_object_get (item, "updated_us"));
  g_autoptr (GDateTime) updated = g_date_time_new_from_unix_local (updated_us / G_USEC_PER_SEC);
  g_autofree char *when = updated != NULL ? g_date_time_format (updated, "%H:%M:%S") : g_strdup ("?");
  g_autofree char *info = NULL;

  if (!desktop_trace_matches (&self->fetch_trace, event))
    return EVB_CONTINUE;
  self->detail_id = json_integer_value (json_object_get (item, "id"));
  info = g_strdup_printf ("item %" G_GINT64_FORMAT " · updated %s", self->detail_id, when);
  gtk_label_set_text (GTK_LABEL (self->detail_name), json_string_value (json_object_get (item, "name")));
  gtk_label_set_text (GTK_LABEL (self->detail_info), info);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (self->detail_price), json_number_value (json_object_get (item, "price")));
  gtk_widget_set_sensitive (self->detail_price, TRUE);
  gtk_widget_set_sensitive (self->detail_save, TRUE);
  return EVB_CONTINUE;
}

static void
on_save (GtkWidget *widget, gpointer data)
{
  DesktopResultsWindow *self = data;
  double price;

  if (self->detail_id == 0)
    return;
  gtk_spin_button_update (GTK_SPIN_BUTTON (self->detail_price));
  price = gtk_spin_button_get_value (GTK_SPIN_BUTTON (self->detail_price));
  self->sent_price = price;
  send_request (self, DESKTOP_UPDATE_REQUEST,
                json_pack ("{s:I, s:f}", "id", (json_int_t) self->detail_id, "price", price), &self->update_trace);
}

static EvbResult
on_updated (EvbCall *call, const EvbEvent *event)
{
  DesktopResultsWindow *self = call->route_data;
  gint64 id = json_integer_value (json_object_get (event->data, "id"));
  g_autofree char *price_text = format_price (self->sent_price);

  if (!desktop_trace_matches (&self->update_trace, event))
    return EVB_CONTINUE;
  for (guint i = 0; i < self->item_ids->len; i++)
    if (g_array_index (self->item_ids, gint64, i) == id)
      gtk_label_set_text (g_ptr_array_index (self->price_labels, i), price_text);
  gtk_label_set_text (GTK_LABEL (self->detail_info), "saved");
  return EVB_CONTINUE;
}

/* ---- status, failures, receipts ----------------------------------------------- */

static EvbResult
on_status (EvbCall *call, const EvbEvent *event)
{
  DesktopResultsWindow *self = call->route_data;

  desktop_activity_follow_status (DESKTOP_ACTIVITY (self->activity), event);
  return EVB_CONTINUE;
}

static EvbResult
on_failure (EvbCall *call, const EvbEvent *event)
{
  DesktopResultsWindow *self = call->route_data;
  g_autofree char *text = NULL;

  if (!is_own (self, event))
    return EVB_CONTINUE;
  text = desktop_failure_describe (event);
  desktop_banner_show (self->banner, text);
  return EVB_CONTINUE;
}

static void
on_receipt (GObject *owner, const DesktopTrace *trace, const EvbReceipt *receipt)
{
  DesktopResultsWindow *self = DESKTOP_RESULTS_WINDOW (owner);
  gboolean is_fetch = desktop_trace_equal (trace, &self->fetch_trace);
  g_autofree char *problem = NULL;

  if (!is_fetch && !desktop_trace_equal (trace, &self->update_trace))
    return; /* superseded by a later request of the same kind */
  desktop_activity_end (DESKTOP_ACTIVITY (self->activity), trace, receipt);
  problem = desktop_receipt_describe (is_fetch ? DESKTOP_FETCH_REQUEST : DESKTOP_UPDATE_REQUEST, receipt);
  if (problem == NULL)
    return;
  if (desktop_banner_get_text (self->banner) == NULL)
    desktop_banner_show (self->banner, problem);
  gtk_label_set_text (GTK_LABEL (self->detail_info), is_fetch ? "not loaded" : "not saved");
}

/* ---- the window --------------------------------------------------------------- */

static void
on_new_window (GtkWidget *button, gpointer data)
{
  DesktopResultsWindow *self = data;
  g_autoptr (GError) error = NULL;
  GtkWindow *window = desktop_app_open_results_window (self->app, &error);

  if (window == NULL)
    desktop_banner_show (self->banner, error->message);
}

static GtkWidget *
build_detail (DesktopResultsWindow *self)
{
  GtkWidget *grid = gtk_grid_new ();
  GtkWidget *price_label = gtk_label_new_with_mnemonic ("_Price");

  self->detail_name = gtk_label_new ("Select an item");
  gtk_widget_set_name (self->detail_name, "detail-name");
  gtk_widget_add_css_class (self->detail_name, "heading");
  gtk_label_set_xalign (GTK_LABEL (self->detail_name), 0);
  self->detail_info = gtk_label_new ("");
  gtk_widget_set_name (self->detail_info, "detail-info");
  gtk_widget_add_css_class (self->detail_info, "dim-label");
  gtk_label_set_xalign (GTK_LABEL (self->detail_info), 0);
  self->detail_price = gtk_spin_button_new_with_range (0, 1000000, 0.5);
  gtk_widget_set_name (self->detail_price, "detail-price");
  gtk_spin_button_set_digits (GTK_SPIN_BUTTON (self->detail_price), 2);
  gtk_label_set_mnemonic_widget (GTK_LABEL (price_label), self->detail_price);
  /* Enter in the price saves it (GtkSpinButton has no "activate" of its own before GTK 4.14). */
  g_signal_connect_object (gtk_editable_get_delegate (GTK_EDITABLE (self->detail_price)), "activate",
                           G_CALLBACK (on_save), self, 0);
  self->detail_save = gtk_button_new_with_mnemonic ("_Save price");
  gtk_widget_set_name (self->detail_save, "detail-save");
  g_signal_connect_object (self->detail_save, "clicked", G_CALLBACK (on_save), self, 0);
  gtk_widget_set_sensitive (self->detail_price, FALSE);
  gtk_widget_set_sensitive (self->detail_save, FALSE);
  self->activity = desktop_activity_new ("idle");
  gtk_widget_set_name (self->activity, "detail-activity");

  gtk_grid_set_row_spacing (GTK_GRID (grid), 6);
  gtk_grid_set_column_spacing (GTK_GRID (grid), 8);
  gtk_grid_attach (GTK_GRID (grid), self->detail_name, 0, 0, 3, 1);
  gtk_grid_attach (GTK_GRID (grid), self->detail_info, 0, 1, 3, 1);
  gtk_grid_attach (GTK_GRID (grid), price_label, 0, 2, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), self->detail_price, 1, 2, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), self->detail_save, 2, 2, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), self->activity, 0, 3, 3, 1);
  return grid;
}

static GtkWidget *
build_content (DesktopResultsWindow *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *body = gtk_box_new (GTK_ORIENTATION_VERTICAL, 10);
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkWidget *top = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *new_window = gtk_button_new_with_mnemonic ("_New results window");

  self->banner = desktop_banner_new ();
  self->summary = gtk_label_new ("no search yet");
  gtk_widget_set_name (self->summary, "results-summary");
  gtk_label_set_xalign (GTK_LABEL (self->summary), 0);
  gtk_widget_set_hexpand (self->summary, TRUE);
  gtk_widget_set_name (new_window, "new-results-window");
  g_signal_connect_object (new_window, "clicked", G_CALLBACK (on_new_window), self, 0);
  gtk_box_append (GTK_BOX (top), self->summary);
  gtk_box_append (GTK_BOX (top), new_window);

  self->list = gtk_list_box_new ();
  gtk_widget_set_name (self->list, "results-list");
  gtk_widget_add_css_class (self->list, "boxed-list");
  gtk_list_box_set_selection_mode (GTK_LIST_BOX (self->list), GTK_SELECTION_SINGLE);
  g_signal_connect_object (self->list, "row-selected", G_CALLBACK (on_row_selected), self, 0);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), self->list);
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scrolled), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
  gtk_widget_set_vexpand (scrolled, TRUE);
  gtk_widget_set_size_request (scrolled, -1, 200);

  gtk_widget_set_margin_start (body, 12);
  gtk_widget_set_margin_end (body, 12);
  gtk_widget_set_margin_top (body, 12);
  gtk_widget_set_margin_bottom (body, 12);
  gtk_box_append (GTK_BOX (body), top);
  gtk_box_append (GTK_BOX (body), scrolled);
  gtk_box_append (GTK_BOX (body), build_detail (self));
  gtk_box_append (GTK_BOX (body), desktop_app_lag_label_new (self->app));
  gtk_box_append (GTK_BOX (box), self->banner);
  gtk_box_append (GTK_BOX (box), body);
  return box;
}

GtkWindow *
desktop_results_window_new (DesktopApp *app, guint number, GError **error)
{
  DesktopResultsWindow *self = g_object_new (DESKTOP_TYPE_RESULTS_WINDOW, NULL);
  g_autofree char *title = g_strdup_printf ("evbus — results %u", number);
  EvbPlugin *plugin = app->plugin;
  GObject *owner = G_OBJECT (self);

  self->app = app;
  gtk_widget_set_name (GTK_WIDGET (self), "desktop-results");
  gtk_window_set_title (GTK_WINDOW (self), title);
  gtk_window_set_default_size (GTK_WINDOW (self), 440, 560);
  /* Client-side decorations: the same title bar under any window manager, or none. */
  gtk_window_set_titlebar (GTK_WINDOW (self), gtk_header_bar_new ());
  gtk_window_set_child (GTK_WINDOW (self), build_content (self));
  if (desktop_subscribe (plugin, owner, DESKTOP_SEARCH_RESULTS, "results-window.results", on_results, error) == 0
      || desktop_subscribe (plugin, owner, DESKTOP_FETCH_RESULT, "results-window.fetched", on_fetched, error) == 0
      || desktop_subscribe (plugin, owner, DESKTOP_UPDATE_DONE, "results-window.updated", on_updated, error) == 0
      || desktop_subscribe (plugin, owner, EVB_TYPE_STATUS_PREFIX ">", "results-window.status", on_status, error) == 0
      || desktop_subscribe (plugin, owner, EVB_TYPE_FAILURE, "results-window.failure", on_failure, error) == 0)
    {
      gtk_window_destroy (GTK_WINDOW (self));
      return NULL;
    }
  return GTK_WINDOW (self);
}
