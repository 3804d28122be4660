// The gate activations of the feed-forward block (SiLU, GELU-tanh), as the CPU
// reference computes them (backend/cpu/ops.c): 1 + tanh(y) as
// 2 - 2 / (e^2y + 1), which keeps its relative precision where 1 + tanh(y)
// is tiny (large negative gates; 1.0f + tanhf(y) cancels there).
#ifndef BRISK_CUDA_ACT_CUH
#define BRISK_CUDA_ACT_CUH

namespace brisk_cuda {

__device__ __forceinline__ float act(float g, bool gelu) {
    if (!gelu) return g / (1.0f + expf(-g));
    const float y = 0.7978845608028654f * (g + 0.044715f * g * g * g); // sqrt(2/pi) (g + 0.044715 g^3)
    return 0.5f * g * (2.0f - 2.0f / (expf(2.0f * y) + 1.0f));
}

} // namespace brisk_cuda

#endif
