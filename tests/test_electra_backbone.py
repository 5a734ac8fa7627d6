import keras
import numpy as np
import pytest
import torch
import transformers
from hf_reference import TINY_CONFIGS
from hf_reference import hf_config
from hf_reference import hf_forward_kwargs
from hf_reference import keras_backbone_from_hf
from hf_reference import keras_gradients
from hf_reference import max_abs_diff_at_real_positions
from hf_reference import padded_batch
from hf_reference import random_hf_model

from keras_electra import ElectraBackbone
from keras_electra.convert.weight_map import backbone_weights


def tiny_backbone(**overrides):
    kwargs = dict(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=16,
        embedding_dim=8, intermediate_dim=32, max_sequence_length=12,
    )
    return ElectraBackbone(**{**kwargs, **overrides})


def numpy_out(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs))


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_matches_hf_electra_model(name):
    config = hf_config(name)
    hf_model = random_hf_model(transformers.ElectraModel, config)
    backbone = keras_backbone_from_hf(hf_model, prefix="")
    inputs = padded_batch(config, batch=4, length=config.max_position_embeddings)
    with torch.no_grad():
        expected = hf_model(**hf_forward_kwargs(inputs)).last_hidden_state
    ours = numpy_out(backbone, inputs)
    assert ours.shape == tuple(expected.shape)
    diff = max_abs_diff_at_real_positions(ours, expected.numpy(),
                                          inputs["padding_mask"])
    assert diff <= 1e-5


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_gradients_match_hf_electra_model(name):
    # Training mode without dropout: the backward pass of every weight,
    # including JAX's own GELU derivative and Dense kernel gradient.
    config = hf_config(
        name, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    hf_model = random_hf_model(transformers.ElectraModel, config).train()
    backbone = keras_backbone_from_hf(hf_model, prefix="")
    inputs = padded_batch(config, batch=4, length=config.max_position_embeddings)
    outputs = hf_model(**hf_forward_kwargs(inputs)).last_hidden_state
    readout = np.random.default_rng(1).normal(size=tuple(outputs.shape))
    readout = (readout * inputs["padding_mask"][..., None]).astype("float32")
    (outputs * torch.from_numpy(readout)).sum().backward()
    hf_gradients = dict(hf_model.named_parameters())
    ours = keras_gradients(backbone, inputs, readout)
    by_variable = {id(w): g for w, g in zip(backbone.trainable_weights, ours)}
    for weight in backbone_weights(backbone, prefix=""):
        expected = weight.to_keras(hf_gradients[weight.name].grad.numpy())
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(
            by_variable[id(weight.variable)], expected, atol=1e-5 * scale,
            err_msg=weight.name,
        )


@pytest.mark.backend_sensitive
def test_hf_gelu_new_activation_is_tanh_gelu():
    config = hf_config("square", hidden_act="gelu_new")
    hf_model = random_hf_model(transformers.ElectraModel, config)
    backbone = keras_backbone_from_hf(hf_model, prefix="")
    inputs = padded_batch(config)
    with torch.no_grad():
        expected = hf_model(**hf_forward_kwargs(inputs)).last_hidden_state
    diff = max_abs_diff_at_real_positions(
        numpy_out(backbone, inputs), expected.numpy(), inputs["padding_mask"]
    )
    assert diff <= 1e-5


def test_projection_only_when_widths_differ():
    assert tiny_backbone().embeddings.projection is not None
    square = tiny_backbone(embedding_dim=16)
    assert square.embeddings.projection is None
    assert tiny_backbone(embedding_dim=None).embedding_dim == 16


@pytest.mark.backend_sensitive
def test_padding_does_not_change_real_positions():
    backbone = tiny_backbone()
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 50, size=(1, 5)).astype("int32")
    short = {
        "token_ids": ids,
        "segment_ids": np.array([[0, 0, 0, 1, 1]], "int32"),
        "padding_mask": np.ones((1, 5), "int32"),
    }
    long = {
        "token_ids": np.pad(ids, ((0, 0), (0, 7))),
        "segment_ids": np.pad(short["segment_ids"], ((0, 0), (0, 7))),
        "padding_mask": np.pad(short["padding_mask"], ((0, 0), (0, 7))),
    }
    np.testing.assert_allclose(
        numpy_out(backbone, short), numpy_out(backbone, long)[:, :5], atol=1e-6
    )


def test_variable_lengths():
    backbone = tiny_backbone()
    for length in (1, 7, 12):
        inputs = {
            "token_ids": np.ones((2, length), "int32"),
            "segment_ids": np.zeros((2, length), "int32"),
            "padding_mask": np.ones((2, length), "int32"),
        }
        assert numpy_out(backbone, inputs).shape == (2, length, 16)


@pytest.mark.backend_sensitive
def test_config_and_keras_file_round_trip(tmp_path):
    backbone = tiny_backbone()
    inputs = padded_batch(hf_config("factorized", vocab_size=50), length=12)
    expected = numpy_out(backbone, inputs)

    clone = ElectraBackbone.from_config(backbone.get_config())
    clone.set_weights(backbone.get_weights())
    np.testing.assert_array_equal(numpy_out(clone, inputs), expected)

    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ElectraBackbone)
    assert restored.get_config() == backbone.get_config()
    np.testing.assert_array_equal(numpy_out(restored, inputs), expected)


@pytest.mark.backend_sensitive
def test_preset_round_trip(tmp_path):
    backbone = tiny_backbone()
    inputs = padded_batch(hf_config("factorized", vocab_size=50), length=12)
    backbone.save_to_preset(str(tmp_path))
    restored = ElectraBackbone.from_preset(str(tmp_path))
    np.testing.assert_array_equal(
        numpy_out(restored, inputs), numpy_out(backbone, inputs)
    )


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("dtype", ["bfloat16", "mixed_bfloat16"])
def test_reduced_precision_builds_and_runs(dtype):
    reference = tiny_backbone()
    backbone = tiny_backbone(dtype=dtype)
    backbone.set_weights(reference.get_weights())
    inputs = padded_batch(hf_config("factorized", vocab_size=50), length=12)
    out = backbone(inputs)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    block = backbone.transformer_layers[0]
    for norm in (backbone.embeddings.layer_norm, block.attention_layer_norm,
                 block.output_layer_norm):
        assert norm.compute_dtype == "float32"
    assert block.query_dense.compute_dtype == "bfloat16"
    ours = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
    diff = max_abs_diff_at_real_positions(
        ours, numpy_out(reference, inputs), inputs["padding_mask"]
    )
    assert diff < 0.1  # bfloat16 keeps ~3 significant digits.


@pytest.mark.backend_sensitive
def test_int8_quantization_reaches_every_block_projection():
    backbone = tiny_backbone()
    inputs = padded_batch(hf_config("factorized", vocab_size=50), length=12)
    before = numpy_out(backbone, inputs)
    backbone.quantize("int8")
    for block in backbone.transformer_layers:
        for layer in block._dense_layers():
            assert layer.quantization_mode == "int8", layer.name
    after = numpy_out(backbone, inputs)
    diff = max_abs_diff_at_real_positions(after, before, inputs["padding_mask"])
    assert 0 < diff < 0.1


def test_training_dropout_path_runs_and_differs_from_inference():
    backbone = tiny_backbone(dropout=0.5)
    inputs = padded_batch(hf_config("factorized", vocab_size=50), length=12)
    train = keras.ops.convert_to_numpy(backbone(inputs, training=True))
    infer = numpy_out(backbone, inputs)
    assert np.isfinite(train).all()
    assert not np.allclose(train, infer)


def test_explicit_attention_path_equals_fused_path_without_dropout():
    backbone = tiny_backbone()
    block = backbone.transformer_layers[0]
    x = np.random.default_rng(0).normal(size=(2, 6, 16)).astype("float32")
    mask = np.array([[1] * 6, [1, 1, 1, 0, 0, 0]], "int32")
    fused = keras.ops.convert_to_numpy(block(x, padding_mask=mask))
    # A non-zero rate selects the explicit path; the dropout layers are
    # switched off so both paths compute the same function.
    block.dropout = 1e-12
    for layer in block._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    explicit = keras.ops.convert_to_numpy(
        block(x, padding_mask=mask, training=True)
    )
    np.testing.assert_allclose(explicit[mask == 1], fused[mask == 1], atol=1e-5)


@pytest.mark.parametrize(
    "inputs, match",
    [
        ({"token_ids": np.ones((1, 4), "int32")}, 'input "padding_mask"'),
        (np.ones((1, 4), "int32"), "expects 3 named input"),
        (
            {
                "token_ids": np.full((1, 4), 50, "int32"),
                "segment_ids": np.zeros((1, 4), "int32"),
                "padding_mask": np.ones((1, 4), "int32"),
            },
            r"'token_ids' must lie in \[0, 50\)",
        ),
        (
            {
                "token_ids": np.ones((1, 4), "int32"),
                "segment_ids": np.full((1, 4), 2, "int32"),
                "padding_mask": np.ones((1, 4), "int32"),
            },
            r"'segment_ids' must lie in \[0, 2\)",
        ),
        (
            {
                "token_ids": np.ones((1, 13), "int32"),
                "segment_ids": np.zeros((1, 13), "int32"),
                "padding_mask": np.ones((1, 13), "int32"),
            },
            "exceeds the model's max_sequence_length=12",
        ),
        (
            {
                "token_ids": np.ones((1, 4), "int32"),
                "segment_ids": np.zeros((1, 5), "int32"),
                "padding_mask": np.ones((1, 4), "int32"),
            },
            "must have the same shape",
        ),
    ],
)
def test_bad_inputs_get_clear_errors(inputs, match):
    with pytest.raises(ValueError, match=match):
        tiny_backbone()(inputs)


def test_bad_inputs_through_predict_get_clear_errors():
    too_long = {
        "token_ids": np.ones((1, 13), "int32"),
        "segment_ids": np.zeros((1, 13), "int32"),
        "padding_mask": np.ones((1, 13), "int32"),
    }
    with pytest.raises(ValueError, match="max_sequence_length=12"):
        tiny_backbone().predict(too_long, verbose=0)


def test_heads_divisibility_error():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        tiny_backbone(num_heads=3)
