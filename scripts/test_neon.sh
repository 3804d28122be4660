#!/usr/bin/env bash
# Cross-compiles the CPU kernel tests for aarch64 (NEON) with
# aarch64-linux-gnu-gcc and runs them under qemu-aarch64 (user mode).
# Only the pieces the kernels need are built (no PCRE2/jansson for arm64):
# src/quant, src/backend/cpu, the thread pool, and tests/c/test_cpu_*.c.
# Prints the test runner's "N passed, N failed" as its last line.
# Usage: scripts/test_neon.sh [BUILD_DIR] [TEST_FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-neon}
filter=${2:-}
CC=${CC_AARCH64:-aarch64-linux-gnu-gcc}
command -v "$CC" >/dev/null || { echo "test_neon: $CC not found (scripts/setup.sh installs gcc-aarch64-linux-gnu)"; echo "0 passed, 1 failed"; exit 1; }
command -v qemu-aarch64 >/dev/null || { echo "test_neon: qemu-aarch64 not found (qemu-user)"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$out"
# -ffp-contract=off: the generic reference kernels in ISO C float semantics,
# as on x86 (GCC contracts a * b - c into an FMA on aarch64 by default, and
# the reference's rounding noise then shows in cancelling sums, e.g. Q2_K
# with scale * q == min, where the SIMD kernels give the exact 0).
flags=(-std=gnu11 -ffp-contract=off -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror -Iinclude -Isrc)
lib=(src/quant/*.c src/backend/cpu/*.c src/base/threadpool.c src/base/error.c)
tests=(tests/c/test_main.c tests/c/test_cpu_kernels.c tests/c/test_cpu_ops.c)
# The tests at -O1: GCC 12's aarch64 vectorizer crashes (ICE in
# vect_transform_reduction) on a sum loop of test_cpu_kernels.c at -O2.
objs=(); pids=()
for f in "${lib[@]}" "${tests[@]}"; do
  o="$out/$(echo "$f" | tr / _).o"
  opt=-O2; case "$f" in tests/*) opt=-O1 ;; esac
  "$CC" "${flags[@]}" "$opt" -c "$f" -o "$o" &
  objs+=("$o"); pids+=($!)
done
ok=1
for p in "${pids[@]}"; do wait "$p" || ok=0; done
[ "$ok" = 1 ] || { echo "test_neon: cross-compilation failed"; echo "0 passed, 1 failed"; exit 1; }
"$CC" -static -o "$out/brisk_tests_neon" "${objs[@]}" -lm -lpthread
qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/brisk_tests_neon" $filter
