import functools
import math

import keras
from keras import ops

from keras_electra.layers import fast_dense
from keras_electra.layers import fast_dropout
from keras_electra.layers import fast_layer_norm
from keras_electra.layers import jax_fast_path
from keras_electra.layers import tf_fast_path
from keras_electra.layers import torch_fast_path
from keras_electra.layers.numerics import electra_initializer
from keras_electra.layers.numerics import float32_policy


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraTransformerBlock(keras.layers.Layer):
    """A post-LayerNorm transformer block, as in BERT and ELECTRA.

    Self-attention, dropout, residual, LayerNorm; then Dense -> activation
    (exact erf GELU by default) -> Dense, dropout, residual, LayerNorm. This is
    HF `ElectraLayer` operation for operation. Outside training (or with
    `dropout=0`) attention runs through `keras.ops.dot_product_attention`,
    the backend's fused kernel; during training with attention dropout it is
    computed explicitly, since the fused kernels have no dropout. On JAX
    and TensorFlow both take `jax_fast_path.attention` /
    `tf_fast_path.attention`, which their CPU kernels run faster.

    Args:
        num_heads: int. Number of attention heads.
        intermediate_dim: int. Width of the feed-forward layer.
        dropout: float. Rate of the hidden and attention-probability dropout.
        activation: the feed-forward activation, `"gelu"` is exact GELU.
        layer_norm_epsilon: float. Epsilon of both layer norms.
        kernel_initializer: initializer of all Dense kernels.

    Call arguments:
        inputs: `(batch, length, hidden_dim)` float tensor.
        padding_mask: optional `(batch, length)` mask, 1 for real tokens.
        use_causal_mask: bool. Each position attends only to itself and
            earlier positions (the causal LM).
        cache: optional `(batch, 2, max_length, num_heads, head_dim)` key and
            value cache for incremental decoding; the call then returns
            `(outputs, cache)`.
        cache_update_index: int. Where `inputs` start inside the cache.

    Example:
    >>> import numpy as np
    >>> block = ElectraTransformerBlock(num_heads=2, intermediate_dim=32)
    >>> tuple(block(np.ones((2, 5, 16), "float32")).shape)
    (2, 5, 16)
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.1,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        kernel_initializer="electra",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = electra_initializer(kernel_initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"hidden_dim ({hidden_dim}) must be divisible by num_heads "
                f"({self.num_heads})."
            )
        self.head_dim = hidden_dim // self.num_heads
        head_shape = (None, self.num_heads, self.head_dim)

        def dense(name, units):
            return fast_dense.Dense(
                units,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=name,
            )

        def projection(name):
            return fast_dense.EinsumDense(
                "btd,dnh->btnh",
                output_shape=head_shape,
                bias_axes="nh",
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=name,
            )

        def layer_norm(name):
            return fast_layer_norm.LayerNormalization(
                epsilon=self.layer_norm_epsilon,
                dtype=float32_policy(self.dtype_policy),
                name=name,
            )

        def dropout(name):
            return fast_dropout.Dropout(
                self.dropout, dtype=self.dtype_policy, name=name
            )

        self.query_dense = projection("query")
        self.key_dense = projection("key")
        self.value_dense = projection("value")
        self.attention_output_dense = fast_dense.EinsumDense(
            "btnh,nhd->btd",
            output_shape=(None, hidden_dim),
            bias_axes="d",
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="attention_output",
        )
        self.attention_probs_dropout = dropout("attention_probs_dropout")
        self.attention_dropout = dropout("attention_dropout")
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        self.intermediate_dense = dense("intermediate", self.intermediate_dim)
        self.output_dense = dense("output", hidden_dim)
        self.output_dropout = dropout("output_dropout")
        self.output_layer_norm = layer_norm("output_layer_norm")

        for layer in (self.query_dense, self.key_dense, self.value_dense):
            layer.build(inputs_shape)
        heads_shape = tuple(inputs_shape[:-1]) + (self.num_heads, self.head_dim)
        self.attention_output_dense.build(heads_shape)
        self.attention_layer_norm.build(inputs_shape)
        self.intermediate_dense.build(inputs_shape)
        self.output_dense.build(
            tuple(inputs_shape[:-1]) + (self.intermediate_dim,)
        )
        self.output_layer_norm.build(inputs_shape)
        self.built = True

    def call(
        self,
        inputs,
        padding_mask=None,
        use_causal_mask=False,
        cache=None,
        cache_update_index=None,
        training=None,
    ):
        if (
            cache is None
            and not use_causal_mask
            and torch_fast_path.applies(self, inputs, self._dense_layers())
        ):
            return torch_fast_path.transformer_block(
                self, inputs, padding_mask, training
            )
        query = self.query_dense(inputs)
        key = self.key_dense(inputs)
        value = self.value_dense(inputs)
        if cache is not None:
            start = [0, cache_update_index, 0, 0]
            key = ops.slice_update(cache[:, 0, ...], start, key)
            value = ops.slice_update(cache[:, 1, ...], start, value)
            cache = ops.stack((key, value), axis=1)
        mask = self._attention_mask(
            inputs, key, padding_mask, use_causal_mask, cache_update_index
        )
        context = self._attend(query, key, value, mask, training)
        attended = self.attention_output_dense(context)
        attended = self.attention_dropout(attended, training=training)
        x = self.attention_layer_norm(inputs + attended)
        x = ops.cast(x, self.compute_dtype)
        ffn = self.intermediate_dense(
            x, training=training, activation=self.activation
        )
        ffn = self.output_dropout(self.output_dense(ffn), training=training)
        outputs = self.output_layer_norm(x + ffn)
        outputs = ops.cast(outputs, self.compute_dtype)
        if cache is not None:
            return outputs, cache
        return outputs

    def _dense_layers(self):
        return (
            self.query_dense,
            self.key_dense,
            self.value_dense,
            self.attention_output_dense,
            self.intermediate_dense,
            self.output_dense,
        )

    def _attention_mask(
        self, inputs, key, padding_mask, use_causal_mask, cache_update_index
    ):
        """A boolean `(batch, 1, query_length, key_length)` mask, or None."""
        mask = None
        if padding_mask is not None:
            mask = ops.cast(padding_mask, "bool")[:, None, None, :]
        if use_causal_mask:
            query_length = ops.shape(inputs)[1]
            key_length = ops.shape(key)[1]
            start = 0 if cache_update_index is None else cache_update_index
            query_positions = ops.arange(query_length) + start
            key_positions = ops.arange(key_length)
            causal = key_positions[None, :] <= query_positions[:, None]
            causal = causal[None, None, :, :]
            mask = causal if mask is None else ops.logical_and(mask, causal)
        return mask

    def _attend(self, query, key, value, mask, training):
        scale = 1.0 / math.sqrt(self.head_dim)
        drops = training and self.dropout > 0
        fast_attention = {
            "jax": jax_fast_path.attention,
            "tensorflow": tf_fast_path.attention,
        }.get(keras.config.backend())
        if fast_attention is not None:
            dropout = None
            if drops:
                dropout = functools.partial(
                    self.attention_probs_dropout, training=True
                )
            return fast_attention(
                query, key, value, mask, scale, dropout, training=bool(training)
            )
        if not drops:
            return ops.dot_product_attention(
                query, key, value, mask=mask, scale=scale
            )
        # The fused kernels have no attention dropout: compute it explicitly,
        # with the softmax in float32 as HF and Google do.
        scores = ops.einsum("bqnh,bknh->bnqk", query, key)
        scores = ops.cast(scores, "float32") * scale
        if mask is not None:
            scores = ops.where(mask, scores, -1e9)
        probs = ops.softmax(scores, axis=-1)
        probs = self.attention_probs_dropout(probs, training=training)
        probs = ops.cast(probs, value.dtype)
        return ops.einsum("bnqk,bknh->bqnh", probs, value)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
