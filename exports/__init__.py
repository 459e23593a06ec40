"""RNN Studio exports: verified ONNX for deployment, and readable standalone PyTorch source. No Qt.

    export_onnx(model, project, path, *, opset=17, verify=True, meta=None,
                include_normalization=False, atol=1e-4, seed=0) -> ExportResult
    export_pytorch(model, project, path, *, meta=None, verify=True) -> ExportResult
    verify_onnx(onnx_path, module, input_shape, ...) -> Verification
    read_metadata(onnx_path) -> dict[str, str]

See docs/export.md.
"""

from .errors import ExportError, VerificationError
from .onnx_export import (
    DEFAULT_OPSET,
    EXPORTER,
    INPUT_NAME,
    MAX_OPSET,
    MIN_OPSET,
    OUTPUT_NAME,
    ExportReport,
    export_onnx,
    onnx_bytes,
    opset_problems,
    read_metadata,
    report_path_for,
)
from .pytorch_source import export_pytorch, generate_source
from .result import ExportResult
from .verify import DEFAULT_ATOL, Verification, verify_onnx

__all__ = [
    "ExportError",
    "VerificationError",
    "ExportResult",
    "ExportReport",
    "export_onnx",
    "onnx_bytes",
    "export_pytorch",
    "generate_source",
    "verify_onnx",
    "Verification",
    "read_metadata",
    "report_path_for",
    "opset_problems",
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "MAX_OPSET",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "EXPORTER",
    "DEFAULT_ATOL",
]
