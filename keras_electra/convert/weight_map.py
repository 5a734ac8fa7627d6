"""One table from Keras variables to HF transformers tensor names.

The same table serves both directions: HF -> Keras (`assign_weights`) and
Keras -> HF (`collect_weights`). A Linear kernel in PyTorch is
`(out_features, in_features)`; the Keras kernel is its transpose, reshaped
to the layer's own layout (`(hidden, heads, head_dim)` for the attention
projections).
"""

from dataclasses import dataclass

import keras
import numpy as np


class WeightMismatchError(ValueError):
    """A checkpoint tensor is missing, unexpected or of the wrong shape."""


@dataclass
class Weight:
    variable: object
    name: str
    # For Linear kernels: how many leading Keras axes form `in_features`.
    input_axes: int = 0
    # HF keeps every bias flat; the attention projections' are (heads, dim).
    flat: bool = False

    def to_keras(self, array):
        array = np.asarray(array)
        if self.input_axes:
            array = array.T
        return array.reshape(tuple(self.variable.shape))

    def to_hf(self):
        value = keras.ops.convert_to_numpy(self.variable)
        if self.input_axes:
            inputs = int(np.prod(value.shape[: self.input_axes]))
            return np.ascontiguousarray(value.reshape(inputs, -1).T)
        return value.reshape(-1) if self.flat else value

    def hf_shape(self):
        shape = tuple(int(d) for d in self.variable.shape)
        if self.input_axes:
            inputs = int(np.prod(shape[: self.input_axes]))
            return (int(np.prod(shape)) // inputs, inputs)
        return (int(np.prod(shape)),) if self.flat else shape


def dense(layer, name, input_axes=1):
    return [
        Weight(layer.kernel, f"{name}.weight", input_axes),
        Weight(layer.bias, f"{name}.bias", flat=True),
    ]


def layer_norm(layer, name):
    return [
        Weight(layer.gamma, f"{name}.weight"),
        Weight(layer.beta, f"{name}.bias"),
    ]


def backbone_weights(backbone, prefix="electra."):
    """The table for an `ElectraBackbone` under HF `ElectraModel` names."""
    emb = backbone.embeddings
    weights = [
        Weight(emb.token_embedding.embeddings,
               f"{prefix}embeddings.word_embeddings.weight"),
        Weight(emb.position_embedding.position_embeddings,
               f"{prefix}embeddings.position_embeddings.weight"),
        Weight(emb.segment_embedding.embeddings,
               f"{prefix}embeddings.token_type_embeddings.weight"),
        *layer_norm(emb.layer_norm, f"{prefix}embeddings.LayerNorm"),
    ]
    if emb.projection is not None:
        weights += dense(emb.projection, f"{prefix}embeddings_project")
    for i, block in enumerate(backbone.transformer_layers):
        hf = f"{prefix}encoder.layer.{i}."
        weights += [
            *dense(block.query_dense, hf + "attention.self.query"),
            *dense(block.key_dense, hf + "attention.self.key"),
            *dense(block.value_dense, hf + "attention.self.value"),
            *dense(block.attention_output_dense, hf + "attention.output.dense",
                   input_axes=2),
            *layer_norm(block.attention_layer_norm,
                        hf + "attention.output.LayerNorm"),
            *dense(block.intermediate_dense, hf + "intermediate.dense"),
            *dense(block.output_dense, hf + "output.dense"),
            *layer_norm(block.output_layer_norm, hf + "output.LayerNorm"),
        ]
    return weights


def assign_weights(weights, tensors, source="checkpoint", allow_unused=()):
    """Copy `tensors` (name -> array) into the variables of `weights`.

    Every tensor is checked before any variable is written, so a mismatch
    leaves the model untouched. `allow_unused` lists name prefixes that may be
    present without a destination (buffers, heads that are not loaded).
    """
    missing = [w.name for w in weights if w.name not in tensors]
    if missing:
        raise WeightMismatchError(
            f"{source}: missing tensor(s) {missing[:5]}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            + ". The checkpoint does not hold this architecture."
        )
    arrays = []
    for w in weights:
        found = tuple(np.shape(tensors[w.name]))
        expected = w.hf_shape()
        if found != expected:
            raise WeightMismatchError(
                f"{source}: tensor '{w.name}' has shape {found}, expected "
                f"{expected} from the model config."
            )
        arrays.append(w.to_keras(tensors[w.name]))
    used = {w.name for w in weights}
    unused = [
        n for n in tensors
        if n not in used and not any(n.startswith(p) for p in allow_unused)
    ]
    if unused:
        raise WeightMismatchError(
            f"{source}: unexpected tensor(s) {unused[:5]}"
            + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
            + ". The checkpoint holds layers this model does not have."
        )
    for w, array in zip(weights, arrays):
        w.variable.assign(array.astype(w.variable.dtype))


def collect_weights(weights):
    """The HF name -> numpy array dict of `weights`."""
    return {w.name: w.to_hf() for w in weights}
