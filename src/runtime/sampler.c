/* Token sampling: penalties, greedy, top-k, top-p, min-p, temperature, draw.
 *
 * One call of brisk_sampler_sample does, in this order (as llama.cpp/Ollama do):
 *  1. copy the logits into a work buffer (the input is const); NaN becomes -inf
 *     (a masked token), +inf becomes FLT_MAX;
 *  2. penalties, for every token seen among the last penalty_last_n accepted ones:
 *     repeat penalty (positive logits divided by it, others multiplied), then
 *     minus count * frequency_penalty, minus presence_penalty;
 *  3. temperature <= 0: argmax (ties: lowest id), done;
 *  4. top-k: the k largest logits, by a size-k heap over the vocabulary
 *     (O(V) on typical logits, O(V log k) at worst; nothing is sorted);
 *  5. top-p: the smallest set of the highest-probability tokens (softmax at
 *     temperature 1 over what top-k kept) whose probabilities add up to >= p,
 *     found by a quickselect on the cumulative mass (expected O(n), no sort);
 *  6. min-p: drop tokens whose probability is below min_p times the largest;
 *  7. softmax of logit / temperature over what is left, and a draw from a
 *     xoshiro256** generator seeded from the params (same seed, same tokens).
 *
 * Tokens are ranked by (logit descending, id ascending), so ties are broken
 * the same way everywhere. Top-p and min-p both keep a leading run of that
 * ranking, so min-p (a plain threshold) is applied first, while top-p still
 * normalizes over everything top-k kept: the result is the same, and top-p
 * then only works on the few tokens min-p leaves. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "brisk.h"

struct brisk_sampler {
    brisk_sampler_params p;
    int32_t n_vocab;
    uint64_t rng[4]; /* xoshiro256** state */

    /* Penalty window: the last `window` accepted tokens in a ring (window < 0:
     * every token, no ring), their counts, and the distinct ones in a list
     * (seen_pos[t] is t's index in seen, -1 when absent). */
    int32_t window;
    brisk_token *ring;
    int32_t ring_len, ring_head;
    int32_t *counts;
    brisk_token *seen;
    int32_t *seen_pos;
    int32_t n_seen;

    /* Work buffers, n_vocab each, allocated once. */
    float *w;          /* penalized logits */
    brisk_token *cand; /* candidate ids */
    double *prob;      /* unnormalized probabilities of the candidates */
};

/* ---- PRNG: splitmix64 to seed, xoshiro256** to draw ------------------------ */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1p-53; }

static void rng_seed(brisk_sampler *s) {
    uint64_t x = s->p.seed;
    if (x == 0) { /* seed 0: a different sequence each time */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        x = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        x ^= (uint64_t)(uintptr_t)s; /* two samplers made in the same ns differ */
    }
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

/* ---- parameters ------------------------------------------------------------ */

brisk_sampler_params brisk_sampler_default_params(void) {
    /* llama.cpp's defaults (common_params_sampling), Ollama's for top_k/top_p. */
    brisk_sampler_params p = {
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f, /* off */
        .penalty_last_n = 64,
        .frequency_penalty = 0.0f,
        .presence_penalty = 0.0f,
        .seed = 0, /* 0: seeded from the clock at create/reset */
    };
    return p;
}

/* ---- candidate ordering and selection -------------------------------------- */

/* True when token a ranks above token b: larger logit, then lower id. The
 * work buffer holds no NaN, so this is a strict total order. */
static inline int ranks_above(const float *w, brisk_token a, brisk_token b) {
    return w[a] > w[b] || (w[a] == w[b] && a < b);
}

/* Min-heap (the lowest-ranked token at the root) of n tokens: restore the
 * heap property below position i. */
static void heap_sift_down(const float *w, brisk_token *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t low = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_above(w, h[low], h[l])) low = l;
        if (r < n && ranks_above(w, h[low], h[r])) low = r;
        if (low == i) return;
        brisk_token t = h[i];
        h[i] = h[low];
        h[low] = t;
        i = low;
    }
}

static void heap_sift_up(const float *w, brisk_token *h, int32_t i) {
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (!ranks_above(w, h[parent], h[i])) return;
        brisk_token t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

/* Write the (up to) m highest-ranked tokens 0..n-1 with a finite logit to
 * out, in no particular order; return how many. A min-heap of m: most tokens
 * are rejected by one comparison with its root, so this is O(n) on typical
 * logits and O(n log m) at worst. */
static int32_t select_top(const float *w, int32_t n, int32_t m, brisk_token *out) {
    int32_t size = 0;
    float floor = -INFINITY; /* the root's logit once the heap is full */
    for (brisk_token t = 0; t < n; t++) {
        if (w[t] < floor || w[t] == -INFINITY) continue;
        if (size < m) {
            out[size] = t;
            heap_sift_up(w, out, size++);
            if (size == m) floor = w[out[0]];
        } else if (ranks_above(w, t, out[0])) {
            out[0] = t;
            heap_sift_down(w, out, size, 0);
            floor = w[out[0]];
        }
    }
    return size;
}

static void swap2(brisk_token *c, double *e, int32_t i, int32_t j) {
    const brisk_token t = c[i];
    c[i] = c[j];
    c[j] = t;
    const double x = e[i];
    e[i] = e[j];
    e[j] = x;
}

/* Top-p cut without sorting: reorder cand[0..n) (and their masses e, moved
 * along) so that cand[0..keep) holds the `keep` highest-ranked tokens, keep
 * being the smallest count whose mass reaches target (n if rounding never
 * lets it), and return keep. Quickselect on the cumulative mass: expected
 * O(n). Invariant: cand[0..lo) are the lo best tokens, of mass acc < target,
 * and lo < keep <= hi. */
static int32_t top_p_cut(const float *w, brisk_token *cand, double *e, int32_t n, double target) {
    int32_t lo = 0, hi = n;
    double acc = 0.0;
    while (hi - lo > 1) {
        /* Partition cand[lo..hi) around its middle token: those ranked above
         * it to [lo, piv), the pivot to piv, the rest after it. */
        swap2(cand, e, lo, lo + (hi - lo) / 2);
        const brisk_token pivot = cand[lo];
        int32_t piv = lo + 1;
        double above = 0.0;
        for (int32_t j = lo + 1; j < hi; j++) {
            if (ranks_above(w, cand[j], pivot)) {
                above += e[j];
                swap2(cand, e, j, piv++);
            }
        }
        swap2(cand, e, lo, --piv);
        if (acc + above >= target) {
            hi = piv; /* reached before the pivot */
        } else {
            acc += above + e[piv];
            if (acc >= target) return piv + 1; /* the pivot is the last one needed */
            lo = piv + 1;
        }
    }
    return hi;
}

/* ---- penalties ------------------------------------------------------------- */

static void seen_add(brisk_sampler *s, brisk_token t) {
    if (s->counts[t]++ == 0) {
        s->seen_pos[t] = s->n_seen;
        s->seen[s->n_seen++] = t;
    }
}

static void seen_remove(brisk_sampler *s, brisk_token t) {
    if (--s->counts[t] == 0) { /* swap the last one into t's place */
        const int32_t i = s->seen_pos[t];
        const brisk_token last = s->seen[--s->n_seen];
        s->seen[i] = last;
        s->seen_pos[last] = i;
        s->seen_pos[t] = -1;
    }
}

void brisk_sampler_accept(brisk_sampler *s, brisk_token t) {
    if (!s || t < 0 || t >= s->n_vocab || s->window == 0) return;
    if (s->window > 0) {
        if (s->ring_len == s->window) { /* full: the oldest token leaves the window */
            seen_remove(s, s->ring[s->ring_head]);
        } else {
            s->ring_len++;
        }
        s->ring[s->ring_head] = t;
        s->ring_head = (s->ring_head + 1) % s->window;
    }
    seen_add(s, t);
}

static void apply_penalties(brisk_sampler *s) {
    const brisk_sampler_params *p = &s->p;
    if (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f)
        return;
    for (int32_t i = 0; i < s->n_seen; i++) {
        const brisk_token t = s->seen[i];
        float x = s->w[t];
        x = x > 0.0f ? x / p->repeat_penalty : x * p->repeat_penalty;
        x -= (float)s->counts[t] * p->frequency_penalty + p->presence_penalty;
        s->w[t] = x;
    }
}

/* ---- create / free / reset ------------------------------------------------- */

brisk_sampler *brisk_sampler_create(const brisk_sampler_params *params, int32_t n_vocab,
                                    brisk_error *err) {
    const brisk_sampler_params p = params ? *params : brisk_sampler_default_params();
    if (n_vocab <= 0) {
        brisk_fail(err, BRISK_ERR_ARG, "sampler: n_vocab must be > 0 (got %d)", (int)n_vocab);
        return NULL;
    }
    if (!isfinite(p.temperature) || isnan(p.top_p) || isnan(p.min_p)) {
        brisk_fail(err, BRISK_ERR_ARG, "sampler: temperature must be finite, top_p/min_p not NaN");
        return NULL;
    }
    if (!isfinite(p.repeat_penalty) || p.repeat_penalty <= 0.0f) {
        brisk_fail(err, BRISK_ERR_ARG, "sampler: repeat_penalty must be finite and > 0 (got %g)",
                   (double)p.repeat_penalty);
        return NULL;
    }
    if (!isfinite(p.frequency_penalty) || !isfinite(p.presence_penalty)) {
        brisk_fail(err, BRISK_ERR_ARG, "sampler: frequency/presence penalties must be finite");
        return NULL;
    }
    if (p.penalty_last_n < -1) {
        brisk_fail(err, BRISK_ERR_ARG, "sampler: penalty_last_n must be >= -1 (got %d)",
                   (int)p.penalty_last_n);
        return NULL;
    }

    brisk_sampler *s = calloc(1, sizeof *s);
    if (!s) {
        brisk_fail(err, BRISK_ERR_NOMEM, "sampler: out of memory");
        return NULL;
    }
    s->p = p;
    s->n_vocab = n_vocab;
    s->window = p.penalty_last_n;
    const size_t nv = (size_t)n_vocab;
    s->w = malloc(nv * sizeof *s->w);
    s->cand = malloc(nv * sizeof *s->cand);
    s->prob = malloc(nv * sizeof *s->prob);
    s->counts = calloc(nv, sizeof *s->counts);
    s->seen = malloc(nv * sizeof *s->seen);
    s->seen_pos = malloc(nv * sizeof *s->seen_pos);
    if (s->window > 0) s->ring = malloc((size_t)s->window * sizeof *s->ring);
    if (!s->w || !s->cand || !s->prob || !s->counts || !s->seen || !s->seen_pos ||
        (s->window > 0 && !s->ring)) {
        brisk_sampler_free(s);
        brisk_fail(err, BRISK_ERR_NOMEM, "sampler: out of memory for n_vocab %d", (int)n_vocab);
        return NULL;
    }
    for (size_t i = 0; i < nv; i++) s->seen_pos[i] = -1;
    rng_seed(s);
    return s;
}

void brisk_sampler_free(brisk_sampler *s) {
    if (!s) return;
    free(s->w);
    free(s->cand);
    free(s->prob);
    free(s->counts);
    free(s->seen);
    free(s->seen_pos);
    free(s->ring);
    free(s);
}

/* Forget the accepted tokens and restart the generator as if just created
 * (a fixed seed replays the same draws; seed 0 picks a new one). */
void brisk_sampler_reset(brisk_sampler *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->n_seen; i++) {
        s->counts[s->seen[i]] = 0;
        s->seen_pos[s->seen[i]] = -1;
    }
    s->n_seen = 0;
    s->ring_len = s->ring_head = 0;
    rng_seed(s);
}

/* ---- sampling -------------------------------------------------------------- */

/* Highest-ranked token over the whole vocabulary, -1 when all are masked.
 * First the largest value, in 8 independent lanes (a single running maximum
 * is one long dependency chain; lanes let the compiler vectorize), then the
 * first token that has it. */
static brisk_token argmax(const float *w, int32_t n) {
    float lane[8];
    for (int k = 0; k < 8; k++) lane[k] = -INFINITY;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) lane[k] = w[i + k] > lane[k] ? w[i + k] : lane[k];
    float best = -INFINITY;
    for (; i < n; i++) best = w[i] > best ? w[i] : best;
    for (int k = 0; k < 8; k++) best = lane[k] > best ? lane[k] : best;
    if (best == -INFINITY) return -1;
    for (i = 0; w[i] != best; i++) {}
    return i;
}

/* Returns -1 when no token can be picked (every logit -inf or NaN). */
brisk_token brisk_sampler_sample(brisk_sampler *s, const float *logits) {
    if (!s || !logits) return -1;
    const brisk_sampler_params *p = &s->p;
    const int32_t nv = s->n_vocab;
    float *w = s->w;

    for (int32_t i = 0; i < nv; i++) {
        const float x = logits[i] > FLT_MAX ? FLT_MAX : logits[i];
        w[i] = isnan(x) ? -INFINITY : x;
    }
    apply_penalties(s);

    if (p->temperature <= 0.0f) return argmax(w, nv);

    /* Candidates: cand[0..n), in no particular order. */
    brisk_token *cand = s->cand;
    int32_t n = 0;
    if (p->top_k > 0 && p->top_k < nv) {
        n = select_top(w, nv, p->top_k, cand);
    } else {
        for (int32_t i = 0; i < nv; i++)
            if (w[i] != -INFINITY) cand[n++] = i;
    }
    if (n == 0) return -1;
    float max = -INFINITY;
    for (int32_t j = 0; j < n; j++)
        if (w[cand[j]] > max) max = w[cand[j]];

    /* Top-p's masses exp(w - max) (softmax at temperature 1, unnormalized);
     * it normalizes over everything top-k kept, so the total is taken before
     * min-p. */
    double *e = s->prob;
    const bool use_top_p = p->top_p < 1.0f;
    double total = 0.0;
    if (use_top_p) {
        for (int32_t j = 0; j < n; j++) {
            e[j] = exp((double)w[cand[j]] - max);
            total += e[j];
        }
    }

    /* Min-p: keep p_i >= min_p * p_max, i.e. w_i - max >= log(min_p). The
     * largest token always passes (min_p is capped at 1). */
    if (p->min_p > 0.0f) {
        const double thresh = log(p->min_p < 1.0f ? p->min_p : 1.0);
        int32_t kept = 0;
        for (int32_t j = 0; j < n; j++) {
            if ((double)w[cand[j]] - max >= thresh) {
                e[kept] = e[j];
                cand[kept++] = cand[j];
            }
        }
        n = kept;
    }

    /* Top-p: the shortest best-first run with mass >= top_p * total. */
    if (use_top_p) n = top_p_cut(w, cand, e, n, (double)p->top_p * total);

    /* Temperature, softmax and the draw. (w - max) <= 0, so no overflow. */
    double *prob = s->prob, sum = 0.0; /* (e is no longer needed) */
    for (int32_t j = 0; j < n; j++) {
        prob[j] = exp(((double)w[cand[j]] - max) / p->temperature);
        sum += prob[j];
    }
    const double u = rng_uniform(s->rng) * sum;
    double cum = 0.0;
    brisk_token pick = -1;
    for (int32_t j = 0; j < n; j++) {
        if (prob[j] == 0.0) continue; /* underflowed: never drawn */
        pick = cand[j];
        cum += prob[j];
        if (u < cum) break;
    }
    return pick; /* the last one when u rounded up to sum */
}
