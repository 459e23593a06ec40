"""What a new user saw on a small screen or a first start (issue 23, item 10), as the widgets show it."""

import json
from pathlib import Path

from PySide6.QtWidgets import QStyledItemDelegate

from rnn_studio.engine import load_project
from rnn_studio.gui.main_window import MainWindow

ROOT = Path(__file__).parents[2]
SEED = ROOT / "assets" / "examples" / "seed-keras.rnn.json"


def window(qtbot, project=None) -> MainWindow:
    w = MainWindow(project, autosave=False)
    qtbot.addWidget(w)
    return w


def test_reset_mark_goes_when_the_value_is_back_at_its_default(qtbot):
    w = window(qtbot, load_project(SEED))
    w.scene.select_blocks(["g"])
    field = w.inspector.fields["go_backwards"]
    assert field.reset.isHidden()
    w.set_param("g", "go_backwards", True)
    assert not field.reset.isHidden()
    w.set_param("g", "go_backwards", False)  # toggled back: the default again
    assert field.reset.isHidden()
    w.undo.setClean()


def test_one_block_is_not_one_blocks(qtbot):
    w = window(qtbot)
    w.add_block_smart("Input")
    assert w.status_params.text().endswith("1 block"), w.status_params.text()
    w.undo.setClean()


def test_a_first_start_shows_no_red_error(qtbot):
    w = window(qtbot)
    rows = [w.problems.topLevelItem(i).text(2) for i in range(w.problems.topLevelItemCount())]
    assert rows == ["Empty design: drag an Input block from the palette to start (Shift+A)."]
    assert w.problems.rows() == [] and w.problems_dock.windowTitle() == "Problems"


def test_runs_list_entries_show_the_whole_result(qtbot, tmp_path):
    run = tmp_path / "runs" / "20261206-101500-a-long-design-name"
    run.mkdir(parents=True)
    (run / "project.rnn.json").write_text(SEED.read_text())
    (run / "summary.json").write_text(json.dumps({"stop_reason": "completed", "val_rmse": 13.21456}))
    w = window(qtbot, load_project(SEED))
    panel = w.training.panel
    panel.set_runs_root(tmp_path / "runs")
    item = panel.runs.item(0)
    assert item.text() == f"{run.name}\ncompleted val_rmse=13.21"  # two lines: nothing cut in a narrow column
    rect = panel.runs.visualItemRect(item)
    assert rect.height() >= 2 * panel.runs.fontMetrics().height()


def test_log_to_popup_draws_every_item(qtbot):
    w = window(qtbot, load_project(SEED))
    combo = w.training.panel.log_to
    assert type(combo.itemDelegate()) is QStyledItemDelegate  # the styled popup drew the current item blank
    assert [combo.itemText(i) for i in range(combo.count())] == ["none", "TensorBoard", "MLflow"]


def test_inspector_is_usable_at_1024x700_with_train_open(qtbot):
    w = window(qtbot, load_project(SEED))
    w.resize(1024, 700)
    w.show()
    qtbot.waitExposed(w)
    w.training.show()
    qtbot.wait(50)
    assert w.training.dock.isVisible()
    assert w.inspector_dock.height() >= 0.7 * w.centralWidget().parentWidget().height()


def train_panel_at_default_window(qtbot):
    """The seed design's Train panel at the default window, in the font `rnn-studio` starts with (gui/app.py)."""
    from rnn_studio.gui.theme import WINDOW_SIZE

    return train_panel_at(qtbot, WINDOW_SIZE)[1]


def test_data_tab_shows_the_plan_and_its_controls_together(qtbot):
    """At the default window the Data tab shows the plan and the source / file rows without scrolling."""
    panel = train_panel_at_default_window(qtbot)
    viewport = panel.data_scroll.viewport()
    shown = viewport.rect()
    for widget in (panel.plan_text, panel.source, panel.path_edit):
        top_left = widget.mapTo(viewport, widget.rect().topLeft())
        bottom = widget.mapTo(viewport, widget.rect().bottomLeft())
        assert shown.contains(top_left) and shown.contains(bottom), widget


def test_data_tab_plan_lines_do_not_wrap_at_the_default_window(qtbot):
    panel = train_panel_at_default_window(qtbot)
    label = panel.plan_text
    assert label.heightForWidth(label.width()) == label.heightForWidth(5000)  # as tall as with room to spare


def train_panel_at(qtbot, size):
    """(window, Train panel) of the seed design at `size`, its plan shown, in the app's own font."""
    from PySide6.QtWidgets import QApplication

    from rnn_studio.gui import theme

    QApplication.instance().setFont(theme.ui_font(10))
    w = window(qtbot, load_project(SEED))
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    w.training.show()
    panel = w.training.panel
    qtbot.waitUntil(lambda: panel.plan is not None and panel.plan_text.text() != "", timeout=30_000)
    qtbot.wait(50)
    return w, panel


def test_the_train_panel_fits_a_1024_screen_without_scrolling_sideways(qtbot):
    """At 1024x700 the Train panel needed a sideways scroll on every tab (settings 360 px + a chart column held
    at 652 px by the Forecast tab's one-line controls): now each chart tab fits, its controls wrapping."""
    w, panel = train_panel_at(qtbot, (1024, 700))
    holder = panel.parentWidget().parentWidget()  # the dock's scroll area (viewport, then the area)
    assert type(holder).__name__ == "QScrollArea"
    view = panel.chart_tabs.widget(1)
    for i in range(panel.chart_tabs.count()):
        panel.chart_tabs.setCurrentIndex(i)
        qtbot.wait(30)
        assert holder.horizontalScrollBar().maximum() == 0, panel.chart_tabs.tabText(i)
    panel.chart_tabs.setCurrentIndex(1)  # the Forecast tab's controls take two lines here, one on a big screen
    qtbot.waitUntil(lambda: view.isVisible() and view.width() < 500, timeout=3000)
    assert (
        view.save_button.mapTo(view, view.save_button.rect().topLeft()).y()
        > view.series_box.mapTo(view, view.series_box.rect().topLeft()).y()
    )
    w.resize(1600, 1000)
    top = lambda wd: wd.mapTo(view, wd.rect().topLeft()).y()  # noqa: E731
    qtbot.waitUntil(lambda: top(view.save_button) == top(view.series_box.parentWidget()), timeout=3000)
    w.undo.setClean()


def test_the_settings_column_follows_the_window_until_dragged(qtbot):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    w, panel = train_panel_at(qtbot, (1024, 700))
    small = panel.split.sizes()[0]
    w.resize(1600, 1000)
    qtbot.waitUntil(lambda: panel.split.sizes()[0] > small, timeout=3000)
    assert 300 <= small < panel.split.sizes()[0] <= 460
    handle = panel.split.handle(1)
    centre = handle.rect().center()
    QTest.mousePress(handle, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)
    QTest.mouseMove(handle, centre + QPoint(60, 0))
    QTest.mouseRelease(handle, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre + QPoint(60, 0))
    dragged = panel.split.sizes()[0]
    assert dragged != small
    w.resize(1300, 900)
    qtbot.wait(50)
    assert panel.split.sizes()[0] == dragged  # the person's width is kept
    w.undo.setClean()
