/* STUB: to be implemented. */
#include "quant/quant.h"
void brisk_dequantize_q4_0(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_q4_0(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_q4_1(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_q4_1(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_q5_0(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_q5_0(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_q5_1(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_q5_1(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_q8_0(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_q8_0(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
