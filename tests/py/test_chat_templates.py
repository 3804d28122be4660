"""Chat templates of the real test models rendered by brisk_chat_render must be
byte-identical to jinja2 rendering them the way Hugging Face's
apply_chat_template does (sandboxed, trim_blocks, lstrip_blocks, its tojson,
raise_exception and strftime_now; variables messages, tools=None,
documents=None, add_generation_prompt, bos_token, eos_token). The template
and the BOS/EOS texts for the reference are read with gguf-py, not brisk."""
import functools
import os
import pathlib
import subprocess
import sys

import gguf
import pytest

from brisk_model_ffi import Model
from brisk_template_ffi import TemplateError, brisk_chat_render, jinja_render, lib

ROOT = pathlib.Path(__file__).resolve().parents[2]
LARGE = os.environ.get("BRISK_TEST_LARGE_MODELS") == "1"
CACHE = pathlib.Path(os.environ.get("BRISK_CACHE", pathlib.Path.home() / ".cache" / "brisk")) / "models"
# name: file in the cache (qwen2.5-coder-1.5b is fetched only with BRISK_TEST_LARGE_MODELS=1,
# but used whenever it is already cached)
MODELS = {
    "smollm2-135m": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf",
    "qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
}

SYSTEM = {"role": "system", "content": "You are a terse assistant. Answer in one line."}
CONVERSATIONS = {
    "single": [{"role": "user", "content": "What is the capital of France?"}],
    "system_single": [SYSTEM, {"role": "user", "content": "Hi!"}],
    "multi": [
        {"role": "user", "content": "Write a haiku about C."},
        {"role": "assistant", "content": "Pointers everywhere\nmemory leaks in the night\nsegfault at the dawn"},
        {"role": "user", "content": "Now one about Python."},
    ],
    "system_multi": [
        SYSTEM,
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6"},
        {"role": "user", "content": "Thanks."},
    ],
    "unicode": [
        {"role": "system", "content": "Réponds en français — s'il te plaît. 日本語も OK 🙂"},
        {"role": "user", "content": "Ünïcödé: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, emoji 👩‍👩‍👧, RTL עברית, CJK 中文, zero-width\u200bjoin"},
    ],
    "edge": [
        {"role": "user", "content": ""},
        {"role": "assistant", "content": "  leading and trailing spaces  \n\n"},
        {"role": "user", "content": "{{ not a template }} {% if %} {# c #} <|im_start|> <|im_end|>\r\n\t'\"\\"},
    ],
    "assistant_last": [
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "hi"},
    ],
    "tool_role": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "tool", "content": "{\"temp\": 21}"},
        {"role": "tool", "content": "{\"wind\": 3}"},
        {"role": "user", "content": "So?"},
    ],
}


def model_file(name):
    path = CACHE / MODELS[name]
    if path.exists():
        return path
    if name == "qwen2.5-coder-1.5b" and not LARGE:
        pytest.skip("large model: set BRISK_TEST_LARGE_MODELS=1")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_model.py"), name],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"could not fetch {name}: {out.stderr.strip()[-300:]}")
    return pathlib.Path(out.stdout.strip())


@functools.lru_cache(maxsize=None)
def reference_metadata(path: pathlib.Path):
    """(chat template, bos text, eos text) read with gguf-py."""
    r = gguf.GGUFReader(str(path))

    def field(key):
        f = r.fields.get(key)
        return None if f is None else f.parts[f.data[0]]

    tmpl = field("tokenizer.chat_template")
    tokens = r.fields["tokenizer.ggml.tokens"]

    def token(key):
        tid = int(field(key)[0])
        return bytes(tokens.parts[tokens.data[tid]]).decode()

    return (None if tmpl is None else bytes(tmpl).decode(), token("tokenizer.ggml.bos_token_id"),
            token("tokenizer.ggml.eos_token_id"))


@functools.lru_cache(maxsize=None)
def loaded(name):
    return Model(model_file(name))


def reference(name, messages, add_generation_prompt):
    tmpl, bos, eos = reference_metadata(model_file(name))
    return jinja_render(tmpl, dict(messages=messages, tools=None, documents=None,
                                   add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos))


@pytest.mark.parametrize("gen", [True, False], ids=["gen", "nogen"])
@pytest.mark.parametrize("conv", list(CONVERSATIONS))
@pytest.mark.parametrize("name", list(MODELS))
def test_real_template_matches_jinja2(name, conv, gen):
    model = loaded(name)
    assert lib.brisk_chat_has_template(model.ptr)
    messages = CONVERSATIONS[conv]
    expected = reference(name, messages, gen)
    got = brisk_chat_render(model.ptr, messages, gen)
    assert got == expected


@pytest.mark.parametrize("name", list(MODELS))
def test_template_override_and_bad_template(name):
    model = loaded(name)
    msgs = CONVERSATIONS["single"]
    got = brisk_chat_render(model.ptr, msgs, True, template="{{ bos_token }}|{{ messages[0].content }}|{{ eos_token }}")
    _, bos, eos = reference_metadata(model_file(name))
    assert got == f"{bos}|{msgs[0]['content']}|{eos}"
    with pytest.raises(TemplateError, match=r"line 1, column \d+"):
        brisk_chat_render(model.ptr, msgs, True, template="{% for m in messages %}")


def test_raise_exception_in_real_style_template():
    model = loaded("smollm2-135m")
    tmpl = ("{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation roles must start "
            "with user') }}{% endif %}ok")
    with pytest.raises(TemplateError, match="Conversation roles must start with user"):
        brisk_chat_render(model.ptr, [SYSTEM], False, template=tmpl)
    assert brisk_chat_render(model.ptr, CONVERSATIONS["single"], False, template=tmpl) == "ok"


def test_gemma3_has_no_template_and_gets_the_fallback():
    path = CACHE / "gemma-3-270m-q4_k_m.gguf"
    if not path.exists():
        path = model_file_gemma()
    tmpl, bos, _ = reference_metadata(path)
    assert tmpl is None
    model = Model(path)
    try:
        assert not lib.brisk_chat_has_template(model.ptr)
        msgs = CONVERSATIONS["system_multi"]
        got = brisk_chat_render(model.ptr, msgs, True)
        # the documented fallback: ChatML, BOS first (gemma3 sets add_bos_token)
        expected = bos + "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in msgs)
        assert got == expected + "<|im_start|>assistant\n"
        assert brisk_chat_render(model.ptr, msgs, False) == expected
    finally:
        model.close()


def model_file_gemma():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_model.py"), "gemma3-270m"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("could not fetch gemma3-270m")
    return pathlib.Path(out.stdout.strip())
