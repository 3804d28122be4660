/* brisk_context: one sequence's KV cache, buffers and thread pool, and
 * brisk_eval, which feeds tokens through model_forward in batches. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "runtime/context.h"

#define DEFAULT_N_CTX 4096 /* when the caller asks for 0 and the model trained longer */
#define MAX_BATCH 512

brisk_context_params brisk_context_default_params(void) {
    return (brisk_context_params){.n_ctx = 0, .n_threads = 0, .exact = false};
}

static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void brisk_context_free(brisk_context *c) {
    if (!c) return;
    threadpool_free(c->tp);
    rope_table_free(&c->rope_global);
    rope_table_free(&c->rope_local);
    free(c->k_cache);
    free(c->v_cache);
    float *bufs[] = {c->x, c->xn, c->q, c->k, c->v, c->attn, c->o, c->gate, c->up, c->scores, c->scratch, c->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(c);
}

static float *alloc_floats(int64_t n, bool *ok) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) *ok = false;
    return p;
}

brisk_context *brisk_context_create(const brisk_model *m, const brisk_context_params *p, brisk_error *err) {
    brisk_error_clear(err);
    brisk_context_params params = p ? *p : brisk_context_default_params();
    const hparams *hp = &m->hp;
    if (params.n_ctx < 0 || params.n_threads < 0) {
        brisk_fail(err, BRISK_ERR_ARG, "context: n_ctx and n_threads must not be negative");
        return NULL;
    }
    if (params.n_ctx == 0) params.n_ctx = hp->n_ctx_train < DEFAULT_N_CTX ? hp->n_ctx_train : DEFAULT_N_CTX;
    if (params.n_threads == 0) params.n_threads = default_threads();
    brisk_context *c = calloc(1, sizeof *c);
    if (!c) { brisk_fail(err, BRISK_ERR_NOMEM, "out of memory"); return NULL; }
    c->model = m;
    c->params = params;
    c->n_ctx = params.n_ctx;
    c->n_batch = c->n_ctx < MAX_BATCH ? c->n_ctx : MAX_BATCH;
    c->kv_f32 = params.exact;
    c->tp = threadpool_create(params.n_threads);
    if (c->tp) threadpool_set_exact(c->tp, params.exact); /* f32 activations in cpu_matmul */

    size_t es = c->kv_f32 ? 4 : 2;
    size_t k_bytes = (size_t)hp->n_layer * (size_t)c->n_ctx * (size_t)hp->n_head_kv * (size_t)hp->head_dim * es;
    size_t v_bytes = (size_t)hp->n_layer * (size_t)c->n_ctx * (size_t)hp->n_head_kv * (size_t)hp->head_dim_v * es;
    c->k_cache = malloc(k_bytes);
    c->v_cache = malloc(v_bytes);
    bool ok = c->tp && c->k_cache && c->v_cache;
    int64_t B = c->n_batch, q_dim = (int64_t)hp->n_head * hp->head_dim;
    int64_t o_dim = (int64_t)hp->n_head * hp->head_dim_v;
    int64_t max_in = hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd;
    if (o_dim > max_in) max_in = o_dim;
    c->x = alloc_floats(B * hp->n_embd, &ok);
    c->xn = alloc_floats(B * hp->n_embd, &ok);
    c->q = alloc_floats(B * q_dim, &ok);
    c->k = alloc_floats(B * hp->n_head_kv * hp->head_dim, &ok);
    c->v = alloc_floats(B * hp->n_head_kv * hp->head_dim_v, &ok);
    c->attn = alloc_floats(B * o_dim, &ok);
    c->o = alloc_floats(B * hp->n_embd, &ok);
    c->gate = alloc_floats(B * hp->n_ff, &ok);
    c->up = alloc_floats(B * hp->n_ff, &ok);
    c->scores = alloc_floats((int64_t)params.n_threads * c->n_ctx, &ok);
    c->scratch = alloc_floats((int64_t)params.n_threads * max_in, &ok);
    ok = ok && rope_table_init(&c->rope_global, hp, m->arch->rope, hp->rope_base, true, m->rope_freq_factors) &&
         rope_table_init(&c->rope_local, hp, m->arch->rope, m->arch->swa_rope_base, false, NULL);
    if (!ok) {
        brisk_fail(err, BRISK_ERR_NOMEM, "out of memory creating a context of %d tokens (KV cache %.1f MiB)",
                   c->n_ctx, (double)(k_bytes + v_bytes) / (1 << 20));
        brisk_context_free(c);
        return NULL;
    }
    return c;
}

void brisk_context_set_observer(brisk_context *c, brisk_matmul_observer fn, void *user) {
    c->observer = fn;
    c->observer_user = user;
}

int32_t brisk_context_n_ctx(const brisk_context *c) { return c->n_ctx; }
int32_t brisk_context_n_past(const brisk_context *c) { return c->n_past; }

void brisk_context_truncate(brisk_context *c, int32_t pos) {
    if (pos < 0) pos = 0;
    if (pos < c->n_past) c->n_past = pos;
}

brisk_status brisk_eval(brisk_context *c, const brisk_token *tokens, int32_t n, bool all_logits, brisk_error *err) {
    brisk_error_clear(err);
    const hparams *hp = &c->model->hp;
    if (n <= 0 || !tokens) return brisk_fail(err, BRISK_ERR_ARG, "eval: no tokens");
    if (n > c->n_ctx - c->n_past)
        return brisk_fail(err, BRISK_ERR_ARG,
                          "the prompt does not fit: %d tokens after %d already in a context of %d (use a larger context)",
                          n, c->n_past, c->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return brisk_fail(err, BRISK_ERR_ARG, "eval: token %d at index %d is outside the vocabulary (%d)",
                              tokens[i], i, hp->n_vocab);
    int32_t need = all_logits ? n : 1;
    if (need > c->cap_logits) {
        float *l = realloc(c->logits, (size_t)need * (size_t)hp->n_vocab * sizeof(float));
        if (!l) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory for %d rows of logits", need);
        c->logits = l;
        c->cap_logits = need;
    }
    for (int32_t done = 0; done < n;) {
        int32_t chunk = n - done < c->n_batch ? n - done : c->n_batch;
        bool last = done + chunk == n;
        /* Without all_logits only the final chunk's last row needs the output matrix. */
        float *out = all_logits ? c->logits + (size_t)done * hp->n_vocab : last ? c->logits : NULL;
        model_forward(c, tokens + done, chunk, all_logits, out);
        c->n_past += chunk;
        done += chunk;
    }
    c->n_logits = need;
    c->last_n_tokens = n;
    c->last_all_logits = all_logits;
    return BRISK_OK;
}

const float *brisk_logits(const brisk_context *c, int32_t i) {
    if (c->n_logits == 0) return NULL;
    if (i == -1) i = c->last_n_tokens - 1;
    if (i < 0 || i >= c->last_n_tokens) return NULL;
    if (!c->last_all_logits) return i == c->last_n_tokens - 1 ? c->logits : NULL;
    return c->logits + (size_t)i * (size_t)c->model->hp.n_vocab;
}
