"""`export --precision fp16|int8`, `--max-delta` and `rnn-studio profile`: what a person deploying sees."""

import json

import numpy as np
import onnx
import pytest

from rnn_studio.cli import main
from rnn_studio.exports import read_metadata, report_path_for
from rnn_studio.exports.verify import make_session

from .conftest import EXAMPLES

LSTM_ONLY = EXAMPLES / "lstm-only.rnn.json"
SEED_KERAS = EXAMPLES / "seed-keras.rnn.json"
INT8_SIZE_LIMIT = 0.35  # int8 of an LSTM-only design: at most 35 % of the fp32 file (measured ~30 %)
INT8_RELATIVE_DELTA = 0.02  # and its validation RMSE within 2 % of fp32's (measured ~0.02 %)


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory):
    """A real run of the LSTM-only example on the chaos demo (a few seconds): its data spec lets the export
    measure validation RMSE again."""
    out = tmp_path_factory.mktemp("runs")
    code = main(
        [
            "train",
            str(LSTM_ONLY),
            "--demo",
            "chaos",
            "--epochs",
            "2",
            "--seed",
            "3",
            "--out",
            str(out),
            "--threads",
            "1",
        ]
    )
    assert code == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def exit_code(argv) -> int:
    """main()'s exit code; argparse's own errors (an unknown choice) exit through SystemExit."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


def export(*args):
    return exit_code(["export", *map(str, args)])


def report(path):
    return json.loads(report_path_for(path).read_text())


@pytest.mark.slow
def test_int8_of_an_lstm_only_run_is_small_and_keeps_its_rmse(lstm_run, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert export(lstm_run, "-o", out, "--precision", "int8") == 0
    printed = capsys.readouterr().out
    rep = report(out)
    assert rep["precision"] == "int8" and read_metadata(out)["precision"] == "int8"
    assert out.stat().st_size == rep["file_bytes"]
    assert rep["file_bytes"] <= INT8_SIZE_LIMIT * rep["fp32_file_bytes"]
    assert rep["kept_fp32_nodes"] == []  # every LSTM quantized
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    assert rep["metric_name"] == "val_rmse" and rep["fp32_metric"] > 0
    assert abs(rep["metric_delta"]) <= INT8_RELATIVE_DELTA * rep["fp32_metric"]
    assert rep["p50_ms"] > 0 and rep["fp32_p50_ms"] > 0
    assert 0 < rep["fp32_max_abs_diff"] < 0.05 and rep["fp32_mean_abs_diff"] <= rep["fp32_max_abs_diff"]
    assert "precision int8:" in printed and "val_rmse on the run's validation windows" in printed
    md = read_metadata(out)  # metadata as for fp32
    assert md["normalization"] == "external" and md["project_name"] == "lstm-only"


@pytest.mark.slow
def test_max_delta_fails_with_exit_3_and_writes_nothing(lstm_run, tmp_path, capsys):
    probe = tmp_path / "probe.onnx"
    for precision in ("int8", "fp16"):
        assert export(lstm_run, "-o", probe, "--precision", precision) == 0
        loss = report(probe)["metric_delta"]  # RMSE: positive = worse
        if loss > 0:
            break
    assert loss > 0, "neither precision lost any RMSE: nothing to exceed"
    out = tmp_path / "strict.onnx"
    assert export(lstm_run, "-o", out, "--precision", precision, "--max-delta", loss / 2) == 3
    assert "more than --max-delta" in capsys.readouterr().err
    assert not out.exists() and report(out)["passed"] is False
    assert export(lstm_run, "-o", out, "--precision", precision, "--max-delta", loss * 2) == 0
    assert out.exists()


def test_include_normalization_folds_into_int8_and_fp16(lstm_run, tmp_path):
    for precision in ("int8", "fp16"):
        out = tmp_path / f"raw-{precision}.onnx"
        assert export(lstm_run, "-o", out, "--precision", precision, "--include-normalization") == 0
        assert read_metadata(out)["normalization"] == "in_graph"
        rep = report(out)
        assert abs(rep["metric_delta"]) <= INT8_RELATIVE_DELTA * rep["fp32_metric"]


def test_int8_names_the_gru_it_keeps_in_fp32(tmp_path, capsys):
    out = tmp_path / "sk.onnx"
    assert export(SEED_KERAS, "-o", out, "--precision", "int8") == 0
    assert report(out)["kept_fp32_nodes"] == ["/g/rnn/GRU"]
    assert "kept in fp32 (int8 has no rule for them): /g/rnn/GRU" in capsys.readouterr().out
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert "GRU" in ops and "DynamicQuantizeLSTM" in ops


def test_fp16_keeps_float32_inputs_and_outputs(tmp_path):
    out = tmp_path / "sk16.onnx"
    assert export(SEED_KERAS, "-o", out, "--precision", "fp16") == 0
    sess = make_session(out)
    assert sess.get_inputs()[0].type == "tensor(float)" and sess.get_outputs()[0].type == "tensor(float)"
    rep = report(out)
    assert rep["file_bytes"] < 0.75 * rep["fp32_file_bytes"]
    assert rep["fp32_max_abs_diff"] < 1e-2 and "/g/rnn/GRU" in rep["kept_fp32_nodes"]
    x = np.random.default_rng(0).normal(size=(2, 10, 1)).astype(np.float32)
    assert sess.run(None, {"sequence": x})[0].dtype == np.float32


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--precision", "int4"], "invalid choice"),
        (["--precision", "int8", "--max-delta", "0.1"], "run folder"),  # a design has no validation windows
        (["--max-delta", "-1"], "--max-delta"),
        (["--precision", "fp16", "--format", "pytorch"], "--format onnx"),
    ],
)
def test_bad_precision_flags_exit_2(tmp_path, capsys, args, words):
    out = tmp_path / ("m.py" if "pytorch" in args else "m.onnx")
    assert export(SEED_KERAS, "-o", out, *args) == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_profile_block_times_add_up_to_the_median(capsys):
    assert main(["profile", str(EXAMPLES / "seed-pytorch.rnn.json"), "--json", "--batch", "4"]) == 0
    prof = json.loads(capsys.readouterr().out)
    assert prof["threads"] == 1 and prof["batch"] == 4 and prof["length"] == 10
    assert set(prof["blocks"]) == {"x", "lstm1", "lstm2", "gru", "fc"}
    total = sum(b["ms"] for b in prof["blocks"].values()) + prof["overhead_ms"]
    assert total == pytest.approx(prof["p50_ms"], abs=1e-3)
    assert prof["overhead_ms"] >= 0 and prof["p90_ms"] >= prof["p50_ms"]
    recurrent = sum(prof["blocks"][b]["ms"] for b in ("lstm1", "lstm2", "gru"))
    assert recurrent > prof["blocks"]["fc"]["ms"] and prof["blocks"]["x"]["ms"] == 0


@pytest.mark.slow
def test_profile_text_names_threads_and_blocks(capsys):
    assert main(["profile", str(SEED_KERAS), "--precision", "int8"]) == 0
    out = capsys.readouterr().out
    assert "1 intra-op thread(s)" in out and "overhead" in out and "p50" in out
    assert "kept in fp32: /g/rnn/GRU" in out


@pytest.mark.parametrize("args", [["--batch", "0"], ["--threads", "0"], ["--length", "20"], ["--precision", "bf16"]])
def test_profile_bad_flags_exit_2(capsys, args):
    assert exit_code(["profile", str(SEED_KERAS), *args]) == 2  # seed-keras has a fixed timesteps of 10
    assert capsys.readouterr().err.strip()
