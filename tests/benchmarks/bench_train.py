"""Training benchmark (a plain script, not collected by pytest): `python tests/benchmarks/bench_train.py`.

Prints, measured side by side in one process run, medians of repeated interleaved runs:
  1. step throughput of the compiled seed PyTorch design (assets/examples/seed-pytorch.rnn.json:
     biLSTM64 x2 layers, biLSTM64 x2, biGRU64 x2, Dense 1; batch 64, 50 steps) vs the equivalent
     hand-written nn.Module - target ratio >= 0.97; on CPU, and on CUDA where available;
  2. the cost of metric collection (per-block gradient norms at the default interval) - target < 3%:
     the engine's own training loop with grad_every=default vs grad_every=0, and the direct cost of one
     batched per-block norm read amortized over the interval;
  3. peak memory (ru_maxrss of this process, tracemalloc peak while preparing data) and the size of the
     data the trainer holds vs what materialized windows would take.

Options: --repeats N (default 7), --threads N (default: engine.training.train.default_threads()).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from rnn_studio.engine import build_model, load_project  # noqa: E402
from rnn_studio.engine.data import DataSpec, load_dataset  # noqa: E402
from rnn_studio.engine.training.train import TrainConfig, _GradNorms, default_threads, train  # noqa: E402

SEED = ROOT / "assets" / "examples" / "seed-pytorch.rnn.json"
BATCH, STEPS, T, F, H = 64, 50, 10, 1, 64


class HandWritten(nn.Module):
    """What a PyTorch user would write for the seed design."""

    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTM(F, H, num_layers=2, batch_first=True, bidirectional=True)
        self.lstm2 = nn.LSTM(2 * H, H, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(2 * H, H, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * H, 1)

    def forward(self, x):  # (B, T, F)
        x, _ = self.lstm1(x)  # (B, T, 2H)
        x, _ = self.lstm2(x)  # (B, T, 2H)
        _, h = self.gru(x)  # h: (2*2, B, H)
        return self.fc(torch.cat([h[-2], h[-1]], dim=-1))  # (B, 1)


def steps_per_s(model, batches, device) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for x, y in batches[:3]:  # warm-up
        step(x, y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for x, y in batches[:STEPS]:
        step(x, y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return STEPS / (time.perf_counter() - t)


def throughput(device, repeats: int) -> tuple[float, float]:
    torch.manual_seed(0)
    batches = [(torch.randn(BATCH, T, F, device=device), torch.randn(BATCH, 1, device=device)) for _ in range(STEPS)]
    project = load_project(SEED)
    ours, hand = [], []
    for r in range(repeats):  # interleaved, alternating order, fresh models each time
        torch.manual_seed(r)
        m_ours = build_model(project).to(device)
        m_hand = HandWritten().to(device)
        pair = [(m_ours, ours), (m_hand, hand)]
        for model, out in pair if r % 2 == 0 else pair[::-1]:
            out.append(steps_per_s(model, batches, device))
    return statistics.median(ours), statistics.median(hand)


def metric_overhead(repeats: int, device: str) -> tuple[float, float, float, int]:
    """(median train-loop seconds per step with grad norms at the default interval, without, direct cost
    fraction of one per-block norm read amortized over the interval, interval)."""
    project = load_project(SEED)
    interval = TrainConfig().grad_every
    with_n, without = [], []
    with tempfile.TemporaryDirectory() as tmp:
        spec = DataSpec(demo="chaos", demo_rows=2000)
        train(project, spec, {"epochs": 1, "grad_every": interval, "device": device}, out_dir=tmp)  # warm-up
        for r in range(repeats):
            order = [(interval, with_n), (0, without)]
            for every, out in order if r % 2 == 0 else order[::-1]:
                recs = []
                train(
                    project,
                    spec,
                    {"epochs": 2, "grad_every": every, "device": device},
                    out_dir=tmp,
                    on_metric=recs.append,
                )
                ep = [x for x in recs if x["kind"] == "epoch"]
                steps = sum(1 for x in recs if x["kind"] == "step")
                out.append(sum(x["train_time_s"] for x in ep) / steps)
    # direct cost: one batched per-block norm pass + one host read, vs one training step
    dev = torch.device(device)
    model = build_model(project).to(dev)
    norms = _GradNorms(model)
    x, y = torch.randn(BATCH, T, F, device=dev), torch.randn(BATCH, 1, device=dev)
    nn.functional.mse_loss(model(x), y).backward()
    for _ in range(5):
        norms.compute().tolist()
    t = time.perf_counter()
    n = 200
    for _ in range(n):
        norms.compute().tolist()
    per_read = (time.perf_counter() - t) / n
    step_s = statistics.median(without)
    return statistics.median(with_n), step_s, per_read / interval / step_s, interval


def memory() -> dict[str, float]:
    project = load_project(SEED)
    tracemalloc.start()
    ds = load_dataset(DataSpec(demo="chaos", demo_rows=100_000), project)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    held = ds.x.element_size() * ds.x.nelement() + ds.y.element_size() * ds.y.nelement()
    n_windows = sum(ds.size(s) for s in ds.index)
    materialized = n_windows * ds.lookback * ds.x.shape[1] * 4
    return {
        "prep_peak_mb": peak / 2**20,
        "held_mb": held / 2**20,
        "materialized_mb": materialized / 2**20,
        "rows": ds.x.shape[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=default_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, CPU threads {args.threads}, seed design {SEED.name}, batch {BATCH}, "
        f"{STEPS} steps, median of {args.repeats}"
    )
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"{'device':<8} {'compiled steps/s':>17} {'hand-written':>13} {'ratio':>7}  (target >= 0.97)")
    for dev in devices:
        ours, hand = throughput(dev, args.repeats)
        print(f"{dev.type:<8} {ours:>17.1f} {hand:>13.1f} {ours / hand:>7.3f}")
    for dev in devices:
        with_n, without, direct, interval = metric_overhead(max(3, args.repeats // 2), dev.type)
        torch.set_num_threads(args.threads)  # train() sets its own thread count; restore ours
        print(
            f"metric overhead on {dev.type}: training loop {with_n * 1e3:.2f} ms/step with grad norms every "
            f"{interval} steps vs {without * 1e3:.2f} ms/step without: {100 * (with_n / without - 1):+.2f}% "
            f"(noise included); direct cost of the per-block norm read: {100 * direct:.3f}% of step time "
            f"(target < 3%)"
        )
    m = memory()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"memory: peak RSS {rss:.0f} MiB (whole benchmark process); data prep peak (tracemalloc) "
        f"{m['prep_peak_mb']:.1f} MiB for {m['rows']:,} rows; trainer holds {m['held_mb']:.2f} MiB of data vs "
        f"{m['materialized_mb']:.1f} MiB if the windows were materialized"
    )


if __name__ == "__main__":
    main()
