"""The `rnn-studio` command: a thin layer over engine, exports and gui (see cli.py)."""
