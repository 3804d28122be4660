/* The template engine's pieces: lexer whitespace rules, float formatting,
 * values, parse errors with positions, evaluation, limits, and many templates
 * (also broken ones) through the public API, so that ASan/UBSan see every path.
 * Byte-exactness against jinja2 itself is tests/py/test_template_engine.py. */
#include <stdlib.h>
#include <string.h>

#include "brisk.h"
#include "template/tmpl.h"
#include "test.h"

/* Render tmpl with vars; returns the malloc'd output or NULL with err filled. */
static char *render(const char *tmpl, const char *vars, brisk_error *err) {
    char *out = NULL;
    if (brisk_template_render_json(tmpl, vars, &out, err) != BRISK_OK) return NULL;
    return out;
}

static void check_render(const char *tmpl, const char *vars, const char *expected, int line) {
    brisk_error err = {0};
    char *out = render(tmpl, vars, &err);
    if (!out) test_fail_at(__FILE__, line, "render failed: %s\n  template: %s", err.msg, tmpl);
    else if (strcmp(out, expected))
        test_fail_at(__FILE__, line, "got [%s], want [%s]\n  template: %s", out, expected, tmpl);
    free(out);
}
#define CHECK_RENDER(t, v, e) check_render(t, v, e, __LINE__)

static void check_error(const char *tmpl, const char *vars, const char *needle, int line) {
    brisk_error err = {0};
    char *out = render(tmpl, vars, &err);
    if (out) test_fail_at(__FILE__, line, "accepted: [%s]\n  template: %s", out, tmpl);
    else if (!strstr(err.msg, needle))
        test_fail_at(__FILE__, line, "message [%s] lacks [%s]", err.msg, needle);
    free(out);
}
#define CHECK_ERROR(t, v, n) check_error(t, v, n, __LINE__)

TEST(template_float_repr_as_python) {
    static const struct { double x; const char *repr; } cases[] = {
        {0.1, "0.1"}, {1.0, "1.0"}, {-2.5, "-2.5"}, {1e16, "1e+16"}, {1.5e-5, "1.5e-05"}, {1e-4, "0.0001"},
        {123456789012345678.0, "1.2345678901234568e+17"}, {1e15, "1000000000000000.0"}, {-0.0, "-0.0"},
        {0.30000000000000004, "0.30000000000000004"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[40];
        tmpl_format_float(cases[i].x, out);
        CHECK_MSG(!strcmp(out, cases[i].repr), "%.17g -> %s, want %s", cases[i].x, out, cases[i].repr);
    }
}

/* Lex inside a render state; returns the TEXT tokens joined with '|'. */
static void lex_texts(const char *src, char *out, size_t cap, char *err) {
    tmpl_state *st = calloc(1, sizeof *st);
    out[0] = 0;
    err[0] = 0;
    if (setjmp(st->on_error)) {
        strcpy(err, st->err);
    } else {
        size_t n;
        ttoken *t = tmpl_lex(st, src, strlen(src), &n);
        for (size_t i = 0; i < n; i++) {
            if (t[i].kind != TK_TEXT) continue;
            if (out[0]) strncat(out, "|", cap - strlen(out) - 1);
            strncat(out, t[i].s, t[i].len < cap - strlen(out) - 1 ? t[i].len : cap - strlen(out) - 1);
        }
    }
    tmpl_arena_free(st);
    free(st);
}

TEST(template_lexer_whitespace_rules) {
    static const struct { const char *src, *texts; } cases[] = {
        {"a\n  {% if x %}\nb\n  {% endif %}\nc", "a\n|b\n|c"},   /* lstrip_blocks + trim_blocks */
        {"a  {%- if x %}b", "a|b"},                               /* - strips before */
        {"a {% if x -%}  \n b", "a |b"},                          /* - strips after, newline included */
        {"  {%+ if x %}b", "  |b"},                               /* + keeps the indentation */
        {"x {{ y }}\n", "x "},                                    /* one final newline dropped */
        {"x\n\n", "x\n"},
        {"{# c #}\nafter", "after"},                              /* comments trim too */
        {"  {# c #}  x", "  x"},                                  /* not alone on its line: kept */
        {"a\r\nb\rc", "a\nb\nc"},                                 /* newlines normalized */
        {"{% raw %}{{ x }}{% endraw %}", "{{ x }}"},
        {"{{ '}}' }}tail", "tail"},                               /* end markers inside strings */
        {"{{ {'a': {'b': 1}} }}z", "z"},                          /* }} inside braces is not an end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[256], err[512];
        lex_texts(cases[i].src, out, sizeof out, err);
        CHECK_MSG(!err[0], "case %zu: %s", i, err);
        CHECK_MSG(!strcmp(out, cases[i].texts), "case %zu: got [%s] want [%s]", i, out, cases[i].texts);
    }
}

TEST(template_lexer_errors_name_the_place) {
    static const struct { const char *src, *needle; } cases[] = {
        {"ok\n  {{ 'open", "line 2, column 6: unterminated string"},
        {"{{ x", "line 1, column 1: unclosed {{"},
        {"a\nb {# x", "line 2, column 3: unclosed comment"},
        {"{{ x ] }}", "unexpected ']'"},
        {"{{ (x] }}", "expected ')'"},
        {"{{ x @ y }}", "unexpected character '@'"},
        {"{{ 99999999999999999999 }}", "too large"},
        {"{{ '\\u12' }}", "bad \\u escape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[256], err[512];
        lex_texts(cases[i].src, out, sizeof out, err);
        CHECK_MSG(strstr(err, cases[i].needle), "case %zu: [%s] lacks [%s]", i, err, cases[i].needle);
    }
}

TEST(template_values_python_semantics) {
    CHECK_RENDER("{{ [1, 'a', none, true, 1.5, (2,), {'k': 'v'}] }}", NULL, "[1, 'a', None, True, 1.5, (2,), {'k': 'v'}]");
    CHECK_RENDER("{{ \"it's\" }} {{ [\"it's\", 'q\"'] }}", NULL, "it's [\"it's\", 'q\"']");
    CHECK_RENDER("{{ 1 == 1.0 }} {{ true == 1 }} {{ [1, 2] == [1, 2] }} {{ (1,) == [1] }}", NULL, "True True True False");
    CHECK_RENDER("{{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ -7.5 % 2 }} {{ 1 / 4 }}", NULL, "-4 2 -2 0.5 0.25");
    CHECK_RENDER("{{ 'héllo'|length }} {{ 'héllo'[1] }} {{ 'héllo'[::-1] }}", NULL, "5 é olléh");
    CHECK_RENDER("{{ x }}|{{ x is defined }}|{{ x|default('d') }}", NULL, "|False|d");
    CHECK_RENDER("{{ d.k }} {{ d['k'] }} {{ d.items()|list }} {{ d.missing is defined }}", "{\"d\": {\"k\": [1, 2.5]}}",
                 "[1, 2.5] [1, 2.5] [('k', [1, 2.5])] False");
}

TEST(template_statements) {
    CHECK_RENDER("{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
                 "{\"xs\": [\"a\", \"b\", \"c\"]}", "1a,2b,3c");
    CHECK_RENDER("{% for x in [] %}a{% else %}empty{% endfor %}", NULL, "empty");
    CHECK_RENDER("{% for i in range(9) %}{% if i is odd %}{% continue %}{% endif %}{% if i > 6 %}{% break %}{% endif %}"
                 "{{ i }}{% endfor %}", NULL, "0246");
    CHECK_RENDER("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", NULL, "6");
    CHECK_RENDER("{% set x = 1 %}{% for i in [2] %}{% set x = i %}{% endfor %}{{ x }}", NULL, "1");
    CHECK_RENDER("{% macro m(a, b='B') %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}", NULL, "1B23");
    CHECK_RENDER("{% macro w() %}[{{ caller() }}]{% endmacro %}{% call w() %}in{% endcall %}", NULL, "[in]");
    CHECK_RENDER("{% set b %} x {% endset %}[{{ b }}]{% filter upper %}u{% endfilter %}", NULL, "[ x ]U");
    CHECK_RENDER("{% if a %}A{% elif b %}B{% else %}C{% endif %}", "{\"a\": false, \"b\": 1}", "B");
}

TEST(template_filters_and_methods) {
    CHECK_RENDER("{{ '  a b  '|trim }}|{{ 'x,y'.split(',') }}|{{ 'ab'.upper() }}|{{ 'Hi'.startswith('H') }}", NULL,
                 "a b|['x', 'y']|AB|True");
    CHECK_RENDER("{{ m|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }}",
                 "{\"m\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"bot\", \"content\": \"b\"},"
                 " {\"role\": \"user\", \"content\": \"c\"}]}", "a,c");
    CHECK_RENDER("{{ v|tojson }}", "{\"v\": {\"a\": [1, 2.0, \"é\\n\"], \"b\": null, \"c\": true}}",
                 "{\"a\": [1, 2.0, \"é\\n\"], \"b\": null, \"c\": true}");
    CHECK_RENDER("{{ v|tojson(indent=2) }}", "{\"v\": {\"a\": [1]}}", "{\n  \"a\": [\n    1\n  ]\n}");
    CHECK_RENDER("{{ 'é'|tojson(ensure_ascii=true) }}", NULL, "\"\\u00e9\"");
    CHECK_RENDER("{{ 'a\nb'|indent(2, first=true) }}", NULL, "  a\n  b");
    CHECK_RENDER("{{ [3, 1, 2]|sort|list }} {{ [1, 2]|reverse|list }} {{ [1, 1, 2]|unique|list }}", NULL, "[1, 2, 3] [2, 1] [1, 2]");
    CHECK_RENDER("{% set g = [1, 2]|select %}{{ g|list }}{{ g|list }}", NULL, "[1, 2][]"); /* one-shot, as jinja2 */
    CHECK_RENDER("{{ {'b': 1, 'a': 2}|dictsort }} {{ d.get('x', 5) }}", "{\"d\": {}}", "[('a', 2), ('b', 1)] 5");
}

TEST(template_runtime_errors_are_clear) {
    CHECK_ERROR("a\n{{ x.y }}", NULL, "line 2, column 5: 'x' is undefined");
    CHECK_ERROR("{{ raise_exception('bad roles') }}", NULL, "the template raised an error: bad roles");
    CHECK_ERROR("{{ 1 + 'a' }}", NULL, "unsupported operand type(s) for +: 'int' and 'str'");
    CHECK_ERROR("{{ [].append(1) }}", NULL, "unsafe");
    CHECK_ERROR("{{ 1 / 0 }}", NULL, "division by zero");
    CHECK_ERROR("{{ 2 ** 63 }}", NULL, "integer overflow");
    CHECK_ERROR("{{ x|tojson }}", NULL, "not JSON serializable");
    CHECK_ERROR("{{ n }}", "{\"n\": ", "variables: bad JSON");
    CHECK_ERROR("{{ n }}", "[1]", "must be an object");
    CHECK_ERROR("{% for %}", NULL, "line 1, column 8: expected a target name");
    CHECK_ERROR("{% if x %}\n{% endfor %}", NULL, "line 2");
    CHECK_ERROR("{{ x|nofilter }}", NULL, "no filter named 'nofilter'");
}

TEST(template_limits_stop_hostile_templates) {
    CHECK_ERROR("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", NULL, "nest deeper");
    CHECK_ERROR("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", NULL, "MiB");
    CHECK_ERROR("{{ range(100001)|length }}", NULL, "Range too big");
    CHECK_ERROR("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", NULL, "contains itself");
    CHECK_RENDER("{% set ns = namespace(x=1) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                 "{{ ns.x == ns.x }}{{ ns.x != [ns.x] }}", NULL, "TrueTrue");
    CHECK_ERROR("{% set ns = namespace(x=1) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                "{{ ns.x < [ns.x] }}", NULL, "too deeply");
    CHECK_ERROR("{% set ns = namespace() %}{% set d = {'n': ns} %}{% set ns.d = d %}{{ d }}", NULL, "contains itself");
    char deep[4000];
    size_t k = 0;
    k += (size_t)snprintf(deep + k, sizeof deep - k, "{{ ");
    for (int i = 0; i < 1500; i++) deep[k++] = '(';
    deep[k++] = '1';
    for (int i = 0; i < 1500; i++) deep[k++] = ')';
    strcpy(deep + k, " }}");
    CHECK_ERROR(deep, NULL, "nest");
    k = 0;
    for (int i = 0; i < 300; i++) k += (size_t)snprintf(deep + k, sizeof deep - k, "{%%if 1%%}");
    CHECK_ERROR(deep, NULL, "nest");
}

/* Random bytes and random splices of template pieces: every render returns
 * (output or error), under the sanitizers without a report. */
TEST(template_random_inputs_never_crash) {
    static const char *const pieces[] = {
        "{{", "}}", "{%", "%}", "{#", "#}", "-", "+", " ", "\n", "'", "\"", "(", ")", "[", "]", "{", "}", "|",
        ".", ",", ":", "=", "~", "*", "**", "/", "//", "%", "if", "elif", "else", "endif", "for", "in", "endfor",
        "set", "endset", "macro", "endmacro", "call", "endcall", "caller", "loop", "x", "xs", "ns", "namespace",
        "range", "1", "2.5", "not", "and", "or", "is", "defined", "none", "trim", "tojson", "length", "raw",
        "endraw", "break", "continue", "filter", "endfilter", "items", "é", "\\", "0x", "1e",
    };
    const char *vars = "{\"x\": \"héllo\", \"xs\": [1, \"two\", {\"a\": null}], \"ns\": 3}";
    test_seed(99);
    char tmpl[512];
    for (int iter = 0; iter < 4000; iter++) {
        size_t k = 0;
        int n = 1 + (int)(test_rand_u64() % 40);
        for (int i = 0; i < n && k < sizeof tmpl - 16; i++) {
            if (test_rand_u64() % 8 == 0) tmpl[k++] = (char)(1 + test_rand_u64() % 255);
            else {
                const char *p = pieces[test_rand_u64() % (sizeof pieces / sizeof *pieces)];
                size_t m = strlen(p);
                memcpy(tmpl + k, p, m);
                k += m;
            }
        }
        tmpl[k] = 0;
        brisk_error err = {0};
        char *out = render(tmpl, vars, &err);
        CHECK(out || err.msg[0]);
        free(out);
    }
}

TEST(template_api_arguments) {
    char *out = (char *)1;
    brisk_error err = {0};
    CHECK(brisk_template_render_json(NULL, NULL, &out, &err) == BRISK_ERR_ARG);
    CHECK(out == NULL);
    CHECK(brisk_template_render_json("x", NULL, NULL, &err) == BRISK_ERR_ARG);
    CHECK(brisk_chat_render(NULL, NULL, NULL, 0, true, &out, &err) == BRISK_ERR_ARG);
    CHECK_RENDER("", NULL, "");
}
