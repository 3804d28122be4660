/* Methods of str, dict and list values (what chat templates call), jinja2's
 * sandbox refusal of mutating ones, the globals Hugging Face provides
 * (range, namespace, dict, raise_exception, strftime_now) and argument helpers.
 * Case mapping is ASCII only (non-ASCII letters are left as they are). */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template/tmpl.h"

/* ---- arguments ------------------------------------------------------------------ */
tval targ(const targs *a, size_t i, const char *name, tval dflt) {
    if (i < a->npos) return a->pos[i];
    for (size_t k = 0; name && k < a->nkw; k++)
        if (!strcmp(a->kwnames[k], name)) return a->kw[k];
    return dflt;
}

void targ_check(tmpl_state *st, const targs *a, const char *fn, size_t max_pos, const char *const *kw_allowed) {
    if (a->npos > max_pos) tmpl_fail(st, "%s() takes at most %zu positional argument(s), %zu given", fn, max_pos, a->npos);
    for (size_t k = 0; k < a->nkw; k++) {
        bool ok = false;
        for (size_t j = 0; kw_allowed && kw_allowed[j]; j++) ok |= !strcmp(kw_allowed[j], a->kwnames[k]);
        if (!ok) tmpl_fail(st, "%s() got an unexpected keyword argument '%s'", fn, a->kwnames[k]);
    }
}

static const tstr *want_str(tmpl_state *st, tval v, const char *fn) {
    if (v.t != TV_STRING) {
        tv_require_defined(st, v);
        tmpl_fail(st, "%s: expected a string, got '%s'", fn, tv_type_name(v));
    }
    return v.u.s;
}

static int64_t want_int(tmpl_state *st, tval v, const char *fn) {
    if (v.t == TV_BOOL) return v.u.b;
    if (v.t != TV_INT) {
        tv_require_defined(st, v);
        tmpl_fail(st, "%s: expected an integer, got '%s'", fn, tv_type_name(v));
    }
    return v.u.i;
}

/* ---- str -------------------------------------------------------------------------- */
static bool in_chars(const tstr *chars, const char *s, size_t n, size_t i, size_t *len) {
    if (!chars) return tmpl_is_space_at(s, n, i, len);
    *len = 1;
    while (i + *len < n && ((unsigned char)s[i + *len] & 0xC0) == 0x80) (*len)++;
    for (size_t j = 0; j + *len <= chars->len; j++)
        if (!memcmp(chars->s + j, s + i, *len)) return true;
    return false;
}

/* Python's str.strip family: which = 1 left, 2 right, 3 both. chars NULL: whitespace. */
tval tmpl_strip(tmpl_state *st, tval v, const tstr *chars, int which) {
    const char *s = v.u.s->s;
    size_t n = v.u.s->len, b = 0, e = n, len;
    if (which & 1)
        while (b < n && in_chars(chars, s, n, b, &len)) b += len;
    if (which & 2) {
        size_t keep = b;
        for (size_t i = b; i < n; i += len)
            if (!in_chars(chars, s, n, i, &len)) keep = i + len;
        e = keep;
    }
    return tv_str(st, s + b, e - b);
}

static tval m_strip_any(tmpl_state *st, tval self, const targs *a, int which, const char *fn) {
    targ_check(st, a, fn, 1, NULL);
    tval c = targ(a, 0, NULL, tv_none());
    return tmpl_strip(st, self, c.t == TV_NONE ? NULL : want_str(st, c, fn), which);
}
static tval m_strip(tmpl_state *st, tval self, const targs *a) { return m_strip_any(st, self, a, 3, "strip"); }
static tval m_lstrip(tmpl_state *st, tval self, const targs *a) { return m_strip_any(st, self, a, 1, "lstrip"); }
static tval m_rstrip(tmpl_state *st, tval self, const targs *a) { return m_strip_any(st, self, a, 2, "rstrip"); }

static bool affix_match(tmpl_state *st, tval self, tval affix, bool end, const char *fn) {
    if (affix.t == TV_LIST && affix.u.l->tuple) {
        for (size_t i = 0; i < affix.u.l->n; i++)
            if (affix_match(st, self, affix.u.l->items[i], end, fn)) return true;
        return false;
    }
    const tstr *s = self.u.s, *p = want_str(st, affix, fn);
    if (p->len > s->len) return false;
    return !memcmp(s->s + (end ? s->len - p->len : 0), p->s, p->len);
}
static tval m_startswith(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "startswith", 1, NULL);
    return tv_bool(affix_match(st, self, targ(a, 0, NULL, tv_undef("startswith() needs an argument")), false, "startswith"));
}
static tval m_endswith(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "endswith", 1, NULL);
    return tv_bool(affix_match(st, self, targ(a, 0, NULL, tv_undef("endswith() needs an argument")), true, "endswith"));
}

static tval list_from(tmpl_state *st, tval *items, size_t n) {
    tval l = tv_list(st, n, false);
    if (n) memcpy(l.u.l->items, items, n * sizeof(tval));
    return l;
}

/* str.split / str.rsplit */
static tval split_impl(tmpl_state *st, tval self, const targs *a, bool from_right) {
    static const char *const kw[] = {"sep", "maxsplit", NULL};
    const char *fn = from_right ? "rsplit" : "split";
    targ_check(st, a, fn, 2, kw);
    tval sepv = targ(a, 0, "sep", tv_none());
    int64_t maxsplit = want_int(st, targ(a, 1, "maxsplit", tv_int(-1)), fn);
    const char *s = self.u.s->s;
    size_t n = self.u.s->len, cap = n + 2, k = 0;
    tval *parts = tmpl_alloc(st, cap * sizeof *parts);
    if (sepv.t == TV_NONE) { /* runs of whitespace; no empty strings */
        size_t len;
        if (!from_right) {
            size_t i = 0;
            for (;;) {
                while (i < n && tmpl_is_space_at(s, n, i, &len)) i += len;
                if (i >= n) break;
                size_t start = i;
                if (maxsplit >= 0 && (int64_t)k == maxsplit) {
                    size_t end = n; /* the rest, trailing whitespace removed */
                    tval rest = tmpl_strip(st, tv_str(st, s + start, end - start), NULL, 2);
                    parts[k++] = rest;
                    break;
                }
                while (i < n && !tmpl_is_space_at(s, n, i, &len)) i += len;
                parts[k++] = tv_str(st, s + start, i - start);
            }
        } else {
            /* collect words left to right, then merge the leftmost ones */
            size_t i = 0, nw = 0;
            size_t *ws = tmpl_alloc(st, (n + 1) * sizeof *ws), *we = tmpl_alloc(st, (n + 1) * sizeof *we);
            for (;;) {
                while (i < n && tmpl_is_space_at(s, n, i, &len)) i += len;
                if (i >= n) break;
                ws[nw] = i;
                while (i < n && !tmpl_is_space_at(s, n, i, &len)) i += len;
                we[nw++] = i;
            }
            size_t first = maxsplit >= 0 && (size_t)maxsplit < nw ? nw - (size_t)maxsplit : 0;
            if (first > 0) parts[k++] = tv_str(st, s + ws[0], we[first - 1] - ws[0]);
            for (size_t w = first ? first : 0; w < nw; w++) parts[k++] = tv_str(st, s + ws[w], we[w] - ws[w]);
        }
        return list_from(st, parts, k);
    }
    const tstr *sep = want_str(st, sepv, fn);
    if (sep->len == 0) tmpl_fail(st, "empty separator");
    if (!from_right) {
        size_t start = 0;
        for (size_t i = 0; i + sep->len <= n;) {
            if ((maxsplit < 0 || (int64_t)k < maxsplit) && !memcmp(s + i, sep->s, sep->len)) {
                parts[k++] = tv_str(st, s + start, i - start);
                i += sep->len;
                start = i;
            } else {
                i++;
            }
        }
        parts[k++] = tv_str(st, s + start, n - start);
        return list_from(st, parts, k);
    }
    size_t end = n;
    for (size_t i = n; i >= sep->len;) {
        size_t at = i - sep->len;
        if ((maxsplit < 0 || (int64_t)k < maxsplit) && !memcmp(s + at, sep->s, sep->len)) {
            parts[k++] = tv_str(st, s + i, end - i);
            end = at;
            i = at;
        } else {
            i--;
        }
    }
    parts[k++] = tv_str(st, s, end);
    for (size_t i = 0; i < k / 2; i++) { tval t = parts[i]; parts[i] = parts[k - 1 - i]; parts[k - 1 - i] = t; }
    return list_from(st, parts, k);
}
static tval m_split(tmpl_state *st, tval self, const targs *a) { return split_impl(st, self, a, false); }
static tval m_rsplit(tmpl_state *st, tval self, const targs *a) { return split_impl(st, self, a, true); }

/* Python's str.splitlines line boundaries at i: returns the boundary length (0: none). */
static size_t tmpl_line_break_at(const char *s, size_t n, size_t i) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\r') return i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
    if (c == '\n' || c == '\v' || c == '\f' || (c >= 0x1C && c <= 0x1E)) return 1;
    if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85) return 2;
    if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9))
        return 3;
    return 0;
}

tval tmpl_splitlines(tmpl_state *st, tval self, bool keepends) {
    const char *s = self.u.s->s;
    size_t n = self.u.s->len, k = 0, start = 0;
    tval *parts = tmpl_alloc(st, (n + 1) * sizeof *parts);
    for (size_t i = 0; i < n;) {
        size_t br = tmpl_line_break_at(s, n, i);
        if (!br) { i++; continue; }
        parts[k++] = tv_str(st, s + start, (keepends ? i + br : i) - start);
        i += br;
        start = i;
    }
    if (start < n) parts[k++] = tv_str(st, s + start, n - start);
    return list_from(st, parts, k);
}
static tval m_splitlines(tmpl_state *st, tval self, const targs *a) {
    static const char *const kw[] = {"keepends", NULL};
    targ_check(st, a, "splitlines", 1, kw);
    return tmpl_splitlines(st, self, tv_truthy(targ(a, 0, "keepends", tv_bool(false))));
}

static char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 32) : c; }
static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }
static bool ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* mode: 0 upper, 1 lower, 2 Python title, 3 capitalize, 4 swapcase */
tval tmpl_case(tmpl_state *st, tval v, int mode) {
    tval r = tv_str(st, v.u.s->s, v.u.s->len);
    char *s = (char *)r.u.s->s;
    bool prev_cased = false;
    for (size_t i = 0; i < r.u.s->len; i++) {
        char c = s[i];
        switch (mode) {
        case 0: s[i] = ascii_upper(c); break;
        case 1: s[i] = ascii_lower(c); break;
        case 2: s[i] = prev_cased ? ascii_lower(c) : ascii_upper(c); prev_cased = ascii_alpha(c); break;
        case 3: s[i] = i == 0 ? ascii_upper(c) : ascii_lower(c); break;
        default: s[i] = ascii_alpha(c) ? (char)(c ^ 32) : c; break;
        }
    }
    return r;
}
static tval m_upper(tmpl_state *st, tval self, const targs *a) { targ_check(st, a, "upper", 0, NULL); return tmpl_case(st, self, 0); }
static tval m_lower(tmpl_state *st, tval self, const targs *a) { targ_check(st, a, "lower", 0, NULL); return tmpl_case(st, self, 1); }
static tval m_title(tmpl_state *st, tval self, const targs *a) { targ_check(st, a, "title", 0, NULL); return tmpl_case(st, self, 2); }
static tval m_capitalize(tmpl_state *st, tval self, const targs *a) { targ_check(st, a, "capitalize", 0, NULL); return tmpl_case(st, self, 3); }
static tval m_swapcase(tmpl_state *st, tval self, const targs *a) { targ_check(st, a, "swapcase", 0, NULL); return tmpl_case(st, self, 4); }

tval tmpl_replace(tmpl_state *st, tval self, const tstr *old, const tstr *new_, int64_t count) {
    const tstr *s = self.u.s;
    tbuf b;
    tbuf_init(&b, st);
    int64_t done = 0;
    if (old->len == 0) { /* between every character, and at both ends */
        size_t i = 0;
        while (i <= s->len) {
            if (count < 0 || done < count) { tbuf_put(&b, new_->s, new_->len); done++; }
            if (i == s->len) break;
            size_t len = 1;
            while (i + len < s->len && ((unsigned char)s->s[i + len] & 0xC0) == 0x80) len++;
            tbuf_put(&b, s->s + i, len);
            i += len;
        }
        return tbuf_value(&b);
    }
    size_t i = 0;
    while (i < s->len) {
        if ((count < 0 || done < count) && i + old->len <= s->len && !memcmp(s->s + i, old->s, old->len)) {
            tbuf_put(&b, new_->s, new_->len);
            i += old->len;
            done++;
        } else {
            tbuf_putc(&b, s->s[i++]);
        }
    }
    return tbuf_value(&b);
}
static tval m_replace(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "replace", 3, NULL);
    if (a->npos < 2) tmpl_fail(st, "replace() takes at least 2 arguments");
    int64_t count = a->npos > 2 ? want_int(st, a->pos[2], "replace") : -1;
    return tmpl_replace(st, self, want_str(st, a->pos[0], "replace"), want_str(st, a->pos[1], "replace"), count);
}

static int64_t find_impl(const tstr *h, const tstr *n, bool from_right) {
    if (n->len > h->len) return -1;
    if (!from_right) {
        for (size_t i = 0; i + n->len <= h->len; i++)
            if (!memcmp(h->s + i, n->s, n->len)) return (int64_t)utf8_count(h->s, i);
    } else {
        for (size_t i = h->len - n->len + 1; i-- > 0;)
            if (!memcmp(h->s + i, n->s, n->len)) return (int64_t)utf8_count(h->s, i);
    }
    return -1;
}
static tval m_find(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "find", 1, NULL);
    return tv_int(find_impl(self.u.s, want_str(st, targ(a, 0, NULL, tv_undef("find() needs an argument")), "find"), false));
}
static tval m_rfind(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "rfind", 1, NULL);
    return tv_int(find_impl(self.u.s, want_str(st, targ(a, 0, NULL, tv_undef("rfind() needs an argument")), "rfind"), true));
}
static tval m_str_count(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "count", 1, NULL);
    const tstr *h = self.u.s, *n = want_str(st, targ(a, 0, NULL, tv_undef("count() needs an argument")), "count");
    if (n->len == 0) return tv_int((int64_t)utf8_count(h->s, h->len) + 1);
    int64_t c = 0;
    for (size_t i = 0; i + n->len <= h->len;) {
        if (!memcmp(h->s + i, n->s, n->len)) { c++; i += n->len; }
        else i++;
    }
    return tv_int(c);
}

static tval m_join(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "join", 1, NULL);
    tval items = tv_iterate(st, targ(a, 0, NULL, tv_undef("join() needs an argument")));
    tbuf b;
    tbuf_init(&b, st);
    for (size_t i = 0; i < items.u.l->n; i++) {
        if (i) tbuf_put(&b, self.u.s->s, self.u.s->len);
        const tstr *s = want_str(st, items.u.l->items[i], "join");
        tbuf_put(&b, s->s, s->len);
    }
    return tbuf_value(&b);
}

/* str.format with {} {0} {name} fields (no format specs) */
static tval m_format(tmpl_state *st, tval self, const targs *a) {
    const tstr *s = self.u.s;
    tbuf b;
    tbuf_init(&b, st);
    size_t auto_index = 0;
    for (size_t i = 0; i < s->len; i++) {
        char c = s->s[i];
        if ((c == '{' || c == '}') && i + 1 < s->len && s->s[i + 1] == c) { tbuf_putc(&b, c); i++; continue; }
        if (c == '}') tmpl_fail(st, "single '}' encountered in format string");
        if (c != '{') { tbuf_putc(&b, c); continue; }
        size_t j = i + 1;
        while (j < s->len && s->s[j] != '}') j++;
        if (j == s->len) tmpl_fail(st, "single '{' encountered in format string");
        const char *field = s->s + i + 1;
        size_t flen = j - i - 1;
        if (memchr(field, ':', flen) || memchr(field, '!', flen) || memchr(field, '.', flen) || memchr(field, '[', flen))
            tmpl_fail(st, "format(): only {}, {N} and {name} fields are supported");
        tval v;
        if (flen == 0) v = targ(a, auto_index++, NULL, tv_undef("format(): not enough arguments"));
        else if (field[0] >= '0' && field[0] <= '9') v = targ(a, (size_t)strtoull(field, NULL, 10), NULL, tv_undef("format(): argument index out of range"));
        else v = targ(a, SIZE_MAX, tmpl_strndup(st, field, flen), tv_undef("format(): missing keyword argument"));
        tv_require_defined(st, v);
        tval sv = tv_to_str(st, v);
        tbuf_put(&b, sv.u.s->s, sv.u.s->len);
        i = j;
    }
    return tbuf_value(&b);
}

static tval str_class(tmpl_state *st, tval self, const targs *a, int which) {
    targ_check(st, a, "is...", 0, NULL);
    const tstr *s = self.u.s;
    if (s->len == 0) return tv_bool(false);
    bool any_cased = false;
    for (size_t i = 0; i < s->len; i++) {
        char c = s->s[i];
        bool d = c >= '0' && c <= '9', al = ascii_alpha(c), sp = c == ' ' || (c >= 9 && c <= 13);
        switch (which) {
        case 0: if (!d) return tv_bool(false); break;
        case 1: if (!al) return tv_bool(false); break;
        case 2: if (!al && !d) return tv_bool(false); break;
        case 3: if (!sp) return tv_bool(false); break;
        case 4: if (c >= 'A' && c <= 'Z') return tv_bool(false); any_cased |= al; break;
        default: if (c >= 'a' && c <= 'z') return tv_bool(false); any_cased |= al; break;
        }
    }
    return tv_bool(which < 4 || any_cased);
}
static tval m_isdigit(tmpl_state *st, tval self, const targs *a) { return str_class(st, self, a, 0); }
static tval m_isalpha(tmpl_state *st, tval self, const targs *a) { return str_class(st, self, a, 1); }
static tval m_isalnum(tmpl_state *st, tval self, const targs *a) { return str_class(st, self, a, 2); }
static tval m_isspace(tmpl_state *st, tval self, const targs *a) { return str_class(st, self, a, 3); }
static tval m_islower(tmpl_state *st, tval self, const targs *a) { return str_class(st, self, a, 4); }
static tval m_isupper(tmpl_state *st, tval self, const targs *a) { return str_class(st, self, a, 5); }

static tval m_removeprefix(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "removeprefix", 1, NULL);
    const tstr *p = want_str(st, targ(a, 0, NULL, tv_undef("removeprefix() needs an argument")), "removeprefix");
    if (p->len <= self.u.s->len && !memcmp(self.u.s->s, p->s, p->len)) return tv_str(st, self.u.s->s + p->len, self.u.s->len - p->len);
    return self;
}
static tval m_removesuffix(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "removesuffix", 1, NULL);
    const tstr *p = want_str(st, targ(a, 0, NULL, tv_undef("removesuffix() needs an argument")), "removesuffix");
    if (p->len && p->len <= self.u.s->len && !memcmp(self.u.s->s + self.u.s->len - p->len, p->s, p->len))
        return tv_str(st, self.u.s->s, self.u.s->len - p->len);
    return self;
}

/* ---- dict and list --------------------------------------------------------------- */
static tval m_get(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "get", 2, NULL);
    if (a->npos < 1) tmpl_fail(st, "get() needs a key");
    tval *v = tdict_find(self.u.d, a->pos[0]);
    return v ? *v : targ(a, 1, NULL, tv_none());
}
static tval m_items(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "items", 0, NULL);
    const tdict *d = self.u.d;
    tval l = tv_list(st, d->n, false);
    for (size_t i = 0; i < d->n; i++) {
        tval pair = tv_list(st, 2, true);
        pair.u.l->items[0] = d->keys[i];
        pair.u.l->items[1] = d->vals[i];
        l.u.l->items[i] = pair;
    }
    return l;
}
static tval m_keys(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "keys", 0, NULL);
    return list_from(st, self.u.d->keys, self.u.d->n);
}
static tval m_values(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "values", 0, NULL);
    return list_from(st, self.u.d->vals, self.u.d->n);
}
static tval m_list_index(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "index", 1, NULL);
    if (a->npos < 1) tmpl_fail(st, "index() needs an argument");
    for (size_t i = 0; i < self.u.l->n; i++)
        if (tv_equal(self.u.l->items[i], a->pos[0])) return tv_int((int64_t)i);
    tmpl_fail(st, "list.index(x): x not in list");
}
static tval m_list_count(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "count", 1, NULL);
    if (a->npos < 1) tmpl_fail(st, "count() needs an argument");
    int64_t c = 0;
    for (size_t i = 0; i < self.u.l->n; i++) c += tv_equal(self.u.l->items[i], a->pos[0]);
    return tv_int(c);
}

typedef struct method { const char *name; tbuiltin fn; } method;

static const method STR_METHODS[] = {
    {"strip", m_strip}, {"lstrip", m_lstrip}, {"rstrip", m_rstrip}, {"startswith", m_startswith},
    {"endswith", m_endswith}, {"split", m_split}, {"rsplit", m_rsplit}, {"splitlines", m_splitlines},
    {"upper", m_upper}, {"lower", m_lower}, {"title", m_title}, {"capitalize", m_capitalize},
    {"swapcase", m_swapcase}, {"replace", m_replace}, {"find", m_find}, {"rfind", m_rfind},
    {"count", m_str_count}, {"join", m_join}, {"format", m_format}, {"isdigit", m_isdigit},
    {"isalpha", m_isalpha}, {"isalnum", m_isalnum}, {"isspace", m_isspace}, {"islower", m_islower},
    {"isupper", m_isupper}, {"removeprefix", m_removeprefix}, {"removesuffix", m_removesuffix}, {NULL, NULL},
};
static const method DICT_METHODS[] = {
    {"get", m_get}, {"items", m_items}, {"keys", m_keys}, {"values", m_values}, {NULL, NULL},
};
static const method LIST_METHODS[] = {{"index", m_list_index}, {"count", m_list_count}, {NULL, NULL}};

/* What jinja2's ImmutableSandboxedEnvironment refuses. */
static const char *const UNSAFE_LIST[] = {"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", NULL};
static const char *const UNSAFE_DICT[] = {"pop", "popitem", "setdefault", "update", "clear", NULL};

tval tmpl_method(tmpl_state *st, tval obj, const char *name) {
    const method *table = obj.t == TV_STRING ? STR_METHODS : obj.t == TV_DICT ? DICT_METHODS
                        : obj.t == TV_LIST && !obj.u.l->gen ? LIST_METHODS : NULL;
    if (!table) return tv_undef(NULL);
    for (const method *m = table; m->name; m++)
        if (!strcmp(m->name, name)) return tv_func(st, m->name, m->fn, obj);
    const char *const *unsafe = obj.t == TV_LIST ? UNSAFE_LIST : obj.t == TV_DICT ? UNSAFE_DICT : NULL;
    for (size_t i = 0; unsafe && unsafe[i]; i++)
        if (!strcmp(unsafe[i], name))
            tmpl_fail(st, "access to attribute '%s' of '%s' object is unsafe (templates cannot modify values)", name,
                      tv_type_name(obj));
    if (name[0] == '_') tmpl_fail(st, "access to attribute '%s' is unsafe", name);
    return tv_undef(NULL);
}

/* ---- globals ------------------------------------------------------------------------ */
static tval g_range(tmpl_state *st, tval self, const targs *a) {
    targ_check(st, a, "range", 3, NULL);
    if (a->npos == 0) tmpl_fail(st, "range expected at least 1 argument, got 0");
    int64_t start = 0, stop, step = 1;
    if (a->npos == 1) stop = want_int(st, a->pos[0], "range");
    else {
        start = want_int(st, a->pos[0], "range");
        stop = want_int(st, a->pos[1], "range");
        if (a->npos == 3) step = want_int(st, a->pos[2], "range");
    }
    if (step == 0) tmpl_fail(st, "range() arg 3 must not be zero");
    __int128 span = step > 0 ? (__int128)stop - start : (__int128)start - stop, by = step > 0 ? step : -(__int128)step;
    __int128 count128 = span > 0 ? (span + by - 1) / by : 0;
    int64_t count = count128 > TMPL_MAX_RANGE ? TMPL_MAX_RANGE + 1 : (int64_t)count128;
    if (count > TMPL_MAX_RANGE)
        tmpl_fail(st, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", TMPL_MAX_RANGE);
    tval l = tv_list(st, (size_t)count, false);
    for (int64_t i = 0; i < count; i++) l.u.l->items[i] = tv_int(start + i * step);
    (void)self;
    return l;
}

/* dict(mapping?, **kw) and namespace(mapping?, **kw) */
static tval make_mapping(tmpl_state *st, const targs *a, tval_type type, const char *fn) {
    if (a->npos > 1) tmpl_fail(st, "%s() takes at most 1 positional argument", fn);
    tval d = tv_dict(st);
    d.t = type;
    if (a->npos == 1) {
        tval src = a->pos[0];
        if (src.t != TV_DICT && src.t != TV_NAMESPACE) tmpl_fail(st, "%s() takes a mapping", fn);
        for (size_t i = 0; i < src.u.d->n; i++) tdict_set(st, d.u.d, src.u.d->keys[i], src.u.d->vals[i]);
    }
    for (size_t k = 0; k < a->nkw; k++) {
        if (type == TV_NAMESPACE && a->kwnames[k][0] == '_')
            tmpl_fail(st, "namespaces cannot store underscore-prefixed attributes ('%s')", a->kwnames[k]);
        tdict_set(st, d.u.d, tv_cstr(st, a->kwnames[k]), a->kw[k]);
    }
    return d;
}
static tval g_namespace(tmpl_state *st, tval self, const targs *a) { (void)self; return make_mapping(st, a, TV_NAMESPACE, "namespace"); }
static tval g_dict(tmpl_state *st, tval self, const targs *a) { (void)self; return make_mapping(st, a, TV_DICT, "dict"); }

static tval g_raise_exception(tmpl_state *st, tval self, const targs *a) {
    (void)self;
    tval msg = targ(a, 0, "message", tv_cstr(st, ""));
    tval s = tv_to_str(st, msg);
    tmpl_fail(st, "the template raised an error: %s", s.u.s->s);
}

static tval g_strftime_now(tmpl_state *st, tval self, const targs *a) {
    (void)self;
    targ_check(st, a, "strftime_now", 1, NULL);
    const tstr *fmt = want_str(st, targ(a, 0, "format", tv_undef("strftime_now() needs a format")), "strftime_now");
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char out[512];
    size_t n = fmt->len ? strftime(out, sizeof out, fmt->s, &tm) : 0;
    if (fmt->len && n == 0) tmpl_fail(st, "strftime_now(): the format gives no text or too much");
    return tv_str(st, out, n);
}

void tmpl_add_globals(tmpl_state *st, tframe *g) {
    tmpl_frame_set(st, g, "range", tv_func(st, "range", g_range, tv_none()));
    tmpl_frame_set(st, g, "namespace", tv_func(st, "namespace", g_namespace, tv_none()));
    tmpl_frame_set(st, g, "dict", tv_func(st, "dict", g_dict, tv_none()));
    tmpl_frame_set(st, g, "raise_exception", tv_func(st, "raise_exception", g_raise_exception, tv_none()));
    tmpl_frame_set(st, g, "strftime_now", tv_func(st, "strftime_now", g_strftime_now, tv_none()));
}
