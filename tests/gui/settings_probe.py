"""Run by tests/gui/test_settings_isolation.py in a child pytest with a fake HOME: a GUI flow that writes
settings the way a person's session would (recent files, last folder, theme, a file dialog's history)."""

from PySide6 import QtWidgets

from rnn_studio.gui.main_window import MainWindow, settings
from tests.conftest import EXAMPLES


def test_gui_flow_writes_settings(qtbot, tmp_path):
    win = MainWindow(autosave=False)
    qtbot.addWidget(win)
    win.open_path(str(EXAMPLES / "seed-keras.rnn.json"))
    settings().setValue("theme", "dark")
    settings().sync()
    dialog = QtWidgets.QFileDialog(win, "Choose data", str(tmp_path))
    dialog.setOption(QtWidgets.QFileDialog.Option.DontUseNativeDialog)
    dialog.open()
    dialog.accept()  # a non-native dialog remembers its folder in QtProject.conf when it goes away
    dialog.deleteLater()
    qtbot.wait(50)
    assert settings().value("recentFiles", [], type=list), "the flow should have recorded a recent file"
