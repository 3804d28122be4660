// Programmatic dependent launch (Hopper): a kernel launched with
// pdl_launch may start while the kernel before it in the stream is still
// running; it must call pdl_wait() before touching anything that kernel
// writes (and before it exits: a kernel that never waits could complete
// before its predecessor, and the next one would then not wait for it).
// pdl_trigger() lets the next kernel's blocks launch. A decode step is ~380
// dependent kernels, so the launch latency hidden this way adds up.
// BRISK_CUDA_PDL=0 launches them the ordinary way (pdl_wait is then a no-op).
#ifndef BRISK_CUDA_PDL_CUH
#define BRISK_CUDA_PDL_CUH

#include <cstdlib>
#include <cstring>
#include <cuda_runtime.h>
#include <utility>

namespace brisk_cuda {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// Loads of what the kernel before wrote (activations, their blocks' sums of
// squares): plain ld.global, cached in L1 like __ldg, but never __ldg. An
// ld.global.nc promises data constant for the kernel's whole life, so ptxas
// may hoist it above pdl_wait's griddepcontrol.wait, and under programmatic
// dependent launch this kernel runs while the one before still writes (cuda9:
// pre-norm sums of squares loaded before the wait, read stale: wrong logits).
// Weights, uploaded once, are the loads __ldg / ld.global.nc are for.
__device__ __forceinline__ uint4 ld_prev16(const void *p) {
    uint4 r;
    asm volatile("ld.global.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}
__device__ __forceinline__ uint32_t ld_prev32(const void *p) {
    uint32_t r;
    asm volatile("ld.global.u32 %0, [%1];" : "=r"(r) : "l"(p));
    return r;
}

inline bool pdl_enabled() {
    static const bool on = [] {
        const char *v = getenv("BRISK_CUDA_PDL");
        return !v || strcmp(v, "0") != 0;
    }();
    return on;
}

// kernel<<<grid, block, smem, stream>>>(args...), as a programmatic dependent launch.
template <typename... Params, typename... Args>
void pdl_launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args &&...args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = pdl_enabled() ? 1 : 0;
    cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...); // errors: the caller's CUDA_LAUNCHED
}

} // namespace brisk_cuda

#endif
