/* subscriber — a test plugin that subscribes routes at run time, from inside
 * a handler, each owned by a GObject that stands for a session.
 *
 * Handlers:
 *   open   data {"session": s, "mode": "sync"|"async"}: makes an owner
 *          object for session s and subscribes "session.msg" filtered on
 *          {"session": s} to "msg" in that mode, owned by it; emits
 *          "session.opened" {"session": s, "route": id}.  Fails on a
 *          session already open or a refused subscription.
 *   close  data {"session": s}: drops the session's owner, and with it the
 *          route; fails on an unknown session.
 *   msg    emits "session.echo" {"session": s, "text": data.text}.
 * No options.  Works from any thread: sessions are kept under a lock. */
#include <evbus/plugin.h>

typedef struct {
  GMutex lock;
  GHashTable *sessions; /* session name -> owner GObject (strong) */
} SubscriberState;

static EvbResult
subscriber_open (EvbCall *call, const EvbEvent *event)
{
  SubscriberState *state = call->instance_data;
  const char *session = json_string_value (json_object_get (event->data, "session"));
  const char *mode = json_string_value (json_object_get (event->data, "mode"));
  EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
  g_autoptr (GError) error = NULL;
  GObject *owner;
  json_t *filter;
  guint64 route_id;
  gboolean taken;

  if (session == NULL)
    return evb_call_fail (call, NULL, 1, "open: data.session must be a string");
  g_mutex_lock (&state->lock);
  taken = g_hash_table_contains (state->sessions, session);
  g_mutex_unlock (&state->lock);
  if (taken)
    return evb_call_fail (call, NULL, 2, "session \"%s\" is already open", session);

  owner = g_object_new (G_TYPE_OBJECT, NULL);
  filter = json_pack ("{s:s}", "session", session);
  spec.mode = g_strcmp0 (mode, "async") == 0 ? EVB_MODE_ASYNC : EVB_MODE_SYNC;
  spec.pattern = "session.msg";
  spec.handler = "msg";
  spec.filter = filter;
  route_id = evb_plugin_subscribe (call->plugin, &spec, owner, &error);
  json_decref (filter);
  if (route_id == 0)
    {
      g_object_unref (owner);
      return evb_call_fail (call, NULL, 3, "cannot subscribe for \"%s\": %s", session, error->message);
    }
  g_mutex_lock (&state->lock);
  g_hash_table_insert (state->sessions, g_strdup (session), owner);
  g_mutex_unlock (&state->lock);

  if (!evb_call_emit (call, "session.opened",
                      json_pack ("{s:s, s:I}", "session", session, "route", (json_int_t) route_id), &error))
    return evb_call_fail (call, NULL, 4, "cannot emit session.opened: %s", error->message);
  return EVB_CONTINUE;
}

static EvbResult
subscriber_close (EvbCall *call, const EvbEvent *event)
{
  SubscriberState *state = call->instance_data;
  const char *session = json_string_value (json_object_get (event->data, "session"));
  g_autofree char *key = NULL;
  GObject *owner = NULL;

  g_mutex_lock (&state->lock);
  if (session != NULL)
    g_hash_table_steal_extended (state->sessions, session, (gpointer *) &key, (gpointer *) &owner);
  g_mutex_unlock (&state->lock);
  if (owner == NULL)
    return evb_call_fail (call, NULL, 5, "no open session \"%s\"", session != NULL ? session : "");
  /* Outside the lock: the last unref tells the bus, which may take its own. */
  g_object_unref (owner);
  return EVB_CONTINUE;
}

static EvbResult
subscriber_msg (EvbCall *call, const EvbEvent *event)
{
  g_autoptr (GError) error = NULL;

  if (!evb_call_emit (call, "session.echo",
                      json_pack ("{s:O?, s:O?}", "session", json_object_get (event->data, "session"), "text",
                                 json_object_get (event->data, "text")),
                      &error))
    return evb_call_fail (call, NULL, 6, "cannot emit session.echo: %s", error->message);
  return EVB_CONTINUE;
}

static const EvbHandlerInfo subscriber_handlers[] = {
  EVB_HANDLER ("open", subscriber_open,
      "Subscribes session.msg for data.session, owned by a session object."),
  EVB_HANDLER ("close", subscriber_close, "Drops the session object of data.session, and so its route."),
  EVB_HANDLER ("msg", subscriber_msg, "Emits session.echo with data.session and data.text."),
  EVB_HANDLERS_END,
};

static gboolean
subscriber_init (EvbPlugin *plugin, GError **error)
{
  SubscriberState *state = g_new0 (SubscriberState, 1);

  g_mutex_init (&state->lock);
  state->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  plugin->instance_data = state;
  return TRUE;
}

static void
subscriber_shutdown (EvbPlugin *plugin)
{
  SubscriberState *state = plugin->instance_data;

  g_hash_table_unref (state->sessions);
  g_mutex_clear (&state->lock);
  g_free (state);
}

EVB_PLUGIN_DEFINE ("subscriber", "1.0.0", "Subscribes owned routes at run time; a test plugin.",
                   subscriber_handlers, NULL, subscriber_init, subscriber_shutdown);
