/* `evbus check` acts on nothing (DESIGN "Stock plugins"): run as an
 * operator runs it, beside a host that holds the config's port, in a
 * folder where the config's database, state file, outputs and the file a
 * source command would touch are all missing.  Check must pass (exit 0)
 * and leave the folder as it found it; a bad SQL statement is still
 * reported with its statement's name; a plugin built against ABI 1.0
 * still loads.
 *
 * The stock plugins come from the build tree (EVB_TEST_STOCK_PATH). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "child-or-fail.h"
#include "temp-dir.h"

typedef struct {
  char *out;
  char *err;
  int status; /* exit code, or 128 + signal */
} Result;

static void
result_clear (Result *result)
{
  g_clear_pointer (&result->out, g_free);
  g_clear_pointer (&result->err, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Result, result_clear)

/* `evbus check config.json` in @dir, with @extra_env ("NAME=value",
 * NULL-terminated, or NULL) on top of the stock plugins' path. */
static void
run_check (Result *result, const char *dir, const char *config, const char *const *extra_env)
{
  const char *argv[] = { EVB_TEST_EVBUS, "check", config, NULL };
  g_auto (GStrv) env = test_child_environ ();
  g_autoptr (GError) error = NULL;
  int wait_status;

  env = g_environ_setenv (env, "EVBUS_PLUGIN_PATH", EVB_TEST_STOCK_PATH, TRUE);
  for (guint i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
    {
      const char *eq = strchr (extra_env[i], '=');
      g_autofree char *name = g_strndup (extra_env[i], eq - extra_env[i]);

      env = g_environ_setenv (env, name, eq + 1, TRUE);
    }
  memset (result, 0, sizeof *result);
  if (!g_spawn_sync (dir, (char **) argv, env, G_SPAWN_DEFAULT, NULL, NULL, &result->out, &result->err, &wait_status,
                     &error))
    fail_msg ("cannot run %s: %s", EVB_TEST_EVBUS, error->message);
  result->status = test_child_status_of (wait_status);
}

static void
assert_result (Result *result, int status, const char *out, const char *err)
{
  /* Output first: when the status is wrong, what it said tells why. */
  assert_string_equal (result->err, err);
  assert_string_equal (result->out, out);
  assert_int_equal (result->status, status);
}

/* A listening socket on a loopback port, as a running host holds it. */
static GSocket *
hold_port (guint *port)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);

  if (socket == NULL || !g_socket_bind (socket, any_port, FALSE, &error) || !g_socket_listen (socket, &error))
    fail_msg ("cannot hold a port: %s", error->message);
  bound = g_socket_get_local_address (socket, &error);
  assert_non_null (bound);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  return socket;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* The names in @dir, sorted, space-separated. */
static char *
dir_names (const char *dir)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GDir *listing = g_dir_open (dir, 0, NULL);
  const char *name;

  assert_non_null (listing);
  while ((name = g_dir_read_name (listing)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_dir_close (listing);
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static char *
temp_dir_with_config (const char *config)
{
  g_autoptr (GError) error = NULL;
  char *dir = temp_dir_new_with_file ("evbus-check-XXXXXX", "config.json", config, &error);

  if (dir == NULL)
    fail_msg ("cannot make a folder: %s", error->message);
  return dir;
}

static void
make_folder (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  assert_int_equal (g_mkdir (path, 0755), 0);
}

/* Every stock plugin whose init acts on the world (and one built for
 * ABI 1.0), each pointed at something missing or taken. */
static void
test_check_acts_on_nothing (G_GNUC_UNUSED void **state)
{
  guint port;
  g_autoptr (GSocket) held = hold_port (&port);
  g_autofree char *config = g_strdup_printf (
    "{\"plugins\": [\n"
    " {\"name\": \"inbox\", \"path\": \"file-in\", \"config\": {\"path\": \"inbox/*.jsonl\", \"follow\": true, "
    "\"state\": \"inbox.state\"}},\n"
    " {\"name\": \"first\", \"path\": \"file-in\", \"config\": {\"path\": \"events.jsonl\", \"state\": \"first.state\"}},\n"
    " {\"name\": \"out\", \"path\": \"file-out\", \"config\": {\"path\": \"out/{type}.jsonl\", \"fsync\": \"batch\"}},\n"
    " {\"name\": \"db\", \"path\": \"sql\", \"config\": {\"path\": \"orders.db\", \"migrations\": [\"CREATE TABLE t (a)\"], "
    "\"statements\": {\"save\": {\"sql\": \"INSERT INTO t (a) VALUES (:a)\"}}}},\n"
    " {\"name\": \"store\", \"path\": \"sqlite-store\", \"config\": {\"path\": \"store.db\"}},\n"
    " {\"name\": \"print\", \"path\": \"console\", \"config\": {\"path\": \"console.txt\"}},\n"
    " {\"name\": \"again\", \"path\": \"replay\", \"config\": {\"path\": \"events.jsonl\"}},\n"
    " {\"name\": \"dash\", \"path\": \"dashboard\", \"config\": {\"listen\": \"127.0.0.1:%u\"}},\n"
    " {\"name\": \"api\", \"path\": \"http-in\", \"config\": {\"listen\": \"127.0.0.1:%u\"}},\n"
    " {\"name\": \"tick\", \"path\": \"timer\", \"config\": {\"interval_ms\": 1}},\n"
    " {\"name\": \"source\", \"path\": \"exec\", \"config\": {\"mode\": \"source\", \"command\": [\"touch\", \"started\"]}},\n"
    " {\"name\": \"old\", \"path\": \"%s\"}\n"
    "],\n"
    "\"routes\": [\n"
    " {\"on\": \"order.placed\", \"handler\": \"db.run\", \"mode\": \"async\", \"params\": {\"statement\": \"save\"}},\n"
    " {\"on\": \"order.placed\", \"handler\": \"out.write\"}\n"
    "]}\n",
    port, port, EVB_TEST_ABI_1_0_PLUGIN);
  g_autofree char *dir = temp_dir_with_config (config);
  g_autofree char *events = g_build_filename (dir, "events.jsonl", NULL);
  g_autofree char *names = NULL;
  g_auto (Result) result = { 0 };

  make_folder (dir, "inbox");
  assert_true (g_file_set_contents (events, "{\"type\": \"order.placed\", \"data\": {\"a\": 1}}\n", -1, NULL));

  run_check (&result, dir, "config.json", NULL);
  assert_result (&result, 0, "config.json: ok: 12 plugins, 2 routes\n", "");
  names = dir_names (dir);
  assert_string_equal (names, "config.json events.jsonl inbox");
  g_clear_pointer (&names, g_free);
  {
    g_autofree char *inbox = g_build_filename (dir, "inbox", NULL);

    names = dir_names (inbox);
    assert_string_equal (names, "");
  }
  temp_dir_remove (dir);
}

/* The orders demo (config/orders.json) as its operator checks it while it
 * runs: the dashboard's port is taken, and nothing of its outputs exists. */
static void
test_check_orders_beside_its_host (G_GNUC_UNUSED void **state)
{
  guint port;
  g_autoptr (GSocket) held = hold_port (&port);
  g_autofree char *dir = temp_dir_with_config ("{}");
  g_autofree char *orders_dir = g_strdup_printf ("EVBUS_ORDERS_DIR=%s", dir);
  g_autofree char *dashboard = g_strdup_printf ("EVBUS_ORDERS_DASHBOARD=127.0.0.1:%u", port);
  const char *env[] = { orders_dir, dashboard, NULL };
  g_autofree char *names = NULL;
  g_auto (Result) result = { 0 };

  make_folder (dir, "inbox");
  run_check (&result, dir, EVB_TEST_ORDERS_CONFIG, env);
  assert_int_equal (result.status, 0);
  assert_string_equal (result.err, "");
  assert_true (g_str_has_prefix (result.out, EVB_TEST_ORDERS_CONFIG ": ok: "));
  names = dir_names (dir);
  assert_string_equal (names, "config.json inbox");
  temp_dir_remove (dir);
}

/* A bad statement is still a load error naming it, and the database is
 * still not made. */
static void
test_check_reports_bad_sql (G_GNUC_UNUSED void **state)
{
  g_autofree char *dir = temp_dir_with_config (
    "{\"plugins\": [\n"
    "  {\"name\": \"db\", \"path\": \"sql\", \"config\": {\"path\": \"orders.db\",\n"
    "   \"migrations\": [\"CREATE TABLE items (id INTEGER PRIMARY KEY)\"],\n"
    "   \"statements\": {\"fetch\": {\"sql\": \"SELECT * FROM itemz WHERE id = :id\"}}}}\n"
    "]}\n");
  g_autofree char *expected = g_strdup_printf ("config.json:2:3: plugins[0]: plugin \"db\" (%s/evbus-sql.so): init "
                                               "failed: statements.fetch.sql: no such table: itemz\n",
                                               EVB_TEST_SQL_DIR);
  g_autofree char *names = NULL;
  g_auto (Result) result = { 0 };

  run_check (&result, dir, "config.json", NULL);
  assert_result (&result, 2, "", expected);
  names = dir_names (dir);
  assert_string_equal (names, "config.json");
  temp_dir_remove (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_check_acts_on_nothing),
    cmocka_unit_test (test_check_orders_beside_its_host),
    cmocka_unit_test (test_check_reports_bad_sql),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
