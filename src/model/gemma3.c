/* Gemma 3 (text): GeGLU (tanh GELU), embeddings scaled by sqrt(n_embd), extra
 * RMSNorms after attention and after the FFN, QK-norm, and a 5:1 pattern of
 * sliding-window (local, RoPE base 10000) and global layers. The GGUF stores
 * norm weights with Gemma's "+1" already folded in, so plain RMSNorm applies. */
#include <math.h>

#include "model/model.h"

/* Attention scale 1/sqrt(query_pre_attn_scalar), which GGUF does not store:
 * it equals head_dim for every Gemma 3 size but the 27B, where it is
 * n_embd / n_head (5376 / 32 = 168, with head_dim 128). */
static void gemma3_finish_hparams(hparams *hp) {
    if (hp->n_embd == 5376 && hp->n_head == 32)
        hp->attn_scale = 1.0f / sqrtf((float)hp->n_embd / (float)hp->n_head);
}

const arch_desc arch_gemma3 = {
    .name = "gemma3",
    .rope = ROPE_NEOX,
    .act = ACT_GELU_TANH,
    .qk_norm = true,
    .post_norms = true,
    .embed_scale = true,
    .swa_period = 6,
    .swa_rope_base = 10000.0f,
    .finish_hparams = gemma3_finish_hparams,
};
