/* brisk_tokenize: added tokens, BOS/EOS, and the end-of-generation set.
 *
 * Added tokens are matched whole in the raw text before BPE/SPM sees it:
 * user-defined tokens (such as "<think>") always, control tokens (such as
 * "<|im_start|>") and the named specials (BOS, EOS, UNK, PAD) only with
 * BRISK_TOKENIZE_PARSE_SPECIAL. Matching is leftmost-longest over all added
 * tokens; when a special token matches but specials are not parsed, its text
 * stays plain text and matching goes on after it (as Hugging Face's added
 * vocabulary does with encode_special_tokens). The text between matches is
 * tokenized segment by segment.
 *
 * For each first byte the distinct lengths of the added tokens starting with
 * it are kept longest first, so a position costs one hash lookup per length. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/tok_internal.h"

/* Texts of tokens that end a turn or a generation in the chat formats brisk
 * knows (when the vocabulary marks them control or user-defined). */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>",    "<|eom_id|>",   "<|im_end|>",  "<|end|>",         "<end_of_turn>",
    "<|endoftext|>", "<|end_of_text|>", "<EOT>",    "_<EOT>",          "<|return|>",
    "<|call|>",      "<end_of_utterance>", "<|end\xE2\x96\x81of\xE2\x96\x81sentence|>",
    "<\xEF\xBD\234end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", /* \234 = \x9C, which would take the 'e' */
};

static int cmp_desc_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x > y ? -1 : x < y;
}

brisk_status special_init(brisk_vocab *v, brisk_error *err) {
    int32_t n = v->n_tokens;
    uint8_t *keep = calloc((size_t)n, 1);
    if (!keep) return vocab_fail(err, BRISK_ERR_NOMEM, "out of memory for added tokens");
    uint32_t count[256] = {0};
    size_t n_added = 0;
    for (int32_t i = 0; i < n; i++) {
        keep[i] = (v->flags[i] & TOKF_ADDED) != 0;
        if (keep[i]) {
            count[(uint8_t)v->text.arena[v->text.off[i]]]++;
            n_added++;
        }
    }
    bool ok = strmap_build(&v->added, &v->text, keep, NULL, 0);
    /* lengths per first byte, deduplicated, longest first */
    v->added_lens = malloc((n_added ? n_added : 1) * sizeof *v->added_lens);
    if (!ok || !v->added_lens) {
        free(keep);
        return vocab_fail(err, BRISK_ERR_NOMEM, "out of memory for added tokens");
    }
    uint32_t start[257];
    start[0] = 0;
    for (int b = 0; b < 256; b++) start[b + 1] = start[b] + count[b];
    uint32_t fill[256];
    memcpy(fill, start, sizeof fill);
    for (int32_t i = 0; i < n; i++)
        if (keep[i]) v->added_lens[fill[(uint8_t)v->text.arena[v->text.off[i]]]++] = v->text.len[i];
    free(keep);
    uint32_t out = 0;
    for (int b = 0; b < 256; b++) {
        uint32_t *l = v->added_lens + start[b];
        uint32_t c = start[b + 1] - start[b];
        qsort(l, c, sizeof *l, cmp_desc_u32);
        v->added_len_start[b] = out;
        for (uint32_t k = 0; k < c; k++)
            if (k == 0 || l[k] != l[k - 1]) v->added_lens[out++] = l[k];
    }
    v->added_len_start[256] = out;

    /* end of generation */
    if (v->eos >= 0) v->flags[v->eos] |= TOKF_EOG;
    if (v->eot >= 0) v->flags[v->eot] |= TOKF_EOG;
    if (v->eom >= 0) v->flags[v->eom] |= TOKF_EOG;
    for (int32_t i = 0; i < n; i++) {
        if (v->type[i] != TOKTYPE_CONTROL && v->type[i] != TOKTYPE_USER_DEFINED) continue;
        const char *s = v->text.arena + v->text.off[i];
        for (size_t k = 0; k < sizeof EOG_TEXTS / sizeof EOG_TEXTS[0]; k++)
            if (strlen(EOG_TEXTS[k]) == v->text.len[i] && !memcmp(EOG_TEXTS[k], s, v->text.len[i]))
                v->flags[i] |= TOKF_EOG;
    }
    return BRISK_OK;
}

/* The longest added token at text[i..len), or -1. */
static int32_t match_added(const brisk_vocab *v, const char *text, size_t i, size_t len, size_t *mlen) {
    uint8_t b = (uint8_t)text[i];
    for (uint32_t k = v->added_len_start[b]; k < v->added_len_start[b + 1]; k++) {
        uint32_t l = v->added_lens[k];
        if (l > len - i) continue;
        int32_t id = strmap_find(&v->added, &v->text, text + i, l);
        if (id >= 0) {
            *mlen = l;
            return id;
        }
    }
    return -1;
}

static bool encode_segment(const brisk_vocab *v, tok_work *w, const char *s, size_t n, tok_out *o,
                           brisk_error *err) {
    if (n == 0) return true;
    return v->kind == VOCAB_BPE ? bpe_encode(v, w, s, n, o, err) : spm_encode(v, w, s, n, o, err);
}

int64_t brisk_tokenize(const brisk_vocab *v, const char *text, size_t len, uint32_t flags,
                       brisk_token *out, int64_t max_out, brisk_error *err) {
    if (!v) {
        brisk_fail(err, BRISK_ERR_ARG, "brisk_tokenize: no vocabulary");
        return -1;
    }
    if (!text && len > 0) {
        brisk_fail(err, BRISK_ERR_ARG, "brisk_tokenize: text is NULL but len is %zu", len);
        return -1;
    }
    if (max_out < 0 || (max_out > 0 && !out)) {
        brisk_fail(err, BRISK_ERR_ARG, "brisk_tokenize: bad output buffer (max_out %lld)", (long long)max_out);
        return -1;
    }
    if (len > (size_t)INT32_MAX / 4) { /* symbol indices are int32; SPM text grows up to 3x */
        brisk_fail(err, BRISK_ERR_ARG, "brisk_tokenize: text of %zu bytes is too long (at most %d)", len,
                   INT32_MAX / 4);
        return -1;
    }
    if (flags & ~(uint32_t)(BRISK_TOKENIZE_ADD_SPECIAL | BRISK_TOKENIZE_PARSE_SPECIAL)) {
        brisk_fail(err, BRISK_ERR_ARG, "brisk_tokenize: unknown flags 0x%x", flags);
        return -1;
    }
    bool parse_special = flags & BRISK_TOKENIZE_PARSE_SPECIAL;
    bool add_special = flags & BRISK_TOKENIZE_ADD_SPECIAL;
    tok_work w = {0};
    tok_out o = {out, max_out, 0};
    bool ok = true;

    if (add_special && v->add_bos && v->bos >= 0) tok_emit(&o, v->bos);
    size_t seg = 0;
    for (size_t i = 0; ok && i < len;) {
        uint8_t b = (uint8_t)text[i];
        size_t mlen = 0;
        int32_t id = v->added_len_start[b] < v->added_len_start[b + 1]
                         ? match_added(v, text, i, len, &mlen)
                         : -1;
        if (id < 0) {
            i++;
            continue;
        }
        if ((v->flags[id] & TOKF_SPECIAL) && !parse_special) {
            i += mlen; /* stays text */
            continue;
        }
        ok = encode_segment(v, &w, text + seg, i - seg, &o, err);
        tok_emit(&o, id);
        i += mlen;
        seg = i;
    }
    if (ok) ok = encode_segment(v, &w, text + seg, len - seg, &o, err);
    if (ok && add_special && v->add_eos && v->eos >= 0) tok_emit(&o, v->eos);
    tok_work_free(&w);
    return ok ? o.n : -1;
}
