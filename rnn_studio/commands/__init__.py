"""CLI verb groups; see rnn_studio/cli.py."""
