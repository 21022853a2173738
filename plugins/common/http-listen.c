/* See http-listen.h. */
#include "http-listen.h"

#include <string.h>

GSocketAddress *
http_listen_parse (const char *listen, GError **error)
{
  g_autofree char *host = NULL;
  g_autoptr (GInetAddress) address = NULL;
  const char *colon = listen != NULL ? strrchr (listen, ':') : NULL;
  const char *port_text;
  char *end = NULL;
  guint64 port;

  if (colon == NULL || colon == listen)
    goto bad;
  port_text = colon + 1;
  if (*port_text == '\0' || !g_ascii_isdigit (*port_text))
    goto bad;
  port = g_ascii_strtoull (port_text, &end, 10);
  if (*end != '\0' || port > 65535)
    goto bad;
  if (listen[0] == '[')
    {
      if (colon[-1] != ']')
        goto bad;
      host = g_strndup (listen + 1, (gsize) (colon - listen - 2));
    }
  else
    host = g_strndup (listen, (gsize) (colon - listen));
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    address = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  else
    address = g_inet_address_new_from_string (host);
  if (address == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "listen \"%s\": \"%s\" is not an IP address (nor \"localhost\")", listen, host);
      return NULL;
    }
  return g_inet_socket_address_new (address, (guint16) port);

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "listen \"%s\": expected \"address:port\", e.g. \"127.0.0.1:8080\" or \"[::1]:8080\"",
               listen != NULL ? listen : "");
  return NULL;
}

gboolean
http_is_loopback_host (const char *host)
{
  g_autoptr (GInetAddress) address = NULL;

  if (host == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;
  address = g_inet_address_new_from_string (host);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

gboolean
http_secret_equal (const char *expected, const char *given)
{
  gsize expected_length = strlen (expected);
  gsize given_length = strlen (given);
  guint8 difference = expected_length != given_length;

  /* Walks all of @given, whatever matched so far; an empty @expected
   * (nothing to index) equals only an empty @given. */
  if (expected_length == 0)
    return given_length == 0;
  for (gsize i = 0; i < given_length; i++)
    difference |= (guint8) (given[i] ^ expected[i % expected_length]);
  return difference == 0;
}

char *
http_listen_url (GInetAddress *host, GSList *listeners)
{
  g_autoptr (GSocketAddress) bound = NULL;
  g_autofree char *host_text = g_inet_address_to_string (host);
  guint port;

  /* From the socket rather than soup_server_get_uris (), which leaks an
   * address in libsoup 3.2. */
  bound = listeners != NULL ? g_socket_get_local_address (listeners->data, NULL) : NULL;
  port = bound != NULL ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)) : 0;
  return g_inet_address_get_family (host) == G_SOCKET_FAMILY_IPV6 ? g_strdup_printf ("http://[%s]:%u/", host_text, port)
                                                                  : g_strdup_printf ("http://%s:%u/", host_text, port);
}
