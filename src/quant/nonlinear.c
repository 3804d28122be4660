/* Block formats whose 4-bit codes index a fixed table of levels instead of
 * being linear steps: IQ4_NL and IQ4_XS (a non-uniform codebook fitted to
 * weight distributions; read only) and MXFP4 (OCP microscaling FP4: E2M1
 * elements with a shared power-of-two E8M0 scale; read and written).
 *
 * Block layouts (little-endian, blocks packed back to back; fp16 fields are
 * read with memcpy since blocks are not aligned):
 *
 *   IQ4_NL (18 B, 32 elements):  f16 d; u8 qs[16]
 *       x[j] = d * qb_kvalues_iq4nl[q[j]]
 *   IQ4_XS (136 B, 256 elements = 8 sub-blocks of 32):
 *       f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]
 *       sub-block s: 6-bit scale ls = (low nibble s of scales_l
 *           | bits 2s..2s+1 of scales_h << 4), signed as ls - 32;
 *       codes in qs[16 s .. 16 s + 15];
 *       x[32 s + j] = (d * (ls - 32)) * qb_kvalues_iq4nl[q[j]]
 *   MXFP4  (17 B, 32 elements):  u8 e; u8 qs[16]
 *       x[j] = 2^(e - 128) * qb_kvalues_mxfp4[q[j]]
 *       (the table holds the E2M1 values doubled, hence the scale halved)
 *
 * Nibble order, as in the legacy formats: the low nibble of qs[i] is element
 * i, the high nibble element i + 16 (in IQ4_XS: of each sub-block). Scale
 * nibble order in IQ4_XS: scales_l[i] holds sub-block 2i (low) and 2i+1
 * (high).
 *
 * All products in the dequantizers are exact in float32 (at most 11 + 6 + 7
 * significant bits, or a power of two times a small integer), so the order of
 * operations cannot change a result; we still follow gguf-py's order. */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "quant/block_fields.h"
#include "quant/quant.h"

#define QK QK_LEGACY

/* ------------------------------------------------------------------------ */
/* IQ4_NL                                                                    */
/* ------------------------------------------------------------------------ */

void brisk_dequantize_iq4_nl(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += 18, dst += QK) {
        const float d = brisk_load_fp16(b);
        for (int j = 0; j < QK; j++) dst[j] = d * (float)qb_kvalues_iq4nl[qb_nibble(b + 2, j)];
    }
}

/* ------------------------------------------------------------------------ */
/* IQ4_XS                                                                    */
/* ------------------------------------------------------------------------ */

void brisk_dequantize_iq4_xs(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 136) {
        const float d = brisk_load_fp16(b);
        const unsigned scales_h = (unsigned)b[2] | (unsigned)b[3] << 8;
        const uint8_t *scales_l = b + 4, *qs = b + 8;
        for (int s = 0; s < QK_K / 32; s++, dst += 32) {
            const int lo = (scales_l[s / 2] >> (4 * (s % 2))) & 0x0F;
            const int hi = (scales_h >> (2 * s)) & 0x03;
            const float dl = d * (float)((lo | hi << 4) - 32);
            for (int j = 0; j < 32; j++) dst[j] = dl * (float)qb_kvalues_iq4nl[qb_nibble(qs + 16 * s, j)];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* MXFP4                                                                     */
/* ------------------------------------------------------------------------ */

void brisk_dequantize_mxfp4(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += 17, dst += QK) {
        const float d = qb_e8m0_half(b[0]);
        for (int j = 0; j < QK; j++) dst[j] = d * (float)qb_kvalues_mxfp4[qb_nibble(b + 1, j)];
    }
}

/* numpy's float32 -> uint8 cast on x86-64: truncation through int32, keep the
 * low byte; NaN, infinities and out-of-range values give 0 (so -24.0 -> 232). */
static inline uint8_t np_f32_to_u8(float x) {
    if (!(x > -2147483648.0f && x < 2147483648.0f)) return 0; /* also NaN */
    return (uint8_t)(uint32_t)(int32_t)x;
}

/* floor(log2(a)) as numpy computes it on float32: log2 rounded to float32
 * first, so a value just below 2^k whose log2 rounds up to k counts as k
 * (e.g. a = 8 - 2^-21 gives 3, not 2). A correctly rounded float32 log2 is
 * modelled by the double log2 rounded to float; on x86-64 this matched
 * np.floor(np.log2(x)) for every positive finite float32 x. */
static inline float floor_log2_f32(float a) { return floorf((float)log2((double)a)); }

/* Reference MXFP4 quantization (gguf-py):
 *   amax = max |x|
 *   e    = u8(floor(log2(amax)) - 2 + 127), or 0 when amax == 0 (or NaN)
 *          (the scale is 2^(floor(log2(amax)) - 2), so the largest level,
 *          6 = 1.5 * 2^2, becomes 1.5 * 2^floor(log2(amax)): amax itself may
 *          lie up to a third above it and is clipped. The u8 cast wraps for
 *          amax < 2^-125, as the reference's does)
 *   d    = 2^(e - 128) (half scale, matching the doubled table)
 *   q[j] = the first code k minimizing |d * kvalues[k] - x[j]| in float32
 *          (numpy argmin: ties go to the lower code). */
void brisk_quantize_mxfp4(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 17, src += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) {
            float a = fabsf(src[j]);
            if (isnan(a)) {
                amax = a;
                break;
            }
            if (a > amax) amax = a;
        }
        const uint8_t e = amax > 0.0f ? np_f32_to_u8(floor_log2_f32(amax) - 2.0f + 127.0f) : 0;
        const float d = qb_e8m0_half(e);

        /* d * kvalue is exact, so the error is the exact difference rounded
         * once to float32, as in numpy. Errors are NaN only when x[j] is NaN,
         * and then all 16 are: argmin gives code 0, and so does this loop. */
        uint8_t q[QK];
        for (int j = 0; j < QK; j++) {
            int best = 0;
            float best_err = fabsf(d * (float)qb_kvalues_mxfp4[0] - src[j]);
            for (int k = 1; k < 16; k++) {
                const float err = fabsf(d * (float)qb_kvalues_mxfp4[k] - src[j]);
                if (err < best_err) { /* strict: the first of equal errors wins */
                    best = k;
                    best_err = err;
                }
            }
            q[j] = (uint8_t)best;
        }
        b[0] = e;
        for (int j = 0; j < QK / 2; j++) b[1 + j] = (uint8_t)(q[j] | q[j + QK / 2] << 4);
    }
}
