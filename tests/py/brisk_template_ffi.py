"""ctypes access to brisk's template API, and the jinja2 reference set up the
way Hugging Face's transformers renders chat templates."""
import ctypes
import json
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from brisk_ffi import BriskError, lib

lib.brisk_template_render_json.restype = ctypes.c_int
lib.brisk_template_render_json.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                           ctypes.POINTER(BriskError)]


class ChatMessage(ctypes.Structure):
    _fields_ = [("role", ctypes.c_char_p), ("content", ctypes.c_char_p)]


lib.brisk_chat_render.restype = ctypes.c_int
lib.brisk_chat_render.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ChatMessage), ctypes.c_size_t,
                                  ctypes.c_bool, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(BriskError)]
lib.brisk_chat_has_template.restype = ctypes.c_bool
lib.brisk_chat_has_template.argtypes = [ctypes.c_void_p]
libc = ctypes.CDLL(None)
libc.free.argtypes = [ctypes.c_void_p]


class TemplateError(Exception):
    pass


def _take_string(ptr: ctypes.c_void_p) -> str:
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        libc.free(ptr)


def brisk_render(template: str, variables: dict | None = None) -> str:
    """Render with brisk_template_render_json; raises TemplateError with brisk's message."""
    out, err = ctypes.c_void_p(), BriskError()
    vars_json = None if variables is None else json.dumps(variables).encode()
    st = lib.brisk_template_render_json(template.encode(), vars_json, ctypes.byref(out), ctypes.byref(err))
    if st != 0:
        raise TemplateError(err.msg.decode(errors="replace"))
    return _take_string(out)


def brisk_chat_render(model_ptr, messages, add_generation_prompt, template: str | None = None) -> str:
    arr = (ChatMessage * max(1, len(messages)))()
    keep = []
    for i, m in enumerate(messages):
        role, content = m["role"].encode(), m["content"].encode()
        keep += [role, content]
        arr[i] = ChatMessage(role, content)
    out, err = ctypes.c_void_p(), BriskError()
    st = lib.brisk_chat_render(model_ptr, None if template is None else template.encode(), arr, len(messages),
                               add_generation_prompt, ctypes.byref(out), ctypes.byref(err))
    if st != 0:
        raise TemplateError(err.msg.decode(errors="replace"))
    return _take_string(out)


def hf_environment() -> ImmutableSandboxedEnvironment:
    """The environment of transformers' _compile_jinja_template."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def jinja_render(template: str, variables: dict | None = None) -> str:
    return hf_environment().from_string(template).render(**(variables or {}))
