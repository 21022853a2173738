/* The application run, waits, widgets and screenshots (desktop-test.h). */
#include "desktop-test.h"

#include <glib/gstdio.h>

#include "trust.h"

DesktopRun *
desktop_run_start (const char *config_name)
{
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *file = g_build_filename (DESKTOP_SOURCE_ROOT, "config", config_name, NULL);
  g_autoptr (GError) error = NULL;
  DesktopRun *run = g_new0 (DesktopRun, 1);
  g_autofree char *db = NULL;

  run->folder = g_dir_make_tmp ("evbus-desktop-XXXXXX", &error);
  if (run->folder == NULL)
    fail_msg ("temporary folder: %s", error->message);
  db = desktop_run_db_path (run);
  g_setenv ("EVBUS_DESKTOP_DB", db, TRUE);
  /* The source tree's permissions are the checkout's business, not this test's. */
  evb_trust_set_enforced (FALSE);
  run->config = evb_pipeline_load_config (file, errors);
  if (run->config == NULL)
    fail_msg ("%s: %s", file, errors->len > 0 ? (char *) g_ptr_array_index (errors, 0) : "?");
  run->bus = evb_bus_new (&run->config->settings, NULL);
  run->route_ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  if (!evb_pipeline_load (run->bus, run->config, run->route_ids, errors))
    fail_msg ("%s: %s", file, errors->len > 0 ? (char *) g_ptr_array_index (errors, 0) : "?");
  WAIT_UNTIL (test_find_window ("desktop-search", 0) != NULL
              && gtk_widget_get_mapped (test_find_window ("desktop-search", 0))
              && test_find_window ("desktop-results", 0) != NULL
              && gtk_widget_get_mapped (test_find_window ("desktop-results", 0)));
  return run;
}

void
desktop_run_stop (DesktopRun *run)
{
  g_autofree char *db = desktop_run_db_path (run);
  g_autofree char *wal = g_strconcat (db, "-wal", NULL);
  g_autofree char *shm = g_strconcat (db, "-shm", NULL);

  evb_bus_shutdown (run->bus, -1);
  evb_bus_free (run->bus);
  g_array_unref (run->route_ids);
  evb_config_free (run->config);
  g_unlink (db);
  g_unlink (wal);
  g_unlink (shm);
  g_rmdir (run->folder);
  g_free (run->folder);
  g_free (run);
  /* Whatever the windows left for the loop (their last frames). */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

char *
desktop_run_db_path (DesktopRun *run)
{
  return g_build_filename (run->folder, "items.sqlite", NULL);
}

guint
desktop_run_count_routes (DesktopRun *run, const char *plugin)
{
  json_t *stats = evb_bus_stats (run->bus);
  json_t *route;
  guint count = 0;
  gsize index;

  json_array_foreach (json_object_get (stats, "routes"), index, route)
    if (g_strcmp0 (json_string_value (json_object_get (route, "plugin")), plugin) == 0)
      count++;
  json_decref (stats);
  return count;
}

static gboolean
wake (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

void
test_iterate (void)
{
  guint id = g_timeout_add (50, wake, NULL);

  g_main_context_iteration (NULL, TRUE);
  g_source_remove (id);
}

GtkWidget *
test_find_window (const char *name, guint nth)
{
  GListModel *windows = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (windows); i++)
    {
      g_autoptr (GtkWidget) window = g_list_model_get_item (windows, i);

      if (g_strcmp0 (gtk_widget_get_name (window), name) == 0 && nth-- == 0)
        return window;
    }
  return NULL;
}

guint
test_count_windows (const char *name)
{
  guint count = 0;

  while (test_find_window (name, count) != NULL)
    count++;
  return count;
}

static GtkWidget *
find_descendant (GtkWidget *root, const char *name)
{
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (g_strcmp0 (gtk_widget_get_name (child), name) == 0)
        return child;
      if ((found = find_descendant (child, name)) != NULL)
        return found;
    }
  return NULL;
}

GtkWidget *
test_find_child (GtkWidget *root, const char *name)
{
  GtkWidget *found = find_descendant (root, name);

  if (found == NULL)
    fail_msg ("no widget named \"%s\" in %s", name, gtk_widget_get_name (root));
  return found;
}

const char *
test_label_text (GtkWidget *root, const char *name)
{
  return gtk_label_get_text (GTK_LABEL (test_find_child (root, name)));
}

guint
test_list_rows (GtkWidget *list)
{
  guint rows = 0;

  while (gtk_list_box_get_row_at_index (GTK_LIST_BOX (list), (int) rows) != NULL)
    rows++;
  return rows;
}

const char *
test_row_label (GtkWidget *list, guint row, guint index)
{
  GtkListBoxRow *list_row = gtk_list_box_get_row_at_index (GTK_LIST_BOX (list), (int) row);
  GtkWidget *label;

  if (list_row == NULL)
    fail_msg ("the list has no row %u", row);
  label = gtk_widget_get_first_child (gtk_list_box_row_get_child (list_row));
  for (guint i = 0; i < index && label != NULL; i++)
    label = gtk_widget_get_next_sibling (label);
  if (label == NULL || !GTK_IS_LABEL (label))
    fail_msg ("row %u has no label %u", row, index);
  return gtk_label_get_text (GTK_LABEL (label));
}

const char *
desktop_banner_text (GtkWidget *window)
{
  GtkWidget *banner = test_find_child (window, "banner");

  if (!gtk_revealer_get_reveal_child (GTK_REVEALER (banner)))
    return NULL;
  return gtk_label_get_text (GTK_LABEL (gtk_widget_get_first_child (gtk_revealer_get_child (GTK_REVEALER (banner)))));
}

static void
count_paint (GdkFrameClock *clock, gpointer data)
{
  (*(guint *) data)++;
}

void
test_wait_drawn (GtkWidget *window)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (window);
  guint paints = 0;
  gulong handler;

  assert_non_null (clock);
  handler = g_signal_connect (clock, "after-paint", G_CALLBACK (count_paint), &paints);
  gtk_widget_queue_draw (window);
  WAIT_UNTIL (paints > 0);
  g_signal_handler_disconnect (clock, handler);
}

#define SHOT_GAP 24

void
test_save_png (GtkWidget *const *windows, guint n_windows, const char *path)
{
  g_autoptr (GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr (GskRenderNode) node = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (windows[0]));
  float width = 0, height = 0;

  for (guint i = 0; i < n_windows; i++)
    {
      width += gtk_widget_get_width (windows[i]) + (i > 0 ? SHOT_GAP : 0);
      height = MAX (height, gtk_widget_get_height (windows[i]));
    }
  gtk_snapshot_append_color (snapshot, &(GdkRGBA) { 0.85f, 0.86f, 0.88f, 1.0f },
                             &GRAPHENE_RECT_INIT (0, 0, width, height));
  for (guint i = 0; i < n_windows; i++)
    {
      g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (windows[i]);

      gdk_paintable_snapshot (paintable, snapshot, gtk_widget_get_width (windows[i]),
                              gtk_widget_get_height (windows[i]));
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (gtk_widget_get_width (windows[i]) + SHOT_GAP, 0));
    }
  node = gtk_snapshot_to_node (snapshot);
  assert_non_null (node);
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (!gdk_texture_save_to_png (texture, path))
    fail_msg ("could not write %s", path);
}
