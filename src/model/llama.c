/* Llama 2/3.x, SmolLM2, Mistral-style models: RMSNorm, SwiGLU, GQA, RoPE on
 * adjacent pairs (the GGUF converter permutes Q/K rows for it), optional
 * llama3-style frequency factors (rope_freqs.weight), optional q/k/v biases. */
#include "model/model.h"

const arch_desc arch_llama = {
    .name = "llama",
    .rope = ROPE_NORMAL,
    .act = ACT_SILU,
};
