"""Model files from strangers (issue #22): hostile .keras and .onnx files are refused with exit 2 and one
line naming the file and what is wrong, before anything large is allocated or any other file is read;
never exit 1, a traceback, a hang, an out-of-memory kill, or a read outside the file named."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

from .faults import cli, h5_bytes, keras_config, keras_file, keras_weights, ok_or_refused, with_layer_config
from .hostile import assert_refused


def _import(tmp_path, model, *extra):
    return cli("import", str(model), "-o", str(tmp_path / "out.rnn.json"), "--out", str(tmp_path / "runs"), *extra)


def _nothing_written(tmp_path):
    assert not (tmp_path / "out.rnn.json").exists()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# ---------------------------------------------------------------------------- .keras: a valid file first
@pytest.mark.slow
def test_hand_built_keras_file_imports(tmp_path):
    outcome = _import(tmp_path, keras_file(tmp_path / "m.keras"))
    assert outcome.code == 0, outcome.err
    assert (tmp_path / "out.rnn.json").is_file()


# ---------------------------------------------------------------------------- .keras: HDF5 reading other files
def _secret_file(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(64, dtype=np.float32).tobytes())
    return secret


def test_external_raw_storage_is_refused_by_name(tmp_path):
    secret = _secret_file(tmp_path)

    def fill(h5):
        keras_weights(h5)
        del h5["layers/dense/vars/0"]
        h5.create_dataset("layers/dense/vars/0", shape=(3, 1), dtype="f4", external=[(str(secret), 0, 12)])

    line = assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras", weights=h5_bytes(fill))), "another file")
    assert "m.keras" in line
    _nothing_written(tmp_path)


def test_external_storage_on_a_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def fill(h5):
        keras_weights(h5)
        del h5["layers/gru/cell/vars/0"]
        h5.create_dataset("layers/gru/cell/vars/0", shape=(2, 9), dtype="f4", external=[(str(fifo), 0, 72)])

    assert_refused(
        _import(
            tmp_path,
            keras_file(tmp_path / "m.keras", weights=h5_bytes(fill)),
        ),
        "another file",
    )


def test_external_link_is_refused_by_name(tmp_path):
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        keras_weights(h5)

    def fill(h5):
        keras_weights(h5)
        del h5["layers/dense"]
        h5["layers/dense"] = h5py.ExternalLink(str(other), "/layers/dense")

    line = assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras", weights=h5_bytes(fill))), "external links")
    assert "other.h5" in line


def test_virtual_dataset_is_refused(tmp_path):
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["x"] = np.ones((3, 1), np.float32)

    def fill(h5):
        keras_weights(h5)
        del h5["layers/dense/vars/0"]
        layout = h5py.VirtualLayout(shape=(3, 1), dtype="f4")
        layout[:] = h5py.VirtualSource(str(other), "x", shape=(3, 1))
        h5["layers/dense/vars"].create_virtual_dataset("0", layout)

    assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras", weights=h5_bytes(fill))), "another file")


# ---------------------------------------------------------------------------- .keras: sizes and types
def test_declared_shape_far_beyond_the_file_is_refused_before_allocating(tmp_path):
    def fill(h5):
        keras_weights(h5)
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars"].create_dataset(
            "0", shape=(200_000, 200_000), dtype="f4", chunks=(1, 1000), compression="gzip"
        )

    assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras", weights=h5_bytes(fill))), "declares shape")


@pytest.mark.parametrize("dtype", ["complex64", "S4", "int32"])
def test_non_float_weights_are_refused(tmp_path, dtype):
    def fill(h5):
        keras_weights(h5)
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars/0"] = np.ones((3, 1)).astype(dtype)

    line = assert_refused(
        _import(tmp_path, keras_file(tmp_path / "m.keras", weights=h5_bytes(fill))), "real floating-point"
    )
    assert "dense/vars/0" in line


def test_weights_disagreeing_with_the_config_are_refused(tmp_path):
    line = assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras", config=keras_config(units=4))), "disagree")
    assert "gru" in line


@pytest.mark.slow
def test_dense_weights_of_the_wrong_shape_are_refused(tmp_path):
    def fill(h5):
        keras_weights(h5)
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars/0"] = np.ones((7, 5), np.float32)

    assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras", weights=h5_bytes(fill))), "m.keras")


def test_non_integer_variable_keys_are_refused(tmp_path):
    def fill(h5):
        keras_weights(h5)
        h5["layers/dense/vars"].move("1", "bias")

    assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras", weights=h5_bytes(fill))), "numbers them")


# ---------------------------------------------------------------------------- .keras: config.json
@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ("[1, 2]", "not a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("{" + '"a": {' * 200_000 + "}" * 200_001, "nested more than"),
        ("[" * 900 + "]" * 900, "nested more than"),
        ("{not json", "not JSON"),
        ('{"class_name": "Sequential", "config": {"layers": 5}}', "not a list"),
    ],
    ids=["list", "utf16-bytes", "200k-deep", "900-deep", "garbage", "layers-not-list"],
)
def test_bad_config_json_is_refused(tmp_path, config, needle):
    assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras", config=config)), needle)


@pytest.mark.slow
def test_100000_layers_are_refused_before_any_work(tmp_path):
    config = keras_config()
    dense = config["config"]["layers"][2]
    config["config"]["layers"] += [json.loads(json.dumps(dense)) for _ in range(100_000)]
    outcome = _import(tmp_path, keras_file(tmp_path / "m.keras", config=config))
    assert_refused(outcome, "100,003 layers", "RNN_STUDIO_MAX_BLOCKS")
    assert outcome.seconds < 60


@pytest.mark.parametrize("units", ["eight", None, 0, True, [8], 1e30, -3, "missing"])
def test_bad_units_are_refused(tmp_path, units):
    config = with_layer_config({} if units == "missing" else {"units": units})
    if units == "missing":
        del config["config"]["layers"][1]["config"]["units"]
    assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras", config=config)), "units", "whole number")


# ---------------------------------------------------------------------------- .keras: the zip itself
def _bomb(path, megabytes):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(keras_config()))
        with z.open("model.weights.h5", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(megabytes):
                f.write(chunk)
    return path


def test_zip_bomb_member_is_refused_by_its_declared_size(tmp_path):
    bomb = _bomb(tmp_path / "bomb.keras", 40)
    outcome = cli("import", str(bomb), "-o", str(tmp_path / "o.rnn.json"), env={"RNN_STUDIO_MAX_MODEL_MB": "10"})
    assert_refused(outcome, "bomb.keras", "inflates to 42 MB, over the 10 MB limit", "RNN_STUDIO_MAX_MODEL_MB")


def test_zip_member_inflating_past_its_declared_size_is_capped(tmp_path):
    bomb = _bomb(tmp_path / "bomb.keras", 40)
    data = bytearray(bomb.read_bytes())
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # declare 100 bytes where 40 MB inflate
        at = data.rfind(sig)
        if data[at + off : at + off + 4] != b"\xff\xff\xff\xff":
            data[at + off : at + off + 4] = (100).to_bytes(4, "little")
    bomb.write_bytes(bytes(data))
    outcome = cli("import", str(bomb), "-o", str(tmp_path / "o.rnn.json"), env={"RNN_STUDIO_MAX_MODEL_MB": "10"})
    assert_refused(outcome, "bomb.keras")


def test_encrypted_member_is_refused(tmp_path):
    path = keras_file(tmp_path / "m.keras")
    data = bytearray(path.read_bytes())
    # set the "encrypted" flag (bit 0) in every local and central header of the archive
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (at := data.find(sig, start)) >= 0:
            data[at + off] |= 1
            start = at + 4
    path.write_bytes(bytes(data))
    assert_refused(_import(tmp_path, path), "encrypted")


# ---------------------------------------------------------------------------- what import writes
@pytest.mark.slow
def test_a_100000_character_name_gives_a_design_that_opens(tmp_path):
    model = keras_file(tmp_path / "m.keras", config=keras_config(name="n" * 100_000))
    outcome = _import(tmp_path, model)
    assert outcome.code == 0, outcome.err[-500:]
    assert cli("check", str(tmp_path / "out.rnn.json")).code == 0


def test_a_failed_import_leaves_no_design_behind(tmp_path):
    _import(tmp_path, keras_file(tmp_path / "m.keras", config=keras_config(units=4)))
    _nothing_written(tmp_path)


@pytest.mark.slow
def test_import_out_at_a_regular_file_is_refused(tmp_path):
    (tmp_path / "runs").write_text("x")
    line = assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras")), "runs")
    assert "None" not in line
    assert not (tmp_path / "out.rnn.json").exists()


@pytest.mark.slow
def test_import_out_in_an_unwritable_place_is_refused(tmp_path):
    place = "/proc/version/runs" if os.path.exists("/proc/version") else "/dev/null/runs"  # unwritable even as root
    outcome = cli("import", str(keras_file(tmp_path / "m.keras")), "-o", str(tmp_path / "o.rnn.json"), "--out", place)
    line = assert_refused(outcome, "/proc/version")
    assert "None" not in line
    assert not (tmp_path / "o.rnn.json").exists()


@pytest.mark.slow
def test_design_output_at_a_fifo_is_refused_and_leaves_no_run(tmp_path):
    os.mkfifo(tmp_path / "out.rnn.json")
    line = assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras")), "FIFO")
    assert "None" not in line
    assert not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_model_that_is_a_fifo_or_folder_is_named_as_such(tmp_path, kind):
    model = tmp_path / "m.keras"
    os.mkfifo(model) if kind == "fifo" else model.mkdir()
    line = assert_refused(_import(tmp_path, model), "FIFO" if kind == "fifo" else "is a folder")
    assert "no such file" not in line


# ---------------------------------------------------------------------------- .onnx
@pytest.mark.slow
def test_hand_built_onnx_files_import(tmp_path):
    from .faults import onnx_dense, onnx_gru

    assert _import(tmp_path, onnx_dense(tmp_path / "d.onnx")).code == 0
    assert (
        _import(
            tmp_path,
            onnx_gru(tmp_path / "g.onnx"),
        ).code
        == 0
    )


def _set_init(graph, name, tensor):
    for i, t in enumerate(graph.initializer):
        if t.name == name:
            graph.initializer[i].CopyFrom(tensor)


def _tensor(dims, raw):
    from onnx import TensorProto

    t = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=dims)
    if raw is not None:
        t.raw_data = raw
    return t


def _huge_dims(graph):
    _set_init(graph, "W", _tensor([1_000_000, 1_000_000], None))


def _short_raw(graph):
    _set_init(graph, "W", _tensor([2, 1], b"\0\0\0\0"))


def _unknown_type(graph):
    graph.initializer[0].data_type = 999


def _undefined_type(graph):
    graph.initializer[0].data_type = 0


def _string_type(graph):
    from onnx import TensorProto, helper

    _set_init(graph, "W", helper.make_tensor("W", TensorProto.STRING, [2, 1], [b"a", b"b"]))


def _external(graph):
    from onnx import TensorProto

    t = graph.initializer[0]
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (_huge_dims, "declares dims"),
        (_short_raw, "stores 4 bytes"),
        (_unknown_type, "unknown data type"),
        (_undefined_type, "unknown data type"),
        (_string_type, "real numbers"),
        (_external, "another file"),
    ],
    ids=["huge-dims", "short-raw", "unknown-type", "undefined-type", "string", "external-data"],
)
def test_hostile_onnx_initializers_are_refused_before_allocating(tmp_path, mutate, needle):
    from .faults import onnx_dense

    line = assert_refused(_import(tmp_path, onnx_dense(tmp_path / "m.onnx", mutate=mutate)), needle)
    assert "m.onnx" in line
    _nothing_written(tmp_path)


@pytest.mark.slow
def test_gru_weights_not_divisible_into_gates_are_refused(tmp_path):
    from .faults import onnx_gru

    assert_refused(_import(tmp_path, onnx_gru(tmp_path / "g.onnx", w_shape=(1, 8, 2))), "gate", "damaged")


def test_gru_without_hidden_size_is_refused(tmp_path):
    from .faults import onnx_gru

    assert_refused(_import(tmp_path, onnx_gru(tmp_path / "g.onnx", hidden_size=None)), "hidden_size")


def test_input_with_a_batch_of_a_billion_is_refused(tmp_path):
    from .faults import onnx_dense

    assert_refused(_import(tmp_path, onnx_dense(tmp_path / "m.onnx", batch=10**9)), "1,000,000,000 batch")


def _loop_nodes():
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])],
    )
    return [
        helper.make_node("Constant", [], ["M"], value=helper.make_tensor("M", TensorProto.INT64, [], [2**62])),
        helper.make_node("Constant", [], ["C"], value=helper.make_tensor("C", TensorProto.BOOL, [], [True])),
        helper.make_node("Loop", ["M", "C"], [], body=body, name="spin"),
    ]


def test_a_loop_node_is_refused_before_anything_runs(tmp_path):
    from .faults import onnx_dense

    outcome = _import(tmp_path, onnx_dense(tmp_path / "m.onnx", extra_nodes=_loop_nodes()))
    assert_refused(outcome, "'spin' (Loop)", "not run at all")
    assert outcome.seconds < 60


def test_a_64_gib_constant_of_shape_is_refused_by_its_size(tmp_path):
    from onnx import TensorProto, helper

    from .faults import onnx_dense

    nodes = [
        helper.make_node("Constant", [], ["S"], value=helper.make_tensor("S", TensorProto.INT64, [1], [2**34])),
        helper.make_node("ConstantOfShape", ["S"], ["Z"], name="zeros"),
    ]
    assert_refused(_import(tmp_path, onnx_dense(tmp_path / "m.onnx", extra_nodes=nodes)), "'zeros' (ConstantOfShape)")


def test_the_import_check_runs_in_a_bounded_process(tmp_path):
    """A graph that asks onnxruntime for 64 GiB at run time (its size computed from the input) is refused
    by the child process's memory limit, not by the machine."""
    import onnx
    from onnx import TensorProto, helper

    from rnn_studio.engine.importers import ImportRefused
    from rnn_studio.engine.importers.onnx_run import run_onnx

    nodes = [
        helper.make_node("Shape", ["X"], ["s"]),
        helper.make_node("Constant", [], ["k"], value=helper.make_tensor("k", TensorProto.INT64, [1], [2**33])),
        helper.make_node("Mul", ["s", "k"], ["big"]),
        helper.make_node("ConstantOfShape", ["big"], ["Z"]),
        helper.make_node("ReduceSum", ["Z"], ["Y"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 5, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "big.onnx")
    with pytest.raises(ImportRefused, match="onnxruntime cannot run it"):
        run_onnx(tmp_path / "big.onnx", [np.zeros((2, 5, 2), np.float32)], ImportRefused)


@pytest.fixture(scope="module")
def own_export(tmp_path_factory):
    from .faults import TINY_DESIGN

    folder = tmp_path_factory.mktemp("own")
    design = folder / "tiny.rnn.json"
    design.write_text(json.dumps(TINY_DESIGN))
    outcome = cli("export", str(design), "-o", str(folder / "tiny.onnx"))
    assert outcome.code == 0, outcome.err[-1000:]
    return folder / "tiny.onnx"


def _with_metadata(src, dst, **changes):
    import onnx

    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props}
    props.update(changes)
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(dst))
    return dst


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"design": "not json"}, "embedded design"),
        ({"design": "[" * 100_000 + "]" * 100_000}, "nested more than"),
        ({"features": "5"}, "'features' is 5"),
        ({"lookback": "-3"}, "'lookback' is -3"),
        ({"lookback": "[[[[1]]]]"}, "'lookback'"),
        ({"x_mean": '"a"'}, "'x_mean'"),
        ({"features": "{" * 5000}, "features"),
    ],
    ids=[
        "design-not-json",
        "design-deep",
        "features-5",
        "lookback-neg",
        "lookback-list",
        "x_mean-str",
        "features-deep",
    ],
)
def test_malformed_own_export_metadata_is_refused(tmp_path, own_export, changes, needle):
    model = _with_metadata(own_export, tmp_path / "m.onnx", **changes)
    assert_refused(_import(tmp_path, model), needle)
    _nothing_written(tmp_path)


@pytest.mark.slow
def test_own_export_imports(tmp_path, own_export):
    outcome = _import(tmp_path, own_export)
    assert outcome.code == 0, outcome.err[-1000:]
    assert cli("check", str(tmp_path / "out.rnn.json")).code == 0


@pytest.mark.slow
def test_own_export_design_of_30001_blocks_is_refused(tmp_path, own_export):
    from .faults import TINY_DESIGN

    big = dict(TINY_DESIGN)
    big["blocks"] = TINY_DESIGN["blocks"][:1] + [
        {"id": f"d{i}", "type": "Dropout", "params": {"rate": 0.0}} for i in range(30_001)
    ]
    big["links"] = [["x", "d0"]] + [[f"d{i}", f"d{i + 1}"] for i in range(30_000)]
    model = _with_metadata(own_export, tmp_path / "m.onnx", design=json.dumps(big))
    assert_refused(_import(tmp_path, model), "blocks")
    _nothing_written(tmp_path)


@pytest.mark.slow
def test_a_lone_surrogate_in_the_model_name_gives_a_design_that_opens(tmp_path):
    config = json.dumps(keras_config(name="a\ud800b"))  # json.dumps writes the escape \ud800
    assert "\\ud800" in config
    outcome = _import(tmp_path, keras_file(tmp_path / "m.keras", config=config))
    assert outcome.code == 0, outcome.err[-500:]
    assert cli("check", str(tmp_path / "out.rnn.json")).code == 0


def test_out_of_memory_while_tracing_says_memory(tmp_path, monkeypatch, capsys):
    """An export that runs out of memory while tracing is not "the ONNX exporter cannot express this design"."""
    import torch

    from rnn_studio.cli import main

    from .faults import TINY_DESIGN

    def no_memory(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 68719476736 bytes"
        )

    monkeypatch.setattr(torch.onnx, "export", no_memory)
    design = tmp_path / "tiny.rnn.json"
    design.write_text(json.dumps(TINY_DESIGN))
    code = main(["export", str(design), "-o", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "not enough memory" in err
    assert "cannot express" not in err


def test_damaged_hdf5_weights_are_a_model_problem(tmp_path):
    """h5py raises RuntimeError / OSError on a damaged file (here: "bad heap free list"): one line naming
    the model file, not an internal error nor "cannot write there"."""
    path = keras_file(tmp_path / "m.keras")
    with zipfile.ZipFile(path) as z:
        weights = bytearray(z.read("model.weights.h5"))
    # damage the weights' bytes past the HDF5 superblock: reading fails inside h5py
    for i in range(2048, len(weights) - 64, 97):
        weights[i] ^= 0x5A
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(keras_config()))
        z.writestr("model.weights.h5", bytes(weights))
    outcome = _import(tmp_path, path)
    line = ok_or_refused(outcome, "m.keras")
    assert "cannot write there" not in line


@pytest.mark.slow
def test_a_group_linked_inside_itself_does_not_loop(tmp_path):
    def fill(h5):
        keras_weights(h5)
        h5["layers/dense/loop"] = h5["layers"]  # a hard link: layers/dense/loop/dense/loop/...

    outcome = _import(tmp_path, keras_file(tmp_path / "m.keras", weights=h5_bytes(fill)))
    ok_or_refused(outcome, "m.keras")
    assert outcome.seconds < 60


def test_a_model_file_over_the_limit_is_refused_before_opening(tmp_path):
    path = keras_file(tmp_path / "m.keras", extra={"padding.bin": os.urandom(3_000_000)})
    outcome = cli("import", str(path), "-o", str(tmp_path / "o.rnn.json"), env={"RNN_STUDIO_MAX_MODEL_MB": "2"})
    assert_refused(outcome, "over the 2 MB limit")
