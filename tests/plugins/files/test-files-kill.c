/* A real `evbus run` tails a JSON-lines file into file-out (the ledger),
 * is killed with SIGKILL mid-stream, and restarted.  The ledger must hold
 * every input line at least once; the duplicates are one contiguous run
 * of lines (those in flight, or settled but not yet in the state file, at
 * the kill), at most 2 x max_in_flight of them, none more than twice. */
#include "files-test.h"

#include <signal.h>
#include <sys/wait.h>

#define TOTAL 200000
#define MAX_IN_FLIGHT 64

static GPid
start_host (const char *config)
{
  g_autoptr (GError) error = NULL;
  const char *argv[] = { EVBUS_EXE, "run", config, NULL };
  GPid pid = 0;

  g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                 &pid, &error);
  assert_no_error (error);
  return pid;
}

/* The ledger's lines so far, counted from where the last look stopped
 * (file-out only appends), so a look every 5 ms costs what was added. */
typedef struct {
  const char *path;
  goffset read;
  guint lines;
} Ledger;

static guint
ledger_count (Ledger *ledger)
{
  char buffer[65536];
  int fd = open (ledger->path, O_RDONLY);
  gssize got;

  if (fd < 0)
    return ledger->lines;
  while ((got = pread (fd, buffer, sizeof buffer, ledger->read)) > 0)
    {
      for (const char *p = buffer; (p = memchr (p, '\n', (gsize) (buffer + got - p))) != NULL; p++)
        ledger->lines++;
      ledger->read += got;
    }
  close (fd);
  return ledger->lines;
}

typedef struct {
  Ledger *ledger;
  guint lines;
  GMainLoop *loop;
  gboolean timed_out;
} LedgerWait;

static gboolean
ledger_check (gpointer data)
{
  LedgerWait *wait = data;

  if (ledger_count (wait->ledger) >= wait->lines)
    {
      g_main_loop_quit (wait->loop);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
ledger_timeout (gpointer data)
{
  LedgerWait *wait = data;

  wait->timed_out = TRUE;
  g_main_loop_quit (wait->loop);
  return G_SOURCE_REMOVE;
}

/* Waits (the host is another process: its progress is looked at every
 * 5 ms, bounded by WAIT_MS) until the ledger has @lines lines. */
static void
wait_for_ledger (Ledger *ledger, guint lines)
{
  LedgerWait wait = { ledger, lines, g_main_loop_new (NULL, FALSE), FALSE };
  guint check = g_timeout_add (5, ledger_check, &wait);
  guint timeout = g_timeout_add (WAIT_MS * 3, ledger_timeout, &wait);

  g_main_loop_run (wait.loop);
  g_main_loop_unref (wait.loop);
  if (wait.timed_out)
    {
      g_source_remove (check);
      fail_msg ("the ledger has %u lines, waited for %u", ledger_count (ledger), lines);
    }
  g_source_remove (timeout);
}

static void
stop_host (GPid pid, int signal_number, int expected_status)
{
  int status = 0;

  assert_int_equal (kill (pid, signal_number), 0);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  if (signal_number == SIGKILL)
    assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  else
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == expected_status);
  g_spawn_close_pid (pid);
}

static void
test_kill_and_restart (void **state)
{
  g_autofree char *dir = temp_dir_new ();
  g_autofree char *input = g_build_filename (dir, "input.jsonl", NULL);
  g_autofree char *ledger = g_build_filename (dir, "ledger.jsonl", NULL);
  g_autofree char *state_file = g_build_filename (dir, "input.state", NULL);
  g_autofree char *state_tmp = g_build_filename (dir, "input.state.tmp", NULL);
  g_autofree char *config_text = g_strdup_printf (
    "{\"host\": {\"workers\": 2, \"grace_ms\": 2000},\n"
    " \"plugins\": [\n"
    "  {\"name\": \"in\", \"path\": \"%s\", \"config\": {\"path\": \"input.jsonl\", \"format\": \"json\",\n"
    "   \"follow\": true, \"poll_ms\": 10, \"state\": \"input.state\", \"max_in_flight\": %d}},\n"
    "  {\"name\": \"out\", \"path\": \"%s\", \"config\": {\"path\": \"ledger.jsonl\", \"format\": \"data\",\n"
    "   \"fsync\": \"never\"}}],\n"
    " \"routes\": [{\"on\": \"file.line\", \"handler\": \"out.write\"}]}\n",
    FILE_IN_PLUGIN, MAX_IN_FLIGHT, FILE_OUT_PLUGIN);
  g_autofree char *config = write_temp_file (dir, "files.json", config_text);
  g_autofree char *contents = NULL;
  g_autofree guint *times = g_new0 (guint, TOTAL);
  guint first_run_lines, duplicates = 0, torn = 0;
  gint first_dup = -1, last_dup = -1;
  Ledger counted = { ledger, 0, 0 };
  GPid pid;

  append_numbered (input, 0, TOTAL / 2);
  pid = start_host (config);
  wait_for_ledger (&counted, 1000);
  append_numbered (input, TOTAL / 2, TOTAL); /* tailed: the file grows under the host */
  wait_for_ledger (&counted, 20000);
  stop_host (pid, SIGKILL, 0);
  first_run_lines = ledger_count (&counted);
  assert_true (first_run_lines < TOTAL); /* killed mid-stream, not after */

  pid = start_host (config);
  wait_for_ledger (&counted, TOTAL);
  stop_host (pid, SIGTERM, 0);

  contents = read_file_or_fail (ledger);
  /* Walked with memchr, not g_strsplit: ASan's strstr measures the rest of
   * the string at every call, and 200,000 lines made that most of a
   * minute. */
  for (const char *start = contents, *end; *start != '\0'; start = end + 1)
    {
      g_autoptr (json_t) line = NULL;
      json_int_t n;

      end = strchr (start, '\n');
      if (end == NULL)
        end = start + strlen (start) - 1; /* a last line with no newline: the loop ends after it */
      if (*start == '\n')
        continue;
      line = json_loadb (start, (gsize) (end - start) + (*end != '\n'), 0, NULL);
      if (line == NULL)
        {
          torn++; /* a write cut by the kill: file-out keeps it on its own line */
          continue;
        }
      n = json_integer_value (json_object_get (line, "n"));
      assert_true (n >= 0 && n < TOTAL);
      times[n]++;
    }
  assert_true (torn <= 1);
  for (guint n = 0; n < TOTAL; n++)
    {
      if (times[n] == 0)
        fail_msg ("line n=%u is missing from the ledger", n);
      if (times[n] > 2)
        fail_msg ("line n=%u is in the ledger %u times", n, times[n]);
      if (times[n] == 2)
        {
          duplicates++;
          if (first_dup < 0)
            first_dup = (gint) n;
          last_dup = (gint) n;
        }
    }
  g_test_message ("first run: %u lines; duplicates: %u (n %d..%d)", first_run_lines, duplicates, first_dup, last_dup);
  printf ("# first run wrote %u lines before SIGKILL; %u duplicates after the restart (n %d..%d)\n", first_run_lines,
          duplicates, first_dup, last_dup);
  assert_true (duplicates <= 2 * MAX_IN_FLIGHT);
  if (duplicates > 0)
    assert_int_equal (last_dup - first_dup + 1, duplicates); /* one contiguous run */
  g_unlink (state_tmp);
  temp_dir_free (g_steal_pointer (&dir));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_kill_and_restart),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
