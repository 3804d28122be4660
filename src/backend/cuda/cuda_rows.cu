// Row-wise helpers of the GPU forward pass: bias broadcast, KV cache stores
// into the paged cache and row gathers.
#include <cuda_fp16.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace {

const int THREADS = 256;

unsigned blocks_for(int64_t n) { return (unsigned)((n + THREADS - 1) / THREADS); }

__global__ void add_bias_kernel(float *y, const float *b, int64_t n, int width) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += b[i % width];
}

// Row r of src (f32) to row rows[r] of the cache (f16).
__global__ void kv_store_kernel(const float *src, half *cache, const int32_t *rows, int n_rows,
                                int width) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n_rows * width) return;
    const int64_t r = i / width, c = i % width;
    cache[(int64_t)rows[r] * width + c] = __float2half_rn(src[i]);
}

__global__ void gather_kernel(const float *src, const int32_t *rows, float *dst, int n_rows,
                              int width) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n_rows * width) return;
    const int64_t r = i / width, c = i % width;
    dst[i] = src[(int64_t)rows[r] * width + c];
}

} // namespace

extern "C" brisk_status brisk_cuda_add_bias(float *d_y, const float *d_b, int n_rows, int width,
                                            void *stream, brisk_error *err) {
    if (n_rows < 0 || width <= 0) return brisk_fail(err, BRISK_ERR_ARG, "CUDA add_bias: shape");
    const int64_t n = (int64_t)n_rows * width;
    if (n == 0) return BRISK_OK;
    add_bias_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(d_y, d_b, n, width);
    CUDA_LAUNCHED(err, "add_bias");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_kv_store(const float *d_src, void *d_cache16,
                                            const int32_t *d_rows, int n_rows, int width,
                                            void *stream, brisk_error *err) {
    if (n_rows < 0 || width <= 0) return brisk_fail(err, BRISK_ERR_ARG, "CUDA kv_store: shape");
    const int64_t n = (int64_t)n_rows * width;
    if (n == 0) return BRISK_OK;
    kv_store_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(d_src, (half *)d_cache16,
                                                                        d_rows, n_rows, width);
    CUDA_LAUNCHED(err, "kv_store");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_gather_rows(const float *d_src, const int32_t *d_rows,
                                               float *d_dst, int n_rows, int width, void *stream,
                                               brisk_error *err) {
    if (n_rows < 0 || width <= 0) return brisk_fail(err, BRISK_ERR_ARG, "CUDA gather_rows: shape");
    const int64_t n = (int64_t)n_rows * width;
    if (n == 0) return BRISK_OK;
    gather_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(d_src, d_rows, d_dst, n_rows,
                                                                      width);
    CUDA_LAUNCHED(err, "gather_rows");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_copy(void *d_dst, const void *d_src, size_t bytes,
                                        brisk_error *err) {
    CUDA_TRY(err, cudaMemcpy(d_dst, d_src, bytes, cudaMemcpyDeviceToDevice));
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_mem_info(size_t *free_bytes, size_t *total_bytes,
                                            brisk_error *err) {
    CUDA_TRY(err, cudaMemGetInfo(free_bytes, total_bytes));
    return BRISK_OK;
}
