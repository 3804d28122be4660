// Device discovery for the CUDA backend.
#include <algorithm>
#include <cstdio>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

extern "C" int brisk_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); // clear the sticky "no driver" error
        return 0;
    }
    return n;
}

extern "C" brisk_status brisk_cuda_device_describe(int device, char *buf, size_t buf_size,
                                                   brisk_error *err) {
    cudaDeviceProp prop;
    CUDA_TRY(err, cudaGetDeviceProperties(&prop, device));
    snprintf(buf, buf_size, "%s, %.1f GiB, sm_%d%d, %d SMs", prop.name,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor,
             prop.multiProcessorCount);
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_alloc(void **d_ptr, size_t bytes, const char *what,
                                         brisk_error *err) {
    *d_ptr = nullptr;
    if (bytes == 0) return BRISK_OK;
    if (cudaMalloc(d_ptr, bytes) == cudaSuccess) return BRISK_OK;
    cudaGetLastError(); // an allocation failure is not sticky; clear it
    *d_ptr = nullptr;
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) cudaGetLastError();
    const double mib = 1024.0 * 1024.0;
    return brisk_fail(err, BRISK_ERR_NOMEM,
                      "CUDA: cannot allocate %s: needed %.1f MiB, %.1f MiB free of %.1f MiB", what,
                      (double)bytes / mib, (double)free_b / mib, (double)total_b / mib);
}

extern "C" void brisk_cuda_free(void *d_ptr) {
    if (d_ptr) cudaFree(d_ptr);
}

extern "C" brisk_status brisk_cuda_upload(void *d_dst, const void *src, size_t bytes,
                                          brisk_error *err) {
    CUDA_TRY(err, cudaMemcpy(d_dst, src, bytes, cudaMemcpyHostToDevice));
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_download(void *dst, const void *d_src, size_t bytes,
                                            brisk_error *err) {
    CUDA_TRY(err, cudaMemcpy(dst, d_src, bytes, cudaMemcpyDeviceToHost));
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_sync(brisk_error *err) {
    CUDA_TRY(err, cudaDeviceSynchronize());
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_host_alloc(void **p, size_t bytes, const char *what, brisk_error *err) {
    *p = nullptr;
    if (cudaHostAlloc(p, bytes ? bytes : 16, cudaHostAllocDefault) == cudaSuccess) return BRISK_OK;
    cudaGetLastError();
    *p = nullptr;
    return brisk_fail(err, BRISK_ERR_NOMEM, "CUDA: cannot allocate %.1f MiB of page-locked host memory for %s",
                      (double)bytes / (1024.0 * 1024.0), what);
}

extern "C" void brisk_cuda_host_free(void *p) {
    if (p) cudaFreeHost(p);
}

namespace {
// What brisk_cuda_copy_bandwidth holds, released on every return.
struct copy_timing {
    void *a = nullptr, *b = nullptr;
    cudaStream_t s = nullptr;
    cudaGraph_t g = nullptr;
    cudaGraphExec_t exec = nullptr;
    cudaEvent_t t0 = nullptr, t1 = nullptr;
    ~copy_timing() {
        if (exec) cudaGraphExecDestroy(exec);
        if (g) cudaGraphDestroy(g);
        if (t0) cudaEventDestroy(t0);
        if (t1) cudaEventDestroy(t1);
        if (s) cudaStreamDestroy(s);
        brisk_cuda_free(a);
        brisk_cuda_free(b);
    }
};
} // namespace

/* Two buffers of `bytes`; 4 device-to-device copies back and forth per timed
 * run (one graph, so launch gaps are not counted), the median of 9 runs after
 * a warm-up. */
extern "C" brisk_status brisk_cuda_copy_bandwidth(size_t bytes, double *gbps, brisk_error *err) {
    enum { COPIES = 4, RUNS = 9 };
    *gbps = 0;
    copy_timing c;
    brisk_status st = brisk_cuda_alloc(&c.a, bytes, "a bandwidth buffer", err);
    if (st == BRISK_OK) st = brisk_cuda_alloc(&c.b, bytes, "a bandwidth buffer", err);
    if (st != BRISK_OK) return st;
    CUDA_TRY(err, cudaMemset(c.a, 1, bytes));
    CUDA_TRY(err, cudaStreamCreateWithFlags(&c.s, cudaStreamNonBlocking));
    CUDA_TRY(err, cudaEventCreate(&c.t0));
    CUDA_TRY(err, cudaEventCreate(&c.t1));
    CUDA_TRY(err, cudaStreamBeginCapture(c.s, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < COPIES; i++) {
        cudaError_t e = cudaMemcpyAsync(i % 2 ? c.a : c.b, i % 2 ? c.b : c.a, bytes, cudaMemcpyDeviceToDevice, c.s);
        if (e != cudaSuccess) {
            cudaStreamEndCapture(c.s, &c.g);
            CUDA_TRY(err, e);
        }
    }
    CUDA_TRY(err, cudaStreamEndCapture(c.s, &c.g));
    CUDA_TRY(err, cudaGraphInstantiate(&c.exec, c.g, 0));
    CUDA_TRY(err, cudaGraphLaunch(c.exec, c.s)); // warm-up
    float ms[RUNS];
    for (int r = 0; r < RUNS; r++) {
        CUDA_TRY(err, cudaEventRecord(c.t0, c.s));
        CUDA_TRY(err, cudaGraphLaunch(c.exec, c.s));
        CUDA_TRY(err, cudaEventRecord(c.t1, c.s));
        CUDA_TRY(err, cudaEventSynchronize(c.t1));
        CUDA_TRY(err, cudaEventElapsedTime(&ms[r], c.t0, c.t1));
    }
    std::sort(ms, ms + RUNS);
    *gbps = COPIES * 2.0 * (double)bytes / (ms[RUNS / 2] * 1e-3) / 1e9;
    return BRISK_OK;
}
