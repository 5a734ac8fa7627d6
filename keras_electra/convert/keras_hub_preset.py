"""keras-hub `ElectraBackbone` presets (local `save_to_preset` or Kaggle).

keras-hub's ELECTRA differs from Google's: it uses tanh-approximate GELU and
adds a randomly initialised tanh pooler. The weights are otherwise the same
network, so they are read out under HF names, the pooler is dropped and the
activation is set to exact GELU (`hidden_act="gelu"`).
"""

import os

import keras
import numpy as np

from keras_electra.convert.checkpoint import Checkpoint
from keras_electra.convert.checkpoint import default_vocabulary
from keras_electra.convert.checkpoint import read_json
from keras_electra.convert.tensor_files import CheckpointError

KERAS_HUB_BACKBONE = "keras_hub>ElectraBackbone"


def is_keras_hub_preset(path):
    """Whether `path` is a local keras-hub ElectraBackbone preset folder."""
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        return False
    return read_json(config_path).get("registered_name") == KERAS_HUB_BACKBONE


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable)


def _linear(layer, name, input_axes=1):
    """HF `(out, in)` weight and flat bias of a Keras Dense/EinsumDense."""
    kernel = _numpy(layer.kernel)
    inputs = int(np.prod(kernel.shape[:input_axes]))
    return {
        f"{name}.weight": np.ascontiguousarray(kernel.reshape(inputs, -1).T),
        f"{name}.bias": _numpy(layer.bias).reshape(-1),
    }


def _norm(layer, name):
    return {f"{name}.weight": _numpy(layer.gamma),
            f"{name}.bias": _numpy(layer.beta)}


def hf_tensors_of_keras_hub_backbone(backbone):
    """HF `ElectraModel` tensors of a keras-hub `ElectraBackbone`."""
    tensors = {
        "embeddings.word_embeddings.weight":
            _numpy(backbone.token_embedding.embeddings),
        "embeddings.position_embeddings.weight":
            _numpy(backbone.position_embedding.position_embeddings),
        "embeddings.token_type_embeddings.weight":
            _numpy(backbone.segment_embedding.embeddings),
        **_norm(backbone.embeddings_layer_norm, "embeddings.LayerNorm"),
    }
    if backbone.hidden_dim != backbone.embedding_dim:
        tensors.update(_linear(backbone.embeddings_projection,
                               "embeddings_project"))
    for i, layer in enumerate(backbone.transformer_layers):
        hf = f"encoder.layer.{i}."
        attention = layer._self_attention_layer
        tensors.update({
            **_linear(attention._query_dense, hf + "attention.self.query"),
            **_linear(attention._key_dense, hf + "attention.self.key"),
            **_linear(attention._value_dense, hf + "attention.self.value"),
            **_linear(attention._output_dense, hf + "attention.output.dense",
                      input_axes=2),
            **_norm(layer._self_attention_layer_norm,
                    hf + "attention.output.LayerNorm"),
            **_linear(layer._feedforward_intermediate_dense,
                      hf + "intermediate.dense"),
            **_linear(layer._feedforward_output_dense, hf + "output.dense"),
            **_norm(layer._feedforward_layer_norm, hf + "output.LayerNorm"),
        })
    # `pooled_dense` is dropped: ELECTRA has no pooler and keras-hub's is an
    # untrained random layer.
    return tensors


def _hf_config(backbone):
    return {
        "model_type": "electra",
        "architectures": ["ElectraModel"],
        "vocab_size": backbone.vocab_size,
        "embedding_size": backbone.embedding_dim,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        # Exact GELU, as Google trained the weights (keras-hub's tanh
        # approximation is a known defect there).
        "hidden_act": "gelu",
        "hidden_dropout_prob": backbone.dropout,
        "attention_probs_dropout_prob": backbone.dropout,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
        "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute",
        "pad_token_id": 0,
    }


def read_keras_hub_preset(preset):
    """A `Checkpoint` from a keras-hub `ElectraBackbone` preset.

    Args:
        preset: a local preset folder or a `kaggle://keras/electra/...` handle
            (downloaded by keras-hub).
    """
    import keras_hub
    from keras_electra._keras_hub_private import check_file_exists

    try:
        backbone = keras_hub.models.ElectraBackbone.from_preset(preset)
    except (ValueError, FileNotFoundError, OSError) as e:
        raise CheckpointError(
            f"{preset}: cannot load it as a keras-hub ElectraBackbone preset "
            f"({e})."
        ) from None
    notes = []
    if check_file_exists(preset, "tokenizer.json"):
        tokenizer = keras_hub.models.ElectraTokenizer.from_preset(preset)
        vocabulary = list(tokenizer.get_vocabulary())
        # keras-hub's own settings, so that tokenization does not change.
        options = {
            "lowercase": bool(tokenizer.lowercase),
            "strip_accents": bool(getattr(tokenizer, "strip_accents", False)),
            "split_on_cjk": bool(getattr(tokenizer, "split_on_cjk", True)),
        }
    else:
        vocabulary, notes = default_vocabulary(backbone.vocab_size, preset)
        options = {}
    return Checkpoint(
        config=_hf_config(backbone),
        tensors=hf_tensors_of_keras_hub_backbone(backbone),
        vocabulary=vocabulary,
        source=str(preset),
        notes=notes,
        **options,
    )
