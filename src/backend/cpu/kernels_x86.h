/* x86 helpers shared by the AVX2 and AVX-512 kernel files (both are compiled
 * with at least -mavx2 -mfma -mf16c). */
#ifndef BRISK_CPU_KERNELS_X86_H
#define BRISK_CPU_KERNELS_X86_H

#include <immintrin.h>

/* Q4_K / Q5_K: the eight 6-bit scales and mins of the 12-byte field at s
 * (the same unpacking as qb_scale_min_k4, in one register): bytes 0..7 of
 * the result are the scales, bytes 8..15 the mins. Reads 16 bytes at s
 * (the 4 after the field are the block's next bytes, unused). Words w0, w1,
 * w2 of the field: scales 0..3 = w0 & 0x3f.., mins 0..3 = w1 & 0x3f..,
 * scales 4..7 = (w2 & 0x0f..) | (w0 >> 2 & 0x30..), mins 4..7 =
 * (w2 >> 4 & 0x0f..) | (w1 >> 2 & 0x30..). */
static inline __m128i x86_scale_min_k4(const uint8_t *s) {
    const __m128i v = _mm_loadu_si128((const __m128i *)s);
    const __m128i low = _mm_and_si128(v, _mm_set1_epi32(0x3F3F3F3F));             /* sc0-3, mn0-3 */
    const __m128i w2 = _mm_srlv_epi32(_mm_shuffle_epi32(v, 0xAA), _mm_setr_epi32(0, 4, 0, 0));
    const __m128i high = _mm_or_si128(_mm_and_si128(w2, _mm_set1_epi32(0x0F0F0F0F)),
                                      _mm_and_si128(_mm_srli_epi32(v, 2), _mm_set1_epi32(0x30303030)));
    return _mm_unpacklo_epi32(low, high); /* sc0-3, sc4-7, mn0-3, mn4-7 */
}

/* The 8 mins (bytes 8..15 of x86_scale_min_k4) per 16-element group: each twice. */
static inline __m128i x86_mins_per_group(__m128i scale_min) {
    return _mm_shuffle_epi8(scale_min, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15));
}

#endif
