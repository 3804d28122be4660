#include "model/rope.h"

#include <math.h>
#include <stdlib.h>

/* YaRN (as Hugging Face computes it): the dimension whose wavelength makes
 * `rotations` turns over the original context. */
static double yarn_correction_dim(double rotations, int dim, double base, double orig_ctx) {
    return dim * log(orig_ctx / (rotations * 2.0 * M_PI)) / (2.0 * log(base));
}

bool rope_table_init(rope_table *rt, const hparams *hp, rope_style style, float base, bool scaled,
                     const float *freq_factors) {
    int half = hp->n_rot / 2;
    rt->n_rot = hp->n_rot;
    rt->style = style;
    rt->mscale = 1.0f;
    rt->inv_freq = malloc((size_t)(half > 0 ? half : 1) * sizeof(float));
    if (!rt->inv_freq) return false;
    rope_scaling scaling = scaled ? hp->scaling : ROPE_SCALING_NONE;
    double factor = hp->rope_factor;
    double low = 0, high = 0;
    if (scaling == ROPE_SCALING_YARN) {
        low = floor(yarn_correction_dim(hp->yarn_beta_fast, hp->n_rot, base, hp->rope_orig_ctx));
        high = ceil(yarn_correction_dim(hp->yarn_beta_slow, hp->n_rot, base, hp->rope_orig_ctx));
        if (low < 0) low = 0;
        if (high > hp->n_rot - 1) high = hp->n_rot - 1;
        if (high == low) high += 0.001;
        rt->mscale = (float)((0.1 * log(factor) + 1.0) * hp->yarn_attn_factor);
    }
    for (int i = 0; i < half; i++) {
        double f = 1.0 / pow((double)base, 2.0 * i / hp->n_rot);
        if (scaling == ROPE_SCALING_LINEAR) f /= factor;
        if (scaling == ROPE_SCALING_YARN) {
            double ramp = (i - low) / (high - low);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            double extrapolate = 1.0 - ramp; /* high-frequency dims keep their frequency */
            f = f / factor * (1.0 - extrapolate) + f * extrapolate;
        }
        if (freq_factors && scaled) f /= freq_factors[i];
        rt->inv_freq[i] = (float)f;
    }
    return true;
}

void rope_table_free(rope_table *rt) {
    free(rt->inv_freq);
    rt->inv_freq = NULL;
}

void rope_apply(const rope_table *rt, float *x, int n_heads, int64_t head_stride, int32_t pos) {
    enum { CHUNK = 64 }; /* angle pairs computed at a time, then applied to every head */
    const int half = rt->n_rot / 2;
    for (int i0 = 0; i0 < half; i0 += CHUNK) {
        const int n = half - i0 < CHUNK ? half - i0 : CHUNK;
        float c[CHUNK], s[CHUNK];
        for (int i = 0; i < n; i++) {
            /* angle in f32 as the reference computes it: pos * inv_freq */
            const float angle = (float)pos * rt->inv_freq[i0 + i];
            c[i] = cosf(angle) * rt->mscale, s[i] = sinf(angle) * rt->mscale;
        }
        for (int h = 0; h < n_heads; h++) {
            float *xh = x + (int64_t)h * head_stride;
            for (int i = 0; i < n; i++) {
                const int a = rt->style == ROPE_NEOX ? i0 + i : 2 * (i0 + i);
                const int b = rt->style == ROPE_NEOX ? i0 + i + half : 2 * (i0 + i) + 1;
                const float x0 = xh[a], x1 = xh[b];
                xh[a] = x0 * c[i] - x1 * s[i];
                xh[b] = x0 * s[i] + x1 * c[i];
            }
        }
    }
}
