"""Live training monitor: pyqtgraph plots fed from a run's metrics.jsonl, redrawn at a bounded rate."""
