#!/usr/bin/env bash
# Installs everything brisk's build and tests need on Debian 12 (apt-get + pip).
# Idempotent; prints nothing when everything is already there.
# Usage: scripts/setup.sh            (build + test dependencies)
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake pkg-config  # the build
  libjansson-dev                    # JSON output (inspect --json, later the server)
  libpcre2-dev                      # pre-tokenizer regexes (Unicode classes)
  libedit-dev                       # line editing and history in `brisk chat`
  libmicrohttpd-dev                 # brisk serve (HTTP)
  clang libclang-rt-14-dev          # libFuzzer + sanitizer runtimes for the fuzz target
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user  # NEON kernel tests (scripts/test_neon.sh)
)
# Python packages for the integration tests, pinned so results are reproducible.
PIP_PACKAGES=(
  "gguf==0.19.0"   # reference GGUF reader/writer and quantizer
  "numpy>=1.26"
  "pytest>=7"
  # tokenizer reference: the Hugging Face tokenizer built from a GGUF (no torch needed)
  "transformers==5.23.0"
  "tokenizers==0.23.3"
  "sentencepiece==0.2.3"
  "protobuf==7.36.2"
  "jinja2==3.1.6"  # chat-template reference (rendered as Hugging Face renders them)
  # brisk serve is tested with the official client SDKs
  "openai==3.57.0"
  "anthropic==2.13.0"
)
PYTHON=${PYTHON:-python3}

missing_apt=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_apt+=("$p")
done
if ((${#missing_apt[@]})); then
  echo "setup: installing system packages: ${missing_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! { $SUDO apt-get update -qq && \
         $SUDO apt-get install -y -qq --no-install-recommends "${missing_apt[@]}"; } >"$log" 2>&1; then
    cat "$log"; echo "setup: apt-get failed" >&2; exit 1
  fi
  rm -f "$log"
fi

# pip's own resolver decides whether each requirement is already satisfied.
if ! "$PYTHON" - "${PIP_PACKAGES[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    from packaging.requirements import Requirement
except ImportError:
    sys.exit(1)
for spec in sys.argv[1:]:
    r = Requirement(spec)
    try:
        if not r.specifier.contains(version(r.name), prereleases=True):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
  echo "setup: installing Python packages: ${PIP_PACKAGES[*]}"
  "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    "${PIP_PACKAGES[@]}" packaging
fi
