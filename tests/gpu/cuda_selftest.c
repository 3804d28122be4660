/* GPU kernels against the CPU reference on random data. Runs on a machine
 * with an NVIDIA GPU (tests/gpu/run.sh); prints "N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Random blocks of `type` whose CPU dequantization is finite: random bytes,
 * then for F16 / Q8_0 scales a random finite half. */
static void fill_random(brisk_type type, uint8_t *buf, size_t bytes) {
    for (size_t i = 0; i < bytes; i++) buf[i] = (uint8_t)next_u32();
    size_t stride = type == BRISK_TYPE_F16 ? 2 : 34;
    for (size_t i = 0; i + 2 <= bytes; i += stride) {
        uint16_t h = (uint16_t)(next_u32() & 0x3bff); /* exponent < 15: finite, |x| < 1 */
        memcpy(buf + i, &h, 2);
    }
}

static int check_type(brisk_type type, int64_t n) {
    const brisk_type_info *ti = brisk_type_get(type);
    size_t bytes = brisk_type_row_bytes(type, n);
    uint8_t *src = malloc(bytes);
    float *cpu = malloc((size_t)n * sizeof(float)), *gpu = malloc((size_t)n * sizeof(float));
    fill_random(type, src, bytes);
    brisk_error err;
    int ok = brisk_dequantize(type, src, cpu, n, &err) == BRISK_OK &&
             brisk_cuda_dequantize(type, src, gpu, n, &err) == BRISK_OK;
    if (!ok) printf("FAIL dequantize %s: %s\n", ti->name, err.msg);
    int64_t bad = 0;
    for (int64_t i = 0; ok && i < n; i++) bad += memcmp(&cpu[i], &gpu[i], 4) != 0;
    if (ok && bad) printf("FAIL dequantize %s: %lld of %lld values differ\n", ti->name, (long long)bad, (long long)n);
    else if (ok) printf("ok   dequantize %s (%lld values, bit-exact)\n", ti->name, (long long)n);
    free(src); free(cpu); free(gpu);
    return ok && !bad;
}

int main(void) {
    int n_dev = brisk_cuda_device_count();
    if (n_dev == 0) {
        printf("no CUDA device\n0 passed, 1 failed\n");
        return 1;
    }
    char desc[256];
    brisk_error err;
    for (int d = 0; d < n_dev; d++)
        if (brisk_cuda_device_describe(d, desc, sizeof desc, &err) == BRISK_OK)
            printf("device %d: %s\n", d, desc);
    int passed = 0, failed = 0;
    const brisk_type types[] = {BRISK_TYPE_F16, BRISK_TYPE_Q8_0};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (check_type(types[i], 32 * 100003)) passed++; else failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
