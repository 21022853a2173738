/* Tests the hello plugin through the evbus harness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <evbus/harness.h>

static void
test_greets_in_both_modes (G_GNUC_UNUSED void **state)
{
  const char *modes[] = { "{\"mode\": \"sync\"}", "{\"mode\": \"async\"}" };

  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_autoptr (GError) error = NULL;
      EvbHarness *h = evb_harness_new ();
      const EvbEvent *made;

      assert_true (evb_harness_add_plugin_file (h, "hi", HELLO_PLUGIN, "{\"greeting\": \"hey\"}", &error));
      assert_true (evb_harness_add_route (h, "person.seen", "hi.greet", modes[i], &error) != 0);
      assert_true (evb_harness_emit (h, "person.seen", "{\"name\": \"Ada\"}", &error));
      assert_true (evb_harness_run_until_idle (h, 5000, &error));
      made = evb_harness_find (h, "greeting.made", 0);
      assert_non_null (made);
      assert_string_equal (json_string_value (json_object_get (made->data, "text")), "hey, Ada");
      assert_string_equal (made->source, "hi");
      evb_harness_free (h);
    }
}

static void
test_fails_without_name (G_GNUC_UNUSED void **state)
{
  g_autoptr (GError) error = NULL;
  EvbHarness *h = evb_harness_new ();
  const EvbEvent *failure;
  json_t *message;

  assert_true (evb_harness_add_plugin_file (h, "hi", HELLO_PLUGIN, NULL, &error));
  assert_true (evb_harness_add_route (h, "person.seen", "hi.greet", NULL, &error) != 0);
  assert_true (evb_harness_emit (h, "person.seen", "{}", &error));
  assert_true (evb_harness_run_until_idle (h, 5000, &error));
  failure = evb_harness_find (h, "evbus.failure", 0);
  assert_non_null (failure);
  message = json_object_get (json_object_get (failure->data, "error"), "message");
  assert_string_equal (json_string_value (message), "greet needs data.name (a string)");
  assert_int_equal (evb_harness_count (h, "greeting.made"), 0);
  evb_harness_free (h);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_greets_in_both_modes),
    cmocka_unit_test (test_fails_without_name),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
