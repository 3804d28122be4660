// Device discovery for the CUDA backend.
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
