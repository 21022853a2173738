/* http-in's parts: the instance (http-in.c), its HTTP server and the
 * checks a request passes (server.c), the paths it serves (paths.c), and
 * one object per request waiting for its answer (request.c). */
#pragma once

#include <evbus/json.h>
#include <evbus/plugin.h>
#include <libsoup/soup.h>

/* Why a request was refused or how it ended: one counter each, named in
 * /stats as the strings of http_in_reason_names. */
typedef enum {
  /* refused before an event was made */
  HTTP_IN_FORBIDDEN_HOST,
  HTTP_IN_METHOD_NOT_ALLOWED,
  HTTP_IN_NOT_FOUND,
  HTTP_IN_BAD_TYPE,
  HTTP_IN_UNAUTHORIZED,
  HTTP_IN_BAD_SIGNATURE,
  HTTP_IN_UNSUPPORTED_MEDIA_TYPE,
  HTTP_IN_LENGTH_REQUIRED,
  HTTP_IN_BODY_TOO_LARGE,
  HTTP_IN_BAD_JSON,
  HTTP_IN_SHUTTING_DOWN,
  /* the event's outcome */
  HTTP_IN_ACCEPTED,      /* 202: handled or done */
  HTTP_IN_REPLIED,       /* 200: the reply event came */
  HTTP_IN_UNHANDLED,
  HTTP_IN_FAILED,
  HTTP_IN_REFUSED,       /* the bus refused the event (full inbox, shutdown) */
  HTTP_IN_DROPPED,
  HTTP_IN_CANCELLED,
  HTTP_IN_REPLY_TIMEOUT,
  HTTP_IN_CLIENT_GONE,   /* the client left before its answer */
  HTTP_IN_N_REASONS
} HttpInReason;

extern const char *const http_in_reason_names[HTTP_IN_N_REASONS];

/* One configured path ("paths" option), or the generic events path. */
typedef struct {
  char *path;          /* "/search" */
  char *type;          /* the event it makes; NULL: the type follows the events path */
  char *reply;         /* pattern of the reply event, or NULL: answer on the receipt */
  guint timeout_ms;    /* for the reply */
} HttpInPath;

typedef struct _HttpIn HttpIn;

struct _HttpIn {
  EvbPlugin *plugin;
  GMainContext *context;  /* the bus's: the server and our timers run there */
  SoupServer *server;
  char *url;              /* "http://127.0.0.1:8080/" */
  gboolean loopback_only;
  gboolean stopping;      /* stop () was called: new requests get 503 */

  /* options */
  char *token;            /* NULL: none */
  GBytes *hmac_secret;    /* NULL: no signature check */
  char *signature_header;
  char *signature_prefix;
  gsize max_body_bytes;
  char *events_path;      /* NULL: off */
  char *stats_path;       /* NULL: off */
  guint unhandled_status;
  gint emit_timeout_ms;
  guint retry_after_s;
  GHashTable *paths;      /* path -> HttpInPath */

  /* state */
  GHashTable *pending;    /* HttpInRequest * (strong) -> itself: answers not sent yet */
  GHashTable *by_trace;   /* "trace id" -> HttpInRequest * (weak): waiting for a reply */
  guint64 failure_route;  /* evbus.failure, while some path waits for replies */
  guint64 counts[HTTP_IN_N_REASONS];
  guint64 requests;
};

/* ---- paths.c ---- */
gboolean http_in_paths_load (HttpIn *self, json_t *paths, guint default_timeout_ms, GError **error);
void http_in_path_free (HttpInPath *path);

/* ---- server.c ---- */
gboolean http_in_server_start (HttpIn *self, const char *listen, gboolean allow_remote, GError **error);
void http_in_server_stop (HttpIn *self);
/* Answers @msg with {"status", "error", "message"} (+ @extra's members,
 * stolen, may be NULL) and counts @reason. */
void http_in_refuse (HttpIn *self, SoupServerMessage *msg, guint status, HttpInReason reason, json_t *extra,
                     const char *format, ...) G_GNUC_PRINTF (6, 7);
void http_in_respond_json (SoupServerMessage *msg, guint status, json_t *body /* stolen */);
json_t *http_in_stats (HttpIn *self);

/* ---- request.c ---- */
#define HTTP_IN_TYPE_REQUEST (http_in_request_get_type ())
G_DECLARE_FINAL_TYPE (HttpInRequest, http_in_request, HTTP_IN, REQUEST, GObject)

/* Emits @data (stolen) as @type for @msg, with a receipt; the answer
 * follows from the receipt (and the reply, when @path->reply is set).
 * Answers @msg itself when the emit fails at once. */
void http_in_request_start (HttpIn *self, SoupServerMessage *msg, const HttpInPath *path, const char *type,
                            json_t *data);
/* Requests alive in this process (all instances): the memory check. */
guint http_in_request_count_alive (void);
/* An evbus.failure in a waited-for trace answers that request with 500. */
EvbResult http_in_on_failure (EvbCall *call, const EvbEvent *event);
/* Shutdown: answers every pending request with 503 and forgets them. */
void http_in_requests_abandon (HttpIn *self);
