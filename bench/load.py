#!/usr/bin/env python3
"""Load test of `brisk serve`: aggregate generated tok/s and per-request time
to first token with 1, 4 and 16 concurrent clients.

Starts its own server (--parallel = the largest client count), then for each
client count C runs C threads, each sending --requests streaming
/v1/completions requests (distinct prompts, --max-tokens tokens each,
ignore_eos so every request generates exactly that many). Aggregate tok/s =
all generated tokens / wall time of the round; TTFT = request sent -> first
text chunk. The machine may be shared: --repeat N runs the whole series N
times, interleaved (1, 4, 16, 1, 4, 16, ...) so that a load change hits every
client count alike, and reports each count's best round; the 1-minute load
average and the machine's read bandwidth (`brisk bench --membw`, ~2 s) are
recorded before every round: one stream is bound by memory and sixteen by
arithmetic, so the ratio between them moves with the bandwidth of the moment
(on a shared VM it can change by 2x within minutes). Prints a markdown table;
--json writes every round's figures too.

  bench/load.py [-m MODEL.gguf] [--clients 1,4,16] [--requests 2] [--max-tokens 64] [-t 2] [--repeat 1]
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import re
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "py"))
from brisk_ffi import BRISK_BIN  # noqa: E402
from brisk_server import Server  # noqa: E402

WORDS = ["river", "castle", "engine", "garden", "violin", "planet", "harbor", "forest", "market", "lantern",
         "desert", "glacier", "library", "orchard", "tunnel", "volcano", "meadow", "canyon", "island", "tower"]


def one_request(srv, prompt, max_tokens):
    body = {"model": srv.model_id, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "ignore_eos": True, "stream_options": {"include_usage": True}}
    t0 = time.monotonic()
    ttft, tokens = None, 0
    with srv.stream("/v1/completions", body, timeout=600) as (status, lines):
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        for line in lines:
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ev = json.loads(line[6:])
            if ev.get("choices") and ev["choices"][0].get("text") and ttft is None:
                ttft = time.monotonic() - t0
            if ev.get("usage"):
                tokens = ev["usage"]["completion_tokens"]
    return ttft, tokens, time.monotonic() - t0


def read_bandwidth(threads):
    """The machine's read bandwidth now (GB/s, `brisk bench --membw`), None when it cannot be read."""
    out = subprocess.run([str(BRISK_BIN), "bench", "--membw", "-t", str(threads)], capture_output=True, text=True)
    m = re.search(r"memory read bandwidth: ([0-9.]+) GB/s", out.stdout + out.stderr)
    return float(m.group(1)) if m else None


def round_of(srv, clients, requests, max_tokens, threads=2):
    results, errors = [], []

    def client(k):
        for i in range(requests):
            w = WORDS[(k * requests + i) % len(WORDS)]
            prompt = f"Client {k}, request {i}: write a long story about a {w} and the people who live near it."
            try:
                results.append(one_request(srv, prompt, max_tokens))
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(repr(e))

    bw_before = read_bandwidth(threads)
    workers = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    wall = time.monotonic() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed: {errors[:3]}")
    ttfts = sorted(r[0] for r in results)
    tokens = sum(r[1] for r in results)
    return {"clients": clients, "requests": len(results), "tokens": tokens, "wall_s": round(wall, 3),
            "agg_tok_s": round(tokens / wall, 2),
            "per_request_tok_s": round(statistics.median(r[1] / r[2] for r in results), 2),
            "ttft_median_ms": round(1000 * statistics.median(ttfts), 1),
            "ttft_max_ms": round(1000 * ttfts[-1], 1), "load_avg_before": round(load_before, 2),
            "read_gbps_before": bw_before}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", help="GGUF model (default: smollm2-135m via scripts/fetch_model.py)")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--requests", type=int, default=2, help="requests per client")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="run the series this many times; report the best round of each")
    ap.add_argument("--json", help="write the figures to this file")
    a = ap.parse_args()
    model = a.model or subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_model.py")], check=True,
                                      capture_output=True, text=True).stdout.strip()
    counts = [int(c) for c in a.clients.split(",")]
    srv = Server(model, "--parallel", max(counts), "-c", 512, "-t", a.threads)
    try:
        round_of(srv, 1, 1, 8, a.threads)  # warm-up
        rounds = [round_of(srv, c, a.requests, a.max_tokens, a.threads) for _ in range(a.repeat) for c in counts]
    finally:
        srv.stop()
    rows = [max((r for r in rounds if r["clients"] == c), key=lambda r: r["agg_tok_s"]) for c in counts]
    base = rows[0]["agg_tok_s"]
    print(f"model {pathlib.Path(model).name}, {a.max_tokens} tokens per request, {a.requests} requests per client, "
          f"-t {a.threads}, best of {a.repeat}; load average after: {os.getloadavg()[0]:.2f}\n")
    print("| clients | requests | tokens | wall s | aggregate tok/s | x single | per-request tok/s | TTFT median ms "
          "| TTFT max ms | load avg before | read GB/s before |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clients']} | {r['requests']} | {r['tokens']} | {r['wall_s']} | {r['agg_tok_s']} | "
              f"{r['agg_tok_s'] / base:.2f} | {r['per_request_tok_s']} | {r['ttft_median_ms']} | {r['ttft_max_ms']} "
              f"| {r['load_avg_before']} | {r['read_gbps_before']} |")
    if a.repeat > 1:
        for c in counts:
            print(f"\n{c} clients, every round (tok/s @ load, read GB/s): " + ", ".join(
                f"{r['agg_tok_s']} @ {r['load_avg_before']}, {r['read_gbps_before']}" for r in rounds
                if r["clients"] == c), end="")
        print()
    if a.json:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        pathlib.Path(a.json).write_text(json.dumps({"model": pathlib.Path(model).name, "commit": commit,
                                                    "machine": platform.processor() or platform.machine(),
                                                    "args": vars(a), "rows": rows, "rounds": rounds}, indent=1))


if __name__ == "__main__":
    main()
