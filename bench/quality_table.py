#!/usr/bin/env python3
"""Regenerates docs/QUALITY.md: size, bits per weight, perplexity, delta perplexity,
mean KL divergence and top-1 agreement of every `brisk quantize` type, the
importance-matrix variants and --target-size, for real models.

    bench/quality_table.py                    # the table in docs/QUALITY.md (~1 h on 2 busy cores)
    bench/quality_table.py --quick --out F    # smoke version on a tiny random model (CI)

Method (all with build/brisk):
- base: the packaged model (they are all quantized) dequantized to F16 by
  `brisk quantize IN base.gguf F16`; every variant is quantized from that base;
- text: tests/data/kjv_luke_john.txt (KJV, public domain). Luke is the
  evaluation text, John the calibration text (imatrix, --target-size), so that
  nothing is measured on the text it was tuned on;
- `brisk perplexity --kl-base` saves the base's predictions once; each variant
  is compared with them (KL over the base's top-32 tokens + the rest,
  src/quality/klbase.h).
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
BRISK = pathlib.Path(os.environ.get("BRISK_BUILD_DIR", ROOT / "build")) / "brisk"
CORPUS = ROOT / "tests" / "data" / "kjv_luke_john.txt"

ALL_TYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0",
             "Q3_K_M", "Q3_K_S", "Q2_K"]
MODELS = {
    # name: (types, ctx, chunks, calibration tokens for --target-size, target sizes as "same as" types)
    # (kept small: the table is made on 2 shared cores at 10-40 tokens/s)
    "smollm2-135m": (ALL_TYPES, 256, 4, 64, ["Q4_K_M", "Q3_K_M"]),
    "qwen2.5-coder-0.5b": (["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"], 128, 4, 64,
                           ["Q4_K_M", "Q3_K_M"]),
}
IMATRIX_TYPES = ["Q4_K_M", "Q3_K_M", "Q2_K"]
TINY = ["--n-embd", "256", "--n-layer", "4", "--n-head", "4", "--n-head-kv", "2", "--n-ff", "512",
        "--vocab", "1024"]


def brisk(*args):
    r = subprocess.run([str(BRISK), *map(str, args)], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"brisk {' '.join(map(str, args))} failed:\n{r.stderr}")
    return r


def tensor_stats(path):
    """(bytes of tensor data, elements) of a GGUF file, through brisk inspect --json."""
    info = json.loads(brisk("inspect", path, "--json").stdout)
    t = info["tensors"] if isinstance(info.get("tensors"), list) else []
    n_bytes = sum(int(x["bytes"]) for x in t)
    n_elem = sum(int(x["n_elements"]) for x in t)
    return n_bytes, n_elem


def measure(model, eval_txt, ctx, chunks, kl, threads):
    r = brisk("perplexity", "-m", model, "-f", eval_txt, "--ctx", ctx, "--chunks", chunks, "--kl-base", kl,
              "-t", threads, "--json")
    return json.loads(r.stdout)


def run_model(name, base_src, cfg, work, threads, log):
    types, ctx, chunks, calib_tokens, targets = cfg
    text = CORPUS.read_text()
    cut = text.index("In the beginning was the Word")
    eval_txt, calib_txt = work / "eval_luke.txt", work / "calib_john.txt"
    eval_txt.write_text(text[:cut])
    calib_txt.write_text(text[cut:])
    base = work / f"{name}-F16.gguf"
    if base_src.suffix == ".gguf" and base_src != base:
        brisk("quantize", "-q", "-t", threads, base_src, base, "F16")
    kl = work / f"{name}.kl"
    kl.unlink(missing_ok=True)
    rows = []

    def add(label, path, note=""):
        res = measure(path, eval_txt, ctx, chunks, kl, threads)
        n_bytes, n_elem = tensor_stats(path)
        res.update(label=label, note=note, bytes=n_bytes, bpw=8 * n_bytes / n_elem)
        rows.append(res)
        log(f"  {label:<22} {n_bytes / 1e6:8.2f} MB {res['bpw']:6.3f} bpw  ppl {res['ppl']:.4f}"
            + (f"  KL {res['kl_mean']:.5f}" if "kl_mean" in res else ""))
        return res

    log(f"{name}: base {base.name}")
    add("F16 (base)", base)
    sizes = {}
    for t in types:
        out = work / f"{name}-{t}.gguf"
        brisk("quantize", "-q", "-t", threads, base, out, t)
        sizes[t] = tensor_stats(out)[0]
        add(t, out)
        out.unlink()
    imatrix = work / f"{name}-imatrix.gguf"
    brisk("imatrix", "-m", base, "-f", calib_txt, "--ctx", ctx, "--chunks", chunks, "-o", imatrix, "-t", threads)
    for t in IMATRIX_TYPES:
        if t not in types:
            continue
        out = work / f"{name}-{t}-imat.gguf"
        brisk("quantize", "-q", "-t", threads, "--imatrix", imatrix, base, out, t)
        add(f"{t} + imatrix", out)
        out.unlink()
    sens = work / f"{name}-sensitivity.txt"
    for t in targets:
        if t not in sizes:
            continue
        out = work / f"{name}-target-{t}.gguf"
        brisk("quantize", "-q", "-t", threads, base, out, "Q4_K_M", "--target-size", sizes[t], "--calib", calib_txt,
              "--calib-tokens", calib_tokens, "--sensitivity", sens)
        add(f"target = {t} size", out, note=f"--target-size {sizes[t]}")
        out.unlink()
    base.unlink(missing_ok=True) if base != base_src else None
    return {"model": name, "ctx": ctx, "chunks": chunks, "calib_tokens": calib_tokens, "rows": rows}


def markdown(results, quick):
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out = ["# Quantization quality", "",
           "Regenerated by `bench/quality_table.py` (do not edit by hand)"
           + (" - QUICK SMOKE RUN on a tiny random model, not a measurement." if quick else "."), "",
           f"brisk {commit}, {datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores.", "",
           "- **Base**: the packaged model dequantized to F16 by `brisk quantize IN OUT F16` (no unquantized "
           "GGUF of these models is available offline). Types whose grid matches the packaged file's "
           "(SmolLM2: Q4_1; Qwen2.5-Coder-0.5B: mostly Q5_0, Q8_0) re-find that grid almost exactly, so "
           "their loss against this base is lower than it would be against the original weights.",
           "- **Text**: KJV Gospel of Luke (public domain, tests/data/kjv_luke_john.txt) for perplexity and KL; "
           "the Gospel of John for the importance matrix and the --target-size calibration.",
           "- **Perplexity**: non-overlapping windows, second half of each scored (`brisk perplexity`); ± is "
           "one standard error. **Δ ppl** is paired over the same tokens. **KL** is the mean "
           "KL(base || variant) per token over the base's top-32 tokens plus the rest "
           "(a lower bound of the full KL, src/quality/klbase.h), ± one standard error. **top-1**: how often "
           "the variant's most likely token is the base's.",
           "- **Size** is the bytes of all tensors (metadata excluded); **bpw** = 8 x size / parameters.",
           "- **target = X size**: `brisk quantize --target-size` with X's size as the budget "
           "(per-matrix types from measured sensitivity, src/quality/target.c).", ""]
    for res in results:
        out += [f"## {res['model']}", "",
                f"ctx {res['ctx']}, {res['chunks']} windows ({res['rows'][0]['n_scored']} scored tokens); "
                f"--target-size calibrated on {res['calib_tokens']} tokens.", "",
                "| type | size MB | bpw | perplexity | Δ ppl % | mean KL | top-1 % |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for r in res["rows"]:
            if "kl_mean" in r:
                kl = f"{r['kl_mean']:.5f} ± {r['kl_err']:.5f}"
                d = f"{r['dppl_pct']:+.2f} ± {r['dppl_pct_err']:.2f}"
                t1 = f"{100 * r['top1']:.1f}"
            else:
                kl = d = t1 = "—"
            out.append(f"| {r['label']} | {r['bytes'] / 1e6:.2f} | {r['bpw']:.3f} | {r['ppl']:.3f} ± "
                       f"{r['ppl_err']:.3f} | {d} | {kl} | {t1} |")
        out.append("")
        by = {r["label"]: r for r in res["rows"]}
        for r in res["rows"]:
            m = re.match(r"target = (\S+) size", r["label"])
            if m and m.group(1) in by and "kl_mean" in r:
                u = by[m.group(1)]
                verdict = "beats" if r["kl_mean"] < u["kl_mean"] and r["bytes"] <= u["bytes"] else "does NOT beat"
                out.append(f"- {r['label']}: KL {r['kl_mean']:.5f} at {r['bytes'] / 1e6:.2f} MB {verdict} "
                           f"{m.group(1)}'s {u['kl_mean']:.5f} at {u['bytes'] / 1e6:.2f} MB.")
        out.append("")
    return "\n".join(out)


def make_corpus():
    """tests/data/kjv_luke_john.txt from Debian's bible-kjv (apt-get install bible-kjv): one paragraph
    per chapter, verse numbers dropped."""
    chapters, cur = [], None
    for ref in ("Luke 1:1-24:53", "John 1:1-21:25"):
        out = subprocess.run(["bible", "-f", ref], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            m = re.match(r"^(\w+?)(\d+):(\d+) (.*)$", line)
            if m:
                if (m.group(1), m.group(2)) != cur:
                    cur = (m.group(1), m.group(2))
                    chapters.append([])
                chapters[-1].append(m.group(4))
            elif line.strip() and chapters:
                chapters[-1][-1] += " " + line.strip()
    CORPUS.write_text("\n\n".join(" ".join(c) for c in chapters) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run on a tiny random model")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: %(default)s)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "QUALITY.md"))
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("-t", "--threads", default=str(os.cpu_count() or 2))
    ap.add_argument("--make-corpus", action="store_true", help="rewrite tests/data/kjv_luke_john.txt and exit")
    args = ap.parse_args()
    if args.make_corpus:
        return make_corpus()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    results = []
    with tempfile.TemporaryDirectory(prefix="brisk-quality-") as tmp:
        work = pathlib.Path(tmp)
        if args.quick:
            base = work / "tiny-F16.gguf"
            brisk("synth", *TINY, "--type", "F16", "-q", base)
            results.append(run_model("tiny-random", base, (["Q8_0", "Q4_K_M", "Q2_K"], 64, 1, 64, ["Q4_K_M"]),
                                     work, args.threads, log))
        else:
            for name in args.models.split(","):
                path = subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_model.py"), name],
                                      capture_output=True, text=True, check=True).stdout.strip()
                results.append(run_model(name, pathlib.Path(path), MODELS[name], work, args.threads, log))
    pathlib.Path(args.out).write_text(markdown(results, args.quick))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
