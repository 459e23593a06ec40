"""Direct multi-step designs: a Dense with H units forecasts rows r+horizon .. r+horizon+H-1 after the
window's last row r; windows, splits, baselines, CLI output and predict rows account for all H steps."""

from __future__ import annotations

import json

import numpy as np
import torch

from rnn_studio.cli import main
from rnn_studio.engine.data import DataSpec, load_dataset, plan_data
from rnn_studio.engine.data.plan import split_bounds
from rnn_studio.engine.design.project import Project
from rnn_studio.engine.training.train import predict_run, train


def design(units=3, timesteps=8, features=1):
    return Project.from_dict(
        {
            "format": "rnn-studio",
            "version": 1,
            "name": "multi",
            "blocks": [
                {"id": "x", "type": "Input", "params": {"timesteps": timesteps, "features": features}},
                {"id": "g", "type": "GRU", "params": {"units": 4}},
                {"id": "y", "type": "Dense", "params": {"units": units}},
            ],
            "links": [["x", "g"], ["g", "y"]],
            "training": {"epochs": 1, "batch_size": 16, "lr": 0.01},
        }
    )


def csv(tmp_path, n=50, name="d.csv"):
    f = tmp_path / name
    f.write_text("y\n" + "".join(f"{i}\n" for i in range(n)))
    return f


def test_plan_says_steps_and_windows_cover_all_steps(tmp_path):
    f = csv(tmp_path)
    plan = plan_data(DataSpec(path=str(f)), design())
    assert plan.ok and plan.steps == 3
    assert any("forecasts steps 1..3" in line for line in plan.describe())
    # 50 rows, lookback 8, horizon 1, 3 steps: a window needs 8 + 1 + 2 = 11 rows -> 40 windows
    assert sum(plan.windows.values()) == 50 - 11 + 1
    ds = load_dataset(DataSpec(path=str(f)), design())
    n_tr, n_tv = split_bounds(50, (0.7, 0.15, 0.15))
    for split, (lo, hi) in {"train": (0, n_tr), "val": (n_tr, n_tv), "test": (n_tv, 50)}.items():
        starts = ds.index[split].numpy()
        last = starts + 7 + 1 + 2  # the row of each window's last target
        assert (lo <= last).all() and (last < hi).all(), split  # a window belongs to its last target's split
    y = ds.targets(torch.tensor([0, 5]))
    # the targets are rows 8, 9, 10 (and 13, 14, 15): normalized, so compare in the target's units
    assert ds.targets_orig(np.array([0, 5])).tolist() == [[8, 9, 10], [13, 14, 15]]
    assert tuple(y.shape) == (2, 3)


def test_horizon_offsets_the_first_step(tmp_path):
    ds = load_dataset(DataSpec(path=str(csv(tmp_path)), horizon=3), design())
    assert ds.targets_orig(np.array([0])).tolist() == [[10, 11, 12]]  # window rows 0..7, first target r+3
    assert ds.persistence_orig(np.array([0])).tolist() == [[7, 7, 7]]  # the last observed value


def test_too_short_names_every_step(tmp_path):
    plan = plan_data(DataSpec(path=str(csv(tmp_path, n=10))), design())
    assert not plan.ok and "lookback 8 + horizon 1 + 2 more step(s) = 11 rows" in plan.errors[0]


def test_train_evaluate_predict_three_steps(tmp_path, capsys):
    days = np.datetime64("2024-01-01") + np.arange(120)
    vals = 10 + np.sin(np.arange(120) * 2 * np.pi / 7)
    f = tmp_path / "daily.csv"
    f.write_text("date,sales\n" + "".join(f"{d},{v:.5f}\n" for d, v in zip(days, vals, strict=True)))
    d = tmp_path / "m.rnn.json"
    d.write_text(design().to_json())
    rc = main(["train", str(d), "--data", str(f), "--epochs", "1", "--out", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "forecast: steps 1..3, season 7 ('date' is daily)" in out
    assert "test forecast (season 7, 3 step(s)): MASE" in out and "seasonal naive" in out
    run = next((tmp_path / "runs").iterdir())
    s = json.loads((run / "summary.json").read_text())
    assert s["forecast_steps"] == 3 and s["season"] == 7 and len(s["test_rmse_by_step"]) == 3
    assert {"test_mase", "test_smape", "test_seasonal_naive_mase", "test_persistence_mase", "test_coverage"} <= set(s)
    assert isinstance(s["beats_seasonal_naive"], bool) and isinstance(s["beats_persistence"], bool)
    assert json.loads((run / "plan.json").read_text())["steps"] == 3
    assert json.loads((run / "intervals.json").read_text())["steps"] == 3
    rc = main(["evaluate", str(run), "--data", str(f), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and res["test_mase"] == s["test_mase"] and len(res["test_seasonal_naive_rmse_by_step"]) == 3
    assert res["season"] == 7 and res["test_windows"] == s["test_windows"]
    out_csv = tmp_path / "p.csv"
    assert main(["predict", str(run), "--data", str(f), "-o", str(out_csv)]) == 0
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "date,row,split,step,prediction,target,lower,upper"
    first = [ln.split(",") for ln in lines[1:4]]
    assert [r[3] for r in first] == ["1", "2", "3"] and [r[1] for r in first] == ["9", "10", "11"]
    assert first[0][0] == "2024-01-09"  # the time of the target row, not of the window
    assert len(lines) - 1 == 3 * (120 - 11 + 1)


def test_season_flag_and_bad_season(tmp_path, capsys):
    f = csv(tmp_path, n=60)
    d = tmp_path / "m.rnn.json"
    d.write_text(design().to_json())
    assert main(["data", str(f), "--design", str(d), "--season", "4"]) == 0
    assert "season: 4 (--season" in capsys.readouterr().out
    assert main(["data", str(f), "--design", str(d)]) == 0
    assert "season: 1 (no time column" in capsys.readouterr().out
    rc = main(["train", str(d), "--data", str(f), "--season", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--season" in err[0]


def test_npz_and_memory_mapped_multistep(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 8, 1))
    np.savez(tmp_path / "w.npz", X=X, y=np.stack([X[:, -1, 0] * k for k in (1, 2, 3)], axis=1))
    s = train(design(), DataSpec(path=str(tmp_path / "w.npz")), {"epochs": 1}, out_dir=tmp_path / "a")
    assert s["forecast_steps"] == 3 and len(s["test_rmse_by_step"]) == 3 and s.get("test_mase") is None
    cols, rows = predict_run(s["run"], DataSpec(path=str(tmp_path / "w.npz")))
    assert cols == ["sample", "step", "prediction", "target", "lower", "upper"] and len(rows) == 3 * 90
    assert [r[:2] for r in rows[:4]] == [[0, 1], [0, 2], [0, 3], [1, 1]]
    data = np.cumsum(rng.normal(size=(600, 1)), axis=0)
    np.save(tmp_path / "m.npy", data)
    ds = load_dataset(DataSpec(path=str(tmp_path / "m.npy")), design())
    assert type(ds.y).__name__ == "MappedTarget"
    y = ds.targets(torch.tensor([0, 10]))
    want = (data[[8, 9, 10, 18, 19, 20], 0].reshape(2, 3) - ds.meta.y_mean) / ds.meta.y_std
    assert np.allclose(y.numpy(), want, atol=1e-5)
    s = train(design(), DataSpec(path=str(tmp_path / "m.npy")), {"epochs": 1}, out_dir=tmp_path / "b")
    assert s["test_rmse"] is not None and len(s["test_mase_by_step"]) == 3
