/* The traits table: one row per tensor element type brisk knows, indexed by the
 * GGUF type id. Types without functions can be read from files and measured
 * (inspect) but not computed with. */
#include <ctype.h>
#include <string.h>

#include "base/error.h"
#include "quant/quant.h"

/* A row per type: both directions, dequantization only, or sizes only. */
#define ROW(id, nm, bs, bb, deq, qnt) [id] = {{nm, bs, bb, true, true}, deq, qnt, NULL}
/* ... whose quantizer also takes importance weights */
#define ROW_IMP(id, nm, bs, bb, deq, qnt) [id] = {{nm, bs, bb, true, true}, deq, qnt, qnt##_imp}
#define ROW_DEQ(id, nm, bs, bb, deq) [id] = {{nm, bs, bb, true, false}, deq, NULL, NULL}
#define ROW_SIZE(id, nm, bs, bb) [id] = {{nm, bs, bb, false, false}, NULL, NULL, NULL}

static const brisk_type_traits traits[BRISK_TYPE_COUNT] = {
    ROW(BRISK_TYPE_F32, "F32", 1, 4, brisk_dequantize_f32, brisk_quantize_f32),
    ROW(BRISK_TYPE_F16, "F16", 1, 2, brisk_dequantize_f16, brisk_quantize_f16),
    ROW(BRISK_TYPE_BF16, "BF16", 1, 2, brisk_dequantize_bf16, brisk_quantize_bf16),
    ROW_IMP(BRISK_TYPE_Q4_0, "Q4_0", 32, 18, brisk_dequantize_q4_0, brisk_quantize_q4_0),
    ROW_IMP(BRISK_TYPE_Q4_1, "Q4_1", 32, 20, brisk_dequantize_q4_1, brisk_quantize_q4_1),
    ROW_IMP(BRISK_TYPE_Q5_0, "Q5_0", 32, 22, brisk_dequantize_q5_0, brisk_quantize_q5_0),
    ROW_IMP(BRISK_TYPE_Q5_1, "Q5_1", 32, 24, brisk_dequantize_q5_1, brisk_quantize_q5_1),
    ROW(BRISK_TYPE_Q8_0, "Q8_0", 32, 34, brisk_dequantize_q8_0, brisk_quantize_q8_0),
    /* ggml stores Q8_1 as two halves + 32 bytes (gguf-py lists 40, from an older layout). */
    ROW_SIZE(BRISK_TYPE_Q8_1, "Q8_1", 32, 36),
    ROW_IMP(BRISK_TYPE_Q2_K, "Q2_K", 256, 84, brisk_dequantize_q2_k, brisk_quantize_q2_k),
    ROW_IMP(BRISK_TYPE_Q3_K, "Q3_K", 256, 110, brisk_dequantize_q3_k, brisk_quantize_q3_k),
    ROW_IMP(BRISK_TYPE_Q4_K, "Q4_K", 256, 144, brisk_dequantize_q4_k, brisk_quantize_q4_k),
    ROW_IMP(BRISK_TYPE_Q5_K, "Q5_K", 256, 176, brisk_dequantize_q5_k, brisk_quantize_q5_k),
    ROW_IMP(BRISK_TYPE_Q6_K, "Q6_K", 256, 210, brisk_dequantize_q6_k, brisk_quantize_q6_k),
    ROW(BRISK_TYPE_Q8_K, "Q8_K", 256, 292, brisk_dequantize_q8_k, brisk_quantize_q8_k),
    ROW_SIZE(BRISK_TYPE_IQ2_XXS, "IQ2_XXS", 256, 66),
    ROW_SIZE(BRISK_TYPE_IQ2_XS, "IQ2_XS", 256, 74),
    ROW_SIZE(BRISK_TYPE_IQ3_XXS, "IQ3_XXS", 256, 98),
    ROW_SIZE(BRISK_TYPE_IQ1_S, "IQ1_S", 256, 50),
    ROW_DEQ(BRISK_TYPE_IQ4_NL, "IQ4_NL", 32, 18, brisk_dequantize_iq4_nl),
    ROW_SIZE(BRISK_TYPE_IQ3_S, "IQ3_S", 256, 110),
    ROW_SIZE(BRISK_TYPE_IQ2_S, "IQ2_S", 256, 82),
    ROW_DEQ(BRISK_TYPE_IQ4_XS, "IQ4_XS", 256, 136, brisk_dequantize_iq4_xs),
    ROW_SIZE(BRISK_TYPE_I8, "I8", 1, 1),
    ROW_SIZE(BRISK_TYPE_I16, "I16", 1, 2),
    ROW_SIZE(BRISK_TYPE_I32, "I32", 1, 4),
    ROW_SIZE(BRISK_TYPE_I64, "I64", 1, 8),
    ROW_SIZE(BRISK_TYPE_F64, "F64", 1, 8),
    ROW_SIZE(BRISK_TYPE_IQ1_M, "IQ1_M", 256, 56),
    ROW_SIZE(BRISK_TYPE_TQ1_0, "TQ1_0", 256, 54),
    ROW_SIZE(BRISK_TYPE_TQ2_0, "TQ2_0", 256, 66),
    ROW(BRISK_TYPE_MXFP4, "MXFP4", 32, 17, brisk_dequantize_mxfp4, brisk_quantize_mxfp4),
};

const brisk_type_traits *brisk_type_traits_get(uint32_t type) {
    if (type >= BRISK_TYPE_COUNT || traits[type].info.name == NULL) return NULL;
    return &traits[type];
}

const brisk_type_info *brisk_type_get(uint32_t type) {
    const brisk_type_traits *t = brisk_type_traits_get(type);
    return t ? &t->info : NULL;
}

int brisk_type_from_name(const char *name) {
    for (int i = 0; i < BRISK_TYPE_COUNT; i++) {
        const char *tn = traits[i].info.name;
        if (!tn) continue;
        size_t k = 0;
        while (tn[k] && name[k] && toupper((unsigned char)name[k]) == tn[k]) k++;
        if (!tn[k] && !name[k]) return i;
    }
    return -1;
}

uint64_t brisk_type_row_bytes(brisk_type type, int64_t n) {
    const brisk_type_traits *t = brisk_type_traits_get(type);
    if (!t || n < 0) return 0;
    return (uint64_t)n / t->info.block_size * t->info.block_bytes;
}

static brisk_status check_call(const brisk_type_traits *t, uint32_t type, int64_t n,
                               const void *src, const void *dst, bool quantize,
                               brisk_error *err) {
    if (!t) return brisk_fail(err, BRISK_ERR_ARG, "unknown tensor type id %u", type);
    if (quantize ? !t->quantize : !t->dequantize)
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "brisk cannot %s type %s",
                          quantize ? "quantize to" : "dequantize", t->info.name);
    if (n < 0 || n % t->info.block_size != 0)
        return brisk_fail(err, BRISK_ERR_ARG,
                          "%lld elements is not a multiple of the %s block size %u",
                          (long long)n, t->info.name, t->info.block_size);
    if (n > 0 && (!src || !dst)) return brisk_fail(err, BRISK_ERR_ARG, "NULL buffer");
    return BRISK_OK;
}

brisk_status brisk_dequantize(brisk_type type, const void *src, float *dst, int64_t n,
                              brisk_error *err) {
    const brisk_type_traits *t = brisk_type_traits_get(type);
    brisk_status s = check_call(t, type, n, src, dst, false, err);
    if (s == BRISK_OK && n > 0) t->dequantize(src, dst, n);
    return s;
}

brisk_status brisk_quantize(brisk_type type, const float *src, void *dst, int64_t n,
                            brisk_error *err) {
    return brisk_quantize_weighted(type, src, dst, n, NULL, err);
}

/* Weighted squared error of one quantized block against x. */
static double block_error(const brisk_type_traits *t, const float *x, const float *imp, const void *blk, float *y) {
    const int bs = (int)t->info.block_size;
    t->dequantize(blk, y, bs);
    double mean = 0, e = 0;
    for (int i = 0; i < bs; i++) mean += imp[i] > 0 ? imp[i] : 0;
    mean = mean / bs * 0.01;
    for (int i = 0; i < bs; i++) {
        double d = (double)y[i] - x[i];
        e += ((imp[i] > 0 ? imp[i] : 0) + mean) * d * d;
    }
    return e;
}

/* With importance, block by block: the importance-weighted search's block,
 * unless the plain quantizer's has a smaller weighted error. So the result is
 * never worse than the plain one under the importance weights, and a grid the
 * input already lies on (a model dequantized from this type) is kept when the
 * plain rule re-finds it. */
static void quantize_best(const brisk_type_traits *t, const float *src, uint8_t *dst, int64_t n, const float *imp) {
    const int64_t bs = t->info.block_size, bb = t->info.block_bytes;
    uint8_t alt[512];
    float y[QK_K];
    for (int64_t i = 0; i < n; i += bs, dst += bb) {
        t->quantize_imp(src + i, dst, bs, imp + i);
        t->quantize(src + i, alt, bs);
        if (block_error(t, src + i, imp + i, alt, y) < block_error(t, src + i, imp + i, dst, y))
            memcpy(dst, alt, (size_t)bb);
    }
}

brisk_status brisk_quantize_weighted(brisk_type type, const float *src, void *dst, int64_t n,
                                     const float *importance, brisk_error *err) {
    const brisk_type_traits *t = brisk_type_traits_get(type);
    brisk_status s = check_call(t, type, n, src, dst, true, err);
    if (s != BRISK_OK || n == 0) return s;
    if (importance && t->quantize_imp) quantize_best(t, src, dst, n, importance);
    else t->quantize(src, dst, n);
    return s;
}

bool brisk_type_takes_importance(brisk_type type) {
    const brisk_type_traits *t = brisk_type_traits_get(type);
    return t && t->quantize_imp;
}
