/* http-out's parts: the instance and its handler (http-out.c), the URL
 * template (url-template.c), and the retry schedule (retry.c). */
#pragma once

#include <evbus/json.h>
#include <evbus/plugin.h>
#include <libsoup/soup.h>

#define HTTP_OUT_DOMAIN "http-out"

/* Failure codes that are not an HTTP status. */
enum {
  HTTP_OUT_BAD_INPUT = 400,     /* the event cannot make a request (URL template, body field) */
  HTTP_OUT_CANCELLED = 499,     /* the job was cancelled (timeout, shutdown) */
  HTTP_OUT_TRANSPORT = 0,       /* no response: connection refused, reset, TLS, timeout */
};

/* ---- url-template.c ---- */

/* A URL with {placeholders}: {data.<dotted path>}, {type}, {id}, {trace_id}. */
typedef struct _HttpOutTemplate HttpOutTemplate;

HttpOutTemplate *http_out_template_new (const char *text, GError **error);
void http_out_template_free (HttpOutTemplate *tmpl);
/* The URL for @event, each value percent-encoded; NULL with @error
 * (HTTP_OUT_BAD_INPUT) when a field is missing or is not a string, number
 * or boolean. */
char *http_out_template_expand (const HttpOutTemplate *tmpl, const EvbEvent *event, GError **error);
/* The value at dotted @path in @data, or NULL. */
json_t *http_out_lookup (json_t *data, const char *path);

/* ---- retry.c ---- */

typedef struct {
  guint retries;         /* attempts after the first */
  guint backoff_ms;      /* before the first retry */
  guint backoff_max_ms;
  double jitter;         /* 0: exact; 1: anywhere from 0 to the full delay */
  guint retry_after_max_ms;
} HttpOutRetryPolicy;

/* TRUE when a response with @status is worth another attempt: 408, 429, 5xx. */
gboolean http_out_status_is_retryable (guint status);
/* The wait before attempt @attempt + 1 (after attempt @attempt failed,
 * @attempt >= 1): backoff_ms * 2^(attempt-1), at most backoff_max_ms, less
 * up to @jitter of it at random. */
guint http_out_backoff_ms (const HttpOutRetryPolicy *policy, guint attempt);
/* A Retry-After header (seconds, or an HTTP date) as milliseconds from
 * now, at most @max_ms; -1 when absent or unreadable. */
gint64 http_out_retry_after_ms (const char *header, guint max_ms);
