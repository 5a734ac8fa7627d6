import keras
from keras import ops

from keras_electra.layers.numerics import Float32LogitsMixin
from keras_electra.layers.numerics import electra_initializer


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraDiscriminatorHead(Float32LogitsMixin, keras.layers.Layer):
    """Replaced-token-detection head: Dense -> activation -> Dense(1).

    Maps the `(batch, length, hidden_dim)` encoder output to one logit per
    token, the score that the token was replaced by the generator (HF
    `ElectraDiscriminatorPredictions`). The logits are float32 under every
    dtype policy.

    Args:
        hidden_dim: int. Width of the inner Dense layer.
        activation: the inner activation (the backbone's, exact GELU).
        kernel_initializer: initializer of both kernels.

    Example:
    >>> import numpy as np
    >>> tuple(ElectraDiscriminatorHead(8)(np.ones((2, 5, 8), "float32")).shape)
    (2, 5)
    """

    def __init__(
        self, hidden_dim, activation="gelu", kernel_initializer="electra", **kwargs
    ):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = electra_initializer(kernel_initializer)
        self.dense = keras.layers.Dense(
            hidden_dim,
            activation=self.activation,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="dense",
        )
        self.prediction_dense = keras.layers.Dense(
            1,
            kernel_initializer=self.kernel_initializer,
            # Logits stay float32 under mixed precision.
            dtype="float32",
            name="prediction_dense",
        )

    def build(self, inputs_shape):
        self.dense.build(inputs_shape)
        self.prediction_dense.build(tuple(inputs_shape[:-1]) + (self.hidden_dim,))

    def call(self, inputs):
        logits = self.prediction_dense(self.dense(inputs))
        return ops.squeeze(logits, axis=-1)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
