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
