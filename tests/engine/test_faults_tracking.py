"""Tracking from strangers (issue #22): credentials in tracking URIs are never printed nor taken for a
host name; a received run folder's tracking.json never makes `export` hang on a server, contact one, or
create a database; `log --to tensorboard` never writes outside the run folder nor deletes the event files
of a run that is still training; hostile metrics.jsonl records end in exit 2 with one line."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from .faults import PASSWORD, SEEN, TINY_DESIGN, TOKEN, cli, trained_run
from .hostile import assert_refused

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("trained"))


@pytest.fixture
def run(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "runs" / trained.name)


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers (a hung tracking server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


# ---------------------------------------------------------------------------- credentials never printed
@pytest.mark.slow
@pytest.mark.parametrize(
    "uri",
    [
        f"http://alice:{PASSWORD}@127.0.0.1:9",
        f"http://127.0.0.1:9/?token={TOKEN}",
        f"https://bob:{PASSWORD}@127.0.0.1:9/x?api_key={TOKEN}",
    ],
    ids=["userinfo", "token-query", "both"],
)
def test_train_log_mlflow_never_prints_the_password(tmp_path, uri):
    design = tmp_path / "tiny.rnn.json"
    design.write_text(json.dumps(TINY_DESIGN))
    outcome = cli(
        "train",
        str(design),
        "--demo",
        "sine",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "runs"),
        "--log",
        "mlflow",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    line = assert_refused(outcome, "does not answer", "127.0.0.1:9")
    assert "***" in line


@pytest.mark.slow
def test_a_password_holding_at_signs_is_blanked_whole(tmp_path):
    design = tmp_path / "tiny.rnn.json"
    design.write_text(json.dumps(TINY_DESIGN))
    uri = f"http://alice:{PASSWORD}@x@127.0.0.1:9"
    outcome = cli(
        "train",
        str(design),
        "--demo",
        "sine",
        "--out",
        str(tmp_path / "runs"),
        "--log",
        "mlflow",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    line = assert_refused(outcome, "alice:***@127.0.0.1:9")
    assert "x@127" not in line


def test_redact_unit():
    from rnn_studio.engine.limits import redact

    assert redact(f"postgresql://u:{PASSWORD}/x@h/db") == "postgresql://u:***@h/db"
    assert redact(f"http://h:9/?access_token={TOKEN}&a=1") == "http://h:9/?access_token=***&a=1"
    assert redact("http://host:5000/api and sqlite:////tmp/a.db") == "http://host:5000/api and sqlite:////tmp/a.db"


@pytest.mark.slow
def test_log_to_mlflow_never_prints_the_password(run):
    outcome = cli(
        "log", str(run), "--to", "mlflow", env={"MLFLOW_TRACKING_URI": f"http://alice:{PASSWORD}@127.0.0.1:9"}
    )
    assert_refused(outcome, "does not answer", "alice:***@127.0.0.1:9")


def test_credentials_go_in_a_header_not_in_the_host_name():
    """The user:password@ part is sent as Basic authorization; the host connected to is the real one."""
    from rnn_studio.engine.training.tracking import check_server

    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's spelling
            seen["auth"], seen["host"], seen["path"] = (
                self.headers.get("Authorization"),
                self.headers.get("Host"),
                self.path,
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    port = server.server_port
    try:
        check_server(f"http://alice:{PASSWORD}@127.0.0.1:{port}/", timeout_s=10)
    finally:
        server.server_close()
    assert seen["host"] == f"127.0.0.1:{port}"
    assert seen["path"] == "/health"
    assert base64.b64decode(seen["auth"].split()[1]).decode() == f"alice:{PASSWORD}"


# ---------------------------------------------------------------------------- export of a received run
def _received_tracking(run, uri):
    (run / "tracking.json").write_text(
        json.dumps({"mlflow": {"tracking_uri": uri, "experiment_id": "1", "run_id": "abc"}})
    )


@pytest.mark.slow
def test_export_never_waits_on_a_server_a_received_run_names(run, tmp_path, silent_server):
    _received_tracking(run, f"http://alice:{PASSWORD}@127.0.0.1:{silent_server}")
    outcome = cli("export", str(run), "-o", str(tmp_path / "m.onnx"), timeout=90)
    assert outcome.code == 0, outcome.err[-1000:]
    assert outcome.seconds < 60
    assert (tmp_path / "m.onnx").is_file()


@pytest.mark.slow
def test_export_to_the_users_own_silent_server_is_bounded(run, tmp_path, silent_server):
    uri = f"http://alice:{PASSWORD}@127.0.0.1:{silent_server}"
    _received_tracking(run, uri)
    outcome = cli("export", str(run), "-o", str(tmp_path / "m.onnx"), env={"MLFLOW_TRACKING_URI": uri}, timeout=90)
    assert outcome.code == 0, outcome.err[-1000:]
    assert outcome.seconds < 60
    assert "warning: the export was not added" in outcome.err


@pytest.mark.slow
def test_export_never_creates_a_database_a_received_run_names(run, tmp_path):
    target = tmp_path / "elsewhere" / "evil.db"
    target.parent.mkdir()
    _received_tracking(run, f"sqlite:///{target}")
    outcome = cli("export", str(run), "-o", str(tmp_path / "m.onnx"))
    assert outcome.code == 0, outcome.err[-1000:]
    assert not target.exists()
    assert not any(target.parent.iterdir())


@pytest.mark.slow
def test_garbage_tracking_json_does_not_break_export(run, tmp_path):
    (run / "tracking.json").write_text('{"mlflow": 5}')
    assert cli("export", str(run), "-o", str(tmp_path / "m.onnx")).code == 0


# ---------------------------------------------------------------------------- TensorBoard event folder
@pytest.mark.slow
def test_tensorboard_link_out_of_the_run_is_refused(run, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (run / "tensorboard").symlink_to(outside, target_is_directory=True)
    line = assert_refused(cli("log", str(run), "--to", "tensorboard"), "is a link")
    assert "tensorboard" in line
    assert [p.name for p in outside.iterdir()] == ["keep.txt"]


@pytest.mark.slow
def test_resumed_training_never_logs_through_a_tensorboard_link(run, tmp_path):
    """Live logging of a received run folder whose tensorboard/ links elsewhere: a warning, training goes on,
    nothing is written through the link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (run / "tensorboard").symlink_to(outside, target_is_directory=True)
    outcome = cli("train", "--resume", str(run), "--epochs", "2", "--log", "tensorboard")
    assert outcome.code == 0, outcome.err[-1000:]
    assert "warning: logging to tensorboard stopped" in outcome.err and "is a link" in outcome.err
    assert not any(outside.iterdir())


@pytest.mark.slow
def test_tensorboard_as_a_file_is_refused(run):
    (run / "tensorboard").write_text("not a folder")
    assert_refused(cli("log", str(run), "--to", "tensorboard"), "is a file")
    assert (run / "tensorboard").read_text() == "not a folder"


@pytest.mark.slow
def test_log_during_the_runs_own_training_leaves_its_events_alone(run):
    events = run / "tensorboard"
    events.mkdir()
    (events / "events.out.tfevents.1").write_bytes(b"live")
    (run / "LOCK").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": "now"}))
    assert_refused(cli("log", str(run), "--to", "tensorboard"), "being written by process")
    assert (events / "events.out.tfevents.1").read_bytes() == b"live"


# ---------------------------------------------------------------------------- hostile metrics.jsonl
@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe garbage\n[1, 2]\n5\n" + b"[" * 100_000 + b"\n", "no start record"),
        (None, "names a metric"),
        (b'{"kind": "start", "config": 5}\n{"kind": "step", "step": "x", "loss": 1.0}\n', "metrics.jsonl"),
    ],
    ids=["garbage", "dotdot-name", "bad-fields"],
)
def test_hostile_metrics_are_refused(run, content, needle):
    path = run / "metrics.jsonl"
    if content is None:
        lines = path.read_text().splitlines()
        lines.insert(1, json.dumps({"kind": "grad", "step": 1, "total": 1.0, "blocks": {"../../x": 0.5}}))
        content = ("\n".join(lines) + "\n").encode()
    path.write_bytes(content)
    outcome = cli("log", str(run), "--to", "tensorboard")
    if needle == "metrics.jsonl" and outcome.code == 0:
        return  # logged what could be logged: fine
    assert_refused(outcome, needle)
    assert not (run.parent / "x").exists() and not (run.parent.parent / "x").exists()


# ---------------------------------------------------------------------------- the secrets check
@pytest.mark.slow  # it reads what the (slow) CLI runs above printed: it runs, and means something, with them
def test_no_line_the_suites_printed_holds_a_secret():
    """Every stdout / stderr the fault suites' CLI runs printed (collected by faults.cli)."""
    assert SEEN, "the suite's CLI runs are collected"
    for text in SEEN:
        assert PASSWORD not in text and TOKEN not in text
    joined = "\n".join(SEEN)
    assert "alice:***@" in joined  # the credentials were in play, and blanked
