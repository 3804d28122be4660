"""`brisk run` end to end on the default model: streaming output, the figures
line, determinism, -n, stop strings, and the default model without -m."""
import re
import subprocess

from brisk_ffi import BRISK_BIN

FIGURES = re.compile(r"prompt: (\d+) tokens, [\d.]+ tok/s \| generation: (\d+) tokens, [\d.]+ tok/s \| "
                     r"time to first token: \d+ ms")


def run(*args, timeout=120):
    return subprocess.run([str(BRISK_BIN), "run", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_greedy_run_is_deterministic_and_reports_figures(default_model):
    args = ("-m", default_model, "-p", "The capital of France is", "-n", "12", "--temp", "0", "-t", "2")
    a, b = run(*args), run(*args)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout.strip()
    assert "Paris" in a.stdout
    m = FIGURES.search(a.stderr)
    assert m, a.stderr
    assert int(m.group(1)) == 5 and 1 <= int(m.group(2)) <= 12


def test_seeded_sampling_repeats_and_seeds_differ(default_model):
    base = ("-m", default_model, "-p", "Once upon a time", "-n", "24", "--temp", "1.0", "--top-k", "0",
            "--top-p", "1", "--min-p", "0")
    a, b = run(*base, "--seed", "7"), run(*base, "--seed", "7")
    c = run(*base, "--seed", "8")
    assert a.returncode == b.returncode == c.returncode == 0
    assert a.stdout == b.stdout
    assert a.stdout != c.stdout


def test_stop_string_ends_generation_before_it(default_model):
    full = run("-m", default_model, "-p", "Count: 1, 2, 3,", "-n", "24", "--temp", "0")
    assert full.returncode == 0 and " 5," in full.stdout, full.stdout
    cut = run("-m", default_model, "-p", "Count: 1, 2, 3,", "-n", "24", "--temp", "0", "--stop", " 5,")
    assert cut.returncode == 0
    assert cut.stdout.rstrip("\n") == full.stdout[: full.stdout.index(" 5,")]


def test_default_model_without_m(default_model):
    r = run("-p", "Hello", "-n", "4", "--temp", "0")
    assert r.returncode == 0 and FIGURES.search(r.stderr)
