/* The plugins' twin of host/core/tsan.h (plugins build against sdk/ and
 * plugins/common only).  ThreadSanitizer cannot see the synchronisation
 * inside GLib (it is not instrumented), so a hand-off through
 * g_main_context_invoke looks like a race: RELEASE before handing data to
 * another thread through GLib, ACQUIRE where that thread picks it up.
 * No-ops in other builds. */
#pragma once

#if defined(__SANITIZE_THREAD__)
#define EVB_PLUGIN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EVB_PLUGIN_TSAN 1
#endif
#endif

#ifdef EVB_PLUGIN_TSAN
void __tsan_acquire (void *addr);
void __tsan_release (void *addr);
#define EVB_TSAN_RELEASE(p) __tsan_release ((void *) (p))
#define EVB_TSAN_ACQUIRE(p) __tsan_acquire ((void *) (p))
#else
#define EVB_TSAN_RELEASE(p) ((void) (p))
#define EVB_TSAN_ACQUIRE(p) ((void) (p))
#endif
