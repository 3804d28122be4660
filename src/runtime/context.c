/* brisk_context: the single-sequence API, an engine with one sequence. */
#include <stdlib.h>

#include "base/error.h"
#include "runtime/engine.h"

struct brisk_context {
    brisk_engine *engine;
    int32_t seq;
    bool has_logits; /* the last eval succeeded */
};

brisk_context_params brisk_context_default_params(void) {
    return (brisk_context_params){.n_ctx = 0, .n_threads = 0, .exact = false, .n_gpu_layers = -1};
}

void brisk_context_free(brisk_context *c) {
    if (!c) return;
    brisk_engine_free(c->engine);
    free(c);
}

brisk_context *brisk_context_create(const brisk_model *m, const brisk_context_params *p, brisk_error *err) {
    brisk_error_clear(err);
    brisk_context_params params = p ? *p : brisk_context_default_params();
    if (params.n_ctx < 0 || params.n_threads < 0) {
        brisk_fail(err, BRISK_ERR_ARG, "context: n_ctx and n_threads must not be negative");
        return NULL;
    }
    brisk_engine_params ep = brisk_engine_default_params();
    ep.n_ctx_seq = params.n_ctx;
    ep.n_threads = params.n_threads;
    ep.exact = params.exact;
    ep.n_gpu_layers = params.n_gpu_layers;
    ep.kv_type = params.kv_type;
    ep.prefix_cache = false; /* one sequence: nothing to share */
    brisk_context *c = calloc(1, sizeof *c);
    if (!c) { brisk_fail(err, BRISK_ERR_NOMEM, "out of memory"); return NULL; }
    c->engine = brisk_engine_create(m, &ep, err);
    c->seq = c->engine ? brisk_seq_open(c->engine, err) : -1;
    if (c->seq < 0) {
        brisk_context_free(c);
        return NULL;
    }
    return c;
}

int32_t brisk_context_n_ctx(const brisk_context *c) { return brisk_engine_n_ctx_seq(c->engine); }
int32_t brisk_context_n_gpu_layers(const brisk_context *c) { return brisk_engine_n_gpu_layers(c->engine); }
int32_t brisk_context_n_past(const brisk_context *c) { return brisk_seq_n_past(c->engine, c->seq); }

void brisk_context_set_observer(brisk_context *c, brisk_matmul_observer fn, void *user) {
    c->engine->observer = fn;
    c->engine->observer_user = user;
}

void brisk_context_truncate(brisk_context *c, int32_t pos) {
    /* cannot fail: nothing is shared in a one-sequence engine */
    brisk_seq_truncate(c->engine, c->seq, pos, NULL);
}

brisk_status brisk_eval(brisk_context *c, const brisk_token *tokens, int32_t n, bool all_logits, brisk_error *err) {
    brisk_batch_item item = {.seq = c->seq, .tokens = tokens, .n_tokens = n,
                             .output = all_logits ? BRISK_OUTPUT_ALL : BRISK_OUTPUT_LAST};
    if (n <= 0 || !tokens) {
        brisk_error_clear(err);
        return brisk_fail(err, BRISK_ERR_ARG, "eval: no tokens");
    }
    brisk_status st = brisk_engine_eval(c->engine, &item, 1, err);
    if (st == BRISK_OK) c->has_logits = true;
    return st;
}

const float *brisk_logits(const brisk_context *c, int32_t i) {
    return c->has_logits ? brisk_engine_logits(c->engine, 0, i) : NULL;
}
