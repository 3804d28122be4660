/* Tokens -> statement and expression tree, following jinja2's grammar
 * (precedence from loosest: `x if c else y`, or, and, not, comparisons and
 * in/not in, + -, ~, * / // %, **, unary - +, then postfix . [] () and the
 * filters / tests `|` and `is`). */
#include <stdio.h>
#include <string.h>

#include "template/tmpl.h"

typedef struct parser {
    tmpl_state *st;
    const ttoken *t;
    size_t n, i;
    int loop_depth; /* for loops around the statement being parsed (break/continue) */
} parser;

static const ttoken *peek(const parser *p) { return &p->t[p->i]; }
static const ttoken *peek2(const parser *p) { return p->i < p->n ? &p->t[p->i + 1] : &p->t[p->n]; }
static const ttoken *next(parser *p) { return p->i < p->n ? &p->t[p->i++] : &p->t[p->n]; }

static bool tok_is(const ttoken *t, ttok_kind k, const char *s) {
    return t->kind == k && (!s || (t->len == strlen(s) && !memcmp(t->s, s, t->len)));
}
static bool is_op(const parser *p, const char *op) { return tok_is(peek(p), TK_OP, op); }
static bool is_name(const parser *p, const char *name) { return tok_is(peek(p), TK_NAME, name); }

static const char *describe(const ttoken *t, char buf[64]) {
    switch (t->kind) {
    case TK_EOF: return "end of template";
    case TK_TEXT: return "template text";
    case TK_VAR_BEGIN: return "'{{'";
    case TK_VAR_END: return "end of print statement '}}'";
    case TK_BLOCK_BEGIN: return "'{%'";
    case TK_BLOCK_END: return "end of statement '%}'";
    case TK_STRING: return "a string";
    case TK_INT: case TK_FLOAT: return "a number";
    default: snprintf(buf, 64, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->s); return buf;
    }
}

static _Noreturn void fail_tok(parser *p, const ttoken *t, const char *expected) {
    char buf[64];
    tmpl_fail_at(p->st, t->line, t->col, "expected %s, got %s", expected, describe(t, buf));
}

static void expect_op(parser *p, const char *op) {
    if (!is_op(p, op)) {
        char want[16];
        snprintf(want, sizeof want, "'%s'", op);
        fail_tok(p, peek(p), want);
    }
    next(p);
}

static const char *expect_ident(parser *p) {
    const ttoken *t = peek(p);
    if (t->kind != TK_NAME) fail_tok(p, t, "a name");
    next(p);
    return tmpl_strndup(p->st, t->s, t->len);
}

static void expect_block_end(parser *p) {
    if (peek(p)->kind != TK_BLOCK_END) fail_tok(p, peek(p), "end of statement '%}'");
    next(p);
}

static tnode *node(parser *p, tnode_kind kind, const ttoken *at) {
    tnode *n = tmpl_alloc(p->st, sizeof *n);
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

static void push(parser *p, tnodes *list, tnode *n) {
    if ((list->n & (list->n - 1)) == 0) { /* grow at powers of two */
        tnode **v = tmpl_alloc(p->st, (list->n ? list->n * 2 : 1) * sizeof *v);
        if (list->n) memcpy(v, list->v, list->n * sizeof *v);
        list->v = v;
    }
    list->v[list->n++] = n;
}

static void push_name(parser *p, tnode *n, const char *name) {
    const char **v = tmpl_alloc(p->st, (n->n_names + 1) * sizeof *v);
    if (n->n_names) memcpy(v, n->names, n->n_names * sizeof *v);
    v[n->n_names++] = name;
    n->names = v;
}

static void enter(parser *p) {
    if (++p->st->nesting > TMPL_MAX_NESTING)
        tmpl_fail_at(p->st, peek(p)->line, peek(p)->col, "the template nests deeper than %d levels",
                     TMPL_MAX_NESTING);
}
static void leave(parser *p) { p->st->nesting--; }

static tnode *parse_expression(parser *p, bool with_condexpr);
static tnode *parse_or(parser *p);
static tnode *parse_unary(parser *p, bool with_filter);

/* ---- expressions ------------------------------------------------------------ */

/* `a, b, c` (a tuple) or a single expression. extra_end: a name that ends it. */
static tnode *parse_tuple(parser *p, bool with_condexpr, const char *extra_end) {
    const ttoken *start = peek(p);
    tnode *tuple = node(p, E_TUPLE, start);
    bool comma = false;
    for (;;) {
        if (tuple->list.n) {
            if (!is_op(p, ",")) break;
            next(p);
            comma = true;
        }
        const ttoken *t = peek(p);
        if (t->kind == TK_VAR_END || t->kind == TK_BLOCK_END || t->kind == TK_EOF || is_op(p, ")") ||
            (extra_end && is_name(p, extra_end)))
            break;
        push(p, &tuple->list, with_condexpr ? parse_expression(p, true) : parse_or(p));
    }
    if (!comma) {
        if (tuple->list.n == 0) fail_tok(p, peek(p), "an expression");
        return tuple->list.v[0];
    }
    return tuple;
}

static void parse_call_args(parser *p, tnode *call) {
    expect_op(p, "(");
    while (!is_op(p, ")")) {
        if (call->list.n || call->n_names) expect_op(p, ",");
        if (is_op(p, ")")) break;
        if (is_op(p, "*") || is_op(p, "**"))
            tmpl_fail_at(p->st, peek(p)->line, peek(p)->col, "*args and **kwargs in calls are not supported");
        if (peek(p)->kind == TK_NAME && tok_is(peek2(p), TK_OP, "=")) {
            push_name(p, call, expect_ident(p));
            next(p);
            push(p, &call->list2, parse_expression(p, true));
        } else {
            if (call->n_names)
                tmpl_fail_at(p->st, peek(p)->line, peek(p)->col, "positional argument after keyword argument");
            push(p, &call->list, parse_expression(p, true));
        }
    }
    next(p);
}

static tnode *parse_primary(parser *p) {
    const ttoken *t = peek(p);
    tnode *n;
    switch (t->kind) {
    case TK_NAME:
        next(p);
        n = node(p, E_LITERAL, t);
        if (tok_is(t, TK_NAME, "true") || tok_is(t, TK_NAME, "True")) n->lit = tv_bool(true);
        else if (tok_is(t, TK_NAME, "false") || tok_is(t, TK_NAME, "False")) n->lit = tv_bool(false);
        else if (tok_is(t, TK_NAME, "none") || tok_is(t, TK_NAME, "None")) n->lit = tv_none();
        else {
            n->kind = E_NAME;
            n->name = tmpl_strndup(p->st, t->s, t->len);
        }
        return n;
    case TK_STRING: {
        tbuf b;
        tbuf_init(&b, p->st);
        while (peek(p)->kind == TK_STRING) { /* adjacent literals join */
            tbuf_put(&b, peek(p)->s, peek(p)->len);
            next(p);
        }
        n = node(p, E_LITERAL, t);
        n->lit = tbuf_value(&b);
        return n;
    }
    case TK_INT: next(p); n = node(p, E_LITERAL, t); n->lit = tv_int(t->i); return n;
    case TK_FLOAT: next(p); n = node(p, E_LITERAL, t); n->lit = tv_float(t->f); return n;
    case TK_OP:
        if (is_op(p, "(")) {
            next(p);
            if (is_op(p, ")")) { next(p); return node(p, E_TUPLE, t); }
            n = parse_tuple(p, true, NULL);
            expect_op(p, ")");
            return n;
        }
        if (is_op(p, "[")) {
            next(p);
            n = node(p, E_LIST, t);
            while (!is_op(p, "]")) {
                if (n->list.n) expect_op(p, ",");
                if (is_op(p, "]")) break;
                push(p, &n->list, parse_expression(p, true));
            }
            next(p);
            return n;
        }
        if (is_op(p, "{")) {
            next(p);
            n = node(p, E_DICT, t);
            while (!is_op(p, "}")) {
                if (n->list.n) expect_op(p, ",");
                if (is_op(p, "}")) break;
                push(p, &n->list, parse_expression(p, true));
                expect_op(p, ":");
                push(p, &n->list2, parse_expression(p, true));
            }
            next(p);
            return n;
        }
        break;
    default: break;
    }
    fail_tok(p, t, "an expression");
}

static tnode *parse_subscript(parser *p, tnode *obj) {
    const ttoken *t = next(p);
    if (tok_is(t, TK_OP, ".")) {
        const ttoken *a = next(p);
        if (a->kind == TK_NAME) {
            tnode *n = node(p, E_ATTR, t);
            n->a = obj;
            n->name = tmpl_strndup(p->st, a->s, a->len);
            return n;
        }
        if (a->kind == TK_INT) {
            tnode *n = node(p, E_ITEM, t), *k = node(p, E_LITERAL, a);
            k->lit = tv_int(a->i);
            n->a = obj;
            n->b = k;
            return n;
        }
        fail_tok(p, a, "an attribute name");
    }
    /* '[' index or slice ']' */
    tnode *parts[3] = {NULL, NULL, NULL};
    int colons = 0;
    for (;;) {
        if (is_op(p, "]")) break;
        if (is_op(p, ":")) {
            if (++colons > 2) fail_tok(p, peek(p), "']'");
            next(p);
            continue;
        }
        if (parts[colons]) fail_tok(p, peek(p), "':' or ']'");
        parts[colons] = parse_expression(p, true);
        if (colons == 0 && is_op(p, ",")) fail_tok(p, peek(p), "']' (tuple subscripts are not supported)");
    }
    next(p);
    if (colons == 0) {
        if (!parts[0]) fail_tok(p, peek(p), "an index");
        tnode *n = node(p, E_ITEM, t);
        n->a = obj;
        n->b = parts[0];
        return n;
    }
    tnode *n = node(p, E_SLICE, t);
    n->a = obj;
    n->b = parts[0];
    n->c = parts[1];
    n->d = parts[2];
    return n;
}

static tnode *parse_postfix(parser *p, tnode *n) {
    for (;;) {
        if (is_op(p, ".") || is_op(p, "[")) {
            n = parse_subscript(p, n);
        } else if (is_op(p, "(")) {
            tnode *call = node(p, E_CALL, peek(p));
            call->a = n;
            parse_call_args(p, call);
            n = call;
        } else {
            return n;
        }
    }
}

static const char *dotted_name(parser *p) {
    const char *name = expect_ident(p);
    while (is_op(p, ".")) { /* filters/tests with dotted names do not exist here, but parse them */
        next(p);
        const char *part = expect_ident(p);
        size_t a = strlen(name), b = strlen(part);
        char *joined = tmpl_alloc(p->st, a + b + 2);
        memcpy(joined, name, a);
        joined[a] = '.';
        memcpy(joined + a + 1, part, b);
        name = joined;
    }
    return name;
}

/* `| name(args)` ...; operand NULL for block filters. */
static tnode *parse_filter(parser *p, tnode *operand, bool first_without_bar) {
    while (first_without_bar || is_op(p, "|")) {
        const ttoken *t = peek(p);
        if (!first_without_bar) next(p);
        first_without_bar = false;
        tnode *f = node(p, E_FILTER, t);
        f->a = operand;
        f->name = dotted_name(p);
        if (!tmpl_find_filter(f->name)) tmpl_fail_at(p->st, t->line, t->col, "no filter named '%s'", f->name);
        if (is_op(p, "(")) parse_call_args(p, f);
        operand = f;
    }
    return operand;
}

static tnode *parse_test(parser *p, tnode *operand) {
    const ttoken *t = next(p); /* 'is' */
    tnode *n = node(p, E_TEST, t);
    n->a = operand;
    if (is_name(p, "not")) { next(p); n->op = 1; }
    n->name = dotted_name(p);
    if (!tmpl_find_test(n->name)) tmpl_fail_at(p->st, t->line, t->col, "no test named '%s'", n->name);
    const ttoken *c = peek(p);
    if (is_op(p, "(")) {
        parse_call_args(p, n);
    } else if ((c->kind == TK_NAME || c->kind == TK_STRING || c->kind == TK_INT || c->kind == TK_FLOAT ||
                is_op(p, "[") || is_op(p, "{")) &&
               !is_name(p, "else") && !is_name(p, "or") && !is_name(p, "and")) {
        if (is_name(p, "is")) tmpl_fail_at(p->st, c->line, c->col, "tests cannot be chained with 'is'");
        push(p, &n->list, parse_postfix(p, parse_primary(p)));
    }
    return n;
}

static tnode *parse_unary(parser *p, bool with_filter) {
    enter(p);
    const ttoken *t = peek(p);
    tnode *n;
    if (is_op(p, "-") || is_op(p, "+")) {
        next(p);
        n = node(p, tok_is(t, TK_OP, "-") ? E_NEG : E_POS, t);
        n->a = parse_unary(p, false);
    } else {
        n = parse_primary(p);
    }
    n = parse_postfix(p, n);
    if (with_filter) {
        for (;;) {
            if (is_op(p, "|")) n = parse_filter(p, n, false);
            else if (is_name(p, "is")) n = parse_test(p, n);
            else if (is_op(p, "(")) n = parse_postfix(p, n);
            else break;
        }
    }
    leave(p);
    return n;
}

static tnode *binary(parser *p, const ttoken *at, int op, tnode *a, tnode *b) {
    tnode *n = node(p, E_BINARY, at);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static tnode *parse_pow(parser *p) {
    tnode *n = parse_unary(p, true);
    while (is_op(p, "**")) {
        const ttoken *t = next(p);
        n = binary(p, t, OP_POW, n, parse_unary(p, true));
    }
    return n;
}

static tnode *parse_math2(parser *p) {
    tnode *n = parse_pow(p);
    for (;;) {
        int op = is_op(p, "*") ? OP_MUL : is_op(p, "/") ? OP_DIV : is_op(p, "//") ? OP_FLOORDIV
               : is_op(p, "%") ? OP_MOD : -1;
        if (op < 0) return n;
        const ttoken *t = next(p);
        n = binary(p, t, op, n, parse_pow(p));
    }
}

static tnode *parse_concat(parser *p) {
    tnode *n = parse_math2(p);
    while (is_op(p, "~")) {
        const ttoken *t = next(p);
        n = binary(p, t, OP_CONCAT, n, parse_math2(p));
    }
    return n;
}

static tnode *parse_math1(parser *p) {
    tnode *n = parse_concat(p);
    for (;;) {
        int op = is_op(p, "+") ? OP_ADD : is_op(p, "-") ? OP_SUB : -1;
        if (op < 0) return n;
        const ttoken *t = next(p);
        n = binary(p, t, op, n, parse_concat(p));
    }
}

static tnode *parse_compare(parser *p) {
    const ttoken *start = peek(p);
    tnode *first = parse_math1(p);
    tnode *cmp = NULL;
    int ops[TMPL_MAX_NESTING];
    for (;;) {
        int op;
        if (is_op(p, "==")) op = OP_EQ;
        else if (is_op(p, "!=")) op = OP_NE;
        else if (is_op(p, "<")) op = OP_LT;
        else if (is_op(p, "<=")) op = OP_LE;
        else if (is_op(p, ">")) op = OP_GT;
        else if (is_op(p, ">=")) op = OP_GE;
        else if (is_name(p, "in")) op = OP_IN;
        else if (is_name(p, "not") && tok_is(peek2(p), TK_NAME, "in")) { next(p); op = OP_NOTIN; }
        else break;
        next(p);
        if (!cmp) {
            cmp = node(p, E_COMPARE, start);
            push(p, &cmp->list, first);
        }
        if (cmp->list.n > TMPL_MAX_NESTING) fail_tok(p, peek(p), "fewer comparisons");
        ops[cmp->list.n - 1] = op;
        push(p, &cmp->list, parse_math1(p));
    }
    if (!cmp) return first;
    cmp->ops = tmpl_alloc(p->st, (cmp->list.n - 1) * sizeof(int));
    memcpy(cmp->ops, ops, (cmp->list.n - 1) * sizeof(int));
    return cmp;
}

static tnode *parse_not(parser *p) {
    if (is_name(p, "not")) {
        enter(p);
        tnode *n = node(p, E_NOT, next(p));
        n->a = parse_not(p);
        leave(p);
        return n;
    }
    return parse_compare(p);
}

static tnode *parse_and(parser *p) {
    tnode *n = parse_not(p);
    while (is_name(p, "and")) {
        tnode *a = node(p, E_AND, next(p));
        a->a = n;
        a->b = parse_not(p);
        n = a;
    }
    return n;
}

static tnode *parse_or(parser *p) {
    tnode *n = parse_and(p);
    while (is_name(p, "or")) {
        tnode *o = node(p, E_OR, next(p));
        o->a = n;
        o->b = parse_and(p);
        n = o;
    }
    return n;
}

static tnode *parse_expression(parser *p, bool with_condexpr) {
    enter(p);
    tnode *n = parse_or(p);
    while (with_condexpr && is_name(p, "if")) {
        tnode *c = node(p, E_COND, next(p));
        c->a = n;
        c->b = parse_or(p);
        if (is_name(p, "else")) {
            next(p);
            c->c = parse_expression(p, true);
        }
        n = c;
    }
    leave(p);
    return n;
}

/* ---- statements ------------------------------------------------------------- */
static tnodes subparse(parser *p, const char *const *ends, const char **which);

/* Target names of for/set: `a`, `a, b`, `(a, b)`. */
static void parse_targets(parser *p, tnode *n) {
    bool paren = is_op(p, "(");
    if (paren) next(p);
    do {
        if (n->n_names && !is_op(p, ",")) break;
        if (n->n_names) next(p);
        if (peek(p)->kind != TK_NAME || is_name(p, "in")) break;
        push_name(p, n, expect_ident(p));
    } while (is_op(p, ","));
    if (paren) expect_op(p, ")");
    if (!n->n_names) fail_tok(p, peek(p), "a target name");
}

/* After the tag name: consumes `{% end... %}` via subparse's *which. */
static void end_tag(parser *p) {
    next(p); /* the end name */
    expect_block_end(p);
}

static tnode *parse_if(parser *p, const ttoken *t) {
    tnode *n = node(p, N_IF, t);
    n->a = parse_tuple(p, false, NULL);
    expect_block_end(p);
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    const char *which;
    n->list = subparse(p, ends, &which);
    if (!strcmp(which, "elif")) {
        const ttoken *e = next(p);
        tnode *elif = parse_if(p, e);
        push(p, &n->list2, elif);
        return n;
    }
    if (!strcmp(which, "else")) {
        next(p);
        expect_block_end(p);
        static const char *const endif[] = {"endif", NULL};
        n->list2 = subparse(p, endif, &which);
    }
    end_tag(p);
    return n;
}

static tnode *parse_for(parser *p, const ttoken *t) {
    tnode *n = node(p, N_FOR, t);
    parse_targets(p, n);
    if (!is_name(p, "in")) fail_tok(p, peek(p), "'in'");
    next(p);
    n->a = parse_tuple(p, false, "recursive");
    if (is_name(p, "if")) {
        next(p);
        n->b = parse_expression(p, true);
    }
    if (is_name(p, "recursive"))
        tmpl_fail_at(p->st, peek(p)->line, peek(p)->col, "recursive for loops are not supported");
    expect_block_end(p);
    static const char *const ends[] = {"endfor", "else", NULL};
    const char *which;
    p->loop_depth++;
    n->list = subparse(p, ends, &which);
    p->loop_depth--;
    if (!strcmp(which, "else")) {
        next(p);
        expect_block_end(p);
        static const char *const endfor[] = {"endfor", NULL};
        n->list2 = subparse(p, endfor, &which);
    }
    end_tag(p);
    return n;
}

static tnode *parse_set(parser *p, const ttoken *t) {
    if (peek(p)->kind == TK_NAME && tok_is(peek2(p), TK_OP, ".")) { /* ns.attr = value */
        tnode *n = node(p, N_SET_ATTR, t);
        tnode *obj = node(p, E_NAME, peek(p));
        obj->name = expect_ident(p);
        next(p);
        n->a = obj;
        n->name = expect_ident(p);
        expect_op(p, "=");
        n->b = parse_tuple(p, true, NULL);
        expect_block_end(p);
        return n;
    }
    tnode *n = node(p, N_SET, t);
    parse_targets(p, n);
    if (is_op(p, "=")) {
        next(p);
        n->a = parse_tuple(p, true, NULL);
        expect_block_end(p);
        return n;
    }
    if (n->n_names != 1) fail_tok(p, peek(p), "'='");
    n->kind = N_SET_BLOCK;
    if (is_op(p, "|")) n->a = parse_filter(p, NULL, false);
    expect_block_end(p);
    static const char *const ends[] = {"endset", NULL};
    const char *which;
    n->list = subparse(p, ends, &which);
    end_tag(p);
    return n;
}

/* `(a, b=default, ...)` of macros and call blocks */
static void parse_params(parser *p, tnode *n) {
    expect_op(p, "(");
    while (!is_op(p, ")")) {
        if (n->n_names) expect_op(p, ",");
        if (is_op(p, ")")) break;
        push_name(p, n, expect_ident(p));
        tnode *dflt = NULL;
        if (is_op(p, "=")) {
            next(p);
            dflt = parse_expression(p, true);
        } else if (n->list2.n && n->list2.v[n->list2.n - 1]) {
            tmpl_fail_at(p->st, peek(p)->line, peek(p)->col, "a parameter without default follows one with a default");
        }
        push(p, &n->list2, dflt);
    }
    next(p);
}

static tnode *parse_macro_body(parser *p, tnode *n, const char *end) {
    const char *const ends[] = {end, NULL};
    const char *which;
    int saved = p->loop_depth;
    p->loop_depth = 0;
    n->list = subparse(p, ends, &which);
    p->loop_depth = saved;
    end_tag(p);
    return n;
}

static tnode *parse_statement(parser *p) {
    const ttoken *t = peek(p);
    if (t->kind != TK_NAME) fail_tok(p, t, "a statement name");
    next(p);
    if (tok_is(t, TK_NAME, "if")) return parse_if(p, t);
    if (tok_is(t, TK_NAME, "for")) return parse_for(p, t);
    if (tok_is(t, TK_NAME, "set")) return parse_set(p, t);
    if (tok_is(t, TK_NAME, "macro")) {
        tnode *n = node(p, N_MACRO, t);
        n->name = expect_ident(p);
        parse_params(p, n);
        expect_block_end(p);
        return parse_macro_body(p, n, "endmacro");
    }
    if (tok_is(t, TK_NAME, "call")) {
        tnode *n = node(p, N_CALL_BLOCK, t);
        if (is_op(p, "(")) parse_params(p, n);
        n->a = parse_expression(p, true);
        if (n->a->kind != E_CALL) tmpl_fail_at(p->st, t->line, t->col, "{%% call %%} needs a macro call");
        expect_block_end(p);
        return parse_macro_body(p, n, "endcall");
    }
    if (tok_is(t, TK_NAME, "filter")) {
        tnode *n = node(p, N_FILTER_BLOCK, t);
        n->a = parse_filter(p, NULL, true);
        expect_block_end(p);
        static const char *const ends[] = {"endfilter", NULL};
        const char *which;
        n->list = subparse(p, ends, &which);
        end_tag(p);
        return n;
    }
    if (tok_is(t, TK_NAME, "generation")) { /* Hugging Face's marker block: renders its body */
        tnode *n = node(p, N_IF, t);
        n->a = node(p, E_LITERAL, t);
        n->a->lit = tv_bool(true);
        expect_block_end(p);
        static const char *const ends[] = {"endgeneration", NULL};
        const char *which;
        n->list = subparse(p, ends, &which);
        end_tag(p);
        return n;
    }
    if (tok_is(t, TK_NAME, "break") || tok_is(t, TK_NAME, "continue")) {
        if (!p->loop_depth)
            tmpl_fail_at(p->st, t->line, t->col, "'%.*s' outside of a for loop", (int)t->len, t->s);
        tnode *n = node(p, tok_is(t, TK_NAME, "break") ? N_BREAK : N_CONTINUE, t);
        expect_block_end(p);
        return n;
    }
    tmpl_fail_at(p->st, t->line, t->col, "unknown or unexpected tag '%.*s'", (int)(t->len > 40 ? 40 : t->len), t->s);
}

/* Statements until `{% END %}` for one of ends (left unconsumed at the name;
 * *which = it) or, with ends NULL, the end of the template. */
static tnodes subparse(parser *p, const char *const *ends, const char **which) {
    tnodes body = {0};
    enter(p);
    const ttoken *open = p->i > 0 ? &p->t[p->i - 1] : peek(p);
    for (;;) {
        const ttoken *t = peek(p);
        if (t->kind == TK_EOF) {
            if (!ends) break;
            const char *end = ends[0];
            for (size_t k = 0; ends[k]; k++)
                if (!strncmp(ends[k], "end", 3)) end = ends[k];
            tmpl_fail_at(p->st, open->line, open->col, "the block opened here has no {%% %s %%}", end);
        }
        if (t->kind == TK_TEXT) {
            next(p);
            tnode *n = node(p, N_TEXT, t);
            n->lit = tv_str(p->st, t->s, t->len);
            push(p, &body, n);
        } else if (t->kind == TK_VAR_BEGIN) {
            next(p);
            tnode *n = node(p, N_OUTPUT, t);
            n->a = parse_tuple(p, true, NULL);
            if (peek(p)->kind != TK_VAR_END) fail_tok(p, peek(p), "end of print statement '}}'");
            next(p);
            push(p, &body, n);
        } else if (t->kind == TK_BLOCK_BEGIN) {
            next(p);
            const ttoken *name = peek(p);
            bool is_end = false;
            for (size_t k = 0; ends && ends[k]; k++)
                if (tok_is(name, TK_NAME, ends[k])) { *which = ends[k]; is_end = true; }
            if (is_end) break;
            push(p, &body, parse_statement(p));
        } else {
            fail_tok(p, t, "text or a tag");
        }
    }
    leave(p);
    return body;
}

tnodes tmpl_parse(tmpl_state *st, const ttoken *toks, size_t n) {
    parser p = {.st = st, .t = toks, .n = n};
    return subparse(&p, NULL, NULL);
}
