"""brisk's logits with 0, some and all layers on the GPU against the reference
logits of tests/py/test_logits.py (transformers), with the same bars: top-1
equal at >= 99% of positions and mean KL(reference || brisk) <= 0.01.

Runs on a GPU machine only (tests/gpu/run.sh; BRISK_BUILD_DIR = a CUDA build).
Uses the committed random-weight fixtures (the real models are too large for
the device tool). Each prompt is evaluated in one pass (cuBLAS GEMM path,
many tokens per attention launch) and in small chunks (tensor-core GEMV path
for <= 8 tokens, attention over cache rows of earlier passes).

With the 8-bit GPU KV cache (kv_type "q8_0", lossy by design) the bars are
Q8_BARS: top-1 equal at >= 95% of positions and mean KL <= 1e-3. Measured on
the H100 (cuda5): mean KL 4e-6..5e-5 (the f16 cache: 6e-8..5e-7), top-1
0.967..1.0: the random-weight fixtures have near-tied argmaxes that the
cache's rounding flips (qwen3-tiny: 0.967 with all layers in one pass)."""
import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "py"))

from brisk_model_ffi import Model  # noqa: E402
from test_logits import FIXTURES, MODELS, log_softmax  # noqa: E402

TINY = sorted(name for name, (kind, _, _) in MODELS.items() if kind == "file")
LAYERS = {"cpu": 0, "some": 1, "all": 1 << 16}
CHUNKS = [7, 1, 1, 2, 16, 3]  # then the rest in one piece
Q8_BARS = (0.95, 1e-3)  # (top-1 at least, mean KL at most) with kv_type q8_0


def gpu_metrics(model, fx, gpu_layers, chunked, kv_type="f16"):
    top1, kl = [], []
    for i in range(int(fx["n_prompts"])):
        ids = fx[f"ids_{i}"]
        chunks = None
        if chunked:
            chunks = [c for c in CHUNKS if c <= len(ids)]
            chunks = chunks[:np.searchsorted(np.cumsum(chunks), len(ids), side="right")]
            if sum(chunks) < len(ids):
                chunks.append(len(ids) - sum(chunks))
        logits = model.logits(ids, gpu_layers=gpu_layers, chunks=chunks, kv_type=kv_type)
        top1 += list(logits.argmax(-1) == fx[f"top_ids_{i}"][:, 0])
        p = log_softmax(fx[f"full_logits_{i}"])
        q = log_softmax(logits[fx[f"full_pos_{i}"]])
        kl += list((np.exp(p) * (p - q)).sum(-1))
    return np.mean(top1), np.mean(kl)


@pytest.fixture(scope="module", params=TINY)
def case(request):
    _, path, _ = MODELS[request.param]
    model = Model(path)
    yield request.param, model, np.load(FIXTURES / f"{request.param}.npz")
    model.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["one-pass", "chunked"])
@pytest.mark.parametrize("where", sorted(LAYERS))
def test_gpu_logits_match_reference(case, where, chunked):
    name, model, fx = case
    try:
        top1, kl = gpu_metrics(model, fx, LAYERS[where], chunked)
    except RuntimeError as e:
        if "cannot run on the GPU" in str(e):
            pytest.skip(str(e))
        raise
    print(f"{name} {where} {'chunked' if chunked else 'one pass'}: top-1 {top1:.4f}, mean KL {kl:.2e}")
    assert top1 >= 0.99
    assert kl <= 0.01


@pytest.mark.parametrize("chunked", [False, True], ids=["one-pass", "chunked"])
@pytest.mark.parametrize("where", ["some", "all"])
def test_gpu_logits_q8_kv_cache(case, where, chunked):
    name, model, fx = case
    try:
        top1, kl = gpu_metrics(model, fx, LAYERS[where], chunked, kv_type="q8_0")
    except RuntimeError as e:
        if "cannot run on the GPU" in str(e):
            pytest.skip(str(e))
        raise
    print(f"{name} {where} {'chunked' if chunked else 'one pass'} q8_0 KV: top-1 {top1:.4f}, mean KL {kl:.2e}")
    assert model.last_gpu_layers > 0
    assert top1 >= Q8_BARS[0]
    assert kl <= Q8_BARS[1]


def test_gpu_layers_bad_value():
    model = Model(FIXTURES / "qwen2-yarn-tiny.gguf")
    try:
        with pytest.raises(RuntimeError, match="must not be negative"):
            model.logits(np.arange(4), gpu_layers=-2)
        with pytest.raises(RuntimeError, match="exact mode"):
            model.logits(np.arange(4), gpu_layers=1, exact=True)
    finally:
        model.close()
