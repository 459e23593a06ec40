"""The `data` verb and the data flags of train / evaluate / predict, as a user runs them: exit codes,
one-line messages, and what the command line imports."""

import subprocess
import sys

import numpy as np

from rnn_studio import cli


def test_every_verb_is_registered_by_the_module_the_dispatch_imports():
    """`rnn-studio VERB` imports only VERB's module: the table must match what each module registers."""
    for module, verbs in cli.COMMAND_MODULES.items():
        parser = cli.build_parser([module])
        assert set(parser._subparsers._group_actions[0].choices) == set(verbs), module
    full = cli.build_parser()
    assert set(full._subparsers._group_actions[0].choices) == set(cli.VERB_MODULE)


def test_the_data_verb_imports_no_training_export_or_gui_code(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("t,v\n" + "".join(f"{i},{np.sin(i):.4f}\n" for i in range(50)))
    code = (
        "import sys; from rnn_studio.cli import main; rc = main(['data', sys.argv[1]]); "
        "heavy = sorted(m for m in ('torch', 'tqdm', 'h5py', 'onnx', 'pandas', 'PySide6', "
        "'rnn_studio.commands.training', 'rnn_studio.commands.export') if m in sys.modules); "
        "print('heavy:', heavy); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "heavy: []" in out.stdout
    assert "50 rows x 2 columns" in out.stdout


def test_column_summary_reads_chunked_columns_without_joining_them(tmp_path):
    """pyarrow hands a big CSV over in blocks; the summary spans block boundaries correctly and leaves
    the columns unjoined (no second copy of the data)."""
    from rnn_studio.commands.data import column_summary
    from rnn_studio.engine import tables

    n = 60_000
    rng = np.random.default_rng(1)
    v = rng.normal(size=n)
    v[[5, 40_000]] = np.nan
    f = tmp_path / "big.csv"
    lines = [f"{i},{'' if np.isnan(x) else f'{x:.6f}'},{i * 2}" for i, x in enumerate(v)]
    f.write_text("step,v,w\n" + "\n".join(lines) + "\n")
    old = tables.CSV_BLOCK_BYTES
    tables.CSV_BLOCK_BYTES = 1 << 16  # many blocks
    try:
        table = tables.read_table(f)
    finally:
        tables.CSV_BLOCK_BYTES = old
    assert len(table.cols.chunks("v")) > 3
    s = {e["name"]: e for e in column_summary(table)}
    ok = v[~np.isnan(v)]
    assert s["v"]["missing"] == 2 and s["v"]["monotonic"] is False
    assert float(s["v"]["min"]) == round(float(ok.min()), 6) and float(s["v"]["max"]) == round(float(ok.max()), 6)
    assert s["step"] == {**s["step"], "min": "0", "max": str(n - 1), "monotonic": True, "missing": 0}
    assert s["w"]["monotonic"] is True and s["w"]["max"] == str(2 * (n - 1))
    assert len(table.cols.chunks("v")) > 3  # still not joined
    assert table.cell_text("v", 5) == "" and table.cell_text("step", 59_999) == str(n - 1)
    joined = table.columns["v"]
    assert joined.shape == (n,) and np.isnan(joined[40_000])
