"""Runs followed at once share one frame clock (gui/monitor/follower.py, issue 23): every monitor still
redraws at about REDRAW_HZ, and one turn of the event loop never polls and redraws two of them (four
windows' own 15 Hz timers fell due together and ran back to back)."""

import time

from rnn_studio.gui.app import create_app
from rnn_studio.gui.monitor.follower import REDRAW_HZ, FrameClock, FrameSlot


class CountingClock(FrameClock):
    """The clock, counting its turns."""

    def __init__(self):
        super().__init__()
        self.turns = 0

    def turn(self) -> None:
        self.turns += 1
        super().turn()


def test_four_followed_runs_tick_at_the_redraw_rate_one_per_turn(qtbot, monkeypatch):
    create_app()
    clock = CountingClock()
    monkeypatch.setattr(FrameClock, "_shared", clock)
    ticks: list[tuple[int, int]] = []  # (turn, monitor)
    slots = [FrameSlot(lambda i=i: ticks.append((clock.turns, i))) for i in range(4)]
    for slot in slots:
        slot.start()
    t0 = time.monotonic()
    qtbot.wait(2000)
    seconds = time.monotonic() - t0
    for slot in slots:
        slot.stop()
    assert not clock.timer.isActive() and not any(s.isActive() for s in slots)
    per_turn = [t for t, _ in ticks]
    assert len(per_turn) == len(set(per_turn))  # never two monitors in one turn
    for i in range(4):
        rate = sum(1 for _, m in ticks if m == i) / seconds
        assert 0.7 * REDRAW_HZ <= rate <= 1.1 * REDRAW_HZ, (i, rate)


def test_a_monitor_destroyed_while_following_leaves_the_clock(qtbot):
    from PySide6 import QtCore

    create_app()
    owner = QtCore.QObject()
    slot = FrameSlot(lambda: owner.objectName())
    owner.destroyed.connect(slot.stop)
    slot.start()
    assert slot in FrameClock.shared().slots
    owner.deleteLater()
    qtbot.waitUntil(lambda: slot not in FrameClock.shared().slots, timeout=2000)
    assert not slot.isActive()
