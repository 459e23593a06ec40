"""TensorBoard logging (`train --log tensorboard`, `log RUN --to tensorboard`) read back with
TensorBoard's own EventAccumulator, and the message when the tracking packages are missing."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_studio.cli import main
from rnn_studio.engine.install_kind import install_command
from rnn_studio.engine.training.runs import iter_metrics

ROOT = Path(__file__).resolve().parents[2]


def write_tiny_design(folder: Path) -> Path:
    design = {
        "format": "rnn-studio",
        "version": 1,
        "name": "tiny",
        "blocks": [
            {"id": "x", "type": "Input", "params": {"timesteps": 8, "features": 1}},
            {"id": "g", "type": "GRU", "params": {"units": 6, "return_sequences": True}},
            {"id": "l", "type": "LSTM", "params": {"units": 4}},
            {"id": "y", "type": "Dense", "params": {"units": 1}},
        ],
        "links": [["x", "g"], ["g", "l"], ["l", "y"]],
        "training": {"epochs": 2, "batch_size": 32, "lr": 0.01},
    }
    path = folder / "tiny.rnn.json"
    path.write_text(json.dumps(design))
    return path


def write_series_csv(folder: Path, rows: int = 200) -> Path:
    path = folder / "series.csv"
    path.write_text("t,value\n" + "".join(f"{i},{math.sin(i / 5):.6f}\n" for i in range(rows)))
    return path


def train_tiny(tmp_path: Path, *extra: str) -> Path:
    """A 2-epoch run of a tiny design through the CLI; returns the run folder."""
    args = [
        "train",
        str(write_tiny_design(tmp_path)),
        "--data",
        str(write_series_csv(tmp_path)),
        "--target",
        "value",
        "--features",
        "value",
        "--threads",
        "1",
        "--grad-every",
        "2",
        "--out",
        str(tmp_path / "runs"),
        "--quiet",
        *extra,
    ]
    assert main(args) == 0
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir() and (p / "metrics.jsonl").exists()]
    return run


def expected_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """What the event files must hold, written out from metrics.jsonl record by record."""
    out: dict[str, list[tuple[int, float]]] = {}

    def add(tag, step, value):
        if value is not None:
            out.setdefault(tag, []).append((step, value))

    for rec in iter_metrics(run):
        if rec["kind"] == "step":
            add("step/loss", rec["step"], rec["loss"])
            add("step/lr", rec["step"], rec["lr"])
        elif rec["kind"] == "grad":
            add("grad_norm/total", rec["step"], rec["total"])
            for block, norm in rec["blocks"].items():
                add(f"grad_norm/{block}", rec["step"], norm)
        elif rec["kind"] == "epoch":
            for key in (
                "train_loss",
                "val_loss",
                "val_rmse",
                "val_mae",
                "val_persistence_rmse",
                "val_persistence_mae",
                "lr",
                "samples_per_s",
            ):
                add(f"epoch/{key}", rec["step"], rec[key])
        elif rec["kind"] == "end":
            for key in ("test_rmse", "test_mae", "test_loss", "val_loss", "best_epoch"):
                add(f"final/{key}", rec["steps"], rec[key])
    return out


def read_events(run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def assert_scalars_match(run: Path) -> None:
    acc = read_events(run)
    expected = expected_scalars(run)
    tags = set(acc.Tags()["scalars"])
    assert set(expected) <= tags, f"missing tags: {set(expected) - tags}"
    assert {"grad_norm/g", "grad_norm/l", "grad_norm/y", "epoch/val_rmse", "step/lr"} <= tags
    for tag, points in expected.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in points], tag
        assert [v for _, v in got] == pytest.approx([v for _, v in points], rel=1e-6), tag


def design_text(acc) -> str:
    (event,) = acc.Tensors("design/text_summary")
    return event.tensor_proto.string_val[0].decode()


def test_train_log_tensorboard_writes_the_metrics_as_scalars(tmp_path):
    run = train_tiny(tmp_path, "--log", "tensorboard")
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert_scalars_match(run)
    text = design_text(read_events(run))
    assert '"type": "GRU"' in text and '"name": "tiny"' in text


def test_log_command_converts_an_existing_run_to_the_same_events(tmp_path, capsys):
    run = train_tiny(tmp_path)
    assert not (run / "tensorboard").exists()
    assert main(["log", str(run), "--to", "tensorboard"]) == 0
    assert "tensorboard --logdir" in capsys.readouterr().out
    assert_scalars_match(run)
    # converting again rewrites the events instead of doubling them
    assert main(["log", str(run), "--to", "tensorboard"]) == 0
    assert_scalars_match(run)


def test_resumed_run_keeps_only_the_steps_that_stand(tmp_path):
    """A run cut at step 7 and resumed from last.pt (step 5, end of epoch 1) logs steps 6..7 twice in
    metrics.jsonl; TensorBoard must show each step once with the values of the resumed run."""
    run = train_tiny(tmp_path, "--log", "tensorboard", "--max-steps", "7", "--epochs", "3")
    assert main(["train", "--resume", str(run), "--quiet", "--log", "tensorboard"]) == 0
    records = list(iter_metrics(run))
    resumed = [r for r in records if r["kind"] == "start"][1]["resumed_from_step"]
    cut = records.index([r for r in records if r["kind"] == "start"][1])
    standing = {r["step"]: r["loss"] for r in records[:cut] if r["kind"] == "step" and r["step"] <= resumed}
    standing.update({r["step"]: r["loss"] for r in records[cut:] if r["kind"] == "step"})
    for _ in range(2):  # live, then converted from the folder
        got = {e.step: e.value for e in read_events(run).Scalars("step/loss")}
        assert len(read_events(run).Scalars("step/loss")) == len(standing)
        assert got == pytest.approx(standing, rel=1e-6)
        assert main(["log", str(run), "--to", "tensorboard"]) == 0


BLOCK_IMPORT = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == {blocked!r}:
            raise ImportError('blocked for the test: ' + name)
sys.meta_path.insert(0, Block())
from rnn_studio.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("tracker,package", [("tensorboard", "tensorboard"), ("mlflow", "mlflow")])
def test_missing_package_says_what_to_install(tmp_path, tracker, package):
    design, data = write_tiny_design(tmp_path), write_series_csv(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK_IMPORT.format(blocked=package),
            "train",
            str(design),
            "--data",
            str(data),
            "--log",
            tracker,
            "--out",
            str(tmp_path / "runs"),
        ],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"needs the {package} package" in lines[0] and install_command([package], "tracking") in lines[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_log_command_without_package_exit_2(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(ROOT / "assets" / "examples", run)  # any folder: the package check comes first
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_IMPORT.format(blocked="tensorboard"), "log", str(run), "--to", "tensorboard"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: logging to TensorBoard needs the tensorboard package: " + install_command(["tensorboard"], "tracking")
    ]


def test_training_process_reports_a_missing_package_as_end_record(tmp_path, monkeypatch):
    """The GUI's "Log to" choice reaches the spawned process through the overrides; without the package
    the process ends with an error record the Train panel shows (no CLI flag in the message)."""
    from rnn_studio.engine import load_project
    from rnn_studio.engine.training.train import _process_main

    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError, as when absent
    project = load_project(write_tiny_design(tmp_path))
    with pytest.raises(SystemExit) as ended:
        _process_main(
            project.to_json(), {"demo": "sine"}, {"epochs": 1, "log": "mlflow"}, str(tmp_path / "run"), False, None
        )
    assert ended.value.code == 2
    (end,) = list(iter_metrics(tmp_path / "run"))
    assert end["stop_reason"] == "error"
    assert end["message"] == "logging to MLflow needs the mlflow package: " + install_command(["mlflow"], "tracking")


def test_log_command_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["log", str(tmp_path), "--to", "tensorboard"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path}: not a run folder (no project.rnn.json): pass a folder under runs/"
    )
