/* Dequantization of the K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K.
 *
 * All six use 256-element super-blocks (QK_K) in the GGUF/ggml byte layouts,
 * written as a comment above each function. Blocks are read through byte
 * pointers and memcpy, so they may sit at any alignment in a file.
 *
 * The arithmetic follows gguf-py (gguf.quants) operation for operation, in
 * f32, so the results are bit-identical to it: the effective sub-block scale
 * is computed first, d * (float)scale, and only then multiplied by the quant.
 *
 * In "dl * q - ml" (Q2_K, Q4_K, Q5_K) a compiler may fuse the multiply and
 * subtract into an FMA when the target has one. That cannot change a bit:
 * dl * q is exact in f32 (at most 11 significant bits of fp16 d, times a
 * 4/6-bit scale, times a 2/4/5-bit quant: <= 22 bits), so rounding it first
 * or not makes no difference. */
#include <string.h>

#include "base/fp16.h"
#include "quant/block_fields.h"
#include "quant/quant.h"

static inline float load_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}



/* Q2_K super-block (84 bytes): u8 scales[16], u8 qs[64], f16 d, f16 dmin.
 *   scales[j]: low nibble = 4-bit scale, high nibble = 4-bit min of the j-th
 *              16-element sub-block.
 *   qs: 2-bit quants; element 128*h + 32*k + l is bits 2k..2k+1 of
 *       qs[32*h + l] (h in 0..1, k in 0..3, l in 0..31).
 *   value = (d * scale) * q - (dmin * min). */
void brisk_dequantize_q2_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 84, dst += QK_K) {
        const uint8_t *scales = b, *qs = b + 16;
        const float d = brisk_load_fp16(b + 80), dmin = brisk_load_fp16(b + 82);
        for (int e = 0; e < QK_K; e++) {
            const int h = e / 128, k = (e / 32) % 4, l = e % 32;
            const uint8_t sc = scales[e / 16];
            const float dl = d * (float)(sc & 0x0F);
            const float ml = dmin * (float)(sc >> 4);
            const float q = (float)((qs[32 * h + l] >> (2 * k)) & 3);
            dst[e] = dl * q - ml;
        }
    }
}

/* Q3_K super-block (110 bytes): u8 hmask[32], u8 qs[64], u8 scales[12], f16 d.
 *   hmask: high bit of each 3-bit quant; element 32*k + l is bit k of
 *          hmask[l]. A CLEAR bit subtracts 4: q = low2 - (bit ? 0 : 4),
 *          so quants are in -4..3.
 *   qs: low 2 bits, arranged as in Q2_K.
 *   scales: sixteen 6-bit scales (stored +32, so -32..31), one per 16
 *           elements. Scale j: low 4 bits = low nibble of scales[j] for
 *           j < 8, high nibble of scales[j - 8] for j >= 8; high 2 bits =
 *           bits 2*(j/4)..2*(j/4)+1 of scales[8 + j % 4].
 *   value = (d * (scale - 32)) * q. */
void brisk_dequantize_q3_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 110, dst += QK_K) {
        const uint8_t *hmask = b, *qs = b + 32, *s = b + 96;
        const float d = brisk_load_fp16(b + 108);
        float dl[16];
        for (int j = 0; j < 16; j++) {
            const int lo = (j < 8 ? s[j] : s[j - 8] >> 4) & 0x0F;
            const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
            dl[j] = d * (float)((lo | (hi << 4)) - 32);
        }
        for (int e = 0; e < QK_K; e++) {
            const int h = e / 128, k = (e / 32) % 4, l = e % 32;
            const int low = (qs[32 * h + l] >> (2 * k)) & 3;
            const int high = (hmask[l] >> (e / 32)) & 1;
            dst[e] = dl[e / 16] * (float)(low - (high ? 0 : 4));
        }
    }
}

/* Q4_K super-block (144 bytes): f16 d, f16 dmin, u8 scales[12] (8 6-bit
 * scales + 8 6-bit mins, packed as in qb_scale_min_k4), u8 qs[128].
 *   qs: 4-bit quants; element 64*c + 32*s + l is nibble s (0 = low) of
 *       qs[32*c + l]. Sub-block j (32 elements) = elements 32*j .. 32*j+31.
 *   value = (d * sc[j]) * q - (dmin * m[j]). */
void brisk_dequantize_q4_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 144, dst += QK_K) {
        const float d = brisk_load_fp16(b), dmin = brisk_load_fp16(b + 2);
        const uint8_t *qs = b + 16;
        uint8_t sc[8], m[8];
        qb_scale_min_k4(b + 4, sc, m);
        for (int j = 0; j < 8; j++) {
            const float dl = d * (float)sc[j], ml = dmin * (float)m[j];
            const int c = j / 2, sh = 4 * (j % 2);
            for (int l = 0; l < 32; l++)
                dst[32 * j + l] = dl * (float)((qs[32 * c + l] >> sh) & 0x0F) - ml;
        }
    }
}

/* Q5_K super-block (176 bytes): f16 d, f16 dmin, u8 scales[12] (as Q4_K),
 * u8 qh[32], u8 qs[128].
 *   qs: low 4 bits, arranged as in Q4_K.
 *   qh: 5th bit; element 32*j + l is bit j of qh[l].
 *   value = (d * sc[j]) * q - (dmin * m[j]), q in 0..31. */
void brisk_dequantize_q5_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 176, dst += QK_K) {
        const float d = brisk_load_fp16(b), dmin = brisk_load_fp16(b + 2);
        const uint8_t *qh = b + 16, *qs = b + 48;
        uint8_t sc[8], m[8];
        qb_scale_min_k4(b + 4, sc, m);
        for (int j = 0; j < 8; j++) {
            const float dl = d * (float)sc[j], ml = dmin * (float)m[j];
            const int c = j / 2, sh = 4 * (j % 2);
            for (int l = 0; l < 32; l++) {
                const int q = ((qs[32 * c + l] >> sh) & 0x0F) | (((qh[l] >> j) & 1) << 4);
                dst[32 * j + l] = dl * (float)q - ml;
            }
        }
    }
}

/* Q6_K super-block (210 bytes): u8 ql[128], u8 qh[64], i8 scales[16], f16 d.
 *   ql: low 4 bits; element 128*h + 64*s + l is nibble s of ql[64*h + l]
 *       (h, s in 0..1, l in 0..63).
 *   qh: high 2 bits; element 128*h + 32*k + l is bits 2k..2k+1 of
 *       qh[32*h + l] (k in 0..3, l in 0..31).
 *   q = (low | high << 4) - 32, in -32..31; one signed 8-bit scale per 16.
 *   value = (d * scales[e / 16]) * q. */
void brisk_dequantize_q6_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 210, dst += QK_K) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *scales = (const int8_t *)(b + 192);
        const float d = brisk_load_fp16(b + 208);
        for (int e = 0; e < QK_K; e++) {
            const int h = e / 128, r = e % 128;
            const int low = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
            const int high = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
            const float dl = d * (float)scales[e / 16];
            dst[e] = dl * (float)((low | (high << 4)) - 32);
        }
    }
}

/* Q8_K super-block (292 bytes): f32 d, i8 qs[256], i16 bsums[16].
 *   bsums[j] = sum of qs[16*j .. 16*j+15] (used by dot products only).
 *   value = d * q. */
void brisk_dequantize_q8_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 292, dst += QK_K) {
        const float d = load_f32(b);
        const int8_t *qs = (const int8_t *)(b + 4);
        for (int e = 0; e < QK_K; e++) dst[e] = d * (float)qs[e];
    }
}
