/* What the plugins that serve HTTP (dashboard, http-in) share: the
 * "listen" option's syntax, the loopback-Host check against DNS
 * rebinding, and a constant-time secret compare.  Plain GLib/GIO, linked
 * statically into each module: no host symbol, no libsoup. */
#pragma once

#include <gio/gio.h>

/* Parses "127.0.0.1:8080", "[::1]:8080" or "localhost:0" (IPv4 loopback)
 * into an address to listen on; NULL with G_IO_ERROR_INVALID_ARGUMENT and
 * a message starting `listen "<text>": ` otherwise. */
GSocketAddress *http_listen_parse (const char *listen, GError **error);

/* TRUE when @host (a request's Host, without port; may be NULL) names a
 * loopback host: "localhost" or a loopback IPv4/IPv6 literal. */
gboolean http_is_loopback_host (const char *host);

/* @expected == @given, in time independent of where they differ (for
 * tokens and signatures).  @expected may be empty. */
gboolean http_secret_equal (const char *expected, const char *given);

/* "http://127.0.0.1:8080/" or "http://[::1]:8080/" for a server on @host
 * whose first listening socket is @listeners' head (GSocket *, as
 * soup_server_get_listeners gives them): the port it bound, which may
 * differ from the one asked for (0). */
char *http_listen_url (GInetAddress *host, GSList *listeners);
