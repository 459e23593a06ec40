"""Design -> a standalone, readable PyTorch source file (imports only torch) plus its .pt weights.

The generated module is what a PyTorch user would write by hand: one attribute per design block
(named after the block id), a forward that reads top to bottom with shape comments, simple blocks
(Dense activations, Add, Concatenate, pooling, Flatten) written inline, and the few classes with real
semantics (Recurrent: Keras-compatible bidirectional merge / last state / go_backwards;
SelfAttention) copied verbatim from engine/layers.py, which depends on torch only for this reason.

    export_pytorch(model, project, "model.py")  ->  model.py + model.pt (state_dict of the generated class)
"""
from __future__ import annotations

import inspect
import keyword
import re
import time
from pathlib import Path
from typing import Any

from ._files import check_writable, publish, remove_quietly, temp_path, write_bytes
from .errors import ExportError, VerificationError

_INLINE_ACT = {
    "linear": "{}",
    "relu": "torch.relu({})",
    "tanh": "torch.tanh({})",
    "sigmoid": "torch.sigmoid({})",
    "gelu": "F.gelu({})",
    "softmax": "torch.softmax({}, dim=-1)",
}
_RESERVED = {"self", "torch", "nn", "F", "math", "Recurrent", "SelfAttention", "merge_pair", "load", "Path",
             "WEIGHTS", "FEATURES", "CLASSES", "NORMALIZATION", "TASK", "x_in"}
_RECURRENT_DEFAULTS = dict(num_layers=1, bidirectional=False, merge_mode="concat", return_sequences=False,
                           go_backwards=False, dropout=0.0, nonlinearity="tanh")


def _class_name(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name or "")
    out = "".join(w[:1].upper() + w[1:] for w in words)
    if not out or not out[0].isalpha():
        out = "Model" + out
    if out in _RESERVED or keyword.iskeyword(out):
        out += "Model"
    return out


def _names(ids: list[str]) -> dict[str, str]:
    """Block id -> a valid, unique Python identifier that clashes with nothing in nn.Module."""
    import torch.nn as nn

    taken, out = set(), {}
    for bid in ids:
        n = re.sub(r"\W", "_", bid)
        if not n or n[0].isdigit():
            n = "b_" + n
        if keyword.iskeyword(n) or n in _RESERVED or hasattr(nn.Module, n) or n.startswith("__") \
                or n in ("training", "builtins"):
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


def _kwargs(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in d.items())


def generate_source(model, project, meta=None, weights_name: str = "model.pt",
                    module_name: str = "model") -> tuple[str, dict]:
    """(source text, state_dict keyed for the generated class) for `model` built from `project`."""
    from rnn_studio.engine import __version__, check
    from rnn_studio.engine import layers

    res = check(project)
    if not res.ok:
        raise ExportError("invalid design: " + res.errors[0].message)
    blocks = {b.id: b for b in project.blocks}
    order = [bid for bid in res.order if bid != res.input_id]
    names = _names([res.input_id] + order)
    cls = _class_name(project.name)
    needs = set()
    init_lines, fwd_lines = [], []
    x_name = names[res.input_id]
    key_map: dict[str, str] = {}  # prefix in DesignModel -> prefix in the generated class

    for bid in order:
        b = blocks[bid]
        p = b.resolved()
        n = names[bid]
        srcs = [names[s] for s in project.inputs_of(bid)]
        in_shape = res.shapes[project.inputs_of(bid)[0]]
        out = _shape(res.shapes[bid])
        a = srcs[0]
        expr = None
        if b.type in ("GRU", "LSTM", "SimpleRNN"):
            needs.add("Recurrent")
            kw = dict(num_layers=p["num_layers"], bidirectional=p["bidirectional"], merge_mode=p["merge_mode"],
                      return_sequences=p["return_sequences"], go_backwards=p["go_backwards"],
                      dropout=p["dropout"] if p["num_layers"] > 1 else 0.0,
                      nonlinearity=p.get("activation", "tanh"))
            kw = {k: v for k, v in kw.items() if v != _RECURRENT_DEFAULTS[k]}
            if not p["bidirectional"]:
                kw.pop("merge_mode", None)
            args = f"{b.type!r}, {in_shape[-1]}, {p['units']}" + (", " + _kwargs(kw) if kw else "")
            init_lines.append((f"self.{n} = Recurrent({args})", f"{b.type} '{bid}'"))
            key_map[f"blocks.{bid}."] = f"{n}."
            expr = f"self.{n}({a})"
        elif b.type == "Dense":
            bias = "" if p["use_bias"] else ", bias=False"
            init_lines.append((f"self.{n} = nn.Linear({in_shape[-1]}, {p['units']}{bias})", f"Dense '{bid}'"))
            key_map[f"blocks.{bid}.linear."] = f"{n}."
            expr = _INLINE_ACT[p["activation"]].format(f"self.{n}({a})")
        elif b.type == "Activation":
            expr = _INLINE_ACT[p["activation"]].format(a)
        elif b.type == "Dropout":
            init_lines.append((f"self.{n} = nn.Dropout({p['rate']!r})", f"Dropout '{bid}'"))
            expr = f"self.{n}({a})"
        elif b.type == "LayerNormalization":
            init_lines.append((f"self.{n} = nn.LayerNorm({in_shape[-1]}, eps={p['epsilon']!r})",
                               f"LayerNormalization '{bid}'"))
            key_map[f"blocks.{bid}."] = f"{n}."
            expr = f"self.{n}({a})"
        elif b.type == "Concatenate":
            expr = f"torch.cat([{', '.join(srcs)}], dim=-1)"
        elif b.type == "Add":
            expr = " + ".join(srcs)
        elif b.type == "GlobalAveragePooling1D":
            expr = f"{a}.mean(dim=1)"
        elif b.type == "GlobalMaxPooling1D":
            expr = f"{a}.amax(dim=1)"
        elif b.type == "Flatten":
            expr = f"torch.flatten({a}, start_dim=1)"
        elif b.type == "MultiHeadAttention":
            needs.add("SelfAttention")
            mod = model.blocks[bid]
            kw = {}
            if mod.dropout:
                kw["dropout"] = mod.dropout
            if mod.causal:
                kw["causal"] = True
            args = f"{in_shape[-1]}, {mod.num_heads}, {mod.key_dim}" + (", " + _kwargs(kw) if kw else "")
            init_lines.append((f"self.{n} = SelfAttention({args})", f"MultiHeadAttention '{bid}'"))
            key_map[f"blocks.{bid}."] = f"{n}."
            expr = f"self.{n}({a})"
        else:
            raise ExportError(f"{b.type} '{bid}': the PyTorch source export does not know this block type yet")
        fwd_lines.append((f"{n} = {expr}", out))

    # state dict for the generated class
    state = {}
    for key, value in model.state_dict().items():
        for old, new in sorted(key_map.items(), key=lambda kv: -len(kv[0])):
            if key.startswith(old):
                state[new + key[len(old):]] = value.detach().clone().cpu()
                break
        else:
            raise ExportError(f"internal: weight {key!r} has no place in the generated module")
    result = names[res.output_id] if res.output_id != res.input_id else x_name

    L = []
    L.append(f'"""{project.name}: generated by RNN Studio {__version__} on '
             f'{time.strftime("%Y-%m-%d")}. Needs only PyTorch.')
    L.append("")
    L.append(f"Input  {_shape(res.input_shape())}: batch, time, features (T = any length)." if res.input_shape()[1] is None
             else f"Input  {_shape(res.input_shape())}: batch, time, features.")
    L.append(f"Output {_shape(res.output_shape())}.")
    L.append("")
    L.append("Usage:")
    L.append(f"    from {module_name} import load")
    L.append(f"    model = load()              # {cls} with the weights in {weights_name}, in eval mode")
    L.append("    y = model(x)                # x: float32 tensor shaped like the Input")
    L.append('"""')
    if "SelfAttention" in needs:
        L.append("import math")
    L.append("from pathlib import Path")
    L.append("")
    L.append("import torch")
    L.append("import torch.nn as nn")
    L.append("import torch.nn.functional as F")
    L.append("")
    L.append(f"WEIGHTS = {weights_name!r}  # state_dict of {cls}, saved beside this file")
    if meta is not None:
        L.append(f"TASK = {meta.task!r}")
        if meta.features:
            L.append(f"FEATURES = {list(meta.features)!r}  # input columns, in order")
        if meta.classes:
            L.append(f"CLASSES = {list(meta.classes)!r}  # class labels in output index order")
        if meta.x_mean is not None:
            L.append("# Normalization fitted on the training split; the model expects x' = (x - x_mean) / x_std"
                     + (" and predicts y' = (y - y_mean) / y_std" if meta.y_mean is not None else "") + ".")
            L.append("NORMALIZATION = " + repr({"x_mean": meta.x_mean, "x_std": meta.x_std, "y_mean": meta.y_mean,
                                                 "y_std": meta.y_std}))
    L.append("")
    if needs:
        L.append("")
        L.append("# --- building blocks, copied from RNN Studio (engine/layers.py) ---------------------------")
        if "Recurrent" in needs:
            L.append("")
            L.append("")
            L.append(inspect.getsource(layers.merge_pair).rstrip())
            L.append("")
            L.append("")
            L.append(inspect.getsource(layers.Recurrent).rstrip())
        if "SelfAttention" in needs:
            L.append("")
            L.append("")
            L.append(inspect.getsource(layers.SelfAttention).rstrip())
        L.append("")
    L.append("")
    L.append("# --- the design ------------------------------------------------------------------------------")
    L.append("")
    L.append("")
    L.append(f"class {cls}(nn.Module):")
    L.append(f'    """The design \'{project.name}\'. Attribute names are the design\'s block ids."""')
    L.append("")
    L.append("    def __init__(self):")
    L.append("        super().__init__()")
    if not init_lines:
        L.append("        pass  # no weights")
    for code, comment in init_lines:
        L.append(f"        {code}  # {comment}")
    L.append("")
    L.append(f"    def forward(self, {x_name}):  # {_shape(res.input_shape())}")
    width = max([len(c) for c, _ in fwd_lines] + [0])
    for code, shape in fwd_lines:
        pad = " " * (width - len(code))
        L.append(f"        {code}{pad}  # {shape}")
    L.append(f"        return {result}")
    L.append("")
    L.append("")
    L.append("def load(weights=None, map_location=\"cpu\"):")
    L.append(f'    """{cls} with trained weights (default: {weights_name} beside this file), in eval mode."""')
    L.append(f"    model = {cls}()")
    L.append("    path = Path(weights) if weights else Path(__file__).with_name(WEIGHTS)")
    L.append("    model.load_state_dict(torch.load(path, map_location=map_location, weights_only=True))")
    L.append("    return model.eval()")
    L.append("")
    L.append("")
    L.append('if __name__ == "__main__":')
    t = res.input_shape()[1] or 16
    L.append("    model = load()")
    L.append(f"    x = torch.randn(2, {t}, {res.input_shape()[2]})")
    L.append("    with torch.no_grad():")
    L.append('        print("input", tuple(x.shape), "-> output", tuple(model(x).shape))')
    return "\n".join(L) + "\n", state


def _load_source(source: str, filename: str):
    """Run generated source in a fresh namespace, as a module would be (nothing from this app)."""
    import types

    mod = types.ModuleType("rnn_studio_generated")
    mod.__file__ = filename
    exec(compile(source, filename, "exec"), mod.__dict__)
    return mod


def export_pytorch(model, project, path, *, meta=None, verify: bool = True, atol: float = 1e-6,
                   log=None) -> dict[str, Any]:
    """Write `path` (.py source) and the weights beside it (same stem, .pt), atomically.

    verify: load the source in a fresh namespace with the weights and compare with `model` (eval) at
    batch 1 and 7 (and several lengths when time is dynamic); raises VerificationError above `atol`.
    Returns {"path", "weights_path", "class_name", "verified", "max_abs_diff", "cases"}.
    """
    import copy
    import io

    import torch

    from rnn_studio.engine import check
    from rnn_studio.engine.runs import RunMeta

    from .verify import cases_for, sample_input

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
    report: dict[str, Any] = {"path": str(path), "weights_path": str(wpath), "class_name": None,
                              "verified": False, "max_abs_diff": None, "cases": []}
    if verify:
        mod = _load_source(source, str(path))
        cls = getattr(mod, _class_name(project.name))
        report["class_name"] = cls.__name__
        gen = cls()
        gen.load_state_dict(state, strict=True)
        gen.eval()
        res = check(project)
        worst = 0.0
        for i, (b, t) in enumerate(cases_for(res.input_shape(), 8)):
            x = sample_input(b, t, res.input_shape()[2], 100 + i)
            with torch.no_grad():
                d = float((gen(x).double() - core(x).double()).abs().max()) if core(x).numel() else 0.0
            report["cases"].append({"batch": b, "time": t, "max_abs_diff": d, "passed": d <= atol})
            worst = max(worst, d)
        report["verified"] = True
        report["max_abs_diff"] = worst
        say(f"  generated module vs compiled model: max |diff| {worst:.2e} over {len(report['cases'])} cases")
        if worst > atol:
            raise VerificationError(f"the generated module differs from the design by {worst:.3g} (> {atol:.0e}); "
                                    f"{path} was not written", report)
    else:
        report["class_name"] = _class_name(project.name)
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
    say(f"wrote {path} ({report['class_name']}) and {wpath}")
    return report
