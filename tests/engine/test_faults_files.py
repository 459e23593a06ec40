"""Model files from strangers (issue #22): hostile .keras and .onnx files are refused with exit 2 and one
line naming the file and what is wrong, before anything large is allocated or any other file is read;
never exit 1, a traceback, a hang, an out-of-memory kill, or a read outside the file named."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

from .faults import cli, h5_bytes, keras_config, keras_file, keras_weights, with_layer_config
from .hostile import assert_refused


def _import(tmp_path, model, *extra):
    return cli("import", str(model), "-o", str(tmp_path / "out.rnn.json"), "--out", str(tmp_path / "runs"), *extra)


def _nothing_written(tmp_path):
    assert not (tmp_path / "out.rnn.json").exists()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# ---------------------------------------------------------------------------- .keras: a valid file first
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
def test_a_100000_character_name_gives_a_design_that_opens(tmp_path):
    model = keras_file(tmp_path / "m.keras", config=keras_config(name="n" * 100_000))
    outcome = _import(tmp_path, model)
    assert outcome.code == 0, outcome.err[-500:]
    assert cli("check", str(tmp_path / "out.rnn.json")).code == 0


def test_a_failed_import_leaves_no_design_behind(tmp_path):
    _import(tmp_path, keras_file(tmp_path / "m.keras", config=keras_config(units=4)))
    _nothing_written(tmp_path)


def test_import_out_at_a_regular_file_is_refused(tmp_path):
    (tmp_path / "runs").write_text("x")
    line = assert_refused(_import(tmp_path, keras_file(tmp_path / "m.keras")), "runs")
    assert "None" not in line
    assert not (tmp_path / "out.rnn.json").exists()


def test_import_out_in_an_unwritable_place_is_refused(tmp_path):
    place = "/proc/version/runs" if os.path.exists("/proc/version") else "/dev/null/runs"  # unwritable even as root
    outcome = cli("import", str(keras_file(tmp_path / "m.keras")), "-o", str(tmp_path / "o.rnn.json"), "--out", place)
    line = assert_refused(outcome, "/proc/version")
    assert "None" not in line
    assert not (tmp_path / "o.rnn.json").exists()


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
