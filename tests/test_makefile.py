"""`make run` installs what running needs; `make test` adds the dev extra (issue 23, item 6)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dry_run(target: str, tmp_path) -> str:
    venv = tmp_path / "venv"  # no stamps there: make shows every step it would take
    r = subprocess.run(
        ["make", "-n", "-C", str(ROOT), f"VENV={venv}", target], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_run_installs_no_dev_tools(tmp_path):
    out = dry_run("run", tmp_path)
    assert "pip install --quiet -e ." in out and "[dev]" not in out and "run-or-demo" in out


def test_test_lint_and_bench_add_the_dev_extra(tmp_path):
    for target in ("test", "lint", "bench"):
        out = dry_run(target, tmp_path)
        assert '-e ".[dev]"' in out and out.index("-e .\n") < out.index('-e ".[dev]"'), target


def test_test_quick_leaves_the_slow_tests_out(tmp_path):
    out = dry_run("test-quick", tmp_path)
    assert '-m "not slow"' in out and '-e ".[dev]"' in out
    assert "-m slow" in dry_run("test-slow", tmp_path)
