/* Tokenizer tests on small vocabularies written with brisk's GGUF writer:
 * a byte-level BPE ("gpt2") and a SentencePiece-style ("llama") one whose
 * results can be worked out by hand; the streaming detokenizer (characters
 * split across tokens, invalid bytes as U+FFFD); token_to_piece and
 * detokenize buffer sizes; bad arguments; malformed vocabularies (clear
 * errors, no crash). The real models are compared with Hugging Face in
 * tests/py/test_tokenizer.py. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brisk.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* Building vocabularies                                                     */
/* ------------------------------------------------------------------------ */

typedef struct vocab_spec {
    const char *model;   /* tokenizer.ggml.model; NULL: leave out */
    const char *pre;     /* tokenizer.ggml.pre; NULL: leave out */
    const char *arch;    /* general.architecture */
    const char *const *tokens;
    int n_tokens;        /* -1: leave tokenizer.ggml.tokens out */
    const float *scores;
    int n_scores;        /* 0: leave out */
    const int32_t *types;
    int n_types;         /* 0: leave out */
    const char *const *merges;
    int n_merges;        /* 0: leave out */
    int bos, eos;        /* -1: leave out */
    int add_bos;         /* -1: leave out, else 0/1 */
    int add_space_prefix;
} vocab_spec;

static brisk_vocab *build(const vocab_spec *s, brisk_error *err) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/brisk_tok_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        CHECK_MSG(0, "mkstemp: %s", strerror(errno));
        return NULL;
    }
    close(fd);
    brisk_gguf_writer *w = brisk_gguf_writer_create(3, NULL);
    CHECK(w != NULL);
    if (!w) return NULL;
    if (s->arch) brisk_gguf_writer_set_str(w, "general.architecture", s->arch, NULL);
    if (s->model) brisk_gguf_writer_set_str(w, "tokenizer.ggml.model", s->model, NULL);
    if (s->pre) brisk_gguf_writer_set_str(w, "tokenizer.ggml.pre", s->pre, NULL);
    if (s->n_tokens >= 0)
        brisk_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", s->tokens, (uint64_t)s->n_tokens, NULL);
    if (s->n_scores)
        brisk_gguf_writer_set_array(w, "tokenizer.ggml.scores", BRISK_GGUF_FLOAT32, s->scores,
                                    (uint64_t)s->n_scores, NULL);
    if (s->n_types)
        brisk_gguf_writer_set_array(w, "tokenizer.ggml.token_type", BRISK_GGUF_INT32, s->types,
                                    (uint64_t)s->n_types, NULL);
    if (s->n_merges)
        brisk_gguf_writer_set_str_array(w, "tokenizer.ggml.merges", s->merges, (uint64_t)s->n_merges, NULL);
    if (s->bos >= 0) brisk_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)s->bos, NULL);
    if (s->eos >= 0) brisk_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)s->eos, NULL);
    if (s->add_bos >= 0) {
        brisk_gguf_value b = {.type = BRISK_GGUF_BOOL, .v.b = s->add_bos != 0};
        brisk_gguf_writer_set(w, "tokenizer.ggml.add_bos_token", &b, NULL);
    }
    if (s->add_space_prefix >= 0) {
        brisk_gguf_value b = {.type = BRISK_GGUF_BOOL, .v.b = s->add_space_prefix != 0};
        brisk_gguf_writer_set(w, "tokenizer.ggml.add_space_prefix", &b, NULL);
    }
    brisk_error werr;
    brisk_status st = brisk_gguf_writer_write(w, path, &werr);
    CHECK_MSG(st == BRISK_OK, "write: %s", werr.msg);
    brisk_gguf_writer_free(w);
    brisk_gguf *g = brisk_gguf_open(path, &werr);
    CHECK_MSG(g != NULL, "open: %s", werr.msg);
    remove(path);
    if (!g) return NULL;
    brisk_vocab *v = brisk_vocab_load(g, err);
    brisk_gguf_close(g); /* the vocabulary must not need the file any more */
    return v;
}

/* A byte-level BPE vocabulary: ids 0..255 are the bytes (spelled in GPT-2's
 * byte-level alphabet), then a few merged tokens and two added tokens. */
enum { BPE_HE = 256, BPE_LL, BPE_HELL, BPE_HELLO, BPE_GW, BPE_OR, BPE_GWOR, BPE_LD, BPE_GWORLD,
       BPE_END, BPE_THINK, BPE_N };

static char bpe_store[BPE_N][16];
static const char *bpe_tokens[BPE_N];
static int32_t bpe_types[BPE_N];
static const char *const bpe_merges[] = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w",
                                         "o r", "\xC4\xA0w or", "l d", "\xC4\xA0wor ld"};

static uint32_t byte_cp(unsigned b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) return b;
    uint32_t k = 0;
    for (unsigned x = 0; x < b; x++)
        k += !((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE));
    return 0x100 + k;
}

static void bpe_init(void) {
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = byte_cp(b);
        char *s = bpe_store[b];
        if (cp < 0x80) {
            s[0] = (char)cp;
            s[1] = 0;
        } else {
            s[0] = (char)(0xC0 | (cp >> 6));
            s[1] = (char)(0x80 | (cp & 0x3F));
            s[2] = 0;
        }
        bpe_tokens[b] = s;
        bpe_types[b] = 1;
    }
    const char *extra[] = {"he", "ll", "hell", "hello", "\xC4\xA0w", "or", "\xC4\xA0wor", "ld",
                           "\xC4\xA0world", "<|end|>", "<think>"};
    for (int i = BPE_HE; i < BPE_N; i++) {
        bpe_tokens[i] = extra[i - BPE_HE];
        bpe_types[i] = 1;
    }
    bpe_types[BPE_END] = 3;
    bpe_types[BPE_THINK] = 4;
}

static vocab_spec bpe_spec(void) {
    bpe_init();
    return (vocab_spec){.model = "gpt2", .pre = "gpt2", .arch = "llama", .tokens = bpe_tokens,
                        .n_tokens = BPE_N, .types = bpe_types, .n_types = BPE_N,
                        .merges = bpe_merges, .n_merges = 9, .bos = -1, .eos = BPE_END,
                        .add_bos = -1, .add_space_prefix = -1};
}

/* A SentencePiece-style vocabulary: <unk> <s> </s>, the 256 byte tokens, then
 * pieces whose scores make "hello" merge as ll, he, hell, hello, ▁hello. */
#define SP "\xE2\x96\x81"
enum { SPM_UNK, SPM_BOS, SPM_EOS, SPM_BYTE0, SPM_SP = SPM_BYTE0 + 256, SPM_H, SPM_E, SPM_L, SPM_O,
       SPM_LL, SPM_HE_, SPM_HELL, SPM_HELLO, SPM_SPHELLO, SPM_EOT, SPM_N };

static char spm_store[256][8];
static const char *spm_tokens[SPM_N];
static float spm_scores[SPM_N];
static int32_t spm_types[SPM_N];

static void spm_init(void) {
    spm_tokens[SPM_UNK] = "<unk>";
    spm_tokens[SPM_BOS] = "<s>";
    spm_tokens[SPM_EOS] = "</s>";
    spm_types[SPM_UNK] = 2;
    spm_types[SPM_BOS] = spm_types[SPM_EOS] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(spm_store[b], sizeof spm_store[b], "<0x%02X>", b);
        spm_tokens[SPM_BYTE0 + b] = spm_store[b];
        spm_types[SPM_BYTE0 + b] = 6;
    }
    const char *pieces[] = {SP, "h", "e", "l", "o", "ll", "he", "hell", "hello", SP "hello", "<end_of_turn>"};
    for (int i = SPM_SP; i < SPM_N; i++) {
        spm_tokens[i] = pieces[i - SPM_SP];
        spm_scores[i] = -(float)(i - SPM_SP + 1);
        spm_types[i] = 1;
    }
    spm_types[SPM_EOT] = 3;
}

static vocab_spec spm_spec(void) {
    spm_init();
    return (vocab_spec){.model = "llama", .arch = "llama", .tokens = spm_tokens, .n_tokens = SPM_N,
                        .scores = spm_scores, .n_scores = SPM_N, .types = spm_types, .n_types = SPM_N,
                        .bos = SPM_BOS, .eos = SPM_EOS, .add_bos = -1, .add_space_prefix = -1};
}

/* Tokenize into a fixed array; returns the count (or -1). */
static int64_t tok(const brisk_vocab *v, const char *text, uint32_t flags, brisk_token *out, int max) {
    brisk_error err;
    int64_t n = brisk_tokenize(v, text, strlen(text), flags, out, max, &err);
    CHECK_MSG(n >= 0, "tokenize \"%s\": %s", text, err.msg);
    return n;
}

#define CHECK_TOKENS(v, text, flags, ...)                                                        \
    do {                                                                                         \
        const brisk_token want_[] = {__VA_ARGS__};                                               \
        brisk_token got_[64];                                                                    \
        int64_t n_ = tok(v, text, flags, got_, 64);                                              \
        int64_t nw_ = (int64_t)(sizeof want_ / sizeof want_[0]);                                 \
        CHECK_MSG(n_ == nw_ && !memcmp(got_, want_, sizeof want_),                               \
                  "tokenize \"%s\" flags %u: %lld tokens, first %d", text, (unsigned)(flags),   \
                  (long long)n_, n_ > 0 ? got_[0] : -1);                                        \
    } while (0)

static const uint32_t ADD = BRISK_TOKENIZE_ADD_SPECIAL, PARSE = BRISK_TOKENIZE_PARSE_SPECIAL;

/* ------------------------------------------------------------------------ */
/* Byte-level BPE                                                            */
/* ------------------------------------------------------------------------ */

TEST(tokenizer_bpe_small_vocab) {
    vocab_spec s = bpe_spec();
    brisk_error err;
    brisk_vocab *v = build(&s, &err);
    CHECK_MSG(v != NULL, "load: %s", err.msg);
    if (!v) return;
    CHECK_EQ_INT(brisk_vocab_size(v), BPE_N);
    CHECK_EQ_INT(brisk_vocab_bos(v), -1);
    CHECK_EQ_INT(brisk_vocab_eos(v), BPE_END);
    CHECK(brisk_vocab_is_eog(v, BPE_END) && brisk_vocab_is_control(v, BPE_END));
    CHECK(!brisk_vocab_is_eog(v, BPE_THINK) && !brisk_vocab_is_control(v, BPE_THINK));

    CHECK_TOKENS(v, "hello world", ADD | PARSE, BPE_HELLO, BPE_GWORLD);
    CHECK_TOKENS(v, "hello", 0, BPE_HELLO);
    CHECK_TOKENS(v, "hel", 0, BPE_HE, 'l');
    CHECK_TOKENS(v, " worlds", 0, BPE_GWORLD, 's');
    CHECK_TOKENS(v, "hello<|end|>", PARSE, BPE_HELLO, BPE_END);
    /* not parsed: the text of the control token is plain text */
    CHECK_TOKENS(v, "hello<|end|>", 0, BPE_HELLO, '<', '|', 'e', 'n', 'd', '|', '>');
    /* user-defined tokens are always matched */
    CHECK_TOKENS(v, "<think>hello", 0, BPE_THINK, BPE_HELLO);
    /* every byte is a token, also invalid UTF-8 */
    CHECK_TOKENS(v, "\xff\xfe", 0, 0xff, 0xfe);
    CHECK_TOKENS(v, "\xe4\xb8", 0, 0xe4, 0xb8);
    CHECK_EQ_INT(brisk_tokenize(v, "", 0, ADD | PARSE, NULL, 0, &err), 0); /* no BOS in this vocab */

    /* the count when the buffer is short; nothing written past max_out */
    brisk_token out[4] = {-7, -7, -7, -7};
    /* "hello" " world" " hello": the last is 'Ġ' + "hello" (no "Ġ h" merge) */
    CHECK_EQ_INT(brisk_tokenize(v, "hello world hello", 17, 0, out, 1, &err), 4);
    CHECK_EQ_INT(out[0], BPE_HELLO);
    CHECK_EQ_INT(out[1], -7);
    CHECK_EQ_INT(brisk_tokenize(v, "hello world hello", 17, 0, NULL, 0, &err), 4);

    char buf[64];
    brisk_token ids[] = {BPE_HELLO, BPE_GWORLD, BPE_END};
    CHECK_EQ_INT(brisk_detokenize(v, ids, 3, false, buf, sizeof buf), 11);
    CHECK(!strcmp(buf, "hello world"));
    CHECK_EQ_INT(brisk_detokenize(v, ids, 3, true, buf, sizeof buf), 18);
    CHECK(!strcmp(buf, "hello world<|end|>"));
    /* byte-level pieces decode to bytes: 'Ġ' is a space */
    CHECK_EQ_INT(brisk_token_to_piece(v, BPE_GW, false, buf, sizeof buf), 2);
    CHECK(!memcmp(buf, " w", 2));
    CHECK_EQ_INT(brisk_token_to_piece(v, ' ', false, buf, sizeof buf), 1);
    CHECK(buf[0] == ' ');
    brisk_vocab_free(v);
}

/* ------------------------------------------------------------------------ */
/* SentencePiece-style                                                       */
/* ------------------------------------------------------------------------ */

TEST(tokenizer_spm_small_vocab) {
    vocab_spec s = spm_spec();
    brisk_error err;
    brisk_vocab *v = build(&s, &err);
    CHECK_MSG(v != NULL, "load: %s", err.msg);
    if (!v) return;
    CHECK_EQ_INT(brisk_vocab_bos(v), SPM_BOS);
    CHECK(brisk_vocab_is_eog(v, SPM_EOS) && brisk_vocab_is_eog(v, SPM_EOT));
    CHECK(!brisk_vocab_is_eog(v, SPM_BOS));
    /* BOS by default, "▁" prefix by default; merges by score */
    CHECK_TOKENS(v, "hello", ADD, SPM_BOS, SPM_SPHELLO);
    CHECK_TOKENS(v, "hello", 0, SPM_SPHELLO);
    CHECK_TOKENS(v, "hello hello", 0, SPM_SPHELLO, SPM_SPHELLO);
    /* é is not in the vocabulary: its bytes */
    CHECK_TOKENS(v, "h\xC3\xA9llo", 0, SPM_SP, SPM_H, SPM_BYTE0 + 0xC3, SPM_BYTE0 + 0xA9, SPM_LL, SPM_O);
    /* a prefix for each text segment (after a parsed special token too) */
    CHECK_TOKENS(v, "hello<end_of_turn>hello", PARSE, SPM_SPHELLO, SPM_EOT, SPM_SPHELLO);
    CHECK_TOKENS(v, "<s>", ADD | PARSE, SPM_BOS, SPM_BOS);

    char buf[64];
    brisk_token ids[] = {SPM_BOS, SPM_SPHELLO, SPM_SPHELLO};
    /* the leading space the tokenizer added is dropped */
    CHECK_EQ_INT(brisk_detokenize(v, ids, 3, false, buf, sizeof buf), 11);
    CHECK(!strcmp(buf, "hello hello"));
    CHECK_EQ_INT(brisk_detokenize(v, ids, 3, true, buf, sizeof buf), 15);
    CHECK(!strcmp(buf, "<s> hello hello"));
    brisk_token bytes[] = {SPM_BYTE0 + 0xE4, SPM_BYTE0 + 0xB8, SPM_BYTE0 + 0xAD};
    CHECK_EQ_INT(brisk_detokenize(v, bytes, 3, false, buf, sizeof buf), 3);
    CHECK(!strcmp(buf, "\xE4\xB8\xAD"));
    /* an incomplete character at the end is U+FFFD */
    CHECK_EQ_INT(brisk_detokenize(v, bytes, 2, false, buf, sizeof buf), 3);
    CHECK(!strcmp(buf, "\xEF\xBF\xBD"));
    CHECK_EQ_INT(brisk_token_to_piece(v, SPM_BYTE0 + 0x41, false, buf, sizeof buf), 1);
    CHECK(buf[0] == 'A');
    CHECK_EQ_INT(brisk_token_to_piece(v, SPM_SPHELLO, false, buf, sizeof buf), 6);
    CHECK(!memcmp(buf, " hello", 6));

    /* no prefix when the file says so; no BOS when it says so */
    s.add_space_prefix = 0;
    s.add_bos = 0;
    brisk_vocab *v2 = build(&s, &err);
    CHECK_MSG(v2 != NULL, "load: %s", err.msg);
    if (v2) {
        CHECK_TOKENS(v2, "hello", ADD, SPM_HELLO);
        brisk_vocab_free(v2);
    }
    brisk_vocab_free(v);
}

/* ------------------------------------------------------------------------ */
/* Streaming detokenizer                                                     */
/* ------------------------------------------------------------------------ */

TEST(tokenizer_detok_stream) {
    vocab_spec s = spm_spec();
    brisk_error err;
    brisk_vocab *v = build(&s, &err);
    CHECK_MSG(v != NULL, "load: %s", err.msg);
    if (!v) return;
    brisk_detok *d = brisk_detok_create(v, false);
    CHECK(d != NULL);
    if (!d) {
        brisk_vocab_free(v);
        return;
    }
    /* a 3-byte character in three tokens: held until whole; the first space dropped */
    CHECK(!strcmp(brisk_detok_push(d, SPM_BOS), ""));
    CHECK(!strcmp(brisk_detok_push(d, SPM_SPHELLO), "hello"));
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0xE4), ""));
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0xB8), ""));
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0xAD), "\xE4\xB8\xAD"));
    /* a 4-byte emoji, then plain text */
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0xF0), ""));
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0x9F), ""));
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0x98), ""));
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0x80), "\xF0\x9F\x98\x80"));
    CHECK(!strcmp(brisk_detok_push(d, SPM_SPHELLO), " hello"));
    /* a byte that can never start a character: U+FFFD at once */
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0xFF), "\xEF\xBF\xBD"));
    /* a started character cut by a plain byte: U+FFFD, then the byte */
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0xE4), ""));
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0x41), "\xEF\xBF\xBD" "A"));
    /* surrogates (ED A0..) are invalid as soon as the second byte shows it */
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0xED), ""));
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0xA0), "\xEF\xBF\xBD\xEF\xBF\xBD"));
    /* held at the end: flushed as U+FFFD */
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0xE4), ""));
    CHECK(!strcmp(brisk_detok_push(d, SPM_BYTE0 + 0xB8), ""));
    CHECK(!strcmp(brisk_detok_flush(d), "\xEF\xBF\xBD"));
    CHECK(!strcmp(brisk_detok_flush(d), ""));
    /* control tokens are hidden unless rendered; invalid ids give nothing */
    CHECK(!strcmp(brisk_detok_push(d, SPM_EOT), ""));
    CHECK(!strcmp(brisk_detok_push(d, -1), ""));
    CHECK(!strcmp(brisk_detok_push(d, SPM_N), ""));
    brisk_detok_free(d);

    d = brisk_detok_create(v, true);
    CHECK(!strcmp(brisk_detok_push(d, SPM_BOS), "<s>"));
    CHECK(!strcmp(brisk_detok_push(d, SPM_SPHELLO), " hello")); /* not the first byte: kept */
    CHECK(!strcmp(brisk_detok_push(d, SPM_EOT), "<end_of_turn>"));
    brisk_detok_free(d);

    brisk_detok_free(NULL);
    CHECK(brisk_detok_create(NULL, false) == NULL);
    CHECK(!strcmp(brisk_detok_push(NULL, 0), ""));
    CHECK(!strcmp(brisk_detok_flush(NULL), ""));
    brisk_vocab_free(v);
}

/* The streamed text equals the one-shot text for every split of a byte string. */
TEST(tokenizer_detok_stream_matches_detokenize) {
    vocab_spec s = spm_spec();
    brisk_error err;
    brisk_vocab *v = build(&s, &err);
    CHECK_MSG(v != NULL, "load: %s", err.msg);
    if (!v) return;
    test_seed(42);
    for (int round = 0; round < 300; round++) {
        brisk_token ids[24];
        int n = 1 + (int)(test_rand_u64() % 24);
        for (int i = 0; i < n; i++) {
            uint64_t r = test_rand_u64();
            /* mostly bytes that make up or break multi-byte characters */
            static const uint8_t interesting[] = {0xE4, 0xB8, 0xAD, 0xF0, 0x9F, 0x98, 0x80, 0xC3,
                                                  0xA9, 0xFF, 0xED, 0xA0, 0x41, 0x80, 0xC0, 0xF4};
            ids[i] = r % 5 == 0 ? SPM_SPHELLO : SPM_BYTE0 + interesting[(r >> 8) % 16];
        }
        char once[256], streamed[256];
        int64_t len = brisk_detokenize(v, ids, n, false, once, sizeof once);
        CHECK(len >= 0 && len < (int64_t)sizeof once);
        brisk_detok *d = brisk_detok_create(v, false);
        size_t at = 0;
        for (int i = 0; i <= n; i++) {
            const char *part = i < n ? brisk_detok_push(d, ids[i]) : brisk_detok_flush(d);
            size_t pl = strlen(part);
            if (at + pl < sizeof streamed) memcpy(streamed + at, part, pl);
            at += pl;
        }
        streamed[at < sizeof streamed ? at : sizeof streamed - 1] = 0;
        brisk_detok_free(d);
        CHECK_MSG(len >= 0 && (size_t)len == at && !strcmp(once, streamed), "round %d", round);
    }
    brisk_vocab_free(v);
}

/* ------------------------------------------------------------------------ */
/* Buffer sizes and bad arguments                                            */
/* ------------------------------------------------------------------------ */

TEST(tokenizer_buffer_sizes) {
    vocab_spec s = spm_spec();
    brisk_error err;
    brisk_vocab *v = build(&s, &err);
    CHECK_MSG(v != NULL, "load: %s", err.msg);
    if (!v) return;
    char buf[16];
    memset(buf, 'x', sizeof buf);
    /* piece " hello": 6 bytes; a 3-byte buffer gets the first 3, the count is 6 */
    CHECK_EQ_INT(brisk_token_to_piece(v, SPM_SPHELLO, false, buf, 3), 6);
    CHECK(!memcmp(buf, " he", 3) && buf[3] == 'x');
    CHECK_EQ_INT(brisk_token_to_piece(v, SPM_SPHELLO, false, NULL, 0), 6);
    CHECK_EQ_INT(brisk_token_to_piece(v, SPM_SPHELLO, false, buf, 6), 6);
    CHECK(!memcmp(buf, " hello", 6));
    /* control tokens: empty unless rendered */
    CHECK_EQ_INT(brisk_token_to_piece(v, SPM_BOS, false, buf, sizeof buf), 0);
    CHECK_EQ_INT(brisk_token_to_piece(v, SPM_BOS, true, buf, sizeof buf), 3);
    CHECK(!memcmp(buf, "<s>", 3));
    CHECK_EQ_INT(brisk_token_to_piece(v, -1, true, buf, sizeof buf), -1);
    CHECK_EQ_INT(brisk_token_to_piece(v, SPM_N, true, buf, sizeof buf), -1);
    CHECK_EQ_INT(brisk_token_to_piece(NULL, 0, true, buf, sizeof buf), -1);
    CHECK_EQ_INT(brisk_token_to_piece(v, SPM_H, true, NULL, 4), -1);

    brisk_token ids[] = {SPM_SPHELLO, SPM_SPHELLO};
    memset(buf, 'x', sizeof buf);
    /* "hello hello" is 11 bytes: a short buffer gets a prefix, the count is 11 */
    CHECK_EQ_INT(brisk_detokenize(v, ids, 2, false, buf, 4), 11);
    CHECK(!memcmp(buf, "hell", 4) && buf[4] == 'x');
    CHECK_EQ_INT(brisk_detokenize(v, ids, 2, false, NULL, 0), 11);
    CHECK_EQ_INT(brisk_detokenize(v, ids, 2, false, buf, 11), 11); /* exact fit, no NUL */
    CHECK(!memcmp(buf, "hello hello", 11));
    CHECK_EQ_INT(brisk_detokenize(v, ids, 2, false, buf, 12), 11);
    CHECK(!strcmp(buf, "hello hello"));
    CHECK_EQ_INT(brisk_detokenize(v, ids, 0, false, buf, sizeof buf), 0);
    CHECK_EQ_INT(brisk_detokenize(v, NULL, 0, false, buf, sizeof buf), 0);
    brisk_vocab_free(v);
}

TEST(tokenizer_bad_arguments) {
    vocab_spec s = spm_spec();
    brisk_error err;
    brisk_vocab *v = build(&s, &err);
    CHECK_MSG(v != NULL, "load: %s", err.msg);
    if (!v) return;
    brisk_token out[8];
    err.status = BRISK_OK;
    CHECK_EQ_INT(brisk_tokenize(NULL, "a", 1, 0, out, 8, &err), -1);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    CHECK_EQ_INT(brisk_tokenize(v, NULL, 1, 0, out, 8, &err), -1);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    CHECK_EQ_INT(brisk_tokenize(v, NULL, 0, 0, out, 8, &err), 0); /* empty text may be NULL */
    CHECK_EQ_INT(brisk_tokenize(v, "a", 1, 0, out, -1, &err), -1);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    CHECK_EQ_INT(brisk_tokenize(v, "a", 1, 0, NULL, 8, &err), -1);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    CHECK_EQ_INT(brisk_tokenize(v, "a", 1, 1u << 7, out, 8, &err), -1);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    CHECK(strstr(err.msg, "flags") != NULL);
    CHECK_EQ_INT(brisk_tokenize(v, "a", 1, 0, out, 8, NULL), 2); /* err may be NULL */
    /* refused before the text is read */
    CHECK_EQ_INT(brisk_tokenize(v, "a", (size_t)1 << 40, 0, out, 8, &err), -1);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    CHECK(strstr(err.msg, "too long") != NULL);

    char buf[8];
    brisk_token bad[] = {SPM_H, SPM_N};
    CHECK_EQ_INT(brisk_detokenize(v, bad, 2, false, buf, sizeof buf), -1);
    bad[1] = -3;
    CHECK_EQ_INT(brisk_detokenize(v, bad, 2, false, buf, sizeof buf), -1);
    CHECK_EQ_INT(brisk_detokenize(v, bad, -1, false, buf, sizeof buf), -1);
    CHECK_EQ_INT(brisk_detokenize(v, NULL, 1, false, buf, sizeof buf), -1);
    CHECK_EQ_INT(brisk_detokenize(NULL, bad, 1, false, buf, sizeof buf), -1);
    CHECK_EQ_INT(brisk_detokenize(v, bad, 1, false, NULL, 4), -1);

    CHECK_EQ_INT(brisk_vocab_size(NULL), 0);
    CHECK_EQ_INT(brisk_vocab_bos(NULL), -1);
    CHECK_EQ_INT(brisk_vocab_eos(NULL), -1);
    CHECK(!brisk_vocab_is_eog(NULL, 0) && !brisk_vocab_is_control(NULL, 0));
    CHECK(!brisk_vocab_is_eog(v, -1) && !brisk_vocab_is_eog(v, SPM_N));
    CHECK(!brisk_vocab_is_control(v, -1) && !brisk_vocab_is_control(v, SPM_N));
    brisk_vocab_free(NULL);

    CHECK(brisk_vocab_load(NULL, &err) == NULL);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    brisk_vocab_free(v);
}

/* ------------------------------------------------------------------------ */
/* Malformed vocabularies                                                    */
/* ------------------------------------------------------------------------ */

static void expect_error(const vocab_spec *s, brisk_status status, const char *needle, const char *what) {
    brisk_error err;
    memset(&err, 0, sizeof err);
    brisk_vocab *v = build(s, &err);
    CHECK_MSG(v == NULL, "%s: loaded", what);
    brisk_vocab_free(v);
    CHECK_MSG(err.status == status, "%s: status %d, want %d (%s)", what, err.status, status, err.msg);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err.msg, needle);
}

TEST(tokenizer_malformed_vocab) {
    vocab_spec s = bpe_spec();
    s.n_tokens = -1;
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.tokens is missing", "no tokens");

    s = bpe_spec();
    s.n_tokens = 0;
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.tokens has 0 tokens", "empty tokens");

    s = bpe_spec();
    s.model = NULL;
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.model is missing", "no model");

    s = bpe_spec();
    s.model = "bert";
    expect_error(&s, BRISK_ERR_UNSUPPORTED, "tokenizer.ggml.model \"bert\" is not supported", "bert");

    s = bpe_spec();
    s.pre = "mystery-pre";
    expect_error(&s, BRISK_ERR_UNSUPPORTED, "unknown pre-tokenizer \"mystery-pre\"", "unknown pre");

    s = bpe_spec();
    s.n_merges = 0;
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.merges is missing", "no merges");

    static const char *const bad_merges[] = {"h e", "q z"};
    s = bpe_spec();
    s.merges = bad_merges;
    s.n_merges = 2;
    /* q and z are bytes (tokens) but "qz" is not a token */
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.merges[1] \"q z\": the merged text", "merge result");

    static const char *const bad_merges2[] = {"h e", "he xyz"};
    s.merges = bad_merges2;
    expect_error(&s, BRISK_ERR_FORMAT, "its right part is not a token", "merge part");

    static const char *const bad_merges3[] = {"nospace"};
    s.merges = bad_merges3;
    s.n_merges = 1;
    expect_error(&s, BRISK_ERR_FORMAT, "is not \"left right\"", "merge format");

    s = bpe_spec();
    s.n_types = BPE_N - 1;
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.token_type must be", "types length");

    static int32_t bad_types[BPE_N];
    s = bpe_spec();
    memcpy(bad_types, bpe_types, sizeof bad_types);
    bad_types[7] = 9;
    s.types = bad_types;
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.token_type[7]", "type value");

    s = bpe_spec();
    s.eos = BPE_N;
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.eos_token_id", "eos out of range");

    s = spm_spec();
    s.n_scores = SPM_N - 3;
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.scores must be", "scores length");

    s = spm_spec();
    s.n_scores = 0;
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.scores is missing", "no scores");

    s = spm_spec();
    s.bos = SPM_N + 5;
    expect_error(&s, BRISK_ERR_FORMAT, "tokenizer.ggml.bos_token_id", "bos out of range");

    /* a type mismatch of a whole key */
    brisk_gguf_writer *w = brisk_gguf_writer_create(3, NULL);
    brisk_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", NULL);
    brisk_gguf_writer_set_str(w, "tokenizer.ggml.tokens", "not an array", NULL);
    char path[64];
    snprintf(path, sizeof path, "/tmp/brisk_tok_XXXXXX");
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    brisk_error err;
    CHECK(brisk_gguf_writer_write(w, path, &err) == BRISK_OK);
    brisk_gguf_writer_free(w);
    brisk_gguf *g = brisk_gguf_open(path, &err);
    remove(path);
    CHECK(g != NULL);
    if (g) {
        CHECK(brisk_vocab_load(g, &err) == NULL);
        CHECK_EQ_INT(err.status, BRISK_ERR_FORMAT);
        CHECK(strstr(err.msg, "tokenizer.ggml.tokens is not an array of strings") != NULL);
        brisk_gguf_close(g);
    }
}

/* Every prefix of a fixed byte soup tokenizes without error with both vocabularies. */
TEST(tokenizer_arbitrary_bytes) {
    vocab_spec specs[2] = {bpe_spec(), spm_spec()};
    for (int k = 0; k < 2; k++) {
        brisk_error err;
        brisk_vocab *v = build(&specs[k], &err);
        CHECK_MSG(v != NULL, "load: %s", err.msg);
        if (!v) continue;
        test_seed(7 + (uint64_t)k);
        for (int round = 0; round < 200; round++) {
            char text[64];
            int n = (int)(test_rand_u64() % sizeof text);
            for (int i = 0; i < n; i++) {
                uint64_t r = test_rand_u64();
                static const char pool[] = "he llo<|end|><think> \n\t\xE4\xB8\xAD\xFF\xC3\xA9<s>";
                text[i] = r & 1 ? (char)(r >> 8) : pool[(r >> 8) % (sizeof pool - 1)];
            }
            brisk_token out[128];
            int64_t c = brisk_tokenize(v, text, (size_t)n, ADD | PARSE, out, 128, &err);
            CHECK_MSG(c >= 0 && c <= 128, "round %d: %lld", round, (long long)c);
            if (c < 0 || c > 128) continue;
            char back[512];
            int64_t b = brisk_detokenize(v, out, c, true, back, sizeof back);
            CHECK(b >= 0 && b < (int64_t)sizeof back);
            if (k == 0 && b >= 0) {
                /* byte-level BPE gives back valid UTF-8 exactly where the input was */
                bool ascii = true;
                for (int i = 0; i < n; i++) ascii = ascii && (unsigned char)text[i] < 0x80;
                if (ascii) CHECK(b == n && !memcmp(back, text, (size_t)n));
            }
        }
        brisk_vocab_free(v);
    }
}
