"""Experiment tracking: TensorBoard event files and MLflow runs, fed by the metrics records.

A logger is a consumer of the records that `engine.training.train.train()` writes to metrics.jsonl and passes
to its `on_metric` callback (docs/run-folder.md). Live logging (`train --log ...`, the GUI's "Log to"
setting) and converting an existing run folder (`rnn-studio log RUN --to ...`, `replay`) are therefore
the same code: replay reads metrics.jsonl and calls the logger with every record.

Both back ends are optional dependencies (the `tracking` extra) imported lazily here;
a missing one raises `TrackingUnavailable` (a one-line ValueError naming what to install).

Why torch.utils.tensorboard.SummaryWriter and not tensorboardX: torch is already a dependency and
ships the writer; it needs only the `tensorboard` package, which people install anyway to view the
event files. tensorboardX would be one more package that duplicates it.

Scalar names (one mapping, `scalars_of`, serves both back ends; x axis = optimizer step):
    step/loss, step/lr                 every `step` record
    grad_norm/total, grad_norm/<block> every `grad` record
    epoch/<key>                        every numeric field of an `epoch` record (train_loss, val_loss,
                                       val_rmse, val_accuracy, lr, samples_per_s, ...), at its step
    final/<key>                        the numeric metrics of the `end` summary (test_rmse, ...)
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..design.project import atomic_write_text
from ..install_kind import install_command
from ..limits import excerpt, redact

if TYPE_CHECKING:  # optional dependencies, imported lazily at run time
    from mlflow.tracking import MlflowClient
    from torch.utils.tensorboard import SummaryWriter

TRACKERS = ("tensorboard", "mlflow")
TRACKING_FILE = "tracking.json"  # <run>/tracking.json: where the run was logged (MLflow run id)
TENSORBOARD_DIR = "tensorboard"  # <run>/tensorboard/: the event files
DEFAULT_EXPERIMENT = "rnn-studio"
_EPOCH_SKIP = {"kind", "epoch", "step", "best", "elapsed_s", "train_time_s"}
_FINAL_KEYS = (
    "val_loss",
    "val_rmse",
    "val_mae",
    "val_accuracy",
    "test_loss",
    "test_rmse",
    "test_mae",
    "test_persistence_rmse",
    "test_persistence_mae",
    "test_accuracy",
    "test_majority_accuracy",
    "best_epoch",
    "wall_time_s",
)


class TrackingUnavailable(ValueError):
    """A tracking back end cannot be used (package missing, unknown name): one line, exit 2."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def scalars_of(rec: dict[str, Any]) -> list[tuple[str, float, int | None]]:
    """(tag, value, step) of every scalar in one metrics record; null (non-finite) values are left out.
    The step is None only for a record that carries none (both back ends accept that)."""
    kind, step = rec.get("kind"), rec.get("step")
    if kind == "step":
        return [(f"step/{k}", rec[k], step) for k in ("loss", "lr") if _is_number(rec.get(k))]
    if kind == "grad":
        out = [("grad_norm/total", rec["total"], step)] if _is_number(rec.get("total")) else []
        return out + [(f"grad_norm/{b}", v, step) for b, v in (rec.get("blocks") or {}).items() if _is_number(v)]
    if kind == "epoch":
        return [(f"epoch/{k}", v, step) for k, v in rec.items() if k not in _EPOCH_SKIP and _is_number(v)]
    if kind == "end" and _is_number(rec.get("steps")):
        return [(f"final/{k}", rec[k], rec["steps"]) for k in _FINAL_KEYS if _is_number(rec.get(k))]
    return []


def require(kind: str) -> None:
    """Raise TrackingUnavailable unless back end `kind` is known and its package imports."""
    if kind not in TRACKERS:
        raise TrackingUnavailable(f"unknown tracker {kind!r}: use one of {', '.join(TRACKERS)}")
    package = "tensorboard" if kind == "tensorboard" else "mlflow"
    try:
        if kind == "tensorboard":
            import tensorboard  # noqa: F401
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        else:
            import mlflow  # noqa: F401
    except ImportError:
        raise TrackingUnavailable(
            f"logging to {'TensorBoard' if kind == 'tensorboard' else 'MLflow'} needs the "
            f"{package} package: {install_command([package], extra='tracking')}"
        ) from None


def read_tracking(run_dir: str | Path) -> dict[str, Any]:
    """<run>/tracking.json, or {} when it is missing or not a small JSON object (a received run folder
    may hold anything there)."""
    path = Path(run_dir) / TRACKING_FILE
    try:
        if not path.is_file() or path.stat().st_size > 1_000_000:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()) else {}


def _write_tracking(run_dir: Path, key: str, value: dict[str, Any]) -> None:
    data = read_tracking(run_dir)
    data[key] = value
    atomic_write_text(run_dir / TRACKING_FILE, json.dumps(data, indent=2) + "\n")


class _ReplayClock:
    """Wall times for records read back from a finished run: start time + elapsed time of the run so
    far (epoch records carry `elapsed_s`), so TensorBoard and MLflow show the run's own timeline."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.elapsed = 0.0

    def __call__(self, rec: dict[str, Any]) -> float:
        if rec.get("kind") == "start" and rec.get("time") and rec.get("resumed_from_step") is None:
            with contextlib.suppress(ValueError):
                self.t0 = datetime.fromisoformat(rec["time"]).timestamp()
        if _is_number(rec.get("elapsed_s")):
            self.elapsed = float(rec["elapsed_s"])
        elif _is_number(rec.get("wall_time_s")):
            self.elapsed = float(rec["wall_time_s"])
        return (self.t0 if self.t0 is not None else time.time()) + self.elapsed


class TensorBoardLogger:
    """Writes <run>/tensorboard/ event files from metrics records (torch.utils.tensorboard)."""

    def __init__(
        self, run_dir: str | Path | None = None, clock: Callable[[dict], float] | None = None, flush_secs: int = 10
    ):
        require("tensorboard")
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.clock = clock
        self.flush_secs = flush_secs
        self.writer: SummaryWriter | None = None

    @property
    def log_dir(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / TENSORBOARD_DIR

    def __call__(self, rec: dict[str, Any]) -> None:
        kind = rec.get("kind")
        if kind == "start":
            self._open(rec)
        if self.writer is None:
            return
        walltime = self.clock(rec) if self.clock else None
        for tag, value, step in scalars_of(rec):
            self.writer.add_scalar(tag, value, step, walltime=walltime)
        if kind == "end":
            self.writer.add_text(
                "summary",
                _as_markdown_json({k: v for k, v in rec.items() if k != "kind"}),
                rec.get("steps") or 0,
                walltime=walltime,
            )
            self.close()

    def _open(self, rec: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.close()
        self.run_dir = self.run_dir or Path(rec["run"])
        check_event_dir(self.run_dir)
        resumed = rec.get("resumed_from_step")
        # records past the resumed checkpoint's step were superseded: TensorBoard drops events at or
        # after purge_step when it reads the files
        writer = self.writer = SummaryWriter(
            str(self.log_dir), purge_step=None if resumed is None else resumed + 1, flush_secs=self.flush_secs
        )
        if resumed is None:
            walltime = self.clock(rec) if self.clock else None
            design = self.run_dir / "project.rnn.json"
            if design.is_file():
                writer.add_text(
                    "design", _as_markdown_json(json.loads(design.read_text(encoding="utf-8"))), 0, walltime=walltime
                )
            writer.add_text("settings", _as_markdown_json(rec.get("config") or {}), 0, walltime=walltime)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None


def check_event_dir(run_dir: Path) -> None:
    """<run>/tensorboard must be a real folder inside the run folder (or absent): a link would send the
    event files, and `log`'s rewrite, somewhere else."""
    where = run_dir / TENSORBOARD_DIR
    if where.is_symlink() or (where.exists() and not where.is_dir()):
        kind = "a link" if where.is_symlink() else "a file"
        raise TrackingUnavailable(
            f"{where}: is {kind}, not a folder: TensorBoard events are written only inside the run folder; "
            f"remove it and try again"
        )


def _as_markdown_json(data: Any) -> str:
    """JSON as a Markdown code block (TensorBoard renders text summaries as Markdown)."""
    return "\n".join("    " + line for line in json.dumps(data, indent=2).splitlines())


# ============================================================================ MLflow
def default_tracking_uri(out_dir: Path) -> str:
    """MLflow's own default is `sqlite:///mlflow.db` in the current folder (MLflow 3 prefers a database
    store over the deprecated ./mlruns file store); ours puts that database beside the run folders."""
    return f"sqlite:///{(out_dir / 'mlflow.db').resolve().as_posix()}"


def tracking_uri(out_dir: Path) -> str:
    """`MLFLOW_TRACKING_URI` when set (MLflow's convention), else the database under runs/."""
    import os

    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(out_dir)


def _params_of(rec: dict[str, Any], run_dir: Path) -> dict[str, str]:
    """Training settings, data settings and the design's block parameters (defaults filled in), flat."""
    params: dict[str, Any] = {f"train.{k}": v for k, v in (rec.get("config") or {}).items() if v is not None}
    for key in ("data", "target", "features", "lookback", "horizon", "task", "loss", "device", "parameters"):
        if rec.get(key) is not None:
            params[f"data.{key}" if key in ("target", "features", "lookback", "horizon") else key] = rec[key]
    design = run_dir / "project.rnn.json"
    if design.is_file():
        from ..design.project import load_project

        for block in load_project(design).blocks:
            params[f"block.{block.id}.type"] = block.type
            params.update({f"block.{block.id}.{k}": v for k, v in block.resolved().items()})
    return {k: (",".join(map(str, v)) if isinstance(v, list) else str(v))[:6000] for k, v in params.items()}


class MlflowLogger:
    """Logs a run to MLflow: params at start, metrics in batches (MlflowClient.log_batch at every epoch
    end, and every `flush_every_s` / 1000 metrics within long epochs), design / best checkpoint / summary as
    artifacts at the end. The MLflow run id goes to <run>/tracking.json (export adds the ONNX file to that run; a
    resumed run continues the same MLflow run)."""

    def __init__(
        self,
        run_dir: str | Path | None = None,
        clock: Callable[[dict], float] | None = None,
        flush_every_s: float = 30.0,
        experiment: str | None = None,
    ):
        require("mlflow")
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.clock = clock or (lambda rec: time.time())
        self.flush_every_s = flush_every_s
        self.experiment = experiment
        self.client: MlflowClient | None = None  # while a run is open
        self.run_id: str | None = None
        self.pending: list = []
        self.last_flush = time.monotonic()

    def __call__(self, rec: dict[str, Any]) -> None:
        kind = rec.get("kind")
        if kind == "start":
            self._open(rec)
        if self.client is None:
            return
        from mlflow.entities import Metric

        stamp = int(self.clock(rec) * 1000)
        # a record without a step (none of the validated kinds) goes to MLflow's own default step, 0
        self.pending += [
            Metric(tag, float(value), stamp, 0 if step is None else step) for tag, value, step in scalars_of(rec)
        ]
        if (
            kind in ("epoch", "end")
            or len(self.pending) >= 1000
            or time.monotonic() - self.last_flush > self.flush_every_s
        ):
            self.flush()
        if kind == "end":
            self._finish(rec)

    def flush(self) -> None:
        """Write the pending metrics in log_batch calls, synchronously, between steps. Measured
        (tests/benchmarks/bench_tracking.py): MLflow's asynchronous writer (synchronous=False) made
        training slower, not faster: its thread holds the GIL in SQLAlchemy (~2 ms of CPU per metric with
        a SQLite store) while the training loop waits for it between torch ops."""
        if self.pending:
            client, run_id = self.client, self.run_id
            assert client is not None and run_id is not None, "metrics are queued only while an MLflow run is open"
            for i in range(0, len(self.pending), 1000):  # log_batch takes at most 1000 metrics
                client.log_batch(run_id, metrics=self.pending[i : i + 1000])
        self.pending = []
        self.last_flush = time.monotonic()

    def _open(self, rec: dict[str, Any]) -> None:
        import os

        from mlflow.entities import Param, RunTag
        from mlflow.tracking import MlflowClient

        run_dir = self.run_dir = self.run_dir or Path(rec["run"])
        uri = tracking_uri(run_dir.parent)
        client = self.client = MlflowClient(tracking_uri=uri)
        previous = read_tracking(run_dir).get("mlflow") or {}
        if rec.get("resumed_from_step") is not None and redact(str(previous.get("tracking_uri"))) == redact(uri):
            self.run_id = previous["run_id"]  # a resumed run continues its MLflow run
            client.update_run(self.run_id, status="RUNNING")
            return
        name = self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            local = uri.startswith("sqlite:") and not os.environ.get("MLFLOW_TRACKING_URI")
            where = (run_dir.parent / "mlartifacts").resolve().as_uri() if local else None
            experiment_id = client.create_experiment(name, artifact_location=where)
        run = client.create_run(
            experiment_id,
            run_name=run_dir.name,
            tags={"rnn_studio.run_folder": str(run_dir.resolve()), "rnn_studio.design": str(rec.get("name"))},
        )
        self.run_id = run.info.run_id
        _write_tracking(  # never a password in the run folder: it is shared with others
            run_dir, "mlflow", {"tracking_uri": redact(uri), "experiment_id": experiment_id, "run_id": self.run_id}
        )
        params = [Param(k, v) for k, v in _params_of(rec, run_dir).items()]
        for i in range(0, len(params), 100):  # log_batch takes at most 100 params
            client.log_batch(self.run_id, params=params[i : i + 100])
        client.log_batch(self.run_id, tags=[RunTag("rnn_studio.device", str(rec.get("device_name")))])
        design = run_dir / "project.rnn.json"
        if design.is_file():
            client.log_artifact(self.run_id, str(design))

    def _finish(self, rec: dict[str, Any]) -> None:
        client, run_dir, run_id = self.client, self.run_dir, self.run_id
        assert client is not None and run_dir is not None and run_id is not None, "called only while a run is open"
        reason = str(rec.get("stop_reason"))
        for rel, folder in (("checkpoints/best.pt", "checkpoints"), ("summary.json", None)):
            if (run_dir / rel).is_file():
                client.log_artifact(run_id, str(run_dir / rel), folder)
        client.set_tag(run_id, "rnn_studio.stop_reason", reason)
        status = (
            "FINISHED"
            if reason == "completed" or reason.startswith("early stopping") or reason == "max steps reached"
            else ("KILLED" if reason == "cancelled" else "FAILED")
        )
        client.set_terminated(run_id, status)
        self.client = None

    def close(self) -> None:
        if self.client is not None and self.pending:
            self.flush()


def check_server(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast (TrackingUnavailable, one line) when an http(s) tracking URI does not answer at all:
    MLflow's client would otherwise retry for minutes inside the first training step. Any HTTP answer
    counts as reachable; databases and other URIs are not probed."""
    import urllib.error
    import urllib.request

    if not uri.startswith(("http://", "https://")):
        return
    url, headers = split_credentials(uri)
    try:
        request = urllib.request.Request(url.rstrip("/") + "/health", headers=headers)
        urllib.request.urlopen(request, timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return  # it answered
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = redact(str(getattr(e, "reason", e)))
        raise TrackingUnavailable(
            f"the MLflow tracking server {redact(uri)[:200]} (MLFLOW_TRACKING_URI) does not answer "
            f"({reason[:200]}): start it, or unset MLFLOW_TRACKING_URI to log to runs/mlflow.db"
        ) from None


def split_credentials(uri: str) -> tuple[str, dict[str, str]]:
    """(the URL without `user:password@`, the HTTP headers that carry them): urllib would otherwise take
    `user:password@host` for the host name. MLflow reads the same credentials from the URI itself."""
    import base64
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri, {}
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=host)), {"Authorization": f"Basic {token}"}


def _bounded_http() -> None:
    """MLflow's HTTP client retries for minutes by default; a command waits at most about a minute."""
    import os

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


# ============================================================================ live and replay
class _Guarded:
    """A logger whose failure (tracking server down, disk full) never stops training: the first error
    is reported on one line and the logger is switched off; the run folder stays complete, so
    `rnn-studio log RUN --to ...` can send it later."""

    def __init__(self, kind: str, logger: Callable[[dict], None], warn: Callable[[str], None]):
        self.kind, self.logger, self.warn = kind, logger, warn
        self.failed = False

    def __call__(self, rec: dict[str, Any]) -> None:
        if self.failed:
            return
        try:
            self.logger(rec)
        except Exception as e:  # noqa: BLE001 - any back-end failure: tell once and carry on training
            self.failed = True
            line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            line = redact(line)[:300]
            self.warn(
                f"warning: logging to {self.kind} stopped ({line}); the run folder is complete: send it "
                f"later with `rnn-studio log RUN --to {self.kind}`"
            )


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def open_loggers(kinds: str | Iterable[str] | None, warn: Callable[[str], None] = _stderr):
    """One on_metric callback feeding every requested back end ("tensorboard", "mlflow"), or None.
    Raises TrackingUnavailable (one line) when a back end's package is missing."""
    if not kinds:
        return None
    names = [kinds] if isinstance(kinds, str) else list(dict.fromkeys(kinds))
    for kind in names:
        require(kind)
    if "mlflow" in names:
        _bounded_http()
        check_server(tracking_uri(Path("runs")))
    loggers = [_Guarded(k, TensorBoardLogger() if k == "tensorboard" else MlflowLogger(), warn) for k in names]

    def on_metric(rec: dict[str, Any]) -> None:
        for logger in loggers:
            logger(rec)

    return on_metric


def chain(*callbacks: Callable[[dict], None] | None) -> Callable[[dict], None]:
    """One on_metric callback calling each given one in turn (None entries are skipped)."""
    live = [c for c in callbacks if c is not None]

    def on_metric(rec: dict[str, Any]) -> None:
        for c in live:
            c(rec)

    return on_metric


def replay(run_dir: str | Path, kind: str) -> int:
    """Send an existing run folder's metrics.jsonl to `kind` with the same loggers as live training;
    returns the number of records. TensorBoard: <run>/tensorboard/ is rewritten (not appended to), never
    while the run's own training holds its LOCK. MLflow: a new MLflow run (its id replaces the one in
    tracking.json). A record that cannot be logged is a RunError naming it (one line)."""
    from .runs import RunError, RunLock, is_run_dir, iter_metrics

    require(kind)
    rd = Path(run_dir)
    if not is_run_dir(rd):
        raise RunError(f"{rd}: not a run folder (no project.rnn.json): pass a folder under runs/")
    RunLock(rd).check_free()  # a live training of this run writes its own events: leave them alone
    records = list(iter_metrics(rd))
    if not any(r.get("kind") == "start" for r in records):
        raise RunError(f"{rd}: metrics.jsonl has no start record: the run never started training")
    _check_names(rd, records)
    clock = _ReplayClock()
    if kind == "tensorboard":
        try:
            check_event_dir(rd)
        except TrackingUnavailable as e:
            raise RunError(str(e)) from None
        logger: Any = TensorBoardLogger(rd, clock=clock)
        shutil.rmtree(logger.log_dir, ignore_errors=True)
    else:
        _bounded_http()
        check_server(tracking_uri(rd.parent))
        logger = MlflowLogger(rd, clock=clock)
    for number, rec in enumerate(records, 1):
        try:
            logger(rec)
        except (TrackingUnavailable, RunError):
            raise
        except Exception as e:  # noqa: BLE001 - a record a stranger wrote, or a back end refusing it
            raise RunError(
                f"{rd}/metrics.jsonl: record {number} ({excerpt(rec.get('kind'))}) cannot be logged to {kind} "
                f"({type(e).__name__}: {excerpt(redact(str(e)), 120)})"
            ) from None
    logger.close()
    return len(records)


_NAME_OK = re.compile(r"[A-Za-z0-9_\-. ]{1,250}")


def _check_names(rd: Path, records: list[dict[str, Any]]) -> None:
    """Metric names come from the records (block ids of `grad` records): each part must be a plain name."""
    from .runs import RunError

    for number, rec in enumerate(records, 1):
        try:
            tags = [tag for tag, _, _ in scalars_of(rec)]
        except (TypeError, AttributeError, KeyError) as e:
            raise RunError(f"{rd}/metrics.jsonl: record {number} is malformed ({type(e).__name__})") from None
        for tag in tags:
            parts = tag.split("/")
            if not all(_NAME_OK.fullmatch(p) and p not in (".", "..") for p in parts):
                raise RunError(
                    f"{rd}/metrics.jsonl: record {number} names a metric {excerpt(tag)}: metric names are "
                    f"letters, digits, _ - . and spaces"
                )


def log_export(run_dir: str | Path, files: Iterable[str | Path]) -> str | None:
    """Add exported files (the ONNX model and its verification report) to the MLflow run recorded in
    <run>/tracking.json. Returns the MLflow run id, or None when the run was not logged to MLflow, or was
    logged to another tracking store than the one this user logs to now (MLFLOW_TRACKING_URI, or
    mlflow.db beside the run folder): a received run folder never makes export contact a server or
    create a database that its tracking.json names. The server is asked with a bounded timeout."""
    info = read_tracking(run_dir).get("mlflow") or {}
    if not info.get("run_id") or not isinstance(info.get("run_id"), str):
        return None
    uri = tracking_uri(Path(run_dir).parent)
    if redact(str(info.get("tracking_uri"))) != redact(uri):
        return None
    if uri.startswith("sqlite:") and not Path(uri.split(":///", 1)[-1]).is_file():
        return None
    require("mlflow")
    _bounded_http()
    check_server(uri)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    for f in files:
        if Path(f).is_file():
            client.log_artifact(info["run_id"], str(f), "export")
    return info["run_id"]
