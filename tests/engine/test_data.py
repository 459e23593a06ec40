"""Data loading: defaults, windows, chronological splits, train-only normalization, and every bad-data
case -> one clear line naming file, column and row, exit code 2 through the CLI."""

import json

import numpy as np
import pytest

from rnn_studio.cli import main
from rnn_studio.engine import Project
from rnn_studio.engine.data import DataError, DataSpec, demo_table, load_dataset, mackey_glass, read_csv


def design(timesteps=8, features=1, units=1, seq=False, task=None, loss=None):
    d = {
        "format": "rnn-studio",
        "version": 1,
        "name": "tiny",
        "blocks": [
            {"id": "x", "type": "Input", "params": {"timesteps": timesteps, "features": features}},
            {"id": "g", "type": "GRU", "params": {"units": 4, "return_sequences": seq}},
            {"id": "y", "type": "Dense", "params": {"units": units}},
        ],
        "links": [["x", "g"], ["g", "y"]],
        "training": {},
    }
    if task:
        d["training"]["task"] = task
    if loss:
        d["training"]["loss"] = loss
    return d


def proj(**kw) -> Project:
    return Project.from_dict(design(**kw))


def write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture
def series_csv(tmp_path):
    days = np.datetime64("2024-01-01") + np.arange(200)
    rows = [[str(days[i]), i * 0.5, (i % 7) * 1.0, np.sin(i / 5)] for i in range(200)]
    return write_csv(tmp_path / "s.csv", ["date", "a", "b", "y"], rows)


# ------------------------------------------------------------------ defaults and windows
def test_defaults_target_last_numeric_features_text_ignored(series_csv):
    ds = load_dataset(DataSpec(path=str(series_csv)), proj(features=2))
    assert ds.meta.target == "y" and ds.meta.features == ["a", "b"]
    assert ds.plan.time_column == "date" and ds.ignored_columns == []  # the time column orders, never trains


def test_autoregressive_default_includes_target(series_csv):
    ds = load_dataset(DataSpec(path=str(series_csv)), proj(features=3))  # a, b and the target y
    assert ds.meta.features == ["a", "b", "y"]
    ds = load_dataset(DataSpec(path=str(series_csv), features=["y"]), proj(features=1))
    assert ds.meta.features == ["y"]


def test_univariate_file_uses_target_as_feature(tmp_path):
    f = write_csv(tmp_path / "u.csv", ["v"], [[i] for i in range(50)])
    ds = load_dataset(DataSpec(path=str(f)), proj())
    assert ds.meta.features == ["v"] and ds.meta.target == "v"


def test_windows_targets_and_horizon(tmp_path):
    import torch

    f = write_csv(tmp_path / "u.csv", ["v"], [[i] for i in range(100)])
    ds = load_dataset(DataSpec(path=str(f), horizon=3), proj(timesteps=5))
    idx = torch.tensor([0, 10])
    xb, yb = ds.batch(idx)
    assert xb.shape == (2, 5, 1) and yb.shape == (2, 1)
    raw_x = xb[..., 0].double() * ds.meta.x_std[0] + ds.meta.x_mean[0]
    assert torch.allclose(raw_x, torch.tensor([[0, 1, 2, 3, 4], [10, 11, 12, 13, 14]], dtype=torch.double), atol=1e-4)
    assert ds.targets_orig([0, 10]).ravel().tolist() == [4 + 3, 14 + 3]
    assert ds.persistence_orig([0, 10]).ravel().tolist() == [4, 14]  # the last observed value


def test_per_step_targets_for_sequence_output(tmp_path):
    f = write_csv(tmp_path / "u.csv", ["v"], [[i] for i in range(100)])
    ds = load_dataset(DataSpec(path=str(f)), proj(timesteps=4, seq=True))
    xb, yb = ds.batch(__import__("torch").tensor([7]))
    assert yb.shape == (1, 4, 1)
    assert ds.targets_orig([7]).ravel().tolist() == [8, 9, 10, 11]


def test_chronological_split_and_train_only_normalization(tmp_path):
    f = write_csv(tmp_path / "u.csv", ["v"], [[i * 2.0] for i in range(100)])
    ds = load_dataset(DataSpec(path=str(f)), proj(timesteps=5))
    last = lambda s: ds.index[s].numpy() + 4 + 1  # noqa: E731 - target row of each window
    assert last("train").max() < 70 <= last("val").min() and last("val").max() < 85 <= last("test").min()
    assert ds.meta.x_mean[0] == pytest.approx(np.mean(np.arange(70) * 2.0))  # train rows only
    assert ds.meta.y_std == pytest.approx(np.std(np.arange(70) * 2.0))


def test_windows_are_not_materialized(tmp_path):
    f = write_csv(tmp_path / "u.csv", ["v"], [[i] for i in range(1000)])
    ds = load_dataset(DataSpec(path=str(f)), proj(timesteps=50))
    assert tuple(ds.x.shape) == (1000, 1)  # one copy of the series, windows are gathered per batch


def test_classification_string_and_int_labels(tmp_path):
    rows = [[i % 5, ["walk", "run", "sit"][i // 10 % 3]] for i in range(120)]
    f = write_csv(tmp_path / "c.csv", ["acc", "label"], rows)
    ds = load_dataset(DataSpec(path=str(f)), proj(units=3, task="classification"))
    assert ds.meta.classes == ["run", "sit", "walk"] and ds.y.dtype.is_floating_point is False
    rows = [[i % 5, i // 10 % 2 + 1] for i in range(120)]
    f = write_csv(tmp_path / "c2.csv", ["acc", "label"], rows)
    ds = load_dataset(DataSpec(path=str(f)), proj(units=2, task="classification"))
    assert ds.meta.classes == [1, 2]


def test_npz_sequences(tmp_path):
    rng = np.random.default_rng(0)
    f = tmp_path / "d.npz"
    np.savez(f, X=rng.standard_normal((60, 8, 2)), y=rng.standard_normal(60))
    ds = load_dataset(DataSpec(path=str(f)), proj(features=2))
    assert ds.kind == "windows" and ds.size("train") == 42 and ds.size("val") == 9 and ds.size("test") == 9
    xb, yb = ds.batch(ds.index["val"][:3])
    assert xb.shape == (3, 8, 2) and yb.shape == (3, 1)


def test_demos_are_deterministic():
    a, b = demo_table("chaos", 500).numeric("value"), demo_table("chaos", 500).numeric("value")
    assert np.array_equal(a, b) and a.min() > 0.2 and a.max() < 1.5
    s = demo_table("sine", 300).numeric("value")
    assert s.shape == (300,) and np.isfinite(s).all()
    assert np.isfinite(mackey_glass(100)).all()


def test_read_csv_blank_lines_and_bom(tmp_path):
    f = tmp_path / "b.csv"
    f.write_bytes("\ufeffa,b\n1,2\n\n3,4\n".encode("utf-8"))
    t = read_csv(f)
    assert t.names == ["a", "b"] and t.n_rows == 2 and t.lines == [2, 4]


# ------------------------------------------------------------------ bad data: one line, exit code 2
def _csv(tmp_path, text, name="bad.csv"):
    f = tmp_path / name
    f.write_text(text)
    return f


BAD_CSV = [
    # (file text, extra args, design kwargs, expected fragments)
    ("a,y\n" + "".join(f"{i},{i}\n" for i in range(50)), ["--target", "z"], {}, ["no target column 'z'", "y"]),
    ("a,y\n" + "".join(f"{i},{i}\n" for i in range(50)), ["--features", "q"], {}, ["no feature column 'q'"]),
    (
        "a,y\n" + "".join(f"{'x7' if i == 20 else i},{i}\n" for i in range(50)),
        ["--features", "a"],
        {},
        ["column 'a'", "row 21 (line 22)", "non-numeric value 'x7'"],
    ),
    (
        "a,y\n" + "".join(f"{'nan' if i == 5 else i},{i}\n" for i in range(50)),
        ["--features", "a"],
        {},
        ["column 'a'", "row 6", "NaN", "--missing"],
    ),
    (
        "a,y\n" + "".join(f"{i},{'inf' if i == 9 else i}\n" for i in range(50)),
        [],
        {},
        ["column 'y'", "row 10", "infinite"],
    ),
    (
        "a,y\n" + "".join(f"{'' if i == 3 else i},{i}\n" for i in range(50)),
        ["--features", "a"],
        {},
        ["column 'a'", "row 4", "missing value"],
    ),
    ("a,y\n1,2\n3,4\n", [], {}, ["2 data row(s)", "lookback 8", "smaller --lookback"]),
    ("a,y\n" + "".join(f"{i},{i}\n" for i in range(12)), [], {}, ["training split is empty", "12 rows"]),
    ("a,y\n" + "".join(f"{i},{i}\n" for i in range(50)), ["--split", "0.99,0.01,0"], {}, ["validation split is empty"]),
    (
        "a,y\n" + "".join(f"{i % 5},{i % 3}\n" for i in range(60)),
        [],
        {"units": 2, "task": "classification"},
        ["column 'y' has 3 classes", "output has 2 unit(s)", "units to 3"],
    ),
    ("a,y\n1,2\n3\n", [], {}, ["row 2 (line 3)", "has 1 fields", "2 columns"]),
    ("", [], {}, ["file is empty"]),
    ("a,y\n" + "".join(f"{i},{i}\n" for i in range(50)), ["--lookback", "4"], {}, ["--lookback 4", "timesteps 8"]),
    ("a,b,y\n" + "".join(f"{i},{i},{i}\n" for i in range(50)), [], {"features": 5}, ["Input takes 5 feature(s)"]),
    (
        "a,y\n" + "".join(f"{i},{'abc' if i else 'x'}\n" for i in range(50)),
        [],
        {},
        ["target column 'y' is not numeric"],
    ),
    # a per-step output with 3 units for one target (a 3-unit Dense without the time axis is a 3-step forecaster)
    (
        "a,y\n" + "".join(f"{i},{i}\n" for i in range(50)),
        [],
        {"units": 3, "seq": True},
        ["output has 3 units per step", "units to 1"],
    ),
]


@pytest.mark.parametrize("text,args,kw,fragments", BAD_CSV)
def test_bad_csv_one_line_exit_2(tmp_path, capsys, text, args, kw, fragments):
    f = _csv(tmp_path, text)
    d = tmp_path / "d.rnn.json"
    d.write_text(json.dumps(design(**kw)))
    rc = main(["train", str(d), "--data", str(f), "--out", str(tmp_path / "runs"), "--epochs", "1", *args])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    if "file is empty" not in fragments[0] and "--lookback" not in fragments[0]:
        assert str(f) in lines[0]
    for frag in fragments:
        assert frag in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run for bad data


def _npz(tmp_path, **arrays):
    f = tmp_path / "bad.npz"
    np.savez(f, **arrays)
    return f


@pytest.mark.parametrize(
    "arrays,fragments",
    [
        ({"X": np.zeros((20, 5, 1)), "y": np.zeros(20)}, ["X has 5 timesteps", "Input takes 8"]),
        ({"X": np.zeros((20, 8, 3)), "y": np.zeros(20)}, ["X has 3 features", "Input takes 1"]),
        ({"X": np.zeros((20, 8)), "y": np.zeros(20)}, ["must be (N, T, F)"]),
        ({"Z": np.zeros((20, 8, 1))}, ["no array 'X'", "found: Z"]),
        ({"X": np.zeros((20, 8, 1)), "y": np.zeros(19)}, ["y has 19 entries", "20 samples"]),
        ({"X": np.full((20, 8, 1), np.nan), "y": np.zeros(20)}, ["X[0, 0, 0]", "NaN"]),
    ],
)
def test_bad_npz_one_line_exit_2(tmp_path, capsys, arrays, fragments):
    f = _npz(tmp_path, **arrays)
    d = tmp_path / "d.rnn.json"
    d.write_text(json.dumps(design()))
    rc = main(["train", str(d), "--data", str(f), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert str(f) in err
    for frag in fragments:
        assert frag in err


def test_missing_file_and_folder(tmp_path, capsys):
    d = tmp_path / "d.rnn.json"
    d.write_text(json.dumps(design()))
    assert main(["train", str(d), "--data", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["train", str(d), "--data", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["train", str(d)]) == 2
    assert "no data" in capsys.readouterr().err


def test_data_error_is_value_error():
    assert issubclass(DataError, ValueError)
    with pytest.raises(DataError, match="unknown demo"):
        demo_table("nope")
