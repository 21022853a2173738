/* cron — five-field cron expressions (Vixie cron's syntax and rules) and
 * their next fire time in a time zone.  Pure: no clock, no I/O.
 *
 * Syntax: "minute hour day-of-month month day-of-week"; each field a list
 * of "*", N, N-M, "*" or N-M followed by /STEP; months also jan..dec,
 * days of the week sun..sat (0 and 7 are Sunday), in any case, in ranges
 * too.  Macros: @yearly (@annually), @monthly, @weekly, @daily
 * (@midnight), @hourly.
 *
 * Vixie's rules kept:
 * - Day of month and day of week: when both fields are restricted (neither
 *   begins with "*"), a day matching either one fires; when either begins
 *   with "*" (a stepped "*" too), a day must match both.
 * - Daylight saving time, for expressions whose minute and hour fields are
 *   both fixed (neither begins with "*"): a time skipped when the clocks go
 *   forward fires at the moment of the change; a time repeated when they
 *   go back fires once, the first time.  Expressions with "*" in their
 *   minute or hour field run on the clock as it reads: a skipped time does
 *   not fire, a repeated one fires each time it comes.
 */
#pragma once

#include <glib.h>

typedef struct _Cron Cron;

/* Parses @text.  NULL with @error saying which field and what is wrong
 * ("minute field \"61\": 61 is out of range 0-59"). */
Cron *cron_parse (const char *text, GError **error);
void cron_free (Cron *cron);

/* The first fire time strictly after @after_us (µs since the epoch), in
 * µs, computed in @tz; G_MAXINT64 when there is none in the next nine
 * years (cron_parse refuses expressions that never fire). */
gint64 cron_next (const Cron *cron, GTimeZone *tz, gint64 after_us);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Cron, cron_free)
