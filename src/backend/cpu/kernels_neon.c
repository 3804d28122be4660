/* NEON kernels (aarch64 Advanced SIMD, baseline ARMv8.0). Same math as
 * kernels_generic.c: weight quants (times their K-quant group scale) widened
 * to 16 bits (vmovl) and multiplied with the 16-bit activations (kernels.h)
 * by vmull_s16 / vmlal_s16 / vmlal_high_s16 into i32 lanes, scaled in f32 per
 * block; float weights in f32 FMAs.
 *
 * As in kernels_avx2.c, every kernel body is written once over `nc` columns
 * (tokens) and instantiated for nc = 1..4 (KC_SPECIALIZE_NC), so a decoded
 * weight block is reused across them. */
#include "backend/cpu/kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include "backend/cpu/kernels_common.h"

#define INLINE static inline __attribute__((always_inline))

/* 16 signed / unsigned bytes -> 2 x 8 i16 (elements 0..7, 8..15). */
INLINE void widen_s8(int8x16_t v, int16x8_t out[2]) {
    out[0] = vmovl_s8(vget_low_s8(v));
    out[1] = vmovl_high_s8(v);
}
INLINE void widen_u8(uint8x16_t v, int16x8_t out[2]) {
    out[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v)));
    out[1] = vreinterpretq_s16_u16(vmovl_high_u8(v));
}

/* s0 += w[0..3] a[0..3] + w[8..11] a[8..11], s1 += the other 8 products
 * (16 products, 2 per lane of each accumulator). */
INLINE void mla16(int32x4_t *s0, int32x4_t *s1, const int16x8_t w[2], const int16_t *a) {
    const int16x8_t a0 = vld1q_s16(a), a1 = vld1q_s16(a + 8);
    *s0 = vmlal_s16(*s0, vget_low_s16(w[0]), vget_low_s16(a0));
    *s1 = vmlal_high_s16(*s1, w[0], a0);
    *s0 = vmlal_s16(*s0, vget_low_s16(w[1]), vget_low_s16(a1));
    *s1 = vmlal_high_s16(*s1, w[1], a1);
}

/* ---- activation quantization (bit-identical to the reference) ------------ */

INLINE float absmax(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < n; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    return vmaxvq_f32(m);
}

/* 16 floats -> 16 x i16 at q (rint(x * id), ties to even); returns their sum. */
INLINE int32_t quant16(const float *x, float id, int16_t *q) {
    int32x4_t v[4];
    for (int k = 0; k < 4; k++) v[k] = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4 * k), id));
    vst1q_s16(q, vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1])));
    vst1q_s16(q + 8, vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3])));
    return vaddvq_s32(vaddq_s32(vaddq_s32(v[0], v[1]), vaddq_s32(v[2], v[3])));
}

static void quant_q16_32(const float *x, void *dst, int64_t n) {
    act_q16_32 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float d = absmax(x, 32) / (float)CPU_ACT_QMAX;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const int32_t sum = quant16(x, id, b[i].q) + quant16(x + 16, id, b[i].q + 16);
        b[i].d = d;
        b[i].s = d * (float)sum;
    }
}

static void quant_q16_256(const float *x, void *dst, int64_t n) {
    act_q16_256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        const float d = absmax(x, 256) / (float)CPU_ACT_QMAX;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = d;
        for (int g = 0; g < 16; g++) b[i].ssum[g] = d * (float)quant16(x + 16 * g, id, b[i].q + 16 * g);
        act_q16_256_split(&b[i]);
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
INLINE float conv_f16(const void *w, int64_t j) { return brisk_load_fp16((const uint8_t *)w + 2 * j); }
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
KC_SPECIALIZE_NC(dot_f32, body_load4_f32)
KC_SPECIALIZE_NC(dot_f16, body_load4_f16)
KC_SPECIALIZE_NC(dot_bf16, body_load4_bf16)

/* ---- 32-element blocks: value = d * q + m ------------------------------------ */

/* A decoded block: elements 0..15 and 16..31 as i8 (signed levels, so only
 * Q4_1 / Q5_1 have an offset m), value = d * q + m. */
typedef struct blk32 {
    int8x16_t lo, hi;
    float d, m;
} blk32;

/* Nibble blocks: element j < 16 in the low nibble of byte j, 16 + j in the high. */
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

/* 16 nibbles through a 16-entry signed level table. */
INLINE int8x16_t lut16(const int8_t *table, int8x16_t idx) {
    return vqtbl1q_s8(vld1q_s8(table), vreinterpretq_u8_s8(idx));
}

INLINE blk32 dec_q4_0(const uint8_t *b) {
    blk32 r = {.d = brisk_load_fp16(b)};
    nibbles(b + 2, &r.lo, &r.hi);
    r.lo = vsubq_s8(r.lo, vdupq_n_s8(8));
    r.hi = vsubq_s8(r.hi, vdupq_n_s8(8));
    return r;
}
INLINE blk32 dec_q4_1(const uint8_t *b) {
    blk32 r = {.d = brisk_load_fp16(b), .m = brisk_load_fp16(b + 2)};
    nibbles(b + 4, &r.lo, &r.hi);
    return r;
}
INLINE blk32 dec_q5_0(const uint8_t *b) {
    blk32 r = {.d = brisk_load_fp16(b)};
    nibbles(b + 6, &r.lo, &r.hi);
    r.lo = vsubq_s8(vorrq_s8(r.lo, bits16_to_0x10(b[2], b[3])), vdupq_n_s8(16));
    r.hi = vsubq_s8(vorrq_s8(r.hi, bits16_to_0x10(b[4], b[5])), vdupq_n_s8(16));
    return r;
}
INLINE blk32 dec_q5_1(const uint8_t *b) {
    blk32 r = {.d = brisk_load_fp16(b), .m = brisk_load_fp16(b + 2)};
    nibbles(b + 8, &r.lo, &r.hi);
    r.lo = vorrq_s8(r.lo, bits16_to_0x10(b[4], b[5]));
    r.hi = vorrq_s8(r.hi, bits16_to_0x10(b[6], b[7]));
    return r;
}
INLINE blk32 dec_q8_0(const uint8_t *b) {
    return (blk32){vld1q_s8((const int8_t *)b + 2), vld1q_s8((const int8_t *)b + 18), brisk_load_fp16(b), 0.0f};
}
INLINE blk32 dec_iq4_nl(const uint8_t *b) {
    blk32 r = {.d = brisk_load_fp16(b)};
    nibbles(b + 2, &r.lo, &r.hi);
    r.lo = lut16(qb_kvalues_iq4nl, r.lo);
    r.hi = lut16(qb_kvalues_iq4nl, r.hi);
    return r;
}
INLINE blk32 dec_mxfp4(const uint8_t *b) {
    blk32 r = {.d = qb_e8m0_half(b[0])};
    nibbles(b + 1, &r.lo, &r.hi);
    r.lo = lut16(qb_kvalues_mxfp4, r.lo);
    r.hi = lut16(qb_kvalues_mxfp4, r.hi);
    return r;
}

#define ACT32(c, i) ((const act_q16_32 *)((const char *)act + (c) * as) + (i))

/* Per block and column: 32 products in 4 i32 lanes (8 per lane, each at most
 * 128 x 32767: no overflow), acc[c] += f32(isum) * d * d_a, and the offset
 * term accm[c] += m * s_a where the type has one. */
#define BODY32(name, BYTES, HASMIN)                                                                   \
    INLINE void body_##name(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc) { \
        float32x4_t acc[4];                                                                           \
        float accm[4] = {0, 0, 0, 0};                                                                 \
        for (int c = 0; c < nc; c++) acc[c] = vdupq_n_f32(0.0f);                                      \
        const uint8_t *b = w;                                                                         \
        for (int64_t i = 0; i < n / 32; i++, b += BYTES) {                                            \
            const blk32 wb = dec_##name(b);                                                           \
            int16x8_t lo[2], hi[2];                                                                   \
            widen_s8(wb.lo, lo);                                                                      \
            widen_s8(wb.hi, hi);                                                                      \
            for (int c = 0; c < nc; c++) {                                                            \
                const act_q16_32 *ab = ACT32(c, i);                                                   \
                int32x4_t s0 = vdupq_n_s32(0), s1 = s0;                                               \
                mla16(&s0, &s1, lo, ab->q);                                                           \
                mla16(&s0, &s1, hi, ab->q + 16);                                                      \
                acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(vaddq_s32(s0, s1)), wb.d * ab->d);         \
                if (HASMIN) accm[c] += wb.m * ab->s;                                                  \
            }                                                                                         \
        }                                                                                             \
        for (int c = 0; c < nc; c++) o[c * os] = vaddvq_f32(acc[c]) + accm[c];                        \
    }                                                                                                 \
    KC_SPECIALIZE_NC(dot_##name, body_##name)

BODY32(q4_0, 18, 0)
BODY32(q4_1, 20, 1)
BODY32(q5_0, 22, 0)
BODY32(q5_1, 24, 1)
BODY32(q8_0, 34, 0)
BODY32(iq4_nl, 18, 0)
BODY32(mxfp4, 17, 0)

/* ---- K-quants: 256-element super-blocks --------------------------------------
 * Per 16-element group g: w = q * scale_g as i16, (isum0[c], isum1[c]) +=
 * w . a_c by vmlal_s16 / vmlal_high_s16, 2 products per group in each of the
 * 8 i32 lanes; acc[c] += f32(isum) * d * d_a, flushed where the i32 bound
 * requires (|a| <= 32767), per lane:
 *   Q4_K 32 x 945, Q5_K 32 x 1953, Q2_K 32 x 45, Q3_K 32 x 128, Q8_K 32 x 128
 *     per super-block; Q6_K 16 x 4096 and IQ4_XS 16 x 4064 per half (128).
 * Mins come from the activation group sums (ssum): accm[c] += min_g * ssum_g
 * in f32 lanes. */

#define ACT256(c, i) ((const act_q16_256 *)((const char *)act + (c) * as) + (i))

/* The 16 weights w (i16, scale applied) . activations 16g..16g+15 of every column. */
#define GROUP(w, g)                                                                                   \
    for (int c = 0; c < nc; c++) mla16(&isum0[c], &isum1[c], (w), ACT256(c, i)->q + 16 * (g))

/* acc[c] += f32(isum[c]) * scale * d_a; isum[c] = 0 (the two halves are
 * converted separately: their i32 sum could overflow). */
#define FLUSH(scale)                                                                                  \
    for (int c = 0; c < nc; c++) {                                                                    \
        const float32x4_t f = vaddq_f32(vcvtq_f32_s32(isum0[c]), vcvtq_f32_s32(isum1[c]));            \
        acc[c] = vfmaq_n_f32(acc[c], f, (scale) * ACT256(c, i)->d);                                   \
        isum0[c] = isum1[c] = vdupq_n_s32(0);                                                         \
    }

#define K_PROLOGUE                                                                                    \
    float32x4_t acc[4], accm[4];                                                                      \
    int32x4_t isum0[4], isum1[4];                                                                     \
    for (int c = 0; c < nc; c++) {                                                                    \
        acc[c] = accm[c] = vdupq_n_f32(0.0f);                                                         \
        isum0[c] = isum1[c] = vdupq_n_s32(0);                                                         \
    }                                                                                                 \
    const uint8_t *b = w

#define K_EPILOGUE for (int c = 0; c < nc; c++) o[c * os] = vaddvq_f32(vsubq_f32(acc[c], accm[c]))

/* accm[c] += (16 mins, one per 16-element group, as u8) * dmin . ssum. */
#define MINS(mins_u8, dmin)                                                                           \
    do {                                                                                              \
        const uint16x8_t m_lo = vmovl_u8(vget_low_u8(mins_u8)), m_hi = vmovl_high_u8(mins_u8);        \
        const float32x4_t mf[4] = {                                                                   \
            vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(m_lo))), (dmin)),                        \
            vmulq_n_f32(vcvtq_f32_u32(vmovl_high_u16(m_lo)), (dmin)),                                 \
            vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(m_hi))), (dmin)),                        \
            vmulq_n_f32(vcvtq_f32_u32(vmovl_high_u16(m_hi)), (dmin)),                                 \
        };                                                                                            \
        for (int c = 0; c < nc; c++) {                                                                \
            const float *ss = ACT256(c, i)->ssum;                                                     \
            for (int k = 0; k < 4; k++) accm[c] = vfmaq_f32(accm[c], mf[k], vld1q_f32(ss + 4 * k));   \
        }                                                                                             \
    } while (0)

/* w = u8 quants (16) widened to i16, times scale. */
INLINE void scaled_u8(uint8x16_t q, int scale, int16x8_t w[2]) {
    widen_u8(q, w);
    w[0] = vmulq_n_s16(w[0], (int16_t)scale);
    w[1] = vmulq_n_s16(w[1], (int16_t)scale);
}
INLINE void scaled_s8(int8x16_t q, int scale, int16x8_t w[2]) {
    widen_s8(q, w);
    w[0] = vmulq_n_s16(w[0], (int16_t)scale);
    w[1] = vmulq_n_s16(w[1], (int16_t)scale);
}

/* Q4_K (hb = 0) and Q5_K (hb = 1): 32 bytes of qs per 64 elements, low
 * nibbles = sub-block 2k (groups 4k, 4k+1), high = 2k+1 (groups 4k+2, 4k+3);
 * Q5_K's fifth bit of element 32j + l is bit j of qh[l].
 * value = d * sc[j] * q - dmin * m[j]. */
INLINE void body_q45_k(int64_t n, const void *w, const void *act, size_t as, float *o, size_t os, const int nc,
                       const int hb) {
    K_PROLOGUE;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), bit4 = vdupq_n_u8(0x10);
    for (int64_t i = 0; i < n / 256; i++, b += hb ? 176 : 144) {
        const float d = brisk_load_fp16(b), dmin = brisk_load_fp16(b + 2);
        uint8_t sc[8], mn[8];
        qb_scale_min_k4(b + 4, sc, mn);
        const uint8_t *qs = b + (hb ? 48 : 16);
        for (int p = 0; p < 2; p++) {
            uint8x16_t qh = hb ? vld1q_u8(b + 16 + 16 * p) : vdupq_n_u8(0);
            for (int k = 0; k < 4; k++) {
                const uint8x16_t v = vld1q_u8(qs + 32 * k + 16 * p);
                uint8x16_t lo = vandq_u8(v, m4), hi = vshrq_n_u8(v, 4);
                if (hb) { /* bits 2k and 2k+1 of qh, moved to bit 4 */
                    lo = vorrq_u8(lo, vandq_u8(vshlq_n_u8(qh, 4), bit4));
                    hi = vorrq_u8(hi, vandq_u8(vshlq_n_u8(qh, 3), bit4));
                    qh = vshrq_n_u8(qh, 2);
                }
                int16x8_t wl[2], wh[2];
                scaled_u8(lo, sc[2 * k], wl);
                scaled_u8(hi, sc[2 * k + 1], wh);
                GROUP(wl, 4 * k + p);
                GROUP(wh, 4 * k + 2 + p);
            }
        }
        FLUSH(d);
        const uint8x8_t m8 = vld1_u8(mn);
        MINS(vcombine_u8(vzip1_u8(m8, m8), vzip2_u8(m8, m8)), dmin);
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
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x03);
    const int8x16_t off = vdupq_n_s8(32);
    for (int64_t i = 0; i < n / 256; i++, b += 210) {
        const int8_t *sc = (const int8_t *)(b + 192);
        const float d = brisk_load_fp16(b + 208);
        for (int h = 0; h < 2; h++) {
            for (int p = 0; p < 2; p++) {
                const uint8x16_t A = vld1q_u8(b + 64 * h + 16 * p), B = vld1q_u8(b + 64 * h + 32 + 16 * p);
                const uint8x16_t H = vld1q_u8(b + 128 + 32 * h + 16 * p);
                uint8x16_t q[4];
                q[0] = vorrq_u8(vandq_u8(A, m4), vshlq_n_u8(vandq_u8(H, m2), 4));
                q[1] = vorrq_u8(vandq_u8(B, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(H, 2), m2), 4));
                q[2] = vorrq_u8(vshrq_n_u8(A, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(H, 4), m2), 4));
                q[3] = vorrq_u8(vshrq_n_u8(B, 4), vshlq_n_u8(vshrq_n_u8(H, 6), 4));
                for (int k = 0; k < 4; k++) {
                    const int g = 8 * h + 2 * k + p;
                    int16x8_t wq[2];
                    scaled_s8(vsubq_s8(vreinterpretq_s8_u8(q[k]), off), sc[g], wq);
                    GROUP(wq, g);
                }
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
    const uint8x16_t m2 = vdupq_n_u8(3), one = vdupq_n_u8(1);
    for (int64_t i = 0; i < n / 256; i++, b += q3 ? 110 : 84) {
        int8_t sc[16];
        float d, dmin = 0.0f;
        if (q3) {
            kc_scales_q3_k(b + 96, sc);
            d = brisk_load_fp16(b + 108);
        } else {
            for (int g = 0; g < 16; g++) sc[g] = (int8_t)(b[g] & 15);
            d = brisk_load_fp16(b + 80);
            dmin = brisk_load_fp16(b + 82);
        }
        const uint8_t *qs = b + (q3 ? 32 : 16);
        for (int p = 0; p < 2; p++) {
            uint8x16_t hm = q3 ? vld1q_u8(b + 16 * p) : vdupq_n_u8(0); /* bit j of hmask at bit 0 */
            for (int h = 0; h < 2; h++) {
                uint8x16_t v = vld1q_u8(qs + 32 * h + 16 * p); /* bits 2(j%4) at bits 0-1 */
                for (int s = 0; s < 4; s++) {
                    const int j = 4 * h + s;
                    int8x16_t u = vreinterpretq_s8_u8(vandq_u8(v, m2));
                    if (q3) {
                        u = vsubq_s8(vorrq_s8(u, vreinterpretq_s8_u8(vshlq_n_u8(vandq_u8(hm, one), 2))), vdupq_n_s8(4));
                        hm = vshrq_n_u8(hm, 1);
                    }
                    v = vshrq_n_u8(v, 2);
                    int16x8_t wq[2];
                    scaled_s8(u, sc[2 * j + p], wq);
                    GROUP(wq, 2 * j + p);
                }
            }
        }
        FLUSH(d);
        if (!q3) MINS(vshrq_n_u8(vld1q_u8(b), 4), dmin); /* mins: high nibbles of the scales */
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
        for (int g = 0; g < 16; g++) {
            int16x8_t wq[2];
            widen_s8(vld1q_s8((const int8_t *)b + 4 + 16 * g), wq);
            GROUP(wq, g);
        }
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
        const float d = brisk_load_fp16(b);
        int8_t ls[8];
        kc_scales_iq4_xs(b, ls);
        for (int s = 0; s < 8; s++) {
            int8x16_t lo, hi;
            nibbles(b + 8 + 16 * s, &lo, &hi);
            int16x8_t wl[2], wh[2];
            scaled_s8(lut16(qb_kvalues_iq4nl, lo), ls[s], wl);
            scaled_s8(lut16(qb_kvalues_iq4nl, hi), ls[s], wh);
            GROUP(wl, 2 * s);
            GROUP(wh, 2 * s + 1);
            if (s == 3 || s == 7) { FLUSH(d); }
        }
    }
    K_EPILOGUE;
}
KC_SPECIALIZE_NC(dot_iq4_xs, body_iq4_xs)

static const cpu_kernels neon = {
    .name = "neon",
    .dot = KC_DOT_ALL_TYPES,
    .quant_q16_32 = quant_q16_32,
    .quant_q16_256 = quant_q16_256,
    .dot_f32 = dot_f32_exact,
};

const cpu_kernels *cpu_kernels_neon(void) { return &neon; }

#else
const cpu_kernels *cpu_kernels_neon(void) { return NULL; }
#endif
