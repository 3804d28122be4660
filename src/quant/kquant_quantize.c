/* STUB: to be implemented. */
#include "quant/quant.h"
void brisk_quantize_q2_k(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_q3_k(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_q4_k(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_q5_k(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_q6_k(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_q8_k(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
