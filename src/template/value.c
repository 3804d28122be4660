/* Values with Python's semantics: truth, equality, ordering, str() and repr(),
 * iteration and len(); dicts; UTF-8 helpers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl.h"

tval tv_undef(const char *hint) { return (tval){.t = TV_UNDEFINED, .u.hint = hint}; }
tval tv_none(void) { return (tval){.t = TV_NONE}; }
tval tv_bool(bool b) { return (tval){.t = TV_BOOL, .u.b = b}; }
tval tv_int(int64_t i) { return (tval){.t = TV_INT, .u.i = i}; }
tval tv_float(double f) { return (tval){.t = TV_FLOAT, .u.f = f}; }

tval tv_str(tmpl_state *st, const char *s, size_t n) {
    if (n > TMPL_MAX_STRING) tmpl_fail(st, "a string exceeds %llu MiB", (unsigned long long)(TMPL_MAX_STRING >> 20));
    tstr *p = tmpl_alloc(st, sizeof *p + n + 1);
    p->len = n;
    if (n) memcpy(p->s, s, n);
    return (tval){.t = TV_STRING, .u.s = p};
}

tval tv_cstr(tmpl_state *st, const char *s) { return tv_str(st, s, strlen(s)); }

tval tv_list(tmpl_state *st, size_t n, bool tuple) {
    if (n > (TMPL_MAX_MEMORY / sizeof(tval))) tmpl_fail(st, "a list is too long");
    tlist *l = tmpl_alloc(st, sizeof *l + n * sizeof(tval));
    l->n = n;
    l->tuple = tuple;
    return (tval){.t = TV_LIST, .u.l = l};
}

tval tv_generator(tmpl_state *st, tval list) {
    tval g = tv_list(st, list.u.l->n, false);
    memcpy(g.u.l->items, list.u.l->items, list.u.l->n * sizeof(tval));
    g.u.l->gen = true;
    return g;
}

bool tv_is_gen(tval v) { return v.t == TV_LIST && v.u.l->gen; }

tval tv_dict(tmpl_state *st) { return (tval){.t = TV_DICT, .u.d = tmpl_alloc(st, sizeof(tdict))}; }

tval tv_func(tmpl_state *st, const char *name, tbuiltin fn, tval self) {
    tfunc *f = tmpl_alloc(st, sizeof *f);
    f->name = name;
    f->fn = fn;
    f->self = self;
    return (tval){.t = TV_FUNC, .u.fn = f};
}

/* ---- UTF-8 ----------------------------------------------------------------- */

static size_t char_len(const char *s, size_t n, size_t i) {
    size_t k = 1;
    while (i + k < n && ((unsigned char)s[i + k] & 0xC0) == 0x80) k++;
    return k;
}

size_t utf8_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

size_t utf8_offset(const char *s, size_t n, size_t cp) {
    size_t i = 0;
    while (cp > 0 && i < n) {
        i += char_len(s, n, i);
        cp--;
    }
    return i;
}

static uint32_t decode_at(const char *s, size_t n, size_t i, size_t *len) {
    const unsigned char *u = (const unsigned char *)s + i;
    *len = char_len(s, n, i);
    if (u[0] < 0x80 || *len == 1) return u[0];
    if (*len == 2) return (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    if (*len == 3) return (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    return (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 | (uint32_t)(u[2] & 0x3F) << 6 |
           (u[3] & 0x3F);
}

bool tmpl_is_space_at(const char *s, size_t n, size_t i, size_t *len) {
    uint32_t c = decode_at(s, n, i, len);
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* ---- Python's repr(float) --------------------------------------------------- */
void tmpl_format_float(double x, char out[40]) {
    if (isnan(x)) { strcpy(out, "nan"); return; }
    if (isinf(x)) { strcpy(out, x < 0 ? "-inf" : "inf"); return; }
    if (x == 0) { strcpy(out, signbit(x) ? "-0.0" : "0.0"); return; }
    char buf[40];
    int p;
    for (p = 0; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p, x);
        if (strtod(buf, NULL) == x) break;
    }
    /* buf: [-]d[.ddd]e[+-]XX */
    char digits[24];
    int nd = 0;
    const char *q = buf;
    bool neg = *q == '-';
    if (neg) q++;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    digits[nd] = 0;
    int e = atoi(q + 1);
    char *o = out;
    if (neg) *o++ = '-';
    if (e >= -4 && e < 16) {
        if (e >= 0) {
            for (int i = 0; i <= e; i++) *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > e + 1) for (int i = e + 1; i < nd; i++) *o++ = digits[i];
            else *o++ = '0';
        } else {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -e - 1; i++) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = digits[i];
        }
        *o = 0;
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = digits[i];
        }
        sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
}

/* ---- truth, equality, ordering --------------------------------------------- */
bool tv_is_number(tval v) { return v.t == TV_BOOL || v.t == TV_INT || v.t == TV_FLOAT; }

double tv_as_double(tval v) {
    return v.t == TV_FLOAT ? v.u.f : v.t == TV_INT ? (double)v.u.i : v.t == TV_BOOL ? (double)v.u.b : 0.0;
}

static int64_t as_int(tval v) { return v.t == TV_BOOL ? v.u.b : v.u.i; }

bool tv_truthy(tval v) {
    switch (v.t) {
    case TV_UNDEFINED: case TV_NONE: return false;
    case TV_BOOL: return v.u.b;
    case TV_INT: return v.u.i != 0;
    case TV_FLOAT: return v.u.f != 0;
    case TV_STRING: return v.u.s->len != 0;
    case TV_LIST: return v.u.l->gen || v.u.l->n != 0;
    case TV_DICT: return v.u.d->n != 0;
    default: return true;
    }
}

/* Values built by a hostile template can nest deeply (set ns.x = [ns.x] in a
 * loop); past this depth equality falls back to identity instead of recursing. */
#define EQUAL_MAX_DEPTH 1000

static bool equal_at(tval a, tval b, int depth);

bool tv_equal(tval a, tval b) { return equal_at(a, b, 0); }

static bool equal_at(tval a, tval b, int depth) {
    if (tv_is_number(a) && tv_is_number(b)) {
        if (a.t == TV_FLOAT || b.t == TV_FLOAT) return tv_as_double(a) == tv_as_double(b);
        return as_int(a) == as_int(b);
    }
    if (a.t != b.t) return false;
    if (depth > EQUAL_MAX_DEPTH) return a.u.l == b.u.l;
    switch (a.t) {
    case TV_UNDEFINED: case TV_NONE: return true;
    case TV_STRING: return a.u.s->len == b.u.s->len && !memcmp(a.u.s->s, b.u.s->s, a.u.s->len);
    case TV_LIST:
        if (a.u.l->gen || b.u.l->gen) return a.u.l == b.u.l;
        if (a.u.l->n != b.u.l->n || a.u.l->tuple != b.u.l->tuple) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!equal_at(a.u.l->items[i], b.u.l->items[i], depth + 1)) return false;
        return true;
    case TV_DICT:
        if (a.u.d->n != b.u.d->n) return false;
        for (size_t i = 0; i < a.u.d->n; i++) {
            tval *v = tdict_find(b.u.d, a.u.d->keys[i]);
            if (!v || !equal_at(a.u.d->vals[i], *v, depth + 1)) return false;
        }
        return true;
    case TV_NAMESPACE: return a.u.d == b.u.d;
    case TV_MACRO: return a.u.m == b.u.m;
    case TV_FUNC: return a.u.fn == b.u.fn;
    case TV_LOOP: return a.u.loop == b.u.loop;
    default: return false;
    }
}

static int compare_at(tmpl_state *st, tval a, tval b, const char *op, int depth);

int tv_compare(tmpl_state *st, tval a, tval b, const char *op) { return compare_at(st, a, b, op, 0); }

static int compare_at(tmpl_state *st, tval a, tval b, const char *op, int depth) {
    if (depth > EQUAL_MAX_DEPTH) tmpl_fail(st, "values nest too deeply to compare");
    if (tv_is_number(a) && tv_is_number(b)) {
        if (a.t != TV_FLOAT && b.t != TV_FLOAT) return (as_int(a) > as_int(b)) - (as_int(a) < as_int(b));
        double x = tv_as_double(a), y = tv_as_double(b);
        return (x > y) - (x < y); /* NaN compares as equal here; Python gives False both ways */
    }
    if (a.t == TV_STRING && b.t == TV_STRING) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int c = memcmp(a.u.s->s, b.u.s->s, n);
        if (c) return c;
        return (a.u.s->len > b.u.s->len) - (a.u.s->len < b.u.s->len);
    }
    if (a.t == TV_LIST && b.t == TV_LIST && a.u.l->tuple == b.u.l->tuple && !a.u.l->gen && !b.u.l->gen) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++)
            if (!tv_equal(a.u.l->items[i], b.u.l->items[i]))
                return compare_at(st, a.u.l->items[i], b.u.l->items[i], op, depth + 1);
        return (a.u.l->n > b.u.l->n) - (a.u.l->n < b.u.l->n);
    }
    if (a.t == TV_UNDEFINED) tv_require_defined(st, a);
    if (b.t == TV_UNDEFINED) tv_require_defined(st, b);
    tmpl_fail(st, "'%s' not supported between instances of '%s' and '%s'", op, tv_type_name(a), tv_type_name(b));
}

const char *tv_type_name(tval v) {
    static const char *const names[] = {
        [TV_UNDEFINED] = "Undefined", [TV_NONE] = "NoneType", [TV_BOOL] = "bool", [TV_INT] = "int",
        [TV_FLOAT] = "float", [TV_STRING] = "str", [TV_LIST] = "list", [TV_DICT] = "dict",
        [TV_NAMESPACE] = "Namespace", [TV_MACRO] = "Macro", [TV_FUNC] = "function", [TV_LOOP] = "LoopContext",
    };
    if (v.t == TV_LIST && v.u.l->tuple) return "tuple";
    if (v.t == TV_LIST && v.u.l->gen) return "generator";
    return names[v.t];
}

void tv_require_defined(tmpl_state *st, tval v) {
    if (v.t != TV_UNDEFINED) return;
    if (v.u.hint) tmpl_fail(st, "%s", v.u.hint);
    tmpl_fail(st, "a value is undefined");
}

/* ---- str() and repr() -------------------------------------------------------- */
static void repr_string(tbuf *b, const tstr *s) {
    bool has_sq = memchr(s->s, '\'', s->len) != NULL, has_dq = memchr(s->s, '"', s->len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    tbuf_putc(b, q);
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->s[i];
        if (c == (unsigned char)q || c == '\\') { tbuf_putc(b, '\\'); tbuf_putc(b, (char)c); }
        else if (c == '\n') tbuf_puts(b, "\\n");
        else if (c == '\r') tbuf_puts(b, "\\r");
        else if (c == '\t') tbuf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7F) tbuf_printf(b, "\\x%02x", c);
        else tbuf_putc(b, (char)c);
    }
    tbuf_putc(b, q);
}

static void str_into(tmpl_state *st, tval v, tbuf *b) {
    char tmp[40];
    switch (v.t) {
    case TV_UNDEFINED: return;
    case TV_NONE: tbuf_puts(b, "None"); return;
    case TV_BOOL: tbuf_puts(b, v.u.b ? "True" : "False"); return;
    case TV_INT: tbuf_printf(b, "%lld", (long long)v.u.i); return;
    case TV_FLOAT: tmpl_format_float(v.u.f, tmp); tbuf_puts(b, tmp); return;
    case TV_STRING: tbuf_put(b, v.u.s->s, v.u.s->len); return;
    default: tv_repr(st, v, b); return;
    }
}

static void repr_inner(tmpl_state *st, tval v, tbuf *b);

void tv_repr(tmpl_state *st, tval v, tbuf *b) {
    /* a namespace can contain itself (set ns.me = ns): bound the depth */
    if (++st->repr_depth > 500) tmpl_fail(st, "a value nests too deeply to print (or contains itself)");
    repr_inner(st, v, b);
    st->repr_depth--;
}

static void repr_inner(tmpl_state *st, tval v, tbuf *b) {
    switch (v.t) {
    case TV_STRING: repr_string(b, v.u.s); return;
    case TV_LIST: {
        const tlist *l = v.u.l;
        if (l->gen) { tbuf_puts(b, "<generator object>"); return; }
        tbuf_putc(b, l->tuple ? '(' : '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) tbuf_puts(b, ", ");
            tv_repr(st, l->items[i], b);
        }
        if (l->tuple && l->n == 1) tbuf_putc(b, ',');
        tbuf_putc(b, l->tuple ? ')' : ']');
        return;
    }
    case TV_DICT: {
        const tdict *d = v.u.d;
        tbuf_putc(b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) tbuf_puts(b, ", ");
            tv_repr(st, d->keys[i], b);
            tbuf_puts(b, ": ");
            tv_repr(st, d->vals[i], b);
        }
        tbuf_putc(b, '}');
        return;
    }
    case TV_NAMESPACE: {
        const tdict *d = v.u.d;
        tbuf_puts(b, "<Namespace {");
        for (size_t i = 0; i < d->n; i++) {
            if (i) tbuf_puts(b, ", ");
            tv_repr(st, d->keys[i], b);
            tbuf_puts(b, ": ");
            tv_repr(st, d->vals[i], b);
        }
        tbuf_puts(b, "}>");
        return;
    }
    case TV_UNDEFINED: tbuf_puts(b, "Undefined"); return;
    case TV_MACRO: tbuf_printf(b, "<Macro '%s'>", v.u.m->def->name ? v.u.m->def->name : "caller"); return;
    case TV_FUNC: tbuf_printf(b, "<built-in method %s>", v.u.fn->name); return;
    case TV_LOOP: tbuf_puts(b, "<LoopContext>"); return;
    default: str_into(st, v, b); return;
    }
}

tval tv_to_str(tmpl_state *st, tval v) {
    if (v.t == TV_STRING) return v;
    tbuf b;
    tbuf_init(&b, st);
    str_into(st, v, &b);
    return tbuf_value(&b);
}

/* ---- iteration and length ------------------------------------------------------ */
tval tv_iterate(tmpl_state *st, tval v) {
    switch (v.t) {
    case TV_UNDEFINED: return tv_list(st, 0, false);
    case TV_LIST:
        if (v.u.l->gen) { /* take what is left */
            tlist *g = v.u.l;
            tval rest = tv_list(st, g->n - g->consumed, false);
            memcpy(rest.u.l->items, g->items + g->consumed, (g->n - g->consumed) * sizeof(tval));
            g->consumed = g->n;
            return rest;
        }
        return v;
    case TV_DICT: {
        tval l = tv_list(st, v.u.d->n, false);
        memcpy(l.u.l->items, v.u.d->keys, v.u.d->n * sizeof(tval));
        return l;
    }
    case TV_STRING: {
        const tstr *s = v.u.s;
        tval l = tv_list(st, utf8_count(s->s, s->len), false);
        for (size_t i = 0, k = 0; i < s->len; k++) {
            size_t len = char_len(s->s, s->len, i);
            l.u.l->items[k] = tv_str(st, s->s + i, len);
            i += len;
        }
        return l;
    }
    default:
        tmpl_fail(st, "'%s' object is not iterable", tv_type_name(v));
    }
}

int64_t tv_length(tmpl_state *st, tval v) {
    switch (v.t) {
    case TV_UNDEFINED: return 0;
    case TV_STRING: return (int64_t)utf8_count(v.u.s->s, v.u.s->len);
    case TV_LIST: if (!v.u.l->gen) return (int64_t)v.u.l->n; break;
    case TV_DICT: return (int64_t)v.u.d->n;
    default: break;
    }
    tmpl_fail(st, "object of type '%s' has no len()", tv_type_name(v));
}

/* ---- dicts -------------------------------------------------------------------- */
tval *tdict_find(const tdict *d, tval key) {
    for (size_t i = 0; i < d->n; i++)
        if (tv_equal(d->keys[i], key) && (d->keys[i].t == TV_STRING) == (key.t == TV_STRING)) return &d->vals[i];
    return NULL;
}

tval *tdict_find_str(const tdict *d, const char *key) {
    size_t n = strlen(key);
    for (size_t i = 0; i < d->n; i++) {
        const tval *k = &d->keys[i];
        if (k->t == TV_STRING && k->u.s->len == n && !memcmp(k->u.s->s, key, n)) return &d->vals[i];
    }
    return NULL;
}

void tdict_set(tmpl_state *st, tdict *d, tval key, tval value) {
    tval *slot = tdict_find(d, key);
    if (slot) { *slot = value; return; }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        tval *k = tmpl_alloc(st, cap * sizeof *k), *v = tmpl_alloc(st, cap * sizeof *v);
        if (d->n) {
            memcpy(k, d->keys, d->n * sizeof *k);
            memcpy(v, d->vals, d->n * sizeof *v);
        }
        d->keys = k;
        d->vals = v;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = value;
    d->n++;
}
