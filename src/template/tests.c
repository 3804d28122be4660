/* jinja2's tests (`x is defined`, `x is string`, `x is equalto 3`, ...). */
#include <string.h>

#include "template/tmpl.h"

static tval arg0(tmpl_state *st, const targs *a, const char *test) {
    if (a->npos < 1) tmpl_fail(st, "the '%s' test needs an argument", test);
    return a->pos[0];
}

static bool t_defined(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t != TV_UNDEFINED; }
static bool t_undefined(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_UNDEFINED; }
static bool t_none(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_NONE; }
static bool t_boolean(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_BOOL; }
static bool t_true(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_BOOL && v.u.b; }
static bool t_false(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_BOOL && !v.u.b; }
static bool t_integer(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_INT; }
static bool t_float(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_FLOAT; }
static bool t_number(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return tv_is_number(v); }
static bool t_string(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_STRING; }
static bool t_mapping(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_DICT; }
static bool t_iterable(tmpl_state *st, tval v, const targs *a) {
    (void)st; (void)a;
    return v.t == TV_STRING || v.t == TV_LIST || v.t == TV_DICT || v.t == TV_UNDEFINED || v.t == TV_LOOP;
}
static bool t_sequence(tmpl_state *st, tval v, const targs *a) {
    (void)st; (void)a;
    return v.t == TV_STRING || (v.t == TV_LIST && !v.u.l->gen) || v.t == TV_DICT || v.t == TV_UNDEFINED;
}
static bool t_callable(tmpl_state *st, tval v, const targs *a) {
    (void)st; (void)a;
    return v.t == TV_MACRO || v.t == TV_FUNC || v.t == TV_UNDEFINED;
}
static bool t_eq(tmpl_state *st, tval v, const targs *a) { return tv_equal(v, arg0(st, a, "eq")); }
static bool t_ne(tmpl_state *st, tval v, const targs *a) { return !tv_equal(v, arg0(st, a, "ne")); }
static bool t_lt(tmpl_state *st, tval v, const targs *a) { return tv_compare(st, v, arg0(st, a, "lt"), "<") < 0; }
static bool t_le(tmpl_state *st, tval v, const targs *a) { return tv_compare(st, v, arg0(st, a, "le"), "<=") <= 0; }
static bool t_gt(tmpl_state *st, tval v, const targs *a) { return tv_compare(st, v, arg0(st, a, "gt"), ">") > 0; }
static bool t_ge(tmpl_state *st, tval v, const targs *a) { return tv_compare(st, v, arg0(st, a, "ge"), ">=") >= 0; }

static bool t_in(tmpl_state *st, tval v, const targs *a) {
    tval seq = arg0(st, a, "in");
    if (seq.t == TV_STRING) {
        if (v.t != TV_STRING) tmpl_fail(st, "'in <string>' requires string as left operand, not %s", tv_type_name(v));
        if (v.u.s->len == 0) return true;
        for (size_t i = 0; i + v.u.s->len <= seq.u.s->len; i++)
            if (!memcmp(seq.u.s->s + i, v.u.s->s, v.u.s->len)) return true;
        return false;
    }
    if (seq.t == TV_DICT) return tdict_find(seq.u.d, v) != NULL;
    tval items = tv_iterate(st, seq);
    for (size_t i = 0; i < items.u.l->n; i++)
        if (tv_equal(items.u.l->items[i], v)) return true;
    return false;
}

static int64_t want_int(tmpl_state *st, tval v, const char *test) {
    if (v.t == TV_BOOL) return v.u.b;
    if (v.t != TV_INT) {
        tv_require_defined(st, v);
        tmpl_fail(st, "the '%s' test needs an integer, got '%s'", test, tv_type_name(v));
    }
    return v.u.i;
}
static bool t_odd(tmpl_state *st, tval v, const targs *a) { (void)a; return want_int(st, v, "odd") % 2 != 0; }
static bool t_even(tmpl_state *st, tval v, const targs *a) { (void)a; return want_int(st, v, "even") % 2 == 0; }
static bool t_divisibleby(tmpl_state *st, tval v, const targs *a) {
    int64_t d = want_int(st, arg0(st, a, "divisibleby"), "divisibleby");
    if (d == 0) tmpl_fail(st, "integer division or modulo by zero");
    return d == -1 || want_int(st, v, "divisibleby") % d == 0;
}
static bool t_sameas(tmpl_state *st, tval v, const targs *a) {
    tval o = arg0(st, a, "sameas");
    if (v.t != o.t) return false;
    switch (v.t) {
    case TV_NONE: case TV_UNDEFINED: return v.t == TV_NONE;
    case TV_BOOL: return v.u.b == o.u.b;
    case TV_INT: return v.u.i == o.u.i && v.u.i >= -5 && v.u.i <= 256; /* CPython's small ints */
    case TV_STRING: return v.u.s == o.u.s;
    default: return tv_equal(v, o) && v.u.l == o.u.l;
    }
}
static bool case_test(tmpl_state *st, tval v, bool upper) {
    tval s = tv_to_str(st, v);
    bool cased = false;
    for (size_t i = 0; i < s.u.s->len; i++) {
        char c = s.u.s->s[i];
        if (c >= 'a' && c <= 'z') { if (upper) return false; cased = true; }
        if (c >= 'A' && c <= 'Z') { if (!upper) return false; cased = true; }
    }
    return cased;
}
static bool t_lower(tmpl_state *st, tval v, const targs *a) { (void)a; return case_test(st, v, false); }
static bool t_upper(tmpl_state *st, tval v, const targs *a) { (void)a; return case_test(st, v, true); }
static bool t_escaped(tmpl_state *st, tval v, const targs *a) { (void)st; (void)v; (void)a; return false; }
static bool t_filter(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_STRING && tmpl_find_filter(v.u.s->s); }
static bool t_test(tmpl_state *st, tval v, const targs *a) { (void)st; (void)a; return v.t == TV_STRING && tmpl_find_test(v.u.s->s); }

typedef struct test_entry { const char *name; ttest_fn fn; } test_entry;

static const test_entry TESTS[] = {
    {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none}, {"boolean", t_boolean},
    {"true", t_true}, {"false", t_false}, {"integer", t_integer}, {"float", t_float}, {"number", t_number},
    {"string", t_string}, {"mapping", t_mapping}, {"iterable", t_iterable}, {"sequence", t_sequence},
    {"callable", t_callable}, {"eq", t_eq}, {"equalto", t_eq}, {"==", t_eq}, {"ne", t_ne}, {"!=", t_ne},
    {"lt", t_lt}, {"lessthan", t_lt}, {"<", t_lt}, {"le", t_le}, {"<=", t_le}, {"gt", t_gt},
    {"greaterthan", t_gt}, {">", t_gt}, {"ge", t_ge}, {">=", t_ge}, {"in", t_in}, {"odd", t_odd},
    {"even", t_even}, {"divisibleby", t_divisibleby}, {"sameas", t_sameas}, {"lower", t_lower},
    {"upper", t_upper}, {"escaped", t_escaped}, {"filter", t_filter}, {"test", t_test},
};

ttest_fn tmpl_find_test(const char *name) {
    for (size_t i = 0; i < sizeof TESTS / sizeof *TESTS; i++)
        if (!strcmp(TESTS[i].name, name)) return TESTS[i].fn;
    return NULL;
}
