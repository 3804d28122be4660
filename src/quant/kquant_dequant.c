/* STUB: to be implemented. */
#include "quant/quant.h"
void brisk_dequantize_q2_k(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_q3_k(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_q4_k(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_q5_k(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_q6_k(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_q8_k(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
