/* Helpers of the desktop tests: the application run as `evbus run` runs
 * it (the shipped config, the bus on GLib's default main context, where
 * GTK is), waits that iterate that context until a condition holds,
 * widgets found by name, screenshots.
 *
 * Why not the harness: it dispatches on a private GMainContext, and GTK
 * (GDK's X11 source, the frame clock) attaches its sources to the default
 * context, which the harness never iterates.  The test therefore builds
 * the pipeline as host/cli/cli-run.c does. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gtk/gtk.h>

#include "build.h"
#include "xserver.h"

/* Generous: only a broken application ever waits this long. */
#define WAIT_MS 20000

typedef struct {
  EvbConfig *config;
  EvbBus *bus;
  GArray *route_ids;
  char *folder; /* temporary: the database file */
} DesktopRun;

/* Loads config/@config_name (the shipped file) with a fresh database file
 * and runs it up to its windows being shown. */
DesktopRun *desktop_run_start (const char *config_name);
/* Shuts the host down as `evbus run` does at a signal, and frees. */
void desktop_run_stop (DesktopRun *run);
/* Path of the run's database file. */
char *desktop_run_db_path (DesktopRun *run);
/* Routes of instance @plugin now in the bus's table. */
guint desktop_run_count_routes (DesktopRun *run, const char *plugin);

/* Iterates the default context once, waking at least every 50 ms. */
void test_iterate (void);

/* Iterates until @expr holds; fails the test after WAIT_MS. */
#define WAIT_UNTIL(expr)                                                         \
  do {                                                                           \
    gint64 wait_deadline_ = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;   \
    while (!(expr))                                                              \
      {                                                                          \
        if (g_get_monotonic_time () > wait_deadline_)                            \
          fail_msg ("%s:%d: timed out after %d ms waiting for %s", __FILE__, __LINE__, WAIT_MS, #expr); \
        test_iterate ();                                                         \
      }                                                                          \
  } while (0)

/* The @nth (from 0) open window whose widget name is @name, or NULL.
 * Borrowed: GTK holds open windows. */
GtkWidget *test_find_window (const char *name, guint nth);
guint test_count_windows (const char *name);
/* The descendant of @root named @name; fails the test when there is none. */
GtkWidget *test_find_child (GtkWidget *root, const char *name);
const char *test_label_text (GtkWidget *root, const char *name);
/* Rows of a GtkListBox. */
guint test_list_rows (GtkWidget *list);
/* The text of the @index-th label in row @row of a GtkListBox (0: name, 1: price). */
const char *test_row_label (GtkWidget *list, guint row, guint index);

/* The text of @window's failure banner, or NULL while it is hidden. */
const char *desktop_banner_text (GtkWidget *window);

/* Waits until @window has been drawn after everything queued so far. */
void test_wait_drawn (GtkWidget *window);
/* Renders @windows side by side (GtkWidgetPaintable -> GskRenderer) to a
 * PNG at @path. */
void test_save_png (GtkWidget *const *windows, guint n_windows, const char *path);
