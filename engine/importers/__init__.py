"""Bring existing models in: Keras 3 `.keras` files and ONNX files -> a design + a run folder whose
checkpoint holds the imported weights (docs/import.md). No Qt, no TensorFlow, keras not imported.

    import_model(path) -> ImportedModel          raises ImportRefused (one line) for what cannot map
    write_import(imported, design_path, runs_dir="runs") -> run folder Path
"""

from .common import (
    ImportedModel,
    ImportRefused,
    build_checked,
    import_model,
    write_import,
)

__all__ = ["ImportRefused", "ImportedModel", "build_checked", "import_model", "write_import"]
