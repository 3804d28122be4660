/* CPU kernels of the forward pass against simple references on random data. */
#define _GNU_SOURCE /* sched_setaffinity */
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"
#include "base/threadpool.h"
#include "quant/quant.h"
#include "test.h"

/* cpu_matmul for every computable type and 1..4 threads against a double
 * loop over the dequantized matrix. Exact mode (f32 activations): within f32
 * rounding. Normal mode (16-bit activations for quantized weights): within the
 * activation quantization bound sum_i |w_i| * d_i / 2 (d_i: the scale of
 * x_i's block, max|x| / CPU_ACT_QMAX), and bit-identical for every thread count. Odd row count,
 * several tokens (more than one pass of CPU_PANEL_MAX_COLS, with a remainder). */
TEST(cpu_matmul_matches_reference_all_types) {
    const int64_t n_in = 512, n_out = 37;
    const int n_tok = CPU_PANEL_MAX_COLS + 3;
    float *x = malloc(n_tok * n_in * sizeof *x), *w = malloc(n_in * n_out * sizeof *w);
    float *want = malloc(n_tok * n_out * sizeof *want), *got = malloc(n_tok * n_out * sizeof *got);
    float *got1 = malloc(n_tok * n_out * sizeof *got1);
    double *scale = malloc(n_tok * n_out * sizeof *scale); /* sum |w x|: the f32 rounding bound */
    double *qbound = malloc(n_tok * n_out * sizeof *qbound); /* activation quantization bound */
    float *half_step = malloc(2 * n_tok * n_in * sizeof *half_step); /* d/2 per element: 32-, 256-blocks */
    float *scratch = malloc(4 * n_in * sizeof *scratch);
    uint8_t *bytes = malloc((size_t)brisk_type_row_bytes(BRISK_TYPE_F32, n_in * n_out));
    for (int64_t i = 0; i < n_tok * n_in; i++) x[i] = test_rand_normal();
    for (int64_t i = 0; i < n_tok * n_in; i += 32) { /* scales varying per 32 */
        float s = expf(2.0f * (test_rand_uniform() - 0.5f));
        for (int j = 0; j < 32; j++) x[i + j] *= s;
    }
    for (int bs = 32, k = 0; bs <= 256; bs *= 8, k++)
        for (int64_t i = 0; i < n_tok * n_in; i += bs) {
            float amax = 0;
            for (int j = 0; j < bs; j++) amax = fmaxf(amax, fabsf(x[i + j]));
            for (int j = 0; j < bs; j++) half_step[k * n_tok * n_in + i + j] = amax / (float)CPU_ACT_QMAX / 2.0f;
        }
    int n_types = 0, n_panel_types = 0;
    for (uint32_t type = 0; type < BRISK_TYPE_COUNT; type++) {
        const brisk_type_traits *t = brisk_type_traits_get(type);
        if (!t || !t->dequantize) continue;
        n_types++;
        test_random_weights(type, bytes, n_in * n_out);
        t->dequantize(bytes, w, n_in * n_out);
        const int quantized_acts = type != BRISK_TYPE_F32 && type != BRISK_TYPE_F16 && type != BRISK_TYPE_BF16;
        const float *hs = half_step + (t->info.block_size == 256 ? n_tok * n_in : 0);
        for (int tk = 0; tk < n_tok; tk++)
            for (int64_t r = 0; r < n_out; r++) {
                double acc = 0, mag = 0, qb = 0;
                for (int64_t i = 0; i < n_in; i++) {
                    acc += (double)w[r * n_in + i] * x[tk * n_in + i];
                    mag += fabs((double)w[r * n_in + i] * x[tk * n_in + i]);
                    qb += fabs((double)w[r * n_in + i]) * hs[tk * n_in + i];
                }
                want[tk * n_out + r] = (float)acc;
                scale[tk * n_out + r] = mag;
                qbound[tk * n_out + r] = quantized_acts ? qb * 1.001 : 0.0;
            }
        /* rows only, then (where this CPU's kernels have them) 2 panels + 5 rows */
        for (int panels = 0; panels <= 1; panels++) {
            cpu_weight cw = {.type = type, .data = bytes, .n_in = n_in, .n_out = n_out,
                             .row_bytes = brisk_type_row_bytes(type, n_in)};
            if (panels) {
                CHECK(cpu_weight_make_panels(&cw, NULL, false));
                if (!cw.panels) continue;
                n_panel_types++;
            }
            for (int exact = 0; exact <= 1; exact++)
                for (int nth = 1; nth <= 4; nth++) {
                    threadpool *tp = threadpool_create(nth);
                    threadpool_set_exact(tp, exact);
                    memset(got, 0xff, n_tok * n_out * sizeof *got); /* NaN: unwritten outputs show */
                    cpu_matmul(tp, &cw, x, got, n_tok, scratch);
                    threadpool_free(tp);
                    double worst = 0;
                    for (int64_t i = 0; i < n_tok * n_out; i++) {
                        double allowed = 1e-5 * scale[i] + (exact ? 0.0 : qbound[i]);
                        double err = fabs((double)got[i] - want[i]) / (1e-30 + allowed);
                        if (!(err <= worst)) worst = isnan(err) ? INFINITY : err;
                    }
                    CHECK_MSG(worst <= 1.0, "%s%s with %d threads (%s): worst error %.3g of the allowed", t->info.name,
                              panels ? " (panels)" : "", nth, exact ? "exact" : "normal", worst);
                    if (nth == 1) memcpy(got1, got, n_tok * n_out * sizeof *got);
                    else CHECK_MSG(!memcmp(got, got1, n_tok * n_out * sizeof *got), "%s: %d threads differ from 1", t->info.name, nth);
                }
            cpu_weight_free_panels(&cw);
        }
    }
    printf("  %d types also through panels\n", n_panel_types);
    CHECK_MSG(n_types >= 17, "only %d computable types", n_types);
    free(x); free(w); free(want); free(got); free(got1); free(scale); free(qbound); free(half_step); free(scratch); free(bytes);
}

/* A prologue that writes the matmul's input: slow on purpose (the other
 * threads load weights meanwhile), counted (it must run once). */
typedef struct copy_prologue {
    const float *src;
    float *dst;
    size_t n;
    int calls;
} copy_prologue;

static void copy_prologue_run(void *p) {
    copy_prologue *cp = p;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 200000);
    memcpy(cp->dst, cp->src, cp->n * sizeof(float));
    cp->calls++;
}

/* cpu_matmul_n (several weights of one input as one job) gives exactly what
 * cpu_matmul gives for each weight alone: mixed types (both activation
 * formats, f32 weights, a type without panels), panel and row remainders,
 * 1..4 threads, exact and normal mode; also when a prologue writes the
 * input while the other threads already run. */
TEST(cpu_matmul_n_equals_separate_matmuls) {
    const int64_t n_in = 512, n_out[4] = {37, 160, 21, 16};
    const brisk_type types[4] = {BRISK_TYPE_Q4_K, BRISK_TYPE_Q8_0, BRISK_TYPE_F16, BRISK_TYPE_Q5_K};
    const int n_tok = 5;
    float *x = malloc(n_tok * n_in * sizeof *x), *scratch = malloc(4 * n_in * sizeof *scratch);
    float *x_late = malloc(n_tok * n_in * sizeof *x_late);
    for (int64_t i = 0; i < n_tok * n_in; i++) x[i] = test_rand_normal();
    cpu_weight cw[4];
    uint8_t *bytes[4];
    float *want[4], *got[4];
    for (int i = 0; i < 4; i++) {
        bytes[i] = malloc((size_t)brisk_type_row_bytes(types[i], n_in) * (size_t)n_out[i]);
        test_random_weights(types[i], bytes[i], n_in * n_out[i]);
        cw[i] = (cpu_weight){.type = types[i], .data = bytes[i], .n_in = n_in, .n_out = n_out[i],
                             .row_bytes = brisk_type_row_bytes(types[i], n_in)};
        CHECK(cpu_weight_make_panels(&cw[i], NULL, false));
        want[i] = malloc(n_tok * n_out[i] * sizeof *want[i]);
        got[i] = malloc(n_tok * n_out[i] * sizeof *got[i]);
    }
    const cpu_weight *ws[4] = {&cw[0], &cw[1], &cw[2], &cw[3]};
    for (int exact = 0; exact <= 1; exact++)
        for (int nth = 1; nth <= 4; nth++) {
            threadpool *tp = threadpool_create(nth);
            threadpool_set_exact(tp, exact);
            for (int i = 0; i < 4; i++) cpu_matmul(tp, &cw[i], x, want[i], n_tok, scratch);
            for (int n_w = 1; n_w <= 4; n_w++) {
                for (int i = 0; i < n_w; i++) memset(got[i], 0xff, n_tok * n_out[i] * sizeof *got[i]);
                cpu_matmul_n(tp, n_w, ws, x, got, n_tok, scratch, NULL);
                for (int i = 0; i < n_w; i++)
                    CHECK_MSG(!memcmp(got[i], want[i], n_tok * n_out[i] * sizeof *got[i]),
                              "weight %d of %d (%s), %d threads, exact %d", i, n_w, brisk_type_traits_get(types[i])->info.name,
                              nth, exact);
                for (int i = 0; i < n_w; i++) memset(got[i], 0xff, n_tok * n_out[i] * sizeof *got[i]);
                /* the workspace holds other activations, and x_late no input yet */
                for (int64_t i = 0; i < n_tok * n_in; i++) x_late[i] = -x[i];
                cpu_matmul_n(tp, n_w, ws, x_late, got, n_tok, scratch, NULL);
                for (int64_t i = 0; i < n_tok * n_in; i++) x_late[i] = NAN;
                copy_prologue cp = {x, x_late, (size_t)(n_tok * n_in), 0};
                cpu_matmul_n(tp, n_w, ws, x_late, got, n_tok, scratch, &(cpu_prologue){copy_prologue_run, &cp});
                CHECK(cp.calls == 1);
                for (int i = 0; i < n_w; i++)
                    CHECK_MSG(!memcmp(got[i], want[i], n_tok * n_out[i] * sizeof *got[i]),
                              "with a prologue: weight %d of %d, %d threads, exact %d", i, n_w, nth, exact);
            }
            threadpool_free(tp);
        }
    for (int i = 0; i < 4; i++) {
        cpu_weight_free_panels(&cw[i]);
        free(bytes[i]); free(want[i]); free(got[i]);
    }
    free(x); free(x_late); free(scratch);
}

TEST(cpu_rmsnorm_softmax_activations) {
    float x[67], w[67], out[67];
    for (int i = 0; i < 67; i++) { x[i] = test_rand_normal() * 3; w[i] = test_rand_normal(); }
    cpu_rmsnorm(x, w, out, 67, 1e-6f);
    double ss = 0;
    for (int i = 0; i < 67; i++) ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / 67 + 1e-6);
    for (int i = 0; i < 67; i++) CHECK(fabs(out[i] - x[i] * inv * w[i]) < 1e-5 * (1 + fabs(out[i])));

    float s[9] = {1, 2, 3, -INFINITY, 0.5f, -1, 4, 2, 2};
    float ref[9];
    double sum = 0;
    for (int i = 0; i < 9; i++) sum += isinf(s[i]) ? 0 : exp(s[i]);
    for (int i = 0; i < 9; i++) ref[i] = (float)((isinf(s[i]) ? 0 : exp(s[i])) / sum);
    cpu_softmax(s, 9);
    for (int i = 0; i < 9; i++) CHECK(fabs(s[i] - ref[i]) < 1e-6);

    float g[5] = {-3, -0.5f, 0, 0.7f, 4}, u[5] = {1, 2, -1, 0.5f, 3}, a[5];
    cpu_silu_mul(g, u, a, 5);
    for (int i = 0; i < 5; i++) CHECK(fabs(a[i] - g[i] / (1 + exp(-g[i])) * u[i]) < 1e-6);
    cpu_gelu_tanh_mul(g, u, a, 5);
    for (int i = 0; i < 5; i++) {
        double ref_gelu = 0.5 * g[i] * (1 + tanh(sqrt(2 / M_PI) * (g[i] + 0.044715 * pow(g[i], 3))));
        CHECK(fabs(a[i] - ref_gelu * u[i]) < 1e-5);
    }
}

/* The vectorized exp behind silu, gelu and softmax: error against double
 * precision over a wide range (gates up to +-100, scores spanning 60 nats,
 * masked entries, lengths with and without a 16-wide tail). */
TEST(cpu_silu_softmax_match_double) {
    enum { N = 1003 };
    float g[N], u[N], out[N];
    for (int i = 0; i < N; i++) {
        g[i] = (test_rand_uniform() - 0.5f) * (i % 7 == 0 ? 200.0f : 16.0f);
        u[i] = test_rand_normal();
    }
    cpu_silu_mul(g, u, out, N);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        const double want = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
        const double err = fabs(out[i] - want) / (fabs(want) + 1e-30);
        if (fabs(want) > 1e-30 && err > worst) worst = err;
    }
    CHECK_MSG(worst < 1e-6, "silu: worst relative error %g", worst);
    cpu_gelu_tanh_mul(g, u, out, N);
    for (int i = 0; i < N; i++) { /* 1 + tanh is exact to ~1e-7 absolute */
        const double y = sqrt(2 / M_PI) * (g[i] + 0.044715 * pow(g[i], 3));
        const double want = 0.5 * g[i] * (1 + tanh(y)) * u[i];
        CHECK_MSG(fabs(out[i] - want) <= 1e-6 * (fabs(want) + fabs((double)g[i] * u[i])), "gelu(%g): %g vs %g", g[i],
                  out[i], want);
    }
    for (int n = 1; n <= N; n += 97) {
        float x[N];
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++) {
            x[i] = i % 11 == 3 ? -INFINITY : (test_rand_uniform() - 0.5f) * 60.0f;
            if (x[i] > mx) mx = x[i];
        }
        /* the reference takes the float difference x - max as the kernel does
         * (its rounding alone moves e^d by up to |d| * 6e-8) */
        for (int i = 0; i < n; i++) sum += isinf(x[i]) ? 0 : exp((double)(float)(x[i] - (float)mx));
        float y[N];
        memcpy(y, x, (size_t)n * sizeof *x);
        cpu_softmax(y, n);
        for (int i = 0; i < n; i++) {
            const double want = isinf(x[i]) ? 0 : exp((double)(float)(x[i] - (float)mx)) / sum;
            CHECK_MSG(fabs(y[i] - want) <= 1e-6 * want + 1e-37, "softmax n=%d [%d]: %g vs %g", n, i, y[i], want);
        }
    }
}

static void count_slices(void *arg, int ith, int nth) {
    long b, e;
    threadpool_slice(1001, ith, nth, &b, &e);
    int *hits = arg;
    for (long i = b; i < e; i++) __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
}

TEST(threadpool_covers_every_item_once) {
    for (int nth = 1; nth <= 5; nth++) {
        threadpool *tp = threadpool_create(nth);
        CHECK_EQ_INT(threadpool_size(tp), nth);
        for (int rep = 0; rep < 50; rep++) {
            int hits[1001] = {0};
            threadpool_run(tp, count_slices, hits);
            for (int i = 0; i < 1001; i++) CHECK_EQ_INT(hits[i], 1);
        }
        threadpool_free(tp);
    }
}

/* ~20 us of work per slice, then the slice's items as in count_slices. */
static void busy_slices(void *arg, int ith, int nth) {
    volatile double x = 1;
    for (int i = 0; i < 4000; i++) x = x * 1.0000001 + 1e-9;
    count_slices(arg, ith, nth);
}

/* Two threads on one core (the process pinned to one CPU): parallel runs
 * lose to one thread there, so the pool must switch to running the slices on
 * the caller (threadpool_solo_runs) and still run every slice exactly once. */
TEST(threadpool_runs_alone_when_oversubscribed) {
    cpu_set_t old, one;
    CHECK(sched_getaffinity(0, sizeof old, &old) == 0);
    int cpu = -1;
    for (int c = 0; c < CPU_SETSIZE && cpu < 0; c++)
        if (CPU_ISSET(c, &old)) cpu = c;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    CHECK(sched_setaffinity(0, sizeof one, &one) == 0); /* the pool's workers inherit it */
    threadpool *tp = threadpool_create(2);
    for (int rep = 0; rep < 2000; rep++) {
        int hits[1001] = {0};
        threadpool_run(tp, busy_slices, hits);
        for (int i = 0; i < 1001; i++) CHECK_EQ_INT(hits[i], 1);
    }
    printf("  %ld of 2000 runs on the caller alone\n", threadpool_solo_runs(tp));
    CHECK(threadpool_solo_runs(tp) > 1000);
    threadpool_free(tp);
    CHECK(sched_setaffinity(0, sizeof old, &old) == 0);
}
