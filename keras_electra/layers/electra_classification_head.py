import keras

from keras_electra.layers.numerics import Float32LogitsMixin
from keras_electra.layers.numerics import electra_initializer


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraClassificationHead(Float32LogitsMixin, keras.layers.Layer):
    """Sequence classification head on the first (`[CLS]`) token.

    Dropout -> Dense(hidden_dim) -> exact GELU -> dropout -> Dense(num_classes),
    HF `ElectraClassificationHead` operation for operation. Logits are
    float32 under mixed precision.

    Args:
        num_classes: int. Number of outputs.
        hidden_dim: int. Width of the inner Dense layer.
        dropout: float. Rate of both dropouts.
        activation: optional output activation (e.g. `"softmax"`).
        kernel_initializer: initializer of both kernels.

    Example:
    >>> import numpy as np
    >>> tuple(ElectraClassificationHead(3, 8)(np.ones((2, 5, 8), "float32")).shape)
    (2, 3)
    """

    def __init__(
        self,
        num_classes,
        hidden_dim,
        dropout=0.1,
        activation=None,
        kernel_initializer="electra",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = electra_initializer(kernel_initializer)
        self.input_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="input_dropout"
        )
        self.dense = keras.layers.Dense(
            hidden_dim,
            activation="gelu",
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="dense",
        )
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes,
            activation=self.activation,
            kernel_initializer=self.kernel_initializer,
            dtype="float32",
            name="output_dense",
        )

    def build(self, inputs_shape):
        features_shape = (inputs_shape[0], inputs_shape[-1])
        self.dense.build(features_shape)
        self.output_dense.build((inputs_shape[0], self.hidden_dim))

    def call(self, inputs, training=None):
        x = self.input_dropout(inputs[:, 0, :], training=training)
        x = self.output_dropout(self.dense(x), training=training)
        return self.output_dense(x)

    def compute_output_shape(self, inputs_shape):
        return (inputs_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
