/* The size of a JSON value as text, measured without writing it: for
 * limits on what plugins emit (host.max_event_bytes), checked on every
 * emit, so it must cost little more than a walk of the value.
 *
 * The measure is the length of the value written as compact JSON
 * (json_dumps with JSON_COMPACT), except that a string or key counts its
 * bytes as stored (an escape such as \u001f counts 1, not 6) and a real
 * number counts 8 whatever its digits: exact where it is cheap, a little
 * under where exactness would mean formatting.
 *
 * Thread safety: reads @value only; any thread, as long as nobody changes
 * the value meanwhile (emitted data is immutable). */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

/* Bytes a real number counts, see above. */
#define EVB_JSON_SIZE_REAL 8

/* Returns the size of @value (NULL counts as "{}", the data of an event
 * emitted without any).  Stops as soon as the count passes @limit and
 * returns a number above @limit (not the full size): so the cost of an
 * oversized value is bounded by @limit, and a value made cyclic by
 * mistake cannot make it loop.  @limit G_MAXSIZE counts everything. */
gsize evb_json_size_bounded (json_t *value, gsize limit);

G_END_DECLS
