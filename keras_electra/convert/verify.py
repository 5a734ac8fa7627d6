"""Measure how far a converted model's outputs are from its source's.

Used by `keras-electra convert` to print the largest absolute difference on
a few token ids, when the source can be run: an HF transformers checkpoint
(needs torch and transformers), a keras-hub `ElectraBackbone` preset (run
with exact GELU, as converted), or a keras_electra model.
"""

import keras
import numpy as np

from keras_electra.convert.hf_heads import hf_task_entry
from keras_electra.convert.hf_heads import task_name


def probe_inputs(model, batch=2, length=8, seed=0):
    """Integer inputs (no padding) for `model`; `(batch, choices, length)`
    for multiple choice."""
    backbone = getattr(model, "backbone", model)
    length = min(length, backbone.max_sequence_length)
    rng = np.random.default_rng(seed)
    shape = (batch, length)
    task = task_name(model)
    if task == "ElectraMultipleChoice":
        shape = (batch, model.num_choices, length)
    token_ids = rng.integers(1, backbone.vocabulary_size, size=shape)
    inputs = {
        "token_ids": token_ids.astype("int32"),
        "segment_ids": np.zeros(shape, "int32"),
        "padding_mask": np.ones(shape, "int32"),
    }
    if task == "ElectraMaskedLM":
        inputs["mask_positions"] = np.tile(
            np.arange(length, dtype="int32"), (batch, 1)
        )
    if task == "ElectraCausalLM":
        del inputs["segment_ids"]
    return inputs


def keras_outputs(model, inputs):
    """The model's output on integer inputs, as one numpy array."""
    outputs = model(inputs, training=False)
    if isinstance(outputs, dict):
        outputs = outputs.get("sequence_output", next(iter(outputs.values())))
    return keras.ops.convert_to_numpy(outputs).astype(np.float32)


def hf_outputs(hf_model, inputs, task):
    """An HF model's output on the same inputs, in keras_electra's layout."""
    import torch

    kwargs = {
        "input_ids": torch.tensor(inputs["token_ids"], dtype=torch.long),
        "attention_mask": torch.tensor(inputs["padding_mask"],
                                       dtype=torch.long),
    }
    if "segment_ids" in inputs:
        kwargs["token_type_ids"] = torch.tensor(inputs["segment_ids"],
                                                dtype=torch.long)
    with torch.no_grad():
        out = hf_model(**kwargs)
    if task is None:
        return out.last_hidden_state.numpy()
    if task == "ElectraQuestionAnswerer":
        return np.stack([out.start_logits.numpy(), out.end_logits.numpy()],
                        axis=-1)
    return out.logits.numpy()


def load_hf_model(folder, architecture):
    import transformers

    config = transformers.AutoConfig.from_pretrained(folder)
    if config.model_type == "bert" and architecture == "ElectraModel":
        # A BERT-family checkpoint converts to its encoder alone.
        architecture = "BertModel"
    cls = getattr(transformers, architecture)
    return cls.from_pretrained(folder).eval()


def difference_to_hf(model, hf_folder):
    """Max |keras - HF| of `model` and the HF checkpoint in `hf_folder`."""
    entry = hf_task_entry(model)
    architecture = entry[0] if entry else "ElectraModel"
    hf_model = load_hf_model(hf_folder, architecture)
    inputs = probe_inputs(model)
    expected = hf_outputs(hf_model, inputs, task_name(model))
    return float(np.max(np.abs(keras_outputs(model, inputs) - expected)))


def difference_to_keras_hub(backbone, preset):
    """Max |ours - keras-hub| with keras-hub switched to exact GELU."""
    import keras_hub

    reference = keras_hub.models.ElectraBackbone.from_preset(preset)
    for layer in reference.transformer_layers:
        layer._feedforward_intermediate_dense.activation = (
            keras.activations.gelu
        )
    inputs = probe_inputs(backbone)
    expected = keras.ops.convert_to_numpy(
        reference(inputs)["sequence_output"]
    )
    return float(np.max(np.abs(keras_outputs(backbone, inputs) - expected)))


def difference_between(model, other):
    """Max |model - other| for two keras_electra models of the same kind."""
    inputs = probe_inputs(model)
    return float(np.max(np.abs(
        keras_outputs(model, inputs) - keras_outputs(other, inputs)
    )))
