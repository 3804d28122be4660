/* AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c; chosen at run
 * time only when the CPU has all three). Same math as kernels_generic.c:
 * weight quants (times their K-quant group scale) widened to 16 bits and
 * dotted with the 16-bit activations (kernels.h) by vpmaddwd into i32 lanes,
 * scaled in f32 per block; float weights in f32 FMAs.
 *
 * Every kernel is written once as an always_inline body over `nc` columns
 * (tokens) and instantiated for nc = 1..4 (KC_SPECIALIZE_NC), so a weight
 * block is decoded once per nc tokens. */
#include "backend/cpu/kernels.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "backend/cpu/kernels_common.h"
#include "backend/cpu/kernels_x86.h"

#define INLINE static inline __attribute__((always_inline))

/* f16 -> f32 with the F16C instruction (the portable kc_f16 branches). */
INLINE float f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

INLINE float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

INLINE __m256i load_q(const int16_t *q) { return _mm256_loadu_si256((const __m256i *)q); }

/* 16 bytes -> 16 x i16, zero- or sign-extended. */
INLINE __m256i u8x16(const uint8_t *p) { return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p)); }
INLINE __m256i s8x16(const uint8_t *p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p)); }

/* ---- activation quantization (bit-identical to the reference) ------------ */

INLINE float absmax(const float *x, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 16 floats -> 16 x i16 at q; returns 8 partial sums of them. packs_epi32
 * interleaves the 128-bit lanes; the permute restores element order. */
INLINE __m256i quant16(const float *x, __m256 id, int16_t *q) {
    const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    const __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    _mm256_storeu_si256((__m256i *)q, _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8));
    return _mm256_add_epi32(a, b);
}

static void quant_q16_32(const float *x, void *dst, int64_t n) {
    act_q16_32 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float d = absmax(x, 32) / (float)CPU_ACT_QMAX;
        const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        const __m256i sum = _mm256_add_epi32(quant16(x, id, b[i].q), quant16(x + 16, id, b[i].q + 16));
        b[i].d = d;
        b[i].s = d * (float)hsum_epi32(sum);
    }
}

static void quant_q16_256(const float *x, void *dst, int64_t n) {
    act_q16_256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        const float d = absmax(x, 256) / (float)CPU_ACT_QMAX;
        const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        b[i].d = d;
        for (int g = 0; g < 16; g++) b[i].ssum[g] = d * (float)hsum_epi32(quant16(x + 16 * g, id, b[i].q + 16 * g));
        act_q16_256_split(&b[i]);
    }
}

/* ---- float weights ---------------------------------------------------------- */

static float dot_f32_exact(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float acc = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) acc += a[i] * b[i];
    return acc;
}

INLINE __m256 load8_f32(const void *w, int64_t i) { return _mm256_loadu_ps((const float *)w + i); }
INLINE __m256 load8_f16(const void *w, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
}
INLINE __m256 load8_bf16(const void *w, int64_t i) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* Float weight row [n] . f32 activations [nc][n]; two accumulators per column. */
#define FLOAT_BODY(LOAD, CONV)                                                                        \
    INLINE void body_##LOAD(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) { \
        __m256 acc[4][2];                                                                             \
        for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();                     \
        int64_t i = 0;                                                                                \
        for (; i + 16 <= n; i += 16) {                                                                \
            const __m256 w0 = LOAD(w, i), w1 = LOAD(w, i + 8);                                       \
            for (int c = 0; c < nc; c++) {                                                            \
                const float *x = (const float *)((const char *)act + c * as);                         \
                acc[c][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc[c][0]);                   \
                acc[c][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc[c][1]);               \
            }                                                                                         \
        }                                                                                             \
        for (int c = 0; c < nc; c++) {                                                                \
            const float *x = (const float *)((const char *)act + c * as);                             \
            float s = hsum_ps(_mm256_add_ps(acc[c][0], acc[c][1]));                                   \
            for (int64_t j = i; j < n; j++) s += CONV(w, j) * x[j];                                   \
            o[c * os] = s;                                                                            \
        }                                                                                             \
    }

INLINE float conv_f32(const void *w, int64_t j) { return ((const float *)w)[j]; }
INLINE float conv_f16(const void *w, int64_t j) { return f16((const uint8_t *)w + 2 * j); }
INLINE float conv_bf16(const void *w, int64_t j) {
    uint16_t h;
    memcpy(&h, (const uint8_t *)w + 2 * j, 2);
    return brisk_bf16_to_f32(h);
}
FLOAT_BODY(load8_f32, conv_f32)
FLOAT_BODY(load8_f16, conv_f16)
FLOAT_BODY(load8_bf16, conv_bf16)
KC_SPECIALIZE_NC(dot_f32, body_load8_f32)
KC_SPECIALIZE_NC(dot_f16, body_load8_f16)
KC_SPECIALIZE_NC(dot_bf16, body_load8_bf16)

/* ---- 32-element blocks: value = d * q + m ---------------------------------- */

/* A decoded block: elements 0..15 and 16..31 as i16, value = d * q + m. */
typedef struct blk32 {
    __m256i lo, hi;
    float d, m;
} blk32;

/* Nibble blocks: element j < 16 in the low nibble of byte j, 16 + j in the high. */
INLINE void nibbles(const uint8_t *p, __m256i *lo, __m256i *hi) {
    const __m256i v = u8x16(p);
    *lo = _mm256_and_si256(v, _mm256_set1_epi16(0x0F));
    *hi = _mm256_srli_epi16(v, 4);
}

/* Bit j of 16 bits -> 0x10 in i16 lane j. */
INLINE __m256i bits_to_0x10(uint32_t bits) {
    const __m256i lane_bit = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
                                               16384, (short)0x8000);
    const __m256i v = _mm256_and_si256(_mm256_set1_epi16((short)bits), lane_bit);
    return _mm256_and_si256(_mm256_cmpeq_epi16(v, lane_bit), _mm256_set1_epi16(0x10));
}

/* Nibbles through a 16-entry signed level table. */
INLINE void table_nibbles(const uint8_t *p, const int8_t *table, __m256i *lo, __m256i *hi) {
    const __m128i lut = _mm_loadu_si128((const __m128i *)table), m4 = _mm_set1_epi8(0x0F);
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    *lo = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(lut, _mm_and_si128(v, m4)));
    *hi = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(v, 4), m4)));
}

INLINE blk32 dec_q4_0(const uint8_t *b) {
    blk32 r = {.d = f16(b)};
    r.m = -8.0f * r.d;
    nibbles(b + 2, &r.lo, &r.hi);
    return r;
}
INLINE blk32 dec_q4_1(const uint8_t *b) {
    blk32 r = {.d = f16(b), .m = f16(b + 2)};
    nibbles(b + 4, &r.lo, &r.hi);
    return r;
}
INLINE blk32 dec_q5_0(const uint8_t *b) {
    blk32 r = {.d = f16(b)};
    r.m = -16.0f * r.d;
    const uint32_t qh = kc_u32(b + 2);
    nibbles(b + 6, &r.lo, &r.hi);
    r.lo = _mm256_or_si256(r.lo, bits_to_0x10(qh & 0xFFFF));
    r.hi = _mm256_or_si256(r.hi, bits_to_0x10(qh >> 16));
    return r;
}
INLINE blk32 dec_q5_1(const uint8_t *b) {
    blk32 r = {.d = f16(b), .m = f16(b + 2)};
    const uint32_t qh = kc_u32(b + 4);
    nibbles(b + 8, &r.lo, &r.hi);
    r.lo = _mm256_or_si256(r.lo, bits_to_0x10(qh & 0xFFFF));
    r.hi = _mm256_or_si256(r.hi, bits_to_0x10(qh >> 16));
    return r;
}
INLINE blk32 dec_q8_0(const uint8_t *b) { return (blk32){s8x16(b + 2), s8x16(b + 18), f16(b), 0.0f}; }
INLINE blk32 dec_iq4_nl(const uint8_t *b) {
    blk32 r = {.d = f16(b)};
    table_nibbles(b + 2, qb_kvalues_iq4nl, &r.lo, &r.hi);
    return r;
}
INLINE blk32 dec_mxfp4(const uint8_t *b) {
    blk32 r = {.d = qb_e8m0_half(b[0])};
    table_nibbles(b + 1, qb_kvalues_mxfp4, &r.lo, &r.hi);
    return r;
}

#define ACT32(c, i) ((const act_q16_32 *)((const char *)act + (c) * as) + (i))

/* One block into acc[c] (and the offset/min term into accm[c]). */
#define STEP32(DEC, HASMIN, acc, blkp, i)                                                             \
    do {                                                                                              \
        const blk32 wb = DEC(blkp);                                                                   \
        for (int c = 0; c < nc; c++) {                                                                \
            const act_q16_32 *ab = ACT32(c, i);                                                       \
            const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(wb.lo, load_q(ab->q)),               \
                                               _mm256_madd_epi16(wb.hi, load_q(ab->q + 16)));         \
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(wb.d * ab->d), acc[c]);    \
            if (HASMIN) accm[c] += wb.m * ab->s;                                                      \
        }                                                                                             \
    } while (0)

/* Blocks in pairs with two accumulator sets, to hide the FMA latency. */
#define BODY32(name, BYTES, HASMIN)                                                                   \
    INLINE void body_##name(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) { \
        __m256 acc0[4], acc1[4];                                                                      \
        float accm[4] = {0, 0, 0, 0};                                                                 \
        for (int c = 0; c < nc; c++) acc0[c] = acc1[c] = _mm256_setzero_ps();                         \
        const uint8_t *b = w;                                                                         \
        const int64_t nb = n / 32;                                                                    \
        int64_t i = 0;                                                                                \
        for (; i + 2 <= nb; i += 2) {                                                                 \
            STEP32(dec_##name, HASMIN, acc0, b + i * BYTES, i);                                       \
            STEP32(dec_##name, HASMIN, acc1, b + (i + 1) * BYTES, i + 1);                             \
        }                                                                                             \
        if (i < nb) STEP32(dec_##name, HASMIN, acc0, b + i * BYTES, i);                               \
        for (int c = 0; c < nc; c++) o[c * os] = hsum_ps(_mm256_add_ps(acc0[c], acc1[c])) + accm[c]; \
    }                                                                                                 \
    KC_SPECIALIZE_NC(dot_##name, body_##name)

BODY32(q4_0, 18, 1)
BODY32(q4_1, 20, 1)
BODY32(q5_0, 22, 1)
BODY32(q5_1, 24, 1)
BODY32(q8_0, 34, 0)
BODY32(iq4_nl, 18, 0)
BODY32(mxfp4, 17, 0)

/* ---- K-quants: 256-element super-blocks --------------------------------------
 * Per 16-element group g: w = q * scale_g as i16, isum[c] += vpmaddwd(w, a_c)
 * in 8 i32 lanes; acc[c] += f32(isum[c]) * d * d_a, flushed where the i32
 * bound requires (|a| <= 32767; per lane 2 products per group):
 *   Q4_K 32 x 945, Q5_K 32 x 1953, Q2_K 32 x 45, Q3_K 32 x 128, Q8_K 32 x 128
 *     per super-block; Q6_K 16 x 4096 and IQ4_XS 16 x 4064 per half (128).
 * Mins come from the activation group sums (ssum): accm[c] += min_g * ssum_g
 * in f32 lanes. */

#define ACT256(c, i) ((const act_q16_256 *)((const char *)act + (c) * as) + (i))

/* isum[c] += w . (16 activations of group g) for every column. */
#define GROUP(w, g)                                                                                   \
    for (int c = 0; c < nc; c++)                                                                      \
        isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16((w), load_q(ACT256(c, i)->q + 16 * (g))))

/* acc[c] += f32(isum[c]) * scale * d_a; isum[c] = 0. */
#define FLUSH(scale)                                                                                  \
    for (int c = 0; c < nc; c++) {                                                                    \
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps((scale) * ACT256(c, i)->d), acc[c]); \
        isum[c] = _mm256_setzero_si256();                                                             \
    }

#define K_PROLOGUE                                                                                    \
    __m256 acc[4], accm[4];                                                                           \
    __m256i isum[4];                                                                                  \
    for (int c = 0; c < nc; c++) {                                                                    \
        acc[c] = accm[c] = _mm256_setzero_ps();                                                       \
        isum[c] = _mm256_setzero_si256();                                                             \
    }                                                                                                 \
    const uint8_t *b = w

#define K_EPILOGUE for (int c = 0; c < nc; c++) o[c * os] = hsum_ps(_mm256_sub_ps(acc[c], accm[c]))

/* accm[c] += mins (16 f32, per 16-element group) . ssum of every column. */
#define MINS(lo, hi)                                                                                  \
    for (int c = 0; c < nc; c++) {                                                                    \
        const act_q16_256 *ab = ACT256(c, i);                                                         \
        accm[c] = _mm256_fmadd_ps((lo), _mm256_loadu_ps(ab->ssum), accm[c]);                          \
        accm[c] = _mm256_fmadd_ps((hi), _mm256_loadu_ps(ab->ssum + 8), accm[c]);                      \
    }

/* The low 8 bytes of v -> 8 f32 times s. */
INLINE __m256 bytes8_ps(__m128i v, float s) {
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)), _mm256_set1_ps(s));
}

INLINE __m256i mul_scale(__m256i q, int s) { return _mm256_mullo_epi16(q, _mm256_set1_epi16((short)s)); }

/* Q4_K (hb = 0) and Q5_K (hb = 1): 32 bytes of qs per 64 elements, low
 * nibbles = sub-block 2k (groups 4k, 4k+1), high = 2k+1 (groups 4k+2, 4k+3);
 * Q5_K's fifth bit of element 32j + l is bit j of qh[l].
 * value = d * sc[j] * q - dmin * m[j]. */
INLINE void body_q45_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc,
                       const int hb) {
    K_PROLOGUE;
    const __m256i m4 = _mm256_set1_epi16(0x0F), one = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / 256; i++, b += hb ? 176 : 144) {
        const float d = f16(b), dmin = f16(b + 2);
        const __m128i scale_min = x86_scale_min_k4(b + 4);
        int16_t sc[8]; /* one 16-byte store; the scalar reads below forward from it */
        _mm_storeu_si128((__m128i *)sc, _mm_cvtepu8_epi16(scale_min));
        const uint8_t *qs = b + (hb ? 48 : 16);
        for (int p = 0; p < 2; p++) {
            const __m256i qh = hb ? u8x16(b + 16 + 16 * p) : _mm256_setzero_si256();
            for (int k = 0; k < 4; k++) {
                const __m256i v = u8x16(qs + 32 * k + 16 * p);
                __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_srli_epi16(v, 4);
                if (hb) {
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), one), 4));
                    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k + 1), one), 4));
                }
                GROUP(mul_scale(lo, sc[2 * k]), 4 * k + p);
                GROUP(mul_scale(hi, sc[2 * k + 1]), 4 * k + 2 + p);
            }
        }
        FLUSH(d);
        const __m128i mn16 = x86_mins_per_group(scale_min);
        MINS(bytes8_ps(mn16, dmin), bytes8_ps(_mm_unpackhi_epi64(mn16, mn16), dmin));
    }
    K_EPILOGUE;
}
INLINE void body_q4_k(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) {
    body_q45_k(n, w, a, as, o, os, nc, 0);
}
INLINE void body_q5_k(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) {
    body_q45_k(n, w, a, as, o, os, nc, 1);
}
KC_SPECIALIZE_NC(dot_q4_k, body_q4_k)
KC_SPECIALIZE_NC(dot_q5_k, body_q5_k)

/* Q6_K: q = (ql nibble | qh 2 bits << 4) - 32, value = d * sc[g] * q.
 * Half h (128 elements), part p (16 lanes), A = ql[64h + 16p..], B =
 * ql[64h + 32 + 16p..], H = qh[32h + 16p..]: A low | H bits 0-1 is group
 * 8h + p, B low | bits 2-3 group 8h + 2 + p, A high | bits 4-5 group 8h + 4 + p,
 * B high | bits 6-7 group 8h + 6 + p. */
INLINE void body_q6_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) {
    K_PROLOGUE;
    const __m256i m4 = _mm256_set1_epi16(0x0F), m2 = _mm256_set1_epi16(0x03), off = _mm256_set1_epi16(32);
    for (int64_t i = 0; i < n / 256; i++, b += 210) {
        const int8_t *sc = (const int8_t *)(b + 192);
        const float d = f16(b + 208);
        for (int h = 0; h < 2; h++) {
            for (int p = 0; p < 2; p++) {
                const __m256i A = u8x16(b + 64 * h + 16 * p), B = u8x16(b + 64 * h + 32 + 16 * p);
                const __m256i H = u8x16(b + 128 + 32 * h + 16 * p);
                const __m256i q0 = _mm256_or_si256(_mm256_and_si256(A, m4), _mm256_slli_epi16(_mm256_and_si256(H, m2), 4));
                const __m256i q1 = _mm256_or_si256(_mm256_and_si256(B, m4),
                                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 2), m2), 4));
                const __m256i q2 = _mm256_or_si256(_mm256_srli_epi16(A, 4),
                                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 4), m2), 4));
                const __m256i q3 = _mm256_or_si256(_mm256_srli_epi16(B, 4), _mm256_slli_epi16(_mm256_srli_epi16(H, 6), 4));
                const int g = 8 * h + p;
                GROUP(mul_scale(_mm256_sub_epi16(q0, off), sc[g]), g);
                GROUP(mul_scale(_mm256_sub_epi16(q1, off), sc[g + 2]), g + 2);
                GROUP(mul_scale(_mm256_sub_epi16(q2, off), sc[g + 4]), g + 4);
                GROUP(mul_scale(_mm256_sub_epi16(q3, off), sc[g + 6]), g + 6);
            }
            FLUSH(d);
        }
    }
    K_EPILOGUE;
}
KC_SPECIALIZE_NC(dot_q6_k, body_q6_k)

/* Q2_K (q3 = 0): 2-bit q in 0..3, value = d * sc[g] * q - dmin * m[g];
 * Q3_K (q3 = 1): q = low2 + 4 * hbit - 4, value = d * sc[g] * q.
 * Elements 32j + 16p + l: low bits 2(j%4) of qs[32(j/4) + 16p + l], high
 * bit j of hmask[16p + l]; group 2j + p. */
INLINE void body_q23_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc,
                       const int q3) {
    K_PROLOGUE;
    const __m256i m2 = _mm256_set1_epi16(3), one = _mm256_set1_epi16(1), four = _mm256_set1_epi16(4);
    for (int64_t i = 0; i < n / 256; i++, b += q3 ? 110 : 84) {
        int8_t sc[16];
        float d, dmin = 0.0f;
        if (q3) {
            kc_scales_q3_k(b + 96, sc);
            d = f16(b + 108);
        } else {
            for (int g = 0; g < 16; g++) sc[g] = (int8_t)(b[g] & 15);
            d = f16(b + 80);
            dmin = f16(b + 82);
        }
        const uint8_t *qs = b + (q3 ? 32 : 16);
        for (int p = 0; p < 2; p++) {
            const __m256i hm = q3 ? u8x16(b + 16 * p) : _mm256_setzero_si256();
            for (int h = 0; h < 2; h++) {
                const __m256i v = u8x16(qs + 32 * h + 16 * p);
                for (int s = 0; s < 4; s++) {
                    const int j = 4 * h + s;
                    __m256i u = _mm256_and_si256(_mm256_srli_epi16(v, 2 * s), m2);
                    if (q3) u = _mm256_sub_epi16(_mm256_or_si256(u, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, j), one), 2)), four);
                    GROUP(mul_scale(u, sc[2 * j + p]), 2 * j + p);
                }
            }
        }
        FLUSH(d);
        if (!q3) {
            const __m128i m = _mm_srli_epi16(_mm_loadu_si128((const __m128i *)b), 4); /* mins: high nibbles */
            const __m128i mn16 = _mm_and_si128(m, _mm_set1_epi8(0x0F));
            MINS(bytes8_ps(mn16, dmin), bytes8_ps(_mm_unpackhi_epi64(mn16, mn16), dmin));
        }
    }
    K_EPILOGUE;
}
INLINE void body_q2_k(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) {
    body_q23_k(n, w, a, as, o, os, nc, 0);
}
INLINE void body_q3_k(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) {
    body_q23_k(n, w, a, as, o, os, nc, 1);
}
KC_SPECIALIZE_NC(dot_q2_k, body_q2_k)
KC_SPECIALIZE_NC(dot_q3_k, body_q3_k)

/* Q8_K weights: f32 d, i8 qs[256] (bsums unused). */
INLINE void body_q8_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) {
    K_PROLOGUE;
    for (int64_t i = 0; i < n / 256; i++, b += 292) {
        float d;
        memcpy(&d, b, 4);
        for (int g = 0; g < 16; g++) GROUP(s8x16(b + 4 + 16 * g), g);
        FLUSH(d);
    }
    K_EPILOGUE;
}
KC_SPECIALIZE_NC(dot_q8_k, body_q8_k)

/* IQ4_XS: sub-block s (32 elements, groups 2s and 2s+1) = table levels of the
 * nibbles at qs + 16 s, scale ls[s] (-32..31). */
INLINE void body_iq4_xs(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) {
    K_PROLOGUE;
    for (int64_t i = 0; i < n / 256; i++, b += 136) {
        const float d = f16(b);
        int8_t ls[8];
        kc_scales_iq4_xs(b, ls);
        for (int s = 0; s < 8; s++) {
            __m256i lo, hi;
            table_nibbles(b + 8 + 16 * s, qb_kvalues_iq4nl, &lo, &hi);
            GROUP(mul_scale(lo, ls[s]), 2 * s);
            GROUP(mul_scale(hi, ls[s]), 2 * s + 1);
            if (s == 3 || s == 7) { FLUSH(d); }
        }
    }
    K_EPILOGUE;
}
KC_SPECIALIZE_NC(dot_iq4_xs, body_iq4_xs)

/* ---- panels (panels.c): 16 rows at once ------------------------------------
 * A 32-byte chunk holds one element pair of each of the 16 rows: widened to
 * i16 as two registers (rows 0..7, rows 8..15), vpmaddwd with the broadcast
 * activation pair gives i32 lane r = row r (+ 8). Sub-block scales are
 * per-row vectors applied once per sub-block. With 16 registers, a body
 * handles one or two columns (KC_SPECIALIZE_PAIRS runs it per pair). */

INLINE __m256i pair(const int16_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm256_set1_epi32(v);
}
INLINE __m256 f16x8(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
INLINE __m256 u8x8_ps(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
INLINE __m256 s8x8_ps(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
INLINE __m256i madd_add(__m256i acc, __m256i a, __m256i b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }

/* K-quant panels: a 64-byte vector holds 4 elements of each row as bytes,
 * 32 bytes per half (rows 8h..8h+7); the activation quads of the lo and hi
 * planes (q = 256 hi + lo) are broadcast. vpmaddubsw's pair sums stay under
 * 2^15 (lo: 2 x 255 x 63, hi: 2 x 63 x 128). */

/* The 4 bytes at p in every i32 lane. */
INLINE __m256i quad(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}
/* w . a over 4 elements per lane: lo(a) . w + 256 (w . hi(a)) in i32. */
INLINE __m256i dot4(__m256i acc, __m256i w, const act_q16_256 *ab, int e) {
    const __m256i lo = _mm256_maddubs_epi16(quad(ab->lo + e), w), hi = _mm256_maddubs_epi16(w, quad(ab->hi + e));
    return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_set1_epi16(1)),
                                                  _mm256_madd_epi16(hi, _mm256_set1_epi16(256))));
}
INLINE __m256i load32(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Q4_K panel (layout in panels.c): vector m's low nibbles are sub-block
 * m / 8, its high nibbles sub-block 4 + m / 8; acc halves h = rows 8h..8h+7. */
INLINE void panel_body_q4_k(int64_t n, const void *panel, const void *act, size_t as, float *o, size_t os, const int nc) {
    __m256 acc[2][2];
    for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
    const uint8_t *p = panel;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / 256; i++, p += CPU_PANEL_Q4_K_BYTES) {
        for (int h = 0; h < 2; h++) {
            __m256 blk[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, mins[2] = {blk[0], blk[0]};
            for (int j = 0; j < 4; j++) {
                /* i32 sums of sub-blocks j (L) and 4 + j (H), from i16 partial
                 * sums of the lo plane over 4 vectors (4 x 2 x 255 x 15 < 2^15)
                 * and of the hi plane over all 8 (8 x 2 x 15 x 128 < 2^15) */
                __m256i L[2], H[2], Lhi[2], Hhi[2];
                for (int c = 0; c < nc; c++) L[c] = H[c] = Lhi[c] = Hhi[c] = _mm256_setzero_si256();
                for (int m4s = 8 * j; m4s < 8 * j + 8; m4s += 4) {
                    __m256i Llo[2], Hlo[2];
                    for (int c = 0; c < nc; c++) Llo[c] = Hlo[c] = _mm256_setzero_si256();
                    for (int m = m4s; m < m4s + 4; m++) {
                        const __m256i v = load32(p + CPU_PANEL_Q4_K_VEC(m) + 32 * h);
                        const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                        for (int c = 0; c < nc; c++) {
                            const act_q16_256 *ab = ACT256(c, i);
                            Llo[c] = _mm256_add_epi16(Llo[c], _mm256_maddubs_epi16(quad(ab->lo + 4 * m), lo));
                            Lhi[c] = _mm256_add_epi16(Lhi[c], _mm256_maddubs_epi16(lo, quad(ab->hi + 4 * m)));
                            Hlo[c] = _mm256_add_epi16(Hlo[c], _mm256_maddubs_epi16(quad(ab->lo + 128 + 4 * m), hi));
                            Hhi[c] = _mm256_add_epi16(Hhi[c], _mm256_maddubs_epi16(hi, quad(ab->hi + 128 + 4 * m)));
                        }
                    }
                    for (int c = 0; c < nc; c++) {
                        L[c] = madd_add(L[c], Llo[c], _mm256_set1_epi16(1));
                        H[c] = madd_add(H[c], Hlo[c], _mm256_set1_epi16(1));
                    }
                }
                for (int c = 0; c < nc; c++) {
                    L[c] = madd_add(L[c], Lhi[c], _mm256_set1_epi16(256));
                    H[c] = madd_add(H[c], Hhi[c], _mm256_set1_epi16(256));
                }
                const uint8_t *scales = p + CPU_PANEL_Q4_K_PAIR(j) + 8 * h;
                const __m256 sl = u8x8_ps(scales), sh = u8x8_ps(scales + 16);
                const __m256 ml = u8x8_ps(scales + 32), mh = u8x8_ps(scales + 48);
                for (int c = 0; c < nc; c++) {
                    const act_q16_256 *ab = ACT256(c, i);
                    blk[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(L[c]), sl, blk[c]);
                    blk[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(H[c]), sh, blk[c]);
                    mins[c] = _mm256_fmadd_ps(ml, _mm256_set1_ps(ab->ssum[2 * j] + ab->ssum[2 * j + 1]), mins[c]);
                    mins[c] = _mm256_fmadd_ps(mh, _mm256_set1_ps(ab->ssum[8 + 2 * j] + ab->ssum[9 + 2 * j]), mins[c]);
                }
            }
            const __m256 d = f16x8(p + 16 * h), dmin = f16x8(p + 32 + 16 * h);
            for (int c = 0; c < nc; c++) {
                const __m256 dd = _mm256_mul_ps(d, _mm256_set1_ps(ACT256(c, i)->d));
                acc[c][h] = _mm256_fnmadd_ps(mins[c], dmin, _mm256_fmadd_ps(blk[c], dd, acc[c][h]));
            }
        }
    }
    for (int c = 0; c < nc; c++) {
        _mm256_storeu_ps(o + c * os, acc[c][0]);
        _mm256_storeu_ps(o + c * os + 8, acc[c][1]);
    }
}

/* Q6_K panel: as the AVX-512 kernel, per half of the rows. */
INLINE void panel_body_q6_k(int64_t n, const void *panel, const void *act, size_t as, float *o, size_t os, const int nc) {
    __m256 acc[2][2];
    for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
    const uint8_t *p = panel;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    for (int64_t i = 0; i < n / 256; i++, p += CPU_PANEL_Q6_K_BYTES) {
        for (int h = 0; h < 2; h++) {
            __m256 blk[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int g = 0; g < 8; g++) {
                __m256i G[2], K[2]; /* groups g, 8 + g */
                for (int c = 0; c < nc; c++) G[c] = K[c] = _mm256_setzero_si256();
                for (int m = 4 * g; m < 4 * g + 4; m += 2) {
                    const __m256i hb = load32(p + CPU_PANEL_Q6_K_HIGH(m) + 32 * h);
                    const __m256i v0 = load32(p + CPU_PANEL_Q6_K_VEC(m) + 32 * h);
                    const __m256i v1 = load32(p + CPU_PANEL_Q6_K_VEC(m + 1) + 32 * h);
                    const __m256i wa = _mm256_or_si256(_mm256_and_si256(v0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
                    const __m256i wb = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v0, 4), m4),
                                                       _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
                    const __m256i wc = _mm256_or_si256(_mm256_and_si256(v1, m4), _mm256_and_si256(hb, m30));
                    const __m256i wd = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v1, 4), m4),
                                                       _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
                    for (int c = 0; c < nc; c++) {
                        const act_q16_256 *ab = ACT256(c, i);
                        G[c] = dot4(G[c], wa, ab, 4 * m);
                        K[c] = dot4(K[c], wb, ab, 128 + 4 * m);
                        G[c] = dot4(G[c], wc, ab, 4 * m + 4);
                        K[c] = dot4(K[c], wd, ab, 132 + 4 * m);
                    }
                }
                const __m256 sl = s8x8_ps(p + CPU_PANEL_Q6_K_PAIR(g) + 8 * h);
                const __m256 sh = s8x8_ps(p + CPU_PANEL_Q6_K_PAIR(g) + 16 + 8 * h);
                for (int c = 0; c < nc; c++) {
                    const act_q16_256 *ab = ACT256(c, i);
                    const __m256 da = _mm256_set1_ps(ab->d);
                    const __m256 tl = _mm256_fmsub_ps(_mm256_cvtepi32_ps(G[c]), da, _mm256_set1_ps(32.0f * ab->ssum[g]));
                    const __m256 th = _mm256_fmsub_ps(_mm256_cvtepi32_ps(K[c]), da, _mm256_set1_ps(32.0f * ab->ssum[8 + g]));
                    blk[c] = _mm256_fmadd_ps(th, sh, _mm256_fmadd_ps(tl, sl, blk[c]));
                }
            }
            const __m256 d = f16x8(p + 16 * h);
            for (int c = 0; c < nc; c++) acc[c][h] = _mm256_fmadd_ps(blk[c], d, acc[c][h]);
        }
    }
    for (int c = 0; c < nc; c++) {
        _mm256_storeu_ps(o + c * os, acc[c][0]);
        _mm256_storeu_ps(o + c * os + 8, acc[c][1]);
    }
}

/* Q8_0 panel: 16 chunks per block, both row halves at once. */
INLINE void panel_body_q8_0(int64_t n, const void *panel, const void *act, size_t as, float *o, size_t os, const int nc) {
    __m256 acc[2][2];
    for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
    const uint8_t *p = panel;
    for (int64_t i = 0; i < n / 32; i++, p += CPU_PANEL_Q8_0_BYTES) {
        __m256i S[2][2];
        for (int c = 0; c < nc; c++) S[c][0] = S[c][1] = _mm256_setzero_si256();
        for (int ch = 0; ch < 16; ch++) {
            const __m256i w0 = s8x16(p + CPU_PANEL_Q8_0_CHUNK(ch)), w1 = s8x16(p + CPU_PANEL_Q8_0_CHUNK(ch) + 16);
            for (int c = 0; c < nc; c++) {
                const __m256i a = pair(ACT32(c, i)->q + 2 * ch);
                S[c][0] = madd_add(S[c][0], w0, a);
                S[c][1] = madd_add(S[c][1], w1, a);
            }
        }
        const __m256 d0 = f16x8(p), d1 = f16x8(p + 16);
        for (int c = 0; c < nc; c++) {
            const __m256 da = _mm256_set1_ps(ACT32(c, i)->d);
            acc[c][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S[c][0]), _mm256_mul_ps(d0, da), acc[c][0]);
            acc[c][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S[c][1]), _mm256_mul_ps(d1, da), acc[c][1]);
        }
    }
    for (int c = 0; c < nc; c++) {
        _mm256_storeu_ps(o + c * os, acc[c][0]);
        _mm256_storeu_ps(o + c * os + 8, acc[c][1]);
    }
}

/* Q4_0, Q4_1, Q5_0, Q5_1 panels (see kernels_avx512.c): value = d * q + m. */
INLINE void panel_body_legacy(int64_t n, const void *panel, const void *act, size_t as, float *o, size_t os,
                              const int nc, const int q5, const int has_min) {
    __m256 acc[2][2];
    for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
    const uint8_t *p = panel;
    const __m256i m4 = _mm256_set1_epi16(0x0F), one = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / 32; i++, p += CPU_PANEL_LEGACY_BYTES(q5, has_min)) {
        const uint8_t *hi = p + 32 + 32 * has_min, *chunks = hi + 64 * q5;
        for (int h = 0; h < 2; h++) {
            const __m256 d = f16x8(p + 16 * h);
            const __m256 m = has_min ? f16x8(p + 32 + 16 * h) : _mm256_mul_ps(d, _mm256_set1_ps(q5 ? -16.0f : -8.0f));
            __m256i S[2];
            for (int c = 0; c < nc; c++) S[c] = _mm256_setzero_si256();
            for (int ch = 0; ch < 8; ch++) {
                const __m256i v = u8x16(chunks + 32 * ch + 16 * h);
                __m256i lo = _mm256_and_si256(v, m4), up = _mm256_srli_epi16(v, 4);
                if (q5) {
                    const __m256i hb = _mm256_srli_epi16(u8x16(hi + 32 * (ch / 4) + 16 * h), 2 * (ch % 4));
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
                    up = _mm256_or_si256(up, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
                }
                for (int c = 0; c < nc; c++) {
                    const int16_t *q = ACT32(c, i)->q;
                    S[c] = madd_add(madd_add(S[c], lo, pair(q + 2 * ch)), up, pair(q + 16 + 2 * ch));
                }
            }
            for (int c = 0; c < nc; c++) {
                const act_q16_32 *ab = ACT32(c, i);
                acc[c][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S[c]), _mm256_mul_ps(d, _mm256_set1_ps(ab->d)), acc[c][h]);
                acc[c][h] = _mm256_fmadd_ps(m, _mm256_set1_ps(ab->s), acc[c][h]);
            }
        }
    }
    for (int c = 0; c < nc; c++) {
        _mm256_storeu_ps(o + c * os, acc[c][0]);
        _mm256_storeu_ps(o + c * os + 8, acc[c][1]);
    }
}
#define LEGACY_PANEL(name, q5, has_min)                                                               \
    INLINE void panel_body_##name(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) { \
        panel_body_legacy(n, w, a, as, o, os, nc, q5, has_min);                                       \
    }
LEGACY_PANEL(q4_0, 0, 0)
LEGACY_PANEL(q4_1, 0, 1)
LEGACY_PANEL(q5_0, 1, 0)
LEGACY_PANEL(q5_1, 1, 1)

KC_SPECIALIZE_PAIRS(panel_q4_k, panel_body_q4_k)
KC_SPECIALIZE_PAIRS(panel_q6_k, panel_body_q6_k)
KC_SPECIALIZE_PAIRS(panel_q8_0_narrow, panel_body_q8_0)
KC_SPECIALIZE_PAIRS(panel_q4_0_narrow, panel_body_q4_0)
KC_SPECIALIZE_PAIRS(panel_q4_1_narrow, panel_body_q4_1)
KC_SPECIALIZE_PAIRS(panel_q5_0_narrow, panel_body_q5_0)
KC_SPECIALIZE_PAIRS(panel_q5_1_narrow, panel_body_q5_1)

/* Many columns (a batch of tokens; see kernels_avx512.c): per 8-row half of a
 * block and group of chunks, the widened weights stay in registers while
 * every column passes by; a column's i32 sums wait in S between the groups.
 * Same integer sums and f32 steps as the narrow kernels (bit-identical). */
static __attribute__((noinline)) void q8_0_block_wide(const uint8_t *p, const void *act, size_t as, int64_t i,
                                                      int nc, __m256 (*acc)[2]) {
    __m256i S[CPU_PANEL_MAX_COLS];
    for (int h = 0; h < 2; h++) {
        for (int g = 0; g < 2; g++) {
            __m256i W[8];
            for (int k = 0; k < 8; k++) W[k] = s8x16(p + CPU_PANEL_Q8_0_CHUNK(8 * g + k) + 16 * h);
            for (int c = 0; c < nc; c++) {
                const int16_t *q = ACT32(c, i)->q + 16 * g;
                __m256i t = g ? S[c] : _mm256_setzero_si256();
                for (int k = 0; k < 8; k++) t = madd_add(t, W[k], pair(q + 2 * k));
                S[c] = t;
            }
        }
        const __m256 d = f16x8(p + 16 * h);
        for (int c = 0; c < nc; c++)
            acc[c][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S[c]), _mm256_mul_ps(d, _mm256_set1_ps(ACT32(c, i)->d)), acc[c][h]);
    }
}

INLINE void legacy_block_wide(const uint8_t *p, const void *act, size_t as, int64_t i, int nc, __m256 (*acc)[2],
                              const int q5, const int has_min) {
    const __m256i m4 = _mm256_set1_epi16(0x0F), one = _mm256_set1_epi16(1);
    const uint8_t *hi = p + 32 + 32 * has_min, *chunks = hi + 64 * q5;
    __m256i S[CPU_PANEL_MAX_COLS];
    for (int h = 0; h < 2; h++) {
        for (int g = 0; g < 2; g++) {
            __m256i lo[4], up[4];
            for (int k = 0; k < 4; k++) {
                const int ch = 4 * g + k;
                const __m256i v = u8x16(chunks + 32 * ch + 16 * h);
                lo[k] = _mm256_and_si256(v, m4);
                up[k] = _mm256_srli_epi16(v, 4);
                if (q5) {
                    const __m256i hb = _mm256_srli_epi16(u8x16(hi + 32 * g + 16 * h), 2 * k);
                    lo[k] = _mm256_or_si256(lo[k], _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
                    up[k] = _mm256_or_si256(up[k], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
                }
            }
            for (int c = 0; c < nc; c++) {
                const int16_t *q = ACT32(c, i)->q + 8 * g;
                __m256i t = g ? S[c] : _mm256_setzero_si256();
                for (int k = 0; k < 4; k++) t = madd_add(madd_add(t, lo[k], pair(q + 2 * k)), up[k], pair(q + 16 + 2 * k));
                S[c] = t;
            }
        }
        const __m256 d = f16x8(p + 16 * h);
        const __m256 m = has_min ? f16x8(p + 32 + 16 * h) : _mm256_mul_ps(d, _mm256_set1_ps(q5 ? -16.0f : -8.0f));
        for (int c = 0; c < nc; c++) {
            const act_q16_32 *ab = ACT32(c, i);
            acc[c][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S[c]), _mm256_mul_ps(d, _mm256_set1_ps(ab->d)), acc[c][h]);
            acc[c][h] = _mm256_fmadd_ps(m, _mm256_set1_ps(ab->s), acc[c][h]);
        }
    }
}

/* nc < 4: the narrow kernel; else blocks through block_wide into acc. */
#define PANEL_WIDE(name, block_bytes, block_wide)                                                     \
    static void panel_##name(int64_t n, const void *w, const void *a, size_t as, int nc, float *o, size_t os) { \
        if (nc < 4) { panel_##name##_narrow(n, w, a, as, nc, o, os); return; }                        \
        __m256 acc[CPU_PANEL_MAX_COLS][2];                                                            \
        for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();                    \
        for (int64_t i = 0; i < n / 32; i++) block_wide((const uint8_t *)w + i * (block_bytes), a, as, i, nc, acc); \
        for (int c = 0; c < nc; c++) {                                                                \
            _mm256_storeu_ps(o + c * os, acc[c][0]);                                                  \
            _mm256_storeu_ps(o + c * os + 8, acc[c][1]);                                              \
        }                                                                                             \
    }
#define LEGACY_WIDE(name, q5, has_min)                                                                \
    static __attribute__((noinline)) void block_wide_##name(const uint8_t *p, const void *a, size_t as, int64_t i, \
                                                            int nc, __m256 (*acc)[2]) {              \
        legacy_block_wide(p, a, as, i, nc, acc, q5, has_min);                                         \
    }                                                                                                 \
    PANEL_WIDE(name, CPU_PANEL_LEGACY_BYTES(q5, has_min), block_wide_##name)
PANEL_WIDE(q8_0, CPU_PANEL_Q8_0_BYTES, q8_0_block_wide)
LEGACY_WIDE(q4_0, 0, 0)
LEGACY_WIDE(q4_1, 0, 1)
LEGACY_WIDE(q5_0, 1, 0)
LEGACY_WIDE(q5_1, 1, 1)

/* ---- attention over F16 cache rows (kernels.h) ------------------------------
 * 8 elements per vector, the row's tail (length not a multiple of 8) in
 * scalar code. Scores: up to 4 heads per pass, one accumulator each, reduced
 * per row. Values: 16 output elements of up to 4 heads in registers over all
 * rows. */
INLINE __m256 f16x8_ps(const uint16_t *h) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)); }

INLINE void attn_scores_body(const uint16_t *k, size_t stride, int n, const float *q, int hd, float *s, size_t ss,
                             const int m) {
    const int hd8 = hd & ~7;
    for (int j = 0; j < n; j++) {
        const uint16_t *kr = k + j * stride;
        __m256 acc[4];
        for (int c = 0; c < m; c++) acc[c] = _mm256_setzero_ps();
        for (int i = 0; i < hd8; i += 8) {
            const __m256 kv = f16x8_ps(kr + i);
            for (int c = 0; c < m; c++) acc[c] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)c * hd + i), kv, acc[c]);
        }
        for (int c = 0; c < m; c++) {
            float t = hsum_ps(acc[c]);
            for (int i = hd8; i < hd; i++) t += q[(size_t)c * hd + i] * _cvtsh_ss(kr[i]);
            s[c * ss + j] = t;
        }
    }
}

INLINE void attn_values_body(const uint16_t *v, size_t stride, int n, const float *p, size_t ps, int hdv, float *out,
                             const int m) {
    int i = 0;
    for (; i + 16 <= hdv; i += 16) {
        __m256 acc[4][2];
        for (int c = 0; c < m; c++)
            for (int u = 0; u < 2; u++) acc[c][u] = _mm256_loadu_ps(out + (size_t)c * hdv + i + 8 * u);
        for (int j = 0; j < n; j++) {
            const __m256 x0 = f16x8_ps(v + j * stride + i), x1 = f16x8_ps(v + j * stride + i + 8);
            for (int c = 0; c < m; c++) {
                const __m256 pj = _mm256_broadcast_ss(p + c * ps + j);
                acc[c][0] = _mm256_fmadd_ps(pj, x0, acc[c][0]);
                acc[c][1] = _mm256_fmadd_ps(pj, x1, acc[c][1]);
            }
        }
        for (int c = 0; c < m; c++)
            for (int u = 0; u < 2; u++) _mm256_storeu_ps(out + (size_t)c * hdv + i + 8 * u, acc[c][u]);
    }
    for (; i < hdv; i++) /* the tail */
        for (int j = 0; j < n; j++) {
            const float x = _cvtsh_ss(v[j * stride + i]);
            for (int c = 0; c < m; c++) out[(size_t)c * hdv + i] += p[c * ps + j] * x;
        }
}

KC_ATTN_KERNELS_BY_4_HEADS

static const cpu_kernels avx2 = {
    .name = "avx2",
    .dot = KC_DOT_ALL_TYPES,
    .panel_dot = KC_PANEL_ALL_TYPES,
    .quant_q16_32 = quant_q16_32,
    .quant_q16_256 = quant_q16_256,
    .dot_f32 = dot_f32_exact,
    .attn_scores_f16 = attn_scores_f16,
    .attn_values_f16 = attn_values_f16,
};

const cpu_kernels *cpu_kernels_avx2(void) { return &avx2; }

#else
const cpu_kernels *cpu_kernels_avx2(void) { return NULL; }
#endif
