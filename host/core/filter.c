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
 * Hot path: evb_filter_match () only walks the tree and reads the data; it
 * allocates nothing, except inside g_regex_match_full () (GLib builds a
 * GMatchInfo per call), which is the price of using GRegex. */

#include "filter.h"

#include <string.h>

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

/* @value: the field's value, NULL when missing. */
static gboolean
condition_holds (const ConditionNode *node, json_t *value)
{
  switch (node->kind)
    {
    case CONDITION_ALL:
      for (guint i = 0; i < node->children->len; i++)
        if (!condition_holds (g_ptr_array_index (node->children, i), value))
          return FALSE;
      return TRUE;

    case CONDITION_ANY:
      for (guint i = 0; i < node->children->len; i++)
        if (condition_holds (g_ptr_array_index (node->children, i), value))
          return TRUE;
      return FALSE;

    case CONDITION_NOT:
      return !condition_holds (g_ptr_array_index (node->children, 0), value);

    case CONDITION_EXISTS:
      return (value != NULL) == node->must_exist;

    default:
      break;
    }

  /* Every other operator fails on a missing field. */
  if (value == NULL)
    return FALSE;

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
          return FALSE;

        switch (node->kind)
          {
          case CONDITION_LT: return order < 0;
          case CONDITION_LE: return order <= 0;
          case CONDITION_GT: return order > 0;
          default:           return order >= 0;
          }
      }

    case CONDITION_IN:
      for (gsize i = 0; i < json_array_size (node->operand); i++)
        if (json_values_equal (value, json_array_get (node->operand, i)))
          return TRUE;
      return FALSE;

    case CONDITION_PREFIX:
      return json_is_string (value) &&
             json_string_length (value) >= node->text_length &&
             memcmp (json_string_value (value), node->text, node->text_length) == 0;

    case CONDITION_GLOB:
      return json_is_string (value) &&
             glob_match (node->text, node->text_length,
                         json_string_value (value), json_string_length (value));

    case CONDITION_REGEX:
      return json_is_string (value) &&
             g_regex_match_full (node->regex, json_string_value (value),
                                 json_string_length (value), 0, 0, NULL, NULL);

    default:
      g_assert_not_reached ();
    }
}

static gboolean
filter_holds (const FilterNode *node, json_t *data)
{
  switch (node->kind)
    {
    case FILTER_ALL:
      for (guint i = 0; i < node->children->len; i++)
        if (!filter_holds (g_ptr_array_index (node->children, i), data))
          return FALSE;
      return TRUE;

    case FILTER_ANY:
      for (guint i = 0; i < node->children->len; i++)
        if (filter_holds (g_ptr_array_index (node->children, i), data))
          return TRUE;
      return FALSE;

    case FILTER_NOT:
      return !filter_holds (g_ptr_array_index (node->children, 0), data);

    case FILTER_FIELD:
      return condition_holds (node->condition, lookup_field (data, node->segments));

    default:
      g_assert_not_reached ();
    }
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

  return filter_holds (filter->root, data);
}

void
evb_filter_free (EvbFilter *filter)
{
  if (filter == NULL)
    return;
  filter_node_free (filter->root);
  g_free (filter);
}
