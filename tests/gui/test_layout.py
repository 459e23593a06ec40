"""Auto-arrange (gui/layout.py, View > Arrange): what a user sees after it, on every example design and on
designs with long links and cycles. Pure Python: no window needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnn_studio.gui.layout import BLOCK_H, BLOCK_W, COL_GAP, LAYER_GAP, layered_layout

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "assets" / "examples").glob("*.rnn.json"))


def design(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    d = json.loads(path.read_text(encoding="utf-8"))
    return [b["id"] for b in d["blocks"]], [(link[0], link[1]) for link in d["links"]]


def rows(pos: dict[str, tuple[float, float]]) -> dict[float, list[float]]:
    by_y: dict[float, list[float]] = {}
    for x, y in pos.values():
        by_y.setdefault(y, []).append(x)
    return by_y


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_flows_down_without_overlaps(path):
    ids, links = design(path)
    pos = layered_layout(ids, links, origin=(100.0, 50.0))
    assert list(pos) == ids
    for src, dst in links:  # every link points down the page
        assert pos[dst][1] > pos[src][1], (src, dst)
    for xs in rows(pos).values():  # blocks on one row keep at least the column gap
        xs.sort()
        assert all(b - a >= BLOCK_W + COL_GAP - 1 for a, b in zip(xs, xs[1:], strict=False))
    assert min(y for _, y in pos.values()) == 50  # the first layer sits at the origin's y


def test_a_long_link_gets_a_lane_and_a_cycle_is_still_arranged():
    # a -> b -> c -> d, and a -> d skipping two layers; d -> a closes a cycle (ignored for the layers)
    links = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("d", "a"), ("ghost", "a"), ("a", "a")]
    pos = layered_layout(["a", "b", "c", "d", "a"], links)
    assert list(pos) == ["a", "b", "c", "d"]
    assert [pos[n][1] for n in "abcd"] == [i * (BLOCK_H + LAYER_GAP) for i in range(4)]
    # the chain is pulled aside so that the long link a -> d has its own lane beside b and c
    assert pos["b"][0] == pos["c"][0] and pos["b"][0] != pos["a"][0]


def test_nothing_to_arrange():
    assert layered_layout([], []) == {}
    assert layered_layout(["only"], [], origin=(10.0, 20.0)) == {"only": (round(10 - BLOCK_W / 2), 20)}
