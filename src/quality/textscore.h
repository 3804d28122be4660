/* Scoring a model on a text, shared by brisk perplexity, brisk imatrix and
 * --target-size: the text is tokenized once and cut into non-overlapping
 * windows of n_ctx tokens, each starting with BOS when the model's tokenizer
 * adds one (then it holds n_ctx - 1 text tokens). In each window the
 * logits at positions first..n_ctx-2 (first = n_ctx / 2, the customary
 * "second half") are scored against the next token, so each logit has at
 * least n_ctx/2 tokens of context. */
#ifndef BRISK_QUALITY_TEXTSCORE_H
#define BRISK_QUALITY_TEXTSCORE_H

#include <stddef.h>

#include "brisk.h"

typedef struct text_windows {
    brisk_token *tokens; /* [n_windows][n_ctx] */
    int n_windows, n_ctx;
    int first;           /* first scored position of a window */
    int64_t n_text_tokens; /* tokens of the whole text */
} text_windows;

/* Read a whole file (NUL-terminated copy; *len without the NUL). */
char *textscore_read_file(const char *path, size_t *len, brisk_error *err);
/* Windows of the text; max_windows <= 0: as many as fit. Fails when the
 * text does not fill one window. */
brisk_status text_windows_make(const brisk_vocab *v, const char *text, size_t len, int n_ctx, int max_windows,
                               text_windows *out, brisk_error *err);
void text_windows_free(text_windows *w);
static inline int text_windows_scored(const text_windows *w) { return w->n_ctx - 1 - w->first; }
static inline const brisk_token *text_window(const text_windows *w, int i) {
    return w->tokens + (size_t)i * (size_t)w->n_ctx;
}

/* log-softmax of logits[n] into out[n] (double accumulation); returns the
 * log of the normalizer. */
double textscore_log_softmax(const float *logits, int n, float *out);

#endif
