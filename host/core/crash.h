/* The line a fatal signal leaves behind (DESIGN "Lifecycle": a crash). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Installs, once per process, handlers for SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL and SIGABRT that write one line on stderr naming what the
 * faulting thread was running (evbus: SIGSEGV in handler m.segv (plugin
 * m, file /x/m.so) on event tick id 1) and then let the signal kill the
 * process as it would have (exit status 128+N, core dump as configured).
 * Async-signal-safe: write(2) only.  Main thread, before plugins load. */
void evb_crash_report_install (void);

G_END_DECLS
