"""HF `ElectraConfig` dicts <-> `ElectraBackbone` arguments."""

import keras

from keras_electra.layers.numerics import gelu_approximate

# HF `hidden_act` names -> Keras activations, and back.
HF_TO_KERAS_ACTIVATION = {
    "gelu": "gelu",
    "gelu_new": gelu_approximate,
    "gelu_pytorch_tanh": gelu_approximate,
    "gelu_fast": gelu_approximate,
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
    "tanh": "tanh",
}
KERAS_TO_HF_ACTIVATION = {
    "gelu": "gelu",
    "gelu_approximate": "gelu_new",
    "relu": "relu",
    "silu": "silu",
    "tanh": "tanh",
}


def backbone_kwargs_from_hf_config(config, source="config.json"):
    """`ElectraBackbone` keyword arguments for an HF ELECTRA config dict."""
    model_type = config.get("model_type", "electra")
    if model_type != "electra":
        raise ValueError(
            f"{source}: model_type is '{model_type}', not 'electra'. "
            "keras_electra converts ELECTRA checkpoints only."
        )
    position_type = config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ValueError(
            f"{source}: position_embedding_type '{position_type}' is not "
            "supported; ELECTRA checkpoints use 'absolute'."
        )
    activation = config.get("hidden_act", "gelu")
    if activation not in HF_TO_KERAS_ACTIVATION:
        raise ValueError(
            f"{source}: hidden_act '{activation}' is not supported; expected "
            f"one of {sorted(HF_TO_KERAS_ACTIVATION)}."
        )
    hidden_dim = config.get("hidden_size", 256)
    return {
        "vocabulary_size": config.get("vocab_size", 30522),
        "num_layers": config.get("num_hidden_layers", 12),
        "num_heads": config.get("num_attention_heads", 4),
        "hidden_dim": hidden_dim,
        "embedding_dim": config.get("embedding_size", hidden_dim),
        "intermediate_dim": config.get("intermediate_size", 1024),
        "dropout": config.get("hidden_dropout_prob", 0.1),
        "max_sequence_length": config.get("max_position_embeddings", 512),
        "num_segments": config.get("type_vocab_size", 2),
        "activation": HF_TO_KERAS_ACTIVATION[activation],
        "layer_norm_epsilon": config.get("layer_norm_eps", 1e-12),
    }


def electra_config_from_bert(config, source="config.json"):
    """The HF `ElectraModel` config of a BERT-family encoder (E = H).

    BERT's encoder is ELECTRA's discriminator encoder without the factorized
    embedding; the fields have the same names. Only exact (erf) GELU is
    accepted, the activation of BERT and ELECTRA.
    """
    activation = config.get("hidden_act", "gelu")
    if activation != "gelu":
        raise ValueError(
            f"{source}: hidden_act is {activation!r}; keras_electra loads "
            "BERT-family checkpoints with hidden_act 'gelu' (exact GELU) "
            "only. Use a checkpoint trained with 'gelu'."
        )
    decoder = {k: config[k] for k in ("is_decoder", "add_cross_attention")
               if config.get(k)}
    if decoder:
        raise ValueError(
            f"{source}: {decoder} marks a BERT decoder; keras_electra loads "
            "BERT-family encoders only. Use an encoder checkpoint."
        )
    config = {k: v for k, v in config.items() if k != "embedding_size"}
    config.update(model_type="electra", architectures=["ElectraModel"])
    return config


def hf_config_from_backbone(backbone):
    """An HF `ElectraConfig` dict describing `backbone`."""
    activation = keras.activations.serialize(backbone.activation)
    if isinstance(activation, dict):
        activation = activation.get("config", activation)
    name = activation if isinstance(activation, str) else str(activation)
    name = name.split(">")[-1]
    if name not in KERAS_TO_HF_ACTIVATION:
        raise ValueError(
            f"Activation {activation!r} has no HF transformers equivalent."
        )
    return {
        "model_type": "electra",
        "architectures": ["ElectraModel"],
        "vocab_size": backbone.vocabulary_size,
        "embedding_size": backbone.embedding_dim,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "hidden_act": KERAS_TO_HF_ACTIVATION[name],
        "hidden_dropout_prob": backbone.dropout,
        "attention_probs_dropout_prob": backbone.dropout,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
        "layer_norm_eps": backbone.layer_norm_epsilon,
        "position_embedding_type": "absolute",
        "pad_token_id": 0,
    }
