/* Field decoders shared by the reference dequantizers (src/quant) and the CPU
 * kernels (src/backend/cpu): one definition of each block field's encoding.
 * Block layouts are documented where each format is (legacy.c,
 * kquant_dequant.c, nonlinear.c). */
#ifndef BRISK_QUANT_BLOCK_FIELDS_H
#define BRISK_QUANT_BLOCK_FIELDS_H

#include <stdint.h>

#include "base/fp16.h"

/* IQ4_NL / IQ4_XS: the 16 non-linear levels a 4-bit code stands for. */
static const int8_t qb_kvalues_iq4nl[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

/* MXFP4: E2M1 values times two. Codes 0..7 are +0, 0.5, 1, 1.5, 2, 3, 4, 6
 * and codes 8..15 the same with the sign bit set (code 8 is -0, stored as 0);
 * the doubling is undone by qb_e8m0_half. */
static const int8_t qb_kvalues_mxfp4[16] = {
    0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12,
};

/* Half of the E8M0 scale 2^(e - 127), i.e. 2^(e - 128), built from its bits:
 * a normal float for e >= 2, the subnormals 2^-128 and 2^-127 for e = 0, 1.
 * e = 255 (NaN in E8M0) is read as 2^127, as ggml and gguf-py do. */
static inline float qb_e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    return brisk_f32_from_bits(bits);
}

/* Element j of 16 bytes of 4-bit codes (low nibbles 0..15, high 16..31). */
static inline int qb_nibble(const uint8_t *qs, int j) { return j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4); }

/* The 12-byte scale field shared by Q4_K and Q5_K: eight 6-bit scales sc[j]
 * and eight 6-bit mins m[j], one pair per 32-element sub-block.
 *   bytes 0..3 : sc[0..3] in bits 0-5, bits 6-7 = bits 4-5 of sc[4..7]
 *   bytes 4..7 : m[0..3]  in bits 0-5, bits 6-7 = bits 4-5 of m[4..7]
 *   bytes 8..11: low nibble = bits 0-3 of sc[4..7], high nibble = bits 0-3 of m[4..7] */
static inline void qb_scale_min_k4(const uint8_t *s, uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30));
        m[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30));
    }
}

#endif
