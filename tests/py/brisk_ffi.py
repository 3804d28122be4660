"""ctypes access to libbrisk.so for the Python integration tests.

The build directory comes from $BRISK_BUILD_DIR (default: ./build)."""
import ctypes
import os
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD_DIR = pathlib.Path(os.environ.get("BRISK_BUILD_DIR", ROOT / "build"))
BRISK_BIN = BUILD_DIR / "brisk"


class BriskError(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("msg", ctypes.c_char * 512)]


class TypeInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("block_size", ctypes.c_uint32),
        ("block_bytes", ctypes.c_uint32),
        ("can_dequantize", ctypes.c_bool),
        ("can_quantize", ctypes.c_bool),
    ]


def _load():
    lib = ctypes.CDLL(str(BUILD_DIR / "libbrisk.so"))
    lib.brisk_type_get.restype = ctypes.POINTER(TypeInfo)
    lib.brisk_type_get.argtypes = [ctypes.c_uint32]
    lib.brisk_dequantize.restype = ctypes.c_int
    lib.brisk_dequantize.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_int64, ctypes.POINTER(BriskError)]
    lib.brisk_quantize.restype = ctypes.c_int
    lib.brisk_quantize.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                   ctypes.c_int64, ctypes.POINTER(BriskError)]
    return lib


lib = _load()


def type_info(type_id: int) -> TypeInfo:
    p = lib.brisk_type_get(type_id)
    if not p:
        raise KeyError(type_id)
    return p.contents


def dequantize(type_id: int, raw: np.ndarray, n: int) -> np.ndarray:
    """raw: uint8 bytes of n elements of type_id -> float32[n]."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    out = np.empty(n, dtype=np.float32)
    err = BriskError()
    st = lib.brisk_dequantize(type_id, raw.ctypes.data, out.ctypes.data, n, ctypes.byref(err))
    if st != 0:
        raise RuntimeError(err.msg.decode())
    return out


def quantize(type_id: int, values: np.ndarray) -> np.ndarray:
    """float32 values -> uint8 bytes of type_id."""
    values = np.ascontiguousarray(values, dtype=np.float32).ravel()
    info = type_info(type_id)
    n = values.size
    out = np.empty(n // info.block_size * info.block_bytes, dtype=np.uint8)
    err = BriskError()
    st = lib.brisk_quantize(type_id, values.ctypes.data, out.ctypes.data, n, ctypes.byref(err))
    if st != 0:
        raise RuntimeError(err.msg.decode())
    return out


# ---------------------------------------------------------------------------
# Vocabulary and tokenizer
# ---------------------------------------------------------------------------

TOKENIZE_ADD_SPECIAL = 1
TOKENIZE_PARSE_SPECIAL = 2

lib.brisk_gguf_open.restype = ctypes.c_void_p
lib.brisk_gguf_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(BriskError)]
lib.brisk_gguf_close.restype = None
lib.brisk_gguf_close.argtypes = [ctypes.c_void_p]
lib.brisk_vocab_load.restype = ctypes.c_void_p
lib.brisk_vocab_load.argtypes = [ctypes.c_void_p, ctypes.POINTER(BriskError)]
lib.brisk_vocab_free.restype = None
lib.brisk_vocab_free.argtypes = [ctypes.c_void_p]
for _name in ("brisk_vocab_size", "brisk_vocab_bos", "brisk_vocab_eos"):
    getattr(lib, _name).restype = ctypes.c_int32
    getattr(lib, _name).argtypes = [ctypes.c_void_p]
for _name in ("brisk_vocab_is_eog", "brisk_vocab_is_control"):
    getattr(lib, _name).restype = ctypes.c_bool
    getattr(lib, _name).argtypes = [ctypes.c_void_p, ctypes.c_int32]
lib.brisk_tokenize.restype = ctypes.c_int64
lib.brisk_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
                               ctypes.POINTER(ctypes.c_int32), ctypes.c_int64,
                               ctypes.POINTER(BriskError)]
lib.brisk_token_to_piece.restype = ctypes.c_int64
lib.brisk_token_to_piece.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_bool,
                                     ctypes.c_char_p, ctypes.c_size_t]
lib.brisk_detokenize.restype = ctypes.c_int64
lib.brisk_detokenize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_int64,
                                 ctypes.c_bool, ctypes.c_char_p, ctypes.c_size_t]
lib.brisk_detok_create.restype = ctypes.c_void_p
lib.brisk_detok_create.argtypes = [ctypes.c_void_p, ctypes.c_bool]
lib.brisk_detok_free.restype = None
lib.brisk_detok_free.argtypes = [ctypes.c_void_p]
lib.brisk_detok_push.restype = ctypes.c_char_p
lib.brisk_detok_push.argtypes = [ctypes.c_void_p, ctypes.c_int32]
lib.brisk_detok_flush.restype = ctypes.c_char_p
lib.brisk_detok_flush.argtypes = [ctypes.c_void_p]


class Vocab:
    """A brisk_vocab loaded from a GGUF file (brisk_gguf_open + brisk_vocab_load)."""

    def __init__(self, path):
        err = BriskError()
        g = lib.brisk_gguf_open(str(path).encode(), ctypes.byref(err))
        if not g:
            raise RuntimeError(err.msg.decode())
        try:
            self._v = lib.brisk_vocab_load(g, ctypes.byref(err))
        finally:
            lib.brisk_gguf_close(g)  # the vocab copies what it needs
        if not self._v:
            raise RuntimeError(err.msg.decode())

    def close(self):
        if self._v:
            lib.brisk_vocab_free(self._v)
            self._v = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def size(self) -> int:
        return lib.brisk_vocab_size(self._v)

    @property
    def bos(self) -> int:
        return lib.brisk_vocab_bos(self._v)

    @property
    def eos(self) -> int:
        return lib.brisk_vocab_eos(self._v)

    def is_eog(self, t: int) -> bool:
        return lib.brisk_vocab_is_eog(self._v, t)

    def is_control(self, t: int) -> bool:
        return lib.brisk_vocab_is_control(self._v, t)

    def tokenize(self, text, add_special=True, parse_special=True) -> list:
        data = text.encode() if isinstance(text, str) else bytes(text)
        flags = (TOKENIZE_ADD_SPECIAL if add_special else 0) | \
                (TOKENIZE_PARSE_SPECIAL if parse_special else 0)
        err = BriskError()
        cap = len(data) + 8
        while True:
            out = (ctypes.c_int32 * cap)()
            n = lib.brisk_tokenize(self._v, data, len(data), flags, out, cap, ctypes.byref(err))
            if n < 0:
                raise RuntimeError(err.msg.decode())
            if n <= cap:
                return list(out[:n])
            cap = n

    def token_to_piece(self, t: int, render_special=True) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = lib.brisk_token_to_piece(self._v, t, render_special, buf, 64)
        if n < 0:
            raise ValueError(f"invalid token {t}")
        if n > 64:
            buf = ctypes.create_string_buffer(n)
            lib.brisk_token_to_piece(self._v, t, render_special, buf, n)
        return buf.raw[:n]

    def detokenize(self, tokens, render_special=True) -> str:
        arr = (ctypes.c_int32 * max(len(tokens), 1))(*tokens)
        cap = 4 * len(tokens) + 16
        while True:
            buf = ctypes.create_string_buffer(cap)
            n = lib.brisk_detokenize(self._v, arr, len(tokens), render_special, buf, cap)
            if n < 0:
                raise ValueError("detokenize failed")
            if n <= cap:
                return buf.raw[:n].decode()
            cap = n

    def detok_stream(self, tokens, render_special=True) -> list:
        """The strings the streaming detokenizer returns: one per token, then the flush."""
        d = lib.brisk_detok_create(self._v, render_special)
        try:
            parts = [lib.brisk_detok_push(d, t).decode() for t in tokens]
            parts.append(lib.brisk_detok_flush(d).decode())
            return parts
        finally:
            lib.brisk_detok_free(d)
