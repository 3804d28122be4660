"""`brisk synth`, `brisk bench` and `brisk fit` end to end, on tiny custom shapes
(a few MB, seconds on 2 cores).

- synth: every family and several types (single types and K-quant mixes) load
  and generate in brisk; the gguf package reads the same tensors with the
  shapes and types the recipe rule gives (shapes.h).
- bench: md, json and csv are well formed and carry every field; --membw
  prints a positive bandwidth.
- fit vs bench: the memory estimate is compared with the peak resident memory
  of a `brisk bench` process that fills the whole context (so that every KV
  page and every weight page is touched): that is what "memory needed" means
  and it is deterministic. Speed is not compared here: fit's decode figure is
  the bandwidth roofline (bandwidth / bytes per token), which tiny models that
  live in the CPU caches may exceed and slow kernels stay below; instead the
  test checks that fit and bench count the same bytes per token.
- errors: usage errors exit 2, failures (unwritable output, missing file) exit 1,
  each with a message that says what is wrong."""
import csv
import io
import json
import re
import subprocess

import gguf
import pytest

from brisk_ffi import BRISK_BIN

TINY = ["--n-embd", "256", "--n-layer", "2", "--n-head", "4", "--n-head-kv", "2", "--n-ff", "512",
        "--vocab", "1024"]


def brisk(*args, timeout=120):
    return subprocess.run([str(BRISK_BIN), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def synth(path, type_name, *extra):
    r = brisk("synth", *TINY, "--type", type_name, "-q", *extra, path)
    assert r.returncode == 0, r.stderr
    return path


@pytest.fixture(scope="module")
def tiny_q8(tmp_path_factory):
    return synth(tmp_path_factory.mktemp("synth") / "tiny-q8_0.gguf", "Q8_0")


@pytest.mark.parametrize("arch,type_name", [
    ("llama", "Q4_K_M"), ("llama", "F16"), ("llama", "Q4_0"), ("llama", "Q6_K"),
    ("qwen2", "Q8_0"), ("qwen2", "Q3_K_M"), ("qwen3", "BF16"), ("qwen3", "Q5_K_M"),
])
def test_synth_loads_and_runs(tmp_path, arch, type_name):
    path = synth(tmp_path / f"{arch}-{type_name}.gguf", type_name, "--arch", arch)
    r = brisk("run", "-m", path, "-p", "hi", "-n", "4", "--temp", "0", "-t", "2")
    assert r.returncode == 0, r.stderr
    assert re.search(r"generation: [1-4] tokens", r.stderr), r.stderr


def test_synth_tensors_in_gguf_package(tmp_path):
    path = synth(tmp_path / "q4km.gguf", "Q4_K_M", "--arch", "qwen2")
    reader = gguf.GGUFReader(str(path))
    t = {x.name: x for x in reader.tensors}
    Q = gguf.GGMLQuantizationType
    assert len(t) == 3 + 2 * 12  # embd, output norm, output; 9 per layer + 3 biases
    assert list(t["token_embd.weight"].shape) == [256, 1024] and t["token_embd.weight"].tensor_type == Q.Q4_K
    assert t["output.weight"].tensor_type == Q.Q6_K
    assert list(t["blk.0.attn_k.weight"].shape) == [256, 128]
    assert list(t["blk.1.ffn_down.weight"].shape) == [512, 256]
    assert t["blk.0.attn_q.bias"].tensor_type == Q.F32 and list(t["blk.0.attn_q.bias"].shape) == [256]
    assert t["blk.0.attn_norm.weight"].tensor_type == Q.F32
    # Q4_K_M: attn_v and ffn_down in Q6_K where more_bits(i) = i < n/8 or i >= 7n/8 or (i - n/8) % 3 == 2:
    # with n = 2 layers (integer division), layer 1 only; everything else Q4_K
    for i, more in ((0, Q.Q4_K), (1, Q.Q6_K)):
        assert t[f"blk.{i}.attn_v.weight"].tensor_type == more
        assert t[f"blk.{i}.ffn_down.weight"].tensor_type == more
        assert t[f"blk.{i}.ffn_up.weight"].tensor_type == Q.Q4_K
    w = gguf.dequantize(t["blk.0.ffn_up.weight"].data, Q.Q4_K)
    assert w.shape == (512, 256) and 0.017 < float(w.std()) < 0.023
    fields = reader.fields
    assert fields["general.architecture"].contents() == "qwen2"
    assert fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert len(fields["tokenizer.ggml.tokens"].contents()) == 1024
    assert fields["general.file_type"].contents() == 15


def test_synth_is_seeded(tmp_path):
    a = synth(tmp_path / "a.gguf", "Q4_0", "--seed", "5", "-t", "1")
    b = synth(tmp_path / "b.gguf", "Q4_0", "--seed", "5", "-t", "2")
    c = synth(tmp_path / "c.gguf", "Q4_0", "--seed", "6")
    assert a.read_bytes() == b.read_bytes()  # same file whatever the thread count
    assert a.read_bytes() != c.read_bytes()


def test_bench_markdown(tiny_q8):
    r = brisk("bench", "-m", tiny_q8, "-p", "16,32", "-n", "4", "-r", "2", "-t", "1", "--membw-mib", "64")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.match(r"memory read bandwidth: [\d.]+ GB/s", lines[0])
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 2  # header, rule, one row per -p value
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[:9] == ["model", "size", "threads", "prompt", "decode", "depth", "prompt tok/s", "decode tok/s",
                          "TTFT ms"]
    for row in table[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == len(header) and cells[0] == "tiny-q8_0.gguf"
        assert re.fullmatch(r"[\d.]+ \[[\d.]+-[\d.]+\]", cells[6]) and re.fullmatch(r"\d+%", cells[10])
        assert header[10:] == ["% of bw", "bw GB/s", "weights in"] and cells[12] == "CPU"


def test_bench_json_and_csv(tiny_q8):
    r = brisk("bench", "-m", tiny_q8, "-p", "16", "-n", "4", "-d", "8", "-r", "3", "-t", "1,2", "-o", "json",
              "--bw", "25")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["membw"] == {"gbps": 25.0, "source": "given"}
    assert [row["threads"] for row in doc["rows"]] == [1, 2]
    for row in doc["rows"]:
        assert (row["n_prompt"], row["n_gen"], row["depth"], row["reps"]) == (16, 4, 8, 3)
        for k in ("prompt_tps", "decode_tps", "ttft_ms"):
            s = row[k]
            assert 0 < s["min"] <= s["median"] <= s["max"]
        assert row["decode_gbps"] == pytest.approx(row["weight_bytes_per_token"] * row["decode_tps"]["median"] / 1e9,
                                                   rel=1e-4)
        assert row["bw_pct"] == pytest.approx(100 * row["decode_gbps"] / 25, rel=1e-4)
        assert row["file_bytes"] == tiny_q8.stat().st_size and row["peak_rss_bytes"] > 0
        assert row["weights_in"] == "cpu" and row["gpu_layers"] == 0  # no GPU in these tests
    assert "gpu" not in doc  # the GPU's copy bandwidth: only with rows all on the GPU
    r = brisk("bench", "-m", tiny_q8, "-p", "16", "-n", "4", "-r", "2", "-t", "1", "-o", "csv", "--bw", "25")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1
    assert float(rows[0]["decode_tps"]) > 0 and float(rows[0]["prompt_tps"]) > 0
    assert float(rows[0]["membw_gbps"]) == 25.0 and rows[0]["model"] == "tiny-q8_0.gguf"
    assert rows[0]["weights_in"] == "CPU" and rows[0]["gpu_layers"] == "0"


def test_membw_alone():
    r = brisk("bench", "--membw", "--membw-mib", "128")
    assert r.returncode == 0, r.stderr
    m = re.match(r"memory read bandwidth: ([\d.]+) GB/s", r.stdout)
    assert m and float(m.group(1)) > 0
    r = brisk("bench", "--membw", "--membw-mib", "128", "-o", "json", "-t", "1")
    doc = json.loads(r.stdout)["membw"]
    assert doc["gbps"] > 0 and doc["threads"] == 1 and doc["source"] == "measured"


def test_fit_memory_matches_bench_rss(tmp_path):
    # weights ~40 MB (F16), a full context of 256 tokens
    path = tmp_path / "fit.gguf"
    r = brisk("synth", "--n-embd", "512", "--n-layer", "8", "--n-head", "8", "--n-head-kv", "4", "--n-ff", "1536",
              "--vocab", "1024", "--type", "F16", "-q", path)
    assert r.returncode == 0, r.stderr
    b = brisk("bench", "-m", path, "-p", "256", "-n", "0", "-r", "1", "-t", "2", "--bw", "20", "-o", "json")
    assert b.returncode == 0, b.stderr
    row = json.loads(b.stdout)["rows"][0]
    f = brisk("fit", "-m", path, "--ctx", "256", "-t", "2", "--bw", "20", "--json")
    assert f.returncode == 0, f.stderr
    est = json.loads(f.stdout)
    assert est["bytes"]["total"] == pytest.approx(row["peak_rss_bytes"], rel=0.25), (est["bytes"], row)
    # the same bytes per token in both, and fit's speed is bandwidth / bytes
    assert est["bytes_per_token"] == row["weight_bytes_per_token"]
    assert est["decode_tps_empty"] == pytest.approx(20e9 / est["bytes_per_token"], rel=1e-4)
    kv = 8 * 2 * 256 * 4 * 64 * 2  # layers x (K, V) x ctx x kv heads x head_dim x f16
    assert est["bytes"]["kv_cache"] == kv
    f32 = json.loads(brisk("fit", "-m", path, "--ctx", "256", "--kv-type", "f32", "--bw", "20", "--json").stdout)
    assert f32["bytes"]["kv_cache"] == 2 * kv


def test_fit_shapes_and_ram_listing():
    r = brisk("fit", "--params", "8B", "--type", "Q4_K_M", "--ctx", "8192", "--bw", "29", "--json")
    assert r.returncode == 0, r.stderr
    est = json.loads(r.stdout)
    assert est["model"] == "llama3-8b Q4_K_M" and est["source"] == "shape"
    assert 4.7e9 < est["bytes"]["weights"] < 5.1e9  # llama.cpp's file: 4.92 GB
    assert est["bytes"]["kv_cache"] == 32 * 2 * 8192 * 8 * 128 * 2
    assert est["gpu"] is None and "no GPU" in est["gpu_note"]
    text = brisk("fit", "--shape", "qwen3-8b", "--type", "Q8_0", "--bw", "29")
    assert text.returncode == 0 and "verdict:" in text.stdout and "GPU:" in text.stdout
    lst = brisk("fit", "--ram", "16G", "--ctx", "4096", "--bw", "29", "--json")
    assert lst.returncode == 0, lst.stderr
    models = {(m["shape"], m["type"]): m for m in json.loads(lst.stdout)["models"]}
    assert models[("llama3.2-1b", "Q4_K_M")]["fits"] and not models[("llama3-70b", "Q4_K_M")]["fits"]
    assert not models[("llama3-8b", "F16")]["fits"]  # 16 GB of weights > 60% of 16 GiB


@pytest.mark.parametrize("args,code,msg", [
    (["synth", "--shape", "llama9-1t", "--type", "Q4_0", "x.gguf"], 2, "unknown shape"),
    (["synth", "--shape", "llama3-8b", "--type", "Q9_9", "x.gguf"], 2, "unknown type"),
    (["synth", "--shape", "llama3-8b", "x.gguf"], 2, "--type"),
    (["synth", "--shape", "llama3-8b", "--type", "Q4_0"], 2, "no output file"),
    (["synth", "--n-embd", "256", "--type", "Q4_0", "x.gguf"], 2, "needs --n-embd"),
    (["synth", *TINY, "--n-head", "3", "--type", "Q4_0", "x.gguf"], 2, "multiple"),
    (["synth", *TINY, "--type", "Q4_0", "/nonexistent-dir/x.gguf"], 1, "cannot create"),
    (["bench"], 2, "give a model"),
    (["bench", "-m", "/nonexistent.gguf", "--bw", "1"], 1, "nonexistent"),
    (["bench", "--membw", "-o", "xml"], 2, "md, json or csv"),
    (["bench", "-m", "x.gguf", "-p", "abc"], 2, "integer"),
    (["fit"], 2, "give a model"),
    (["fit", "--params", "lots"], 2, "--params"),
    (["fit", "--shape", "llama3-8b", "--kv-type", "q3"], 2, "f16 or f32"),
    (["fit", "-m", "/nonexistent.gguf", "--bw", "1"], 1, "nonexistent"),
])
def test_bad_input(tmp_path, args, code, msg):
    r = subprocess.run([str(BRISK_BIN), *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == code, (r.returncode, r.stderr)
    assert msg in r.stderr, r.stderr
    assert not (tmp_path / "x.gguf").exists()
