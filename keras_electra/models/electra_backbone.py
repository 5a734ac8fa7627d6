import keras
from keras_hub.models import Backbone

from keras_electra.convert.preset_loading import ElectraPresetMixin
from keras_electra.layers import torch_fast_path
from keras_electra.layers.electra_embedding import ElectraEmbedding
from keras_electra.layers.electra_transformer_block import (
    ElectraTransformerBlock,
)
from keras_electra.models.electra_layout_map import electra_layout_map
from keras_electra.models.in_memory_predict import InMemoryPredictMixin
from keras_electra.models.input_checks import check_backbone_inputs
from keras_electra.models.jax_predict_on_batch import JaxPredictOnBatchMixin
from keras_electra.models.xla_predict import XlaPredictMixin


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraBackbone(
    ElectraPresetMixin, InMemoryPredictMixin, JaxPredictOnBatchMixin,
    XlaPredictMixin, Backbone
):
    """The ELECTRA encoder: factorized embeddings and a transformer stack.

    Numerically identical to HF transformers' `ElectraModel` (and Google's
    release): embeddings at `embedding_dim`, projected to `hidden_dim` when
    the two differ, post-LayerNorm transformer blocks with exact (erf) GELU,
    no pooler. Returns the `(batch, length, hidden_dim)` sequence output.
    On JAX, `predict_on_batch` skips Keras' copy of every variable in and
    out of the compiled step (`JaxPredictOnBatchMixin`); on CPU-only
    TensorFlow, `predict` is compiled with XLA under the default
    `jit_compile="auto"` (`XlaPredictMixin`). With two or more cores both
    run the two halves of a batch side by side. `predict` on in-memory
    inputs goes a batch at a time through `predict_on_batch`, without the
    `tf.data` pipeline that Keras builds on TensorFlow for every call
    (`InMemoryPredictMixin`).

    Args:
        vocabulary_size: int. Size of the WordPiece vocabulary.
        num_layers: int. Number of transformer blocks.
        num_heads: int. Attention heads per block.
        hidden_dim: int. Width of the transformer blocks.
        embedding_dim: int. Width of the embeddings; defaults to `hidden_dim`.
        intermediate_dim: int. Width of the feed-forward layers.
        dropout: float. Dropout of embeddings, attention and feed-forward.
        max_sequence_length: int. Number of learned positions.
        num_segments: int. Number of segment (token type) ids.
        activation: feed-forward activation; `"gelu"` is exact GELU.
        layer_norm_epsilon: float. Epsilon of every layer norm.
        dtype: dtype policy, e.g. `"float32"`, `"bfloat16"`,
            `"mixed_bfloat16"`. Layer norms and softmax stay float32.

    Example:
    >>> import numpy as np
    >>> backbone = ElectraBackbone(
    ...     vocabulary_size=1000, num_layers=2, num_heads=2, hidden_dim=32,
    ...     embedding_dim=16, intermediate_dim=64, max_sequence_length=16)
    >>> inputs = {
    ...     "token_ids": np.array([[101, 7, 8, 102, 0]]),
    ...     "segment_ids": np.zeros((1, 5), "int32"),
    ...     "padding_mask": np.array([[1, 1, 1, 1, 0]]),
    ... }
    >>> tuple(backbone(inputs).shape)
    (1, 5, 32)
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        embedding_dim=None,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        dtype=None,
        **kwargs,
    ):
        embedding_dim = embedding_dim or hidden_dim
        # === Layers ===
        self.embeddings = ElectraEmbedding(
            vocabulary_size=vocabulary_size,
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            dtype=dtype,
            name="embeddings",
        )
        self.transformer_layers = [
            ElectraTransformerBlock(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                dropout=dropout,
                activation=activation,
                layer_norm_epsilon=layer_norm_epsilon,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(
            shape=(None,), dtype="int32", name="segment_ids"
        )
        padding_mask = keras.Input(
            shape=(None,), dtype="int32", name="padding_mask"
        )
        x = self.embeddings(token_ids, segment_ids)
        for transformer_layer in self.transformer_layers:
            x = transformer_layer(x, padding_mask=padding_mask)
        super().__init__(
            inputs={
                "token_ids": token_ids,
                "segment_ids": segment_ids,
                "padding_mask": padding_mask,
            },
            outputs=x,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.embedding_dim = embedding_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.token_embedding = self.embeddings.token_embedding

    def call(self, inputs, training=None, mask=None):
        check_backbone_inputs(self, inputs)
        outputs = torch_fast_path.backbone(self, inputs, training)
        if outputs is not None:
            return outputs
        return super().call(inputs, training=training, mask=mask)

    @staticmethod
    def get_layout_map(
        device_mesh,
        model_parallel_dim_name="model",
        data_parallel_dim_name="batch",
    ):
        """A `keras.distribution.LayoutMap` for model-parallel training.

        Shards, along `model_parallel_dim_name`, the embedding tables (by
        `embedding_dim`), the attention projections (by head), the
        feed-forward kernels (by intermediate unit) and the first dense
        layer of every task head; everything else is replicated. Weights
        are not split along the data axis. It serves the backbone, every
        task and `ElectraPretrainer` (both of its networks). The sharded
        sizes (`embedding_dim`, `num_heads`, `intermediate_dim`,
        `hidden_dim`) must divide by the size of the model axis.

        Args:
            device_mesh: a `keras.distribution.DeviceMesh`.
            model_parallel_dim_name: the mesh axis that splits weights.
            data_parallel_dim_name: the mesh axis that splits the batch; it
                is checked here and given to `keras.distribution.
                ModelParallel(batch_dim_name=...)` by the caller.

        Example:
        ```python
        devices = keras.distribution.list_devices()
        mesh = keras.distribution.DeviceMesh(
            (1, len(devices)), ("batch", "model"), devices)
        layout_map = ElectraBackbone.get_layout_map(mesh)
        distribution = keras.distribution.ModelParallel(
            layout_map=layout_map, batch_dim_name="batch")
        with distribution.scope():
            classifier = ElectraClassifier.from_preset(
                "electra_tiny_uncased_en", num_classes=2)
        ```
        """
        return electra_layout_map(
            device_mesh, model_parallel_dim_name, data_parallel_dim_name
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "embedding_dim": self.embedding_dim,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "max_sequence_length": self.max_sequence_length,
                "num_segments": self.num_segments,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
