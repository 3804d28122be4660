// Block-wide reductions shared by the kernels.
#ifndef BRISK_CUDA_REDUCE_CUH
#define BRISK_CUDA_REDUCE_CUH

namespace brisk_cuda {

// The sum of v over every thread of the block (blockDim.x a multiple of 32, at
// most 1024), returned to every thread: across each warp by shuffles, then the
// warps' sums by the first warp. Synchronizes the block: call it from every
// thread.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float warp_sums[32];
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        v = threadIdx.x < blockDim.x / 32 ? warp_sums[threadIdx.x] : 0.0f;
        for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (threadIdx.x == 0) warp_sums[0] = v;
    }
    __syncthreads();
    const float sum = warp_sums[0];
    __syncthreads(); // a later call may overwrite warp_sums
    return sum;
}

} // namespace brisk_cuda

#endif
