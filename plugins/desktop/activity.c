/* The request indicator (activity.h). */
#include "activity.h"

struct _DesktopActivity {
  GtkBox parent_instance;
  GtkWidget *spinner;
  GtkWidget *state;
  DesktopTrace trace;
};

G_DEFINE_FINAL_TYPE (DesktopActivity, desktop_activity, GTK_TYPE_BOX)

static void
desktop_activity_class_init (DesktopActivityClass *klass)
{
}

static void
desktop_activity_init (DesktopActivity *self)
{
  gtk_orientable_set_orientation (GTK_ORIENTABLE (self), GTK_ORIENTATION_HORIZONTAL);
  gtk_box_set_spacing (GTK_BOX (self), 6);
  self->spinner = gtk_spinner_new ();
  self->state = gtk_label_new (NULL);
  gtk_widget_add_css_class (self->state, "dim-label");
  gtk_box_append (GTK_BOX (self), self->spinner);
  gtk_box_append (GTK_BOX (self), self->state);
}

GtkWidget *
desktop_activity_new (const char *idle_text)
{
  DesktopActivity *self = g_object_new (DESKTOP_TYPE_ACTIVITY, NULL);

  gtk_label_set_text (GTK_LABEL (self->state), idle_text);
  return GTK_WIDGET (self);
}

void
desktop_activity_begin (DesktopActivity *self, const DesktopTrace *trace)
{
  self->trace = *trace;
  gtk_label_set_text (GTK_LABEL (self->state), "sent");
  gtk_spinner_start (GTK_SPINNER (self->spinner));
}

gboolean
desktop_activity_follow_status (DesktopActivity *self, const EvbEvent *status)
{
  const char *state = json_string_value (json_object_get (status->data, EVB_FIELD_STATE));

  if (state == NULL || !desktop_trace_matches (&self->trace, status))
    return FALSE;
  gtk_label_set_text (GTK_LABEL (self->state), state);
  return TRUE;
}

static const char *
outcome_word (EvbReceiptOutcome outcome)
{
  switch (outcome)
    {
    case EVB_RECEIPT_HANDLED:
    case EVB_RECEIPT_DONE:
      return "completed";
    case EVB_RECEIPT_FAILED:
      return "failed";
    case EVB_RECEIPT_UNHANDLED:
      return "unhandled";
    case EVB_RECEIPT_DROPPED:
      return "dropped";
    case EVB_RECEIPT_REFUSED:
      return "refused";
    case EVB_RECEIPT_CANCELLED:
      return "cancelled";
    }
  return "unknown";
}

void
desktop_activity_end (DesktopActivity *self, const DesktopTrace *trace, const EvbReceipt *receipt)
{
  if (!desktop_trace_equal (&self->trace, trace))
    return;
  gtk_label_set_text (GTK_LABEL (self->state), outcome_word (receipt->outcome));
  gtk_spinner_stop (GTK_SPINNER (self->spinner));
}

const char *
desktop_activity_get_state (DesktopActivity *self)
{
  return gtk_label_get_text (GTK_LABEL (self->state));
}

gboolean
desktop_activity_is_busy (DesktopActivity *self)
{
  return gtk_spinner_get_spinning (GTK_SPINNER (self->spinner));
}
