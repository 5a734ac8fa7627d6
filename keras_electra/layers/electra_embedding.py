import keras
from keras import ops
from keras_hub.layers import PositionEmbedding

from keras_electra.layers import fast_dropout
from keras_electra.layers import fast_layer_norm
from keras_electra.layers import torch_fast_path
from keras_electra.layers.numerics import electra_initializer
from keras_electra.layers.numerics import float32_policy


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraEmbedding(keras.layers.Layer):
    """ELECTRA's factorized embedding.

    Word, position and segment embeddings of width `embedding_dim` are
    summed, layer-normalized and dropped out; a Dense layer then projects
    them to `hidden_dim` when the two widths differ (ELECTRA-Small and the
    generators), exactly as in Google's release and HF `ElectraEmbeddings`.

    The word embedding is a `keras.layers.ReversibleEmbedding`, so the
    generator head can reuse it as its tied decoder
    (`layer.token_embedding(x, reverse=True)`).

    Args:
        vocabulary_size: int. Number of WordPiece ids.
        embedding_dim: int. Width of the three embeddings.
        hidden_dim: int. Width of the encoder; a projection is added when it
            differs from `embedding_dim`.
        max_sequence_length: int. Number of learned positions.
        num_segments: int. Number of segment (token type) ids.
        dropout: float. Dropout rate after the layer norm.
        layer_norm_epsilon: float. Epsilon of the layer norm.
        kernel_initializer: initializer of all embeddings and the projection.

    Example:
    >>> import numpy as np
    >>> layer = ElectraEmbedding(100, 16, 32, max_sequence_length=8)
    >>> tuple(layer(np.ones((2, 8), "int32"), np.zeros((2, 8), "int32")).shape)
    (2, 8, 32)
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        hidden_dim,
        max_sequence_length=512,
        num_segments=2,
        dropout=0.1,
        layer_norm_epsilon=1e-12,
        kernel_initializer="electra",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = electra_initializer(kernel_initializer)

        self.token_embedding = keras.layers.ReversibleEmbedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length,
            initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="position_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            num_segments,
            embedding_dim,
            embeddings_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="segment_embedding",
        )
        self.layer_norm = fast_layer_norm.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype=float32_policy(self.dtype_policy),
            name="layer_norm",
        )
        self.dropout_layer = fast_dropout.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.projection = None
        if embedding_dim != hidden_dim:
            self.projection = keras.layers.Dense(
                hidden_dim,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name="projection",
            )

    SHARED_LAYERS = (
        "token_embedding", "position_embedding", "segment_embedding",
        "layer_norm",
    )

    def share_embeddings(self, other):
        """Uses `other`'s word, position and segment embeddings and layer norm.

        ELECTRA's generator and discriminator share these (Clark et al.
        2020, section 3.2; Google's checkpoints keep them once, under
        `electra/embeddings/`): after this call both layers read and train the
        same variables. The projection to `hidden_dim` stays this layer's own.

        Args:
            other: an `ElectraEmbedding` with the same vocabulary size,
                embedding width, number of positions and of segments.
        """
        for name in ("vocabulary_size", "embedding_dim", "max_sequence_length",
                     "num_segments"):
            ours, theirs = getattr(self, name), getattr(other, name)
            if ours != theirs:
                raise ValueError(
                    f"Embeddings can only be shared between layers of equal "
                    f"{name}; received {ours} and {theirs}. Build the "
                    f"generator with the discriminator's {name}."
                )
        for name in self.SHARED_LAYERS:
            ours, theirs = getattr(self, name), getattr(other, name)
            if ours is theirs:
                continue
            # A built layer locks its tracker; swap the tracked sub-layer in
            # place so that `weights` lists each shared variable once.
            self._tracker.replace_tracked_value("layers", ours, theirs)
            object.__setattr__(self, name, theirs)

    def build(self, token_ids_shape, segment_ids_shape=None):
        self.token_embedding.build(token_ids_shape)
        embedded_shape = tuple(token_ids_shape) + (self.embedding_dim,)
        self.position_embedding.build(embedded_shape)
        self.segment_embedding.build(token_ids_shape)
        self.layer_norm.build(embedded_shape)
        if self.projection is not None:
            self.projection.build(embedded_shape)

    def call(self, token_ids, segment_ids=None, start_index=0, training=None):
        if torch_fast_path.applies(self, token_ids, self._dense_layers()):
            return torch_fast_path.embedding(
                self, token_ids, segment_ids, start_index, training
            )
        x = self.token_embedding(token_ids)
        x = x + self.position_embedding(x, start_index=start_index)
        if segment_ids is None:
            segment_ids = ops.zeros_like(token_ids)
        x = x + self.segment_embedding(segment_ids)
        x = self.layer_norm(x)
        x = self.dropout_layer(x, training=training)
        if self.projection is not None:
            x = self.projection(x)
        return ops.cast(x, self.compute_dtype)

    def _dense_layers(self):
        """The sub-layers the torch fast path reads kernels from."""
        layers = [self.token_embedding, self.segment_embedding]
        if self.projection is not None:
            layers.append(self.projection)
        return layers

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim,
                "max_sequence_length": self.max_sequence_length,
                "num_segments": self.num_segments,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
