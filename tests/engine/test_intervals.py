"""Split-conformal prediction intervals (engine/training/intervals.py): the rank rule, the run-folder file, coverage
on a series with iid noise, predict's lower/upper columns, the ONNX metadata, and refused bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnn_studio.cli import main
from rnn_studio.engine.data import DataError, DataSpec
from rnn_studio.engine.design.project import Project
from rnn_studio.engine.training.intervals import (
    Intervals,
    coverage_warning,
    few_windows_warning,
    fit_intervals,
    load_intervals,
    save_intervals,
)
from rnn_studio.engine.training.train import train


def design(units=1, timesteps=8):
    return Project.from_dict(
        {
            "format": "rnn-studio",
            "version": 1,
            "name": "iv",
            "blocks": [
                {"id": "x", "type": "Input", "params": {"timesteps": timesteps, "features": 1}},
                {"id": "g", "type": "GRU", "params": {"units": 8}},
                {"id": "y", "type": "Dense", "params": {"units": units}},
            ],
            "links": [["x", "g"], ["g", "y"]],
            "training": {"epochs": 2, "batch_size": 64, "lr": 0.01},
        }
    )


def test_rank_rule_by_hand():
    r = np.arange(1, 11, dtype=float)[:, None]  # |residuals| 1..10 for one step
    assert fit_intervals(r, 0.5).half_width[0, 0] == 6  # ceil(11 * 0.5) = 6th smallest
    assert fit_intervals(r, 0.8).half_width[0, 0] == 9  # ceil(8.8) = 9th
    iv = fit_intervals(-r, 0.95)  # ceil(10.45) = 11 > 10: the largest, and a warning
    assert iv.half_width[0, 0] == 10 and "only 10 validation window(s)" in few_windows_warning(iv)
    assert few_windows_warning(fit_intervals(np.arange(100.0)[:, None], 0.9)) is None
    two = fit_intervals(np.stack([r[:, 0], 2 * r[:, 0]], axis=1), 0.5)  # per step
    assert two.half_width[:, 0].tolist() == [6, 12] and two.steps == 2
    assert two.at_level(0.8).half_width[:, 0].tolist() == [9, 18]  # the kept residuals give other levels


def test_bounds_shapes():
    iv = fit_intervals(np.tile([[1.0, 2.0]], (20, 1)), 0.9)
    lo, hi = iv.bounds(np.zeros((3, 2)))
    assert lo.tolist() == [[-1, -2]] * 3 and hi.tolist() == [[1, 2]] * 3
    lo, hi = iv.bounds(np.zeros((3, 2, 1)))
    assert lo.shape == (3, 2, 1)
    with pytest.raises(DataError, match="2 step"):
        iv.bounds(np.zeros((3, 5)))


def test_file_round_trip_and_malformed(tmp_path):
    assert load_intervals(tmp_path) is None
    iv = fit_intervals(np.random.default_rng(0).standard_normal((50, 3)), 0.9, ["load"])
    save_intervals(tmp_path, iv)
    d = json.loads((tmp_path / "intervals.json").read_text())
    assert d["method"] == "split-conformal" and d["level"] == 0.9 and d["steps"] == 3 and d["targets"] == ["load"]
    assert np.array(d["half_width"]).shape == (3, 1) and d["calibration_windows"] == 50
    back = load_intervals(tmp_path)
    assert isinstance(back, Intervals) and np.allclose(back.half_width, iv.half_width)
    for bad in (
        '{"level": 0.9}',
        "[1, 2]",
        "{not json",
        '{"level": 1.5, "steps": 1, "targets": ["y"], "half_width": [[1]]}',
    ):
        (tmp_path / "intervals.json").write_text(bad)
        with pytest.raises(DataError) as e:
            load_intervals(tmp_path)
        assert "intervals.json" in str(e.value) and "\n" not in str(e.value)
    no_residuals = Intervals("split-conformal", 0.9, 1, ("y",), np.ones((1, 1)), 10)
    with pytest.raises(DataError, match="fitted at 0.9 only"):
        no_residuals.at_level(0.8)


def test_conformal_coverage_iid_noise():
    """Fresh draws of the noise the widths were fitted on are covered at the level asked."""
    rng = np.random.default_rng(3)
    iv = fit_intervals(rng.standard_normal((400, 2)), 0.9)
    fresh = rng.standard_normal((2000, 2))
    lo, hi = iv.bounds(np.zeros_like(fresh))
    assert 0.86 <= np.mean((lo <= fresh) & (fresh <= hi)) <= 0.94


def test_training_coverage_on_a_series_with_iid_noise(tmp_path):
    """The issue's check: at 0.9 the test split (300+ targets) is covered 0.84..0.96."""
    rng = np.random.default_rng(7)
    t = np.arange(2400)
    y = np.sin(2 * np.pi * t / 24) + 0.3 * rng.standard_normal(t.size)
    f = tmp_path / "noise.csv"
    f.write_text("y\n" + "".join(f"{v:.6f}\n" for v in y))
    s = train(design(), DataSpec(path=str(f), season=24), {"epochs": 2}, out_dir=tmp_path)
    assert s["test_windows"] >= 300 and s["interval_level"] == 0.9
    assert 0.84 <= s["test_coverage"] <= 0.96, s["test_coverage"]
    assert "interval_warning" not in s
    iv = load_intervals(s["run"])
    assert iv is not None and iv.calibration_windows > 300


def test_coverage_warning_line():
    ok = {"test_coverage": 0.89, "interval_level": 0.9, "test_windows": 400}
    assert coverage_warning(ok) is None
    low = coverage_warning({**ok, "test_coverage": 0.6})
    assert low and "far less than asked" in low and "0.600" in low


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ivrun")
    f = tmp / "d.csv"
    f.write_text("y\n" + "".join(f"{np.sin(i / 3):.5f}\n" for i in range(200)))
    d = tmp / "d.rnn.json"
    d.write_text(design(units=2).to_json())
    assert main(["train", str(d), "--data", str(f), "--epochs", "1", "--level", "0.8", "--out", str(tmp / "runs")]) == 0
    return next((tmp / "runs").iterdir()), f


def test_level_flag_predict_columns_and_a_run_without_intervals(run, tmp_path, capsys):
    rd, f = run
    capsys.readouterr()
    assert json.loads((rd / "intervals.json").read_text())["level"] == 0.8
    out = tmp_path / "p.csv"
    assert main(["predict", str(rd), "--data", str(f), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "row,split,step,prediction,target,lower,upper"
    parts = lines[1].split(",")
    pred, lo, hi = float(parts[3]), float(parts[5]), float(parts[6])
    assert lo < pred < hi
    # an older run without intervals.json: predict still works, without the interval columns
    saved = (rd / "intervals.json").read_text()
    (rd / "intervals.json").unlink()
    try:
        assert main(["predict", str(rd), "--data", str(f), "-o", str(out)]) == 0
        assert out.read_text().splitlines()[0] == "row,split,step,prediction,target"
        (rd / "intervals.json").write_text('{"level": 0.8}')
        assert main(["predict", str(rd), "--data", str(f), "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "intervals.json" in err[0] and "malformed" in err[0]
    finally:
        (rd / "intervals.json").write_text(saved)


@pytest.mark.parametrize("args", [["--level", "1.5"], ["--level", "0"], ["--level", "x"]])
def test_bad_level_exits_2_with_one_line(tmp_path, capsys, args):
    f = tmp_path / "d.csv"
    f.write_text("y\n" + "".join(f"{i}\n" for i in range(60)))
    d = tmp_path / "d.rnn.json"
    d.write_text(design().to_json())
    try:
        rc = main(["train", str(d), "--data", str(f), "--out", str(tmp_path), *args])
    except SystemExit as e:  # argparse refuses a value that is no number
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--level" in err[0], err


def test_onnx_metadata_holds_the_intervals(run, tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    rd, _ = run
    out = tmp_path / "m.onnx"
    assert main(["export", str(rd), "-o", str(out)]) == 0
    md = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    iv = json.loads(md["intervals"])
    assert iv["method"] == "split-conformal" and iv["level"] == 0.8 and iv["steps"] == 2
    assert iv["half_width"] == json.loads((rd / "intervals.json").read_text())["half_width"]
    assert json.loads(md["steps"]) == 2
