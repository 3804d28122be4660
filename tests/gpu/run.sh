#!/usr/bin/env bash
# GPU tests, on a machine with an NVIDIA GPU (not part of `make test`: CI has no
# GPU; the CUDA code is still compiled there).
#  1. Every CUDA kernel against the CPU reference: builds the backend
#     standalone (tests/gpu/CMakeLists.txt: no PCRE2/jansson needed) into
#     $BUILD (default build-gpu) unless BRISK_GPU_NO_BUILD=1 (then $BUILD must
#     hold a brisk_cuda_selftest already). Extra arguments go to
#     brisk_cuda_selftest (a group name filter).
#  2. The logit checks with 0, some and all layers on the GPU
#     (tests/gpu/test_gpu_logits.py), the fused decode path on Q8_0 copies of
#     the fixtures (tests/gpu/test_gpu_fused_forward.py), out of device memory
#     (tests/gpu/test_gpu_memory.py), and brisk bench and brisk fit on the GPU
#     (tests/gpu/test_gpu_cli.py): need libbrisk.so (and brisk) of a full build with the
#     CUDA backend in $BRISK_BUILD_DIR (default build); a machine without the
#     -dev packages can run one built elsewhere (same CUDA major version).
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
if [ "${BRISK_GPU_NO_BUILD:-0}" != 1 ]; then
  { cmake -S tests/gpu -B "$BUILD" -DBRISK_WERROR=ON >/dev/null && cmake --build "$BUILD" -j "$(nproc)" >/dev/null; } || exit 1
fi
status=0
"$BUILD/brisk_cuda_selftest" "$@" || status=1
# the int8 decode GEMVs take 2 rows per warp only where rows have > 8192 inputs (cuda_gemv_q8.cu
# decode_rows: llama3-8b's down matrix), which no check's shape or fixture has: the fused group and
# the fused decode again with 2 forced
if [ $# -eq 0 ]; then BRISK_CUDA_Q8_ROWS=2 "$BUILD/brisk_cuda_selftest" fused || status=1; fi
# the tensor-core attention reads a Q8 cache through shared memory unless BRISK_CUDA_KV_TILES picks
# the kernel that loads it straight to registers (1 or 2 tiles per warp): the attention group with each
if [ $# -eq 0 ]; then
  for tiles in 1 2; do BRISK_CUDA_KV_TILES=$tiles "$BUILD/brisk_cuda_selftest" attention || status=1; done
fi
LIB_DIR=${BRISK_BUILD_DIR:-build}
if [ -f "$LIB_DIR/libbrisk.so" ]; then
  BRISK_BUILD_DIR=$LIB_DIR python3 -m pytest -q -rs -p no:cacheprovider tests/gpu/test_gpu_logits.py tests/gpu/test_gpu_fused_forward.py tests/gpu/test_gpu_memory.py tests/gpu/test_gpu_cli.py || status=1
  BRISK_CUDA_Q8_ROWS=2 BRISK_BUILD_DIR=$LIB_DIR python3 -m pytest -q -rs -p no:cacheprovider tests/gpu/test_gpu_fused_forward.py || status=1
else
  echo "tests/gpu/run.sh: no $LIB_DIR/libbrisk.so: logit checks skipped (build brisk with CUDA first)"
  status=1
fi
exit $status
