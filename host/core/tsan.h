/* ThreadSanitizer cannot see synchronisation done inside GLib (it is not
 * instrumented): these mark the hand-offs GLib performs for us, so that
 * TSan reports real races only.  No-ops in other builds. */
#pragma once

#if defined(__SANITIZE_THREAD__)
#define EVB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EVB_TSAN 1
#endif
#endif

#ifdef EVB_TSAN
void __tsan_acquire (void *addr);
void __tsan_release (void *addr);
/* Everything written before RELEASE(p) is visible after ACQUIRE(p). */
#define EVB_TSAN_RELEASE(p) __tsan_release ((void *) (p))
#define EVB_TSAN_ACQUIRE(p) __tsan_acquire ((void *) (p))
#else
#define EVB_TSAN_RELEASE(p) ((void) (p))
#define EVB_TSAN_ACQUIRE(p) ((void) (p))
#endif
