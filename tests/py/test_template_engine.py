"""brisk's Jinja engine against jinja2 (Hugging Face's environment): a corpus
of small templates exercising each feature must render byte-identically, and
malformed or hostile templates must give a clear error (with the template's
line and column) and never crash or hang."""
import random

import pytest

from brisk_template_ffi import TemplateError, brisk_render, jinja_render

VARS = {
    "name": "World", "n": 7, "f": 2.5, "neg": -3, "big": 12345678901234, "t": True, "nul": None,
    "s": "  Hello, Wörld! ünïcode 🙂  ", "empty": "", "csv": "a,b,,c", "multi": "line1\nline2\n\nline4",
    "xs": [3, 1, 2], "words": ["pear", "Apple", "banana", "apple"], "nested": [[1, 2], [3, 4]],
    "d": {"b": 2, "a": 1, "c": {"x": [1, {"y": "z"}]}},
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
        {"role": "user", "content": "Bye"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
              "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "floats": [0.1, 1e16, 1.5e-05, 123456.789, -0.0, 1e100, 3.0],
}

CORPUS = [
    # output, literals, whitespace control
    "plain text only",
    "{{ name }} {{ n }} {{ f }} {{ neg }} {{ big }} {{ t }} {{ nul }} {{ undefined_var }}|",
    "{{ 'single' }} {{ \"double\" }} {{ 'a' 'b' }} {{ 'esc\\n\\t\\\\ \\'q\\' \\u00e9 \\x41' }}",
    "{{ 42 }} {{ 4.0 }} {{ 1_000 }} {{ 0x1f }} {{ 1e3 }} {{ true }} {{ False }} {{ none }}",
    "{{ [1, 'two', 3.0, none, true] }} {{ (1,) }} {{ (1, 2) }} {{ {'k': 'v', 1: [2]} }} {{ () }}",
    "{{ floats }}",
    "a  {{- name -}}  b\n  {%- if t %} x {% endif -%}\n  c",
    "line\n    {% if t %}\n    inner\n    {% endif %}\nafter\n",
    "  {% if t %}kept{% endif %}  \n{%+ if t %}plus{% endif %}\n",
    "{# comment #}a\n{#- stripped -#}\n  b\n  {# own line #}\nc",
    "{% raw %}{{ not rendered }} {% if %}{% endraw %} done",
    "x\n{%- raw -%}\n  {{ y }}  \n{%- endraw -%}\nz",
    "trailing newline kept once\n\n",
    "crlf\r\nline\r\n{% if t %}\r\nyes\r\n{% endif %}\r\n",
    # arithmetic, comparisons, logic
    "{{ 1 + 2 * 3 - 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}",
    "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 / 3 }} {{ 10 / 4 }} {{ n * f }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ 3 * 'x' }}",
    "{{ 'a' ~ 1 ~ none ~ undefined_var ~ [1] }} {{ 'x' + 'y' }} {{ [1] + [2, 3] }} {{ true + 1 }}",
    "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }}",
    "{{ 2 in xs }} {{ 5 not in xs }} {{ 'ell' in 'hello' }} {{ 'a' in d }} {{ 'zz' in d }} {{ 1 in [] }}",
    "{{ t and 'yes' }} {{ nul or 'default' }} {{ not t }} {{ not nul and 1 }} {{ 0 or '' or 'last' }}",
    "{{ 'a' if t else 'b' }} {{ 'a' if nul else 'b' }} [{{ 'x' if nul }}] {{ 1 if n > 5 else 2 if n > 3 else 3 }}",
    "{{ -n }} {{ +f }} {{ -(n + 1) }} {{ - n|abs }}",
    # control flow
    "{% if n > 10 %}big{% elif n > 5 %}medium{% elif n > 0 %}small{% else %}neg{% endif %}",
    "{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/"
    "{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {% endfor %}",
    "{% for x in xs %}{{ loop.previtem }}>{{ x }}>{{ loop.nextitem }} {{ loop.cycle('odd', 'even') }};{% endfor %}",
    "{% for x in [] %}never{% else %}empty{% endfor %} {% for x in undefined_var %}no{% endfor %}",
    "{% for x in xs if x > 1 %}{{ x }}:{{ loop.length }} {% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {% for k in d %}{{ k }}{% endfor %}",
    "{% for a, b in nested %}{{ a + b }},{% endfor %} {% for c in 'héllo' %}[{{ c }}]{% endfor %}",
    "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}"
    "{{ x }}{% endfor %}",
    "{% for row in nested %}{% for x in row %}{{ loop.index }}{{ x }}{% endfor %}|{{ loop.index }}{% endfor %}",
    "{{ range(5)|list }} {{ range(2, 8, 2)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}",
    # assignment and scoping
    "{% set a = 1 %}{% set b, c = 2, 3 %}{{ a }}{{ b }}{{ c }} {% set t2 = 1, 2 %}{{ t2 }}",
    "{% set x = 1 %}{% for i in xs %}{% set x = i %}{% endfor %}{{ x }}",
    "{% set x = 1 %}{% if t %}{% set x = 2 %}{% endif %}{{ x }}",
    "{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% if m.role == 'user' %}"
    "{% set ns.count = ns.count + 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }}",
    "{% set block %}  captured {{ name }}  {% endset %}[{{ block }}] {% set b2 | trim | upper %} x {% endset %}[{{ b2 }}]",
    "{% set d2 = dict(a=1, b='two') %}{{ d2 }} {{ dict(d2, c=3) }} {{ namespace(a=1).a }}",
    # macros and call
    "{% macro greet(who, punct='!') %}Hello {{ who }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }}"
    " {{ greet(punct='.', who='C') }}",
    "{% macro m(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ m(1) }}",
    "{% macro outer() %}<{{ caller() }}>{% endmacro %}{% call outer() %}inside {{ name }}{% endcall %}",
    "{% macro lst(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}"
    "{% call(x) lst(xs) %}({{ x * 2 }}){% endcall %}",
    "{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}",
    "{% filter upper %}shout {{ name }}{% endfilter %}",
    # attribute and item access, slicing
    "{{ d.a }} {{ d['b'] }} {{ d.c.x[1].y }} {{ d['c']['x'][0] }} {{ xs[0] }} {{ xs[-1] }} {{ xs.1 }} [{{ xs[10] }}]",
    "{{ messages[2].tool_calls[0].function.name }} [{{ messages[0].tool_calls }}] {{ messages[0].tool_calls is defined }}",
    "{{ xs[1:] }} {{ xs[:2] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[-2:] }} {{ s[2:7] }} {{ 'héllo'[::-1] }} {{ xs[5:] }}",
    "{{ 'abcdef'[1:5:2] }} {{ 'abc'[-1] }} {{ 'abc'[10:] }} {{ (1, 2, 3)[1:] }} {{ xs[-10:10] }}",
    # tests
    "{{ name is defined }} {{ zz is defined }} {{ zz is undefined }} {{ nul is none }} {{ n is number }}"
    " {{ f is float }} {{ n is integer }} {{ t is boolean }} {{ name is string }} {{ d is mapping }}",
    "{{ xs is iterable }} {{ xs is sequence }} {{ n is iterable }} {{ d is sequence }} {{ n is odd }}"
    " {{ n is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ t is true }} {{ t is false }}",
    "{{ n is eq 7 }} {{ n is equalto(7) }} {{ n is ne 7 }} {{ n is lt 8 }} {{ n is gt 8 }} {{ n is ge 7 }}"
    " {{ 'a' is in 'abc' }} {{ 'x' is in xs }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ nul is not none }}",
    "{{ greet is defined }} {{ range is callable }} {{ name is not string }} {{ 'trim' is filter }} {{ 'odd' is test }}",
    # filters
    "[{{ s|trim }}] [{{ '  x  '|trim }}] [{{ 'xxaxx'|trim('x') }}] {{ s|length }} {{ xs|count }} {{ d|length }}",
    "{{ name|upper }} {{ name|lower }} {{ 'hello wORLD'|capitalize }} {{ 'hello wORLD-foo (bar)'|title }}",
    "{{ xs|join }} {{ xs|join(', ') }} {{ messages|map(attribute='role')|join('/') }} {{ words|join('-', attribute=none) }}",
    "{{ zz|default('dflt') }} {{ name|default('dflt') }} {{ ''|default('e', true) }} {{ nul|d('x') }} {{ nul|default('x', boolean=true) }}",
    "{{ xs|first }} {{ xs|last }} {{ 'abc'|first }} {{ d|first }} {{ []|first is undefined }}",
    "{{ d|items|list }} {{ d|dictsort }} {{ d|dictsort(reverse=true) }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }}",
    "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }}"
    " {{ messages|rejectattr('role', 'eq', 'user')|list|length }} {{ messages|selectattr('tool_calls')|list|length }}",
    "{{ xs|select('odd')|list }} {{ xs|reject('odd')|list }} {{ [0, 1, '', 'a', none]|select|list }}",
    "{{ words|map('upper')|list }} {{ words|map('replace', 'a', 'A')|list }} {{ messages|map(attribute='nope', default='-')|list }}",
    "{{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '.') }}",
    "{{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ words|sort(reverse=true) }} {{ messages|sort(attribute='role')|map(attribute='content')|list }}",
    "{{ words|unique|list }} {{ xs|max }} {{ xs|min }} {{ words|max }} {{ xs|sum }} {{ messages|map(attribute='role')|unique|list }}",
    "{{ xs|reverse|list }} {{ 'abc'|reverse }} {{ xs|list }} {{ 'ab'|list }} {{ nested|sum(start=[]) }}",
    "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 3.9|int }} {{ '0x1A'|int(base=16) }} {{ '2.5'|float }} {{ 'no'|float }}",
    "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(method='ceil') }} {{ -2.5|abs }} {{ 7|round }}",
    "{{ multi|indent }}|{{ multi|indent(2, first=true) }}|{{ multi|indent('> ', blank=true) }}|{{ ''|indent }}",
    "{{ '<a href=\"x\">&\\'</a>'|e }} {{ 'x'|safe }} {{ n|string ~ '!' }} {{ 'one two  three'|wordcount }}",
    # tojson as HF defines it
    "{{ d|tojson }} {{ messages|tojson }} {{ tools|tojson }}",
    "{{ 'é\"\\n\\u0001<>&'|tojson }} {{ 'é🙂'|tojson(ensure_ascii=true) }} {{ floats|tojson }} {{ [none, true, 1.0]|tojson }}",
    "{{ d|tojson(indent=2) }}\n{{ tools|tojson(indent=4, sort_keys=true) }}\n{{ {}|tojson(indent=2) }} {{ []|tojson }}",
    "{{ {'a': [1, 2]}|tojson(separators=(',', ':')) }} {{ {1: 'int key', 2.5: 'f', true: 'b'}|tojson }}",
    # string methods
    "[{{ s.strip() }}] [{{ s.lstrip() }}] [{{ s.rstrip() }}] [{{ 'xxhixx'.strip('x') }}] [{{ '\\u3000wide\\u00a0'.strip() }}]",
    "{{ name.startswith('Wo') }} {{ name.endswith('ld') }} {{ name.startswith(('x', 'W')) }} {{ name.upper() }} {{ name.lower() }}",
    "{{ csv.split(',') }} {{ csv.split(',', 1) }} {{ '  a b  c '.split() }} {{ 'a b c'.split(none, 1) }} {{ csv.rsplit(',', 1) }}",
    "{{ 'hello world-x'.title() }} {{ 'hELLO'.capitalize() }} {{ 'a.b.c'.replace('.', '/') }} {{ 'abcabc'.find('c') }}"
    " {{ 'abc'.rfind('z') }} {{ 'banana'.count('a') }} {{ '-'.join(['a', 'b']) }}",
    "{{ '{} and {}'.format('x', 1) }} {{ '{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='N') }} {{ '12'.isdigit() }}"
    " {{ 'ab'.isalpha() }} {{ multi.splitlines() }} {{ 'prefix-x'.removeprefix('prefix-') }}",
    "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.keys()|list }} {{ d.values()|list|length }} {{ xs.index(2) }}",
    # globals
    "{{ raise_exception is defined }} {{ strftime_now is defined }}",
    # HF chat-template idioms
    "{%- for message in messages %}{{- '<|' + message['role'] + '|>\\n' + message['content'] | trim + '\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}",
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set sys = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set sys = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('alternate') }}{% endif %}"
    "{% if loop.index0 == 0 and sys != false %}{{ '<<SYS>>\\n' + sys + '\\n<</SYS>>\\n\\n' + message['content'] }}"
    "{% else %}{{ message['content'] }}{% endif %}{% endfor %}",
    "{%- set ns = namespace(last_user=-1) %}{%- for m in messages %}{%- if m.role == 'user' %}{%- set ns.last_user = loop.index0 %}"
    "{%- endif %}{%- endfor %}{{ ns.last_user }}{{ messages[ns.last_user].content }}",
    "{{ messages | selectattr('role', 'equalto', 'system') | list | length > 0 }} {{ (messages | last).content }}",
    # Qwen3-style: reverse scan with index arithmetic, string tests, chained methods
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}"
    "{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}"
    "{%- if ns.multi_step_tool and message.role == 'user' and message.content is string and "
    "not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}"
    "{%- set ns.multi_step_tool = false %}{%- set ns.last_query_index = index %}{%- endif %}{%- endfor %}"
    "{{ ns.last_query_index }}|{% set content = '<think>\\nhmm\\n</think>\\n\\nanswer' %}"
    "{{ content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}|"
    "{{ content.split('</think>')[-1].lstrip('\\n') }}|{{ enable_thinking is defined and enable_thinking is false }}",
    # Llama-3.1-style: strftime_now exists, tojson(indent=4), filter precedence over +
    "{%- if not date_string is defined %}{%- set date_string = '26 Jul 2024' %}{%- endif %}"
    "{{- bos_token|default('<s>') }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- for t in tools %}{{- t | tojson(indent=4) }}{{- '\\n\\n' }}{%- endfor %}{{ date_string }}",
    # Mistral-style alternation check and Gemma-style role renaming
    "{%- for message in messages[1:] %}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('roles must alternate') }}{%- endif %}{%- if message['role'] == 'assistant' %}"
    "{%- set role = 'model' %}{%- else %}{%- set role = message['role'] %}{%- endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + (message['content'] | trim) + '<end_of_turn>\\n' }}{%- endfor %}",
    "{%- if tools is not none and tools %}{% for tool in tools %}{{ tool.function.name }}: {{ tool.function.parameters"
    ".properties | tojson }}{% endfor %}{% endif %}",
]


def render_both(tmpl, variables=VARS):
    try:
        expected = jinja_render(tmpl, variables)
    except Exception as e:  # noqa: BLE001 - the reference failing is part of what is compared
        expected = e
    try:
        got = brisk_render(tmpl, variables)
    except TemplateError as e:
        got = e
    return expected, got


@pytest.mark.parametrize("tmpl", CORPUS, ids=range(len(CORPUS)))
def test_corpus_matches_jinja2(tmpl):
    expected, got = render_both(tmpl)
    assert not isinstance(expected, Exception), f"jinja2 fails on the corpus template: {expected}"
    assert not isinstance(got, Exception), f"brisk fails: {got}"
    assert got == expected


def test_generation_block_renders_its_body():
    # Hugging Face's {% generation %} marker (its AssistantTracker extension) only marks text
    assert brisk_render("a{%- generation %} assistant text {% endgeneration -%} b") == "a assistant text b"


@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_variables_from_json(add_generation_prompt):
    v = dict(VARS, add_generation_prompt=add_generation_prompt)
    tmpl = next(t for t in CORPUS if 'add_generation_prompt' in t)
    assert brisk_render(tmpl, v) == jinja_render(tmpl, v)


# Templates jinja2 refuses (syntax or runtime): brisk must refuse them too, with
# the line (and column) named; runtime errors need the same variables.
ERRORS = [
    ("{% if t %}never closed", "line 1"),
    ("{% for x in xs %}\n{{ x }}", "line 1"),
    ("text\n{% endif %}", "line 2"),
    ("{{ 1 + }}", "line 1"),
    ("{{ name", "line 1"),
    ("{% if %}{% endif %}", "line 1"),
    ("{{ 'unterminated }}", "line 1"),
    ("{{ xs[1 }}", "line 1"),
    ("{{ (1, 2 }}", "line 1"),
    ("{{ name|nosuchfilter }}", "nosuchfilter"),
    ("{{ n is nosuchtest }}", "nosuchtest"),
    ("{% nosuchtag %}", "nosuchtag"),
    ("{% break %}", "outside"),
    ("{# unclosed comment", "comment"),
    ("{% raw %} no end", "endraw"),
    ("{% macro m(a=1, b) %}{% endmacro %}", "line 1"),
    ("{% set = 1 %}", "line 1"),
    ("{{ }}", "line 1"),
    ("a\nb\n  {{ undefined_var.attr }}", "line 3"),
    ("{{ 1 / 0 }}", "division by zero"),
    ("{{ 'a' + 1 }}", "unsupported operand"),
    ("{{ raise_exception('custom failure') }}", "custom failure"),
    ("{{ xs.append(4) }}", "unsafe"),
    ("{{ range(1000000)|length }}", "Range too big"),
    ("{% set x = 5 %}{% set x.attr = 1 %}", "non-namespace"),
    ("{% for a, b in xs %}{% endfor %}", "unpack"),
    ("{{ n() }}", "not callable"),
    ("{{ nul|tojson }}{{ undefined_var|tojson }}", "not JSON serializable"),
    ("{% macro m() %}{% endmacro %}{{ m(1) }}", "argument"),
    ("{{ 5 < 'a' }}", "not supported"),
]


@pytest.mark.parametrize("tmpl,needle", ERRORS, ids=range(len(ERRORS)))
def test_errors_are_clear(tmpl, needle):
    expected, got = render_both(tmpl)
    assert isinstance(expected, Exception), f"jinja2 accepted it: {expected!r}"
    assert isinstance(got, TemplateError), f"brisk accepted it: {got!r}"
    msg = str(got)
    assert needle in msg, msg
    assert msg.startswith("template"), msg


HOSTILE = [
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nest deeper"),
    ("{% set r = range(1000) %}{% for i in range(100000) %}{% for j in r %}{% endfor %}{% endfor %}", "runs too long"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "runs too long|MiB"),
    ("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "MiB"),
    ("{{ 'x' * 10000000000 }}", "MiB"),
    ("{{" + "(" * 5000 + "1" + ")" * 5000 + "}}", "nest"),
    ("{{ " + "-" * 5000 + "1 }}", "nest"),
    ("{% if t %}" * 3000 + "x" + "{% endif %}" * 3000, "nest"),
    ("{{ " + "[" * 300 + "]" * 300 + " }}", "nest"),
    ("{{ 2 ** 64 }}", "overflow"),
]


@pytest.mark.parametrize("tmpl,needle", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_templates_stop_with_an_error(tmpl, needle):
    with pytest.raises(TemplateError, match=needle):
        brisk_render(tmpl, VARS)


def test_bad_variables_json():
    with pytest.raises(TemplateError, match="JSON"):
        brisk_render("{{ x }}", None) if False else _render_raw("{{ x }}", b"{not json")
    with pytest.raises(TemplateError, match="object"):
        _render_raw("{{ x }}", b"[1, 2]")


def _render_raw(tmpl, raw_json):
    import ctypes
    from brisk_ffi import BriskError
    from brisk_template_ffi import lib
    out, err = ctypes.c_void_p(), BriskError()
    if lib.brisk_template_render_json(tmpl.encode(), raw_json, ctypes.byref(out), ctypes.byref(err)) != 0:
        raise TemplateError(err.msg.decode())
    raise AssertionError("accepted")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jinja2's own, on bad escapes
def test_mutated_templates_never_crash():
    """Random edits of real-style templates: each either renders or fails with a
    message; when jinja2 renders it too, the outputs must agree."""
    rng = random.Random(1234)
    sources = [t for t in CORPUS if len(t) > 40]
    pieces = ["{%", "%}", "{{", "}}", "{#", "#}", "-", "(", ")", "[", "]", "'", '"', "|", ".", ",", " ", "\n",
              "endif", "endfor", "if", "for", "in", "not", "loop", "x", "1", "=", "~"]
    agreed = 0
    for _ in range(1500):
        t = list(rng.choice(sources))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(t) + 1)
            op = rng.random()
            if op < 0.4 and t:
                del t[min(i, len(t) - 1)]
            elif op < 0.8:
                t.insert(i, rng.choice(pieces))
            else:
                t[min(i, len(t) - 1):min(i, len(t) - 1)] = list(rng.choice(sources))[:rng.randint(1, 20)]
        tmpl = "".join(t)
        expected, got = render_both(tmpl)
        if isinstance(got, TemplateError):
            assert str(got).startswith("template"), str(got)
        elif not isinstance(expected, Exception):
            assert got == expected, tmpl
            agreed += 1
    assert agreed > 100
