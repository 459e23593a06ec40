"""How long `engine.check` takes on a 200-block design (target < 5 ms: it runs on every edit), and what the
per-block cost (engine/design/cost.py: MACs, bytes) adds to it (target < 5 ms extra for 200 blocks): check with
the cost step against check with it replaced by a constant, alternating, medians.

Run: .venv/bin/python tests/benchmarks/bench_check.py   (or `make bench`)
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rnn_studio.engine import Block, Project, check  # noqa: E402


def big_design(n_blocks: int = 200) -> Project:
    """A realistic wide-and-deep design: recurrent stages with residual Dense branches."""
    blocks = [Block("x", "Input", {"timesteps": 32, "features": 8})]
    links = []
    cur, i = "x", 0
    while len(blocks) + 4 <= n_blocks - 1:
        i += 1
        r, n, d, a = f"r{i}", f"n{i}", f"d{i}", f"a{i}"
        blocks += [
            Block(r, "GRU" if i % 2 else "LSTM", {"units": 32, "bidirectional": True, "return_sequences": True}),
            Block(n, "LayerNormalization"),
            Block(d, "Dense", {"units": 64, "activation": "gelu"}),
            Block(a, "Add"),
        ]
        links += [(cur, r), (r, n), (n, d), (n, a), (d, a)]
        cur = a
    while len(blocks) < n_blocks - 1:
        blocks.append(Block(f"act{len(blocks)}", "Activation", {"activation": "tanh"}))
        links.append((cur, blocks[-1].id))
        cur = blocks[-1].id
    blocks.append(Block("y", "Dense", {"units": 1}))
    links.append((cur, "y"))
    return Project("big", blocks, links)


def main() -> None:
    for n in (20, 200, 1000):
        p = big_design(n)
        res = check(p)
        assert res.ok, [str(e) for e in res.errors][:3]
        times = []
        for _ in range(200 if n <= 200 else 30):
            t0 = time.perf_counter()
            check(p)
            times.append((time.perf_counter() - t0) * 1000)
        print(
            f"check() on {len(p.blocks):5d} blocks: median {statistics.median(times):6.2f} ms, "
            f"min {min(times):6.2f} ms, max {max(times):6.2f} ms"
        )


def cost_overhead(n_blocks: int = 200, rounds: int = 300) -> None:
    """check() with and without the cost step, alternating so both see the same machine load."""
    from rnn_studio.engine.design import shapes
    from rnn_studio.engine.design.cost import BlockCost

    p = big_design(n_blocks)
    real, constant = shapes.block_cost, BlockCost()
    with_cost, without = [], []
    for _ in range(rounds):
        for sink, fn in ((with_cost, real), (without, lambda *a, **k: constant)):
            shapes.block_cost = fn
            t0 = time.perf_counter()
            check(p)
            sink.append((time.perf_counter() - t0) * 1000)
    shapes.block_cost = real
    a, b = statistics.median(with_cost), statistics.median(without)
    print(
        f"cost per block on {len(p.blocks)} blocks: check() {a:.2f} ms with it, {b:.2f} ms without: "
        f"+{a - b:.3f} ms ({(a - b) / b:+.0%}); fastest runs {min(with_cost):.2f} vs {min(without):.2f} ms: "
        f"+{min(with_cost) - min(without):.3f} ms"
    )


if __name__ == "__main__":
    main()
    cost_overhead()
