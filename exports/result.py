"""`ExportResult`: what an export wrote and how it verified, the one record both exporters return.

The CLI prints its fields, the GUI's export dialog shows them, and the ONNX export saves it as
`<model>.onnx.verify.json` (`to_json`). Read it by attribute (`result.tolerance`); there is no dict-style
access, so a misspelled field fails loudly instead of falling back to a default.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .verify import DEFAULT_ATOL, Case

DEFAULT_OPSET = 17
INPUT_NAME = "sequence"
OUTPUT_NAME = "prediction"
EXPORTER = "torchscript (torch.onnx.export, dynamo=False)"


@dataclass
class ExportResult:
    """format "onnx": the model file and its verification report; format "pytorch": the generated source
    (`path`), its weights (`weights_path`) and the generated class (`class_name`)."""

    path: str
    report_path: str | None = None
    format: str = "onnx"  # "onnx" | "pytorch"
    project_name: str = ""
    opset: int | None = DEFAULT_OPSET  # None for PyTorch source
    exporter: str = EXPORTER
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    input_shape: list = field(default_factory=list)  # "batch" / "time" for dynamic axes
    output_shape: list = field(default_factory=list)
    dynamic_time: bool = False
    include_normalization: bool = False
    ops: dict[str, int] = field(default_factory=dict)
    recurrent_nodes: dict[str, int] = field(default_factory=dict)
    verified: bool = False  # verification ran
    passed: bool | None = None  # None when not verified
    checker: str = "not run"
    structure_problems: list[str] = field(default_factory=list)
    tolerance: float = DEFAULT_ATOL  # a case passes when max |diff| <= tolerance (x max(1, |output|) for ONNX)
    max_abs_diff: float | None = None
    cases: list[Case] = field(default_factory=list)  # batch, time, max_abs_diff, passed, max_abs_output
    message: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    file_bytes: int = 0
    seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)
    # precision (exports/precision.py): fp32 unless fp16 / int8 was asked for; the figures below compare the
    # written model with the fp32 one (null when not measured: a plain fp32 export)
    precision: str = "fp32"
    fp32_file_bytes: int | None = None
    p50_ms: float | None = None  # one call, batch 1, one thread
    fp32_p50_ms: float | None = None
    fp32_max_abs_diff: float | None = None  # |this model - the fp32 model| on the verification inputs
    fp32_mean_abs_diff: float | None = None
    kept_fp32_nodes: list[str] = field(default_factory=list)  # nodes the precision could not convert
    metric_name: str | None = None  # val_rmse / val_accuracy on a run's own validation windows
    metric: float | None = None
    fp32_metric: float | None = None
    metric_delta: float | None = None  # metric - fp32_metric
    max_delta: float | None = None  # the allowed accuracy loss (--max-delta); above it the export fails
    weights_path: str | None = None  # PyTorch source: the state_dict beside it
    class_name: str | None = None  # PyTorch source: the generated nn.Module

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(_finite(self.to_dict()), indent=2) + "\n"


def _finite(o):
    """Strict JSON: non-finite numbers (a failed case) become null."""
    if isinstance(o, float):
        return o if o == o and abs(o) != float("inf") else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o
