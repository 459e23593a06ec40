"""Run a foreign ONNX file with onnxruntime in a child process of bounded memory and time.

The import check runs the file it imports. Its graph has passed the importer's checks first (every
operator one import maps, every stored tensor's size declared and checked), but a graph can still ask
onnxruntime for more memory or time than a check should take: the child runs under RLIMIT_AS and a wall
clock timeout (RNN_STUDIO_IMPORT_CHECK_S), in Python's isolated mode (-I: nothing from the current folder
or PYTHONPATH), so the worst a file can do is be refused with one line.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import limits
from ..limits import excerpt

_CHILD = r"""
import resource, sys
limit = int(sys.argv[3])
try:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = limit if soft == resource.RLIM_INFINITY else min(limit, soft)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
except (ValueError, OSError):
    pass
import numpy as np
import onnxruntime as ort
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
sess = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
data = np.load(sys.argv[2])
out = {k: sess.run(None, {name: data[k]})[0] for k in data.files}
np.savez(sys.argv[2][:-4] + "-out.npz", **out)
"""


def run_onnx(path: Path, inputs: list[np.ndarray], error: type[Exception] = ValueError) -> list[np.ndarray]:
    """The file's output for each input, computed by onnxruntime in a bounded child process; a failure,
    a timeout or running out of its memory raises `error` (the importer passes ImportRefused) naming the file."""
    seconds = limits.IMPORT_CHECK_S.value()
    memory = int(1.5 * 1024**3 + 2 * limits.MAX_MODEL_MB.value() * 1e6)
    with tempfile.TemporaryDirectory(prefix="rnn-studio-import-") as tmp:
        feed = Path(tmp) / "in.npz"
        arrays: dict[str, Any] = {f"x{i}": x for i, x in enumerate(inputs)}
        np.savez(feed, **arrays)
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", _CHILD, str(Path(path).resolve()), str(feed), str(memory)],
                capture_output=True,
                timeout=seconds,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise error(
                f"{path}: onnxruntime ran it for over {seconds:,.0f} s on a small input: refused; "
                f"{limits.IMPORT_CHECK_S.hint()}"
            ) from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit {done.returncode}"]
            why = lines[-1]
            if "MemoryError" in why or "bad_alloc" in why or "allocat" in why.lower() or done.returncode < 0:
                why = f"out of its {memory / 1e9:,.1f} GB of memory or killed ({excerpt(why, 120)})"
            raise error(f"{path}: onnxruntime cannot run it ({excerpt(why, 200)})")
        with np.load(Path(tmp) / "in-out.npz") as result:
            return [result[f"x{i}"] for i in range(len(inputs))]
