"""Token sequences end to end: integer ids from .npz (N, T) padded with 0 -> the text-classify example
(int64 Input -> Embedding mask_zero -> bidirectional LSTM -> Dense) trained on a generated task whose class
is whether token 7 appears: clearly better than chance within seconds. Bad token data is refused by name."""

import time

import numpy as np
import pytest
import torch

from rnn_studio import asset_path
from rnn_studio.engine import check, load_project
from rnn_studio.engine.data import DataError, DataSpec, load_dataset
from rnn_studio.engine.training.train import train

EXAMPLE = asset_path("examples", "text-classify.rnn.json")


def _token_npz(path, n=480, steps=12, vocab=20, seed=0):
    """Sequences of 3..12 ids from 1..vocab-1 padded with 0 after the end; y = 1 when id 7 occurs."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, steps), np.int64)
    y = np.zeros(n, np.int64)
    for i in range(n):
        length = int(rng.integers(3, steps + 1))
        ids = rng.choice([t for t in range(1, vocab) if t != 7], length)
        if rng.random() < 0.5:
            ids[rng.integers(length)] = 7
        X[i, :length] = ids
        y[i] = int(7 in ids)
    np.savez(path, X=X, y=y)
    return X, y


def test_example_design_checks():
    project = load_project(EXAMPLE)
    res = check(project)
    assert res.ok, [str(p) for p in res.errors]
    assert res.input_shape() == (None, None, 1) and res.output_shape() == (None, 2)


def test_text_classify_learns_token_7_within_seconds(tmp_path):
    torch.set_num_threads(1)
    _token_npz(tmp_path / "tokens.npz")
    t0 = time.perf_counter()
    summary = train(
        load_project(EXAMPLE),
        DataSpec(path=str(tmp_path / "tokens.npz")),
        {"epochs": 8, "seed": 0},
        out_dir=tmp_path / "runs",
        install_signal_handlers=False,
    )
    seconds = time.perf_counter() - t0
    assert summary["stop_reason"] == "completed", summary["message"]
    # chance (the majority class) is about 0.5; a bag-of-tokens question is easy once masking works
    assert summary["test_accuracy"] >= 0.85 > summary["test_majority_accuracy"] + 0.2, summary
    assert seconds < 120, seconds


def test_token_data_is_never_normalized_and_bad_ids_are_refused_by_name(tmp_path):
    X, _ = _token_npz(tmp_path / "tokens.npz", n=60)
    project = load_project(EXAMPLE)
    data = load_dataset(DataSpec(path=str(tmp_path / "tokens.npz")), project)
    assert data.meta.x_mean == [0.0] and data.meta.x_std == [1.0]
    assert tuple(data.x.shape) == (60, 12, 1) and torch.equal(data.x[..., 0].long(), torch.from_numpy(X))
    X[3, 4] = 25
    np.savez(tmp_path / "bad.npz", X=X, y=np.zeros(60, np.int64))
    with pytest.raises(DataError) as e:
        load_dataset(DataSpec(path=str(tmp_path / "bad.npz")), project)
    assert str(e.value).endswith(
        "X[3, 4] is token id 25, outside the Embedding's vocabulary 0..19: raise the "
        "Embedding's input_dim to at least 26"
    )
    np.savez(tmp_path / "floats.npz", X=X.astype(np.float32), y=np.zeros(60, np.int64))
    with pytest.raises(DataError, match=r"X holds float32 values but the design's Input takes integer token ids"):
        load_dataset(DataSpec(path=str(tmp_path / "floats.npz")), project)


def test_the_masked_example_exports_to_onnx_verified_on_padded_batches(tmp_path, capsys):
    from rnn_studio.cli import main

    code = main(["export", str(EXAMPLE), "-o", str(tmp_path / "m.onnx")])
    out = capsys.readouterr().out
    assert code == 0 and (tmp_path / "m.onnx").exists(), out
    assert "FAIL" not in out and "onnxruntime vs PyTorch" in out


def test_token_designs_refuse_demo_and_other_data_by_name(tmp_path):
    (tmp_path / "ids.tsv").write_text("a\ty\n1\t0\n2\t1\n")  # CSV of ids: tests/engine/test_token_csv.py
    for spec in (DataSpec(path=str(tmp_path / "ids.tsv")), DataSpec(demo="sine")):
        with pytest.raises(DataError, match=r"^the design's Input takes integer token ids \(dtype=int64\): give "):
            load_dataset(spec, load_project(EXAMPLE))
