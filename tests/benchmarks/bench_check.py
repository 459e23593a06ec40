"""How long `engine.check` takes on a 200-block design (target < 5 ms: it runs on every edit).

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


if __name__ == "__main__":
    main()
