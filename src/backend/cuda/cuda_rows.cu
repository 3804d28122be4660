// Row-wise helpers of the GPU forward pass: bias broadcast, KV cache stores
// into the paged cache and row gathers.
#include <cuda_fp16.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
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
