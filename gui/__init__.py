"""RNN Studio designer (PySide6): a view and an editor over engine's design; it holds no rule of its own.

Entry points: `gui.app.main()` (the `rnn-studio gui` verb) and `gui.main_window.MainWindow`.
"""
