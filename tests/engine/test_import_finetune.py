"""Run verbs on an imported model: evaluate and predict read its run folder unchanged, and
`train --init-from RUN` starts a new run from the imported weights."""

from pathlib import Path

import pytest
import torch
from torch import nn

from rnn_studio.cli import main
from rnn_studio.engine.training.runs import load_run


class OneFeatureGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(1, 4, batch_first=True)
        self.fc = nn.Linear(4, 1)

    def forward(self, x):
        return self.fc(self.gru(x)[1][-1])


def _imported_run(tmp_path, capsys) -> Path:
    torch.manual_seed(0)
    torch.onnx.export(
        OneFeatureGRU().eval(),
        torch.randn(2, 10, 1),
        str(tmp_path / "m.onnx"),
        dynamo=False,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch", 1: "time"}},
    )
    assert (
        main(
            [
                "import",
                str(tmp_path / "m.onnx"),
                "-o",
                str(tmp_path / "m.rnn.json"),
                "--out",
                str(tmp_path / "imported"),
            ]
        )
        == 0
    )
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.filterwarnings("ignore")
def test_train_init_from_imported_run_starts_from_its_weights(tmp_path, capsys):
    run = _imported_run(tmp_path, capsys)
    code = main(
        [
            "train",
            "--init-from",
            str(run),
            "--demo",
            "sine",
            "--lookback",
            "10",
            "--epochs",
            "1",
            "--max-steps",
            "2",
            "--optimizer",
            "sgd",
            "--lr",
            "1e-12",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--out",
            str(tmp_path / "tuned"),
            "--quiet",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    # the imported run read raw values; the new one normalizes its data as every run does, and says so
    assert f"note: {run.name} is an imported model that was fed raw values (identity normalization); " in out.err
    assert "fits the normalization on its own training split" in out.err
    new_run = Path(next(line for line in out.out.splitlines() if line.startswith("run folder:")).split(": ", 1)[1])
    assert new_run.parent == tmp_path / "tuned"
    _, before, _ = load_run(run)
    _, after, _ = load_run(new_run, "last")
    for key, value in before.state_dict().items():  # lr 1e-12: the weights are still the imported ones
        torch.testing.assert_close(after.state_dict()[key], value, atol=1e-6, rtol=0)
    meta = torch.load(new_run / "checkpoints" / "last.pt", weights_only=False)["meta"]
    assert meta["x_std"] != [1.0] and meta["x_mean"] != [0.0]  # fitted on the sine data, not the identity


@pytest.mark.filterwarnings("ignore")
def test_init_from_a_folder_that_is_not_a_run(tmp_path, capsys):
    code = main(["train", "--init-from", str(tmp_path), "--demo", "sine", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "not a run folder" in err


@pytest.mark.filterwarnings("ignore")
def test_evaluate_and_predict_work_on_an_imported_run(tmp_path, capsys):
    """The imported model reads raw values (identity normalization); --features / --target name the CSV
    columns; predict gives the model's own outputs for every window."""
    import csv
    import itertools
    import json

    import numpy as np

    torch.manual_seed(0)
    module = OneFeatureGRU().eval()
    torch.onnx.export(
        module,
        torch.randn(2, 10, 1),
        str(tmp_path / "m.onnx"),
        dynamo=False,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch", 1: "time"}},
    )
    series = np.sin(np.arange(60) / 4.0)
    with open(tmp_path / "data.csv", "w", newline="") as f:
        csv.writer(f).writerows([["level", "next"]] + [list(pair) for pair in itertools.pairwise(series)])
    assert (
        main(
            [
                "import",
                str(tmp_path / "m.onnx"),
                "-o",
                str(tmp_path / "m.rnn.json"),
                "--out",
                str(tmp_path / "runs"),
                "--features",
                "level",
                "--target",
                "next",
            ]
        )
        == 0
    )
    run = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["predict", run, "--data", str(tmp_path / "data.csv"), "-o", str(tmp_path / "pred.csv")]) == 0
    with open(tmp_path / "pred.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    window = torch.tensor(series[:32], dtype=torch.float32).reshape(1, 32, 1)  # variable length: 32 steps
    with torch.no_grad():
        first = float(module(window))
    assert len(rows) == 59 - 32  # horizon 1: the last window ends one row before the end
    assert abs(float(rows[0]["prediction"]) - first) < 1e-5
    capsys.readouterr()
    assert main(["evaluate", run, "--data", str(tmp_path / "data.csv"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["samples"] == 27 and metrics["loss"] >= 0
