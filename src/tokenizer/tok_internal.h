/* Internals of the tokenizer (src/tokenizer): the vocabulary object and the
 * pieces the tokenizer files share. Nothing here is global; everything hangs
 * off a brisk_vocab, which is read-only once loaded (several threads may
 * tokenize with one vocab at the same time).
 *
 *   vocab.c       metadata -> token tables, special ids, flags; queries
 *   maps.c        string -> id and (id, id) -> merge hash maps
 *   utf8.c        UTF-8 helpers and the GPT-2 byte <-> unicode mapping
 *   pretokenize.c pre-tokenizer regexes by tokenizer.ggml.pre (PCRE2)
 *   bpe.c         merge engine (shared) and byte-level BPE ("gpt2")
 *   spm.c         SentencePiece-style vocabularies ("llama")
 *   special.c     brisk_tokenize: added-token splitting, BOS/EOS
 *   detok.c       pieces, brisk_detokenize, streaming detokenizer
 *
 * Reference behaviour: the Hugging Face tokenizer that transformers builds from
 * the same GGUF (the tests compare token ids with it). */
#ifndef BRISK_TOKENIZER_INTERNAL_H
#define BRISK_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brisk.h"

/* tokenizer.ggml.token_type values (llama.cpp's numbering). */
enum {
    TOKTYPE_UNDEFINED = 0,
    TOKTYPE_NORMAL = 1,
    TOKTYPE_UNKNOWN = 2,
    TOKTYPE_CONTROL = 3,
    TOKTYPE_USER_DEFINED = 4,
    TOKTYPE_UNUSED = 5,
    TOKTYPE_BYTE = 6,
};

/* Per-token flags (brisk_vocab.flags). */
enum {
    TOKF_SPECIAL = 1u << 0, /* hidden unless render_special; matched only with PARSE_SPECIAL */
    TOKF_ADDED = 1u << 1,   /* matched whole in the input text (before BPE/SPM) */
    TOKF_EOG = 1u << 2,     /* ends a generation */
    TOKF_DUP = 1u << 3,     /* an earlier token has the same text */
};

typedef enum vocab_kind { VOCAB_SPM, VOCAB_BPE } vocab_kind;

/* ---- hash maps (maps.c) -------------------------------------------------- */

/* Token texts: one arena, offsets and lengths per id. */
typedef struct text_table {
    char *arena;
    uint32_t *off; /* [n] */
    uint32_t *len; /* [n] */
    int32_t n;
} text_table;

/* Open-addressing map from a text of a text_table to its id. Each slot holds
 * (hash << 32) | (id + 1); 0 is empty. */
typedef struct strmap {
    uint64_t *slots;
    uint64_t mask;
} strmap;

uint64_t tok_hash(const char *s, size_t n);
/* Build a map over the ids i with keep[i] set (keep NULL: all). On a
 * duplicate text the later id wins, and dup_flags[later id] |= dup_bit
 * (dup_flags may be NULL). Returns false when out of memory. */
bool strmap_build(strmap *m, const text_table *t, const uint8_t *keep, uint8_t *dup_flags,
                  uint8_t dup_bit);
int32_t strmap_find(const strmap *m, const text_table *t, const char *s, size_t n);
void strmap_free(strmap *m);

/* Map from an adjacent pair of ids to its merge: rank (lower merges first) and
 * the id the pair becomes. */
typedef struct pairmap {
    uint64_t *keys; /* (left << 32) | right; UINT64_MAX = empty */
    uint32_t *rank;
    int32_t *result;
    uint64_t mask;
    uint64_t count;
} pairmap;

bool pairmap_init(pairmap *m, uint64_t expected);
/* Insert or overwrite (a later merge of the same pair replaces the earlier). */
void pairmap_put(pairmap *m, int32_t left, int32_t right, uint32_t rank, int32_t result);
bool pairmap_get(const pairmap *m, int32_t left, int32_t right, uint32_t *rank, int32_t *result);
void pairmap_free(pairmap *m);

/* ---- UTF-8 (utf8.c) ------------------------------------------------------ */

/* Length of the valid UTF-8 character at s[0..n), 0 if the bytes there are
 * not one (invalid, or cut off). */
int utf8_char_len(const uint8_t *s, size_t n);
/* Where the bytes at s[0..n) stand: returns the length of a valid character
 * (> 0), or -k for an invalid maximal subpart of k bytes, or 0 when the bytes
 * are a valid but incomplete start of a character (more bytes could finish it). */
int utf8_classify(const uint8_t *s, size_t n);
/* Encode a code point; returns its length (1..4). */
int utf8_encode(uint32_t cp, char out[4]);
/* Number of code points in valid UTF-8 (invalid bytes count one each). */
size_t utf8_count_chars(const char *s, size_t n);

/* GPT-2's byte-level alphabet: byte b is spelled as the code point
 * byte_to_cp(b); every one of them is below 324. */
uint32_t bytelevel_byte_to_cp(uint8_t b);
/* Byte of a code point of the alphabet, or -1. */
int bytelevel_cp_to_byte(uint32_t cp);
/* Decode a byte-level string to bytes (appending to out, which must hold n
 * bytes). Returns the byte count, or -1 if some character is not of the
 * alphabet. */
int64_t bytelevel_decode(const char *s, size_t n, char *out);

/* ---- pre-tokenizer (pretokenize.c) --------------------------------------- */

typedef struct pretok pretok;
/* The pre-tokenizer for tokenizer.ggml.pre = name (NULL: the key is absent). */
pretok *pretok_create(const char *name, size_t name_len, bool *ignore_merges, bool *add_bos_default,
                      brisk_error *err);
void pretok_free(pretok *p);

/* A piece of text: [off, off + len) of the segment being split. */
typedef struct span {
    uint32_t off;
    uint32_t len;
} span;

/* ---- per-call scratch space (bpe.c) -------------------------------------- */

typedef struct merge_sym {
    int32_t id;   /* token id; -1 once merged into its left neighbour */
    int32_t prev; /* index of the previous live symbol, -1 at the start */
    int32_t next; /* index of the next live symbol, -1 at the end */
} merge_sym;

typedef struct merge_cand {
    uint32_t rank;
    int32_t pos;    /* index of the left symbol */
    int32_t result; /* the id the pair becomes */
} merge_cand;

typedef struct tok_work {
    merge_sym *syms;
    size_t syms_cap;
    merge_cand *heap;
    size_t heap_cap;
    span *spans[2];
    size_t spans_cap[2];
    char *buf; /* normalized text (SPM) */
    size_t buf_cap;
    void *match_data; /* pcre2_match_data_8 */
} tok_work;

void tok_work_free(tok_work *w);

/* Output of the tokenizer: ids go to out[0..max) and are counted past it. */
typedef struct tok_out {
    brisk_token *out;
    int64_t max;
    int64_t n;
} tok_out;

static inline void tok_emit(tok_out *o, brisk_token t) {
    if (o->n < o->max) o->out[o->n] = t;
    o->n++;
}

/* ---- the vocabulary ------------------------------------------------------ */

struct brisk_vocab {
    vocab_kind kind;
    int32_t n_tokens;
    text_table text;   /* texts as matched: byte-level spelling for BPE, respelled for Gemma */
    text_table piece;  /* bytes each token decodes to (without render rules) */
    uint8_t *type;     /* [n] tokenizer.ggml.token_type (NORMAL when absent) */
    float *scores;     /* [n] tokenizer.ggml.scores, or NULL */
    uint8_t *flags;    /* [n] TOKF_* */
    strmap by_text;    /* text -> id (the later of duplicates) */
    pairmap merges;    /* (left, right) -> rank, result */
    int32_t byte_tok[256]; /* BPE: token of byte b's alphabet char; SPM: <0xNN>; -1: none */

    brisk_token bos, eos, unk, pad, eot, eom;
    bool add_bos, add_eos;
    bool add_space_prefix; /* SPM: "▁" before each text segment */
    bool strip_leading_space; /* detokenize: drop one leading space (SPM with a prefix) */
    bool ignore_merges;    /* BPE: a pre-token found whole in the vocab is one token */

    /* Added tokens (TOKF_ADDED), matched leftmost-longest in the raw text. */
    strmap added;
    uint32_t added_len_start[257]; /* CSR over first bytes into added_lens */
    uint32_t *added_lens;          /* distinct lengths per first byte, longest first */

    pretok *pre; /* BPE only */
};

/* Error message helper for load failures. */
brisk_status vocab_fail(brisk_error *err, brisk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* bpe.c */
brisk_status bpe_load_merges(brisk_vocab *v, const brisk_gguf_value *merges, brisk_error *err);
/* Run the merges over syms[0..n) (ids already set; prev/next are set here) and
 * emit the resulting ids. */
bool merge_run(const brisk_vocab *v, tok_work *w, size_t n, tok_out *o);
bool work_reserve_syms(tok_work *w, size_t n);
/* Tokenize one segment of plain text (no added tokens in it). */
bool bpe_encode(const brisk_vocab *v, tok_work *w, const char *text, size_t len, tok_out *o,
                brisk_error *err);

/* pretokenize.c: split text[0..len) into spans (in w->spans[*which]) */
bool pretok_split(const pretok *p, tok_work *w, const char *text, size_t len, span **out,
                  size_t *n_out, brisk_error *err);

/* spm.c */
brisk_status spm_build_merges(brisk_vocab *v, bool gemma, brisk_error *err);
bool spm_encode(const brisk_vocab *v, tok_work *w, const char *text, size_t len, tok_out *o,
                brisk_error *err);
/* Python's str.isspace() for one code point. */
bool spm_py_isspace(uint32_t cp);

/* special.c */
brisk_status special_init(brisk_vocab *v, brisk_error *err);

/* detok.c */
brisk_status detok_build_pieces(brisk_vocab *v, const brisk_gguf_value *tokens, brisk_error *err);

#endif
