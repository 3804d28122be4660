/* A persistent pool of worker threads for data-parallel loops.
 *
 *   threadpool *tp = threadpool_create(4);      // 4 threads incl. the caller
 *   threadpool_run(tp, fn, arg);                // fn(arg, ith, nth) on every thread
 *   threadpool_free(tp);
 *
 * threadpool_run returns when every slice has been run. Work is split by the
 * callee: slice ith of nth (nth = threadpool_size) is its own share; a slice
 * runs exactly once, on some thread (the caller takes slices a worker has not
 * started, and runs them all itself while parallel runs are losing). Slice 0
 * always runs on the caller, before any other slice the caller runs, so other
 * slices may wait for something slice 0 does. A pool belongs to one caller
 * thread at a time (one context). */
#ifndef BRISK_BASE_THREADPOOL_H
#define BRISK_BASE_THREADPOOL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct threadpool threadpool;
typedef void (*threadpool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1 (the caller counts as one). NULL on failure. */
threadpool *threadpool_create(int n_threads);
void threadpool_free(threadpool *tp);
int threadpool_size(const threadpool *tp);
void threadpool_run(threadpool *tp, threadpool_fn fn, void *arg);

/* Runs so far that executed every slice on the caller because parallel runs
 * had been losing to one thread (an oversubscribed machine; threadpool.c). */
long threadpool_solo_runs(const threadpool *tp);

/* Kernels run for this pool's owner keep f32 activations when set
 * (brisk_context_params.exact); default false. */
void threadpool_set_exact(threadpool *tp, bool exact);
bool threadpool_exact(const threadpool *tp);

/* A buffer of at least `bytes` (64-byte aligned) owned by the pool, for data
 * that one threadpool_run shares among its threads (e.g. quantized
 * activations). Grown on demand, freed with the pool; its contents are the
 * caller's until the next call. Call from the owner thread only. NULL when
 * out of memory. */
void *threadpool_workspace(threadpool *tp, size_t bytes);

/* A spin-wait iteration's pause (lets the other hyperthread run). */
static inline void threadpool_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* [begin, end) of n items for thread ith of nth, in contiguous even slices. */
static inline void threadpool_slice(long n, int ith, int nth, long *begin, long *end) {
    long per = n / nth, extra = n % nth;
    *begin = ith * per + (ith < extra ? ith : extra);
    *end = *begin + per + (ith < extra ? 1 : 0);
}

#endif
