/* Rotary position embeddings: per-dimension frequencies (with linear,
 * llama3-style or YaRN scaling folded in) computed once per layer kind. */
#ifndef BRISK_MODEL_ROPE_H
#define BRISK_MODEL_ROPE_H

#include "model/model.h"

typedef struct rope_table {
    int32_t n_rot;     /* rotated dims (even) */
    rope_style style;
    float *inv_freq;   /* [n_rot / 2] radians per position */
    float mscale;      /* multiplies cos and sin (YaRN magnitude correction; else 1) */
} rope_table;

/* scaled: apply hp's scaling (false for gemma3's local layers). freq_factors: optional
 * [n_rot/2] divisors of the frequencies (llama3-style rope_freqs.weight). */
bool rope_table_init(rope_table *rt, const hparams *hp, rope_style style, float base, bool scaled,
                     const float *freq_factors);
void rope_table_free(rope_table *rt);

/* Rotate the first n_rot dims of n_heads head vectors at position pos,
 * head h at x + h * head_stride (the angles are computed once for all). */
void rope_apply(const rope_table *rt, float *x, int n_heads, int64_t head_stride, int32_t pos);

#endif
