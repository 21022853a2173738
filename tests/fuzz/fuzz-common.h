/* What every fuzz target shares: libFuzzer's entry points and a fatal
 * GLib log, so that a g_warning() or a failed g_return_if_fail() on some
 * input counts as a crash and leaves a reproducer. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Called once from each target's LLVMFuzzerInitialize. */
void fuzz_setup (void);

/* Aborts with @message (and the location) when @condition is false: a
 * broken promise of the code under test is a finding like a crash. */
#define fuzz_check(condition, ...)                                             \
  do {                                                                         \
    if (!(condition))                                                          \
      fuzz_fail (__FILE__, __LINE__, #condition, __VA_ARGS__);                 \
  } while (0)

G_NORETURN void fuzz_fail (const char *file, int line, const char *condition, const char *format, ...)
  G_GNUC_PRINTF (4, 5);
