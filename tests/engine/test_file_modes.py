"""Files the app saves get the mode a plain open() would give them under the user's umask (issue 23,
item 2): temp file + rename used to keep mkstemp's private 0600 for exports, predictions, checkpoints,
imported designs. Run folders are made with the umask's folder mode."""

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from rnn_studio import cli
from rnn_studio.engine import load_project

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "assets" / "examples" / "cnn-lstm.rnn.json"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_saved_files_follow_the_umask(tmp_path, umask, capsys):
    file_mode, dir_mode = 0o666 & ~umask, 0o777 & ~umask
    design = tmp_path / "d.rnn.json"
    load_project(SEED).save(design)
    data = tmp_path / "s.csv"
    data.write_text("value\n" + "".join(f"{np.sin(i / 3):.4f}\n" for i in range(80)))
    runs = tmp_path / "runs"
    assert cli.main(["train", str(design), "--data", str(data), "--max-steps", "2", "--out", str(runs)]) == 0
    run = next(runs.iterdir())
    out_csv, onnx = tmp_path / "p.csv", tmp_path / "m.onnx"
    assert cli.main(["predict", str(run), "--data", str(data), "-o", str(out_csv)]) == 0
    assert cli.main(["export", str(run), "-o", str(onnx)]) == 0
    capsys.readouterr()
    files = [design, out_csv, onnx, Path(str(onnx) + ".verify.json")]
    files += [p for p in run.rglob("*") if p.is_file()]
    assert len(files) > 6
    wrong = {str(p.relative_to(tmp_path)): oct(mode(p)) for p in files if mode(p) != file_mode}
    assert wrong == {}, f"expected {oct(file_mode)} under umask {oct(umask)}"
    folders = [run, *[p for p in run.rglob("*") if p.is_dir()]]
    assert {oct(mode(p)) for p in folders} == {oct(dir_mode)}
