/* AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c; chosen at run
 * time only when the CPU has all three). Same math as kernels_generic.c:
 * integer dot products of decoded weight blocks with 8-bit activations
 * (vpmaddubsw: unsigned 8-bit x signed 8-bit pairs -> 16-bit, then vpmaddwd
 * -> 32-bit), scaled in f32; float weights in f32 FMAs.
 *
 * Every kernel is written once as an always_inline body over `nc` columns
 * (tokens) and instantiated for nc = 1..4, so the weight block is decoded
 * once per nc tokens and the compiler keeps the nc accumulators in registers. */
#include "backend/cpu/kernels.h"
/* Activation quantization must round x * id before subtracting (bit-identical
 * across ISAs): no implicit FMA contraction in this file. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "backend/cpu/kernels_common.h"

#define INLINE static inline __attribute__((always_inline))

/* Instantiate body(..., NC) for nc = 1..4 as function `name`. */
#define SPECIALIZE_NC(name, body)                                                                    \
    static void name(int64_t n, const void *w, const void *a, size_t as, int nc, float *o, size_t os) { \
        switch (nc) {                                                                                  \
        case 1: body(n, w, a, as, o, os, 1); break;                                                    \
        case 2: body(n, w, a, as, o, os, 2); break;                                                    \
        case 3: body(n, w, a, as, o, os, 3); break;                                                    \
        default: body(n, w, a, as, o, os, 4); break;                                                   \
        }                                                                                              \
    }

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

/* Unsigned weights u (0..63) . two-level activations (qs, qr), per 32:
 * 8 x i32 of CPU_ACT_RES * sum(u qs) + sum(u qr) over pairs of pairs. */
INLINE __m256i dot_u8_act(__m256i u, __m256i qs, __m256i qr) {
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(u, qs), _mm256_set1_epi16(CPU_ACT_RES)),
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u, qr), _mm256_set1_epi16(1)));
}

/* The same for signed weights (-128..127): |w| . sign-transferred activations
 * (activations are -127..127, so vpmaddubsw cannot saturate). */
INLINE __m256i dot_s8_act(__m256i w, __m256i qs, __m256i qr) {
    return dot_u8_act(_mm256_sign_epi8(w, w), _mm256_sign_epi8(qs, w), _mm256_sign_epi8(qr, w));
}

/* 16 packed bytes of nibbles -> 32 bytes: low nibbles (elements 0..15) in the
 * low lane, high nibbles (16..31) in the high lane. */
INLINE __m256i nibbles32(const uint8_t *p) {
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, byte j = 0x10 where bit j is set, else 0. */
INLINE __m256i bits_to_0x10(uint32_t bits) {
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    const __m256i mask = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, mask), mask);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* ---- activation quantization (bit-identical to the reference) ------------ */

/* 8 x i32 -> 8 bytes each, in order: packs interleave 128-bit lanes, the
 * permute puts the 4-byte groups back in element order. */
INLINE __m256i pack_i32x4_to_i8(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v0, v1), _mm256_packs_epi32(v2, v3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* 32 floats -> coarse quants qs and residual quants qr (kernels.h). */
INLINE void quant32(const float *x, float id, int8_t *qs, int8_t *qr) {
    const __m256 vid = _mm256_set1_ps(id), res = _mm256_set1_ps((float)CPU_ACT_RES);
    __m256i q[4], r[4];
    for (int k = 0; k < 4; k++) {
        const __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid);
        const __m256 qf = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q[k] = _mm256_cvtps_epi32(qf);
        r[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(t, qf), res));
    }
    _mm256_storeu_si256((__m256i *)qs, pack_i32x4_to_i8(q[0], q[1], q[2], q[3]));
    _mm256_storeu_si256((__m256i *)qr, pack_i32x4_to_i8(r[0], r[1], r[2], r[3]));
}

/* CPU_ACT_RES * qs + qr summed over pairs of pairs: 8 x i32 (4 elements each). */
INLINE __m256i act_sums4(const int8_t *qs, const int8_t *qr) {
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i a = _mm256_maddubs_epi16(ones8, _mm256_loadu_si256((const __m256i *)qs));
    const __m256i b = _mm256_maddubs_epi16(ones8, _mm256_loadu_si256((const __m256i *)qr));
    return _mm256_add_epi32(_mm256_madd_epi16(a, _mm256_set1_epi16(CPU_ACT_RES)),
                            _mm256_madd_epi16(b, _mm256_set1_epi16(1)));
}

INLINE float absmax(const float *x, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static void quant_q8_32(const float *x, void *dst, int64_t n) {
    act_q8_32 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float d = absmax(x, 32) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = d;
        quant32(x, id, b[i].qs, b[i].qr);
        b[i].s = d * (float)hsum_epi32(act_sums4(b[i].qs, b[i].qr)) / (float)CPU_ACT_RES;
    }
}

static void quant_q8_256(const float *x, void *dst, int64_t n) {
    act_q8_256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        const float d = absmax(x, 256) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = d;
        for (int j = 0; j < 8; j++) {
            quant32(x + 32 * j, id, b[i].qs + 32 * j, b[i].qr + 32 * j);
            /* lanes 0..3 = elements 0..15, lanes 4..7 = 16..31 */
            const __m256i p = act_sums4(b[i].qs + 32 * j, b[i].qr + 32 * j);
            __m128i h = _mm_hadd_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
            h = _mm_hadd_epi32(h, h); /* (0..15, 16..31, ...) */
            b[i].bsum[2 * j] = _mm_cvtsi128_si32(h);
            b[i].bsum[2 * j + 1] = _mm_extract_epi32(h, 1);
        }
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
SPECIALIZE_NC(dot_f32, body_load8_f32)
SPECIALIZE_NC(dot_f16, body_load8_f16)
SPECIALIZE_NC(dot_bf16, body_load8_bf16)

/* ---- 32-element blocks ------------------------------------------------------ */

/* A decoded weight block: 32 quants q, value = d * q + m. `uns`: q is
 * unsigned (0..31, vpmaddubsw directly); else signed (sign trick). */
typedef struct blk32 {
    __m256i q;
    float d, m;
} blk32;

INLINE blk32 dec_q4_0(const uint8_t *b) { return (blk32){nibbles32(b + 2), f16(b), -8.0f * f16(b)}; }
INLINE blk32 dec_q4_1(const uint8_t *b) { return (blk32){nibbles32(b + 4), f16(b), f16(b + 2)}; }
INLINE blk32 dec_q5_0(const uint8_t *b) {
    __m256i q = _mm256_or_si256(nibbles32(b + 6), bits_to_0x10(kc_u32(b + 2)));
    return (blk32){q, f16(b), -16.0f * f16(b)};
}
INLINE blk32 dec_q5_1(const uint8_t *b) {
    __m256i q = _mm256_or_si256(nibbles32(b + 8), bits_to_0x10(kc_u32(b + 4)));
    return (blk32){q, f16(b), f16(b + 2)};
}
INLINE blk32 dec_q8_0(const uint8_t *b) {
    return (blk32){_mm256_loadu_si256((const __m256i *)(b + 2)), f16(b), 0.0f};
}
INLINE blk32 dec_iq4_nl(const uint8_t *b) {
    const __m256i lut = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kc_kvalues_iq4nl));
    return (blk32){_mm256_shuffle_epi8(lut, nibbles32(b + 2)), f16(b), 0.0f};
}
INLINE blk32 dec_mxfp4(const uint8_t *b) {
    const __m256i lut = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kc_kvalues_mxfp4));
    return (blk32){_mm256_shuffle_epi8(lut, nibbles32(b + 1)), kc_e8m0_half(b[0]), 0.0f};
}

#define RES_INV (1.0f / (float)CPU_ACT_RES)

/* One block into acc[c] (and the offset/min term into accm[c]). */
#define STEP32(DEC, UNS, HASMIN, acc, accm, blkp, i)                                                 \
    do {                                                                                              \
        const blk32 wb = DEC(blkp);                                                                   \
        for (int c = 0; c < nc; c++) {                                                                \
            const act_q8_32 *ab = (const act_q8_32 *)((const char *)act + c * as) + (i);              \
            const __m256i qs = _mm256_loadu_si256((const __m256i *)ab->qs);                          \
            const __m256i qr = _mm256_loadu_si256((const __m256i *)ab->qr);                          \
            const __m256i p = UNS ? dot_u8_act(wb.q, qs, qr) : dot_s8_act(wb.q, qs, qr);              \
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(wb.d * ab->d * RES_INV), acc[c]); \
            if (HASMIN) accm[c] += wb.m * ab->s;                                                      \
        }                                                                                             \
    } while (0)

/* Blocks in pairs with two accumulator sets, to hide the FMA latency. */
#define BODY32(name, DEC, BYTES, UNS, HASMIN)                                                         \
    INLINE void body_##name(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) { \
        __m256 acc0[4], acc1[4];                                                                      \
        float accm[4] = {0, 0, 0, 0};                                                                 \
        for (int c = 0; c < nc; c++) acc0[c] = acc1[c] = _mm256_setzero_ps();                         \
        const uint8_t *b = w;                                                                         \
        const int64_t nb = n / 32;                                                                    \
        int64_t i = 0;                                                                                \
        for (; i + 2 <= nb; i += 2) {                                                                 \
            STEP32(DEC, UNS, HASMIN, acc0, accm, b + i * BYTES, i);                                   \
            STEP32(DEC, UNS, HASMIN, acc1, accm, b + (i + 1) * BYTES, i + 1);                         \
        }                                                                                             \
        if (i < nb) STEP32(DEC, UNS, HASMIN, acc0, accm, b + i * BYTES, i);                           \
        for (int c = 0; c < nc; c++) o[c * os] = hsum_ps(_mm256_add_ps(acc0[c], acc1[c])) + accm[c]; \
    }                                                                                                 \
    SPECIALIZE_NC(dot_##name, body_##name)

BODY32(q4_0, dec_q4_0, 18, 1, 1)
BODY32(q4_1, dec_q4_1, 20, 1, 1)
BODY32(q5_0, dec_q5_0, 22, 1, 1)
BODY32(q5_1, dec_q5_1, 24, 1, 1)
BODY32(q8_0, dec_q8_0, 34, 0, 0)
BODY32(iq4_nl, dec_iq4_nl, 18, 0, 0)
BODY32(mxfp4, dec_mxfp4, 17, 0, 0)

/* ---- K-quants: 256-element super-blocks --------------------------------------
 * Per 32-element chunk and column: vpmaddwd(vpmaddubsw(q, qs), scale * R) +
 * vpmaddwd(vpmaddubsw(q, qr), scale) (scale per 16-element half, R =
 * CPU_ACT_RES), summed in i32 over the super-block where that cannot
 * overflow (Q4_K, Q5_K: at most 8 x 2 x 7874 x (63 x 254 + 63) < 2^31) and
 * converted to f32 per chunk where it could (Q6_K, signed scales up to 128);
 * min/offset terms from the activation block sums in integers. */

/* q: 32 unsigned quants of chunk k of act block ab; s: i16 scales (lanes 0..7
 * for elements 0..15, 8..15 for 16..31). 8 x i32. */
INLINE __m256i dot_chunk(__m256i q, const act_q8_256 *ab, int k, __m256i s) {
    const __m256i qs = _mm256_loadu_si256((const __m256i *)(ab->qs + 32 * k));
    const __m256i qr = _mm256_loadu_si256((const __m256i *)(ab->qr + 32 * k));
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(q, qs), _mm256_mullo_epi16(s, _mm256_set1_epi16(CPU_ACT_RES))),
                            _mm256_madd_epi16(_mm256_maddubs_epi16(q, qr), s));
}

INLINE const act_q8_256 *act256(const void *act, size_t as, int c, int64_t i) {
    return (const act_q8_256 *)((const char *)act + c * as) + i;
}

/* Scale vector for a 32-element chunk: i16 lanes 0..7 (elements 0..15) get s0, 8..15 get s1. */
INLINE __m256i scales2(int s0, int s1) { return _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0)); }

/* Q4_K (hb = 0) and Q5_K (hb = 1): chunk k (0..3) of qs holds sub-block 2k
 * (low nibbles) and 2k+1 (high); Q5_K's fifth bit of element 32j + l is bit j
 * of qh[l]. value = d * sc[j] * q - dmin * m[j]. */
INLINE void body_q45_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc,
                       const int hb) {
    __m256 acc[4];
    float accm[4] = {0, 0, 0, 0};
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const uint8_t *b = w;
    const size_t bytes = hb ? 176 : 144;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / 256; i++, b += bytes) {
        const float d = f16(b), dmin = f16(b + 2);
        uint8_t sc[8], mn[8];
        kc_scale_min_k4(b + 4, sc, mn);
        const uint8_t *qs = b + (hb ? 48 : 16);
        const __m256i qh = hb ? _mm256_loadu_si256((const __m256i *)(b + 16)) : _mm256_setzero_si256();
        __m256i isum[4];
        for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * k));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (hb) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k + 1), one), 4));
            }
            const __m256i slo = _mm256_set1_epi16(sc[2 * k]), shi = _mm256_set1_epi16(sc[2 * k + 1]);
            for (int c = 0; c < nc; c++) {
                const act_q8_256 *ab = act256(act, as, c, i);
                isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(dot_chunk(lo, ab, 2 * k, slo), dot_chunk(hi, ab, 2 * k + 1, shi)));
            }
        }
        for (int c = 0; c < nc; c++) {
            const act_q8_256 *ab = act256(act, as, c, i);
            int32_t msum = 0;
            for (int j = 0; j < 8; j++) msum += mn[j] * (ab->bsum[2 * j] + ab->bsum[2 * j + 1]);
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * ab->d * RES_INV), acc[c]);
            accm[c] += dmin * ab->d * RES_INV * (float)msum;
        }
    }
    for (int c = 0; c < nc; c++) o[c * os] = hsum_ps(acc[c]) - accm[c];
}
INLINE void body_q4_k(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) {
    body_q45_k(n, w, a, as, o, os, nc, 0);
}
INLINE void body_q5_k(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) {
    body_q45_k(n, w, a, as, o, os, nc, 1);
}
SPECIALIZE_NC(dot_q4_k, body_q4_k)
SPECIALIZE_NC(dot_q5_k, body_q5_k)

/* Q6_K: q = (ql nibble | qh 2 bits << 4) in 0..63, value = d * sc[g] * (q - 32).
 * Half h (128 elements): ql[64h..64h+63] as chunks A (first 32) and B, qh[32h..]:
 *   elements +0..31: A low, qh bits 0-1;  +32..63: B low, bits 2-3;
 *   elements +64..95: A high, bits 4-5;   +96..127: B high, bits 6-7.
 * The -32 offset: subtract 32 * sum_g sc[g] * bsum[g]. */
INLINE void body_q6_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) {
    __m256 acc[4];
    float accm[4] = {0, 0, 0, 0};
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const uint8_t *b = w;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    for (int64_t i = 0; i < n / 256; i++, b += 210) {
        const int8_t *sc = (const int8_t *)(b + 192);
        const float d = f16(b + 208);
        __m256 dd[4];
        for (int c = 0; c < nc; c++) dd[c] = _mm256_set1_ps(d * act256(act, as, c, i)->d * RES_INV);
        for (int h = 0; h < 2; h++) {
            const __m256i qa = _mm256_loadu_si256((const __m256i *)(b + 64 * h));
            const __m256i qb = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(qb, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
            for (int k = 0; k < 4; k++) {
                const int g = 8 * h + 2 * k; /* first 16-group of this chunk */
                const __m256i s = scales2(sc[g], sc[g + 1]);
                for (int c = 0; c < nc; c++) {
                    const __m256i p = dot_chunk(q[k], act256(act, as, c, i), 4 * h + k, s);
                    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), dd[c], acc[c]);
                }
            }
        }
        for (int c = 0; c < nc; c++) {
            const act_q8_256 *ab = act256(act, as, c, i);
            int32_t off = 0;
            for (int g = 0; g < 16; g++) off += sc[g] * ab->bsum[g];
            accm[c] += 32.0f * d * ab->d * RES_INV * (float)off;
        }
    }
    for (int c = 0; c < nc; c++) o[c * os] = hsum_ps(acc[c]) - accm[c];
}
SPECIALIZE_NC(dot_q6_k, body_q6_k)

/* Q2_K (q3 = 0): 2-bit q in 0..3, value = d * sc[g] * q - dmin * m[g];
 * Q3_K (q3 = 1): q = low2 + 4 * hbit - 4 in -4..3, value = d * sc[g] * q,
 * computed as unsigned u = q + 4 (0..7) minus 4 * sum_g sc[g] * bsum[g].
 * Chunk j (elements 32j..32j+31): low bits 2(j%4) of qs[32(j/4) + l], high
 * bit j of hmask[l]. In i32 per super-block: at most 8 x 2 x 2 x 7 x 127 x
 * 32 x 255 < 2^31. */
INLINE void body_q23_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc,
                       const int q3) {
    __m256 acc[4];
    float accm[4] = {0, 0, 0, 0};
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const uint8_t *b = w;
    const __m256i m2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / 256; i++, b += q3 ? 110 : 84) {
        int8_t sc[16];
        uint8_t mn[16];
        float d, dmin = 0.0f;
        if (q3) {
            kc_scales_q3_k(b + 96, sc);
            d = f16(b + 108);
        } else {
            for (int g = 0; g < 16; g++) { sc[g] = (int8_t)(b[g] & 15); mn[g] = b[g] >> 4; }
            d = f16(b + 80);
            dmin = f16(b + 82);
        }
        const uint8_t *qs = b + (q3 ? 32 : 16);
        const __m256i hm = q3 ? _mm256_loadu_si256((const __m256i *)b) : _mm256_setzero_si256();
        __m256i isum[4];
        for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j / 4)));
            __m256i u = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * (j % 4)), m2);
            if (q3) u = _mm256_or_si256(u, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, j), one), 2));
            const __m256i s = scales2(sc[2 * j], sc[2 * j + 1]);
            for (int c = 0; c < nc; c++) isum[c] = _mm256_add_epi32(isum[c], dot_chunk(u, act256(act, as, c, i), j, s));
        }
        for (int c = 0; c < nc; c++) {
            const act_q8_256 *ab = act256(act, as, c, i);
            int32_t t = 0;
            for (int g = 0; g < 16; g++) t += (q3 ? 4 * sc[g] : mn[g]) * ab->bsum[g];
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * ab->d * RES_INV), acc[c]);
            accm[c] += (q3 ? d : dmin) * ab->d * RES_INV * (float)t;
        }
    }
    for (int c = 0; c < nc; c++) o[c * os] = hsum_ps(acc[c]) - accm[c];
}
INLINE void body_q2_k(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) {
    body_q23_k(n, w, a, as, o, os, nc, 0);
}
INLINE void body_q3_k(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) {
    body_q23_k(n, w, a, as, o, os, nc, 1);
}
SPECIALIZE_NC(dot_q2_k, body_q2_k)
SPECIALIZE_NC(dot_q3_k, body_q3_k)

/* Q8_K weights: f32 d, i8 qs[256] (bsums unused). i32 per super-block:
 * 8 x 2 x 2 x 128 x 127 x 255 < 2^31. */
INLINE void body_q8_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) {
    __m256 acc[4];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const uint8_t *b = w;
    for (int64_t i = 0; i < n / 256; i++, b += 292) {
        float d;
        memcpy(&d, b, 4);
        __m256i isum[4];
        for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b + 4 + 32 * j));
            for (int c = 0; c < nc; c++) {
                const act_q8_256 *ab = act256(act, as, c, i);
                isum[c] = _mm256_add_epi32(isum[c], dot_s8_act(q, _mm256_loadu_si256((const __m256i *)(ab->qs + 32 * j)),
                                                               _mm256_loadu_si256((const __m256i *)(ab->qr + 32 * j))));
            }
        }
        for (int c = 0; c < nc; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * act256(act, as, c, i)->d * RES_INV), acc[c]);
    }
    for (int c = 0; c < nc; c++) o[c * os] = hsum_ps(acc[c]);
}
SPECIALIZE_NC(dot_q8_k, body_q8_k)

/* IQ4_XS: sub-block s (32 elements) = table levels of the nibbles at
 * qs + 16 s, scale ls[s] (-32..31); signed weights, so f32 per sub-block. */
INLINE void body_iq4_xs(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) {
    __m256 acc[4];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const uint8_t *b = w;
    const __m256i lut = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kc_kvalues_iq4nl));
    for (int64_t i = 0; i < n / 256; i++, b += 136) {
        const float d = f16(b);
        int8_t ls[8];
        kc_scales_iq4_xs(b, ls);
        __m256 dd[4];
        for (int c = 0; c < nc; c++) dd[c] = _mm256_set1_ps(d * act256(act, as, c, i)->d * RES_INV);
        for (int s8 = 0; s8 < 8; s8++) {
            const __m256i q = _mm256_shuffle_epi8(lut, nibbles32(b + 8 + 16 * s8));
            const __m256i uq = _mm256_sign_epi8(q, q);
            for (int c = 0; c < nc; c++) {
                const act_q8_256 *ab = act256(act, as, c, i);
                const __m256i qs = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(ab->qs + 32 * s8)), q);
                const __m256i qr = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(ab->qr + 32 * s8)), q);
                const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(uq, qs), _mm256_set1_epi16(CPU_ACT_RES)),
                                                   _mm256_madd_epi16(_mm256_maddubs_epi16(uq, qr), _mm256_set1_epi16(1)));
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dd[c], _mm256_set1_ps((float)ls[s8])), acc[c]);
            }
        }
    }
    for (int c = 0; c < nc; c++) o[c * os] = hsum_ps(acc[c]);
}
SPECIALIZE_NC(dot_iq4_xs, body_iq4_xs)

static const cpu_kernels avx2 = {
    .name = "avx2",
    .dot = {
        [BRISK_TYPE_F32] = dot_f32, [BRISK_TYPE_F16] = dot_f16, [BRISK_TYPE_BF16] = dot_bf16,
        [BRISK_TYPE_Q4_0] = dot_q4_0, [BRISK_TYPE_Q4_1] = dot_q4_1, [BRISK_TYPE_Q5_0] = dot_q5_0,
        [BRISK_TYPE_Q5_1] = dot_q5_1, [BRISK_TYPE_Q8_0] = dot_q8_0, [BRISK_TYPE_IQ4_NL] = dot_iq4_nl,
        [BRISK_TYPE_MXFP4] = dot_mxfp4,
        [BRISK_TYPE_Q2_K] = dot_q2_k, [BRISK_TYPE_Q3_K] = dot_q3_k, [BRISK_TYPE_Q4_K] = dot_q4_k,
        [BRISK_TYPE_Q5_K] = dot_q5_k, [BRISK_TYPE_Q6_K] = dot_q6_k, [BRISK_TYPE_Q8_K] = dot_q8_k,
        [BRISK_TYPE_IQ4_XS] = dot_iq4_xs,
    },
    .quant_q8_32 = quant_q8_32,
    .quant_q8_256 = quant_q8_256,
    .dot_f32 = dot_f32_exact,
};

const cpu_kernels *cpu_kernels_avx2(void) { return &avx2; }

#else
const cpu_kernels *cpu_kernels_avx2(void) { return NULL; }
#endif
