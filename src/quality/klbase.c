/* KL-divergence base files (format and method in klbase.h). */
#include "quality/klbase.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define MAGIC "BRISKKL1"
#define HEADER_BYTES 28
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define MAX_TOP_K 1024

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

static bool put(klbase_writer *w, const void *p, size_t n) {
    w->hash = fnv(w->hash, p, n);
    return fwrite(p, 1, n, w->f) == n;
}

brisk_status klbase_writer_open(klbase_writer *w, const char *path, const text_windows *tw, uint32_t n_vocab,
                                uint32_t top_k, brisk_error *err) {
    *w = (klbase_writer){.hash = FNV_OFFSET, .n_vocab = n_vocab, .top_k = top_k};
    if (top_k < 1 || top_k > MAX_TOP_K || top_k > n_vocab)
        return brisk_fail(err, BRISK_ERR_ARG, "top-k must be in 1..%d and at most the vocabulary", MAX_TOP_K);
    size_t pl = strlen(path);
    w->path = strdup(path);
    w->tmp_path = malloc(pl + 5);
    w->ids = malloc(top_k * sizeof *w->ids);
    w->vals = malloc(top_k * sizeof *w->vals);
    if (!w->path || !w->tmp_path || !w->ids || !w->vals) {
        klbase_writer_close(w, false, NULL);
        return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
    }
    snprintf(w->tmp_path, pl + 5, "%s.tmp", path);
    if (!(w->f = fopen(w->tmp_path, "wb"))) {
        brisk_status st = brisk_fail(err, BRISK_ERR_IO, "%s: %s", w->tmp_path, strerror(errno));
        klbase_writer_close(w, false, NULL);
        return st;
    }
    uint32_t hdr[5] = {n_vocab, (uint32_t)tw->n_ctx, (uint32_t)tw->n_windows, (uint32_t)tw->first, top_k};
    w->n_expected = (int64_t)tw->n_windows * text_windows_scored(tw);
    if (!put(w, MAGIC, 8) || !put(w, hdr, sizeof hdr) ||
        !put(w, tw->tokens, (size_t)tw->n_windows * (size_t)tw->n_ctx * sizeof(brisk_token))) {
        klbase_writer_close(w, false, NULL);
        return brisk_fail(err, BRISK_ERR_IO, "%s: write failed", path);
    }
    return BRISK_OK;
}

brisk_status klbase_writer_add(klbase_writer *w, const float *logp, brisk_token next, brisk_error *err) {
    /* top_k by insertion into a sorted list (k is small) */
    uint32_t k = 0;
    for (uint32_t v = 0; v < w->n_vocab; v++) {
        float x = logp[v];
        if (k == w->top_k && !(x > w->vals[k - 1])) continue;
        uint32_t j = k < w->top_k ? k++ : k - 1;
        while (j > 0 && w->vals[j - 1] < x) {
            w->vals[j] = w->vals[j - 1];
            w->ids[j] = w->ids[j - 1];
            j--;
        }
        w->vals[j] = x;
        w->ids[j] = (int32_t)v;
    }
    float nll = -logp[next];
    if (!put(w, &nll, 4) || !put(w, w->ids, k * 4) || !put(w, w->vals, k * 4))
        return brisk_fail(err, BRISK_ERR_IO, "%s: write failed", w->tmp_path);
    w->n_added++;
    return BRISK_OK;
}

brisk_status klbase_writer_close(klbase_writer *w, bool ok, brisk_error *err) {
    brisk_status st = BRISK_OK;
    if (w->f) {
        if (ok && w->n_added != w->n_expected)
            st = brisk_fail(err, BRISK_ERR_ARG, "KL base: %lld tokens added, %lld expected", (long long)w->n_added,
                            (long long)w->n_expected);
        uint64_t h = w->hash;
        if (ok && !st && fwrite(&h, 8, 1, w->f) != 1) st = brisk_fail(err, BRISK_ERR_IO, "%s: write failed", w->tmp_path);
        if (fclose(w->f) && ok && !st) st = brisk_fail(err, BRISK_ERR_IO, "%s: write failed", w->tmp_path);
        if (ok && !st && rename(w->tmp_path, w->path))
            st = brisk_fail(err, BRISK_ERR_IO, "%s: %s", w->path, strerror(errno));
        if (!ok || st) remove(w->tmp_path);
    }
    free(w->path);
    free(w->tmp_path);
    free(w->ids);
    free(w->vals);
    *w = (klbase_writer){0};
    return st;
}

void klbase_free(klbase *b) {
    free(b->tokens);
    free(b->nll);
    free(b->ids);
    free(b->logp);
    *b = (klbase){0};
}

brisk_status klbase_read(klbase *b, const char *path, brisk_error *err) {
    *b = (klbase){0};
    size_t size;
    char *data = textscore_read_file(path, &size, err);
    if (!data) return err ? err->status : BRISK_ERR_IO;
    brisk_status st = BRISK_OK;
#define BAD(...) do { st = brisk_fail(err, BRISK_ERR_FORMAT, __VA_ARGS__); goto done; } while (0)
    if (size < HEADER_BYTES + 8 || memcmp(data, MAGIC, 8)) BAD("%s: not a brisk KL base file (no BRISKKL1 header)", path);
    uint32_t hdr[5];
    memcpy(hdr, data + 8, sizeof hdr);
    b->n_vocab = hdr[0], b->n_ctx = hdr[1], b->n_windows = hdr[2], b->first = hdr[3], b->top_k = hdr[4];
    if (!b->n_vocab || b->n_ctx < 4 || !b->n_windows || b->first >= b->n_ctx - 1 || !b->top_k ||
        b->top_k > MAX_TOP_K || b->top_k > b->n_vocab)
        BAD("%s: bad header (vocab %u, ctx %u, windows %u, first %u, top-k %u)", path, b->n_vocab, b->n_ctx,
            b->n_windows, b->first, b->top_k);
    uint64_t n_tok = (uint64_t)b->n_windows * b->n_ctx;
    b->n_scored = (int64_t)b->n_windows * (b->n_ctx - 1 - b->first);
    uint64_t rec = 4 + 8ull * b->top_k;
    uint64_t want = HEADER_BYTES + 4 * n_tok + rec * (uint64_t)b->n_scored + 8;
    if (n_tok > (1ull << 32) || want != size)
        BAD("%s: %zu bytes, but its header describes %llu (truncated or not this format)", path, size,
            (unsigned long long)want);
    uint64_t h;
    memcpy(&h, data + size - 8, 8);
    if (fnv(FNV_OFFSET, data, size - 8) != h) BAD("%s: checksum mismatch (the file is damaged)", path);
    b->tokens = malloc(4 * n_tok);
    b->nll = malloc(4 * (size_t)b->n_scored);
    b->ids = malloc(4 * (size_t)b->n_scored * b->top_k);
    b->logp = malloc(4 * (size_t)b->n_scored * b->top_k);
    if (!b->tokens || !b->nll || !b->ids || !b->logp) {
        st = brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(b->tokens, data + HEADER_BYTES, 4 * n_tok);
    for (uint64_t i = 0; i < n_tok; i++)
        if (b->tokens[i] < 0 || (uint32_t)b->tokens[i] >= b->n_vocab) BAD("%s: token %llu out of range", path, (unsigned long long)i);
    const char *p = data + HEADER_BYTES + 4 * n_tok;
    for (int64_t i = 0; i < b->n_scored; i++, p += rec) {
        float *lp = b->logp + i * b->top_k;
        int32_t *id = b->ids + i * b->top_k;
        memcpy(&b->nll[i], p, 4);
        memcpy(id, p + 4, 4 * b->top_k);
        memcpy(lp, p + 4 + 4 * b->top_k, 4 * b->top_k);
        if (!isfinite(b->nll[i]) || b->nll[i] < -1e-4f) BAD("%s: scored token %lld has a bad log-likelihood", path, (long long)i);
        double mass = 0;
        for (uint32_t k = 0; k < b->top_k; k++) {
            if (id[k] < 0 || (uint32_t)id[k] >= b->n_vocab || !isfinite(lp[k]) || lp[k] > 1e-4f ||
                (k > 0 && lp[k] > lp[k - 1]))
                BAD("%s: scored token %lld: bad top-k entry %u", path, (long long)i, k);
            for (uint32_t j = 0; j < k; j++)
                if (id[j] == id[k]) BAD("%s: scored token %lld: token id %d twice", path, (long long)i, id[k]);
            mass += exp(lp[k]);
        }
        if (mass > 1.001) BAD("%s: scored token %lld: probabilities sum to %.4f > 1", path, (long long)i, mass);
    }
#undef BAD
done:
    free(data);
    if (st) klbase_free(b);
    return st;
}

const char *klbase_mismatch(const klbase *b, const text_windows *tw, uint32_t n_vocab) {
    if (b->n_vocab != n_vocab) return "its vocabulary size differs from this model's";
    if ((int)b->n_ctx != tw->n_ctx) return "it was made with another --ctx";
    if ((int)b->first != tw->first) return "it scores other positions";
    if ((int)b->n_windows != tw->n_windows) return "it holds another number of windows (--chunks or another text)";
    if (memcmp(b->tokens, tw->tokens, (size_t)tw->n_windows * (size_t)tw->n_ctx * sizeof(brisk_token)))
        return "its tokens differ (another text, or another tokenizer)";
    return "";
}

double klbase_kl(const klbase *b, int64_t i, const float *lq) {
    const int32_t *id = b->ids + i * b->top_k;
    const float *lp = b->logp + i * b->top_k;
    double kl = 0, mp = 0, mq = 0;
    for (uint32_t k = 0; k < b->top_k; k++) {
        double p = exp((double)lp[k]);
        kl += p * ((double)lp[k] - lq[id[k]]);
        mp += p;
        mq += exp((double)lq[id[k]]);
    }
    double rp = 1 - mp, rq = 1 - mq;
    if (rp > 1e-9) kl += rp * (log(rp) - log(rq > 1e-30 ? rq : 1e-30));
    return kl > 0 ? kl : 0;
}
