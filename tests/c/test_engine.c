/* The multi-sequence engine (brisk_engine_*): sequences evaluated together give
 * the logits each gives alone, prefix-cache hits give the logits of a cold run,
 * KV blocks are all returned, a full cache is a clear error. On the committed
 * random-weight fixtures (qwen3-tiny; gemma3-tiny has a sliding window of 8). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "brisk.h"
#include "test.h"

#define FIXTURE(name) BRISK_SOURCE_DIR "/tests/fixtures/logits/" name

static brisk_model *load(const char *path) {
    brisk_error err;
    brisk_model *m = brisk_model_load(path, &err);
    CHECK_MSG(m != NULL, "load %s: %s", path, err.msg);
    return m;
}

static void random_tokens(brisk_token *t, int n, int n_vocab) {
    for (int i = 0; i < n; i++) t[i] = (brisk_token)(test_rand_u64() % (uint64_t)n_vocab);
}

/* max |a - b| / (max |b| + tiny) over n */
static double rel_diff(const float *a, const float *b, int n) {
    double md = 0, mb = 1e-6;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

static brisk_engine *engine(const brisk_model *m, int n_kv, int n_seq, int n_batch, bool exact) {
    brisk_engine_params p = brisk_engine_default_params();
    p.n_ctx_seq = 128;
    p.n_kv_tokens = n_kv;
    p.n_seq_max = n_seq;
    p.n_batch = n_batch;
    p.n_threads = 2;
    p.exact = exact;
    brisk_error err;
    brisk_engine *e = brisk_engine_create(m, &p, &err);
    CHECK_MSG(e != NULL, "engine: %s", err.msg);
    return e;
}

#define N_SEQ 3
#define N_DECODE 4

/* Each sequence alone in a one-sequence context: all logits of the prompt,
 * then N_DECODE single-token steps. ref[s] = [n_prompt + N_DECODE, n_vocab]. */
static float *alone(const brisk_model *m, const brisk_token *toks, int n_prompt, bool exact) {
    int nv = brisk_model_n_vocab(m);
    brisk_context_params cp = {.n_ctx = 128, .n_threads = 2, .exact = exact};
    brisk_error err;
    brisk_context *c = brisk_context_create(m, &cp, &err);
    float *ref = malloc(sizeof(float) * (size_t)nv * (size_t)(n_prompt + N_DECODE));
    CHECK(brisk_eval(c, toks, n_prompt, true, &err) == BRISK_OK);
    for (int i = 0; i < n_prompt; i++) memcpy(ref + (size_t)i * nv, brisk_logits(c, i), sizeof(float) * (size_t)nv);
    for (int d = 0; d < N_DECODE; d++) {
        CHECK(brisk_eval(c, &toks[n_prompt + d], 1, false, &err) == BRISK_OK);
        memcpy(ref + (size_t)(n_prompt + d) * nv, brisk_logits(c, -1), sizeof(float) * (size_t)nv);
    }
    brisk_context_free(c);
    return ref;
}

static void together_equals_alone(const char *path, bool exact, int n_batch, double tol) {
    brisk_model *m = load(path);
    if (!m) return;
    int nv = brisk_model_n_vocab(m);
    const int n_prompt[N_SEQ] = {37, 5, 20};
    brisk_token toks[N_SEQ][64];
    float *ref[N_SEQ];
    for (int s = 0; s < N_SEQ; s++) {
        random_tokens(toks[s], n_prompt[s] + N_DECODE, nv);
        ref[s] = alone(m, toks[s], n_prompt[s], exact);
    }
    brisk_engine *e = engine(m, 512, 4, n_batch, exact);
    brisk_error err;
    int seq[N_SEQ];
    brisk_batch_item items[N_SEQ];
    for (int s = 0; s < N_SEQ; s++) {
        seq[s] = brisk_seq_open(e, &err);
        items[s] = (brisk_batch_item){seq[s], toks[s], n_prompt[s], BRISK_OUTPUT_ALL};
    }
    CHECK(brisk_engine_eval(e, items, N_SEQ, &err) == BRISK_OK);
    double worst = 0;
    for (int s = 0; s < N_SEQ; s++)
        for (int i = 0; i < n_prompt[s]; i++) {
            double d = rel_diff(brisk_engine_logits(e, s, i), ref[s] + (size_t)i * nv, nv);
            if (d > worst) worst = d;
        }
    for (int d = 0; d < N_DECODE; d++) {
        /* the sequences in a different order each step */
        for (int k = 0; k < N_SEQ; k++) {
            int s = (k + d) % N_SEQ;
            items[k] = (brisk_batch_item){seq[s], &toks[s][n_prompt[s] + d], 1, BRISK_OUTPUT_LAST};
        }
        CHECK(brisk_engine_eval(e, items, N_SEQ, &err) == BRISK_OK);
        for (int k = 0; k < N_SEQ; k++) {
            int s = (k + d) % N_SEQ;
            double r = rel_diff(brisk_engine_logits(e, k, -1), ref[s] + (size_t)(n_prompt[s] + d) * nv, nv);
            if (r > worst) worst = r;
        }
    }
    CHECK_MSG(worst <= tol, "%s exact=%d batch=%d: max relative logit difference %.3g > %.3g", path, exact, n_batch,
              worst, tol);
    for (int s = 0; s < N_SEQ; s++) {
        brisk_seq_close(e, seq[s]);
        free(ref[s]);
    }
    CHECK_EQ_INT(brisk_engine_kv_stats(e).used_blocks, 0);
    brisk_engine_free(e);
    brisk_model_free(m);
}

TEST(engine_together_equals_alone_exact) {
    test_seed(11);
    together_equals_alone(FIXTURE("qwen3-tiny.gguf"), true, 512, 1e-5);
    together_equals_alone(FIXTURE("qwen3-tiny.gguf"), true, 7, 1e-5); /* passes split across items */
    together_equals_alone(FIXTURE("gemma3-tiny.gguf"), true, 512, 1e-5);
}

TEST(engine_together_equals_alone_quantized) {
    test_seed(12);
    together_equals_alone(FIXTURE("qwen3-tiny.gguf"), false, 512, 1e-4);
    together_equals_alone(FIXTURE("gemma3-tiny.gguf"), false, 16, 1e-4);
}

/* Logits of the last token of toks[0..n) from a cold one-sequence context. */
static float *cold_last(const brisk_model *m, const brisk_token *toks, int n) {
    int nv = brisk_model_n_vocab(m);
    brisk_context_params cp = {.n_ctx = 128, .n_threads = 2, .exact = true};
    brisk_error err;
    brisk_context *c = brisk_context_create(m, &cp, &err);
    float *out = malloc(sizeof(float) * (size_t)nv);
    CHECK(brisk_eval(c, toks, n, false, &err) == BRISK_OK);
    memcpy(out, brisk_logits(c, -1), sizeof(float) * (size_t)nv);
    brisk_context_free(c);
    return out;
}

/* Open a sequence, take what the cache has of toks, eval the rest. Returns the seq. */
static int run_prompt(brisk_engine *e, const brisk_token *toks, int n, int *reused) {
    brisk_error err;
    int s = brisk_seq_open(e, &err);
    CHECK(s >= 0);
    *reused = brisk_seq_reuse_prefix(e, s, toks, n);
    brisk_batch_item it = {s, toks + *reused, n - *reused, BRISK_OUTPUT_LAST};
    CHECK_MSG(brisk_engine_eval(e, &it, 1, &err) == BRISK_OK, "%s", err.msg);
    return s;
}

TEST(engine_prefix_cache_hits_equal_cold_runs) {
    test_seed(13);
    brisk_model *m = load(FIXTURE("qwen3-tiny.gguf"));
    if (!m) return;
    int nv = brisk_model_n_vocab(m);
    brisk_engine *e = engine(m, 256, 4, 512, true);
    brisk_token a[60], b[60];
    random_tokens(a, 60, nv);
    memcpy(b, a, 40 * sizeof *b); /* shares 2 whole blocks of 16 and 8 more tokens */
    random_tokens(b + 40, 20, nv);
    int reused;
    int sa = run_prompt(e, a, 50, &reused);
    CHECK_EQ_INT(reused, 0);
    int sb = run_prompt(e, b, 60, &reused); /* while a is still open: shared blocks */
    CHECK_EQ_INT(reused, 32);
    float *cold = cold_last(m, b, 60);
    CHECK(rel_diff(brisk_engine_logits(e, 0, -1), cold, nv) <= 1e-6);
    free(cold);
    brisk_kv_stats st = brisk_engine_kv_stats(e);
    CHECK_EQ_INT(st.used_blocks, 4 + 2); /* a: 4 blocks (50 tokens), b: 2 shared + 2 own */
    brisk_seq_close(e, sa);
    brisk_seq_close(e, sb);
    /* after both closed: the same prompt again is served from the cache (48 of 50: 3 blocks) */
    int sc = run_prompt(e, a, 50, &reused);
    CHECK_EQ_INT(reused, 48);
    cold = cold_last(m, a, 50);
    CHECK(rel_diff(brisk_engine_logits(e, 0, -1), cold, nv) <= 1e-6);
    free(cold);
    /* a prompt that is exactly whole blocks leaves its last block to compute */
    int sd = run_prompt(e, a, 32, &reused);
    CHECK_EQ_INT(reused, 16);
    brisk_seq_close(e, sc);
    brisk_seq_close(e, sd);
    CHECK_EQ_INT(brisk_engine_kv_stats(e).used_blocks, 0);
    CHECK(brisk_engine_kv_stats(e).prefix_hit_tokens == 32 + 48 + 16);
    brisk_engine_free(e);
    brisk_model_free(m);
}

TEST(engine_truncate_into_shared_block_copies_it) {
    test_seed(14);
    brisk_model *m = load(FIXTURE("qwen3-tiny.gguf"));
    if (!m) return;
    int nv = brisk_model_n_vocab(m);
    brisk_engine *e = engine(m, 256, 2, 512, true);
    brisk_token a[50], b[50];
    random_tokens(a, 50, nv);
    memcpy(b, a, sizeof b);
    random_tokens(b + 20, 30, nv);
    int reused, sa = run_prompt(e, a, 40, &reused);
    int sb = brisk_seq_open(e, NULL);
    CHECK_EQ_INT(brisk_seq_reuse_prefix(e, sb, a, 40), 32);
    brisk_error err;
    CHECK(brisk_seq_truncate(e, sb, 20, &err) == BRISK_OK); /* block 1 is shared with a: copied */
    CHECK_EQ_INT(brisk_seq_n_past(e, sb), 20);
    brisk_batch_item it = {sb, b + 20, 30, BRISK_OUTPUT_LAST};
    CHECK(brisk_engine_eval(e, &it, 1, &err) == BRISK_OK);
    float *cold = cold_last(m, b, 50);
    CHECK(rel_diff(brisk_engine_logits(e, 0, -1), cold, nv) <= 1e-6);
    free(cold);
    /* a's rows were not touched: its continuation equals a cold run */
    it = (brisk_batch_item){sa, a + 40, 10, BRISK_OUTPUT_LAST};
    CHECK(brisk_engine_eval(e, &it, 1, &err) == BRISK_OK);
    cold = cold_last(m, a, 50);
    CHECK(rel_diff(brisk_engine_logits(e, 0, -1), cold, nv) <= 1e-6);
    free(cold);
    brisk_seq_close(e, sa);
    brisk_seq_close(e, sb);
    CHECK_EQ_INT(brisk_engine_kv_stats(e).used_blocks, 0);
    brisk_engine_free(e);
    brisk_model_free(m);
}

TEST(engine_full_cache_is_a_clear_error) {
    test_seed(15);
    brisk_model *m = load(FIXTURE("qwen3-tiny.gguf"));
    if (!m) return;
    int nv = brisk_model_n_vocab(m);
    brisk_engine *e = engine(m, 64, 3, 512, false); /* 4 blocks of 16 */
    brisk_token t[100];
    random_tokens(t, 100, nv);
    brisk_error err;
    int s0 = brisk_seq_open(e, &err), s1 = brisk_seq_open(e, &err), s2 = brisk_seq_open(e, &err);
    CHECK(brisk_seq_open(e, &err) < 0); /* n_seq_max = 3 */
    CHECK(strstr(err.msg, "sequences") != NULL);
    brisk_batch_item it[2] = {{s0, t, 40, BRISK_OUTPUT_LAST}, {s1, t + 40, 40, BRISK_OUTPUT_LAST}};
    CHECK(brisk_engine_eval(e, it, 2, &err) == BRISK_ERR_NOMEM); /* 6 blocks needed, 4 exist */
    CHECK_MSG(strstr(err.msg, "KV cache is full") != NULL, "%s", err.msg);
    CHECK_EQ_INT(brisk_seq_n_past(e, s0), 0); /* nothing changed */
    CHECK_EQ_INT(brisk_engine_kv_stats(e).used_blocks, 0);
    CHECK(brisk_engine_eval(e, it, 1, &err) == BRISK_OK);
    it[0] = (brisk_batch_item){s2, t, 30, BRISK_OUTPUT_LAST};
    CHECK(brisk_engine_eval(e, it, 1, &err) == BRISK_ERR_NOMEM);
    brisk_seq_close(e, s0);
    CHECK(brisk_engine_eval(e, it, 1, &err) == BRISK_OK);
    /* bad items */
    it[0] = (brisk_batch_item){s2, t, 1, BRISK_OUTPUT_LAST};
    it[1] = (brisk_batch_item){s2, t, 1, BRISK_OUTPUT_LAST};
    CHECK(brisk_engine_eval(e, it, 2, &err) == BRISK_ERR_ARG);
    it[0] = (brisk_batch_item){s0, t, 1, BRISK_OUTPUT_LAST}; /* closed */
    CHECK(brisk_engine_eval(e, it, 1, &err) == BRISK_ERR_ARG);
    brisk_token bad = nv;
    it[0] = (brisk_batch_item){s2, &bad, 1, BRISK_OUTPUT_LAST};
    CHECK(brisk_engine_eval(e, it, 1, &err) == BRISK_ERR_ARG);
    it[0] = (brisk_batch_item){s2, t, 100, BRISK_OUTPUT_LAST}; /* 30 + 100 > n_ctx_seq 128 */
    CHECK(brisk_engine_eval(e, it, 1, &err) == BRISK_ERR_ARG);
    CHECK(strstr(err.msg, "does not fit") != NULL);
    CHECK_EQ_INT(brisk_seq_n_past(e, s2), 30);
    brisk_seq_close(e, s1);
    brisk_seq_close(e, s2);
    CHECK_EQ_INT(brisk_engine_kv_stats(e).used_blocks, 0);
    brisk_engine_free(e);
    brisk_model_free(m);
}

/* Random opens, evals, truncates and closes: blocks in use always equal the
 * blocks the open sequences hold, and all come back at the end. */
TEST(engine_block_accounting_has_no_leaks) {
    test_seed(16);
    brisk_model *m = load(FIXTURE("qwen3-tiny.gguf"));
    if (!m) return;
    int nv = brisk_model_n_vocab(m);
    brisk_engine *e = engine(m, 160, 4, 64, false);
    brisk_token base[128];
    random_tokens(base, 128, nv);
    int open[4] = {-1, -1, -1, -1};
    brisk_error err;
    for (int step = 0; step < 200; step++) {
        int k = (int)(test_rand_u64() % 4), op = (int)(test_rand_u64() % 4);
        if (open[k] < 0) {
            open[k] = brisk_seq_open(e, &err);
            int n = 1 + (int)(test_rand_u64() % 60);
            brisk_seq_reuse_prefix(e, open[k], base, n); /* shared prompts: prefix hits */
        } else if (op == 0) {
            brisk_seq_close(e, open[k]);
            open[k] = -1;
        } else if (op == 1) {
            int32_t np = brisk_seq_n_past(e, open[k]);
            brisk_seq_truncate(e, open[k], np ? (int32_t)(test_rand_u64() % (uint64_t)np) : 0, &err);
        } else {
            int32_t np = brisk_seq_n_past(e, open[k]), n = 1 + (int32_t)(test_rand_u64() % 20);
            if (np + n > 128) continue;
            brisk_batch_item it = {open[k], base + (np + n <= 128 ? np : 0), n, BRISK_OUTPUT_NONE};
            brisk_status st = brisk_engine_eval(e, &it, 1, &err);
            CHECK(st == BRISK_OK || st == BRISK_ERR_NOMEM);
        }
        brisk_kv_stats s = brisk_engine_kv_stats(e);
        int held = 0;
        for (int j = 0; j < 4; j++)
            if (open[j] >= 0) held += (brisk_seq_n_past(e, open[j]) + 15) / 16;
        CHECK_MSG(s.used_blocks <= held && s.used_blocks <= s.n_blocks, "step %d: used %d, held %d", step,
                  s.used_blocks, held);
    }
    for (int j = 0; j < 4; j++) brisk_seq_close(e, open[j]);
    brisk_kv_stats s = brisk_engine_kv_stats(e);
    CHECK_EQ_INT(s.used_blocks, 0);
    CHECK_EQ_INT(s.open_seqs, 0);
    CHECK(s.prefix_hit_tokens > 0);
    brisk_engine_free(e);
    brisk_model_free(m);
}

/* brisk_gpu_query: without a CUDA build or device, a clear UNSUPPORTED error
 * and nothing filled in; with one (GPU machines), a name, memory and a copy
 * bandwidth of a real GPU's order (100 GB/s .. 20 TB/s). */
TEST(gpu_query_is_figures_or_a_clear_error) {
    brisk_gpu_info g;
    memset(&g, 0x5A, sizeof g);
    brisk_error err = {0};
    brisk_status st = brisk_gpu_query(&g, true, &err);
    if (st == BRISK_OK) {
        CHECK(g.name[0] != '\0' && g.free_bytes > 0 && g.free_bytes <= g.total_bytes && g.reserve_bytes > 0);
        CHECK(g.copy_gbps > 100 && g.copy_gbps < 20000);
    } else {
        CHECK_EQ_INT(st, BRISK_ERR_UNSUPPORTED);
        CHECK(err.msg[0] != '\0' && g.name[0] == '\0' && g.total_bytes == 0 && g.copy_gbps == 0 &&
              g.reserve_bytes == 0);
    }
}
