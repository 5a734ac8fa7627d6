"""Random HF transformers ELECTRA models and their Keras twins, for parity tests."""

import numpy as np
import torch
import transformers

from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
from keras_electra.convert.weight_map import assign_weights
from keras_electra.convert.weight_map import backbone_weights
from keras_electra.models.electra_backbone import ElectraBackbone

# Two tiny architectures: factorized (E != H, like ELECTRA-Small) and not.
TINY_CONFIGS = {
    "factorized": dict(
        vocab_size=120, embedding_size=16, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=48, max_position_embeddings=24,
        type_vocab_size=2,
    ),
    "square": dict(
        vocab_size=99, embedding_size=24, hidden_size=24, num_hidden_layers=3,
        num_attention_heads=2, intermediate_size=40, max_position_embeddings=20,
        type_vocab_size=3,
    ),
}


def hf_config(name="factorized", **overrides):
    return transformers.ElectraConfig(**{**TINY_CONFIGS[name], **overrides})


def random_hf_model(model_class, config, seed=0):
    """An HF model with random weights, biases and norms included, in eval mode."""
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.2)
    return model


def state_dict_numpy(model):
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def keras_backbone_from_hf(hf_model, prefix="electra."):
    kwargs = backbone_kwargs_from_hf_config(hf_model.config.to_dict())
    backbone = ElectraBackbone(**kwargs)
    tensors = state_dict_numpy(hf_model)
    weights = backbone_weights(backbone, prefix)
    names = {w.name for w in weights}
    assign_weights(
        weights, {k: v for k, v in tensors.items() if k in names}
    )
    return backbone


def padded_batch(config, batch=3, length=11, seed=0):
    """Integer inputs with padding of several lengths and two segments."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1, config.vocab_size, size=(batch, length))
    lengths = np.linspace(length, max(2, length // 3), batch).astype(int)
    padding_mask = (np.arange(length)[None, :] < lengths[:, None]).astype("int32")
    segment_ids = (np.arange(length)[None, :] >= (lengths[:, None] // 2)).astype(
        "int32"
    )
    token_ids = token_ids * padding_mask
    segment_ids = segment_ids * padding_mask
    return {
        "token_ids": token_ids.astype("int32"),
        "segment_ids": segment_ids.astype("int32"),
        "padding_mask": padding_mask,
    }


def hf_forward_kwargs(inputs):
    return {
        "input_ids": torch.tensor(inputs["token_ids"], dtype=torch.long),
        "token_type_ids": torch.tensor(inputs["segment_ids"], dtype=torch.long),
        "attention_mask": torch.tensor(inputs["padding_mask"], dtype=torch.long),
    }


def backbone_parity_case():
    """Our backbone with a random HF `ElectraModel`'s weights, a padded
    batch of 4 at full length, and HF's sequence output for it."""
    config = hf_config("factorized")
    hf_model = random_hf_model(transformers.ElectraModel, config)
    backbone = keras_backbone_from_hf(hf_model, prefix="")
    inputs = padded_batch(
        config, batch=4, length=config.max_position_embeddings
    )
    with torch.no_grad():
        expected = hf_model(**hf_forward_kwargs(inputs)).last_hidden_state
    return backbone, inputs, expected.numpy()


def max_abs_diff_at_real_positions(ours, theirs, padding_mask):
    mask = np.asarray(padding_mask).astype(bool)
    return float(np.max(np.abs(np.asarray(ours)[mask] - np.asarray(theirs)[mask])))


def keras_gradients(model, inputs, readout):
    """Gradients of `sum(model(inputs, training=True) * readout)`.

    One per trainable weight, in `model.trainable_weights` order, as numpy,
    through the backend's own autodiff.
    """
    import keras

    backend = keras.config.backend()
    if backend == "jax":
        import jax

        def loss(trainable, non_trainable):
            outputs, _ = model.stateless_call(
                trainable, non_trainable, inputs, training=True
            )
            return (outputs * readout).sum()

        gradients = jax.grad(loss)(
            [w.value for w in model.trainable_weights],
            [w.value for w in model.non_trainable_weights],
        )
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(inputs, training=True) * readout)
        gradients = tape.gradient(loss, model.trainable_weights)
    else:
        # CPU tensors, as a user may pass: the model moves them to its device.
        tensors = keras.tree.map_structure(torch.as_tensor, inputs)
        outputs = model(tensors, training=True)
        loss = (outputs * keras.ops.convert_to_tensor(readout)).sum()
        gradients = torch.autograd.grad(
            loss, [w.value for w in model.trainable_weights]
        )
    return [keras.ops.convert_to_numpy(g) for g in gradients]
