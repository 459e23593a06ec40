"""Design -> a standalone, readable PyTorch source file (imports only torch) plus its .pt weights.

The generated module is what a PyTorch user would write by hand: one attribute per design block
(named after the block id), a forward that reads top to bottom with shape comments, simple blocks
(Dense activations, Add, Concatenate, pooling, Flatten) written inline, and the few classes with real
semantics (Recurrent: Keras-compatible bidirectional merge / last state / go_backwards;
SelfAttention) copied verbatim from engine/design/layers.py, which depends on torch only for this reason.

    export_pytorch(model, project, "model.py")  ->  model.py + model.pt (state_dict of the generated class)
"""

from __future__ import annotations

import inspect
import keyword
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ._files import check_writable, publish, remove_quietly, temp_path, write_bytes
from .errors import ExportError, VerificationError
from .result import ExportResult


def _reserved() -> set[str]:
    """Names the generated module defines or imports: no block may be called like them."""
    from rnn_studio.engine.design import layers

    public = {n for n in vars(layers) if not n.startswith("_")}
    return public | {"self", "math", "load", "Path", "WEIGHTS", "FEATURES", "CLASSES", "NORMALIZATION", "TASK", "x_in"}


def _class_name(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name or "")
    out = "".join(w[:1].upper() + w[1:] for w in words)
    if not out or not out[0].isalpha():
        out = "Model" + out
    if out in _reserved() or keyword.iskeyword(out):
        out += "Model"
    return out


def _names(ids: list[str]) -> dict[str, str]:
    """Block id -> a valid, unique Python identifier that clashes with nothing in nn.Module."""
    import torch.nn as nn

    taken: set[str] = set()
    out: dict[str, str] = {}
    reserved = _reserved()
    for bid in ids:
        n = re.sub(r"\W", "_", bid)
        if not n or n[0].isdigit():
            n = "b_" + n
        if (
            keyword.iskeyword(n)
            or n in reserved
            or hasattr(nn.Module, n)
            or n.startswith("__")
            or n in ("training", "builtins")
        ):
            n = n + "_"
        base, k = n, 2
        while n in taken:
            n = f"{base}{k}"
            k += 1
        taken.add(n)
        out[bid] = n
    return out


def _shape(shape) -> str:
    dims = []
    for i, d in enumerate(shape):
        dims.append("B" if i == 0 else ("T" if d is None else str(d)))
    return "(" + ", ".join(dims) + ")"


@dataclass
class _Body:
    """The generated class's __init__ and forward lines, and what they need."""

    init_lines: list[tuple[str, str]] = field(default_factory=list)  # (code, comment)
    fwd_lines: list[tuple[str, str]] = field(default_factory=list)  # (code, shape comment)
    needs: list[str] = field(default_factory=list)  # engine.design.layers names to copy, in order
    key_map: dict[str, str] = field(default_factory=dict)  # weight prefix in DesignModel -> in the class


def _design_body(model, project, res, names: dict[str, str]) -> _Body:
    """Each block's code, written by its BlockDef's `source` hook."""
    from rnn_studio.engine import CATALOG
    from rnn_studio.engine.design.blocks import Ctx

    blocks = {b.id: b for b in project.blocks}
    body = _Body()
    masks: dict[str, str | None] = {}  # block id -> the variable holding its output's padding mask (Keras')
    taken = set(names.values())
    for bid in res.order:
        if bid == res.input_id:
            continue
        b = blocks[bid]
        srcs = project.inputs_of(bid)
        ctx = Ctx(bid, b.type, b.resolved(), [res.shapes[s] for s in srcs], srcs, [blocks[s].type for s in srcs])
        d = CATALOG[b.type]
        code = d.source(ctx, model.blocks[bid])
        n = names[bid]
        mask = next((masks[s] for s in srcs if masks.get(s)), None)
        if d.makes_mask(ctx.params):  # computed from the block's input, before it runs
            var = f"{n}_mask"
            while var in taken:
                var += "_"
            taken.add(var)
            body.fwd_lines.append((f"{var} = self.{n}.mask_of({names[srcs[0]]})", "(B, T): True at real steps"))
            masks[bid] = var
        else:
            masks[bid] = mask if d.passes_mask(ctx.params) else None
        if d.uses_mask and mask and code.forward.endswith(")"):
            code = replace(code, forward=code.forward[:-1] + f", mask={mask})")
        if code.init is not None:
            body.init_lines.append((f"self.{n} = {code.init}", f"{b.type} '{bid}'"))
        if code.weights is not None:
            body.key_map[f"blocks.{bid}.{code.weights}"] = f"{n}."
        body.needs += [name for name in code.needs if name not in body.needs]
        expr = code.forward.format(m=f"self.{n}", inputs=[names[s] for s in srcs])
        body.fwd_lines.append((f"{n} = {expr}", _shape(res.shapes[bid])))
    return body


def _generated_state(model, key_map: dict[str, str]) -> dict:
    """The compiled model's weights, keyed for the generated class."""
    state = {}
    for key, value in model.state_dict().items():
        for old, new in sorted(key_map.items(), key=lambda kv: -len(kv[0])):
            if key.startswith(old):
                state[new + key[len(old) :]] = value.detach().clone().cpu()
                break
        else:
            raise ExportError(f"internal: weight {key!r} has no place in the generated module")
    return state


def _header(project, res, cls: str, weights_name: str, module_name: str, meta, copied: str) -> list[str]:
    from rnn_studio.engine import __version__

    lines = [
        f'"""{project.name}: generated by RNN Studio {__version__} on {time.strftime("%Y-%m-%d")}. Needs only PyTorch.',
        "",
    ]
    lines.append(
        f"Input  {_shape(res.input_shape())}: batch, time, features (T = any length)."
        if res.input_shape()[1] is None
        else f"Input  {_shape(res.input_shape())}: batch, time, features."
    )
    lines += [
        f"Output {_shape(res.output_shape())}.",
        "",
        "Usage:",
        f"    from {module_name} import load",
        f"    model = load()              # {cls} with the weights in {weights_name}, in eval mode",
        "    y = model(x)                # x: float32 tensor shaped like the Input",
        '"""',
    ]
    if "math." in copied:
        lines.append("import math")
    lines += [
        "from pathlib import Path",
        "",
        "import torch",
        "import torch.nn as nn",
        "import torch.nn.functional as F",
        "",
        f"WEIGHTS = {weights_name!r}  # state_dict of {cls}, saved beside this file",
    ]
    if meta is not None:
        lines += _meta_lines(meta)
    lines.append("")
    return lines


def _meta_lines(meta) -> list[str]:
    lines = [f"TASK = {meta.task!r}"]
    if meta.features:
        lines.append(f"FEATURES = {list(meta.features)!r}  # input columns, in order")
    if meta.classes:
        lines.append(f"CLASSES = {list(meta.classes)!r}  # class labels in output index order")
    if meta.x_mean is not None:
        lines.append(
            "# Normalization fitted on the training split; the model expects x' = (x - x_mean) / x_std"
            + (" and predicts y' = (y - y_mean) / y_std" if meta.y_mean is not None else "")
            + "."
        )
        lines.append(
            "NORMALIZATION = "
            + repr({"x_mean": meta.x_mean, "x_std": meta.x_std, "y_mean": meta.y_mean, "y_std": meta.y_std})
        )
    return lines


def _copied_layers(needs: list[str]) -> str:
    """The engine/design/layers.py classes and functions the design uses, verbatim."""
    from rnn_studio.engine.design import layers

    return "\n\n\n".join(inspect.getsource(getattr(layers, name)).rstrip() for name in needs)


def _class_lines(project, res, cls: str, x_name: str, result: str, body: _Body) -> list[str]:
    lines = [
        "",
        "# --- the design ------------------------------------------------------------------------------",
        "",
        "",
        f"class {cls}(nn.Module):",
        f'    """The design \'{project.name}\'. Attribute names are the design\'s block ids."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
    ]
    if not body.init_lines:
        lines.append("        pass  # no weights")
    lines += [f"        {code}  # {comment}" for code, comment in body.init_lines]
    lines += ["", f"    def forward(self, {x_name}):  # {_shape(res.input_shape())}"]
    width = max([len(c) for c, _ in body.fwd_lines] + [0])
    lines += [f"        {code}{' ' * (width - len(code))}  # {shape}" for code, shape in body.fwd_lines]
    lines += [f"        return {result}", ""]
    return lines


def _footer(cls: str, weights_name: str, res, tokens: int | None = None) -> list[str]:
    shape = f"2, {res.input_shape()[1] or 16}, {res.input_shape()[2]}"
    example = f"torch.randint(0, {tokens}, ({shape}))  # token ids" if tokens else f"torch.randn({shape})"
    return [
        "",
        'def load(weights=None, map_location="cpu"):',
        f'    """{cls} with trained weights (default: {weights_name} beside this file), in eval mode."""',
        f"    model = {cls}()",
        "    path = Path(weights) if weights else Path(__file__).with_name(WEIGHTS)",
        "    model.load_state_dict(torch.load(path, map_location=map_location, weights_only=True))",
        "    return model.eval()",
        "",
        "",
        'if __name__ == "__main__":',
        "    model = load()",
        f"    x = {example}",
        "    with torch.no_grad():",
        '        print("input", tuple(x.shape), "-> output", tuple(model(x).shape))',
    ]


def generate_source(
    model, project, meta=None, weights_name: str = "model.pt", module_name: str = "model"
) -> tuple[str, dict]:
    """(source text, state_dict keyed for the generated class) for `model` built from `project`."""
    from rnn_studio.engine import check

    res = check(project)
    if not res.ok:
        raise ExportError("invalid design: " + res.errors[0].message)
    assert res.input_id is not None and res.output_id is not None  # a valid design has both
    names = _names([res.input_id] + [bid for bid in res.order if bid != res.input_id])
    cls = _class_name(project.name)
    body = _design_body(model, project, res, names)
    state = _generated_state(model, body.key_map)
    x_name = names[res.input_id]
    result = names[res.output_id] if res.output_id != res.input_id else x_name
    copied = _copied_layers(body.needs)
    lines = _header(project, res, cls, weights_name, module_name, meta, copied)
    if copied:
        lines += [
            "",
            "# --- building blocks, copied from RNN Studio (engine/design/layers.py) --------------------",
            "",
            "",
            copied,
            "",
        ]
    lines += _class_lines(project, res, cls, x_name, result, body)
    from rnn_studio.engine.design.compile import token_vocabulary

    lines += _footer(cls, weights_name, res, token_vocabulary(project, res))
    return "\n".join(lines) + "\n", state


def _load_source(source: str, filename: str):
    """Run generated source in a fresh namespace, as a module would be (nothing from this app)."""
    import types

    mod = types.ModuleType("rnn_studio_generated")
    mod.__file__ = filename
    exec(compile(source, filename, "exec"), mod.__dict__)
    return mod


def export_pytorch(
    model, project, path, *, meta=None, verify: bool = True, atol: float = 1e-6, log=None
) -> ExportResult:
    """Write `path` (.py source) and the weights beside it (same stem, .pt), atomically.

    verify: load the source in a fresh namespace with the weights and compare with `model` (eval) at
    batch 1 and 7 (and several lengths when time is dynamic); raises VerificationError above `atol`.
    Returns an ExportResult with format "pytorch": path, weights_path, class_name, verified, passed,
    tolerance, max_abs_diff, cases.
    """
    import copy

    import torch

    from rnn_studio.engine.training.runs import RunMeta

    say = log or (lambda s: None)
    path = Path(path)
    wpath = path.with_suffix(".pt")
    if wpath == path:
        raise ExportError(f"{path}: the source file needs a .py name (the weights go to {path.stem}.pt)")
    check_writable(path)
    if isinstance(meta, dict):
        meta = RunMeta.from_dict(meta)
    core = copy.deepcopy(model).to("cpu", torch.float32).eval()
    source, state = generate_source(core, project, meta, weights_name=wpath.name, module_name=path.stem)
    result = ExportResult(
        path=str(path),
        format="pytorch",
        project_name=project.name,
        opset=None,
        exporter="RNN Studio PyTorch source",
        weights_path=str(wpath),
        class_name=_class_name(project.name),
        tolerance=atol,
        file_bytes=len(source.encode()),
    )
    if verify:
        _verify_source(result, source, state, core, project, atol)
        say(
            f"  generated module vs compiled model: max |diff| {result.max_abs_diff:.2e} over {len(result.cases)} cases"
        )
        if not result.passed:
            raise VerificationError(
                f"the generated module differs from the design by {result.max_abs_diff:.3g} "
                f"(> {atol:.0e}); {path} was not written",
                result,
            )
    else:
        result.message = "not verified (--no-verify)"
    _write_source_and_weights(path, wpath, source, state)
    say(f"wrote {path} ({result.class_name}) and {wpath}")
    return result


def _verify_source(result: ExportResult, source: str, state: dict, core, project, atol: float) -> None:
    """Run the generated class with the weights against the compiled model; findings go into `result`."""
    import torch

    from rnn_studio.engine import check

    from .verify import Case, cases_for, padding_value, sample_input

    mod = _load_source(source, result.path)
    gen = getattr(mod, _class_name(project.name))()
    gen.load_state_dict(state, strict=True)
    gen.eval()
    from rnn_studio.engine.design.compile import token_vocabulary

    res = check(project)
    shape = res.input_shape()
    assert shape is not None  # the design was checked by generate_source
    tokens = token_vocabulary(project, res)
    padding = padding_value(project)
    for i, (batch, steps) in enumerate(cases_for(shape, 8)):
        x = sample_input(batch, steps, shape[2], 100 + i, tokens=tokens, padding=padding)
        with torch.no_grad():
            want = core(x).double()
            diff = float((gen(x).double() - want).abs().max()) if want.numel() else 0.0
            big = float(want.abs().max()) if want.numel() else 0.0
        result.cases.append(Case(batch, steps, diff, diff <= atol, big))
    result.verified = True
    result.class_name = gen.__class__.__name__
    result.max_abs_diff = max(c.max_abs_diff for c in result.cases)
    result.passed = all(c.passed for c in result.cases)
    result.message = (
        f"max abs diff {result.max_abs_diff:.2e} <= {atol:.0e} over {len(result.cases)} cases"
        if result.passed
        else f"the generated module differs by {result.max_abs_diff:.3g}"
    )


def _write_source_and_weights(path: Path, wpath: Path, source: str, state: dict) -> None:
    import io

    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    tmp_py = tmp_pt = None
    try:
        tmp_py, tmp_pt = temp_path(path), temp_path(wpath)
        try:
            write_bytes(tmp_py, source.encode("utf-8"))
            write_bytes(tmp_pt, buf.getvalue())
        except OSError as e:
            raise ExportError(f"{path}: cannot write ({e.strerror or e})") from None
        publish(tmp_pt, wpath)  # weights first: a .py never points at missing weights
        tmp_pt = None
        publish(tmp_py, path)
        tmp_py = None
    finally:
        remove_quietly(tmp_py)
        remove_quietly(tmp_pt)
