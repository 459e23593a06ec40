"""Keras import of the blocks issue #13 part 6 added: Conv1D, MaxPooling1D / AveragePooling1D,
BatchNormalization (with non-trivial moving statistics), RepeatVector encoder-decoders. Models built with
Keras 3 on the torch backend, saved, imported without keras, compared at 1e-5 directly and through ONNX."""

import numpy as np
import pytest

from rnn_studio.engine import CATALOG, check
from tests.engine.test_import_keras import import_and_compare, keras  # sets KERAS_BACKEND=torch

layers = keras.layers


def _randomize_batch_norms(model, seed=0):
    """Moving statistics and gamma/beta away from (0, 1) so the import must carry every one of them."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            width = layer.moving_mean.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, width).astype("float32")
                    if "gamma" in v.path
                    else rng.uniform(0.2, 2.0, width).astype("float32")
                    if "variance" in v.path
                    else rng.standard_normal(width).astype("float32")
                    for v in layer.weights
                ]
            )


def test_conv_pool_batchnorm_lstm_matches_keras(tmp_path):
    inputs = keras.Input((12, 3))
    x = layers.Conv1D(6, 3, padding="causal", activation="relu", name="conv")(inputs)
    x = layers.MaxPooling1D(2, name="maxpool")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-4, name="bn")(x)
    x = layers.LSTM(5, name="lstm")(x)
    x = layers.BatchNormalization(name="bn_vector")(x)
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(x))
    _randomize_batch_norms(model)
    _, project = import_and_compare(model, tmp_path, shapes=((3, 12), (1, 12)), name="cnn", via_onnx=True)
    types = [b.type for b in project.blocks]
    assert types == ["Input", "Conv1D", "MaxPooling1D", "BatchNormalization", "LSTM", "BatchNormalization", "Dense"]
    bn = project.block("bn").params
    assert bn["momentum"] == pytest.approx(0.9) and bn["epsilon"] == pytest.approx(1e-4)
    assert (
        check(project).total_params == sum(int(np.prod(w.shape)) for w in model.trainable_weights) + 4 * 5
    )  # PyTorch's LSTM has a second bias per gate


def test_strided_same_conv_and_average_pooling_match_keras(tmp_path):
    inputs = keras.Input((11, 2))
    x = layers.Conv1D(4, 4, strides=2, padding="same", use_bias=False, name="conv")(inputs)  # 11 -> 6
    x = layers.AveragePooling1D(3, strides=1, padding="same", name="avg")(x)  # symmetric padding
    x = layers.AveragePooling1D(2, strides=1, name="avg_valid")(x)
    x = layers.GRU(3, return_sequences=True)(x)
    x = layers.MaxPooling1D(3, strides=2, padding="same", name="max_same")(x)
    x = layers.GlobalAveragePooling1D()(x)
    _, project = import_and_compare(keras.Model(inputs, x), tmp_path, shapes=((2, 11),), name="strided", via_onnx=True)
    assert project.block("avg").params == {"pool_size": 3, "strides": 1, "padding": "same"}
    assert project.block("conv").params["strides"] == 2 and project.block("conv").params["use_bias"] is False


def test_encoder_decoder_with_repeat_vector_matches_keras(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((9, 2)),
            layers.LSTM(6, name="encoder"),
            layers.RepeatVector(4),
            layers.LSTM(6, return_sequences=True, name="decoder"),
            layers.TimeDistributed(layers.Dense(1)),
        ]
    )
    _, project = import_and_compare(model, tmp_path, shapes=((3, 9),), name="encdec", via_onnx=True)
    assert check(project).output_shape() == (None, 4, 1)
    assert [b.type for b in project.blocks] == ["Input", "LSTM", "RepeatVector", "LSTM", "Dense"]
    assert all(b.type in CATALOG for b in project.blocks)
