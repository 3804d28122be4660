/* jinja2's built-in filters that chat templates use, with its semantics (and
 * Hugging Face's tojson). Filters that return generators in jinja2 (select,
 * reject, selectattr, rejectattr, map, unique, items, reverse of a list)
 * return one-shot iterators here too, so truth tests and reuse behave alike. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl.h"

static const tstr *str_arg(tmpl_state *st, tval v) { return tv_to_str(st, v).u.s; }

static bool kw_is(const targs *a, size_t k, const char *name) { return !strcmp(a->kwnames[k], name); }

/* jinja2's make_attrgetter: "a.b.0" -> item["a"]["b"][0] (getitem, then getattr). */
static tval attr_path(tmpl_state *st, tval item, tval attribute) {
    if (attribute.t == TV_INT) return tmpl_getitem(st, item, attribute);
    const tstr *path = str_arg(st, attribute);
    size_t start = 0;
    for (size_t i = 0; i <= path->len; i++) {
        if (i < path->len && path->s[i] != '.') continue;
        const char *part = path->s + start;
        size_t n = i - start;
        bool digits = n > 0;
        for (size_t k = 0; k < n; k++) digits &= part[k] >= '0' && part[k] <= '9';
        tval key = digits ? tv_int(strtoll(part, NULL, 10)) : tv_str(st, part, n);
        item = tmpl_getitem(st, item, key);
        start = i + 1;
    }
    return item;
}

static tval lower_if_str(tmpl_state *st, tval v) { return v.t == TV_STRING ? tmpl_case(st, v, 1) : v; }

/* ---- strings ------------------------------------------------------------------- */
static tval f_trim(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"chars", NULL};
    targ_check(st, a, "trim", 1, kw);
    tval chars = targ(a, 0, "chars", tv_none());
    return tmpl_strip(st, tv_to_str(st, in), chars.t == TV_NONE ? NULL : str_arg(st, chars), 3);
}
static tval f_string(tmpl_state *st, tval in, const targs *a) { targ_check(st, a, "string", 0, NULL); return tv_to_str(st, in); }
static tval f_upper(tmpl_state *st, tval in, const targs *a) { targ_check(st, a, "upper", 0, NULL); return tmpl_case(st, tv_to_str(st, in), 0); }
static tval f_lower(tmpl_state *st, tval in, const targs *a) { targ_check(st, a, "lower", 0, NULL); return tmpl_case(st, tv_to_str(st, in), 1); }
static tval f_capitalize(tmpl_state *st, tval in, const targs *a) { targ_check(st, a, "capitalize", 0, NULL); return tmpl_case(st, tv_to_str(st, in), 3); }

/* jinja2's title: a word starts after "-", whitespace, "(", "{", "[" or "<". */
static tval f_title(tmpl_state *st, tval in, const targs *a) {
    targ_check(st, a, "title", 0, NULL);
    tval s = tv_to_str(st, in);
    tval r = tv_str(st, s.u.s->s, s.u.s->len);
    char *p = (char *)r.u.s->s;
    bool start = true;
    for (size_t i = 0, len; i < r.u.s->len; i += len) {
        bool sep = tmpl_is_space_at(p, r.u.s->len, i, &len) || (p[i] && strchr("-({[<", p[i]));
        if (len == 1 && p[i] >= 'a' && p[i] <= 'z' && start) p[i] = (char)(p[i] - 32);
        else if (len == 1 && p[i] >= 'A' && p[i] <= 'Z' && !start) p[i] = (char)(p[i] + 32);
        start = sep;
    }
    return r;
}

static tval f_replace(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"old", "new", "count", NULL};
    targ_check(st, a, "replace", 3, kw);
    tval old = targ(a, 0, "old", tv_undef("replace() needs 'old'")), new_ = targ(a, 1, "new", tv_undef("replace() needs 'new'"));
    tv_require_defined(st, old);
    tv_require_defined(st, new_);
    tval count = targ(a, 2, "count", tv_none());
    int64_t c = count.t == TV_NONE ? -1 : count.t == TV_INT ? count.u.i : -1;
    return tmpl_replace(st, tv_to_str(st, in), str_arg(st, old), str_arg(st, new_), c);
}

/* jinja2 3.1's indent: s += "\n" then splitlines; lines after the first get the
 * prefix unless empty (blank=True: all of them); first=True prefixes line one. */
static tval f_indent(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"width", "first", "blank", NULL};
    targ_check(st, a, "indent", 3, kw);
    tval width = targ(a, 0, "width", tv_int(4));
    bool first = tv_truthy(targ(a, 1, "first", tv_bool(false))), blank = tv_truthy(targ(a, 2, "blank", tv_bool(false)));
    tbuf prefix;
    tbuf_init(&prefix, st);
    if (width.t == TV_STRING) tbuf_put(&prefix, width.u.s->s, width.u.s->len);
    else if (width.t == TV_INT) for (int64_t i = 0; i < width.u.i && i < 10000; i++) tbuf_putc(&prefix, ' ');
    else tmpl_fail(st, "indent(): width must be an integer or a string");
    tval s = tv_to_str(st, in);
    tbuf withnl;
    tbuf_init(&withnl, st);
    tbuf_put(&withnl, s.u.s->s, s.u.s->len);
    tbuf_putc(&withnl, '\n');
    tval lines = tmpl_splitlines(st, tbuf_value(&withnl), false);
    tbuf out;
    tbuf_init(&out, st);
    if (first) tbuf_put(&out, prefix.p ? prefix.p : "", prefix.n);
    for (size_t i = 0; i < lines.u.l->n; i++) {
        const tstr *line = lines.u.l->items[i].u.s;
        if (i) {
            tbuf_putc(&out, '\n');
            if (blank || line->len) tbuf_put(&out, prefix.p ? prefix.p : "", prefix.n);
        }
        tbuf_put(&out, line->s, line->len);
    }
    return tbuf_value(&out);
}

static tval f_escape(tmpl_state *st, tval in, const targs *a) {
    targ_check(st, a, "escape", 0, NULL);
    tval s = tv_to_str(st, in);
    tbuf out;
    tbuf_init(&out, st);
    for (size_t i = 0; i < s.u.s->len; i++) {
        char c = s.u.s->s[i];
        switch (c) {
        case '&': tbuf_puts(&out, "&amp;"); break;
        case '<': tbuf_puts(&out, "&lt;"); break;
        case '>': tbuf_puts(&out, "&gt;"); break;
        case '"': tbuf_puts(&out, "&#34;"); break;
        case '\'': tbuf_puts(&out, "&#39;"); break;
        default: tbuf_putc(&out, c);
        }
    }
    return tbuf_value(&out);
}
static tval f_safe(tmpl_state *st, tval in, const targs *a) { targ_check(st, a, "safe", 0, NULL); return in; }

static tval f_wordcount(tmpl_state *st, tval in, const targs *a) {
    targ_check(st, a, "wordcount", 0, NULL);
    tval s = tv_to_str(st, in);
    int64_t words = 0;
    bool in_word = false;
    for (size_t i = 0; i < s.u.s->len; i++) {
        unsigned char c = (unsigned char)s.u.s->s[i];
        bool w = c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
        if (w && !in_word) words++;
        in_word = w;
    }
    return tv_int(words);
}

/* ---- sequences ------------------------------------------------------------------- */
static tval f_length(tmpl_state *st, tval in, const targs *a) { targ_check(st, a, "length", 0, NULL); return tv_int(tv_length(st, in)); }
static tval f_list(tmpl_state *st, tval in, const targs *a) {
    targ_check(st, a, "list", 0, NULL);
    tval items = tv_iterate(st, in);
    tval l = tv_list(st, items.u.l->n, false);
    memcpy(l.u.l->items, items.u.l->items, items.u.l->n * sizeof(tval));
    return l;
}

static tval f_first(tmpl_state *st, tval in, const targs *a) {
    targ_check(st, a, "first", 0, NULL);
    if (tv_is_gen(in)) {
        tlist *g = in.u.l;
        return g->consumed < g->n ? g->items[g->consumed++] : tv_undef("No first item, sequence was empty.");
    }
    tval items = tv_iterate(st, in);
    return items.u.l->n ? items.u.l->items[0] : tv_undef("No first item, sequence was empty.");
}
static tval f_last(tmpl_state *st, tval in, const targs *a) {
    targ_check(st, a, "last", 0, NULL);
    if (tv_is_gen(in) || (in.t != TV_LIST && in.t != TV_STRING && in.t != TV_DICT && in.t != TV_UNDEFINED))
        tmpl_fail(st, "'%s' object is not reversible", tv_type_name(in));
    tval items = tv_iterate(st, in);
    return items.u.l->n ? items.u.l->items[items.u.l->n - 1] : tv_undef("No last item, sequence was empty.");
}

static tval f_join(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"d", "attribute", NULL};
    targ_check(st, a, "join", 2, kw);
    const tstr *sep = str_arg(st, targ(a, 0, "d", tv_cstr(st, "")));
    tval attribute = targ(a, 1, "attribute", tv_none());
    tval items = tv_iterate(st, in);
    tbuf out;
    tbuf_init(&out, st);
    for (size_t i = 0; i < items.u.l->n; i++) {
        if (i) tbuf_put(&out, sep->s, sep->len);
        tval v = items.u.l->items[i];
        if (attribute.t != TV_NONE) v = attr_path(st, v, attribute);
        tval s = tv_to_str(st, v);
        tbuf_put(&out, s.u.s->s, s.u.s->len);
    }
    return tbuf_value(&out);
}

static tval f_default(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"default_value", "boolean", NULL};
    targ_check(st, a, "default", 2, kw);
    tval dflt = targ(a, 0, "default_value", tv_cstr(st, ""));
    bool boolean = tv_truthy(targ(a, 1, "boolean", tv_bool(false)));
    if (in.t == TV_UNDEFINED || (boolean && !tv_truthy(in))) return dflt;
    return in;
}

static tval f_items(tmpl_state *st, tval in, const targs *a) {
    targ_check(st, a, "items", 0, NULL);
    if (in.t == TV_UNDEFINED) return tv_generator(st, tv_list(st, 0, false));
    if (in.t != TV_DICT) tmpl_fail(st, "Can only get item pairs from a mapping.");
    tval l = tv_list(st, in.u.d->n, false);
    for (size_t i = 0; i < in.u.d->n; i++) {
        tval pair = tv_list(st, 2, true);
        pair.u.l->items[0] = in.u.d->keys[i];
        pair.u.l->items[1] = in.u.d->vals[i];
        l.u.l->items[i] = pair;
    }
    return tv_generator(st, l);
}

static tval f_reverse(tmpl_state *st, tval in, const targs *a) {
    targ_check(st, a, "reverse", 0, NULL);
    if (in.t == TV_STRING) {
        tval chars = tv_iterate(st, in);
        tbuf out;
        tbuf_init(&out, st);
        for (size_t i = chars.u.l->n; i-- > 0;) tbuf_put(&out, chars.u.l->items[i].u.s->s, chars.u.l->items[i].u.s->len);
        return tbuf_value(&out);
    }
    tval items = tv_iterate(st, in);
    tval r = tv_list(st, items.u.l->n, false);
    for (size_t i = 0; i < items.u.l->n; i++) r.u.l->items[i] = items.u.l->items[items.u.l->n - 1 - i];
    return in.t == TV_LIST && !in.u.l->gen ? tv_generator(st, r) : r;
}

/* stable merge sort of v[0..n) by key (cmp via tv_compare) */
static void sort_values(tmpl_state *st, tval *v, tval *keys, size_t n, bool reverse) {
    if (n < 2) return;
    size_t h = n / 2;
    sort_values(st, v, keys, h, reverse);
    sort_values(st, v + h, keys + h, n - h, reverse);
    tval *tv = tmpl_alloc(st, n * sizeof *tv), *tk = tmpl_alloc(st, n * sizeof *tk);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c = tv_compare(st, keys[j], keys[i], "<");
        bool take_right = reverse ? c > 0 : c < 0;
        if (take_right) { tv[k] = v[j]; tk[k++] = keys[j++]; }
        else { tv[k] = v[i]; tk[k++] = keys[i++]; }
    }
    while (i < h) { tv[k] = v[i]; tk[k++] = keys[i++]; }
    while (j < n) { tv[k] = v[j]; tk[k++] = keys[j++]; }
    memcpy(v, tv, n * sizeof *v);
    memcpy(keys, tk, n * sizeof *keys);
}

static tval sorted_copy(tmpl_state *st, tval in, tval attribute, bool case_sensitive, bool reverse) {
    tval items = tv_iterate(st, in);
    size_t n = items.u.l->n;
    tval r = tv_list(st, n, false);
    tval *keys = tmpl_alloc(st, (n ? n : 1) * sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        r.u.l->items[i] = items.u.l->items[i];
        tval k = attribute.t != TV_NONE ? attr_path(st, items.u.l->items[i], attribute) : items.u.l->items[i];
        keys[i] = case_sensitive ? k : lower_if_str(st, k);
    }
    sort_values(st, r.u.l->items, keys, n, reverse);
    return r;
}

static tval f_sort(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"reverse", "case_sensitive", "attribute", NULL};
    targ_check(st, a, "sort", 3, kw);
    return sorted_copy(st, in, targ(a, 2, "attribute", tv_none()), tv_truthy(targ(a, 1, "case_sensitive", tv_bool(false))),
                       tv_truthy(targ(a, 0, "reverse", tv_bool(false))));
}

static tval f_dictsort(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"case_sensitive", "by", "reverse", NULL};
    targ_check(st, a, "dictsort", 3, kw);
    if (in.t != TV_DICT) tmpl_fail(st, "dictsort: expected a mapping, got '%s'", tv_type_name(in));
    const tstr *by = str_arg(st, targ(a, 1, "by", tv_cstr(st, "key")));
    int pos = !strcmp(by->s, "key") ? 0 : !strcmp(by->s, "value") ? 1 : -1;
    if (pos < 0) tmpl_fail(st, "You can only sort by either \"key\" or \"value\"");
    targs none = {0};
    return sorted_copy(st, f_items(st, in, &none), tv_int(pos), tv_truthy(targ(a, 0, "case_sensitive", tv_bool(false))),
                       tv_truthy(targ(a, 2, "reverse", tv_bool(false))));
}

static tval f_unique(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"case_sensitive", "attribute", NULL};
    targ_check(st, a, "unique", 2, kw);
    bool cs = tv_truthy(targ(a, 0, "case_sensitive", tv_bool(false)));
    tval attribute = targ(a, 1, "attribute", tv_none());
    tval items = tv_iterate(st, in);
    size_t n = items.u.l->n, k = 0;
    tval r = tv_list(st, n, false);
    tval *seen = tmpl_alloc(st, (n ? n : 1) * sizeof *seen);
    for (size_t i = 0; i < n; i++) {
        tval key = attribute.t != TV_NONE ? attr_path(st, items.u.l->items[i], attribute) : items.u.l->items[i];
        if (!cs) key = lower_if_str(st, key);
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++) dup = tv_equal(seen[j], key);
        if (!dup) { seen[k] = key; r.u.l->items[k++] = items.u.l->items[i]; }
    }
    r.u.l->n = k;
    return tv_generator(st, r);
}

static tval min_max(tmpl_state *st, tval in, const targs *a, bool want_max) {
    static const char *const kw[] = {"case_sensitive", "attribute", NULL};
    targ_check(st, a, want_max ? "max" : "min", 2, kw);
    bool cs = tv_truthy(targ(a, 0, "case_sensitive", tv_bool(false)));
    tval attribute = targ(a, 1, "attribute", tv_none());
    tval items = tv_iterate(st, in);
    if (!items.u.l->n) return tv_undef("No aggregated item, sequence was empty.");
    size_t best = 0;
    tval best_key = tv_none();
    for (size_t i = 0; i < items.u.l->n; i++) {
        tval key = attribute.t != TV_NONE ? attr_path(st, items.u.l->items[i], attribute) : items.u.l->items[i];
        if (!cs) key = lower_if_str(st, key);
        if (i == 0) { best_key = key; continue; }
        int c = tv_compare(st, key, best_key, want_max ? ">" : "<");
        if (want_max ? c > 0 : c < 0) { best = i; best_key = key; }
    }
    return items.u.l->items[best];
}
static tval f_max(tmpl_state *st, tval in, const targs *a) { return min_max(st, in, a, true); }
static tval f_min(tmpl_state *st, tval in, const targs *a) { return min_max(st, in, a, false); }

static tval f_sum(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"attribute", "start", NULL};
    targ_check(st, a, "sum", 2, kw);
    tval attribute = targ(a, 0, "attribute", tv_none());
    tval acc = targ(a, 1, "start", tv_int(0));
    tval items = tv_iterate(st, in);
    for (size_t i = 0; i < items.u.l->n; i++) {
        tval v = attribute.t != TV_NONE ? attr_path(st, items.u.l->items[i], attribute) : items.u.l->items[i];
        acc = tmpl_add(st, acc, v);
    }
    return acc;
}

/* select/reject(test, args...) and selectattr/rejectattr(attr, test, args...) */
static tval select_impl(tmpl_state *st, tval in, const targs *a, bool by_attr, bool keep_if) {
    size_t first = by_attr ? 1 : 0;
    if (by_attr && a->npos < 1) tmpl_fail(st, "selectattr/rejectattr need an attribute name");
    if (a->nkw) tmpl_fail(st, "select filters take no keyword arguments");
    ttest_fn test = NULL;
    targs test_args = {0};
    if (a->npos > first) {
        const tstr *name = str_arg(st, a->pos[first]);
        test = tmpl_find_test(name->s);
        if (!test) tmpl_fail(st, "no test named '%s'", name->s);
        test_args.pos = a->pos + first + 1;
        test_args.npos = a->npos - first - 1;
    }
    tval items = tv_iterate(st, in);
    tval r = tv_list(st, items.u.l->n, false);
    size_t k = 0;
    for (size_t i = 0; i < items.u.l->n; i++) {
        tval v = by_attr ? attr_path(st, items.u.l->items[i], a->pos[0]) : items.u.l->items[i];
        bool ok = test ? test(st, v, &test_args) : tv_truthy(v);
        if (ok == keep_if) r.u.l->items[k++] = items.u.l->items[i];
    }
    r.u.l->n = k;
    return tv_generator(st, r);
}
static tval f_select(tmpl_state *st, tval in, const targs *a) { return select_impl(st, in, a, false, true); }
static tval f_reject(tmpl_state *st, tval in, const targs *a) { return select_impl(st, in, a, false, false); }
static tval f_selectattr(tmpl_state *st, tval in, const targs *a) { return select_impl(st, in, a, true, true); }
static tval f_rejectattr(tmpl_state *st, tval in, const targs *a) { return select_impl(st, in, a, true, false); }

static tval f_map(tmpl_state *st, tval in, const targs *a) {
    tval items = tv_iterate(st, in);
    tval r = tv_list(st, items.u.l->n, false);
    tval attribute = tv_none(), dflt = tv_undef(NULL);
    for (size_t k = 0; k < a->nkw; k++) {
        if (kw_is(a, k, "attribute")) attribute = a->kw[k];
        else if (kw_is(a, k, "default")) dflt = a->kw[k];
    }
    if (attribute.t != TV_NONE) {
        if (a->npos) tmpl_fail(st, "map(attribute=...) takes no positional arguments");
        for (size_t i = 0; i < items.u.l->n; i++) {
            tval v = attr_path(st, items.u.l->items[i], attribute);
            r.u.l->items[i] = v.t == TV_UNDEFINED && dflt.t != TV_UNDEFINED ? dflt : v;
        }
        return tv_generator(st, r);
    }
    if (a->npos < 1) tmpl_fail(st, "map() needs a filter name or attribute=");
    const tstr *name = str_arg(st, a->pos[0]);
    tfilter_fn f = tmpl_find_filter(name->s);
    if (!f) tmpl_fail(st, "no filter named '%s'", name->s);
    targs rest = *a;
    rest.pos = a->pos + 1;
    rest.npos = a->npos - 1;
    for (size_t i = 0; i < items.u.l->n; i++) r.u.l->items[i] = f(st, items.u.l->items[i], &rest);
    return tv_generator(st, r);
}

static tval f_attr(tmpl_state *st, tval in, const targs *a) {
    targ_check(st, a, "attr", 1, NULL);
    const tstr *name = str_arg(st, targ(a, 0, NULL, tv_undef("attr() needs a name")));
    if (in.t == TV_DICT) { /* Python getattr: methods only, not keys */
        tval m = tmpl_method(st, in, name->s);
        return m.t != TV_UNDEFINED ? m : tv_undef("no such attribute");
    }
    return tmpl_getattr(st, in, name->s);
}

/* ---- numbers ------------------------------------------------------------------------ */
static tval f_abs(tmpl_state *st, tval in, const targs *a) {
    targ_check(st, a, "abs", 0, NULL);
    if (in.t == TV_FLOAT) return tv_float(fabs(in.u.f));
    if (in.t == TV_INT || in.t == TV_BOOL) {
        int64_t v = in.t == TV_BOOL ? in.u.b : in.u.i;
        if (v == INT64_MIN) tmpl_fail(st, "integer overflow");
        return tv_int(v < 0 ? -v : v);
    }
    tv_require_defined(st, in);
    tmpl_fail(st, "bad operand type for abs(): '%s'", tv_type_name(in));
}

static bool parse_int_text(const char *s, size_t n, int base, int64_t *out) {
    char buf[128];
    size_t k = 0;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || (s[i] >= 9 && s[i] <= 13))) i++;
    while (n > i && (s[n - 1] == ' ' || (s[n - 1] >= 9 && s[n - 1] <= 13))) n--;
    for (; i < n; i++) {
        if (s[i] == '_') continue;
        if (k + 1 >= sizeof buf) return false;
        buf[k++] = s[i];
    }
    buf[k] = 0;
    if (!k) return false;
    char *end;
    long long v = strtoll(buf, &end, base);
    if (*end) return false;
    *out = v;
    return true;
}

static bool parse_float_text(const char *s, size_t n, double *out) {
    char buf[128];
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    double v = strtod(buf, &end);
    while (*end == ' ' || (*end >= 9 && *end <= 13)) end++;
    if (end == buf || *end) return false;
    *out = v;
    return true;
}

static tval f_int(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"default", "base", NULL};
    targ_check(st, a, "int", 2, kw);
    tval dflt = targ(a, 0, "default", tv_int(0));
    tval basev = targ(a, 1, "base", tv_int(10));
    int base = basev.t == TV_INT ? (int)basev.u.i : 10;
    if (in.t == TV_INT) return in;
    if (in.t == TV_BOOL) return tv_int(in.u.b);
    if (in.t == TV_FLOAT) return isfinite(in.u.f) && fabs(in.u.f) < 9.2e18 ? tv_int((int64_t)in.u.f) : dflt;
    if (in.t == TV_STRING) {
        int64_t v;
        double d;
        if (parse_int_text(in.u.s->s, in.u.s->len, base, &v)) return tv_int(v);
        if (parse_float_text(in.u.s->s, in.u.s->len, &d) && isfinite(d) && fabs(d) < 9.2e18) return tv_int((int64_t)d);
    }
    return dflt;
}

static tval f_float(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"default", NULL};
    targ_check(st, a, "float", 1, kw);
    tval dflt = targ(a, 0, "default", tv_float(0.0));
    if (tv_is_number(in)) return tv_float(tv_as_double(in));
    double d;
    if (in.t == TV_STRING && parse_float_text(in.u.s->s, in.u.s->len, &d)) return tv_float(d);
    return dflt;
}

static tval f_round(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"precision", "method", NULL};
    targ_check(st, a, "round", 2, kw);
    int64_t prec = targ(a, 0, "precision", tv_int(0)).u.i;
    const tstr *method = str_arg(st, targ(a, 1, "method", tv_cstr(st, "common")));
    if (!tv_is_number(in)) tmpl_fail(st, "round: expected a number, got '%s'", tv_type_name(in));
    if (prec < 0 || prec > 30) tmpl_fail(st, "round: precision must be in 0..30");
    if (strcmp(method->s, "common") == 0) {
        if (in.t != TV_FLOAT) return tv_int(in.t == TV_BOOL ? in.u.b : in.u.i); /* round(int, n) is the int */
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)prec, in.u.f); /* exact, ties to even: Python's round */
        return tv_float(strtod(buf, NULL));
    }
    double scale = pow(10.0, (double)prec), v = tv_as_double(in) * scale;
    if (!strcmp(method->s, "floor")) v = floor(v);
    else if (!strcmp(method->s, "ceil")) v = ceil(v);
    else tmpl_fail(st, "method must be common, ceil or floor");
    return tv_float(v / scale);
}

/* ---- JSON ------------------------------------------------------------------------------ */
/* Hugging Face's tojson: json.dumps(x, ensure_ascii=False, indent=None,
 * separators=None, sort_keys=False) */
static tval f_tojson(tmpl_state *st, tval in, const targs *a) {
    static const char *const kw[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
    targ_check(st, a, "tojson", 4, kw);
    bool ensure_ascii = tv_truthy(targ(a, 0, "ensure_ascii", tv_bool(false)));
    tval indent = targ(a, 1, "indent", tv_none());
    tval seps = targ(a, 2, "separators", tv_none());
    bool sort_keys = tv_truthy(targ(a, 3, "sort_keys", tv_bool(false)));
    int ind = -1;
    if (indent.t == TV_INT) ind = indent.u.i < 0 ? 0 : indent.u.i > 64 ? 64 : (int)indent.u.i;
    else if (indent.t != TV_NONE) tmpl_fail(st, "tojson: indent must be an integer or none");
    const char *item_sep = ind >= 0 ? "," : ", ", *key_sep = ": ";
    if (seps.t != TV_NONE) {
        if (seps.t != TV_LIST || seps.u.l->n != 2 || seps.u.l->items[0].t != TV_STRING || seps.u.l->items[1].t != TV_STRING)
            tmpl_fail(st, "tojson: separators must be a pair of strings");
        item_sep = seps.u.l->items[0].u.s->s;
        key_sep = seps.u.l->items[1].u.s->s;
    }
    tbuf out;
    tbuf_init(&out, st);
    tmpl_tojson(st, in, &out, ensure_ascii, ind, item_sep, key_sep, sort_keys);
    return tbuf_value(&out);
}

typedef struct filter_entry { const char *name; tfilter_fn fn; } filter_entry;

static const filter_entry FILTERS[] = {
    {"abs", f_abs}, {"attr", f_attr}, {"capitalize", f_capitalize}, {"count", f_length}, {"d", f_default},
    {"default", f_default}, {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"first", f_first},
    {"float", f_float}, {"indent", f_indent}, {"int", f_int}, {"items", f_items}, {"join", f_join},
    {"last", f_last}, {"length", f_length}, {"list", f_list}, {"lower", f_lower}, {"map", f_map},
    {"max", f_max}, {"min", f_min}, {"reject", f_reject}, {"rejectattr", f_rejectattr}, {"replace", f_replace},
    {"reverse", f_reverse}, {"round", f_round}, {"safe", f_safe}, {"select", f_select},
    {"selectattr", f_selectattr}, {"sort", f_sort}, {"string", f_string}, {"sum", f_sum}, {"title", f_title},
    {"tojson", f_tojson}, {"trim", f_trim}, {"unique", f_unique}, {"upper", f_upper},
    {"wordcount", f_wordcount},
};

tfilter_fn tmpl_find_filter(const char *name) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof *FILTERS; i++)
        if (!strcmp(FILTERS[i].name, name)) return FILTERS[i].fn;
    return NULL;
}
