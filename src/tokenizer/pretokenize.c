/* Pre-tokenizers of byte-level BPE vocabularies: the text is cut into pieces
 * by one or more regexes before BPE runs on each piece (merges never cross a
 * piece boundary). Each regex splits every piece of the previous step
 * "isolated": its matches become pieces and so does the text between them.
 *
 * The regex set is chosen by tokenizer.ggml.pre, the name llama.cpp's
 * converter gives each model's pre-tokenizer; the patterns are those of the
 * models' own tokenizer.json files. An unknown name is an error rather than
 * a guess: the wrong split gives plausible but wrong tokens.
 *
 * Regexes are compiled once per vocabulary with PCRE2 (UTF + UCP, so \s, \p{L}
 * and friends are Unicode-aware, and MATCH_INVALID_UTF so that invalid input
 * bytes are simply never matched) and JIT-compiled where PCRE2 can. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/tok_internal.h"

#define MAX_REGEXES 8

struct pretok {
    int n;
    pcre2_code *re[MAX_REGEXES];
    bool jit[MAX_REGEXES];
};

/* GPT-2 (also the default of Hugging Face's ByteLevel pre-tokenizer). */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* Llama 3 (tiktoken cl100k style, numbers in groups of up to three). */
#define RE_LLAMA3                                                                              \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"                   \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Qwen2: as Llama 3 but every digit alone. */
#define RE_QWEN2                                                                               \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"                        \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Qwen3.5: combining marks join letters. */
#define RE_QWEN35                                                                              \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}"                \
    "| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* GPT-4o (o200k): case-aware words with contractions attached. */
#define RE_GPT4O                                                                               \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"  \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"                                                            \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"                                                            \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Mistral's tekken. */
#define RE_TEKKEN                                                                              \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"  \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" \
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* DeepSeek LLM: letters of cased scripts (an explicit list in the model's
 * tokenizer.json), ASCII/fullwidth punctuation, CJK runs, digit runs. */
#define RE_DSLLM_LETTERS                                                                       \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"        \
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"      \
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"               \
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}" \
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"             \
    "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"             \
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"     \
    "\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"    \
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"             \
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"     \
    "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}"     \
    "\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"               \
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}"              \
    "\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}"             \
    "\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"             \
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"         \
    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"     \
    "\\x{1E900}-\\x{1E943}]+"
#define RE_DS_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

typedef struct pre_def {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    const char *regexes[MAX_REGEXES];
    bool ignore_merges;   /* a piece that is a whole token stays one (Llama 3) */
    bool add_bos_default; /* BOS when tokenizer.ggml.add_bos_token is absent */
} pre_def;

static const pre_def PRE_DEFS[] = {
    {"gpt2|gpt-2|phi-2|mpt|olmo|stablelm2", {RE_GPT2}, false, false},
    /* digits one by one, then GPT-2 (the models' Digits(individual) + ByteLevel) */
    {"smollm|starcoder|refact|command-r", {"\\p{N}", RE_GPT2}, false, false},
    {"llama3|llama-v3|llama-bpe", {RE_LLAMA3}, true, true},
    {"falcon3|falcon-h1|pixtral|midm-2.0|lfm2|dbrx|smaug-bpe|jina-v5-nano", {RE_LLAMA3}, false, false},
    {"qwen2|deepseek-r1-qwen|megrez|kormo|f2llmv2", {RE_QWEN2}, false, false},
    {"qwen35", {RE_QWEN35}, false, false},
    {"gpt-4o|llama4|kanana2|talkie|minimax-m2", {RE_GPT4O}, false, false},
    {"tekken", {RE_TEKKEN}, false, false},
    {"deepseek-llm",
     {"[\\r\\n]", RE_DSLLM_LETTERS,
      "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
      "\\s+$", RE_DS_CJK, "\\p{N}+"},
     false, true},
    {"deepseek-coder", {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_DS_CJK, "\\p{N}"}, false, true},
    {"deepseek-v3",
     {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
      "| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     false, true},
};

static bool name_in(const char *names, const char *name, size_t len) {
    const char *p = names;
    while (*p) {
        const char *end = strchr(p, '|');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && memcmp(p, name, len) == 0) return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

void pretok_free(pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->re[i]);
    free(p);
}

pretok *pretok_create(const char *name, size_t name_len, bool *ignore_merges, bool *add_bos_default,
                      brisk_error *err) {
    const pre_def *def = NULL;
    /* No key at all: GPT-2's pre-tokenizer, as for files that predate the key
     * (and as Hugging Face's ByteLevel does). */
    if (!name) def = &PRE_DEFS[0];
    for (size_t i = 0; !def && i < sizeof PRE_DEFS / sizeof PRE_DEFS[0]; i++)
        if (name_in(PRE_DEFS[i].names, name, name_len)) def = &PRE_DEFS[i];
    if (!def) {
        brisk_fail(err, BRISK_ERR_UNSUPPORTED,
                   "tokenizer.ggml.pre: unknown pre-tokenizer \"%.*s\" (known: gpt2, smollm, "
                   "starcoder, llama-bpe/llama3, qwen2, qwen35, deepseek-r1-qwen, deepseek-llm, "
                   "deepseek-coder, deepseek-v3, gpt-4o, tekken, ...)",
                   (int)(name_len > 64 ? 64 : name_len), name);
        return NULL;
    }
    pretok *p = calloc(1, sizeof *p);
    if (!p) {
        brisk_fail(err, BRISK_ERR_NOMEM, "pre-tokenizer: out of memory");
        return NULL;
    }
    for (int i = 0; i < MAX_REGEXES && def->regexes[i]; i++) {
        int code;
        PCRE2_SIZE at;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)def->regexes[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &at,
                                       NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(code, msg, sizeof msg);
            brisk_fail(err, BRISK_ERR_UNSUPPORTED,
                       "pre-tokenizer \"%.*s\": regex %d does not compile at offset %zu: %s",
                       (int)(name_len > 64 ? 64 : name_len), name ? name : "gpt2", i, (size_t)at,
                       (const char *)msg);
            pretok_free(p);
            return NULL;
        }
        p->re[p->n] = re;
        p->jit[p->n] = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
        p->n++;
    }
    *ignore_merges = def->ignore_merges;
    *add_bos_default = def->add_bos_default;
    return p;
}

static bool push_span(tok_work *w, int which, size_t *n, uint32_t off, uint32_t len) {
    if (*n == w->spans_cap[which]) {
        size_t cap = w->spans_cap[which] ? 2 * w->spans_cap[which] : 64;
        span *s = realloc(w->spans[which], cap * sizeof *s);
        if (!s) return false;
        w->spans[which] = s;
        w->spans_cap[which] = cap;
    }
    w->spans[which][(*n)++] = (span){off, len};
    return true;
}

bool pretok_split(const pretok *p, tok_work *w, const char *text, size_t len, span **out,
                  size_t *n_out, brisk_error *err) {
    if (len > UINT32_MAX) {
        brisk_fail(err, BRISK_ERR_ARG, "tokenize: a text segment of %zu bytes is too long", len);
        return false;
    }
    if (!w->match_data) {
        w->match_data = pcre2_match_data_create(16, NULL);
        if (!w->match_data) goto nomem;
    }
    pcre2_match_data *md = w->match_data;
    int cur = 0;
    size_t n_cur = 0;
    if (!push_span(w, cur, &n_cur, 0, (uint32_t)len)) goto nomem;
    for (int r = 0; r < p->n; r++) {
        int nxt = 1 - cur;
        size_t n_nxt = 0;
        for (size_t i = 0; i < n_cur; i++) {
            span s = w->spans[cur][i];
            const char *subj = text + s.off;
            size_t start = 0;
            while (start < s.len) {
                int rc = pcre2_match(p->re[r], (PCRE2_SPTR)subj, s.len, start, 0, md, NULL);
                if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
                    rc = pcre2_match(p->re[r], (PCRE2_SPTR)subj, s.len, start, PCRE2_NO_JIT, md, NULL);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[160];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    brisk_fail(err, BRISK_ERR_UNSUPPORTED, "tokenize: pre-tokenizer regex failed: %s",
                               (const char *)msg);
                    return false;
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t m0 = ov[0], m1 = ov[1];
                if (m1 <= m0) { /* empty match (none of the patterns has one): step over a char */
                    int l = utf8_char_len((const uint8_t *)subj + m0, s.len - m0);
                    m1 = m0 + (l > 0 ? (size_t)l : 1);
                    if (m1 > s.len) m1 = s.len;
                    if (m0 > start && !push_span(w, nxt, &n_nxt, s.off + (uint32_t)start,
                                                 (uint32_t)(m0 - start)))
                        goto nomem;
                    if (!push_span(w, nxt, &n_nxt, s.off + (uint32_t)m0, (uint32_t)(m1 - m0)))
                        goto nomem;
                    start = m1;
                    continue;
                }
                if (m0 > start &&
                    !push_span(w, nxt, &n_nxt, s.off + (uint32_t)start, (uint32_t)(m0 - start)))
                    goto nomem;
                if (!push_span(w, nxt, &n_nxt, s.off + (uint32_t)m0, (uint32_t)(m1 - m0)))
                    goto nomem;
                start = m1;
            }
            if (start < s.len &&
                !push_span(w, nxt, &n_nxt, s.off + (uint32_t)start, (uint32_t)(s.len - start)))
                goto nomem;
        }
        cur = nxt;
        n_cur = n_nxt;
    }
    *out = w->spans[cur];
    *n_out = n_cur;
    return true;
nomem:
    brisk_fail(err, BRISK_ERR_NOMEM, "tokenize: out of memory");
    return false;
}

void tok_work_free(tok_work *w) {
    free(w->syms);
    free(w->heap);
    free(w->spans[0]);
    free(w->spans[1]);
    free(w->buf);
    if (w->match_data) pcre2_match_data_free((pcre2_match_data *)w->match_data);
    memset(w, 0, sizeof *w);
}
