/* Every SIMD matmul kernel against the generic reference kernel on random
 * data; SIMD activation quantizers bit-identical to the reference; the
 * reference quantizers against their definition. ISAs this CPU cannot run
 * are skipped (NEON runs under qemu-aarch64: scripts/test_neon.sh). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels.h"
#include "base/fp16.h"
#include "quant/quant.h"
#include "test.h"

/* Activations: normal, with a per-32 block scale that varies a lot, one
 * all-zero block (d = 0), and a few large outliers. */
static void kernel_random_acts(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = test_rand_normal();
    for (int64_t b = 0; b < n / 32; b++) {
        float s = (b % 7 == 3) ? 0.0f : expf(3.0f * (test_rand_uniform() - 0.5f));
        for (int j = 0; j < 32; j++) x[32 * b + j] *= s;
    }
    if (n > 40) x[n / 3] *= 50.0f;
}

static void convert_acts(const cpu_kernels *k, cpu_act_format f, const float *x, void *dst, int64_t n) {
    if (f == CPU_ACT_F32) memcpy(dst, x, (size_t)n * sizeof *x);
    else if (f == CPU_ACT_Q16_32) k->quant_q16_32(x, dst, n);
    else k->quant_q16_256(x, dst, n);
}

/* The f32 values an activation row stands for. */
static void act_values(cpu_act_format f, const void *act, float *out, int64_t n) {
    if (f == CPU_ACT_F32) { memcpy(out, act, (size_t)n * sizeof *out); return; }
    if (f == CPU_ACT_Q16_32) {
        const act_q16_32 *b = act;
        for (int64_t i = 0; i < n; i++) out[i] = b[i / 32].d * (float)b[i / 32].q[i % 32];
    } else {
        const act_q16_256 *b = act;
        for (int64_t i = 0; i < n; i++) out[i] = b[i / 256].d * (float)b[i / 256].q[i % 256];
    }
}

/* x ~= d * q within d / 2 (+ f32 rounding of x / d), |q| <= CPU_ACT_QMAX. */
TEST(cpu_act_quant_reference_definition) {
    const int64_t n = 1024;
    float *x = malloc(n * sizeof *x);
    act_q16_32 *a = malloc(n / 32 * sizeof *a);
    act_q16_256 *k = malloc(n / 256 * sizeof *k);
    kernel_random_acts(x, n);
    cpu_quant_act_q16_32_ref(x, a, n);
    cpu_quant_act_q16_256_ref(x, k, n);
    for (int64_t b = 0; b < n / 32; b++) {
        float amax = 0;
        int sum = 0;
        for (int j = 0; j < 32; j++) { amax = fmaxf(amax, fabsf(x[32 * b + j])); sum += a[b].q[j]; }
        CHECK(a[b].d == amax / (float)CPU_ACT_QMAX);
        CHECK(a[b].s == a[b].d * (float)sum);
        for (int j = 0; j < 32; j++) {
            const float v = x[32 * b + j], q = a[b].d * (float)a[b].q[j];
            CHECK(a[b].q[j] >= -CPU_ACT_QMAX && a[b].q[j] <= CPU_ACT_QMAX);
            CHECK_MSG(fabsf(v - q) <= a[b].d * (0.5f + 1e-3f), "block %lld: %g vs %g (d %g)", (long long)b, v, q, a[b].d);
        }
    }
    for (int64_t b = 0; b < n / 256; b++) {
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += k[b].q[16 * g + l];
            CHECK(k[b].ssum[g] == k[b].d * (float)sum);
        }
        for (int j = 0; j < 256; j++) {
            CHECK(fabsf(x[256 * b + j] - k[b].d * (float)k[b].q[j]) <= k[b].d * (0.5f + 1e-3f));
            CHECK(256 * k[b].hi[j] + k[b].lo[j] == k[b].q[j]);
        }
    }
    free(x); free(a); free(k);
}

TEST(cpu_act_quant_simd_matches_reference) {
    const int64_t n = 2048;
    float *x = malloc(n * sizeof *x);
    const size_t bytes = cpu_act_row_bytes(CPU_ACT_Q16_256, n) > cpu_act_row_bytes(CPU_ACT_Q16_32, n)
                             ? cpu_act_row_bytes(CPU_ACT_Q16_256, n) : cpu_act_row_bytes(CPU_ACT_Q16_32, n);
    uint8_t *want = malloc(bytes), *got = malloc(bytes);
    int n_isas = 0;
    for (int isa = 1; isa < CPU_ISA_COUNT; isa++) {
        const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
        if (!k) continue;
        n_isas++;
        for (int rep = 0; rep < 4; rep++) {
            kernel_random_acts(x, n);
            memset(want, 0, bytes); memset(got, 0, bytes);
            if (k->quant_q16_32) {
                cpu_quant_act_q16_32_ref(x, want, n);
                k->quant_q16_32(x, got, n);
                CHECK_MSG(!memcmp(want, got, cpu_act_row_bytes(CPU_ACT_Q16_32, n)), "%s: q16_32 differs", k->name);
            }
            memset(want, 0, bytes); memset(got, 0, bytes);
            if (k->quant_q16_256) {
                cpu_quant_act_q16_256_ref(x, want, n);
                k->quant_q16_256(x, got, n);
                CHECK_MSG(!memcmp(want, got, cpu_act_row_bytes(CPU_ACT_Q16_256, n)), "%s: q16_256 differs", k->name);
            }
        }
    }
    printf("  act quant: %d SIMD ISA(s) checked\n", n_isas);
    free(x); free(want); free(got);
}

/* Every (ISA, type) kernel equals the generic kernel of the type within f32
 * rounding (both compute the same integer sums; only the order of the f32
 * additions differs): |got - want| <= 2e-6 * sum |w_i a_i| over row lengths
 * with odd block counts and the tail of unrolled loops, 5 rows, 1..4 columns. */
TEST(cpu_kernels_match_generic) {
    const int64_t lens32[] = {32, 96, 224, 4096}, lens256[] = {256, 768, 2304}, lens1[] = {1, 7, 37, 1003, 4096};
    const int n_rows = 5;
    const cpu_kernels *g = cpu_kernels_generic();
    int n_checked = 0;
    for (int isa = 1; isa < CPU_ISA_COUNT; isa++) {
        const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
        if (!k) continue;
        for (uint32_t type = 0; type < BRISK_TYPE_COUNT; type++) {
            if (!k->dot[type]) continue;
            cpu_act_format f = cpu_act_format_of((brisk_type)type);
            const brisk_type_traits *t = brisk_type_traits_get(type);
            const int64_t *lens = f == CPU_ACT_F32 ? lens1 : f == CPU_ACT_Q16_32 ? lens32 : lens256;
            int n_lens = f == CPU_ACT_F32 ? 5 : f == CPU_ACT_Q16_32 ? 4 : 3;
            for (int li = 0; li < n_lens; li++) {
                const int64_t n = lens[li];
                const uint64_t rb = brisk_type_row_bytes((brisk_type)type, n);
                const size_t ab = cpu_act_row_bytes(f, n);
                uint8_t *w = malloc(rb * n_rows);
                float *wf = malloc(n * n_rows * sizeof *wf), *x = malloc(4 * n * sizeof *x), *av = malloc(n * sizeof *av);
                uint8_t *act = malloc(4 * ab);
                test_random_weights(type, w, n * n_rows);
                t->dequantize(w, wf, n * n_rows);
                for (int c = 0; c < 4; c++) {
                    if (f == CPU_ACT_F32) for (int64_t i = 0; i < n; i++) x[c * n + i] = test_rand_normal();
                    else kernel_random_acts(x + c * n, n);
                    convert_acts(g, f, x + c * n, act + c * ab, n);
                }
                for (int nc = 1; nc <= 4; nc++)
                    for (int r = 0; r < n_rows; r++) {
                        float want[4], got[8];
                        memset(got, 0xff, sizeof got);
                        g->dot[type](n, w + r * rb, act, ab, nc, want, 1);
                        k->dot[type](n, w + r * rb, act, ab, nc, got, 2); /* strided output */
                        for (int c = 0; c < nc; c++) {
                            act_values(f, act + c * ab, av, n);
                            double mag = 0;
                            for (int64_t i = 0; i < n; i++) mag += fabs((double)wf[r * n + i] * av[i]);
                            double err = fabs((double)got[2 * c] - want[c]);
                            CHECK_MSG(err <= 2e-6 * mag + 1e-30, "%s %s n=%lld row %d col %d/%d: %.9g vs %.9g (mag %.3g)",
                                      k->name, t->info.name, (long long)n, r, c, nc, got[2 * c], want[c], mag);
                        }
                        for (int c = nc; c < 4; c++) CHECK_MSG(isnan(got[2 * c]), "%s %s: wrote column %d of %d", k->name, t->info.name, c, nc);
                        n_checked++;
                    }
                free(w); free(wf); free(x); free(av); free(act);
            }
        }
    }
    printf("  %d (ISA, type, length, row, columns) cases checked\n", n_checked);
}

/* The generic integer kernels against a double dot of the dequantized weights
 * with the dequantized activations: they compute exactly that, up to f32. */
TEST(cpu_generic_kernels_match_definition) {
    const cpu_kernels *g = cpu_kernels_generic();
    const int64_t n = 1024;
    int n_types = 0;
    for (uint32_t type = 0; type < BRISK_TYPE_COUNT; type++) {
        if (!g->dot[type]) continue;
        n_types++;
        cpu_act_format f = cpu_act_format_of((brisk_type)type);
        const brisk_type_traits *t = brisk_type_traits_get(type);
        const uint64_t rb = brisk_type_row_bytes((brisk_type)type, n);
        const size_t ab = cpu_act_row_bytes(f, n);
        uint8_t *w = malloc(rb), *act = malloc(ab);
        float *wf = malloc(n * sizeof *wf), *x = malloc(n * sizeof *x), *av = malloc(n * sizeof *av);
        test_random_weights(type, w, n);
        t->dequantize(w, wf, n);
        kernel_random_acts(x, n);
        convert_acts(g, f, x, act, n);
        act_values(f, act, av, n);
        double want = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) { want += (double)wf[i] * av[i]; mag += fabs((double)wf[i] * av[i]); }
        float got;
        g->dot[type](n, w, act, ab, 1, &got, 1);
        CHECK_MSG(mag > 0, "%s: all-zero data", t->info.name);
        CHECK_MSG(fabs(got - want) <= 1e-5 * mag, "%s: %.9g vs %.9g (mag %.3g)", t->info.name, got, want, mag);
        free(w); free(act); free(wf); free(x); free(av);
    }
    CHECK_MSG(n_types >= 17, "only %d types have generic kernels", n_types);
}

/* Offsets of a block's f16 scale fields (set to 1.0 by the extreme-value
 * test so that only the quants and integer sub-scales are extreme). */
static int scale_fields(brisk_type type, int off[2]) {
    switch (type) {
    case BRISK_TYPE_Q4_1: case BRISK_TYPE_Q5_1: case BRISK_TYPE_Q4_K: case BRISK_TYPE_Q5_K:
        off[0] = 0; off[1] = 2; return 2;
    case BRISK_TYPE_Q2_K: off[0] = 80; off[1] = 82; return 2;
    case BRISK_TYPE_Q3_K: off[0] = 108; return 1;
    case BRISK_TYPE_Q6_K: off[0] = 208; return 1;
    default: off[0] = 0; return 1;
    }
}

/* The i32 sums of every kernel at their bounds: weight blocks of repeated
 * byte patterns (all quants and sub-block scales at an extreme, e.g. Q6_K
 * q = -32 with scale -128) against activations of all +max or alternating
 * signs, each at |q| = CPU_ACT_QMAX. An overflow would show as a mismatch
 * with the generic kernel (whose per-group i32 sums cannot overflow). */
TEST(cpu_kernels_extreme_values) {
    const uint8_t patterns[] = {0x00, 0xFF, 0x80, 0x7F, 0x88, 0x77, 0xAA, 0x55};
    const int64_t n = 2048;
    const cpu_kernels *g = cpu_kernels_generic();
    int n_checked = 0;
    float *x = malloc(4 * n * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        x[i] = 1.0f;                       /* column 0: all +max */
        x[n + i] = (i & 1) ? -1.0f : 1.0f; /* column 1: alternating */
        x[2 * n + i] = -1.0f;
        x[3 * n + i] = (i & 16) ? -1.0f : 1.0f;
    }
    for (int isa = 1; isa < CPU_ISA_COUNT; isa++) {
        const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
        if (!k) continue;
        for (uint32_t type = 0; type < BRISK_TYPE_COUNT; type++) {
            cpu_act_format f = cpu_act_format_of((brisk_type)type);
            if (!k->dot[type] || f == CPU_ACT_F32) continue;
            const brisk_type_traits *t = brisk_type_traits_get(type);
            const uint64_t rb = brisk_type_row_bytes((brisk_type)type, n);
            const size_t ab = cpu_act_row_bytes(f, n);
            uint8_t *w = malloc(rb), *act = malloc(4 * ab);
            float *wf = malloc(n * sizeof *wf), *av = malloc(n * sizeof *av);
            for (int c = 0; c < 4; c++) convert_acts(g, f, x + c * n, act + c * ab, n);
            for (size_t pi = 0; pi < sizeof patterns; pi++) {
                memset(w, patterns[pi], rb);
                int off[2];
                const int n_off = scale_fields((brisk_type)type, off);
                for (uint64_t b = 0; b < rb; b += t->info.block_bytes) {
                    if (type == BRISK_TYPE_Q8_K) { const float one = 1.0f; memcpy(w + b, &one, 4); continue; }
                    if (type == BRISK_TYPE_MXFP4) { w[b] = 127; continue; }
                    for (int j = 0; j < n_off; j++) { const uint16_t one = 0x3C00; memcpy(w + b + off[j], &one, 2); }
                }
                float want[4], got[4];
                g->dot[type](n, w, act, ab, 4, want, 1);
                k->dot[type](n, w, act, ab, 4, got, 1);
                t->dequantize(w, wf, n);
                for (int c = 0; c < 4; c++) {
                    act_values(f, act + c * ab, av, n);
                    double mag = 0;
                    for (int64_t i = 0; i < n; i++) mag += fabs((double)wf[i] * av[i]);
                    const double tol = 2e-6 * mag;
                    CHECK_MSG(fabs((double)got[c] - want[c]) <= tol, "%s %s pattern 0x%02x col %d: %.9g vs %.9g",
                              k->name, t->info.name, patterns[pi], c, got[c], want[c]);
                }
                n_checked++;
            }
            free(w); free(act); free(wf); free(av);
        }
    }
    printf("  %d (ISA, type, pattern) extreme cases checked\n", n_checked);
    free(x);
}

/* Every panel kernel (16 rows repacked) against the generic row kernel of its
 * type, row by row: random data over several lengths and 1..CPU_PANEL_MAX_COLS
 * columns, and
 * the extreme byte patterns of cpu_kernels_extreme_values. */
TEST(cpu_panel_kernels_match_generic) {
    const int64_t lens32[] = {32, 96, 4096}, lens256[] = {256, 768, 4096};
    const uint8_t patterns[] = {0x00, 0xFF, 0x80, 0x7F, 0x88, 0x55};
    const cpu_kernels *g = cpu_kernels_generic();
    const int R = CPU_PANEL_ROWS;
    enum { NC = CPU_PANEL_MAX_COLS }; /* every column count a panel kernel takes */
    int n_checked = 0;
    for (int isa = 1; isa < CPU_ISA_COUNT; isa++) {
        const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
        if (!k) continue;
        for (uint32_t type = 0; type < BRISK_TYPE_COUNT; type++) {
            if (!k->panel_dot[type]) continue;
            const cpu_act_format f = cpu_act_format_of((brisk_type)type);
            const brisk_type_traits *t = brisk_type_traits_get(type);
            for (int li = 0; li < 3; li++) {
                const int64_t n = f == CPU_ACT_Q16_32 ? lens32[li] : lens256[li];
                const uint64_t rb = brisk_type_row_bytes((brisk_type)type, n);
                const size_t ab = cpu_act_row_bytes(f, n);
                CHECK(cpu_panel_bytes((brisk_type)type, n) > 0);
                uint8_t *w = malloc(rb * R), *panel = malloc(cpu_panel_bytes((brisk_type)type, n)), *act = malloc(NC * ab);
                float *x = malloc(NC * n * sizeof *x), *wf = malloc(n * R * sizeof *wf), *av = malloc(n * sizeof *av);
                for (int c = 0; c < NC; c++) {
                    kernel_random_acts(x + c * n, n);
                    convert_acts(g, f, x + c * n, act + c * ab, n);
                }
                for (int pi = -1; pi < (int)sizeof patterns; pi++) { /* -1: random weights */
                    if (pi < 0) {
                        test_random_weights(type, w, n * R);
                    } else {
                        memset(w, patterns[pi], rb * R);
                        int off[2];
                        const int n_off = scale_fields((brisk_type)type, off);
                        for (uint64_t b = 0; b < rb * R; b += t->info.block_bytes)
                            for (int j = 0; j < n_off; j++) { const uint16_t one = 0x3C00; memcpy(w + b + off[j], &one, 2); }
                    }
                    t->dequantize(w, wf, n * R);
                    cpu_panel_pack((brisk_type)type, w, rb, n, panel);
                    for (int nc = 1; nc <= NC; nc++) {
                        float got[NC * 24];
                        memset(got, 0xff, sizeof got);
                        k->panel_dot[type](n, panel, act, ab, nc, got, 24); /* column stride 24 > 16 rows */
                        for (int c = 0; c < NC; c++) {
                            act_values(f, act + c * ab, av, n);
                            for (int r = 0; r < R; r++) {
                                if (c >= nc) { CHECK(isnan(got[24 * c + r])); continue; }
                                float want;
                                g->dot[type](n, w + r * rb, act + c * ab, ab, 1, &want, 1);
                                double mag = 0;
                                for (int64_t i = 0; i < n; i++) mag += fabs((double)wf[r * n + i] * av[i]);
                                CHECK_MSG(fabs((double)got[24 * c + r] - want) <= 2e-6 * mag + 1e-30,
                                          "%s %s panel n=%lld pattern %d row %d col %d/%d: %.9g vs %.9g", k->name,
                                          t->info.name, (long long)n, pi, r, c, nc, got[24 * c + r], want);
                            }
                            for (int r = R; r < 24; r++) CHECK(isnan(got[24 * c + r]));
                        }
                        n_checked++;
                    }
                }
                free(w); free(panel); free(act); free(x); free(wf); free(av);
            }
        }
    }
    printf("  %d (ISA, type, length, data, columns) panel cases checked\n", n_checked);
}

/* The F16 attention kernels (scores q . k_j, values sum_j p_j v_j) of every
 * ISA against a double-precision definition on random data: head lengths
 * with and without a 16-element tail (64 and 128 have their own AVX-512
 * paths), 1..9 query heads (several groups of the
 * heads a kernel takes at once), row counts up to a block (with leftovers),
 * rows strided wider than a head, and values accumulated into an output that
 * already holds data. */
TEST(cpu_attention_kernels_match_definition) {
    const int hds[] = {8, 24, 64, 80, 128, 256}, nqs[] = {1, 3, 7, 9}, ns[] = {1, 5, 16};
    int n_checked = 0;
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
        if (!k || !k->attn_scores_f16) continue;
        CHECK(k->attn_values_f16 != NULL);
        for (int hi = 0; hi < 6; hi++)
            for (int qi = 0; qi < 4; qi++)
                for (int ni = 0; ni < 3; ni++) {
                    const int hd = hds[hi], nq = nqs[qi], n = ns[ni];
                    const size_t stride = (size_t)hd * 3 + 5, ss = (size_t)n + 3;
                    uint16_t *rows = malloc(stride * n * sizeof *rows);
                    float *q = malloc((size_t)nq * hd * sizeof *q), *p = malloc((size_t)nq * ss * sizeof *p);
                    float *s = malloc((size_t)nq * ss * sizeof *s), *out = malloc((size_t)nq * hd * sizeof *out);
                    float *out0 = malloc((size_t)nq * hd * sizeof *out0);
                    for (size_t i = 0; i < stride * n; i++) rows[i] = brisk_f32_to_fp16(test_rand_normal());
                    for (int i = 0; i < nq * hd; i++) q[i] = test_rand_normal();
                    for (size_t i = 0; i < (size_t)nq * ss; i++) { p[i] = test_rand_uniform(); s[i] = NAN; }
                    for (int i = 0; i < nq * hd; i++) out[i] = out0[i] = test_rand_normal();
                    k->attn_scores_f16(rows, stride, n, q, nq, hd, s, ss);
                    k->attn_values_f16(rows, stride, n, p, ss, nq, hd, out);
                    for (int c = 0; c < nq; c++) {
                        for (int j = 0; j < n; j++) {
                            double want = 0, mag = 0;
                            for (int i = 0; i < hd; i++) {
                                const double t = (double)q[c * hd + i] * brisk_fp16_to_f32(rows[j * stride + i]);
                                want += t;
                                mag += fabs(t);
                            }
                            CHECK_MSG(fabs(s[c * ss + j] - want) <= 1e-6 * mag, "%s scores hd=%d nq=%d n=%d c=%d j=%d",
                                      k->name, hd, nq, n, c, j);
                        }
                        for (size_t j = (size_t)n; j < ss; j++) CHECK(isnan(s[c * ss + j]));
                        for (int i = 0; i < hd; i++) {
                            double want = out0[c * hd + i], mag = fabs(want);
                            for (int j = 0; j < n; j++) {
                                const double t = (double)p[c * ss + j] * brisk_fp16_to_f32(rows[j * stride + i]);
                                want += t;
                                mag += fabs(t);
                            }
                            CHECK_MSG(fabs(out[c * hd + i] - want) <= 1e-6 * mag, "%s values hd=%d nq=%d n=%d c=%d i=%d",
                                      k->name, hd, nq, n, c, i);
                        }
                    }
                    n_checked++;
                    free(rows); free(q); free(p); free(s); free(out); free(out0);
                }
    }
    CHECK(n_checked >= 60); /* at least the generic kernels */
    printf("  %d (ISA, head length, heads, rows) attention cases checked\n", n_checked);
}

/* f32 -> f16 (what the f16 KV cache stores) of every ISA, bit for bit equal
 * to brisk_f32_to_fp16 (round to nearest even) on random values of every f16
 * range, ties, overflow to inf around 65520, subnormals, +-0, inf and NaN;
 * lengths with and without a tail; nothing written past n. */
TEST(cpu_f32_to_f16_matches_reference) {
    enum { N = 203 };
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 65504.0f, 65519.99f, 65520.0f, -65520.0f,
                             1e-8f, -3e-8f, 2.98e-8f, 6.1e-5f, 6.0e-5f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048,
                             2049.0f, 2051.0f, 1e30f, -1e-30f};
    const int ns[] = {1, 7, 8, 9, 16, 31, 64, N};
    float x[N];
    int n_checked = 0;
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
        if (!k || !k->f32_to_f16) continue;
        for (int trial = 0; trial < 20; trial++) {
            for (int i = 0; i < N; i++) {
                const int kind = (int)(test_rand_u64() % 8);
                if (kind == 0) x[i] = special[test_rand_u64() % (sizeof special / sizeof special[0])];
                else x[i] = test_rand_normal() * ldexpf(1.0f, (int)(test_rand_u64() % 50) - 30);
            }
            for (int ni = 0; ni < 8; ni++) {
                uint16_t y[N + 1];
                y[ns[ni]] = 0xBEEF;
                k->f32_to_f16(x, y, ns[ni]);
                for (int i = 0; i < ns[ni]; i++)
                    CHECK_MSG(y[i] == brisk_f32_to_fp16(x[i]), "%s: f16(%a) = %04x, want %04x", k->name, (double)x[i],
                              y[i], brisk_f32_to_fp16(x[i]));
                CHECK(y[ns[ni]] == 0xBEEF);
            }
        }
        n_checked++;
    }
    CHECK(n_checked >= 1);
}
