/* See fuzz-common.h. */
#include "fuzz-common.h"

#include <stdio.h>
#include <stdlib.h>

/* GLib's own fatal path traps (SIGTRAP), which libFuzzer does not catch:
 * abort() instead, so that the input is saved. */
static GLogWriterOutput
fatal_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  g_log_writer_standard_streams (level, fields, n_fields, user_data);
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    abort ();
  return G_LOG_WRITER_HANDLED;
}

void
fuzz_setup (void)
{
  /* Warnings and criticals are findings: the code under test promises
   * neither on any input (a g_warning in json-doc.c means its scanner
   * disagrees with jansson; a critical is a broken precondition). */
  g_log_set_writer_func (fatal_writer, NULL, NULL);
}

void
fuzz_fail (const char *file, int line, const char *condition, const char *format, ...)
{
  va_list args;

  fprintf (stderr, "%s:%d: check failed: %s: ", file, line, condition);
  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  fputc ('\n', stderr);
  abort ();
}
