#!/usr/bin/env bash
# Issue 4's CPU targets, measured in one run and written as a record:
# llama3.2-1b-shaped models (brisk synth, Q4_K_M and Q8_0), `brisk bench`
# (prompt 128, decode 32 after a warm-up, 2 threads), the machine's read
# bandwidth measured by brisk in the same run, and bench_matmul per kernel.
#
# Usage: bench/cpu_targets.sh [OUT.md]     (default: bench/results/DATE-cpu-targets.md)
#   MODELS_DIR (default /tmp): where the synth files are kept between runs
#   BUILD (default build): the release build to measure
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MODELS_DIR=${MODELS_DIR:-/tmp}
out=${1:-bench/results/$(date -u +%Y-%m-%d)-cpu-targets.md}
brisk=$BUILD/brisk
[ -x "$brisk" ] || { echo "cpu_targets: $brisk not built (make)" >&2; exit 1; }

models=()
for type in Q4_K_M Q8_0; do
  f=$MODELS_DIR/llama3.2-1b-$type.gguf
  [ -s "$f" ] || "$brisk" synth --shape llama3.2-1b --type "$type" "$f" >&2
  models+=(-m "$f")
done

{
  echo "# CPU targets: llama3.2-1b shape, Q4_K_M and Q8_0 — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- src include || echo ' (+ uncommitted changes)')"
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores," \
       "$(free -g | awk '/Mem:/ {print $2}') GiB RAM; $(uname -r); $(gcc --version | head -1)"
  echo "- load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "Commands:"
  echo '```'
  echo "brisk bench ${models[*]} -p 128 -n 32 -t 2 -r 3"
  echo "bench_matmul -t 1,2 -T Q4_K,Q6_K,Q8_0 -r 4096,14336 -b 128"
  echo '```'
  echo
  echo '```'
  "$brisk" bench "${models[@]}" -p 128 -n 32 -t 2 -r 3
  echo
  "$BUILD/bench_matmul" -t 1,2 -T Q4_K,Q6_K,Q8_0 -r 4096,14336 -b 128
  echo '```'
  echo
  echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
echo "cpu_targets: wrote $out" >&2
