/* Qwen2 / Qwen2.5 (and DeepSeek-R1-Distill-Qwen): the llama block with biases
 * on q, k and v and NeoX-style RoPE. */
#include "model/model.h"

const arch_desc arch_qwen2 = {
    .name = "qwen2",
    .rope = ROPE_NEOX,
    .act = ACT_SILU,
};
