// Dequantization kernels: one thread per element, block layouts as in src/quant.
#include <cuda_fp16.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

extern "C" {
#include "quant/quant.h"
}

// f16 bits -> f32, exact (the same result as brisk_fp16_to_f32).
__device__ static float half_bits_to_float(unsigned short h) {
    return __half2float(__ushort_as_half(h));
}

__device__ static unsigned short load_u16(const unsigned char *p) {
    return (unsigned short)(p[0] | (p[1] << 8));
}

// F16: [n] halves -> [n] floats
__global__ static void dequant_f16(const unsigned char *src, float *dst, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = half_bits_to_float(load_u16(src + 2 * i));
}

// Q8_0 block (34 bytes): f16 d; int8 qs[32]; x[j] = d * qs[j]
__global__ static void dequant_q8_0(const unsigned char *src, float *dst, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const unsigned char *block = src + (i / 32) * 34;
    float d = half_bits_to_float(load_u16(block));
    dst[i] = d * (float)(signed char)block[2 + i % 32];
}

extern "C" brisk_status brisk_cuda_dequantize(brisk_type type, const void *src, float *dst,
                                              int64_t n, brisk_error *err) {
    const brisk_type_info *ti = brisk_type_get(type);
    if (!ti || n < 0 || n % ti->block_size)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA dequantize: bad type or length");
    void (*kernel)(const unsigned char *, float *, long long) = nullptr;
    if (type == BRISK_TYPE_F16) kernel = dequant_f16;
    if (type == BRISK_TYPE_Q8_0) kernel = dequant_q8_0;
    if (!kernel)
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "CUDA dequantize: %s not implemented yet",
                          ti->name);
    if (n == 0) return BRISK_OK;
    size_t in_bytes = brisk_type_row_bytes(type, n), out_bytes = (size_t)n * sizeof(float);
    unsigned char *d_src = nullptr;
    float *d_dst = nullptr;
    brisk_status st = BRISK_OK;
    if (cudaMalloc(&d_src, in_bytes) != cudaSuccess || cudaMalloc(&d_dst, out_bytes) != cudaSuccess) {
        st = brisk_fail(err, BRISK_ERR_NOMEM, "CUDA dequantize: cannot allocate %zu bytes on the GPU",
                        in_bytes + out_bytes);
    } else {
        const int threads = 256;
        cudaMemcpy(d_src, src, in_bytes, cudaMemcpyHostToDevice);
        kernel<<<(unsigned)((n + threads - 1) / threads), threads>>>(d_src, d_dst, n);
        cudaError_t e = cudaMemcpy(dst, d_dst, out_bytes, cudaMemcpyDeviceToHost);
        if (e != cudaSuccess)
            st = brisk_fail(err, BRISK_ERR_IO, "CUDA dequantize: %s", cudaGetErrorString(e));
    }
    cudaFree(d_src);
    cudaFree(d_dst);
    return st;
}
