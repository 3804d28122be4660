/* K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K): quantize -> dequantize
 * quality on random normal data, held inside a band per type, plus edge
 * cases (zeros, constants, outliers, non-finite and extreme inputs).
 * Bit-exactness of the dequantizers against gguf-py is checked by
 * tests/py/test_quant_kquants.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "brisk.h"
#include "test.h"

#define QK 256

/* Quantize n values of x into type t and dequantize them into y. */
static int roundtrip(brisk_type t, const float *x, float *y, int64_t n) {
    const uint64_t bytes = brisk_type_row_bytes(t, n);
    uint8_t *q = malloc(bytes ? bytes : 1);
    if (!q) return -1;
    memset(q, 0xA5, bytes); /* junk, so that bytes the quantizer forgets show */
    brisk_error err;
    int ok = brisk_quantize(t, x, q, n, &err) == BRISK_OK &&
             brisk_dequantize(t, q, y, n, &err) == BRISK_OK;
    if (!ok) test_fail_at(__FILE__, __LINE__, "%s round trip: %s", brisk_type_get(t)->name, err.msg);
    free(q);
    return ok ? 0 : -1;
}

/* Relative RMSE ||x - deq(q(x))|| / ||x|| over ROWS rows of ROW_BLOCKS
 * super-blocks of N(0, scale^2) data, each row quantized by its own call. */
enum { ROWS = 16, ROW_BLOCKS = 8, ROW_N = ROW_BLOCKS * QK };

static double measure_rel_rmse(brisk_type t, float scale) {
    test_seed(0x5eed0000u + (uint64_t)t); /* fixed data, whatever the test order */
    float *x = malloc(sizeof(float) * ROW_N), *y = malloc(sizeof(float) * ROW_N);
    double num = 0, den = 0;
    for (int r = 0; r < ROWS && x && y; r++) {
        for (int i = 0; i < ROW_N; i++) x[i] = scale * test_rand_normal();
        if (roundtrip(t, x, y, ROW_N)) break;
        for (int i = 0; i < ROW_N; i++) {
            const double e = (double)x[i] - y[i];
            num += e * e;
            den += (double)x[i] * x[i];
        }
    }
    free(x);
    free(y);
    return den > 0 ? sqrt(num / den) : INFINITY;
}

/* The bands come from measurements of this quantizer (in parentheses):
 * hi is ~1.10x the measured value, lo ~0.8x. The rough targets of
 * well-known reference quantizers are Q2_K 0.33, Q3_K 0.18, Q4_K 0.09,
 * Q5_K 0.045, Q6_K 0.022 (Q8_K: a single scale per 256 values cannot go much
 * below max|x| / 128 / sqrt(12), about 0.0065 for N(0, 1)). */
/* The quality must not depend on the magnitude of the data either: the same
 * band holds for N(0, 1) scaled by 1e-4 (fp16 super-block scales become
 * subnormal there) and by 1e3. */
static void check_band(brisk_type t, double lo, double hi) {
    const char *name = brisk_type_get(t)->name;
    const double rel = measure_rel_rmse(t, 1.0f);
    printf("     %s rel-RMSE %.4f  (band [%.4f, %.4f])\n", name, rel, lo, hi);
    CHECK_MSG(rel >= lo && rel <= hi, "%s rel-RMSE %.4f outside [%.4f, %.4f]", name, rel, lo, hi);
    static const float scales[] = {1e-4f, 1e3f};
    for (int i = 0; i < 2; i++) {
        const double r = measure_rel_rmse(t, scales[i]);
        CHECK_MSG(r >= lo && r <= hi, "%s rel-RMSE %.4f on data x %g outside [%.4f, %.4f]", name,
                  r, scales[i], lo, hi);
    }
}

TEST(kquant_rmse_q2_k) { check_band(BRISK_TYPE_Q2_K, 0.208, 0.287); } /* (0.2619) */
TEST(kquant_rmse_q3_k) { check_band(BRISK_TYPE_Q3_K, 0.115, 0.158); } /* (0.1434) */
TEST(kquant_rmse_q4_k) { check_band(BRISK_TYPE_Q4_K, 0.056, 0.0772); } /* (0.0703) */
TEST(kquant_rmse_q5_k) { check_band(BRISK_TYPE_Q5_K, 0.0281, 0.0386); } /* (0.0351) */
TEST(kquant_rmse_q6_k) { check_band(BRISK_TYPE_Q6_K, 0.0133, 0.0183); } /* (0.0166) */
TEST(kquant_rmse_q8_k) { check_band(BRISK_TYPE_Q8_K, 0.0055, 0.0076); } /* (0.0070) */

static const brisk_type kquants[] = {BRISK_TYPE_Q2_K, BRISK_TYPE_Q3_K, BRISK_TYPE_Q4_K,
                                     BRISK_TYPE_Q5_K, BRISK_TYPE_Q6_K, BRISK_TYPE_Q8_K};
#define N_KQUANTS (int)(sizeof kquants / sizeof kquants[0])

TEST(kquant_zeros_give_zeros) {
    enum { N = 3 * QK };
    float x[N], y[N];
    memset(x, 0, sizeof x);
    for (int k = 0; k < N_KQUANTS; k++) {
        for (int i = 0; i < N; i++) y[i] = 1.0f;
        if (roundtrip(kquants[k], x, y, N)) continue;
        int bad = 0;
        for (int i = 0; i < N; i++) bad += y[i] != 0.0f;
        CHECK_MSG(bad == 0, "%s: %d of %d zeros came back non-zero",
                  brisk_type_get(kquants[k])->name, bad, N);
    }
}

TEST(kquant_constant_blocks) {
    /* One super-block per constant. The fp16 super-block scales leave ~2^-11
     * relative error at most while they are normal halves; for -1e-3 they
     * are subnormal (2^-24 steps), hence the looser bound there. Q8_K's f32
     * scale makes every constant exact. */
    static const struct { float c, rel_tol; } consts[] = {
        {0.7f, 1e-3f}, {-0.7f, 1e-3f}, {3.0f, 1e-3f}, {-0.3f, 1e-3f},
        {123.25f, 1e-3f}, {1.0f, 1e-3f}, {-1e-3f, 5e-3f},
    };
    enum { NC = sizeof consts / sizeof consts[0], N = NC * QK };
    float x[N], y[N];
    for (int c = 0; c < NC; c++)
        for (int i = 0; i < QK; i++) x[c * QK + i] = consts[c].c;
    for (int k = 0; k < N_KQUANTS; k++) {
        if (roundtrip(kquants[k], x, y, N)) continue;
        for (int c = 0; c < NC; c++) {
            float worst = 0;
            for (int i = c * QK; i < (c + 1) * QK; i++)
                worst = fmaxf(worst, fabsf(y[i] - x[i]));
            const float tol =
                kquants[k] == BRISK_TYPE_Q8_K ? 0.0f : consts[c].rel_tol * fabsf(consts[c].c);
            CHECK_MSG(worst <= tol, "%s constant %g: max error %g > %g",
                      brisk_type_get(kquants[k])->name, consts[c].c, worst, tol);
        }
    }
}

TEST(kquant_outliers) {
    /* Two super-blocks of N(0, 1); a +1000 in the first and a -1000 in the
     * third. The outliers must come back within 1%, everything finite, and
     * the clean middle super-block exactly as if quantized on its own. */
    enum { N = 3 * QK };
    float x[N], y[N], alone[QK];
    for (int i = 0; i < N; i++) x[i] = test_rand_normal();
    x[37] = 1000.0f;
    x[2 * QK + 201] = -1000.0f;
    for (int k = 0; k < N_KQUANTS; k++) {
        const char *name = brisk_type_get(kquants[k])->name;
        if (roundtrip(kquants[k], x, y, N) || roundtrip(kquants[k], x + QK, alone, QK)) continue;
        int finite = 1;
        for (int i = 0; i < N; i++) finite &= isfinite(y[i]) != 0;
        CHECK_MSG(finite, "%s: non-finite output", name);
        CHECK_MSG(fabsf(y[37] - 1000.0f) <= 10.0f, "%s: outlier 1000 came back %g", name, y[37]);
        CHECK_MSG(fabsf(y[2 * QK + 201] + 1000.0f) <= 10.0f, "%s: outlier -1000 came back %g",
                  name, y[2 * QK + 201]);
        CHECK_MSG(memcmp(y + QK, alone, sizeof alone) == 0,
                  "%s: a super-block depends on its neighbours", name);
        /* The rest of an outlier's super-block may lose most of its detail
         * (the scales are shared), but must not be made worse than zeroing. */
        double num = 0, den = 0;
        for (int i = 0; i < QK; i++) {
            if (i == 37) continue;
            num += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            den += (double)x[i] * x[i];
        }
        CHECK_MSG(num <= den, "%s: outlier's neighbours rel-RMSE %.3f", name, sqrt(num / den));
    }
}

TEST(kquant_extreme_inputs_stay_finite) {
    /* Values far outside fp16 range, far below it, and inf/NaN: the formats
     * cannot represent them, but the output must be finite (and, under the
     * sanitizer build, free of undefined behaviour). */
    enum { N = 4 * QK };
    float x[N], y[N];
    for (int i = 0; i < N; i++) {
        const float g = test_rand_normal();
        x[i] = i < QK ? g * 1e30f : i < 2 * QK ? g * 1e-30f : g;
    }
    x[2 * QK + 5] = INFINITY;
    x[3 * QK + 9] = NAN;
    x[3 * QK + 10] = -INFINITY;
    for (int k = 0; k < N_KQUANTS; k++) {
        if (roundtrip(kquants[k], x, y, N)) continue;
        int bad = 0;
        for (int i = 0; i < N; i++) bad += !isfinite(y[i]);
        CHECK_MSG(bad == 0, "%s: %d non-finite outputs", brisk_type_get(kquants[k])->name, bad);
    }
}

TEST(kquant_q8_k_layout) {
    /* Q8_K: f32 d, i8 qs[256], i16 bsums[16] with bsums[j] = sum of qs[16j..16j+15];
     * the value of largest magnitude maps to -128. */
    enum { N = 2 * QK, BB = 292 };
    float x[N];
    uint8_t q[2 * BB];
    for (int i = 0; i < N; i++) x[i] = test_rand_normal();
    x[77] = 9.0f;
    if (brisk_quantize(BRISK_TYPE_Q8_K, x, q, N, NULL) != BRISK_OK) {
        CHECK(0);
        return;
    }
    for (int b = 0; b < 2; b++) {
        const uint8_t *blk = q + b * BB;
        int8_t qs[QK];
        memcpy(qs, blk + 4, QK);
        for (int j = 0; j < 16; j++) {
            int16_t bsum;
            memcpy(&bsum, blk + 4 + QK + 2 * j, 2);
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += qs[16 * j + l];
            CHECK_EQ_INT(bsum, sum);
        }
        int amax = 0;
        for (int i = 0; i < QK; i++) amax = abs(qs[i]) > amax ? abs(qs[i]) : amax;
        CHECK_EQ_INT(amax, 128);
    }
    float d;
    memcpy(&d, q, 4);
    CHECK(d == 9.0f / -128.0f);
    CHECK_EQ_INT((int8_t)q[4 + 77], -128);
}

TEST(kquant_rejects_partial_blocks) {
    float x[QK + 32] = {0};
    uint8_t q[512];
    for (int k = 0; k < N_KQUANTS; k++) {
        brisk_error err;
        CHECK(brisk_quantize(kquants[k], x, q, QK + 32, &err) == BRISK_ERR_ARG);
        CHECK(brisk_dequantize(kquants[k], q, x, 128, &err) == BRISK_ERR_ARG);
    }
}
