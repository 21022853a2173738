/* The desktop application under a private X server, driven through its
 * widgets: the shipped configs (config/desktop-async.json and
 * desktop-sync.json), the real database plugin (sqlite-store, 400 ms of
 * latency), GTK with the cairo renderer.  Checks what the windows show and
 * which routes the bus has; saves screenshots and the UI lag it measured,
 * async against sync, in the test's build folder.  Skipped (77) only when
 * Xvfb is not installed. */
#include "desktop-test.h"

#include <sqlite3.h>

/* The results window's routes: search.results, fetch.result, update.done,
 * evbus.status.>, evbus.failure. */
#define RESULTS_WINDOW_ROUTES 5
#define LAG_SEARCHES 5
#define LAG_TICK_MS 16

static TestXServer xserver;

/* ---- driving the windows ------------------------------------------------- */

static GtkWidget *
search_window (void)
{
  GtkWidget *window = test_find_window ("desktop-search", 0);

  assert_non_null (window);
  return window;
}

static GtkWidget *
results_window (guint nth)
{
  GtkWidget *window = test_find_window ("desktop-results", nth);

  if (window == NULL)
    fail_msg ("no results window %u", nth);
  return window;
}

static const char *
activity_state (GtkWidget *window, const char *name)
{
  return gtk_label_get_text (GTK_LABEL (gtk_widget_get_last_child (test_find_child (window, name))));
}

static gboolean
activity_busy (GtkWidget *window, const char *name)
{
  return gtk_spinner_get_spinning (GTK_SPINNER (gtk_widget_get_first_child (test_find_child (window, name))));
}

static gboolean
activity_done (GtkWidget *window, const char *name)
{
  return !activity_busy (window, name) && g_strcmp0 (activity_state (window, name), "sent") != 0;
}

/* "clicked" at once: GtkButton's activate plays a press animation first. */
static void
click (GtkWidget *root, const char *name)
{
  g_signal_emit_by_name (test_find_child (root, name), "clicked");
}

/* Types @query into the search window and presses its button; returns
 * once the search's receipt and its results came (in either order: the
 * results are an event of their own, with no part in the receipt). */
static void
search_for (const char *query)
{
  GtkWidget *window = search_window ();

  gtk_editable_set_text (GTK_EDITABLE (test_find_child (window, "query")), query);
  click (window, "search-button");
  assert_string_equal (activity_state (window, "search-activity"), "sent");
  assert_true (activity_busy (window, "search-activity"));
  WAIT_UNTIL (activity_done (window, "search-activity")
              && g_strcmp0 (test_label_text (window, "result-count"), "searching…") != 0);
}

static void
assert_rows (GtkWidget *window, const char *const *names, guint n_names)
{
  GtkWidget *list = test_find_child (window, "results-list");

  assert_int_equal (test_list_rows (list), n_names);
  for (guint i = 0; i < n_names; i++)
    assert_string_equal (test_row_label (list, i, 0), names[i]);
}

/* Every state word the activity showed, with whether its spinner turned. */
typedef struct {
  GString *states;
  GtkWidget *spinner;
} StateLog;

static void
on_state (GObject *label, GParamSpec *pspec, gpointer data)
{
  StateLog *log = data;

  g_string_append_printf (log->states, "%s%s%s", log->states->len > 0 ? " " : "",
                          gtk_label_get_text (GTK_LABEL (label)),
                          gtk_spinner_get_spinning (GTK_SPINNER (log->spinner)) ? "*" : "");
}

static void
delete_item (DesktopRun *run, gint64 id)
{
  g_autofree char *path = desktop_run_db_path (run);
  g_autofree char *sql = g_strdup_printf ("DELETE FROM items WHERE id = %" G_GINT64_FORMAT, id);
  sqlite3 *db = NULL;
  char *message = NULL;

  if (sqlite3_open (path, &db) != SQLITE_OK || sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    fail_msg ("%s: %s", path, message != NULL ? message : sqlite3_errmsg (db));
  assert_int_equal (sqlite3_changes (db), 1);
  sqlite3_close (db);
}

/* ---- tests ------------------------------------------------------------------ */

/* A search goes out, its job's states drive the spinner, its results fill
 * the search window's count and the results window's list. */
static void
test_search_fills_results_window (void **state)
{
  GtkWidget *search = search_window ();
  GtkWidget *activity = test_find_child (search, "search-activity");
  StateLog log = { g_string_new (NULL), gtk_widget_get_first_child (activity) };
  static const char *const lamps[] = { "Desk lamp", "Floor lamp", "Lamp shade" };

  assert_string_equal (activity_state (search, "search-activity"), "idle");
  assert_string_equal (test_label_text (search, "result-count"), "no search yet");
  /* The config's "query" option. */
  assert_string_equal (gtk_editable_get_text (GTK_EDITABLE (test_find_child (search, "query"))), "lamp");
  g_signal_connect (gtk_widget_get_last_child (activity), "notify::label", G_CALLBACK (on_state), &log);

  search_for ("lamp");
  /* "sent" is shown before the spinner starts; the job's states turn it;
   * the receipt stops it on "completed" (already shown: no change). */
  assert_string_equal (log.states->str, "sent waiting* executing* completed*");
  assert_false (activity_busy (search, "search-activity"));
  assert_string_equal (test_label_text (search, "result-count"), "3 results");
  assert_null (desktop_banner_text (search));
  assert_string_equal (test_label_text (results_window (0), "results-summary"), "3 results for “lamp”");
  assert_rows (results_window (0), lamps, G_N_ELEMENTS (lamps));
  assert_string_equal (test_row_label (test_find_child (results_window (0), "results-list"), 0, 1), "24.99");

  g_signal_handlers_disconnect_by_data (gtk_widget_get_last_child (activity), &log);
  g_string_free (log.states, TRUE);
}

/* A second results window gets results too; closing it removes its routes
 * from the bus's table, with nothing else to do. */
static void
test_second_window_and_closing_prunes_routes (void **state)
{
  DesktopRun *run = *state;
  static const char *const desks[] = { "Desk lamp", "Standing desk", "Desk organizer" };
  static const char *const mice[] = { "Mouse", "Mouse pad" };
  guint routes_one = desktop_run_count_routes (run, "ui");
  guint routes_two;

  /* The search window's 3 and the first results window's. */
  assert_int_equal (routes_one, 3 + RESULTS_WINDOW_ROUTES);
  click (results_window (0), "new-results-window");
  WAIT_UNTIL (test_count_windows ("desktop-results") == 2 && gtk_widget_get_mapped (results_window (1)));
  assert_string_equal (gtk_window_get_title (GTK_WINDOW (results_window (1))), "evbus — results 2");
  routes_two = desktop_run_count_routes (run, "ui");
  assert_int_equal (routes_two, routes_one + RESULTS_WINDOW_ROUTES);

  search_for ("desk");
  for (guint i = 0; i < 2; i++)
    {
      WAIT_UNTIL (g_strcmp0 (test_label_text (results_window (i), "results-summary"), "3 results for “desk”") == 0);
      assert_rows (results_window (i), desks, G_N_ELEMENTS (desks));
    }

  gtk_window_close (GTK_WINDOW (results_window (1)));
  WAIT_UNTIL (desktop_run_count_routes (run, "ui") == routes_one);
  assert_int_equal (test_count_windows ("desktop-results"), 1);

  search_for ("mouse");
  WAIT_UNTIL (g_strcmp0 (test_label_text (results_window (0), "results-summary"), "2 results for “mouse”") == 0);
  assert_rows (results_window (0), mice, G_N_ELEMENTS (mice));
  assert_int_equal (desktop_run_count_routes (run, "ui"), routes_one);
}

/* Selecting fetches, saving a price updates it, and an update of an item
 * that went away shows the database's failure in the window's banner. */
static void
test_fetch_update_and_failure (void **state)
{
  DesktopRun *run = *state;
  g_autofree char *shots = g_build_filename (DESKTOP_BUILD_DIR, "results.png", NULL);
  g_autofree char *shot_search = g_build_filename (DESKTOP_BUILD_DIR, "search.png", NULL);
  g_autofree char *shot_both = g_build_filename (DESKTOP_BUILD_DIR, "desktop.png", NULL);
  GtkWidget *results = results_window (0);
  GtkWidget *list = test_find_child (results, "results-list");
  GtkWidget *price = test_find_child (results, "detail-price");

  search_for ("lamp");
  WAIT_UNTIL (test_list_rows (list) == 3);
  assert_false (gtk_widget_get_sensitive (price));

  gtk_list_box_select_row (GTK_LIST_BOX (list), gtk_list_box_get_row_at_index (GTK_LIST_BOX (list), 0));
  WAIT_UNTIL (activity_done (results, "detail-activity"));
  assert_string_equal (activity_state (results, "detail-activity"), "completed");
  assert_string_equal (test_label_text (results, "detail-name"), "Desk lamp");
  assert_true (g_str_has_prefix (test_label_text (results, "detail-info"), "item 1 · updated "));
  assert_true (gtk_widget_get_sensitive (price));
  assert_float_equal (gtk_spin_button_get_value (GTK_SPIN_BUTTON (price)), 24.99, 0.001);

  gtk_spin_button_set_value (GTK_SPIN_BUTTON (price), 30);
  click (results, "detail-save");
  assert_string_equal (activity_state (results, "detail-activity"), "sent");
  WAIT_UNTIL (activity_done (results, "detail-activity"));
  assert_string_equal (activity_state (results, "detail-activity"), "completed");
  assert_string_equal (test_label_text (results, "detail-info"), "saved");
  assert_string_equal (test_row_label (list, 0, 1), "30.00");
  assert_null (desktop_banner_text (results));

  /* Another client deletes the item; this window still shows it. */
  delete_item (run, 1);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (price), 31);
  click (results, "detail-save");
  WAIT_UNTIL (activity_done (results, "detail-activity"));
  assert_string_equal (activity_state (results, "detail-activity"), "failed");
  assert_string_equal (desktop_banner_text (results), "db.update: update of item 1 failed: no such item");
  assert_string_equal (test_label_text (results, "detail-info"), "not saved");
  assert_string_equal (test_row_label (list, 0, 1), "30.00");
  /* Not the search window's request: its banner stays down. */
  assert_null (desktop_banner_text (search_window ()));

  /* The banner slides in: shoot it once it is all there. */
  WAIT_UNTIL (gtk_revealer_get_child_revealed (GTK_REVEALER (test_find_child (results, "banner"))));
  test_wait_drawn (search_window ());
  test_wait_drawn (results);
  test_save_png ((GtkWidget *[]) { search_window () }, 1, shot_search);
  test_save_png ((GtkWidget *[]) { results }, 1, shots);
  test_save_png ((GtkWidget *[]) { search_window (), results }, 2, shot_both);
  assert_true (g_file_test (shots, G_FILE_TEST_IS_REGULAR));
  assert_true (g_file_test (shot_search, G_FILE_TEST_IS_REGULAR));

  /* The banner's button dismisses it. */
  g_signal_emit_by_name (gtk_widget_get_last_child (gtk_revealer_get_child (GTK_REVEALER (
      test_find_child (results, "banner")))), "clicked");
  assert_null (desktop_banner_text (results));
}

/* The search window is the application: closing it closes the results
 * windows, their routes go, and the host is no longer held (`evbus run
 * --exit-when-idle` ends there). */
static void
test_closing_search_window_ends_app (void **state)
{
  DesktopRun *run = *state;

  click (results_window (0), "new-results-window");
  WAIT_UNTIL (test_count_windows ("desktop-results") == 2);
  assert_false (evb_bus_is_idle (run->bus));
  gtk_window_close (GTK_WINDOW (search_window ()));
  WAIT_UNTIL (test_count_windows ("desktop-search") == 0 && test_count_windows ("desktop-results") == 0);
  WAIT_UNTIL (desktop_run_count_routes (run, "ui") == 0);
  WAIT_UNTIL (evb_bus_is_idle (run->bus));
}

/* ---- the UI's lag, async against sync ---------------------------------------- */

typedef struct {
  gint64 last_us;
  GArray *late_us; /* gint64 */
} LagProbe;

/* Static, so that a failed test's teardown can stop the tick. */
static LagProbe lag_probe;
static guint probe_tick;

static gboolean
on_probe_tick (gpointer data)
{
  LagProbe *probe = data;
  gint64 now = g_get_monotonic_time ();

  if (probe->last_us != 0)
    {
      gint64 late = MAX (0, now - probe->last_us - LAG_TICK_MS * 1000);

      g_array_append_val (probe->late_us, late);
    }
  probe->last_us = now;
  return G_SOURCE_CONTINUE;
}

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

/* The worst figure the windows' own lag label shows, in ms. */
static gint64
shown_worst_ms (GtkWidget *window)
{
  const char *text = test_label_text (window, "lag");
  const char *worst = strstr (text, "worst ");

  if (worst == NULL)
    fail_msg ("lag label without a worst figure: %s", text);
  return g_ascii_strtoll (worst + strlen ("worst "), NULL, 10);
}

typedef struct {
  guint ticks;
  double p50_ms, p99_ms, max_ms;
  gint64 shown_worst_ms;
} LagFigures;

/* Runs LAG_SEARCHES searches of 400 ms one after the other while a 16 ms tick on the main loop measures how late it
 * runs; writes the figures to lag-MODE.txt in the build folder. */
static LagFigures
measure_lag (const char *mode)
{
  g_autofree char *path = g_strdup_printf ("%s/lag-%s.txt", DESKTOP_BUILD_DIR, mode);
  g_autofree char *report = NULL;
  LagFigures figures = { 0 };
  gint64 worst_shown = 0;

  /* Let the windows settle: the first frames are not the database's doing. */
  test_wait_drawn (search_window ());
  lag_probe.last_us = 0;
  lag_probe.late_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  probe_tick = g_timeout_add (LAG_TICK_MS, on_probe_tick, &lag_probe);
  for (guint i = 0; i < LAG_SEARCHES; i++)
    {
      search_for (i % 2 == 0 ? "lamp" : "desk");
      assert_string_equal (activity_state (search_window (), "search-activity"), "completed");
      assert_string_equal (test_label_text (search_window (), "result-count"), "3 results");
      worst_shown = MAX (worst_shown, shown_worst_ms (search_window ()));
    }
  g_clear_handle_id (&probe_tick, g_source_remove);

  g_array_sort (lag_probe.late_us, compare_gint64);
  figures.ticks = lag_probe.late_us->len;
  assert_true (figures.ticks > 0);
  figures.p50_ms = g_array_index (lag_probe.late_us, gint64, figures.ticks / 2) / 1000.0;
  figures.p99_ms = g_array_index (lag_probe.late_us, gint64, (figures.ticks * 99 + 99) / 100 - 1) / 1000.0;
  figures.max_ms = g_array_index (lag_probe.late_us, gint64, figures.ticks - 1) / 1000.0;
  figures.shown_worst_ms = worst_shown;
  report = g_strdup_printf ("%s: %u searches of 400 ms, %u ticks of %d ms: lateness p50 %.1f ms, p99 %.1f ms, "
                            "max %.1f ms; the windows showed worst %" G_GINT64_FORMAT " ms\n",
                            mode, LAG_SEARCHES, figures.ticks, LAG_TICK_MS, figures.p50_ms, figures.p99_ms,
                            figures.max_ms, figures.shown_worst_ms);
  printf ("# %s", report);
  g_file_set_contents (path, report, -1, NULL);
  g_clear_pointer (&lag_probe.late_us, g_array_unref);
  return figures;
}

/* Async: the database's 400 ms run on a worker, the UI keeps its frames. */
static void
test_lag_async (void **state)
{
  LagFigures figures = measure_lag ("async");

  /* The issue asks p99 <= 20 ms (measured: single digits); the bound here
   * leaves room for a loaded test machine or a sanitizer, and still fails
   * when the searches hold the loop (then nearly every tick is ~390 ms late). */
  assert_true (figures.p99_ms < 100);
}

/* Sync: each search holds the main loop for its 400 ms; the tick (and the
 * windows' own meter) sees the stall. */
static void
test_lag_sync (void **state)
{
  LagFigures figures = measure_lag ("sync");

  assert_true (figures.max_ms >= 350);
  assert_true (figures.shown_worst_ms >= 350);
}

/* ---- setup ----------------------------------------------------------------- */

static int
start_display (void **state)
{
  g_autofree char *log = g_build_filename (DESKTOP_BUILD_DIR, "xvfb.log", NULL);
  g_autoptr (GError) error = NULL;

  /* Before GTK reads them, in the plugin's init. */
  g_setenv ("GDK_BACKEND", "x11", TRUE);
  g_setenv ("GSK_RENDERER", "cairo", TRUE);
  g_setenv ("GTK_A11Y", "none", TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_unsetenv ("WAYLAND_DISPLAY");
  if (!test_xserver_start (&xserver, log, &error))
    {
      fprintf (stderr, "cannot start Xvfb: %s\n", error->message);
      return -1;
    }
  return 0;
}

static int
start_async (void **state)
{
  *state = desktop_run_start ("desktop-async.json");
  return 0;
}

static int
start_sync (void **state)
{
  *state = desktop_run_start ("desktop-sync.json");
  return 0;
}

/* Also after a failed test, so that the next one starts with no window. */
static int
stop_run (void **state)
{
  g_clear_handle_id (&probe_tick, g_source_remove);
  g_clear_pointer (&lag_probe.late_us, g_array_unref);
  desktop_run_stop (*state);
  return 0;
}

static int
stop_display (void **state)
{
  test_xserver_stop (&xserver);
  return 0;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_search_fills_results_window, start_async, stop_run),
    cmocka_unit_test_setup_teardown (test_second_window_and_closing_prunes_routes, start_async, stop_run),
    cmocka_unit_test_setup_teardown (test_fetch_update_and_failure, start_async, stop_run),
    cmocka_unit_test_setup_teardown (test_closing_search_window_ends_app, start_async, stop_run),
    cmocka_unit_test_setup_teardown (test_lag_async, start_async, stop_run),
    cmocka_unit_test_setup_teardown (test_lag_sync, start_sync, stop_run),
  };

  if (!test_xserver_available ())
    {
      printf ("SKIP: Xvfb is not installed (Debian: apt-get install xvfb), so no display can be started\n");
      return 77;
    }
  return cmocka_run_group_tests (tests, start_display, stop_display);
}
