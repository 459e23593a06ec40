"""Training a design: the loop, the run folder it writes, and everything that reads a run.

    train        train() and its steps (setup, TrainState, loop, evaluate/predict a run); the spawned process
    distributed  the same loop under torchrun (DistributedDataParallel as a TrainingStrategy)
    tune         Optuna studies over a design's search space; every trial is a run
    runs         the run folder contract (docs/run-folder.md): paths, LOCK, metrics.jsonl, load_run
    checkpoints  checkpoint files: atomic, versioned, read with weights_only (never unpickle code)
    records      the typed metrics.jsonl records; follow: tail a live metrics.jsonl
    diagnose     gradient health per block (exploding / vanishing)
    tracking     TensorBoard / MLflow loggers fed by the same records
    intervals    split-conformal intervals fitted at training, intervals.json in the run folder

Imports design and data, never the other way round.
"""
