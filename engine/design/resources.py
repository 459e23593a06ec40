"""What a design costs: parameters and an estimate of the memory training needs, against what the machine has.

`check` computes `estimate(project, result)` for every valid design (plain arithmetic over the per-block
shapes and parameter counts it has already found; no torch). `train` and `export` refuse a design the
machine cannot hold *before* allocating anything (exit 2, naming the largest block and the numbers);
`check`, `summary`, the inspector and the status bar show the same figures, as a warning from half the
machine's memory on.

The estimate (float32):
    weights      4 bytes x parameters
    gradients    4 bytes x parameters
    optimizer    8 bytes x parameters for adam / adamw (two moments), 4 for sgd (momentum)
    activations  every block's output for one batch at the design's batch size and sequence length,
                 kept for the backward pass; a recurrent block also keeps its gates for every step
                 (GRU 3, LSTM 4 (+ cell), SimpleRNN 1 per unit, per layer and direction); attention its
                 T x T weights per head.
It is an order-of-magnitude figure (framework workspaces, the data set and fragmentation come on top),
good enough to refuse 10^9 parameters on a 16 GB laptop and to warn before a run dies in the allocator.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field

from .. import limits
from .blocks import CATALOG

FLOAT_BYTES = 4
DEFAULT_BATCH, DEFAULT_LENGTH = 64, 32
WARN_FRACTION = 0.5  # warn from half the machine's memory on
EXPORT_BATCH = 7  # the largest batch export's verification runs (exports/verify.py)


@dataclass
class Resources:
    """Figures for one design, at one batch size and sequence length."""

    parameters: int = 0
    batch_size: int = DEFAULT_BATCH
    length: int = DEFAULT_LENGTH  # time steps per sample used for the activations
    weights_bytes: int = 0
    gradients_bytes: int = 0
    optimizer_bytes: int = 0
    activation_bytes: int = 0  # one training batch
    inference_bytes: int = 0  # weights + one verification batch, without gradients (export)
    largest_block: str | None = None  # the block with the most parameters
    largest_type: str = ""
    largest_parameters: int = 0
    per_block_bytes: dict[str, int] = field(default_factory=dict)  # activations per block

    @property
    def training_bytes(self) -> int:
        return self.weights_bytes + self.gradients_bytes + self.optimizer_bytes + self.activation_bytes

    def largest_text(self) -> str:
        if self.largest_block is None:
            return "the design"
        return f"{self.largest_type} '{limits.excerpt(self.largest_block, 40).strip(chr(39))}'"

    def summary_line(self) -> str:
        """`1,234 parameters; training needs ~12 MB (batch 64, 32 steps)`: check, summary, GUI."""
        return (
            f"{self.parameters:,} parameters; training needs ~{human_bytes(self.training_bytes)} "
            f"(batch {self.batch_size:,}, {self.length:,} steps)"
        )

    def to_dict(self) -> dict:
        return {
            "parameters": self.parameters,
            "batch_size": self.batch_size,
            "length": self.length,
            "weights_bytes": self.weights_bytes,
            "gradients_bytes": self.gradients_bytes,
            "optimizer_bytes": self.optimizer_bytes,
            "activation_bytes": self.activation_bytes,
            "training_bytes": self.training_bytes,
            "inference_bytes": self.inference_bytes,
            "largest_block": self.largest_block,
            "largest_parameters": self.largest_parameters,
        }


def human_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:,.0f} {unit}"
    return f"{int(n)} B"


def _setting_int(training: dict, key: str, default: int) -> int:
    value = training.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return default
    return value


def estimate(project, result, batch_size: int | None = None, optimizer: str | None = None) -> Resources:
    """Figures for a checked design (`result` from `check`): blocks without a shape are skipped."""
    training = project.training if isinstance(project.training, dict) else {}
    batch = batch_size or _setting_int(training, "batch_size", DEFAULT_BATCH)
    in_shape = result.input_shape()
    length = (
        in_shape[1]
        if in_shape is not None and len(in_shape) == 3 and in_shape[1] is not None
        else _setting_int(training, "lookback", DEFAULT_LENGTH)
    )
    res = Resources(parameters=sum(result.param_counts.values()), batch_size=batch, length=length)
    optimizer = optimizer or training.get("optimizer", "adam")
    res.weights_bytes = res.gradients_bytes = res.parameters * FLOAT_BYTES
    res.optimizer_bytes = res.parameters * FLOAT_BYTES * (1 if optimizer == "sgd" else 2)
    blocks = {b.id: b for b in project.blocks}
    per_sample = 0
    for bid, shape in result.shapes.items():
        if shape is None or bid not in blocks:
            continue
        elements = _elements_per_sample(blocks[bid], shape, length)
        res.per_block_bytes[bid] = elements * batch * FLOAT_BYTES
        per_sample += elements
    res.activation_bytes = per_sample * batch * FLOAT_BYTES
    res.inference_bytes = res.weights_bytes + per_sample * EXPORT_BATCH * FLOAT_BYTES
    if result.param_counts:
        bid = max(result.param_counts, key=result.param_counts.get)
        res.largest_block, res.largest_parameters = bid, result.param_counts[bid]
        res.largest_type = blocks[bid].type if bid in blocks else ""
    return res


def _elements_per_sample(block, shape, length: int) -> int:
    """Values one sample leaves in memory for this block's backward pass: its output plus what its type
    keeps besides (BlockDef.saved_per_sample: gate activations, attention maps)."""
    dims = [length if d is None else d for d in shape[1:]]
    definition = CATALOG.get(block.type)
    saved = definition.saved_per_sample(block.resolved(), dims[0] if len(dims) > 1 else length) if definition else 0
    return math.prod(dims) + saved


# ============================================================================ what the machine has
@functools.lru_cache(maxsize=1)
def machine_memory_bytes() -> int | None:
    """Physical RAM (the cgroup's limit when smaller, as in a container); None when unknown."""
    total = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = _meminfo_total()
    cgroup = _cgroup_limit()
    if cgroup is not None and (total is None or cgroup < total):
        total = cgroup
    return total if total and total > 0 else None


def _meminfo_total() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                raw = f.read().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:
            return int(raw)
    return None


def device_memory_bytes(device: str | None) -> tuple[int | None, str]:
    """(memory, what it is) for a training device name: a CUDA device's own memory when training there
    ("cuda", "cuda:N", or "auto" with a GPU), else the machine's RAM. Imports torch only for cuda/auto."""
    name = (device or "auto") if isinstance(device, str) else "auto"
    if name == "auto" or name.startswith("cuda"):
        try:
            import torch

            if torch.cuda.is_available():
                index = int(name.split(":", 1)[1]) if ":" in name else torch.cuda.current_device()
                props = torch.cuda.get_device_properties(index)
                return int(props.total_memory), f"GPU {index} ({props.name}) has"
        except (ImportError, RuntimeError, ValueError, AssertionError):
            pass
    return machine_memory_bytes(), "this machine has"


def fit_message(res: Resources, need: int, have: int | None, where: str, purpose: str) -> tuple[str, str]:
    """("ok" | "warning" | "error", one line) for `need` bytes against `have` (`where`: "this machine has")."""
    if have is None or need <= 0:
        return "ok", ""
    fraction = limits.MEMORY_FRACTION.value()
    total = f" ({_sci(res.parameters)} in all)" if _sci(res.parameters) != _sci(res.largest_parameters) else ""
    line = (
        f"{res.largest_text()}: {_sci(res.largest_parameters)} parameters{total}, "
        f"needs ~{human_bytes(need)} for {purpose}, {where} {human_bytes(have)}"
    )
    smaller = "fewer units, layers or features" + (", a smaller batch_size" if purpose == "training" else "")
    if need > have * fraction:
        return "error", (f"{line}: make the design smaller ({smaller}); {limits.MEMORY_FRACTION.hint()}")
    if need > have * WARN_FRACTION:
        return "warning", f"{line}: more than half of it; training may be slow or fail"
    return "ok", ""


def _sci(n: int) -> str:
    return f"{n:,}" if n < 10_000_000 else f"{n:.2g}".replace("e+0", "e").replace("e+", "e")


def memory_status(res: Resources) -> tuple[str, str]:
    """Training memory against this machine's RAM, without touching a GPU: what `check`, the inspector
    and the status bar show ("warning" from half the memory on; "error": train/export will refuse)."""
    return fit_message(res, res.training_bytes, machine_memory_bytes(), "this machine has", "training")


def training_fit(res: Resources, device: str | None = None) -> tuple[str, str]:
    have, where = device_memory_bytes(device)
    return fit_message(res, res.training_bytes, have, where, "training")


def export_fit(res: Resources) -> tuple[str, str]:
    return fit_message(res, res.inference_bytes * 3, machine_memory_bytes(), "this machine has", "export")
