/* brisk_gpu_info (brisk.h): the GPU's name and copy bandwidth, for brisk bench
 * and anyone comparing GPU decode speed with the memory's. */
#include "base/error.h"
#include "brisk.h"

#ifdef BRISK_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"

#define COPY_BUFFER_BYTES ((size_t)1 << 30)

brisk_status brisk_gpu_info(char *name, size_t name_size, double *copy_gbps, brisk_error *err) {
    *copy_gbps = 0;
    if (name_size) name[0] = '\0';
    if (brisk_cuda_device_count() == 0) return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "no CUDA device found");
    brisk_status st = brisk_cuda_device_describe(0, name, name_size, err);
    if (st == BRISK_OK) st = brisk_cuda_copy_bandwidth(COPY_BUFFER_BYTES, copy_gbps, err);
    return st;
}

#else

brisk_status brisk_gpu_info(char *name, size_t name_size, double *copy_gbps, brisk_error *err) {
    *copy_gbps = 0;
    if (name_size) name[0] = '\0';
    return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "this build has no CUDA backend (build with nvcc installed)");
}

#endif
