/* Attribute filters: a JSON filter is compiled once into a tree of nodes,
 * then evaluated against event data without touching the JSON spec again.
 *
 * Two kinds of node:
 *  - FilterNode works on the data object: "all" / "any" / "not" of filters,
 *    or one field (a pre-split dotted path) with its condition;
 *  - ConditionNode works on one field's value, which is NULL when the field
 *    is missing: an operator (eq, gt, regex, ...) or "all" / "any" / "not"
 *    of conditions.
 *
 * Missing fields: every operator but "exists" is false on a missing value;
 * "all", "any" and "not" are plain boolean logic on top of that.  So
 * {"x": {"ne": 1}} needs x present, while {"x": {"not": 1}} (like
 * {"not": {"x": 1}}) also holds when x is missing.
 *
 * A regex that cannot be evaluated (PCRE2's match limit) fails the whole
 * filter closed, even under "not".
 *
 * Hot path: evb_filter_match () only walks the tree and reads the data; it
 * allocates nothing, except inside g_regex_match_full () (GLib builds a
 * GMatchInfo per call), which is the price of using GRegex.
 *
 * Explaining: evb_filter_explain () runs the same evaluator with a trace
 * that records the conditions that decided (see "Trace" below), then puts
 * them in words.  The evaluator is written once and compiled twice, with
 * and without the trace, so matching pays nothing for it. */

#include "filter.h"

#include <string.h>

#include "json-text.h"
#include "evbus/json.h"

G_DEFINE_QUARK (evb-filter-error-quark, evb_filter_error)

typedef enum {
  CONDITION_ALL,
  CONDITION_ANY,
  CONDITION_NOT,
  CONDITION_EQ,
  CONDITION_NE,
  CONDITION_LT,
  CONDITION_LE,
  CONDITION_GT,
  CONDITION_GE,
  CONDITION_IN,
  CONDITION_EXISTS,
  CONDITION_PREFIX,
  CONDITION_GLOB,
  CONDITION_REGEX,
} ConditionKind;

typedef struct _ConditionNode ConditionNode;

struct _ConditionNode {
  ConditionKind kind;
  GPtrArray *children;  /* ALL, ANY: ConditionNode*; NOT: exactly one */
  json_t *operand;      /* EQ, NE, LT, LE, GT, GE, IN: a private deep copy */
  GHashTable *members;  /* IN: the operand's elements as a set (json_values_equal) */
  gboolean must_exist;  /* EXISTS */
  char *text;           /* PREFIX, GLOB: the operand, NUL-terminated */
  gsize text_length;    /* PREFIX, GLOB: in bytes; the operand may hold NULs */
  GRegex *regex;        /* REGEX */
};

typedef enum {
  FILTER_ALL,
  FILTER_ANY,
  FILTER_NOT,
  FILTER_FIELD,
} FilterKind;

typedef struct _FilterNode FilterNode;

struct _FilterNode {
  FilterKind kind;
  GPtrArray *children;      /* ALL, ANY: FilterNode*; NOT: exactly one */
  char **segments;          /* FIELD: the dotted path, split at compile time */
  ConditionNode *condition; /* FIELD */
};

struct _EvbFilter {
  FilterNode *root;
};

/* ---- nodes ------------------------------------------------------------ */

static void
condition_node_free (ConditionNode *node)
{
  if (node == NULL)
    return;
  g_clear_pointer (&node->children, g_ptr_array_unref);
  g_clear_pointer (&node->members, g_hash_table_unref);
  g_clear_pointer (&node->operand, json_decref);
  g_clear_pointer (&node->text, g_free);
  g_clear_pointer (&node->regex, g_regex_unref);
  g_free (node);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConditionNode, condition_node_free)

static ConditionNode *
condition_node_new (ConditionKind kind)
{
  ConditionNode *node = g_new0 (ConditionNode, 1);

  node->kind = kind;
  if (kind == CONDITION_ALL || kind == CONDITION_ANY || kind == CONDITION_NOT)
    node->children = g_ptr_array_new_with_free_func ((GDestroyNotify) condition_node_free);
  return node;
}

static void
filter_node_free (FilterNode *node)
{
  if (node == NULL)
    return;
  g_clear_pointer (&node->children, g_ptr_array_unref);
  g_clear_pointer (&node->segments, g_strfreev);
  g_clear_pointer (&node->condition, condition_node_free);
  g_free (node);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FilterNode, filter_node_free)

static FilterNode *
filter_node_new (FilterKind kind)
{
  FilterNode *node = g_new0 (FilterNode, 1);

  node->kind = kind;
  if (kind != FILTER_FIELD)
    node->children = g_ptr_array_new_with_free_func ((GDestroyNotify) filter_node_free);
  return node;
}

/* ---- JSON comparison (shared by compile-time checks and matching) ------ */

/* -1, 0 or 1 as @integer is below, equal to or above @real, exactly:
 * converting a 64-bit integer to double would round above 2^53 and call
 * 9007199254740993 equal to 9007199254740992.0.  jansson refuses NaN and
 * infinite reals, so @real is finite. */
static int
compare_integer_with_real (json_int_t integer, double real)
{
  json_int_t whole;
  double fraction;

  /* 2^63: every json_int_t is below it and at or above its negation. */
  if (real >= 9223372036854775808.0)
    return -1;
  if (real < -9223372036854775808.0)
    return 1;

  whole = (json_int_t) real; /* truncates toward zero, exact in this range */
  if (integer != whole)
    return integer < whole ? -1 : 1;

  fraction = real - (double) whole; /* exact: the bits below the point */
  if (fraction > 0)
    return -1;
  if (fraction < 0)
    return 1;
  return 0;
}

/* Numeric order of two JSON numbers, integer or real. */
static int
compare_numbers (json_t *a, json_t *b)
{
  if (json_is_integer (a) && json_is_integer (b))
    {
      json_int_t x = json_integer_value (a), y = json_integer_value (b);
      return (x > y) - (x < y);
    }
  if (json_is_real (a) && json_is_real (b))
    {
      double x = json_real_value (a), y = json_real_value (b);
      return (x > y) - (x < y);
    }
  if (json_is_integer (a))
    return compare_integer_with_real (json_integer_value (a), json_real_value (b));
  return -compare_integer_with_real (json_integer_value (b), json_real_value (a));
}

/* Byte order, like strcmp () but honouring the lengths jansson keeps, as a
 * JSON string may contain "\u0000".  Byte order of UTF-8 is code point
 * order. */
static int
compare_strings (json_t *a, json_t *b)
{
  gsize length_a = json_string_length (a), length_b = json_string_length (b);
  int order = memcmp (json_string_value (a), json_string_value (b), MIN (length_a, length_b));

  if (order != 0)
    return order < 0 ? -1 : 1;
  return (length_a > length_b) - (length_a < length_b);
}

/* json_equal (), except that numbers compare by value at any depth, so
 * 1 == 1.0 and [1] == [1.0].  Allocates nothing. */
static gboolean
json_values_equal (json_t *a, json_t *b)
{
  if (json_is_number (a) && json_is_number (b))
    return compare_numbers (a, b) == 0;
  if (json_typeof (a) != json_typeof (b))
    return FALSE;

  switch (json_typeof (a))
    {
    case JSON_ARRAY:
      {
        gsize size = json_array_size (a);

        if (size != json_array_size (b))
          return FALSE;
        for (gsize i = 0; i < size; i++)
          if (!json_values_equal (json_array_get (a, i), json_array_get (b, i)))
            return FALSE;
        return TRUE;
      }

    case JSON_OBJECT:
      {
        const char *key;
        json_t *value_a;

        if (json_object_size (a) != json_object_size (b))
          return FALSE;
        json_object_foreach (a, key, value_a)
          {
            json_t *value_b = json_object_get (b, key);

            if (value_b == NULL || !json_values_equal (value_a, value_b))
              return FALSE;
          }
        return TRUE;
      }

    default: /* strings, true, false, null */
      return json_equal (a, b);
    }
}

/* ---- "in" sets ---------------------------------------------------------- */

/* A hash that agrees with json_values_equal: values it calls equal hash
 * alike.  So a number hashes by its value, an integral real as the
 * integer it equals (1.0 as 1, -0.0 as 0), any other real by its bits;
 * an object's members combine in any order, as they compare.  An "in" of
 * a million values then costs one lookup per event, not a million
 * comparisons (issue 15, finding 7). */
static guint
json_value_hash (json_t *value)
{
  switch (json_typeof (value))
    {
    case JSON_INTEGER:
      {
        guint64 bits = (guint64) json_integer_value (value);

        return (guint) (bits ^ (bits >> 32)) * 0x9E3779B1u;
      }

    case JSON_REAL:
      {
        double real = json_real_value (value);
        guint64 bits;

        /* The same range compare_integer_with_real treats as integers. */
        if (real >= -9223372036854775808.0 && real < 9223372036854775808.0 && real == (double) (json_int_t) real)
          {
            bits = (guint64) (json_int_t) real;
            return (guint) (bits ^ (bits >> 32)) * 0x9E3779B1u;
          }
        memcpy (&bits, &real, sizeof bits);
        return (guint) (bits ^ (bits >> 32)) * 0x85EBCA77u;
      }

    case JSON_STRING:
      {
        const guchar *bytes = (const guchar *) json_string_value (value);
        gsize length = json_string_length (value);
        guint hash = 2166136261u; /* FNV-1a, over the length jansson keeps */

        for (gsize i = 0; i < length; i++)
          hash = (hash ^ bytes[i]) * 16777619u;
        return hash;
      }

    case JSON_ARRAY:
      {
        guint hash = 0x1234567u + (guint) json_array_size (value);

        for (gsize i = 0; i < json_array_size (value); i++)
          hash = hash * 31u + json_value_hash (json_array_get (value, i));
        return hash;
      }

    case JSON_OBJECT:
      {
        const char *key;
        json_t *member;
        guint hash = 0x7654321u + (guint) json_object_size (value);

        /* A sum: the members' order does not matter. */
        json_object_foreach (value, key, member)
          hash += g_str_hash (key) * 31u + json_value_hash (member);
        return hash;
      }

    case JSON_TRUE:
      return 1u;
    case JSON_FALSE:
      return 2u;
    default: /* null */
      return 3u;
    }
}

static guint
members_hash (gconstpointer value)
{
  return json_value_hash ((json_t *) value);
}

static gboolean json_values_equal (json_t *a, json_t *b);

static gboolean
members_equal (gconstpointer a, gconstpointer b)
{
  return json_values_equal ((json_t *) a, (json_t *) b);
}

/* The elements of @array (kept alive by it) as a set. */
static GHashTable *
members_new (json_t *array)
{
  GHashTable *members = g_hash_table_new (members_hash, members_equal);
  json_t *element;
  gsize i;

  json_array_foreach (array, i, element)
    g_hash_table_add (members, element);
  return members;
}

/* ---- glob ------------------------------------------------------------- */

/* GPatternSpec semantics ('*' is any run of characters, '?' exactly one
 * UTF-8 character, everything else literal, no escapes), written out
 * because g_pattern_spec_match () allocates a reversed copy of the string
 * for some patterns (G_MATCH_ALL_TAIL), and matching must not allocate.
 *
 * Classic single-backtrack matcher: on a mismatch, let the last '*' swallow
 * one more character and retry from there.  Both strings are valid UTF-8
 * (jansson guarantees it), so literal bytes line up on character
 * boundaries and '?' / '*' step whole characters. */
static gboolean
glob_match (const char *pattern, gsize pattern_length, const char *string, gsize string_length)
{
  const char *p = pattern, *p_end = pattern + pattern_length;
  const char *s = string, *s_end = string + string_length;
  const char *after_star = NULL; /* pattern position after the last '*' seen */
  const char *star_match = NULL; /* where the text that '*' swallows ends */

  while (s < s_end)
    {
      if (p < p_end && *p == '*')
        {
          after_star = ++p;
          star_match = s;
        }
      else if (p < p_end && *p == '?')
        {
          p++;
          s = g_utf8_next_char (s);
        }
      else if (p < p_end && *p == *s)
        {
          p++;
          s++;
        }
      else if (after_star != NULL)
        {
          p = after_star;
          star_match = g_utf8_next_char (star_match);
          s = star_match;
        }
      else
        {
          return FALSE;
        }
    }

  while (p < p_end && *p == '*')
    p++;
  return p == p_end;
}

/* ---- matching --------------------------------------------------------- */

/* The value at @segments inside @data, or NULL when a segment is missing
 * or something on the way is not an object (data NULL included). */
static json_t *
lookup_field (json_t *data, char **segments)
{
  json_t *value = data;

  for (; *segments != NULL; segments++)
    {
      if (!json_is_object (value))
        return NULL;
      value = json_object_get (value, *segments);
    }
  return value;
}

/* What a node came to.  EVAL_UNDECIDED: a condition could not be evaluated
 * (a regex that hit its match limit).  It ends the evaluation at once and
 * the whole filter fails closed, whatever "not" or "any" sit above it
 * (DESIGN.md "Filters"): turned around by a "not" it would let the event
 * in. */
typedef enum {
  EVAL_FALSE = 0,
  EVAL_TRUE = 1,
  EVAL_UNDECIDED = 2,
} Eval;

/* Explaining (evb_filter_explain) is the same evaluation with a Trace:
 * the evaluator records the conditions that decided, as a flat list of
 * steps.  A fact is one operator on one field and what it came to; groups
 * enclose the facts under a "not", and those of an "any" none of whose
 * members held.  Every combinator keeps only the steps of the members that
 * decided it: the first "all" member that failed, the first "any" member
 * that held, or else every member.  Without a Trace (trace == NULL, the
 * hot path) none of this is even compiled in: see condition_match (). */
typedef enum {
  STEP_FACT,
  STEP_NOT,     /* opens a group: the steps up to the matching STEP_END are under a "not" */
  STEP_NONE_OF, /* opens a group: the members of an "any", none of which held */
  STEP_END,
} StepKind;

typedef struct {
  StepKind kind;
  const ConditionNode *condition; /* FACT: the operator */
  char **segments;                /* FACT: the field */
  json_t *value;                  /* FACT: the field's value, borrowed from the data; NULL: missing */
  gboolean held;                  /* FACT */
} Step;

typedef struct {
  GArray *steps;          /* Step */
  char **segments;        /* the field being evaluated */
  Step undecided;         /* the condition that could not be evaluated, when undecided_reason is set */
  char *undecided_reason; /* GLib's words for it */
} Trace;

/* Where the steps of the next member will start. */
G_ALWAYS_INLINE static inline guint
trace_mark (const Trace *trace)
{
  return trace == NULL ? 0 : trace->steps->len;
}

/* The member whose steps start at @from decided its combinator alone: the
 * steps of the members before it (from @mark on) go. */
G_ALWAYS_INLINE static inline void
trace_decided_by (Trace *trace, guint mark, guint from)
{
  if (trace != NULL && from > mark)
    g_array_remove_range (trace->steps, mark, from - mark);
}

/* Encloses the steps from @mark on in a group of @kind. */
static void
trace_group (Trace *trace, guint mark, StepKind kind)
{
  Step open = { .kind = kind };
  Step end = { .kind = STEP_END };

  g_array_insert_val (trace->steps, mark, open);
  g_array_append_val (trace->steps, end);
}

static void
trace_fact (Trace *trace, const ConditionNode *node, json_t *value, gboolean held)
{
  Step fact = { STEP_FACT, node, trace->segments, value, held };

  g_array_append_val (trace->steps, fact);
}

/* One operator (not a combinator) on @value, NULL when the field is
 * missing. */
G_ALWAYS_INLINE static inline Eval
operator_eval (const ConditionNode *node, json_t *value, Trace *trace)
{
  if (node->kind == CONDITION_EXISTS)
    return (value != NULL) == node->must_exist;

  /* Every other operator fails on a missing field. */
  if (value == NULL)
    return EVAL_FALSE;

  switch (node->kind)
    {
    case CONDITION_EQ:
      return json_values_equal (value, node->operand);

    case CONDITION_NE:
      return !json_values_equal (value, node->operand);

    case CONDITION_LT:
    case CONDITION_LE:
    case CONDITION_GT:
    case CONDITION_GE:
      {
        int order;

        /* Numbers order with numbers and strings with strings; anything
         * else is simply not in range, not an error at run time. */
        if (json_is_number (value) && json_is_number (node->operand))
          order = compare_numbers (value, node->operand);
        else if (json_is_string (value) && json_is_string (node->operand))
          order = compare_strings (value, node->operand);
        else
          return EVAL_FALSE;

        switch (node->kind)
          {
          case CONDITION_LT: return order < 0;
          case CONDITION_LE: return order <= 0;
          case CONDITION_GT: return order > 0;
          default:           return order >= 0;
          }
      }

    case CONDITION_IN:
      return g_hash_table_contains (node->members, value);

    case CONDITION_PREFIX:
      return json_is_string (value) &&
             json_string_length (value) >= node->text_length &&
             memcmp (json_string_value (value), node->text, node->text_length) == 0;

    case CONDITION_GLOB:
      return json_is_string (value) &&
             glob_match (node->text, node->text_length,
                         json_string_value (value), json_string_length (value));

    case CONDITION_REGEX:
      {
        GError *error = NULL;
        gboolean matched;

        if (!json_is_string (value))
          return EVAL_FALSE;
        /* GLib sets @error only when the match could not be decided
         * (PCRE2's match limit): nothing is allocated otherwise. */
        matched = g_regex_match_full (node->regex, json_string_value (value), json_string_length (value), 0, 0,
                                      NULL, &error);
        if (G_LIKELY (error == NULL))
          return matched ? EVAL_TRUE : EVAL_FALSE;
        if (trace != NULL)
          {
            trace->undecided = (Step) { STEP_FACT, node, trace->segments, value, FALSE };
            trace->undecided_reason = g_strdup (error->message);
          }
        g_error_free (error);
        return EVAL_UNDECIDED;
      }

    default:
      g_assert_not_reached ();
    }
}

/* The evaluation, written once and compiled twice: condition_eval () and
 * filter_eval () are always inlined into a matching entry point, where
 * trace is NULL and everything about it folds away, and into a tracing
 * one.  Children are evaluated through the entry point of the same kind,
 * so the hot path never tests for a trace at all. */
static Eval condition_match (const ConditionNode *node, json_t *value);
static Eval condition_trace (const ConditionNode *node, json_t *value, Trace *trace);
static Eval filter_match (const FilterNode *node, json_t *data);
static Eval filter_trace (const FilterNode *node, json_t *data, Trace *trace);

typedef enum {
  COMBINE_ALL,
  COMBINE_ANY,
  COMBINE_NOT,
} Combine;

/* A child of a condition node (@conditions) or of a filter node, through
 * the entry point of the caller's kind: @conditions and whether @trace is
 * NULL are constants where this is inlined, so it folds to one call. */
G_ALWAYS_INLINE static inline Eval
child_eval (gboolean conditions, gconstpointer child, json_t *value, Trace *trace)
{
  if (conditions)
    return trace != NULL ? condition_trace (child, value, trace) : condition_match (child, value);
  return trace != NULL ? filter_trace (child, value, trace) : filter_match (child, value);
}

/* all, any and not: one definition for conditions and whole filters. */
G_ALWAYS_INLINE static inline Eval
combine (Combine how, gboolean conditions, GPtrArray *children, json_t *value, Trace *trace)
{
  guint mark = trace_mark (trace);
  Eval result;

  switch (how)
    {
    case COMBINE_ALL:
      for (guint i = 0; i < children->len; i++)
        {
          guint from = trace_mark (trace);

          result = child_eval (conditions, g_ptr_array_index (children, i), value, trace);
          if (result != EVAL_TRUE)
            {
              trace_decided_by (trace, mark, from);
              return result;
            }
        }
      return EVAL_TRUE;

    case COMBINE_ANY:
      for (guint i = 0; i < children->len; i++)
        {
          guint from = trace_mark (trace);

          result = child_eval (conditions, g_ptr_array_index (children, i), value, trace);
          if (result != EVAL_FALSE)
            {
              trace_decided_by (trace, mark, from);
              return result;
            }
        }
      if (trace != NULL && children->len > 1)
        trace_group (trace, mark, STEP_NONE_OF);
      return EVAL_FALSE;

    case COMBINE_NOT:
    default:
      result = child_eval (conditions, g_ptr_array_index (children, 0), value, trace);
      if (trace != NULL)
        trace_group (trace, mark, STEP_NOT);
      return result == EVAL_UNDECIDED ? EVAL_UNDECIDED : !result;
    }
}

/* @value: the field's value, NULL when missing. */
G_ALWAYS_INLINE static inline Eval
condition_eval (const ConditionNode *node, json_t *value, Trace *trace)
{
  Eval result;

  switch (node->kind)
    {
    case CONDITION_ALL:
      return combine (COMBINE_ALL, TRUE, node->children, value, trace);
    case CONDITION_ANY:
      return combine (COMBINE_ANY, TRUE, node->children, value, trace);
    case CONDITION_NOT:
      return combine (COMBINE_NOT, TRUE, node->children, value, trace);

    default:
      result = operator_eval (node, value, trace);
      if (trace != NULL && result != EVAL_UNDECIDED)
        trace_fact (trace, node, value, result == EVAL_TRUE);
      return result;
    }
}

G_ALWAYS_INLINE static inline Eval
filter_eval (const FilterNode *node, json_t *data, Trace *trace)
{
  switch (node->kind)
    {
    case FILTER_ALL:
      return combine (COMBINE_ALL, FALSE, node->children, data, trace);
    case FILTER_ANY:
      return combine (COMBINE_ANY, FALSE, node->children, data, trace);
    case FILTER_NOT:
      return combine (COMBINE_NOT, FALSE, node->children, data, trace);

    case FILTER_FIELD:
      {
        json_t *value = lookup_field (data, node->segments);

        if (trace != NULL)
          {
            trace->segments = node->segments;
            return condition_trace (node->condition, value, trace);
          }
        return condition_match (node->condition, value);
      }

    default:
      g_assert_not_reached ();
    }
}

static Eval
condition_match (const ConditionNode *node, json_t *value)
{
  return condition_eval (node, value, NULL);
}

static Eval
condition_trace (const ConditionNode *node, json_t *value, Trace *trace)
{
  return condition_eval (node, value, trace);
}

static Eval
filter_match (const FilterNode *node, json_t *data)
{
  return filter_eval (node, data, NULL);
}

static Eval
filter_trace (const FilterNode *node, json_t *data, Trace *trace)
{
  return filter_eval (node, data, trace);
}

/* ---- explaining: the steps in words ----------------------------------- */

/* Values and operands are quoted at most this long, like evb_json_quote. */
#define EXPLAIN_VALUE_MAX_BYTES 64
/* Members of one group written out; the rest are counted. */
#define EXPLAIN_MAX_MEMBERS 5

/* @value as JSON text: strings as evb_json_quote quotes them (the one way
 * messages quote user text), other values cut the same way. */
static void
append_value (GString *out, json_t *value)
{
  char *text;
  gsize length, kept;

  if (json_is_string (value) && strlen (json_string_value (value)) == json_string_length (value))
    {
      g_autofree char *quoted = evb_json_quote (json_string_value (value));

      g_string_append (out, quoted);
      return;
    }
  /* JSON_ENCODE_ANY: scalars too; "\u0000" in a string stays escaped. */
  text = evb_json_dumps (value, JSON_ENCODE_ANY);
  if (text == NULL)
    {
      g_string_append (out, "?");
      return;
    }
  length = strlen (text);
  kept = MIN (length, EXPLAIN_VALUE_MAX_BYTES);
  while (kept < length && ((guchar) text[kept] & 0xC0) == 0x80)
    kept--;
  g_string_append_len (out, text, kept);
  if (kept < length)
    g_string_append_printf (out, "... (%" G_GSIZE_FORMAT " bytes)", length);
  free (text);
}

static void
append_text_operand (GString *out, const ConditionNode *node)
{
  json_t *text = json_stringn (node->text, node->text_length);

  append_value (out, text);
  json_decref (text);
}

static void
append_regex_operand (GString *out, const ConditionNode *node)
{
  g_autofree char *quoted = evb_json_quote (g_regex_get_pattern (node->regex));

  g_string_append (out, quoted);
}

static void
append_field (GString *out, char **segments)
{
  g_string_append (out, "data");
  for (; *segments != NULL; segments++)
    g_string_append_printf (out, ".%s", *segments);
  g_string_append (out, ": ");
}

/* "data.size: 4 is not > 10": the field, what it held, what the operator
 * made of it. */
static void
append_fact (GString *out, const Step *fact)
{
  static const char *const symbols[] = {
    [CONDITION_LT] = "<", [CONDITION_LE] = "<=", [CONDITION_GT] = ">", [CONDITION_GE] = ">=",
  };
  const ConditionNode *node = fact->condition;
  json_t *value = fact->value;
  const char *is = fact->held ? " is " : " is not ";

  append_field (out, fact->segments);
  if (value == NULL)
    {
      /* Only "exists" looks at a missing field; the others fail on it. */
      g_string_append (out, "missing");
      return;
    }
  if (node->kind == CONDITION_EXISTS)
    {
      g_string_append (out, "present (");
      append_value (out, value);
      g_string_append (out, ")");
      return;
    }

  append_value (out, value);
  switch (node->kind)
    {
    case CONDITION_EQ:
    case CONDITION_NE:
      /* "ne" holds where "eq" fails: say which of the two is true. */
      g_string_append (out, fact->held == (node->kind == CONDITION_EQ) ? " is " : " is not ");
      append_value (out, node->operand);
      break;

    case CONDITION_LT:
    case CONDITION_LE:
    case CONDITION_GT:
    case CONDITION_GE:
      g_string_append_printf (out, "%s%s ", is, symbols[node->kind]);
      append_value (out, node->operand);
      if (!(json_is_number (value) && json_is_number (node->operand)) &&
          !(json_is_string (value) && json_is_string (node->operand)))
        g_string_append (out, " (not comparable)");
      break;

    case CONDITION_IN:
      g_string_append_printf (out, "%sin ", is);
      append_value (out, node->operand);
      break;

    case CONDITION_PREFIX:
    case CONDITION_GLOB:
    case CONDITION_REGEX:
      if (!json_is_string (value))
        {
          g_string_append_printf (out, " is not a string (%s ", node->kind == CONDITION_PREFIX ? "prefix"
                                                                 : node->kind == CONDITION_GLOB ? "glob" : "regex");
          if (node->kind == CONDITION_REGEX)
            append_regex_operand (out, node);
          else
            append_text_operand (out, node);
          g_string_append (out, ")");
        }
      else if (node->kind == CONDITION_PREFIX)
        {
          g_string_append (out, fact->held ? " starts with " : " does not start with ");
          append_text_operand (out, node);
        }
      else if (node->kind == CONDITION_GLOB)
        {
          g_string_append (out, fact->held ? " matches glob " : " does not match glob ");
          append_text_operand (out, node);
        }
      else
        {
          g_string_append (out, fact->held ? " matches regex " : " does not match regex ");
          append_regex_operand (out, node);
        }
      break;

    default:
      g_assert_not_reached ();
    }
}

/* Index just past the member that starts at @i: a fact, or a group up to
 * its STEP_END. */
static guint
member_end (const Step *steps, guint i)
{
  guint depth = 0;

  do
    {
      if (steps[i].kind == STEP_NOT || steps[i].kind == STEP_NONE_OF)
        depth++;
      else if (steps[i].kind == STEP_END)
        depth--;
      i++;
    }
  while (depth > 0);
  return i;
}

static void append_members (GString *out, const Step *steps, guint start, guint end);

static void
append_member (GString *out, const Step *steps, guint i)
{
  if (steps[i].kind == STEP_FACT)
    {
      append_fact (out, &steps[i]);
      return;
    }
  g_string_append (out, steps[i].kind == STEP_NOT ? "not: " : "none of: ");
  append_members (out, steps, i + 1, member_end (steps, i) - 1);
}

/* The members from @start to @end: one as it is, several in parentheses,
 * "; "-separated, at most EXPLAIN_MAX_MEMBERS of them. */
static void
append_members (GString *out, const Step *steps, guint start, guint end)
{
  guint count = 0, written = 0;

  for (guint i = start; i < end; i = member_end (steps, i))
    count++;
  if (count == 0)
    {
      /* {"not": {}}: an empty filter (or "all") holds for any data. */
      g_string_append (out, "(empty, so it holds)");
      return;
    }
  if (count > 1)
    g_string_append_c (out, '(');
  for (guint i = start; i < end && written < EXPLAIN_MAX_MEMBERS; i = member_end (steps, i), written++)
    {
      if (written > 0)
        g_string_append (out, "; ");
      append_member (out, steps, i);
    }
  if (written < count)
    g_string_append_printf (out, "; and %u more", count - written);
  if (count > 1)
    g_string_append_c (out, ')');
}

/* The reason evb_filter_explain () gives for a filter that failed. */
static char *
trace_describe (const Trace *trace)
{
  GString *out = g_string_new (NULL);

  if (trace->undecided_reason != NULL)
    {
      /* GLib says "Error while matching regular expression PATTERN:
       * REASON"; the pattern is quoted already. */
      const char *reason = g_strrstr (trace->undecided_reason, ": ");

      append_field (out, trace->undecided.segments);
      g_string_append (out, "regex ");
      append_regex_operand (out, trace->undecided.condition);
      g_string_append (out, " could not be evaluated on ");
      append_value (out, trace->undecided.value);
      g_string_append_printf (out, " (%s): the filter fails closed",
                              reason != NULL ? reason + 2 : trace->undecided_reason);
    }
  else
    append_members (out, (const Step *) trace->steps->data, 0, trace->steps->len);
  return g_string_free (out, FALSE);
}

/* ---- compiling -------------------------------------------------------- */

/* JSON paths for error reports: keys verbatim after ".", elements "[i]".
 * Under an empty root a key stands alone ("size", not ".size"). */
static char *
path_append_key (const char *parent, const char *key)
{
  if (*parent == '\0')
    return g_strdup (key);
  return g_strconcat (parent, ".", key, NULL);
}

static char *
path_append_index (const char *parent, gsize index)
{
  return g_strdup_printf ("%s[%" G_GSIZE_FORMAT "]", parent, index);
}

/* Where compile errors go: the GError, and the path of the node at fault
 * (always recorded here; evb_filter_compile () hands it on if asked). */
typedef struct {
  GError **error;
  char *error_path;
} CompileContext;

static void compile_fail (CompileContext *context,
                          const char     *path,
                          EvbFilterError  code,
                          const char     *format,
                          ...) G_GNUC_PRINTF (4, 5);

static void
compile_fail (CompileContext *context, const char *path, EvbFilterError code, const char *format, ...)
{
  va_list args;

  g_assert (context->error_path == NULL);
  context->error_path = g_strdup (path);

  va_start (args, format);
  g_propagate_error (context->error, g_error_new_valist (EVB_FILTER_ERROR, code, format, args));
  va_end (args);
}

static ConditionNode *compile_condition (CompileContext *context, json_t *spec, const char *path);
static FilterNode *compile_filter (CompileContext *context, json_t *spec, const char *path);

/* The operand of "all" / "any" at condition level: an array of conditions,
 * compiled into @node's children.  @path is the operator's path. */
static gboolean
compile_condition_list (CompileContext *context, ConditionNode *node, const char *operator_name,
                        json_t *operand, const char *path)
{
  gsize i;
  json_t *element;

  if (!json_is_array (operand))
    {
      compile_fail (context, path, EVB_FILTER_ERROR_INVALID,
                    "%s needs an array of conditions", operator_name);
      return FALSE;
    }
  if (node->kind == CONDITION_ANY && json_array_size (operand) == 0)
    {
      compile_fail (context, path, EVB_FILTER_ERROR_INVALID,
                    "any needs at least one condition");
      return FALSE;
    }

  json_array_foreach (operand, i, element)
    {
      g_autofree char *element_path = path_append_index (path, i);
      ConditionNode *child = compile_condition (context, element, element_path);

      if (child == NULL)
        return FALSE;
      g_ptr_array_add (node->children, child);
    }
  return TRUE;
}

/* One "operator: operand" member of a condition object.  @path is the
 * condition object's path (an unknown operator is reported there, so that
 * the line reads `routes[2].filter.size: unknown operator "gtt"`);
 * @operator_path the member's, where a bad operand is reported. */
static ConditionNode *
compile_operator (CompileContext *context, const char *name, json_t *operand,
                  const char *path, const char *operator_path)
{
  static const struct {
    const char *name;
    ConditionKind kind;
  } operators[] = {
    { "eq", CONDITION_EQ },         { "ne", CONDITION_NE },
    { "lt", CONDITION_LT },         { "le", CONDITION_LE },
    { "gt", CONDITION_GT },         { "ge", CONDITION_GE },
    { "in", CONDITION_IN },         { "exists", CONDITION_EXISTS },
    { "prefix", CONDITION_PREFIX }, { "glob", CONDITION_GLOB },
    { "regex", CONDITION_REGEX },   { "all", CONDITION_ALL },
    { "any", CONDITION_ANY },       { "not", CONDITION_NOT },
  };
  g_autoptr(ConditionNode) node = NULL;
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (operators); i++)
    if (strcmp (name, operators[i].name) == 0)
      break;
  if (i == G_N_ELEMENTS (operators))
    {
      compile_fail (context, path, EVB_FILTER_ERROR_INVALID, "unknown operator \"%s\"", name);
      return NULL;
    }

  node = condition_node_new (operators[i].kind);
  switch (node->kind)
    {
    case CONDITION_ALL:
    case CONDITION_ANY:
      if (!compile_condition_list (context, node, name, operand, operator_path))
        return NULL;
      break;

    case CONDITION_NOT:
      {
        ConditionNode *child = compile_condition (context, operand, operator_path);

        if (child == NULL)
          return NULL;
        g_ptr_array_add (node->children, child);
        break;
      }

    case CONDITION_EQ:
    case CONDITION_NE:
      node->operand = json_deep_copy (operand);
      break;

    case CONDITION_LT:
    case CONDITION_LE:
    case CONDITION_GT:
    case CONDITION_GE:
      if (!json_is_number (operand) && !json_is_string (operand))
        {
          compile_fail (context, operator_path, EVB_FILTER_ERROR_INVALID,
                        "operator \"%s\" needs a number or a string", name);
          return NULL;
        }
      node->operand = json_deep_copy (operand);
      break;

    case CONDITION_IN:
      if (!json_is_array (operand))
        {
          compile_fail (context, operator_path, EVB_FILTER_ERROR_INVALID,
                        "operator \"%s\" needs an array", name);
          return NULL;
        }
      node->operand = json_deep_copy (operand);
      node->members = members_new (node->operand);
      break;

    case CONDITION_EXISTS:
      if (!json_is_boolean (operand))
        {
          compile_fail (context, operator_path, EVB_FILTER_ERROR_INVALID,
                        "operator \"%s\" needs a boolean", name);
          return NULL;
        }
      node->must_exist = json_is_true (operand);
      break;

    case CONDITION_PREFIX:
    case CONDITION_GLOB:
    case CONDITION_REGEX:
      if (!json_is_string (operand))
        {
          compile_fail (context, operator_path, EVB_FILTER_ERROR_INVALID,
                        "operator \"%s\" needs a string", name);
          return NULL;
        }
      if (node->kind == CONDITION_REGEX)
        {
          g_autoptr(GError) regex_error = NULL;
          const char *pattern = json_string_value (operand);

          /* No G_REGEX_OPTIMIZE: with it, GLib (2.74, PCRE2) JIT-compiles
           * the pattern on the first match and writes the result into the
           * shared GRegex, so two threads matching first at once would
           * race; and the JIT code reads past the end of the subject,
           * which valgrind reports.  Without it a GRegex is never
           * modified after g_regex_new (), so any thread may match. */
          node->regex = g_regex_new (pattern, 0, 0, &regex_error);
          if (node->regex == NULL)
            {
              compile_fail (context, operator_path, EVB_FILTER_ERROR_REGEX,
                            "invalid regex \"%s\": %s", pattern, regex_error->message);
              return NULL;
            }
        }
      else
        {
          node->text_length = json_string_length (operand);
          node->text = g_memdup2 (json_string_value (operand), node->text_length + 1);
        }
      break;

    default:
      g_assert_not_reached ();
    }

  return g_steal_pointer (&node);
}

/* A condition: a literal (equality) or an object of operators, all of
 * which must hold. */
static ConditionNode *
compile_condition (CompileContext *context, json_t *spec, const char *path)
{
  g_autoptr(ConditionNode) node = NULL;
  const char *name;
  json_t *operand;

  if (!json_is_object (spec))
    {
      node = condition_node_new (CONDITION_EQ);
      node->operand = json_deep_copy (spec);
      return g_steal_pointer (&node);
    }

  /* {} would hold for every value, even a missing one: almost certainly a
   * mistake for {"eq": {}}, so say so rather than match everything. */
  if (json_object_size (spec) == 0)
    {
      compile_fail (context, path, EVB_FILTER_ERROR_INVALID, "condition needs at least one operator");
      return NULL;
    }

  node = condition_node_new (CONDITION_ALL);
  json_object_foreach (spec, name, operand)
    {
      g_autofree char *operator_path = path_append_key (path, name);
      ConditionNode *child = compile_operator (context, name, operand, path, operator_path);

      if (child == NULL)
        return NULL;
      g_ptr_array_add (node->children, child);
    }

  /* A lone operator needs no "all" around it. */
  if (node->children->len == 1)
    return g_ptr_array_steal_index (node->children, 0);
  return g_steal_pointer (&node);
}

/* A field name is a dotted path into event data; anything longer is a
 * mistake, and error paths below it repeat it once per node (a 1 MB name
 * over a 100,000-element "any" took half a minute to compile). */
#define FIELD_NAME_MAX_BYTES 1024

/* "field": condition, with @path the member's path. */
static FilterNode *
compile_field (CompileContext *context, const char *field, json_t *condition, const char *path)
{
  g_autoptr(FilterNode) node = NULL;

  if (*field == '\0')
    {
      compile_fail (context, path, EVB_FILTER_ERROR_INVALID, "empty field name");
      return NULL;
    }
  if (strlen (field) > FIELD_NAME_MAX_BYTES)
    {
      compile_fail (context, path, EVB_FILTER_ERROR_INVALID,
                    "field name too long (%" G_GSIZE_FORMAT " bytes, at most %d)", strlen (field),
                    FIELD_NAME_MAX_BYTES);
      return NULL;
    }

  node = filter_node_new (FILTER_FIELD);
  node->segments = g_strsplit (field, ".", -1);
  for (char **segment = node->segments; *segment != NULL; segment++)
    if (**segment == '\0')
      {
        compile_fail (context, path, EVB_FILTER_ERROR_INVALID,
                      "empty segment in field name \"%s\"", field);
        return NULL;
      }

  node->condition = compile_condition (context, condition, path);
  if (node->condition == NULL)
    return NULL;
  return g_steal_pointer (&node);
}

/* The operand of "all" / "any" at filter level: an array of filters,
 * compiled into @node's children.  @path is the key's path. */
static gboolean
compile_filter_list (CompileContext *context, FilterNode *node, const char *key,
                     json_t *operand, const char *path)
{
  gsize i;
  json_t *element;

  if (!json_is_array (operand))
    {
      compile_fail (context, path, EVB_FILTER_ERROR_INVALID, "%s needs an array of filters", key);
      return FALSE;
    }
  if (node->kind == FILTER_ANY && json_array_size (operand) == 0)
    {
      compile_fail (context, path, EVB_FILTER_ERROR_INVALID, "any needs at least one filter");
      return FALSE;
    }

  json_array_foreach (operand, i, element)
    {
      g_autofree char *element_path = path_append_index (path, i);
      FilterNode *child = compile_filter (context, element, element_path);

      if (child == NULL)
        return FALSE;
      g_ptr_array_add (node->children, child);
    }
  return TRUE;
}

/* A filter object: every member must hold.  Members are fields, except the
 * keys "all", "any" and "not", which combine filters. */
static FilterNode *
compile_filter (CompileContext *context, json_t *spec, const char *path)
{
  g_autoptr(FilterNode) node = NULL;
  const char *key;
  json_t *member;

  if (!json_is_object (spec))
    {
      compile_fail (context, path, EVB_FILTER_ERROR_INVALID, "filter must be an object");
      return NULL;
    }

  node = filter_node_new (FILTER_ALL);
  json_object_foreach (spec, key, member)
    {
      g_autofree char *member_path = path_append_key (path, key);
      g_autoptr(FilterNode) child = NULL;

      if (strcmp (key, "all") == 0 || strcmp (key, "any") == 0)
        {
          child = filter_node_new (strcmp (key, "all") == 0 ? FILTER_ALL : FILTER_ANY);
          if (!compile_filter_list (context, child, key, member, member_path))
            return NULL;
        }
      else if (strcmp (key, "not") == 0)
        {
          FilterNode *negated = compile_filter (context, member, member_path);

          if (negated == NULL)
            return NULL;
          child = filter_node_new (FILTER_NOT);
          g_ptr_array_add (child->children, negated);
        }
      else
        {
          child = compile_field (context, key, member, member_path);
          if (child == NULL)
            return NULL;
        }
      g_ptr_array_add (node->children, g_steal_pointer (&child));
    }

  return g_steal_pointer (&node);
}

/* ---- public API ------------------------------------------------------- */

EvbFilter *
evb_filter_compile (json_t *spec, const char *path, char **error_path, GError **error)
{
  CompileContext context = { error, NULL };
  FilterNode *root;
  EvbFilter *filter;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (error_path != NULL)
    *error_path = NULL;

  root = compile_filter (&context, spec, path != NULL ? path : "filter");
  if (root == NULL)
    {
      if (error_path != NULL)
        *error_path = g_steal_pointer (&context.error_path);
      g_free (context.error_path);
      return NULL;
    }

  filter = g_new0 (EvbFilter, 1);
  filter->root = root;
  return filter;
}

gboolean
evb_filter_match (const EvbFilter *filter, json_t *data)
{
  g_return_val_if_fail (filter != NULL, FALSE);

  return filter_match (filter->root, data) == EVAL_TRUE;
}

gboolean
evb_filter_explain (const EvbFilter *filter, json_t *data, char **reason)
{
  Trace trace;
  gboolean matched;

  g_return_val_if_fail (filter != NULL, FALSE);

  memset (&trace, 0, sizeof trace);
  trace.steps = g_array_new (FALSE, FALSE, sizeof (Step));
  matched = filter_trace (filter->root, data, &trace) == EVAL_TRUE;
  if (reason != NULL)
    *reason = matched ? NULL : trace_describe (&trace);
  g_array_unref (trace.steps);
  g_free (trace.undecided_reason);
  return matched;
}

void
evb_filter_free (EvbFilter *filter)
{
  if (filter == NULL)
    return;
  filter_node_free (filter->root);
  g_free (filter);
}
