/* The CUDA backend's C interface. Implemented in .cu files; callable from C.
 * For now: device discovery and dequantization kernels (the first ops of the
 * backend op table), each checked against the CPU reference. */
#ifndef BRISK_CUDA_BACKEND_H
#define BRISK_CUDA_BACKEND_H

#include "brisk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices (0 when there is no driver or no GPU). */
int brisk_cuda_device_count(void);

/* "NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90" into buf. */
brisk_status brisk_cuda_device_describe(int device, char *buf, size_t buf_size, brisk_error *err);

/* Dequantize n elements on the GPU: src and dst are host buffers; the data goes
 * up, one kernel turns it into f32, the result comes back. Supports the types
 * listed in cuda_dequant.cu; others give BRISK_ERR_UNSUPPORTED. */
brisk_status brisk_cuda_dequantize(brisk_type type, const void *src, float *dst, int64_t n,
                                   brisk_error *err);

#ifdef __cplusplus
}
#endif

#endif
