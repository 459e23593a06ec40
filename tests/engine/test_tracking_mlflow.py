"""MLflow logging (`train --log mlflow`, `log RUN --to mlflow`, export adds the ONNX file) against a
local store and a real `mlflow server` on localhost, read back with MLflow's client."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rnn_studio.cli import main
from rnn_studio.engine.training.runs import iter_metrics
from tests.engine.test_tracking import train_tiny

pytestmark = pytest.mark.slow  # an MLflow import, a database, a server start: tens of seconds


def client_for(run: Path):
    from mlflow.tracking import MlflowClient

    info = json.loads((run / "tracking.json").read_text())["mlflow"]
    return MlflowClient(tracking_uri=info["tracking_uri"]), info["run_id"]


def artifact_paths(client, run_id, folder=None) -> set[str]:
    out = set()
    for item in client.list_artifacts(run_id, folder):
        out |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return out


def assert_run_matches_folder(run: Path) -> None:
    client, run_id = client_for(run)
    logged = client.get_run(run_id)
    params = logged.data.params
    assert params["train.lr"] == "0.01" and params["train.batch_size"] == "32"
    assert params["block.g.type"] == "GRU" and params["block.g.units"] == "6"
    assert params["block.l.units"] == "4" and params["block.g.bidirectional"] == "False"  # a default, filled in
    assert params["data.lookback"] == "8" and params["data.target"] == "value"
    records = list(iter_metrics(run))
    steps = [(r["step"], r["loss"]) for r in records if r["kind"] == "step"]
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "step/loss"))
    assert [s for s, _ in history] == [s for s, _ in steps]
    assert [v for _, v in history] == pytest.approx([v for _, v in steps], rel=1e-9)
    epochs = [(r["step"], r["val_loss"]) for r in records if r["kind"] == "epoch"]
    logged_epochs = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "epoch/val_loss"))
    assert [s for s, _ in logged_epochs] == [s for s, _ in epochs]
    assert [v for _, v in logged_epochs] == pytest.approx([v for _, v in epochs], rel=1e-9)
    grads = [(r["step"], r["blocks"]["g"]) for r in records if r["kind"] == "grad"]
    assert len(client.get_metric_history(run_id, "grad_norm/g")) == len(grads) > 0
    end = records[-1]
    assert logged.data.metrics["final/test_rmse"] == pytest.approx(end["test_rmse"])
    assert logged.info.status == "FINISHED" and logged.data.tags["rnn_studio.stop_reason"] == "completed"
    assert {"project.rnn.json", "checkpoints/best.pt", "summary.json"} <= artifact_paths(client, run_id)


def export_adds_onnx(run: Path, tmp_path: Path, capsys) -> None:
    client, run_id = client_for(run)
    assert main(["export", str(run), "-o", str(tmp_path / "model.onnx")]) == 0
    assert f"to MLflow run {run_id}" in capsys.readouterr().out
    assert {"export/model.onnx", "export/model.onnx.verify.json"} <= artifact_paths(client, run_id)
    local = client.download_artifacts(run_id, "export/model.onnx", str(tmp_path / "back"))
    assert Path(local).read_bytes() == (tmp_path / "model.onnx").read_bytes()


def test_local_store_under_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    run = train_tiny(tmp_path, "--log", "mlflow")
    info = json.loads((run / "tracking.json").read_text())["mlflow"]
    assert info["tracking_uri"] == f"sqlite:///{(tmp_path / 'runs' / 'mlflow.db').resolve().as_posix()}"
    assert (tmp_path / "runs" / "mlartifacts").is_dir()
    assert_run_matches_folder(run)
    export_adds_onnx(run, tmp_path, capsys)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, limit_s: float = 180) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"mlflow server did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real tracking server on localhost with its own database and proxied artifact store."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    with open(root / "server.log", "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination",
                str(root / "artifacts"),
            ],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, root / "server.log")
        yield url
    finally:  # the server's own session: stop it and the workers it started
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_tracking_server_live_and_converted(tmp_path, monkeypatch, capsys, mlflow_server):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "tiny-tests")
    run = train_tiny(tmp_path, "--log", "mlflow")
    client, live_id = client_for(run)
    assert client.get_experiment(client.get_run(live_id).info.experiment_id).name == "tiny-tests"
    assert_run_matches_folder(run)
    export_adds_onnx(run, tmp_path, capsys)
    # the same folder sent again by `log`: a new MLflow run with the same content
    assert main(["log", str(run), "--to", "mlflow"]) == 0
    client, replay_id = client_for(run)
    assert replay_id != live_id and replay_id in capsys.readouterr().out
    assert_run_matches_folder(run)


def test_unreachable_server_is_a_one_line_error_before_training(tmp_path, monkeypatch, capsys):
    from tests.engine.test_tracking import write_series_csv, write_tiny_design

    url = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    args = [
        "train",
        str(write_tiny_design(tmp_path)),
        "--data",
        str(write_series_csv(tmp_path)),
        "--log",
        "mlflow",
        "--out",
        str(tmp_path / "runs"),
    ]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: the MLflow tracking server {url} (MLFLOW_TRACKING_URI) does not answer")
    assert line.endswith("start it, or unset MLFLOW_TRACKING_URI to log to runs/mlflow.db")
    assert not (tmp_path / "runs").exists()


def test_a_failing_tracking_back_end_never_stops_training(tmp_path, monkeypatch, capsys):
    """A server that answers but fails every request (here: a stand-in answering 503): one warning, and
    the run completes with its run folder intact."""
    import http.server
    import threading

    class Unavailable(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(503)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        run = train_tiny(tmp_path, "--log", "mlflow")
    finally:
        server.shutdown()
        server.server_close()
    assert json.loads((run / "summary.json").read_text())["stop_reason"] == "completed"
    err = capsys.readouterr().err
    assert "warning: logging to mlflow stopped" in err and "rnn-studio log RUN --to mlflow" in err
