"""brisk bench and brisk fit on the GPU. bench: with every layer there, "% of
bw" is the decode's weight bandwidth over the GPU's own copy bandwidth
(measured in the same run), not over the CPU's; with some layers there it
gives no percentage (two memories). fit: the GPU's memory, whether every layer
fits, decode speed at the copy bandwidth. serve: --gpu-layers places that many
layers and says so at startup. GPU machines only (tests/gpu/run.sh)."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BRISK = pathlib.Path(os.environ.get("BRISK_BUILD_DIR", ROOT / "build")).resolve() / "brisk"
MODEL = ROOT / "tests" / "fixtures" / "logits" / "qwen2-yarn-tiny.gguf"
sys.path.insert(0, str(ROOT / "tests" / "py"))
from brisk_server import Server  # noqa: E402


def brisk(*args):
    if not BRISK.exists():
        pytest.skip(f"no {BRISK}")
    r = subprocess.run([str(BRISK), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def bench(*args):
    return brisk("bench", "-m", str(MODEL), "-p", "16", "-n", "8", "-r", "2", "-t", "2", "--membw-mib", "64", *args)


def test_all_layers_on_gpu_compared_with_gpu_copy_bandwidth():
    doc = json.loads(bench("-o", "json"))
    gpu = doc["gpu"]
    assert gpu["name"] and 100 < gpu["copy_gbps"] < 20000
    (row,) = doc["rows"]
    assert row["weights_in"] == "gpu" and row["gpu_layers"] >= 1 and row["read_gbps"] is None
    assert row["bw_pct"] == pytest.approx(100 * row["decode_gbps"] / gpu["copy_gbps"], rel=1e-4)
    md = bench()
    assert any(line.startswith("GPU: ") and "copy bandwidth" in line for line in md.splitlines())
    row = [line for line in md.splitlines() if line.startswith("| qwen2-yarn-tiny")][0]
    assert row.endswith("| GPU |") and "(copy)" in row


def test_some_layers_on_gpu_have_no_percentage():
    doc = json.loads(bench("-o", "json", "--gpu-layers", "1"))
    (row,) = doc["rows"]
    assert row["weights_in"] == "mixed" and row["gpu_layers"] == 1
    assert row["bw_pct"] is None and row["read_gbps"] is None and row["decode_gbps"] > 0
    assert "gpu" not in doc  # measured only for rows all on the GPU


def test_cpu_only_keeps_the_cpu_read_bandwidth():
    doc = json.loads(bench("-o", "json", "--gpu-layers", "0"))
    (row,) = doc["rows"]
    assert row["weights_in"] == "cpu" and row["gpu_layers"] == 0
    assert row["bw_pct"] > 0 and row["read_gbps"]["median"] > 0 and "gpu" not in doc


def test_fit_reports_the_gpu():
    doc = json.loads(brisk("fit", "-m", str(MODEL), "--bw", "10", "--json"))
    gpu = doc["gpu"]
    assert gpu["name"] and 0 < gpu["free_bytes"] <= gpu["total_bytes"] and gpu["copy_gbps"] > 100
    assert gpu["layers_fit"] == gpu["n_layer"] >= 1  # a tiny model fits whole
    assert gpu["need_bytes"] > doc["bytes"]["weights"]
    assert gpu["decode_tps"] == pytest.approx(gpu["copy_gbps"] * 1e9 / doc["bytes"]["weights"], rel=1e-3)
    assert "all" in brisk("fit", "-m", str(MODEL), "--bw", "10").split("GPU:")[1].split("verdict")[0]


def test_serve_places_the_layers_asked_for():
    if not BRISK.exists():
        pytest.skip(f"no {BRISK}")
    s = Server(MODEL, "--gpu-layers", 1, "--parallel", 2, "-c", 64, "-t", 2)
    try:
        assert "1 of 2 layers on the GPU" in "".join(s.log), s.log
        status, out = s.request("POST", "/v1/completions", {"model": s.model_id, "prompt": "a b c", "max_tokens": 4,
                                                            "temperature": 0, "ignore_eos": True})
        assert status == 200 and out["usage"]["completion_tokens"] == 4, out
    finally:
        assert s.stop() == 0
