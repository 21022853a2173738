/* Event types and patterns as NATS subjects, and back.
 *
 * Our grammar (plugin.h) is a subset of NATS's: segments [a-z0-9_-] are
 * valid subject tokens, "*" and a last ">" mean the same on both sides.
 * But NATS accepts far more than we do on publish ("a..b" is taken and
 * silently never delivered, "x.>" is delivered literally, upper case and
 * "$" are fine), so every subject is built here from a checked type or
 * pattern, and every received subject is checked before it becomes a
 * type.  Pure: no I/O, no state. */
#include "nats-private.h"

static const char *
type_fault_text (EvbTypeFault fault)
{
  switch (fault)
    {
    case EVB_TYPE_EMPTY: return "it is empty";
    case EVB_TYPE_EMPTY_SEGMENT: return "an empty segment";
    case EVB_TYPE_BAD_CHARACTER: return "a character other than a-z 0-9 _ - (wildcards are not allowed here)";
    case EVB_TYPE_OK: break;
    }
  return "valid";
}

static const char *
pattern_fault_text (EvbPatternFault fault)
{
  switch (fault)
    {
    case EVB_PATTERN_EMPTY: return "it is empty";
    case EVB_PATTERN_EMPTY_SEGMENT: return "an empty segment";
    case EVB_PATTERN_BAD_CHARACTER: return "a segment that is neither a name (a-z 0-9 _ -), \"*\" nor \">\"";
    case EVB_PATTERN_TAIL_NOT_LAST: return "\">\" before the last segment";
    case EVB_PATTERN_OK: break;
    }
  return "valid";
}

gboolean
nats_prefix_check (const char *option, const char *prefix, GError **error)
{
  guint segment;
  EvbTypeFault fault = evb_type_find_fault (prefix, &segment);

  if (fault == EVB_TYPE_OK)
    return TRUE;
  if (fault == EVB_TYPE_EMPTY)
    g_set_error (error, NATS_ERROR, NATS_ERROR_CONFIG, "option \"%s\": a subject prefix cannot be empty", option);
  else
    g_set_error (error, NATS_ERROR, NATS_ERROR_CONFIG,
                 "option \"%s\": \"%s\" is not a subject prefix: segment %u has %s; write dotted names such as "
                 "\"evbus\" or \"site.evbus\"",
                 option, prefix, segment, type_fault_text (fault));
  return FALSE;
}

char *
nats_subject_for_type (const char *prefix, const char *type, gboolean allow_reserved, GError **error)
{
  guint segment;
  EvbTypeFault fault = evb_type_find_fault (type, &segment);

  if (fault == EVB_TYPE_EMPTY)
    {
      g_set_error_literal (error, NATS_ERROR, NATS_ERROR_SUBJECT, "an empty event type is not a subject");
      return NULL;
    }
  if (fault != EVB_TYPE_OK)
    {
      g_set_error (error, NATS_ERROR, NATS_ERROR_SUBJECT,
                   "event type \"%s\" is not a valid subject: segment %u has %s", type, segment,
                   type_fault_text (fault));
      return NULL;
    }
  if (!allow_reserved && evb_type_is_reserved (type))
    {
      g_set_error (error, NATS_ERROR, NATS_ERROR_SUBJECT,
                   "event type \"%s\" is the host's own (\"evbus.\"): it cannot be a job, no host could emit it",
                   type);
      return NULL;
    }
  return g_strconcat (prefix, ".", type, NULL);
}

char *
nats_subject_for_pattern (const char *prefix, const char *pattern, GError **error)
{
  guint segment;
  EvbPatternFault fault = evb_pattern_find_fault (pattern, &segment);

  if (fault == EVB_PATTERN_EMPTY)
    {
      g_set_error_literal (error, NATS_ERROR, NATS_ERROR_SUBJECT, "an empty pattern is not a subject");
      return NULL;
    }
  if (fault != EVB_PATTERN_OK)
    {
      g_set_error (error, NATS_ERROR, NATS_ERROR_SUBJECT, "\"%s\" is not a pattern: segment %u has %s",
                   pattern, segment, pattern_fault_text (fault));
      return NULL;
    }
  return g_strconcat (prefix, ".", pattern, NULL);
}

char *
nats_type_for_subject (const char *prefix, const char *subject, const char *host_events_as, const char **why)
{
  gsize prefix_length = strlen (prefix);
  const char *type;

  *why = NULL;
  if (strncmp (subject, prefix, prefix_length) != 0 || subject[prefix_length] != '.')
    {
      *why = "not under the prefix";
      return NULL;
    }
  type = subject + prefix_length + 1;
  if (!evb_type_is_valid (type))
    {
      *why = "the rest is not an event type (dotted names of a-z 0-9 _ -)";
      return NULL;
    }
  if (evb_type_is_reserved (type))
    return g_strconcat (host_events_as, ".", type + strlen (EVB_RESERVED_TYPE_PREFIX), NULL);
  return g_strdup (type);
}
