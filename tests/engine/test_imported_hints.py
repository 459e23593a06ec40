"""Imported models as a new user meets them (issue 23, item 8): `summary` says what Keras would count
(PyTorch's LSTM / SimpleRNN keep a second bias vector), and `predict` on a run imported without
feature names names the fix (--features)."""

import os
from pathlib import Path

import numpy as np
import pytest

from rnn_studio.cli import main
from tests.engine.test_import_finetune import _imported_run

ROOT = Path(__file__).resolve().parents[2]


def test_predict_on_an_unnamed_import_names_the_fix(tmp_path, capsys):
    run = _imported_run(tmp_path, capsys)
    data = tmp_path / "level.csv"
    data.write_text("level\n" + "".join(f"{v:.4f}\n" for v in np.sin(np.arange(40) / 4.0)))
    rc = main(["predict", str(run), "--data", str(data), "-o", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "no feature column 'f0'" in err[0] and "--features A,B on predict / evaluate (or on import)" in err[0]
    assert main(["predict", str(run), "--data", str(data), "-o", str(tmp_path / "p.csv"), "--features", "level"]) == 0
    header = (tmp_path / "p.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "row" and "prediction" in header  # main's predict CSV has a split column too
    rc = main(["predict", str(run), "--data", str(data), "-o", str(tmp_path / "p.csv"), "--features", "level,x"])
    assert rc == 2 and "--features names 2 column(s) but the run takes 1" in capsys.readouterr().err


def test_summary_says_what_keras_counts(tmp_path, capsys):
    os.environ["KERAS_BACKEND"] = "torch"
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":  # pragma: no cover
        pytest.skip("built on the torch backend")
    from keras import layers

    model = keras.Sequential(
        [keras.Input((10, 4)), layers.LSTM(32, return_sequences=True), layers.GRU(8), layers.Dense(1)]
    )
    model.save(tmp_path / "m.keras")
    design = tmp_path / "m.rnn.json"
    assert main(["import", str(tmp_path / "m.keras"), "-o", str(design), "--out", str(tmp_path / "runs")]) == 0
    capsys.readouterr()
    assert main(["summary", str(design)]) == 0
    out = capsys.readouterr().out
    ours = int(next(line for line in out.splitlines() if line.startswith("Total params:")).split()[-1].replace(",", ""))
    assert ours - model.count_params() == 4 * 32  # the LSTM's second bias vector; the GRU matches Keras
    assert f"Keras counts {model.count_params():,}: PyTorch's LSTM / SimpleRNN layers keep two bias vectors" in out
