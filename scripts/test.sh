#!/usr/bin/env bash
# brisk's whole test suite (what `make test` and CI run):
#   1. release build with -Werror (+ the CUDA backend when nvcc is present); C unit tests
#   2. ASan + UBSan build; C unit tests again (includes the fuzz regression corpus);
#      the CPU kernel tests cross-compiled for aarch64 (NEON) and run under qemu-aarch64
#   3. Python integration tests (pytest) against the release build; the server's tests
#      (tests/py/test_server.py) again against the ASan + UBSan build
#   4. the GGUF fuzzer for FUZZ_SECONDS (default 60) from the seed corpus
# Runs every suite even when one fails; exits non-zero if any did, and ends
# with one line "total: N passed, N failed" counting individual tests.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
passed=0; failed=0; broken=()

# Add the "N passed, N failed" counts of a C test run (its log in $1).
count_c() {
  local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1)
  if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
  passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
  failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
}

build() { # build DIR CMAKE_ARGS...
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1 &&
    cmake --build "$dir" -j "$JOBS" >"$dir.build.log" 2>&1 ||
    { cat "$dir.configure.log" "$dir.build.log" 2>/dev/null | tail -60; return 1; }
}

count_pytest() { # count_pytest LOG RC NAME: add a pytest run's counts (its log, its exit status)
  local summary p f
  summary=$(tail -1 "$1")
  p=$(echo "$summary" | grep -oE '[0-9]+ passed' | cut -d' ' -f1)
  f=$(echo "$summary" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$2" -ne 0 ]; then broken+=("$3"); [ "$f" -eq 0 ] && failed=$((failed + 1)); fi
}

run_c_tests() { # run_c_tests DIR NAME
  echo "== C unit tests ($2)"
  local log; log=$(mktemp)
  "$1/brisk_tests" 2>&1 | tee "$log" | grep -E '^(FAIL|  )|RMSE' ; count_c "$log"
  tail -1 "$log"
  grep -q ' 0 failed$' "$log" || broken+=("C unit tests ($2)")
  rm -f "$log"
}

mkdir -p build build-asan build-fuzz
if [ -z "${FUZZ_ONLY:-}" ]; then
  echo "== build (release, -Werror)"
  if build build -DBRISK_WERROR=ON; then
    run_c_tests build release
    # cpu_matmul takes the best kernel table of this CPU: run its test once per
    # lower x86 table too (the kernel tests themselves cover every table).
    for isa in avx2 avx512; do
      log=$(mktemp)
      BRISK_ISA=$isa build/brisk_tests cpu_matmul >"$log" 2>&1; count_c "$log"
      grep -q ' 0 failed$' "$log" || { cat "$log"; broken+=("cpu_matmul with BRISK_ISA=$isa"); }
      rm -f "$log"
    done
  else
    broken+=("release build"); failed=$((failed + 1))
  fi

  echo "== build (ASan + UBSan)"
  if build build-asan -DBRISK_WERROR=ON -DBRISK_SANITIZE=ON -DBRISK_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug; then
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_c_tests build-asan sanitizers
  else
    broken+=("sanitizer build"); failed=$((failed + 1))
  fi

  echo "== NEON kernels (aarch64 cross build, run under qemu-user)"
  log=$(mktemp)
  scripts/test_neon.sh build-neon 2>&1 | tee "$log" | grep -E '^(FAIL|  |test_neon)' ; count_c "$log"
  tail -1 "$log"
  grep -q ' 0 failed$' "$log" || broken+=("NEON kernel tests")
  rm -f "$log"

  echo "== Python integration tests"
  log=$(mktemp)
  BRISK_BUILD_DIR="$PWD/build" python3 -m pytest -q tests/py 2>&1 | tee "$log"
  count_pytest "$log" "${PIPESTATUS[0]}" pytest
  rm -f "$log"

  # the server (threads per connection, a scheduler thread, cancellation, preemption) under the
  # sanitizers, through the SDK tests: the ASan runtime has to come first in python, which loads
  # libbrisk.so too; python's own leaks at exit are not ours (detect_leaks=0)
  if [ -x build-asan/brisk ]; then
    echo "== brisk serve under ASan + UBSan (tests/py/test_server.py)"
    log=$(mktemp)
    LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
      ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 BRISK_BUILD_DIR="$PWD/build-asan" \
      python3 -m pytest -q -p no:cacheprovider tests/py/test_server.py 2>&1 | tee "$log" | tail -3
    count_pytest "$log" "${PIPESTATUS[0]}" "server tests under the sanitizers"
    rm -f "$log"
  fi
fi

echo "== fuzzing the GGUF reader for ${FUZZ_SECONDS}s"
if build build-fuzz -DBRISK_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug; then
  work=$(mktemp -d)
  if build-fuzz/fuzz_gguf -max_total_time="$FUZZ_SECONDS" -max_len=8192 -print_final_stats=0 \
       -artifact_prefix="$work/" "$work" tests/fuzz/corpus >"$work.log" 2>&1; then
    passed=$((passed + 1)); tail -1 "$work.log"
  else
    failed=$((failed + 1)); broken+=("fuzzer")
    tail -40 "$work.log"
    echo "fuzz: crasher(s) in $work — copy them into tests/fuzz/regressions/ and fix the reader"
  fi
else
  broken+=("fuzz build"); failed=$((failed + 1))
fi

if ((${#broken[@]})); then echo "FAILED: ${broken[*]}"; fi
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
