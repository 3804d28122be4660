"""scripts/fetch_model.py: every registered model comes back as a GGUF that
`brisk inspect --json` accepts, with the expected architecture and tensor count.

Models over ~400 MB download only with BRISK_TEST_LARGE_MODELS=1; the small ones
(about 350 MB in all) always run."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from brisk_ffi import BRISK_BIN

FETCH = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "fetch_model.py"
LARGE = os.environ.get("BRISK_TEST_LARGE_MODELS") == "1"
large = pytest.mark.skipif(not LARGE, reason="large model: set BRISK_TEST_LARGE_MODELS=1")

# name: (general.architecture, tensor count, file size)
EXPECTED = {
    "smollm2-135m": ("llama", 272, 98362432),
    "gemma3-270m": ("gemma3", 236, 253113024),
    "qwen2.5-coder-0.5b": ("qwen2", 291, 491400064),
    "qwen2.5-coder-1.5b": ("qwen2", 339, 1117320768),
}
SMALL = {name for name, (_, _, size) in EXPECTED.items() if size <= 400_000_000}


def fetch(*args, check=True):
    return subprocess.run([sys.executable, str(FETCH), *args],
                          capture_output=True, text=True, check=check)


def test_list_names_every_model():
    names = [line.split()[0] for line in fetch("--list").stdout.splitlines()]
    assert names == list(EXPECTED)


def test_unknown_name_fails_cleanly():
    r = fetch("no-such-model", check=False)
    assert r.returncode != 0
    assert r.stdout == ""
    assert "no-such-model" in r.stderr


def test_default_is_smollm2():
    bare = fetch().stdout
    assert bare == fetch("smollm2-135m").stdout
    assert bare.strip().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.mark.parametrize("name", [n if n in SMALL else pytest.param(n, marks=large)
                                  for n in EXPECTED])
def test_model_fetches_and_inspects(name):
    arch, n_tensors, size = EXPECTED[name]
    out = fetch(name).stdout
    assert out.count("\n") == 1  # the path and nothing else
    path = out.strip()
    assert os.path.isfile(path) and os.path.getsize(path) == size
    mtime = os.stat(path).st_mtime_ns
    assert fetch(name).stdout == out  # second run: cached, same path, file untouched
    assert os.stat(path).st_mtime_ns == mtime

    report = json.loads(subprocess.run([str(BRISK_BIN), "inspect", path, "--json"],
                                       capture_output=True, text=True, check=True).stdout)
    metadata = {m["key"]: m["value"] for m in report["metadata"]}
    assert metadata["general.architecture"] == arch
    assert len(report["tensors"]) == n_tensors
    assert report["file_size"] == size
