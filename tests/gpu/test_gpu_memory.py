"""Out of device memory: with most of the GPU's memory taken by another
allocation, asking for every layer fails with an error that says how much was
needed and how much was free, and "as many as fit" (-1) places fewer layers
(or none) and still gives the right logits.

GPU machines only (tests/gpu/run.sh). The KV cache is made large (a 1M-token
context: 256 MiB per layer of qwen2-yarn-tiny) so that layer sizes are known."""
import ctypes
import pathlib
import re
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "py"))

from brisk_model_ffi import Model  # noqa: E402
from test_logits import FIXTURES, log_softmax  # noqa: E402

MIB = 1 << 20
N_CTX = 1 << 20          # 256 MiB of KV cache per layer on the GPU (2 layers)
RESERVE = 768 * MIB      # what automatic placement leaves free (model/forward_cuda.c)

cudart = ctypes.CDLL("libcudart.so.13")


def mem_free():
    free, total = ctypes.c_size_t(), ctypes.c_size_t()
    assert cudart.cudaMemGetInfo(ctypes.byref(free), ctypes.byref(total)) == 0
    return free.value


class Hog:
    """Takes device memory until about `leave` bytes are free."""

    def __init__(self, leave):
        self.ptr = ctypes.c_void_p()
        assert cudart.cudaMalloc(ctypes.byref(self.ptr), ctypes.c_size_t(mem_free() - leave)) == 0

    def close(self):
        cudart.cudaFree(self.ptr)


@pytest.fixture(scope="module")
def model():
    m = Model(FIXTURES / "qwen2-yarn-tiny.gguf")
    yield m
    m.close()


def test_all_layers_need_more_than_free(model):
    ids = np.load(FIXTURES / "qwen2-yarn-tiny.npz")["ids_0"]
    hog = Hog(300 * MIB)
    try:
        with pytest.raises(RuntimeError) as e:
            model.logits(ids, n_ctx=N_CTX, gpu_layers=2)
        msg = str(e.value)
        print(msg)
        assert re.search(r"needed [0-9.]+ MiB, [0-9.]+ MiB free of [0-9.]+ MiB", msg)
        auto = model.logits(ids, n_ctx=N_CTX, gpu_layers=-1)  # fits nothing: the CPU
        assert model.last_gpu_layers == 0
    finally:
        hog.close()
    cpu = model.logits(ids, n_ctx=512, gpu_layers=0)
    np.testing.assert_allclose(auto, cpu, rtol=0, atol=1e-5)


def metrics(model, fx):
    """top-1 agreement and mean KL over all the fixture's prompts (as tests/py/test_logits.py)
    with as many layers on the GPU as fit; also the layers placed each time."""
    top1, kl, placed = [], [], set()
    for i in range(int(fx["n_prompts"])):
        logits = model.logits(fx[f"ids_{i}"], n_ctx=N_CTX, gpu_layers=-1)
        placed.add(model.last_gpu_layers)
        top1 += list(logits.argmax(-1) == fx[f"top_ids_{i}"][:, 0])
        p = log_softmax(fx[f"full_logits_{i}"])
        q = log_softmax(logits[fx[f"full_pos_{i}"]])
        kl += list((np.exp(p) * (p - q)).sum(-1))
    return np.mean(top1), np.mean(kl), placed


def test_auto_places_fewer_layers(model):
    fx = np.load(FIXTURES / "qwen2-yarn-tiny.npz")
    hog = Hog(RESERVE + 400 * MIB)  # room for one 256 MiB layer, not two
    try:
        part = metrics(model, fx)
    finally:
        hog.close()
    full = metrics(model, fx)
    assert part[2] == {1} and full[2] == {2}
    for top1, kl, _ in (part, full):  # the bars of tests/py/test_logits.py
        assert top1 >= 0.99
        assert kl <= 0.01
