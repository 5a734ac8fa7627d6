import keras
from keras import ops

from keras_electra.layers import fast_layer_norm
from keras_electra.layers.numerics import Float32LogitsMixin
from keras_electra.layers.numerics import electra_initializer
from keras_electra.layers.numerics import float32_policy


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraGeneratorHead(Float32LogitsMixin, keras.layers.Layer):
    """Masked-LM head of the ELECTRA generator, with a tied decoder.

    Dense(embedding_dim) -> exact GELU -> LayerNorm -> the transposed word
    embedding matrix plus a per-token bias (HF `ElectraGeneratorPredictions`
    followed by `generator_lm_head`, whose weight is tied to the word
    embeddings).

    Args:
        token_embedding: the backbone's `keras.layers.ReversibleEmbedding`,
            used as the decoder.
        layer_norm_epsilon: float. Epsilon of the layer norm.
        kernel_initializer: initializer of the Dense kernel.

    Call returns float32 logits `(..., vocabulary_size)`.
    """

    def __init__(
        self,
        token_embedding,
        layer_norm_epsilon=1e-12,
        kernel_initializer="electra",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = electra_initializer(kernel_initializer)
        self.embedding_dim = token_embedding.output_dim
        self.vocabulary_size = token_embedding.input_dim
        self.dense = keras.layers.Dense(
            self.embedding_dim,
            activation="gelu",
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="dense",
        )
        self.layer_norm = fast_layer_norm.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype=float32_policy(self.dtype_policy),
            name="layer_norm",
        )

    def build(self, inputs_shape):
        self.dense.build(inputs_shape)
        self.layer_norm.build(tuple(inputs_shape[:-1]) + (self.embedding_dim,))
        self.bias = self.add_weight(
            name="bias",
            shape=(self.vocabulary_size,),
            initializer="zeros",
        )

    def call(self, inputs):
        x = self.layer_norm(self.dense(inputs))
        x = ops.cast(x, self.compute_dtype)
        logits = self.token_embedding(x, reverse=True)
        logits = ops.cast(logits, "float32") + ops.cast(self.bias, "float32")
        return logits

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.vocabulary_size,)

    def get_config(self):
        # `token_embedding` is shared with the backbone; the task passes it
        # in again when it rebuilds the head.
        config = super().get_config()
        config.update(
            {
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
