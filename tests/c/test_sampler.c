/* Sampler: checked against brute-force references written here from the
 * definitions (full sort, double precision), on random logits:
 *  - greedy = argmax (ties: lowest id), and top_k = 1 = greedy at any temperature;
 *  - the empirical distribution of many draws matches softmax(logits / T)
 *    restricted to the top-k / top-p / min-p set (chi-square), no token outside
 *    the set is ever drawn and every token inside it is;
 *  - penalties change exactly the logits of the tokens in the window;
 *  - seeds: same seed same draws, another seed other draws, reset replays;
 *  - masked (-inf / NaN) logits, a const input, a 262144-token vocabulary. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brisk.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* Helpers and references                                                    */
/* ------------------------------------------------------------------------ */

static void random_logits(float *x, int n, float scale) {
    for (int i = 0; i < n; i++) x[i] = scale * test_rand_normal() + 0.25f;
}

static brisk_sampler_params params_off(float temperature, uint64_t seed) {
    brisk_sampler_params p = brisk_sampler_default_params();
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.seed = seed;
    return p;
}

static brisk_sampler *make(const brisk_sampler_params *p, int n_vocab) {
    brisk_error err = {0};
    brisk_sampler *s = brisk_sampler_create(p, n_vocab, &err);
    CHECK_MSG(s != NULL, "sampler_create: %s", err.msg);
    return s;
}

/* Lowest id among the largest values; -1 when every value is -inf/NaN. */
static int ref_argmax(const float *x, int n) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i]) && x[i] != -INFINITY && (best < 0 || x[i] > x[best])) best = i;
    return best;
}

/* The penalized logits, straight from the definition: the window is the last
 * penalty_last_n entries of hist (all for -1, none for 0). */
static void ref_penalize(const float *logits, int n, const brisk_token *hist, int n_hist,
                         const brisk_sampler_params *p, float *out) {
    int from = p->penalty_last_n < 0 ? 0 : n_hist - p->penalty_last_n;
    if (from < 0) from = 0;
    for (int t = 0; t < n; t++) {
        int count = 0;
        for (int j = from; j < n_hist; j++) count += hist[j] == t;
        float x = logits[t];
        if (count > 0) {
            x = x > 0 ? x / p->repeat_penalty : x * p->repeat_penalty;
            x -= (float)count * p->frequency_penalty + p->presence_penalty;
        }
        out[t] = x;
    }
}

typedef struct { float w; int id; } ent;

static int ent_cmp(const void *a, const void *b) {
    const ent *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return x->id - y->id;
}

/* Final probabilities q[0..n) of the non-greedy pipeline for (already
 * penalized) logits w: full sort, top-k, top-p and min-p on softmax(w) over
 * what top-k kept, then softmax(w / T) over what is left. Returns false when
 * some probability lies too close to a top-p or min-p cut-off to tell. */
static bool ref_probs(const float *w, int n, const brisk_sampler_params *p, double *q) {
    ent *e = malloc((size_t)n * sizeof *e);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(w[i]) && w[i] != -INFINITY) e[m++] = (ent){w[i], i};
    qsort(e, (size_t)m, sizeof *e, ent_cmp);
    int keep = m;
    if (p->top_k > 0 && p->top_k < keep) keep = p->top_k;
    const double max = e[0].w;
    double z = 0;
    for (int j = 0; j < keep; j++) z += exp(e[j].w - max);
    bool clear = true;
    int allowed = keep;
    if (p->top_p < 1.0f) {
        double cum = 0;
        for (int j = 0; j < keep; j++) {
            cum += exp(e[j].w - max) / z;
            if (fabs(cum - p->top_p) < 1e-6) clear = false;
            if (cum >= p->top_p) {
                allowed = j + 1;
                break;
            }
        }
    }
    for (int i = 0; i < n; i++) q[i] = 0;
    double sum = 0;
    for (int j = 0; j < allowed; j++) {
        const double ratio = exp(e[j].w - max); /* p_j / p_max */
        if (p->min_p > 0 && e[j].w != max && fabs(ratio - p->min_p) < 1e-6) clear = false;
        if (p->min_p > 0 && ratio < p->min_p) continue;
        q[e[j].id] = exp((e[j].w - max) / p->temperature);
        sum += q[e[j].id];
    }
    for (int i = 0; i < n; i++) q[i] /= sum;
    free(e);
    return clear;
}

/* Draw `draws` tokens and compare with q: no token with q = 0, every token
 * with q > 0 at least once, and a chi-square over bins of expected count >= 5
 * (the rest pooled) below df + 6 sd. Returns the chi-square per degree of freedom. */
static double check_draws(brisk_sampler *s, const float *logits, int n, const double *q,
                          int draws) {
    long *count = calloc((size_t)n, sizeof *count);
    int bad = 0;
    for (int d = 0; d < draws; d++) {
        const brisk_token t = brisk_sampler_sample(s, logits);
        if (t < 0 || t >= n) {
            bad++;
            continue;
        }
        count[t]++;
    }
    CHECK_EQ_INT(bad, 0);
    int outside = 0, missed = 0, df = -1;
    double chi2 = 0, pool_e = 0, pool_c = 0;
    for (int i = 0; i < n; i++) {
        if (q[i] == 0) {
            outside += count[i] > 0;
            continue;
        }
        missed += count[i] == 0;
        const double e = q[i] * draws;
        if (e < 5) {
            pool_e += e;
            pool_c += (double)count[i];
            continue;
        }
        chi2 += ((double)count[i] - e) * ((double)count[i] - e) / e;
        df++;
    }
    if (pool_e > 0) {
        chi2 += (pool_c - pool_e) * (pool_c - pool_e) / pool_e;
        df++;
    }
    CHECK_MSG(outside == 0, "%d tokens outside the allowed set were drawn", outside);
    CHECK_MSG(missed == 0, "%d allowed tokens were never drawn", missed);
    if (df > 0) {
        const double limit = df + 6 * sqrt(2.0 * df) + 10;
        CHECK_MSG(chi2 < limit, "chi-square %.1f over %d dof (limit %.1f)", chi2, df, limit);
    } else {
        CHECK_MSG(chi2 < 30, "chi-square %.1f with one bin", chi2);
    }
    free(count);
    return df > 0 ? chi2 / df : chi2;
}

/* For `trials` random logit vectors (redrawn when a cut-off is ambiguous):
 * draws from a sampler with params p against ref_probs. */
static void check_filtered(brisk_sampler_params p, int n, float scale, int trials, int draws) {
    float *logits = malloc((size_t)n * sizeof *logits);
    double *q = malloc((size_t)n * sizeof *q);
    for (int trial = 0; trial < trials; trial++) {
        int tries = 0;
        do random_logits(logits, n, scale);
        while (!ref_probs(logits, n, &p, q) && ++tries < 100);
        CHECK_MSG(tries < 100, "no clear-cut logits found");
        p.seed = 1000 + (uint64_t)trial;
        brisk_sampler *s = make(&p, n);
        if (!s) break;
        check_draws(s, logits, n, q, draws);
        brisk_sampler_free(s);
    }
    free(logits);
    free(q);
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

TEST(sampler_default_params) {
    test_seed(101);
    const brisk_sampler_params p = brisk_sampler_default_params();
    CHECK(p.temperature == 0.8f);
    CHECK_EQ_INT(p.top_k, 40);
    CHECK(p.top_p == 0.95f);
    CHECK(p.min_p == 0.05f);
    CHECK(p.repeat_penalty == 1.0f);
    CHECK_EQ_INT(p.penalty_last_n, 64);
    CHECK(p.frequency_penalty == 0.0f);
    CHECK(p.presence_penalty == 0.0f);
    CHECK_EQ_INT(p.seed, 0);
}

TEST(sampler_create_rejects_bad_params) {
    test_seed(102);
    const brisk_sampler_params def = brisk_sampler_default_params();
    brisk_error err = {0};
    CHECK(brisk_sampler_create(&def, 0, &err) == NULL);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    CHECK(brisk_sampler_create(&def, -5, NULL) == NULL);

    brisk_sampler_params bad[7];
    for (int i = 0; i < 7; i++) bad[i] = def;
    bad[0].temperature = NAN;
    bad[1].top_p = NAN;
    bad[2].min_p = NAN;
    bad[3].repeat_penalty = 0.0f;
    bad[4].repeat_penalty = -1.0f;
    bad[5].penalty_last_n = -2;
    bad[6].frequency_penalty = INFINITY;
    for (int i = 0; i < 7; i++) {
        err.status = BRISK_OK;
        brisk_sampler *s = brisk_sampler_create(&bad[i], 10, &err);
        CHECK_MSG(s == NULL && err.status == BRISK_ERR_ARG, "bad params %d accepted", i);
        brisk_sampler_free(s);
    }
    /* NULL params: the defaults */
    brisk_sampler *s = brisk_sampler_create(NULL, 10, &err);
    CHECK(s != NULL);
    brisk_sampler_free(s);
    brisk_sampler_free(NULL);
}

/* ------------------------------------------------------------------------ */
/* Greedy                                                                    */
/* ------------------------------------------------------------------------ */

TEST(sampler_greedy_is_argmax) {
    test_seed(103);
    enum { N = 1000 };
    static float logits[N];
    for (int trial = 0; trial < 200; trial++) {
        random_logits(logits, N, 3.0f);
        if (trial % 4 == 1) { /* ties: the lowest id wins */
            const int a = (int)(test_rand_u64() % N), b = (int)(test_rand_u64() % N);
            logits[a] = logits[b] = 100.0f + (float)trial;
        }
        if (trial % 4 == 2) { /* masked tokens, one of them would be the maximum */
            for (int j = 0; j < 50; j++)
                logits[test_rand_u64() % N] = (j & 1) ? -INFINITY : NAN;
            logits[test_rand_u64() % N] = NAN;
        }
        brisk_sampler_params p = brisk_sampler_default_params();
        p.temperature = trial % 2 ? 0.0f : -1.0f;
        p.seed = 1 + (uint64_t)trial;
        brisk_sampler *s = make(&p, N);
        if (!s) return;
        const int want = ref_argmax(logits, N);
        for (int r = 0; r < 3; r++) CHECK_EQ_INT(brisk_sampler_sample(s, logits), want);
        brisk_sampler_free(s);
    }
}

TEST(sampler_top_k1_is_greedy) {
    test_seed(104);
    enum { N = 500 };
    static float logits[N];
    const float temps[] = {0.1f, 0.8f, 1.0f, 3.0f, 1000.0f};
    for (int trial = 0; trial < 100; trial++) {
        random_logits(logits, N, 2.0f);
        if (trial % 3 == 0) {
            const int a = (int)(test_rand_u64() % N), b = (int)(test_rand_u64() % N);
            logits[a] = logits[b] = 50.0f;
        }
        brisk_sampler_params p = params_off(temps[trial % 5], 7 + (uint64_t)trial);
        p.top_k = 1;
        p.top_p = trial % 2 ? 1.0f : 0.5f;
        brisk_sampler *s = make(&p, N);
        if (!s) return;
        const int want = ref_argmax(logits, N);
        for (int r = 0; r < 20; r++) CHECK_EQ_INT(brisk_sampler_sample(s, logits), want);
        brisk_sampler_free(s);
    }
}

/* ------------------------------------------------------------------------ */
/* Distributions                                                             */
/* ------------------------------------------------------------------------ */

TEST(sampler_matches_softmax) {
    test_seed(105);
    const float temps[] = {0.5f, 1.0f, 1.7f};
    for (int t = 0; t < 3; t++)
        check_filtered(params_off(temps[t], 0), 8, 1.0f, 2, 200000);
}

TEST(sampler_top_k_set) {
    test_seed(106);
    brisk_sampler_params p = params_off(1.0f, 0);
    const int ks[] = {2, 5, 17, 49, 50, 60};
    for (int i = 0; i < 6; i++) {
        p.top_k = ks[i];
        p.temperature = i % 2 ? 0.7f : 1.3f;
        check_filtered(p, 50, 1.0f, 2, 50000);
    }
}

TEST(sampler_top_p_set) {
    test_seed(107);
    brisk_sampler_params p = params_off(1.0f, 0);
    const float ps[] = {0.0f, 0.2f, 0.5f, 0.8f, 0.95f};
    for (int i = 0; i < 5; i++) {
        p.top_p = ps[i];
        p.temperature = i % 2 ? 0.7f : 1.3f;
        check_filtered(p, 50, 1.0f, 2, 50000);
    }
}

/* top_k off over a flat distribution: the top-p set holds hundreds of tokens,
 * so the quickselect of the top-p cut goes several levels deep. */
TEST(sampler_top_p_large_set) {
    test_seed(108);
    brisk_sampler_params p = params_off(1.0f, 0);
    p.top_p = 0.6f;
    check_filtered(p, 600, 0.3f, 1, 30000);
    p.top_p = 0.97f;
    check_filtered(p, 600, 0.3f, 1, 30000);
}

TEST(sampler_min_p_set) {
    test_seed(109);
    brisk_sampler_params p = params_off(1.0f, 0);
    const float ms[] = {0.01f, 0.05f, 0.2f, 0.6f, 1.0f};
    for (int i = 0; i < 5; i++) {
        p.min_p = ms[i];
        p.temperature = i % 2 ? 0.7f : 1.3f;
        check_filtered(p, 50, 1.0f, 2, 50000);
    }
    /* min_p above 1 still keeps the largest token */
    float logits[50];
    random_logits(logits, 50, 1.0f);
    p.min_p = 5.0f;
    brisk_sampler *s = make(&p, 50);
    if (!s) return;
    const int want = ref_argmax(logits, 50);
    for (int d = 0; d < 100; d++) CHECK_EQ_INT(brisk_sampler_sample(s, logits), want);
    brisk_sampler_free(s);
}

TEST(sampler_combined_filters) {
    test_seed(110);
    brisk_sampler_params p = params_off(0.9f, 0);
    p.top_k = 20;
    p.top_p = 0.7f;
    p.min_p = 0.1f;
    check_filtered(p, 60, 1.0f, 3, 50000);
    p.top_k = 40; /* the defaults' filters, with top_k above the top-p set */
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    check_filtered(p, 300, 0.8f, 2, 30000);
    p.top_k = 0; /* top-p + min-p without top-k */
    check_filtered(p, 300, 0.8f, 2, 30000);
}

/* ------------------------------------------------------------------------ */
/* Penalties                                                                 */
/* ------------------------------------------------------------------------ */

/* Greedy on the penalized logits picks the argmax of the direct computation,
 * over random logits, histories, windows and penalty values. */
TEST(sampler_penalties_greedy) {
    test_seed(111);
    enum { N = 16, H = 40 };
    const int32_t windows[] = {-1, 0, 1, 3, 8, 64};
    const float repeats[] = {1.0f, 1.3f, 0.7f, 2.5f};
    const float freqs[] = {0.0f, 0.5f, -0.3f};
    const float presences[] = {0.0f, 0.8f, -0.4f};
    float logits[N], want[N];
    brisk_token hist[H];
    int checked = 0, changed = 0;
    for (int trial = 0; trial < 3000; trial++) {
        brisk_sampler_params p = params_off(0.0f, 1);
        p.penalty_last_n = windows[test_rand_u64() % 6];
        p.repeat_penalty = repeats[test_rand_u64() % 4];
        p.frequency_penalty = freqs[test_rand_u64() % 3];
        p.presence_penalty = presences[test_rand_u64() % 3];
        random_logits(logits, N, 1.5f);
        const int n_hist = (int)(test_rand_u64() % H);
        for (int j = 0; j < n_hist; j++) hist[j] = (brisk_token)(test_rand_u64() % (N / 2));
        ref_penalize(logits, N, hist, n_hist, &p, want);
        /* skip near-ties of the top two */
        const int best = ref_argmax(want, N);
        bool close = false;
        for (int i = 0; i < N; i++)
            if (i != best && fabsf(want[i] - want[best]) < 1e-4f) close = true;
        if (close) continue;
        brisk_sampler *s = make(&p, N);
        if (!s) return;
        for (int j = 0; j < n_hist; j++) brisk_sampler_accept(s, hist[j]);
        CHECK_EQ_INT(brisk_sampler_sample(s, logits), best);
        checked++;
        changed += best != ref_argmax(logits, N);
        brisk_sampler_free(s);
    }
    CHECK(checked > 2500);
    CHECK(changed > 200); /* the penalties did matter in many trials */
}

/* The whole distribution at T = 1 is softmax of the directly penalized logits:
 * every logit (penalized or not) is checked, not just the largest. */
TEST(sampler_penalties_distribution) {
    test_seed(112);
    enum { N = 8 };
    float logits[N], want[N];
    double q[N];
    const brisk_token hist[] = {1, 1, 2, 5, 1, 6, 2, 3, 3, 3};
    const int n_hist = (int)(sizeof hist / sizeof hist[0]);
    const int32_t windows[] = {-1, 6, 0};
    for (int c = 0; c < 3; c++) {
        brisk_sampler_params p = params_off(1.0f, 42 + (uint64_t)c);
        p.penalty_last_n = windows[c];
        p.repeat_penalty = 1.4f;
        p.frequency_penalty = 0.3f;
        p.presence_penalty = 0.2f;
        random_logits(logits, N, 1.0f);
        logits[1] = -0.8f; /* a negative penalized logit: multiplied */
        logits[3] = 1.2f;  /* a positive one: divided */
        ref_penalize(logits, N, hist, n_hist, &p, want);
        ref_probs(want, N, &p, q);
        brisk_sampler *s = make(&p, N);
        if (!s) return;
        for (int j = 0; j < n_hist; j++) brisk_sampler_accept(s, hist[j]);
        check_draws(s, logits, N, q, 200000);
        brisk_sampler_free(s);
    }
}

/* The window slides: a token that left it is no longer penalized; reset
 * forgets everything. */
TEST(sampler_penalty_window) {
    test_seed(113);
    float logits[4] = {2.0f, 1.9f, 1.8f, -1.0f};
    brisk_sampler_params p = params_off(0.0f, 1);
    p.penalty_last_n = 2;
    p.presence_penalty = 1.0f;
    brisk_sampler *s = make(&p, 4);
    if (!s) return;
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 0);
    brisk_sampler_accept(s, 0); /* window {0} */
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 1);
    brisk_sampler_accept(s, 1); /* window {0, 1} */
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 2);
    brisk_sampler_accept(s, 2); /* window {1, 2}: 0 is back */
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 0);
    brisk_sampler_accept(s, 2); /* window {2, 2} */
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 0);
    brisk_sampler_accept(s, 0);
    brisk_sampler_accept(s, 1); /* window {0, 1} */
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 2);
    brisk_sampler_accept(s, -1); /* out of range: ignored */
    brisk_sampler_accept(s, 4);
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 2);
    brisk_sampler_reset(s);
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 0);
    brisk_sampler_accept(s, 0); /* counted afresh after the reset */
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 1);
    brisk_sampler_accept(s, 1);
    brisk_sampler_accept(s, 2); /* window {1, 2} */
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 0);
    brisk_sampler_free(s);

    /* -1: every accepted token counts, however long ago */
    p.penalty_last_n = -1;
    s = make(&p, 4);
    if (!s) return;
    brisk_sampler_accept(s, 0);
    for (int i = 0; i < 200; i++) brisk_sampler_accept(s, 3);
    CHECK_EQ_INT(brisk_sampler_sample(s, logits), 1);
    brisk_sampler_free(s);
}

/* ------------------------------------------------------------------------ */
/* Seeds, masking, const input, large vocabularies                           */
/* ------------------------------------------------------------------------ */

static void draw_seq(brisk_sampler *s, const float *logits, brisk_token *out, int n) {
    for (int i = 0; i < n; i++) out[i] = brisk_sampler_sample(s, logits);
}

TEST(sampler_seed_determinism) {
    test_seed(114);
    enum { N = 100, D = 500 };
    float logits[N];
    random_logits(logits, N, 1.0f);
    brisk_sampler_params p = brisk_sampler_default_params();
    p.top_k = 0; /* a wide distribution, so that different draws show */
    p.min_p = 0.0f;
    p.seed = 12345;
    brisk_token a[D], b[D], c[D];
    brisk_sampler *s1 = make(&p, N), *s2 = make(&p, N);
    p.seed = 12346;
    brisk_sampler *s3 = make(&p, N);
    if (!s1 || !s2 || !s3) return;
    draw_seq(s1, logits, a, D);
    draw_seq(s2, logits, b, D);
    draw_seq(s3, logits, c, D);
    CHECK(memcmp(a, b, sizeof a) == 0);
    int differ = 0;
    for (int i = 0; i < D; i++) differ += a[i] != c[i];
    CHECK(differ > D / 2);
    brisk_sampler_reset(s1); /* a fixed seed replays */
    draw_seq(s1, logits, b, D);
    CHECK(memcmp(a, b, sizeof a) == 0);

    /* The same seed gives these tokens on every run and machine: the
     * generator is brisk's own (xoshiro256** seeded by splitmix64). Recorded
     * from this implementation: a change here changes every seeded run. */
    static const brisk_token golden[16] = {14, 17, 43, 2,  69, 82, 19, 37,
                                          47, 76, 72, 69, 24, 85, 17, 27};
    p.seed = 12345;
    brisk_sampler *g = make(&p, N);
    if (g) {
        draw_seq(g, logits, b, 16);
        CHECK(memcmp(golden, b, sizeof golden) == 0);
        brisk_sampler_free(g);
    }

    /* seed 0 picks one: two such samplers differ */
    p.seed = 0;
    brisk_sampler *r1 = make(&p, N), *r2 = make(&p, N);
    if (r1 && r2) {
        draw_seq(r1, logits, a, D);
        draw_seq(r2, logits, b, D);
        CHECK(memcmp(a, b, sizeof a) != 0);
    }
    brisk_sampler_free(r1);
    brisk_sampler_free(r2);
    brisk_sampler_free(s1);
    brisk_sampler_free(s2);
    brisk_sampler_free(s3);
}

TEST(sampler_masked_tokens) {
    test_seed(115);
    enum { N = 64 };
    float logits[N];
    random_logits(logits, N, 1.0f);
    for (int i = 0; i < N; i += 2) logits[i] = (i % 4) ? NAN : -INFINITY;
    logits[10] = NAN; /* would have been large */
    brisk_sampler_params p = params_off(1.0f, 3);
    for (int mode = 0; mode < 3; mode++) {
        p.top_k = mode == 1 ? 40 : 0;
        p.top_p = mode == 2 ? 0.9f : 1.0f;
        p.min_p = mode == 2 ? 0.01f : 0.0f;
        brisk_sampler *s = make(&p, N);
        if (!s) return;
        int bad = 0;
        for (int d = 0; d < 20000; d++) {
            const brisk_token t = brisk_sampler_sample(s, logits);
            bad += t < 0 || t >= N || t % 2 == 0;
        }
        CHECK_EQ_INT(bad, 0);
        brisk_sampler_free(s);
    }

    /* everything masked: -1, greedy or not */
    for (int i = 0; i < N; i++) logits[i] = i % 2 ? NAN : -INFINITY;
    for (int greedy = 0; greedy < 2; greedy++) {
        p = brisk_sampler_default_params();
        p.temperature = greedy ? 0.0f : 1.0f;
        brisk_sampler *s = make(&p, N);
        if (!s) return;
        CHECK_EQ_INT(brisk_sampler_sample(s, logits), -1);
        CHECK_EQ_INT(brisk_sampler_sample(NULL, logits), -1);
        CHECK_EQ_INT(brisk_sampler_sample(s, NULL), -1);
        brisk_sampler_free(s);
    }

    /* +inf: that token (and not NaN arithmetic) */
    random_logits(logits, N, 1.0f);
    logits[33] = INFINITY;
    p = params_off(1.0f, 3);
    brisk_sampler *s = make(&p, N);
    if (!s) return;
    for (int d = 0; d < 100; d++) CHECK_EQ_INT(brisk_sampler_sample(s, logits), 33);
    brisk_sampler_free(s);
}

TEST(sampler_logits_not_modified) {
    test_seed(116);
    enum { N = 300 };
    float logits[N], copy[N];
    random_logits(logits, N, 2.0f);
    logits[5] = NAN;
    logits[6] = -INFINITY;
    memcpy(copy, logits, sizeof logits);
    for (int greedy = 0; greedy < 2; greedy++) {
        brisk_sampler_params p = brisk_sampler_default_params();
        p.seed = 9;
        p.temperature = greedy ? 0.0f : 1.0f;
        p.repeat_penalty = 1.3f;
        p.frequency_penalty = 0.2f;
        p.presence_penalty = 0.1f;
        brisk_sampler *s = make(&p, N);
        if (!s) return;
        for (int d = 0; d < 100; d++) {
            brisk_sampler_accept(s, brisk_sampler_sample(s, logits));
            brisk_sampler_accept(s, (brisk_token)(test_rand_u64() % N));
        }
        CHECK(memcmp(logits, copy, sizeof logits) == 0);
        brisk_sampler_free(s);
    }
}

/* A Gemma-sized vocabulary with top_k 40 (and a high temperature, so that
 * all 40 are likely): every draw is among the 40 largest logits, and each of
 * them is drawn. (Speed is not asserted; one line reports it.) */
TEST(sampler_large_vocab) {
    test_seed(117);
    enum { N = 262144, D = 1000 };
    float *logits = malloc(N * sizeof *logits);
    random_logits(logits, N, 3.0f);
    ent *e = malloc(N * sizeof *e);
    for (int i = 0; i < N; i++) e[i] = (ent){logits[i], i};
    qsort(e, N, sizeof *e, ent_cmp);
    const float kth = e[39].w; /* the 40th largest, by brute force */
    brisk_sampler_params p = params_off(10.0f, 5);
    p.top_k = 40;
    brisk_sampler *s = make(&p, N);
    if (s) {
        int hits[40] = {0};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int outside = 0;
        for (int d = 0; d < D; d++) {
            const brisk_token t = brisk_sampler_sample(s, logits);
            if (t < 0 || t >= N || logits[t] < kth) {
                outside++;
                continue;
            }
            for (int j = 0; j < 40; j++) hits[j] += e[j].id == t;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CHECK_EQ_INT(outside, 0);
        int missed = 0;
        for (int j = 0; j < 40; j++) missed += hits[j] == 0;
        CHECK_EQ_INT(missed, 0);
        printf("     sampler: %.1f us per token, vocab %d, top_k 40\n",
               ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
                   1e3 / D,
               N);
        brisk_sampler_free(s);
    }
    free(e);
    free(logits);
}
