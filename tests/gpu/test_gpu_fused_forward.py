"""The fused decode path end to end (BRISK_CUDA_FUSE, src/model/forward_cuda.c):
the tiny fixtures mix types the int8 GEMV lacks, so here each is first
re-quantized to Q8_0 (`brisk quantize --pure`: every matrix on the int8 GEMV,
so every fusion the architecture allows runs: all of them for llama; no RoPE
fusion for qwen2 (biases, NeoX), qwen3 (q/k norms, NeoX) and gemma3 (NeoX);
no fused norm after gemma3's post-norms). Each prompt is decoded one token per
pass, with all layers and with one layer on the GPU, with the default fusions
and with all of them (BRISK_CUDA_FUSE=15: also act * up), and compared with
the CPU on the same file and with the GPU without fusions (BRISK_CUDA_FUSE=0),
over all prompts' positions (with the 8-bit KV cache, whose store the q/k/v
GEMV then does itself: with the unfused GPU only, the CPU keeping f16 K/V): top-1 equal at >= 99% of them (the logit tests'
bar; a position counts as equal where the fused pick is within 1e-2 of the
reference's best logit: these random-weight models have near-tied top logits,
and one flip in a 57-token prompt is 1.8%) and mean KL <= 1e-3 (measured
~5e-8; a wrong norm scale, rotation or cache row is orders of magnitude more).

Runs on a GPU machine only (tests/gpu/run.sh; BRISK_BUILD_DIR = a CUDA build
holding `brisk` and libbrisk.so)."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "py"))

from brisk_model_ffi import Model  # noqa: E402
from test_logits import FIXTURES, MODELS, log_softmax  # noqa: E402

TINY = sorted(name for name, (kind, _, _) in MODELS.items() if kind == "file")
BRISK = pathlib.Path(os.environ.get("BRISK_BUILD_DIR", ROOT / "build")) / "brisk"


def agreement(ref, x):
    """(share of positions where x's pick is a best logit of ref within 1e-2, mean KL(ref || x))."""
    p, q = log_softmax(ref), log_softmax(x)
    pick = ref[np.arange(len(ref)), x.argmax(-1)]
    return np.mean(pick >= ref.max(-1) - 1e-2), np.mean((np.exp(p) * (p - q)).sum(-1))


@pytest.fixture(scope="module", params=TINY)
def q8_case(request, tmp_path_factory):
    _, path, _ = MODELS[request.param]
    out = tmp_path_factory.mktemp("q8") / f"{request.param}-q8_0.gguf"
    subprocess.run([str(BRISK), "quantize", "-q", "--pure", str(path), str(out), "Q8_0"], check=True)
    model = Model(out)
    yield request.param, model, np.load(FIXTURES / f"{request.param}.npz")
    model.close()


@pytest.mark.parametrize("kv_type", ["f16", "q8_0"])
@pytest.mark.parametrize("fuse", ["default", "15"])
@pytest.mark.parametrize("where", ["all", "some"])
def test_fused_decode_matches_cpu_and_unfused(q8_case, where, fuse, kv_type, monkeypatch):
    name, model, fx = q8_case
    layers = 1 << 16 if where == "all" else 1
    runs = {"cpu": [], "unfused gpu": [], "fused": []}
    for i in range(int(fx["n_prompts"])):
        ids = fx[f"ids_{i}"]
        ones = [1] * len(ids)
        if kv_type == "f16":
            runs["cpu"].append(model.logits(ids, gpu_layers=0))
        if fuse == "default":
            monkeypatch.delenv("BRISK_CUDA_FUSE", raising=False)
        else:
            monkeypatch.setenv("BRISK_CUDA_FUSE", fuse)
        runs["fused"].append(model.logits(ids, gpu_layers=layers, chunks=ones, kv_type=kv_type))
        monkeypatch.setenv("BRISK_CUDA_FUSE", "0")
        runs["unfused gpu"].append(model.logits(ids, gpu_layers=layers, chunks=ones, kv_type=kv_type))
        monkeypatch.delenv("BRISK_CUDA_FUSE")
    fused = np.concatenate(runs["fused"])
    assert np.isfinite(fused).all()
    for what in [w for w in ("cpu", "unfused gpu") if runs[w]]:
        top1, kl = agreement(np.concatenate(runs[what]), fused)
        print(f"{name} {where} fuse {fuse} {kv_type} KV: fused vs {what}: top-1 {top1:.4f}, mean KL {kl:.2e}")
        assert top1 >= 0.99, what
        assert kl <= 1e-3, what
