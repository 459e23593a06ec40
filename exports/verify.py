"""Numerical and structural verification of an exported ONNX model against PyTorch eager.

    verify_onnx(onnx_path, module, input_shape, ...) -> Verification

1. `onnx.checker.check_model(full_check=True)` (types and shapes inferred through the whole graph).
2. Structure: every recurrent block became native ONNX GRU/LSTM/RNN nodes (one per stacked layer,
   bidirectional where the block is; one forward node per direction where the block honours a mask),
   GRU nodes carry linear_before_reset=1 (PyTorch's GRU), and the
   graph holds no Loop/Scan (an unrolled or looped recurrence).
3. onnxruntime (CPU) against the module in eval mode on the same random inputs: batch 1 and an odd
   batch (7), and, where time is dynamic, several lengths (1, 3, the trace length, 37). A design whose
   recurrent blocks honour a padding mask gets padded sequences of mixed lengths (sample_input). The max
   absolute difference per case is recorded; a case fails above `atol` (1e-4 for fp32).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from rnn_studio.engine.design.blocks import CATALOG

RECURRENT_OPS = tuple(sorted({d.onnx_op for d in CATALOG.values() if d.onnx_op}))  # native recurrent operators
LOOP_OPS = ("Loop", "Scan")
DEFAULT_ATOL = 1e-4
BATCH_SIZES = (1, 7)
LENGTHS = (1, 3, 37)  # plus the trace length, for dynamic time


@dataclass
class Case:
    batch: int
    time: int
    max_abs_diff: float
    passed: bool
    max_abs_output: float = 0.0  # largest |PyTorch output|: fp32 error grows with the magnitude


@dataclass
class Verification:
    checker: str = "not run"  # "passed" or the checker's message
    structure_problems: list[str] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    atol: float = DEFAULT_ATOL
    max_abs_diff: float | None = None
    passed: bool = False
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expected_recurrent_nodes(project) -> dict[str, Counter]:
    """{"all": Counter(op -> nodes), "bidirectional": Counter(op -> nodes)} the design should export to."""
    from rnn_studio.engine import check
    from rnn_studio.engine.design.compile import masked_recurrent_blocks

    res = check(project)
    masked = masked_recurrent_blocks(project, res) if res.ok else {}
    blocks = {b.id: b for b in project.blocks}
    total: Counter[str] = Counter()
    bidir: Counter[str] = Counter()
    for bid in res.order:
        b = blocks[bid]
        op = CATALOG[b.type].onnx_op
        if op:
            p = b.resolved()
            if bid in masked:  # one forward node per direction and layer, each reading its own step order
                total[op] += p["num_layers"] * (2 if p["bidirectional"] else 1)
            else:
                total[op] += p["num_layers"]
                if p["bidirectional"]:
                    bidir[op] += p["num_layers"]
    return {"all": total, "bidirectional": bidir}


def op_counts(model_proto) -> dict[str, int]:
    return dict(sorted(Counter(n.op_type for n in model_proto.graph.node).items()))


def structure_problems(model_proto, project) -> list[str]:
    """What is wrong with the graph's recurrent structure (empty = as the design says)."""
    problems = []
    nodes = list(model_proto.graph.node)
    ops = Counter(n.op_type for n in nodes)
    for op in LOOP_OPS:
        if ops.get(op):
            problems.append(
                f"the graph holds {ops[op]} {op} node(s): a recurrence was exported as a loop, "
                f"not as a native GRU/LSTM/RNN operator"
            )
    if project is None:
        return problems
    want = expected_recurrent_nodes(project)
    required = {d.onnx_op: d.onnx_attrs for d in CATALOG.values() if d.onnx_op}
    got_bidir: Counter[str] = Counter()
    for n in nodes:
        if n.op_type not in RECURRENT_OPS:
            continue
        attrs = {a.name: a for a in n.attribute}
        direction = attrs["direction"].s.decode() if "direction" in attrs else "forward"
        if direction == "bidirectional":
            got_bidir[n.op_type] += 1
        for name, value in required[n.op_type]:
            found = attrs[name].i if name in attrs else 0
            if found != value:
                problems.append(f"{n.op_type} node '{n.name}' has {name}={found}; PyTorch's {n.op_type} needs {value}")
    for op in RECURRENT_OPS:
        if ops.get(op, 0) != want["all"].get(op, 0):
            problems.append(
                f"expected {want['all'].get(op, 0)} native {op} node(s) (one per stacked layer; per direction where "
                f"a mask is honoured), found {ops.get(op, 0)}"
            )
        if got_bidir.get(op, 0) != want["bidirectional"].get(op, 0):
            problems.append(
                f"expected {want['bidirectional'].get(op, 0)} bidirectional {op} node(s), found {got_bidir.get(op, 0)}"
            )
    return problems


def make_session(path_or_bytes, threads: int | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    return ort.InferenceSession(
        str(path_or_bytes) if not isinstance(path_or_bytes, bytes) else path_or_bytes,
        sess_options=so,
        providers=["CPUExecutionProvider"],
    )


def sample_input(
    batch: int,
    time: int,
    features: int,
    seed: int,
    mean=None,
    std=None,
    tokens: int | None = None,
    padding: float | None = None,
):
    """A reproducible random input; in raw units when normalization is folded into the graph. `tokens`: the
    design takes integer token ids below this (engine.design.compile.token_vocabulary), 0 (padding) included.
    `padding` (padding_value): the design masks steps equal to it, so the samples get padded sequences of
    mixed lengths: trailing padding, and leading padding in every third sample (lengths 0..time)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    if tokens is not None:
        x = torch.randint(1 if padding is not None else 0, max(tokens, 2), (batch, time, features), generator=g)
        x = x.clamp(max=tokens - 1)
    else:
        x = torch.randn(batch, time, features, generator=g)
        if mean is not None and std is not None:
            x = x * torch.tensor(std, dtype=torch.float32) + torch.tensor(mean, dtype=torch.float32)
    if padding is not None:
        lengths = torch.randint(0, time + 1, (batch,), generator=g).tolist()
        lengths[0] = time - time // 3  # the first sample: trailing padding whenever time >= 3
        for i, n in enumerate(lengths):
            if i % 3 == 2:
                x[i, : time - n] = padding  # leading padding
            else:
                x[i, n:] = padding
    return x


def padding_value(project) -> float | None:
    """The value a masked design's padded steps hold (0 for token ids; the mask-making block's mask_value when
    it reads the Input), or None when no recurrent block honours a padding mask."""
    from rnn_studio.engine import check
    from rnn_studio.engine.design.compile import masked_recurrent_blocks

    res = check(project)
    masked = masked_recurrent_blocks(project, res) if res.ok else {}
    if not masked:
        return None
    source = {b.id: b for b in project.blocks}[next(iter(masked.values()))]
    params = source.resolved()
    if "mask_value" in params and project.inputs_of(source.id) == [res.input_id]:  # marks steps equal to it
        return float(params["mask_value"])
    return 0.0  # token id 0 (Embedding mask_zero)


def cases_for(input_shape, trace_length: int) -> list[tuple[int, int]]:
    _, t, _ = input_shape
    lengths = [t] if t is not None else sorted(set(LENGTHS) | {trace_length})
    return [(b, n) for b in BATCH_SIZES for n in lengths]


def verify_onnx(
    onnx_path,
    module,
    input_shape,
    *,
    project=None,
    atol: float = DEFAULT_ATOL,
    input_name: str = "sequence",
    trace_length: int = 8,
    seed: int = 0,
    input_mean=None,
    input_std=None,
    scale: float = 1.0,
    tokens: int | None = None,
) -> Verification:
    """Check the file at `onnx_path` and compare onnxruntime with `module` (eval mode) on several inputs.

    `scale` widens the tolerance for outputs in large raw units (target de-scaling folded in).
    A case passes when max |onnx - torch| <= atol * scale * max(1, max |torch|): absolute for outputs
    of order 1, relative for large ones (e.g. an unbounded relu SimpleRNN over 37 steps reaching
    1e2..1e4, where float32 rounding alone exceeds an absolute 1e-4).
    """
    import numpy as np
    import onnx
    import torch

    v = Verification(atol=atol)
    try:
        onnx.checker.check_model(str(onnx_path), full_check=True)
        v.checker = "passed"
    except Exception as e:  # onnx.checker.ValidationError, shape inference errors
        v.checker = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        v.message = f"the ONNX checker rejected the model: {v.checker}"
        return v
    model_proto = onnx.load(str(onnx_path), load_external_data=False)
    v.structure_problems = structure_problems(model_proto, project)
    try:
        session = make_session(onnx_path)
    except Exception as e:
        v.message = f"onnxruntime cannot load the model: {str(e).splitlines()[0]}"
        return v
    features = input_shape[2]
    padding = padding_value(project) if project is not None else None
    was_training = module.training
    module.eval()
    try:
        for i, (batch, time) in enumerate(cases_for(input_shape, trace_length)):
            x = sample_input(batch, time, features, seed + i, input_mean, input_std, tokens, padding)
            with torch.no_grad():
                ref = module(x).detach().cpu().numpy()
            try:
                out = session.run(None, {input_name: x.numpy()})[0]
            except Exception as e:
                v.cases.append(Case(batch, time, float("inf"), False))
                v.message = f"onnxruntime failed on batch {batch}, length {time}: {str(e).splitlines()[0]}"
                continue
            if out.shape != ref.shape:
                v.cases.append(Case(batch, time, float("inf"), False))
                v.message = (
                    f"output shape differs on batch {batch}, length {time}: onnxruntime "
                    f"{tuple(out.shape)} vs PyTorch {tuple(ref.shape)}"
                )
                continue
            diff = float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64)))) if out.size else 0.0
            if not np.isfinite(diff):
                diff = float("inf") if not np.array_equal(np.isnan(out), np.isnan(ref)) else 0.0
            big = float(np.max(np.abs(ref[np.isfinite(ref)]))) if np.isfinite(ref).any() else 0.0
            v.cases.append(Case(batch, time, diff, diff <= atol * scale * max(1.0, big), big))
    finally:
        module.train(was_training)
    _conclude(v, atol * scale)
    return v


def _conclude(v: Verification, tolerance: float) -> None:
    """The verdict and its one-line message from the structure problems and the cases."""
    v.max_abs_diff = max((c.max_abs_diff for c in v.cases), default=None)
    numbers_ok = bool(v.cases) and all(c.passed for c in v.cases)
    v.passed = numbers_ok and not v.structure_problems
    if not v.message:
        if v.structure_problems:
            v.message = v.structure_problems[0]
        elif not numbers_ok:
            worst = max(v.cases, key=lambda c: c.max_abs_diff)
            v.message = (
                f"onnxruntime differs from PyTorch by {worst.max_abs_diff:.3g} (batch {worst.batch}, "
                f"length {worst.time}, outputs up to {worst.max_abs_output:.3g}), above the tolerance "
                f"{tolerance:.0e} x max(1, |output|)"
            )
        else:
            v.message = f"max abs diff {v.max_abs_diff:.2e} <= {tolerance:.0e} over {len(v.cases)} cases"
