/* fuzz-config: the config loader and validator (host/config.c) and the
 * position map under it (host/json-doc.c), on arbitrary bytes.
 *
 * Each input is written to a file and loaded as `evbus check` loads a
 * config.  Besides "no crash, no leak, no undefined behaviour" it checks
 * what the two promise in their headers:
 *  - json-doc: for a text jansson accepts, every value can be located, and
 *    the text at its position is what the path names: an object member's
 *    key (then the member's value after the colon), an array element
 *    itself, the root at its first character.  Skipped for documents with
 *    a key that makes paths ambiguous ("", or one holding "." or "[").
 *  - config: NULL exactly when there is at least one error line; every
 *    line is one line of UTF-8 text and starts with the file name; a loaded config has
 *    a located entry for each plugin and route, valid patterns, filters
 *    that compile, and settings within their documented ranges. */
#include "fuzz-common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "config.h"
#include "filter.h"
#include "json-doc.h"
#include "route-table.h"

static char *config_file;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;
  char *dir;

  fuzz_setup ();
  dir = g_dir_make_tmp ("evbus-fuzz-config-XXXXXX", &error);
  if (dir == NULL)
    g_error ("cannot make a temporary folder: %s", error->message);
  config_file = g_build_filename (dir, "pipeline.json", NULL);
  g_free (dir);
  return 0;
}

static void
write_input (const uint8_t *data, size_t size)
{
  int fd = open (config_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  size_t done = 0;

  if (fd < 0)
    g_error ("%s: %s", config_file, g_strerror (errno));
  while (done < size)
    {
      ssize_t n = write (fd, data + done, size - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        g_error ("%s: %s", config_file, g_strerror (errno));
      done += (size_t) n;
    }
  close (fd);
}

/* ---- json-doc positions ---- */

/* The byte offset of 1-based @line and @column, counting columns in
 * characters (UTF-8 lead bytes) as json-doc.h says; -1 if there is none. */
static gssize
offset_of (const char *text, gsize length, guint line, guint column)
{
  gsize i = 0;
  guint chars = 0;

  for (guint l = 1; l < line; l++)
    {
      const char *newline = memchr (text + i, '\n', length - i);

      if (newline == NULL)
        return -1;
      i = (gsize) (newline - text) + 1;
    }
  for (; i < length && text[i] != '\n'; i++)
    if (((guchar) text[i] & 0xC0) != 0x80 && ++chars == column)
      return (gssize) i;
  return -1;
}

/* The JSON value that starts at @offset, and in *@end the offset after it. */
static json_t *
value_at (const char *text, gsize length, gsize offset, gsize *end)
{
  json_error_t error;
  json_t *value = json_loadb (text + offset, length - offset, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &error);

  if (value != NULL && end != NULL)
    *end = offset + (gsize) error.position;
  return value;
}

static gboolean
has_ambiguous_key (json_t *value)
{
  const char *key;
  json_t *member;
  size_t index;

  if (json_is_object (value))
    json_object_foreach (value, key, member)
      if (*key == '\0' || strchr (key, '.') != NULL || strchr (key, '[') != NULL || has_ambiguous_key (member))
        return TRUE;
  if (json_is_array (value))
    json_array_foreach (value, index, member)
      if (has_ambiguous_key (member))
        return TRUE;
  return FALSE;
}

static gsize
locate (EvbJsonDoc *doc, const char *text, gsize length, const char *path)
{
  guint line = 0, column = 0;
  gssize offset;

  fuzz_check (evb_json_doc_locate (doc, path, &line, &column), "path \"%s\" not located", path);
  offset = offset_of (text, length, line, column);
  fuzz_check (offset >= 0, "path \"%s\" at %u:%u, outside the text", path, line, column);
  return (gsize) offset;
}

static void check_positions (EvbJsonDoc *doc, const char *text, gsize length, json_t *value, const char *path);

static void
check_member (EvbJsonDoc *doc, const char *text, gsize length, const char *path, const char *key, json_t *member)
{
  gsize offset = locate (doc, text, length, path);
  gsize end = 0;
  json_t *found_key = value_at (text, length, offset, &end);
  json_t *found_value;

  fuzz_check (json_is_string (found_key) && strcmp (json_string_value (found_key), key) == 0,
              "member \"%s\" is not positioned at its key", path);
  json_decref (found_key);
  while (end < length && strchr (" \t\r\n", text[end]) != NULL)
    end++;
  fuzz_check (end < length && text[end] == ':', "no ':' after the key of \"%s\"", path);
  found_value = value_at (text, length, end + 1, NULL);
  fuzz_check (found_value != NULL && json_equal (found_value, member), "value of \"%s\" differs", path);
  json_decref (found_value);
  check_positions (doc, text, length, member, path);
}

/* @value sits at @path; checks the positions of its members or elements. */
static void
check_positions (EvbJsonDoc *doc, const char *text, gsize length, json_t *value, const char *path)
{
  const char *key;
  json_t *member;
  size_t index;

  if (json_is_object (value))
    json_object_foreach (value, key, member)
      {
        g_autofree char *child = *path ? g_strconcat (path, ".", key, NULL) : g_strdup (key);

        check_member (doc, text, length, child, key, member);
      }
  else if (json_is_array (value))
    json_array_foreach (value, index, member)
      {
        g_autofree char *child = g_strdup_printf ("%s[%zu]", path, index);
        json_t *found = value_at (text, length, locate (doc, text, length, child), NULL);

        fuzz_check (found != NULL && json_equal (found, member), "element \"%s\" is not at its position", child);
        json_decref (found);
        check_positions (doc, text, length, member, child);
      }
}

static void
fuzz_json_doc (const char *text, gsize length)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EvbJsonDoc) doc = evb_json_doc_load (config_file, &error);
  g_autofree char *where = NULL;
  json_t *root;
  json_t *found;

  if (doc == NULL)
    {
      fuzz_check (error != NULL && g_str_has_prefix (error->message, config_file), "bad load error");
      return;
    }
  root = evb_json_doc_root (doc);
  found = value_at (text, length, locate (doc, text, length, ""), NULL);
  fuzz_check (found != NULL && json_equal (found, root), "the root is not at its position");
  json_decref (found);
  where = evb_json_doc_where (doc, "no.such[3].path");
  fuzz_check (g_str_has_prefix (where, config_file), "where: %s", where);
  if (!has_ambiguous_key (root))
    check_positions (doc, text, length, root, "");
}

/* ---- the config ---- */

static void
check_config (EvbConfig *config)
{
  const EvbBusSettings *settings = &config->settings;

  fuzz_check (settings->inbox_limit >= 1 && settings->slice_events >= 1, "settings out of range");
  fuzz_check (settings->workers <= G_MAXINT && settings->grace_ms <= G_MAXINT, "settings out of range");
  for (guint i = 0; i < config->plugins->len; i++)
    {
      EvbConfigPlugin *plugin = g_ptr_array_index (config->plugins, i);
      g_autofree char *where = evb_config_where (config, plugin->json_path);

      fuzz_check (plugin->name != NULL && plugin->path != NULL && *plugin->path != '\0', "plugin %u", i);
      fuzz_check (plugin->config == NULL || json_is_object (plugin->config), "plugin %u config", i);
      fuzz_check (g_str_has_prefix (where, config_file) && where[strlen (config_file)] == ':',
                  "plugin %u not located: %s", i, where);
    }
  for (guint i = 0; i < config->routes->len; i++)
    {
      EvbConfigRoute *route = g_ptr_array_index (config->routes, i);
      EvbRouteSpec spec = EVB_ROUTE_SPEC_INIT;
      g_autoptr (EvbFilter) filter = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *line = evb_config_error_line (config, route->json_path, "route %u", i);

      fuzz_check (evb_pattern_validate (route->on, &error), "route %u pattern: %s", i, error->message);
      if (route->filter != NULL)
        {
          filter = evb_filter_compile (route->filter, route->json_path, NULL, &error);
          fuzz_check (filter != NULL, "route %u filter: %s", i, error->message);
        }
      fuzz_check (strchr (line, '\n') == NULL && g_str_has_prefix (line, config_file), "line: %s", line);
      evb_config_route_to_spec (route, &spec);
      fuzz_check (spec.pattern == route->on && spec.handler == route->handler, "route %u spec", i);
      fuzz_check (route->max_concurrency == 0 || route->mode == EVB_MODE_ASYNC, "route %u concurrency", i);
    }
}

static void
fuzz_config (void)
{
  g_autoptr (GPtrArray) errors = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (EvbConfig) config = evb_config_load (config_file, errors);

  fuzz_check ((config == NULL) == (errors->len > 0), "config %p with %u errors", (void *) config, errors->len);
  for (guint i = 0; i < errors->len; i++)
    {
      const char *line = g_ptr_array_index (errors, i);

      fuzz_check (strchr (line, '\n') == NULL, "error on two lines: %s", line);
      fuzz_check (g_utf8_validate (line, -1, NULL), "error that is not UTF-8 text: %s", line);
      fuzz_check (g_str_has_prefix (line, config_file), "error without the file: %s", line);
    }
  if (config != NULL)
    check_config (config);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  write_input (data, size);
  fuzz_json_doc ((const char *) data, size);
  fuzz_config ();
  return 0;
}
