/* Plain float element types: F32, F16, BF16 (block size 1). */
#include <string.h>

#include "base/fp16.h"
#include "quant/quant.h"

void brisk_dequantize_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void brisk_quantize_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void brisk_dequantize_f16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = brisk_fp16_to_f32(h);
    }
}

void brisk_quantize_f16(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = brisk_f32_to_fp16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

void brisk_dequantize_bf16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = brisk_bf16_to_f32(h);
    }
}

void brisk_quantize_bf16(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = brisk_f32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}
