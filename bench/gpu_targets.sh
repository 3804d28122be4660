#!/usr/bin/env bash
# Issue 5's GPU targets, measured in one run on a CUDA machine and written as
# a record: llama3-8b-shaped models (brisk synth: Q4_K_M, Q8_0, F16, written
# in parallel), every layer on the GPU, `brisk bench`:
#   decode    -p 0 -n 128 -d 512         Q4_K_M >= 500, Q8_0 >= 320, F16 >= 180 tok/s
#   long      -p 0 -n 128 -d 8192        Q4_K_M >= 90% of its -d 512 figure
#             (both with the f16 KV cache and with --kv-type q8_0)
#   prompt    -p 512 -n 0                Q4_K_M >= 12,000 tok/s
# then a table of each figure against its bar (bench/gpu_targets_table.py).
#
# Usage: bench/gpu_targets.sh [OUT.md]   (default: bench/results/DATE-gpu-targets.md)
#   MODELS_DIR (default /tmp): where the synth files are kept between runs
#   BUILD (default build): the build to measure (CUDA enabled)
#   TYPES (default "Q4_K_M Q8_0 F16"): the synth types to measure
#   REPS (default 3): repetitions per row
#   COMMIT (default: git rev-parse HEAD): the commit to name, where the tree is a copy without its history
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MODELS_DIR=${MODELS_DIR:-/tmp}
TYPES=${TYPES:-Q4_K_M Q8_0 F16}
REPS=${REPS:-3}
out=${1:-bench/results/$(date -u +%Y-%m-%d)-gpu-targets.md}
brisk=$BUILD/brisk
[ -x "$brisk" ] || { echo "gpu_targets: $brisk not built" >&2; exit 1; }
json_dir=$(mktemp -d)
trap 'rm -rf "$json_dir"' EXIT

pids=()
for type in $TYPES; do
  f=$MODELS_DIR/llama3-8b-$type.gguf
  [ -s "$f" ] || { "$brisk" synth --shape llama3-8b --type "$type" "$f" >&2 & pids+=($!); }
done
for p in "${pids[@]}"; do wait "$p"; done

# bench NAME ARGS...: one brisk bench run (its command on stdout), its json kept as NAME.json
bench() {
  local name=$1
  shift
  echo "brisk bench $* -r $REPS"
  "$brisk" bench "$@" -r "$REPS" -o json >"$json_dir/$name.json"
}

{
  echo "# GPU targets: llama3-8b shape, every layer on the GPU — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  if [ -n "${COMMIT:-}" ]; then echo "- commit: $COMMIT"
  else echo "- commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' (+ uncommitted changes)')"
  fi
  echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo unknown)"
  echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo
  echo "Commands (\`-o json\`; the rows and the bars below are read from it):"
  echo '```'
  for type in $TYPES; do
    f=$MODELS_DIR/llama3-8b-$type.gguf
    if [ "$type" = Q4_K_M ]; then
      bench q4_f16 -m "$f" -p 0 -n 128 -d 512,8192
      bench q4_q8 -m "$f" -p 0 -n 128 -d 512,8192 --kv-type q8_0
      bench q4_prompt -m "$f" -p 512 -n 0
    else
      bench "$type" -m "$f" -p 0 -n 128 -d 512
    fi
  done
  echo '```'
  echo
  python3 bench/gpu_targets_table.py "$json_dir"
} | tee "$out"
echo "gpu_targets: wrote $out" >&2
