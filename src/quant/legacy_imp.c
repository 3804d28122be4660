/* Importance-weighted quantization into Q4_0, Q4_1, Q5_0 and Q5_1 (layouts:
 * legacy.c). Used only when an importance vector is given (brisk quantize
 * --imatrix); without one, legacy.c's gguf-py-exact reference is used.
 *
 * Per 32-value block the scale (and, for the _1 types, the minimum) is
 * searched to minimize sum_i w_i (x_i - value_i)^2, w_i = imp_i + 1% of the
 * block's mean importance:
 *  - signed (Q4_0, Q5_0: value = d*L, L in -nmax..nmax-1): a fan of grids
 *    that put the largest-magnitude value on either end, each refitted by
 *    weighted least squares for its levels;
 *  - with a minimum (Q4_1, Q5_1: value = d*L + m, L in 0..nmax): a fan of
 *    grid steps over [min, max], each refitted for (d, m);
 * then d (and m) are rounded to fp16 and the levels re-chosen against the
 * rounded values, which is what the dequantizer computes. (brisk_quantize_weighted
 * then also tries gguf's max-based block and keeps the better: traits.c.) */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "quant/quant.h"

#define QK QK_LEGACY

static inline int clampi(float v, int lo, int hi) {
    if (!(v > (float)lo)) return lo;
    if (!(v < (float)hi)) return hi;
    return (int)lrintf(v);
}

static void block_weights(const float *imp, float *w) {
    double mean = 0;
    for (int i = 0; i < QK; i++) mean += imp[i] > 0 && isfinite(imp[i]) ? imp[i] : 0;
    mean /= QK;
    if (!(mean > 0) || !isfinite(mean)) {
        for (int i = 0; i < QK; i++) w[i] = 1.0f;
        return;
    }
    for (int i = 0; i < QK; i++) w[i] = (imp[i] > 0 && isfinite(imp[i]) ? imp[i] : 0.0f) + (float)(0.01 * mean);
}

static inline float half_round(float v) {
    if (v > 65504.0f) v = 65504.0f;
    if (v < -65504.0f) v = -65504.0f;
    if (v != v) v = 0.0f;
    return brisk_fp16_to_f32(brisk_f32_to_fp16(v));
}

/* d of the signed block x ~ d*L, L in -nmax..nmax-1; levels (L + nmax) into q. */
static float fit_signed(const float *x, const float *w, int nmax, uint8_t *q) {
    float xm = 0.0f;
    for (int i = 0; i < QK; i++)
        if (fabsf(x[i]) > fabsf(xm)) xm = x[i];
    float best_d = 0.0f;
    if (xm != 0.0f && isfinite(xm)) {
        double best = -1;
        for (int side = 0; side < 2; side++) {
            const float top = side == 0 ? -(float)nmax : (float)(nmax - 1);
            for (int k = 0; k < 24; k++) {
                const float iscale = top * (0.75f + 0.025f * (float)k) / xm;
                double sxl = 0, sll = 0;
                for (int i = 0; i < QK; i++) {
                    const int l = clampi(iscale * x[i], -nmax, nmax - 1);
                    sxl += (double)w[i] * x[i] * l;
                    sll += (double)w[i] * l * l;
                }
                if (sll > 0 && sxl * sxl / sll > best) {
                    best = sxl * sxl / sll;
                    best_d = (float)(sxl / sll);
                }
            }
        }
    }
    const float d = half_round(best_d), id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < QK; i++) q[i] = (uint8_t)(clampi(x[i] * id, -nmax, nmax - 1) + nmax);
    return d;
}

/* (d, m) of the block x ~ d*L + m, L in 0..nmax; levels into q. */
static void fit_min(const float *x, const float *w, int nmax, uint8_t *q, float *d_out, float *m_out) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < QK; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    float best_d = 0.0f, best_m = isfinite(lo) ? lo : 0.0f;
    if (hi > lo && isfinite(hi - lo)) {
        double sw = 0, sx = 0, sxx = 0, best = INFINITY;
        for (int i = 0; i < QK; i++) {
            sw += w[i];
            sx += (double)w[i] * x[i];
            sxx += (double)w[i] * x[i] * x[i];
        }
        best_d = (hi - lo) / (float)nmax;
        for (int k = 0; k < 16; k++) {
            const float f = 0.85f + 0.04f * (float)k, iscale = (float)nmax * f / (hi - lo);
            for (int t = 0; t < 3; t++) {
                const float shift = 0.5f * (float)t * (f > 1 ? f - 1 : 0) * (float)nmax;
                if (t > 0 && shift == 0) break;
                double sl = 0, sll = 0, slx = 0;
                for (int i = 0; i < QK; i++) {
                    const double l = clampi(iscale * (x[i] - lo) - shift, 0, nmax);
                    sl += w[i] * l;
                    sll += w[i] * l * l;
                    slx += w[i] * l * x[i];
                }
                const double det = sw * sll - sl * sl;
                if (!(det > 1e-12 * sw * sll)) continue;
                const double d = (sw * slx - sl * sx) / det, m = (sll * sx - sl * slx) / det;
                if (d < 0) continue;
                const double e = sxx - 2 * d * slx - 2 * m * sx + d * d * sll + 2 * d * m * sl + m * m * sw;
                if (e < best) {
                    best = e;
                    best_d = (float)d;
                    best_m = (float)m;
                }
            }
        }
    }
    const float d = half_round(best_d), m = half_round(best_m), id = d > 0 ? 1.0f / d : 0.0f;
    for (int i = 0; i < QK; i++) q[i] = (uint8_t)(d > 0 ? clampi((x[i] - m) * id, 0, nmax) : 0);
    *d_out = d;
    *m_out = m;
}

static void pack4(const uint8_t *q, uint8_t *qs) {
    for (int i = 0; i < QK / 2; i++) qs[i] = (uint8_t)((q[i] & 15) | ((q[i + QK / 2] & 15) << 4));
}

static void pack_high(const uint8_t *q, uint8_t *qh) {
    memset(qh, 0, 4);
    for (int j = 0; j < QK; j++) qh[j / 8] |= (uint8_t)(((q[j] >> 4) & 1) << (j % 8));
}

static void store_half(uint8_t *p, float f) {
    uint16_t h = brisk_f32_to_fp16(f);
    memcpy(p, &h, 2);
}

void brisk_quantize_q4_0_imp(const float *src, void *dst, int64_t n, const float *imp) {
    if (!imp) { brisk_quantize_q4_0(src, dst, n); return; }
    uint8_t *b = dst, q[QK];
    float w[QK];
    for (int64_t i = 0; i < n / QK; i++, src += QK, imp += QK, b += 18) {
        block_weights(imp, w);
        store_half(b, fit_signed(src, w, 8, q));
        pack4(q, b + 2);
    }
}

void brisk_quantize_q5_0_imp(const float *src, void *dst, int64_t n, const float *imp) {
    if (!imp) { brisk_quantize_q5_0(src, dst, n); return; }
    uint8_t *b = dst, q[QK];
    float w[QK];
    for (int64_t i = 0; i < n / QK; i++, src += QK, imp += QK, b += 22) {
        block_weights(imp, w);
        store_half(b, fit_signed(src, w, 16, q));
        pack_high(q, b + 2);
        pack4(q, b + 6);
    }
}

void brisk_quantize_q4_1_imp(const float *src, void *dst, int64_t n, const float *imp) {
    if (!imp) { brisk_quantize_q4_1(src, dst, n); return; }
    uint8_t *b = dst, q[QK];
    float w[QK], d, m;
    for (int64_t i = 0; i < n / QK; i++, src += QK, imp += QK, b += 20) {
        block_weights(imp, w);
        fit_min(src, w, 15, q, &d, &m);
        store_half(b, d);
        store_half(b + 2, m);
        pack4(q, b + 4);
    }
}

void brisk_quantize_q5_1_imp(const float *src, void *dst, int64_t n, const float *imp) {
    if (!imp) { brisk_quantize_q5_1(src, dst, n); return; }
    uint8_t *b = dst, q[QK];
    float w[QK], d, m;
    for (int64_t i = 0; i < n / QK; i++, src += QK, imp += QK, b += 24) {
        block_weights(imp, w);
        fit_min(src, w, 31, q, &d, &m);
        store_half(b, d);
        store_half(b + 2, m);
        pack_high(q, b + 4);
        pack4(q, b + 8);
    }
}
