/* NEON kernels (aarch64 Advanced SIMD, baseline ARMv8.0: no dot-product
 * extension assumed). Same math as kernels_generic.c. 8-bit products go
 * through vmull_s8 / vmlal_high_s8 (pairs of products fit in i16: at most
 * 2 x 128 x 127) and vpadalq_s16 into i32 lanes.
 *
 * As in kernels_avx2.c, every kernel body is instantiated for nc = 1..4
 * columns (tokens) so a decoded weight block is reused across them. */
#include "backend/cpu/kernels.h"

#if defined(__aarch64__)
/* Activation quantization must round x * id before subtracting: no implicit
 * FMA contraction in this file (explicit vfmaq stays). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <arm_neon.h>

#include "backend/cpu/kernels_common.h"

#define INLINE static inline __attribute__((always_inline))
#define RES_INV (1.0f / (float)CPU_ACT_RES)

#define SPECIALIZE_NC(name, body)                                                                    \
    static void name(int64_t n, const void *w, const void *a, size_t as, int nc, float *o, size_t os) { \
        switch (nc) {                                                                                  \
        case 1: body(n, w, a, as, o, os, 1); break;                                                    \
        case 2: body(n, w, a, as, o, os, 2); break;                                                    \
        case 3: body(n, w, a, as, o, os, 3); break;                                                    \
        default: body(n, w, a, as, o, os, 4); break;                                                   \
        }                                                                                              \
    }

/* acc += sum of 16 products a[i] * b[i], in 4 i32 lanes. */
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    int16x8_t p = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    p = vmlal_high_s8(p, a, b);
    return vpadalq_s16(acc, p);
}

/* 32 weights (lo = elements 0..15, hi = 16..31) . two-level activations at
 * qs/qr: 4 x i32 of CPU_ACT_RES * sum(w qs) + sum(w qr). */
INLINE int32x4_t dot32_act(int8x16_t lo, int8x16_t hi, const int8_t *qs, const int8_t *qr) {
    int32x4_t s = dot16(dot16(vdupq_n_s32(0), lo, vld1q_s8(qs)), hi, vld1q_s8(qs + 16));
    int32x4_t r = dot16(dot16(vdupq_n_s32(0), lo, vld1q_s8(qr)), hi, vld1q_s8(qr + 16));
    return vmlaq_n_s32(r, s, CPU_ACT_RES);
}

/* ---- activation quantization (bit-identical to the reference) ------------ */

INLINE float absmax(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < n; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    return vmaxvq_f32(m);
}

/* 32 floats -> qs, qr (kernels.h). */
INLINE void quant32(const float *x, float id, int8_t *qs, int8_t *qr) {
    int16x8_t q16[4], r16[4];
    for (int k = 0; k < 4; k++) {
        const float32x4_t t0 = vmulq_n_f32(vld1q_f32(x + 8 * k), id);
        const float32x4_t t1 = vmulq_n_f32(vld1q_f32(x + 8 * k + 4), id);
        const float32x4_t q0 = vrndnq_f32(t0), q1 = vrndnq_f32(t1);
        const float32x4_t r0 = vmulq_n_f32(vsubq_f32(t0, q0), (float)CPU_ACT_RES);
        const float32x4_t r1 = vmulq_n_f32(vsubq_f32(t1, q1), (float)CPU_ACT_RES);
        q16[k] = vcombine_s16(vmovn_s32(vcvtq_s32_f32(q0)), vmovn_s32(vcvtq_s32_f32(q1)));
        r16[k] = vcombine_s16(vmovn_s32(vcvtnq_s32_f32(r0)), vmovn_s32(vcvtnq_s32_f32(r1)));
    }
    vst1q_s8(qs, vcombine_s8(vmovn_s16(q16[0]), vmovn_s16(q16[1])));
    vst1q_s8(qs + 16, vcombine_s8(vmovn_s16(q16[2]), vmovn_s16(q16[3])));
    vst1q_s8(qr, vcombine_s8(vmovn_s16(r16[0]), vmovn_s16(r16[1])));
    vst1q_s8(qr + 16, vcombine_s8(vmovn_s16(r16[2]), vmovn_s16(r16[3])));
}

/* CPU_ACT_RES * sum(qs) + sum(qr) over 16 elements. */
INLINE int32_t act_sum16(const int8_t *qs, const int8_t *qr) {
    return CPU_ACT_RES * vaddlvq_s8(vld1q_s8(qs)) + vaddlvq_s8(vld1q_s8(qr));
}

static void quant_q8_32(const float *x, void *dst, int64_t n) {
    act_q8_32 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float d = absmax(x, 32) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = d;
        quant32(x, id, b[i].qs, b[i].qr);
        const int32_t sum = act_sum16(b[i].qs, b[i].qr) + act_sum16(b[i].qs + 16, b[i].qr + 16);
        b[i].s = d * (float)sum / (float)CPU_ACT_RES;
    }
}

static void quant_q8_256(const float *x, void *dst, int64_t n) {
    act_q8_256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        const float d = absmax(x, 256) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = d;
        for (int j = 0; j < 8; j++) quant32(x + 32 * j, id, b[i].qs + 32 * j, b[i].qr + 32 * j);
        for (int g = 0; g < 16; g++) b[i].bsum[g] = act_sum16(b[i].qs + 16 * g, b[i].qr + 16 * g);
    }
}

/* ---- float weights ---------------------------------------------------------- */

static float dot_f32_exact(const float *a, const float *b, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    float acc = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) acc += a[i] * b[i];
    return acc;
}

INLINE float32x4_t load4_f32(const void *w, int64_t i) { return vld1q_f32((const float *)w + i); }
INLINE float32x4_t load4_f16(const void *w, int64_t i) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)w + i)));
}
INLINE float32x4_t load4_bf16(const void *w, int64_t i) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)w + i), 16));
}
INLINE float conv_f32(const void *w, int64_t j) { return ((const float *)w)[j]; }
INLINE float conv_f16(const void *w, int64_t j) { return kc_f16((const uint8_t *)w + 2 * j); }
INLINE float conv_bf16(const void *w, int64_t j) {
    uint16_t h;
    memcpy(&h, (const uint8_t *)w + 2 * j, 2);
    return brisk_bf16_to_f32(h);
}

#define FLOAT_BODY(LOAD, CONV)                                                                        \
    INLINE void body_##LOAD(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) { \
        float32x4_t acc[4][2];                                                                        \
        for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = vdupq_n_f32(0.0f);                       \
        int64_t i = 0;                                                                                \
        for (; i + 8 <= n; i += 8) {                                                                  \
            const float32x4_t w0 = LOAD(w, i), w1 = LOAD(w, i + 4);                                  \
            for (int c = 0; c < nc; c++) {                                                            \
                const float *x = (const float *)((const char *)act + c * as);                         \
                acc[c][0] = vfmaq_f32(acc[c][0], w0, vld1q_f32(x + i));                               \
                acc[c][1] = vfmaq_f32(acc[c][1], w1, vld1q_f32(x + i + 4));                           \
            }                                                                                         \
        }                                                                                             \
        for (int c = 0; c < nc; c++) {                                                                \
            const float *x = (const float *)((const char *)act + c * as);                             \
            float s = vaddvq_f32(vaddq_f32(acc[c][0], acc[c][1]));                                    \
            for (int64_t j = i; j < n; j++) s += CONV(w, j) * x[j];                                   \
            o[c * os] = s;                                                                            \
        }                                                                                             \
    }
FLOAT_BODY(load4_f32, conv_f32)
FLOAT_BODY(load4_f16, conv_f16)
FLOAT_BODY(load4_bf16, conv_bf16)
SPECIALIZE_NC(dot_f32, body_load4_f32)
SPECIALIZE_NC(dot_f16, body_load4_f16)
SPECIALIZE_NC(dot_bf16, body_load4_bf16)

/* ---- 32-element blocks: value = d * q + m ------------------------------------ */

typedef struct blk32 {
    int8x16_t lo, hi; /* elements 0..15, 16..31 */
    float d, m;
} blk32;

INLINE void nibbles(const uint8_t *p, int8x16_t *lo, int8x16_t *hi) {
    const uint8x16_t v = vld1q_u8(p);
    *lo = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F)));
    *hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
}

/* Byte j of the result = 0x10 where bit j of the 16 bits is set. */
INLINE int8x16_t bits16_to_0x10(uint8_t b0, uint8_t b1) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t v = vcombine_u8(vdup_n_u8(b0), vdup_n_u8(b1));
    return vreinterpretq_s8_u8(vandq_u8(vtstq_u8(v, vld1q_u8(bit)), vdupq_n_u8(0x10)));
}

INLINE blk32 dec_q4_0(const uint8_t *b) {
    blk32 r = {.d = kc_f16(b)};
    r.m = -8.0f * r.d;
    nibbles(b + 2, &r.lo, &r.hi);
    return r;
}
INLINE blk32 dec_q4_1(const uint8_t *b) {
    blk32 r = {.d = kc_f16(b), .m = kc_f16(b + 2)};
    nibbles(b + 4, &r.lo, &r.hi);
    return r;
}
INLINE blk32 dec_q5_0(const uint8_t *b) {
    blk32 r = {.d = kc_f16(b)};
    r.m = -16.0f * r.d;
    nibbles(b + 6, &r.lo, &r.hi);
    r.lo = vorrq_s8(r.lo, bits16_to_0x10(b[2], b[3]));
    r.hi = vorrq_s8(r.hi, bits16_to_0x10(b[4], b[5]));
    return r;
}
INLINE blk32 dec_q5_1(const uint8_t *b) {
    blk32 r = {.d = kc_f16(b), .m = kc_f16(b + 2)};
    nibbles(b + 8, &r.lo, &r.hi);
    r.lo = vorrq_s8(r.lo, bits16_to_0x10(b[4], b[5]));
    r.hi = vorrq_s8(r.hi, bits16_to_0x10(b[6], b[7]));
    return r;
}
INLINE blk32 dec_q8_0(const uint8_t *b) {
    return (blk32){vld1q_s8((const int8_t *)b + 2), vld1q_s8((const int8_t *)b + 18), kc_f16(b), 0.0f};
}
INLINE blk32 dec_lut(const uint8_t *qs, const int8_t *table, float d) {
    const int8x16_t t = vld1q_s8(table);
    blk32 r = {.d = d, .m = 0.0f};
    nibbles(qs, &r.lo, &r.hi);
    r.lo = vqtbl1q_s8(t, vreinterpretq_u8_s8(r.lo));
    r.hi = vqtbl1q_s8(t, vreinterpretq_u8_s8(r.hi));
    return r;
}
INLINE blk32 dec_iq4_nl(const uint8_t *b) { return dec_lut(b + 2, kc_kvalues_iq4nl, kc_f16(b)); }
INLINE blk32 dec_mxfp4(const uint8_t *b) { return dec_lut(b + 1, kc_kvalues_mxfp4, kc_e8m0_half(b[0])); }

#define BODY32(name, DEC, BYTES)                                                                      \
    INLINE void body_##name(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) { \
        float32x4_t acc[4];                                                                           \
        float accm[4] = {0, 0, 0, 0};                                                                 \
        for (int c = 0; c < nc; c++) acc[c] = vdupq_n_f32(0.0f);                                      \
        const uint8_t *b = w;                                                                         \
        for (int64_t i = 0; i < n / 32; i++, b += BYTES) {                                            \
            const blk32 wb = DEC(b);                                                                  \
            for (int c = 0; c < nc; c++) {                                                            \
                const act_q8_32 *ab = (const act_q8_32 *)((const char *)act + c * as) + i;            \
                const int32x4_t p = dot32_act(wb.lo, wb.hi, ab->qs, ab->qr);                          \
                acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(p), wb.d * ab->d * RES_INV);               \
                accm[c] += wb.m * ab->s;                                                              \
            }                                                                                         \
        }                                                                                             \
        for (int c = 0; c < nc; c++) o[c * os] = vaddvq_f32(acc[c]) + accm[c];                        \
    }                                                                                                 \
    SPECIALIZE_NC(dot_##name, body_##name)

BODY32(q4_0, dec_q4_0, 18)
BODY32(q4_1, dec_q4_1, 20)
BODY32(q5_0, dec_q5_0, 22)
BODY32(q5_1, dec_q5_1, 24)
BODY32(q8_0, dec_q8_0, 34)
BODY32(iq4_nl, dec_iq4_nl, 18)
BODY32(mxfp4, dec_mxfp4, 17)

/* ---- K-quants ------------------------------------------------------------------
 * Per 16-element group: isum (i32) = vaddvq of the two-level dot; scaled by
 * the group's integer scale in f32 (the i32 product could overflow). */

INLINE const act_q8_256 *act256(const void *act, size_t as, int c, int64_t i) {
    return (const act_q8_256 *)((const char *)act + c * as) + i;
}

/* Two-level dot of 16 weights with activations 16g..16g+15 of ab, as i32. */
INLINE int32_t dot16_act(int8x16_t q, const act_q8_256 *ab, int g) {
    const int32x4_t s = dot16(vdupq_n_s32(0), q, vld1q_s8(ab->qs + 16 * g));
    const int32x4_t r = dot16(vdupq_n_s32(0), q, vld1q_s8(ab->qr + 16 * g));
    return vaddvq_s32(vmlaq_n_s32(r, s, CPU_ACT_RES));
}

/* Q4_K: 32-byte chunk k of qs: low nibbles = sub-block 2k, high = 2k+1. */
INLINE void body_q4_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) {
    float acc[4] = {0, 0, 0, 0};
    const uint8_t *b = w;
    for (int64_t i = 0; i < n / 256; i++, b += 144) {
        const float d = kc_f16(b), dmin = kc_f16(b + 2);
        uint8_t sc[8], mn[8];
        kc_scale_min_k4(b + 4, sc, mn);
        float blk[4] = {0, 0, 0, 0};
        for (int k = 0; k < 4; k++) {
            int8x16_t lo0, hi0, lo1, hi1; /* bytes 0..15 and 16..31 of the chunk */
            nibbles(b + 16 + 32 * k, &lo0, &hi0);
            nibbles(b + 16 + 32 * k + 16, &lo1, &hi1);
            for (int c = 0; c < nc; c++) {
                const act_q8_256 *ab = act256(act, as, c, i);
                const int32_t slo = dot16_act(lo0, ab, 4 * k) + dot16_act(lo1, ab, 4 * k + 1);
                const int32_t shi = dot16_act(hi0, ab, 4 * k + 2) + dot16_act(hi1, ab, 4 * k + 3);
                blk[c] += (float)sc[2 * k] * (float)slo + (float)sc[2 * k + 1] * (float)shi;
            }
        }
        for (int c = 0; c < nc; c++) {
            const act_q8_256 *ab = act256(act, as, c, i);
            int32_t msum = 0;
            for (int j = 0; j < 8; j++) msum += mn[j] * (ab->bsum[2 * j] + ab->bsum[2 * j + 1]);
            acc[c] += ab->d * RES_INV * (d * blk[c] - dmin * (float)msum);
        }
    }
    for (int c = 0; c < nc; c++) o[c * os] = acc[c];
}
SPECIALIZE_NC(dot_q4_k, body_q4_k)

/* Q6_K (layout in kernels_avx2.c): 16-element groups, q - 32 via bsum. */
INLINE void body_q6_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) {
    float acc[4] = {0, 0, 0, 0};
    const uint8_t *b = w;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x03);
    for (int64_t i = 0; i < n / 256; i++, b += 210) {
        const int8_t *sc = (const int8_t *)(b + 192);
        const float d = kc_f16(b + 208);
        float blk[4] = {0, 0, 0, 0};
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) { /* bytes 0..15 / 16..31 of each 32-byte chunk */
                const uint8x16_t qa = vld1q_u8(b + 64 * h + 16 * half);
                const uint8x16_t qb = vld1q_u8(b + 64 * h + 32 + 16 * half);
                const uint8x16_t qh = vld1q_u8(b + 128 + 32 * h + 16 * half);
                int8x16_t q[4];
                q[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(qa, m4), vshlq_n_u8(vandq_u8(qh, m2), 4)));
                q[1] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(qb, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), m2), 4)));
                q[2] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(qa, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), m2), 4)));
                q[3] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(qb, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4)));
                for (int k = 0; k < 4; k++) {
                    const int g = 8 * h + 2 * k + half; /* the 16-group of these elements */
                    for (int c = 0; c < nc; c++)
                        blk[c] += (float)sc[g] * (float)dot16_act(q[k], act256(act, as, c, i), g);
                }
            }
        for (int c = 0; c < nc; c++) {
            const act_q8_256 *ab = act256(act, as, c, i);
            int32_t off = 0;
            for (int g = 0; g < 16; g++) off += sc[g] * ab->bsum[g];
            acc[c] += d * ab->d * RES_INV * (blk[c] - 32.0f * (float)off);
        }
    }
    for (int c = 0; c < nc; c++) o[c * os] = acc[c];
}
SPECIALIZE_NC(dot_q6_k, body_q6_k)

static const cpu_kernels neon = {
    .name = "neon",
    .dot = {
        [BRISK_TYPE_F32] = dot_f32, [BRISK_TYPE_F16] = dot_f16, [BRISK_TYPE_BF16] = dot_bf16,
        [BRISK_TYPE_Q4_0] = dot_q4_0, [BRISK_TYPE_Q4_1] = dot_q4_1, [BRISK_TYPE_Q5_0] = dot_q5_0,
        [BRISK_TYPE_Q5_1] = dot_q5_1, [BRISK_TYPE_Q8_0] = dot_q8_0, [BRISK_TYPE_IQ4_NL] = dot_iq4_nl,
        [BRISK_TYPE_MXFP4] = dot_mxfp4,
        [BRISK_TYPE_Q4_K] = dot_q4_k, [BRISK_TYPE_Q6_K] = dot_q6_k,
    },
    .quant_q8_32 = quant_q8_32,
    .quant_q8_256 = quant_q8_256,
    .dot_f32 = dot_f32_exact,
};

const cpu_kernels *cpu_kernels_neon(void) { return &neon; }

#else
const cpu_kernels *cpu_kernels_neon(void) { return NULL; }
#endif
