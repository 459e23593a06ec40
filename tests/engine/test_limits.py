"""Limits, short quotes, settings validation, resource figures and URL masking, in-process (issue #15).

The end-to-end cases (real CLI processes) are in test_hostile_inputs.py; here the pieces and a broad
sweep of mutated designs through `rnn_studio.cli.main`, which is fast enough for hundreds of cases.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnn_studio.cli import main
from rnn_studio.engine import CATALOG, check, load_project
from rnn_studio.engine.design.project import ProjectFormatError
from rnn_studio.engine.design.resources import estimate, human_bytes
from rnn_studio.engine.design.settings import validate_training
from rnn_studio.engine.limits import excerpt, quote

from .hostile import design, write

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------- short quotes
def test_excerpt_is_short_whatever_the_value():
    assert excerpt(list(range(2_000_000))) == "[0, 1, 2, 3, 4, 5, ...] (2,000,000 items)"
    long = excerpt("a" * 100_000)
    assert len(long) < 150 and long.endswith("(100,000 characters)")
    assert excerpt(10**20_000) == "a number of about 20,000 digits"
    assert excerpt("x\n") == "'x\\n'" and excerpt(None) == "null" and excerpt(True) == "true"
    assert quote("GRU") == '"GRU"' and quote([1, 2]) == "[1, 2]"


def test_param_errors_quote_a_short_excerpt(tmp_path):
    data = design()
    data["blocks"][1]["params"]["units"] = "u" * 1_000_000
    res = check(load_project(write(tmp_path / "d.rnn.json", data)))
    (message,) = [p.message for p in res.errors]
    assert message.startswith("GRU 'g': units must be a whole number, received 'uuu") and len(message) < 200


# ---------------------------------------------------------------------------- settings
def test_settings_tuples_match_the_training_module():
    from rnn_studio.engine.design import settings
    from rnn_studio.engine.training import train

    assert settings.OPTIMIZERS == train.OPTIMIZERS and settings.SCHEDULES == train.SCHEDULES
    assert settings.LOSSES == train.LOSSES and settings.PRECISIONS == train.PRECISIONS


def test_default_training_config_is_valid():
    from rnn_studio.engine.training.train import TrainConfig

    assert validate_training(TrainConfig().to_dict()) == []


@pytest.mark.parametrize(
    "values, line",
    [
        ({"device": "meta"}, "training.device must be auto | cpu | cuda | cuda:N | mps, received 'meta'"),
        (
            {"seed": 2**64},
            ("training.seed must be a whole number from 0 to 9,223,372,036,854,775,807, received 18446744073709551616"),
        ),
        ({"lr": math.nan}, "training.lr must be a number > 0, received nan"),
        (
            {"split": [math.nan] * 3},
            (
                "training.split must be three fractions train,val,test >= 0 adding up to 1, "
                "train > 0, such as [0.7, 0.15, 0.15], received [nan, nan, nan]"
            ),
        ),
        ({"batch_size": True}, "training.batch_size must be a whole number from 1 to 2,147,483,647, received true"),
    ],
)
def test_one_line_per_bad_setting(values, line):
    assert validate_training(values) == [line]


def test_train_config_refuses_through_settings():
    from rnn_studio.engine.training.train import ConfigError, TrainConfig

    with pytest.raises(ConfigError, match=r"^training.device must be auto \| cpu"):
        TrainConfig.from_project({"device": "meta"})
    assert TrainConfig.from_project({"epochs": 3.0, "schedule": "reduce_on_plateau"}).epochs == 3  # still coerced


def test_train_config_takes_its_values_from_settings():
    """One validator: TrainConfig holds what engine/settings resolves (types, alias, loss for the task)."""
    from rnn_studio.engine.training.train import ConfigError, TrainConfig

    cfg = TrainConfig.from_project({"epochs": 3.0, "lr": 1, "schedule": "reduce-on-plateau", "loss": "cross_entropy"})
    assert (type(cfg.epochs), type(cfg.lr), cfg.schedule) == (int, float, "plateau")
    assert (cfg.task, cfg.loss) == ("classification", "cross_entropy")
    assert (TrainConfig.from_project({}).task, TrainConfig.from_project({}).loss) == ("regression", "mse")
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_project({"task": "regression", "loss": "cross_entropy"})
    assert str(info.value) == "training.loss must be one of mse, mae, huber for regression, received 'cross_entropy'"
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_project({}, {"batch_size": 0})
    assert str(info.value) == "training.batch_size must be a whole number from 1 to 2,147,483,647, received 0"


# ---------------------------------------------------------------------------- resources
def test_estimate_counts_the_model_parameters_and_bytes():
    from rnn_studio.engine import build_model

    project = load_project(ROOT / "assets/examples/seed-pytorch.rnn.json")
    res = check(project)
    figures = res.resources
    assert figures.parameters == sum(p.numel() for p in build_model(project, res).parameters()) == 481_409
    assert figures.weights_bytes == 4 * 481_409 and figures.optimizer_bytes == 8 * 481_409  # adam: two moments
    assert figures.batch_size == 64 and figures.length == 10
    assert figures.largest_block == "lstm2" and figures.training_bytes > 4 * figures.weights_bytes
    sgd = estimate(project, res, batch_size=128, optimizer="sgd")
    assert sgd.optimizer_bytes == 4 * 481_409 and sgd.activation_bytes == 2 * figures.activation_bytes
    assert human_bytes(16_913_168) == "16.9 MB"


def test_check_json_reports_the_figures(capsys):
    assert main(["check", "--json", str(ROOT / "assets/examples/seed-keras.rnn.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["resources"]["parameters"] == 125_185 and out["resources"]["training_bytes"] > 0


# ---------------------------------------------------------------------------- URL masking
@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://user:PASSWORD@host/db", "postgresql://host/db"),
        ("postgresql://user:p@ss@w0rd@host:5432/db", "postgresql://host:5432/db"),
        (
            "postgresql://host/db?user=bob&password=PASSWORD&application_name=x",
            "postgresql://host/db?application_name=x",
        ),
        ("mysql+pymysql://u:P%40SS@h/db", "mysql+pymysql://h/db"),
        ("sqlite:////tmp/a@b.db", "sqlite:////tmp/a@b.db"),
        ("journal:/tmp/j.log", "journal:/tmp/j.log"),
        ("no url at all PASSWORD", "<storage URL hidden: it could not be parsed>"),
    ],
)
def test_safe_url(url, shown):
    from rnn_studio.engine.training.tune import _safe_url

    assert _safe_url(url) == shown


def test_driver_messages_are_scrubbed():
    from rnn_studio.engine.training.tune import scrub_secrets

    url = "postgresql://alice:PASS@WORD@db.example/x"
    text = "could not translate host name 'WORD@db.example' for user alice (PASS) at " + url
    cleaned = scrub_secrets(text, url)
    assert "PASS" not in cleaned and "WORD" not in cleaned and "alice" not in cleaned
    assert cleaned.endswith("postgresql://db.example/x")


def test_refused_postgres_connection_hides_the_password():
    pytest.importorskip("psycopg")
    from rnn_studio.engine.training.tune import StorageError, open_storage

    with pytest.raises(StorageError) as info:
        open_storage("postgresql://alice:SECRET%40PW@127.0.0.1:1/db?password=OTHER", retries=1)
    line = str(info.value)
    assert line.startswith("storage postgresql://127.0.0.1:1/db: cannot open")
    assert "SECRET" not in line and "OTHER" not in line and "alice" not in line and "\n" not in line


# ---------------------------------------------------------------------------- mutated designs, in-process
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.just("x" * 5000),
    st.just(10**60),
    st.just([1] * 1000),
    st.just({"a": {"b": [1]}}),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 1e308, -1e-308, "GRU", "concat", "nan"]),
)
PARAM_SLOTS = [(t, p.name) for t, d in CATALOG.items() for p in d.params]
TRAINING_KEYS = [
    "lr",
    "epochs",
    "batch_size",
    "seed",
    "device",
    "lookback",
    "horizon",
    "split",
    "optimizer",
    "loss",
    "patience",
    "clip_norm",
    "features",
    "early_stopping",
    "threads",
    "precision",
]


def _assert_clean(capsys, argv) -> None:
    code = main(argv)
    out = capsys.readouterr()
    assert code in (0, 2), out.err[-1000:]  # 1 would be an internal error
    assert "Traceback" not in out.err and "internal error" not in out.err
    assert all(len(line) < 700 for line in out.err.splitlines() + out.out.splitlines())


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slot=st.sampled_from(PARAM_SLOTS), value=HOSTILE, key=st.sampled_from(TRAINING_KEYS), setting=HOSTILE)
def test_mutated_designs_never_crash_check(tmp_path, capsys, slot, value, key, setting):
    block_type, name = slot
    data = design(training={key: setting})
    data["blocks"].insert(2, {"id": "m", "type": block_type, "params": {name: value}})
    data["links"] = [["x", "g"], ["g", "m"], ["m", "fc"]]
    path = tmp_path / "m.rnn.json"
    path.write_text(json.dumps(data), encoding="utf-8")  # NaN/Infinity spelt as JSON extensions, as Python writes
    _assert_clean(capsys, ["check", str(path)])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=400), junk=st.text(max_size=8))
def test_damaged_files_give_one_format_error(tmp_path, cut, junk):
    text = json.dumps(design(training={"lr": 0.01}))
    path = tmp_path / "d.rnn.json"
    path.write_text(text[:cut] + junk + text[cut + len(junk) :], encoding="utf-8", errors="surrogatepass")
    try:
        load_project(path)
    except ProjectFormatError as e:
        assert "\n" not in str(e) and len(str(e)) < 400


def test_engine_train_refuses_a_design_too_big_for_the_machine(tmp_path):
    """The designer and the API train through engine.training.train, not the CLI: the memory refusal lives there."""
    from rnn_studio.engine.design.project import Project
    from rnn_studio.engine.training.train import ConfigError, train

    huge = Project.from_dict(
        design(
            blocks=[
                {"id": "x", "type": "Input", "params": {"timesteps": 100_000, "features": 100_000}},
                {"id": "flat", "type": "Flatten"},
                {"id": "big", "type": "Dense", "params": {"units": 65_536}},
            ],
            links=[["x", "flat"], ["flat", "big"]],
        )
    )
    with pytest.raises(ConfigError, match=r"Dense 'big': 6\.6e14 parameters, needs ~.* for training"):
        train(huge, {"demo": "sine"}, out_dir=tmp_path / "runs", install_signal_handlers=False)
    assert not (tmp_path / "runs").exists()
