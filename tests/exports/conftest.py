"""Fixtures for export tests: a run folder written per the contract in engine/training/runs.py."""

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.rnn.json"))  # masked ones included: every example must export
SEEDS = [EXAMPLES / "seed-keras.rnn.json", EXAMPLES / "seed-pytorch.rnn.json"]


def make_run(folder: Path, design: Path, meta: dict, which=("best",), seed: int = 1) -> Path:
    """A run folder as the trainer writes it: project.rnn.json + checkpoints/<which>.pt."""
    import torch

    from rnn_studio import engine
    from rnn_studio.engine.training.runs import CHECKPOINT_FORMAT, RunMeta

    project = engine.load_project(design)
    folder.mkdir(parents=True)
    project.save(folder / "project.rnn.json")
    (folder / "checkpoints").mkdir()
    torch.manual_seed(seed)
    model = engine.build_model(project)
    for w in which:
        torch.save(
            {
                "format": CHECKPOINT_FORMAT,
                "version": 1,
                "model": model.state_dict(),
                "epoch": 3,
                "step": 30,
                "meta": RunMeta(**meta).to_dict(),
            },
            folder / "checkpoints" / f"{w}.pt",
        )
    return folder


REGRESSION_META = dict(
    project_name="demand",
    task="regression",
    features=["load", "temp", "hour"],
    target="load_next",
    x_mean=[100.0, 15.0, 11.5],
    x_std=[20.0, 5.0, 6.9],
    y_mean=100.0,
    y_std=20.0,
    lookback=None,
    horizon=1,
)
CLASSIFY_META = dict(
    project_name="activity",
    task="classification",
    features=["ax", "ay", "az", "gx", "gy", "gz"],
    target="label",
    classes=["walk", "run", "sit", "stand"],
    x_mean=[0.1, -0.2, 9.8, 0.0, 0.0, 0.0],
    x_std=[1.0, 1.5, 2.0, 0.3, 0.3, 0.3],
    lookback=64,
)


@pytest.fixture
def regression_run(tmp_path) -> Path:
    return make_run(
        tmp_path / "runs" / "20260101-120000-demand",
        EXAMPLES / "seq2seq-demand.rnn.json",
        REGRESSION_META,
        which=("best", "last"),
    )


@pytest.fixture
def classify_run(tmp_path) -> Path:
    return make_run(
        tmp_path / "runs" / "20260101-130000-activity",
        EXAMPLES / "classify-activity.rnn.json",
        CLASSIFY_META,
        which=("last",),
    )


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}
