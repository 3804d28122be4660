/* Generic C kernels: the reference every SIMD kernel is tested against.
 *
 * Quantized weights are decoded block by block into small integers plus
 * per-group float scales and mins (value = scale * q - min, or d * q + m for
 * the 32-element types), then dotted in integers with the 16-bit
 * activations (kernels.h), isum = sum(q_w * q_a):
 *   32-blocks:   dot = d_w * d_a * isum + m_w * s_a
 *   256-blocks:  dot = d_a * sum_g scale_g * isum_g - sum_g min_g * ssum_g
 * (g: 16-element groups; 32-element sub-blocks are two groups sharing a scale).
 * Float weights: plain f32 dot products. */
#include <math.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/kernels_common.h"
#include "quant/quant.h"

/* ---- 32-element blocks: value = d * q + m -------------------------------- */

typedef void (*unpack32_fn)(const uint8_t *b, int8_t q[32], float *d, float *m);

static inline int hbit(const uint8_t *qh, int j) { return (int)((kc_u32(qh) >> j) & 1) << 4; }

static void unpack_q4_0(const uint8_t *b, int8_t q[32], float *d, float *m) {
    *d = brisk_load_fp16(b); *m = 0.0f;
    for (int j = 0; j < 32; j++) q[j] = (int8_t)(qb_nibble(b + 2, j) - 8);
}
static void unpack_q4_1(const uint8_t *b, int8_t q[32], float *d, float *m) {
    *d = brisk_load_fp16(b); *m = brisk_load_fp16(b + 2);
    for (int j = 0; j < 32; j++) q[j] = (int8_t)qb_nibble(b + 4, j);
}
static void unpack_q5_0(const uint8_t *b, int8_t q[32], float *d, float *m) {
    *d = brisk_load_fp16(b); *m = 0.0f;
    for (int j = 0; j < 32; j++) q[j] = (int8_t)((qb_nibble(b + 6, j) | hbit(b + 2, j)) - 16);
}
static void unpack_q5_1(const uint8_t *b, int8_t q[32], float *d, float *m) {
    *d = brisk_load_fp16(b); *m = brisk_load_fp16(b + 2);
    for (int j = 0; j < 32; j++) q[j] = (int8_t)(qb_nibble(b + 8, j) | hbit(b + 4, j));
}
static void unpack_q8_0(const uint8_t *b, int8_t q[32], float *d, float *m) {
    *d = brisk_load_fp16(b); *m = 0.0f;
    for (int j = 0; j < 32; j++) q[j] = (int8_t)b[2 + j];
}
static void unpack_iq4_nl(const uint8_t *b, int8_t q[32], float *d, float *m) {
    *d = brisk_load_fp16(b); *m = 0.0f;
    for (int j = 0; j < 32; j++) q[j] = qb_kvalues_iq4nl[qb_nibble(b + 2, j)];
}
static void unpack_mxfp4(const uint8_t *b, int8_t q[32], float *d, float *m) {
    *d = qb_e8m0_half(b[0]); *m = 0.0f;
    for (int j = 0; j < 32; j++) q[j] = qb_kvalues_mxfp4[qb_nibble(b + 1, j)];
}

static inline void dot32(unpack32_fn unpack, size_t block_bytes, int64_t n, const void *w_row,
                         const void *act, size_t act_stride, int nc, float *out, size_t out_stride) {
    for (int c = 0; c < nc; c++) {
        const act_q16_32 *a = (const act_q16_32 *)((const char *)act + c * act_stride);
        const uint8_t *b = w_row;
        float acc = 0.0f;
        for (int64_t i = 0; i < n / 32; i++, b += block_bytes) {
            int8_t q[32];
            float d, m;
            unpack(b, q, &d, &m);
            int32_t isum = 0;
            for (int j = 0; j < 32; j++) isum += q[j] * a[i].q[j];
            acc += d * a[i].d * (float)isum + m * a[i].s;
        }
        out[c * out_stride] = acc;
    }
}

#define DOT32(name, bytes)                                                                          \
    static void dot_##name(int64_t n, const void *w, const void *a, size_t as, int nc, float *o, size_t os) { \
        dot32(unpack_##name, bytes, n, w, a, as, nc, o, os);                                       \
    }
DOT32(q4_0, 18)
DOT32(q4_1, 20)
DOT32(q5_0, 22)
DOT32(q5_1, 24)
DOT32(q8_0, 34)
DOT32(iq4_nl, 18)
DOT32(mxfp4, 17)

/* ---- 256-element super-blocks: value = sc[g] * q - mn[g], g = 16-groups --- */

typedef void (*unpack256_fn)(const uint8_t *b, int8_t q[256], float sc[16], float mn[16]);

static void unpack_q2_k(const uint8_t *b, int8_t q[256], float sc[16], float mn[16]) {
    const float d = brisk_load_fp16(b + 80), dmin = brisk_load_fp16(b + 82);
    for (int g = 0; g < 16; g++) { sc[g] = d * (float)(b[g] & 15); mn[g] = dmin * (float)(b[g] >> 4); }
    for (int e = 0; e < 256; e++) q[e] = (int8_t)((b[16 + 32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3);
}
static void unpack_q3_k(const uint8_t *b, int8_t q[256], float sc[16], float mn[16]) {
    const float d = brisk_load_fp16(b + 108);
    int8_t s[16];
    kc_scales_q3_k(b + 96, s);
    for (int g = 0; g < 16; g++) { sc[g] = d * (float)s[g]; mn[g] = 0.0f; }
    for (int e = 0; e < 256; e++) {
        const int low = (b[32 + 32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
        const int high = (b[e % 32] >> (e / 32)) & 1;
        q[e] = (int8_t)(low - (high ? 0 : 4));
    }
}
static void unpack_q4_k(const uint8_t *b, int8_t q[256], float sc[16], float mn[16]) {
    const float d = brisk_load_fp16(b), dmin = brisk_load_fp16(b + 2);
    uint8_t s[8], m[8];
    qb_scale_min_k4(b + 4, s, m);
    for (int g = 0; g < 16; g++) { sc[g] = d * (float)s[g / 2]; mn[g] = dmin * (float)m[g / 2]; }
    for (int e = 0; e < 256; e++) q[e] = (int8_t)((b[16 + 32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 15);
}
static void unpack_q5_k(const uint8_t *b, int8_t q[256], float sc[16], float mn[16]) {
    const float d = brisk_load_fp16(b), dmin = brisk_load_fp16(b + 2);
    uint8_t s[8], m[8];
    qb_scale_min_k4(b + 4, s, m);
    for (int g = 0; g < 16; g++) { sc[g] = d * (float)s[g / 2]; mn[g] = dmin * (float)m[g / 2]; }
    for (int e = 0; e < 256; e++) {
        const int low = (b[48 + 32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 15;
        q[e] = (int8_t)(low | (((b[16 + e % 32] >> (e / 32)) & 1) << 4));
    }
}
static void unpack_q6_k(const uint8_t *b, int8_t q[256], float sc[16], float mn[16]) {
    const float d = brisk_load_fp16(b + 208);
    for (int g = 0; g < 16; g++) { sc[g] = d * (float)(int8_t)b[192 + g]; mn[g] = 0.0f; }
    for (int e = 0; e < 256; e++) {
        const int h = e / 128, r = e % 128;
        const int low = (b[64 * h + r % 64] >> (4 * (r / 64))) & 15;
        const int high = (b[128 + 32 * h + r % 32] >> (2 * (r / 32))) & 3;
        q[e] = (int8_t)((low | (high << 4)) - 32);
    }
}
static void unpack_q8_k(const uint8_t *b, int8_t q[256], float sc[16], float mn[16]) {
    float d;
    memcpy(&d, b, 4);
    for (int g = 0; g < 16; g++) { sc[g] = d; mn[g] = 0.0f; }
    for (int e = 0; e < 256; e++) q[e] = (int8_t)b[4 + e];
}
static void unpack_iq4_xs(const uint8_t *b, int8_t q[256], float sc[16], float mn[16]) {
    const float d = brisk_load_fp16(b);
    int8_t s[8];
    kc_scales_iq4_xs(b, s);
    for (int g = 0; g < 16; g++) { sc[g] = d * (float)s[g / 2]; mn[g] = 0.0f; }
    for (int e = 0; e < 256; e++) q[e] = qb_kvalues_iq4nl[qb_nibble(b + 8 + 16 * (e / 32), e % 32)];
}

static inline void dot256(unpack256_fn unpack, size_t block_bytes, int64_t n, const void *w_row,
                          const void *act, size_t act_stride, int nc, float *out, size_t out_stride) {
    for (int c = 0; c < nc; c++) {
        const act_q16_256 *a = (const act_q16_256 *)((const char *)act + c * act_stride);
        const uint8_t *b = w_row;
        float acc = 0.0f;
        for (int64_t i = 0; i < n / 256; i++, b += block_bytes) {
            int8_t q[256];
            float sc[16], mn[16];
            unpack(b, q, sc, mn);
            float blk = 0.0f, mins = 0.0f;
            for (int g = 0; g < 16; g++) {
                int32_t isum = 0;
                for (int l = 0; l < 16; l++) isum += q[16 * g + l] * a[i].q[16 * g + l];
                blk += sc[g] * (float)isum;
                mins += mn[g] * a[i].ssum[g];
            }
            acc += a[i].d * blk - mins;
        }
        out[c * out_stride] = acc;
    }
}

#define DOT256(name, bytes)                                                                         \
    static void dot_##name(int64_t n, const void *w, const void *a, size_t as, int nc, float *o, size_t os) { \
        dot256(unpack_##name, bytes, n, w, a, as, nc, o, os);                                      \
    }
DOT256(q2_k, 84)
DOT256(q3_k, 110)
DOT256(q4_k, 144)
DOT256(q5_k, 176)
DOT256(q6_k, 210)
DOT256(q8_k, 292)
DOT256(iq4_xs, 136)

/* ---- float weights, f32 activations --------------------------------------- */

static float dot_f32_ref(const float *a, const float *b, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (; i < n; i++) acc[0] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static void dot_f32(int64_t n, const void *w, const void *act, size_t as, int nc, float *o, size_t os) {
    for (int c = 0; c < nc; c++) o[c * os] = dot_f32_ref(w, (const float *)((const char *)act + c * as), n);
}

#define DOT_HALF(name, conv)                                                                        \
    static void dot_##name(int64_t n, const void *w, const void *act, size_t as, int nc, float *o, size_t os) { \
        const uint8_t *h = w;                                                                       \
        for (int c = 0; c < nc; c++) {                                                              \
            const float *x = (const float *)((const char *)act + c * as);                           \
            float acc = 0.0f;                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                       \
                uint16_t v;                                                                         \
                memcpy(&v, h + 2 * i, 2);                                                           \
                acc += conv(v) * x[i];                                                              \
            }                                                                                       \
            o[c * os] = acc;                                                                        \
        }                                                                                           \
    }
DOT_HALF(f16, brisk_fp16_to_f32)
DOT_HALF(bf16, brisk_bf16_to_f32)

/* Attention over F16 rows (kernels.h): the reference, in the order of the
 * definition (f32 sums over i, then over j). */
static void attn_scores_f16(const uint16_t *k, size_t stride, int n, const float *q, int nq, int hd, float *s,
                            size_t ss) {
    for (int j = 0; j < n; j++)
        for (int c = 0; c < nq; c++) {
            float acc = 0;
            for (int i = 0; i < hd; i++) acc += q[(size_t)c * hd + i] * brisk_fp16_to_f32(k[j * stride + i]);
            s[c * ss + j] = acc;
        }
}

static void attn_values_f16(const uint16_t *v, size_t stride, int n, const float *p, size_t ps, int nq, int hdv,
                            float *out) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < hdv; i++) {
            const float x = brisk_fp16_to_f32(v[j * stride + i]);
            for (int c = 0; c < nq; c++) out[(size_t)c * hdv + i] += p[c * ps + j] * x;
        }
}

static void f32_to_f16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = brisk_f32_to_fp16(x[i]);
}

static const cpu_kernels generic = {
    .name = "generic",
    .dot = KC_DOT_ALL_TYPES,
    .quant_q16_32 = cpu_quant_act_q16_32_ref,
    .quant_q16_256 = cpu_quant_act_q16_256_ref,
    .dot_f32 = dot_f32_ref,
    .attn_scores_f16 = attn_scores_f16,
    .attn_values_f16 = attn_values_f16,
    .f32_to_f16 = f32_to_f16,
};

const cpu_kernels *cpu_kernels_generic(void) { return &generic; }
