/* Bus settings and route specs read from JSON: the one reader of each,
 * used by the config file ("host", "routes[i]") and by the harness
 * (evb_harness_new_with_settings, evb_harness_add_route), so both accept
 * the same things and refuse the rest in the same words.  The rules beyond
 * JSON types are the core's (settings' table, evb_pattern_validate,
 * evb_route_check_*, evb_filter_compile); this file only applies them per
 * key so that each problem points at its own key. */
#pragma once

#include "bus.h"
#include "json-read.h"

G_BEGIN_DECLS

/* Reads the settings object @object at @path into @settings (which holds
 * the defaults), reporting unknown keys and every bad value. */
void evb_settings_read (const EvbJsonReader *reader, json_t *object, const char *path, EvbBusSettings *settings);

/* One route as written.  Field meanings as in EvbRouteSpec. */
typedef struct {
  char *on;               /* a valid type pattern */
  char *instance;         /* "db" of "db.query" */
  char *handler;          /* "query" of "db.query"; not checked against the plugin */
  EvbMode mode;           /* default EVB_MODE_SYNC */
  gint priority;          /* default 0 */
  json_t *filter;         /* owned reference; compiles; NULL if absent */
  char *on_failure;       /* a concrete type outside "evbus.", or NULL */
  guint timeout_ms;       /* 0: none */
  guint max_concurrency;  /* 0: unlimited; only ever set on async routes */
  gboolean stop_on_failure;
  json_t *params;         /* owned reference to an object, or NULL if absent */
  char *json_path;        /* "routes[2]" */
} EvbConfigRoute;

/* The route keys a route object takes, NULL-terminated. */
extern const char *const evb_route_keys[];

/* Reads the route object @entry at @path, reporting every problem.
 * Returns what could be read (NULL when @entry is no object), with
 * *@complete TRUE when nothing was wrong: a route with problems still names
 * its instance when its "handler" was readable, so that the caller can
 * report an unknown instance too.  Whether the instance exists is the
 * caller's to check (it knows the instances); the handler's path is
 * @path ".handler". */
EvbConfigRoute *evb_route_read (const EvbJsonReader *reader, json_t *entry, const char *path, gboolean *complete);
void evb_config_route_free (EvbConfigRoute *route);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EvbConfigRoute, evb_config_route_free)

/* The route key an error of evb_bus_add_route () is about ("handler" for
 * a handler the plugin does not have, "mode" for a mode its handler does
 * not run in), or NULL for the route as a whole. */
const char *evb_route_error_key (const GError *error);

/* `unknown plugin instance "x" (declared: a, b)`, or `(no plugins are
 * declared)` when @declared is empty.  Caller frees. */
char *evb_unknown_instance_problem (const char *instance, const char *const *declared);

/* Fills @spec (EVB_ROUTE_SPEC_INIT first) from @route.  The strings and
 * the filter are borrowed from @route: keep it alive while @spec is in
 * use.  @spec->handler is the handler name without the instance. */
void evb_config_route_to_spec (const EvbConfigRoute *route, EvbRouteSpec *spec);

G_END_DECLS
