/* Reference quantization into the K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K.
 *
 * The byte layouts are described in kquant_dequant.c; each quantizer below
 * repeats the layout of its type on top.
 *
 * How a super-block (256 values) is quantized, for the types with sub-block
 * scales:
 *
 *  1. Each sub-block (16 or 32 values) gets its own real-valued scale (and,
 *     for Q2_K/Q4_K/Q5_K, min) that minimizes the weighted squared error
 *         sum_i w_i (x_i - (s * L_i - m))^2,   L_i integer in the type's range.
 *     The search tries a fan of candidate scales around range/nmax, takes the
 *     integer levels each one gives, solves the least-squares problem for
 *     (s, m) given those levels, and keeps the best; then it alternates
 *     "re-quantize with the fitted (s, m)" and "refit" while that helps
 *     (after the fan it rarely does by much).
 *  2. The sub-block scales (and mins) are themselves quantized to 4/6/8-bit
 *     integers against an fp16 super-block scale (and fp16 super-block min),
 *     chosen so that the largest one maps to the top integer (see
 *     scale_to_fp16 for small data, where fp16 gets coarse). dmin is signed:
 *     a super-block with only positive values gets a negative dmin, so its
 *     grids can start above zero (the format allows it; quantizers that
 *     keep dmin >= 0 leave those levels unused).
 *  3. With the super-block scale(s) fixed in fp16, each sub-block picks the
 *     integer scale (and min) near its ideal one that gives the smallest
 *     error *as the dequantizer will compute it*, and the levels are
 *     re-quantized against that effective scale.
 *
 * All float->int conversions go through qround(), which clamps first, so
 * huge, infinite or NaN inputs cannot cause undefined behaviour; fp16
 * super-block scales are clamped to the largest finite half. Super-blocks
 * are quantized independently of each other.
 *
 * Without importance the weights are uniform (w = 1): the objective is then
 * exactly the squared error of the round trip. With an importance vector
 * (brisk imatrix: the mean square of the activation that meets each column,
 * so that sum_i imp_i (x_i - q_i)^2 is the expected squared error of the
 * matmul's output when the activations are uncorrelated) the weights are
 * imp_i plus 1% of the super-block's mean importance, so that columns that
 * were never active still get a sensible fit. */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "quant/quant.h"

#define FP16_MAX 65504.0f

/* Nearest integer to v (ties to even), clamped to [lo, hi]; NaN gives lo.
 * Callers keep |lo|, |hi| far below 2^22, so adding 1.5 * 2^23 leaves the
 * rounded integer in the low mantissa bits (no libm call in the hot loops). */
static inline int qround(float v, int lo, int hi) {
    if (!(v > (float)lo)) return lo;
    if (!(v < (float)hi)) return hi;
    const float t = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &t, 4);
    return (int)(bits & 0x007fffff) - 0x00400000;
}

/* Round a super-block scale v = smax / top to fp16, where smax is the
 * largest sub-block scale and top the integer it should map to; *bits gets
 * the half, the return value is what the dequantizer will read back.
 * Clamped to the finite range. Among the fp16 subnormals (|v| < 2^-14, i.e.
 * small data) rounding is coarse, so: a non-zero v never becomes 0, and if
 * rounding shrank v so much that smax would need an integer above top + 0.5
 * (and be clipped), the next larger half is taken instead. */
static float scale_to_fp16(float v, int top, uint16_t *bits) {
    if (v > FP16_MAX) v = FP16_MAX;
    if (v < -FP16_MAX) v = -FP16_MAX;
    if (v != v) v = 0.0f;
    *bits = brisk_f32_to_fp16(v);
    const float r = brisk_fp16_to_f32(*bits);
    if (v != 0.0f && fabsf(r) * ((float)top + 0.5f) < fabsf(v) * (float)top) (*bits)++;
    return brisk_fp16_to_f32(*bits);
}

static inline void store_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* ------------------------------------------------------------------------ */
/* Sub-block fits                                                            */
/* ------------------------------------------------------------------------ */

/* Weighted sums of one sub-block that the least-squares fits need. */
typedef struct {
    double sw, sx, sxx; /* sum w, sum w x, sum w x^2 */
} xsums;

static xsums sums_of(int n, const float *x, const float *w) {
    xsums s = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        s.sw += w[i];
        s.sx += (double)w[i] * x[i];
        s.sxx += (double)w[i] * x[i] * x[i];
    }
    return s;
}

/* Given levels L, the best (s >= 0, b on the side of 0 given by bsign: -1
 * for b <= 0, +1 for b >= 0) for x ~ s*L + b in weighted least squares;
 * returns the error. This is a convex problem with two half-line
 * constraints, so when the free optimum violates one, the constrained
 * optimum lies on the boundary b = 0 or s = 0. */
static double lsq_affine(int n, const float *x, const float *w, const uint8_t *L,
                         const xsums *xs, int bsign, float *s_out, float *b_out) {
    double sl = 0, sll = 0, slx = 0;
    for (int i = 0; i < n; i++) {
        const double wl = (double)w[i] * L[i];
        sl += wl;
        sll += wl * L[i];
        slx += wl * x[i];
    }
#define AFFINE_ERR(s, b) \
    (xs->sxx - 2 * (s) * slx - 2 * (b) * xs->sx + (s) * (s) * sll + 2 * (s) * (b) * sl + (b) * (b) * xs->sw)
    const double det = xs->sw * sll - sl * sl;
    if (det > 1e-12 * xs->sw * sll) {
        const double s = (xs->sw * slx - sl * xs->sx) / det;
        const double b = (sll * xs->sx - sl * slx) / det;
        if (s >= 0 && b * bsign >= 0) {
            *s_out = (float)s;
            *b_out = (float)b;
            return AFFINE_ERR(s, b);
        }
    }
    /* boundary b = 0 */
    const double s1 = sll > 0 && slx > 0 ? slx / sll : 0;
    const double e1 = AFFINE_ERR(s1, 0.0);
    /* boundary s = 0 */
    const double b2 = xs->sw > 0 && xs->sx * bsign > 0 ? xs->sx / xs->sw : 0;
    const double e2 = AFFINE_ERR(0.0, b2);
#undef AFFINE_ERR
    if (e1 <= e2) {
        *s_out = (float)s1;
        *b_out = 0.0f;
        return e1;
    }
    *s_out = 0.0f;
    *b_out = (float)b2;
    return e2;
}

/* Scale and min of one sub-block for the unsigned types: x ~ s*L - m with
 * L in 0..nmax, s >= 0, and m >= 0 (pos == 0: the grid starts at or below
 * zero) or m <= 0 (pos == 1: it starts at or above zero). Returns the squared
 * error of the real-valued fit (before the scales are quantized). */
static double fit_scale_min(int n, const float *x, const float *w, int nmax, int pos,
                            float *s_out, float *m_out) {
    const int bsign = pos ? 1 : -1;
    const xsums xs = sums_of(n, x, w);
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (pos ? lo < 0 : lo > 0) lo = 0; /* where the grid may start */
    if (!(hi > lo) || !isfinite(hi - lo)) {
        *s_out = 0.0f;
        *m_out = isfinite(lo) ? -lo : 0.0f;
        return 0.0;
    }

    uint8_t L[32];
    double best = INFINITY;
    float best_s = (hi - lo) / (float)nmax, best_b = lo;

    /* A fan of grids over [lo, hi]: the step is range/(nmax*f); f > 1 clips
     * the top, and a shift moves the grid so that the bottom clips too. */
    enum { NF = 13, NSHIFT = 3 };
    for (int k = 0; k < NF; k++) {
        const float f = 0.85f + 0.05f * (float)k; /* 0.85 .. 1.45 */
        const float iscale = (float)nmax * f / (hi - lo);
        for (int t = 0; t < NSHIFT; t++) {
            const float shift = 0.25f * (float)t * (f - 1.0f > 0 ? f - 1.0f : 0) * (float)nmax;
            if (t > 0 && shift == 0) break;
            for (int i = 0; i < n; i++) L[i] = (uint8_t)qround(iscale * (x[i] - lo) - shift, 0, nmax);
            float s, b;
            const double e = lsq_affine(n, x, w, L, &xs, bsign, &s, &b);
            if (e < best) {
                best = e;
                best_s = s;
                best_b = b;
            }
        }
    }

    /* Alternate re-quantization and refit while the error drops. */
    for (int it = 0; it < 8 && best_s > 0; it++) {
        const float inv = 1.0f / best_s;
        for (int i = 0; i < n; i++) L[i] = (uint8_t)qround((x[i] - best_b) * inv, 0, nmax);
        float s, b;
        const double e = lsq_affine(n, x, w, L, &xs, bsign, &s, &b);
        if (!(e < best * (1 - 1e-7))) break;
        best = e;
        best_s = s;
        best_b = b;
    }
    *s_out = best_s;
    *m_out = -best_b;
    return best;
}

/* Scale of one sub-block for the signed types: x ~ s*L with L in
 * -nmax..nmax-1 (s may be negative: that is how the extra level -nmax ends
 * up on whichever side has the larger values). Returns the squared error. */
static double fit_scale_signed(int n, const float *x, const float *w, int nmax, float *s_out) {
    float xm = 0.0f; /* the value of largest magnitude, with its sign */
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > fabsf(xm)) xm = x[i];
    double sxx = 0;
    for (int i = 0; i < n; i++) sxx += (double)w[i] * x[i] * x[i];
    if (xm == 0.0f || !isfinite(xm) || !isfinite(sxx)) {
        *s_out = 0.0f;
        return sxx;
    }

    /* error(s) = sxx - (sum w x L)^2 / (sum w L^2) at the optimal s for L */
    double best_gain = -1;
    float best_s = 0.0f;
    enum { NF = 16 };
    for (int side = 0; side < 2; side++) {
        /* side 0: xm maps to -nmax; side 1: xm maps to +(nmax-1) */
        const float top = side == 0 ? -(float)nmax : (float)(nmax - 1);
        for (int k = 0; k < NF; k++) {
            const float f = 0.9f + 0.025f * (float)k; /* 0.9 .. 1.275 */
            const float iscale = top * f / xm;
            double sxl = 0, sll = 0;
            for (int i = 0; i < n; i++) {
                const int l = qround(iscale * x[i], -nmax, nmax - 1);
                sxl += (double)w[i] * x[i] * l;
                sll += (double)w[i] * l * l;
            }
            if (sll > 0 && sxl * sxl / sll > best_gain) {
                best_gain = sxl * sxl / sll;
                best_s = (float)(sxl / sll);
            }
        }
    }
    for (int it = 0; it < 8 && best_s != 0.0f; it++) {
        const float inv = 1.0f / best_s;
        double sxl = 0, sll = 0;
        for (int i = 0; i < n; i++) {
            const int l = qround(x[i] * inv, -nmax, nmax - 1);
            sxl += (double)w[i] * x[i] * l;
            sll += (double)w[i] * l * l;
        }
        if (!(sll > 0 && sxl * sxl / sll > best_gain * (1 + 1e-7))) break;
        best_gain = sxl * sxl / sll;
        best_s = (float)(sxl / sll);
    }
    *s_out = best_s;
    return sxx - (best_gain > 0 ? best_gain : 0);
}

/* ------------------------------------------------------------------------ */
/* Super-blocks                                                              */
/* ------------------------------------------------------------------------ */

/* With the integer sub-block scale fixed: the error and levels of one
 * sub-block of an unsigned type, computed in f32 exactly as dequantized. */
static double eval_scale_min(int n, const float *x, const float *w, int nmax, float dl,
                             float ml, uint8_t *L) {
    double err = 0;
    const float inv = dl > 0 ? 1.0f / dl : 0.0f;
    for (int i = 0; i < n; i++) {
        const int q = dl > 0 ? qround((x[i] + ml) * inv, 0, nmax) : 0;
        const float v = dl * (float)q - ml;
        if (L) L[i] = (uint8_t)q;
        const double e = (double)v - x[i];
        err += w[i] * e * e;
    }
    return err;
}

/* Same for a signed type: value = dl * q, q in -nmax..nmax-1. */
static double eval_scale_signed(int n, const float *x, const float *w, int nmax, float dl,
                                int8_t *L) {
    double err = 0;
    const float inv = dl != 0.0f ? 1.0f / dl : 0.0f;
    for (int i = 0; i < n; i++) {
        const int q = dl != 0.0f ? qround(x[i] * inv, -nmax, nmax - 1) : 0;
        if (L) L[i] = (int8_t)q;
        const double e = (double)(dl * (float)q) - x[i];
        err += w[i] * e * e;
    }
    return err;
}

/* Result of quantizing one super-block of an unsigned type (Q2_K/Q4_K/Q5_K). */
typedef struct {
    uint16_t d, dmin;   /* fp16 bits */
    uint8_t sc[16], mn[16]; /* integer sub-block scales and mins */
    uint8_t L[QK_K];    /* levels 0..nmax */
} asym_block;

/* For fixed fp16 d and dmin: choose each sub-block's integer scale and min
 * and fill the levels. The candidates are the 3x3 integer pairs around the
 * rounded ideal (s, m), plus, for each integer scale, the min refitted to
 * the levels that scale gives (this matters when the scale moved far from
 * the ideal one, e.g. rounded to 0 next to a sub-block with an outlier). */
static void place_scale_min(const float *x, const float *w, int nsub, int len, int nmax,
                            int nsc, float d, float dmin, const float *s, const float *m,
                            asym_block *out) {
    for (int j = 0; j < nsub; j++) {
        const float *xj = x + j * len, *wj = w + j * len;
        uint8_t *L = out->L + j * len;
        const int rs = d > 0 ? qround(s[j] / d, 0, nsc) : 0;
        const int rm = dmin != 0.0f ? qround(m[j] / dmin, 0, nsc) : 0;
        double best = INFINITY;
        int bs = rs, bm = rm;
        for (int is = rs - 1; is <= rs + 1; is++) {
            if (is < 0 || is > nsc || (d == 0.0f && is != rs)) continue;
            const float dl = d * (float)is;
            /* min refitted to the levels of (is, rm): mean of dl*L - x */
            eval_scale_min(len, xj, wj, nmax, dl, dmin * (float)rm, L);
            double num = 0, den = 0;
            for (int i = 0; i < len; i++) {
                num += (double)wj[i] * ((double)dl * L[i] - xj[i]);
                den += wj[i];
            }
            const int refit = dmin != 0.0f && den > 0 ? qround((float)(num / den) / dmin, 0, nsc) : rm;
            const int cands[4] = {rm - 1, rm, rm + 1, refit};
            for (int c = 0; c < 4; c++) {
                const int im = cands[c];
                if (im < 0 || im > nsc || (dmin == 0.0f && im != rm)) continue;
                if (c == 3 && im >= rm - 1 && im <= rm + 1) continue; /* already tried */
                const double e = eval_scale_min(len, xj, wj, nmax, dl, dmin * (float)im, NULL);
                if (e < best) {
                    best = e;
                    bs = is;
                    bm = im;
                }
            }
        }
        out->sc[j] = (uint8_t)bs;
        out->mn[j] = (uint8_t)bm;
        eval_scale_min(len, xj, wj, nmax, d * (float)bs, dmin * (float)bm, L);
    }
}

/* The fit weights of one super-block (see the top of the file). */
static void block_weights(const float *imp, float *w) {
    double mean = 0;
    if (imp) {
        for (int i = 0; i < QK_K; i++) mean += imp[i] > 0 && isfinite(imp[i]) ? imp[i] : 0;
        mean /= QK_K;
    }
    if (!(mean > 0) || !isfinite(mean)) {
        for (int i = 0; i < QK_K; i++) w[i] = 1.0f;
        return;
    }
    const float floor = (float)(0.01 * mean);
    for (int i = 0; i < QK_K; i++) w[i] = (imp[i] > 0 && isfinite(imp[i]) ? imp[i] : 0.0f) + floor;
}

/* One super-block of an unsigned type: nsub sub-blocks of len values, levels
 * 0..nmax, integer scales and mins 0..nsc. */
static void quantize_scale_min_block(const float *x, const float *imp, int nsub, int len, int nmax,
                                     int nsc, asym_block *out) {
    float w[QK_K];
    block_weights(imp, w);
    /* The integer mins are unsigned, but dmin is a signed fp16: when the
     * whole super-block is positive, a negative dmin lets every sub-block
     * grid start above zero instead of wasting levels below it. */
    float xmin = x[0];
    for (int i = 1; i < QK_K; i++)
        if (x[i] < xmin) xmin = x[i];
    const int pos = xmin > 0;
    float s[16], m[16];
    float max_s = 0, max_m = 0; /* max_m: largest |m| */
    for (int j = 0; j < nsub; j++) {
        fit_scale_min(len, x + j * len, w + j * len, nmax, pos, &s[j], &m[j]);
        if (s[j] > max_s) max_s = s[j];
        if (fabsf(m[j]) > max_m) max_m = fabsf(m[j]);
    }
    /* The largest sub-block scale (and min) maps to the top integer nsc.
     * (Trying a few smaller super-block scales, which clip the largest
     * sub-block a little for a finer grid elsewhere, gained < 0.5% RMSE for
     * 2-3x the time, so it is not done.) */
    const float d = scale_to_fp16(max_s / (float)nsc, nsc, &out->d);
    const float dmin = scale_to_fp16((pos ? -max_m : max_m) / (float)nsc, nsc, &out->dmin);
    place_scale_min(x, w, nsub, len, nmax, nsc, d, dmin, s, m, out);
}

/* Result of quantizing one super-block of a signed type (Q3_K/Q6_K). */
typedef struct {
    uint16_t d;       /* fp16 bits */
    int8_t sc[16];    /* integer sub-block scales -nsc..nsc-1 */
    int8_t L[QK_K];   /* levels -nmax..nmax-1 */
} sym_block;

/* For a fixed fp16 d: choose each sub-block's integer scale among the three
 * nearest its ideal one, by the error as dequantized, and fill the levels. */
static void place_scale_signed(const float *x, const float *w, int nsub, int len, int nmax,
                               int nsc, float d, const float *s, sym_block *out) {
    for (int j = 0; j < nsub; j++) {
        const float *xj = x + j * len, *wj = w + j * len;
        const int r = d != 0.0f ? qround(s[j] / d, -nsc, nsc - 1) : 0;
        double best = INFINITY;
        int bs = r;
        for (int is = r - 1; is <= r + 1; is++) {
            if (is < -nsc || is > nsc - 1 || (d == 0.0f && is != r)) continue;
            const double e = eval_scale_signed(len, xj, wj, nmax, d * (float)is, NULL);
            if (e < best) {
                best = e;
                bs = is;
            }
        }
        out->sc[j] = (int8_t)bs;
        eval_scale_signed(len, xj, wj, nmax, d * (float)bs, out->L + j * len);
    }
}

/* One super-block of a signed type: levels -nmax..nmax-1, integer scales
 * -nsc..nsc-1. */
static void quantize_signed_block(const float *x, const float *imp, int nsub, int len, int nmax,
                                  int nsc, sym_block *out) {
    float w[QK_K];
    block_weights(imp, w);
    float s[16];
    float sm = 0; /* sub-block scale of largest magnitude, signed */
    for (int j = 0; j < nsub; j++) {
        fit_scale_signed(len, x + j * len, w + j * len, nmax, &s[j]);
        if (fabsf(s[j]) > fabsf(sm)) sm = s[j];
    }
    /* d < 0 when sm > 0, so that sm lands on -nsc, the integer of larger
     * magnitude. */
    const float d = scale_to_fp16(-sm / (float)nsc, nsc, &out->d);
    place_scale_signed(x, w, nsub, len, nmax, nsc, d, s, out);
}

/* ------------------------------------------------------------------------ */
/* Packing, one function per type                                            */
/* ------------------------------------------------------------------------ */

/* Pack eight 6-bit scales and eight 6-bit mins into the 12 bytes of Q4_K/Q5_K:
 *   bytes 0..3 : sc[0..3] | (sc[4..7] >> 4) << 6
 *   bytes 4..7 : m[0..3]  | (m[4..7] >> 4) << 6
 *   bytes 8..11: (sc[4..7] & 15) | (m[4..7] & 15) << 4 */
static void pack_scale_min_k4(uint8_t *p, const uint8_t sc[8], const uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        p[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        p[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        p[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

/* Q2_K super-block (84 bytes): u8 scales[16] (low nibble: 4-bit scale, high
 * nibble: 4-bit min, per 16 values), u8 qs[64] (2-bit quants; element
 * 128h+32k+l in bits 2k..2k+1 of qs[32h+l]), f16 d, f16 dmin.
 * value = d*scale*q - dmin*min. */
void brisk_quantize_q2_k(const float *src, void *dst, int64_t n) { brisk_quantize_q2_k_imp(src, dst, n, NULL); }

void brisk_quantize_q2_k_imp(const float *src, void *dst, int64_t n, const float *imp) {
    uint8_t *b = dst;
    asym_block q;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K, b += 84) {
        quantize_scale_min_block(src, imp ? imp + i * QK_K : NULL, 16, 16, 3, 15, &q);
        for (int j = 0; j < 16; j++) b[j] = (uint8_t)(q.sc[j] | (q.mn[j] << 4));
        uint8_t *qs = b + 16;
        memset(qs, 0, 64);
        for (int e = 0; e < QK_K; e++)
            qs[32 * (e / 128) + e % 32] |= (uint8_t)(q.L[e] << (2 * ((e / 32) % 4)));
        store_u16(b + 80, q.d);
        store_u16(b + 82, q.dmin);
    }
}

/* Q3_K super-block (110 bytes): u8 hmask[32] (bit k of hmask[l] set: element
 * 32k+l has its 4 added back), u8 qs[64] (low 2 bits, arranged as Q2_K),
 * u8 scales[12] (sixteen 6-bit scales stored +32: low 4 bits in the nibbles
 * of bytes 0..7, scale j in byte j%8, high nibble for j >= 8; high 2 bits in
 * bytes 8..11, scale j at bits 2*(j/4) of byte 8 + j%4), f16 d.
 * value = d*(scale-32)*q, q in -4..3. */
void brisk_quantize_q3_k(const float *src, void *dst, int64_t n) { brisk_quantize_q3_k_imp(src, dst, n, NULL); }

void brisk_quantize_q3_k_imp(const float *src, void *dst, int64_t n, const float *imp) {
    uint8_t *b = dst;
    sym_block q;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K, b += 110) {
        quantize_signed_block(src, imp ? imp + i * QK_K : NULL, 16, 16, 4, 32, &q);
        uint8_t *hmask = b, *qs = b + 32, *sc = b + 96;
        memset(b, 0, 108);
        for (int e = 0; e < QK_K; e++) {
            const int u = q.L[e] + 4; /* 0..7 */
            qs[32 * (e / 128) + e % 32] |= (uint8_t)((u & 3) << (2 * ((e / 32) % 4)));
            if (u & 4) hmask[e % 32] |= (uint8_t)(1u << (e / 32));
        }
        for (int j = 0; j < 16; j++) {
            const int u = q.sc[j] + 32; /* 0..63 */
            sc[j % 8] |= (uint8_t)((u & 15) << (j < 8 ? 0 : 4));
            sc[8 + j % 4] |= (uint8_t)((u >> 4) << (2 * (j / 4)));
        }
        store_u16(b + 108, q.d);
    }
}

/* Q4_K super-block (144 bytes): f16 d, f16 dmin, u8 scales[12] (8 6-bit
 * scales + 8 6-bit mins, packed), u8 qs[128] (4-bit quants; element
 * 64c+32s+l in nibble s of qs[32c+l]). value = d*sc*q - dmin*m. */
void brisk_quantize_q4_k(const float *src, void *dst, int64_t n) { brisk_quantize_q4_k_imp(src, dst, n, NULL); }

void brisk_quantize_q4_k_imp(const float *src, void *dst, int64_t n, const float *imp) {
    uint8_t *b = dst;
    asym_block q;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K, b += 144) {
        quantize_scale_min_block(src, imp ? imp + i * QK_K : NULL, 8, 32, 15, 63, &q);
        store_u16(b, q.d);
        store_u16(b + 2, q.dmin);
        pack_scale_min_k4(b + 4, q.sc, q.mn);
        uint8_t *qs = b + 16;
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                qs[32 * c + l] = (uint8_t)(q.L[64 * c + l] | (q.L[64 * c + 32 + l] << 4));
    }
}

/* Q5_K super-block (176 bytes): f16 d, f16 dmin, u8 scales[12] (as Q4_K),
 * u8 qh[32] (bit j of qh[l]: 5th bit of element 32j+l), u8 qs[128] (low 4
 * bits, as Q4_K). value = d*sc*q - dmin*m, q in 0..31. */
void brisk_quantize_q5_k(const float *src, void *dst, int64_t n) { brisk_quantize_q5_k_imp(src, dst, n, NULL); }

void brisk_quantize_q5_k_imp(const float *src, void *dst, int64_t n, const float *imp) {
    uint8_t *b = dst;
    asym_block q;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K, b += 176) {
        quantize_scale_min_block(src, imp ? imp + i * QK_K : NULL, 8, 32, 31, 63, &q);
        store_u16(b, q.d);
        store_u16(b + 2, q.dmin);
        pack_scale_min_k4(b + 4, q.sc, q.mn);
        uint8_t *qh = b + 16, *qs = b + 48;
        memset(qh, 0, 32);
        for (int e = 0; e < QK_K; e++) qh[e % 32] |= (uint8_t)((q.L[e] >> 4) << (e / 32));
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                qs[32 * c + l] =
                    (uint8_t)((q.L[64 * c + l] & 15) | ((q.L[64 * c + 32 + l] & 15) << 4));
    }
}

/* Q6_K super-block (210 bytes): u8 ql[128] (low 4 bits; element 128h+64s+l
 * in nibble s of ql[64h+l]), u8 qh[64] (high 2 bits; element 128h+32k+l in
 * bits 2k..2k+1 of qh[32h+l]), i8 scales[16], f16 d.
 * value = d*scale*(q-32), q in 0..63. */
void brisk_quantize_q6_k(const float *src, void *dst, int64_t n) { brisk_quantize_q6_k_imp(src, dst, n, NULL); }

void brisk_quantize_q6_k_imp(const float *src, void *dst, int64_t n, const float *imp) {
    uint8_t *b = dst;
    sym_block q;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K, b += 210) {
        quantize_signed_block(src, imp ? imp + i * QK_K : NULL, 16, 16, 32, 128, &q);
        uint8_t *ql = b, *qh = b + 128;
        memset(b, 0, 192);
        for (int e = 0; e < QK_K; e++) {
            const int u = q.L[e] + 32; /* 0..63 */
            const int h = e / 128, r = e % 128;
            ql[64 * h + r % 64] |= (uint8_t)((u & 15) << (4 * (r / 64)));
            qh[32 * h + r % 32] |= (uint8_t)((u >> 4) << (2 * (r / 32)));
        }
        memcpy(b + 192, q.sc, 16);
        store_u16(b + 208, q.d);
    }
}

/* Q8_K super-block (292 bytes): f32 d, i8 qs[256], i16 bsums[16] (sum of
 * each 16 quants). value = d*q. The value of largest magnitude maps to
 * -128 (d takes the opposite sign), so the full int8 range is used. */
void brisk_quantize_q8_k(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K, b += 292) {
        float xm = 0.0f;
        for (int e = 0; e < QK_K; e++)
            if (fabsf(src[e]) > fabsf(xm)) xm = src[e];
        int8_t qs[QK_K];
        float d = 0.0f;
        if (isfinite(xm)) d = xm / -128.0f; /* 0 for an all-zero block (or underflow) */
        if (d != 0.0f) {
            for (int e = 0; e < QK_K; e++) qs[e] = (int8_t)qround(src[e] / d, -128, 127);
        } else {
            memset(qs, 0, sizeof qs);
        }
        memcpy(b, &d, 4);
        memcpy(b + 4, qs, QK_K);
        for (int j = 0; j < 16; j++) {
            int16_t sum = 0;
            for (int l = 0; l < 16; l++) sum = (int16_t)(sum + qs[16 * j + l]);
            memcpy(b + 260 + 2 * j, &sum, 2);
        }
    }
}
