"""The data plan: what you see is what trains. Time columns, autoregressive defaults, honest baselines,
formats, many series, missing values, and bad input on every new path (exit 2, one line)."""

import json
import os

import numpy as np
import pytest

from rnn_studio.cli import main
from rnn_studio.engine import Project, load_project
from rnn_studio.engine.data import DataError, DataSpec, load_dataset, plan_data, read_table
from rnn_studio.engine.training.train import train

SEED = "assets/examples/seed-keras.rnn.json"  # Input: 10 steps, 1 feature


def design(timesteps=8, features=1):
    return Project.from_dict(
        {
            "format": "rnn-studio",
            "version": 1,
            "name": "tiny",
            "blocks": [
                {"id": "x", "type": "Input", "params": {"timesteps": timesteps, "features": features}},
                {"id": "g", "type": "GRU", "params": {"units": 4}},
                {"id": "y", "type": "Dense", "params": {"units": 1}},
            ],
            "links": [["x", "g"], ["g", "y"]],
            "training": {"epochs": 1, "batch_size": 16, "lr": 0.01},
        }
    )


def year_csv(path, n=120, start=1900):
    rng = np.random.default_rng(0)
    value = 50 + np.cumsum(rng.normal(0, 5, n))
    path.write_text("YEAR,value\n" + "".join(f"{start + i},{v:.3f}\n" for i, v in enumerate(value)))
    return path


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


# ------------------------------------------------------------------ the reported bug
def test_year_value_csv_trains_on_value_with_the_seed_design(tmp_path):
    f = year_csv(tmp_path / "yearly.csv")
    project = load_project(SEED)
    summary = train(project, DataSpec(path=str(f)), {"epochs": 1, "max_steps": 3}, out_dir=tmp_path / "runs")
    run = tmp_path / "runs" / os.path.basename(summary["run"])
    start = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert start["features"] == ["value"] and start["target"] == "value"
    plan = json.loads((run / "plan.json").read_text())
    assert plan["features"] == ["value"] and plan["time_column"] == "YEAR"
    assert start["plan"]["features"] == ["value"]


def test_plan_names_time_column_split_times_and_windows(tmp_path):
    plan = plan_data(DataSpec(path=str(year_csv(tmp_path / "y.csv"))), load_project(SEED))
    assert plan.ok and plan.time_column == "YEAR" and plan.features == ["value"]
    assert plan.split_ranges == {"train": [1, 84], "val": [85, 102], "test": [103, 120]}
    assert plan.split_times["val"] == ["1984", "2001"]
    assert plan.windows == {"train": 74, "val": 18, "test": 18}


def test_rows_out_of_time_order_is_an_error_naming_the_row(tmp_path):
    f = tmp_path / "o.csv"
    f.write_text("date,v\n" + "".join(f"2024-01-{d:02d},{d}\n" for d in (1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11, 12)))
    plan = plan_data(DataSpec(path=str(f)), design(timesteps=2))
    assert "column 'date', row 5" in plan.errors[0] and "sort the rows" in plan.errors[0]


def test_gap_in_time_is_a_warning_with_the_first_gap(tmp_path):
    days = [1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22]
    f = tmp_path / "g.csv"
    f.write_text("date,v\n" + "".join(f"2024-01-{d:02d},{d * 1.5}\n" for d in days))
    plan = plan_data(DataSpec(path=str(f)), design(timesteps=2))
    assert plan.ok, plan.errors
    assert any("row 4 (2024-01-04)" in w and "row 5 (2024-01-07)" in w for w in plan.warnings), plan.warnings


def test_dates_that_do_not_parse(tmp_path, capsys):
    f = tmp_path / "d.csv"
    f.write_text("date,v\n" + "".join(f"2024-01-{d:02d},{d}\n" for d in range(1, 20)) + "someday,3\n")
    rc, _, err = cli(capsys, "data", f)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "column 'date', row 20" in err and "'someday' is not a date" in err


# ------------------------------------------------------------------ honest baselines
def test_summary_has_same_split_baselines_and_worse_than_persistence_is_flagged(tmp_path, capsys):
    f = year_csv(tmp_path / "rw.csv", n=200)  # a random walk: persistence is very hard to beat in 2 steps
    rc, _, err = cli(capsys, "train", SEED, "--data", f, "--out", tmp_path / "runs", "--epochs", "1", "--quiet")
    assert rc == 0, err
    run = next((tmp_path / "runs").iterdir())
    s = json.loads((run / "summary.json").read_text())
    assert s["beats_persistence"] is False and s["persistence_split"] == "test"
    assert s["test_persistence_rmse"] == s["persistence_rmse"]
    assert s["val_persistence_rmse"] != s["test_persistence_rmse"]  # each split against its own baseline
    assert "does not beat persistence on the test split" in err


# ------------------------------------------------------------------ the data verb
def test_data_verb_summary_and_plan(tmp_path, capsys):
    f = year_csv(tmp_path / "y.csv")
    rc, out, _ = cli(capsys, "data", f)
    assert rc == 0 and "YEAR" in out and "integer" in out and "yes" in out
    rc, out, _ = cli(capsys, "data", f, "--design", SEED)
    assert rc == 0 and "features: value" in out and "time column: YEAR" in out
    rc, _, err = cli(capsys, "data", f, "--design", SEED, "--features", "YEAR,value")
    assert rc == 2 and "set the Input's features to 2" in err and len(err.strip().splitlines()) == 1


def test_gui_words_never_name_flags(tmp_path):
    f = year_csv(tmp_path / "y.csv")
    plan = plan_data(DataSpec(path=str(f), features=[]), load_project(SEED), ui="gui")
    assert "Features ticks" in plan.errors[0] and "--" not in plan.errors[0]


# ------------------------------------------------------------------ formats
def test_formats_read_the_same_table(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import feather

    a, b = np.arange(30, dtype=float) * 0.5, np.sin(np.arange(30.0))
    arrow = pa.table({"a": a, "b": b})
    pq.write_table(arrow, tmp_path / "t.parquet")
    feather.write_feather(arrow, tmp_path / "t.feather")
    import gzip

    with gzip.open(tmp_path / "t.csv.gz", "wt") as fh:
        fh.write("a,b\n" + "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in zip(a, b, strict=True)))
    np.save(tmp_path / "t.npy", np.stack([a, b], axis=1))
    for name in ("t.parquet", "t.feather", "t.csv.gz"):
        t = read_table(tmp_path / name)
        assert t.names == ["a", "b"] and np.allclose(t.columns["b"], b), name
    t = read_table(tmp_path / "t.npy")
    assert t.mapped and t.names == ["c0", "c1"] and np.allclose(t.columns["c1"], b)
    assert read_table(tmp_path / "t.feather").mapped


def test_parquet_with_text_column_used_as_feature(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"label": ["x"] * 30, "v": np.arange(30.0)}), tmp_path / "t.parquet")
    rc, _, err = cli(capsys, "data", tmp_path / "t.parquet", "--design", SEED, "--features", "label")
    assert rc == 2 and "column 'label' is not numeric" in err and "t.parquet" in err


def test_memory_mapped_npy_trains(tmp_path):
    f = tmp_path / "big.npy"
    rng = np.random.default_rng(0)
    np.save(f, np.cumsum(rng.normal(size=(3000, 2)), axis=0).astype(np.float32))
    ds = load_dataset(DataSpec(path=str(f), target="c1"), design(features=2))
    assert type(ds.x).__name__ == "MappedSeries" and ds.meta.features == ["c0", "c1"]
    import torch

    xb, yb = ds.batch(torch.tensor([0, 5]))
    assert xb.shape == (2, 8, 2) and yb.shape == (2, 1)
    raw = np.load(f)
    expected = (raw[5:13] - np.asarray(ds.meta.x_mean)) / np.asarray(ds.meta.x_std)
    assert ds.x.file is not None and np.allclose(xb[1].numpy(), expected, atol=1e-5)  # read with pread
    assert np.isclose(yb[1, 0].item() * ds.meta.y_std + ds.meta.y_mean, raw[13, 1], atol=1e-4)
    s = train(design(features=2), DataSpec(path=str(f), target="c1"), {"max_steps": 3}, out_dir=tmp_path / "runs")
    assert s["steps"] == 3 and s["message"] is None


# ------------------------------------------------------------------ many series
def test_many_series_windows_never_cross_and_counts_are_exact(tmp_path):
    lengths = {"a": 40, "b": 25, "c": 60}
    rows = [(sid, i, float(i) + 100 * k) for k, (sid, n) in enumerate(lengths.items()) for i in range(n)]
    rows = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]  # series interleaved
    rows.sort(key=lambda r: r[1])  # time order within each series, series interleaved
    f = tmp_path / "m.csv"
    f.write_text("shop,t,sales\n" + "".join(f"{s},{t},{v}\n" for s, t, v in rows))
    L, h = 8, 1
    ds = load_dataset(DataSpec(path=str(f), series="shop"), design(timesteps=L))
    assert sum(ds.plan.windows.values()) == sum(n - L - h + 1 for n in lengths.values())
    assert ds.plan.series == 3 and ds.plan.time_column == "t"
    for split in ("train", "val", "test"):
        starts = ds.index[split].numpy()
        ids = ds.series_ids
        assert all(ids[s] == ids[s + L - 1 + h] for s in starts)  # a window and its target in one series


def test_folder_of_csvs_is_one_series_each(tmp_path):
    for name, n in (("north", 30), ("south", 45)):
        (tmp_path / f"{name}.csv").write_text("v\n" + "".join(f"{i * 0.3}\n" for i in range(n)))
    plan = plan_data(DataSpec(path=str(tmp_path)), design())
    assert plan.ok and plan.series == 2 and plan.series_column == "series"
    assert sum(plan.windows.values()) == (30 - 9 + 1) + (45 - 9 + 1)


def test_predict_rows_carry_the_series_id(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("shop,v\n" + "".join(f"{s},{i * 0.1}\n" for s in ("a", "b") for i in range(30)))
    s = train(design(), DataSpec(path=str(f), series="shop"), {"max_steps": 2}, out_dir=tmp_path / "runs")
    from rnn_studio.engine.training.train import predict_run

    cols, rows = predict_run(s["run"], DataSpec(path=str(f), series="shop"))
    assert cols[0] == "series" and {r[0] for r in rows} == {"a", "b"} and len(rows) == 2 * (30 - 9 + 1)


@pytest.mark.parametrize(
    "text,args,fragment",
    [
        (
            "shop,v\n" + "".join(f"a,{i}\n" for i in range(30)) + "b,1\nb,2\n",
            ["--series", "shop"],
            "series 'b' (shop) has 2 row(s), shorter than one window",
        ),
        ("a,v\n1,2\n", ["--series", "nope"], "no series column 'nope'"),
    ],
)
def test_bad_series_input(tmp_path, capsys, text, args, fragment):
    f = tmp_path / "s.csv"
    f.write_text(text)
    rc, _, err = cli(capsys, "data", f, "--design", SEED, *args)
    assert rc == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


# ------------------------------------------------------------------ missing values
def gappy(tmp_path):
    f = tmp_path / "gap.csv"
    v = [str(float(i)) for i in range(40)]
    v[5] = v[6] = ""
    v[0] = "NaN"
    f.write_text("t,v\n" + "".join(f"{i},{x}\n" for i, x in enumerate(v)))
    return f


def test_missing_default_error_names_column_and_row(tmp_path):
    plan = plan_data(DataSpec(path=str(gappy(tmp_path))), design())
    assert "column 'v', row 1" in plan.errors[0] and "--missing" in plan.errors[0]


@pytest.mark.parametrize("policy,filled,dropped", [("interpolate", 3, 0), ("ffill", 3, 0), ("drop", 0, 3)])
def test_missing_policies_are_counted_in_the_plan(tmp_path, policy, filled, dropped):
    ds = load_dataset(DataSpec(path=str(gappy(tmp_path)), missing=policy), design())
    m = ds.plan.missing
    assert (m["cells"], m["filled"], m["rows_dropped"]) == (3, filled, dropped)
    assert np.isfinite(ds.x.numpy()).all()
    if policy == "interpolate":
        assert np.isclose(ds.y_orig[5], 5.0) and np.isclose(ds.y_orig[0], 1.0)
    if policy == "ffill":
        assert np.isclose(ds.y_orig[5], 4.0) and np.isclose(ds.y_orig[6], 4.0)
    if policy == "drop":
        assert ds.plan.rows == 40 and sum(e - s for s, e in [(0, 37)]) == len(ds.y_orig)


def test_every_row_dropped_is_an_error(tmp_path, capsys):
    f = tmp_path / "e.csv"
    f.write_text("a,v\n" + "".join(f"{i},\n" for i in range(20)))
    rc, _, err = cli(capsys, "data", f, "--design", SEED, "--missing", "drop")
    assert rc == 2 and "every row has a missing value" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ hostile sources (issue 15)
def test_fifo_and_devices_are_refused_before_reading(tmp_path, capsys):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        rc, _, err = cli(capsys, "data", path)
        assert rc == 2 and "not a data file" in err and str(path) in err


def test_size_cap_hint(tmp_path, monkeypatch):
    from rnn_studio.engine.data import tables

    monkeypatch.setattr(tables, "MAX_IN_MEMORY_BYTES", 10)
    f = year_csv(tmp_path / "y.csv")
    with pytest.raises(DataError, match="memory-mapped"):
        read_table(f)


@pytest.mark.parametrize(
    "arrays,fragment",
    [
        ({"X": np.zeros((0, 8, 1)), "y": np.zeros(0)}, "array 'X' is empty"),
        (
            {"X": np.ones((20, 8, 1)) * (1 + 2j), "y": np.zeros(20)},
            "array 'X' holds complex numbers (first at index [0, 0, 0])",
        ),
        ({"X": np.full((20, 8, 1), 1e300), "y": np.zeros(20)}, "X[0, 0, 0] is 1e+300, beyond float32"),
        ({"X": np.ones((20, 8, 1)), "y": np.array(["a"] * 20)}, "array 'y' holds <U1 values, not numbers"),
    ],
)
def test_hostile_npz(tmp_path, capsys, arrays, fragment):
    f = tmp_path / "h.npz"
    np.savez(f, **arrays)
    d = tmp_path / "d.rnn.json"
    d.write_text(json.dumps(design().to_dict()))
    rc, _, err = cli(capsys, "train", d, "--data", f, "--out", tmp_path / "runs")
    assert rc == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def test_out_of_float32_range_csv_value(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("v\n" + "".join(f"{'1e300' if i == 7 else i}\n" for i in range(40)))
    plan = plan_data(DataSpec(path=str(f)), design())
    assert "column 'v', row 8" in plan.errors[0] and "float32" in plan.errors[0]


# ------------------------------------------------------------------ progress
class _Terminal:
    def __init__(self):
        import io

        self.buf = io.StringIO()

    def isatty(self):
        return True

    def write(self, text):
        return self.buf.write(text)

    def flush(self):
        pass


def test_progress_bar_on_a_terminal_shows_rate_and_eta_inside_the_epoch():
    import io

    from rnn_studio.commands.training import Progress

    term, out = _Terminal(), io.StringIO()
    progress = Progress(stream=out, bar_stream=term)
    progress(
        {
            "kind": "start",
            "total_steps": 20,
            "epochs": 2,
            "steps_per_epoch": 10,
            "device": "cpu",
            "device_name": "CPU",
            "precision": "fp32",
            "samples": {"train": 1},
            "data": "d.csv",
            "features": ["v"],
            "target": "v",
            "lookback": 4,
            "horizon": 1,
            "name": "n",
            "parameters": 10,
            "batch_size": 2,
            "loss": "mse",
            "run": "r",
        }
    )
    for step in range(1, 6):
        progress({"kind": "step", "step": step, "epoch": 1, "loss": 0.5})
    progress.bar.refresh()
    text = term.buf.getvalue()
    assert "epoch 1/2" in text and "5/10" in text and "step/s" in text and "<" in text  # rate and ETA
    progress(
        {
            "kind": "epoch",
            "epoch": 1,
            "step": 10,
            "train_loss": 0.5,
            "val_loss": 0.4,
            "lr": 1e-3,
            "samples_per_s": 10.0,
            "elapsed_s": 1.0,
        }
    )
    assert progress.bar is None and "epoch 1/2  train_loss 0.5" in out.getvalue()


def test_progress_without_a_terminal_prints_plain_lines(tmp_path, capsys):
    rc, out, err = cli(
        capsys, "train", SEED, "--data", year_csv(tmp_path / "y.csv"), "--out", tmp_path / "runs", "--epochs", "1"
    )
    assert rc == 0 and "epoch 1/1  train_loss" in out and "\r" not in out + err


def test_predict_names_file_rows_of_each_series(tmp_path):
    f = tmp_path / "m.csv"
    rows = [(s, i) for i in range(30) for s in ("a", "b")]  # series interleaved row by row
    f.write_text("shop,v\n" + "".join(f"{s},{i * 0.1 + (s == 'b')}\n" for s, i in rows))
    s = train(design(), DataSpec(path=str(f), series="shop"), {"max_steps": 2}, out_dir=tmp_path / "runs")
    from rnn_studio.engine.training.train import predict_run

    cols, out = predict_run(s["run"], DataSpec(path=str(f), series="shop"))
    first_b = next(r for r in out if r[0] == "b")
    # series b's first window covers its rows 1..8 (file rows 2, 4, ..., 16); it predicts its 9th row: file row 18
    assert cols[:2] == ["series", "row"] and first_b[1] == 18
    assert np.isclose(first_b[cols.index("target")], 8 * 0.1 + 1) and first_b[cols.index("split")] == "train"
