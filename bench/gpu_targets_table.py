#!/usr/bin/env python3
"""Issue 5's GPU figures against their bars, from the `brisk bench -o json`
files bench/gpu_targets.sh writes into one folder:

  q4_f16.json, q4_q8.json   Q4_K_M decode at -d 512 and -d 8192 (f16 / q8_0 KV cache)
  q4_prompt.json            Q4_K_M prompt 512
  Q8_0.json, F16.json       decode at -d 512

Prints every row (tok/s median [min-max], GB/s of weights, % of the GPU's copy
bandwidth) and then each bar with its figure. A file that is missing leaves
its bars out.

  bench/gpu_targets_table.py FOLDER
"""
import json
import pathlib
import sys

DECODE_BARS = {"q4_f16": 500, "Q8_0": 320, "F16": 180}  # tok/s at -d 512
PROMPT_BAR = 12000  # Q4_K_M prompt 512, tok/s
LONG_SHARE = 0.90  # decode at -d 8192 over decode at -d 512


def load(folder, name):
    f = folder / f"{name}.json"
    return json.loads(f.read_text()) if f.exists() else None


def stat(s):
    return f"{s['median']:.1f} [{s['min']:.1f}-{s['max']:.1f}]"


def decode_at(doc, depth):
    rows = [r for r in doc["rows"] if r["n_gen"] > 0 and r["depth"] == depth]
    return rows[0]["decode_tps"]["median"] if rows else None


def main():
    folder = pathlib.Path(sys.argv[1])
    docs = {n: load(folder, n) for n in ("q4_f16", "q4_q8", "q4_prompt", "Q8_0", "F16")}
    gpu = next((d["gpu"] for d in docs.values() if d and "gpu" in d), None)
    if gpu:
        print(f"GPU: {gpu['name']}, device-to-device copy {gpu['copy_gbps']:.0f} GB/s (read + write counted)\n")
    print("| file | KV cache | prompt | decode | depth | prompt tok/s | decode tok/s | GB/s | % of copy | layers on GPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, doc in docs.items():
        for r in doc["rows"] if doc else []:
            pp = stat(r["prompt_tps"]) if r["n_prompt"] > 0 else "-"
            tg = stat(r["decode_tps"]) if r["n_gen"] > 0 else "-"
            gbps = f"{r['decode_gbps']:.0f}" if r["decode_gbps"] else "-"
            pct = f"{r['bw_pct']:.0f}%" if r["bw_pct"] else "-"
            kv = "q8_0" if name == "q4_q8" else "f16"
            print(f"| {r['model']} | {kv} | {r['n_prompt']} | {r['n_gen']} | {r['depth']} | {pp} | {tg} | {gbps} | "
                  f"{pct} | {r['gpu_layers']} |")
    print("\n| bar | figure | target | met |")
    print("|---|---|---|---|")
    for name, target in DECODE_BARS.items():
        if docs[name]:
            v = decode_at(docs[name], 512)
            label = {"q4_f16": "Q4_K_M", "Q8_0": "Q8_0", "F16": "F16"}[name]
            print(f"| {label} decode -d 512 | {v:.1f} tok/s | {target} | {'yes' if v >= target else 'no'} |")
    if docs["q4_prompt"]:
        v = docs["q4_prompt"]["rows"][0]["prompt_tps"]["median"]
        print(f"| Q4_K_M prompt 512 | {v:.0f} tok/s | {PROMPT_BAR} | {'yes' if v >= PROMPT_BAR else 'no'} |")
    for name, kv in (("q4_f16", "f16"), ("q4_q8", "q8_0")):
        if docs[name]:
            short, long = decode_at(docs[name], 512), decode_at(docs[name], 8192)
            if short and long:
                share = long / short
                print(f"| Q4_K_M -d 8192 / -d 512, {kv} KV | {long:.1f} / {short:.1f} = {100 * share:.1f}% | "
                      f"{100 * LONG_SHARE:.0f}% | {'yes' if share >= LONG_SHARE else 'no'} |")


if __name__ == "__main__":
    main()
