/* Trust checks on config and plugin files (trust.h). */
#include "trust.h"

#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (evb-trust-error-quark, evb_trust_error)

#define ALLOW_HINT "--allow-insecure"

static gboolean trust_enforced = TRUE;

void
evb_trust_set_enforced (gboolean enforced)
{
  trust_enforced = enforced;
}

/* "alice" or "uid 1000" when the user has no name. */
static char *
user_name (uid_t uid)
{
  struct passwd *entry = getpwuid (uid);

  if (entry != NULL && entry->pw_name != NULL)
    return g_strdup (entry->pw_name);
  return g_strdup_printf ("uid %u", (guint) uid);
}

/* The write bits that let someone else change the file.  Group write does
 * not count when the group is the owner's own private group (its primary
 * group, with no other member): that is what umask 002 gives every file on
 * systems with user private groups, and OpenSSH accepts it for the same
 * reason. */
static mode_t
foreign_write_bits (const struct stat *info)
{
  mode_t bits = info->st_mode & (S_IWGRP | S_IWOTH);
  struct passwd *owner;
  struct group *group;

  if (!(bits & S_IWGRP))
    return bits;
  owner = getpwuid (info->st_uid);
  if (owner == NULL || owner->pw_gid != info->st_gid)
    return bits;
  group = getgrgid (info->st_gid);
  if (group == NULL)
    return bits;
  for (char **member = group->gr_mem; *member != NULL; member++)
    if (g_strcmp0 (*member, owner->pw_name) != 0)
      return bits;
  return bits & ~S_IWGRP;
}

static const char *
writers (mode_t mode)
{
  if ((mode & S_IWGRP) && (mode & S_IWOTH))
    return "its group and others";
  return (mode & S_IWGRP) ? "its group" : "others";
}

static gboolean
refuse (GError **error, const char *path, const char *reason, const char *fix)
{
  g_set_error (error, EVB_TRUST_ERROR, EVB_TRUST_ERROR_INSECURE, "%s: refusing to load: %s; run \"%s\", or pass "
               ALLOW_HINT, path, reason, fix);
  return FALSE;
}

/* Root or the user running evbus may own anything we load.  @subject
 * starts the reason: "" for the file itself, else "its folder DIR is ". */
static gboolean
check_owner (const struct stat *info, const char *path, const char *subject, const char *target, GError **error)
{
  uid_t self = geteuid ();
  g_autofree char *owner = NULL;
  g_autofree char *me = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *fix = NULL;

  if (info->st_uid == 0 || info->st_uid == self)
    return TRUE;
  owner = user_name (info->st_uid);
  me = user_name (self);
  reason = self == 0 ? g_strdup_printf ("%sowned by %s, not by root", subject, owner)
                     : g_strdup_printf ("%sowned by %s, neither by root nor by %s who runs evbus", subject, owner, me);
  fix = g_strdup_printf ("chown %s %s", me, target);
  return refuse (error, path, reason, fix);
}

static gboolean
check_folder (const char *folder, const char *path, GError **error)
{
  struct stat info;
  g_autofree char *subject = NULL;

  /* A folder we cannot examine cannot be checked; opening the file will
   * fail or succeed on its own. */
  if (stat (folder, &info) != 0)
    return TRUE;
  subject = g_strdup_printf ("its folder %s is ", folder);
  if (!check_owner (&info, path, subject, folder, error))
    return FALSE;
  if (foreign_write_bits (&info) != 0 && (info.st_mode & S_ISVTX) == 0)
    {
      g_autofree char *reason = g_strdup_printf ("its folder %s is writable by %s (mode %04o, no sticky bit)",
                                                 folder, writers (foreign_write_bits (&info)),
                                                 (guint) (info.st_mode & 07777));
      g_autofree char *fix = g_strdup_printf ("chmod go-w %s", folder);

      return refuse (error, path, reason, fix);
    }
  return TRUE;
}

/* Every folder of absolute @file, from its own up to "/". */
static gboolean
check_folders (const char *file, const char *path, GError **error)
{
  g_autofree char *folder = g_path_get_dirname (file);

  for (;;)
    {
      char *parent;

      if (!check_folder (folder, path, error))
        return FALSE;
      parent = g_path_get_dirname (folder);
      if (g_strcmp0 (parent, folder) == 0)
        {
          g_free (parent);
          return TRUE;
        }
      g_free (folder);
      folder = parent;
    }
}

gboolean
evb_trust_check (const char *path, GError **error)
{
  g_autofree char *absolute = NULL;
  g_autofree char *resolved = NULL;
  struct stat info;

  g_return_val_if_fail (path != NULL, FALSE);

  if (!trust_enforced || stat (path, &info) != 0)
    return TRUE;

  if (!check_owner (&info, path, "", path, error))
    return FALSE;
  if (foreign_write_bits (&info) != 0)
    {
      g_autofree char *reason = g_strdup_printf ("writable by %s (mode %04o)", writers (foreign_write_bits (&info)),
                                                 (guint) (info.st_mode & 07777));
      g_autofree char *fix = g_strdup_printf ("chmod go-w %s", path);

      return refuse (error, path, reason, fix);
    }

  absolute = g_canonicalize_filename (path, NULL);
  if (!check_folders (absolute, path, error))
    return FALSE;
  /* realpath's buffer comes from malloc, which g_free releases (GLib >= 2.46). */
  resolved = realpath (path, NULL);
  return resolved == NULL || g_strcmp0 (resolved, absolute) == 0 || check_folders (resolved, path, error);
}
