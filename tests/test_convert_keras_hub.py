"""keras-hub `ElectraBackbone` presets -> keras_electra."""

import keras
import keras_hub
import numpy as np
import pytest
from convert_fixtures import tiny_vocabulary
from hf_reference import hf_config
from hf_reference import max_abs_diff_at_real_positions
from hf_reference import padded_batch

from keras_electra import ElectraBackbone
from keras_electra.convert import from_preset


@pytest.fixture(scope="module")
def keras_hub_preset(tmp_path_factory):
    backbone = keras_hub.models.ElectraBackbone(
        vocab_size=120, num_layers=2, num_heads=4, hidden_dim=32,
        embedding_dim=16, intermediate_dim=48, max_sequence_length=24,
    )
    rng = np.random.default_rng(0)
    for weight in backbone.weights:  # Random norms and biases too.
        weight.assign(rng.normal(0, 0.2, weight.shape).astype("float32"))
    tokenizer = keras_hub.models.ElectraTokenizer(
        vocabulary=tiny_vocabulary(120), lowercase=True
    )
    folder = str(tmp_path_factory.mktemp("keras_hub") / "preset")
    backbone.save_to_preset(folder)
    tokenizer.save_to_preset(folder)
    return folder, backbone


def exact_gelu(keras_hub_backbone):
    """keras-hub's backbone with exact GELU, as Google trained ELECTRA."""
    for layer in keras_hub_backbone.transformer_layers:
        layer._feedforward_intermediate_dense.activation = (
            keras.activations.gelu
        )
    return keras_hub_backbone


@pytest.mark.backend_sensitive
def test_keras_hub_preset_matches_with_exact_gelu(keras_hub_preset):
    folder, _ = keras_hub_preset
    ours = ElectraBackbone.from_preset(folder)
    reference = exact_gelu(keras_hub.models.ElectraBackbone.from_preset(folder))
    inputs = padded_batch(hf_config("factorized"), batch=3, length=12)
    expected = keras.ops.convert_to_numpy(reference(inputs)["sequence_output"])
    got = keras.ops.convert_to_numpy(ours(inputs))
    assert max_abs_diff_at_real_positions(
        got, expected, inputs["padding_mask"]) <= 1e-5
    # keras-hub's own (tanh) GELU is measurably different: the fix matters.
    original = keras_hub.models.ElectraBackbone.from_preset(folder)
    tanh = keras.ops.convert_to_numpy(original(inputs)["sequence_output"])
    assert max_abs_diff_at_real_positions(
        got, tanh, inputs["padding_mask"]) > 1e-5


def test_pooler_dropped_and_tokenizer_kept(keras_hub_preset):
    folder, keras_hub_backbone = keras_hub_preset
    ours = from_preset(folder)
    assert type(ours) is ElectraBackbone
    pooler = keras_hub_backbone.get_layer("pooled_dense").count_params()
    assert ours.count_params() == keras_hub_backbone.count_params() - pooler
    assert keras.activations.serialize(ours.activation) == "gelu"
    cls = __import__("keras_electra.models.electra_tokenizer",
                     fromlist=["ElectraTokenizer"]).ElectraTokenizer
    tokenizer = cls.from_preset(folder)
    assert list(tokenizer.get_vocabulary()) == tiny_vocabulary(120)
    assert tokenizer.lowercase
