/* brisk_model_load: open the GGUF file, pick the architecture, read the
 * hyperparameters and bind every weight by name, checking shape and type.
 * Nothing is used until everything has been checked. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "model/model.h"
#include "quant/quant.h"

typedef struct loader {
    brisk_model *m;
    const char *arch; /* NUL-terminated copy of general.architecture */
    brisk_error *err;
} loader;

/* ---- metadata ---------------------------------------------------------- */

static const brisk_gguf_value *find_arch_key(loader *L, const char *suffix) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", L->arch, suffix);
    return brisk_gguf_find(L->m->gguf, key);
}

/* Integer key "<arch>.<suffix>"; missing: *out = def, or an error if required. */
static bool get_int(loader *L, const char *suffix, bool required, int64_t def, int32_t *out) {
    const brisk_gguf_value *v = find_arch_key(L, suffix);
    int64_t x = def;
    if (!v) {
        if (required) {
            brisk_fail(L->err, BRISK_ERR_FORMAT, "model metadata lacks %s.%s", L->arch, suffix);
            return false;
        }
    } else if (!brisk_gguf_value_int(v, &x)) {
        brisk_fail(L->err, BRISK_ERR_FORMAT, "model metadata %s.%s is a %s, expected an integer",
                   L->arch, suffix, brisk_gguf_type_name(v->type));
        return false;
    }
    if (x < 0 || x > INT32_MAX) {
        brisk_fail(L->err, BRISK_ERR_FORMAT, "model metadata %s.%s = %lld is out of range", L->arch,
                   suffix, (long long)x);
        return false;
    }
    *out = (int32_t)x;
    return true;
}

static bool get_float(loader *L, const char *suffix, double def, float *out) {
    const brisk_gguf_value *v = find_arch_key(L, suffix);
    double x = def;
    if (v && !brisk_gguf_value_float(v, &x)) {
        brisk_fail(L->err, BRISK_ERR_FORMAT, "model metadata %s.%s is a %s, expected a number",
                   L->arch, suffix, brisk_gguf_type_name(v->type));
        return false;
    }
    *out = (float)x;
    return true;
}

static bool read_rope_scaling(loader *L, hparams *hp) {
    hp->scaling = ROPE_SCALING_NONE;
    hp->rope_factor = 1.0f;
    const brisk_gguf_value *type = find_arch_key(L, "rope.scaling.type");
    if (type && type->type == BRISK_GGUF_STRING && !brisk_str_eq(type->v.str, "none")) {
        if (brisk_str_eq(type->v.str, "linear")) hp->scaling = ROPE_SCALING_LINEAR;
        else if (brisk_str_eq(type->v.str, "yarn")) hp->scaling = ROPE_SCALING_YARN;
        else {
            brisk_fail(L->err, BRISK_ERR_UNSUPPORTED, "RoPE scaling type '%.*s' is not supported (linear, yarn)",
                       (int)type->v.str.len, type->v.str.ptr);
            return false;
        }
    }
    if (!get_float(L, "rope.scaling.factor", 1.0, &hp->rope_factor)) return false;
    if (hp->rope_factor <= 0.0f) hp->rope_factor = 1.0f;
    if (hp->scaling == ROPE_SCALING_NONE && hp->rope_factor != 1.0f) hp->scaling = ROPE_SCALING_LINEAR;
    return get_int(L, "rope.scaling.original_context_length", false, hp->n_ctx_train, &hp->rope_orig_ctx) &&
           get_float(L, "rope.scaling.yarn_beta_fast", 32.0, &hp->yarn_beta_fast) &&
           get_float(L, "rope.scaling.yarn_beta_slow", 1.0, &hp->yarn_beta_slow) &&
           get_float(L, "rope.scaling.attn_factor", 1.0, &hp->yarn_attn_factor);
}

static bool read_hparams(loader *L) {
    hparams *hp = &L->m->hp;
    const brisk_gguf_value *kv_heads = find_arch_key(L, "attention.head_count_kv");
    if (kv_heads && kv_heads->type == BRISK_GGUF_ARRAY) {
        brisk_fail(L->err, BRISK_ERR_UNSUPPORTED, "per-layer %s.attention.head_count_kv is not supported", L->arch);
        return false;
    }
    if (!get_int(L, "context_length", true, 0, &hp->n_ctx_train) ||
        !get_int(L, "embedding_length", true, 0, &hp->n_embd) ||
        !get_int(L, "block_count", true, 0, &hp->n_layer) ||
        !get_int(L, "feed_forward_length", true, 0, &hp->n_ff) ||
        !get_int(L, "attention.head_count", true, 0, &hp->n_head) ||
        !get_int(L, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv))
        return false;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_ff <= 0 || hp->n_head % hp->n_head_kv != 0) {
        brisk_fail(L->err, BRISK_ERR_FORMAT, "inconsistent hyperparameters: n_embd %d, layers %d, heads %d, kv heads %d, n_ff %d",
                   hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->n_ff);
        return false;
    }
    if (!get_int(L, "attention.key_length", false, hp->n_embd / hp->n_head, &hp->head_dim) ||
        !get_int(L, "attention.value_length", false, hp->head_dim, &hp->head_dim_v) ||
        !get_int(L, "rope.dimension_count", false, hp->head_dim, &hp->n_rot) ||
        !get_float(L, "attention.layer_norm_rms_epsilon", 1e-5, &hp->norm_eps) ||
        !get_float(L, "rope.freq_base", 10000.0, &hp->rope_base) ||
        !get_int(L, "attention.sliding_window", false, 0, &hp->n_swa) ||
        !get_float(L, "final_logit_softcapping", 0.0, &hp->final_softcap) ||
        !get_float(L, "attn_logit_softcapping", 0.0, &hp->attn_softcap) ||
        !read_rope_scaling(L, hp))
        return false;
    if (hp->head_dim <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2) {
        brisk_fail(L->err, BRISK_ERR_FORMAT, "inconsistent head size %d / rotary dims %d", hp->head_dim, hp->n_rot);
        return false;
    }
    if (!get_float(L, "attention.scale", 1.0 / sqrt((double)hp->head_dim), &hp->attn_scale)) return false;
    if (L->m->arch->finish_hparams) L->m->arch->finish_hparams(hp);
    if (L->m->arch->swa_period && hp->n_swa <= 0) {
        brisk_fail(L->err, BRISK_ERR_FORMAT, "model metadata lacks %s.attention.sliding_window", L->arch);
        return false;
    }
    return true;
}

/* ---- tensors ------------------------------------------------------------- */

static const brisk_gguf_tensor *find_tensor(loader *L, const char *name, bool required) {
    const brisk_gguf_tensor *t = brisk_gguf_find_tensor(L->m->gguf, name);
    if (!t && required) brisk_fail(L->err, BRISK_ERR_FORMAT, "missing tensor '%s'", name);
    return t;
}

static bool check_shape(loader *L, const char *name, const brisk_gguf_tensor *t, int64_t ne0, int64_t ne1) {
    bool ok = ne1 ? (t->n_dims == 2 && t->ne[0] == ne0 && t->ne[1] == ne1)
                  : (t->n_dims == 1 && t->ne[0] == ne0);
    if (!ok) {
        char got[96];
        int n = snprintf(got, sizeof got, "[");
        for (uint32_t d = 0; d < t->n_dims; d++)
            n += snprintf(got + n, sizeof got - (size_t)n, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
        snprintf(got + n, sizeof got - (size_t)n, "]");
        if (ne1)
            brisk_fail(L->err, BRISK_ERR_FORMAT, "tensor '%s' has shape %s, expected [%lld, %lld]", name, got,
                       (long long)ne0, (long long)ne1);
        else
            brisk_fail(L->err, BRISK_ERR_FORMAT, "tensor '%s' has shape %s, expected [%lld]", name, got, (long long)ne0);
        return false;
    }
    const brisk_type_info *ti = brisk_type_get(t->type);
    if (!ti->can_dequantize) {
        brisk_fail(L->err, BRISK_ERR_UNSUPPORTED, "tensor '%s' has type %s, which brisk cannot compute with yet",
                   name, ti->name);
        return false;
    }
    return true;
}

/* A matrix [n_in -> n_out] used in place. Absent and optional: w->data stays NULL. */
static bool bind_matrix(loader *L, const char *name, int64_t n_in, int64_t n_out, bool required, cpu_weight *w) {
    const brisk_gguf_tensor *t = find_tensor(L, name, required);
    if (!t) return !required;
    if (!check_shape(L, name, t, n_in, n_out)) return false;
    *w = (cpu_weight){.type = t->type, .data = t->data, .n_in = n_in, .n_out = n_out,
                      .row_bytes = brisk_type_row_bytes(t->type, n_in)};
    L->m->n_params += t->n_elements;
    L->m->n_bytes += t->n_bytes;
    return true;
}

/* A vector [n] converted to an f32 copy owned by the model. */
static bool bind_vector(loader *L, const char *name, int64_t n, bool required, const float **out) {
    *out = NULL;
    const brisk_gguf_tensor *t = find_tensor(L, name, required);
    if (!t) return !required;
    if (!check_shape(L, name, t, n, 0)) return false;
    brisk_model *m = L->m;
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? m->cap_owned * 2 : 64;
        float **owned = realloc(m->owned, (size_t)cap * sizeof *owned);
        if (!owned) { brisk_fail(L->err, BRISK_ERR_NOMEM, "out of memory"); return false; }
        m->owned = owned;
        m->cap_owned = cap;
    }
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) { brisk_fail(L->err, BRISK_ERR_NOMEM, "out of memory"); return false; }
    m->owned[m->n_owned++] = v;
    brisk_dequantize(t->type, t->data, v, n, NULL);
    m->n_params += t->n_elements;
    m->n_bytes += t->n_bytes;
    *out = v;
    return true;
}

static bool bind_layer(loader *L, int il) {
    brisk_model *m = L->m;
    const hparams *hp = &m->hp;
    layer_weights *ly = &m->layers[il];
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, k_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v, o_dim = (int64_t)hp->n_head * hp->head_dim_v;
    char n[14][96];
    static const char *const fmt[14] = {
        "blk.%d.attn_norm.weight", "blk.%d.attn_q.weight", "blk.%d.attn_k.weight", "blk.%d.attn_v.weight",
        "blk.%d.attn_output.weight", "blk.%d.attn_q.bias", "blk.%d.attn_k.bias", "blk.%d.attn_v.bias",
        "blk.%d.attn_q_norm.weight", "blk.%d.attn_k_norm.weight", "blk.%d.post_attention_norm.weight",
        "blk.%d.ffn_norm.weight", "blk.%d.ffn_gate.weight", "blk.%d.post_ffw_norm.weight"};
    for (int i = 0; i < 14; i++) snprintf(n[i], sizeof n[i], fmt[i], il);
    char up[96], down[96];
    snprintf(up, sizeof up, "blk.%d.ffn_up.weight", il);
    snprintf(down, sizeof down, "blk.%d.ffn_down.weight", il);
    const arch_desc *a = m->arch;
    bool ok = bind_vector(L, n[0], hp->n_embd, true, &ly->attn_norm) &&
              bind_matrix(L, n[1], hp->n_embd, q_dim, true, &ly->wq) &&
              bind_matrix(L, n[2], hp->n_embd, k_dim, true, &ly->wk) &&
              bind_matrix(L, n[3], hp->n_embd, v_dim, true, &ly->wv) &&
              bind_matrix(L, n[4], o_dim, hp->n_embd, true, &ly->wo) &&
              bind_vector(L, n[5], q_dim, false, &ly->bq) &&
              bind_vector(L, n[6], k_dim, false, &ly->bk) &&
              bind_vector(L, n[7], v_dim, false, &ly->bv) &&
              bind_vector(L, n[8], hp->head_dim, a->qk_norm, &ly->q_norm) &&
              bind_vector(L, n[9], hp->head_dim, a->qk_norm, &ly->k_norm) &&
              bind_vector(L, n[10], hp->n_embd, a->post_norms, &ly->post_attn_norm) &&
              bind_vector(L, n[11], hp->n_embd, true, &ly->ffn_norm) &&
              bind_matrix(L, n[12], hp->n_embd, hp->n_ff, true, &ly->w_gate) &&
              bind_matrix(L, up, hp->n_embd, hp->n_ff, true, &ly->w_up) &&
              bind_matrix(L, down, hp->n_ff, hp->n_embd, true, &ly->w_down) &&
              bind_vector(L, n[13], hp->n_embd, a->post_norms, &ly->post_ffn_norm);
    if (!ok) return false;
    ly->sliding = a->swa_period && (il + 1) % a->swa_period != 0;
    ly->rope_base = ly->sliding ? a->swa_rope_base : hp->rope_base;
    return true;
}

static bool bind_weights(loader *L) {
    brisk_model *m = L->m;
    hparams *hp = &m->hp;
    const brisk_gguf_tensor *emb = find_tensor(L, "token_embd.weight", true);
    if (!emb) return false;
    hp->n_vocab = emb->n_dims == 2 && emb->ne[1] <= INT32_MAX ? (int32_t)emb->ne[1] : 0;
    if (!bind_matrix(L, "token_embd.weight", hp->n_embd, hp->n_vocab, true, &m->tok_embd) ||
        !bind_vector(L, "output_norm.weight", hp->n_embd, true, &m->output_norm) ||
        !bind_matrix(L, "output.weight", hp->n_embd, hp->n_vocab, false, &m->output) ||
        !bind_vector(L, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freq_factors))
        return false;
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    int32_t n_tokens = brisk_vocab_size(m->vocab);
    if (n_tokens > hp->n_vocab) {
        brisk_fail(L->err, BRISK_ERR_FORMAT, "the vocabulary has %d tokens but token_embd.weight only %d rows",
                   n_tokens, hp->n_vocab);
        return false;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) { brisk_fail(L->err, BRISK_ERR_NOMEM, "out of memory"); return false; }
    for (int il = 0; il < hp->n_layer; il++)
        if (!bind_layer(L, il)) return false;
    return true;
}

/* Every matrix the forward pass multiplies with: not the embedding table,
 * which is only read by rows (the output matrix is a copy of it when tied).
 * out: room for 1 + 7 * n_layer. Returns how many. */
static int matmul_weights(brisk_model *m, cpu_weight **out) {
    int n = 0;
    out[n++] = &m->output;
    for (int il = 0; il < m->hp.n_layer && m->layers; il++) {
        layer_weights *ly = &m->layers[il];
        cpu_weight *lw[7] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down};
        for (int i = 0; i < 7; i++) out[n++] = lw[i];
    }
    return n;
}

/* Repack the matrices the CPU kernels have panel kernels for into one arena of
 * huge pages (kernels.h). Returns false only when out of memory. */
static bool make_panels(brisk_model *m) {
    cpu_weight **ws = malloc((size_t)(1 + 7 * m->hp.n_layer) * sizeof *ws);
    if (!ws) return false;
    const int n = matmul_weights(m, ws);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += (cpu_weight_panels_bytes(ws[i]) + 63) / 64 * 64;
    bool ok = true;
    if (total > 0) {
        m->panel_arena = cpu_huge_alloc((size_t)total);
        ok = m->panel_arena != NULL;
        m->panel_arena_bytes = ok ? (size_t)total : 0;
    }
    threadpool *tp = ok && total > 0 ? threadpool_create((int)sysconf(_SC_NPROCESSORS_ONLN)) : NULL;
    uint8_t *at = m->panel_arena;
    for (int i = 0; i < n && ok && total > 0; i++) {
        const uint64_t bytes = cpu_weight_panels_bytes(ws[i]);
        if (!bytes) continue;
        cpu_weight_pack_panels(ws[i], at, tp, true); /* the GGUF is a file mapping */
        at += (bytes + 63) / 64 * 64;
    }
    threadpool_free(tp);
    free(ws);
    return ok;
}

brisk_model *brisk_model_load(const char *path, brisk_error *err) {
    brisk_error_clear(err);
    brisk_model *m = calloc(1, sizeof *m);
    if (!m) { brisk_fail(err, BRISK_ERR_NOMEM, "out of memory"); return NULL; }
    char arch[64] = "";
    loader L = {.m = m, .arch = arch, .err = err};
    m->gguf = brisk_gguf_open(path, err);
    if (!m->gguf) goto fail;
    const brisk_gguf_value *a = brisk_gguf_find(m->gguf, "general.architecture");
    if (!a || a->type != BRISK_GGUF_STRING) {
        brisk_fail(err, BRISK_ERR_FORMAT, "%s: no general.architecture string in the metadata", path);
        goto fail;
    }
    m->arch = arch_find(a->v.str.ptr, (size_t)a->v.str.len);
    if (!m->arch) {
        brisk_fail(err, BRISK_ERR_UNSUPPORTED, "%s: architecture '%.*s' is not supported (brisk runs: %s)", path,
                   (int)(a->v.str.len > 40 ? 40 : a->v.str.len), a->v.str.ptr, arch_supported_list());
        goto fail;
    }
    snprintf(arch, sizeof arch, "%s", m->arch->name);
    if (!read_hparams(&L)) goto fail;
    m->vocab = brisk_vocab_load(m->gguf, err);
    if (!m->vocab) goto fail;
    if (!bind_weights(&L)) goto fail;
    if (!make_panels(m)) {
        brisk_fail(err, BRISK_ERR_NOMEM, "%s: out of memory repacking the weights for the CPU kernels", path);
        goto fail;
    }
    return m;
fail:
    brisk_model_free(m);
    return NULL;
}

void brisk_model_free(brisk_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    cpu_huge_free(m->panel_arena, m->panel_arena_bytes);
    free(m->layers);
    brisk_vocab_free(m->vocab);
    brisk_gguf_close(m->gguf);
    free(m);
}

const brisk_vocab *brisk_model_vocab(const brisk_model *m) { return m->vocab; }
const brisk_gguf *brisk_model_gguf(const brisk_model *m) { return m->gguf; }
const char *brisk_model_arch(const brisk_model *m) { return m->arch->name; }
int32_t brisk_model_n_vocab(const brisk_model *m) { return m->hp.n_vocab; }
int32_t brisk_model_n_ctx_train(const brisk_model *m) { return m->hp.n_ctx_train; }
uint64_t brisk_model_n_params(const brisk_model *m) { return m->n_params; }
uint64_t brisk_model_n_bytes(const brisk_model *m) { return m->n_bytes; }
int32_t brisk_model_n_layers(const brisk_model *m) { return m->hp.n_layer; }
