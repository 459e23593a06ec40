"""Checkpoints are untrusted input: they load with weights_only=True, a crafted one never runs its code
(on evaluate, predict, export, --resume and the GUI's load_run), and a checkpoint of another format
version, another design, a wrong tensor shape or no model weights is refused naming what differs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rnn_studio.cli import main
from rnn_studio.engine.training.checkpoints import CHECKPOINT_VERSION, design_fingerprint
from rnn_studio.engine.training.records import parse_record
from rnn_studio.engine.training.runs import CHECKPOINT_FORMAT, RunError, checkpoint_path, load_run, read_metrics
from rnn_studio.engine.training.train import train

from .test_train import SINE, tiny

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One finished 1-epoch run, copied by each test that alters it."""
    out = tmp_path_factory.mktemp("runs")
    s = train(tiny(), SINE, {"epochs": 1, "threads": 1}, out_dir=out)
    return Path(s["run"])


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / run.name
    shutil.copytree(run, dst)
    return dst


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _plant(path: Path, marker: Path) -> None:
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "model": _Payload(marker)}, path)


def test_payload_is_live(tmp_path):
    """The crafted file really runs code when unpickled the old way (so the tests below mean something)."""
    marker = tmp_path / "ran"
    _plant(tmp_path / "evil.pt", marker)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_own_checkpoints_load_with_weights_only(trained):
    for which in ("best", "last"):
        ckpt = torch.load(checkpoint_path(trained, which), weights_only=True)
        assert ckpt["version"] == CHECKPOINT_VERSION == 2
        assert ckpt["fingerprint"] == design_fingerprint(tiny())
        assert ckpt["shapes"] == {k: list(v.shape) for k, v in ckpt["model"].items()}
        assert isinstance(ckpt["rng"]["numpy"]["keys"], torch.Tensor)


def _cli(*args: str, timeout: float = 60):
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "rnn_studio", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    return r, time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.parametrize(
    "verb,which",
    [("evaluate", "best"), ("predict", "best"), ("export", "best"), ("export", "last"), ("resume", "last")],
)
def test_crafted_checkpoint_is_refused_and_never_runs(trained, tmp_path, verb, which):
    run = _copy(trained, tmp_path)
    marker = tmp_path / "code-ran"
    _plant(checkpoint_path(run, which), marker)
    args = {
        "evaluate": ["evaluate", str(run), "--demo", "sine"],
        "predict": ["predict", str(run), "--demo", "sine", "-o", str(tmp_path / "p.csv")],
        "export": ["export", str(run), "-o", str(tmp_path / "m.onnx"), "--checkpoint", which],
        "resume": ["train", "--resume", str(run)],
    }[verb]
    r, took = _cli(*args)
    assert not marker.exists()
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused" in lines[0] and f"{which}.pt" in lines[0] and "Traceback" not in r.stderr
    assert took < 60


def test_gui_run_list_load_run_refuses_crafted_checkpoint(trained, tmp_path):
    run = _copy(trained, tmp_path)
    marker = tmp_path / "code-ran"
    _plant(checkpoint_path(run, "best"), marker)
    with pytest.raises(RunError) as e:
        load_run(run, "best")
    assert not marker.exists()
    assert "refused" in str(e.value) and "\n" not in str(e.value)


def test_checkpoint_of_version_0_1_still_loads_and_resumes(trained, tmp_path):
    """0.1 wrote the numpy RNG state as a pickled ndarray and no fingerprint: loaded without running code."""
    run = _copy(trained, tmp_path)
    for which in ("best", "last"):
        path = checkpoint_path(run, which)
        ckpt = torch.load(path, weights_only=True)
        ckpt.update(version=1, rng={**ckpt["rng"], "numpy": np.random.get_state()})
        for key in ("fingerprint", "shapes"):
            ckpt.pop(key)
        torch.save(ckpt, path)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(checkpoint_path(run, "last")))
    project, model, meta = load_run(run)
    assert meta.lookback == 8
    s = train(None, None, {"epochs": 2, "threads": 1}, resume=run)
    assert s["stop_reason"] == "completed" and s["epochs_completed"] == 2


def _edit_best(run: Path, change) -> None:
    path = checkpoint_path(run, "best")
    ckpt = torch.load(path, weights_only=True)
    change(ckpt)
    torch.save(ckpt, path)


def _wrong_shape(ckpt):
    key = next(iter(ckpt["model"]))
    ckpt["model"][key] = torch.zeros(3, 3)


@pytest.mark.parametrize(
    "change,expected",
    [
        (lambda c: c.update(version=99), "format version 99"),
        (lambda c: c.update(fingerprint="0123456789abcdef"), "another design"),
        (_wrong_shape, "has shape [3, 3] in the checkpoint"),
        (lambda c: c.pop("model"), "key 'model' missing"),
        (lambda c: c["model"].pop(next(iter(c["model"]))), "has no weights for"),
    ],
)
def test_checkpoint_mismatch_is_refused_naming_the_difference(trained, tmp_path, capsys, change, expected):
    run = _copy(trained, tmp_path)
    _edit_best(run, change)
    rc = main(["evaluate", str(run), "--demo", "sine"])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1, err


def test_truncated_checkpoint_is_a_one_line_error(trained, tmp_path, capsys):
    run = _copy(trained, tmp_path)
    path = checkpoint_path(run, "best")
    path.write_bytes(path.read_bytes()[:100])
    rc = main(["evaluate", str(run), "--demo", "sine"])
    err = capsys.readouterr().err
    assert rc == 2 and "damaged or incomplete" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ init_from (the import feature's seam)
def test_init_from_starts_a_new_run_from_another_runs_weights(trained, tmp_path):
    src = torch.load(checkpoint_path(trained, "best"), weights_only=True)["model"]
    s = train(
        tiny(),
        SINE,
        {"epochs": 1, "threads": 1, "optimizer": "sgd", "lr": 1e-30, "momentum": 0},
        out_dir=tmp_path,
        init_from=trained,
    )
    rd = Path(s["run"])
    assert rd != trained and rd.parent == tmp_path
    start = read_metrics(rd)[0][0]
    assert start["init_from"] == str(checkpoint_path(trained, "best")) and start["resumed_from_step"] is None
    got = torch.load(checkpoint_path(rd, "last"), weights_only=True)["model"]
    for k, v in src.items():  # a learning rate of 1e-30 leaves the imported weights as they were
        assert torch.allclose(v, got[k]), k


def test_init_from_refuses_a_design_with_other_shapes(trained, tmp_path):
    other = tiny()
    other.blocks[1].params["units"] = 5
    with pytest.raises(RunError, match="has shape .* in the checkpoint but .* in the design"):
        train(other, SINE, {"epochs": 1}, out_dir=tmp_path, init_from=trained)
    assert not list(tmp_path.iterdir())  # refused before a run folder was made


# ------------------------------------------------------------------ typed records
def test_divergence_step_is_a_field_of_the_end_record(tmp_path):
    s = train(tiny(), SINE, {"optimizer": "sgd", "lr": 1e12, "epochs": 3, "threads": 1}, run_dir=tmp_path / "r")
    end = parse_record(read_metrics(tmp_path / "r")[0][-1])
    assert end is not None and end["kind"] == "end"
    assert s["diverged_step"] == end["diverged_step"] == int(s["stop_reason"].rsplit(" ", 1)[1])


def test_parse_record_drops_malformed_lines():
    assert parse_record({"kind": "step", "step": 1, "epoch": 1, "loss": 0.1, "lr": 0.1}) is not None
    assert parse_record({"kind": "step", "step": "1", "epoch": 1}) is None
    assert parse_record({"kind": "grad", "step": 1, "blocks": []}) is None
    assert parse_record({"kind": "end"}) is None
    assert parse_record(["kind"]) is None and parse_record({"kind": "other"}) is None


@pytest.mark.parametrize(
    "change,expected",
    [
        (lambda c: c.update(meta="x"), "'meta' is a str"),
        (lambda c: c["meta"].update(x_mean=[1.0, 2.0, 3.0]), "meta.x_mean is not a list of 1 finite numbers"),
        (lambda c: c["meta"].update(lookback=-4), "meta.lookback is -4"),
    ],
)
def test_damaged_metadata_is_refused(trained, tmp_path, capsys, change, expected):
    run = _copy(trained, tmp_path)
    _edit_best(run, change)
    rc = main(["evaluate", str(run), "--demo", "sine"])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    "change,expected",
    [
        (lambda c: c.pop("optimizer"), "no usable 'optimizer'"),
        (lambda c: c.update(rng={"torch": 1, "python": (), "numpy": {}}), "random-number state is damaged"),
        (lambda c: c["optimizer"].update(param_groups=[]), "cannot restore the training state"),
    ],
)
def test_resume_from_a_damaged_last_checkpoint_is_refused(trained, tmp_path, capsys, change, expected):
    run = _copy(trained, tmp_path)
    path = checkpoint_path(run, "last")
    ckpt = torch.load(path, weights_only=True)
    change(ckpt)
    torch.save(ckpt, path)
    rc = main(["train", "--resume", str(run), "--epochs", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1, err
