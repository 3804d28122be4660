/* Streaming-read bandwidth benchmark (see membw.h). Each thread sums 64-bit
 * words of its contiguous slice with wide vector loads, like a GEMV streams a
 * weight matrix; the sum goes to a volatile sink so the loads stay. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cli/cli_util.h"
#include "cli/membw.h"

#define MAX_THREADS 256

typedef uint64_t v2u64 __attribute__((vector_size(16)));
typedef uint64_t v4u64 __attribute__((vector_size(32)));

static volatile uint64_t sink;

/* n: bytes, a multiple of 128. */
static uint64_t sum_sse(const uint8_t *p, size_t n) {
    v2u64 a = {0}, b = {0}, c = {0}, d = {0};
    for (size_t i = 0; i < n; i += 64) {
        a += *(const v2u64 *)(p + i);
        b += *(const v2u64 *)(p + i + 16);
        c += *(const v2u64 *)(p + i + 32);
        d += *(const v2u64 *)(p + i + 48);
    }
    v2u64 s = a + b + c + d;
    return s[0] + s[1];
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint8_t *p, size_t n) {
    v4u64 a = {0}, b = {0}, c = {0}, d = {0};
    for (size_t i = 0; i < n; i += 128) {
        a += *(const v4u64 *)(p + i);
        b += *(const v4u64 *)(p + i + 32);
        c += *(const v4u64 *)(p + i + 64);
        d += *(const v4u64 *)(p + i + 96);
    }
    v4u64 s = a + b + c + d;
    return s[0] + s[1] + s[2] + s[3];
}
#endif

typedef struct slice {
    uint8_t *p;
    size_t n;
    bool write; /* first touch: fill the pages from the thread that reads them */
} slice;

static void *worker(void *arg) {
    slice *s = arg;
    if (s->write) {
        memset(s->p, 1, s->n);
        return NULL;
    }
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) {
        sink += sum_avx2(s->p, s->n);
        return NULL;
    }
#endif
    sink += sum_sse(s->p, s->n);
    return NULL;
}

static bool run_pass(slice *sl, int threads) {
    pthread_t th[MAX_THREADS];
    int started = 0;
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&th[i], NULL, worker, &sl[i]) != 0) break;
        started = i;
    }
    worker(&sl[0]);
    for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
    return started == threads - 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bool membw_measure(size_t bytes, int threads, int passes, membw_result *out) {
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (passes < 1) passes = 1;
    size_t per = bytes / (size_t)threads / 128 * 128;
    if (per == 0) per = 128;
    bytes = per * (size_t)threads;
    uint8_t *buf = aligned_alloc(2u << 20, (bytes + (2u << 20) - 1) / (2u << 20) * (2u << 20));
    if (!buf) {
        fprintf(stderr, "brisk: cannot allocate %zu MiB for the bandwidth measurement\n", bytes >> 20);
        return false;
    }
#ifdef MADV_HUGEPAGE
    /* the same kind of memory the CPU kernels stream weights from (repacked
     * panels are in huge pages where the kernel allows) */
    madvise(buf, (bytes + (2u << 20) - 1) / (2u << 20) * (2u << 20), MADV_HUGEPAGE);
#endif
    slice sl[MAX_THREADS];
    for (int i = 0; i < threads; i++) sl[i] = (slice){buf + per * (size_t)i, per, true};
    bool ok = run_pass(sl, threads);
    for (int i = 0; i < threads; i++) sl[i].write = false;
    ok = ok && run_pass(sl, threads); /* warm-up */
    double *gbps = malloc((size_t)passes * sizeof *gbps);
    if (!gbps) ok = false;
    for (int k = 0; ok && k < passes; k++) {
        double t0 = cli_now();
        ok = run_pass(sl, threads);
        gbps[k] = (double)bytes / (cli_now() - t0) / 1e9;
    }
    if (ok) {
        qsort(gbps, (size_t)passes, sizeof *gbps, cmp_double);
        *out = (membw_result){gbps[passes - 1], gbps[passes / 2], threads, bytes, passes};
    } else {
        fprintf(stderr, "brisk: the bandwidth measurement could not start its threads\n");
    }
    free(gbps);
    free(buf);
    return ok;
}
