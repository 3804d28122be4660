/* Turning CUDA runtime errors into brisk errors. */
#ifndef BRISK_CUDA_CHECK_H
#define BRISK_CUDA_CHECK_H

#include <cuda_runtime.h>

extern "C" {
#include "base/error.h"
}

/* Evaluate a CUDA call; on failure record where and return the brisk status. */
#define CUDA_TRY(err, call)                                                                 \
    do {                                                                                    \
        cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess)                                                              \
            return brisk_fail((err), BRISK_ERR_IO, "CUDA: %s failed: %s (%s:%d)", #call,    \
                              cudaGetErrorString(e_), __FILE__, __LINE__);                  \
    } while (0)

/* After a kernel launch: report a bad launch configuration as a brisk error. */
#define CUDA_LAUNCHED(err, what)                                                            \
    do {                                                                                    \
        cudaError_t e_ = cudaGetLastError();                                                \
        if (e_ != cudaSuccess)                                                              \
            return brisk_fail((err), BRISK_ERR_IO, "CUDA: launching %s failed: %s", (what), \
                              cudaGetErrorString(e_));                                      \
    } while (0)

#endif
