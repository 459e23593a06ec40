"""`engine.check` grows linearly with the number of blocks, also when most of them are not linked
(issue #15: `sorted(lonely, key=list(blocks).index)` made 40,000 unlinked blocks take 13.8 s).

Prints the median time per size and the ratio to the 10,000-block time: a linear check gives about 2x
and 4x for 20,000 and 40,000 blocks (quadratic: 4x and 16x).

Run: .venv/bin/python tests/benchmarks/bench_check_scaling.py
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rnn_studio.engine import Block, Project, check


def design(n_blocks: int, linked: bool) -> Project:
    blocks = [Block("x", "Input", {"timesteps": 8, "features": 2})]
    blocks += [Block(f"d{i}", "Dense", {"units": 2}) for i in range(n_blocks)]
    links = [("x", "d0")] + ([(f"d{i}", f"d{i + 1}") for i in range(n_blocks - 1)] if linked else [])
    return Project("scaling", blocks, links)


def median_seconds(project: Project, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        check(project)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    for linked in (False, True):
        base = None
        for n in (10_000, 20_000, 40_000):
            t = median_seconds(design(n, linked))
            base = base or t
            print(
                f"{'chain   ' if linked else 'unlinked'} {n:>6} blocks: {t * 1000:8.0f} ms"
                f"  ({t / base:.1f}x the 10k time)"
            )


if __name__ == "__main__":
    main()
