/* Template source -> tokens, with jinja2's whitespace rules as Hugging Face
 * sets them: trim_blocks (the first newline after a block or comment tag is
 * dropped), lstrip_blocks (spaces and tabs before a block or comment tag on its
 * own line are dropped), `-` on a tag strips all whitespace on that side, `+`
 * keeps it; newlines are normalized to \n and one trailing newline is dropped
 * (keep_trailing_newline=False). {% raw %} ... {% endraw %} becomes text. */
#include <stdlib.h>
#include <string.h>

#include "template/tmpl.h"

typedef struct lexer {
    tmpl_state *st;
    const char *src;
    size_t n, pos;
    int line, col;          /* at pos */
    ttoken *toks;
    size_t n_toks, cap;
    char balance[TMPL_MAX_NESTING];
    int depth;
} lexer;

static void advance_to(lexer *lx, size_t to) {
    for (; lx->pos < to; lx->pos++) {
        if (lx->src[lx->pos] == '\n') { lx->line++; lx->col = 1; }
        else if (((unsigned char)lx->src[lx->pos] & 0xC0) != 0x80) lx->col++;
    }
}

static ttoken *push(lexer *lx, ttok_kind kind, int line, int col) {
    if (lx->n_toks == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        ttoken *t = tmpl_alloc(lx->st, cap * sizeof *t);
        if (lx->n_toks) memcpy(t, lx->toks, lx->n_toks * sizeof *t);
        lx->toks = t;
        lx->cap = cap;
    }
    ttoken *t = &lx->toks[lx->n_toks++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->line = line;
    t->col = col;
    return t;
}

static void push_text(lexer *lx, const char *s, size_t n, int line, int col) {
    if (n == 0) return;
    ttoken *t = push(lx, TK_TEXT, line, col);
    t->s = s;
    t->len = n;
}

/* Length of the whitespace run (Python's \s) starting at i. */
static size_t space_run(const char *s, size_t n, size_t i) {
    size_t start = i, len;
    while (i < n && tmpl_is_space_at(s, n, i, &len)) i += len;
    return i - start;
}

/* Text length after Python's rstrip() of s[0..n). */
static size_t rstrip_len(const char *s, size_t n) {
    size_t end = 0, len;
    for (size_t i = 0; i < n; i += len) {
        if (tmpl_is_space_at(s, n, i, &len)) continue;
        len = 1;
        while (i + len < n && ((unsigned char)s[i + len] & 0xC0) == 0x80) len++;
        end = i + len;
    }
    return end;
}

static bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_ident(char c) { return is_ident_start(c) || is_digit(c); }

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_utf8(tbuf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 63)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 63));
        u[2] = (char)(0x80 | (cp & 63)); n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 63));
        u[2] = (char)(0x80 | ((cp >> 6) & 63)); u[3] = (char)(0x80 | (cp & 63)); n = 4;
    }
    tbuf_put(b, u, n);
}

/* A string literal at lx->pos (quote included): Python's unicode-escape rules. */
static void lex_string(lexer *lx) {
    const char *s = lx->src;
    char q = s[lx->pos];
    size_t i = lx->pos + 1;
    int line = lx->line, col = lx->col;
    tbuf b;
    tbuf_init(&b, lx->st);
    for (;;) {
        if (i >= lx->n) tmpl_fail_at(lx->st, line, col, "unterminated string literal");
        char c = s[i];
        if (c == q) break;
        if (c != '\\') { tbuf_putc(&b, c); i++; continue; }
        if (i + 1 >= lx->n) tmpl_fail_at(lx->st, line, col, "unterminated string literal");
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case '\n': break;
        case '\\': tbuf_putc(&b, '\\'); break;
        case '\'': tbuf_putc(&b, '\''); break;
        case '"': tbuf_putc(&b, '"'); break;
        case 'a': tbuf_putc(&b, '\a'); break;
        case 'b': tbuf_putc(&b, '\b'); break;
        case 'f': tbuf_putc(&b, '\f'); break;
        case 'n': tbuf_putc(&b, '\n'); break;
        case 'r': tbuf_putc(&b, '\r'); break;
        case 't': tbuf_putc(&b, '\t'); break;
        case 'v': tbuf_putc(&b, '\v'); break;
        case 'x': case 'u': case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 0; k < digits; k++) {
                int h = i + (size_t)k < lx->n ? hexval(s[i + (size_t)k]) : -1;
                if (h < 0) tmpl_fail_at(lx->st, line, col, "bad \\%c escape in a string literal", e);
                cp = cp * 16 + (uint32_t)h;
            }
            i += (size_t)digits;
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
                tmpl_fail_at(lx->st, line, col, "\\%c escape outside Unicode in a string literal", e);
            put_utf8(&b, cp);
            break;
        }
        default:
            if (e >= '0' && e <= '7') { /* octal, up to 3 digits */
                uint32_t cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i < lx->n && s[i] >= '0' && s[i] <= '7'; k++, i++)
                    cp = cp * 8 + (uint32_t)(s[i] - '0');
                put_utf8(&b, cp);
            } else { /* unknown escape: kept as written */
                tbuf_putc(&b, '\\');
                i--;
            }
        }
    }
    ttoken *t = push(lx, TK_STRING, line, col);
    t->s = b.p ? b.p : "";
    t->len = b.n;
    advance_to(lx, i + 1);
}

/* digits with optional single underscores between them; returns the end */
static size_t scan_digits(const char *s, size_t n, size_t i, bool (*ok)(char)) {
    while (i < n && (ok(s[i]) || (s[i] == '_' && i + 1 < n && ok(s[i + 1])))) i++;
    return i;
}
static bool dec_ok(char c) { return is_digit(c); }
static bool hex_ok(char c) { return hexval(c) >= 0; }
static bool oct_ok(char c) { return c >= '0' && c <= '7'; }
static bool bin_ok(char c) { return c == '0' || c == '1'; }

static void lex_number(lexer *lx) {
    const char *s = lx->src;
    size_t i = lx->pos, n = lx->n;
    int line = lx->line, col = lx->col;
    char clean[128];
    size_t k = 0;
    bool is_float = false;
    int base = 10;
    size_t end;
    if (s[i] == '0' && i + 1 < n && strchr("xXoObB", s[i + 1])) {
        char p = (char)(s[i + 1] | 0x20);
        base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
        end = scan_digits(s, n, i + 2, base == 16 ? hex_ok : base == 8 ? oct_ok : bin_ok);
        if (end == i + 2) tmpl_fail_at(lx->st, line, col, "bad number literal");
        i += 2;
    } else {
        end = scan_digits(s, n, i, dec_ok);
        if (end + 1 < n && s[end] == '.' && is_digit(s[end + 1])) {
            is_float = true;
            end = scan_digits(s, n, end + 1, dec_ok);
        }
        if (end < n && (s[end] == 'e' || s[end] == 'E')) {
            size_t j = end + 1;
            if (j < n && (s[j] == '+' || s[j] == '-')) j++;
            if (j < n && is_digit(s[j])) { is_float = true; end = scan_digits(s, n, j, dec_ok); }
        }
    }
    for (; i < end; i++)
        if (s[i] != '_') {
            if (k + 1 >= sizeof clean) tmpl_fail_at(lx->st, line, col, "number literal too long");
            clean[k++] = s[i];
        }
    clean[k] = 0;
    ttoken *t = push(lx, is_float ? TK_FLOAT : TK_INT, line, col);
    if (is_float) {
        t->f = strtod(clean, NULL);
    } else {
        char *e;
        unsigned long long v = strtoull(clean, &e, base);
        if (v > (unsigned long long)INT64_MAX || (v == ~0ull))
            tmpl_fail_at(lx->st, line, col, "integer literal too large");
        t->i = (int64_t)v;
    }
    advance_to(lx, end);
}

static const char *const OPERATORS[] = {
    "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")",
    "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
};

/* Tokens inside a {{ }} or {% %} tag, up to and including its end. */
static void lex_tag(lexer *lx, bool block, int open_line, int open_col) {
    const char *s = lx->src;
    lx->depth = 0;
    for (;;) {
        advance_to(lx, lx->pos + space_run(s, lx->n, lx->pos));
        if (lx->pos >= lx->n)
            tmpl_fail_at(lx->st, open_line, open_col, "unclosed %s tag", block ? "{%" : "{{");
        const char *p = s + lx->pos;
        size_t left = lx->n - lx->pos;
        const char *end = block ? "%}" : "}}";
        if (lx->depth == 0) {
            bool strip = left >= 3 && p[0] == '-' && !memcmp(p + 1, end, 2);
            bool keep = left >= 3 && p[0] == '+' && !memcmp(p + 1, end, 2);
            if (strip || keep || (left >= 2 && !memcmp(p, end, 2))) {
                push(lx, block ? TK_BLOCK_END : TK_VAR_END, lx->line, lx->col);
                size_t after = lx->pos + (strip || keep ? 3 : 2);
                if (strip) after += space_run(s, lx->n, after);
                else if (block && !keep && after < lx->n && s[after] == '\n') after++;
                advance_to(lx, after);
                return;
            }
        }
        char c = *p;
        if (c == '\'' || c == '"') { lex_string(lx); continue; }
        if (is_digit(c)) { lex_number(lx); continue; }
        if (is_ident_start(c) || ((unsigned char)c >= 0x80)) {
            size_t j = lx->pos;
            while (j < lx->n && (is_ident(s[j]) || (unsigned char)s[j] >= 0x80)) j++;
            ttoken *t = push(lx, TK_NAME, lx->line, lx->col);
            t->s = s + lx->pos;
            t->len = j - lx->pos;
            advance_to(lx, j);
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof OPERATORS / sizeof *OPERATORS; k++) {
            size_t m = strlen(OPERATORS[k]);
            if (m <= left && !memcmp(p, OPERATORS[k], m)) break;
        }
        if (k == sizeof OPERATORS / sizeof *OPERATORS)
            tmpl_fail_at(lx->st, lx->line, lx->col, "unexpected character '%c' in a tag", c);
        const char *op = OPERATORS[k];
        if (op[1] == 0 && strchr("([{", op[0])) {
            if (lx->depth == TMPL_MAX_NESTING)
                tmpl_fail_at(lx->st, lx->line, lx->col, "brackets nested too deeply");
            lx->balance[lx->depth++] = op[0] == '(' ? ')' : op[0] == '[' ? ']' : '}';
        } else if (op[1] == 0 && strchr(")]}", op[0])) {
            if (lx->depth == 0) tmpl_fail_at(lx->st, lx->line, lx->col, "unexpected '%c'", op[0]);
            char want = lx->balance[--lx->depth];
            if (want != op[0])
                tmpl_fail_at(lx->st, lx->line, lx->col, "unexpected '%c', expected '%c'", op[0], want);
        }
        ttoken *t = push(lx, TK_OP, lx->line, lx->col);
        t->s = op;
        t->len = strlen(op);
        advance_to(lx, lx->pos + t->len);
    }
}

/* If a block tag at `at` (just after "{%" and its sign) is `raw`, returns the
 * position after the tag's end, else 0. *trim: the end was "-%}". */
static size_t raw_tag_end(const lexer *lx, size_t at, const char *word) {
    const char *s = lx->src;
    size_t i = at + space_run(s, lx->n, at), m = strlen(word);
    if (i + m > lx->n || memcmp(s + i, word, m) || (i + m < lx->n && is_ident(s[i + m]))) return 0;
    i += space_run(s, lx->n, i + m) + m;
    if (i + 3 <= lx->n && s[i] == '-' && !memcmp(s + i + 1, "%}", 2))
        return i + 3 + space_run(s, lx->n, i + 3);
    if (i + 3 <= lx->n && s[i] == '+' && !memcmp(s + i + 1, "%}", 2)) return i + 3;
    if (i + 2 <= lx->n && !memcmp(s + i, "%}", 2))
        return i + 2 + (i + 2 < lx->n && s[i + 2] == '\n');
    return 0;
}

/* Applies `-` / lstrip_blocks to the text before a tag; returns its new length. */
static size_t strip_before_tag(const char *text, size_t n, char sign, bool variable, bool line_starting) {
    if (sign == '-') return rstrip_len(text, n);
    if (sign == '+' || variable) return n;
    size_t l = n;
    while (l > 0 && text[l - 1] != '\n') l--;
    if (l == 0 && !line_starting) return n;
    size_t ws = space_run(text, n, l);
    return l + ws == n ? l : n;
}

ttoken *tmpl_lex(tmpl_state *st, const char *src_in, size_t len, size_t *n_out) {
    /* normalize newlines and drop one trailing newline */
    char *src = tmpl_alloc(st, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src_in[i] == '\r') {
            src[n++] = '\n';
            if (i + 1 < len && src_in[i + 1] == '\n') i++;
        } else {
            src[n++] = src_in[i];
        }
    }
    if (n && src[n - 1] == '\n') n--;
    src[n] = 0;

    lexer lx = {.st = st, .src = src, .n = n, .line = 1, .col = 1};
    bool line_starting = true;
    while (lx.pos < n) {
        size_t i = lx.pos;
        while (i + 1 < n && !(src[i] == '{' && (src[i + 1] == '{' || src[i + 1] == '%' || src[i + 1] == '#'))) i++;
        if (i + 1 >= n) {
            push_text(&lx, src + lx.pos, n - lx.pos, lx.line, lx.col);
            break;
        }
        char kind = src[i + 1];
        char sign = i + 2 < n && (src[i + 2] == '-' || src[i + 2] == '+') ? src[i + 2] : 0;
        size_t tag_body = i + 2 + (sign != 0);
        size_t keep = strip_before_tag(src + lx.pos, i - lx.pos, sign, kind == '{', line_starting);
        push_text(&lx, src + lx.pos, keep, lx.line, lx.col);
        advance_to(&lx, i);
        int tline = lx.line, tcol = lx.col;
        if (kind == '#') {
            const char *e = strstr(src + tag_body, "#}");
            if (!e) tmpl_fail_at(st, tline, tcol, "unclosed comment (no #})");
            size_t after = (size_t)(e - src) + 2;
            if (e > src + tag_body && e[-1] == '-') after += space_run(src, n, after);
            else if (after < n && src[after] == '\n') after++;
            advance_to(&lx, after);
            line_starting = src[after - 1] == '\n';
            continue;
        }
        size_t raw_end = kind == '%' ? raw_tag_end(&lx, tag_body, "raw") : 0;
        if (raw_end) {
            /* text up to {% endraw %}, with its own whitespace control */
            size_t j = raw_end;
            for (;;) {
                const char *e = strstr(src + j, "{%");
                if (!e) tmpl_fail_at(st, tline, tcol, "missing {%% endraw %%}");
                size_t at = (size_t)(e - src);
                char s2 = at + 2 < n && (src[at + 2] == '-' || src[at + 2] == '+') ? src[at + 2] : 0;
                size_t end = raw_tag_end(&lx, at + 2 + (s2 != 0), "endraw");
                if (!end) { j = at + 2; continue; }
                advance_to(&lx, raw_end);
                size_t keep2 = strip_before_tag(src + raw_end, at - raw_end, s2, false, false);
                push_text(&lx, src + raw_end, keep2, lx.line, lx.col);
                advance_to(&lx, end);
                line_starting = src[end - 1] == '\n';
                break;
            }
            continue;
        }
        push(&lx, kind == '{' ? TK_VAR_BEGIN : TK_BLOCK_BEGIN, tline, tcol);
        advance_to(&lx, tag_body);
        lex_tag(&lx, kind == '%', tline, tcol);
        line_starting = src[lx.pos - 1] == '\n';
    }
    push(&lx, TK_EOF, lx.line, lx.col);
    *n_out = lx.n_toks - 1;
    return lx.toks;
}
