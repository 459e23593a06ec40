"""Run folders are owned (LOCK) and every ending writes a summary: a second Ctrl-C mid-step or during the
shutdown, in-process; names made safe; the seam's TrainState round-trips through a checkpoint."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from rnn_studio.engine.training.runs import (
    LOCK_FILE,
    RunLock,
    RunLockedError,
    checkpoint_path,
    new_run_dir,
    read_metrics,
    safe_name,
)
from rnn_studio.engine.training.train import TrainState, _StopFlag, train

from .test_train import SINE, tiny


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_lock_refuses_a_live_owner_and_takes_over_a_dead_one(tmp_path):
    host = socket.gethostname()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": os.getppid(), "host": host, "since": "t"}))
    with pytest.raises(RunLockedError, match=f"process {os.getppid()} on {host}"):
        RunLock(tmp_path).acquire()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": _dead_pid(), "host": host, "since": "t"}))
    lock = RunLock(tmp_path).acquire()
    assert lock.note and "no longer running" in lock.note
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    with pytest.raises(RunLockedError, match=r"\(this process\)"):  # not even the same process twice
        RunLock(tmp_path).acquire()
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()


def test_lock_of_another_host_is_never_taken_over(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": _dead_pid(), "host": "elsewhere", "since": "t"}))
    with pytest.raises(RunLockedError, match="on elsewhere"):
        RunLock(tmp_path).acquire()


def test_stale_lock_note_reaches_the_start_record(tmp_path):
    rd = tmp_path / "run"
    rd.mkdir()
    (rd / LOCK_FILE).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "since": "t"}))
    train(tiny(), SINE, {"max_steps": 2, "threads": 1}, run_dir=rd)
    start = read_metrics(rd)[0][0]
    assert start["notes"] and "took over the lock" in start["notes"][0]
    assert not (rd / LOCK_FILE).exists()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_second_ctrl_c_mid_training_still_writes_the_summary(tmp_path):
    rd = tmp_path / "run"

    def two_ctrl_c(rec):
        if rec["kind"] == "step" and rec["step"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the handler raises KeyboardInterrupt here: "stop now"

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when started in the background by a non-interactive shell
    s = train(tiny(), SINE, {"epochs": 5, "threads": 1}, run_dir=rd, on_metric=two_ctrl_c)
    assert s["stop_reason"] == "cancelled" and "second Ctrl-C" in s["message"]
    assert json.loads((rd / "summary.json").read_text())["stop_reason"] == "cancelled"
    assert not checkpoint_path(rd, "last").exists()  # no half-updated state saved before the first epoch
    assert signal.getsignal(signal.SIGINT) is before  # the handler found is put back


def test_ctrl_c_during_shutdown_only_hurries():
    flag = _StopFlag(Path("."))
    flag._handler(signal.SIGINT, None)
    flag.shutting_down = True
    flag._handler(signal.SIGINT, None)  # no KeyboardInterrupt
    flag._handler(signal.SIGINT, None)
    assert flag.hurry


def test_names_are_shortened_and_made_safe(tmp_path):
    long_a, long_b = "a" * 100_000, "a" * 99_999 + "b"
    assert len(safe_name(long_a)) == 60 and safe_name(long_a) != safe_name(long_b)
    assert safe_name("../../etc/passwd") == "etc-passwd" and safe_name("\ud800") == "run"
    a, b = new_run_dir(tmp_path, long_a), new_run_dir(tmp_path, long_a)
    assert a != b and a.is_dir() and b.is_dir() and b.name == a.name + "-2"


def test_train_state_round_trips_through_a_checkpoint(tmp_path):
    s = train(tiny(), SINE, {"epochs": 1, "threads": 1}, run_dir=tmp_path / "r")
    saved = torch.load(checkpoint_path(tmp_path / "r", "last"), weights_only=True)["train_state"]
    state = TrainState.from_dict(saved)
    assert state.epoch == 1 and state.step == s["steps"] and state.best["epoch"] == 1
    assert set(saved) == set(TrainState.__dataclass_fields__)
