/* The process_* metrics every Prometheus client library exports, with
 * their standard names and meanings, read from /proc/self (Linux):
 * open and maximum file descriptors, resident memory, CPU seconds and
 * the start time in seconds since the epoch.  A figure that cannot be
 * read is left out rather than made up. */
#include "dashboard-private.h"

#include <dirent.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void
gauge (GString *out, const char *name, const char *type, const char *help, double value)
{
  char text[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, type, name,
                          g_ascii_dtostr (text, sizeof text, value));
}

static gint64
count_open_fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *entry;
  gint64 count = 0;

  if (dir == NULL)
    return -1;
  while ((entry = readdir (dir)) != NULL)
    if (entry->d_name[0] != '.')
      count++;
  closedir (dir);
  return count - 1; /* the directory's own */
}

/* Seconds since the epoch at which the system booted (/proc/stat btime). */
static gint64
boot_time (void)
{
  g_autofree char *text = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/stat", &text, NULL, NULL))
    return -1;
  line = strstr (text, "\nbtime ");
  return line != NULL ? g_ascii_strtoll (line + strlen ("\nbtime "), NULL, 10) : -1;
}

void
dash_process_metrics (GString *out)
{
  g_autofree char *stat = NULL;
  struct rlimit limit;
  gint64 fds = count_open_fds ();
  double ticks = (double) sysconf (_SC_CLK_TCK);
  long page = sysconf (_SC_PAGESIZE);
  const char *after_name;

  if (fds >= 0)
    gauge (out, "process_open_fds", "gauge", "Number of open file descriptors.", (double) fds);
  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    gauge (out, "process_max_fds", "gauge", "Maximum number of open file descriptors.", (double) limit.rlim_cur);

  /* /proc/self/stat: "pid (comm) state ppid ...": comm may hold spaces
   * and parentheses, so fields are counted from the last ')'. */
  if (!g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL) || (after_name = strrchr (stat, ')')) == NULL
      || ticks <= 0 || page <= 0)
    return;
  {
    g_auto (GStrv) fields = g_strsplit (after_name + 2, " ", 0);
    gint64 boot = boot_time ();

    /* After comm: field 3 (state) is fields[0]; utime is 14, stime 15,
     * starttime 22, rss 24 (proc(5)). */
    if (g_strv_length (fields) < 22)
      return;
    gauge (out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
           (double) (g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10)) / ticks);
    gauge (out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           (double) g_ascii_strtoll (fields[21], NULL, 10) * (double) page);
    if (boot >= 0)
      gauge (out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
             (double) boot + (double) g_ascii_strtoull (fields[19], NULL, 10) / ticks);
  }
}
