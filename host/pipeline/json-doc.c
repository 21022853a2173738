/* A JSON document with the position of every value (see json-doc.h).
 *
 * jansson does the parsing and all the error reporting on malformed text.
 * Only once it has accepted the text do we scan it again with a tokenizer
 * that trusts the grammar and merely follows nesting, to note where each
 * member key and array element starts.  Keeping the two apart means the
 * scanner never has to produce an error message of its own. */
#include "json-doc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _EvbJsonDoc {
  char *file;
  json_t *root;
  GHashTable *positions; /* JSON path (char *) -> JsonPosition * */
};

typedef struct {
  guint line;
  guint column;
} JsonPosition;

G_DEFINE_QUARK (evb-json-doc-error-quark, evb_json_doc_error)

/* ---- reading ---- */

/* g_file_get_contents() would do, but its messages are translated sentences
 * of their own; we want the bare strerror() after "cannot read:". */
static char *
read_whole_file (const char *file, gsize *length, GError **error)
{
  g_autoptr (GString) text = g_string_new (NULL);
  char buffer[8192];
  int saved_errno;
  int fd;

  fd = open (file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    goto fail;

  for (;;)
    {
      ssize_t n = read (fd, buffer, sizeof buffer);

      if (n == 0)
        break;
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          saved_errno = errno;
          close (fd);
          errno = saved_errno;
          goto fail;
        }
      g_string_append_len (text, buffer, n);
    }
  close (fd);

  *length = text->len;
  return g_string_free (g_steal_pointer (&text), FALSE);

fail:
  saved_errno = errno;
  g_set_error (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_READ, "%s: cannot read: %s", file,
               g_strerror (saved_errno));
  return NULL;
}

/* ---- positions ---- */

/* Paths are built in one buffer, a segment appended on the way down and
 * cut on the way up, so scanning costs the size of the text, not the sum
 * of all path lengths: a long key above many values would otherwise be
 * copied once per value (a 2 MB config took 40 s and 4 GB).  The paths
 * recorded are still copies; past a budget proportional to the text
 * (PATH_BUDGET_*) no more are recorded, and the values without one are
 * located at their nearest recorded ancestor. */
typedef struct {
  const char *text;
  gsize length;
  gsize offset;
  guint line;
  guint chars_on_line; /* characters consumed on the current line */
  GHashTable *positions;
  GString *path;       /* the path of the value being scanned */
  gsize path_bytes;    /* bytes of the paths recorded so far */
  gsize path_budget;   /* ... at most */
} PositionScanner;

#define PATH_BUDGET_PER_BYTE 16
#define PATH_BUDGET_BASE (1024 * 1024)

/* jansson nests at most 2048 deep (JSON_PARSER_MAX_DEPTH); anything it
 * accepted stays well within this, the guard only bounds our recursion. */
#define SCAN_MAX_DEPTH 4096

static guchar
scanner_peek (PositionScanner *scanner)
{
  return scanner->offset < scanner->length ? (guchar) scanner->text[scanner->offset] : 0;
}

static void
scanner_advance (PositionScanner *scanner)
{
  guchar c = (guchar) scanner->text[scanner->offset++];

  /* Count like jansson: a new line on '\n' only, and one column per UTF-8
   * lead byte, so a column is a character, not a byte. */
  if (c == '\n')
    {
      scanner->line++;
      scanner->chars_on_line = 0;
    }
  else if ((c & 0xC0) != 0x80)
    {
      scanner->chars_on_line++;
    }
}

static void
scanner_skip_space (PositionScanner *scanner)
{
  for (;;)
    {
      guchar c = scanner_peek (scanner);

      if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
        return;
      scanner_advance (scanner);
    }
}

/* Notes that the value at the scanner's path starts at @line, @column.
 * The first value recorded under a path keeps it (see json-doc.h on keys
 * with dots). */
static void
scanner_record (PositionScanner *scanner, guint line, guint column)
{
  JsonPosition *position;

  if (scanner->path_bytes + scanner->path->len > scanner->path_budget ||
      g_hash_table_contains (scanner->positions, scanner->path->str))
    return;
  scanner->path_bytes += scanner->path->len + 1;
  position = g_new (JsonPosition, 1);
  position->line = line;
  position->column = column;
  g_hash_table_insert (scanner->positions, g_strdup (scanner->path->str), position);
}

static gboolean
scan_hex4 (PositionScanner *scanner, gunichar *value)
{
  *value = 0;
  for (int i = 0; i < 4; i++)
    {
      int digit = g_ascii_xdigit_value (scanner_peek (scanner));

      if (digit < 0)
        return FALSE;
      *value = (*value << 4) | (gunichar) digit;
      scanner_advance (scanner);
    }
  return TRUE;
}

/* Scans a string starting at its opening quote.  When @decoded is not
 * NULL, appends the unescaped text: object keys must be spelled in paths
 * exactly as jansson stores them. */
static gboolean
scan_string (PositionScanner *scanner, GString *decoded)
{
  if (scanner_peek (scanner) != '"')
    return FALSE;
  scanner_advance (scanner);

  for (;;)
    {
      guchar c = scanner_peek (scanner);
      gunichar unit;

      if (scanner->offset >= scanner->length)
        return FALSE;
      if (c == '"')
        {
          scanner_advance (scanner);
          return TRUE;
        }
      if (c != '\\')
        {
          if (decoded)
            g_string_append_c (decoded, (char) c);
          scanner_advance (scanner);
          continue;
        }

      scanner_advance (scanner);
      c = scanner_peek (scanner);
      if (c != 'u')
        {
          const char *plain = strchr ("\"\\/bfnrt", c);

          if (c == 0 || plain == NULL)
            return FALSE;
          if (decoded)
            g_string_append_c (decoded, "\"\\/\b\f\n\r\t"[plain - "\"\\/bfnrt"]);
          scanner_advance (scanner);
          continue;
        }

      scanner_advance (scanner);
      if (!scan_hex4 (scanner, &unit))
        return FALSE;
      /* A high surrogate must be followed by "\uDC00".."\uDFFF" (jansson
       * rejects lone surrogates), together one code point. */
      if (unit >= 0xD800 && unit <= 0xDBFF)
        {
          gunichar low;

          if (scanner_peek (scanner) != '\\')
            return FALSE;
          scanner_advance (scanner);
          if (scanner_peek (scanner) != 'u')
            return FALSE;
          scanner_advance (scanner);
          if (!scan_hex4 (scanner, &low) || low < 0xDC00 || low > 0xDFFF)
            return FALSE;
          unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        }
      if (decoded)
        g_string_append_unichar (decoded, unit);
    }
}

/* Appends ".key" (just "key" at the top) to @path. */
static void
path_append_member (GString *path, const char *key, gsize key_length)
{
  if (path->len > 0)
    g_string_append_c (path, '.');
  g_string_append_len (path, key, key_length);
}

static gboolean scan_value (PositionScanner *scanner, guint depth);

static gboolean
scan_object (PositionScanner *scanner, guint depth)
{
  g_autoptr (GString) key = g_string_new (NULL);
  gsize parent_length = scanner->path->len;

  scanner_advance (scanner); /* '{' */
  scanner_skip_space (scanner);
  if (scanner_peek (scanner) == '}')
    {
      scanner_advance (scanner);
      return TRUE;
    }

  for (;;)
    {
      guint key_line, key_column;

      scanner_skip_space (scanner);
      g_string_truncate (key, 0);
      /* Recorded at the key's quote, once the key is known. */
      key_line = scanner->line;
      key_column = scanner->chars_on_line + 1;
      if (!scan_string (scanner, key))
        return FALSE;
      g_string_truncate (scanner->path, parent_length);
      path_append_member (scanner->path, key->str, key->len);
      scanner_record (scanner, key_line, key_column);

      scanner_skip_space (scanner);
      if (scanner_peek (scanner) != ':')
        return FALSE;
      scanner_advance (scanner);
      scanner_skip_space (scanner);
      if (!scan_value (scanner, depth + 1))
        return FALSE;

      scanner_skip_space (scanner);
      switch (scanner_peek (scanner))
        {
        case ',':
          scanner_advance (scanner);
          break;
        case '}':
          scanner_advance (scanner);
          g_string_truncate (scanner->path, parent_length);
          return TRUE;
        default:
          return FALSE;
        }
    }
}

static gboolean
scan_array (PositionScanner *scanner, guint depth)
{
  gsize parent_length = scanner->path->len;

  scanner_advance (scanner); /* '[' */
  scanner_skip_space (scanner);
  if (scanner_peek (scanner) == ']')
    {
      scanner_advance (scanner);
      return TRUE;
    }

  for (guint index = 0;; index++)
    {
      g_string_truncate (scanner->path, parent_length);
      g_string_append_printf (scanner->path, "[%u]", index);
      scanner_skip_space (scanner);
      scanner_record (scanner, scanner->line, scanner->chars_on_line + 1);
      if (!scan_value (scanner, depth + 1))
        return FALSE;

      scanner_skip_space (scanner);
      switch (scanner_peek (scanner))
        {
        case ',':
          scanner_advance (scanner);
          break;
        case ']':
          scanner_advance (scanner);
          g_string_truncate (scanner->path, parent_length);
          return TRUE;
        default:
          return FALSE;
        }
    }
}

/* Characters of numbers and of true, false, null. */
static gboolean
is_scalar_char (guchar c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '+' || c == '.';
}

/* Scans one value starting at its first character.  Its own position was
 * recorded by the caller (key or element), since only the caller knows
 * which character an operator would look at. */
static gboolean
scan_value (PositionScanner *scanner, guint depth)
{
  guchar c = scanner_peek (scanner);

  if (depth > SCAN_MAX_DEPTH)
    return FALSE;

  switch (c)
    {
    case '{':
      return scan_object (scanner, depth);
    case '[':
      return scan_array (scanner, depth);
    case '"':
      return scan_string (scanner, NULL);
    default:
      /* Numbers and literals: jansson has checked their spelling. */
      if (!is_scalar_char (c))
        return FALSE;
      while (is_scalar_char (scanner_peek (scanner)))
        scanner_advance (scanner);
      return TRUE;
    }
}

static GHashTable *
map_positions (const char *text, gsize length)
{
  PositionScanner scanner = {
    .text = text,
    .length = length,
    .line = 1,
    .positions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free),
    .path = g_string_new (NULL),
    .path_budget = PATH_BUDGET_BASE + PATH_BUDGET_PER_BYTE * length,
  };

  scanner_skip_space (&scanner);
  scanner_record (&scanner, scanner.line, scanner.chars_on_line + 1);
  /* jansson accepted this text, so a failure here is a bug in the scanner;
   * the map is then partial and evb_json_doc_where() falls back to
   * ancestors, which still beats failing the load. */
  if (!scan_value (&scanner, 0))
    g_warning ("json-doc: position scan stopped at byte %" G_GSIZE_FORMAT, scanner.offset);

  g_string_free (scanner.path, TRUE);
  return scanner.positions;
}

/* ---- the document ---- */

/* JSON text never holds a NUL byte, but jansson 2.14 skips one that
 * follows a number or a literal ({"a": 1<NUL>} loads), and the position
 * scanner would then disagree with it.  Refused here, with its position.
 * Found by tests/fuzz/fuzz-config. */
static gboolean
check_no_nul (const char *file, const char *text, gsize length, GError **error)
{
  const char *nul = memchr (text, '\0', length);
  guint line = 1, column = 1;

  if (nul == NULL)
    return TRUE;
  for (const char *p = text; p < nul; p++)
    {
      if (*p == '\n')
        {
          line++;
          column = 1;
        }
      else if (((guchar) *p & 0xC0) != 0x80)
        column++;
    }
  g_set_error (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_PARSE,
               "%s:%u:%u: NUL byte in the text (not valid JSON)", file, line, column);
  return FALSE;
}

EvbJsonDoc *
evb_json_doc_load (const char *file, GError **error)
{
  g_autofree char *text = NULL;
  json_error_t json_error;
  EvbJsonDoc *doc;
  gsize length;
  json_t *root;

  g_return_val_if_fail (file != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  text = read_whole_file (file, &length, error);
  if (text == NULL)
    return NULL;
  if (!check_no_nul (file, text, length, error))
    return NULL;

  /* Any value at the top, so that the config loader can say "expected an
   * object" instead of jansson's "'[' or '{' expected". */
  root = json_loadb (text, length, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &json_error);
  if (root == NULL)
    {
      if (json_error.line >= 1)
        /* jansson reports column 0 at the very start of a line (an empty
         * file); our columns are 1-based. */
        g_set_error (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_PARSE, "%s:%d:%d: %s", file,
                     json_error.line, MAX (json_error.column, 1), json_error.text);
      else
        g_set_error (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_PARSE, "%s: %s", file,
                     json_error.text);
      return NULL;
    }

  doc = g_new0 (EvbJsonDoc, 1);
  doc->file = g_strdup (file);
  doc->root = root;
  doc->positions = map_positions (text, length);
  return doc;
}

json_t *
evb_json_doc_root (EvbJsonDoc *doc)
{
  g_return_val_if_fail (doc != NULL, NULL);
  return doc->root;
}

const char *
evb_json_doc_file (EvbJsonDoc *doc)
{
  g_return_val_if_fail (doc != NULL, NULL);
  return doc->file;
}

gboolean
evb_json_doc_locate (EvbJsonDoc *doc, const char *path, guint *line, guint *column)
{
  g_autofree char *candidate = NULL;

  g_return_val_if_fail (doc != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  candidate = g_strdup (path);
  for (;;)
    {
      JsonPosition *position = g_hash_table_lookup (doc->positions, candidate);
      char *cut;

      if (position)
        {
          if (line)
            *line = position->line;
          if (column)
            *column = position->column;
          return TRUE;
        }
      if (*candidate == '\0')
        return FALSE;

      /* Drop the last ".key" or "[i]"; each round shortens the string, so
       * this ends at "" even for keys that contain "." or "[". */
      cut = MAX (strrchr (candidate, '.'), strrchr (candidate, '['));
      if (cut)
        *cut = '\0';
      else
        *candidate = '\0';
    }
}

char *
evb_json_doc_where (EvbJsonDoc *doc, const char *path)
{
  guint line, column;

  g_return_val_if_fail (doc != NULL, NULL);

  if (path && evb_json_doc_locate (doc, path, &line, &column))
    return g_strdup_printf ("%s:%u:%u", doc->file, line, column);
  return g_strdup (doc->file);
}

void
evb_json_doc_free (EvbJsonDoc *doc)
{
  if (doc == NULL)
    return;
  json_decref (doc->root);
  g_hash_table_unref (doc->positions);
  g_free (doc->file);
  g_free (doc);
}

/* ---- environment ---- */

static gboolean
is_variable_name (const char *name)
{
  if (!g_ascii_isalpha (*name) && *name != '_')
    return FALSE;
  for (name++; *name; name++)
    if (!g_ascii_isalnum (*name) && *name != '_')
      return FALSE;
  return TRUE;
}

/* Expands @text; what it substitutes is taken from *@budget (bytes left
 * for the whole document), failing with EVB_JSON_DOC_ERROR_TOO_BIG when
 * it would run out. */
static char *
expand_env_string (const char *text, gsize *budget, GError **error)
{
  g_autoptr (GString) out = NULL;
  const char *p;

  out = g_string_sized_new (strlen (text));
  for (p = text; *p;)
    {
      g_autofree char *reference = NULL;
      const char *fallback = NULL;
      const char *value;
      const char *close;
      char *separator;

      if (p[0] == '$' && p[1] == '$' && p[2] == '{')
        {
          g_string_append (out, "${");
          p += 3;
          continue;
        }
      if (p[0] != '$' || p[1] != '{')
        {
          g_string_append_c (out, *p++);
          continue;
        }

      close = strchr (p + 2, '}');
      if (close == NULL)
        {
          g_set_error_literal (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_ENV,
                               "unterminated \"${\" (close it with \"}\" or write $${ for a literal \"${\")");
          return NULL;
        }

      /* "NAME" or "NAME:-default"; the default is literal text. */
      reference = g_strndup (p + 2, close - (p + 2));
      separator = strstr (reference, ":-");
      if (separator)
        {
          *separator = '\0';
          fallback = separator + 2;
        }
      if (!is_variable_name (reference))
        {
          g_set_error (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_ENV,
                       "invalid reference \"%.*s\" (write ${NAME} or ${NAME:-default}, "
                       "NAME made of letters, digits and \"_\")",
                       (int) (close + 1 - p), p);
          return NULL;
        }

      value = g_getenv (reference);
      if (value && !g_utf8_validate (value, -1, NULL))
        {
          g_set_error (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_ENV,
                       "environment variable \"%s\" is not valid UTF-8", reference);
          return NULL;
        }
      if (fallback && (value == NULL || *value == '\0'))
        value = fallback;
      if (value == NULL)
        {
          g_set_error (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_ENV,
                       "environment variable \"%s\" is not set (set it or write ${%s:-default})",
                       reference, reference);
          return NULL;
        }
      if (strlen (value) > *budget)
        {
          g_set_error (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_TOO_BIG,
                       "${%.64s%s} takes the text substituted for environment variables in this file past "
                       "%u MiB: reference large variables less often, or keep large values in a file",
                       reference, strlen (reference) > 64 ? "..." : "", EVB_JSON_EXPANSION_MAX >> 20);
          return NULL;
        }
      *budget -= strlen (value);

      g_string_append (out, value);
      p = close + 1;
    }

  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
evb_json_expand_env_string (const char *text, GError **error)
{
  gsize budget = G_MAXSIZE;

  g_return_val_if_fail (text != NULL, NULL);
  return expand_env_string (text, &budget, error);
}

typedef struct {
  EvbJsonDocProblemFunc report;
  gpointer user_data;
  GString *path; /* of the value being expanded: one buffer, as for scanning */
  gsize budget;  /* bytes substitutions may still add (EVB_JSON_EXPANSION_MAX) */
  gboolean over; /* the budget ran out: expand nothing more */
} ExpandContext;

static gboolean
expand_value (ExpandContext *context, json_t *value)
{
  gsize parent_length = context->path->len;
  gboolean ok = TRUE;

  if (context->over)
    return FALSE;
  if (json_is_object (value))
    {
      const char *key;
      json_t *member;

      json_object_foreach (value, key, member)
        {
          path_append_member (context->path, key, strlen (key));
          ok &= expand_value (context, member);
          g_string_truncate (context->path, parent_length);
        }
    }
  else if (json_is_array (value))
    {
      json_t *element;
      size_t index;

      json_array_foreach (value, index, element)
        {
          g_string_append_printf (context->path, "[%zu]", index);
          ok &= expand_value (context, element);
          g_string_truncate (context->path, parent_length);
        }
    }
  else if (json_is_string (value))
    {
      const char *text = json_string_value (value);
      g_autoptr (GError) error = NULL;
      g_autofree char *expanded = NULL;

      if (strchr (text, '$') == NULL)
        return TRUE;
      expanded = expand_env_string (text, &context->budget, &error);
      if (expanded == NULL)
        {
          /* One report: every string after it would say the same. */
          context->over = g_error_matches (error, EVB_JSON_DOC_ERROR, EVB_JSON_DOC_ERROR_TOO_BIG);
          context->report (context->path->str, error->message, context->user_data);
          return FALSE;
        }
      /* Both parts are valid UTF-8 without NUL, so this cannot fail. */
      json_string_set (value, expanded);
    }

  return ok;
}

gboolean
evb_json_doc_expand_env (EvbJsonDoc *doc, EvbJsonDocProblemFunc report, gpointer user_data)
{
  ExpandContext context = { report, user_data, NULL, EVB_JSON_EXPANSION_MAX, FALSE };
  gboolean ok;

  g_return_val_if_fail (doc != NULL, FALSE);
  g_return_val_if_fail (report != NULL, FALSE);

  context.path = g_string_new (NULL);
  ok = expand_value (&context, doc->root);
  g_string_free (context.path, TRUE);
  return ok;
}
