/* SentencePiece-style vocabularies (tokenizer.ggml.model "llama": Llama 2,
 * Gemma, ...).
 *
 * Text -> normalized text: spaces become U+2581 "▁", and with
 * tokenizer.ggml.add_space_prefix a "▁" goes in front of each text segment
 * (each run of text between added tokens). The normalized text is one word:
 * it starts as one symbol per character, a character missing from the
 * vocabulary becomes its UTF-8 bytes as <0xNN> tokens (byte fallback, else
 * the unknown token), and adjacent symbols merge while their concatenation is
 * a token, the best-scored token first.
 *
 * "Best-scored first" is run as BPE with a merge rank per pair: every way of
 * cutting a token in two pieces that are both tokens is a merge, ranked by the
 * token's score (higher first), then by the longer left piece, then by the
 * longer right piece, then by token order. These are the merges Hugging Face
 * derives from a GGUF's vocabulary, so ties between equal scores resolve the
 * same way. For Gemma the rank key is the token's position in the vocabulary
 * instead of its score (the file's order is its merge order). */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/tok_internal.h"

bool spm_py_isspace(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

typedef struct spm_cand {
    float score;
    uint16_t len_l, len_r; /* in characters */
    uint32_t seq;          /* order of the merged token among first occurrences */
    int32_t left, right, result;
} spm_cand;

static int cand_cmp(const void *pa, const void *pb) {
    const spm_cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->len_l != b->len_l) return a->len_l > b->len_l ? -1 : 1;
    if (a->len_r != b->len_r) return a->len_r > b->len_r ? -1 : 1;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    return 0;
}

brisk_status spm_build_merges(brisk_vocab *v, bool gemma, brisk_error *err) {
    size_t n_cand = 0, cap = (size_t)v->n_tokens * 2 + 16;
    spm_cand *cand = malloc(cap * sizeof *cand);
    uint32_t *cut = NULL; /* byte offsets of the character boundaries of one token */
    size_t cut_cap = 0;
    if (!cand) goto nomem;
    uint32_t seq = 0;
    for (int32_t t = 0; t < v->n_tokens; t++) {
        if (v->flags[t] & TOKF_DUP) continue; /* ranked at the first token with its text */
        const char *s = v->text.arena + v->text.off[t];
        uint32_t n = v->text.len[t];
        int32_t id = strmap_find(&v->by_text, &v->text, s, n); /* the last token with this text */
        float score = gemma ? -(float)id : (v->scores ? v->scores[id] : 0.0f);
        uint32_t my_seq = seq++;
        size_t nc = 0;
        if ((size_t)n + 1 > cut_cap) {
            cut_cap = (size_t)n + 64;
            uint32_t *c = realloc(cut, cut_cap * sizeof *c);
            if (!c) goto nomem;
            cut = c;
        }
        for (uint32_t i = 0; i < n;) {
            cut[nc++] = i;
            int l = utf8_char_len((const uint8_t *)s + i, n - i);
            i += l > 0 ? (uint32_t)l : 1;
        }
        if (nc < 2 || nc > UINT16_MAX) continue;
        for (size_t k = 1; k < nc; k++) {
            uint32_t at = cut[k];
            int32_t left = strmap_find(&v->by_text, &v->text, s, at);
            if (left < 0) continue;
            int32_t right = strmap_find(&v->by_text, &v->text, s + at, n - at);
            if (right < 0) continue;
            if (n_cand == cap) {
                cap *= 2;
                spm_cand *c = realloc(cand, cap * sizeof *c);
                if (!c) goto nomem;
                cand = c;
            }
            cand[n_cand++] = (spm_cand){score, (uint16_t)k, (uint16_t)(nc - k), my_seq, left, right, id};
        }
    }
    free(cut);
    cut = NULL;
    qsort(cand, n_cand, sizeof *cand, cand_cmp);
    if (n_cand > UINT32_MAX || !pairmap_init(&v->merges, n_cand)) goto nomem;
    for (size_t i = 0; i < n_cand; i++)
        pairmap_put(&v->merges, cand[i].left, cand[i].right, (uint32_t)i, cand[i].result);
    free(cand);
    return BRISK_OK;
nomem:
    free(cand);
    free(cut);
    return vocab_fail(err, BRISK_ERR_NOMEM, "out of memory deriving the merges of a %d-token vocabulary",
                      v->n_tokens);
}

bool spm_encode(const brisk_vocab *v, tok_work *w, const char *text, size_t len, tok_out *o,
                brisk_error *err) {
    if (len == 0) return true;
    /* normalize: optional "▁" prefix, ' ' -> "▁" (3 bytes each) */
    size_t need = 3 * len + 3;
    if (need > w->buf_cap) {
        char *b = realloc(w->buf, need);
        if (!b) goto nomem;
        w->buf = b;
        w->buf_cap = need;
    }
    static const char SPACE_MARK[3] = {(char)0xE2, (char)0x96, (char)0x81};
    size_t n = 0;
    if (v->add_space_prefix) {
        memcpy(w->buf, SPACE_MARK, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(w->buf + n, SPACE_MARK, 3);
            n += 3;
        } else {
            w->buf[n++] = text[i];
        }
    }
    /* at most one symbol per byte */
    if (!work_reserve_syms(w, n)) goto nomem;
    const uint8_t *u = (const uint8_t *)w->buf;
    size_t k = 0;
    bool last_unk = false;
    for (size_t i = 0; i < n;) {
        int cl = utf8_char_len(u + i, n - i);
        size_t step = cl > 0 ? (size_t)cl : 1;
        int32_t id = cl > 0 ? strmap_find(&v->by_text, &v->text, w->buf + i, step) : -1;
        if (id >= 0) {
            w->syms[k++].id = id;
            last_unk = false;
        } else {
            bool all = true;
            for (size_t j = 0; j < step; j++) all = all && v->byte_tok[u[i + j]] >= 0;
            if (all) {
                for (size_t j = 0; j < step; j++) w->syms[k++].id = v->byte_tok[u[i + j]];
                last_unk = false;
            } else if (v->unk >= 0 && !last_unk) { /* consecutive unknowns fuse into one */
                w->syms[k++].id = v->unk;
                last_unk = true;
            }
        }
        i += step;
    }
    if (!merge_run(v, w, k, o)) goto nomem;
    return true;
nomem:
    brisk_fail(err, BRISK_ERR_NOMEM, "tokenize: out of memory");
    return false;
}
