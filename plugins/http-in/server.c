/* The HTTP side of http-in: one libsoup server on the bus's main context,
 * and the checks every request passes before it becomes an event.
 *
 * An early handler (after the headers, before the body is read) refuses
 * what it can without reading a byte of the body: a non-loopback Host on
 * a loopback listener (DNS rebinding), an unknown path or event type, a
 * method other than POST, a missing or wrong bearer token, a content type
 * other than JSON, a body without Content-Length or larger than
 * max_body_bytes.  The handler then checks the HMAC signature over the
 * body and parses it; only a JSON object becomes an event (request.c).
 *
 * Every refusal is a JSON body {"status", "error", "message"} and is
 * counted under its reason (/stats). */
#include "http-in-private.h"
#include "http-listen.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const http_in_reason_names[HTTP_IN_N_REASONS] = {
  [HTTP_IN_FORBIDDEN_HOST] = "forbidden_host",
  [HTTP_IN_METHOD_NOT_ALLOWED] = "method_not_allowed",
  [HTTP_IN_NOT_FOUND] = "not_found",
  [HTTP_IN_BAD_TYPE] = "bad_type",
  [HTTP_IN_UNAUTHORIZED] = "unauthorized",
  [HTTP_IN_BAD_SIGNATURE] = "bad_signature",
  [HTTP_IN_UNSUPPORTED_MEDIA_TYPE] = "unsupported_media_type",
  [HTTP_IN_LENGTH_REQUIRED] = "length_required",
  [HTTP_IN_BODY_TOO_LARGE] = "body_too_large",
  [HTTP_IN_BAD_JSON] = "bad_json",
  [HTTP_IN_SHUTTING_DOWN] = "shutting_down",
  [HTTP_IN_ACCEPTED] = "accepted",
  [HTTP_IN_REPLIED] = "replied",
  [HTTP_IN_UNHANDLED] = "unhandled",
  [HTTP_IN_FAILED] = "failed",
  [HTTP_IN_REFUSED] = "refused",
  [HTTP_IN_DROPPED] = "dropped",
  [HTTP_IN_CANCELLED] = "cancelled",
  [HTTP_IN_REPLY_TIMEOUT] = "reply_timeout",
  [HTTP_IN_CLIENT_GONE] = "client_gone",
};

/* Refusals end at this index; outcomes follow. */
#define FIRST_OUTCOME HTTP_IN_ACCEPTED

void
http_in_respond_json (SoupServerMessage *msg, guint status, json_t *body)
{
  char *text = evb_json_dumps (body, JSON_COMPACT);
  gsize length = strlen (text);

  json_decref (body);
  /* A newline, so that curl's output ends its line. */
  text = realloc (text, length + 2);
  g_assert (text != NULL);
  text[length] = '\n';
  text[length + 1] = '\0';
  soup_server_message_set_status (msg, status, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control", "no-store");
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, text, length + 1);
  free (text);
}

void
http_in_refuse (HttpIn *self, SoupServerMessage *msg, guint status, HttpInReason reason, json_t *extra,
                const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;
  json_t *body;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  body = json_pack ("{s:i, s:s, s:s}", "status", (int) status, "error", http_in_reason_names[reason], "message",
                    message);
  if (extra != NULL)
    {
      json_object_update (body, extra);
      json_decref (extra);
    }
  self->counts[reason]++;
  http_in_respond_json (msg, status, body);
}

json_t *
http_in_stats (HttpIn *self)
{
  json_t *refused = json_object ();
  json_t *outcomes = json_object ();

  for (guint i = 0; i < HTTP_IN_N_REASONS; i++)
    json_object_set_new (i < FIRST_OUTCOME ? refused : outcomes, http_in_reason_names[i],
                         json_integer ((json_int_t) self->counts[i]));
  return json_pack ("{s:s, s:I, s:o, s:o, s:I, s:I, s:I}",
                    "instance", self->plugin->name,
                    "requests", (json_int_t) self->requests,
                    "refused", refused,
                    "outcomes", outcomes,
                    "pending", (json_int_t) g_hash_table_size (self->pending),
                    "waiting_for_reply", (json_int_t) g_hash_table_size (self->by_trace),
                    "requests_alive", (json_int_t) http_in_request_count_alive ());
}

/* ---- checks ---------------------------------------------------------------- */

/* "application/json", "application/json; charset=utf-8",
 * "application/cloudevents+json". */
static gboolean
is_json_content_type (SoupServerMessage *msg)
{
  const char *type = soup_message_headers_get_content_type (soup_server_message_get_request_headers (msg), NULL);

  return type != NULL && (g_ascii_strcasecmp (type, "application/json") == 0
                          || (g_str_has_prefix (type, "application/") && g_str_has_suffix (type, "+json")));
}

/* What @path serves: a configured path, or the events path with the type
 * after it.  Refuses @msg (and returns NULL) otherwise.  *@type is the
 * event type to make, borrowed from @path_info or @path. */
static const HttpInPath *
resolve (HttpIn *self, SoupServerMessage *msg, const char *path, const char **type)
{
  static const HttpInPath events = { NULL, NULL, NULL, 0 };
  const HttpInPath *configured = g_hash_table_lookup (self->paths, path);
  guint segment;

  if (configured != NULL)
    {
      *type = configured->type;
      return configured;
    }
  if (self->events_path != NULL && g_str_has_prefix (path, self->events_path))
    {
      const char *name = path + strlen (self->events_path);

      if (evb_type_find_fault (name, &segment) != EVB_TYPE_OK || evb_type_is_reserved (name))
        {
          http_in_refuse (self, msg, SOUP_STATUS_BAD_REQUEST, HTTP_IN_BAD_TYPE, NULL,
                          "\"%.64s\" is not an event type: POST %s<type>, a type is dotted names of a-z 0-9 _ - "
                          "(e.g. order.paid), not under \"evbus.\"",
                          name, self->events_path);
          return NULL;
        }
      *type = name;
      return &events;
    }
  http_in_refuse (self, msg, SOUP_STATUS_NOT_FOUND, HTTP_IN_NOT_FOUND, NULL, "no such path \"%.200s\"%s%s", path,
                  self->events_path != NULL ? ": POST events to " : "",
                  self->events_path != NULL ? self->events_path : "");
  return NULL;
}

static gboolean
authorized (HttpIn *self, SoupServerMessage *msg)
{
  const char *header;

  if (self->token == NULL)
    return TRUE;
  header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Authorization");
  if (header != NULL && g_ascii_strncasecmp (header, "Bearer ", 7) == 0 && http_secret_equal (self->token, header + 7))
    return TRUE;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "WWW-Authenticate",
                                "Bearer realm=\"evbus http-in\"");
  http_in_refuse (self, msg, SOUP_STATUS_UNAUTHORIZED, HTTP_IN_UNAUTHORIZED, NULL,
                  header == NULL ? "missing \"Authorization: Bearer <token>\" header"
                                 : "wrong bearer token in the Authorization header");
  return FALSE;
}

/* The signature header: prefix + lowercase or uppercase hex of
 * HMAC-SHA256 (secret, body). */
static gboolean
signature_valid (HttpIn *self, SoupServerMessage *msg, GBytes *body)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     self->signature_header);
  g_autoptr (GHmac) hmac = NULL;
  g_autofree char *given = NULL;

  if (self->hmac_secret == NULL)
    return TRUE;
  if (header == NULL)
    {
      http_in_refuse (self, msg, SOUP_STATUS_UNAUTHORIZED, HTTP_IN_BAD_SIGNATURE, NULL,
                      "missing signature header \"%s\" (%s<hex of HMAC-SHA256 of the body>)", self->signature_header,
                      self->signature_prefix);
      return FALSE;
    }
  if (!g_str_has_prefix (header, self->signature_prefix))
    {
      http_in_refuse (self, msg, SOUP_STATUS_UNAUTHORIZED, HTTP_IN_BAD_SIGNATURE, NULL,
                      "signature header \"%s\" must start with \"%s\"", self->signature_header,
                      self->signature_prefix);
      return FALSE;
    }
  hmac = g_hmac_new (G_CHECKSUM_SHA256, g_bytes_get_data (self->hmac_secret, NULL),
                     g_bytes_get_size (self->hmac_secret));
  g_hmac_update (hmac, g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body));
  given = g_ascii_strdown (header + strlen (self->signature_prefix), -1);
  if (!http_secret_equal (g_hmac_get_string (hmac), given))
    {
      http_in_refuse (self, msg, SOUP_STATUS_UNAUTHORIZED, HTTP_IN_BAD_SIGNATURE, NULL,
                      "signature in \"%s\" does not match the body (HMAC-SHA256 with the configured secret)",
                      self->signature_header);
      return FALSE;
    }
  return TRUE;
}

static void
serve_stats (HttpIn *self, SoupServerMessage *msg)
{
  http_in_respond_json (msg, SOUP_STATUS_OK, http_in_stats (self));
}

/* After the headers: everything that needs no body. */
static void
handle_early (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  HttpIn *self = user_data;
  SoupMessageHeaders *request_headers = soup_server_message_get_request_headers (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *type = NULL;
  goffset length;

  self->requests++;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "X-Content-Type-Options", "nosniff");
  if (self->stopping)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After", "1");
      http_in_refuse (self, msg, SOUP_STATUS_SERVICE_UNAVAILABLE, HTTP_IN_SHUTTING_DOWN, NULL,
                      "the pipeline is shutting down");
      return;
    }
  if (self->loopback_only && !http_is_loopback_host (g_uri_get_host (soup_server_message_get_uri (msg))))
    {
      http_in_refuse (self, msg, SOUP_STATUS_FORBIDDEN, HTTP_IN_FORBIDDEN_HOST, NULL,
                      "this listener answers only to a loopback Host (127.0.0.1, [::1], localhost)");
      return;
    }
  if (self->stats_path != NULL && strcmp (path, self->stats_path) == 0)
    {
      if (method != SOUP_METHOD_GET)
        {
          soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", "GET");
          http_in_refuse (self, msg, SOUP_STATUS_METHOD_NOT_ALLOWED, HTTP_IN_METHOD_NOT_ALLOWED, NULL,
                          "%s: use GET", self->stats_path);
        }
      else if (authorized (self, msg))
        serve_stats (self, msg);
      return;
    }
  if (resolve (self, msg, path, &type) == NULL)
    return;
  if (method != SOUP_METHOD_POST)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", "POST");
      http_in_refuse (self, msg, SOUP_STATUS_METHOD_NOT_ALLOWED, HTTP_IN_METHOD_NOT_ALLOWED, NULL,
                      "method %s not allowed: POST a JSON object", method);
      return;
    }
  if (!authorized (self, msg))
    return;
  if (!is_json_content_type (msg))
    {
      const char *given = soup_message_headers_get_one (request_headers, "Content-Type");

      http_in_refuse (self, msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, HTTP_IN_UNSUPPORTED_MEDIA_TYPE, NULL,
                      "Content-Type must be application/json, got %s%s%s", given != NULL ? "\"" : "",
                      given != NULL ? given : "none", given != NULL ? "\"" : "");
      return;
    }
  if (soup_message_headers_get_encoding (request_headers) != SOUP_ENCODING_CONTENT_LENGTH)
    {
      http_in_refuse (self, msg, SOUP_STATUS_LENGTH_REQUIRED, HTTP_IN_LENGTH_REQUIRED, NULL,
                      "send the body with a Content-Length (chunked bodies are not taken)");
      return;
    }
  length = soup_message_headers_get_content_length (request_headers);
  if (length < 0 || (guint64) length > self->max_body_bytes)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
      http_in_refuse (self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, HTTP_IN_BODY_TOO_LARGE, NULL,
                      "body of %" G_GINT64_FORMAT " bytes is over the limit of %" G_GSIZE_FORMAT " bytes "
                      "(max_body_bytes)",
                      (gint64) length, self->max_body_bytes);
      return;
    }
}

/* With the body: the signature, the JSON, the event. */
static void
handle_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  HttpIn *self = user_data;
  g_autoptr (GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  const HttpInPath *resolved;
  const char *type = NULL;
  json_error_t parse_error;
  json_t *data;

  /* The early handler answered everything else. */
  resolved = resolve (self, msg, path, &type);
  if (resolved == NULL)
    return;
  if (g_bytes_get_size (body) > self->max_body_bytes)
    {
      http_in_refuse (self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, HTTP_IN_BODY_TOO_LARGE, NULL,
                      "body of %" G_GSIZE_FORMAT " bytes is over the limit of %" G_GSIZE_FORMAT " bytes "
                      "(max_body_bytes)",
                      g_bytes_get_size (body), self->max_body_bytes);
      return;
    }
  if (!signature_valid (self, msg, body))
    return;
  data = json_loadb (g_bytes_get_data (body, NULL), g_bytes_get_size (body), 0,
                     &parse_error);
  if (data == NULL)
    {
      http_in_refuse (self, msg, SOUP_STATUS_BAD_REQUEST, HTTP_IN_BAD_JSON, NULL,
                      "body is not JSON: line %d, column %d (byte %d): %s", parse_error.line, parse_error.column,
                      parse_error.position, parse_error.text);
      return;
    }
  if (!json_is_object (data))
    {
      http_in_refuse (self, msg, SOUP_STATUS_BAD_REQUEST, HTTP_IN_BAD_JSON, NULL,
                      "body must be a JSON object (it becomes the event's data), got %s",
                      json_is_array (data) ? "an array" : json_is_string (data) ? "a string" : "a scalar");
      json_decref (data);
      return;
    }
  http_in_request_start (self, msg, resolved, type, data);
}

gboolean
http_in_server_start (HttpIn *self, const char *listen, gboolean allow_remote, GError **error)
{
  g_autoptr (GSocketAddress) address = http_listen_parse (listen, error);
  g_autoptr (GError) listen_error = NULL;
  GInetAddress *host;
  GSList *listeners;

  if (address == NULL)
    return FALSE;
  host = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  self->loopback_only = g_inet_address_get_is_loopback (host);
  if (!self->loopback_only && !allow_remote)
    {
      g_autofree char *text = g_inet_address_to_string (host);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "listen \"%s\": %s is not a loopback address; set \"allow_remote\": true to take requests from "
                   "other machines (and set a \"token\" or \"hmac_secret\")",
                   listen, text);
      return FALSE;
    }
  /* Checked, not bound: a host running this config may hold the port. */
  if (evb_plugin_is_checking (self->plugin))
    return TRUE;

  /* libsoup attaches the listener and every connection to the
   * thread-default context, which is the bus's while init runs. */
  self->server = soup_server_new ("server-header", "evbus-http-in ", NULL);
  soup_server_add_early_handler (self->server, NULL, handle_early, self, NULL);
  soup_server_add_handler (self->server, NULL, handle_request, self, NULL);
  if (!soup_server_listen (self->server, address, 0, &listen_error))
    {
      g_set_error (error, G_IO_ERROR, listen_error->domain == G_IO_ERROR ? listen_error->code : G_IO_ERROR_FAILED,
                   "listen \"%s\": %s", listen, listen_error->message);
      g_clear_object (&self->server);
      return FALSE;
    }

  /* The bound port (listen may have asked for 0). */
  listeners = soup_server_get_listeners (self->server);
  self->url = http_listen_url (host, listeners);
  g_slist_free (listeners);
  return TRUE;
}

/* Stops listening and closes every connection (libsoup 3 does both), so
 * it waits for shutdown: after stop, requests still in the pipeline are
 * answered as their receipts come. */
void
http_in_server_stop (HttpIn *self)
{
  if (self->server == NULL)
    return;
  soup_server_disconnect (self->server);
  g_clear_object (&self->server);
}
