"""Forecasting from a trained run: dated multi-step forecasts past the data, and backtests.

    forecast   forecast_run(run, data) -> Forecast: recent history, dated steps, prediction, bounds
    backtest   run_backtest(design, data, folds): K expanding-window trainings, each a run folder

Imports design, data and training; nothing in the engine imports it.
"""
