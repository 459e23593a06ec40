"""Checkpoint files: written complete or not at all, read without ever unpickling foreign code. No Qt.

A run folder is something people share, so a checkpoint is untrusted input. Every checkpoint read in
RNN Studio goes through `load_checkpoint`, which uses `torch.load(..., weights_only=True)`: PyTorch's
restricted unpickler that builds only tensors, dicts, lists, tuples, numbers, strings and None and
refuses any other global (the way a crafted pickle runs code). Our checkpoints hold only those types
(format version 2: the numpy RNG state is stored as a tensor and ints).

Checkpoints written by RNN Studio 0.1 (format version 1) pickle the numpy RNG state as a numpy array.
They still load: only when the file's globals are exactly numpy's array reconstruction (checked by
scanning the pickle without running it) are those few numpy names allowed for that one load. Anything
else is refused with one line and nothing in the file runs.

A checkpoint carries its format version, the design's fingerprint (`design_fingerprint`) and the
shape of every model tensor; `check_checkpoint` compares them with the design before the weights are
used and names what differs.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

from ..design.project import Project, atomic_write_bytes

CHECKPOINT_FORMAT = "rnn-studio-checkpoint"
CHECKPOINT_VERSION = 2  # 1: RNN Studio 0.1 (numpy RNG state pickled); 2: plain types, fingerprint, shapes
READABLE_VERSIONS = (1, 2)
# the only globals a 0.1 checkpoint needs besides PyTorch's safe set: numpy's array reconstruction
_LEGACY_NUMPY_GLOBALS = {
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.dtypes.UInt32DType",
}


class RunError(ValueError):
    """A run folder or checkpoint that cannot be used; one clear line. (Defined here, below the run folder,
    and re-exported by runs: the usual place to import it from.)"""


def design_fingerprint(project: Project) -> str:
    """sha256 (first 16 hex digits) of the design's architecture: block ids, types, parameters with
    defaults filled in, and links. Names, positions and training settings do not count."""
    arch = {
        "blocks": [[b.id, b.type, b.resolved()] for b in project.blocks],
        "links": [list(link) for link in project.links],
    }
    text = json.dumps(arch, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def tensor_shapes(state_dict: dict[str, Any]) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in state_dict.items() if hasattr(v, "shape")}


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to memory, then temp file + fsync + os.replace: the file at `path` is the old complete
    checkpoint or the new complete one, never a partial one. An OSError names the path (RunError)."""
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    remove_stale_temps(path)
    try:
        atomic_write_bytes(path, buf.getvalue())
        _fsync_folder(path.parent)  # the rename itself survives a power loss
    except OSError as e:
        raise RunError(
            f"{path}: cannot write checkpoint ({e.strerror or e}): free some space or choose a writable output folder"
        ) from None


def process_alive(pid: Any) -> bool:
    """Whether a process with this id runs on this host (any owner); runs.py re-exports it for LOCK owners."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except (OSError, OverflowError):
        return False
    return True


def remove_stale_temps(path: Path, older_than_s: float = 3600.0) -> list[Path]:
    """Delete the temp files (`.<name>.<pid>-*.tmp`) that a writer of `path` killed mid-write (kill -9,
    power loss) left behind: those whose process is gone, and unnamed older ones (an older RNN Studio's
    temps carry no pid) not touched for `older_than_s`. Returns what was deleted."""
    import re
    import time

    gone: list[Path] = []
    try:
        candidates = list(Path(path).parent.glob(f".{Path(path).name}.*.tmp"))
    except OSError:
        return gone
    for tmp in candidates:
        hit = re.fullmatch(rf"\.{re.escape(Path(path).name)}\.(\d+)-.*\.tmp", tmp.name)
        try:
            stale = not process_alive(int(hit.group(1))) if hit else time.time() - tmp.lstat().st_mtime > older_than_s
            if stale and tmp.is_file():
                tmp.unlink()
                gone.append(tmp)
        except (OSError, ValueError, OverflowError):
            continue
    return gone


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a folder: the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _legacy_numpy_globals(names: set[str]) -> list[Any] | None:
    """The numpy objects to allow when `names` (a checkpoint's unsafe globals) are a 0.1 checkpoint's."""
    if not names or not names <= _LEGACY_NUMPY_GLOBALS:
        return None
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct  # numpy 2
    except ImportError:  # pragma: no cover - numpy 1
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]  # same function, old home
    uint32_dtype = type(np.dtype(np.uint32))
    return [
        np.ndarray,
        np.dtype,
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
        (uint32_dtype, "numpy.dtypes.UInt32DType"),
    ]


def _unsafe_globals(path: Path) -> set[str]:
    import torch

    try:
        return set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # not a zip checkpoint / unreadable: the caller reports the load error
        return set()


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """The checkpoint at `path` as a dict, read with weights_only=True. RunError (one line) for a missing,
    truncated, foreign or code-carrying file; the file's code never runs."""
    import torch

    from ..design.project import regular_file_size

    path = Path(path)
    regular_file_size(path, RunError, missing_fix=": missing checkpoint", folder="not a checkpoint file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        unsafe = _unsafe_globals(path)
        allowed = _legacy_numpy_globals(unsafe)
        if allowed is None:
            names = ", ".join(sorted(unsafe)[:3]) or "objects outside the allowed types"
            raise RunError(
                f"{path}: refused: loading it would run code ({names}); RNN Studio checkpoints "
                f"hold only tensors and plain values - do not use this file"
            ) from None
        with torch.serialization.safe_globals(allowed):
            ckpt = _load_plain(path, map_location)
        _plain_numpy_rng(ckpt)
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        TypeError,  # a storage record with a negative size, a wrong type
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        MemoryError,  # a storage declaring more than this machine holds
        RecursionError,
    ) as e:
        raise RunError(
            f"{path}: cannot read checkpoint ({type(e).__name__}: {_first_line(e)}): the file is damaged or incomplete"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path}: not an RNN Studio checkpoint")
    version = ckpt.get("version")
    if version not in READABLE_VERSIONS:
        raise RunError(
            f"{path}: checkpoint format version {version!r} is not one this RNN Studio reads "
            f"({', '.join(map(str, READABLE_VERSIONS))}): use the RNN Studio that wrote it or retrain"
        )
    if not isinstance(ckpt.get("model"), dict):
        raise RunError(f"{path}: the checkpoint has no model weights (key 'model' missing): retrain the run")
    check_meta(ckpt, path)
    return ckpt


def _load_plain(path: Path, map_location: str) -> Any:
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise RunError(f"{path}: refused: {_first_line(e)}") from None


def _plain_numpy_rng(ckpt: Any) -> None:
    """A 0.1 checkpoint's numpy RNG state (a tuple holding an ndarray) in the version-2 form."""
    rng = ckpt.get("rng") if isinstance(ckpt, dict) else None
    if isinstance(rng, dict) and isinstance(rng.get("numpy"), tuple):
        rng["numpy"] = numpy_state_to_plain(rng["numpy"])


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def numpy_state_to_plain(state: Any) -> dict[str, Any]:
    """np.random.get_state() as plain values: {"name", "keys" (uint32 tensor as int64), "pos", ...}."""
    import torch

    name, keys, pos, has_gauss, gauss = state
    return {
        "name": str(name),
        "keys": torch.as_tensor(keys.astype("int64")),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(gauss),
    }


def numpy_state_from_plain(state: dict[str, Any]) -> tuple:
    import numpy as np

    keys = np.asarray(state["keys"].cpu().numpy() if hasattr(state["keys"], "cpu") else state["keys"])
    return (
        state["name"],
        keys.astype(np.uint32),
        int(state["pos"]),
        int(state["has_gauss"]),
        float(state["cached_gaussian"]),
    )


def check_checkpoint(ckpt: dict[str, Any], path: Path, model, project: Project | None = None) -> None:
    """Refuse (RunError naming what differs) a checkpoint whose design fingerprint is not `project`'s
    (when both are known) or whose model tensors do not match `model`'s names and shapes."""
    want = model.state_dict()
    if project is not None and ckpt.get("fingerprint") not in (None, design_fingerprint(project)):
        raise RunError(
            f"{path}: the checkpoint belongs to another design (fingerprint {ckpt['fingerprint']}, "
            f"this design's is {design_fingerprint(project)}): use the run's own project.rnn.json"
        )
    got = ckpt["model"]
    missing = [k for k in want if k not in got]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise RunError(
            f"{path}: the checkpoint has no weights for {missing[0]!r}{more}: it was saved from another design"
        )
    extra = [k for k in got if k not in want]
    if extra:
        raise RunError(
            f"{path}: the checkpoint has weights {extra[0]!r} that this design does not have: it was "
            f"saved from another design"
        )
    for k, v in want.items():
        shape = list(getattr(got[k], "shape", []))
        if not hasattr(got[k], "shape") or shape != list(v.shape):
            raise RunError(
                f"{path}: tensor {k!r} has shape {shape} in the checkpoint but {list(v.shape)} in "
                f"the design: it was saved from another design"
            )
    recorded = ckpt.get("shapes")
    if isinstance(recorded, dict):
        for k, shape in recorded.items():
            if k in got and list(shape) != list(got[k].shape):
                raise RunError(
                    f"{path}: tensor {k!r} is {list(got[k].shape)} but the checkpoint records "
                    f"{list(shape)}: the file is damaged"
                )


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _meta_problem(meta: Any) -> str | None:
    """What is wrong with a checkpoint's `meta` (the preprocessing a deployment reproduces), or None."""
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return f"'meta' is a {type(meta).__name__}, not a mapping"
    if meta.get("task", "regression") not in ("regression", "classification"):
        return f"meta.task is {meta.get('task')!r}, not regression or classification"
    features = meta.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, (str, int)) for f in features):
        return "meta.features is not a list of column names"
    for key in ("x_mean", "x_std"):
        v = meta.get(key)
        if v is not None and (not isinstance(v, list) or len(v) != len(features) or not all(map(_is_number, v))):
            return f"meta.{key} is not a list of {len(features)} finite numbers (one per feature)"
    for key in ("y_mean", "y_std"):
        if meta.get(key) is not None and not _is_number(meta[key]):
            return f"meta.{key} is not a finite number"
    for key, low in (("lookback", 1), ("horizon", 0)):
        v = meta.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            return f"meta.{key} is {v!r}, not a whole number >= {low}"
    if meta.get("target") is not None and not isinstance(meta["target"], str):
        return "meta.target is not a column name"
    if meta.get("classes") is not None and not isinstance(meta["classes"], list):
        return "meta.classes is not a list"
    return None


def check_meta(ckpt: dict[str, Any], path: Path) -> None:
    problem = _meta_problem(ckpt.get("meta"))
    if problem:
        raise RunError(f"{path}: {problem}: the checkpoint's metadata is damaged; retrain the run")


def check_resumable(ckpt: dict[str, Any], path: Path) -> None:
    """The parts a resume restores are present and of the right kind (RunError naming the first that is not)."""
    for key in ("optimizer", "rng", "train_state", "config"):
        if not isinstance(ckpt.get(key), dict):
            raise RunError(
                f"{path}: the checkpoint has no usable {key!r} (needed to resume): start a new run, "
                f"e.g. with --init-from to keep the weights"
            )
    import torch

    rng = ckpt["rng"]
    if not (
        isinstance(rng.get("torch"), torch.Tensor)
        and isinstance(rng.get("python"), tuple)
        and isinstance(rng.get("numpy"), dict)
    ):
        raise RunError(
            f"{path}: the checkpoint's random-number state is damaged (needed to resume): start a "
            f"new run, e.g. with --init-from to keep the weights"
        )
