/* Trust checks: evbus refuses to load a config or a plugin file that
 * someone else could have changed, as ssh refuses such an authorized_keys
 * and sudo such a sudoers.  A config names the code to run and a plugin IS
 * code, so whoever can write either runs code as the user running evbus.
 *
 * A file is trusted when all of these hold:
 *  - it is owned by root or by the user running evbus (effective uid);
 *  - it is not writable by its group or by others (mode & 022 == 0);
 *  - every folder above it, up to "/", is owned by root or by that user,
 *    and is not writable by group or others unless it has the sticky bit
 *    (like /tmp: others may add files there but not replace ours).
 * Folders are checked along the path as given (made absolute, symlinks
 * kept: whoever can rewrite a symlink can swap the file) and along the
 * path with every symlink resolved (where the bytes really are).
 *
 * The command line's --allow-insecure turns the checks off for one run
 * (evb_trust_set_enforced).
 *
 * Messages name the file as the caller gave it, the reason and the fix:
 *   pipeline.json: refusing to load: writable by others (mode 0666); run
 *   "chmod go-w pipeline.json", or pass --allow-insecure
 *
 * Main thread (the setting is a plain global of the command line). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EVB_TRUST_ERROR (evb_trust_error_quark ())
GQuark evb_trust_error_quark (void);

typedef enum {
  EVB_TRUST_ERROR_INSECURE, /* the file or a folder above it fails a rule */
} EvbTrustError;

/* TRUE by default; FALSE makes evb_trust_check() accept every file. */
void evb_trust_set_enforced (gboolean enforced);

/* Checks @path (a file that exists; one that does not, or cannot be
 * examined, passes: whoever opens it reports that).  @path starts the
 * message as given.  FALSE with EVB_TRUST_ERROR_INSECURE when it is not
 * trusted. */
gboolean evb_trust_check (const char *path, GError **error);

G_END_DECLS
