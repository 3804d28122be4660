/* bench_matmul: speed of cpu_matmul per weight type.
 *
 *   bench_matmul [-t THREADS,...] [-T TYPE,...] [-b BATCH] [-s SECONDS]
 *
 * For each type, thread count and decode-shaped matrix ([n_out, n_in] =
 * 4096x4096 and 14336x4096) it prints the achieved weight streaming rate of a
 * 1-token matmul (GB/s: weight bytes / time, median of repetitions), and for
 * 4096x4096 the rate of a BATCH-token matmul as tokens/s and GFLOP/s. First
 * it measures the machine's read bandwidth (sum of a 1 GiB buffer) with the
 * same threads, for comparison, and the synchronization cost of threadpool_run. BRISK_ISA=generic|avx2|neon picks kernels. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/ops.h"
#include "base/threadpool.h"
#include "quant/quant.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static float rand_normal(void) { /* sum of 4 uniforms, scaled: close enough for weights */
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        s += (float)(rng >> 40) / 16777216.0f - 0.5f;
    }
    return s * 1.7320508f;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- read bandwidth ---- */
typedef struct { const uint64_t *p; long n; uint64_t out[64]; } bw_job;
static void bw_worker(void *arg, int ith, int nth) {
    bw_job *j = arg;
    long b, e;
    threadpool_slice(j->n, ith, nth, &b, &e);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (long i = b; i + 4 <= e; i += 4) { s0 += j->p[i]; s1 += j->p[i + 1]; s2 += j->p[i + 2]; s3 += j->p[i + 3]; }
    j->out[ith] = s0 + s1 + s2 + s3;
}

static double read_bandwidth(threadpool *tp) {
    long n = (1L << 30) / 8;
    uint64_t *buf = malloc((size_t)n * 8);
    for (long i = 0; i < n; i++) buf[i] = (uint64_t)i;
    bw_job j = {buf, n, {0}};
    double t[5];
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        threadpool_run(tp, bw_worker, &j);
        t[r] = now() - t0;
    }
    qsort(t, 5, sizeof t[0], cmp_double);
    free(buf);
    return (double)n * 8 / t[2] / 1e9;
}

/* Each slice busy-waits SLICE_US: with n threads in parallel a call takes
 * SLICE_US plus the sync cost (a decode step pays it ~7 times per layer). An
 * empty job would measure nothing: the caller runs unclaimed slices itself. */
#define SLICE_US 5.0
static void busy_job(void *arg, int ith, int nth) {
    (void)arg; (void)ith; (void)nth;
    double end = now() + SLICE_US * 1e-6;
    while (now() < end) {}
}

/* Mean microseconds of one threadpool_run beyond SLICE_US. */
static double sync_cost_us(threadpool *tp) {
    for (int i = 0; i < 100; i++) threadpool_run(tp, busy_job, NULL);
    int n = 0;
    double t0 = now();
    while (n < 20000 && now() - t0 < 0.5) /* at most ~0.5 s on a loaded machine */
        for (int i = 0; i < 100; i++, n++) threadpool_run(tp, busy_job, NULL);
    return (now() - t0) / n * 1e6 - SLICE_US;
}

/* Median seconds of cpu_matmul over repetitions filling ~`seconds`. */
static double time_matmul(threadpool *tp, const cpu_weight *w, const float *x, float *y, int n_tok, float *scratch,
                          double seconds) {
    cpu_matmul(tp, w, x, y, n_tok, scratch); /* warm-up */
    double t[101];
    int reps = 0;
    double start = now();
    while (reps < 101 && (reps < 3 || now() - start < seconds)) {
        double t0 = now();
        cpu_matmul(tp, w, x, y, n_tok, scratch);
        t[reps++] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

int main(int argc, char **argv) {
    const char *threads_arg = "1,2", *types_arg = "Q4_K,Q8_0,Q4_1,F16", *rows_arg = "4096,14336";
    int batch = 128;
    double seconds = 1.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t")) threads_arg = argv[i + 1];
        else if (!strcmp(argv[i], "-T")) types_arg = argv[i + 1];
        else if (!strcmp(argv[i], "-b")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-s")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "-r")) rows_arg = argv[i + 1];
        else {
            fprintf(stderr, "usage: %s [-t 1,2] [-T Q4_K,Q8_0] [-b 128] [-s 1.0] [-r 4096,14336]\n"
                            "  -r: weight rows (x 4096 columns) per shape; a few hundred rows stay in the\n"
                            "      cache and show a kernel's compute rate instead of memory bandwidth\n", argv[0]);
            return 2;
        }
    }
    const int64_t n_in = 4096;
    int64_t shapes[8];
    int n_shapes = 0;
    for (const char *p = rows_arg; *p && n_shapes < 8;) {
        shapes[n_shapes++] = atoll(p);
        while (*p && *p != ',') p++;
        if (*p == ',') p++;
    }
    int64_t max_out = 64;
    for (int si = 0; si < n_shapes; si++) {
        if (shapes[si] < 1) { fprintf(stderr, "-r: rows must be positive\n"); return 2; }
        if (shapes[si] > max_out) max_out = shapes[si];
    }
    const int64_t max_tok = batch > 1 ? batch : 1; /* decode runs use one token */
    float *x = malloc((size_t)max_tok * n_in * sizeof *x), *y = malloc((size_t)max_tok * max_out * sizeof *y);
    float *scratch = malloc(64 * (size_t)n_in * sizeof *scratch);
    for (int64_t i = 0; i < max_tok * n_in; i++) x[i] = rand_normal();
    /* 64 distinct random rows, repeated: same cost as a full random matrix */
    float *src = malloc(64 * (size_t)n_in * sizeof *src);
    for (int64_t i = 0; i < 64 * n_in; i++) src[i] = 0.02f * rand_normal();

    int thread_list[16], n_thread_list = 0;
    for (const char *p = threads_arg; *p && n_thread_list < 16;) {
        thread_list[n_thread_list++] = atoi(p);
        while (*p && *p != ',') p++;
        if (*p == ',') p++;
    }
    for (int ti = 0; ti < n_thread_list; ti++) {
        threadpool *tp = threadpool_create(thread_list[ti]);
        printf("threads %d: read bandwidth %.1f GB/s, threadpool_run sync %.2f us (beyond %.0f us of work per thread)\n", thread_list[ti], read_bandwidth(tp),
               sync_cost_us(tp), SLICE_US);
        threadpool_free(tp);
    }
    printf("%-6s %7s %-12s %10s %10s %12s\n", "type", "threads", "shape", "ms", "GB/s", "batch tok/s");
    char types[256];
    snprintf(types, sizeof types, "%s", types_arg);
    for (char *save = NULL, *tn = strtok_r(types, ",", &save); tn; tn = strtok_r(NULL, ",", &save)) {
        int type = brisk_type_from_name(tn);
        const brisk_type_traits *tr = type >= 0 ? brisk_type_traits_get((uint32_t)type) : NULL;
        if (!tr || !tr->quantize) { fprintf(stderr, "cannot quantize to %s\n", tn); continue; }
        uint64_t row_bytes = brisk_type_row_bytes((brisk_type)type, n_in);
        uint8_t *wbytes = malloc((size_t)(row_bytes * max_out));
        tr->quantize(src, wbytes, 64 * n_in);
        for (int64_t r = 64; r < max_out; r++) memcpy(wbytes + r * row_bytes, wbytes + (r % 64) * row_bytes, row_bytes);
        for (int ti = 0; ti < n_thread_list; ti++) {
            threadpool *tp = threadpool_create(thread_list[ti]);
            for (int si = 0; si < n_shapes; si++) {
                cpu_weight w = {.type = (brisk_type)type, .data = wbytes, .n_in = n_in, .n_out = shapes[si],
                                .row_bytes = row_bytes};
                if (!cpu_weight_make_panels(&w, tp, false)) { fprintf(stderr, "out of memory\n"); return 1; }
                double t = time_matmul(tp, &w, x, y, 1, scratch, seconds);
                double gbs = (double)row_bytes * (double)shapes[si] / t / 1e9;
                char shape[32];
                snprintf(shape, sizeof shape, "%lldx%lld", (long long)shapes[si], (long long)n_in);
                if (si == 0 && batch > 0) {
                    double tb = time_matmul(tp, &w, x, y, batch, scratch, seconds);
                    printf("%-6s %7d %-12s %10.3f %10.1f %12.1f  (%d tokens: %.1f GFLOP/s)\n", tn, thread_list[ti], shape,
                           t * 1e3, gbs, batch / tb, batch, 2.0 * (double)n_in * (double)shapes[si] * batch / tb / 1e9);
                } else {
                    printf("%-6s %7d %-12s %10.3f %10.1f\n", tn, thread_list[ti], shape, t * 1e3, gbs);
                }
                fflush(stdout);
                cpu_weight_free_panels(&w);
            }
            threadpool_free(tp);
        }
        free(wbytes);
    }
    free(x); free(y); free(scratch); free(src);
    return 0;
}
