"""Bring existing models in: Keras 3 `.keras` files and ONNX files -> a design + a run folder whose
checkpoint holds the imported weights (docs/import.md). No Qt, no TensorFlow, keras not imported.

    import_model(path) -> ImportedModel          raises ImportRefused (one line) for what cannot map
    write_import(imported, design_path, runs_dir="runs") -> run folder Path
    fine_tune_note(run) -> str | None            `train --init-from RUN`'s note when RUN is an import

The dispatcher sits above the formats, the shared helpers below them (each module imports only the
ones below it; nothing imports this package's modules back up):

    __init__        import_model: checks the file, picks the format by suffix, applies the limits;
                    the format modules are imported inside it, so h5py / onnx load only when used
    keras           .keras archives (config.json + model.weights.h5)
    onnx            .onnx files: our own exports (design in the metadata) or foreign graphs, then the
                    import check against onnxruntime (onnx_run: a bounded child process)
    onnx_patterns   foreign graphs recognised as blocks (PatternReader), channels-first 1D layers in
    onnx_channels   front of them
    onnx_graph      the graph as read and checked (Graph, load_graph), node helpers, recurrent weights,
                    and the symbolic values the patterns give tensors (Seq, Vec, ChannelsFirst, ...)
    saving          an import as a run folder (write_import) and fine_tune_note; the only module that
                    imports training/
    common          ImportRefused, ImportedModel, DesignBuilder, gate orders, build_checked,
                    check_meta_fields
"""

from __future__ import annotations

from pathlib import Path

from .common import ImportedModel, ImportRefused, build_checked, check_meta_fields
from .saving import fine_tune_note, write_import

__all__ = ["ImportRefused", "ImportedModel", "build_checked", "fine_tune_note", "import_model", "write_import"]


def import_model(path: str | Path) -> ImportedModel:
    """Read a .keras or .onnx file into a design + weights; raises ImportRefused."""
    p = Path(path)
    from ..design.project import regular_file_size

    regular_file_size(
        p, ImportRefused, missing_fix=": pass a Keras 3 .keras file or an .onnx file", folder="not a model file"
    )
    suffix = p.suffix.lower()
    try:
        if suffix == ".keras":
            from .keras import import_keras

            return _within_limits(import_keras(p))
        if suffix == ".onnx":
            from .onnx import import_onnx

            return _within_limits(import_onnx(p))
    except ImportRefused:
        raise
    except (
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        AttributeError,
        OverflowError,
        MemoryError,
        RecursionError,
        OSError,  # h5py: a dataset it cannot read (a filter that is not available, damaged chunks)
        RuntimeError,
    ) as e:
        # the mappers index the file's config and weights as the format defines them: a file that
        # breaks those rules is damaged or crafted; one line, never a traceback
        from ..limits import excerpt

        raise ImportRefused(
            f"{p}: malformed model file ({type(e).__name__}: {excerpt(str(e))}): it does not follow the "
            f"{'Keras 3' if suffix == '.keras' else 'ONNX'} format's rules"
        ) from None
    if suffix in (".h5", ".hdf5"):
        raise ImportRefused(
            f"{p}: legacy Keras 2 HDF5 models are not supported: re-save it with Keras 3 as model.save('model.keras')"
        )
    raise ImportRefused(
        f"{p}: unknown model file type {suffix or '(none)'!r}: import reads .keras (Keras 3) and .onnx files"
    )


def _within_limits(imported: ImportedModel) -> ImportedModel:
    """An import must give a design that every other verb opens: the project file's own limits (block
    count, name length) and a run meta that loads (features a list of names, lookback >= 1)."""
    from .. import limits

    source = imported.source
    imported.project.name = limits.printable(imported.project.name)  # a lone surrogate cannot be saved as UTF-8
    cap = limits.MAX_NAME_CHARS.int_value()
    if len(imported.project.name) > cap:
        imported.project.name = imported.project.name[:cap]
        imported.notes.append(f"the model's name was cut to {cap} characters (the design name limit)")
    blocks = limits.MAX_BLOCKS.int_value()
    if len(imported.project.blocks) > blocks or len(imported.project.links) > 4 * blocks:
        raise ImportRefused(
            f"{source}: the imported design has {len(imported.project.blocks):,} blocks, over the limit of "
            f"{blocks:,}; {limits.MAX_BLOCKS.hint()}"
        )
    check_meta_fields(imported.meta, source)
    return imported
