#!/usr/bin/env bash
# GPU tests: build the CUDA backend standalone (tests/gpu/CMakeLists.txt: no
# PCRE2/jansson needed) and check every CUDA kernel against the CPU reference.
# Run on a machine with an NVIDIA GPU (not part of `make test`, which has no
# GPU in CI; the CUDA code is still compiled there). Extra arguments go to
# brisk_cuda_selftest (a group name filter).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
cmake -S tests/gpu -B "$BUILD" -DBRISK_WERROR=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
"$BUILD/brisk_cuda_selftest" "$@"
