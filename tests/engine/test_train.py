"""Training: run folder, metrics stream, resume == uninterrupted, cancel, divergence, the chaos demo beats
persistence, CLI verbs. Tiny designs and short runs: the file runs in a few seconds on 2 CPU cores."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rnn_studio.cli import main
from rnn_studio.engine import Project, load_project
from rnn_studio.engine.data import DataSpec
from rnn_studio.engine.training.runs import checkpoint_path, is_run_dir, load_run, read_metrics, request_stop
from rnn_studio.engine.training.train import ConfigError, TrainConfig, default_threads, train

ROOT = Path(__file__).resolve().parents[2]


def tiny(seq=False, units=1, task=None, features=1, timesteps=8, dropout=False) -> Project:
    blocks = [
        {"id": "x", "type": "Input", "params": {"timesteps": timesteps, "features": features}},
        {"id": "g", "type": "GRU", "params": {"units": 8, "return_sequences": True}},
        {"id": "l", "type": "LSTM", "params": {"units": 6, "return_sequences": seq}},
        {"id": "y", "type": "Dense", "params": {"units": units}},
    ]
    links = [["x", "g"], ["g", "l"], ["l", "y"]]
    if dropout:
        blocks.insert(2, {"id": "d", "type": "Dropout", "params": {"rate": 0.3}})
        links = [["x", "g"], ["g", "d"], ["d", "l"], ["l", "y"]]
    training = {"epochs": 2, "batch_size": 32, "lr": 0.01}
    if task:
        training["task"] = task
    return Project.from_dict(
        {"format": "rnn-studio", "version": 1, "name": "tiny", "blocks": blocks, "links": links, "training": training}
    )


SINE = DataSpec(demo="sine", demo_rows=500)


def records(run_dir):
    return read_metrics(run_dir)[0]


# ------------------------------------------------------------------ the run folder and metrics stream
def test_run_folder_layout_and_metrics(tmp_path):
    seen = []
    s = train(tiny(), SINE, {"grad_every": 5}, out_dir=tmp_path, on_metric=seen.append)
    rd = Path(s["run"])
    assert rd.parent == tmp_path and rd.name.endswith("-tiny") and is_run_dir(rd)
    assert (rd / "metrics.jsonl").is_file() and (rd / "summary.json").is_file()
    assert checkpoint_path(rd, "last").is_file() and checkpoint_path(rd, "best").is_file()
    assert not [p for p in rd.rglob("*.tmp")]  # atomic writes leave no temp files
    assert json.loads((rd / "summary.json").read_text()) == json.loads(json.dumps(s))
    assert s["stop_reason"] == "completed" and s["epochs_completed"] == 2 and s["device"] == "cpu"
    for key in ("val_rmse", "test_rmse", "persistence_rmse", "val_persistence_rmse", "best_epoch", "wall_time_s"):
        assert s[key] is not None, key

    recs = records(rd)
    assert recs == seen  # on_metric gets exactly the records written
    kinds = [r["kind"] for r in recs]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2
    start = recs[0]
    assert start["device"] == "cpu" and start["threads"] >= 1 and start["blocks"] == ["g", "l", "y"]
    steps = [r for r in recs if r["kind"] == "step"]
    assert [r["step"] for r in steps] == list(range(1, start["total_steps"] + 1))
    assert all(np.isfinite(r["loss"]) and r["lr"] == 0.01 for r in steps)
    grads = [r for r in recs if r["kind"] == "grad"]
    assert [r["step"] for r in grads] == list(range(5, start["total_steps"] + 1, 5))
    g = grads[0]
    assert set(g["blocks"]) == {"g", "l", "y"}  # per design block, not per tensor
    assert g["total"] == pytest.approx(np.sqrt(sum(v * v for v in g["blocks"].values())), rel=1e-5)
    ep = [r for r in recs if r["kind"] == "epoch"]
    for key in (
        "train_loss",
        "val_loss",
        "val_rmse",
        "val_mae",
        "val_persistence_rmse",
        "lr",
        "samples_per_s",
        "elapsed_s",
        "best",
    ):
        assert key in ep[0], key
    # the checkpoint is loadable by the export side of the contract
    project, model, meta = load_run(rd)
    assert meta.target == "value" and meta.x_mean is not None and meta.lookback == 8
    ckpt = torch.load(checkpoint_path(rd, "last"), weights_only=False)
    for key in ("model", "optimizer", "scheduler", "epoch", "step", "rng", "meta"):
        assert key in ckpt
    assert json.loads((rd / "project.rnn.json").read_text())["training"]["lr"] == 0.01
    pred = json.loads((rd / "predictions.json").read_text())
    assert pred["task"] == "regression" and len(pred["actual"]) == len(pred["predicted"]) == start["samples"]["val"]


def test_grad_norms_match_per_block_norms():
    from rnn_studio.engine.design.compile import build_model
    from rnn_studio.engine.training.train import _GradNorms

    model = build_model(tiny())
    model(torch.randn(4, 8, 1)).pow(2).sum().backward()
    vals = _GradNorms(model).compute().tolist()
    expected = {
        bid: torch.sqrt(sum(p.grad.pow(2).sum() for p in ps)).item() for bid, ps in model.block_parameters().items()
    }
    assert vals[1:] == pytest.approx(list(expected.values()), rel=1e-5)


# ------------------------------------------------------------------ resume gives identical results
def _final_state(rd):
    return torch.load(checkpoint_path(rd, "last"), weights_only=False)


def test_resume_equals_uninterrupted(tmp_path):
    over = {"epochs": 3, "seed": 7, "deterministic": True, "schedule": "cosine"}
    full = train(tiny(dropout=True), SINE, over, run_dir=tmp_path / "full")

    stop = threading.Event()

    def stop_mid_epoch(rec):
        if rec["kind"] == "step" and rec["step"] == 17:  # epoch 2 of 3 (11 steps per epoch)
            stop.set()

    part = train(tiny(dropout=True), SINE, over, run_dir=tmp_path / "part", stop_event=stop, on_metric=stop_mid_epoch)
    assert part["stop_reason"] == "cancelled" and part["steps"] == 17
    resumed = train(None, None, {}, resume=tmp_path / "part")
    assert resumed["stop_reason"] == "completed" and resumed["steps"] == full["steps"]

    a, b = _final_state(tmp_path / "full"), _final_state(tmp_path / "part")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    drop = ("elapsed_s", "samples_per_s", "train_time_s")
    epochs = lambda rd: [
        {k: v for k, v in r.items() if k not in drop}  # noqa: E731
        for r in records(rd)
        if r["kind"] == "epoch"
    ]
    assert epochs(tmp_path / "full") == epochs(tmp_path / "part")
    steps = lambda rd: [(r["step"], r["loss"]) for r in records(rd) if r["kind"] == "step"]  # noqa: E731
    assert steps(tmp_path / "full") == steps(tmp_path / "part")
    for key in ("val_rmse", "test_rmse", "val_loss"):
        assert full[key] == resumed[key]
    starts = [r for r in records(tmp_path / "part") if r["kind"] == "start"]
    assert starts[1]["resumed_from_step"] == 17


# ------------------------------------------------------------------ stopping
def test_stop_file_cancels_at_step_boundary(tmp_path):
    rd = tmp_path / "run"

    def on(rec):
        if rec["kind"] == "step" and rec["step"] == 5:
            request_stop(rd)

    s = train(tiny(), SINE, {"epochs": 5}, run_dir=rd, on_metric=on)
    assert s["stop_reason"] == "cancelled" and s["steps"] == 5
    assert checkpoint_path(rd, "last").is_file() and not (rd / "STOP").exists()
    assert torch.load(checkpoint_path(rd, "last"), weights_only=False)["step"] == 5
    assert json.loads((rd / "summary.json").read_text())["stop_reason"] == "cancelled"
    assert records(rd)[-1]["kind"] == "end"


@pytest.mark.slow
def test_sigterm_on_cli_subprocess_cancels_cleanly(tmp_path):
    design = tmp_path / "d.rnn.json"
    design.write_text(tiny().to_json())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rnn_studio",
            "train",
            str(design),
            "--demo",
            "sine",
            "--epochs",
            "1000",
            "--out",
            str(tmp_path / "runs"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    rd = None
    while time.time() < deadline:
        runs = list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else []
        if runs and any(r["kind"] == "step" for r in records(runs[0])):
            rd = runs[0]
            break
        time.sleep(0.05)
    assert rd is not None, proc.communicate(timeout=5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled" in out and "--resume" in err and "Traceback" not in err
    assert checkpoint_path(rd, "last").is_file()
    assert json.loads((rd / "summary.json").read_text())["stop_reason"] == "cancelled"


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path):
    rd = tmp_path / "run"
    s = train(tiny(), SINE, {"optimizer": "sgd", "lr": 1e12, "epochs": 3}, run_dir=rd)
    assert s["stop_reason"].startswith("diverged at step ")
    n = int(s["stop_reason"].rsplit(" ", 1)[1])
    assert s["message"] and "learning rate" in s["message"]
    steps = [r["step"] for r in records(rd) if r["kind"] == "step"]
    assert steps == list(range(1, n))  # every recorded loss is finite
    if checkpoint_path(rd, "last").is_file():  # if an epoch finished before, its checkpoint is intact
        ck = torch.load(checkpoint_path(rd, "last"), weights_only=False)
        assert all(torch.isfinite(v).all() for v in ck["model"].values())
        assert ck["step"] < n


def test_divergence_cli_exit_code(tmp_path, capsys):
    design = tmp_path / "d.rnn.json"
    design.write_text(tiny().to_json())
    rc = main(["train", str(design), "--demo", "sine", "--optimizer", "sgd", "--lr", "1e12", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 2 and "diverged at step" in out and "lower the learning rate" in err


# ------------------------------------------------------------------ the acceptance check, quick
@pytest.mark.slow
def test_chaos_demo_seed_design_beats_persistence(tmp_path):
    s = train(
        load_project(ROOT / "assets/examples/seed-keras.rnn.json"),
        DataSpec(demo="chaos"),
        {"epochs": 3},
        out_dir=tmp_path,
    )
    assert s["val_rmse"] < 0.7 * s["val_persistence_rmse"]
    assert s["test_rmse"] < 0.7 * s["persistence_rmse"]


# ------------------------------------------------------------------ settings
def test_config_from_project_and_overrides():
    cfg = TrainConfig.from_project(tiny(), {"lr": 0.5, "epochs": None})
    assert cfg.lr == 0.5 and cfg.epochs == 2 and cfg.loss == "mse" and cfg.task == "regression"
    assert TrainConfig.from_project({"loss": "cross_entropy"}).task == "classification"
    assert TrainConfig.from_project({"schedule": "reduce-on-plateau"}).schedule == "plateau"
    with pytest.raises(ConfigError, match="training.optimizer must be adam | adamw | sgd, received 'rmsprop'"):
        TrainConfig.from_project({"optimizer": "rmsprop"})
    with pytest.raises(ConfigError, match="training.lr must be a number > 0"):
        TrainConfig.from_project({}, {"lr": -1})
    with pytest.raises(ConfigError, match="unknown training setting 'bogus'"):
        TrainConfig.from_project({}, {"bogus": 1})
    with pytest.raises(ConfigError, match="loss must be one of cross_entropy"):
        TrainConfig.from_project({"task": "classification", "loss": "mse"})
    assert 1 <= default_threads() <= 8


def test_cpu_only_precision_is_a_clear_error(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("has a GPU")
    design = tmp_path / "d.rnn.json"
    design.write_text(tiny().to_json())
    assert main(["train", str(design), "--demo", "sine", "--precision", "bf16", "--out", str(tmp_path)]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert main(["train", str(design), "--demo", "sine", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_schedules_early_stopping_and_clipping(tmp_path):
    s = train(
        tiny(),
        SINE,
        {"epochs": 30, "lr": 1e-9, "patience": 2, "schedule": "plateau", "clip_norm": 0.5, "optimizer": "adamw"},
        out_dir=tmp_path,
    )
    assert s["stop_reason"].startswith("early stopping") and s["epochs_completed"] < 30


# ------------------------------------------------------------------ other tasks and data
def test_classification_csv_string_labels(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(400):
        label = ["low", "mid", "high"][i // 20 % 3]
        level = {"low": -1.0, "mid": 0.0, "high": 1.0}[label]
        rows.append(f"{level + 0.3 * rng.standard_normal():.4f},{label}")
    f = tmp_path / "c.csv"
    f.write_text("v,label\n" + "\n".join(rows) + "\n")
    s = train(tiny(units=3, task="classification"), DataSpec(path=str(f)), {"epochs": 3}, out_dir=tmp_path)
    assert s["task"] == "classification" and s["loss"] == "cross_entropy"
    assert 0.0 <= s["val_accuracy"] <= 1.0 and "val_majority_accuracy" in s and s["test_accuracy"] is not None
    _, _, meta = load_run(s["run"])
    assert meta.classes == ["high", "low", "mid"]
    pred = json.loads((Path(s["run"]) / "predictions.json").read_text())
    assert pred["labels"] == ["high", "low", "mid"] and len(pred["confusion"]) == 3


def test_sequence_output_and_npz(tmp_path):
    s = train(tiny(seq=True), SINE, {"epochs": 1}, out_dir=tmp_path)
    assert s["val_rmse"] is not None and s["val_persistence_rmse"] is not None
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 8, 2))
    np.savez(tmp_path / "d.npz", X=X, y=X[:, -1, 0] * 2)
    s = train(tiny(features=2), DataSpec(path=str(tmp_path / "d.npz")), {"epochs": 1}, out_dir=tmp_path)
    assert s["val_rmse"] is not None and "persistence_rmse" not in s


# ------------------------------------------------------------------ evaluate / predict / resume via the CLI
def test_cli_train_evaluate_predict(tmp_path, capsys):
    design = tmp_path / "d.rnn.json"
    design.write_text(tiny().to_json())
    assert main(["train", str(design), "--demo", "sine", "--epochs", "1", "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "device: cpu" in out and "epoch 1/1" in out and "run folder:" in out
    rd = next((tmp_path / "runs").iterdir())
    csv_path = tmp_path / "new.csv"
    vals = np.sin(np.arange(60) / 3.0)
    csv_path.write_text("value\n" + "\n".join(f"{v:.6f}" for v in vals) + "\n")
    assert main(["evaluate", str(rd), "--data", str(csv_path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["samples"] == 60 - 8 - 1 + 1 and res["rmse"] > 0 and res["persistence_rmse"] > 0
    pred = tmp_path / "pred.csv"
    assert main(["predict", str(rd), "--data", str(csv_path), "-o", str(pred)]) == 0
    lines = pred.read_text().splitlines()
    # readable rows (docs/data.md): the split each window falls in under the run's split, and the interval
    assert lines[0] == "row,split,prediction,target,lower,upper" and len(lines) == 1 + 52
    assert [ln.split(",")[1] for ln in lines[1:]][:1] == ["train"] and lines[-1].split(",")[1] == "test"
    assert lines[1].split(",")[0] == "9"  # the first window (rows 1..8) predicts row 9
    assert main(["evaluate", str(tmp_path), "--data", str(csv_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    # resume a finished run with more epochs
    assert main(["train", "--resume", str(rd), "--epochs", "2"]) == 0
    assert json.loads((rd / "summary.json").read_text())["epochs_completed"] == 2


def test_read_metrics_ignores_partial_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"kind": "start"}\n{"kind": "st')
    recs, off = read_metrics(tmp_path)
    assert recs == [{"kind": "start"}] and off == len('{"kind": "start"}\n')
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('ep", "step": 1}\n')
    recs, off2 = read_metrics(tmp_path, off)
    assert recs == [{"kind": "step", "step": 1}]


def test_engine_training_imports_no_qt():
    code = (
        "import sys, engine.training.train, engine.data; "
        "sys.exit(any(m.startswith(('PySide6', 'PyQt')) for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


@pytest.mark.slow
def test_spawned_training_process_stops_on_request(tmp_path):
    """The GUI path: a spawned process, watched through metrics.jsonl, stopped with a STOP file."""
    from rnn_studio.engine.training.runs import load_summary
    from rnn_studio.engine.training.train import start_training_process

    proc, rd = start_training_process(tiny(), SINE, {"epochs": 1000}, out_dir=tmp_path)
    try:
        deadline, offset, seen = time.time() + 60, 0, []
        while time.time() < deadline and not any(r["kind"] == "step" for r in seen):
            recs, offset = read_metrics(rd, offset)
            seen += recs
            time.sleep(0.05)
        assert seen and seen[0]["kind"] == "start"
        request_stop(rd)
        proc.join(60)
        assert proc.exitcode == 0
        assert load_summary(rd)["stop_reason"] == "cancelled"
        assert checkpoint_path(rd, "last").is_file() and not (rd / "STOP").exists()
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()


def test_spawned_process_reports_bad_data_as_end_record(tmp_path):
    from rnn_studio.engine.training.train import start_training_process

    proc, rd = start_training_process(tiny(), DataSpec(path=str(tmp_path / "missing.csv")), {}, out_dir=tmp_path)
    proc.join(60)
    assert proc.exitcode == 2
    end = read_metrics(rd)[0][-1]
    assert end["kind"] == "end" and end["stop_reason"] == "error" and "no such file" in end["message"]


def test_out_of_memory_is_a_clear_stop(tmp_path, monkeypatch):
    from rnn_studio.engine.design.compile import DesignModel

    def oom(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(DesignModel, "forward", oom)
    s = train(tiny(), SINE, {}, out_dir=tmp_path)
    assert s["stop_reason"] == "out of memory"
    assert "--batch-size 16" in s["message"] and "Traceback" not in s["message"]
    assert json.loads((Path(s["run"]) / "summary.json").read_text())["stop_reason"] == "out of memory"


def test_lookahead_leak_is_warned_for_bidirectional_per_step_forecasts(tmp_path, capsys):
    """seq2seq with a bidirectional encoder, target among the features: step t could read row t+1."""
    from rnn_studio.cli import main

    csv = tmp_path / "demand.csv"
    csv.write_text("a,b,c,demand\n" + "".join(f"{i % 5},{i % 3},{i % 4},{(i * 7) % 11}\n" for i in range(300)))
    design = Path(__file__).parents[2] / "assets" / "examples" / "seq2seq-demand.rnn.json"
    code = main(
        [
            "train",
            str(design),
            "--data",
            str(csv),
            "--features",
            "a,b,demand",
            "--epochs",
            "1",
            "--lookback",
            "8",
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "warning: look-ahead leak" in out and "'enc' (bidirectional)" in out and "'demand'" in out
    # leaving the target out of the features removes the warning
    main(
        [
            "train",
            str(design),
            "--data",
            str(csv),
            "--features",
            "a,b,c",
            "--epochs",
            "1",
            "--lookback",
            "8",
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    assert "look-ahead" not in capsys.readouterr().out
