/* The "legacy" ggml block formats: 32 elements per block, one scale (Q4_0,
 * Q5_0, Q8_0) or a scale and a minimum (Q4_1, Q5_1), stored as IEEE halves.
 *
 * Block layouts (all fields little-endian, blocks packed back to back, so a
 * block is not aligned in memory: fp16 fields are read with memcpy):
 *
 *   Q4_0  (18 B): f16 d; u8 qs[16]
 *                 x[j] = d * (q[j] - 8),  q[j] 4 bits
 *   Q4_1  (20 B): f16 d; f16 m; u8 qs[16]
 *                 x[j] = d * q[j] + m
 *   Q5_0  (22 B): f16 d; u8 qh[4]; u8 qs[16]
 *                 x[j] = d * (q[j] - 16), q[j] 5 bits
 *   Q5_1  (24 B): f16 d; f16 m; u8 qh[4]; u8 qs[16]
 *                 x[j] = d * q[j] + m
 *   Q8_0  (34 B): f16 d; i8 qs[32]
 *                 x[j] = d * qs[j]
 *
 * Nibble order in qs[16]: the low nibble of byte i is element i, the high
 * nibble is element i + 16. For the 5-bit types, qh read as a little-endian
 * u32 holds the fifth bit of element j in bit j.
 *
 * Quantization reproduces the reference in gguf-py (gguf/quants.py) bit for
 * bit: every step is done in float32 in the same order as numpy does it
 * (scale by division, reciprocal by division, multiply, add the offset,
 * truncate), and the float -> u8 conversions follow what numpy does on
 * x86-64 (see np_f32_to_u8), which only matters for degenerate blocks (for
 * example when 1/d overflows to infinity for subnormal inputs). */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "quant/block_fields.h"
#include "quant/quant.h"

/* Multiply-then-add must round twice, as numpy does: keep the compiler from
 * fusing `x * id + 0.5f` into an FMA when the target has one. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define QK QK_LEGACY

static inline void store_f16(uint8_t *p, float f) {
    uint16_t h = brisk_f32_to_fp16(f);
    memcpy(p, &h, 2);
}

/* numpy's float32 -> uint8 cast on x86-64: truncate toward zero through a
 * 32-bit integer and keep the low byte; NaN, infinities and values outside
 * the int32 range give 0 (cvttss2si's "integer indefinite" has a zero low
 * byte, and every float of magnitude >= 2^31 is a multiple of 256 anyway).
 * So -1.0 -> 255, 259.0 -> 3. A plain C cast would be undefined there. */
static inline uint8_t np_f32_to_u8(float x) {
    if (!(x > -2147483648.0f && x < 2147483648.0f)) return 0; /* also NaN */
    return (uint8_t)(uint32_t)(int32_t)x;
}

/* The element of largest magnitude, with its sign: x[argmax(|x|)]. As numpy's
 * argmax: the first index wins ties, and the first NaN wins outright. */
static float signed_absmax(const float *x) {
    int best = 0;
    float best_abs = fabsf(x[0]);
    if (isnan(best_abs)) return x[0];
    for (int j = 1; j < QK; j++) {
        float a = fabsf(x[j]);
        if (isnan(a)) return x[j];
        if (a > best_abs) {
            best_abs = a;
            best = j;
        }
    }
    return x[best];
}

/* max(|x|) over the block; NaN if any element is NaN (numpy's max). */
static float absmax(const float *x) {
    float m = 0.0f;
    for (int j = 0; j < QK; j++) {
        float a = fabsf(x[j]);
        if (isnan(a)) return a;
        if (a > m) m = a;
    }
    return m;
}

/* min and max of the block; both NaN if any element is NaN (numpy's min/max). */
static void min_max(const float *x, float *mn, float *mx) {
    float lo = x[0], hi = x[0];
    for (int j = 0; j < QK; j++) {
        if (isnan(x[j])) {
            *mn = *mx = x[j];
            return;
        }
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

/* 1/d, or 0 when d == 0 (np.where(d == 0, 0, 1 / d)). */
static inline float inverse_or_zero(float d) { return d == 0.0f ? 0.0f : 1.0f / d; }

/* min(q, hi) for the unsigned q of a u8 cast (numpy's clip(0, hi) on uint8). */
static inline uint8_t clip_u8(uint8_t q, uint8_t hi) { return q > hi ? hi : q; }

/* Pack 32 values < 16 (or the low 4 bits of 32 values < 32) into 16 bytes:
 * element i in the low nibble of byte i, element i + 16 in the high nibble. */
static void pack_nibbles(const uint8_t q[QK], uint8_t qs[QK / 2]) {
    for (int i = 0; i < QK / 2; i++)
        qs[i] = (uint8_t)((q[i] & 0x0F) | ((q[i + QK / 2] & 0x0F) << 4));
}

/* Bit 4 of each of 32 values < 32, element j at bit j of a little-endian u32. */
static void pack_high_bits(const uint8_t q[QK], uint8_t qh[4]) {
    memset(qh, 0, 4);
    for (int j = 0; j < QK; j++) qh[j / 8] |= (uint8_t)(((q[j] >> 4) & 1) << (j % 8));
}

/* Bit j of qh as a little-endian u32, moved to bit 4. */
static inline int high_bit(const uint8_t *qh, int j) { return ((qh[j / 8] >> (j % 8)) & 1) << 4; }

/* ------------------------------------------------------------------------ */
/* Q4_0: f16 d; u8 qs[16].  x = d * (q - 8)                                  */
/* ------------------------------------------------------------------------ */

void brisk_dequantize_q4_0(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += 18, dst += QK) {
        const float d = brisk_load_fp16(b);
        for (int j = 0; j < QK; j++) dst[j] = d * (float)(qb_nibble(b + 2, j) - 8);
    }
}

/* Symmetric: the element of largest magnitude maps to q = 0 (value -8 * d),
 * so d = max / -8 carries the sign that makes that end exact. Then
 * q = trunc(x / d + 8.5), i.e. x / d rounded half up, clipped to 0..15. */
void brisk_quantize_q4_0(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 18, src += QK) {
        const float max = signed_absmax(src);
        const float d = max / -8.0f;
        const float id = inverse_or_zero(d);
        uint8_t q[QK];
        for (int j = 0; j < QK; j++) q[j] = clip_u8(np_f32_to_u8(truncf(src[j] * id + 8.5f)), 15);
        store_f16(b, d);
        pack_nibbles(q, b + 2);
    }
}

/* ------------------------------------------------------------------------ */
/* Q4_1: f16 d; f16 m; u8 qs[16].  x = d * q + m                             */
/* ------------------------------------------------------------------------ */

void brisk_dequantize_q4_1(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += 20, dst += QK) {
        const float d = brisk_load_fp16(b), m = brisk_load_fp16(b + 2);
        /* d * q is exact (11 x 4 significant bits), so one rounding, FMA or not */
        for (int j = 0; j < QK; j++) dst[j] = d * (float)qb_nibble(b + 4, j) + m;
    }
}

/* Asymmetric: m = min, d = (max - min) / 15, q = trunc((x - min) / d + 0.5). */
void brisk_quantize_q4_1(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 20, src += QK) {
        float min, max;
        min_max(src, &min, &max);
        const float d = (max - min) / 15.0f;
        const float id = inverse_or_zero(d);
        uint8_t q[QK];
        for (int j = 0; j < QK; j++)
            q[j] = clip_u8(np_f32_to_u8(truncf((src[j] - min) * id + 0.5f)), 15);
        store_f16(b, d);
        store_f16(b + 2, min);
        pack_nibbles(q, b + 4);
    }
}

/* ------------------------------------------------------------------------ */
/* Q5_0: f16 d; u8 qh[4]; u8 qs[16].  x = d * (q - 16)                       */
/* ------------------------------------------------------------------------ */

void brisk_dequantize_q5_0(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += 22, dst += QK) {
        const float d = brisk_load_fp16(b);
        const uint8_t *qh = b + 2, *qs = b + 6;
        for (int j = 0; j < QK; j++) dst[j] = d * (float)((qb_nibble(qs, j) | high_bit(qh, j)) - 16);
    }
}

/* As Q4_0 with 5 bits: d = max / -16, q = trunc(x / d + 16.5) clipped to 0..31. */
void brisk_quantize_q5_0(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 22, src += QK) {
        const float max = signed_absmax(src);
        const float d = max / -16.0f;
        const float id = inverse_or_zero(d);
        uint8_t q[QK];
        for (int j = 0; j < QK; j++) q[j] = clip_u8(np_f32_to_u8(truncf(src[j] * id + 16.5f)), 31);
        store_f16(b, d);
        pack_high_bits(q, b + 2);
        pack_nibbles(q, b + 6);
    }
}

/* ------------------------------------------------------------------------ */
/* Q5_1: f16 d; f16 m; u8 qh[4]; u8 qs[16].  x = d * q + m                   */
/* ------------------------------------------------------------------------ */

void brisk_dequantize_q5_1(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += 24, dst += QK) {
        const float d = brisk_load_fp16(b), m = brisk_load_fp16(b + 2);
        const uint8_t *qh = b + 4, *qs = b + 8;
        /* d * q is exact (11 x 5 significant bits): one rounding, FMA or not */
        for (int j = 0; j < QK; j++) dst[j] = d * (float)(qb_nibble(qs, j) | high_bit(qh, j)) + m;
    }
}

/* As Q4_1 with 5 bits: d = (max - min) / 31, q clipped to 0..31. */
void brisk_quantize_q5_1(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 24, src += QK) {
        float min, max;
        min_max(src, &min, &max);
        const float d = (max - min) / 31.0f;
        const float id = inverse_or_zero(d);
        uint8_t q[QK];
        for (int j = 0; j < QK; j++)
            q[j] = clip_u8(np_f32_to_u8(truncf((src[j] - min) * id + 0.5f)), 31);
        store_f16(b, d);
        store_f16(b + 2, min);
        pack_high_bits(q, b + 4);
        pack_nibbles(q, b + 8);
    }
}

/* ------------------------------------------------------------------------ */
/* Q8_0: f16 d; i8 qs[32].  x = d * q                                        */
/* ------------------------------------------------------------------------ */

void brisk_dequantize_q8_0(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += 34, dst += QK) {
        const float d = brisk_load_fp16(b);
        for (int j = 0; j < QK; j++) dst[j] = d * (float)(int8_t)b[2 + j];
    }
}

/* d = max|x| / 127, q = x / d rounded half away from zero. gguf-py's
 * np_roundf is floor(|v|) + floor(2 * frac(|v|)) with the sign put back:
 * exactly roundf() for finite v; for infinite v it gives NaN where roundf
 * gives inf, and both cast to 0. */
void brisk_quantize_q8_0(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 34, src += QK) {
        const float d = absmax(src) / 127.0f;
        const float id = inverse_or_zero(d);
        store_f16(b, d);
        /* numpy's float -> int8 cast stores the same byte as its uint8 cast */
        for (int j = 0; j < QK; j++) b[2 + j] = np_f32_to_u8(roundf(src[j] * id));
    }
}
