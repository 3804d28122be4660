/* Small harness of the GPU tests (tests/gpu/run.sh): every check prints one
 * "ok   ..." or "FAIL ..." line and is counted; main prints "N passed, N failed". */
#ifndef BRISK_GPU_TEST_H
#define BRISK_GPU_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/cuda/cuda_backend.h"

/* Count and print one check. */
void gpu_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

uint32_t gpu_rand_u32(void);
float gpu_rand_uniform(float lo, float hi);
/* A random finite half with |x| in [2^lo_exp, 2^hi_exp) and a random sign. */
uint16_t gpu_rand_half(int lo_exp, int hi_exp);

/* ||a - ref|| / ||ref|| (ref non-zero). */
double gpu_rel_err(const float *a, const double *ref, int64_t n);

/* Device buffer holding a copy of host[bytes]; exits on failure (test setup). */
void *gpu_upload_copy(const void *host, size_t bytes);
/* Device buffer of bytes, filled with 0xFF bytes (NaN as f32/f16), so that
 * unwritten outputs fail the checks. */
void *gpu_alloc_poisoned(size_t bytes);
void gpu_download(void *host, const void *dev, size_t bytes);
/* Whether two device buffers hold the same bytes (after a sync). */
bool gpu_same_bytes(const void *d_a, const void *d_b, size_t bytes);

/* The xq8 activation encoding (brisk_cuda_quantize_x8) on the host, and back. */
void host_quantize_x8(const float *x, int64_t n_in, uint8_t *out);
void host_dequantize_x8(const uint8_t *xq, int64_t n_in, float *x);

/* A matrix in the file layout with random quants and realistic scales
 * (test_gpu_matmul.c); malloc'ed, *bytes_out = its size. */
uint8_t *random_weights(brisk_type type, int64_t n_in, int64_t n_out, size_t *bytes_out);
/* The Q8 KV cache rule (cuda_backend.h) on the host: n values (a multiple of
 * 32) to q[n] and the f16 scales d[n / 32]. */
void host_kv_quantize_q8(const float *x, int64_t n, int8_t *q, uint16_t *d);

/* The test groups (one file each). */
void gpu_test_dequant(void);
void gpu_test_matmul(void);
void gpu_test_ops(void);
void gpu_test_attention(void);
void gpu_test_errors(void);
void gpu_test_fused(void);
void gpu_test_gemv_f16(void);

#endif
