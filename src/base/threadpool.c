/* Workers wait for a new job by spinning briefly on `generation`, then sleep
 * on a condition variable. The caller publishes a job (fn, arg) by bumping
 * `generation`, runs slice 0, and then runs any slice whose worker has not
 * yet picked it up itself; it returns when all n_threads slices are done.
 *
 * Why spin: a decode step of a small model is hundreds of short
 * threadpool_run calls (~7 per layer), and a condvar wake-up costs tens of
 * microseconds each way, which is as long as a matmul of a 135M model.
 * Why the caller takes over slices: on a loaded machine a worker may not be
 * scheduled for milliseconds; waiting for it at every call made decoding
 * 20x slower than doing its share on the caller's thread.
 *
 * Slices are claimed by CAS on claim[ith] from a generation older than the
 * job's to the job's, so each slice of each job runs exactly once, on the
 * worker or the caller. A worker that wakes after its job is over sees
 * claim[ith] >= its generation and skips it (a job only finishes once all of
 * its slices were claimed).
 *
 * Why it adapts (the machine may be oversubscribed: more runnable threads
 * than cores): a worker that is not scheduled leaves its slice to the caller,
 * and one that is preempted in the middle of its slice makes the caller wait
 * for it, while spinning workers take CPU from everyone, so parallel runs can
 * lose to one thread. One run in SAMPLE_EVERY is timed: for a parallel run,
 * its wall time against what the caller alone would have needed (the
 * thread CPU time of all its slices, times the wall/CPU stretch measured on
 * the runs it last did alone); when a window of WINDOW_SAMPLES
 * samples says parallel lost, the next solo_len runs execute every slice on
 * the caller (workers sleep, nothing spins), then a parallel window measures
 * again. Parallel must win by a margin (WIN_MARGIN: the samples are few and
 * noisy); solo_len doubles while parallel keeps losing (SOLO_MIN..SOLO_MAX
 * runs) and halves when it wins. On a quiet machine parallel wins (time the
 * hypervisor steals from a vCPU still loses a window now and then, hence the
 * short SOLO_MIN: measured 64-128 of 9603 runs alone in a quiet brisk bench). The first WARMUP runs after a solo period (or after
 * the caller was away for IDLE_S, long enough for the workers to sleep) are
 * not timed (the workers are waking up). (Thread CPU time costs ~0.5 us per
 * read here, hence sampling.)
 *
 * Memory ordering: fn/arg are written before the release store of
 * `generation` and read after an acquire load of it (and a successful claim,
 * which keeps the job from finishing); each slice's writes are published by
 * the release increment of `done`, which the caller reads with acquire. Lost
 * wake-ups: a worker about to sleep increments `sleepers` and re-checks
 * `generation` under the mutex; the caller bumps `generation` and then reads
 * `sleepers` (both seq_cst), so at least one of them sees the other, and a
 * caller that sees a sleeper broadcasts under the mutex. */
#include "base/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#define SPIN_BEFORE_SLEEP 20000 /* pause iterations (~0.1-0.5 ms) before a worker sleeps */
#define SPIN_BEFORE_YIELD 2000  /* the caller yields its core after this many */
#define WARMUP 8                /* untimed parallel runs after a solo period or an idle spell */
#define IDLE_S 1e-3             /* the caller away this long (s): the workers have gone to sleep */
#define SAMPLE_EVERY 4          /* one run in this many is timed */
#define WINDOW_SAMPLES 8        /* timed parallel runs per decision */
#define SOLO_MIN 64             /* runs on the caller alone after a window where parallel lost */
#define SOLO_MAX 16384
#define WIN_MARGIN 0.9          /* parallel must take less than this share of the solo time */

struct threadpool {
    int n_threads;
    pthread_t *workers; /* [n_threads - 1] */
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* sleeping workers wait here for a new generation */
    unsigned long generation; /* atomic: the current job's number */
    unsigned long *claim;     /* atomic [n_threads]: the last job whose slice ith was claimed */
    int done;                 /* atomic: slices of the current job finished */
    int sleepers;             /* atomic: workers asleep or about to sleep */
    int stop;                 /* atomic */
    threadpool_fn fn;
    void *arg;
    bool exact;
    void *ws;        /* threadpool_workspace */
    size_t ws_bytes;
    /* adaptivity (owner thread only) */
    unsigned long runs;                 /* threadpool_run calls with n_threads > 1 */
    int window_n;                       /* timed parallel runs in this window */
    double window_par, window_solo_cpu; /* their wall time; caller-alone CPU estimate */
    double solo_wall, solo_cpu;         /* timed runs of the last solo period */
    int solo_left, solo_len;            /* runs left to run alone; the next solo period */
    int warmup;                         /* untimed parallel runs left */
    long solo_runs;                     /* runs executed alone so far (statistics) */
    bool timed;                         /* the current job is timed (written before publishing it) */
    double last_end;                    /* when the last parallel run returned (CLOCK_MONOTONIC s) */
    long slice_cpu_ns;                  /* atomic: thread CPU time of its slices, all threads */
};

typedef struct worker_arg {
    threadpool *tp;
    int ith;
} worker_arg;

/* Wait until generation != seen; returns the new generation. */
static unsigned long wait_for_job(threadpool *tp, unsigned long seen) {
    unsigned long g;
    for (int i = 0; i < SPIN_BEFORE_SLEEP; i++) {
        g = __atomic_load_n(&tp->generation, __ATOMIC_ACQUIRE);
        if (g != seen) return g;
        threadpool_cpu_relax();
    }
    pthread_mutex_lock(&tp->mu);
    __atomic_fetch_add(&tp->sleepers, 1, __ATOMIC_SEQ_CST);
    while ((g = __atomic_load_n(&tp->generation, __ATOMIC_SEQ_CST)) == seen)
        pthread_cond_wait(&tp->work_cv, &tp->mu);
    __atomic_fetch_sub(&tp->sleepers, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&tp->mu);
    return g;
}

static double clock_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Run slice ith of job g unless another thread claimed it. In a timed run,
 * the thread CPU time the slice took is added to slice_cpu_ns. */
static void run_slice(threadpool *tp, int ith, unsigned long g) {
    unsigned long old = __atomic_load_n(&tp->claim[ith], __ATOMIC_ACQUIRE);
    do {
        if (old >= g) return;
    } while (!__atomic_compare_exchange_n(&tp->claim[ith], &old, g, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    const bool timed = tp->timed;
    const double c0 = timed ? clock_s(CLOCK_THREAD_CPUTIME_ID) : 0;
    tp->fn(tp->arg, ith, tp->n_threads);
    if (timed)
        __atomic_fetch_add(&tp->slice_cpu_ns, (long)(1e9 * (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0)), __ATOMIC_RELAXED);
    __atomic_fetch_add(&tp->done, 1, __ATOMIC_RELEASE);
}

static void *worker_main(void *p) {
    worker_arg wa = *(worker_arg *)p;
    free(p);
    threadpool *tp = wa.tp;
    unsigned long seen = 0;
    for (;;) {
        seen = wait_for_job(tp, seen);
        if (__atomic_load_n(&tp->stop, __ATOMIC_ACQUIRE)) break;
        run_slice(tp, wa.ith, seen);
    }
    return NULL;
}

/* Bump the generation and wake any sleeping workers. */
static void publish(threadpool *tp) {
    __atomic_fetch_add(&tp->generation, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&tp->sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->work_cv);
        pthread_mutex_unlock(&tp->mu);
    }
}

threadpool *threadpool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n_threads = n_threads;
    tp->solo_len = SOLO_MIN;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->work_cv, NULL);
    tp->workers = calloc((size_t)n_threads, sizeof *tp->workers);
    tp->claim = calloc((size_t)n_threads, sizeof *tp->claim);
    if (!tp->workers || !tp->claim) { free(tp->workers); free(tp->claim); free(tp); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || (wa->tp = tp, wa->ith = i, pthread_create(&tp->workers[i - 1], NULL, worker_main, wa)) != 0) {
            free(wa);
            tp->n_threads = i; /* keep the ones that started; free() joins them */
            threadpool_free(tp);
            return NULL;
        }
    }
    return tp;
}

void threadpool_free(threadpool *tp) {
    if (!tp) return;
    __atomic_store_n(&tp->stop, 1, __ATOMIC_RELEASE);
    publish(tp);
    for (int i = 1; i < tp->n_threads; i++) pthread_join(tp->workers[i - 1], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->work_cv);
    free(tp->workers);
    free(tp->claim);
    free(tp->ws);
    free(tp);
}

int threadpool_size(const threadpool *tp) { return tp->n_threads; }

void threadpool_set_exact(threadpool *tp, bool exact) { tp->exact = exact; }
bool threadpool_exact(const threadpool *tp) { return tp->exact; }

void *threadpool_workspace(threadpool *tp, size_t bytes) {
    if (bytes <= tp->ws_bytes) return tp->ws;
    size_t want = (bytes + 63) / 64 * 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, want) != 0) return NULL;
    free(tp->ws);
    tp->ws = p;
    tp->ws_bytes = want;
    return p;
}

/* A timed parallel run took `par` s of wall time; alone the caller would have
 * used `solo_cpu` s of CPU. */
static void adapt(threadpool *tp, double par, double solo_cpu) {
    tp->window_par += par;
    tp->window_solo_cpu += solo_cpu;
    if (++tp->window_n < WINDOW_SAMPLES) return;
    const double stretch = tp->solo_cpu > 0 ? tp->solo_wall / tp->solo_cpu : 1.0; /* wall per CPU s alone */
    if (tp->window_par > WIN_MARGIN * tp->window_solo_cpu * (stretch > 1.0 ? stretch : 1.0)) { /* lost */
        tp->solo_left = tp->solo_len;
        tp->solo_len = tp->solo_len * 2 > SOLO_MAX ? SOLO_MAX : tp->solo_len * 2;
        tp->solo_wall = tp->solo_cpu = 0;
    } else {
        tp->solo_len = tp->solo_len / 2 < SOLO_MIN ? SOLO_MIN : tp->solo_len / 2;
    }
    tp->window_n = 0;
    tp->window_par = tp->window_solo_cpu = 0;
}

void threadpool_run(threadpool *tp, threadpool_fn fn, void *arg) {
    if (tp->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    bool timed = tp->runs++ % SAMPLE_EVERY == 0;
    if (tp->solo_left > 0) { /* every slice here, in order; the workers sleep */
        if (--tp->solo_left == 0) tp->warmup = WARMUP;
        tp->solo_runs++;
        const double w0 = timed ? clock_s(CLOCK_MONOTONIC) : 0, c0 = timed ? clock_s(CLOCK_THREAD_CPUTIME_ID) : 0;
        for (int ith = 0; ith < tp->n_threads; ith++) fn(arg, ith, tp->n_threads);
        if (timed) {
            tp->solo_cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
            tp->solo_wall += clock_s(CLOCK_MONOTONIC) - w0;
        }
        return;
    }
    /* After the caller was away long enough for the workers to fall asleep
     * (e.g. between two decode runs), they wake slowly: the next WARMUP runs
     * say nothing about parallel vs alone. */
    if (clock_s(CLOCK_MONOTONIC) - tp->last_end > IDLE_S) tp->warmup = WARMUP;
    if (tp->warmup > 0) {
        tp->warmup--;
        timed = false;
    }
    tp->fn = fn;
    tp->arg = arg;
    __atomic_store_n(&tp->done, 0, __ATOMIC_RELAXED);
    const unsigned long g = tp->generation + 1; /* only this thread writes it */
    tp->timed = timed;
    __atomic_store_n(&tp->slice_cpu_ns, 0, __ATOMIC_RELAXED);
    const double w0 = timed ? clock_s(CLOCK_MONOTONIC) : 0;
    publish(tp);
    for (int ith = 0; ith < tp->n_threads; ith++) run_slice(tp, ith, g);
    for (long i = 0; __atomic_load_n(&tp->done, __ATOMIC_ACQUIRE) != tp->n_threads; i++) {
        if (i < SPIN_BEFORE_YIELD) threadpool_cpu_relax();
        else sched_yield();
    }
    /* alone, the caller would have needed about the CPU time of all slices
     * (slices may be unequal: cpu_matmul hands out work dynamically) */
    const double end = clock_s(CLOCK_MONOTONIC);
    if (timed) adapt(tp, end - w0, 1e-9 * (double)__atomic_load_n(&tp->slice_cpu_ns, __ATOMIC_ACQUIRE));
    tp->last_end = end;
}

long threadpool_solo_runs(const threadpool *tp) { return tp->solo_runs; }
