"""Export errors. Every message is one line that says what is wrong and how to fix it."""


class ExportError(ValueError):
    """The export cannot be made (unsupported block for the opset, unwritable path, missing statistics...).

    No file is left at the requested path."""


class VerificationError(ExportError):
    """The exported model differs from PyTorch beyond tolerance (or fails the ONNX checker).

    `report` holds the full verification report (also saved as JSON beside the target path)."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report
