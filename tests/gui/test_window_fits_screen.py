"""The window fits the screen it opens on (issue 23, item 3): a 1024x700 screen used to get a 1400x880
window with the Inspector, status bar and half the Train panel off-screen, saved settings or not."""

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication

from rnn_studio.gui.main_window import MainWindow, settings, window_geometry
from rnn_studio.gui.theme import WINDOW_SIZE

SMALL = QRect(0, 0, 1024, 700)


def inside(rect: QRect, screen: QRect) -> bool:
    return screen.contains(rect)


def test_first_start_fits_a_small_screen():
    rect = window_geometry(SMALL)
    assert inside(rect, SMALL) and rect.width() <= 1024 and rect.height() <= 700 - 40  # room for a title bar
    assert rect.width() >= 1000 and rect.height() >= 640  # ... but uses the screen
    assert abs(rect.center().x() - SMALL.center().x()) <= 1


def test_first_start_on_a_big_screen_gets_the_default_size_centred():
    big = QRect(0, 30, 2560, 1410)  # a top panel takes 30 px
    rect = window_geometry(big)
    assert (rect.width(), rect.height()) == WINDOW_SIZE and inside(rect, big)


def test_restored_oversized_geometry_is_clamped_to_the_screen():
    saved = QRect(300, 200, 1400, 880)  # saved on a bigger monitor
    rect = window_geometry(SMALL, saved)
    assert inside(rect, SMALL) and (rect.width(), rect.height()) == (1024, 700)
    offscreen = QRect(3000, -400, 800, 500)  # a monitor that is gone
    rect = window_geometry(SMALL, offscreen)
    assert inside(rect, SMALL) and (rect.width(), rect.height()) == (800, 500)
    fits = QRect(100, 100, 800, 500)
    assert window_geometry(SMALL, fits) == fits  # a geometry that fits is kept as it was


def test_the_window_opens_inside_the_screen(qtbot):
    available = QApplication.primaryScreen().availableGeometry()
    win = MainWindow(autosave=False)
    qtbot.addWidget(win)
    assert inside(win.geometry(), available)
    # a geometry saved on a bigger screen is clamped when restored
    win.setGeometry(QRect(0, 0, available.width() + 900, available.height() + 600))
    settings().setValue("window/geometry", win.saveGeometry())
    restored = MainWindow(autosave=False, restore_state=True)
    qtbot.addWidget(restored)
    assert inside(restored.geometry(), available)
    settings().remove("window/geometry")
