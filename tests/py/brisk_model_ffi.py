"""ctypes access to the model API of libbrisk.so (load, context, eval, logits)."""
import ctypes

import numpy as np

from brisk_ffi import BriskError, lib


class ContextParams(ctypes.Structure):
    _fields_ = [("n_ctx", ctypes.c_int32), ("n_threads", ctypes.c_int32), ("exact", ctypes.c_bool),
                ("n_gpu_layers", ctypes.c_int32), ("kv_type", ctypes.c_int32)]

KV_TYPES = {"f16": 0, "q8_0": 1}  # brisk_kv_type


lib.brisk_model_load.restype = ctypes.c_void_p
lib.brisk_model_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(BriskError)]
lib.brisk_model_free.argtypes = [ctypes.c_void_p]
lib.brisk_model_n_vocab.restype = ctypes.c_int32
lib.brisk_model_n_vocab.argtypes = [ctypes.c_void_p]
lib.brisk_model_arch.restype = ctypes.c_char_p
lib.brisk_model_arch.argtypes = [ctypes.c_void_p]
lib.brisk_context_create.restype = ctypes.c_void_p
lib.brisk_context_create.argtypes = [ctypes.c_void_p, ctypes.POINTER(ContextParams), ctypes.POINTER(BriskError)]
lib.brisk_context_free.argtypes = [ctypes.c_void_p]
lib.brisk_context_n_past.restype = ctypes.c_int32
lib.brisk_context_n_past.argtypes = [ctypes.c_void_p]
lib.brisk_eval.restype = ctypes.c_int
lib.brisk_eval.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.c_bool,
                           ctypes.POINTER(BriskError)]
lib.brisk_context_n_gpu_layers.restype = ctypes.c_int32
lib.brisk_context_n_gpu_layers.argtypes = [ctypes.c_void_p]
lib.brisk_logits.restype = ctypes.POINTER(ctypes.c_float)
lib.brisk_logits.argtypes = [ctypes.c_void_p, ctypes.c_int32]


class Model:
    def __init__(self, path):
        err = BriskError()
        self.ptr = lib.brisk_model_load(str(path).encode(), ctypes.byref(err))
        if not self.ptr:
            raise RuntimeError(err.msg.decode())
        self.n_vocab = lib.brisk_model_n_vocab(self.ptr)
        self.arch = lib.brisk_model_arch(self.ptr).decode()

    def close(self):
        if self.ptr:
            lib.brisk_model_free(self.ptr)
            self.ptr = None

    def logits(self, ids, exact=False, n_ctx=512, n_threads=2, chunks=None, gpu_layers=0, kv_type="f16"):
        """Teacher-forced logits [len(ids), n_vocab] of one sequence, evaluated in
        one call, or in pieces of the sizes in `chunks` (same result expected).
        gpu_layers: layers on the GPU (CUDA builds; -1 = as many as fit); the
        number placed is left in self.last_gpu_layers. kv_type: the GPU
        layers' KV cache ("f16" or "q8_0")."""
        err = BriskError()
        params = ContextParams(n_ctx, n_threads, exact, gpu_layers, KV_TYPES[kv_type])
        ctx = lib.brisk_context_create(self.ptr, ctypes.byref(params), ctypes.byref(err))
        if not ctx:
            raise RuntimeError(err.msg.decode())
        self.last_gpu_layers = lib.brisk_context_n_gpu_layers(ctx)
        try:
            out, start = [], 0
            for size in chunks or [len(ids)]:
                piece = np.ascontiguousarray(ids[start:start + size], dtype=np.int32)
                arr = piece.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
                if lib.brisk_eval(ctx, arr, len(piece), True, ctypes.byref(err)) != 0:
                    raise RuntimeError(err.msg.decode())
                rows = np.ctypeslib.as_array(lib.brisk_logits(ctx, 0), shape=(len(piece) * self.n_vocab,))
                out.append(rows.reshape(len(piece), self.n_vocab).copy())
                start += size
            return np.concatenate(out)
        finally:
            lib.brisk_context_free(ctx)
