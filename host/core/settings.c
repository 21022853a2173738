/* Bus settings: their defaults, their limits, and the one check of both
 * (bus.h).  The config loader and the harness read settings from JSON
 * through the same table, so a limit and its message live only here. */
#include "bus.h"

#include <stddef.h>
#include <string.h>

/* Counts and durations stay within gint: parts of the host hand them to
 * APIs taking gint (evb_bus_shutdown's grace_ms, for one). */
#define MAX_COUNT ((guint) G_MAXINT)

/* Worker threads at most: far beyond any machine's cores, and low enough
 * that a typo (1000000) is an error rather than a million threads. */
#define MAX_WORKERS 1024

/* Indexed by EvbOverflowPolicy. */
static const char *const overflow_names[] = { "block", "reject", "drop-oldest", NULL };

#define COUNT(field, least, most, what) \
  { #field, EVB_SETTING_COUNT, G_STRUCT_OFFSET (EvbBusSettings, field), least, most, what, NULL }
#define BOOLEAN(field) \
  { #field, EVB_SETTING_BOOLEAN, G_STRUCT_OFFSET (EvbBusSettings, field), 0, 1, NULL, NULL }

/* In the order the config reference lists them. */
static const EvbSettingInfo setting_infos[] = {
  COUNT (workers, 0, MAX_WORKERS, "worker threads"),
  COUNT (inbox_limit, 1, MAX_COUNT, NULL),
  { "overflow", EVB_SETTING_CHOICE, G_STRUCT_OFFSET (EvbBusSettings, overflow), 0,
    G_N_ELEMENTS (overflow_names) - 2, NULL, overflow_names },
  COUNT (inbox_overcommit, 0, MAX_COUNT, NULL),
  COUNT (grace_ms, 0, MAX_COUNT, NULL),
  COUNT (slice_events, 1, MAX_COUNT, NULL),
  BOOLEAN (emit_unhandled),
  BOOLEAN (status_events),
  COUNT (max_event_bytes, 0, MAX_COUNT, NULL),
  COUNT (stall_ms, 0, MAX_COUNT, NULL),
  { NULL, EVB_SETTING_COUNT, 0, 0, 0, NULL, NULL },
};

#undef COUNT
#undef BOOLEAN

void
evb_bus_settings_init (EvbBusSettings *settings)
{
  memset (settings, 0, sizeof *settings);
  settings->workers = 0;
  settings->inbox_limit = 65536;
  settings->overflow = EVB_OVERFLOW_BLOCK;
  settings->inbox_overcommit = 65536;
  settings->grace_ms = 5000;
  settings->slice_events = 256;
  settings->emit_unhandled = FALSE;
  settings->status_events = TRUE;
  settings->max_event_bytes = 1024 * 1024;
  settings->stall_ms = 1000;
}

const EvbSettingInfo *
evb_bus_setting_infos (void)
{
  return setting_infos;
}

const char *
evb_overflow_policy_to_string (EvbOverflowPolicy policy)
{
  if ((guint) policy < G_N_ELEMENTS (overflow_names) - 1)
    return overflow_names[policy];
  return "unknown";
}

gboolean
evb_overflow_policy_from_string (const char *text, EvbOverflowPolicy *policy)
{
  for (guint i = 0; text != NULL && overflow_names[i] != NULL; i++)
    if (strcmp (text, overflow_names[i]) == 0)
      {
        *policy = (EvbOverflowPolicy) i;
        return TRUE;
      }
  return FALSE;
}

char *
evb_count_range_problem (gint64 value, guint least, guint most, const char *what)
{
  if (value < (gint64) least)
    return g_strdup_printf ("expected %s, got %" G_GINT64_FORMAT,
                            least == 0 ? "a non-negative integer" : "a positive integer", value);
  if (value > (gint64) most)
    return what != NULL ? g_strdup_printf ("expected at most %u %s, got %" G_GINT64_FORMAT, most, what, value)
                        : g_strdup_printf ("expected at most %u, got %" G_GINT64_FORMAT, most, value);
  return NULL;
}

static guint
setting_value (const EvbBusSettings *settings, const EvbSettingInfo *info)
{
  return G_STRUCT_MEMBER (guint, settings, info->offset);
}

gboolean
evb_bus_settings_validate (const EvbBusSettings *settings, GError **error)
{
  g_return_val_if_fail (settings != NULL, FALSE);

  for (const EvbSettingInfo *info = setting_infos; info->name != NULL; info++)
    {
      guint value = setting_value (settings, info);
      g_autofree char *problem = NULL;

      /* Booleans and choices are C enums here: only an out-of-range value
       * written by hand can be wrong. */
      if (info->kind == EVB_SETTING_COUNT)
        problem = evb_count_range_problem (value, info->least, info->most, info->what);
      else if (value > info->most)
        problem = g_strdup_printf ("expected at most %u, got %u", info->most, value);
      if (problem != NULL)
        {
          g_set_error (error, EVB_BUS_ERROR, EVB_BUS_ERROR_INVALID_SETTING, "%s: %s", info->name, problem);
          return FALSE;
        }
    }
  return TRUE;
}
