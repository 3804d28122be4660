// Row-wise helpers of the GPU forward pass: bias broadcast, KV cache stores
// into the paged cache and row gathers.
#include <cuda_fp16.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kv.cuh"
#include "backend/cuda/cuda_pdl.cuh"

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

// The same into a Q8 cache (cuda_kv.cuh): one warp per (row r, 32-block b),
// lane i = element 32 b + i.
__global__ void kv_store_q8_kernel(const float *src, int8_t *cache, half *scales, const int32_t *rows, int n_rows,
                                   int width) {
    const int64_t w = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32, blocks = width / 32;
    if (w >= (int64_t)n_rows * blocks) return; // whole warps: blockDim is a multiple of 32
    const int64_t r = w / blocks, b = w % blocks, row = rows[r];
    half d;
    const int8_t q = brisk_cuda::q8_quantize_lane(src[r * width + 32 * b + lane], &d);
    cache[row * width + 32 * b + lane] = q;
    if (lane == 0) scales[row * blocks + b] = d;
}

__global__ void gather_kernel(const float *src, const int32_t *rows, float *dst, int n_rows,
                              int width) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
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

extern "C" size_t brisk_cuda_kv_bytes(brisk_cuda_kv_type type, int64_t rows, int64_t width) {
    const size_t n = (size_t)rows * (size_t)width;
    return type == BRISK_CUDA_KV_Q8 ? n + n / 32 * 2 : n * 2;
}

extern "C" brisk_status brisk_cuda_kv_copy_rows(void *d_cache, brisk_cuda_kv_type type, int64_t rows, int64_t width,
                                                int64_t dst_row, int64_t src_row, int64_t n_rows, brisk_error *err) {
    if (rows <= 0 || width <= 0 || n_rows < 0 || dst_row < 0 || src_row < 0 || dst_row + n_rows > rows ||
        src_row + n_rows > rows || (type == BRISK_CUDA_KV_Q8 && width % 32))
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA KV copy: rows %lld, %lld -> %lld of %lld", (long long)n_rows,
                          (long long)src_row, (long long)dst_row, (long long)rows);
    char *c = (char *)d_cache;
    if (type == BRISK_CUDA_KV_F16) return brisk_cuda_copy(c + dst_row * width * 2, c + src_row * width * 2,
                                                          (size_t)(n_rows * width) * 2, err);
    brisk_status st = brisk_cuda_copy(c + dst_row * width, c + src_row * width, (size_t)(n_rows * width), err);
    char *sc = c + rows * width; // the scales: width / 16 bytes per row
    if (st == BRISK_OK)
        st = brisk_cuda_copy(sc + dst_row * (width / 16), sc + src_row * (width / 16), (size_t)(n_rows * (width / 16)),
                             err);
    return st;
}

extern "C" brisk_status brisk_cuda_kv_store(const float *d_src, void *d_cache, brisk_cuda_kv_type type,
                                            int64_t cache_rows, const int32_t *d_rows, int n_rows, int width,
                                            void *stream, brisk_error *err) {
    if (n_rows < 0 || width <= 0 || (type == BRISK_CUDA_KV_Q8 && (width % 32 || cache_rows <= 0)))
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA kv_store: shape (width %d)", width);
    const int64_t n = (int64_t)n_rows * width;
    if (n == 0) return BRISK_OK;
    if (type == BRISK_CUDA_KV_Q8) {
        int8_t *q = (int8_t *)d_cache;
        kv_store_q8_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(
            d_src, q, (half *)(q + cache_rows * width), d_rows, n_rows, width);
    } else {
        kv_store_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(d_src, (half *)d_cache, d_rows, n_rows,
                                                                            width);
    }
    CUDA_LAUNCHED(err, "kv_store");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_gather_rows(const float *d_src, const int32_t *d_rows,
                                               float *d_dst, int n_rows, int width, void *stream,
                                               brisk_error *err) {
    if (n_rows < 0 || width <= 0) return brisk_fail(err, BRISK_ERR_ARG, "CUDA gather_rows: shape");
    const int64_t n = (int64_t)n_rows * width;
    if (n == 0) return BRISK_OK;
    brisk_cuda::pdl_launch(gather_kernel, dim3(blocks_for(n)), dim3(THREADS), 0, (cudaStream_t)stream, d_src, d_rows, d_dst, n_rows,
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

// ---- streams and graphs ------------------------------------------------------------

extern "C" brisk_status brisk_cuda_stream_create(void **stream, brisk_error *err) {
    cudaStream_t s = nullptr;
    CUDA_TRY(err, cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *stream = s;
    return BRISK_OK;
}

extern "C" void brisk_cuda_stream_free(void *stream) {
    if (stream) cudaStreamDestroy((cudaStream_t)stream);
}

extern "C" brisk_status brisk_cuda_stream_sync(void *stream, brisk_error *err) {
    CUDA_TRY(err, cudaStreamSynchronize((cudaStream_t)stream));
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_upload_async(void *d_dst, const void *src, size_t bytes, void *stream,
                                                brisk_error *err) {
    CUDA_TRY(err, cudaMemcpyAsync(d_dst, src, bytes, cudaMemcpyHostToDevice, (cudaStream_t)stream));
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_download_async(void *dst, const void *d_src, size_t bytes, void *stream,
                                                  brisk_error *err) {
    CUDA_TRY(err, cudaMemcpyAsync(dst, d_src, bytes, cudaMemcpyDeviceToHost, (cudaStream_t)stream));
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_capture_begin(void *stream, brisk_error *err) {
    CUDA_TRY(err, cudaStreamBeginCapture((cudaStream_t)stream, cudaStreamCaptureModeThreadLocal));
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_capture_end(void *stream, bool keep, void **graph_exec, brisk_error *err) {
    cudaGraph_t graph = nullptr;
    *graph_exec = nullptr;
    CUDA_TRY(err, cudaStreamEndCapture((cudaStream_t)stream, &graph));
    if (!keep) {
        cudaGraphDestroy(graph);
        return BRISK_OK;
    }
    cudaGraphExec_t exec = nullptr;
    cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess)
        return brisk_fail(err, BRISK_ERR_IO, "CUDA: instantiating a graph failed: %s", cudaGetErrorString(e));
    *graph_exec = exec;
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_graph_launch(void *graph_exec, void *stream, brisk_error *err) {
    CUDA_TRY(err, cudaGraphLaunch((cudaGraphExec_t)graph_exec, (cudaStream_t)stream));
    return BRISK_OK;
}

extern "C" void brisk_cuda_graph_free(void *graph_exec) {
    if (graph_exec) cudaGraphExecDestroy((cudaGraphExec_t)graph_exec);
}
