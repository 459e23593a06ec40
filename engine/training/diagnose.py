"""Spot training trouble in the metrics stream: exploding, vanishing or non-finite gradient norms.

Qt-free so the monitor (which highlights the plot and the block on the canvas) and scripts share it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass
class Alert:
    kind: str  # "exploding" | "vanishing" | "nonfinite"
    block: str | None
    step: int
    value: float
    message: str


class GradWatch:
    """Feed per-block gradient norms step by step; get alerts once per block and kind.

    exploding: a block's norm jumps above `jump` x the median of its recent history (default 100x,
    "orders of magnitude"); vanishing: a block's norm stays below `tiny` for `patience` readings while
    the largest block norm is healthy; nonfinite: NaN or inf.
    """

    def __init__(self, jump: float = 100.0, tiny: float = 1e-7, patience: int = 5, history: int = 20):
        self.jump, self.tiny, self.patience = jump, tiny, patience
        self.hist: dict[str, deque] = {}
        self.low: dict[str, int] = {}
        self.raised: set[tuple[str, str]] = set()
        self._history = history

    def feed(self, step: int, norms: dict[str, float]) -> list[Alert]:
        alerts = []
        finite = [v for v in norms.values() if isinstance(v, (int, float)) and math.isfinite(v)]
        top = max(finite, default=0.0)
        for block, v in norms.items():
            if v is None or not math.isfinite(v):
                alerts += self._raise(
                    "nonfinite",
                    block,
                    step,
                    float("nan") if v is None else v,
                    f"gradient norm of '{block}' is not finite at step {step}",
                )
                continue
            h = self.hist.setdefault(block, deque(maxlen=self._history))
            if len(h) >= 3:
                med = sorted(h)[len(h) // 2]
                if med > 0 and v > self.jump * med:
                    alerts += self._raise(
                        "exploding",
                        block,
                        step,
                        v,
                        f"gradient norm of '{block}' jumped to {v:.3g} at step {step} "
                        f"({v / med:.0f}x its recent median {med:.3g}): lower the lr or "
                        f"set gradient clipping",
                    )
            h.append(v)
            if v < self.tiny and top > 1e-3:
                self.low[block] = self.low.get(block, 0) + 1
                if self.low[block] >= self.patience:
                    alerts += self._raise(
                        "vanishing",
                        block,
                        step,
                        v,
                        f"gradient norm of '{block}' has vanished ({v:.1e}) since step "
                        f"{step}: the block no longer learns; try normalization, a "
                        f"different initializer or fewer stacked layers",
                    )
            else:
                self.low[block] = 0
        return alerts

    def _raise(self, kind, block, step, value, message) -> list[Alert]:
        if (kind, block) in self.raised:
            return []
        self.raised.add((kind, block))
        return [Alert(kind, block, step, value, message)]
