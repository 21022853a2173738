/* The failure banner (banner.h). */
#include "banner.h"

#define BANNER_LABEL_KEY "desktop-banner-label"

static const char banner_css[] =
  ".desktop-banner { background-color: #c01c28; color: white; padding: 6px 10px; }"
  ".desktop-banner button { color: white; }";

/* Once per display: every banner of every window shares the style. */
static void
install_style (GdkDisplay *display)
{
  static GQuark styled;
  GtkCssProvider *provider;

  if (styled == 0)
    styled = g_quark_from_string ("desktop-banner-styled");
  if (display == NULL || g_object_get_qdata (G_OBJECT (display), styled) != NULL)
    return;
  provider = gtk_css_provider_new ();
#if GTK_CHECK_VERSION(4, 12, 0)
  gtk_css_provider_load_from_string (provider, banner_css);
#else
  gtk_css_provider_load_from_data (provider, banner_css, -1);
#endif
  gtk_style_context_add_provider_for_display (display, GTK_STYLE_PROVIDER (provider),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  g_object_set_qdata_full (G_OBJECT (display), styled, provider, g_object_unref);
}

static void
on_dismiss (GtkButton *button, gpointer banner)
{
  desktop_banner_hide (banner);
}

GtkWidget *
desktop_banner_new (void)
{
  GtkWidget *revealer = gtk_revealer_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *label = gtk_label_new (NULL);
  GtkWidget *dismiss = gtk_button_new_from_icon_name ("window-close-symbolic");

  install_style (gdk_display_get_default ());
  gtk_widget_set_name (revealer, "banner");
  gtk_widget_add_css_class (box, "desktop-banner");
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_selectable (GTK_LABEL (label), TRUE);
  gtk_widget_set_hexpand (label, TRUE);
  gtk_button_set_has_frame (GTK_BUTTON (dismiss), FALSE);
  gtk_widget_set_tooltip_text (dismiss, "Dismiss");
  g_signal_connect_object (dismiss, "clicked", G_CALLBACK (on_dismiss), revealer, 0);
  gtk_box_append (GTK_BOX (box), label);
  gtk_box_append (GTK_BOX (box), dismiss);
  gtk_revealer_set_child (GTK_REVEALER (revealer), box);
  g_object_set_data (G_OBJECT (revealer), BANNER_LABEL_KEY, label);
  return revealer;
}

void
desktop_banner_show (GtkWidget *banner, const char *text)
{
  gtk_label_set_text (g_object_get_data (G_OBJECT (banner), BANNER_LABEL_KEY), text);
  gtk_revealer_set_reveal_child (GTK_REVEALER (banner), TRUE);
}

void
desktop_banner_hide (GtkWidget *banner)
{
  gtk_revealer_set_reveal_child (GTK_REVEALER (banner), FALSE);
}

const char *
desktop_banner_get_text (GtkWidget *banner)
{
  if (!gtk_revealer_get_reveal_child (GTK_REVEALER (banner)))
    return NULL;
  return gtk_label_get_text (g_object_get_data (G_OBJECT (banner), BANNER_LABEL_KEY));
}
