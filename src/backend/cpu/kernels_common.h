/* Small decoding helpers shared by the kernel files of every ISA (the block
 * layouts themselves are documented in src/quant/legacy.c, kquant_dequant.c
 * and nonlinear.c). */
#ifndef BRISK_CPU_KERNELS_COMMON_H
#define BRISK_CPU_KERNELS_COMMON_H

#include <stdint.h>
#include <string.h>

#include "base/fp16.h"
#include "quant/block_fields.h"

/* Instantiate body(n, w, a, as, o, os, NC) for NC = 1..4 as the cpu_dot_fn
 * (or cpu_panel_dot_fn) `name`: a kernel body is written once over `nc`
 * columns (tokens) and the compiler keeps the nc accumulators in registers.
 * More than 4 columns run as passes of 4 (and a remainder). */
#define KC_SPECIALIZE_NC(name, body)                                                                  \
    static void name(int64_t n, const void *w, const void *a, size_t as, int nc, float *o, size_t os) { \
        for (; nc > 0; nc -= 4, a = (const char *)a + 4 * as, o += 4 * os) {                          \
            switch (nc) {                                                                              \
            case 1: body(n, w, a, as, o, os, 1); break;                                                \
            case 2: body(n, w, a, as, o, os, 2); break;                                                \
            case 3: body(n, w, a, as, o, os, 3); break;                                                \
            default: body(n, w, a, as, o, os, 4); break;                                               \
            }                                                                                          \
        }                                                                                              \
    }

/* The same over any number of columns, two at a time: for bodies whose per-column
 * accumulators would not fit the registers four times over. */
#define KC_SPECIALIZE_PAIRS(name, body)                                                               \
    static void name(int64_t n, const void *w, const void *a, size_t as, int nc, float *o, size_t os) { \
        for (int c = 0; c < nc; c += 2) {                                                             \
            const void *ac = (const char *)a + (size_t)c * as;                                        \
            if (nc - c >= 2) body(n, w, ac, as, o + (size_t)c * os, os, 2);                           \
            else body(n, w, ac, as, o + (size_t)c * os, os, 1);                                       \
        }                                                                                             \
    }

/* The attention kernels (kernels.h: cpu_attn_scores_fn, cpu_attn_values_fn)
 * of an ISA file, from bodies written once over m <= 4 query heads
 * (attn_scores_body / attn_values_body, m a constant per instance): the heads
 * run in groups of 4 and a remainder. */
#define KC_ATTN_KERNELS_BY_4_HEADS                                                                   \
    static void attn_scores_f16(const uint16_t *k, size_t stride, int n, const float *q, int nq, int hd, float *s, \
                                size_t ss) {                                                         \
        for (int c0 = 0; c0 < nq; c0 += 4) {                                                         \
            const float *qc = q + (size_t)c0 * hd;                                                   \
            float *sc = s + c0 * ss;                                                                 \
            switch (nq - c0 < 4 ? nq - c0 : 4) {                                                     \
            case 1: attn_scores_body(k, stride, n, qc, hd, sc, ss, 1); break;                        \
            case 2: attn_scores_body(k, stride, n, qc, hd, sc, ss, 2); break;                        \
            case 3: attn_scores_body(k, stride, n, qc, hd, sc, ss, 3); break;                        \
            default: attn_scores_body(k, stride, n, qc, hd, sc, ss, 4); break;                       \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
    static void attn_values_f16(const uint16_t *v, size_t stride, int n, const float *p, size_t ps, int nq, int hdv, \
                                float *out) {                                                        \
        for (int c0 = 0; c0 < nq; c0 += 4) {                                                         \
            const float *pc = p + c0 * ps;                                                           \
            float *oc = out + (size_t)c0 * hdv;                                                      \
            switch (nq - c0 < 4 ? nq - c0 : 4) {                                                     \
            case 1: attn_values_body(v, stride, n, pc, ps, hdv, oc, 1); break;                       \
            case 2: attn_values_body(v, stride, n, pc, ps, hdv, oc, 2); break;                       \
            case 3: attn_values_body(v, stride, n, pc, ps, hdv, oc, 3); break;                       \
            default: attn_values_body(v, stride, n, pc, ps, hdv, oc, 4); break;                      \
            }                                                                                        \
        }                                                                                            \
    }

/* The .dot initializer of a table that has a kernel for every type, each
 * named dot_<type> in its file (generic, NEON, AVX2). */
#define KC_DOT_ALL_TYPES                                                                              \
    {                                                                                                 \
        [BRISK_TYPE_F32] = dot_f32, [BRISK_TYPE_F16] = dot_f16, [BRISK_TYPE_BF16] = dot_bf16,         \
        [BRISK_TYPE_Q4_0] = dot_q4_0, [BRISK_TYPE_Q4_1] = dot_q4_1, [BRISK_TYPE_Q5_0] = dot_q5_0,     \
        [BRISK_TYPE_Q5_1] = dot_q5_1, [BRISK_TYPE_Q8_0] = dot_q8_0, [BRISK_TYPE_IQ4_NL] = dot_iq4_nl, \
        [BRISK_TYPE_MXFP4] = dot_mxfp4, [BRISK_TYPE_Q2_K] = dot_q2_k, [BRISK_TYPE_Q3_K] = dot_q3_k,   \
        [BRISK_TYPE_Q4_K] = dot_q4_k, [BRISK_TYPE_Q5_K] = dot_q5_k, [BRISK_TYPE_Q6_K] = dot_q6_k,     \
        [BRISK_TYPE_Q8_K] = dot_q8_k, [BRISK_TYPE_IQ4_XS] = dot_iq4_xs,                               \
    }

/* The .panel_dot initializer of a table with a kernel for every panel layout
 * (panels.c), each named panel_<type> (AVX2, AVX-512). */
#define KC_PANEL_ALL_TYPES                                                                            \
    {                                                                                                 \
        [BRISK_TYPE_Q4_K] = panel_q4_k, [BRISK_TYPE_Q6_K] = panel_q6_k, [BRISK_TYPE_Q8_0] = panel_q8_0, \
        [BRISK_TYPE_Q4_0] = panel_q4_0, [BRISK_TYPE_Q4_1] = panel_q4_1, [BRISK_TYPE_Q5_0] = panel_q5_0, \
        [BRISK_TYPE_Q5_1] = panel_q5_1,                                                               \
    }

static inline uint32_t kc_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Q3_K: sixteen 6-bit scales, minus 32. */
static inline void kc_scales_q3_k(const uint8_t *s, int8_t out[16]) {
    for (int j = 0; j < 16; j++) {
        const int lo = (j < 8 ? s[j] : s[j - 8] >> 4) & 0x0F;
        const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* IQ4_XS: eight 6-bit scales, minus 32. */
static inline void kc_scales_iq4_xs(const uint8_t *b, int8_t out[8]) {
    const unsigned scales_h = (unsigned)b[2] | (unsigned)b[3] << 8;
    for (int s = 0; s < 8; s++) {
        const int lo = (b[4 + s / 2] >> (4 * (s % 2))) & 0x0F;
        const int hi = (scales_h >> (2 * s)) & 0x03;
        out[s] = (int8_t)((lo | hi << 4) - 32);
    }
}

#endif
