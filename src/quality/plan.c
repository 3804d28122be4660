/* Quantization plans (see plan.h). */
#include "quality/plan.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static bool is_float_type(brisk_type t) {
    return t == BRISK_TYPE_F32 || t == BRISK_TYPE_F16 || t == BRISK_TYPE_BF16;
}

/* An integer metadata value "<arch>.<suffix>", or def. */
static int64_t arch_int(const brisk_gguf *g, const char *suffix, int64_t def) {
    const brisk_gguf_value *a = brisk_gguf_find(g, "general.architecture");
    if (!a || a->type != BRISK_GGUF_STRING || a->v.str.len > 64) return def;
    char key[160];
    snprintf(key, sizeof key, "%.*s.%s", (int)a->v.str.len, a->v.str.ptr, suffix);
    const brisk_gguf_value *v = brisk_gguf_find(g, key);
    int64_t out;
    return v && brisk_gguf_value_int(v, &out) ? out : def;
}

brisk_status quant_plan_build(quant_plan *p, const brisk_gguf *g, const quant_recipe *r, const imatrix *im,
                              brisk_error *err) {
    *p = (quant_plan){0};
    uint64_t n = brisk_gguf_n_tensors(g);
    p->tensors = calloc(n ? n : 1, sizeof *p->tensors);
    if (!p->tensors) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
    p->n = (int)n;
    int64_t n_head = arch_int(g, "attention.head_count", 1), n_kv = arch_int(g, "attention.head_count_kv", n_head);
    p->info = (quant_model_info){.n_layer = (int)arch_int(g, "block_count", 0),
                                 .n_gqa = n_kv > 0 ? (int)(n_head / n_kv) : 1,
                                 .has_output = brisk_gguf_find_tensor(g, "output.weight") != NULL,
                                 .has_imatrix = im != NULL};
    for (int i = 0; i < p->n; i++) {
        quant_tensor *t = &p->tensors[i];
        t->src = brisk_gguf_tensor_at(g, (uint64_t)i);
        if (t->src->name.len >= sizeof t->name || memchr(t->src->name.ptr, 0, t->src->name.len)) {
            quant_plan_free(p);
            return brisk_fail(err, BRISK_ERR_FORMAT, "tensor %d: name too long or holding a NUL byte", i);
        }
        memcpy(t->name, t->src->name.ptr, t->src->name.len);
        t->role = quant_role_of(t->name, t->src->n_dims, &t->layer);
        if (!quant_plan_is_matrix(p, i)) {
            t->type = t->src->type; /* vectors are copied as they are */
            continue;
        }
        if (!brisk_type_get(t->src->type)->can_dequantize) {
            quant_plan_free(p);
            return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "tensor %s: brisk cannot read type %s", t->name,
                              brisk_type_get(t->src->type)->name);
        }
        int64_t ne0 = t->src->ne[0];
        brisk_type want = quant_mix_choice(r, &p->info, t->role, t->layer, ne0);
        t->type = quant_fit_row(want, ne0);
        if (t->type != want) p->n_fallback++;
        if (!is_float_type(t->src->type)) p->n_requantized++;
        if (im && brisk_type_takes_importance(t->type)) {
            const imatrix_entry *e = imatrix_find(im, t->name);
            if (!e) {
                p->n_missing_imatrix++;
                continue;
            }
            if (e->n_cols != ne0) {
                brisk_status st = brisk_fail(err, BRISK_ERR_FORMAT,
                                             "the importance matrix has %lld columns for %s, which has %lld",
                                             (long long)e->n_cols, t->name, (long long)ne0);
                quant_plan_free(p);
                return st;
            }
            if (!(t->imp = malloc((size_t)ne0 * sizeof(float)))) {
                quant_plan_free(p);
                return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
            }
            imatrix_mean_sq(e, t->imp);
        }
    }
    return BRISK_OK;
}

void quant_plan_free(quant_plan *p) {
    for (int i = 0; i < p->n; i++) free(p->tensors[i].imp);
    free(p->tensors);
    *p = (quant_plan){0};
}

bool quant_plan_is_matrix(const quant_plan *p, int i) {
    return p->tensors[i].role != ROLE_NORM && p->tensors[i].role != ROLE_BIAS;
}

uint64_t quant_plan_bytes(const quant_plan *p, uint64_t *matrix_bytes, uint64_t *n_matrix_params) {
    uint64_t total = 0, mb = 0, mp = 0;
    for (int i = 0; i < p->n; i++) {
        const quant_tensor *t = &p->tensors[i];
        uint64_t rows = t->src->n_elements / (uint64_t)t->src->ne[0];
        uint64_t b = brisk_type_row_bytes(t->type, t->src->ne[0]) * rows;
        total += b;
        if (quant_plan_is_matrix(p, i)) {
            mb += b;
            mp += t->src->n_elements;
        }
    }
    if (matrix_bytes) *matrix_bytes = mb;
    if (n_matrix_params) *n_matrix_params = mp;
    return total;
}

void quant_plan_summary(const quant_plan *p, FILE *out) {
    for (int type = 0; type < BRISK_TYPE_COUNT; type++) {
        int count = 0;
        uint64_t bytes = 0;
        for (int i = 0; i < p->n; i++)
            if ((int)p->tensors[i].type == type) {
                count++;
                bytes += brisk_type_row_bytes(p->tensors[i].type, p->tensors[i].src->ne[0]) *
                         (p->tensors[i].src->n_elements / (uint64_t)p->tensors[i].src->ne[0]);
            }
        if (count) fprintf(out, "  %-6s %4d tensors %10.2f MB\n", brisk_type_get((uint32_t)type)->name, count, bytes / 1e6);
    }
    uint64_t mb, mp, total = quant_plan_bytes(p, &mb, &mp);
    fprintf(out, "  total  %4d tensors %10.2f MB; matrices %.3f bits per weight\n", p->n, total / 1e6,
            mp ? 8.0 * (double)mb / (double)mp : 0.0);
}
