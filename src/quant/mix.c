/* Quantization recipes (the rules are listed in mix.h). */
#include "quant/mix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const quant_recipe RECIPES[] = {
    {"F32", BRISK_TYPE_F32, MIX_PURE, 0},        {"F16", BRISK_TYPE_F16, MIX_PURE, 1},
    {"BF16", BRISK_TYPE_BF16, MIX_PURE, 32},     {"Q4_0", BRISK_TYPE_Q4_0, MIX_PLAIN, 2},
    {"Q4_1", BRISK_TYPE_Q4_1, MIX_PLAIN, 3},     {"Q5_0", BRISK_TYPE_Q5_0, MIX_PLAIN, 8},
    {"Q5_1", BRISK_TYPE_Q5_1, MIX_PLAIN, 9},     {"Q8_0", BRISK_TYPE_Q8_0, MIX_PLAIN, 7},
    {"Q2_K", BRISK_TYPE_Q2_K, MIX_Q2_K, 10},     {"Q3_K_S", BRISK_TYPE_Q3_K, MIX_Q3_K_S, 11},
    {"Q3_K_M", BRISK_TYPE_Q3_K, MIX_Q3_K_M, 12}, {"Q3_K_L", BRISK_TYPE_Q3_K, MIX_Q3_K_L, 13},
    {"Q4_K_S", BRISK_TYPE_Q4_K, MIX_Q4_K_S, 14}, {"Q4_K_M", BRISK_TYPE_Q4_K, MIX_Q4_K_M, 15},
    {"Q5_K_S", BRISK_TYPE_Q5_K, MIX_Q5_K_S, 16}, {"Q5_K_M", BRISK_TYPE_Q5_K, MIX_Q5_K_M, 17},
    {"Q6_K", BRISK_TYPE_Q6_K, MIX_PLAIN, 18},
    /* single types without a file type of their own: always pure */
    {"Q3_K", BRISK_TYPE_Q3_K, MIX_PURE, 11},     {"Q4_K", BRISK_TYPE_Q4_K, MIX_PURE, 14},
    {"Q5_K", BRISK_TYPE_Q5_K, MIX_PURE, 16},     {"MXFP4", BRISK_TYPE_MXFP4, MIX_PURE, 38},
};

bool quant_recipe_find(const char *name, bool singles_pure, quant_recipe *out) {
    for (size_t i = 0; i < sizeof RECIPES / sizeof RECIPES[0]; i++)
        if (!strcasecmp(RECIPES[i].name, name)) {
            *out = RECIPES[i];
            /* a single type's name: its base type is the whole name */
            if (singles_pure && !strcasecmp(brisk_type_get(out->base)->name, name)) out->mix = MIX_PURE;
            return true;
        }
    return false;
}

const char *quant_recipe_list(void) {
    return "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, "
           "Q5_K_S, Q5_K_M, Q6_K, Q3_K, Q4_K, Q5_K, MXFP4";
}

/* ---- roles -------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

tensor_role quant_role_of(const char *name, uint32_t n_dims, int *layer) {
    *layer = -1;
    if (n_dims < 2) return ends_with(name, ".bias") ? ROLE_BIAS : ROLE_NORM;
    if (!strcmp(name, "token_embd.weight")) return ROLE_EMBD;
    if (!strcmp(name, "output.weight")) return ROLE_OUTPUT;
    int il, pos = 0;
    if (sscanf(name, "blk.%d.%n", &il, &pos) != 1 || pos == 0) return ROLE_OTHER_MATRIX;
    *layer = il;
    static const struct {
        const char *name;
        tensor_role role;
    } ROLES[] = {{"attn_q.weight", ROLE_Q},      {"attn_k.weight", ROLE_K},     {"attn_v.weight", ROLE_V},
                 {"attn_output.weight", ROLE_O}, {"ffn_gate.weight", ROLE_GATE}, {"ffn_up.weight", ROLE_UP},
                 {"ffn_down.weight", ROLE_DOWN}};
    for (size_t i = 0; i < sizeof ROLES / sizeof ROLES[0]; i++)
        if (!strcmp(name + pos, ROLES[i].name)) return ROLES[i].role;
    return ROLE_OTHER_MATRIX;
}

/* ---- rules -------------------------------------------------------------------- */

static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

brisk_type quant_fit_row(brisk_type t, int64_t ne0) {
    const brisk_type_info *ti = brisk_type_get(t);
    if (ne0 % ti->block_size == 0) return t;
    switch (t) {
    case BRISK_TYPE_Q2_K: case BRISK_TYPE_Q3_K: t = BRISK_TYPE_Q4_0; break;
    case BRISK_TYPE_Q4_K: t = BRISK_TYPE_Q5_0; break;
    case BRISK_TYPE_Q5_K: t = BRISK_TYPE_Q5_1; break;
    case BRISK_TYPE_Q6_K: t = BRISK_TYPE_Q8_0; break;
    default: t = BRISK_TYPE_F16;
    }
    return ne0 % brisk_type_get(t)->block_size == 0 ? t : BRISK_TYPE_F16;
}

brisk_type quant_mix_choice(const quant_recipe *r, const quant_model_info *m, tensor_role role, int il,
                            int64_t ne0) {
    const brisk_type base = r->base;
    const quant_mix x = r->mix;
    const int n = m->n_layer;
    if (x == MIX_PURE) return base;
    if (role == ROLE_OUTPUT || (role == ROLE_EMBD && !m->has_output)) {
        if (base == BRISK_TYPE_Q8_0 || ne0 % brisk_type_get(base)->block_size) return BRISK_TYPE_Q8_0;
        return BRISK_TYPE_Q6_K;
    }
    switch (role) {
    case ROLE_V:
        if (x == MIX_Q2_K) return m->n_gqa >= 4 ? BRISK_TYPE_Q4_K : BRISK_TYPE_Q3_K;
        if (x == MIX_Q3_K_M) return il < 2 ? BRISK_TYPE_Q5_K : BRISK_TYPE_Q4_K;
        if (x == MIX_Q3_K_L) return BRISK_TYPE_Q5_K;
        if ((x == MIX_Q4_K_M || x == MIX_Q5_K_M) && more_bits(il, n)) return BRISK_TYPE_Q6_K;
        if (x == MIX_Q4_K_S && il < 4) return BRISK_TYPE_Q5_K;
        return base;
    case ROLE_DOWN:
        if (x == MIX_Q2_K) return BRISK_TYPE_Q3_K;
        if (x == MIX_Q3_K_M) return il < n / 16 ? BRISK_TYPE_Q5_K : BRISK_TYPE_Q4_K;
        if (x == MIX_Q3_K_L) return BRISK_TYPE_Q5_K;
        if ((x == MIX_Q4_K_M || x == MIX_Q5_K_M) && more_bits(il, n)) return BRISK_TYPE_Q6_K;
        if (x == MIX_Q4_K_S && il < n / 8) return BRISK_TYPE_Q5_K;
        if (x == MIX_PLAIN && m->has_imatrix && il < n / 8) {
            if (base == BRISK_TYPE_Q4_0) return BRISK_TYPE_Q4_1;
            if (base == BRISK_TYPE_Q5_0) return BRISK_TYPE_Q5_1;
        }
        return base;
    case ROLE_O:
        if (x == MIX_Q2_K) return BRISK_TYPE_Q3_K;
        if (x == MIX_Q3_K_M) return BRISK_TYPE_Q4_K;
        if (x == MIX_Q3_K_L) return BRISK_TYPE_Q5_K;
        return base;
    default: return base;
    }
}

brisk_type quant_mix_type(const quant_recipe *r, const quant_model_info *m, tensor_role role, int layer,
                          int64_t ne0) {
    if (role == ROLE_NORM || role == ROLE_BIAS) return BRISK_TYPE_F32;
    return quant_fit_row(quant_mix_choice(r, m, role, layer, ne0), ne0);
}
