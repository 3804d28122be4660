/* KL-divergence base files: what `brisk perplexity --kl-base` keeps of the
 * base model's predictions, so that a quantized model can later be compared
 * with it without re-running the base. Full log-probabilities would take
 * n_vocab floats per token (0.6 MB for Qwen's 152k vocabulary); instead each
 * scored token keeps the base's top_k log-probabilities with their token ids
 * and the base's negative log-likelihood of the actual next token.
 *
 * KL(base || model) per token is then computed over the top_k tokens plus
 * one "rest" bucket (all other tokens together):
 *     sum_k p_k (log p_k - log q_k) + r_p (log r_p - log r_q),
 * r_p = 1 - sum_k p_k, r_q = 1 - sum_k q_k. That is the exact KL of the two
 * distributions coarsened to top_k + 1 outcomes: a lower bound of the full
 * KL (coarsening never increases KL), tight when the rest holds little mass
 * (with top_k = 32 the rest is typically < 1-3% of the probability).
 *
 * File layout (little-endian):
 *   0   char[8] "BRISKKL1"
 *   8   u32 n_vocab, u32 n_ctx, u32 n_windows, u32 first (first scored position), u32 top_k
 *   28  i32 tokens[n_windows * n_ctx]          the windows scored (checked on load)
 *   ..  per scored token, window by window, position by position:
 *         f32 nll, i32 ids[top_k], f32 logp[top_k] (ids distinct, logp non-increasing)
 *   end u64 FNV-1a hash of every byte before it
 * A file is accepted only if it has exactly this size, the hash matches, the
 * ids are in range and the values finite (log-probabilities <= 0). */
#ifndef BRISK_QUALITY_KLBASE_H
#define BRISK_QUALITY_KLBASE_H

#include <stdio.h>

#include "brisk.h"
#include "quality/textscore.h"

typedef struct klbase {
    uint32_t n_vocab, n_ctx, n_windows, first, top_k;
    brisk_token *tokens;   /* [n_windows * n_ctx] */
    int64_t n_scored;
    float *nll;            /* [n_scored] */
    int32_t *ids;          /* [n_scored * top_k] */
    float *logp;           /* [n_scored * top_k] */
} klbase;

/* Writing: open, add each scored token's log-softmax in order, close. */
typedef struct klbase_writer {
    FILE *f;
    char *tmp_path, *path;
    uint64_t hash;
    uint32_t n_vocab, top_k;
    int64_t n_added, n_expected;
    int32_t *ids;
    float *vals;
} klbase_writer;

brisk_status klbase_writer_open(klbase_writer *w, const char *path, const text_windows *tw, uint32_t n_vocab,
                                uint32_t top_k, brisk_error *err);
/* logp[n_vocab]: the log-softmax at one scored position; next: the actual next token. */
brisk_status klbase_writer_add(klbase_writer *w, const float *logp, brisk_token next, brisk_error *err);
/* Finish (hash, rename into place); on failure or abort (ok false) removes the temporary file. */
brisk_status klbase_writer_close(klbase_writer *w, bool ok, brisk_error *err);

brisk_status klbase_read(klbase *b, const char *path, brisk_error *err);
void klbase_free(klbase *b);
/* Does the base belong to these windows and this vocabulary size? "" if so,
 * else what differs. */
const char *klbase_mismatch(const klbase *b, const text_windows *tw, uint32_t n_vocab);

/* KL(base || model) of scored token i given the model's log-softmax lq[n_vocab] (see above). */
double klbase_kl(const klbase *b, int64_t i, const float *lq);

#endif
