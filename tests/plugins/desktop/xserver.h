/* A private X server for GUI tests: Xvfb on a display it picks itself
 * (-displayfd), stopped at the end, and killed with the test if the test
 * dies.  Its messages go to xvfb.log in the test's build folder. */
#pragma once

#include <gio/gio.h>

typedef struct {
  GSubprocess *process;
  char *display; /* ":N" */
} TestXServer;

/* TRUE when Xvfb is on PATH. */
gboolean test_xserver_available (void);

/* Starts Xvfb and sets DISPLAY; FALSE with @error if it does not come up
 * within 10 s. */
gboolean test_xserver_start (TestXServer *server, const char *log_path, GError **error);

void test_xserver_stop (TestXServer *server);
