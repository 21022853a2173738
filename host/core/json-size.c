/* JSON size without serialising (json-size.h).
 *
 * The walk is iterative, with its own stack of the containers being
 * visited: event data comes from plugin code, not from the parser, so its
 * nesting has no bound a recursion could rely on. */
#include "json-size.h"

#include <string.h>

typedef struct {
  json_t *container;
  void *iter;   /* objects: the next member */
  size_t index; /* arrays: the next element */
} SizeFrame;

/* Enough for any document jansson parses (it nests at most 2048 deep) to
 * need one heap allocation at most, and for usual data none. */
#define SIZE_FRAMES_ON_STACK 32

static gsize
integer_digits (json_int_t number)
{
  /* Through unsigned, so that the most negative number has a magnitude. */
  guint64 magnitude = number < 0 ? (guint64) 0 - (guint64) number : (guint64) number;
  gsize digits = number < 0 ? 2 : 1;

  while (magnitude >= 10)
    {
      magnitude /= 10;
      digits++;
    }
  return digits;
}

/* "{}" or "[]" and the commas between @n members or elements. */
static gsize
container_size (size_t n)
{
  return 2 + (n > 0 ? n - 1 : 0);
}

gsize
evb_json_size_bounded (json_t *value, gsize limit)
{
  SizeFrame on_stack[SIZE_FRAMES_ON_STACK];
  SizeFrame *frames = on_stack;
  gsize capacity = G_N_ELEMENTS (on_stack);
  gsize depth = 0;
  gsize size = 0;

  if (value == NULL)
    return container_size (0);

  for (;;)
    {
      size_t n = 0;

      switch (json_typeof (value))
        {
        case JSON_OBJECT:
          n = json_object_size (value);
          size += container_size (n);
          break;
        case JSON_ARRAY:
          n = json_array_size (value);
          size += container_size (n);
          break;
        case JSON_STRING:
          size += json_string_length (value) + 2;
          break;
        case JSON_INTEGER:
          size += integer_digits (json_integer_value (value));
          break;
        case JSON_REAL:
          size += EVB_JSON_SIZE_REAL;
          break;
        case JSON_TRUE:
        case JSON_NULL:
          size += 4;
          break;
        case JSON_FALSE:
          size += 5;
          break;
        }
      if (size > limit)
        break;

      if (n > 0)
        {
          if (depth == capacity)
            {
              capacity *= 2;
              if (frames == on_stack)
                frames = g_memdup2 (on_stack, sizeof on_stack);
              frames = g_renew (SizeFrame, frames, capacity);
            }
          frames[depth].container = value;
          frames[depth].iter = json_is_object (value) ? json_object_iter (value) : NULL;
          frames[depth].index = 0;
          depth++;
        }

      /* The next value: the next member or element of the innermost
       * container that has one left. */
      value = NULL;
      while (depth > 0 && value == NULL)
        {
          SizeFrame *top = &frames[depth - 1];

          if (json_is_object (top->container))
            {
              if (top->iter != NULL)
                {
                  /* "key": */
                  size += strlen (json_object_iter_key (top->iter)) + 3;
                  value = json_object_iter_value (top->iter);
                  top->iter = json_object_iter_next (top->container, top->iter);
                }
            }
          else if (top->index < json_array_size (top->container))
            value = json_array_get (top->container, top->index++);
          if (value == NULL)
            depth--;
        }
      if (value == NULL)
        break;
    }

  if (frames != on_stack)
    g_free (frames);
  return size;
}
