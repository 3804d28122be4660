/* Plain float conversions (F16, BF16) and the 32-element block formats
 * (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, IQ4_XS, MXFP4): exhaustive half
 * conversions, hand-checked rounding cases, hand-built blocks with known
 * values, and quantize -> dequantize quality held inside a band per type.
 * Bit-exactness against gguf-py is checked by tests/py/test_quant_formats.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "brisk.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* F16                                                                       */
/* ------------------------------------------------------------------------ */

static int fp16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0; }

/* The value of a half, computed from the definition with ldexp. */
static float fp16_value(uint16_t h) {
    const int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float v;
    if (exp == 0x1f) v = INFINITY; /* NaNs are handled by the callers */
    else if (exp == 0) v = ldexpf((float)man, -24);
    else v = ldexpf((float)(man | 0x400), exp - 25);
    return sign ? -v : v;
}

TEST(fp16_every_pattern_round_trips) {
    int bad_value = 0, bad_back = 0, bad_nan = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        const uint16_t h = (uint16_t)i;
        const float f = brisk_fp16_to_f32(h);
        const uint16_t back = brisk_f32_to_fp16(f);
        if (fp16_is_nan(h)) {
            /* NaN stays NaN, with its sign, both ways */
            if (!isnan(f) || !fp16_is_nan(back) || (back & 0x8000) != (h & 0x8000)) bad_nan++;
            continue;
        }
        if (brisk_f32_bits(f) != brisk_f32_bits(fp16_value(h))) bad_value++;
        if (back != h) bad_back++;
    }
    CHECK_EQ_INT(bad_value, 0);
    CHECK_EQ_INT(bad_back, 0);
    CHECK_EQ_INT(bad_nan, 0);
}

TEST(fp16_rounding_cases) {
    static const struct { float f; uint16_t h; } cases[] = {
        {1.0f, 0x3c00},
        {-2.0f, 0xc000},
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        /* halfway between two halves: to the even one */
        {1.0f + 0x1p-11f, 0x3c00},            /* 1 | 1+2^-10: down to even 0x3c00 */
        {1.0f + 3 * 0x1p-11f, 0x3c02},        /* 1+2^-10 | 1+2^-9: up to even 0x3c02 */
        {1.0f + 0x1p-11f + 0x1p-23f, 0x3c01}, /* just above the tie: up */
        {1.0f + 0x1p-11f - 0x1p-23f, 0x3c00}, /* just below the tie: down */
        {2048.0f + 1.0f, 0x6800},             /* 2049 is a tie (step 2 there): to 2048 */
        {2048.0f + 3.0f, 0x6802},             /* 2051: tie, to 2052 */
        /* the top of the range and overflow */
        {65504.0f, 0x7bff},
        {65519.99f, 0x7bff}, /* below the 65504 | 65536 midpoint */
        {65520.0f, 0x7c00},  /* the midpoint: ties to even, which is the infinity */
        {1e10f, 0x7c00},
        {-1e10f, 0xfc00},
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
        /* subnormals */
        {0x1p-14f, 0x0400},                 /* smallest normal */
        {1023 * 0x1p-24f, 0x03ff},          /* largest subnormal */
        {1023.5f * 0x1p-24f, 0x0400},       /* tie between them: to even 0x0400 */
        {0x1p-24f, 0x0001},                 /* smallest subnormal */
        {-0x1p-24f, 0x8001},
        {0x1p-25f, 0x0000},                 /* tie between 0 and 2^-24: to 0 */
        {-0x1p-25f, 0x8000},
        {0x1p-25f * 1.0000001f, 0x0001},    /* just above: up */
        {3 * 0x1p-25f, 0x0002},             /* 1.5 * 2^-24: tie, to even 2 */
        {5 * 0x1p-25f, 0x0002},             /* 2.5 * 2^-24: tie, to even 2 */
        {1e-10f, 0x0000},
        {-1e-10f, 0x8000},
        {0x1p-149f, 0x0000},                /* f32 subnormal */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t h = brisk_f32_to_fp16(cases[i].f);
        CHECK_MSG(h == cases[i].h, "fp16(%a) = 0x%04x, want 0x%04x", (double)cases[i].f, h,
                  cases[i].h);
    }
    CHECK(fp16_is_nan(brisk_f32_to_fp16(NAN)));
    CHECK(fp16_is_nan(brisk_f32_to_fp16(brisk_f32_from_bits(0x7f800001u)))); /* low payload */
    CHECK(fp16_is_nan(brisk_f32_to_fp16(brisk_f32_from_bits(0xff800001u))));
    CHECK(brisk_f32_to_fp16(brisk_f32_from_bits(0xff800001u)) & 0x8000);
}

/* ------------------------------------------------------------------------ */
/* BF16                                                                      */
/* ------------------------------------------------------------------------ */

TEST(bf16_every_pattern_round_trips) {
    int bad_value = 0, bad_back = 0, bad_nan = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        const uint16_t h = (uint16_t)i;
        const float f = brisk_bf16_to_f32(h);
        const uint16_t back = brisk_f32_to_bf16(f);
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0) {
            /* NaN stays NaN and comes back quiet, payload and sign kept */
            if (!isnan(f) || back != (h | 0x40)) bad_nan++;
            continue;
        }
        if (brisk_f32_bits(f) != (uint32_t)h << 16) bad_value++;
        if (back != h) bad_back++;
    }
    CHECK_EQ_INT(bad_value, 0);
    CHECK_EQ_INT(bad_back, 0);
    CHECK_EQ_INT(bad_nan, 0);
}

TEST(bf16_rounding_cases) {
    static const struct { uint32_t f; uint16_t h; } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1.0 */
        {0x3f808000u, 0x3f80}, /* tie: to even */
        {0x3f818000u, 0x3f82}, /* tie: to even, up */
        {0x3f808001u, 0x3f81}, /* just above a tie */
        {0x3f807fffu, 0x3f80}, /* just below a tie */
        {0xbf818000u, 0xbf82}, /* negative tie */
        {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds up to infinity */
        {0x7f7f7fffu, 0x7f7f}, /* ... but a little less does not */
        {0x7f800000u, 0x7f80}, /* inf */
        {0x00008000u, 0x0000}, /* f32 subnormal tie: to even 0 */
        {0x00018000u, 0x0002}, /* f32 subnormal tie: to even 2 */
        {0x00008001u, 0x0001},
        {0x80000000u, 0x8000}, /* -0 */
        {0x7f800001u, 0x7fc0}, /* signalling NaN: quieted, not rounded into inf */
        {0xffffffffu, 0xffff}, /* NaN with a full payload: no carry out */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t h = brisk_f32_to_bf16(brisk_f32_from_bits(cases[i].f));
        CHECK_MSG(h == cases[i].h, "bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].f, h,
                  cases[i].h);
    }
}

/* ------------------------------------------------------------------------ */
/* Block formats: hand-built blocks                                          */
/* ------------------------------------------------------------------------ */

static void put_f16(uint8_t *p, float f) {
    uint16_t h = brisk_f32_to_fp16(f);
    memcpy(p, &h, 2);
}

/* Dequantize one row and compare with want[], exactly. */
static void check_decode(brisk_type t, const uint8_t *raw, int64_t n, const float *want) {
    float *y = malloc(sizeof(float) * (size_t)n);
    brisk_error err;
    if (!y) return;
    CHECK_MSG(brisk_dequantize(t, raw, y, n, &err) == BRISK_OK, "%s", err.msg);
    int bad = 0;
    for (int64_t j = 0; j < n; j++) {
        if (brisk_f32_bits(y[j]) != brisk_f32_bits(want[j]) && bad++ < 4)
            test_fail_at(__FILE__, __LINE__, "%s element %lld: %g, want %g",
                         brisk_type_get(t)->name, (long long)j, (double)y[j], (double)want[j]);
    }
    free(y);
}

/* 4-bit codes of a block: element i in the low nibble of byte i, element
 * i + 16 in the high nibble. */
static void put_nibbles(uint8_t *qs, const int *q) {
    for (int i = 0; i < 16; i++) qs[i] = (uint8_t)(q[i] | q[i + 16] << 4);
}

TEST(legacy_hand_built_blocks) {
    int q4[32], q5[32];
    for (int j = 0; j < 32; j++) {
        q4[j] = (j * 7 + 3) % 16;
        q5[j] = (j * 13 + 5) % 32;
    }
    uint8_t raw[34];
    float want[32];

    /* Q4_0: f16 d; qs[16].  x = d (q - 8) */
    put_f16(raw, 0.5f);
    put_nibbles(raw + 2, q4);
    for (int j = 0; j < 32; j++) want[j] = 0.5f * (float)(q4[j] - 8);
    check_decode(BRISK_TYPE_Q4_0, raw, 32, want);

    /* Q4_1: f16 d; f16 m; qs[16].  x = d q + m */
    put_f16(raw, 2.0f);
    put_f16(raw + 2, -1.25f);
    put_nibbles(raw + 4, q4);
    for (int j = 0; j < 32; j++) want[j] = 2.0f * (float)q4[j] - 1.25f;
    check_decode(BRISK_TYPE_Q4_1, raw, 32, want);

    /* Q5_0: f16 d; qh[4] (bit j = bit 4 of element j); qs[16].  x = d (q - 16) */
    int lo5[32];
    uint32_t qh = 0;
    for (int j = 0; j < 32; j++) {
        lo5[j] = q5[j] & 15;
        qh |= (uint32_t)(q5[j] >> 4) << j;
    }
    put_f16(raw, 0.25f);
    for (int k = 0; k < 4; k++) raw[2 + k] = (uint8_t)(qh >> (8 * k));
    put_nibbles(raw + 6, lo5);
    for (int j = 0; j < 32; j++) want[j] = 0.25f * (float)(q5[j] - 16);
    check_decode(BRISK_TYPE_Q5_0, raw, 32, want);

    /* Q5_1: f16 d; f16 m; qh[4]; qs[16].  x = d q + m */
    put_f16(raw, 0.125f);
    put_f16(raw + 2, 3.0f);
    for (int k = 0; k < 4; k++) raw[4 + k] = (uint8_t)(qh >> (8 * k));
    put_nibbles(raw + 8, lo5);
    for (int j = 0; j < 32; j++) want[j] = 0.125f * (float)q5[j] + 3.0f;
    check_decode(BRISK_TYPE_Q5_1, raw, 32, want);

    /* Q8_0: f16 d; i8 qs[32].  x = d q, q signed */
    put_f16(raw, -1.5f);
    for (int j = 0; j < 32; j++) {
        const int q = j * 8 - 128; /* -128 .. 120 */
        raw[2 + j] = (uint8_t)q;
        want[j] = -1.5f * (float)q;
    }
    check_decode(BRISK_TYPE_Q8_0, raw, 32, want);
}

static const int iq4nl_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};

TEST(nonlinear_hand_built_blocks) {
    int q[32];
    for (int j = 0; j < 32; j++) q[j] = (j * 5 + 1) % 16;
    uint8_t raw[136];
    float want[256];

    /* IQ4_NL: f16 d; qs[16].  x = d * level[q] */
    put_f16(raw, 0.5f);
    put_nibbles(raw + 2, q);
    for (int j = 0; j < 32; j++) want[j] = 0.5f * (float)iq4nl_levels[q[j]];
    check_decode(BRISK_TYPE_IQ4_NL, raw, 32, want);

    /* IQ4_XS: f16 d; u16 scales_h; u8 scales_l[4]; qs[128]: 8 sub-blocks with
     * 6-bit scales ls (stored + 32), low nibbles in scales_l (sub-block 2i low,
     * 2i+1 high), top two bits at 2s in scales_h. */
    static const int ls[8] = {0, 1, 31, 32, 33, 63, 40, 17};
    memset(raw, 0, sizeof raw);
    put_f16(raw, 0.25f);
    uint16_t sh = 0;
    for (int s = 0; s < 8; s++) {
        raw[4 + s / 2] |= (uint8_t)((ls[s] & 15) << (4 * (s % 2)));
        sh |= (uint16_t)((ls[s] >> 4) << (2 * s));
    }
    raw[2] = (uint8_t)sh;
    raw[3] = (uint8_t)(sh >> 8);
    for (int s = 0; s < 8; s++) {
        int qq[32];
        for (int j = 0; j < 32; j++) qq[j] = (j * 3 + s) % 16;
        put_nibbles(raw + 8 + 16 * s, qq);
        for (int j = 0; j < 32; j++)
            want[32 * s + j] = 0.25f * (float)(ls[s] - 32) * (float)iq4nl_levels[qq[j]];
    }
    check_decode(BRISK_TYPE_IQ4_XS, raw, 256, want);

    /* MXFP4: u8 e (E8M0 scale 2^(e-127)); qs[16] of E2M1 codes (OCP MX spec):
     * codes 0..7 = 0, 0.5, 1, 1.5, 2, 3, 4, 6; codes 8..15 the negatives. */
    static const float e2m1[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
    int codes[32];
    for (int j = 0; j < 32; j++) codes[j] = j % 16;
    static const struct { uint8_t e; float scale; } scales[] = {
        {127, 1.0f}, {130, 8.0f}, {120, 0x1p-7f}, {1, 0x1p-126f}, {0, 0x1p-127f}, {254, 0x1p127f},
    };
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        raw[0] = scales[k].e;
        put_nibbles(raw + 1, codes);
        for (int j = 0; j < 32; j++) {
            want[j] = e2m1[codes[j]] * scales[k].scale;
            if (want[j] == 0) want[j] = 0.0f; /* -0 decodes as +0 (the table stores 0) */
        }
        check_decode(BRISK_TYPE_MXFP4, raw, 32, want);
    }
}

/* ------------------------------------------------------------------------ */
/* Block formats: quantize -> dequantize                                     */
/* ------------------------------------------------------------------------ */

enum { GUARD = 64 };

/* Quantize and dequantize n values (a row of several blocks), checking that
 * nothing is written past either buffer and that every output is filled in.
 * y gets the round-tripped values; returns 0 on success. */
static int roundtrip(brisk_type t, const float *x, float *y, int64_t n) {
    const size_t bytes = (size_t)brisk_type_row_bytes(t, n);
    uint8_t *q = malloc(bytes + GUARD);
    float *yy = malloc(sizeof(float) * (size_t)n + GUARD);
    brisk_error err;
    int rc = -1;
    if (!q || !yy) goto out;
    memset(q, 0xA5, bytes + GUARD);                      /* junk the quantizer must overwrite */
    memset(yy, 0xFF, sizeof(float) * (size_t)n + GUARD); /* NaNs the dequantizer must overwrite */
    if (brisk_quantize(t, x, q, n, &err) != BRISK_OK ||
        brisk_dequantize(t, q, yy, n, &err) != BRISK_OK) {
        test_fail_at(__FILE__, __LINE__, "%s: %s", brisk_type_get(t)->name, err.msg);
        goto out;
    }
    for (size_t i = 0; i < GUARD; i++) {
        if (q[bytes + i] != 0xA5 || ((uint8_t *)(yy + n))[i] != 0xFF) {
            test_fail_at(__FILE__, __LINE__, "%s wrote past the end of a row",
                         brisk_type_get(t)->name);
            goto out;
        }
    }
    memcpy(y, yy, sizeof(float) * (size_t)n);
    rc = 0;
out:
    free(q);
    free(yy);
    return rc;
}

static double rel_rmse(const float *x, const float *y, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        const double e = (double)x[i] - (double)y[i];
        num += e * e;
        den += (double)x[i] * x[i];
    }
    return den > 0 ? sqrt(num / den) : INFINITY; /* NaN in y gives NaN: fails both bounds */
}

enum { ROW_BLOCKS = 67, ROW_N = ROW_BLOCKS * 32, ROWS = 8 };

/* Relative RMSE of N(0, scale^2) data must lie in [lo, hi], over ROWS rows of
 * ROW_BLOCKS blocks, and the last block of every row must do as well as the
 * bound too (a quantizer that skips or mangles the tail block fails it). */
static void check_band(brisk_type t, double lo, double hi) {
    const char *name = brisk_type_get(t)->name;
    static const float scales[] = {1.0f, 1e-3f, 300.0f};
    float *x = malloc(sizeof(float) * ROW_N), *y = malloc(sizeof(float) * ROW_N);
    if (!x || !y) goto out;
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        test_seed(0xB10C0000u + (uint64_t)t * 16 + s);
        double num = 0, den = 0;
        for (int r = 0; r < ROWS; r++) {
            for (int i = 0; i < ROW_N; i++) x[i] = scales[s] * test_rand_normal();
            if (roundtrip(t, x, y, ROW_N)) goto out;
            for (int i = 0; i < ROW_N; i++) {
                const double e = (double)x[i] - y[i];
                num += e * e;
                den += (double)x[i] * x[i];
            }
            const double last = rel_rmse(x + ROW_N - 32, y + ROW_N - 32, 32);
            CHECK_MSG(last <= 2 * hi, "%s x%g: last block rel. RMSE %.4f > %.4f", name,
                      (double)scales[s], last, 2 * hi);
        }
        const double e = sqrt(num / den);
        CHECK_MSG(e >= lo && e <= hi, "%s x%g: rel. RMSE %.5f outside [%.4f, %.4f]", name,
                  (double)scales[s], e, lo, hi);
    }
out:
    free(x);
    free(y);
}

/* Bands: measured value in parentheses (N(0,1), 17k values; the scales 1e-3
 * and 300 give the same within 2%), lo ~0.85x and hi ~1.15x of it. They follow the bit width: a uniform step of
 * max|x| / 8 (Q4_0) gives about 0.09, each extra bit halves it, and Q8_0's
 * step max|x| / 127 gives about 0.005. Q4_1/Q5_1 spend their levels on
 * [min, max] and do slightly better than their symmetric twins. MXFP4 has
 * only 15 distinct levels, spaced non-uniformly, on a power-of-two scale. */
TEST(legacy_rmse_q4_0) { check_band(BRISK_TYPE_Q4_0, 0.073, 0.099); } /* (0.0852) */
TEST(legacy_rmse_q4_1) { check_band(BRISK_TYPE_Q4_1, 0.066, 0.090); } /* (0.0783) */
TEST(legacy_rmse_q5_0) { check_band(BRISK_TYPE_Q5_0, 0.036, 0.049); } /* (0.0428) */
TEST(legacy_rmse_q5_1) { check_band(BRISK_TYPE_Q5_1, 0.032, 0.044); } /* (0.0385) */
TEST(legacy_rmse_q8_0) { check_band(BRISK_TYPE_Q8_0, 0.0046, 0.0062); } /* (0.0054) */
TEST(mxfp4_rmse) { check_band(BRISK_TYPE_MXFP4, 0.097, 0.132); } /* (0.1147) */

static const brisk_type block32_types[] = {BRISK_TYPE_Q4_0, BRISK_TYPE_Q4_1, BRISK_TYPE_Q5_0,
                                           BRISK_TYPE_Q5_1, BRISK_TYPE_Q8_0, BRISK_TYPE_MXFP4};

/* A row quantizes block by block: the same bytes as quantizing each block alone. */
TEST(legacy_row_is_independent_blocks) {
    enum { NB = 9 };
    float x[NB * 32];
    test_seed(77);
    for (int i = 0; i < NB * 32; i++) x[i] = test_rand_normal() * (float)(1 + i / 32);
    for (size_t k = 0; k < sizeof block32_types / sizeof block32_types[0]; k++) {
        const brisk_type t = block32_types[k];
        const uint32_t bb = brisk_type_get(t)->block_bytes;
        uint8_t row[NB * 34], one[34];
        brisk_error err;
        CHECK(brisk_quantize(t, x, row, NB * 32, &err) == BRISK_OK);
        for (int b = 0; b < NB; b++) {
            CHECK(brisk_quantize(t, x + 32 * b, one, 32, &err) == BRISK_OK);
            CHECK_MSG(memcmp(one, row + (size_t)b * bb, bb) == 0, "%s block %d",
                      brisk_type_get(t)->name, b);
        }
    }
}

/* Zeros and constant blocks come back exactly where the format can hold them. */
TEST(legacy_zeros_and_constants) {
    float x[64], y[64];
    for (size_t k = 0; k < sizeof block32_types / sizeof block32_types[0]; k++) {
        const brisk_type t = block32_types[k];
        const char *name = brisk_type_get(t)->name;
        memset(x, 0, sizeof x);
        if (roundtrip(t, x, y, 64) == 0)
            for (int i = 0; i < 64; i++) CHECK_MSG(y[i] == 0.0f, "%s zeros: y[%d] = %g", name, i, (double)y[i]);
        /* 0.75 and -4 are exact in every format here but Q8_0, whose scale
         * max / 127 is rounded to f16 (relative error <= 2^-11) */
        const float tol = t == BRISK_TYPE_Q8_0 ? 0x1p-11f : 0.0f;
        for (int i = 0; i < 64; i++) x[i] = i < 32 ? 0.75f : -4.0f;
        if (roundtrip(t, x, y, 64) == 0)
            for (int i = 0; i < 64; i++)
                CHECK_MSG(fabsf(y[i] - x[i]) <= tol * fabsf(x[i]), "%s constant: y[%d] = %g, want %g",
                          name, i, (double)y[i], (double)x[i]);
    }
}

/* The element of largest magnitude is reproduced exactly by the symmetric
 * formats (it sets the scale), and the extremes by the min/max ones, up to
 * the f16 rounding of the scale. */
TEST(legacy_extremes_kept) {
    float x[32], y[32];
    test_seed(4242);
    for (int trial = 0; trial < 50; trial++) {
        for (int i = 0; i < 32; i++) x[i] = test_rand_normal();
        const int big = (int)(test_rand_u64() % 32);
        x[big] = (trial % 2 ? -8.0f : 8.0f) * (1.0f + (float)trial / 64);
        for (size_t k = 0; k < 5; k++) { /* the legacy types */
            const brisk_type t = block32_types[k];
            if (roundtrip(t, x, y, 32)) continue;
            const float tol = fabsf(x[big]) * 2e-3f; /* f16 scale: 11 significant bits */
            CHECK_MSG(fabsf(y[big] - x[big]) <= tol, "%s: extreme %g came back as %g",
                      brisk_type_get(t)->name, (double)x[big], (double)y[big]);
        }
    }
}
