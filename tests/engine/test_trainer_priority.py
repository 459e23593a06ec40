"""A trainer started from the designer runs at a lower CPU priority (issue 23, responsiveness): with four
runs on two cores the editor's event loop waited up to ~300 ms for a core."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_gui_trainer_yields_the_cpu():
    code = (
        "import os\nfrom rnn_studio.engine.training.train import GUI_TRAINER_NICE, yield_cpu_to_editor\n"
        "before = os.nice(0)\nyield_cpu_to_editor()\nprint(os.nice(0) - before, GUI_TRAINER_NICE)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lowered, wanted = map(int, r.stdout.split())
    assert lowered == wanted > 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the nice value from /proc")
@pytest.mark.slow
def test_a_designer_run_trains_at_lower_priority(tmp_path):
    from rnn_studio.engine import load_project
    from rnn_studio.engine.training.runs import request_stop
    from rnn_studio.engine.training.train import GUI_TRAINER_NICE, start_training_process

    project = load_project(ROOT / "assets" / "examples" / "seed-keras.rnn.json")
    proc, run_dir = start_training_process(project, {"demo": "sine"}, {"epochs": 500}, out_dir=tmp_path)
    try:
        deadline, seen = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.is_alive():
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            seen = int(fields[16])  # field 19 of stat: the nice value
            if seen == GUI_TRAINER_NICE:
                break
            time.sleep(0.05)
        assert seen == GUI_TRAINER_NICE
    finally:
        request_stop(run_dir)
        proc.join(30)
        if proc.is_alive():
            proc.kill()
