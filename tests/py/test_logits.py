"""brisk's logits against reference logits recorded with Hugging Face
transformers (tests/reference/), teacher-forced on several prompts per model.

Bars: top-1 equal at >= 99% of positions, mean KL(reference || brisk) <= 0.01
nats over the positions with full reference rows, and in exact mode (f32
activations and KV cache) relative error of the top-256 logits <= 1e-3."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from brisk_model_ffi import Model

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "logits"

# fixture -> how to get the model: a registry name for scripts/fetch_model.py, or a committed file
MODELS = {
    "smollm2-135m": ("fetch", "smollm2-135m", "llama"),
    "gemma3-270m": ("fetch", "gemma3-270m", "gemma3"),
    "qwen2.5-coder-0.5b": ("fetch", "qwen2.5-coder-0.5b", "qwen2"),
    "qwen3-tiny": ("file", FIXTURES / "qwen3-tiny.gguf", "qwen3"),  # no real Qwen3 offline
    "gemma3-tiny": ("file", FIXTURES / "gemma3-tiny.gguf", "gemma3"),  # sliding window 8 < prompts
    # RoPE scaling kinds, with original contexts shorter than the prompts
    "llama-rope-llama3-tiny": ("file", FIXTURES / "llama-rope-llama3-tiny.gguf", "llama"),
    "llama-rope-linear-tiny": ("file", FIXTURES / "llama-rope-linear-tiny.gguf", "llama"),
    "qwen2-yarn-tiny": ("file", FIXTURES / "qwen2-yarn-tiny.gguf", "qwen2"),
}


def model_path(kind, where):
    if kind == "file":
        return where
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_model.py"), where],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot fetch {where}: {out.stderr.strip()[-200:]}")
    return pathlib.Path(out.stdout.strip())


def log_softmax(x):
    x = x.astype(np.float64)
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request):
    kind, where, arch = MODELS[request.param]
    model = Model(model_path(kind, where))
    assert model.arch == arch
    yield model, np.load(FIXTURES / f"{request.param}.npz")
    model.close()


def metrics(model, fx, exact):
    top1, kl, rel = [], [], []
    for i in range(int(fx["n_prompts"])):
        ids = fx[f"ids_{i}"]
        logits = model.logits(ids, exact=exact)
        top_ids, top_logits = fx[f"top_ids_{i}"], fx[f"top_logits_{i}"]
        top1 += list(logits.argmax(-1) == top_ids[:, 0])
        mine = np.take_along_axis(logits, top_ids, axis=-1)
        rel += list(np.linalg.norm(mine - top_logits, axis=-1) / np.linalg.norm(top_logits, axis=-1))
        pos = fx[f"full_pos_{i}"]
        p = log_softmax(fx[f"full_logits_{i}"])
        q = log_softmax(logits[pos])
        kl += list((np.exp(p) * (p - q)).sum(-1))
    return np.mean(top1), np.mean(kl), np.max(rel)


def test_logits_match_reference(case):
    model, fx = case
    top1, kl, rel = metrics(model, fx, exact=False)
    print(f"{model.arch}: top-1 agreement {top1:.4f}, mean KL {kl:.2e}, max rel err {rel:.2e}")
    assert top1 >= 0.99
    assert kl <= 0.01


def test_exact_mode_relative_error(case):
    model, fx = case
    top1, kl, rel = metrics(model, fx, exact=True)
    print(f"{model.arch} exact: top-1 {top1:.4f}, mean KL {kl:.2e}, max rel err {rel:.2e}")
    assert rel <= 1e-3
    assert top1 >= 0.99


def test_chunked_eval_matches_one_call(case):
    """Evaluating a sequence in pieces (KV cache carried over) gives the same logits."""
    model, fx = case
    ids = fx["ids_0"]
    whole = model.logits(ids, exact=True)
    pieces = model.logits(ids, exact=True, chunks=[5, 1, len(ids) - 6])
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=1e-4 * np.abs(whole).max())
