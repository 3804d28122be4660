/* AVX-512 kernels (F + BW + VL; compiled with -mavx512f -mavx512bw -mavx512vl
 * and chosen at run time only when the CPU has them). This file is compiled
 * twice: as the "avx512" table, and by kernels_avx512vnni.c with
 * BRISK_AVX512_VNNI defined as the "avx512vnni" table, where the 16-bit
 * multiply-add-accumulate is one vpdpwssd instead of vpmaddwd + vpaddd.
 *
 * Same math as kernels_generic.c: weight quants (times their K-quant
 * sub-block scale) widened to 16 bits, dotted with the 16-bit activations
 * (kernels.h) in i32 lanes, scaled in f32 per block; the K-quant panel
 * kernels keep the weights as bytes and dot them with the activations' lo/hi
 * byte planes (vpdpbusd with VNNI, vpmaddubsw + vpmaddwd without). Here: the
 * row kernels that measured faster than the AVX2 ones (Q4_K, Q5_K: ~12% on
 * Zen 4; the 32-element formats were not), the panel kernels, and the
 * activation quantizers; the other row kernels come from AVX2. */
#include "backend/cpu/kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__FMA__) && \
    defined(__F16C__) && (!defined(BRISK_AVX512_VNNI) || defined(__AVX512VNNI__))
#include <immintrin.h>

#include "backend/cpu/kernels_common.h"
#include "backend/cpu/kernels_x86.h"

#define INLINE static inline __attribute__((always_inline))

/* acc += pairwise sums of a * b (i16 x i16 -> i32). */
INLINE __m512i madd_acc(__m512i acc, __m512i a, __m512i b) {
#if defined(BRISK_AVX512_VNNI)
    return _mm512_dpwssd_epi32(acc, a, b);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
#endif
}

INLINE float f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

INLINE __m512i load_q(const int16_t *q) { return _mm512_loadu_si512((const void *)q); }

/* 32 bytes -> 32 x i16, zero- or sign-extended. */
INLINE __m512i u8x32(const uint8_t *p) { return _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p)); }
INLINE __m512i s8x32(const uint8_t *p) { return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)p)); }

/* ---- activation quantization (bit-identical to the reference) ------------ */

INLINE float absmax(const float *x, int n) {
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    return _mm512_reduce_max_ps(m);
}

/* 16 floats -> 16 x i16 at q; returns their sum. */
INLINE int32_t quant16(const float *x, __m512 id, int16_t *q) {
    const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), id));
    _mm256_storeu_si256((__m256i *)q, _mm512_cvtsepi32_epi16(v));
    return _mm512_reduce_add_epi32(v);
}

static void quant_q16_32(const float *x, void *dst, int64_t n) {
    act_q16_32 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float d = absmax(x, 32) / (float)CPU_ACT_QMAX;
        const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        const int32_t sum = quant16(x, id, b[i].q) + quant16(x + 16, id, b[i].q + 16);
        b[i].d = d;
        b[i].s = d * (float)sum;
    }
}

static void quant_q16_256(const float *x, void *dst, int64_t n) {
    act_q16_256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        const float d = absmax(x, 256) / (float)CPU_ACT_QMAX;
        const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        b[i].d = d;
        for (int g = 0; g < 16; g++) b[i].ssum[g] = d * (float)quant16(x + 16 * g, id, b[i].q + 16 * g);
        for (int k = 0; k < 256; k += 32) { /* act_q16_256_split */
            const __m512i q = load_q(b[i].q + k);
            _mm256_storeu_si256((__m256i *)(b[i].lo + k), _mm512_cvtepi16_epi8(q));
            _mm256_storeu_si256((__m256i *)(b[i].hi + k), _mm512_cvtepi16_epi8(_mm512_srai_epi16(q, 8)));
        }
    }
}

/* ---- K-quants: 256-element super-blocks -------------------------------------
 * Per super-block and column, isum = sum(q * sc * a) in i32 lanes, then
 * acc += f32(isum) * d * d_a; mins from the activation group sums. i32 bounds
 * per lane (16 products per 256 elements, |a| <= 32767): Q4_K 16 x 945 x a,
 * Q5_K 16 x 1953 x a < 2^31. */

#define ACT32(c, i) ((const act_q16_32 *)((const char *)act + (c) * as) + (i))
#define ACT256(c, i) ((const act_q16_256 *)((const char *)act + (c) * as) + (i))

/* Q4_K (hb = 0) and Q5_K (hb = 1): 32 bytes of qs per 64 elements: low
 * nibbles = sub-block 2k, high = 2k+1; Q5_K's fifth bit of element 32j + l is
 * bit j of qh[l]. value = d * sc[j] * q - dmin * m[j]. */
INLINE void body_q45_k(int64_t n, const void *wrow, const void *act, size_t as, float *o, size_t os, const int nc,
                       const int hb) {
    __m512 acc[4], accm[4];
    for (int c = 0; c < nc; c++) acc[c] = accm[c] = _mm512_setzero_ps();
    const uint8_t *b = wrow;
    const __m512i m4 = _mm512_set1_epi16(0x0F), one = _mm512_set1_epi16(1);
    for (int64_t i = 0; i < n / 256; i++, b += hb ? 176 : 144) {
        const float d = f16(b), dmin = f16(b + 2);
        const __m128i scale_min = x86_scale_min_k4(b + 4);
        int16_t sc[8]; /* one 16-byte store; the broadcasts below load from it */
        _mm_storeu_si128((__m128i *)sc, _mm_cvtepu8_epi16(scale_min));
        const uint8_t *qs = b + (hb ? 48 : 16);
        const __m512i qh = hb ? u8x32(b + 16) : _mm512_setzero_si512();
        __m512i isum[4], isum2[4]; /* two chains per column: vpdpwssd's latency */
        for (int c = 0; c < nc; c++) isum[c] = isum2[c] = _mm512_setzero_si512();
        for (int k = 0; k < 4; k++) {
            const __m512i v = u8x32(qs + 32 * k);
            __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_srli_epi16(v, 4);
            if (hb) {
                lo = _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh, 2 * k), one), 4));
                hi = _mm512_or_si512(hi, _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh, 2 * k + 1), one), 4));
            }
            lo = _mm512_mullo_epi16(lo, _mm512_set1_epi16(sc[2 * k]));
            hi = _mm512_mullo_epi16(hi, _mm512_set1_epi16(sc[2 * k + 1]));
            for (int c = 0; c < nc; c++) {
                const act_q16_256 *ab = ACT256(c, i);
                isum[c] = madd_acc(isum[c], lo, load_q(ab->q + 64 * k));
                isum2[c] = madd_acc(isum2[c], hi, load_q(ab->q + 64 * k + 32));
            }
        }
        const __m128i mn16 = x86_mins_per_group(scale_min);
        const __m512 mins = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mn16)), _mm512_set1_ps(dmin));
        for (int c = 0; c < nc; c++) {
            const act_q16_256 *ab = ACT256(c, i);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(isum[c], isum2[c])), _mm512_set1_ps(d * ab->d), acc[c]);
            accm[c] = _mm512_fmadd_ps(mins, _mm512_loadu_ps(ab->ssum), accm[c]);
        }
    }
    for (int c = 0; c < nc; c++) o[c * os] = _mm512_reduce_add_ps(_mm512_sub_ps(acc[c], accm[c]));
}
INLINE void body_q4_k(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) {
    body_q45_k(n, w, a, as, o, os, nc, 0);
}
INLINE void body_q5_k(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) {
    body_q45_k(n, w, a, as, o, os, nc, 1);
}
KC_SPECIALIZE_NC(dot_q4_k, body_q4_k)
KC_SPECIALIZE_NC(dot_q5_k, body_q5_k)

/* ---- panels (panels.c): 16 rows at once, i32 / f32 lane r = row r ---------
 * Q8_0 and the 32-element formats: a 32-byte chunk widened to 32 x i16 holds
 * one element pair of each of the 16 rows; vpdpwssd with the broadcast
 * activation pair accumulates all 16 rows. K-quants: a 64-byte vector holds
 * 4 elements of each row as bytes; u8 x s8 dot products with the activation
 * quads of the lo and hi planes (q = 256 hi + lo) accumulate all 16 rows.
 * Sub-block scales are 16-lane vectors applied once per sub-block. */

/* The activation pair q[0], q[1] in every i32 lane. */
INLINE __m512i pair(const int16_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm512_set1_epi32(v);
}
/* The 4 bytes at p in every i32 lane. */
INLINE __m512i quad(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}
/* acc += per-lane sums of 4 products u8(u) x s8(s) (no product pair may
 * exceed the i16 range without VNNI: the panel kernels' stay under 2^15). */
INLINE __m512i dot_u8s8(__m512i acc, __m512i u, __m512i s) {
#if defined(BRISK_AVX512_VNNI)
    return _mm512_dpbusd_epi32(acc, u, s);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}
/* w . a over 4 elements per lane, a = the quads at element e of ab's planes:
 * acc_lo += lo(a) . w, acc_hi += w . hi(a); w is 0..63. */
#define DOT4(acc_lo, acc_hi, w, ab, e)                          \
    do {                                                        \
        acc_lo = dot_u8s8(acc_lo, quad((ab)->lo + (e)), w);     \
        acc_hi = dot_u8s8(acc_hi, w, quad((ab)->hi + (e)));     \
    } while (0)
/* The full sum from the two plane sums. */
INLINE __m512i planes_sum(__m512i lo, __m512i hi) { return _mm512_add_epi32(_mm512_slli_epi32(hi, 8), lo); }

/* (c ? a : b) per bit: the low nibble from a, the bits above from b. */
INLINE __m512i nibble_or(__m512i a, __m512i b, __m512i low_mask) { return _mm512_ternarylogic_epi32(a, b, low_mask, 0xE4); }

INLINE __m512 f16x16(const uint8_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
INLINE __m512 u8x16_ps(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)));
}
INLINE __m512 s8x16_ps(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/* for (c = 0; c < nc; c++) over a pair's columns (nc <= 2), unrolled, so
 * that per-column accumulator arrays stay in registers. */
#define COLUMNS(c) _Pragma("GCC unroll 2") for (int c = 0; c < nc; c++)

/* Q4_K panel: vector m's low nibbles are elements 4m..4m+3 (sub-block m / 8),
 * its high nibbles elements 128+4m.. (sub-block 4 + m / 8). Per sub-block and
 * lane: |lo| <= 32 x 255 x 15, |hi| <= 32 x 128 x 15, sum < 2^24.
 * The 8 vectors of sub-blocks j, 4 + j are one fully unrolled pass, even and
 * odd vectors into separate accumulators (8 chains of 4 dependent dot
 * products per column instead of 4 of 8: the dot's latency hid behind them). */
INLINE void panel_body_q4_k(int64_t n, const void *panel, const void *act, size_t as, float *o, size_t os, const int nc) {
    __m512 acc[2];
    COLUMNS(c) acc[c] = _mm512_setzero_ps();
    const uint8_t *p = panel;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / 256; i++, p += CPU_PANEL_Q4_K_BYTES) {
        /* per column: blk = sum_j sc_j * isum_j, mins = sum_j mn_j * ssum_j;
         * d and dmin (per row) are applied once per super-block */
        __m512 blk[2], mins[2];
        COLUMNS(c) blk[c] = mins[c] = _mm512_setzero_ps();
        for (int j = 0; j < 4; j++) {
            const uint8_t *v = p + CPU_PANEL_Q4_K_VEC(8 * j); /* vectors 8j..8j+7, 64 bytes apart */
            __m512i Llo[2][2], Lhi[2][2], Hlo[2][2], Hhi[2][2]; /* [column][vector parity]: sub-blocks j, 4 + j */
            COLUMNS(c) for (int e = 0; e < 2; e++) Llo[c][e] = Lhi[c][e] = Hlo[c][e] = Hhi[c][e] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int u = 0; u < 8; u++) {
                const __m512i w = _mm512_loadu_si512(v + 64 * u);
                const __m512i l = _mm512_and_si512(w, m4), h = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
                const int e = u & 1, m = 8 * j + u;
                COLUMNS(c) {
                    const act_q16_256 *ab = ACT256(c, i);
                    DOT4(Llo[c][e], Lhi[c][e], l, ab, 4 * m);
                    DOT4(Hlo[c][e], Hhi[c][e], h, ab, 128 + 4 * m);
                }
            }
            const uint8_t *scales = p + CPU_PANEL_Q4_K_PAIR(j);
            const __m512 sl = u8x16_ps(scales), sh = u8x16_ps(scales + 16);
            const __m512 ml = u8x16_ps(scales + 32), mh = u8x16_ps(scales + 48);
            COLUMNS(c) {
                const act_q16_256 *ab = ACT256(c, i);
                const __m512i L = planes_sum(_mm512_add_epi32(Llo[c][0], Llo[c][1]), _mm512_add_epi32(Lhi[c][0], Lhi[c][1]));
                const __m512i H = planes_sum(_mm512_add_epi32(Hlo[c][0], Hlo[c][1]), _mm512_add_epi32(Hhi[c][0], Hhi[c][1]));
                blk[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(L), sl, blk[c]);
                blk[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(H), sh, blk[c]);
                mins[c] = _mm512_fmadd_ps(ml, _mm512_set1_ps(ab->ssum[2 * j] + ab->ssum[2 * j + 1]), mins[c]);
                mins[c] = _mm512_fmadd_ps(mh, _mm512_set1_ps(ab->ssum[8 + 2 * j] + ab->ssum[9 + 2 * j]), mins[c]);
            }
        }
        const __m512 d = f16x16(p), dmin = f16x16(p + 32);
        COLUMNS(c) {
            const __m512 dd = _mm512_mul_ps(d, _mm512_set1_ps(ACT256(c, i)->d));
            acc[c] = _mm512_fnmadd_ps(mins[c], dmin, _mm512_fmadd_ps(blk[c], dd, acc[c]));
        }
    }
    COLUMNS(c) _mm512_storeu_ps(o + c * os, acc[c]);
}
/* Many columns run as pairs here too: a wide variant like Q6_K's (weights in
 * registers, every column) measured ~6% slower (64 tokens, one core). */
KC_SPECIALIZE_PAIRS(panel_q4_k, panel_body_q4_k)

/* Q6_K panel: q in 0..63 (low 4 bits from vector m, high 2 from the high-bit
 * vector of m's pair), value = d * sc[g] * (q - 32) = d * sc[g] * q - 32 d sc[g];
 * per group g: d * sc[g] * (d_a * isum_g - 32 * ssum_g). Vectors 4g..4g+3
 * hold groups g (low nibbles) and 8 + g (high nibbles). Per group and lane:
 * |lo| <= 16 x 255 x 63, |hi| <= 16 x 128 x 63, sum < 2^26. */
INLINE void panel_body_q6_k(int64_t n, const void *panel, const void *act, size_t as, float *o, size_t os, const int nc) {
    __m512 acc[2];
    COLUMNS(c) acc[c] = _mm512_setzero_ps();
    const uint8_t *p = panel;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int64_t i = 0; i < n / 256; i++, p += CPU_PANEL_Q6_K_BYTES) {
        __m512 blk[2]; /* sum_g sc[g] * (d_a isum_g - 32 ssum_g); d once per super-block */
        COLUMNS(c) blk[c] = _mm512_setzero_ps();
        for (int g = 0; g < 8; g++) {
            const uint8_t *hv = p + CPU_PANEL_Q6_K_HIGH(4 * g); /* per vector pair k: high bits, vector, vector */
            __m512i Glo[2], Ghi[2], Klo[2], Khi[2]; /* [column]: groups g, 8 + g */
            COLUMNS(c) Glo[c] = Ghi[c] = Klo[c] = Khi[c] = _mm512_setzero_si512();
#pragma GCC unroll 2
            for (int k = 0; k < 2; k++) {
                const int m = 4 * g + 2 * k;
                const __m512i hb = _mm512_loadu_si512(hv + 192 * k);
                const __m512i v0 = _mm512_loadu_si512(hv + 192 * k + 64);
                const __m512i v1 = _mm512_loadu_si512(hv + 192 * k + 128);
                const __m512i wa = nibble_or(v0, _mm512_and_si512(_mm512_slli_epi16(hb, 4), m30), m4);
                const __m512i wb = nibble_or(_mm512_srli_epi16(v0, 4), _mm512_and_si512(_mm512_slli_epi16(hb, 2), m30), m4);
                const __m512i wc = nibble_or(v1, _mm512_and_si512(hb, m30), m4);
                const __m512i wd = nibble_or(_mm512_srli_epi16(v1, 4), _mm512_and_si512(_mm512_srli_epi16(hb, 2), m30), m4);
                COLUMNS(c) {
                    const act_q16_256 *ab = ACT256(c, i);
                    DOT4(Glo[c], Ghi[c], wa, ab, 4 * m);
                    DOT4(Klo[c], Khi[c], wb, ab, 128 + 4 * m);
                    DOT4(Glo[c], Ghi[c], wc, ab, 4 * m + 4);
                    DOT4(Klo[c], Khi[c], wd, ab, 132 + 4 * m);
                }
            }
            const __m512 sl = s8x16_ps(p + CPU_PANEL_Q6_K_PAIR(g)), sh = s8x16_ps(p + CPU_PANEL_Q6_K_PAIR(g) + 16);
            COLUMNS(c) {
                const act_q16_256 *ab = ACT256(c, i);
                const __m512i G = planes_sum(Glo[c], Ghi[c]), K = planes_sum(Klo[c], Khi[c]);
                const __m512 da = _mm512_set1_ps(ab->d);
                const __m512 tl = _mm512_fmsub_ps(_mm512_cvtepi32_ps(G), da, _mm512_set1_ps(32.0f * ab->ssum[g]));
                const __m512 th = _mm512_fmsub_ps(_mm512_cvtepi32_ps(K), da, _mm512_set1_ps(32.0f * ab->ssum[8 + g]));
                blk[c] = _mm512_fmadd_ps(th, sh, _mm512_fmadd_ps(tl, sl, blk[c]));
            }
        }
        const __m512 d = f16x16(p);
        COLUMNS(c) acc[c] = _mm512_fmadd_ps(blk[c], d, acc[c]);
    }
    COLUMNS(c) _mm512_storeu_ps(o + c * os, acc[c]);
}
KC_SPECIALIZE_PAIRS(panel_q6_k_narrow, panel_body_q6_k)

/* Many columns (see panel_q8_0_wide): group pair g's 8 weight vectors stay in
 * registers while every column passes by; the same integer sums and f32
 * steps as the narrow kernel (bit-identical). 64 tokens, one core: +16%. */
static __attribute__((noinline)) void q6_k_pair_wide(const uint8_t *p, const void *act, size_t as, int64_t i, int g,
                                                     int nc, __m512 *blk) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    __m512i W[8]; /* per m pair t: elements 4m.. (group g), 128+4m.. (8+g), 4m+4.. (g), 132+4m.. (8+g) */
    for (int t = 0; t < 2; t++) {
        const int m = 4 * g + 2 * t;
        const __m512i hb = _mm512_loadu_si512(p + CPU_PANEL_Q6_K_HIGH(m));
        const __m512i v0 = _mm512_loadu_si512(p + CPU_PANEL_Q6_K_VEC(m));
        const __m512i v1 = _mm512_loadu_si512(p + CPU_PANEL_Q6_K_VEC(m + 1));
        W[4 * t] = nibble_or(v0, _mm512_and_si512(_mm512_slli_epi16(hb, 4), m30), m4);
        W[4 * t + 1] = nibble_or(_mm512_srli_epi16(v0, 4), _mm512_and_si512(_mm512_slli_epi16(hb, 2), m30), m4);
        W[4 * t + 2] = nibble_or(v1, _mm512_and_si512(hb, m30), m4);
        W[4 * t + 3] = nibble_or(_mm512_srli_epi16(v1, 4), _mm512_and_si512(_mm512_srli_epi16(hb, 2), m30), m4);
    }
    const __m512 sl = s8x16_ps(p + CPU_PANEL_Q6_K_PAIR(g)), sh = s8x16_ps(p + CPU_PANEL_Q6_K_PAIR(g) + 16);
    for (int c = 0; c < nc; c++) {
        const act_q16_256 *ab = ACT256(c, i);
        __m512i Glo = _mm512_setzero_si512(), Ghi = Glo, Klo = Glo, Khi = Glo;
        for (int t = 0; t < 2; t++) {
            const int m = 4 * g + 2 * t;
            DOT4(Glo, Ghi, W[4 * t], ab, 4 * m);
            DOT4(Klo, Khi, W[4 * t + 1], ab, 128 + 4 * m);
            DOT4(Glo, Ghi, W[4 * t + 2], ab, 4 * m + 4);
            DOT4(Klo, Khi, W[4 * t + 3], ab, 132 + 4 * m);
        }
        const __m512 da = _mm512_set1_ps(ab->d);
        const __m512 tl = _mm512_fmsub_ps(_mm512_cvtepi32_ps(planes_sum(Glo, Ghi)), da, _mm512_set1_ps(32.0f * ab->ssum[g]));
        const __m512 th = _mm512_fmsub_ps(_mm512_cvtepi32_ps(planes_sum(Klo, Khi)), da, _mm512_set1_ps(32.0f * ab->ssum[8 + g]));
        blk[c] = _mm512_fmadd_ps(th, sh, _mm512_fmadd_ps(tl, sl, blk[c]));
    }
}

static void panel_q6_k(int64_t n, const void *panel, const void *act, size_t as, int nc, float *o, size_t os) {
    if (nc <= 4) {
        panel_q6_k_narrow(n, panel, act, as, nc, o, os);
        return;
    }
    __m512 acc[CPU_PANEL_MAX_COLS], blk[CPU_PANEL_MAX_COLS];
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    const uint8_t *p = panel;
    for (int64_t i = 0; i < n / 256; i++, p += CPU_PANEL_Q6_K_BYTES) {
        for (int c = 0; c < nc; c++) blk[c] = _mm512_setzero_ps();
        for (int g = 0; g < 8; g++) q6_k_pair_wide(p, act, as, i, g, nc, blk);
        const __m512 d = f16x16(p);
        for (int c = 0; c < nc; c++) acc[c] = _mm512_fmadd_ps(blk[c], d, acc[c]);
    }
    for (int c = 0; c < nc; c++) _mm512_storeu_ps(o + c * os, acc[c]);
}

/* Q8_0 panel: 16 chunks of one element pair per row, then d[r] * d_a. */
INLINE void panel_body_q8_0(int64_t n, const void *panel, const void *act, size_t as, float *o, size_t os, const int nc) {
    __m512 acc[4];
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    const uint8_t *p = panel;
    for (int64_t i = 0; i < n / 32; i++, p += CPU_PANEL_Q8_0_BYTES) {
        __m512i S[2][4];
        for (int c = 0; c < nc; c++) S[0][c] = S[1][c] = _mm512_setzero_si512();
        for (int ch = 0; ch < 16; ch += 2) {
            const __m512i w0 = s8x32(p + CPU_PANEL_Q8_0_CHUNK(ch)), w1 = s8x32(p + CPU_PANEL_Q8_0_CHUNK(ch + 1));
            for (int c = 0; c < nc; c++) {
                const int16_t *q = ACT32(c, i)->q;
                S[0][c] = madd_acc(S[0][c], w0, pair(q + 2 * ch));
                S[1][c] = madd_acc(S[1][c], w1, pair(q + 2 * ch + 2));
            }
        }
        const __m512 d = f16x16(p);
        for (int c = 0; c < nc; c++) {
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(S[0][c], S[1][c])),
                                     _mm512_mul_ps(d, _mm512_set1_ps(ACT32(c, i)->d)), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) _mm512_storeu_ps(o + c * os, acc[c]);
}
KC_SPECIALIZE_NC(panel_q8_0_narrow, panel_body_q8_0)

/* Many columns (a batch of tokens): a block's 16 widened weight vectors stay
 * in registers while every column's activations pass by, so the weights are
 * decoded once per block instead of once per 4 columns. The integer sums and
 * the f32 steps per block are those of the narrow kernel (bit-identical).
 * One block per call: inlined into the block loop, gcc's unroll-and-jam
 * decoded two blocks at once and spilled the weights. */
static __attribute__((noinline)) void q8_0_block_wide(const uint8_t *p, const void *act, size_t as, int64_t i, int nc,
                                                      __m512 *acc) {
    __m512i W[16];
    for (int ch = 0; ch < 16; ch++) W[ch] = s8x32(p + CPU_PANEL_Q8_0_CHUNK(ch));
    const __m512 d = f16x16(p);
    for (int c = 0; c < nc; c++) {
        const int16_t *q = ACT32(c, i)->q;
        __m512i S0 = _mm512_setzero_si512(), S1 = _mm512_setzero_si512();
        for (int ch = 0; ch < 16; ch += 2) {
            S0 = madd_acc(S0, W[ch], pair(q + 2 * ch));
            S1 = madd_acc(S1, W[ch + 1], pair(q + 2 * ch + 2));
        }
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(S0, S1)),
                                 _mm512_mul_ps(d, _mm512_set1_ps(ACT32(c, i)->d)), acc[c]);
    }
}

static void panel_q8_0_wide(int64_t n, const void *panel, const void *act, size_t as, int nc, float *o, size_t os) {
    __m512 acc[CPU_PANEL_MAX_COLS];
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++)
        q8_0_block_wide((const uint8_t *)panel + i * CPU_PANEL_Q8_0_BYTES, act, as, i, nc, acc);
    for (int c = 0; c < nc; c++) _mm512_storeu_ps(o + c * os, acc[c]);
}

static void panel_q8_0(int64_t n, const void *panel, const void *act, size_t as, int nc, float *o, size_t os) {
    if (nc <= 4) panel_q8_0_narrow(n, panel, act, as, nc, o, os);
    else panel_q8_0_wide(n, panel, act, as, nc, o, os);
}

/* Q4_0, Q4_1, Q5_0, Q5_1 panels: q unsigned (4 or 5 bits), value = d * q + m
 * (m = -8d, -16d for the _0 types), so per block and column
 * acc += f32(isum) * d * d_a + m * s_a. i32 bound: 16 x 31 x a per lane. */
INLINE void panel_body_legacy(int64_t n, const void *panel, const void *act, size_t as, float *o, size_t os,
                              const int nc, const int q5, const int has_min) {
    __m512 acc[4];
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    const uint8_t *p = panel;
    const __m512i m4 = _mm512_set1_epi16(0x0F), one = _mm512_set1_epi16(1);
    for (int64_t i = 0; i < n / 32; i++, p += CPU_PANEL_LEGACY_BYTES(q5, has_min)) {
        const __m512 d = f16x16(p);
        const __m512 m = has_min ? f16x16(p + 32) : _mm512_mul_ps(d, _mm512_set1_ps(q5 ? -16.0f : -8.0f));
        const uint8_t *hi = p + 32 + 32 * has_min, *chunks = hi + 64 * q5;
        __m512i S[2][4];
        for (int c = 0; c < nc; c++) S[0][c] = S[1][c] = _mm512_setzero_si512();
        for (int ch = 0; ch < 8; ch++) {
            const __m512i v = u8x32(chunks + 32 * ch);
            __m512i lo = _mm512_and_si512(v, m4), up = _mm512_srli_epi16(v, 4);
            if (q5) {
                const __m512i h = _mm512_srli_epi16(u8x32(hi + 32 * (ch / 4)), 2 * (ch % 4));
                lo = _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(h, one), 4));
                up = _mm512_or_si512(up, _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 1), one), 4));
            }
            for (int c = 0; c < nc; c++) {
                const int16_t *q = ACT32(c, i)->q;
                S[0][c] = madd_acc(S[0][c], lo, pair(q + 2 * ch));
                S[1][c] = madd_acc(S[1][c], up, pair(q + 16 + 2 * ch));
            }
        }
        for (int c = 0; c < nc; c++) {
            const act_q16_32 *ab = ACT32(c, i);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(S[0][c], S[1][c])),
                                     _mm512_mul_ps(d, _mm512_set1_ps(ab->d)), acc[c]);
            acc[c] = _mm512_fmadd_ps(m, _mm512_set1_ps(ab->s), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) _mm512_storeu_ps(o + c * os, acc[c]);
}
/* The legacy panels over many columns (see panel_q8_0_wide): a block's 8
 * chunks widened to 16 weight vectors in registers, then every column. */
INLINE void legacy_block_wide(const uint8_t *p, const void *act, size_t as, int64_t i, int nc, __m512 *acc,
                              const int q5, const int has_min) {
    const __m512i m4 = _mm512_set1_epi16(0x0F), one = _mm512_set1_epi16(1);
    const __m512 d = f16x16(p);
    const __m512 m = has_min ? f16x16(p + 32) : _mm512_mul_ps(d, _mm512_set1_ps(q5 ? -16.0f : -8.0f));
    const uint8_t *hi = p + 32 + 32 * has_min, *chunks = hi + 64 * q5;
    __m512i lo[8], up[8];
    for (int ch = 0; ch < 8; ch++) {
        const __m512i v = u8x32(chunks + 32 * ch);
        lo[ch] = _mm512_and_si512(v, m4);
        up[ch] = _mm512_srli_epi16(v, 4);
        if (q5) {
            const __m512i h = _mm512_srli_epi16(u8x32(hi + 32 * (ch / 4)), 2 * (ch % 4));
            lo[ch] = _mm512_or_si512(lo[ch], _mm512_slli_epi16(_mm512_and_si512(h, one), 4));
            up[ch] = _mm512_or_si512(up[ch], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 1), one), 4));
        }
    }
    for (int c = 0; c < nc; c++) {
        const act_q16_32 *ab = ACT32(c, i);
        __m512i S0 = _mm512_setzero_si512(), S1 = _mm512_setzero_si512();
        for (int ch = 0; ch < 8; ch++) {
            S0 = madd_acc(S0, lo[ch], pair(ab->q + 2 * ch));
            S1 = madd_acc(S1, up[ch], pair(ab->q + 16 + 2 * ch));
        }
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(S0, S1)),
                                 _mm512_mul_ps(d, _mm512_set1_ps(ab->d)), acc[c]);
        acc[c] = _mm512_fmadd_ps(m, _mm512_set1_ps(ab->s), acc[c]);
    }
}
#define LEGACY_PANEL(name, q5, has_min)                                                               \
    INLINE void panel_body_##name(int64_t n, const void *w, const void *a, size_t as, float *o, size_t os, const int nc) { \
        panel_body_legacy(n, w, a, as, o, os, nc, q5, has_min);                                       \
    }                                                                                                 \
    KC_SPECIALIZE_NC(panel_##name##_narrow, panel_body_##name)                                        \
    static __attribute__((noinline)) void block_wide_##name(const uint8_t *p, const void *a, size_t as, int64_t i, \
                                                            int nc, __m512 *acc) {                    \
        legacy_block_wide(p, a, as, i, nc, acc, q5, has_min);                                         \
    }                                                                                                 \
    static void panel_##name(int64_t n, const void *w, const void *a, size_t as, int nc, float *o, size_t os) { \
        if (nc <= 4) { panel_##name##_narrow(n, w, a, as, nc, o, os); return; }                       \
        __m512 acc[CPU_PANEL_MAX_COLS];                                                               \
        for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();                                    \
        for (int64_t i = 0; i < n / 32; i++)                                                          \
            block_wide_##name((const uint8_t *)w + i * CPU_PANEL_LEGACY_BYTES(q5, has_min), a, as, i, nc, acc); \
        for (int c = 0; c < nc; c++) _mm512_storeu_ps(o + c * os, acc[c]);                            \
    }
LEGACY_PANEL(q4_0, 0, 0)
LEGACY_PANEL(q4_1, 0, 1)
LEGACY_PANEL(q5_0, 1, 0)
LEGACY_PANEL(q5_1, 1, 1)

/* ---- attention over F16 cache rows (kernels.h) ------------------------------
 * 16 elements of a row per vector (a masked load for the tail). Scores: up to
 * 4 query heads at a time and 4 rows at a time, one accumulator per (head,
 * row), the 4 rows' sums reduced together (13 shuffles and adds instead of 4
 * full reductions); leftover rows one at a time. */
INLINE __mmask16 tail_mask(int left) { return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1); }

/* The lane sums of a, b, c, d: [sum a, sum b, sum c, sum d]. */
INLINE __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b)); /* per 128 bits: a02 b02 a13 b13 */
    const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    const __m512d abd = _mm512_castps_pd(ab), cdd = _mm512_castps_pd(cd);
    const __m512 t = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(abd, cdd)),
                                   _mm512_castpd_ps(_mm512_unpackhi_pd(abd, cdd))); /* per 128 bits: a b c d */
    const __m256 u = _mm256_add_ps(_mm512_castps512_ps256(t), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

INLINE void attn_scores_any(const uint16_t *k, size_t stride, int n, const float *q, const int hd, float *s,
                            size_t ss, const int m) {
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        __m512 acc[4][4]; /* [head][row] */
        for (int c = 0; c < m; c++)
            for (int r = 0; r < 4; r++) acc[c][r] = _mm512_setzero_ps();
        for (int i = 0; i < hd; i += 16) {
            const __mmask16 mk = tail_mask(hd - i);
            for (int r = 0; r < 4; r++) {
                const __m512 kv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, k + (size_t)(j + r) * stride + i));
                for (int c = 0; c < m; c++)
                    acc[c][r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, q + (size_t)c * hd + i), kv, acc[c][r]);
            }
        }
        for (int c = 0; c < m; c++) _mm_storeu_ps(s + c * ss + j, sum4(acc[c][0], acc[c][1], acc[c][2], acc[c][3]));
    }
    for (; j < n; j++) {
        const uint16_t *kr = k + j * stride;
        __m512 acc[4];
        for (int c = 0; c < m; c++) acc[c] = _mm512_setzero_ps();
        for (int i = 0; i < hd; i += 16) {
            const __mmask16 mk = tail_mask(hd - i);
            const __m512 kv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, kr + i));
            for (int c = 0; c < m; c++) acc[c] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, q + (size_t)c * hd + i), kv, acc[c]);
        }
        for (int c = 0; c < m; c++) s[c * ss + j] = _mm512_reduce_add_ps(acc[c]);
    }
}

/* Head lengths 64 and 128 as constants: whole vectors, no masks, q stays in
 * registers across the rows. */
INLINE void attn_scores_body(const uint16_t *k, size_t stride, int n, const float *q, int hd, float *s, size_t ss,
                             const int m) {
    if (hd == 64) attn_scores_any(k, stride, n, q, 64, s, ss, m);
    else if (hd == 128) attn_scores_any(k, stride, n, q, 128, s, ss, m);
    else attn_scores_any(k, stride, n, q, hd, s, ss, m);
}

/* Values: 64 output elements (four vectors) of up to 4 heads in registers
 * over all rows, so 4 x m independent FMA chains per row. */
INLINE void attn_values_any(const uint16_t *v, size_t stride, int n, const float *p, size_t ps, const int hdv,
                            float *out, const int m) {
    for (int i = 0; i < hdv; i += 64) {
        __mmask16 mk[4];
        for (int u = 0; u < 4; u++) mk[u] = hdv - i - 16 * u > 0 ? tail_mask(hdv - i - 16 * u) : 0;
        __m512 acc[4][4];
        for (int c = 0; c < m; c++)
            for (int u = 0; u < 4; u++) acc[c][u] = _mm512_maskz_loadu_ps(mk[u], out + (size_t)c * hdv + i + 16 * u);
        for (int j = 0; j < n; j++) {
            const uint16_t *vr = v + j * stride + i;
            __m512 x[4];
            for (int u = 0; u < 4; u++) x[u] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk[u], vr + 16 * u));
            for (int c = 0; c < m; c++) {
                const __m512 pj = _mm512_set1_ps(p[c * ps + j]);
                for (int u = 0; u < 4; u++) acc[c][u] = _mm512_fmadd_ps(pj, x[u], acc[c][u]);
            }
        }
        for (int c = 0; c < m; c++)
            for (int u = 0; u < 4; u++) _mm512_mask_storeu_ps(out + (size_t)c * hdv + i + 16 * u, mk[u], acc[c][u]);
    }
}

INLINE void attn_values_body(const uint16_t *v, size_t stride, int n, const float *p, size_t ps, int hdv, float *out,
                             const int m) {
    if (hdv == 64) attn_values_any(v, stride, n, p, ps, 64, out, m);
    else if (hdv == 128) attn_values_any(v, stride, n, p, ps, 128, out, m);
    else attn_values_any(v, stride, n, p, ps, hdv, out, m);
}

KC_ATTN_KERNELS_BY_4_HEADS

static const cpu_kernels table = {
#if defined(BRISK_AVX512_VNNI)
    .name = "avx512vnni",
#else
    .name = "avx512",
#endif
    .dot = {[BRISK_TYPE_Q4_K] = dot_q4_k, [BRISK_TYPE_Q5_K] = dot_q5_k},
    .panel_dot = KC_PANEL_ALL_TYPES,
    .quant_q16_32 = quant_q16_32,
    .quant_q16_256 = quant_q16_256,
    .attn_scores_f16 = attn_scores_f16,
    .attn_values_f16 = attn_values_f16,
};

#if defined(BRISK_AVX512_VNNI)
const cpu_kernels *cpu_kernels_avx512vnni(void) { return &table; }
#else
const cpu_kernels *cpu_kernels_avx512(void) { return &table; }
#endif

#else
#if defined(BRISK_AVX512_VNNI)
const cpu_kernels *cpu_kernels_avx512vnni(void) { return NULL; }
#else
const cpu_kernels *cpu_kernels_avx512(void) { return NULL; }
#endif
#endif
