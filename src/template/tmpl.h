/* The template engine's internal interface: brisk's own Jinja2 (the subset real
 * chat templates use, with Python's semantics where output depends on them).
 *
 * One render = one tmpl_state. Everything a render allocates (tokens, AST,
 * values, frames, buffers) comes from the state's arena and is freed at once
 * at the end, so values are plain structs passed by value, never refcounted.
 * Errors longjmp back to the render entry (tmpl_fail), which frees the arena.
 *
 * Pipeline: lexer.c (source -> tokens, whitespace control), parser.c (tokens
 * -> tnode tree), eval.c (statements, expressions), value.c (Python-like
 * values), filters.c, tests.c, methods.c (str/dict/list methods, globals),
 * json.c (tojson, JSON input), render.c (public API). */
#ifndef BRISK_TEMPLATE_TMPL_H
#define BRISK_TEMPLATE_TMPL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits against hostile templates: each gives a clear error when reached. */
#define TMPL_MAX_NESTING 200             /* parser: nested expressions/blocks */
#define TMPL_MAX_CALL_DEPTH 64           /* macro calls inside macro calls */
#define TMPL_MAX_STEPS 20000000ull       /* evaluated nodes per render */
#define TMPL_MAX_MEMORY (256ull << 20)   /* arena bytes per render */
#define TMPL_MAX_STRING (64ull << 20)    /* bytes of one string / the output */
#define TMPL_MAX_RANGE 100000            /* range() length, as jinja2's sandbox */

/* ---- arena --------------------------------------------------------------- */
typedef struct tmpl_chunk tmpl_chunk;
typedef struct tmpl_state tmpl_state;

void *tmpl_alloc(tmpl_state *st, size_t n); /* zeroed, 16-byte aligned; fails over the limit */
char *tmpl_strndup(tmpl_state *st, const char *s, size_t n);
void tmpl_arena_free(tmpl_state *st);

typedef struct tbuf { tmpl_state *st; char *p; size_t n, cap; } tbuf;

/* ---- values -------------------------------------------------------------- */
typedef enum tval_type {
    TV_UNDEFINED, TV_NONE, TV_BOOL, TV_INT, TV_FLOAT, TV_STRING, TV_LIST, TV_DICT,
    TV_NAMESPACE, TV_MACRO, TV_FUNC, TV_LOOP,
} tval_type;

typedef struct tstr { size_t len; char s[]; } tstr; /* UTF-8, NUL-terminated */
typedef struct tlist tlist;
typedef struct tdict tdict;
typedef struct tfunc tfunc;
typedef struct tmacro tmacro;
typedef struct tloop tloop;

typedef struct tval {
    tval_type t;
    union {
        bool b;
        int64_t i;
        double f;
        const tstr *s;
        tlist *l;
        tdict *d;       /* TV_DICT, TV_NAMESPACE */
        const tfunc *fn;
        const tmacro *m;
        tloop *loop;
        const char *hint; /* TV_UNDEFINED: what was undefined, for errors (may be NULL) */
    } u;
} tval;

/* gen: a one-shot iterator (what jinja2's select/map/... return): always true,
 * no len(), iterating it consumes it (consumed = items already taken). */
struct tlist { size_t n; bool tuple, gen; size_t consumed; tval items[]; };
struct tdict { size_t n, cap; tval *keys, *vals; }; /* insertion order, linear lookup */

/* Call arguments: positional then keyword. */
typedef struct targs {
    const tval *pos; size_t npos;
    const char *const *kwnames; const tval *kw; size_t nkw;
} targs;

typedef tval (*tbuiltin)(tmpl_state *st, tval self, const targs *a);
struct tfunc { const char *name; tbuiltin fn; tval self; };

/* constructors */
tval tv_undef(const char *hint);
tval tv_none(void);
tval tv_bool(bool b);
tval tv_int(int64_t i);
tval tv_float(double f);
tval tv_str(tmpl_state *st, const char *s, size_t n);
tval tv_cstr(tmpl_state *st, const char *s);
tval tv_list(tmpl_state *st, size_t n, bool tuple); /* items zeroed (undefined) */
tval tv_generator(tmpl_state *st, tval list);       /* a one-shot iterator over list's items */
bool tv_is_gen(tval v);
tval tv_dict(tmpl_state *st);
tval tv_func(tmpl_state *st, const char *name, tbuiltin fn, tval self);

/* Python semantics */
bool tv_truthy(tval v);
bool tv_equal(tval a, tval b);
int tv_compare(tmpl_state *st, tval a, tval b, const char *op); /* <0, 0, >0; fails when unorderable */
const char *tv_type_name(tval v);                                /* Python's: 'str', 'dict', ... */
bool tv_is_number(tval v);                                       /* bool, int, float */
double tv_as_double(tval v);
tval tv_to_str(tmpl_state *st, tval v);            /* str(v); undefined -> "" */
void tv_repr(tmpl_state *st, tval v, tbuf *b);      /* repr(v) */
tval tv_iterate(tmpl_state *st, tval v);           /* list of the items iter(v) yields */
int64_t tv_length(tmpl_state *st, tval v);         /* len(v) */
void tv_require_defined(tmpl_state *st, tval v);   /* fail with the undefined's hint */

/* dicts and namespaces */
tval *tdict_find(const tdict *d, tval key);
tval *tdict_find_str(const tdict *d, const char *key);
void tdict_set(tmpl_state *st, tdict *d, tval key, tval value);

/* strings */
size_t utf8_count(const char *s, size_t n);
size_t utf8_offset(const char *s, size_t n, size_t cp); /* byte offset of code point cp */
bool tmpl_is_space_at(const char *s, size_t n, size_t i, size_t *len); /* Python str.isspace of the char at i */
void tmpl_format_float(double x, char out[40]);   /* Python repr(float) */

/* ---- growable byte buffer (arena) ---------------------------------------- */
void tbuf_init(tbuf *b, tmpl_state *st);
void tbuf_put(tbuf *b, const char *s, size_t n);
void tbuf_puts(tbuf *b, const char *s);
void tbuf_putc(tbuf *b, char c);
void tbuf_printf(tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
tval tbuf_value(tbuf *b); /* the contents as a string value */

/* ---- tokens and AST ------------------------------------------------------ */
typedef enum ttok_kind {
    TK_EOF, TK_TEXT, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
    TK_NAME, TK_STRING, TK_INT, TK_FLOAT, TK_OP,
} ttok_kind;

typedef struct ttoken {
    ttok_kind kind;
    int line, col;
    const char *s; size_t len; /* TEXT, NAME, STRING (decoded), OP */
    int64_t i;                 /* INT */
    double f;                  /* FLOAT */
} ttoken;

/* Tokenize src with Hugging Face's settings (trim_blocks, lstrip_blocks, a
 * final newline dropped). *n_out excludes the closing TK_EOF. */
ttoken *tmpl_lex(tmpl_state *st, const char *src, size_t len, size_t *n_out);

typedef enum tnode_kind {
    /* statements */
    N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SET_ATTR, N_SET_BLOCK, N_MACRO, N_CALL_BLOCK,
    N_FILTER_BLOCK, N_BREAK, N_CONTINUE,
    /* expressions */
    E_LITERAL, E_NAME, E_LIST, E_TUPLE, E_DICT, E_ATTR, E_ITEM, E_SLICE, E_CALL, E_FILTER,
    E_TEST, E_NOT, E_NEG, E_POS, E_BINARY, E_AND, E_OR, E_COND, E_COMPARE,
} tnode_kind;

typedef enum tbinop {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN,
} tbinop;

typedef struct tnode tnode;
typedef struct tnodes { tnode **v; size_t n; } tnodes;

struct tnode {
    tnode_kind kind;
    int line, col;
    int op;             /* tbinop; E_TEST: 1 when negated */
    const char *name;   /* E_NAME, E_ATTR, E_FILTER, E_TEST, N_MACRO, N_SET_ATTR (the attribute) */
    tval lit;           /* E_LITERAL, N_TEXT */
    tnode *a, *b, *c, *d;
    tnodes list;        /* bodies, items, positional args, compare operands */
    tnodes list2;       /* else bodies, dict values, keyword values, macro defaults */
    const char **names; /* targets, keyword names, macro params */
    size_t n_names;
    int *ops;           /* E_COMPARE: list.n - 1 operators */
};
/* Statement fields:
 *  N_OUTPUT a=expr | N_IF a=cond list=body list2=else | N_FOR names=targets a=iter b=filter
 *  list=body list2=else | N_SET names=targets a=value | N_SET_ATTR a=object name=attr b=value
 *  N_SET_BLOCK names[0] list=body a=filter chain (operand NULL) | N_MACRO name names=params
 *  list2=defaults (NULL entries: none) list=body | N_CALL_BLOCK a=call names=caller params
 *  list2=their defaults list=body | N_FILTER_BLOCK a=filter chain list=body
 * Expressions: E_FILTER a=operand (NULL: the piped value) name list=args names/list2=kwargs
 *  E_CALL a=callee list=args names/list2=kwargs | E_SLICE a=object b/c/d=start/stop/step
 *  E_COND a=then b=cond c=else (NULL: undefined) | E_COMPARE list=operands ops */

/* Parse tokens into the root statement list. */
tnodes tmpl_parse(tmpl_state *st, const ttoken *toks, size_t n);

/* ---- evaluation ---------------------------------------------------------- */
typedef struct tframe tframe;
struct tframe { tframe *parent; tdict vars; };

struct tmacro {
    const tnode *def; /* N_MACRO, or N_CALL_BLOCK for `caller` */
    tframe *closure;
    tval caller;      /* the caller macro of a {% call %}, or undefined */
};

struct tloop { const tlist *items; size_t index; };

struct tmpl_state {
    jmp_buf on_error;
    char err[480];
    int line, col;          /* position of the node being evaluated, for errors */
    tmpl_chunk *chunks;
    size_t mem_used;
    uint64_t steps;
    int call_depth;
    int nesting;            /* parser depth */
    int repr_depth;         /* tv_repr recursion */
    int loop_signal;        /* 0, 1 = break, 2 = continue */
    tbuf *out;              /* where output goes (macros capture into their own) */
    tframe *globals;
    void *json_root;        /* jansson input being converted (released on error) */
};

/* Record an error at the current position and unwind to the render entry. */
_Noreturn void tmpl_fail(tmpl_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void tmpl_fail_at(tmpl_state *st, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void tmpl_exec(tmpl_state *st, tnodes body, tframe *frame);
tval tmpl_eval(tmpl_state *st, const tnode *e, tframe *frame);
tval tmpl_call(tmpl_state *st, tval callee, const targs *a);
tval tmpl_add(tmpl_state *st, tval a, tval b); /* Python's a + b */
tval tmpl_getattr(tmpl_state *st, tval obj, const char *name);
tval tmpl_getitem(tmpl_state *st, tval obj, tval key);
tframe *tmpl_frame_new(tmpl_state *st, tframe *parent);
void tmpl_frame_set(tmpl_state *st, tframe *f, const char *name, tval v);

/* Filters and tests by name (NULL if unknown). input is the piped value. */
typedef tval (*tfilter_fn)(tmpl_state *st, tval input, const targs *a);
typedef bool (*ttest_fn)(tmpl_state *st, tval input, const targs *a);
tfilter_fn tmpl_find_filter(const char *name);
ttest_fn tmpl_find_test(const char *name);

/* Methods of str/dict/list values (undefined when there is none) and globals. */
tval tmpl_method(tmpl_state *st, tval obj, const char *name);
void tmpl_add_globals(tmpl_state *st, tframe *globals);

/* String operations shared by methods and filters (methods.c). */
tval tmpl_strip(tmpl_state *st, tval v, const tstr *chars, int which); /* 1 left, 2 right, 3 both */
tval tmpl_case(tmpl_state *st, tval v, int mode); /* 0 upper 1 lower 2 title 3 capitalize 4 swapcase */
tval tmpl_replace(tmpl_state *st, tval self, const tstr *old, const tstr *new_, int64_t count);
tval tmpl_splitlines(tmpl_state *st, tval self, bool keepends);

/* Argument helpers: the i-th positional or the keyword `name`, else dflt. */
tval targ(const targs *a, size_t i, const char *name, tval dflt);
void targ_check(tmpl_state *st, const targs *a, const char *fn, size_t max_pos,
                const char *const *kw_allowed);

/* JSON */
void tmpl_tojson(tmpl_state *st, tval v, tbuf *b, bool ensure_ascii, int indent, const char *item_sep,
                 const char *key_sep, bool sort_keys);
/* vars_json: a JSON object; its members become variables of frame. */
void tmpl_json_vars(tmpl_state *st, const char *vars_json, tframe *frame);
void json_decref_ptr(void *json); /* releases st->json_root after an error */

#endif
