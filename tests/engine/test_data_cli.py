"""The `data` verb and the data flags of train / evaluate / predict, as a user runs them: exit codes,
one-line messages, and what the command line imports."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rnn_studio import cli


def test_every_verb_is_registered_by_the_module_the_dispatch_imports():
    """`rnn-studio VERB` imports only VERB's module: the table must match what each module registers."""
    for module, verbs in cli.COMMAND_MODULES.items():
        parser = cli.build_parser([module])
        assert set(parser._subparsers._group_actions[0].choices) == set(verbs), module
    full = cli.build_parser()
    assert set(full._subparsers._group_actions[0].choices) == set(cli.VERB_MODULE)


def test_the_data_verb_imports_no_training_export_or_gui_code(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("t,v\n" + "".join(f"{i},{np.sin(i):.4f}\n" for i in range(50)))
    code = (
        "import sys; from rnn_studio.cli import main; rc = main(['data', sys.argv[1]]); "
        "heavy = sorted(m for m in ('torch', 'tqdm', 'h5py', 'onnx', 'pandas', 'PySide6', "
        "'rnn_studio.commands.training', 'rnn_studio.commands.export') if m in sys.modules); "
        "print('heavy:', heavy); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "heavy: []" in out.stdout
    assert "50 rows x 2 columns" in out.stdout


def test_column_summary_reads_chunked_columns_without_joining_them(tmp_path):
    """pyarrow hands a big CSV over in blocks; the summary spans block boundaries correctly and leaves
    the columns unjoined (no second copy of the data)."""
    from rnn_studio.commands.data import column_summary
    from rnn_studio.engine.data import tables

    n = 60_000
    rng = np.random.default_rng(1)
    v = rng.normal(size=n)
    v[[5, 40_000]] = np.nan
    f = tmp_path / "big.csv"
    lines = [f"{i},{'' if np.isnan(x) else f'{x:.6f}'},{i * 2}" for i, x in enumerate(v)]
    f.write_text("step,v,w\n" + "\n".join(lines) + "\n")
    old = tables.CSV_BLOCK_BYTES
    tables.CSV_BLOCK_BYTES = 1 << 16  # many blocks
    try:
        table = tables.read_table(f)
    finally:
        tables.CSV_BLOCK_BYTES = old
    assert len(table.cols.chunks("v")) > 3
    s = {e["name"]: e for e in column_summary(table)}
    ok = v[~np.isnan(v)]
    assert s["v"]["missing"] == 2 and s["v"]["monotonic"] is False
    assert float(s["v"]["min"]) == round(float(ok.min()), 6) and float(s["v"]["max"]) == round(float(ok.max()), 6)
    assert s["step"] == {**s["step"], "min": "0", "max": str(n - 1), "monotonic": True, "missing": 0}
    assert s["w"]["monotonic"] is True and s["w"]["max"] == str(2 * (n - 1))
    assert len(table.cols.chunks("v")) > 3  # still not joined
    assert table.cell_text("v", 5) == "" and table.cell_text("step", 59_999) == str(n - 1)
    joined = table.columns["v"]
    assert joined.shape == (n,) and np.isnan(joined[40_000])


# ------------------------------------------------------------------ --time COL / --no-time
SEED = "assets/examples/seed-keras.rnn.json"  # Input: 10 steps, 1 feature


def run_cli(capsys, *argv):
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse refusing a flag exits (2) from inside main
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def yearly(path, n=120):
    rng = np.random.default_rng(0)
    value = 50 + np.cumsum(rng.normal(0, 5, n))
    path.write_text("YEAR,value,level\n" + "".join(f"{1900 + i},{v:.3f},{i % 7}\n" for i, v in enumerate(value)))
    return path


def test_time_flag_chooses_or_removes_the_time_column(tmp_path, capsys):
    f = yearly(tmp_path / "y.csv")
    rc, out, _ = run_cli(capsys, "data", f, "--design", SEED, "--json")
    assert rc == 0 and json.loads(out)["plan"]["time_column"] == "YEAR"
    rc, out, _ = run_cli(capsys, "data", f, "--design", SEED, "--json", "--no-time")
    plan = json.loads(out)["plan"]
    assert rc == 0 and plan["time_column"] is None and "YEAR" in plan["ignored"]
    rc, out, _ = run_cli(capsys, "data", f, "--design", SEED, "--json", "--time", "none")
    assert rc == 0 and json.loads(out)["plan"]["time_column"] is None
    rc, out, _ = run_cli(capsys, "data", f, "--design", SEED, "--json", "--time", "level", "--target", "value")
    plan = json.loads(out)["plan"]
    # 'level' is not increasing: choosing it as the time column is an error at the first row out of order
    assert rc == 2 and plan["time_column"] == "level"
    rc, out, err = run_cli(capsys, "data", f, "--design", SEED, "--time", "level", "--target", "value")
    assert rc == 2 and "column 'level', row 8" in err and "is not after the row above it" in err


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--time", "YAER"], "y.csv: no time column 'YAER' in the header: did you mean 'YEAR'?"),
        (["--time", "level"], "column 'level' is the target, so it cannot also be the time column"),
        (["--time", ""], "--time needs a column name"),
        (["--time", "YEAR", "--no-time"], "not allowed with argument"),
    ],
)
@pytest.mark.parametrize("verb", ["data", "train"])
def test_bad_time_flag_is_one_line_and_exit_2(tmp_path, capsys, args, fragment, verb):
    f = yearly(tmp_path / "y.csv")
    argv = ["data", f, "--design", SEED] if verb == "data" else ["train", SEED, "--data", f, "--out", tmp_path / "r"]
    rc, _, err = run_cli(capsys, *argv, *args)
    assert rc == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_time_column_name_is_checked_without_a_design_too(tmp_path, capsys):
    f = yearly(tmp_path / "y.csv")
    rc, out, err = run_cli(capsys, "data", f, "--time", "yaer")
    assert rc == 2 and "no time column 'yaer'" in err and out == ""


def test_engine_data_spec_time_values():
    """The GUI fills DataSpec from data_spec()["time"]: None (detect), "none" or a column name."""
    from rnn_studio.engine.data import DataSpec

    for value in (None, "none", "YEAR"):
        assert DataSpec.from_dict(DataSpec(path="x.csv", time=value).to_dict()).time == value


# ------------------------------------------------------------------ a run remembers its series and time columns
def test_predict_and_evaluate_reuse_the_runs_series_and_time_columns(tmp_path, capsys):
    f = tmp_path / "shops.csv"
    rows = [f"{s},{i},{np.sin(i / 3) + k:.4f}" for k, s in enumerate("ab") for i in range(40)]
    f.write_text("shop,day,sales\n" + "\n".join(rows) + "\n")
    rc, out, err = run_cli(
        capsys, "train", SEED, "--data", f, "--series", "shop", "--max-steps", "2", "--out", tmp_path
    )
    assert rc == 0, err
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    start = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert start["plan"]["series_column"] == "shop" and start["plan"]["time_column"] == "day"
    out_csv = tmp_path / "p.csv"
    rc, _, err = run_cli(capsys, "predict", run, "--data", f, "-o", out_csv)  # no --series
    assert rc == 0, err
    lines = out_csv.read_text().splitlines()
    assert lines[0].startswith("series,day,row,split,prediction") and len(lines) - 1 == 2 * (40 - 11 + 1)
    assert {line.split(",")[0] for line in lines[1:]} == {"a", "b"}
    rc, out, err = run_cli(capsys, "evaluate", run, "--data", f, "--json")
    assert rc == 0 and json.loads(out)["samples"] == 2 * (40 - 11 + 1), err
    # the run's time column orders the rows of the file predicted on too: rows out of order are named
    shuffled = tmp_path / "bad.csv"
    shuffled.write_text("shop,day,sales\n" + "\n".join(rows[:5] + [rows[6], rows[5]] + rows[7:]) + "\n")
    rc, _, err = run_cli(capsys, "predict", run, "--data", shuffled, "-o", out_csv)
    assert rc == 2 and "column 'day', row 7" in err, err
    rc, _, err = run_cli(capsys, "predict", run, "--data", shuffled, "-o", out_csv, "--no-time")
    assert rc == 0, err
