/* GPU kernels against the CPU reference on random data. Runs on a machine
 * with an NVIDIA GPU (tests/gpu/run.sh); prints "N passed, N failed".
 * Optional argument: run only the groups whose name contains it. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"
#include "base/fp16.h"

static int n_passed, n_failed;

void gpu_check(bool ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) n_passed++;
    else n_failed++;
}

static uint64_t rng = 88172645463325252ull;
uint32_t gpu_rand_u32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

float gpu_rand_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)(gpu_rand_u32() & 0xFFFFFF) / 16777216.0f;
}

uint16_t gpu_rand_half(int lo_exp, int hi_exp) {
    int e = lo_exp + (int)(gpu_rand_u32() % (uint32_t)(hi_exp - lo_exp));
    uint16_t h = (uint16_t)(((e + 15) << 10) | (gpu_rand_u32() & 0x3FF));
    return (uint16_t)(h | (gpu_rand_u32() & 1 ? 0x8000 : 0));
}

double gpu_rel_err(const float *a, const double *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    double r = sqrt(num / den);
    return isnan(r) ? INFINITY : r;
}

void *gpu_upload_copy(const void *host, size_t bytes) {
    void *d = NULL;
    brisk_error err;
    if (brisk_cuda_alloc(&d, bytes, "test buffer", &err) != BRISK_OK ||
        brisk_cuda_upload(d, host, bytes, &err) != BRISK_OK) {
        printf("FAIL setup: %s\n", err.msg);
        exit(1);
    }
    return d;
}

void *gpu_alloc_poisoned(size_t bytes) {
    void *h = malloc(bytes);
    memset(h, 0xFF, bytes);
    void *d = gpu_upload_copy(h, bytes);
    free(h);
    return d;
}

void gpu_download(void *host, const void *dev, size_t bytes) {
    brisk_error err;
    if (brisk_cuda_sync(&err) != BRISK_OK || brisk_cuda_download(host, dev, bytes, &err) != BRISK_OK) {
        printf("FAIL download: %s\n", err.msg);
        exit(1);
    }
}

bool gpu_same_bytes(const void *d_a, const void *d_b, size_t bytes) {
    uint8_t *a = malloc(bytes), *b = malloc(bytes);
    gpu_download(a, d_a, bytes);
    gpu_download(b, d_b, bytes);
    bool same = memcmp(a, b, bytes) == 0;
    free(a);
    free(b);
    return same;
}

int main(int argc, char **argv) {
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
    const struct { const char *name; void (*fn)(void); } groups[] = {
        {"dequant", gpu_test_dequant}, {"matmul", gpu_test_matmul}, {"ops", gpu_test_ops},
        {"attention", gpu_test_attention}, {"errors", gpu_test_errors}, {"fused", gpu_test_fused},
        {"gemv_f16", gpu_test_gemv_f16},
    };
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (argc < 2 || strstr(groups[i].name, argv[1])) groups[i].fn();
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed != 0;
}
