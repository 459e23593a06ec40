from rnn_studio.engine.training.diagnose import GradWatch


def test_exploding_vanishing_and_nonfinite_are_flagged_once():
    w = GradWatch()
    alerts = []
    for step in range(10):
        alerts += w.feed(step, {"g": 1.0 + 0.01 * step, "l": 0.5, "y": 0.1})
    assert alerts == []
    alerts = w.feed(10, {"g": 500.0, "l": 0.5, "y": 0.1})
    assert [(a.kind, a.block, a.step) for a in alerts] == [("exploding", "g", 10)]
    assert "lower the lr" in alerts[0].message
    assert w.feed(11, {"g": 900.0, "l": 0.5, "y": 0.1}) == []  # once per block and kind
    got = []
    for step in range(12, 20):
        got += w.feed(step, {"g": 1.0, "l": 1e-9, "y": 0.1})
    assert [(a.kind, a.block) for a in got] == [("vanishing", "l")]
    nan = w.feed(21, {"g": float("nan"), "l": 0.1, "y": float("inf")})
    assert sorted((a.kind, a.block) for a in nan) == [("nonfinite", "g"), ("nonfinite", "y")]
