"""Design -> torch.nn.Module using fused nn.GRU / nn.LSTM / nn.RNN (cuDNN on GPU), never a Python
loop over time steps."""

from __future__ import annotations

import torch
import torch.nn as nn

from .blocks import CATALOG, Ctx, Shape
from .project import Project
from .shapes import CheckResult, check


class DesignError(ValueError):
    """The design has errors; `problems` lists them (each one line)."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems) or "invalid design")


class DesignModel(nn.Module):
    """The compiled design. forward(x: (batch, time, features)) -> the output block's tensor.

    `blocks` maps each design block id to its module, so training can report gradient norms per
    block (not per tensor) and exports can name things after the design.
    """

    def __init__(
        self,
        modules: dict[str, nn.Module],
        plan: list[tuple[str, tuple[int, ...]]],
        input_id: str,
        output_id: str,
        input_shape,
        output_shape,
        mask_rules=None,
    ):
        super().__init__()
        self.blocks = nn.ModuleDict(modules)
        self.input_id = input_id
        self.output_id = output_id
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(output_shape)
        # plan: for each block in topological order, the slots of its inputs. Slot 0 is the input.
        self._plan = [(bid, srcs) for bid, srcs in plan]
        self._ordered = [self.blocks[bid] for bid, _ in plan]
        # padding masks (Keras semantics), per plan entry: (makes one, uses one, passes its input's on)
        self._mask_rules = list(mask_rules) if mask_rules else [(False, False, False)] * len(plan)
        self.masked = any(rule[0] for rule in self._mask_rules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, F)
        if self.masked:
            return self._forward_masked(x)
        values = [x]
        for module, (_, srcs) in zip(self._ordered, self._plan, strict=True):
            if len(srcs) == 1:
                values.append(module(values[srcs[0]]))
            else:
                values.append(module(*[values[s] for s in srcs]))
        return values[-1]

    def _forward_masked(self, x: torch.Tensor) -> torch.Tensor:
        """forward, carrying each value's padding mask (B, T) from the block that makes it to the
        recurrent blocks that honour it, through the blocks that keep it (Keras' mask propagation)."""
        values: list[torch.Tensor] = [x]
        masks: list[torch.Tensor | None] = [None]
        for module, (_, srcs), rule in zip(self._ordered, self._plan, self._mask_rules, strict=True):
            makes, uses, passes = rule
            ins = [values[s] for s in srcs]
            mask = next((masks[s] for s in srcs if masks[s] is not None), None)
            values.append(module(*ins, mask=mask) if uses and mask is not None else module(*ins))
            masks.append(
                module.mask_of(ins[0])  # type: ignore[operator]  # nn.Module.__getattr__ is typed Tensor | Module
                if makes
                else (mask if passes else None)
            )
        return values[-1]

    def block_parameters(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters grouped by design block id (blocks without weights left out)."""
        out = {}
        for bid, module in self.blocks.items():
            params = [p for p in module.parameters() if p.requires_grad]
            if params:
                out[bid] = params
        return out


def build_model(project: Project, result: CheckResult | None = None) -> DesignModel:
    """Compile a valid design. Raises DesignError listing the problems when it is not valid."""
    result = result or check(project)
    if not result.ok:
        raise DesignError(result.errors)
    input_id, output_id = result.input_id, result.output_id
    assert input_id is not None and output_id is not None, "a valid design has an Input and an output"
    blocks = {b.id: b for b in project.blocks}
    slot = {input_id: 0}
    modules: dict[str, nn.Module] = {}
    plan: list[tuple[str, tuple[int, ...]]] = []
    mask_rules: list[tuple[bool, bool, bool]] = []
    for bid in result.order:
        if bid == input_id:
            continue
        b = blocks[bid]
        srcs = project.inputs_of(bid)
        d = CATALOG[b.type]
        ctx = Ctx(bid, b.type, b.resolved(), [_known(result.shapes[s]) for s in srcs], srcs)
        modules[bid] = d.build(ctx)
        slot[bid] = len(plan) + 1
        plan.append((bid, tuple(slot[s] for s in srcs)))
        mask_rules.append((d.makes_mask(ctx.params), d.uses_mask, d.passes_mask(ctx.params)))
    if output_id == input_id:  # a design that is only an Input: identity
        modules[input_id] = nn.Identity()
        plan.append((input_id, (0,)))
        mask_rules.append((False, False, False))
    # the plan must end at the output block (forward returns the last value)
    assert plan[-1][0] == output_id, "output block must come last in topological order"
    return DesignModel(
        modules, plan, input_id, output_id, _known(result.input_shape()), _known(result.output_shape()), mask_rules
    )


def masked_recurrent_blocks(project: Project, result: CheckResult) -> dict[str, str]:
    """{block id: id of the block whose padding mask it honours} for the blocks that use a mask."""
    blocks = {b.id: b for b in project.blocks}
    mask_from: dict[str, str | None] = {}
    out: dict[str, str] = {}
    for bid in result.order:
        d = CATALOG[blocks[bid].type]
        params = blocks[bid].resolved()
        incoming = next((mask_from[s] for s in project.inputs_of(bid) if mask_from.get(s)), None)
        if incoming and d.uses_mask:
            out[bid] = incoming
        mask_from[bid] = bid if d.makes_mask(params) else (incoming if d.passes_mask(params) else None)
    return out


def _known(shape: Shape | None) -> Shape:
    assert shape is not None, "a valid design has every block's shape"
    return shape


def token_vocabulary(project: Project, result: CheckResult) -> int | None:
    """For a design whose Input takes integer token ids: the ids every token reader accepts ([0, this));
    None for float input. Exports draw their sample inputs from it."""
    from .blocks import is_token_input

    blocks = {b.id: b for b in project.blocks}
    if result.input_id is None or not is_token_input(blocks[result.input_id].resolved()):
        return None
    sizes = [CATALOG[blocks[bid].type].token_vocabulary(blocks[bid].resolved()) for bid in result.order]
    return min((s for s in sizes if s), default=1)
