"""CSV of token ids (issue #13 part 7): one row per sequence, id columns padded with 0, a label column. The
text-classify example trains on it as on the .npz of the same ids; bad cells are refused by row and column."""

import csv
import json

import numpy as np
import pytest
import torch

from rnn_studio import asset_path
from rnn_studio.cli import main
from rnn_studio.engine import load_project
from rnn_studio.engine.data import DataError, DataSpec, load_dataset, plan_data
from tests.engine.test_tokens_end_to_end import _token_npz

EXAMPLE = asset_path("examples", "text-classify.rnn.json")


def _token_csv(path, X, y, labels=("no", "yes"), blank_padding=False):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"t{i}" for i in range(X.shape[1])] + ["label"])
        for ids, label in zip(X, y, strict=True):
            cells = ["" if blank_padding and v == 0 else str(v) for v in ids]
            w.writerow(cells + [labels[label]])


def test_a_token_csv_reads_as_the_npz_of_the_same_ids(tmp_path):
    X, y = _token_npz(tmp_path / "ids.npz", n=60)
    _token_csv(tmp_path / "ids.csv", X, y, labels=(0, 1), blank_padding=True)  # empty cells are padding
    project = load_project(EXAMPLE)
    from_csv = load_dataset(DataSpec(path=str(tmp_path / "ids.csv")), project)
    from_npz = load_dataset(DataSpec(path=str(tmp_path / "ids.npz")), project)
    assert torch.equal(from_csv.x, from_npz.x) and torch.equal(from_csv.y, from_npz.y)
    assert from_csv.meta.x_mean == [0.0] and from_csv.meta.x_std == [1.0]  # ids are never normalized
    assert from_csv.source == str(tmp_path / "ids.csv") and from_csv.plan.source == str(tmp_path / "ids.csv")


@pytest.mark.filterwarnings("ignore")
def test_text_classify_trains_and_evaluates_on_a_token_csv(tmp_path, capsys):
    X, y = _token_npz(tmp_path / "ids.npz")
    _token_csv(tmp_path / "ids.csv", X, y)  # text labels: the classes are "no" and "yes"
    args = ["--epochs", "8", "--seed", "0", "--device", "cpu", "--threads", "1", "--quiet"]
    code = main(["train", str(EXAMPLE), "--data", str(tmp_path / "ids.csv"), "--out", str(tmp_path / "runs"), *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    run = next(line for line in out.out.splitlines() if line.startswith("run folder:")).split(": ", 1)[1]
    assert main(["evaluate", run, "--data", str(tmp_path / "ids.csv")]) == 0
    text = capsys.readouterr().out
    accuracy = float(text.split("accuracy", 1)[1].split()[0].strip(":="))
    assert accuracy >= 0.85, text  # chance is about 0.5: the masked LSTM learned "token 7 occurs"
    # predict: the same layout with the label column left empty
    _token_csv(tmp_path / "new.csv", X[:20], y[:20], labels=("", ""))
    assert main(["predict", run, "--data", str(tmp_path / "new.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    with open(tmp_path / "p.csv") as f:
        predicted = list(csv.DictReader(f))
    assert len(predicted) == 20, predicted[:2]
    guessed = [row[next(k for k in row if "pred" in k or "class" in k)] for row in predicted]
    assert np.mean([g == ("yes" if label else "no") for g, label in zip(guessed, y[:20], strict=True)]) >= 0.75


@pytest.mark.parametrize(
    "rows, message",
    [
        ([["1", "x", "no"]], r"ids\.csv: column 't1', row 1 \(line 2\): 'x' is not a token id \(a whole number >= 0; "),
        ([["1", "2", "no"], ["3", "-1", "yes"]], r"ids\.csv: column 't1', row 2 \(line 3\): '-1' is not a token id"),
        ([["1", "25", "no"]], r"ids\.csv: column 't1', row 1 \(line 2\): token id 25 is outside the Embedding's vocab"),
        ([["1", "2"]], r"ids\.csv: row 1 \(line 2\) has 2 fields but the header has 3 columns: "),
        ([["1", "2", "no"], ["1", "2", ""]], r"ids\.csv: column 'label', row 2 \(line 3\): no label: fill it in or "),
        ([["1", "2.5", "no"], ["3", "99", "yes"]], r"ids\.csv: column 't1', row 1 \(line 2\): '2\.5' is not a token"),
    ],
)
def test_bad_token_cells_are_refused_by_row_and_column(tmp_path, rows, message):
    with open(tmp_path / "ids.csv", "w", newline="") as f:
        csv.writer(f).writerows([["t0", "t1", "label"], *rows])
    with pytest.raises(DataError, match=message) as e:
        load_dataset(DataSpec(path=str(tmp_path / "ids.csv")), load_project(EXAMPLE))
    assert "\n" not in str(e.value)
    # the plan (`rnn-studio data`, the Train panel) refuses the same file with the same line
    plan = plan_data(DataSpec(path=str(tmp_path / "ids.csv")), load_project(EXAMPLE))
    assert plan.errors == [str(e.value)]


def test_target_and_features_pick_the_columns(tmp_path):
    with open(tmp_path / "ids.csv", "w", newline="") as f:
        rows = [["label", "b", "a", "note"]] + [[str(i % 2), str(i % 5 + 1), "3", "n"] for i in range(40)]
        csv.writer(f).writerows(rows)
    spec = DataSpec(path=str(tmp_path / "ids.csv"), target="label", features=["a", "b"])
    ds = load_dataset(spec, load_project(EXAMPLE))
    assert ds.x.shape == (40, 2, 1) and np.all(ds.x[:, 0, 0].numpy() == 3)  # column a first, as asked
    with pytest.raises(DataError, match=r"no token column 'c' \(columns: label, b, a, note\): fix --features"):
        load_dataset(
            DataSpec(path=str(tmp_path / "ids.csv"), target="label", features=["a", "c"]), load_project(EXAMPLE)
        )


def test_the_data_verb_prints_the_token_plan_the_run_trains_on(tmp_path, capsys):
    X, y = _token_npz(tmp_path / "ids.npz", n=100)
    _token_csv(tmp_path / "ids.csv", X, y)
    assert main(["data", str(tmp_path / "ids.csv"), "--design", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "target: label (classification; classes: no, yes)" in out
    assert f"token ids: {', '.join(f't{i}' for i in range(X.shape[1]))} ({X.shape[1]} steps" in out
    assert "ids are never normalized" in out and "training: 70 sequences" in out and "test: 15 sequences" in out
    assert main(["data", str(tmp_path / "ids.csv"), "--design", str(EXAMPLE), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["plan"]
    args = ["--epochs", "1", "--seed", "0", "--device", "cpu", "--threads", "1", "--quiet"]
    assert (
        main(["train", str(EXAMPLE), "--data", str(tmp_path / "ids.csv"), "--out", str(tmp_path / "runs"), *args]) == 0
    )
    run = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("run folder:")).split(": ", 1)[
        1
    ]
    with open(f"{run}/plan.json") as f:
        trained = json.load(f)
    assert trained == shown  # the plan shown before training is the one the run recorded


def test_the_data_verb_refuses_a_bad_token_file_with_one_line(tmp_path, capsys):
    with open(tmp_path / "ids.csv", "w", newline="") as f:
        csv.writer(f).writerows([["t0", "t1", "label"], ["1", "2", "no"], ["3", "49", "yes"]])
    assert main(["data", str(tmp_path / "ids.csv"), "--design", str(EXAMPLE)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "column 't1', row 2 (line 3): token id 49 is outside the Embedding's vocabulary 0..19: "
        "raise the Embedding's input_dim to at least 50"
    ), err
    assert "\n" not in err


def test_the_plan_shows_what_training_would_refuse(tmp_path):
    """The plan and the dataset come from one data line: labels the design cannot hold (3 classes, 2 output
    units) are in the plan's errors (the Train panel's plan box, `rnn-studio data`) in the words training
    refuses them with, not only when training starts."""
    X, _ = _token_npz(tmp_path / "ids.npz", n=60)
    _token_csv(tmp_path / "ids.csv", X, np.arange(60) % 3, labels=("a", "b", "c"))
    project = load_project(EXAMPLE)
    spec = DataSpec(path=str(tmp_path / "ids.csv"))
    with pytest.raises(DataError) as refused:
        load_dataset(spec, project)
    plan = plan_data(spec, project, ui="gui")
    assert plan.errors == [str(refused.value)]
    assert "3 classes" in plan.errors[0] and "set the output Dense units to 3" in plan.errors[0]
