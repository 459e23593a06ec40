"""Fault injection for training and run folders, through the real CLI (`python -m rnn_studio`): kills,
Ctrl-C (once and twice), a second writer, full / read-only / non-folder outputs, runs started in the same
second, huge names. Each asserts the exit code, one error line, no traceback and a bounded time."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnn_studio.engine.training.runs import LOCK_FILE, checkpoint_path, load_run, read_metrics

from .test_train import tiny

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 90


def _design(tmp_path: Path, name: str | None = None) -> Path:
    project = tiny()
    if name is not None:
        project.name = name
    path = tmp_path / "d.rnn.json"
    path.write_text(project.to_json())
    return path


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnn_studio", *args]


def _run(*args: str, timeout: float = LIMIT_S) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(_cmd(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _one_error_line(r) -> str:
    lines = (r.stderr or "").strip().splitlines()
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr
    return lines[0]


def _wait_for(out: Path, kind: str, timeout: float = 60) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = sorted(out.glob("*")) if out.exists() else []
        if runs and any(r["kind"] == kind for r in read_metrics(runs[0])[0]):
            return runs[0]
        time.sleep(0.05)
    raise AssertionError(f"no {kind} record within {timeout} s")


def _all_lines_parse(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]  # every line whole and parseable


# ------------------------------------------------------------------ kills and Ctrl-C
@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    proc = _start(
        "train",
        str(_design(tmp_path)),
        "--demo",
        "sine",
        "--epochs",
        "1000",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "runs"),
    )
    try:
        run = _wait_for(tmp_path / "runs", "epoch")
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert (run / LOCK_FILE).exists()  # left behind by the killed process
    done = max(r["epoch"] for r in _all_lines_parse(run) if r["kind"] == "epoch")
    r = _run("train", "--resume", str(run), "--epochs", str(done + 1), "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "note: took over the lock of process" in r.stdout
    recs = _all_lines_parse(run)
    assert recs[-1]["kind"] == "end" and recs[-1]["stop_reason"] == "completed"
    load_run(run, "best")
    assert not (run / LOCK_FILE).exists()


@pytest.mark.slow
def test_sigint_cancels_cleanly(tmp_path):
    proc = _start(
        "train",
        str(_design(tmp_path)),
        "--demo",
        "sine",
        "--epochs",
        "1000",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "runs"),
    )
    run = _wait_for(tmp_path / "runs", "step")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=LIMIT_S)
    assert proc.returncode == 130 and "stopped: cancelled" in out and "Traceback" not in err
    assert json.loads((run / "summary.json").read_text())["stop_reason"] == "cancelled"
    assert not (run / LOCK_FILE).exists()


@pytest.mark.slow
def test_second_sigint_during_shutdown_still_writes_summary(tmp_path):
    proc = _start(
        "train",
        str(_design(tmp_path)),
        "--demo",
        "sine",
        "--epochs",
        "1000",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "runs"),
    )
    run = _wait_for(tmp_path / "runs", "step")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=LIMIT_S)
    assert proc.returncode == 130 and "Traceback" not in err, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == "cancelled"
    assert _all_lines_parse(run)[-1]["kind"] == "end"


@pytest.mark.slow
def test_second_writer_is_refused_naming_the_owner(tmp_path):
    proc = _start(
        "train",
        str(_design(tmp_path)),
        "--demo",
        "sine",
        "--epochs",
        "1000",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "runs"),
    )
    try:
        run = _wait_for(tmp_path / "runs", "epoch")
        before = (run / "metrics.jsonl").read_text().count('"kind": "start"')
        r = _run("train", "--resume", str(run))
        assert r.returncode == 2
        line = _one_error_line(r)
        assert f"process {proc.pid}" in line and "being written" in line
        assert (run / "metrics.jsonl").read_text().count('"kind": "start"') == before
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=LIMIT_S)
    assert proc.returncode == 130


# ------------------------------------------------------------------ where the files go
@pytest.fixture
def mount_point(tmp_path):
    mounted = []

    def mount(options: str) -> Path:
        path = tmp_path / f"mnt{len(mounted)}"
        path.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'mount refused'})")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.slow
def test_full_disk_is_a_clear_error_and_no_partial_checkpoint(tmp_path, mount_point):
    out = mount_point("size=1m")
    filler = out / "filler"
    with open(filler, "wb") as f:  # leave a few pages: the run folder and the first records fit
        f.write(b"\0" * (1024 * 1024 - 40 * 1024))
    t0 = time.monotonic()
    r = _run("train", str(_design(tmp_path)), "--demo", "sine", "--epochs", "50", "--threads", "1", "--out", str(out))
    assert r.returncode == 2 and time.monotonic() - t0 < LIMIT_S
    line = _one_error_line(r)
    assert str(out) in line and "No space left on device" in line
    assert not list(out.rglob("*.tmp"))  # no temp file left
    for pt in out.rglob("*.pt"):  # a checkpoint that exists is complete
        load_run(pt.parent.parent, pt.stem)


@pytest.mark.slow
def test_read_only_output_folder(tmp_path, mount_point):
    out = mount_point("ro,size=1m")
    r = _run("train", str(_design(tmp_path)), "--demo", "sine", "--epochs", "1", "--out", str(out / "runs"))
    assert r.returncode == 2
    line = _one_error_line(r)
    assert str(out) in line and "Read-only file system" in line


@pytest.mark.slow
def test_output_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    r = _run("train", str(_design(tmp_path)), "--demo", "sine", "--epochs", "1", "--out", str(tmp_path / "file"))
    assert r.returncode == 2
    assert str(tmp_path / "file") in _one_error_line(r)


@pytest.mark.slow
def test_predict_into_read_only_folder(tmp_path, mount_point):
    r = _run(
        "train",
        str(_design(tmp_path)),
        "--demo",
        "sine",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "runs"),
    )
    assert r.returncode == 0, r.stderr
    run = next((tmp_path / "runs").iterdir())
    ro = mount_point("ro,size=1m")
    r = _run("predict", str(run), "--demo", "sine", "-o", str(ro / "p.csv"))
    assert r.returncode == 2
    line = _one_error_line(r)
    assert str(ro / "p.csv") in line and "Read-only file system" in line
    r = _run("predict", str(run), "--demo", "sine", "-o", "/dev/null")
    assert r.returncode == 2 and "only regular files" in _one_error_line(r)


# ------------------------------------------------------------------ names
@pytest.mark.slow
def test_two_runs_started_in_the_same_second_get_distinct_folders(tmp_path):
    design = _design(tmp_path)
    args = (
        "train",
        str(design),
        "--demo",
        "sine",
        "--max-steps",
        "2",
        "--threads",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "runs"),
    )
    procs = [_start(*args) for _ in range(2)]
    for p in procs:
        p.communicate(timeout=LIMIT_S)
        assert p.returncode == 0
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all((r / "summary.json").is_file() for r in runs)


@pytest.mark.slow
def test_long_design_name_makes_a_short_safe_folder(tmp_path):
    name = "é/x" * 66  # 198 characters with slashes: within the 200-character name limit (docs/limits.md)
    design = _design(tmp_path, name=name)
    r = _run(
        "train",
        str(design),
        "--demo",
        "sine",
        "--max-steps",
        "2",
        "--threads",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "runs"),
    )
    assert r.returncode == 0, r.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert len(run.name) <= 80 and "/" not in run.name
    assert json.loads((run / "summary.json").read_text())["name"] == name


def test_huge_design_name_is_refused_in_one_line(tmp_path):
    design = _design(tmp_path, name="é/x" * 33_334)  # 100,002 characters
    r = _run("train", str(design), "--demo", "sine", "--max-steps", "2", "--out", str(tmp_path / "runs"))
    assert r.returncode == 2 and "more than 200" in _one_error_line(r)
    assert len(_one_error_line(r)) < 400 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "flag,value,expected",
    [
        ("--seed", str(2**64), "--seed must be a whole number from 0 to"),
        ("--device", "meta", "--device must be auto | cpu | cuda | cuda:N | mps, received 'meta'"),
        ("--split", "nan,nan,nan", "--split must be three fractions"),
    ],
)
def test_bad_training_settings_are_one_line(tmp_path, capsys, flag, value, expected):
    from rnn_studio.cli import main

    rc = main(
        [
            "train",
            str(_design(tmp_path)),
            "--demo",
            "sine",
            "--max-steps",
            "1",
            "--out",
            str(tmp_path / "r"),
            flag,
            value,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_init_from_on_the_cli(tmp_path):
    design = _design(tmp_path)
    r = _run("train", str(design), "--demo", "sine", "--epochs", "1", "--threads", "1", "--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    src = next((tmp_path / "a").iterdir())
    r = _run(
        "train",
        str(design),
        "--demo",
        "sine",
        "--max-steps",
        "2",
        "--threads",
        "1",
        "--quiet",
        "--init-from",
        str(src),
        "--out",
        str(tmp_path / "b"),
    )
    assert r.returncode == 0, r.stderr
    start = read_metrics(next((tmp_path / "b").iterdir()))[0][0]
    assert start["init_from"] == str(checkpoint_path(src, "best"))
