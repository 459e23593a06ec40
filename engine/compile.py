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

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, F)
        values = [x]
        for module, (_, srcs) in zip(self._ordered, self._plan, strict=True):
            if len(srcs) == 1:
                values.append(module(values[srcs[0]]))
            else:
                values.append(module(*[values[s] for s in srcs]))
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
    if output_id == input_id:  # a design that is only an Input: identity
        modules[input_id] = nn.Identity()
        plan.append((input_id, (0,)))
    # the plan must end at the output block (forward returns the last value)
    assert plan[-1][0] == output_id, "output block must come last in topological order"
    return DesignModel(modules, plan, input_id, output_id, _known(result.input_shape()), _known(result.output_shape()))


def _known(shape: Shape | None) -> Shape:
    assert shape is not None, "a valid design has every block's shape"
    return shape
