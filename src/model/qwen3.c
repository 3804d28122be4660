/* Qwen3 (dense): no biases, per-head RMSNorm of q and k before RoPE (QK-norm),
 * NeoX-style RoPE, head_dim independent of n_embd / n_head. */
#include "model/model.h"

const arch_desc arch_qwen3 = {
    .name = "qwen3",
    .rope = ROPE_NEOX,
    .act = ACT_SILU,
    .qk_norm = true,
};
