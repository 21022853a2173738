/* The bad-input matrix, cases.tsv, as both its runners read it:
 * test-bad.c (through `evbus`) and test-bad-harness.c (through the harness).
 * See test-bad.c for the fields and the @...@ replacements. */
#pragma once

#include <glib.h>

typedef struct {
  char *name;
  char *setup;
  char *command;
  int exit_status;
  char *expected; /* unescaped, variables not yet replaced */
  guint line;
} BadCase;

void bad_case_free (gpointer data);

/* Every case of @tsv, in file order (BadCase, freed with the array). */
GPtrArray *bad_cases_read (const char *tsv);

/* What GRegex says of @pattern (for @REGEX(pattern)@).  Caller frees. */
char *bad_cases_regex_error (const char *pattern);

/* "c*n": the character c, n times (for @REPEAT(c*n)@).  Caller frees. */
char *bad_cases_repeat (const char *spec);

/* Replaces each "@NAME(argument)@" of @text by @compute (argument). */
void bad_cases_replace_calls (GString *text, const char *name, char *(*compute) (const char *));
