// The "xq8" activation format of the int8-activation GEMV (cuda_gemv_q8.cu),
// produced by the kernels of cuda_xq.cu.
//
// Per column of n_in elements (xq8_bytes): int8 hi[n_in], int8 lo[n_in],
// then n_in / 32 blocks XBlock. Per 32 elements: v = x * (127 / max|x|),
// hi = rint(v), lo = clamp(rint((v - hi) * 256), -127, 127), so x ~= d *
// (256 hi + lo) with d = max|x| / 127 / 256 (~16 bits: one int8 plane alone
// flipped near-tied argmaxes of the logit tests); s0 / s1 = sums of
// 256 hi + lo over elements 0..15 / 16..31 (the Q4_K mins and Q6_K offsets
// need them). An all-zero block has d = 0 and zeros. pad is 0, except in the
// "pre-norm" encoding (brisk_cuda_prenorm_xq): there the block holds x * w of
// an RMSNorm's input x and weight w, and pad the f32 bits of the block's sum
// of x^2, so that the GEMV reading it applies 1 / rms(x) to its dots.
#ifndef BRISK_CUDA_XQ_CUH
#define BRISK_CUDA_XQ_CUH

#include <cuda_fp16.h>
#include <stdint.h>

namespace brisk_cuda {

struct XBlock {
    float d;
    int s0, s1, pad;
};

__host__ __device__ inline size_t xq8_bytes(int64_t n_in) {
    return 2 * (size_t)n_in + (size_t)(n_in / 32) * sizeof(XBlock);
}

// 4 floats (already f16-representable) to 4 consecutive halves (8-byte store).
__device__ __forceinline__ void store_halves4(half *dst, const float (&v)[4]) {
    const half2 a = __floats2half2_rn(v[0], v[1]), b = __floats2half2_rn(v[2], v[3]);
    uint2 u;
    u.x = *reinterpret_cast<const uint32_t *>(&a);
    u.y = *reinterpret_cast<const uint32_t *>(&b);
    *reinterpret_cast<uint2 *>(dst) = u;
}

// Cooperative encoding of one 32-element block by 8 consecutive lanes (sub =
// lane % 8 holds elements 4 sub .. 4 sub + 3 in v). Every lane of the warp
// must call it (shuffles); lanes with valid == false store nothing. pad: the
// XBlock's pad word (cuda_xq.cuh's top comment).
__device__ __forceinline__ void quantize_group(const float (&v)[4], bool valid, uint8_t *col_base, int64_t n_in,
                                               int64_t blk, int pad = 0) {
    const int lane = threadIdx.x % 32, sub = lane % 8;
    float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 4));
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    uint32_t hi = 0, lo = 0;
    int sum = 0;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const float t = v[j] * id;
        const int h = __float2int_rn(t);
        const int l = max(-127, min(127, __float2int_rn((t - (float)h) * 256.0f)));
        sum += 256 * h + l;
        hi |= (uint32_t)(h & 0xFF) << (8 * j);
        lo |= (uint32_t)(l & 0xFF) << (8 * j);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int s1 = __shfl_sync(0xffffffffu, sum, (lane & ~7) + 4);
    if (!valid) return;
    reinterpret_cast<uint32_t *>(col_base + blk * 32)[sub] = hi;
    reinterpret_cast<uint32_t *>(col_base + n_in + blk * 32)[sub] = lo;
    if (sub == 0) reinterpret_cast<XBlock *>(col_base + 2 * n_in)[blk] = {amax / 127.0f / 256.0f, sum, s1, pad};
}

// The pre-norm encoding of one 32-element block (8 lanes, as quantize_group):
// x (4 elements per lane) times the norm weight w, the block's sum of x^2 in
// pad. The sum's order is fixed (4 per lane, then lanes by xor 1, 2, 4), so
// every producer of the encoding writes the same bits.
__device__ __forceinline__ void prenorm_group(const float (&x)[4], const float (&w)[4], bool valid, uint8_t *xq,
                                              int64_t n_in, int64_t blk) {
    float ss = x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + x[3] * x[3];
    ss += __shfl_xor_sync(0xffffffffu, ss, 1);
    ss += __shfl_xor_sync(0xffffffffu, ss, 2);
    ss += __shfl_xor_sync(0xffffffffu, ss, 4);
    const float v[4] = {x[0] * w[0], x[1] * w[1], x[2] * w[2], x[3] * w[3]};
    quantize_group(v, valid, xq, n_in, blk, __float_as_int(ss));
}

} // namespace brisk_cuda

#endif
