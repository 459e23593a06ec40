"""Memory-mapped training data: nothing the size of the file (or one entry per window) is held in memory;
window starts and targets are computed and read per batch, and give the same batches as before."""

import json
from pathlib import Path

import numpy as np
import torch

from rnn_studio.engine import Project
from rnn_studio.engine.data import DataSpec, MappedTarget, WindowIndex, load_dataset
from rnn_studio.engine.data.plan import WindowStarts
from rnn_studio.engine.training.train import _epoch_permutation, train


def design(timesteps=8, features=1, seq=False):
    blocks = [
        {"id": "x", "type": "Input", "params": {"timesteps": timesteps, "features": features}},
        {"id": "g", "type": "GRU", "params": {"units": 4, "return_sequences": seq}},
        {"id": "y", "type": "Dense", "params": {"units": 1}},
    ]
    return Project.from_dict(
        {
            "format": "rnn-studio",
            "version": 1,
            "name": "tiny",
            "blocks": blocks,
            "links": [["x", "g"], ["g", "y"]],
            "training": {"epochs": 1, "batch_size": 16, "lr": 0.01},
        }
    )


def test_window_starts_of_many_series_match_the_windows_one_by_one():
    runs = WindowStarts([0, 40, 65, 65], [32, 17, 0, 52])  # three series and an empty one
    expected = np.concatenate([np.arange(0, 32), np.arange(40, 57), np.arange(65, 117)])
    assert runs.size == len(expected) and np.array_equal(runs.numpy(), expected) and runs.max() == 116
    index = WindowIndex(runs)
    pos = torch.tensor([0, 31, 32, 48, 49, 100], dtype=torch.int32)
    assert index[pos].tolist() == expected[pos.numpy()].tolist()
    assert index[5:40].tolist() == expected[5:40].tolist() and len(index) == len(expected)
    assert index[pos].dtype == torch.int64


def test_int32_permutation_is_the_same_shuffle_as_before():
    """A resumed run (or one started before this change) sees the same batches: randperm's order does
    not depend on the dtype."""
    g = torch.Generator().manual_seed((3 * 1_000_003 + 2) % (2**63))
    before = torch.randperm(70_001, generator=g)
    now = _epoch_permutation(70_001, 3, 2, "cpu")
    assert now.dtype == torch.int32 and torch.equal(now.long(), before)


def npy(tmp_path, rows=5000, cols=3):
    f = tmp_path / "m.npy"
    data = np.cumsum(np.random.default_rng(0).normal(size=(rows, cols)), axis=0)
    np.save(f, data)
    return f, data


def test_mapped_targets_are_read_per_batch_and_equal_the_file(tmp_path):
    f, raw = npy(tmp_path)
    ds = load_dataset(DataSpec(path=str(f), target="c2", features=["c0"]), design())
    assert isinstance(ds.y, MappedTarget) and ds.y.nelement() == 0  # no copy of the target column
    assert all(isinstance(v, WindowIndex) and v.starts.firsts.size == 1 for v in ds.index.values())
    starts = ds.index["val"][torch.tensor([0, 7, 100])]
    xb, yb = ds.batch(starts)
    rows = starts.numpy() + 8 - 1 + 1
    want = (raw[rows, 2] - ds.meta.y_mean) / ds.meta.y_std
    assert yb.shape == (3, 1) and np.allclose(yb[:, 0].numpy(), want, atol=1e-5)
    assert np.allclose(ds.targets_orig(starts.numpy())[:, 0], raw[rows, 2])
    assert np.allclose(ds.persistence_orig(starts.numpy())[:, 0], raw[rows - 1, 2])
    assert int(ds.index["val"][0]) == 3500 - 8  # the first window whose target is the first validation row


def test_mapped_per_step_targets(tmp_path):
    f, raw = npy(tmp_path)
    ds = load_dataset(DataSpec(path=str(f), target="c1", features=["c1"]), design(seq=True))
    xb, yb = ds.batch(torch.tensor([10, 200]))
    want = (raw[[range(11, 19), range(201, 209)], 1] - ds.meta.y_mean) / ds.meta.y_std
    assert yb.shape == (2, 8, 1) and np.allclose(yb[..., 0].numpy(), want, atol=1e-5)


def test_mapped_training_matches_the_same_data_in_memory(tmp_path):
    """The same file trained memory-mapped (.npy) and read into memory (CSV): same losses."""
    f, raw = npy(tmp_path, rows=600, cols=2)
    csv = tmp_path / "m.csv"
    csv.write_text("c0,c1\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in raw))
    spec = {"target": "c1", "features": ["c0"], "time": "none"}
    a = train(design(), DataSpec(path=str(f), **spec), {"max_steps": 5, "seed": 1}, out_dir=tmp_path / "a")
    b = train(design(), DataSpec(path=str(csv), **spec), {"max_steps": 5, "seed": 1}, out_dir=tmp_path / "b")
    assert a["steps"] == b["steps"] == 5
    assert np.allclose(step_losses(a["run"]), step_losses(b["run"]), rtol=1e-4)


def step_losses(run):
    records = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["kind"] == "step"]
    assert len(losses) == 5
    return losses
