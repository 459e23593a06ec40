"""Live shape checking: `check(project)` -> every block's output shape, or a precise, fixable error.

Runs on every edit in the designer, so it is plain Python with no torch import (target < 5 ms for a
200-block design; tests/benchmarks/bench_check.py prints the figure).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from .blocks import CATALOG, INPUT_TYPE, Ctx, Shape, ShapeError, is_token_input
from .cost import BlockCost, block_cost, cost_length, totals
from .project import ID_RE, Project
from .resources import Resources, estimate, memory_status
from .settings import validate_training

ERROR, WARNING = "error", "warning"


@dataclass
class Problem:
    level: str  # "error" | "warning"
    block: str | None  # the block to select / outline; None for design-wide problems
    message: str  # one line: which block, what, how to fix

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


@dataclass
class CheckResult:
    shapes: dict[str, Shape | None] = field(default_factory=dict)  # output shape per block id
    param_counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # topological order of the buildable graph
    input_id: str | None = None
    output_id: str | None = None
    resources: Resources | None = None  # parameters and training memory (engine/design/resources.py); None if invalid
    costs: dict[str, BlockCost] = field(
        default_factory=dict
    )  # one sample's forward cost per block (engine/design/cost.py)
    cost_length: int = 0  # the time steps `costs` are counted at

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def total_params(self) -> int:
        return sum(self.param_counts.values())

    def cost_totals(self) -> dict[str, int]:
        """parameters, macs, activation_bytes, state_bytes summed over the blocks, and the length."""
        return {**totals(self.costs), "length": self.cost_length}

    def for_block(self, block_id: str) -> list[Problem]:
        return [p for p in self.problems if p.block == block_id]

    def input_shape(self) -> Shape | None:
        return self.shapes.get(self.input_id) if self.input_id else None

    def output_shape(self) -> Shape | None:
        return self.shapes.get(self.output_id) if self.output_id else None


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f": did you mean '{close[0]}'?" if close else ""


def check(project: Project, length: int | None = None) -> CheckResult:
    """Shapes, problems and costs; `length`: the time steps costs are counted at when the Input's
    timesteps is null (else the training lookback, else 32)."""
    return _Checker(project, length).run()


class _Checker:
    """One check of one design, as named steps; each step adds its problems in the order a reader meets them."""

    def __init__(self, project: Project, length: int | None = None) -> None:
        self.project = project
        self.length = length
        self.res = CheckResult()
        self.problems = self.res.problems
        self.blocks: dict = {}
        self.bad: set[str] = set()  # blocks whose own definition is broken: no shape for them
        self.ins: dict[str, list[str]] = {}
        self.outs: dict[str, list[str]] = {}
        self.lonely: set[str] = set()
        self.cyclic: set[str] = set()
        self.order: list[str] = []
        self.position: dict[str, int] = {}

    def err(self, block: str | None, msg: str) -> None:
        self.problems.append(Problem(ERROR, block, msg))

    def warn(self, block: str | None, msg: str) -> None:
        self.problems.append(Problem(WARNING, block, msg))

    def run(self) -> CheckResult:
        self.read_blocks()
        self.read_links()
        self.count_inputs()
        self.find_input()
        self.order_blocks()
        self.check_connected()
        self.find_output()
        self.infer_shapes()
        _token_input_problems(self.blocks, self.ins, self.outs, self.err)
        res = self.res
        res.order = [bid for bid in self.order if res.shapes.get(bid) is not None]
        _lint_design(self.project, self.blocks, self.ins, self.outs, res, self.warn)
        self.sort_problems()
        _add_resources(self.project, res, self.warn)
        for line in validate_training(self.project.training):  # the model is fine; `train` refuses these (exit 2)
            self.warn(None, f"{line}: fix it before training")
        return res

    def read_blocks(self) -> None:
        """Ids, types and params of every block."""
        err, blocks, bad = self.err, self.blocks, self.bad
        for b in self.project.blocks:
            if b.id in blocks:
                err(b.id, f"duplicate block id '{b.id}': every block needs its own id; rename one of them")
                continue
            blocks[b.id] = b
            if not ID_RE.match(b.id):
                err(
                    b.id,
                    f"block id {b.id!r} is not valid: use letters, digits, _ or - (64 at most), "
                    f"starting with a letter or _",
                )
            d = CATALOG.get(b.type)
            if d is None:
                err(
                    b.id,
                    f"block '{b.id}' has unknown type '{b.type}'{_suggest(b.type, CATALOG)}"
                    f"{'' if _suggest(b.type, CATALOG) else ' (known: ' + ', '.join(CATALOG) + ')'}",
                )
                bad.add(b.id)
                continue
            names = {p.name for p in d.params}
            for name, value in b.params.items():
                if name not in names:
                    hint = _suggest(name, names) or (
                        f" ({b.type} has {', '.join(sorted(names))})" if names else f" ({b.type} has no params)"
                    )
                    err(b.id, f"{b.type} '{b.id}': unknown param '{name}'{hint}")
                    bad.add(b.id)
                    continue
                reason = d.param(name).validate(value)
                if reason:
                    err(b.id, f"{b.type} '{b.id}': {name} {reason}")
                    bad.add(b.id)

    def read_links(self) -> None:
        """Valid links into `ins`/`outs`; unknown, self and duplicate links are reported and dropped."""
        err, blocks = self.err, self.blocks
        links = []
        seen_links = set()
        for s, t in self.project.links:
            if s not in blocks or t not in blocks:
                unknown = s if s not in blocks else t
                known = t if s not in blocks else s
                err(
                    known if known in blocks else None,
                    f"link ['{s}', '{t}'] names unknown block '{unknown}'{_suggest(unknown, blocks)}: "
                    f"fix the id or remove the link",
                )
                continue
            if s == t:
                err(s, f"'{s}' is linked to itself: remove that link")
                continue
            if (s, t) in seen_links:
                err(t, f"'{s}' is linked to '{t}' twice: remove the duplicate link")
                continue
            seen_links.add((s, t))
            links.append((s, t))
        self.ins = {i: [] for i in blocks}
        self.outs = {i: [] for i in blocks}
        for s, t in links:
            self.ins[t].append(s)
            self.outs[s].append(t)

    def count_inputs(self) -> None:
        """Input counts per block (a block with no links at all is reported once, as disconnected, later)."""
        err, blocks, ins, bad = self.err, self.blocks, self.ins, self.bad
        outs = self.outs
        self.lonely = {bid for bid in blocks if not ins[bid] and not outs[bid]} if len(blocks) > 1 else set()
        for bid, b in blocks.items():
            d = CATALOG.get(b.type)
            if d is None or bid in self.lonely:
                continue
            n = len(ins[bid])
            label = f"{b.type} '{bid}'"
            if d.max_inputs == 0 and n:
                err(bid, f"{label} takes no input but is fed by {_ids(ins[bid])}: remove those links")
                bad.add(bid)
            elif n < d.min_inputs:
                if n == 0:
                    err(bid, f"{label} has no input: link a block into it")
                else:
                    err(
                        bid,
                        f"{label} needs at least {d.min_inputs} inputs but has {n} ({_ids(ins[bid])}): "
                        f"link another block into it",
                    )
                bad.add(bid)
            elif d.max_inputs is not None and n > d.max_inputs:
                err(
                    bid,
                    f"{label} takes {d.max_inputs} input but has {n} ({_ids(ins[bid])}): remove the extra "
                    f"links or join them first with a Concatenate or Add block",
                )
                bad.add(bid)

    def find_input(self) -> None:
        """Exactly one Input block."""
        inputs = [bid for bid, b in self.blocks.items() if b.type == INPUT_TYPE]
        if not inputs:
            self.err(None, "the design has no Input block: add one (Input) and link it to the first layer")
            return
        self.res.input_id = inputs[0]
        for extra in inputs[1:]:
            self.err(
                extra,
                f"Input '{extra}': a design has exactly one Input in format v1 but '{inputs[0]}' is one "
                f"too: delete one of them",
            )

    def order_blocks(self) -> None:
        """Cycles (Kahn; blocks left over sit on or after a cycle), then a stable topological order."""
        blocks, ins, outs = self.blocks, self.ins, self.outs
        indeg = {i: len(ins[i]) for i in blocks}
        ready = [i for i in blocks if indeg[i] == 0]
        order = []
        while ready:
            node = ready.pop()
            order.append(node)
            for t in outs[node]:
                indeg[t] -= 1
                if indeg[t] == 0:
                    ready.append(t)
        self.cyclic = cyclic = set(blocks) - set(order)
        if cyclic:
            cycle = _find_cycle(cyclic, outs)
            self.err(
                cycle[0],
                "cycle: "
                + " -> ".join(f"'{c}'" for c in cycle + [cycle[0]])
                + ": a model must flow one way; remove one of these links",
            )
            self.bad |= cyclic
        # stable topological order: follow file order among ready blocks
        self.position = {b.id: i for i, b in enumerate(self.project.blocks)}
        self.order = _stable_topo(order, ins, outs, self.position)

    def check_connected(self) -> None:
        """Every block is linked, and fed from the Input."""
        blocks, ins, outs, bad, res = self.blocks, self.ins, self.outs, self.bad, self.res
        if len(blocks) <= 1:
            return
        for bid in [b for b in blocks if b in self.lonely]:  # file order, in linear time
            self.err(bid, f"{blocks[bid].type} '{bid}' is not connected: link it into the design or delete it")
            bad.add(bid)
        if res.input_id is None:
            return
        reach = _reach(res.input_id, outs)
        for bid in blocks:
            if (
                bid != res.input_id
                and bid not in reach
                and (ins[bid] or outs[bid])
                and bid not in self.cyclic
                and bid not in bad
                and blocks[bid].type != INPUT_TYPE
            ):
                self.err(
                    bid,
                    f"{blocks[bid].type} '{bid}' is not fed from the Input '{res.input_id}': "
                    f"link it into the main flow or delete it",
                )
                bad.add(bid)

    def find_output(self) -> None:
        """Exactly one output: the one block that feeds nothing."""
        blocks, ins, outs = self.blocks, self.ins, self.outs
        sinks = [bid for bid in blocks if not outs[bid] and (ins[bid] or len(blocks) == 1)]
        if blocks and not sinks and not self.cyclic:
            self.err(None, "the design has no output block: the last layer must not feed anything")
        elif len(sinks) > 1:
            for bid in sinks:
                others = [s for s in sinks if s != bid]
                self.err(
                    bid,
                    f"{blocks[bid].type} '{bid}' is an output, and so {'is' if len(others) == 1 else 'are'} "
                    f"{_ids(others)}: a model has exactly one output; join them (Concatenate) or remove extras",
                )
        elif sinks:
            self.res.output_id = sinks[0]

    def infer_shapes(self) -> None:
        """Shapes and parameter counts, in topological order; per-block lints as shapes flow."""
        blocks, shapes, res = self.blocks, self.res.shapes, self.res
        reversed_time: dict[str, bool] = {}  # is this block's time axis in reversed order?
        source = blocks.get(res.input_id) if res.input_id else None
        training = self.project.training if isinstance(self.project.training, dict) else {}
        res.cost_length = steps = cost_length(source.params if source else None, training, self.length)
        for bid in self.order:
            b = blocks[bid]
            shapes[bid] = None
            if bid in self.bad:
                continue
            srcs = self.ins[bid]
            src_shapes = [shapes.get(s) for s in srcs]
            in_shapes = [s for s in src_shapes if s is not None]
            if len(in_shapes) < len(src_shapes):
                continue  # an upstream problem is already reported
            d = CATALOG[b.type]
            ctx = Ctx(bid, b.type, b.resolved(), in_shapes, srcs, [blocks[s].type for s in srcs])
            msgs = d.extra_checks(ctx)
            for m in msgs:
                self.err(bid, m)
            if msgs:
                continue
            try:
                shapes[bid] = out = d.infer(ctx)
                res.param_counts[bid] = d.count(ctx)
                res.costs[bid] = block_cost(d, ctx, out, res.param_counts[bid], steps)
            except ShapeError as e:
                self.err(bid, str(e))
                continue
            _lint_block(ctx, in_shapes, reversed_time, self.warn, blocks)

    def sort_problems(self) -> None:
        """Report in the order a reader follows the design: design-wide first, then block by block in flow order."""
        rank = {bid: i for i, bid in enumerate(self.order)}
        position = self.position
        self.problems.sort(key=lambda p: -1 if p.block is None else rank.get(p.block, position.get(p.block, len(rank))))


def _token_input_problems(blocks, ins, outs, err) -> None:
    """Integer token ids (an Input with dtype=int64) go into token-reading blocks (BlockDef.reads_tokens)
    only, and those read nothing else."""
    readers = ", ".join(t for t, d in CATALOG.items() if d.reads_tokens)
    for bid, b in blocks.items():
        d = CATALOG.get(b.type)
        if d is None:
            continue
        if b.type == INPUT_TYPE and is_token_input(b.resolved()):
            for t in outs[bid]:
                if blocks[t].type in CATALOG and not CATALOG[blocks[t].type].reads_tokens:
                    err(
                        t,
                        f"{blocks[t].type} '{t}' is fed the token ids of Input '{bid}' (dtype=int64), which only "
                        f"{readers} reads: put an {readers} between them, or set the Input's dtype to float32",
                    )
        elif d.reads_tokens:
            for s in ins[bid]:
                if not (blocks[s].type == INPUT_TYPE and is_token_input(blocks[s].resolved())):
                    err(
                        bid,
                        f"{b.type} '{bid}' reads integer token ids, but '{s}' gives float values: feed it "
                        f"from an Input with dtype=int64 and features=1",
                    )


def _add_resources(project: Project, res: CheckResult, warn) -> None:
    """Parameters and training memory for a valid design; a warning from half the machine's RAM on."""
    if not res.ok:
        return
    res.resources = estimate(project, res)
    level, line = memory_status(res.resources)
    if level != "ok":
        warn(res.resources.largest_block, line)


def _ids(ids) -> str:
    return ", ".join(f"'{i}'" for i in ids)


def _reach(start: str, outs: dict[str, list[str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for t in outs[stack.pop()]:
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return seen


def _find_cycle(nodes: set[str], outs: dict[str, list[str]]) -> list[str]:
    """One concrete cycle among `nodes` (which contain at least one)."""
    for start in sorted(nodes):
        path: list[str] = []
        on_path: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in on_path:
            on_path[node] = len(path)
            path.append(node)
            node = next((t for t in outs[node] if t in nodes), None)
        if node is not None:
            return path[on_path[node] :]
    return sorted(nodes)


def _stable_topo(order, ins, outs, position):
    """Topological order that follows the file's block order where the graph allows it."""
    import heapq

    members = set(order)
    indeg = {i: sum(1 for s in ins[i] if s in members) for i in order}
    heap = [(position[i], i) for i in order if indeg[i] == 0]
    heapq.heapify(heap)
    out = []
    while heap:
        _, n = heapq.heappop(heap)
        out.append(n)
        for t in outs[n]:
            if t in indeg:
                indeg[t] -= 1
                if indeg[t] == 0:
                    heapq.heappush(heap, (position[t], t))
    return out


def _lint_block(ctx: Ctx, in_shapes, reversed_time, warn, blocks) -> None:
    """Warnings that other tools don't give, per block, as shapes flow (the block's own: BlockDef.lints)."""
    p, bid = ctx.params, ctx.id
    seq_inputs = [
        (s, reversed_time.get(s, False)) for s, shp in zip(ctx.sources, in_shapes, strict=True) if len(shp) == 3
    ]
    if len(ctx.sources) > 1:  # a merge: reversed sequences met with forward ones are reported here
        orders = {r for _, r in seq_inputs}
        if len(orders) > 1:
            back = [s for s, r in seq_inputs if r]
            fwd = [s for s, r in seq_inputs if not r]
            warn(
                bid,
                f"{ctx.who} merges {_ids(back)}, whose time steps are in reversed order (go_backwards), "
                f"with {_ids(fwd)} in forward order: step t meets step T-1-t. Use one bidirectional "
                f"layer instead, or set go_backwards=false",
            )
        reversed_time[bid] = bool(orders) and orders == {True}
    else:
        rev_in = seq_inputs[0][1] if seq_inputs else False
        reversed_time[bid] = rev_in != CATALOG[ctx.type].reverses_time(p)
    for message in CATALOG[ctx.type].lints(ctx):
        warn(bid, message)


def _lint_design(project, blocks, ins, outs, res: CheckResult, warn) -> None:
    out = res.output_id
    if out is not None and res.shapes.get(out) is not None:
        if CATALOG[blocks[out].type].noisy_in_training:
            warn(
                out,
                f"{blocks[out].type} '{out}' is the output: it randomly zeroes predictions while training; "
                f"put it before the last Dense layer",
            )
        for s in ins[out]:
            if CATALOG[blocks[s].type].noisy_in_training:
                warn(
                    s,
                    f"{blocks[s].type} '{s}' feeds the output '{out}' directly: dropping the last features "
                    f"adds noise to every prediction; move it before the last hidden layer",
                )
    # recurrent stacks deeper than 4 without normalization
    depth: dict[str, int] = {}
    for bid in res.order:
        b = blocks[bid]
        prev = max((depth.get(s, 0) for s in ins[bid]), default=0)
        layers = CATALOG[b.type].recurrent_layers(b.resolved())
        if layers:
            depth[bid] = prev + layers
            if depth[bid] > 4 and prev <= 4:
                warn(
                    bid,
                    f"{b.type} '{bid}' makes a recurrent stack {depth[bid]} layers deep with no "
                    f"normalization: deep stacks train poorly; add a LayerNormalization between layers",
                )
        elif CATALOG[b.type].normalizes:
            depth[bid] = 0
        else:
            depth[bid] = prev
