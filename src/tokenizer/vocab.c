/* brisk_vocab_load: the tokenizer described by a GGUF file's tokenizer.ggml.*
 * metadata, and the simple queries.
 *
 *   tokenizer.ggml.model        "llama" (SentencePiece-style) or "gpt2" (byte-level BPE)
 *   tokenizer.ggml.pre          pre-tokenizer of a "gpt2" vocabulary (pretokenize.c)
 *   tokenizer.ggml.tokens       token texts (required)
 *   tokenizer.ggml.scores       token scores ("llama": merge priorities)
 *   tokenizer.ggml.token_type   1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
 *   tokenizer.ggml.merges       "left right", best first ("gpt2", required)
 *   tokenizer.ggml.{bos,eos,unknown,padding,eot,eom}_token_id
 *   tokenizer.ggml.add_bos_token / add_eos_token / add_space_prefix
 *
 * Token texts are kept as the tokenizer matches them. In a "gpt2" vocabulary a
 * token is spelled in the byte-level alphabet; a token that is not (some
 * files store added tokens as raw UTF-8) is respelled from its bytes. In a
 * Gemma vocabulary a token of whitespace with spaces in it is stored with real
 * spaces; it is respelled with "▁" as the normalized text has it. Both are what
 * Hugging Face's GGUF loader does, whose tokenizer is our reference. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/tok_internal.h"

brisk_status vocab_fail(brisk_error *err, brisk_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    brisk_failv(err, st, fmt, ap);
    va_end(ap);
    return st;
}

static const brisk_gguf_value *find_typed(const brisk_gguf *g, const char *key, brisk_gguf_type t,
                                          bool *bad) {
    const brisk_gguf_value *val = brisk_gguf_find(g, key);
    if (val && val->type != t) {
        *bad = true;
        return NULL;
    }
    return val;
}

/* An optional token id: -1 when absent; false (with err) when malformed. */
static bool read_token_id(const brisk_gguf *g, const char *key, int32_t n_tokens, brisk_token *out,
                          brisk_error *err) {
    *out = -1;
    const brisk_gguf_value *val = brisk_gguf_find(g, key);
    if (!val) return true;
    int64_t id;
    if (!brisk_gguf_value_int(val, &id) || val->type == BRISK_GGUF_FLOAT32 ||
        val->type == BRISK_GGUF_FLOAT64 || val->type == BRISK_GGUF_BOOL) {
        vocab_fail(err, BRISK_ERR_FORMAT, "%s: expected an integer, found %s", key,
                   brisk_gguf_type_name(val->type));
        return false;
    }
    if (id < 0 || id >= n_tokens) {
        vocab_fail(err, BRISK_ERR_FORMAT, "%s = %lld is outside the vocabulary (%d tokens)", key,
                   (long long)id, n_tokens);
        return false;
    }
    *out = (brisk_token)id;
    return true;
}

/* An optional bool: def when absent. */
static bool read_bool(const brisk_gguf *g, const char *key, bool def, bool *out, brisk_error *err) {
    bool bad = false;
    const brisk_gguf_value *val = find_typed(g, key, BRISK_GGUF_BOOL, &bad);
    if (bad) {
        vocab_fail(err, BRISK_ERR_FORMAT, "%s: expected a bool, found %s", key,
                   brisk_gguf_type_name(brisk_gguf_find(g, key)->type));
        return false;
    }
    *out = val ? val->v.b : def;
    return true;
}

/* Does the UTF-8 text consist of byte-level alphabet characters only? */
static bool is_bytelevel_spelled(const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        int len = utf8_char_len(u + i, n - i);
        if (len == 0 || len > 2) return false;
        uint32_t cp = len == 1 ? u[i] : ((uint32_t)(u[i] & 0x1F) << 6) | (u[i + 1] & 0x3F);
        if (bytelevel_cp_to_byte(cp) < 0) return false;
        i += (size_t)len;
    }
    return true;
}

/* Gemma: whitespace-only token with a space in it (Python: " " in t and not t.strip()). */
static bool is_gemma_space_token(const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    bool space = false;
    if (n == 0) return false;
    for (size_t i = 0; i < n;) {
        int len = utf8_char_len(u + i, n - i);
        if (len == 0) return false;
        uint32_t cp = u[i];
        if (len == 2) cp = ((uint32_t)(u[i] & 0x1F) << 6) | (u[i + 1] & 0x3F);
        if (len == 3) cp = ((uint32_t)(u[i] & 0x0F) << 12) | ((uint32_t)(u[i + 1] & 0x3F) << 6) | (u[i + 2] & 0x3F);
        if (len == 4) return false;
        if (!spm_py_isspace(cp)) return false;
        space = space || cp == ' ';
        i += (size_t)len;
    }
    return space;
}

/* Fill v->text from the file's tokens, respelling where needed; respelled[i]
 * says which were. */
static brisk_status build_texts(brisk_vocab *v, const brisk_gguf_value *tokens, bool gemma,
                                uint8_t *respelled, brisk_error *err) {
    int32_t n = v->n_tokens;
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        brisk_str s = tokens->v.arr.strs[i];
        bool bad_bpe = v->kind == VOCAB_BPE && !is_bytelevel_spelled(s.ptr, (size_t)s.len);
        bool gemma_sp = gemma && is_gemma_space_token(s.ptr, (size_t)s.len);
        respelled[i] = bad_bpe || gemma_sp;
        /* byte-level: at most 2 bytes per byte; Gemma: "▁" (3 bytes) per char (1 byte) */
        total += bad_bpe ? 2 * s.len : gemma_sp ? 3 * s.len : s.len;
    }
    if (total >= UINT32_MAX)
        return vocab_fail(err, BRISK_ERR_UNSUPPORTED, "tokenizer.ggml.tokens: %llu bytes of text is too much",
                          (unsigned long long)total);
    v->text.n = n;
    v->text.arena = malloc(total ? total : 1);
    v->text.off = malloc((size_t)n * sizeof *v->text.off);
    v->text.len = malloc((size_t)n * sizeof *v->text.len);
    if (!v->text.arena || !v->text.off || !v->text.len)
        return vocab_fail(err, BRISK_ERR_NOMEM, "out of memory for %d token texts", n);
    uint32_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        brisk_str s = tokens->v.arr.strs[i];
        char *dst = v->text.arena + at;
        uint32_t len = 0;
        if (!respelled[i]) {
            memcpy(dst, s.ptr, (size_t)s.len);
            len = (uint32_t)s.len;
        } else if (v->kind == VOCAB_BPE) {
            for (uint64_t j = 0; j < s.len; j++)
                len += (uint32_t)utf8_encode(bytelevel_byte_to_cp((uint8_t)s.ptr[j]), dst + len);
        } else {
            size_t chars = utf8_count_chars(s.ptr, (size_t)s.len);
            for (size_t j = 0; j < chars; j++, len += 3) memcpy(dst + len, "\xE2\x96\x81", 3);
        }
        v->text.off[i] = at;
        v->text.len[i] = len;
        at += len;
    }
    return BRISK_OK;
}

static brisk_status load(brisk_vocab *v, const brisk_gguf *g, brisk_error *err) {
    bool bad = false;
    const brisk_gguf_value *model = find_typed(g, "tokenizer.ggml.model", BRISK_GGUF_STRING, &bad);
    if (bad) return vocab_fail(err, BRISK_ERR_FORMAT, "tokenizer.ggml.model is not a string");
    if (!model) return vocab_fail(err, BRISK_ERR_FORMAT, "the file has no tokenizer (tokenizer.ggml.model is missing)");
    brisk_str mname = model->v.str;
    if (brisk_str_eq(mname, "llama")) {
        v->kind = VOCAB_SPM;
    } else if (brisk_str_eq(mname, "gpt2")) {
        v->kind = VOCAB_BPE;
    } else {
        return vocab_fail(err, BRISK_ERR_UNSUPPORTED,
                          "tokenizer.ggml.model \"%.*s\" is not supported (brisk knows \"llama\" and \"gpt2\")",
                          (int)(mname.len > 64 ? 64 : mname.len), mname.ptr);
    }
    const brisk_gguf_value *arch = find_typed(g, "general.architecture", BRISK_GGUF_STRING, &bad);
    bool gemma = v->kind == VOCAB_SPM && arch &&
                 (brisk_str_eq(arch->v.str, "gemma") || brisk_str_eq(arch->v.str, "gemma2") ||
                  brisk_str_eq(arch->v.str, "gemma3") || brisk_str_eq(arch->v.str, "gemma3n"));

    const brisk_gguf_value *tokens = brisk_gguf_find(g, "tokenizer.ggml.tokens");
    if (!tokens) return vocab_fail(err, BRISK_ERR_FORMAT, "tokenizer.ggml.tokens is missing");
    if (tokens->type != BRISK_GGUF_ARRAY || tokens->v.arr.elem_type != BRISK_GGUF_STRING)
        return vocab_fail(err, BRISK_ERR_FORMAT, "tokenizer.ggml.tokens is not an array of strings");
    if (tokens->v.arr.n == 0 || tokens->v.arr.n >= INT32_MAX)
        return vocab_fail(err, BRISK_ERR_FORMAT, "tokenizer.ggml.tokens has %llu tokens",
                          (unsigned long long)tokens->v.arr.n);
    int32_t n = (int32_t)tokens->v.arr.n;
    v->n_tokens = n;

    v->type = malloc((size_t)n);
    v->flags = calloc((size_t)n, 1);
    uint8_t *respelled = calloc((size_t)n, 1);
    if (!v->type || !v->flags || !respelled) {
        free(respelled);
        return vocab_fail(err, BRISK_ERR_NOMEM, "out of memory for %d tokens", n);
    }
    memset(v->type, TOKTYPE_NORMAL, (size_t)n);

    const brisk_gguf_value *types = brisk_gguf_find(g, "tokenizer.ggml.token_type");
    if (types) {
        if (types->type != BRISK_GGUF_ARRAY || types->v.arr.elem_type == BRISK_GGUF_STRING ||
            types->v.arr.elem_type == BRISK_GGUF_ARRAY || types->v.arr.n != (uint64_t)n) {
            free(respelled);
            return vocab_fail(err, BRISK_ERR_FORMAT,
                              "tokenizer.ggml.token_type must be an integer array of %d entries (one per token)", n);
        }
        for (int32_t i = 0; i < n; i++) {
            brisk_gguf_value e;
            int64_t t;
            if (!brisk_gguf_array_get(types, (uint64_t)i, &e) || !brisk_gguf_value_int(&e, &t) ||
                t < 0 || t > TOKTYPE_BYTE) {
                free(respelled);
                return vocab_fail(err, BRISK_ERR_FORMAT, "tokenizer.ggml.token_type[%d] is not a token type (0..6)", i);
            }
            v->type[i] = (uint8_t)t;
        }
    }

    const brisk_gguf_value *scores = brisk_gguf_find(g, "tokenizer.ggml.scores");
    if (scores) {
        if (scores->type != BRISK_GGUF_ARRAY || scores->v.arr.elem_type == BRISK_GGUF_STRING ||
            scores->v.arr.elem_type == BRISK_GGUF_ARRAY || scores->v.arr.n != (uint64_t)n) {
            free(respelled);
            return vocab_fail(err, BRISK_ERR_FORMAT,
                              "tokenizer.ggml.scores must be a numeric array of %d entries (one per token), found %s[%llu]",
                              n, brisk_gguf_type_name(scores->type == BRISK_GGUF_ARRAY ? scores->v.arr.elem_type : scores->type),
                              (unsigned long long)(scores->type == BRISK_GGUF_ARRAY ? scores->v.arr.n : 1));
        }
        v->scores = malloc((size_t)n * sizeof *v->scores);
        if (!v->scores) {
            free(respelled);
            return vocab_fail(err, BRISK_ERR_NOMEM, "out of memory for %d scores", n);
        }
        for (int32_t i = 0; i < n; i++) {
            brisk_gguf_value e;
            double d = 0;
            brisk_gguf_array_get(scores, (uint64_t)i, &e);
            brisk_gguf_value_float(&e, &d);
            v->scores[i] = d == d ? (float)d : -1e30f; /* NaN sorts last */
        }
    } else if (v->kind == VOCAB_SPM && !gemma) {
        free(respelled);
        return vocab_fail(err, BRISK_ERR_FORMAT,
                          "tokenizer.ggml.scores is missing (a SentencePiece vocabulary merges by score)");
    }

    brisk_status st = build_texts(v, tokens, gemma, respelled, err);
    if (st) {
        free(respelled);
        return st;
    }
    if (!strmap_build(&v->by_text, &v->text, NULL, v->flags, TOKF_DUP)) {
        free(respelled);
        return vocab_fail(err, BRISK_ERR_NOMEM, "out of memory for the token map");
    }

    /* byte tokens */
    for (int b = 0; b < 256; b++) {
        char s[8];
        int len;
        if (v->kind == VOCAB_BPE) {
            len = utf8_encode(bytelevel_byte_to_cp((uint8_t)b), s);
        } else {
            snprintf(s, sizeof s, "<0x%02X>", b);
            len = 6;
        }
        v->byte_tok[b] = strmap_find(&v->by_text, &v->text, s, (size_t)len);
    }

    if (!read_token_id(g, "tokenizer.ggml.bos_token_id", n, &v->bos, err) ||
        !read_token_id(g, "tokenizer.ggml.eos_token_id", n, &v->eos, err) ||
        !read_token_id(g, "tokenizer.ggml.unknown_token_id", n, &v->unk, err) ||
        !read_token_id(g, "tokenizer.ggml.padding_token_id", n, &v->pad, err) ||
        !read_token_id(g, "tokenizer.ggml.eot_token_id", n, &v->eot, err) ||
        !read_token_id(g, "tokenizer.ggml.eom_token_id", n, &v->eom, err)) {
        free(respelled);
        return err ? err->status : BRISK_ERR_FORMAT;
    }

    bool add_bos_default = v->kind == VOCAB_SPM;
    if (v->kind == VOCAB_BPE) {
        bool pbad = false;
        const brisk_gguf_value *pre = find_typed(g, "tokenizer.ggml.pre", BRISK_GGUF_STRING, &pbad);
        if (pbad) {
            free(respelled);
            return vocab_fail(err, BRISK_ERR_FORMAT, "tokenizer.ggml.pre is not a string");
        }
        v->pre = pretok_create(pre ? pre->v.str.ptr : NULL, pre ? (size_t)pre->v.str.len : 0,
                               &v->ignore_merges, &add_bos_default, err);
        if (!v->pre) {
            free(respelled);
            return err ? err->status : BRISK_ERR_UNSUPPORTED;
        }
    }
    bool prefix = false;
    if (!read_bool(g, "tokenizer.ggml.add_bos_token", add_bos_default, &v->add_bos, err) ||
        !read_bool(g, "tokenizer.ggml.add_eos_token", false, &v->add_eos, err) ||
        !read_bool(g, "tokenizer.ggml.add_space_prefix", v->kind == VOCAB_SPM, &prefix, err)) {
        free(respelled);
        return err ? err->status : BRISK_ERR_FORMAT;
    }
    /* Gemma never puts a space in front (its normalizer only replaces spaces). */
    v->add_space_prefix = v->kind == VOCAB_SPM && !gemma && prefix;
    v->strip_leading_space = v->add_space_prefix;

    /* Which tokens are special (hidden unless rendered, matched only with
     * PARSE_SPECIAL) and which are matched whole in the text. A token that had
     * to be respelled cannot be written in the text as it is: not matched. */
    for (int32_t i = 0; i < n; i++) {
        bool matchable = !respelled[i] && v->text.len[i] > 0;
        bool named = i == v->bos || i == v->eos || i == v->unk || i == v->pad;
        if (v->type[i] == TOKTYPE_CONTROL || v->type[i] == TOKTYPE_UNKNOWN || named)
            v->flags[i] |= TOKF_SPECIAL;
        if (matchable && (v->type[i] == TOKTYPE_CONTROL || v->type[i] == TOKTYPE_USER_DEFINED || named))
            v->flags[i] |= TOKF_ADDED;
    }
    free(respelled);

    if (v->kind == VOCAB_BPE) {
        const brisk_gguf_value *merges = brisk_gguf_find(g, "tokenizer.ggml.merges");
        if (!merges)
            return vocab_fail(err, BRISK_ERR_FORMAT, "tokenizer.ggml.merges is missing (a \"gpt2\" vocabulary needs them)");
        st = bpe_load_merges(v, merges, err);
    } else {
        st = spm_build_merges(v, gemma, err);
    }
    if (st) return st;
    if ((st = special_init(v, err))) return st;
    return detok_build_pieces(v, tokens, err);
}

brisk_vocab *brisk_vocab_load(const brisk_gguf *g, brisk_error *err) {
    if (!g) {
        brisk_fail(err, BRISK_ERR_ARG, "brisk_vocab_load: no GGUF file");
        return NULL;
    }
    brisk_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        brisk_fail(err, BRISK_ERR_NOMEM, "out of memory for the vocabulary");
        return NULL;
    }
    v->bos = v->eos = v->unk = v->pad = v->eot = v->eom = -1;
    if (load(v, g, err) != BRISK_OK) {
        brisk_vocab_free(v);
        return NULL;
    }
    return v;
}

void brisk_vocab_free(brisk_vocab *v) {
    if (!v) return;
    free(v->text.arena);
    free(v->text.off);
    free(v->text.len);
    free(v->piece.arena);
    free(v->piece.off);
    free(v->piece.len);
    free(v->type);
    free(v->flags);
    free(v->scores);
    strmap_free(&v->by_text);
    strmap_free(&v->added);
    pairmap_free(&v->merges);
    free(v->added_lens);
    pretok_free(v->pre);
    free(v);
}

int32_t brisk_vocab_size(const brisk_vocab *v) { return v ? v->n_tokens : 0; }
brisk_token brisk_vocab_bos(const brisk_vocab *v) { return v ? v->bos : -1; }
brisk_token brisk_vocab_eos(const brisk_vocab *v) { return v ? v->eos : -1; }

bool brisk_vocab_is_eog(const brisk_vocab *v, brisk_token t) {
    return v && t >= 0 && t < v->n_tokens && (v->flags[t] & TOKF_EOG);
}

bool brisk_vocab_is_control(const brisk_vocab *v, brisk_token t) {
    return v && t >= 0 && t < v->n_tokens && v->type[t] == TOKTYPE_CONTROL;
}
