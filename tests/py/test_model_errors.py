"""Bad models and bad prompts get a clear error and a non-zero exit, never a crash."""
import pathlib
import subprocess

import gguf
import numpy as np
import pytest

from brisk_ffi import BRISK_BIN
from brisk_model_ffi import Model

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "logits" / "qwen3-tiny.gguf"


def rewrite(dst, arch=None, drop=None, reshape=None, retype=None):
    """Copy qwen3-tiny.gguf with one thing changed."""
    r = gguf.GGUFReader(str(TINY))
    w = gguf.GGUFWriter(str(dst), arch=arch or "qwen3")
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, field.contents(), vtype, sub_type=sub)
    for t in r.tensors:
        if t.name == drop:
            continue
        # t.data is [rows, elements] for float types, [rows, bytes] for block types
        qtype, data = t.tensor_type, np.asarray(t.data)
        if t.name == reshape:
            data = data[: data.shape[0] // 2]
        if t.name == retype:  # a type brisk knows but cannot compute with
            qtype = gguf.GGMLQuantizationType.IQ2_XXS
            data = np.zeros((int(t.shape[1]), int(t.shape[0]) // 256 * 66), dtype=np.uint8)
        w.add_tensor(t.name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dst


def run(*args):
    return subprocess.run([str(BRISK_BIN), "run", *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("change, message", [
    (dict(arch="mamba"), "architecture 'mamba' is not supported"),
    (dict(drop="blk.2.attn_k.weight"), "missing tensor 'blk.2.attn_k.weight'"),
    (dict(reshape="blk.1.ffn_up.weight"), "tensor 'blk.1.ffn_up.weight' has shape"),
    (dict(retype="blk.0.ffn_down.weight"), "IQ2_XXS"),
])
def test_bad_model_is_refused(tmp_path, change, message):
    path = rewrite(tmp_path / "bad.gguf", **change)
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(")):
        Model(path)
    r = run("-m", path, "-p", "hello", "-n", "2")
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr


def test_prompt_longer_than_context():
    r = run("-m", TINY, "-c", "16", "-p", "a b c d e f g h i j k l m n o p q r s t u v w x y z", "-n", "4")
    assert r.returncode == 1 and "longer than the context" in r.stderr


def test_generation_stops_at_context_end():
    r = run("-m", TINY, "-c", "24", "-p", "hello there", "-n", "-1", "--temp", "0")
    assert r.returncode == 0 and "context (24 tokens) is full" in r.stderr


def test_usage_errors():
    assert run("-m", TINY).returncode == 2  # no prompt
    assert run("-m", TINY, "-p", "x", "--temp", "hot").returncode == 2
    assert run("-m", TINY, "-p", "x", "--bogus", "1").returncode == 2
    r = run("-m", "/nonexistent.gguf", "-p", "x")
    assert r.returncode == 1 and "No such file" in r.stderr
