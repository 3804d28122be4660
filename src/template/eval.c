/* Evaluation: statements write to st->out, expressions produce values.
 * Scoping as jinja2 for what chat templates rely on: a for loop and a macro
 * call get their own frame (so `set` inside them does not leak out: use a
 * namespace), if/else does not. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "template/tmpl.h"

static void step(tmpl_state *st, const tnode *n) {
    st->line = n->line;
    st->col = n->col;
    if (++st->steps > TMPL_MAX_STEPS)
        tmpl_fail(st, "the template runs too long (more than %llu steps)", (unsigned long long)TMPL_MAX_STEPS);
}

/* ---- frames ---------------------------------------------------------------------- */
tframe *tmpl_frame_new(tmpl_state *st, tframe *parent) {
    tframe *f = tmpl_alloc(st, sizeof *f);
    f->parent = parent;
    return f;
}

void tmpl_frame_set(tmpl_state *st, tframe *f, const char *name, tval v) {
    tval *slot = tdict_find_str(&f->vars, name);
    if (slot) *slot = v;
    else tdict_set(st, &f->vars, tv_cstr(st, name), v);
}

static tval lookup(tmpl_state *st, tframe *f, const char *name) {
    for (; f; f = f->parent) {
        tval *v = tdict_find_str(&f->vars, name);
        if (v) return *v;
    }
    size_t n = strlen(name) + 20;
    char *hint = tmpl_alloc(st, n);
    snprintf(hint, n, "'%s' is undefined", name);
    return tv_undef(hint);
}

/* ---- attribute and item access ------------------------------------------------------ */
static tval missing(tmpl_state *st, tval obj, const char *what, const char *name) {
    size_t n = strlen(name) + 80;
    char *hint = tmpl_alloc(st, n);
    if (obj.t == TV_NONE) snprintf(hint, n, "'None' has no %s '%s'", what, name);
    else snprintf(hint, n, "'%s object' has no %s '%s'", tv_type_name(obj), what, name);
    return tv_undef(hint);
}

static tval loop_attr(tmpl_state *st, tloop *lp, const char *name);

tval tmpl_getattr(tmpl_state *st, tval obj, const char *name) {
    switch (obj.t) {
    case TV_UNDEFINED: tv_require_defined(st, obj); break;
    case TV_DICT: {
        tval m = tmpl_method(st, obj, name);
        if (m.t != TV_UNDEFINED) return m;
        tval *v = tdict_find_str(obj.u.d, name);
        return v ? *v : missing(st, obj, "attribute", name);
    }
    case TV_NAMESPACE: {
        tval *v = tdict_find_str(obj.u.d, name);
        return v ? *v : missing(st, obj, "attribute", name);
    }
    case TV_LOOP: return loop_attr(st, obj.u.loop, name);
    case TV_STRING: case TV_LIST: {
        tval m = tmpl_method(st, obj, name);
        return m.t != TV_UNDEFINED ? m : missing(st, obj, "attribute", name);
    }
    default: break;
    }
    return missing(st, obj, "attribute", name);
}

/* Python's slice.indices for a sequence of length len. */
static void slice_indices(tmpl_state *st, tval start, tval stop, tval stepv, int64_t len, int64_t *b, int64_t *e,
                          int64_t *s) {
    int64_t step = 1;
    if (stepv.t != TV_NONE && stepv.t != TV_UNDEFINED) {
        if (stepv.t != TV_INT && stepv.t != TV_BOOL) tmpl_fail(st, "slice indices must be integers or None");
        step = stepv.t == TV_BOOL ? stepv.u.b : stepv.u.i;
        if (step == 0) tmpl_fail(st, "slice step cannot be zero");
    }
    int64_t lo = step < 0 ? -1 : 0, hi = step < 0 ? len - 1 : len;
    tval v[2] = {start, stop};
    int64_t out[2] = {step < 0 ? hi : lo, step < 0 ? lo : hi};
    for (int k = 0; k < 2; k++) {
        if (v[k].t == TV_NONE || v[k].t == TV_UNDEFINED) continue;
        if (v[k].t != TV_INT && v[k].t != TV_BOOL) tmpl_fail(st, "slice indices must be integers or None");
        int64_t x = v[k].t == TV_BOOL ? v[k].u.b : v[k].u.i;
        if (x < 0) {
            x += len;
            if (x < lo) x = lo;
        } else if (x > hi) {
            x = hi;
        }
        out[k] = x;
    }
    *b = out[0];
    *e = out[1];
    *s = step;
}

static tval do_slice(tmpl_state *st, tval obj, tval start, tval stop, tval stepv) {
    if (obj.t == TV_UNDEFINED) tv_require_defined(st, obj);
    if ((obj.t != TV_LIST && obj.t != TV_STRING) || tv_is_gen(obj))
        tmpl_fail(st, "'%s' object is not subscriptable", tv_type_name(obj));
    tval items = tv_iterate(st, obj); /* strings: one item per code point */
    int64_t b, e, s, len = (int64_t)items.u.l->n;
    slice_indices(st, start, stop, stepv, len, &b, &e, &s);
    int64_t count = s > 0 ? (e > b ? (e - b + s - 1) / s : 0) : (b > e ? (b - e - s - 1) / (-s) : 0);
    if (obj.t == TV_STRING) {
        tbuf out;
        tbuf_init(&out, st);
        for (int64_t k = 0, i = b; k < count; k++, i += s) tbuf_put(&out, items.u.l->items[i].u.s->s, items.u.l->items[i].u.s->len);
        return tbuf_value(&out);
    }
    tval r = tv_list(st, (size_t)count, obj.u.l->tuple);
    for (int64_t k = 0, i = b; k < count; k++, i += s) r.u.l->items[k] = items.u.l->items[i];
    return r;
}

tval tmpl_getitem(tmpl_state *st, tval obj, tval key) {
    if (obj.t == TV_UNDEFINED) tv_require_defined(st, obj);
    if (((obj.t == TV_LIST && !obj.u.l->gen) || obj.t == TV_STRING) && (key.t == TV_INT || key.t == TV_BOOL)) {
        int64_t i = key.t == TV_BOOL ? key.u.b : key.u.i;
        int64_t len = obj.t == TV_LIST ? (int64_t)obj.u.l->n : (int64_t)utf8_count(obj.u.s->s, obj.u.s->len);
        if (i < 0) i += len;
        if (i < 0 || i >= len) return tv_undef(obj.t == TV_LIST ? "list index out of range" : "string index out of range");
        if (obj.t == TV_LIST) return obj.u.l->items[i];
        size_t a = utf8_offset(obj.u.s->s, obj.u.s->len, (size_t)i);
        size_t z = utf8_offset(obj.u.s->s, obj.u.s->len, (size_t)i + 1);
        return tv_str(st, obj.u.s->s + a, z - a);
    }
    if (obj.t == TV_DICT) {
        tval *v = tdict_find(obj.u.d, key);
        if (v) return *v;
    }
    if (key.t == TV_STRING) {
        if (obj.t == TV_DICT) {
            tval m = tmpl_method(st, obj, key.u.s->s);
            return m.t != TV_UNDEFINED ? m : missing(st, obj, "attribute", key.u.s->s);
        }
        return tmpl_getattr(st, obj, key.u.s->s);
    }
    tbuf b;
    tbuf_init(&b, st);
    tv_repr(st, key, &b);
    return missing(st, obj, "element", b.p ? b.p : "");
}

/* ---- the loop object ------------------------------------------------------------------ */
static tval loop_cycle(tmpl_state *st, tval self, const targs *a) {
    if (a->npos == 0) tmpl_fail(st, "loop.cycle() needs at least one argument");
    return a->pos[self.u.loop->index % a->npos];
}

static tval loop_attr(tmpl_state *st, tloop *lp, const char *name) {
    int64_t n = (int64_t)lp->items->n, i = (int64_t)lp->index;
    if (!strcmp(name, "index")) return tv_int(i + 1);
    if (!strcmp(name, "index0")) return tv_int(i);
    if (!strcmp(name, "revindex")) return tv_int(n - i);
    if (!strcmp(name, "revindex0")) return tv_int(n - i - 1);
    if (!strcmp(name, "first")) return tv_bool(i == 0);
    if (!strcmp(name, "last")) return tv_bool(i == n - 1);
    if (!strcmp(name, "length")) return tv_int(n);
    if (!strcmp(name, "depth")) return tv_int(1);
    if (!strcmp(name, "depth0")) return tv_int(0);
    if (!strcmp(name, "previtem")) return i > 0 ? lp->items->items[i - 1] : tv_undef("there is no previous item");
    if (!strcmp(name, "nextitem")) return i + 1 < n ? lp->items->items[i + 1] : tv_undef("there is no next item");
    if (!strcmp(name, "cycle")) return tv_func(st, "cycle", loop_cycle, (tval){.t = TV_LOOP, .u.loop = lp});
    return missing(st, (tval){.t = TV_LOOP}, "attribute", name);
}

/* ---- operators ---------------------------------------------------------------------- */
static int64_t int_of(tval v) { return v.t == TV_BOOL ? v.u.b : v.u.i; }
static bool is_intlike(tval v) { return v.t == TV_INT || v.t == TV_BOOL; }

static const char *const OP_SYMBOL[] = {
    [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/", [OP_FLOORDIV] = "//", [OP_MOD] = "%",
    [OP_POW] = "**", [OP_CONCAT] = "~", [OP_EQ] = "==", [OP_NE] = "!=", [OP_LT] = "<", [OP_LE] = "<=",
    [OP_GT] = ">", [OP_GE] = ">=", [OP_IN] = "in", [OP_NOTIN] = "not in",
};

static _Noreturn void bad_operands(tmpl_state *st, int op, tval a, tval b) {
    tv_require_defined(st, a);
    tv_require_defined(st, b);
    tmpl_fail(st, "unsupported operand type(s) for %s: '%s' and '%s'", OP_SYMBOL[op], tv_type_name(a),
              tv_type_name(b));
}

static tval repeat(tmpl_state *st, tval seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq.t == TV_STRING) {
        if (seq.u.s->len && (uint64_t)times > TMPL_MAX_STRING / seq.u.s->len)
            tmpl_fail(st, "a string exceeds %llu MiB", (unsigned long long)(TMPL_MAX_STRING >> 20));
        tbuf b;
        tbuf_init(&b, st);
        for (int64_t i = 0; i < times; i++) tbuf_put(&b, seq.u.s->s, seq.u.s->len);
        return tbuf_value(&b);
    }
    size_t n = seq.u.l->n;
    if (n && (uint64_t)times > (TMPL_MAX_MEMORY / sizeof(tval)) / n) tmpl_fail(st, "a list is too long");
    tval r = tv_list(st, n * (size_t)times, seq.u.l->tuple);
    for (int64_t i = 0; i < times; i++) memcpy(r.u.l->items + (size_t)i * n, seq.u.l->items, n * sizeof(tval));
    return r;
}

static double float_mod(double x, double y) {
    double m = fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return m;
}

static tval arith(tmpl_state *st, int op, tval a, tval b);

tval tmpl_add(tmpl_state *st, tval a, tval b) { return arith(st, OP_ADD, a, b); }

static tval arith(tmpl_state *st, int op, tval a, tval b) {
    if (tv_is_number(a) && tv_is_number(b)) {
        bool ints = is_intlike(a) && is_intlike(b);
        int64_t x = int_of(a), y = int_of(b), r;
        double fx = tv_as_double(a), fy = tv_as_double(b);
        switch (op) {
        case OP_ADD:
            if (!ints) return tv_float(fx + fy);
            if (__builtin_add_overflow(x, y, &r)) tmpl_fail(st, "integer overflow");
            return tv_int(r);
        case OP_SUB:
            if (!ints) return tv_float(fx - fy);
            if (__builtin_sub_overflow(x, y, &r)) tmpl_fail(st, "integer overflow");
            return tv_int(r);
        case OP_MUL:
            if (!ints) return tv_float(fx * fy);
            if (__builtin_mul_overflow(x, y, &r)) tmpl_fail(st, "integer overflow");
            return tv_int(r);
        case OP_DIV:
            if (fy == 0) tmpl_fail(st, "division by zero");
            return tv_float(fx / fy);
        case OP_FLOORDIV:
        case OP_MOD:
            if (ints ? y == 0 : fy == 0) tmpl_fail(st, "%s by zero", op == OP_MOD ? "modulo" : "integer division");
            if (ints) {
                if (x == INT64_MIN && y == -1) tmpl_fail(st, "integer overflow");
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) { q--; m += y; }
                return tv_int(op == OP_MOD ? m : q);
            }
            return op == OP_MOD ? tv_float(float_mod(fx, fy)) : tv_float(floor(fx / fy));
        case OP_POW:
            if (ints && y >= 0) {
                int64_t acc = 1, base = x;
                for (int64_t e = y; e > 0; e >>= 1) {
                    if ((e & 1) && __builtin_mul_overflow(acc, base, &acc)) tmpl_fail(st, "integer overflow");
                    if (e > 1 && __builtin_mul_overflow(base, base, &base)) tmpl_fail(st, "integer overflow");
                }
                return tv_int(acc);
            }
            if (fx == 0 && fy < 0) tmpl_fail(st, "0.0 cannot be raised to a negative power");
            return tv_float(pow(fx, fy));
        default: break;
        }
    }
    if (op == OP_ADD && a.t == TV_STRING && b.t == TV_STRING) {
        tbuf r;
        tbuf_init(&r, st);
        tbuf_put(&r, a.u.s->s, a.u.s->len);
        tbuf_put(&r, b.u.s->s, b.u.s->len);
        return tbuf_value(&r);
    }
    if (op == OP_ADD && a.t == TV_LIST && b.t == TV_LIST && a.u.l->tuple == b.u.l->tuple && !a.u.l->gen &&
        !b.u.l->gen) {
        tval r = tv_list(st, a.u.l->n + b.u.l->n, a.u.l->tuple);
        memcpy(r.u.l->items, a.u.l->items, a.u.l->n * sizeof(tval));
        memcpy(r.u.l->items + a.u.l->n, b.u.l->items, b.u.l->n * sizeof(tval));
        return r;
    }
    if (op == OP_MUL && (a.t == TV_STRING || (a.t == TV_LIST && !a.u.l->gen)) && is_intlike(b))
        return repeat(st, a, int_of(b));
    if (op == OP_MUL && (b.t == TV_STRING || (b.t == TV_LIST && !b.u.l->gen)) && is_intlike(a))
        return repeat(st, b, int_of(a));
    if (op == OP_MOD && a.t == TV_STRING) {
        /* printf-style formatting with %s / %d / %% */
        tval args = b.t == TV_LIST && b.u.l->tuple ? b : tv_list(st, 1, true);
        if (!(b.t == TV_LIST && b.u.l->tuple)) args.u.l->items[0] = b;
        tbuf r;
        tbuf_init(&r, st);
        size_t k = 0;
        for (size_t i = 0; i < a.u.s->len; i++) {
            char c = a.u.s->s[i];
            if (c != '%') { tbuf_putc(&r, c); continue; }
            char f = i + 1 < a.u.s->len ? a.u.s->s[++i] : 0;
            if (f == '%') { tbuf_putc(&r, '%'); continue; }
            if (f != 's' && f != 'd' && f != 'r') tmpl_fail(st, "unsupported format character in '%%' formatting");
            if (k >= args.u.l->n) tmpl_fail(st, "not enough arguments for format string");
            tval v = args.u.l->items[k++];
            if (f == 'r') tv_repr(st, v, &r);
            else if (f == 'd') {
                if (!tv_is_number(v)) tmpl_fail(st, "%%d format: a real number is required, not %s", tv_type_name(v));
                tbuf_printf(&r, "%lld", (long long)(v.t == TV_FLOAT ? (int64_t)v.u.f : int_of(v)));
            } else {
                tval s = tv_to_str(st, v);
                tbuf_put(&r, s.u.s->s, s.u.s->len);
            }
        }
        if (k < args.u.l->n) tmpl_fail(st, "not all arguments converted during string formatting");
        return tbuf_value(&r);
    }
    bad_operands(st, op, a, b);
}

static bool contains(tmpl_state *st, tval container, tval item) {
    switch (container.t) {
    case TV_UNDEFINED: return false;
    case TV_STRING: {
        if (item.t != TV_STRING)
            tmpl_fail(st, "'in <string>' requires string as left operand, not %s", tv_type_name(item));
        const tstr *h = container.u.s, *n = item.u.s;
        if (n->len == 0) return true;
        for (size_t i = 0; i + n->len <= h->len; i++)
            if (!memcmp(h->s + i, n->s, n->len)) return true;
        return false;
    }
    case TV_LIST:
        if (container.u.l->gen) container = tv_iterate(st, container);
        for (size_t i = 0; i < container.u.l->n; i++)
            if (tv_equal(container.u.l->items[i], item)) return true;
        return false;
    case TV_DICT: return tdict_find(container.u.d, item) != NULL;
    default: tmpl_fail(st, "argument of type '%s' is not iterable", tv_type_name(container));
    }
}

static bool compare(tmpl_state *st, int op, tval a, tval b) {
    switch (op) {
    case OP_EQ: return tv_equal(a, b);
    case OP_NE: return !tv_equal(a, b);
    case OP_IN: return contains(st, b, a);
    case OP_NOTIN: return !contains(st, b, a);
    default: break;
    }
    int c = tv_compare(st, a, b, OP_SYMBOL[op]);
    if ((a.t == TV_FLOAT && isnan(a.u.f)) || (b.t == TV_FLOAT && isnan(b.u.f))) return false;
    return op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0;
}

/* ---- calls ---------------------------------------------------------------------------- */
static targs eval_args(tmpl_state *st, const tnode *n, tframe *f) {
    tval *pos = n->list.n ? tmpl_alloc(st, n->list.n * sizeof *pos) : NULL;
    tval *kw = n->list2.n ? tmpl_alloc(st, n->list2.n * sizeof *kw) : NULL;
    for (size_t i = 0; i < n->list.n; i++) pos[i] = tmpl_eval(st, n->list.v[i], f);
    for (size_t i = 0; i < n->list2.n; i++) kw[i] = tmpl_eval(st, n->list2.v[i], f);
    return (targs){.pos = pos, .npos = n->list.n, .kwnames = n->names, .kw = kw, .nkw = n->n_names};
}

static tval call_macro(tmpl_state *st, const tmacro *m, const targs *a, tval caller) {
    const tnode *def = m->def;
    const char *name = def->name ? def->name : "caller";
    if (a->npos > def->n_names)
        tmpl_fail(st, "macro '%s' takes not more than %zu argument(s)", name, def->n_names);
    for (size_t k = 0; k < a->nkw; k++) {
        size_t j;
        for (j = 0; j < def->n_names && strcmp(def->names[j], a->kwnames[k]); j++) {}
        if (j == def->n_names) tmpl_fail(st, "macro '%s' takes no keyword argument '%s'", name, a->kwnames[k]);
        if (j < a->npos) tmpl_fail(st, "macro '%s' got multiple values for argument '%s'", name, a->kwnames[k]);
    }
    if (st->call_depth >= TMPL_MAX_CALL_DEPTH)
        tmpl_fail(st, "macro calls nest deeper than %d (runaway recursion?)", TMPL_MAX_CALL_DEPTH);
    tframe *f = tmpl_frame_new(st, m->closure);
    for (size_t j = 0; j < def->n_names; j++) {
        tval v = tv_undef(NULL);
        bool given = j < a->npos;
        if (given) v = a->pos[j];
        for (size_t k = 0; k < a->nkw && !given; k++)
            if (!strcmp(def->names[j], a->kwnames[k])) { v = a->kw[k]; given = true; }
        if (!given && def->list2.v[j]) v = tmpl_eval(st, def->list2.v[j], f);
        else if (!given) {
            size_t n = strlen(def->names[j]) + 40;
            char *hint = tmpl_alloc(st, n);
            snprintf(hint, n, "parameter '%s' was not provided", def->names[j]);
            v = tv_undef(hint);
        }
        tmpl_frame_set(st, f, def->names[j], v);
    }
    if (caller.t != TV_UNDEFINED) tmpl_frame_set(st, f, "caller", caller);
    tbuf out, *saved = st->out;
    tbuf_init(&out, st);
    st->out = &out;
    st->call_depth++;
    tmpl_exec(st, def->list, f);
    st->call_depth--;
    st->out = saved;
    return tbuf_value(&out);
}

tval tmpl_call(tmpl_state *st, tval callee, const targs *a) {
    switch (callee.t) {
    case TV_MACRO: return call_macro(st, callee.u.m, a, tv_undef(NULL));
    case TV_FUNC: return callee.u.fn->fn(st, callee.u.fn->self, a);
    case TV_UNDEFINED: tv_require_defined(st, callee); break;
    default: break;
    }
    tmpl_fail(st, "'%s' object is not callable", tv_type_name(callee));
}

/* ---- filters and tests ------------------------------------------------------------------ */
static tval eval_filter(tmpl_state *st, const tnode *n, tframe *f, const tval *piped) {
    tval input = !n->a ? *piped : n->a->kind == E_FILTER ? eval_filter(st, n->a, f, piped) : tmpl_eval(st, n->a, f);
    step(st, n);
    targs a = eval_args(st, n, f);
    st->line = n->line;
    st->col = n->col;
    return tmpl_find_filter(n->name)(st, input, &a);
}

/* ---- expressions --------------------------------------------------------------------------- */
tval tmpl_eval(tmpl_state *st, const tnode *e, tframe *f) {
    step(st, e);
    switch (e->kind) {
    case E_LITERAL: return e->lit;
    case E_NAME: return lookup(st, f, e->name);
    case E_LIST: case E_TUPLE: {
        tval l = tv_list(st, e->list.n, e->kind == E_TUPLE);
        for (size_t i = 0; i < e->list.n; i++) l.u.l->items[i] = tmpl_eval(st, e->list.v[i], f);
        return l;
    }
    case E_DICT: {
        tval d = tv_dict(st);
        for (size_t i = 0; i < e->list.n; i++) {
            tval k = tmpl_eval(st, e->list.v[i], f);
            if (k.t == TV_LIST && !k.u.l->tuple) tmpl_fail(st, "unhashable type: 'list'");
            if (k.t == TV_DICT || k.t == TV_UNDEFINED) tmpl_fail(st, "unhashable type: '%s'", tv_type_name(k));
            tdict_set(st, d.u.d, k, tmpl_eval(st, e->list2.v[i], f));
        }
        return d;
    }
    case E_ATTR: {
        tval obj = tmpl_eval(st, e->a, f);
        step(st, e);
        return tmpl_getattr(st, obj, e->name);
    }
    case E_ITEM: {
        tval obj = tmpl_eval(st, e->a, f), key = tmpl_eval(st, e->b, f);
        step(st, e);
        return tmpl_getitem(st, obj, key);
    }
    case E_SLICE: {
        tval obj = tmpl_eval(st, e->a, f);
        tval b = e->b ? tmpl_eval(st, e->b, f) : tv_none(), c = e->c ? tmpl_eval(st, e->c, f) : tv_none();
        tval d = e->d ? tmpl_eval(st, e->d, f) : tv_none();
        step(st, e);
        return do_slice(st, obj, b, c, d);
    }
    case E_CALL: {
        tval callee = tmpl_eval(st, e->a, f);
        targs a = eval_args(st, e, f);
        step(st, e);
        return tmpl_call(st, callee, &a);
    }
    case E_FILTER: return eval_filter(st, e, f, NULL);
    case E_TEST: {
        tval input = tmpl_eval(st, e->a, f);
        targs a = eval_args(st, e, f);
        step(st, e);
        bool r = tmpl_find_test(e->name)(st, input, &a);
        return tv_bool(e->op ? !r : r);
    }
    case E_NOT: return tv_bool(!tv_truthy(tmpl_eval(st, e->a, f)));
    case E_NEG: case E_POS: {
        tval v = tmpl_eval(st, e->a, f);
        step(st, e);
        if (!tv_is_number(v)) {
            tv_require_defined(st, v);
            tmpl_fail(st, "bad operand type for unary %c: '%s'", e->kind == E_NEG ? '-' : '+', tv_type_name(v));
        }
        if (e->kind == E_POS) return v.t == TV_BOOL ? tv_int(v.u.b) : v;
        if (v.t == TV_FLOAT) return tv_float(-v.u.f);
        if (int_of(v) == INT64_MIN) tmpl_fail(st, "integer overflow");
        return tv_int(-int_of(v));
    }
    case E_BINARY: {
        tval a = tmpl_eval(st, e->a, f), b = tmpl_eval(st, e->b, f);
        step(st, e);
        if (e->op == OP_CONCAT) {
            tval x = tv_to_str(st, a), y = tv_to_str(st, b);
            tbuf r;
            tbuf_init(&r, st);
            tbuf_put(&r, x.u.s->s, x.u.s->len);
            tbuf_put(&r, y.u.s->s, y.u.s->len);
            return tbuf_value(&r);
        }
        return arith(st, e->op, a, b);
    }
    case E_AND: {
        tval a = tmpl_eval(st, e->a, f);
        return tv_truthy(a) ? tmpl_eval(st, e->b, f) : a;
    }
    case E_OR: {
        tval a = tmpl_eval(st, e->a, f);
        return tv_truthy(a) ? a : tmpl_eval(st, e->b, f);
    }
    case E_COND:
        if (tv_truthy(tmpl_eval(st, e->b, f))) return tmpl_eval(st, e->a, f);
        return e->c ? tmpl_eval(st, e->c, f) : tv_undef("the condition was false and there is no else");
    case E_COMPARE: {
        tval left = tmpl_eval(st, e->list.v[0], f);
        for (size_t i = 1; i < e->list.n; i++) {
            tval right = tmpl_eval(st, e->list.v[i], f);
            st->line = e->line;
            st->col = e->col;
            if (!compare(st, e->ops[i - 1], left, right)) return tv_bool(false);
            left = right;
        }
        return tv_bool(true);
    }
    default: break;
    }
    tmpl_fail(st, "internal error: statement node in an expression");
}

/* ---- statements ------------------------------------------------------------------------------ */
static void assign(tmpl_state *st, tframe *f, const tnode *n, tval v) {
    if (n->n_names == 1) {
        tmpl_frame_set(st, f, n->names[0], v);
        return;
    }
    if (v.t != TV_LIST && v.t != TV_STRING && v.t != TV_DICT && v.t != TV_UNDEFINED)
        tmpl_fail(st, "cannot unpack non-iterable %s object", tv_type_name(v));
    tval items = tv_iterate(st, v);
    if (items.u.l->n != n->n_names)
        tmpl_fail(st, "%s values to unpack (expected %zu, got %zu)",
                  items.u.l->n < n->n_names ? "not enough" : "too many", n->n_names, items.u.l->n);
    for (size_t i = 0; i < n->n_names; i++) tmpl_frame_set(st, f, n->names[i], items.u.l->items[i]);
}

static tval capture(tmpl_state *st, tnodes body, tframe *f) {
    tbuf out, *saved = st->out;
    tbuf_init(&out, st);
    st->out = &out;
    tmpl_exec(st, body, f);
    st->out = saved;
    return tbuf_value(&out);
}

static void exec_for(tmpl_state *st, const tnode *n, tframe *f) {
    tval iterable = tmpl_eval(st, n->a, f);
    tval items = tv_iterate(st, iterable);
    tframe *lf = tmpl_frame_new(st, f);
    if (n->b) { /* {% for x in xs if cond %}: filter first, so loop.* counts what is kept */
        tval kept = tv_list(st, items.u.l->n, false);
        size_t k = 0;
        for (size_t i = 0; i < items.u.l->n; i++) {
            assign(st, lf, n, items.u.l->items[i]);
            if (tv_truthy(tmpl_eval(st, n->b, lf))) kept.u.l->items[k++] = items.u.l->items[i];
        }
        kept.u.l->n = k;
        items = kept;
    }
    if (items.u.l->n == 0) {
        tmpl_exec(st, n->list2, f);
        return;
    }
    tloop *lp = tmpl_alloc(st, sizeof *lp);
    lp->items = items.u.l;
    tmpl_frame_set(st, lf, "loop", (tval){.t = TV_LOOP, .u.loop = lp});
    for (size_t i = 0; i < items.u.l->n; i++) {
        step(st, n);
        lp->index = i;
        assign(st, lf, n, items.u.l->items[i]);
        tmpl_exec(st, n->list, lf);
        if (st->loop_signal == 1) { st->loop_signal = 0; break; }
        st->loop_signal = 0;
    }
}

void tmpl_exec(tmpl_state *st, tnodes body, tframe *f) {
    for (size_t i = 0; i < body.n && !st->loop_signal; i++) {
        const tnode *n = body.v[i];
        step(st, n);
        switch (n->kind) {
        case N_TEXT: tbuf_put(st->out, n->lit.u.s->s, n->lit.u.s->len); break;
        case N_OUTPUT: {
            tval v = tv_to_str(st, tmpl_eval(st, n->a, f));
            tbuf_put(st->out, v.u.s->s, v.u.s->len);
            break;
        }
        case N_IF:
            if (tv_truthy(tmpl_eval(st, n->a, f))) tmpl_exec(st, n->list, f);
            else tmpl_exec(st, n->list2, f);
            break;
        case N_FOR: exec_for(st, n, f); break;
        case N_SET: assign(st, f, n, tmpl_eval(st, n->a, f)); break;
        case N_SET_ATTR: {
            tval ns = tmpl_eval(st, n->a, f);
            tval v = tmpl_eval(st, n->b, f);
            if (ns.t != TV_NAMESPACE) {
                tv_require_defined(st, ns);
                tmpl_fail_at(st, n->line, n->col, "cannot assign attribute on non-namespace object");
            }
            tdict_set(st, ns.u.d, tv_cstr(st, n->name), v);
            break;
        }
        case N_SET_BLOCK: {
            tval v = capture(st, n->list, f);
            if (n->a) v = eval_filter(st, n->a, f, &v);
            tmpl_frame_set(st, f, n->names[0], v);
            break;
        }
        case N_MACRO: {
            tmacro *m = tmpl_alloc(st, sizeof *m);
            m->def = n;
            m->closure = f;
            tmpl_frame_set(st, f, n->name, (tval){.t = TV_MACRO, .u.m = m});
            break;
        }
        case N_CALL_BLOCK: {
            tmacro *caller = tmpl_alloc(st, sizeof *caller);
            caller->def = n;
            caller->closure = f;
            tval callee = tmpl_eval(st, n->a->a, f);
            targs a = eval_args(st, n->a, f);
            st->line = n->line;
            st->col = n->col;
            if (callee.t != TV_MACRO) {
                tv_require_defined(st, callee);
                tmpl_fail(st, "{%% call %%} needs a macro, not '%s'", tv_type_name(callee));
            }
            tval v = call_macro(st, callee.u.m, &a, (tval){.t = TV_MACRO, .u.m = caller});
            tbuf_put(st->out, v.u.s->s, v.u.s->len);
            break;
        }
        case N_FILTER_BLOCK: {
            tval v = capture(st, n->list, f);
            v = tv_to_str(st, eval_filter(st, n->a, f, &v));
            tbuf_put(st->out, v.u.s->s, v.u.s->len);
            break;
        }
        case N_BREAK: st->loop_signal = 1; break;
        case N_CONTINUE: st->loop_signal = 2; break;
        default: tmpl_fail(st, "internal error: expression node as a statement");
        }
    }
}
