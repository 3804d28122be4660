"""`brisk quantize`, `brisk perplexity` (+ KL base files), `brisk imatrix` end to end.

References: the gguf package reads every file brisk writes (types, shapes,
metadata, dequantized values); perplexity, KL and top-1 agreement are
recomputed in numpy from the logits brisk's FFI returns; importance matrix
sums are recomputed in numpy for a layer-0 matrix (embedding -> RMSNorm).
Recipes are restated here independently of src/quant/mix.c. Everything runs
on tiny synth models or a few windows of 32-64 tokens of SmolLM2-135M
(seconds on 2 cores); the corpus is tests/data/kjv_luke_john.txt."""
import json
import pathlib
import re
import subprocess
import sys

import gguf
import numpy as np
import pytest

from brisk_ffi import BRISK_BIN, Vocab
from brisk_model_ffi import Model

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "kjv_luke_john.txt"
Q = gguf.GGMLQuantizationType
TINY = ["--n-embd", "256", "--n-layer", "8", "--n-head", "4", "--n-head-kv", "1", "--n-ff", "512",
        "--vocab", "1024"]


def brisk(*args, timeout=300):
    return subprocess.run([str(BRISK_BIN), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def ok(*args, **kw):
    r = brisk(*args, **kw)
    assert r.returncode == 0, r.stderr
    return r


def tensors(path):
    return {t.name: t for t in gguf.GGUFReader(str(path)).tensors}


# ---- recipes, restated from llama.cpp's published rules ---------------------------------

def more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


BASE = {"Q4_0": Q.Q4_0, "Q4_1": Q.Q4_1, "Q5_0": Q.Q5_0, "Q5_1": Q.Q5_1, "Q8_0": Q.Q8_0, "Q2_K": Q.Q2_K,
        "Q3_K_S": Q.Q3_K, "Q3_K_M": Q.Q3_K, "Q4_K_S": Q.Q4_K, "Q4_K_M": Q.Q4_K, "Q5_K_S": Q.Q5_K,
        "Q5_K_M": Q.Q5_K, "Q6_K": Q.Q6_K}
FTYPE = {"Q4_0": 2, "Q4_1": 3, "Q5_0": 8, "Q5_1": 9, "Q8_0": 7, "Q2_K": 10, "Q3_K_S": 11, "Q3_K_M": 12,
         "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18}


def expected_type(mix, name, n_layer, n_gqa):
    """Type of a matrix whose rows are a multiple of 256 (no fallback)."""
    if name == "output.weight":
        return Q.Q8_0 if mix == "Q8_0" else Q.Q6_K
    m = re.match(r"blk\.(\d+)\.(\w+)\.weight", name)
    if not m:
        return BASE[mix]
    i, role = int(m.group(1)), m.group(2)
    rules = {
        ("Q2_K", "attn_v"): Q.Q4_K if n_gqa >= 4 else Q.Q3_K,
        ("Q2_K", "ffn_down"): Q.Q3_K, ("Q2_K", "attn_output"): Q.Q3_K,
        ("Q3_K_M", "attn_v"): Q.Q5_K if i < 2 else Q.Q4_K,
        ("Q3_K_M", "ffn_down"): Q.Q5_K if i < n_layer // 16 else Q.Q4_K,
        ("Q3_K_M", "attn_output"): Q.Q4_K,
        ("Q4_K_S", "attn_v"): Q.Q5_K if i < 4 else Q.Q4_K,
        ("Q4_K_S", "ffn_down"): Q.Q5_K if i < n_layer // 8 else Q.Q4_K,
    }
    for mix_m in ("Q4_K_M", "Q5_K_M"):
        for r in ("attn_v", "ffn_down"):
            rules[(mix_m, r)] = Q.Q6_K if more_bits(i, n_layer) else BASE[mix_m]
    return rules.get((mix, role), BASE[mix])


@pytest.fixture(scope="module")
def tiny_f32(tmp_path_factory):
    path = tmp_path_factory.mktemp("q") / "tiny-f32.gguf"
    ok("synth", *TINY, "--type", "F32", "-q", path)
    return path


@pytest.mark.parametrize("mix", sorted(BASE))
def test_quantize_follows_recipe(tiny_f32, tmp_path, mix):
    out = tmp_path / f"{mix}.gguf"
    r = ok("quantize", "-q", "-t", "2", tiny_f32, out, mix)
    src, dst = gguf.GGUFReader(str(tiny_f32)), gguf.GGUFReader(str(out))
    # metadata copied, file type set
    for key, field in src.fields.items():
        if key.startswith("GGUF.") or key == "general.file_type":
            continue
        assert key in dst.fields, key
        assert dst.fields[key].contents() == field.contents(), key
    assert dst.fields["general.file_type"].contents() == FTYPE[mix]
    assert dst.fields["general.quantization_version"].contents() == 2
    st, dt = {t.name: t for t in src.tensors}, {t.name: t for t in dst.tensors}
    assert list(st) == list(dt)
    rel = {Q.Q2_K: .40, Q.Q3_K: .22, Q.Q4_K: .11, Q.Q5_K: .06, Q.Q6_K: .03, Q.Q4_0: .13, Q.Q4_1: .11,
           Q.Q5_0: .07, Q.Q5_1: .055, Q.Q8_0: .01, Q.F32: 0}
    for name, t in dt.items():
        assert list(t.shape) == list(st[name].shape)
        if len(t.shape) == 1:
            assert t.tensor_type == Q.F32
            continue
        want = expected_type(mix, name, 8, 4)
        assert t.tensor_type == want, (name, t.tensor_type.name, want.name)
        a = np.asarray(st[name].data, dtype=np.float32).reshape(-1)
        b = gguf.dequantize(t.data, t.tensor_type).reshape(-1)
        err = np.sqrt(np.mean((a - b) ** 2) / np.mean(a ** 2))
        assert err < rel[t.tensor_type], (name, t.tensor_type.name, err)


def test_quantize_pure_progress_and_errors(tiny_f32, tmp_path):
    out = tmp_path / "pure.gguf"
    r = ok("quantize", "--pure", tiny_f32, out, "Q4_K_M")
    assert "quantize [" not in r.stderr  # stderr is not a terminal: no bar unless asked
    r = ok("quantize", "--pure", "--progress", tiny_f32, out, "Q4_K_M")
    assert re.search(r"quantize \[#+\] 100%", r.stderr), r.stderr
    assert {t.tensor_type for t in tensors(out).values() if len(t.shape) == 2} == {Q.Q4_K}
    r = brisk("quantize", tiny_f32, tmp_path / "x.gguf", "Q4_K_X")
    assert r.returncode == 2 and "unknown type 'Q4_K_X'" in r.stderr
    r = brisk("quantize", tmp_path / "missing.gguf", tmp_path / "x.gguf", "Q4_0")
    assert r.returncode == 1 and "missing.gguf" in r.stderr
    r = brisk("quantize", tiny_f32, tiny_f32, "Q4_0")
    assert r.returncode == 2 and "overwrite" in r.stderr
    r = brisk("quantize", tiny_f32, tmp_path / "x.gguf")
    assert r.returncode == 2
    r = brisk("quantize", tiny_f32, tmp_path / "x.gguf", "Q4_0", "--target-bpw", "4")
    assert r.returncode == 1 and "--calib" in r.stderr
    r = brisk("quantize", "--imatrix", tiny_f32, tiny_f32, tmp_path / "x.gguf", "Q4_K_M")
    assert r.returncode == 1 and "not an importance matrix" in r.stderr
    assert not (tmp_path / "x.gguf").exists()


# ---- a real model: requantize warning, tied output, row fallbacks -----------------------------

@pytest.fixture(scope="module")
def smol_f16(default_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("smol") / "smollm2-f16.gguf"
    r = ok("quantize", "-t", "2", default_model, out, "F16")
    assert "already quantized" in r.stderr  # the packaged model is Q4_1
    return out


def test_dequantized_base_and_mix_on_real_model(default_model, smol_f16, tmp_path):
    orig, base = tensors(default_model), tensors(smol_f16)
    for name in ("blk.0.attn_q.weight", "blk.29.ffn_down.weight", "token_embd.weight"):
        a = gguf.dequantize(orig[name].data, orig[name].tensor_type).astype(np.float16).astype(np.float32)
        b = np.asarray(base[name].data).astype(np.float32)
        assert base[name].tensor_type == Q.F16 and np.array_equal(a.reshape(-1), b.reshape(-1)), name
    out = tmp_path / "q4km.gguf"
    r = ok("quantize", "-t", "2", smol_f16, out, "Q4_K_M")
    assert "fallback" in r.stderr
    t = tensors(out)
    assert "output.weight" not in t
    assert t["token_embd.weight"].tensor_type == Q.Q8_0  # tied output; 576-wide rows: Q6_K cannot
    assert t["blk.0.attn_q.weight"].tensor_type == Q.Q5_0  # Q4_K -> Q5_0 (576 = 2.25 x 256)
    assert t["blk.0.attn_v.weight"].tensor_type == Q.Q8_0  # Q6_K (more bits) -> Q8_0
    assert t["blk.4.attn_v.weight"].tensor_type == Q.Q5_0
    assert t["blk.0.ffn_down.weight"].tensor_type == Q.Q6_K  # 1536-wide rows: K-quants fit
    assert t["blk.4.ffn_down.weight"].tensor_type == Q.Q4_K


# ---- perplexity against numpy -----------------------------------------------------------------

def windows(vocab, n_ctx, n_windows):
    ids = vocab.tokenize(CORPUS.read_text(), add_special=False, parse_special=False)
    bos = vocab.tokenize("", add_special=True, parse_special=False)
    per = n_ctx - len(bos)
    return [bos + ids[w * per:(w + 1) * per] for w in range(n_windows)]


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def scored_logprobs(model_path, n_ctx, n_windows):
    """[n_scored, vocab] log-probabilities and the next tokens, as brisk perplexity scores them."""
    vocab, model = Vocab(model_path), Model(model_path)
    try:
        lps, nexts = [], []
        for win in windows(vocab, n_ctx, n_windows):
            lg = model.logits(win, n_ctx=n_ctx)
            first = n_ctx // 2
            lps.append(log_softmax(lg[first:n_ctx - 1]))
            nexts.extend(win[first + 1:])
        return np.concatenate(lps), np.array(nexts)
    finally:
        model.close()
        vocab.close()


def perplexity(*args):
    r = ok("perplexity", "-f", CORPUS, "-t", "2", "--json", *args)
    return json.loads(r.stdout)


def test_perplexity_matches_numpy(default_model):
    res = perplexity("-m", default_model, "--ctx", "64", "--chunks", "3")
    lp, nxt = scored_logprobs(default_model, 64, 3)
    nll = -lp[np.arange(len(nxt)), nxt]
    assert res["n_scored"] == len(nxt) == 3 * 31
    assert res["ppl"] == pytest.approx(np.exp(nll.mean()), rel=2e-3)
    se = nll.std(ddof=1) / np.sqrt(len(nll))
    assert res["ppl_err"] == pytest.approx(np.exp(nll.mean()) * se, rel=2e-2)
    text = ok("perplexity", "-m", default_model, "-f", CORPUS, "--ctx", "32", "--chunks", "1").stdout
    assert re.match(r"perplexity: \d+\.\d+ \+/- \d+\.\d+ \(15 tokens scored in 1 windows of 32", text), text


def coarse_kl(lp_base, lp_model, k):
    """KL over each base row's top-k tokens plus one bucket for the rest (klbase.h)."""
    out = []
    for b, q in zip(lp_base, lp_model):
        top = np.argsort(-b, kind="stable")[:k]
        p = np.exp(b[top])
        kl = np.sum(p * (b[top] - q[top]))
        rp, rq = 1 - p.sum(), 1 - np.exp(q[top]).sum()
        if rp > 1e-9:
            kl += rp * (np.log(rp) - np.log(max(rq, 1e-30)))
        out.append(max(kl, 0.0))
    return np.array(out)


def test_kl_base_against_numpy(smol_f16, tmp_path):
    q = tmp_path / "q4_0.gguf"
    ok("quantize", "-q", smol_f16, q, "Q4_0")
    kl_file = tmp_path / "base.kl"
    args = ("--ctx", "64", "--chunks", "2", "--kl-base", kl_file)
    base = perplexity("-m", smol_f16, *args, "--top-k", "8")
    assert kl_file.stat().st_size == 28 + 4 * 2 * 64 + 2 * 31 * (4 + 8 * 8) + 8
    same = perplexity("-m", smol_f16, *args)
    assert same["kl_mean"] < 1e-9 and same["top1"] == 1.0 and abs(same["dppl_pct"]) < 1e-6
    res = perplexity("-m", q, *args)
    lb, nxt = scored_logprobs(smol_f16, 64, 2)
    lq, _ = scored_logprobs(q, 64, 2)
    kl = coarse_kl(lb, lq, 8)
    full = np.sum(np.exp(lb) * (lb - lq), axis=1)
    assert res["kl_mean"] == pytest.approx(kl.mean(), rel=5e-3, abs=1e-5)
    assert np.all(full >= kl - 1e-6)  # coarsening never increases KL
    assert res["kl_max"] == pytest.approx(kl.max(), rel=5e-3, abs=1e-5)
    assert res["top1"] == pytest.approx(np.mean(lb.argmax(1) == lq.argmax(1)), abs=1e-9)
    rows = np.arange(len(nxt))
    d = -lq[rows, nxt] + lb[rows, nxt]
    assert res["dppl_pct"] == pytest.approx(100 * (np.exp(d.mean()) - 1), rel=5e-3, abs=1e-3)
    assert res["base_ppl"] == pytest.approx(base["ppl"], rel=1e-5)


def test_kl_base_rejects_bad_files(default_model, tmp_path):
    kl_file = tmp_path / "b.kl"
    perplexity("-m", default_model, "--ctx", "32", "--chunks", "1", "--kl-base", kl_file)
    good = kl_file.read_bytes()

    def run_with(data, *extra):
        kl_file.write_bytes(data)
        return brisk("perplexity", "-m", default_model, "-f", CORPUS, "--ctx", "32", "--chunks", "1",
                     "--kl-base", kl_file, *extra)
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x40
    for data, msg in ((bytes(flipped), "checksum"), (good[:-9], "bytes"), (b"hello", "not a brisk KL base"),
                      (b"", "not a brisk KL base")):
        r = run_with(data)
        assert r.returncode == 1 and msg in r.stderr, (msg, r.stderr)
    r = run_with(good, "--ctx", "48")
    assert r.returncode == 1 and "another --ctx" in r.stderr
    r = brisk("perplexity", "-m", default_model, "-f", tmp_path / "none.txt")
    assert r.returncode == 1 and "none.txt" in r.stderr
    (tmp_path / "short.txt").write_text("Too short.")
    r = brisk("perplexity", "-m", default_model, "-f", tmp_path / "short.txt")
    assert r.returncode == 1 and "fewer than one window" in r.stderr
    assert brisk("perplexity", "-m", default_model).returncode == 2


# ---- importance matrix ------------------------------------------------------------------------

def test_imatrix_sums_and_quantize(default_model, smol_f16, tmp_path):
    im = tmp_path / "imatrix.gguf"
    ok("imatrix", "-m", default_model, "-f", CORPUS, "-o", im, "--ctx", "32", "--chunks", "2", "-t", "2")
    rd = gguf.GGUFReader(str(im))
    t = {x.name: np.asarray(x.data, dtype=np.float64) for x in rd.tensors}
    assert rd.fields["general.type"].contents() == "imatrix"
    assert rd.fields["imatrix.chunk_count"].contents() == 2
    assert "token_embd.weight.in_sum2" in t and "output.weight.in_sum2" not in t  # tied output
    counts = {k: v for k, v in t.items() if k.endswith(".counts")}
    assert len(counts) == 1 + 30 * 7 and all(v[0] == 64 for v in counts.values())
    assert np.array_equal(t["blk.0.attn_q.weight.in_sum2"], t["blk.0.attn_v.weight.in_sum2"])
    # layer 0's attention input is RMSNorm(embedding) * attn_norm: recompute its column sums of squares
    mt = tensors(default_model)
    vocab = Vocab(default_model)
    ids = np.array(windows(vocab, 32, 2)).reshape(-1)
    vocab.close()
    emb = gguf.dequantize(mt["token_embd.weight"].data, mt["token_embd.weight"].tensor_type)[ids]
    x = emb / np.sqrt(np.mean(emb.astype(np.float64) ** 2, axis=1, keepdims=True) + 1e-5)
    x = x * np.asarray(mt["blk.0.attn_norm.weight"].data)
    np.testing.assert_allclose(t["blk.0.attn_q.weight.in_sum2"], np.sum(x ** 2, axis=0), rtol=2e-3, atol=1e-3)
    # quantize with it: importance changes the K-quant and Q4_0..Q5_1 matrices, not Q8_0
    plain, weighted = tmp_path / "plain.gguf", tmp_path / "weighted.gguf"
    ok("quantize", "-q", smol_f16, plain, "Q4_K_M")
    r = ok("quantize", smol_f16, weighted, "Q4_K_M", "--imatrix", im)
    assert "imatrix" in r.stderr
    a, b = tensors(plain), tensors(weighted)
    assert a["blk.3.ffn_down.weight"].tensor_type == Q.Q4_K
    assert not np.array_equal(a["blk.3.ffn_down.weight"].data, b["blk.3.ffn_down.weight"].data)
    assert a["blk.3.attn_q.weight"].tensor_type == Q.Q5_0
    assert not np.array_equal(a["blk.3.attn_q.weight"].data, b["blk.3.attn_q.weight"].data)
    assert a["blk.0.attn_v.weight"].tensor_type == Q.Q8_0
    assert np.array_equal(a["blk.0.attn_v.weight"].data, b["blk.0.attn_v.weight"].data)
    r = brisk("imatrix", "-m", default_model, "-f", CORPUS)
    assert r.returncode == 2 and "-o OUT" in r.stderr


# ---- --target-size ---------------------------------------------------------------------------

def test_target_bpw_fits_and_caches(tiny_f32, tmp_path):
    out1, out2, sens = tmp_path / "t1.gguf", tmp_path / "t2.gguf", tmp_path / "sens.txt"
    args = ("--target-bpw", "4.0", "--calib", CORPUS, "--calib-tokens", "64", "--sensitivity", sens, "-t", "2")
    r = ok("quantize", tiny_f32, out1, "Q4_K_M", *args)
    assert "measuring the sensitivity" in r.stderr and sens.exists()
    lines = sens.read_text().split("\n")
    assert len([x for x in lines if x]) == 1 + 1 + 8 * 7  # token_embd, output, 7 per layer
    r = ok("quantize", tiny_f32, out2, "Q4_K_M", *args)
    assert "sensitivities from" in r.stderr
    assert out1.read_bytes() == out2.read_bytes()
    mats = [t for t in tensors(out1).values() if len(t.shape) == 2]
    bits = 8 * sum(int(t.n_bytes) for t in mats) / sum(int(t.n_elements) for t in mats)
    assert 3.6 < bits <= 4.0
    assert {t.tensor_type for t in mats} <= {Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.Q8_0}
    r = brisk("quantize", tiny_f32, tmp_path / "t3.gguf", "Q4_K_M", "--target-bpw", "2.0", "--calib", CORPUS,
              "--sensitivity", sens)
    assert r.returncode == 1 and "too small" in r.stderr
    sens.write_text("blk.0.attn_q.weight Q2_K 0.5\n")
    r = brisk("quantize", tiny_f32, tmp_path / "t3.gguf", "Q4_K_M", *args)
    assert r.returncode == 1 and "no sensitivity for" in r.stderr


def test_quality_table_quick_smoke(tmp_path):
    """The table script end to end on a tiny random model (the real table: docs/QUALITY.md)."""
    out = tmp_path / "q.md"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "quality_table.py"), "--quick", "--out", str(out),
                        "-t", "2"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    md = out.read_text()
    for label in ("F16 (base)", "Q8_0", "Q4_K_M + imatrix", "target = Q4_K_M size"):
        assert f"| {label} |" in md
    assert re.search(r"target = Q4_K_M size: KL \S+ at \S+ MB (beats|does NOT beat)", md)
