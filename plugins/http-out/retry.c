/* When to try again: exponential back-off with jitter, and Retry-After. */
#include "http-out-private.h"

gboolean
http_out_status_is_retryable (guint status)
{
  return status == SOUP_STATUS_REQUEST_TIMEOUT || status == 429
         || (status >= 500 && status <= 599);
}

guint
http_out_backoff_ms (const HttpOutRetryPolicy *policy, guint attempt)
{
  guint64 delay = policy->backoff_ms;

  for (guint i = 1; i < attempt && delay < policy->backoff_max_ms; i++)
    delay *= 2;
  delay = MIN (delay, policy->backoff_max_ms);
  /* "Equal" jitter when 0.5: between half and all of the delay, so that
   * clients that failed together do not retry together. */
  if (policy->jitter > 0.0)
    delay -= (guint64) ((double) delay * policy->jitter * g_random_double ());
  return (guint) delay;
}

gint64
http_out_retry_after_ms (const char *header, guint max_ms)
{
  guint64 seconds;
  g_autoptr (GDateTime) when = NULL;
  g_autoptr (GDateTime) now = NULL;
  gint64 ms;

  if (header == NULL)
    return -1;
  if (g_ascii_string_to_unsigned (header, 10, 0, G_MAXUINT32, &seconds, NULL))
    return MIN (seconds * 1000, (guint64) max_ms);
  when = soup_date_time_new_from_http_string (header);
  if (when == NULL)
    return -1;
  now = g_date_time_new_now_utc ();
  ms = g_date_time_difference (when, now) / 1000;
  return CLAMP (ms, 0, (gint64) max_ms);
}
