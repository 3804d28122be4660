/* brisk_engine: many sequences over one paged KV cache, evaluated together in
 * shared forward passes (see brisk.h, "Many sequences at once"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "model/forward_cuda.h"
#include "runtime/engine.h"

#define DEFAULT_N_CTX 4096 /* when the caller asks for 0 and the model trained longer */
#define DEFAULT_BATCH 512
#define DEFAULT_BLOCK 16

brisk_engine_params brisk_engine_default_params(void) {
    return (brisk_engine_params){.n_seq_max = 1, .block_size = DEFAULT_BLOCK, .prefix_cache = true, .n_gpu_layers = -1};
}

static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void brisk_engine_free(brisk_engine *e) {
    if (!e) return;
    gpu_forward_host_release(e->logits, e->logits_pinned);
    gpu_forward_free(e->gpu);
    if (e->seqs)
        for (int32_t s = 0; s < e->params.n_seq_max; s++) kv_seq_release(&e->kv, &e->seqs[s]);
    kv_cache_free(&e->kv);
    threadpool_free(e->tp);
    rope_table_free(&e->rope_global);
    rope_table_free(&e->rope_local);
    void *bufs[] = {e->seqs, e->seq_open, e->x, e->xn, e->q, e->k, e->v, e->attn, e->o, e->gate, e->up,
                    e->scores, e->q_scaled, e->scratch, e->b_tokens, e->b_pos, e->b_rows_logit, e->b_rows_hidden,
                    (void *)e->b_tables, e->item_logit_off, e->item_embd_off, e->item_n_logits,
                    e->item_first_tok, e->hidden, e->embd};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(e);
}

static void *alloc_n(int64_t n, size_t size, bool *ok) {
    void *p = malloc((size_t)(n > 0 ? n : 1) * size);
    if (!p) *ok = false;
    return p;
}

static bool check_params(brisk_engine_params *p, const hparams *hp, brisk_error *err) {
    if (p->n_ctx_seq < 0 || p->n_kv_tokens < 0 || p->n_seq_max < 0 || p->n_batch < 0 || p->block_size < 0 ||
        p->n_threads < 0 || p->n_gpu_layers < -1) {
        brisk_fail(err, BRISK_ERR_ARG, "engine: sizes and counts must not be negative (n_gpu_layers: -1 = as many as fit)");
        return false;
    }
    if (p->kv_type != BRISK_KV_F16 && p->kv_type != BRISK_KV_Q8_0) {
        brisk_fail(err, BRISK_ERR_ARG, "engine: unknown kv_type %d (F16 = 0, Q8_0 = 1)", (int)p->kv_type);
        return false;
    }
    if (p->n_ctx_seq == 0) p->n_ctx_seq = hp->n_ctx_train < DEFAULT_N_CTX ? hp->n_ctx_train : DEFAULT_N_CTX;
    if (p->n_kv_tokens == 0) p->n_kv_tokens = p->n_ctx_seq;
    if (p->n_seq_max == 0) p->n_seq_max = 1;
    if (p->block_size == 0) p->block_size = DEFAULT_BLOCK;
    if (p->n_threads == 0) p->n_threads = default_threads();
    if (p->n_batch == 0) p->n_batch = DEFAULT_BATCH;
    if (p->block_size > 4096 || p->n_seq_max > 65536) {
        brisk_fail(err, BRISK_ERR_ARG, "engine: block size %d (at most 4096) or %d sequences (at most 65536)",
                   p->block_size, p->n_seq_max);
        return false;
    }
    if (p->n_batch > p->n_kv_tokens) p->n_batch = p->n_kv_tokens;
    return true;
}

brisk_engine *brisk_engine_create(const brisk_model *m, const brisk_engine_params *pp, brisk_error *err) {
    brisk_error_clear(err);
    const hparams *hp = &m->hp;
    brisk_engine_params p = pp ? *pp : brisk_engine_default_params();
    if (!check_params(&p, hp, err)) return NULL;
    brisk_engine *e = calloc(1, sizeof *e);
    if (!e) { brisk_fail(err, BRISK_ERR_NOMEM, "out of memory"); return NULL; }
    e->model = m;
    e->params = p;
    e->n_ctx_seq = p.n_ctx_seq;
    e->n_batch = p.n_batch;
    int64_t n_blocks = ((int64_t)p.n_kv_tokens + p.block_size - 1) / p.block_size;
    int64_t k_dim = (int64_t)hp->n_head_kv * hp->head_dim, v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v;
    bool ok = n_blocks <= INT32_MAX / p.block_size &&
              kv_cache_init(&e->kv, hp->n_layer, hp->n_head_kv, hp->head_dim, hp->head_dim_v, (int32_t)n_blocks,
                            p.block_size, p.exact);
    bool kv_ok = ok;
    e->tp = threadpool_create(p.n_threads);
    if (e->tp) threadpool_set_exact(e->tp, p.exact); /* f32 activations in cpu_matmul */
    else ok = false;
    int64_t B = e->n_batch, q_dim = (int64_t)hp->n_head * hp->head_dim;
    int64_t o_dim = (int64_t)hp->n_head * hp->head_dim_v;
    int64_t max_in = hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd;
    if (o_dim > max_in) max_in = o_dim;
    e->seqs = calloc((size_t)p.n_seq_max, sizeof *e->seqs);
    e->seq_open = calloc((size_t)p.n_seq_max, sizeof *e->seq_open);
    if (!e->seqs || !e->seq_open) ok = false;
    e->x = alloc_n(B * hp->n_embd, sizeof(float), &ok);
    e->xn = alloc_n(B * hp->n_embd, sizeof(float), &ok);
    e->q = alloc_n(B * q_dim, sizeof(float), &ok);
    e->k = alloc_n(B * k_dim, sizeof(float), &ok);
    e->v = alloc_n(B * v_dim, sizeof(float), &ok);
    e->attn = alloc_n(B * o_dim, sizeof(float), &ok);
    e->o = alloc_n(B * hp->n_embd, sizeof(float), &ok);
    e->gate = alloc_n(B * hp->n_ff, sizeof(float), &ok);
    e->up = alloc_n(B * hp->n_ff, sizeof(float), &ok);
    e->scores = alloc_n((int64_t)p.n_threads * (hp->n_head / hp->n_head_kv) * e->n_ctx_seq, sizeof(float), &ok);
    e->q_scaled = alloc_n((int64_t)p.n_threads * (hp->n_head / hp->n_head_kv) * hp->head_dim, sizeof(float), &ok);
    e->scratch = alloc_n((int64_t)p.n_threads * max_in, sizeof(float), &ok);
    e->b_tokens = alloc_n(B, sizeof *e->b_tokens, &ok);
    e->b_pos = alloc_n(B, sizeof *e->b_pos, &ok);
    e->b_rows_logit = alloc_n(B, sizeof *e->b_rows_logit, &ok);
    e->b_rows_hidden = alloc_n(B, sizeof *e->b_rows_hidden, &ok);
    e->b_tables = alloc_n(B, sizeof *e->b_tables, &ok);
    ok = ok && rope_table_init(&e->rope_global, hp, m->arch->rope, hp->rope_base, true, m->rope_freq_factors) &&
         rope_table_init(&e->rope_local, hp, m->arch->rope, m->arch->swa_rope_base, false, NULL);
    if (!ok) {
        double kv_mib = (double)n_blocks * p.block_size * hp->n_layer * (double)(k_dim + v_dim) * (p.exact ? 4 : 2) /
                        (1 << 20);
        brisk_fail(err, BRISK_ERR_NOMEM, "out of memory creating an engine of %d KV tokens (KV cache %.1f MiB%s)",
                   p.n_kv_tokens, kv_mib, kv_ok ? "" : ", not allocated");
        brisk_engine_free(e);
        return NULL;
    }
    if (gpu_forward_create(e, p.n_gpu_layers, err) != BRISK_OK) { /* GPU offload (CUDA builds) */
        brisk_engine_free(e);
        return NULL;
    }
    return e;
}

const brisk_model *brisk_engine_model(const brisk_engine *e) { return e->model; }
int32_t brisk_engine_n_ctx_seq(const brisk_engine *e) { return e->n_ctx_seq; }
int32_t brisk_engine_n_embd(const brisk_engine *e) { return e->model->hp.n_embd; }
int32_t brisk_engine_n_gpu_layers(const brisk_engine *e) { return gpu_forward_n_layers(e->gpu); }

/* ---- sequences ------------------------------------------------------------------ */

static bool seq_valid(const brisk_engine *e, int32_t seq) {
    return seq >= 0 && seq < e->params.n_seq_max && e->seq_open[seq];
}

int32_t brisk_seq_open(brisk_engine *e, brisk_error *err) {
    brisk_error_clear(err);
    for (int32_t s = 0; s < e->params.n_seq_max; s++)
        if (!e->seq_open[s]) {
            e->seq_open[s] = true;
            e->n_open++;
            return s;
        }
    brisk_fail(err, BRISK_ERR_ARG, "all %d sequences of the engine are open", e->params.n_seq_max);
    return -1;
}

void brisk_seq_close(brisk_engine *e, int32_t seq) {
    if (!seq_valid(e, seq)) return;
    kv_seq_release(&e->kv, &e->seqs[seq]);
    e->seq_open[seq] = false;
    e->n_open--;
}

int32_t brisk_seq_n_past(const brisk_engine *e, int32_t seq) {
    return seq_valid(e, seq) ? e->seqs[seq].n_past : -1;
}

int32_t brisk_seq_blocks_needed(const brisk_engine *e, int32_t seq, int32_t n_new) {
    return seq_valid(e, seq) ? kv_seq_blocks_needed(&e->kv, &e->seqs[seq], n_new) : -1;
}

int32_t brisk_seq_reuse_prefix(brisk_engine *e, int32_t seq, const brisk_token *tokens, int32_t n) {
    if (!seq_valid(e, seq) || !tokens || n <= 0) return seq_valid(e, seq) ? e->seqs[seq].n_past : 0;
    if (n > e->n_ctx_seq) n = e->n_ctx_seq;
    return e->seqs[seq].n_past ? e->seqs[seq].n_past : kv_seq_take_prefix(&e->kv, &e->seqs[seq], tokens, n);
}

brisk_status brisk_seq_truncate(brisk_engine *e, int32_t seq, int32_t pos, brisk_error *err) {
    brisk_error_clear(err);
    if (!seq_valid(e, seq)) return brisk_fail(err, BRISK_ERR_ARG, "truncate: sequence %d is not open", seq);
    if (!kv_seq_truncate(&e->kv, &e->seqs[seq], pos))
        return brisk_fail(err, BRISK_ERR_NOMEM, "truncate: the KV cache has no free block to copy a shared block into");
    return BRISK_OK;
}

brisk_kv_stats brisk_engine_kv_stats(const brisk_engine *e) {
    return (brisk_kv_stats){.n_blocks = e->kv.n_blocks, .block_size = e->kv.block_size,
                            .used_blocks = kv_cache_used(&e->kv), .cached_blocks = kv_cache_cached(&e->kv),
                            .open_seqs = e->n_open, .prefix_hit_tokens = e->kv.prefix_hit_tokens};
}

/* ---- eval ------------------------------------------------------------------------ */

static brisk_status check_items(brisk_engine *e, const brisk_batch_item *items, int32_t n_items, brisk_error *err) {
    const hparams *hp = &e->model->hp;
    if (n_items <= 0 || !items) return brisk_fail(err, BRISK_ERR_ARG, "eval: no items");
    int64_t blocks = 0;
    for (int32_t i = 0; i < n_items; i++) {
        const brisk_batch_item *it = &items[i];
        if (!seq_valid(e, it->seq)) return brisk_fail(err, BRISK_ERR_ARG, "eval: item %d: sequence %d is not open", i, it->seq);
        if (it->n_tokens <= 0 || !it->tokens) return brisk_fail(err, BRISK_ERR_ARG, "eval: item %d has no tokens", i);
        if ((unsigned)it->output > BRISK_OUTPUT_EMBED) return brisk_fail(err, BRISK_ERR_ARG, "eval: item %d: unknown output kind %d", i, (int)it->output);
        for (int32_t j = 0; j < i; j++)
            if (items[j].seq == it->seq) return brisk_fail(err, BRISK_ERR_ARG, "eval: sequence %d appears twice", it->seq);
        const kv_seq *s = &e->seqs[it->seq];
        if (it->n_tokens > e->n_ctx_seq - s->n_past)
            return brisk_fail(err, BRISK_ERR_ARG,
                              "the prompt does not fit: %d tokens after %d already in a context of %d (use a larger context)",
                              it->n_tokens, s->n_past, e->n_ctx_seq);
        for (int32_t t = 0; t < it->n_tokens; t++)
            if (it->tokens[t] < 0 || it->tokens[t] >= hp->n_vocab)
                return brisk_fail(err, BRISK_ERR_ARG, "eval: token %d at index %d is outside the vocabulary (%d)",
                                  it->tokens[t], t, hp->n_vocab);
        blocks += kv_seq_blocks_needed(&e->kv, s, it->n_tokens);
    }
    if (blocks > e->kv.n_free)
        return brisk_fail(err, BRISK_ERR_NOMEM,
                          "the KV cache is full: this step needs %lld more blocks of %d tokens, %d of %d are free",
                          (long long)blocks, e->kv.block_size, e->kv.n_free, e->kv.n_blocks);
    return BRISK_OK;
}

static bool grow(void **buf, size_t *cap, size_t n, size_t size) {
    if (n <= *cap) return true;
    void *p = realloc(*buf, n * size);
    if (!p) return false;
    *buf = p;
    *cap = n;
    return true;
}

/* e->logits with room for n floats; its contents are not kept (an eval has
 * no outputs until it succeeds). */
static bool grow_logits(brisk_engine *e, size_t n) {
    if (n <= e->cap_logits) return true;
    gpu_forward_host_release(e->logits, e->logits_pinned);
    e->logits = gpu_forward_host_floats(e->gpu, n, &e->logits_pinned);
    e->cap_logits = e->logits ? n : 0;
    return e->logits != NULL;
}

/* Lay out the outputs of the items: offsets of their logit rows and embeddings. */
static brisk_status plan_outputs(brisk_engine *e, const brisk_batch_item *items, int32_t n_items,
                                 int64_t *n_hidden_rows, brisk_error *err) {
    const hparams *hp = &e->model->hp;
    if (n_items > e->cap_items) {
        size_t n = (size_t)n_items;
        int64_t *lo = realloc(e->item_logit_off, n * sizeof *lo);
        if (lo) e->item_logit_off = lo;
        int64_t *eo = realloc(e->item_embd_off, n * sizeof *eo);
        if (eo) e->item_embd_off = eo;
        int32_t *nl = realloc(e->item_n_logits, n * sizeof *nl);
        if (nl) e->item_n_logits = nl;
        int32_t *ft = realloc(e->item_first_tok, n * sizeof *ft);
        if (ft) e->item_first_tok = ft;
        if (!lo || !eo || !nl || !ft) return brisk_fail(err, BRISK_ERR_NOMEM, "eval: out of memory");
        e->cap_items = n_items;
    }
    int64_t rows = 0, embds = 0, hidden = 0;
    for (int32_t i = 0; i < n_items; i++) {
        const brisk_batch_item *it = &items[i];
        int32_t nl = it->output == BRISK_OUTPUT_ALL ? it->n_tokens : it->output == BRISK_OUTPUT_LAST ? 1 : 0;
        e->item_logit_off[i] = nl ? rows : -1;
        e->item_n_logits[i] = nl;
        e->item_first_tok[i] = it->n_tokens - nl;
        rows += nl;
        e->item_embd_off[i] = it->output == BRISK_OUTPUT_EMBED ? embds++ : -1;
        if (it->output == BRISK_OUTPUT_EMBED) hidden += it->n_tokens;
    }
    e->n_items = 0; /* no outputs until this eval succeeds */
    if (!grow_logits(e, (size_t)rows * (size_t)hp->n_vocab) ||
        !grow((void **)&e->hidden, &e->cap_hidden, (size_t)hidden * (size_t)hp->n_embd, sizeof(float)) ||
        !grow((void **)&e->embd, &e->cap_embd, (size_t)embds * (size_t)hp->n_embd, sizeof(float)))
        return brisk_fail(err, BRISK_ERR_NOMEM, "eval: out of memory for %lld rows of logits", (long long)rows);
    *n_hidden_rows = hidden;
    return BRISK_OK;
}

/* Mean of each EMBED item's hidden rows, L2-normalized, into e->embd. */
static void pool_embeddings(brisk_engine *e, const brisk_batch_item *items, int32_t n_items) {
    int64_t d = e->model->hp.n_embd, row = 0;
    for (int32_t i = 0; i < n_items; i++) {
        if (items[i].output != BRISK_OUTPUT_EMBED) continue;
        float *out = e->embd + e->item_embd_off[i] * d;
        for (int64_t c = 0; c < d; c++) {
            double acc = 0;
            for (int32_t t = 0; t < items[i].n_tokens; t++) acc += e->hidden[(row + t) * d + c];
            out[c] = (float)(acc / items[i].n_tokens);
        }
        row += items[i].n_tokens;
        double ss = 0;
        for (int64_t c = 0; c < d; c++) ss += (double)out[c] * out[c];
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int64_t c = 0; c < d; c++) out[c] *= inv;
    }
}

brisk_status brisk_engine_eval(brisk_engine *e, const brisk_batch_item *items, int32_t n_items, brisk_error *err) {
    brisk_error_clear(err);
    int64_t n_hidden = 0;
    brisk_status st = check_items(e, items, n_items, err);
    if (st == BRISK_OK) st = plan_outputs(e, items, n_items, &n_hidden, err);
    if (st != BRISK_OK) return st;
    for (int32_t i = 0; i < n_items; i++)
        if (!kv_seq_reserve(&e->kv, &e->seqs[items[i].seq], items[i].n_tokens))
            return brisk_fail(err, BRISK_ERR_NOMEM, "eval: out of memory for block tables");

    const hparams *hp = &e->model->hp;
    int64_t logit_row = 0, hidden_row = 0;
    int32_t item = 0, tok = 0; /* cursor over the items' tokens, in order */
    while (item < n_items) {
        fwd_batch b = {.tokens = e->b_tokens, .pos = e->b_pos, .tables = e->b_tables,
                       .logit_rows = e->b_rows_logit, .logits = e->logits + logit_row * hp->n_vocab,
                       .hidden_rows = e->b_rows_hidden, .hidden = e->hidden + hidden_row * hp->n_embd};
        while (item < n_items && b.n < e->n_batch) {
            const brisk_batch_item *it = &items[item];
            const kv_seq *s = &e->seqs[it->seq];
            e->b_tokens[b.n] = it->tokens[tok];
            e->b_pos[b.n] = s->n_past + tok;
            e->b_tables[b.n] = s->table;
            if (tok >= e->item_first_tok[item] && it->output != BRISK_OUTPUT_EMBED && it->output != BRISK_OUTPUT_NONE)
                e->b_rows_logit[b.n_logit_rows++] = b.n;
            if (it->output == BRISK_OUTPUT_EMBED) e->b_rows_hidden[b.n_hidden_rows++] = b.n;
            b.n++;
            if (++tok == it->n_tokens) { item++; tok = 0; }
        }
        st = model_forward(e, &b, err);
        if (st != BRISK_OK) return st;
        logit_row += b.n_logit_rows;
        hidden_row += b.n_hidden_rows;
    }
    for (int32_t i = 0; i < n_items; i++)
        if (!kv_seq_commit(&e->kv, &e->seqs[items[i].seq], items[i].tokens, items[i].n_tokens, e->params.prefix_cache))
            return brisk_fail(err, BRISK_ERR_NOMEM, "eval: out of memory for the token history");
    pool_embeddings(e, items, n_items);
    e->n_items = n_items;
    return BRISK_OK;
}

const float *brisk_engine_logits(const brisk_engine *e, int32_t item, int32_t i) {
    if (item < 0 || item >= e->n_items || e->item_n_logits[item] == 0) return NULL;
    int32_t n_tok = e->item_first_tok[item] + e->item_n_logits[item];
    if (i == -1) i = n_tok - 1;
    if (i < e->item_first_tok[item] || i >= n_tok) return NULL;
    return e->logits + (size_t)(e->item_logit_off[item] + i - e->item_first_tok[item]) * (size_t)e->model->hp.n_vocab;
}

const float *brisk_engine_embedding(const brisk_engine *e, int32_t item) {
    if (item < 0 || item >= e->n_items || e->item_embd_off[item] < 0) return NULL;
    return e->embd + (size_t)e->item_embd_off[item] * (size_t)e->model->hp.n_embd;
}
