/* Text windows for scoring (see textscore.h). */
#include "quality/textscore.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

char *textscore_read_file(const char *path, size_t *len, brisk_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        brisk_fail(err, BRISK_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf) { brisk_fail(err, BRISK_ERR_NOMEM, "%s: out of memory", path); return NULL; }
    if (bad) { free(buf); brisk_fail(err, BRISK_ERR_IO, "%s: read error", path); return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

brisk_status text_windows_make(const brisk_vocab *v, const char *text, size_t len, int n_ctx, int max_windows,
                               text_windows *out, brisk_error *err) {
    *out = (text_windows){0};
    if (n_ctx < 4) return brisk_fail(err, BRISK_ERR_ARG, "the context must be at least 4 tokens, not %d", n_ctx);
    /* Does the tokenizer add BOS? (tokenize the empty text with the special tokens) */
    brisk_token probe[4];
    int64_t np = brisk_tokenize(v, "", 0, BRISK_TOKENIZE_ADD_SPECIAL, probe, 4, err);
    if (np < 0) return err ? err->status : BRISK_ERR_ARG;
    bool bos = np >= 1 && probe[0] == brisk_vocab_bos(v) && probe[0] >= 0;
    int64_t n = brisk_tokenize(v, text, len, 0, NULL, 0, err);
    if (n < 0) return err ? err->status : BRISK_ERR_ARG;
    brisk_token *all = malloc((size_t)(n > 0 ? n : 1) * sizeof *all);
    if (!all) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory for %lld tokens", (long long)n);
    if (brisk_tokenize(v, text, len, 0, all, n, err) != n) {
        free(all);
        return err && err->status ? err->status : brisk_fail(err, BRISK_ERR_ARG, "tokenization changed length");
    }
    int per = n_ctx - (bos ? 1 : 0);
    int64_t fit = n / per;
    if (fit < 1) {
        free(all);
        return brisk_fail(err, BRISK_ERR_ARG, "the text has %lld tokens, fewer than one window of %d", (long long)n, n_ctx);
    }
    if (max_windows > 0 && fit > max_windows) fit = max_windows;
    out->tokens = malloc((size_t)fit * (size_t)n_ctx * sizeof *out->tokens);
    if (!out->tokens) {
        free(all);
        return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
    }
    for (int64_t w = 0; w < fit; w++) {
        brisk_token *dst = out->tokens + w * n_ctx;
        if (bos) *dst++ = brisk_vocab_bos(v);
        memcpy(dst, all + w * per, (size_t)per * sizeof *dst);
    }
    free(all);
    out->n_windows = (int)fit;
    out->n_ctx = n_ctx;
    out->first = n_ctx / 2;
    out->n_text_tokens = n;
    return BRISK_OK;
}

void text_windows_free(text_windows *w) {
    free(w->tokens);
    *w = (text_windows){0};
}

double textscore_log_softmax(const float *logits, int n, float *out) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)logits[i] - mx);
    double lse = mx + log(s);
    if (out)
        for (int i = 0; i < n; i++) out[i] = (float)((double)logits[i] - lse);
    return lse;
}
