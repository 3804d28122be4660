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

struct membw_buffer {
    uint8_t *buf;
    size_t bytes, alloc_bytes;
    int threads;
    slice sl[MAX_THREADS];
};

membw_buffer *membw_open(size_t bytes, int threads) {
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    size_t per = bytes / (size_t)threads / 128 * 128;
    if (per == 0) per = 128;
    membw_buffer *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->threads = threads;
    b->bytes = per * (size_t)threads;
    b->alloc_bytes = (b->bytes + (2u << 20) - 1) / (2u << 20) * (2u << 20);
    b->buf = aligned_alloc(2u << 20, b->alloc_bytes);
    if (!b->buf) {
        fprintf(stderr, "brisk: cannot allocate %zu MiB for the bandwidth measurement\n", b->bytes >> 20);
        free(b);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    /* the same kind of memory the CPU kernels stream weights from (repacked
     * panels are in huge pages where the kernel allows) */
    madvise(b->buf, b->alloc_bytes, MADV_HUGEPAGE);
#endif
    for (int i = 0; i < threads; i++) b->sl[i] = (slice){b->buf + per * (size_t)i, per, true};
    bool ok = run_pass(b->sl, threads);
    for (int i = 0; i < threads; i++) b->sl[i].write = false;
    if (!ok) {
        fprintf(stderr, "brisk: the bandwidth measurement could not start its threads\n");
        membw_close(b);
        return NULL;
    }
    return b;
}

bool membw_run(membw_buffer *b, int passes, membw_result *out) {
    if (passes < 1) passes = 1;
    bool ok = run_pass(b->sl, b->threads); /* warm-up */
    double *gbps = malloc((size_t)passes * sizeof *gbps);
    if (!gbps) ok = false;
    for (int k = 0; ok && k < passes; k++) {
        double t0 = cli_now();
        ok = run_pass(b->sl, b->threads);
        gbps[k] = (double)b->bytes / (cli_now() - t0) / 1e9;
    }
    if (ok) {
        qsort(gbps, (size_t)passes, sizeof *gbps, cmp_double);
        *out = (membw_result){gbps[passes - 1], gbps[passes / 2], b->threads, b->bytes, passes};
    } else {
        fprintf(stderr, "brisk: the bandwidth measurement could not start its threads\n");
    }
    free(gbps);
    return ok;
}

void membw_close(membw_buffer *b) {
    if (!b) return;
    free(b->buf);
    free(b);
}

bool membw_measure(size_t bytes, int threads, int passes, membw_result *out) {
    membw_buffer *b = membw_open(bytes, threads);
    if (!b) return false;
    bool ok = membw_run(b, passes, out);
    membw_close(b);
    return ok;
}
