/* Architecture shapes (see shapes.h); the recipes are src/quant/mix.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/shapes.h"

/* Published configurations of each model (config.json of the Hugging Face
 * release). All are written with an untied output matrix, as the reference
 * figures in ANCHORS.md were measured; the small Qwen and Llama 3.2 releases
 * tie theirs, which makes the real files smaller by one vocab x n_embd matrix. */
const synth_shape synth_shapes[] = {
    /* name            arch     n_embd lay  head kv   n_ff   vocab  hd   ctx     rope base */
    {"llama3.2-1b",   "llama", 2048, 16, 32, 8, 8192, 128256, 64, 131072, 500000.0f},
    {"llama3.2-3b",   "llama", 3072, 28, 24, 8, 8192, 128256, 128, 131072, 500000.0f},
    {"llama3-8b",     "llama", 4096, 32, 32, 8, 14336, 128256, 128, 8192, 500000.0f},
    {"llama3-70b",    "llama", 8192, 80, 64, 8, 28672, 128256, 128, 8192, 500000.0f},
    {"qwen2.5-0.5b",  "qwen2", 896, 24, 14, 2, 4864, 151936, 64, 32768, 1000000.0f},
    {"qwen2.5-1.5b",  "qwen2", 1536, 28, 12, 2, 8960, 151936, 128, 32768, 1000000.0f},
    {"qwen2.5-3b",    "qwen2", 2048, 36, 16, 2, 11008, 151936, 128, 32768, 1000000.0f},
    {"qwen2.5-7b",    "qwen2", 3584, 28, 28, 4, 18944, 152064, 128, 32768, 1000000.0f},
    {"qwen2.5-14b",   "qwen2", 5120, 48, 40, 8, 13824, 152064, 128, 32768, 1000000.0f},
    {"qwen2.5-32b",   "qwen2", 5120, 64, 40, 8, 27648, 152064, 128, 32768, 1000000.0f},
    {"qwen3-0.6b",    "qwen3", 1024, 28, 16, 8, 3072, 151936, 128, 40960, 1000000.0f},
    {"qwen3-1.7b",    "qwen3", 2048, 28, 16, 8, 6144, 151936, 128, 40960, 1000000.0f},
    {"qwen3-4b",      "qwen3", 2560, 36, 32, 8, 9728, 151936, 128, 40960, 1000000.0f},
    {"qwen3-8b",      "qwen3", 4096, 36, 32, 8, 12288, 151936, 128, 40960, 1000000.0f},
    {"qwen3-14b",     "qwen3", 5120, 40, 40, 8, 17408, 151936, 128, 40960, 1000000.0f},
    {"qwen3-32b",     "qwen3", 5120, 64, 64, 8, 25600, 151936, 128, 40960, 1000000.0f},
};
const int synth_n_shapes = (int)(sizeof synth_shapes / sizeof synth_shapes[0]);

const synth_shape *synth_shape_find(const char *name) {
    for (int i = 0; i < synth_n_shapes; i++)
        if (!strcasecmp(synth_shapes[i].name, name)) return &synth_shapes[i];
    return NULL;
}

int32_t synth_head_dim(const synth_shape *s) {
    return s->head_dim > 0 ? s->head_dim : (s->n_head > 0 ? s->n_embd / s->n_head : 0);
}

const char *synth_shape_check(const synth_shape *s) {
    if (strcmp(s->arch, "llama") && strcmp(s->arch, "qwen2") && strcmp(s->arch, "qwen3"))
        return "--arch must be llama, qwen2 or qwen3";
    if (s->n_embd <= 0 || s->n_layer <= 0 || s->n_head <= 0 || s->n_head_kv <= 0 || s->n_ff <= 0 || s->n_vocab <= 0)
        return "every dimension must be positive";
    if (s->n_head % s->n_head_kv) return "--n-head must be a multiple of --n-head-kv";
    if (s->head_dim <= 0 && s->n_embd % s->n_head) return "--n-embd must be a multiple of --n-head (or give --head-dim)";
    if (synth_head_dim(s) % 2) return "the head size must be even (RoPE rotates pairs)";
    if (s->n_vocab < 512) return "--vocab must be at least 512 (256 byte tokens + merges + specials)";
    return "";
}

static void add(synth_tensor *out, int max, int *n, const char *name, tensor_role role, int layer, brisk_type type,
                int64_t ne0, int64_t ne1) {
    if (out && *n < max) {
        synth_tensor *t = &out[*n];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->role = role;
        t->layer = layer;
        t->type = type;
        t->n_dims = ne1 ? 2 : 1;
        t->ne[0] = ne0;
        t->ne[1] = ne1 ? ne1 : 1;
        t->n_bytes = brisk_type_row_bytes(type, ne0) * (uint64_t)t->ne[1];
    }
    (*n)++;
}

int synth_tensors(const synth_shape *s, const synth_recipe *r, synth_tensor *out, int max) {
    int n = 0;
    int64_t hd = synth_head_dim(s), q_dim = (int64_t)s->n_head * hd, kv_dim = (int64_t)s->n_head_kv * hd;
    char name[64];
    const quant_model_info info = {.n_layer = s->n_layer, .n_gqa = s->n_head / s->n_head_kv, .has_output = true};
#define MAT(nm, role, il, ne0, ne1) add(out, max, &n, nm, role, il, quant_mix_type(r, &info, role, il, ne0), ne0, ne1)
#define VEC(nm, role, il, ne0) add(out, max, &n, nm, role, il, BRISK_TYPE_F32, ne0, 0)
    MAT("token_embd.weight", ROLE_EMBD, -1, s->n_embd, s->n_vocab);
    VEC("output_norm.weight", ROLE_NORM, -1, s->n_embd);
    MAT("output.weight", ROLE_OUTPUT, -1, s->n_embd, s->n_vocab);
    bool bias = !strcmp(s->arch, "qwen2"), qk_norm = !strcmp(s->arch, "qwen3");
    for (int il = 0; il < s->n_layer; il++) {
#define NAME(fmt) (snprintf(name, sizeof name, fmt, il), name)
        VEC(NAME("blk.%d.attn_norm.weight"), ROLE_NORM, il, s->n_embd);
        MAT(NAME("blk.%d.attn_q.weight"), ROLE_Q, il, s->n_embd, q_dim);
        if (bias) VEC(NAME("blk.%d.attn_q.bias"), ROLE_BIAS, il, q_dim);
        MAT(NAME("blk.%d.attn_k.weight"), ROLE_K, il, s->n_embd, kv_dim);
        if (bias) VEC(NAME("blk.%d.attn_k.bias"), ROLE_BIAS, il, kv_dim);
        MAT(NAME("blk.%d.attn_v.weight"), ROLE_V, il, s->n_embd, kv_dim);
        if (bias) VEC(NAME("blk.%d.attn_v.bias"), ROLE_BIAS, il, kv_dim);
        MAT(NAME("blk.%d.attn_output.weight"), ROLE_O, il, q_dim, s->n_embd);
        if (qk_norm) {
            VEC(NAME("blk.%d.attn_q_norm.weight"), ROLE_NORM, il, hd);
            VEC(NAME("blk.%d.attn_k_norm.weight"), ROLE_NORM, il, hd);
        }
        VEC(NAME("blk.%d.ffn_norm.weight"), ROLE_NORM, il, s->n_embd);
        MAT(NAME("blk.%d.ffn_gate.weight"), ROLE_GATE, il, s->n_embd, s->n_ff);
        MAT(NAME("blk.%d.ffn_up.weight"), ROLE_UP, il, s->n_embd, s->n_ff);
        MAT(NAME("blk.%d.ffn_down.weight"), ROLE_DOWN, il, s->n_ff, s->n_embd);
#undef NAME
    }
#undef MAT
#undef VEC
    return n;
}

uint64_t synth_model_bytes(const synth_shape *s, const synth_recipe *r, uint64_t *n_params) {
    int n = synth_tensors(s, r, NULL, 0);
    synth_tensor *ts = calloc((size_t)n, sizeof *ts);
    uint64_t bytes = 0, params = 0;
    if (ts) {
        synth_tensors(s, r, ts, n);
        for (int i = 0; i < n; i++) {
            bytes += ts[i].n_bytes;
            params += (uint64_t)ts[i].ne[0] * (uint64_t)ts[i].ne[1];
        }
        free(ts);
    }
    if (n_params) *n_params = params;
    return bytes;
}
