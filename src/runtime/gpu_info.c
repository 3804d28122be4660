/* brisk_gpu_query (brisk.h): the GPU's name, memory and copy bandwidth, for
 * brisk bench and brisk fit (and anyone comparing GPU decode speed with the
 * memory's). */
#include <string.h>

#include "base/error.h"
#include "brisk.h"
#include "model/forward_cuda.h"

#ifdef BRISK_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"

#define COPY_BUFFER_BYTES ((size_t)1 << 30)

brisk_status brisk_gpu_query(brisk_gpu_info *out, bool measure_bandwidth, brisk_error *err) {
    memset(out, 0, sizeof *out);
    if (brisk_cuda_device_count() == 0) return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "no CUDA device found");
    size_t free_b = 0, total_b = 0;
    brisk_status st = brisk_cuda_device_describe(0, out->name, sizeof out->name, err);
    if (st == BRISK_OK) st = brisk_cuda_mem_info(&free_b, &total_b, err);
    out->free_bytes = free_b;
    out->total_bytes = total_b;
    out->reserve_bytes = GPU_RESERVE_BYTES;
    if (st == BRISK_OK && measure_bandwidth) st = brisk_cuda_copy_bandwidth(COPY_BUFFER_BYTES, &out->copy_gbps, err);
    return st;
}

#else

brisk_status brisk_gpu_query(brisk_gpu_info *out, bool measure_bandwidth, brisk_error *err) {
    (void)measure_bandwidth;
    memset(out, 0, sizeof *out);
    return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "this build has no CUDA backend (build with nvcc installed)");
}

#endif
