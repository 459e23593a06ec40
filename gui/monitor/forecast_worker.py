"""What the Forecast view runs in its worker *process* (no Qt here: the child imports only the engine).

A forecast in a thread of the editor's process held the GIL for most of its 50-100 ms (the plan, the
reader, the recursive steps are Python), and the window's 60 Hz timer missed ticks for that long
(tests/benchmarks/bench_forecast_view.py). In a process of its own it costs the editor nothing but the
pickled result. `call` catches the engine's one-line errors in the child, so only plain values travel.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def engine_errors() -> tuple[type[BaseException], ...]:
    """The engine's one-line errors (bad data, design, settings, run folder), as the CLI catches them
    (rnn_studio/commands/training.py), plus OSError (a file that vanished): shown as they are."""
    from rnn_studio.engine.data import DataError
    from rnn_studio.engine.design.compile import DesignError
    from rnn_studio.engine.training.runs import RunError
    from rnn_studio.engine.training.train import ConfigError, TrainError

    return (DataError, DesignError, RunError, ConfigError, TrainError, OSError)


def call(fn: Callable[..., Any], args: tuple) -> tuple[Any, str]:
    """(fn(*args), '') or (None, the one-line error). Never raises."""
    try:
        return fn(*args), ""
    except engine_errors() as e:
        return None, (str(e).splitlines()[0] if str(e) else type(e).__name__)
    except Exception as e:  # a bug is still one line in the view, never a hung or crashed window
        return None, f"{getattr(fn, '__name__', 'the call')} failed ({type(e).__name__}: {e})"


def warm_up() -> bool:
    """Import what a forecast needs (torch among it) while nobody waits for one."""
    import rnn_studio.engine.forecasting.forecast  # noqa: F401

    return True


def compute_forecast(run: Path, spec: dict[str, Any], steps: int | None, level: float | None):
    """engine.forecasting.forecast.forecast_run on the run's best checkpoint (`level` None: the run's own intervals,
    as `rnn-studio forecast` without --level)."""
    from rnn_studio.engine.data import DataSpec
    from rnn_studio.engine.forecasting.forecast import forecast_run

    return forecast_run(run, DataSpec.from_dict(spec), steps=steps, level=level, checkpoint="best")
