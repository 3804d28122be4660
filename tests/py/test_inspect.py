"""`brisk inspect` on a real model, checked against gguf.GGUFReader."""
import json
import math
import shutil
import subprocess

import gguf
import pytest

from brisk_ffi import BRISK_BIN


def inspect(*args, check=True):
    return subprocess.run([str(BRISK_BIN), "inspect", *map(str, args)],
                          capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def reader(default_model):
    return gguf.GGUFReader(str(default_model))


@pytest.fixture(scope="module")
def report(default_model):
    return json.loads(inspect(default_model, "--json", "--full").stdout)


def test_json_header(report, reader, default_model):
    assert report["version"] == int(reader.fields["GGUF.version"].contents())
    assert report["file_size"] == default_model.stat().st_size
    assert report["alignment"] == reader.alignment
    assert report["data_offset"] == reader.data_offset


def test_json_metadata_matches_gguf(report, reader):
    expected = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    got = {m["key"]: m for m in report["metadata"]}
    assert list(got) == list(expected)  # same keys, same order
    for key, field in expected.items():
        m = got[key]
        assert m["type"] == field.types[0].name.lower(), key
        assert not m["truncated"]
        want = field.contents()
        if isinstance(want, float):
            assert math.isclose(m["value"], want, rel_tol=1e-7), key
        else:
            assert m["value"] == want, key
        if m["type"] == "array":
            assert m["elem_type"] == field.types[1].name.lower()
            assert m["count"] == len(want)


def test_json_tensors_match_gguf(report, reader):
    assert len(report["tensors"]) == len(reader.tensors) == 272
    for got, t in zip(report["tensors"], reader.tensors):
        assert got["name"] == t.name
        assert got["type"] == t.tensor_type.name
        assert got["shape"] == [int(x) for x in t.shape]
        assert got["n_elements"] == t.n_elements
        assert got["bytes"] == t.n_bytes
        assert got["offset"] == t.data_offset


def test_totals(report, reader):
    params = sum(t.n_elements for t in reader.tensors)
    nbytes = sum(t.n_bytes for t in reader.tensors)
    assert report["totals"]["parameters"] == params
    assert report["totals"]["bytes"] == nbytes
    assert math.isclose(report["totals"]["bits_per_weight"], 8 * nbytes / params)
    assert 134e6 < params < 136e6  # SmolLM2-135M


def test_json_abbreviates_without_full(default_model):
    rep = json.loads(inspect(default_model, "--json").stdout)
    tokens = next(m for m in rep["metadata"] if m["key"] == "tokenizer.ggml.tokens")
    assert tokens["count"] == 49152 and len(tokens["value"]) == 8 and tokens["truncated"]
    assert tokens["value"][:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def test_text_view(default_model, reader):
    out = inspect(default_model).stdout
    assert "GGUF v3, alignment 32" in out
    assert "metadata (33 keys)" in out and "tensors (272)" in out
    assert '[49152 x string] ["<|endoftext|>", "<|im_start|>"' in out
    assert "... 49144 more]" in out
    assert "llama.block_count" in out and "uint32   30" in out
    for t in reader.tensors:
        assert t.name in out
    assert "bits per weight" in out


def test_errors(tmp_path, default_model):
    r = inspect(tmp_path / "missing.gguf", check=False)
    assert r.returncode == 1 and "missing.gguf" in r.stderr and "No such file" in r.stderr
    cut = tmp_path / "cut.gguf"
    data = default_model.read_bytes()
    cut.write_bytes(data[:1_000_000])  # inside the merges array
    r = inspect(cut, check=False)
    assert r.returncode == 1 and "tokenizer.ggml.merges" in r.stderr and "offset" in r.stderr
    cut.write_bytes(data[:2_000_000])  # header complete, tensor data missing
    r = inspect(cut, check=False)
    assert r.returncode == 1 and "outside the file" in r.stderr and "token_embd.weight" in r.stderr
    (tmp_path / "text.gguf").write_text("hello world")
    r = inspect(tmp_path / "text.gguf", check=False)
    assert r.returncode == 1 and "not a GGUF file" in r.stderr
    assert inspect(check=False).returncode == 2
    assert inspect(default_model, "--bogus", check=False).returncode == 2
