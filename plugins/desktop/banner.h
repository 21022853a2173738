/* The info bar of a window: a red line that shows why the window's latest
 * request failed, with a button to dismiss it.  A GtkRevealer, so that it
 * takes no room while hidden (GtkInfoBar is deprecated from GTK 4.10).
 * Main thread. */
#pragma once

#include <gtk/gtk.h>

GtkWidget *desktop_banner_new (void);
void desktop_banner_show (GtkWidget *banner, const char *text);
void desktop_banner_hide (GtkWidget *banner);
/* The text shown, or NULL while hidden. */
const char *desktop_banner_get_text (GtkWidget *banner);
