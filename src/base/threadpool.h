/* A persistent pool of worker threads for data-parallel loops.
 *
 *   threadpool *tp = threadpool_create(4);      // 4 threads incl. the caller
 *   threadpool_run(tp, fn, arg);                // fn(arg, ith, nth) on every thread
 *   threadpool_free(tp);
 *
 * threadpool_run returns when every thread has finished its share. Work is
 * split by the callee: thread ith of nth takes its own slice. */
#ifndef BRISK_BASE_THREADPOOL_H
#define BRISK_BASE_THREADPOOL_H

typedef struct threadpool threadpool;
typedef void (*threadpool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1 (the caller counts as one). NULL on failure. */
threadpool *threadpool_create(int n_threads);
void threadpool_free(threadpool *tp);
int threadpool_size(const threadpool *tp);
void threadpool_run(threadpool *tp, threadpool_fn fn, void *arg);

/* [begin, end) of n items for thread ith of nth, in contiguous even slices. */
static inline void threadpool_slice(long n, int ith, int nth, long *begin, long *end) {
    long per = n / nth, extra = n % nth;
    *begin = ith * per + (ith < extra ? ith : extra);
    *end = *begin + per + (ith < extra ? 1 : 0);
}

#endif
