"""Hyperparameter search with Optuna over a design's `training.search` section. No Qt.

The search space lives in the project file (docs/tuning.md):

    "training": {..., "search": {
        "g.units": [32, 64, 128],                           # block g's units: a categorical choice
        "g.num_layers": {"low": 1, "high": 3},              # an integer range (the param is an int)
        "g.dropout": {"low": 0.0, "high": 0.5, "step": 0.1},
        "lr": {"low": 1e-4, "high": 1e-2, "log": true},     # a training setting: a plain name
        "batch_size": [32, 64, 128]}}

`blockid.param` names a block's param (int params get integer ranges, float params float ranges;
bool / choice params take lists only); a plain name is a training setting (engine.training.train.TrainConfig).
`parse_search` checks every key against the block catalog and the training settings and raises
`SearchSpaceError` with one line naming the key. A sampled combination that breaks a shape rule (e.g.
num_heads not dividing the width) is not a search-space error: that trial fails with the shape error
and the study goes on.

    result = tune(project, DataSpec(demo="chaos"), n_trials=8, out_dir="runs")

Every trial that trains is a normal run folder `<out>/<time>-<study>-t<N>/` (its summary.json gains a
"tune" entry). Pruning: every epoch's val_loss is reported to the trial; when the pruner says stop,
the trial's `stop_event` is set, training stops cleanly at the next step (last.pt, summary written)
and the trial is recorded as PRUNED. Storage: an SQLite file `<out>/tune.db` by default (Optuna's RDB
storage with a 60 s lock timeout; several worker processes on one machine share it), any SQLAlchemy
URL (`postgresql://user@host/db` to share a study across machines), or `journal:PATH` (Optuna's
file journal). Optuna is imported on first use.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..design.blocks import CATALOG
from ..design.project import Project, atomic_write_text
from .records import KIND_EPOCH, STOP_CANCELLED, STOP_OUT_OF_MEMORY, is_diverged, parse_record

__all__ = [
    "SearchSpaceError",
    "SearchParam",
    "parse_search",
    "apply_params",
    "suggest_params",
    "tune",
    "TuneResult",
    "default_storage",
    "open_storage",
    "best_design",
    "trial_rows",
    "PRUNERS",
]

PRUNERS = ("median", "asha", "none")
_RANGE_KEYS = {"low", "high", "log", "step"}


class SearchSpaceError(ValueError):
    """A search space that cannot be used: one line naming the key and how to fix it."""


class TrialError(RuntimeError):
    """A trial that could not produce a value (invalid sampled design, bad data, divergence): the
    trial is recorded as FAIL with this message; the study goes on."""


@dataclass
class SearchParam:
    key: str  # as written: "g.units" or "lr"
    block: str | None  # block id, None for a training setting
    name: str  # the param / setting name
    kind: str  # "categorical" | "int" | "float"
    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    def describe(self) -> str:
        if self.kind == "categorical":
            assert self.choices is not None  # a categorical param has its choices
            return "{" + ", ".join(json.dumps(c) for c in self.choices) + "}"
        text = f"{self.kind} [{self.low:g}, {self.high:g}]"
        if self.log:
            text += " log"
        if self.step is not None:
            text += f" step {self.step:g}"
        return text


# ============================================================================ parsing / validation
def _train_kinds() -> dict[str, str]:
    """Training setting -> "int" | "float" | "other" from TrainConfig's annotations."""
    from .train import TrainConfig

    out = {}
    for f in fields(TrainConfig):
        ann = str(f.type)
        out[f.name] = "int" if "int" in ann and "bool" not in ann else "float" if "float" in ann else "other"
    return out


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def parse_search(project: Project, search: dict[str, Any] | None = None) -> list[SearchParam]:
    """The search space of a design (its `training.search`, or `search` if given), fully validated."""
    search = _search_section(project, search)
    kinds: dict[str, str] | None = None
    space = []
    for key, spec in search.items():
        where = f"training.search '{key}'"
        if not isinstance(key, str) or not key:
            raise SearchSpaceError(
                f"training.search keys must be 'blockid.param' or a training setting, received {key!r}"
            )
        if "." in key:
            sp_block, sp_name, num_kind, check_value = _block_key(project, key, where)
        else:
            kinds = kinds or _train_kinds()
            sp_block, sp_name, num_kind, check_value = _setting_key(project, key, where, kinds)
        if isinstance(spec, list):
            space.append(_choices_param(key, where, spec, sp_block, sp_name, check_value))
        elif isinstance(spec, dict):
            space.append(_range_param(key, where, spec, sp_block, sp_name, num_kind, check_value))
        else:
            raise SearchSpaceError(
                f'{where}: must be a list of choices or a range {{"low": .., "high": ..}}, received {json.dumps(spec)}'
            )
    return space


# checks one candidate value of a key: (value, what it is: "choice" | "low" | "high") -> None or SearchSpaceError
_ValueCheck = Callable[[Any, str], None]


def _search_section(project: Project, search: dict[str, Any] | None) -> dict[str, Any]:
    """The search section to parse: a non-empty object."""
    if search is None:
        search = project.training.get("search")
        if search is None:
            raise SearchSpaceError(
                f"design '{project.name}' has no training.search section: add one, e.g. "
                '"search": {"g.units": [32, 64, 128], "lr": {"low": 1e-4, "high": 1e-2, "log": true}}'
            )
    if not isinstance(search, dict):
        raise SearchSpaceError(f"training.search must be an object of key: choices, received {type(search).__name__}")
    if not search:
        raise SearchSpaceError(
            'training.search is empty: add at least one key, e.g. "lr": {"low": 1e-4, "high": 1e-2, "log": true}'
        )
    return search


def _block_key(project: Project, key: str, where: str) -> tuple[str | None, str, str, _ValueCheck]:
    """A 'blockid.param' key: (block id, param name, "int" | "float" | "other", its value check)."""
    bid, name = key.split(".", 1)
    block = project.block(bid)
    if block is None:
        ids = ", ".join(b.id for b in project.blocks)
        raise SearchSpaceError(f"{where}: no block '{bid}' in the design (blocks: {ids})")
    bdef = CATALOG.get(block.type)
    if bdef is None:
        raise SearchSpaceError(f"{where}: block '{bid}' has unknown type {block.type!r}")
    pdef = next((p for p in bdef.params if p.name == name), None)
    if pdef is None:
        names = ", ".join(p.name for p in bdef.params) or "none"
        raise SearchSpaceError(f"{where}: {block.type} block '{bid}' has no param '{name}' (params: {names})")
    num_kind = pdef.kind if pdef.kind in ("int", "float") else "other"

    def check_value(v: Any, what: str) -> None:
        reason = pdef.validate(v)
        if reason is not None:
            raise SearchSpaceError(f"{where}: {what} {json.dumps(v)} is not a valid {block.type} {pdef.name}: {reason}")

    return bid, name, num_kind, check_value


def _setting_key(project: Project, key: str, where: str, kinds: dict[str, str]) -> tuple[None, str, str, _ValueCheck]:
    """A training setting key: (None, setting name, "int" | "float" | "other", its value check)."""
    if key not in kinds:
        raise SearchSpaceError(
            f"{where}: not a block param (write 'blockid.param') nor a training setting "
            f"(settings: {', '.join(sorted(kinds))})"
        )

    def check_value(v: Any, what: str) -> None:
        from .train import ConfigError, TrainConfig

        try:
            TrainConfig.from_project(project, {key: v})
        except ConfigError as e:
            raise SearchSpaceError(f"{where}: {what} {json.dumps(v)} is not usable: {e}") from None

    return None, key, kinds[key], check_value


def _choices_param(
    key: str, where: str, spec: list, sp_block: str | None, sp_name: str, check_value: _ValueCheck
) -> SearchParam:
    """A list of choices: a categorical param."""
    if not spec:
        raise SearchSpaceError(f"{where}: the list of choices is empty: give at least one value")
    for v in spec:
        if not (v is None or isinstance(v, (bool, int, float, str))):
            raise SearchSpaceError(f"{where}: choice {json.dumps(v)} must be a number, string, true/false or null")
        check_value(v, "choice")
    if len({json.dumps(v) for v in spec}) != len(spec):
        raise SearchSpaceError(f"{where}: the list of choices repeats a value: list each value once")
    return SearchParam(key, sp_block, sp_name, "categorical", choices=list(spec))


def _range_param(
    key: str, where: str, spec: dict, sp_block: str | None, sp_name: str, num_kind: str, check_value: _ValueCheck
) -> SearchParam:
    """A {"low", "high", "log", "step"} range: an int or float param."""
    extra = set(spec) - _RANGE_KEYS
    if extra:
        raise SearchSpaceError(
            f"{where}: unknown range key(s) {', '.join(sorted(map(str, extra)))}: a range "
            f"has low, high and optionally log (true/false) and step"
        )
    if "low" not in spec or "high" not in spec:
        raise SearchSpaceError(f'{where}: a range needs both low and high, e.g. {{"low": 1, "high": 3}}')
    if num_kind == "other":
        raise SearchSpaceError(f"{where}: this setting is not a number: give a list of choices instead of a range")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    for what, v in (("low", low), ("high", high)):
        if not _is_num(v):
            raise SearchSpaceError(f"{where}: {what} must be a number, received {json.dumps(v)}")
        if num_kind == "int" and float(v) != int(v):
            raise SearchSpaceError(
                f"{where}: {what} must be a whole number for this integer param, received {json.dumps(v)}"
            )
    if low > high:
        raise SearchSpaceError(f"{where}: low {low} is greater than high {high}: swap them")
    if not isinstance(log, bool):
        raise SearchSpaceError(f"{where}: log must be true or false, received {json.dumps(log)}")
    if log and low <= 0:
        raise SearchSpaceError(f"{where}: a log range needs low > 0, received low {low}")
    if step is not None:
        if not _is_num(step) or step <= 0:
            raise SearchSpaceError(f"{where}: step must be a number > 0, received {json.dumps(step)}")
        if num_kind == "int" and float(step) != int(step):
            raise SearchSpaceError(
                f"{where}: step must be a whole number for this integer param, received {json.dumps(step)}"
            )
        if log and not (num_kind == "int" and step == 1):
            raise SearchSpaceError(f"{where}: a range cannot have both log and step: drop one of them")
    if num_kind == "int":
        low, high = int(low), int(high)
        step = int(step) if step is not None else None
    else:
        low, high = float(low), float(high)
        step = float(step) if step is not None else None
    check_value(low, "low")
    check_value(high, "high")
    return SearchParam(
        key,
        sp_block,
        sp_name,
        num_kind,
        low=low,
        high=high,
        log=log,
        step=None if (num_kind == "int" and step == 1) else step,
    )


def suggest_params(trial, space: list[SearchParam]) -> dict[str, Any]:
    """Ask an Optuna trial for one value of every key."""
    out = {}
    for p in space:
        if p.kind == "categorical":
            out[p.key] = trial.suggest_categorical(p.key, p.choices)
        elif p.kind == "int":
            out[p.key] = trial.suggest_int(p.key, p.low, p.high, step=p.step or 1, log=p.log)
        else:
            out[p.key] = trial.suggest_float(p.key, p.low, p.high, step=p.step, log=p.log)
    return out


def apply_params(project: Project, params: dict[str, Any], keep_search: bool = False) -> tuple[Project, dict[str, Any]]:
    """A copy of the design with a trial's values applied: block params set on the blocks, training
    settings written into `training`. Returns (design, training overrides). The copy has no search
    section unless keep_search."""
    design = project.copy()
    design.path = None
    overrides = {}
    for key, value in params.items():
        if "." in key:
            bid, name = key.split(".", 1)
            block = design.block(bid)
            if block is None:
                raise SearchSpaceError(f"training.search '{key}': no block '{bid}' in the design")
            block.params[name] = value
        else:
            design.training[key] = value
            overrides[key] = value
    if not keep_search:
        design.training.pop("search", None)
    return design, overrides


def best_design(project: Project, params: dict[str, Any], info: dict[str, Any] | None = None) -> Project:
    """The design of the best trial, ready to open in the designer. The search section is removed (it
    is a concrete design now; the tuned-from design keeps the search space)."""
    design, _ = apply_params(project, params)
    if info:
        design.training["tuned"] = info
    return design


# ============================================================================ storage
def default_storage(out_dir: str | Path) -> str:
    """`sqlite:///<out>/tune.db`: one file beside the runs, shared by workers on this machine."""
    return f"sqlite:///{(Path(out_dir).resolve() / 'tune.db').as_posix()}"


def open_storage(url: str, retries: int = 5):
    """An Optuna storage for a URL: sqlite:///FILE (RDB, 60 s lock timeout), postgresql://..., mysql://...,
    or journal:FILE (Optuna's append-only file journal). Raises StorageError (one line) when it cannot
    be opened."""
    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError

    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = url.split(":", 1)[1]
        path = path[2:] if path.startswith("//") else path  # journal:///abs/file or journal:relative/file
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(path))
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        db = url.split("///", 1)[-1]
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": 60}}
    elif url.startswith(("postgresql", "postgres")):
        kwargs = {"pool_pre_ping": True}
    last = None
    for attempt in range(retries):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs or None)
        except (OperationalError, IntegrityError) as e:  # two workers creating the tables at once (a lock,
            last = e  # or the second alembic_version insert); a server still starting
            time.sleep(0.5 * (attempt + 1))
        except ImportError:  # Optuna wraps the missing driver's ModuleNotFoundError
            hint = (
                ": pip install 'psycopg[binary]' (the driver SQLAlchemy 2.1 uses for postgresql://; "
                "with psycopg2-binary write postgresql+psycopg2://)"
                if url.startswith("postgres")
                else ": pip install pymysql and use mysql+pymysql://"
                if url.startswith("mysql")
                else ""
            )
            raise StorageError(f"storage {_safe_url(url)}: the database driver is not installed{hint}") from None
        except Exception as e:  # noqa: BLE001 - bad URL, refused connection, wrong password
            raise StorageError(
                f"storage {_safe_url(url)}: cannot open ({type(e).__name__}: {_first_line(scrub_secrets(str(e), url))})"
            ) from None
    raise StorageError(f"storage {_safe_url(url)}: cannot open ({_first_line(scrub_secrets(str(last), url))})")


def _first_line(text: str, chars: int = 300) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= chars else line[:chars] + "..."


class StorageError(ValueError):
    """An Optuna storage URL that cannot be opened: one line (the password is never printed)."""


SECRET_QUERY_KEYS = (
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "token",
    "api_key",
    "apikey",
    "key",
    "sslpassword",
    "auth",
    "access_token",
    "user",
    "username",
)


def _safe_url(url: str) -> str:
    """The storage URL for messages, logs, run folders and summaries: user and password removed, and
    secret-looking query parameters (`?password=`) dropped. The URL is parsed (urllib.parse), not
    pattern-matched: the credentials are everything before the LAST `@` of the authority, so a
    password holding `@`, `:` or `/` is removed whole."""
    from urllib.parse import parse_qsl, urlencode, urlsplit

    if url.startswith("journal:"):
        return url
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        scheme = ""
    if not scheme or "://" not in url:
        return "<storage URL hidden: it could not be parsed>"
    authority_path, _, query = url.split("://", 1)[1].partition("?")
    if not scheme.startswith("sqlite"):  # sqlite URLs hold a file path and no credentials
        authority_path = authority_path.rpartition("@")[2]
    query = urlencode(
        [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() not in SECRET_QUERY_KEYS]
    )
    return f"{scheme}://{authority_path}" + (f"?{query}" if query else "")


def _url_secrets(url: str) -> list[str]:
    """The user name, password and secret query values of `url` (as SQLAlchemy and as urllib read it,
    raw and percent-decoded), to scrub from any text such as a driver's error message."""
    import re
    from urllib.parse import parse_qsl, unquote

    secrets: list[str | None] = []  # None: a part the URL lacks, dropped below
    if "://" in url and not url.startswith(("sqlite", "journal:")):
        authority = url.split("://", 1)[1].partition("?")[0]
        creds = authority.rpartition("@")[0]
        if creds:  # also each piece between : and @: a driver may read "PASS@WORD" as password "PASS", host "WORD@..."
            secrets += [creds] + creds.split(":", 1) + re.split(r"[:@]", creds)
        query = url.partition("?")[2]
        secrets += [v for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() in SECRET_QUERY_KEYS]
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        secrets += [parsed.password, parsed.username]
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL; urllib's reading above
        pass
    flat = [str(x) for x in secrets if x]
    flat += [unquote(x) for x in flat]
    return sorted({x for x in flat if len(x) >= 2}, key=len, reverse=True)


def scrub_secrets(text: str, url: str) -> str:
    """`text` (an error from a database driver, say) with the URL's credentials replaced by ***."""
    if not url:
        return text
    safe = _safe_url(url)
    pieces = text.replace(url, "\0").split("\0")  # the URL itself becomes its safe form, untouched below
    for secret in _url_secrets(url):
        pieces = [piece.replace(secret, "***") for piece in pieces]
    return safe.join(pieces)


# ============================================================================ the study
@dataclass
class TuneResult:
    study_name: str
    storage: str
    trials: list[dict[str, Any]] = field(default_factory=list)  # trial_rows() of the whole study
    best: dict[str, Any] | None = None  # the best COMPLETE trial's row
    best_design_path: str | None = None
    interrupted: bool = False
    wall_time_s: float = 0.0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials:
            out[t["state"]] = out.get(t["state"], 0) + 1
        return out


def make_pruner(name, n_startup_trials: int = 2):
    """median (Optuna's MedianPruner: after 2 finished trials, from epoch 2 on, stop a trial whose
    val_loss is worse than the median of earlier trials at the same epoch) | asha (asynchronous
    successive halving: rungs at epochs 1, 3, 9..., keeps the best third) | none. An Optuna pruner
    object is used as is."""
    import optuna

    if isinstance(name, optuna.pruners.BasePruner):
        return name

    if name == "median":
        # Prune from the second epoch on, once n_startup_trials trials have finished.
        return optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=2)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise SearchSpaceError(f"unknown pruner {name!r}: choose {' | '.join(PRUNERS)}")


def trial_rows(study) -> list[dict[str, Any]]:
    """One plain dict per trial (number, state, value, params, run, error, epochs, val_rmse...)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        ua = t.user_attrs
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "params": dict(t.params),
                "run": ua.get("run"),
                "error": ua.get("error") or t.system_attrs.get("fail_reason"),
                "epochs": ua.get("epochs"),
                "val_rmse": ua.get("val_rmse"),
                "val_persistence_rmse": ua.get("val_persistence_rmse"),
                "pruned_at": ua.get("pruned_at"),
                "worker": ua.get("worker"),
                "duration_s": (t.datetime_complete - t.datetime_start).total_seconds()
                if t.datetime_complete and t.datetime_start
                else None,
            }
        )
    return rows


def tune(
    project: Project,
    data,
    n_trials: int,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    out_dir: str | Path = "runs",
    pruner="median",
    overrides: dict[str, Any] | None = None,
    seed: int | None = None,
    timeout: float | None = None,
    best_path: str | Path | None = None,
    on_metric: Callable[[int, dict], None] | None = None,
    on_trial: Callable[[dict], None] | None = None,
    stop_event=None,
) -> TuneResult:
    """Run `n_trials` trials of this worker on a (possibly shared) study; returns the TuneResult with
    every trial of the study and writes the best design to `best_path` (default
    `<out>/<study>-best.rnn.json`).

    data       DataSpec (or its dict), as for engine.training.train.train
    overrides  training settings for every trial (e.g. {"epochs": 5, "max_steps": 100}); searched
               settings win over them
    on_metric  called with (trial number, metrics record) for every record of every trial
    on_trial   called with the trial's row when a trial ends
    stop_event set() it to stop after the current trial's next step (the trial is cancelled, the study
               stops)
    Raises SearchSpaceError / StorageError / DataError (one line) before the first trial.
    """
    import optuna  # noqa: F401 - a missing Optuna fails here, before anything else

    from ..data import DataError, DataSpec
    from .train import TrainConfig

    space = parse_search(project)
    TrainConfig.from_project(project, overrides)  # a bad override is an error before any trial
    if n_trials < 1:
        raise SearchSpaceError(f"the number of trials must be >= 1, received {n_trials}")
    spec = data if isinstance(data, DataSpec) else DataSpec.from_dict(data or {})
    if spec.path is None and spec.demo is None:
        raise DataError("no data: give --data FILE or --demo sine|chaos")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    storage_url = storage or default_storage(out)
    study_name = study_name or project.name
    study = _open_study(project, space, storage_url, study_name, pruner, seed)
    objective = _Objective(project, space, spec, out, study_name, storage_url, overrides, on_metric, stop_event)
    t0 = time.perf_counter()
    try:
        study.optimize(
            objective,
            n_trials=n_trials,
            timeout=timeout,
            catch=(TrialError,),
            callbacks=[_after_trial(on_trial, stop_event)],
            gc_after_trial=False,
        )
    except _Cancelled:
        objective.interrupted = True
    except KeyboardInterrupt:
        objective.interrupted = True
    result = TuneResult(
        study_name,
        _safe_url(storage_url),
        trial_rows(study),
        interrupted=objective.interrupted,
        wall_time_s=time.perf_counter() - t0,
    )
    _save_best(project, result, study_name, Path(best_path) if best_path else None, out)
    return result


def _after_trial(on_trial, stop_event):
    """The study's callback after each trial: hand its row to `on_trial`; stop the study once `stop_event` is set."""

    def callback(study_, frozen) -> None:
        if on_trial is not None:
            rows = [r for r in trial_rows(study_) if r["number"] == frozen.number]
            if rows:
                on_trial(rows[0])
        if stop_event is not None and stop_event.is_set():
            study_.stop()

    return callback


def _open_study(project: Project, space: list[SearchParam], storage_url: str, study_name: str, pruner, seed):
    """Create the study, or load it when it exists (or another worker created it at the same moment)."""
    import optuna

    pruner_obj = make_pruner(pruner)
    store = open_storage(storage_url)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    study = None
    for attempt in range(5):  # two workers creating the same study at once: one wins, the other loads
        try:
            study = optuna.create_study(
                study_name=study_name,
                storage=store,
                direction="minimize",
                sampler=sampler,
                pruner=pruner_obj,
                load_if_exists=True,
            )
            break
        except optuna.exceptions.DuplicatedStudyError:
            time.sleep(0.2 * (attempt + 1))
    if study is None:
        study = optuna.load_study(study_name=study_name, storage=store, sampler=sampler, pruner=pruner_obj)
    if study.user_attrs.get("space") is None:
        try:
            study.set_user_attr("space", {p.key: p.describe() for p in space})
            study.set_user_attr("design", project.to_dict())
        except Exception:  # noqa: BLE001 - informative only
            pass
    return study


def _save_best(project: Project, result: TuneResult, study_name: str, best_path: Path | None, out: Path) -> None:
    """The best COMPLETE trial into `result.best`, and its design written out (if any trial completed)."""
    complete = [r for r in result.trials if r["state"] == "COMPLETE" and r["value"] is not None]
    if not complete:
        return
    best = min(complete, key=lambda r: r["value"])
    result.best = best
    path = best_path or out / best_design_filename(study_name)
    result.best_design_path = str(write_best_design(project, best, study_name, path))


def best_design_filename(study_name: str | None) -> str:
    return f"{_safe_name(study_name or 'study')}-best.rnn.json"


def write_best_design(project: Project, best: dict[str, Any], study_name: str | None, path: Path) -> Path:
    """The study's design with the best trial's params (no search section), named '<name>-best' and carrying
    the trial it came from, written atomically to `path` (the CLI's tune and the GUI's Tune tab both)."""
    info = {
        "study": study_name,
        "trial": best["number"],
        "value": best["value"],
        "run": best["run"],
        "params": best["params"],
    }
    design = best_design(project, best["params"], info)
    design.name = f"{project.name}-best"
    atomic_write_text(path, design.to_json())
    return path


class _Objective:
    """One trial: sample a design, train it into its own run folder, and return its val_loss (or record why not)."""

    def __init__(self, project, space, spec, out, study_name, storage_url, overrides, on_metric, stop_event) -> None:
        import os
        import socket

        self.project, self.space, self.spec, self.out = project, space, spec, out
        self.study_name, self.storage_url = study_name, storage_url
        self.on_metric, self.stop_event = on_metric, stop_event
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.base_overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        self.interrupted = False  # a trial was cancelled (Ctrl-C / stop_event)

    def __call__(self, trial) -> float:
        from .runs import new_run_dir

        trial.set_user_attr("worker", self.worker)
        params = suggest_params(trial, self.space)
        design, searched = self.sampled_design(trial, params)
        rd = new_run_dir(self.out, f"{self.study_name}-t{trial.number}")
        trial.set_user_attr("run", str(rd))
        pruned: dict[str, int] = {}
        summary = self.train(trial, design, searched, rd, pruned)
        state = self.record(trial, summary, params, rd, pruned)
        return self.value(trial, summary, state, pruned)

    def sampled_design(self, trial, params: dict[str, Any]) -> tuple[Project, dict[str, Any]]:
        """The design with the trial's values; a design that breaks a shape rule fails the trial."""
        from ..design.shapes import check

        design, searched = apply_params(self.project, params)
        res = check(design)
        if not res.ok:
            msg = "invalid design: " + "; ".join(p.message for p in res.errors)
            trial.set_user_attr("error", msg)
            raise TrialError(msg)
        return design, searched

    def train(self, trial, design: Project, searched: dict[str, Any], rd, pruned: dict[str, int]) -> dict:
        """Train the trial's run, every epoch's val_loss reported to the pruner (`pruned` gets the epoch it stopped)."""
        from .runs import RunError
        from .train import TrainError, train

        ev = threading.Event()
        stop_event, on_metric = self.stop_event, self.on_metric

        class _Stop:  # the trial's stop: pruned, or the caller's stop_event
            def is_set(self) -> bool:
                return ev.is_set() or (stop_event is not None and stop_event.is_set())

        def metric(raw: dict) -> None:
            rec: Any = parse_record(raw)
            if rec is not None and rec["kind"] == KIND_EPOCH and rec.get("val_loss") is not None:
                trial.report(float(rec["val_loss"]), int(rec["epoch"]))
                if trial.should_prune() and not ev.is_set():
                    pruned["epoch"] = int(rec["epoch"])
                    ev.set()
            if on_metric is not None:
                on_metric(trial.number, raw)

        try:
            return train(
                design, self.spec, {**self.base_overrides, **searched}, run_dir=rd, stop_event=_Stop(), on_metric=metric
            )
        except (ValueError, RunError, TrainError) as e:  # DataError, ConfigError, DesignError
            msg = str(e)
            trial.set_user_attr("error", msg)
            raise TrialError(msg) from None

    def record(self, trial, summary: dict, params: dict[str, Any], rd, pruned: dict[str, int]) -> str:
        """The trial's figures as user attributes and a "tune" entry in its summary.json; returns its state."""
        reason = summary.get("stop_reason", "")
        trial.set_user_attr("epochs", summary.get("epochs_completed"))
        for k in ("val_rmse", "val_persistence_rmse", "val_accuracy", "test_rmse", "test_accuracy"):
            if summary.get(k) is not None:
                trial.set_user_attr(k, summary[k])
        state = "complete"
        if pruned and reason == STOP_CANCELLED:
            state = "pruned"
            trial.set_user_attr("pruned_at", pruned["epoch"])
        elif reason == STOP_CANCELLED:
            state = "cancelled"
        summary["tune"] = {
            "study": self.study_name,
            "storage": _safe_url(self.storage_url),
            "trial": trial.number,
            "state": state,
            "params": params,
        }
        atomic_write_text(Path(rd) / "summary.json", json.dumps(summary, indent=2) + "\n")
        return state

    def value(self, trial, summary: dict, state: str, pruned: dict[str, int]) -> float:
        """The trial's val_loss; a pruned, cancelled, diverged or epoch-less trial raises instead."""
        import optuna

        reason = summary.get("stop_reason", "")
        if state == "pruned":
            raise optuna.TrialPruned(f"pruned at epoch {pruned['epoch']}")
        if state == "cancelled":
            self.interrupted = True
            trial.set_user_attr("error", "cancelled")
            raise _Cancelled()
        value = summary.get("val_loss")
        if is_diverged(reason) or reason == STOP_OUT_OF_MEMORY:
            msg = f"{reason}: {summary.get('message') or ''}".strip(": ")
            trial.set_user_attr("error", msg)
            raise TrialError(msg)
        if value is None or not math.isfinite(value):
            msg = f"no validation loss: the trial ended ({reason}) before its first epoch finished" + (
                ": raise max_steps to at least one epoch" if reason == "max steps reached" else ""
            )
            trial.set_user_attr("error", msg)
            raise TrialError(msg)
        return float(value)


class _Cancelled(Exception):
    """The user stopped the study (Ctrl-C / stop_event) during a trial."""


def _safe_name(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", name).strip("-.") or "study"
