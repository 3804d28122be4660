// Producers of the int8-activation GEMV's input (the xq8 format of
// cuda_xq.cuh): plain quantization of f16 columns, and the fused kernels of a
// 1-token pass that write the f16 matrix input and its xq8 at once (rmsnorm
// with the residual add; f32 -> f16; act(gate) * up). Each thread holds 4
// consecutive elements; 8 lanes encode one 32-element block together.
#include <cuda_fp16.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_pdl.cuh"
#include "backend/cuda/cuda_reduce.cuh"
#include "backend/cuda/cuda_xq.cuh"

using namespace brisk_cuda;

namespace {

const int MAX_NORM_ITERS = 3; // rmsnorm_xq: 4 * 1024 elements per iteration held in registers

// x16 [n_cols, n_in] -> xq8 per column; thread i: elements 4i..4i+3 of the
// columns laid end to end (n_in % 64 == 0, so no group straddles columns).
__global__ void quantize_x8_kernel(const half *__restrict__ x, uint8_t *__restrict__ xq, int64_t n_in, int64_t n) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, e = 4 * i;
    const bool valid = e < n;
    float v[4] = {0, 0, 0, 0};
    if (valid) {
        const uint2 u = *reinterpret_cast<const uint2 *>(x + e);
        const float2 a = __half22float2(*reinterpret_cast<const half2 *>(&u.x));
        const float2 b = __half22float2(*reinterpret_cast<const half2 *>(&u.y));
        v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
    }
    const int64_t col = valid ? e / n_in : 0, k = valid ? e % n_in : 0;
    quantize_group(v, valid, xq + col * xq8_bytes(n_in), n_in, k / 32);
}

// f32 x [n_in] (or act(x) * up) -> f16 out16 and xq8, as f32_to_f16 / act_mul.
__global__ void f32_to_xq_kernel(const float *__restrict__ x, const float *__restrict__ up, bool gelu,
                                 half *__restrict__ out16, uint8_t *__restrict__ xq, int64_t n_in) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    const int64_t e = 4 * ((int64_t)blockIdx.x * blockDim.x + threadIdx.x);
    const bool valid = e < n_in;
    float v[4] = {0, 0, 0, 0};
    if (valid) {
        const float4 f = *reinterpret_cast<const float4 *>(x + e);
        v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
        if (up) {
            const float4 u = *reinterpret_cast<const float4 *>(up + e);
            v[0] = act(v[0], gelu) * u.x, v[1] = act(v[1], gelu) * u.y;
            v[2] = act(v[2], gelu) * u.z, v[3] = act(v[3], gelu) * u.w;
        }
#pragma unroll
        for (int j = 0; j < 4; j++) v[j] = __half2float(__float2half_rn(v[j])); // the f16 is the matrix input
        store_halves4(out16 + e, v);
    }
    quantize_group(v, valid, xq, n_in, valid ? e / 32 : 0);
}

// One block of 1024 threads for one row: x (+= add) -> rmsnorm(x) * w ->
// f16 out16 and xq8 (the values of rmsnorm_kernel, then of quantize_x8).
__global__ void __launch_bounds__(1024)
rmsnorm_xq_kernel(float *__restrict__ x, const float *__restrict__ add, const float *__restrict__ w,
                  half *__restrict__ out16, uint8_t *__restrict__ xq, int width, float eps) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    float v[MAX_NORM_ITERS][4];
    float ss = 0.0f;
#pragma unroll
    for (int it = 0; it < MAX_NORM_ITERS; it++) {
        const int e = 4 * (threadIdx.x + it * blockDim.x);
#pragma unroll
        for (int j = 0; j < 4; j++) v[it][j] = 0.0f;
        if (e < width) {
            float4 f = *reinterpret_cast<const float4 *>(x + e);
            if (add) {
                const float4 a = *reinterpret_cast<const float4 *>(add + e);
                f.x += a.x, f.y += a.y, f.z += a.z, f.w += a.w;
                *reinterpret_cast<float4 *>(x + e) = f;
            }
            v[it][0] = f.x, v[it][1] = f.y, v[it][2] = f.z, v[it][3] = f.w;
            ss += f.x * f.x + f.y * f.y + f.z * f.z + f.w * f.w;
        }
    }
    const float scale = rsqrtf(brisk_cuda::block_sum(ss) / (float)width + eps);
#pragma unroll
    for (int it = 0; it < MAX_NORM_ITERS; it++) {
        const int e = 4 * (threadIdx.x + it * blockDim.x);
        if (4 * it * (int)blockDim.x >= width) break; // uniform over the block
        const bool valid = e < width;
        float q[4] = {0, 0, 0, 0};
        if (valid) {
            const float4 wv = w ? *reinterpret_cast<const float4 *>(w + e) : make_float4(1, 1, 1, 1);
            const float ws[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
            for (int j = 0; j < 4; j++) q[j] = __half2float(__float2half_rn(v[it][j] * scale * ws[j]));
            store_halves4(out16 + e, q);
        }
        quantize_group(q, valid, xq, width, valid ? e / 32 : 0);
    }
}

// Without the residual add: block b of width / SLICE normalizes elements
// [b SLICE, (b + 1) SLICE) (each block sums the squares of the whole row: 16
// KB of L2 reads for 4096) - one block for the row was latency-bound.
const int NORM_SLICE = 512, NORM_SLICE_THREADS = NORM_SLICE / 4;

__global__ void __launch_bounds__(NORM_SLICE_THREADS)
rmsnorm_xq_sliced_kernel(const float *__restrict__ x, const float *__restrict__ w, half *__restrict__ out16,
                         uint8_t *__restrict__ xq, int width, float eps) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    __shared__ float warp_sums[NORM_SLICE_THREADS / 32];
    const int e = blockIdx.x * NORM_SLICE + 4 * threadIdx.x;
    const float4 mine = *reinterpret_cast<const float4 *>(x + e);
    float ss = 0.0f;
    for (int i = 4 * threadIdx.x; i < width; i += NORM_SLICE) {
        const float4 f = *reinterpret_cast<const float4 *>(x + i);
        ss += f.x * f.x + f.y * f.y + f.z * f.z + f.w * f.w;
    }
    for (int o = 16; o > 0; o /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = ss;
    __syncthreads();
    ss = 0.0f;
#pragma unroll
    for (int i = 0; i < NORM_SLICE_THREADS / 32; i++) ss += warp_sums[i];
    const float scale = rsqrtf(ss / (float)width + eps);
    const float4 wv = w ? *reinterpret_cast<const float4 *>(w + e) : make_float4(1, 1, 1, 1);
    float q[4] = {mine.x * scale * wv.x, mine.y * scale * wv.y, mine.z * scale * wv.z, mine.w * scale * wv.w};
#pragma unroll
    for (int j = 0; j < 4; j++) q[j] = __half2float(__float2half_rn(q[j]));
    store_halves4(out16 + e, q);
    quantize_group(q, true, xq, width, e / 32);
}

} // namespace

extern "C" size_t brisk_cuda_xq8_bytes(int64_t n_in) { return xq8_bytes(n_in); }

extern "C" brisk_status brisk_cuda_quantize_x8(const void *d_x16, void *d_xq, int n_cols, int64_t n_in,
                                               void *stream, brisk_error *err) {
    if (n_cols < 1 || n_in <= 0 || n_in % 64)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA quantize_x8: %d columns of %lld (a multiple of 64)", n_cols,
                          (long long)n_in);
    const int64_t n = (int64_t)n_cols * n_in, threads = n / 4;
    pdl_launch(quantize_x8_kernel, dim3((unsigned)((threads + 127) / 128)), dim3(128), 0, (cudaStream_t)stream,
               (const half *)d_x16, (uint8_t *)d_xq, n_in, n);
    CUDA_LAUNCHED(err, "quantize_x8");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_f32_to_xq(const float *d_x, const float *d_up, bool gelu, void *d_out16,
                                            void *d_xq, int64_t n_in, void *stream, brisk_error *err) {
    if (n_in <= 0 || n_in % 64)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA f32_to_xq: %lld elements (a multiple of 64)", (long long)n_in);
    const int64_t threads = n_in / 4;
    pdl_launch(f32_to_xq_kernel, dim3((unsigned)((threads + 127) / 128)), dim3(128), 0, (cudaStream_t)stream, d_x,
               d_up, gelu, (half *)d_out16, (uint8_t *)d_xq, n_in);
    CUDA_LAUNCHED(err, "f32_to_xq");
    return BRISK_OK;
}

extern "C" bool brisk_cuda_rmsnorm_xq_supported(int width) {
    return width > 0 && width % 64 == 0 && width <= 4 * 1024 * MAX_NORM_ITERS;
}

extern "C" brisk_status brisk_cuda_rmsnorm_xq(float *d_x, const float *d_add, const float *d_w, void *d_out16,
                                             void *d_xq, int width, float eps, void *stream, brisk_error *err) {
    if (!brisk_cuda_rmsnorm_xq_supported(width))
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA rmsnorm_xq: width %d (a multiple of 64 up to %d)", width,
                          4 * 1024 * MAX_NORM_ITERS);
    if (!d_add && width % NORM_SLICE == 0) {
        pdl_launch(rmsnorm_xq_sliced_kernel, dim3((unsigned)(width / NORM_SLICE)), dim3(NORM_SLICE_THREADS), 0,
                   (cudaStream_t)stream, (const float *)d_x, d_w, (half *)d_out16, (uint8_t *)d_xq, width, eps);
        CUDA_LAUNCHED(err, "rmsnorm_xq");
        return BRISK_OK;
    }
    int threads = (width / 4 + 31) / 32 * 32;
    if (threads > 1024) threads = 1024;
    pdl_launch(rmsnorm_xq_kernel, dim3(1), dim3(threads), 0, (cudaStream_t)stream, d_x, d_add, d_w, (half *)d_out16,
               (uint8_t *)d_xq, width, eps);
    CUDA_LAUNCHED(err, "rmsnorm_xq");
    return BRISK_OK;
}
