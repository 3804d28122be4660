/* Tokens back to text.
 *
 * Each token's bytes (its "piece") are computed once at load:
 *   byte-level BPE: the token's byte-level characters decoded to bytes;
 *   SentencePiece: "▁" becomes a space, a byte token <0xNN> is that byte.
 * Special tokens (control, unknown, BOS/EOS/UNK/PAD) render only when asked.
 *
 * Pieces are concatenated and read as UTF-8; a sequence that cannot be valid
 * becomes U+FFFD (one per maximal invalid subpart, as Python's and Rust's
 * lossy decoders do). With a SentencePiece space prefix, one leading space of
 * the text is dropped (the one the tokenizer added).
 *
 * The streaming detokenizer runs the same steps incrementally and holds back
 * the bytes of a character that is not complete yet. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/tok_internal.h"

brisk_status detok_build_pieces(brisk_vocab *v, const brisk_gguf_value *tokens, brisk_error *err) {
    int32_t n = v->n_tokens;
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) total += tokens->v.arr.strs[i].len;
    if (v->kind == VOCAB_BPE && v->text.off[n - 1] + (uint64_t)v->text.len[n - 1] > total)
        total = v->text.off[n - 1] + (uint64_t)v->text.len[n - 1];
    v->piece.n = n;
    v->piece.arena = malloc(total ? total : 1);
    v->piece.off = malloc((size_t)n * sizeof *v->piece.off);
    v->piece.len = malloc((size_t)n * sizeof *v->piece.len);
    if (!v->piece.arena || !v->piece.off || !v->piece.len)
        return vocab_fail(err, BRISK_ERR_NOMEM, "out of memory for token pieces");
    uint32_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        char *dst = v->piece.arena + at;
        int64_t len = 0;
        if (v->kind == VOCAB_BPE) {
            /* every text was spelled (or respelled) in the alphabet at load */
            len = bytelevel_decode(v->text.arena + v->text.off[i], v->text.len[i], dst);
            if (len < 0) len = 0;
        } else {
            brisk_str s = tokens->v.arr.strs[i];
            const char *p = s.ptr;
            if (s.len == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>') {
                int hi = p[3], lo = p[4], val = 0, ok = 1;
                int d[2] = {hi, lo};
                for (int k = 0; k < 2; k++) {
                    int c = d[k], x;
                    if (c >= '0' && c <= '9') x = c - '0';
                    else if (c >= 'A' && c <= 'F') x = c - 'A' + 10;
                    else if (c >= 'a' && c <= 'f') x = c - 'a' + 10;
                    else { ok = 0; x = 0; }
                    val = val * 16 + x;
                }
                if (ok) {
                    dst[0] = (char)val;
                    len = 1;
                    goto done;
                }
            }
            for (uint64_t j = 0; j < s.len;) {
                if (j + 3 <= s.len && (uint8_t)p[j] == 0xE2 && (uint8_t)p[j + 1] == 0x96 &&
                    (uint8_t)p[j + 2] == 0x81) {
                    dst[len++] = ' ';
                    j += 3;
                } else {
                    dst[len++] = p[j++];
                }
            }
        }
    done:
        v->piece.off[i] = at;
        v->piece.len[i] = (uint32_t)len;
        at += (uint32_t)len;
    }
    return BRISK_OK;
}

int64_t brisk_token_to_piece(const brisk_vocab *v, brisk_token t, bool render_special, char *buf,
                             size_t buf_size) {
    if (!v || t < 0 || t >= v->n_tokens || (!buf && buf_size > 0)) return -1;
    if ((v->flags[t] & TOKF_SPECIAL) && !render_special) return 0;
    uint32_t len = v->piece.len[t];
    size_t n = len < buf_size ? len : buf_size;
    if (n) memcpy(buf, v->piece.arena + v->piece.off[t], n);
    return len;
}

/* ---- lossy UTF-8 over a byte stream -------------------------------------- */

typedef struct sink {
    char *buf;
    size_t cap; /* bytes buf holds (fixed) or has allocated (growable) */
    size_t n;   /* bytes written, possibly more than cap when fixed */
    bool grow;
    bool failed;
} sink;

static void sink_put(sink *s, const char *p, size_t n) {
    if (s->grow && s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (s->n + n + 1 > cap) cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b) {
            s->failed = true;
            return;
        }
        s->buf = b;
        s->cap = cap;
    }
    if (s->n < s->cap) memcpy(s->buf + s->n, p, s->n + n <= s->cap ? n : s->cap - s->n);
    s->n += n;
}

typedef struct lossy {
    uint8_t pend[4]; /* a character not complete yet */
    int npend;
    bool strip_space; /* drop the first byte of the output if it is a space */
    bool started;     /* some output was produced */
} lossy;

static void out_bytes(lossy *l, sink *s, const char *p, size_t n) {
    if (n == 0) return;
    if (!l->started) {
        l->started = true;
        if (l->strip_space && p[0] == ' ') {
            p++;
            n--;
        }
    }
    sink_put(s, p, n);
}

static const char REPLACEMENT[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Resolve what is pending: emit complete characters and invalid subparts;
 * keep a valid incomplete start (unless at_end). */
static void drain(lossy *l, sink *s, bool at_end) {
    while (l->npend > 0) {
        int r = utf8_classify(l->pend, (size_t)l->npend);
        int take;
        if (r > 0) {
            out_bytes(l, s, (const char *)l->pend, (size_t)r);
            take = r;
        } else if (r < 0) {
            out_bytes(l, s, REPLACEMENT, 3);
            take = -r;
        } else if (at_end) {
            out_bytes(l, s, REPLACEMENT, 3);
            take = l->npend;
        } else {
            return;
        }
        memmove(l->pend, l->pend + take, (size_t)(l->npend - take));
        l->npend -= take;
    }
}

static void lossy_feed(lossy *l, sink *s, const char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (l->npend == 0) {
            /* fast path: a run of complete characters straight through */
            size_t j = i;
            while (j < n) {
                int c = utf8_classify((const uint8_t *)p + j, n - j);
                if (c <= 0) break;
                j += (size_t)c;
            }
            out_bytes(l, s, p + i, j - i);
            i = j;
            if (i == n) break;
        }
        l->pend[l->npend++] = (uint8_t)p[i++];
        drain(l, s, false);
    }
}

int64_t brisk_detokenize(const brisk_vocab *v, const brisk_token *tokens, int64_t n,
                         bool render_special, char *buf, size_t buf_size) {
    if (!v || n < 0 || (n > 0 && !tokens) || (!buf && buf_size > 0)) return -1;
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= v->n_tokens) return -1;
    sink s = {buf, buf_size, 0, false, false};
    lossy l = {.strip_space = v->strip_leading_space};
    for (int64_t i = 0; i < n; i++) {
        brisk_token t = tokens[i];
        if ((v->flags[t] & TOKF_SPECIAL) && !render_special) continue;
        lossy_feed(&l, &s, v->piece.arena + v->piece.off[t], v->piece.len[t]);
    }
    drain(&l, &s, true);
    if (s.n < buf_size) buf[s.n] = '\0';
    return (int64_t)s.n;
}

/* ---- streaming ------------------------------------------------------------ */

struct brisk_detok {
    const brisk_vocab *v;
    bool render_special;
    lossy l;
    sink out; /* growable; reset on every call */
};

brisk_detok *brisk_detok_create(const brisk_vocab *v, bool render_special) {
    if (!v) return NULL;
    brisk_detok *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->v = v;
    d->render_special = render_special;
    d->l.strip_space = v->strip_leading_space;
    d->out.grow = true;
    return d;
}

void brisk_detok_free(brisk_detok *d) {
    if (!d) return;
    free(d->out.buf);
    free(d);
}

static const char *finish_call(brisk_detok *d) {
    if (d->out.failed || !d->out.buf) {
        d->out.failed = false;
        return "";
    }
    d->out.buf[d->out.n] = '\0';
    return d->out.buf;
}

const char *brisk_detok_push(brisk_detok *d, brisk_token t) {
    if (!d) return "";
    d->out.n = 0;
    const brisk_vocab *v = d->v;
    if (t < 0 || t >= v->n_tokens) return "";
    if ((v->flags[t] & TOKF_SPECIAL) && !d->render_special) return "";
    lossy_feed(&d->l, &d->out, v->piece.arena + v->piece.off[t], v->piece.len[t]);
    return finish_call(d);
}

const char *brisk_detok_flush(brisk_detok *d) {
    if (!d) return "";
    d->out.n = 0;
    drain(&d->l, &d->out, true);
    return finish_call(d);
}
