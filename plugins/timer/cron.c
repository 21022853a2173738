/* cron — the parser and the next-fire search.  See cron.h for the rules. */
#include "cron.h"

#include <string.h>

#define MAX_SEARCH_YEARS 9
/* More than any real zone's offset change (Lord Howe: 30 min; DST: 1 h,
 * historically 2 h): how far back in local time a later instant may lie. */
#define MAX_SHIFT_S (3 * 3600)

struct _Cron {
  guint64 minutes;  /* bit N: minute N */
  guint32 hours;
  guint32 days;     /* bits 1..31 */
  guint16 months;   /* bits 1..12 */
  guint8 weekdays;  /* bits 0..6, Sunday 0 */
  gboolean day_star;     /* the day-of-month field begins with "*" */
  gboolean weekday_star; /* the day-of-week field begins with "*" */
  gboolean wild;         /* the minute or the hour field begins with "*" */
};

static GQuark
cron_error_quark (void)
{
  /* Copied, not _static_: GLib keeps quarks after this module is unloaded. */
  return g_quark_from_string ("evbus-cron-error");
}

typedef struct {
  const char *name; /* as messages say it */
  int min;
  int max;
  const char *const *names; /* names for min, min + 1, ...; NULL: numbers only */
  const char *names_hint;
} Field;

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
                                           "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const weekday_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static const Field fields[] = {
  { "minute", 0, 59, NULL, NULL },
  { "hour", 0, 23, NULL, NULL },
  { "day-of-month", 1, 31, NULL, NULL },
  { "month", 1, 12, month_names, " or a month name (jan-dec)" },
  /* 7 is Sunday too, as in Vixie cron. */
  { "day-of-week", 0, 7, weekday_names, " or a day name (sun-sat)" },
};

/* One value of @field: a number or a name.  FALSE with @error. */
static gboolean
parse_value (const Field *field, const char *field_text, const char *text, gsize length, int *value,
             GError **error)
{
  g_autofree char *word = g_strndup (text, length);
  guint64 number;

  if (field->names != NULL)
    for (int i = 0; field->names[i] != NULL; i++)
      if (g_ascii_strcasecmp (word, field->names[i]) == 0)
        {
          *value = field->min + i;
          return TRUE;
        }
  if (length == 0 || strspn (word, "0123456789") != length)
    {
      g_set_error (error, cron_error_quark (), 0, "%s field \"%s\": \"%s\" is not a number%s", field->name,
                   field_text, word, field->names_hint != NULL ? field->names_hint : "");
      return FALSE;
    }
  /* All digits but too many of them: out of range below. */
  if (!g_ascii_string_to_unsigned (word, 10, 0, G_MAXINT, &number, NULL))
    number = G_MAXINT;
  if ((int) number < field->min || (int) number > field->max)
    {
      g_set_error (error, cron_error_quark (), 0, "%s field \"%s\": %s is out of range %d-%d", field->name, field_text,
                   word, field->min, field->max);
      return FALSE;
    }
  *value = (int) number;
  return TRUE;
}

/* One item of a list: "*", N, N-M, with an optional /STEP. */
static gboolean
parse_item (const Field *field, const char *field_text, const char *item, guint64 *bits, GError **error)
{
  const char *slash = strchr (item, '/');
  gsize range_length = slash != NULL ? (gsize) (slash - item) : strlen (item);
  const char *dash = memchr (item, '-', range_length);
  int low = field->min;
  int high = field->max;
  guint64 step = 1;

  if (range_length == 1 && item[0] == '*')
    ;
  else if (dash != NULL)
    {
      if (!parse_value (field, field_text, item, (gsize) (dash - item), &low, error)
          || !parse_value (field, field_text, dash + 1, range_length - (gsize) (dash - item) - 1, &high, error))
        return FALSE;
      if (low > high)
        {
          g_set_error (error, cron_error_quark (), 0, "%s field \"%s\": range %.*s runs backwards", field->name,
                       field_text, (int) range_length, item);
          return FALSE;
        }
    }
  else
    {
      if (!parse_value (field, field_text, item, range_length, &low, error))
        return FALSE;
      high = low;
      if (slash != NULL)
        {
          g_set_error (error, cron_error_quark (), 0,
                       "%s field \"%s\": a step needs a range or * before it (e.g. %d-%d/%s or */%s)", field->name,
                       field_text, low, field->max, slash + 1, slash + 1);
          return FALSE;
        }
    }
  if (slash != NULL
      && (slash[1] == '\0' || !g_ascii_isdigit (slash[1])
          || !g_ascii_string_to_unsigned (slash + 1, 10, 0, G_MAXINT, &step, NULL)))
    {
      g_set_error (error, cron_error_quark (), 0, "%s field \"%s\": step \"%s\" is not a number", field->name,
                   field_text, slash + 1);
      return FALSE;
    }
  if (step == 0)
    {
      g_set_error (error, cron_error_quark (), 0, "%s field \"%s\": a step must be at least 1", field->name,
                   field_text);
      return FALSE;
    }
  for (int value = low; value <= high; value += (int) step)
    *bits |= G_GUINT64_CONSTANT (1) << value;
  return TRUE;
}

static gboolean
parse_field (const Field *field, const char *text, guint64 *bits, GError **error)
{
  g_auto (GStrv) items = g_strsplit (text, ",", -1);

  *bits = 0;
  for (guint i = 0; items[i] != NULL; i++)
    {
      if (*items[i] == '\0')
        {
          g_set_error (error, cron_error_quark (), 0, "%s field \"%s\": empty item in the list", field->name, text);
          return FALSE;
        }
      if (!parse_item (field, text, items[i], bits, error))
        return FALSE;
    }
  return TRUE;
}

static const struct {
  const char *name;
  const char *expansion;
} macros[] = {
  { "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
  { "@weekly", "0 0 * * 0" },  { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
  { "@hourly", "0 * * * *" },
};

static const guint8 days_in_month_table[] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

/* With day-of-week "*", a restricted day of month must exist in some
 * selected month, or the expression never fires (Vixie accepts "0 0 30 2
 * *" and stays silent forever; we say so). */
static gboolean
check_fires (const Cron *cron, const char *day_text, const char *month_text, GError **error)
{
  if (cron->day_star || !cron->weekday_star)
    return TRUE;
  for (int month = 1; month <= 12; month++)
    if (cron->months & (1u << month))
      for (int day = 1; day <= days_in_month_table[month]; day++)
        if (cron->days & (1u << day))
          return TRUE;
  g_set_error (error, cron_error_quark (), 0,
               "day-of-month field \"%s\": no such day in the month field's months (\"%s\"): it would never fire",
               day_text, month_text);
  return FALSE;
}

Cron *
cron_parse (const char *text, GError **error)
{
  g_autofree char *stripped = g_strstrip (g_strdup (text != NULL ? text : ""));
  g_auto (GStrv) parts = NULL;
  g_autoptr (Cron) cron = g_new0 (Cron, 1);
  guint64 bits[G_N_ELEMENTS (fields)];
  guint n_parts = 0;

  if (stripped[0] == '@')
    {
      for (gsize i = 0; i < G_N_ELEMENTS (macros); i++)
        if (g_ascii_strcasecmp (stripped, macros[i].name) == 0)
          return cron_parse (macros[i].expansion, error);
      g_set_error (error, cron_error_quark (), 0, "unknown macro \"%s\" (@yearly, @annually, @monthly, @weekly, "
                   "@daily, @midnight, @hourly)", stripped);
      return NULL;
    }
  parts = g_regex_split_simple ("\\s+", stripped, 0, 0);
  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] != '\0')
      parts[n_parts++] = parts[i];
    else
      g_free (parts[i]);
  parts[n_parts] = NULL;
  if (n_parts != G_N_ELEMENTS (fields))
    {
      g_set_error (error, cron_error_quark (), 0,
                   "expected 5 fields (minute hour day-of-month month day-of-week), got %u", n_parts);
      return NULL;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    if (!parse_field (&fields[i], parts[i], &bits[i], error))
      return NULL;

  cron->minutes = bits[0];
  cron->hours = (guint32) bits[1];
  cron->days = (guint32) bits[2];
  cron->months = (guint16) bits[3];
  /* Sunday is 0 and 7. */
  cron->weekdays = (guint8) ((bits[4] | (bits[4] >> 7)) & 0x7f);
  cron->day_star = parts[2][0] == '*';
  cron->weekday_star = parts[4][0] == '*';
  cron->wild = parts[0][0] == '*' || parts[1][0] == '*';
  if (!check_fires (cron, parts[2], parts[3], error))
    return NULL;
  return g_steal_pointer (&cron);
}

void
cron_free (Cron *cron)
{
  g_free (cron);
}

/* ---- calendar arithmetic on local ("wall") times ------------------------- */

typedef struct {
  int year, month, day, hour, minute;
} Wall;

static gboolean
is_leap (int year)
{
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
days_in_month (int year, int month)
{
  return month == 2 && !is_leap (year) ? 28 : days_in_month_table[month];
}

/* Days since 1970-01-01 (Howard Hinnant's days_from_civil). */
static gint64
days_from_civil (int year, int month, int day)
{
  gint64 y = month <= 2 ? year - 1 : year;
  gint64 era = (y >= 0 ? y : y - 399) / 400;
  gint64 yoe = y - era * 400;
  gint64 doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  gint64 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

  return era * 146097 + doe - 719468;
}

static void
civil_from_days (gint64 days, Wall *wall)
{
  gint64 z = days + 719468;
  gint64 era = (z >= 0 ? z : z - 146096) / 146097;
  gint64 doe = z - era * 146097;
  gint64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  gint64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  gint64 mp = (5 * doy + 2) / 153;

  wall->day = (int) (doy - (153 * mp + 2) / 5 + 1);
  wall->month = (int) (mp < 10 ? mp + 3 : mp - 9);
  wall->year = (int) (yoe + era * 400 + (wall->month <= 2));
}

/* The wall time read as if it were UTC: seconds a local time "is". */
static gint64
wall_seconds (const Wall *wall)
{
  return days_from_civil (wall->year, wall->month, wall->day) * 86400 + wall->hour * 3600 + wall->minute * 60;
}

static void
wall_from_seconds (gint64 seconds, Wall *wall)
{
  gint64 days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
  gint64 rest = seconds - days * 86400;

  civil_from_days (days, wall);
  wall->hour = (int) (rest / 3600);
  wall->minute = (int) (rest % 3600 / 60);
}

static int
weekday (const Wall *wall)
{
  /* 1970-01-01 was a Thursday (4). */
  gint64 days = days_from_civil (wall->year, wall->month, wall->day);

  return (int) (((days % 7) + 11) % 7);
}

static gboolean
day_matches (const Cron *cron, const Wall *wall)
{
  gboolean by_day = (cron->days >> wall->day) & 1;
  gboolean by_weekday = (cron->weekdays >> weekday (wall)) & 1;

  if (cron->day_star || cron->weekday_star)
    return by_day && by_weekday;
  return by_day || by_weekday;
}

static void
next_day (Wall *wall)
{
  wall->hour = 0;
  wall->minute = 0;
  if (++wall->day > days_in_month (wall->year, wall->month))
    {
      wall->day = 1;
      if (++wall->month > 12)
        {
          wall->month = 1;
          wall->year++;
        }
    }
}

/* Moves @wall to the first wall time at or after it that the expression
 * names; FALSE when none comes before @limit_year. */
static gboolean
wall_next (const Cron *cron, Wall *wall, int limit_year)
{
  while (wall->year <= limit_year)
    {
      if (!((cron->months >> wall->month) & 1))
        {
          wall->day = 1, wall->hour = 0, wall->minute = 0;
          if (++wall->month > 12)
            wall->month = 1, wall->year++;
        }
      else if (!day_matches (cron, wall))
        next_day (wall);
      else if (!((cron->hours >> wall->hour) & 1))
        {
          wall->minute = 0;
          if (++wall->hour > 23)
            next_day (wall);
        }
      else if (!((cron->minutes >> wall->minute) & 1))
        {
          if (++wall->minute > 59)
            {
              wall->minute = 0;
              if (++wall->hour > 23)
                next_day (wall);
            }
        }
      else
        return TRUE;
    }
  return FALSE;
}

/* ---- wall times to instants in a zone ------------------------------------ */

static gint64
offset_at (GTimeZone *tz, gint64 instant)
{
  return g_time_zone_get_offset (tz, g_time_zone_find_interval (tz, G_TIME_TYPE_UNIVERSAL, instant));
}

/* The first instant in (@low, @high] whose offset is @offset; the offset
 * at @low is another. */
static gint64
change_instant (GTimeZone *tz, gint64 low, gint64 high, gint64 offset)
{
  while (high - low > 1)
    {
      gint64 middle = low + (high - low) / 2;

      if (offset_at (tz, middle) == offset)
        high = middle;
      else
        low = middle;
    }
  return high;
}

/* The instants (seconds) at which wall time @local fires: none, one, or two
 * (a repeated hour, wild expressions only). */
static guint
fire_instants (const Cron *cron, GTimeZone *tz, gint64 local, gint64 instants[2])
{
  /* Zones change their offset months apart: within a day either side of
   * @local there are at most two offsets. */
  gint64 before = offset_at (tz, local - 86400);
  gint64 after = offset_at (tz, local + 86400);
  guint n = 0;

  if (offset_at (tz, local - before) == before)
    instants[n++] = local - before;
  if (after != before && offset_at (tz, local - after) == after)
    instants[n++] = local - after;
  if (n == 2)
    {
      /* Repeated (the clocks went back): wild expressions fire at both,
       * fixed ones at the first. */
      gint64 first = MIN (instants[0], instants[1]);
      gint64 second = MAX (instants[0], instants[1]);

      instants[0] = first;
      instants[1] = second;
      return cron->wild ? 2 : 1;
    }
  if (n == 0 && !cron->wild)
    {
      /* Skipped (the clocks went forward): fixed times fire as the clocks
       * change. */
      instants[0] = change_instant (tz, local - after, local - before, after);
      n = 1;
    }
  return n;
}

gint64
cron_next (const Cron *cron, GTimeZone *tz, gint64 after_us)
{
  gint64 after = after_us >= 0 ? after_us / G_USEC_PER_SEC : (after_us - G_USEC_PER_SEC + 1) / G_USEC_PER_SEC;
  /* A later instant's wall time may read up to MAX_SHIFT_S earlier. */
  gint64 start = after - MAX_SHIFT_S;
  gint64 start_local = start + offset_at (tz, start);
  gint64 best = G_MAXINT64;
  gint64 best_local = 0;
  gint64 offset = offset_at (tz, after);
  Wall wall;
  int limit_year;

  /* Fast path: no offset change from a day before to two days after, so
   * wall time is a plain shift of real time there. */
  if (offset_at (tz, after - 86400) == offset && offset_at (tz, after + 2 * 86400) == offset)
    {
      gint64 local = after + offset;

      wall_from_seconds (local - local % 60 + 60, &wall);
      if (wall_next (cron, &wall, wall.year + MAX_SEARCH_YEARS)
          && wall_seconds (&wall) - offset <= after + 2 * 86400)
        return (wall_seconds (&wall) - offset) * G_USEC_PER_SEC;
    }

  /* The next whole minute of wall time. */
  wall_from_seconds (start_local - start_local % 60 + (start_local % 60 != 0 ? 60 : 0), &wall);
  limit_year = wall.year + MAX_SEARCH_YEARS;
  while (wall_next (cron, &wall, limit_year))
    {
      gint64 local = wall_seconds (&wall);
      gint64 instants[2];
      guint n;

      /* Wall times this far past the best one cannot fire before it. */
      if (best != G_MAXINT64 && local > best_local + 2 * MAX_SHIFT_S)
        break;
      n = fire_instants (cron, tz, local, instants);
      for (guint i = 0; i < n; i++)
        if (instants[i] > after && instants[i] < best)
          {
            best = instants[i];
            best_local = local;
          }
      wall_from_seconds (local + 60, &wall);
    }
  return best == G_MAXINT64 ? G_MAXINT64 : best * G_USEC_PER_SEC;
}
