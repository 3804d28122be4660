/* IEEE half and bfloat16 <-> float conversions, bit-exact with numpy
 * (round to nearest even; NaN stays NaN; subnormals handled). */
#ifndef BRISK_BASE_FP16_H
#define BRISK_BASE_FP16_H

#include <stdint.h>
#include <string.h>

static inline uint32_t brisk_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float brisk_f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Without branches, so that loops over rows vectorize: the 15 exponent and
 * mantissa bits moved to f32's places are the value times 2^-112 (exactly,
 * subnormals included), and an all-ones half exponent (inf / nan, payload
 * kept) sets every f32 exponent bit. */
static inline float brisk_fp16_to_f32(uint16_t h) {
    uint32_t em = h & 0x7fffu;
    uint32_t bits = brisk_f32_bits(brisk_f32_from_bits(em << 13) * 0x1p112f);
    bits |= em >= 0x7c00u ? 0x7f800000u : 0u;
    return brisk_f32_from_bits(bits | (uint32_t)(h & 0x8000u) << 16);
}

static inline uint16_t brisk_f32_to_fp16(float f) {
    uint32_t x = brisk_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* nan: quiet, keep top payload bits */
        return sign | 0x7e00 | (uint16_t)((ax >> 13) & 0x3ff);
    if (ax >= 0x477ff000u) /* rounds to >= 65520: inf */
        return sign | 0x7c00;
    if (ax < 0x38800000u) { /* result is subnormal or zero */
        if (ax < 0x33000000u) return sign; /* < 2^-25 rounds to 0 (2^-25 itself ties to 0) */
        uint32_t e = ax >> 23;               /* 102..112 */
        uint32_t m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;            /* 14..24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    /* normal: rebias and round the low 13 bits to nearest even */
    uint32_t r = ax + 0x0fff + ((ax >> 13) & 1);
    return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

/* An f16 stored at p (any alignment, little-endian) as f32. */
static inline float brisk_load_fp16(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return brisk_fp16_to_f32(h);
}

static inline float brisk_bf16_to_f32(uint16_t h) { return brisk_f32_from_bits((uint32_t)h << 16); }

/* As gguf-py: NaN becomes a quiet NaN, everything else rounds to nearest even. */
static inline uint16_t brisk_f32_to_bf16(float f) {
    uint32_t x = brisk_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)(((uint64_t)x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

#endif
