"""The Tune tab: trials of an Optuna study listed live, value-vs-param scatter, open the best design."""

from .panel import TunePanel, fetch_study

__all__ = ["TunePanel", "fetch_study"]
