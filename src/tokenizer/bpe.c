/* The merge engine, and byte-level BPE ("gpt2" vocabularies).
 *
 * Merging: a word starts as one symbol per character (byte-level: per byte);
 * repeatedly, the adjacent pair with the best (lowest) merge rank becomes one
 * symbol, the leftmost first among equal ranks, until no pair has a merge.
 * A min-heap of candidate pairs keyed (rank, position) makes this
 * O(n log n); entries made stale by an earlier merge are skipped when popped.
 * This is the algorithm of Hugging Face's BPE model, so ties resolve as there.
 *
 * Byte-level BPE: the pre-tokenizer cuts the text into pieces, each piece's
 * bytes become the tokens of their byte-level characters, then the merges of
 * tokenizer.ggml.merges ("left right" in byte-level spelling, best first) run
 * inside the piece. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/tok_internal.h"

brisk_status bpe_load_merges(brisk_vocab *v, const brisk_gguf_value *merges, brisk_error *err) {
    if (merges->type != BRISK_GGUF_ARRAY || merges->v.arr.elem_type != BRISK_GGUF_STRING)
        return vocab_fail(err, BRISK_ERR_FORMAT, "tokenizer.ggml.merges is not an array of strings");
    uint64_t n = merges->v.arr.n;
    if (n > UINT32_MAX)
        return vocab_fail(err, BRISK_ERR_FORMAT, "tokenizer.ggml.merges has too many entries (%llu)",
                          (unsigned long long)n);
    if (!pairmap_init(&v->merges, n))
        return vocab_fail(err, BRISK_ERR_NOMEM, "out of memory for %llu merges", (unsigned long long)n);
    char *buf = NULL;
    size_t cap = 0;
    for (uint64_t i = 0; i < n; i++) {
        brisk_str s = merges->v.arr.strs[i];
        const char *sp = s.len ? memchr(s.ptr, ' ', (size_t)s.len) : NULL;
        if (!sp || sp == s.ptr || sp == s.ptr + s.len - 1) {
            free(buf);
            return vocab_fail(err, BRISK_ERR_FORMAT,
                              "tokenizer.ggml.merges[%llu] \"%.*s\" is not \"left right\"",
                              (unsigned long long)i, (int)(s.len > 80 ? 80 : s.len), s.ptr);
        }
        size_t ll = (size_t)(sp - s.ptr), rl = (size_t)s.len - ll - 1;
        int32_t left = strmap_find(&v->by_text, &v->text, s.ptr, ll);
        int32_t right = strmap_find(&v->by_text, &v->text, sp + 1, rl);
        int32_t result = -1;
        if (left >= 0 && right >= 0) {
            if (ll + rl > cap) {
                cap = 2 * (ll + rl);
                char *nb = realloc(buf, cap);
                if (!nb) {
                    free(buf);
                    return vocab_fail(err, BRISK_ERR_NOMEM, "out of memory reading merges");
                }
                buf = nb;
            }
            memcpy(buf, s.ptr, ll);
            memcpy(buf + ll, sp + 1, rl);
            result = strmap_find(&v->by_text, &v->text, buf, ll + rl);
        }
        if (result < 0) {
            free(buf);
            const char *what = left < 0 ? "its left part" : right < 0 ? "its right part" : "the merged text";
            return vocab_fail(err, BRISK_ERR_FORMAT,
                              "tokenizer.ggml.merges[%llu] \"%.*s\": %s is not a token of the vocabulary",
                              (unsigned long long)i, (int)(s.len > 80 ? 80 : s.len), s.ptr, what);
        }
        pairmap_put(&v->merges, left, right, (uint32_t)i, result);
    }
    free(buf);
    return BRISK_OK;
}

bool work_reserve_syms(tok_work *w, size_t n) {
    if (n > w->syms_cap) {
        size_t cap = n < 64 ? 64 : n + n / 2;
        merge_sym *s = realloc(w->syms, cap * sizeof *s);
        if (!s) return false;
        w->syms = s;
        w->syms_cap = cap;
    }
    return true; /* the heap grows on demand */
}

static bool cand_less(const merge_cand *a, const merge_cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static bool heap_push(tok_work *w, size_t *n, merge_cand c) {
    if (*n == w->heap_cap) {
        size_t cap = w->heap_cap ? 2 * w->heap_cap : 64;
        merge_cand *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return false;
        w->heap = h;
        w->heap_cap = cap;
    }
    merge_cand *h = w->heap;
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&c, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = c;
    return true;
}

static merge_cand heap_pop(tok_work *w, size_t *n) {
    merge_cand *h = w->heap;
    merge_cand top = h[0];
    merge_cand last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        const merge_cand *bc = &last;
        if (l < *n && cand_less(&h[l], bc)) { best = l; bc = &h[l]; }
        if (r < *n && cand_less(&h[r], bc)) best = r;
        if (best == i) break;
        h[i] = h[best];
        i = best;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static bool push_pair(const brisk_vocab *v, tok_work *w, size_t *hn, int32_t pos) {
    const merge_sym *s = w->syms;
    int32_t next = s[pos].next;
    uint32_t rank;
    int32_t result;
    if (next < 0 || !pairmap_get(&v->merges, s[pos].id, s[next].id, &rank, &result)) return true;
    return heap_push(w, hn, (merge_cand){rank, pos, result});
}

bool merge_run(const brisk_vocab *v, tok_work *w, size_t n, tok_out *o) {
    if (n == 0) return true;
    merge_sym *s = w->syms;
    for (size_t i = 0; i < n; i++) {
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (!push_pair(v, w, &hn, (int32_t)i)) return false;
    while (hn > 0) {
        merge_cand c = heap_pop(w, &hn);
        merge_sym *a = &s[c.pos];
        if (a->id < 0 || a->next < 0) continue;
        merge_sym *b = &s[a->next];
        uint32_t rank;
        int32_t result;
        if (!pairmap_get(&v->merges, a->id, b->id, &rank, &result) || result != c.result) continue;
        a->id = result;
        b->id = -1;
        a->next = b->next;
        if (a->next >= 0) s[a->next].prev = c.pos;
        if (a->prev >= 0 && !push_pair(v, w, &hn, a->prev)) return false;
        if (!push_pair(v, w, &hn, c.pos)) return false;
    }
    /* symbol 0 is never merged away (merges keep the left symbol) */
    for (int32_t i = 0; i >= 0; i = s[i].next) tok_emit(o, s[i].id);
    return true;
}

/* Byte-level spelling of bytes into w->buf; returns its length or -1. */
static int64_t spell_bytelevel(tok_work *w, const char *s, size_t n) {
    if (2 * n > w->buf_cap) {
        size_t cap = 2 * n + 64;
        char *b = realloc(w->buf, cap);
        if (!b) return -1;
        w->buf = b;
        w->buf_cap = cap;
    }
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += utf8_encode(bytelevel_byte_to_cp((uint8_t)s[i]), w->buf + k);
    return k;
}

bool bpe_encode(const brisk_vocab *v, tok_work *w, const char *text, size_t len, tok_out *o,
                brisk_error *err) {
    span *spans;
    size_t n_spans;
    if (!pretok_split(v->pre, w, text, len, &spans, &n_spans, err)) return false;
    for (size_t p = 0; p < n_spans; p++) {
        const char *s = text + spans[p].off;
        size_t n = spans[p].len;
        if (v->ignore_merges && n > 1) {
            int64_t k = spell_bytelevel(w, s, n);
            if (k < 0) goto nomem;
            int32_t id = strmap_find(&v->by_text, &v->text, w->buf, (size_t)k);
            if (id >= 0) {
                tok_emit(o, id);
                continue;
            }
        }
        if (!work_reserve_syms(w, n)) goto nomem;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            int32_t id = v->byte_tok[(uint8_t)s[i]];
            if (id < 0) id = v->unk; /* a vocabulary without this byte */
            if (id >= 0) w->syms[k++].id = id;
        }
        if (!merge_run(v, w, k, o)) goto nomem;
    }
    return true;
nomem:
    brisk_fail(err, BRISK_ERR_NOMEM, "tokenize: out of memory");
    return false;
}
