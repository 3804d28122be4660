#!/usr/bin/env bash
# GPU tests: build with the CUDA backend and check every CUDA kernel against the
# CPU reference. Run on a machine with an NVIDIA GPU (not part of `make test`,
# which has no GPU in CI; the CUDA code is still compiled there).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
cmake -S . -B "$BUILD" -DBRISK_CUDA=ON -DBRISK_WERROR=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target brisk_cuda_selftest >/dev/null
"$BUILD/brisk_cuda_selftest"
