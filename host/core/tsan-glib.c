/* Built only with -Db_sanitize=thread.  GMutex and GCond live in
 * uninstrumented libglib and use futexes, so TSan sees no ordering through
 * them.  The link wraps our calls (-Wl,--wrap) and tells TSan what the lock
 * orders. */
#include <glib.h>

#include "tsan.h"

void __real_g_mutex_lock (GMutex *mutex);
void __real_g_mutex_unlock (GMutex *mutex);
gboolean __real_g_mutex_trylock (GMutex *mutex);
void __real_g_cond_wait (GCond *cond, GMutex *mutex);
gboolean __real_g_cond_wait_until (GCond *cond, GMutex *mutex, gint64 end_time);

/* Visible, unlike the rest of the core: under --wrap, ld also redirects
 * the GLib references of linked DSOs (libgobject) to these names and
 * refuses a hidden definition.  Every module links an identical copy
 * (meson.build, tsan_dep), so whichever one the dynamic linker binds is
 * right. */
#define EVB_TSAN_WRAP __attribute__ ((visibility ("default")))

EVB_TSAN_WRAP void __wrap_g_mutex_lock (GMutex *mutex);
EVB_TSAN_WRAP void __wrap_g_mutex_unlock (GMutex *mutex);
EVB_TSAN_WRAP gboolean __wrap_g_mutex_trylock (GMutex *mutex);
EVB_TSAN_WRAP void __wrap_g_cond_wait (GCond *cond, GMutex *mutex);
EVB_TSAN_WRAP gboolean __wrap_g_cond_wait_until (GCond *cond, GMutex *mutex, gint64 end_time);

void
__wrap_g_mutex_lock (GMutex *mutex)
{
  __real_g_mutex_lock (mutex);
  EVB_TSAN_ACQUIRE (mutex);
}

void
__wrap_g_mutex_unlock (GMutex *mutex)
{
  EVB_TSAN_RELEASE (mutex);
  __real_g_mutex_unlock (mutex);
}

gboolean
__wrap_g_mutex_trylock (GMutex *mutex)
{
  if (!__real_g_mutex_trylock (mutex))
    return FALSE;
  EVB_TSAN_ACQUIRE (mutex);
  return TRUE;
}

void
__wrap_g_cond_wait (GCond *cond, GMutex *mutex)
{
  EVB_TSAN_RELEASE (mutex);
  __real_g_cond_wait (cond, mutex);
  EVB_TSAN_ACQUIRE (mutex);
}

gboolean
__wrap_g_cond_wait_until (GCond *cond, GMutex *mutex, gint64 end_time)
{
  gboolean signalled;

  EVB_TSAN_RELEASE (mutex);
  signalled = __real_g_cond_wait_until (cond, mutex, end_time);
  EVB_TSAN_ACQUIRE (mutex);
  return signalled;
}
