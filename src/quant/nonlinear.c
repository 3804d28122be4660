/* STUB: to be implemented. */
#include "quant/quant.h"
void brisk_dequantize_iq4_nl(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_iq4_xs(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_dequantize_mxfp4(const void *src, float *dst, int64_t n) { (void)src; (void)dst; (void)n; }
void brisk_quantize_mxfp4(const float *src, void *dst, int64_t n) { (void)src; (void)dst; (void)n; }
