"""Run folders from strangers (issue #22): LOCK files that are FIFOs, devices, huge, deeply nested or
garbage; checkpoints with hostile storage records; garbage designs in a run folder; temp files left by a
writer killed with SIGKILL. Each ends in exit 0 or exit 2 with one line; never a hang or exit 1."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from .faults import cli, trained_run
from .hostile import ROOT, assert_refused


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("trained"))


@pytest.fixture
def run(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "runs" / trained.name)


def _resume(run, *extra):
    return cli("train", "--resume", str(run), "--epochs", "2", *extra)


# ---------------------------------------------------------------------------- LOCK
def _fifo(lock):
    os.mkfifo(lock)


def _dev_zero(lock):
    lock.symlink_to("/dev/zero")


def _sparse(lock):
    with open(lock, "wb") as f:
        f.truncate(2 << 30)


def _huge_pid(lock):
    lock.write_text(json.dumps({"pid": 2**70, "host": os.uname().nodename, "since": "x"}))


def _deep(lock):
    lock.write_text("[" * 100_000 + "]" * 100_000)


def _garbage(lock):
    lock.write_bytes(os.urandom(300))


def _deep_small(lock):
    lock.write_text('{"pid": ' + "[" * 1500 + "]" * 1500 + "}")


@pytest.mark.slow
@pytest.mark.parametrize("make", [_fifo, _dev_zero, _sparse, _huge_pid, _deep, _garbage, _deep_small])
def test_hostile_lock_is_handled(run, make):
    make(run / "LOCK")
    outcome = _resume(run)
    if outcome.code == 0:
        return  # taken over as a dead writer's lock (pid 2^70 cannot be alive)
    line = assert_refused(outcome, "LOCK")
    assert "None" not in line


# ---------------------------------------------------------------------------- checkpoints and designs
def _negative_storage(src, dst):
    """torch.save's pickle names each storage ('storage', type, key, location, numel): make numel < 0."""
    with zipfile.ZipFile(src) as z:
        items = [(i, z.read(i)) for i in z.infolist()]
    with zipfile.ZipFile(dst, "w") as z:
        for info, data in items:
            if info.filename.endswith("data.pkl"):
                data, n = re.subn(
                    rb"(X\x03\x00\x00\x00cpu(?:q.|r....)?)K(.)",
                    lambda m: m.group(1) + b"J" + (-m.group(2)[0] - 1).to_bytes(4, "little", signed=True),
                    data,
                    flags=re.DOTALL,
                )
                assert n, "no storage record found"
            z.writestr(info, data)


@pytest.mark.slow
def test_checkpoint_with_a_negative_storage_size_is_refused(run, tmp_path):
    best = run / "checkpoints" / "best.pt"
    _negative_storage(best, tmp_path / "bad.pt")
    shutil.copy(tmp_path / "bad.pt", best)
    assert_refused(cli("export", str(run), "-o", str(tmp_path / "m.onnx")), "best.pt")


@pytest.mark.slow
@pytest.mark.parametrize("content", ["garbage{", "[]", '{"format": "rnn-studio", "version": 1, "blocks": 5}'])
def test_resume_with_a_garbage_design_in_the_run_is_refused(run, content):
    (run / "project.rnn.json").write_text(content)
    assert_refused(_resume(run), "project.rnn.json")


@pytest.mark.slow
def test_checkpoint_that_is_a_fifo_is_named(run, tmp_path):
    best = run / "checkpoints" / "best.pt"
    best.unlink()
    os.mkfifo(best)
    assert_refused(cli("export", str(run), "-o", str(tmp_path / "m.onnx")), "FIFO")


# ---------------------------------------------------------------------------- kill -9 mid-write
def test_temp_of_a_writer_killed_mid_write_is_removed_at_the_next_write(tmp_path):
    """A real writer is stopped between writing its temp file and renaming it, then killed with SIGKILL;
    the next checkpoint write in that folder removes the temp (docs/run-folder.md: no temp file)."""
    from rnn_studio.engine.training.checkpoints import save_checkpoint

    target = tmp_path / "best.pt"
    child = (
        "import os, sys, time\n"
        "from rnn_studio.engine.design.project import atomic_write_bytes\n"
        "os.replace = lambda *a: (print('written', flush=True), time.sleep(120))\n"
        f"atomic_write_bytes({str(target)!r}, b'x' * 100000)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        assert proc.stdout.readline().strip() == b"written"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    temps = list(tmp_path.glob(".best.pt.*.tmp"))
    assert len(temps) == 1
    save_checkpoint(target, {"format": "x"})
    assert not list(tmp_path.glob(".best.pt.*.tmp"))
    assert target.is_file()


def test_a_live_writers_temp_is_left_alone(tmp_path):
    from rnn_studio.engine.training.checkpoints import remove_stale_temps

    mine = tmp_path / f".best.pt.{os.getpid()}-abc.tmp"
    mine.write_bytes(b"in progress")
    assert remove_stale_temps(tmp_path / "best.pt") == []
    assert mine.exists()


def test_old_unnamed_temps_are_removed_after_an_hour(tmp_path):
    from rnn_studio.engine.training.checkpoints import remove_stale_temps

    old, new = tmp_path / ".best.pt.k3j2h1.tmp", tmp_path / ".best.pt.zz9.tmp"
    for f in (old, new):
        f.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temps(tmp_path / "best.pt") == [old]
    assert new.exists()
