/* Quantization recipes (src/quant/mix.c) and importance-weighted K-quants.
 *
 * The recipe checks restate llama.cpp's published rules (mix.h) layer by
 * layer for a 32-layer model, so a change to any rule fails here. The
 * importance checks use random rows with a few heavily weighted columns: the
 * importance-weighted search must give a smaller weighted error than the
 * plain one (K-quants and Q4_0..Q5_1), uniform importance must give the K-quant
 * search's bytes, and the legacy types' search with uniform importance must
 * not be worse than gguf's max-based rule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "brisk.h"
#include "quant/mix.h"
#include "test.h"

static brisk_type type_of(const char *recipe, const quant_model_info *m, const char *name, int64_t ne0) {
    quant_recipe r;
    if (!quant_recipe_find(recipe, false, &r)) return (brisk_type)-1;
    int layer;
    tensor_role role = quant_role_of(name, 2, &layer);
    return quant_mix_type(&r, m, role, layer, ne0);
}

static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

TEST(mix_roles_from_names) {
    int l;
    CHECK_EQ_INT(quant_role_of("blk.12.attn_v.weight", 2, &l), ROLE_V);
    CHECK_EQ_INT(l, 12);
    CHECK_EQ_INT(quant_role_of("blk.0.ffn_down.weight", 2, &l), ROLE_DOWN);
    CHECK_EQ_INT(quant_role_of("blk.0.attn_norm.weight", 1, &l), ROLE_NORM);
    CHECK_EQ_INT(quant_role_of("blk.0.attn_q.bias", 1, &l), ROLE_BIAS);
    CHECK_EQ_INT(quant_role_of("output.weight", 2, &l), ROLE_OUTPUT);
    CHECK_EQ_INT(l, -1);
    CHECK_EQ_INT(quant_role_of("token_embd.weight", 2, &l), ROLE_EMBD);
    CHECK_EQ_INT(quant_role_of("blk.3.something_new.weight", 2, &l), ROLE_OTHER_MATRIX);
}

TEST(mix_q4_k_m_rules) {
    const int n = 32;
    quant_model_info m = {.n_layer = n, .n_gqa = 4, .has_output = true};
    char name[64];
    int n_more = 0;
    for (int i = 0; i < n; i++) {
        brisk_type want = more_bits(i, n) ? BRISK_TYPE_Q6_K : BRISK_TYPE_Q4_K;
        n_more += more_bits(i, n);
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", i);
        CHECK_EQ_INT(type_of("Q4_K_M", &m, name, 4096), want);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", i);
        CHECK_EQ_INT(type_of("q4_k_m", &m, name, 14336), want);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", i);
        CHECK_EQ_INT(type_of("Q4_K_M", &m, name, 4096), BRISK_TYPE_Q4_K);
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", i);
        CHECK_EQ_INT(type_of("Q5_K_M", &m, name, 4096), BRISK_TYPE_Q5_K);
    }
    CHECK_EQ_INT(n_more, 16); /* "about half": 4 + 4 + every third of the 24 in between */
    CHECK_EQ_INT(type_of("Q4_K_M", &m, "output.weight", 4096), BRISK_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("Q4_K_M", &m, "token_embd.weight", 4096), BRISK_TYPE_Q4_K);
    m.has_output = false; /* tied: the embedding is the output matrix */
    CHECK_EQ_INT(type_of("Q4_K_M", &m, "token_embd.weight", 4096), BRISK_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("Q8_0", &m, "token_embd.weight", 4096), BRISK_TYPE_Q8_0);
    CHECK_EQ_INT(type_of("Q4_0", &m, "token_embd.weight", 4096), BRISK_TYPE_Q6_K);
}

TEST(mix_small_and_legacy_rules) {
    const int n = 32;
    quant_model_info m = {.n_layer = n, .n_gqa = 4, .has_output = true};
    CHECK_EQ_INT(type_of("Q2_K", &m, "blk.5.attn_v.weight", 4096), BRISK_TYPE_Q4_K);
    m.n_gqa = 1;
    CHECK_EQ_INT(type_of("Q2_K", &m, "blk.5.attn_v.weight", 4096), BRISK_TYPE_Q3_K);
    CHECK_EQ_INT(type_of("Q2_K", &m, "blk.5.ffn_down.weight", 4096), BRISK_TYPE_Q3_K);
    CHECK_EQ_INT(type_of("Q2_K", &m, "blk.5.attn_output.weight", 4096), BRISK_TYPE_Q3_K);
    CHECK_EQ_INT(type_of("Q2_K", &m, "blk.5.ffn_up.weight", 4096), BRISK_TYPE_Q2_K);
    CHECK_EQ_INT(type_of("Q3_K_M", &m, "blk.1.attn_v.weight", 4096), BRISK_TYPE_Q5_K);
    CHECK_EQ_INT(type_of("Q3_K_M", &m, "blk.2.attn_v.weight", 4096), BRISK_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("Q3_K_M", &m, "blk.1.ffn_down.weight", 4096), BRISK_TYPE_Q5_K);
    CHECK_EQ_INT(type_of("Q3_K_M", &m, "blk.2.ffn_down.weight", 4096), BRISK_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("Q3_K_M", &m, "blk.9.attn_output.weight", 4096), BRISK_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("Q3_K_L", &m, "blk.9.attn_output.weight", 4096), BRISK_TYPE_Q5_K);
    CHECK_EQ_INT(type_of("Q3_K_S", &m, "blk.9.attn_v.weight", 4096), BRISK_TYPE_Q3_K);
    CHECK_EQ_INT(type_of("Q4_K_S", &m, "blk.3.attn_v.weight", 4096), BRISK_TYPE_Q5_K);
    CHECK_EQ_INT(type_of("Q4_K_S", &m, "blk.4.attn_v.weight", 4096), BRISK_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("Q4_K_S", &m, "blk.3.ffn_down.weight", 4096), BRISK_TYPE_Q5_K);
    CHECK_EQ_INT(type_of("Q4_K_S", &m, "blk.4.ffn_down.weight", 4096), BRISK_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("Q5_K_S", &m, "blk.0.attn_v.weight", 4096), BRISK_TYPE_Q5_K);
    CHECK_EQ_INT(type_of("Q6_K", &m, "blk.0.attn_v.weight", 4096), BRISK_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("Q5_1", &m, "blk.0.ffn_down.weight", 4096), BRISK_TYPE_Q5_1);
    /* Q4_0/Q5_0 keep the first eighth of ffn_down at Q4_1/Q5_1 only with an imatrix */
    CHECK_EQ_INT(type_of("Q4_0", &m, "blk.0.ffn_down.weight", 4096), BRISK_TYPE_Q4_0);
    m.has_imatrix = true;
    CHECK_EQ_INT(type_of("Q4_0", &m, "blk.0.ffn_down.weight", 4096), BRISK_TYPE_Q4_1);
    CHECK_EQ_INT(type_of("Q5_0", &m, "blk.3.ffn_down.weight", 4096), BRISK_TYPE_Q5_1);
    CHECK_EQ_INT(type_of("Q5_0", &m, "blk.4.ffn_down.weight", 4096), BRISK_TYPE_Q5_0);
    quant_recipe r;
    CHECK(quant_recipe_find("Q4_0", true, &r) && r.mix == MIX_PURE); /* synth's reading */
    CHECK(quant_recipe_find("Q4_K_M", true, &r) && r.mix == MIX_Q4_K_M && r.ftype == 15);
    CHECK(!quant_recipe_find("Q4_K_X", false, &r));
}

TEST(mix_row_fallbacks) {
    quant_model_info m = {.n_layer = 24, .n_gqa = 7, .has_output = true};
    /* 896-wide rows (Qwen2.5-0.5B): K-quants fall back */
    CHECK_EQ_INT(type_of("Q4_K_M", &m, "blk.5.attn_q.weight", 896), BRISK_TYPE_Q5_0);
    CHECK_EQ_INT(type_of("Q4_K_M", &m, "blk.0.attn_v.weight", 896), BRISK_TYPE_Q8_0);  /* Q6_K -> Q8_0 */
    CHECK_EQ_INT(type_of("Q5_K_S", &m, "blk.5.attn_q.weight", 896), BRISK_TYPE_Q5_1);
    CHECK_EQ_INT(type_of("Q3_K_S", &m, "blk.5.attn_q.weight", 896), BRISK_TYPE_Q4_0);
    CHECK_EQ_INT(type_of("Q4_K_M", &m, "output.weight", 896), BRISK_TYPE_Q8_0);
    CHECK_EQ_INT(type_of("Q4_K_M", &m, "blk.4.ffn_down.weight", 4864), BRISK_TYPE_Q4_K); /* 19 x 256 */
    CHECK_EQ_INT(type_of("Q4_K_M", &m, "blk.5.ffn_down.weight", 4864), BRISK_TYPE_Q6_K); /* more_bits(5, 24) */
    CHECK_EQ_INT(type_of("Q4_0", &m, "blk.5.ffn_down.weight", 40), BRISK_TYPE_F16);
    CHECK_EQ_INT(quant_fit_row(BRISK_TYPE_Q2_K, 512), BRISK_TYPE_Q2_K);
}

/* ---- importance ---------------------------------------------------------------- */

enum { IMP_N = 8 * 256 };

static double weighted_err(brisk_type t, const float *x, const float *imp, const float *use_imp) {
    uint8_t q[IMP_N * 2];
    float y[IMP_N];
    brisk_error err;
    CHECK(brisk_quantize_weighted(t, x, q, IMP_N, use_imp, &err) == BRISK_OK);
    CHECK(brisk_dequantize(t, q, y, IMP_N, &err) == BRISK_OK);
    double e = 0;
    for (int i = 0; i < IMP_N; i++) e += imp[i] * (double)(x[i] - y[i]) * (x[i] - y[i]);
    return e;
}

TEST(importance_lowers_weighted_error) {
    static const brisk_type types[] = {BRISK_TYPE_Q2_K, BRISK_TYPE_Q3_K, BRISK_TYPE_Q4_K, BRISK_TYPE_Q5_K,
                                       BRISK_TYPE_Q6_K, BRISK_TYPE_Q4_0, BRISK_TYPE_Q4_1, BRISK_TYPE_Q5_0,
                                       BRISK_TYPE_Q5_1};
    float *x = malloc(sizeof(float) * IMP_N), *imp = malloc(sizeof(float) * IMP_N);
    test_seed(0x1A7u);
    for (int i = 0; i < IMP_N; i++) {
        x[i] = test_rand_normal();
        /* a few columns meet activations 30x larger (as outlier channels do) */
        imp[i] = test_rand_uniform() < 0.06f ? 900.0f : 0.2f + test_rand_uniform();
    }
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        CHECK(brisk_type_takes_importance(types[k]));
        double plain = weighted_err(types[k], x, imp, NULL), weighted = weighted_err(types[k], x, imp, imp);
        CHECK_MSG(weighted <= plain, "%s: weighted search worse than plain", brisk_type_get(types[k])->name);
        CHECK_MSG(weighted < 0.8 * plain, "%s: weighted error %.4g not below 0.8 x plain %.4g",
                  brisk_type_get(types[k])->name, weighted, plain);
    }
    CHECK(!brisk_type_takes_importance(BRISK_TYPE_Q8_0));
    free(x);
    free(imp);
}

TEST(importance_uniform_equals_plain) {
    float *x = malloc(sizeof(float) * IMP_N), *ones = malloc(sizeof(float) * IMP_N);
    uint8_t *a = malloc(IMP_N), *b = malloc(IMP_N);
    test_seed(0x1A8u);
    for (int i = 0; i < IMP_N; i++) x[i] = test_rand_normal(), ones[i] = 3.0f;
    static const brisk_type types[] = {BRISK_TYPE_Q2_K, BRISK_TYPE_Q3_K, BRISK_TYPE_Q4_K, BRISK_TYPE_Q5_K,
                                       BRISK_TYPE_Q6_K};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint64_t nb = brisk_type_row_bytes(types[k], IMP_N);
        CHECK(brisk_quantize(types[k], x, a, IMP_N, NULL) == BRISK_OK);
        CHECK(brisk_quantize_weighted(types[k], x, b, IMP_N, ones, NULL) == BRISK_OK);
        CHECK_MSG(!memcmp(a, b, nb), "%s: uniform importance changed the result", brisk_type_get(types[k])->name);
    }
    free(x);
    free(ones);
    free(a);
    free(b);
}

TEST(importance_legacy_uniform_not_worse) {
    static const brisk_type types[] = {BRISK_TYPE_Q4_0, BRISK_TYPE_Q4_1, BRISK_TYPE_Q5_0, BRISK_TYPE_Q5_1};
    float *x = malloc(sizeof(float) * IMP_N), *ones = malloc(sizeof(float) * IMP_N);
    test_seed(0x1A9u);
    for (int i = 0; i < IMP_N; i++) x[i] = test_rand_normal(), ones[i] = 1.0f;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        double plain = weighted_err(types[k], x, ones, NULL), searched = weighted_err(types[k], x, ones, ones);
        CHECK_MSG(searched < 0.97 * plain, "%s: searched %.4g not below plain %.4g", brisk_type_get(types[k])->name,
                  searched, plain);
        /* values already on the type's grid (a model dequantized from it) are found again exactly */
        uint8_t *q = malloc(brisk_type_row_bytes(types[k], IMP_N));
        float *on_grid = malloc(sizeof(float) * IMP_N);
        brisk_quantize(types[k], x, q, IMP_N, NULL);
        brisk_dequantize(types[k], q, on_grid, IMP_N, NULL);
        CHECK_MSG(weighted_err(types[k], on_grid, ones, ones) == 0.0, "%s: grid not re-found",
                  brisk_type_get(types[k])->name);
        free(q);
        free(on_grid);
    }
    free(x);
    free(ones);
}
