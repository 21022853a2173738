/* A spinner and a state word for a window's latest request: "sent", then
 * the states of its jobs as their evbus.status.* events arrive ("waiting",
 * "executing", "completed", "failed", "cancelling", "cancelled"), then
 * the outcome once its receipt comes ("completed", "failed", "unhandled",
 * "refused", "dropped", "cancelled").  The spinner turns from the send to
 * the receipt.  A sync route makes no jobs, so its requests go from
 * "sent" straight to their outcome.  Main thread. */
#pragma once

#include <gtk/gtk.h>

#include "request.h"

#define DESKTOP_TYPE_ACTIVITY (desktop_activity_get_type ())
G_DECLARE_FINAL_TYPE (DesktopActivity, desktop_activity, DESKTOP, ACTIVITY, GtkBox)

/* @idle_text: the state word before any request ("idle"). */
GtkWidget *desktop_activity_new (const char *idle_text);

/* A request on @trace was sent: follow it from now on. */
void desktop_activity_begin (DesktopActivity *self, const DesktopTrace *trace);

/* Shows @status's state when it belongs to the followed request.  TRUE
 * when it did. */
gboolean desktop_activity_follow_status (DesktopActivity *self, const EvbEvent *status);

/* The receipt of the request on @trace: shows its outcome and stops the
 * spinner, unless a later request is followed by now. */
void desktop_activity_end (DesktopActivity *self, const DesktopTrace *trace, const EvbReceipt *receipt);

const char *desktop_activity_get_state (DesktopActivity *self);
gboolean desktop_activity_is_busy (DesktopActivity *self);
