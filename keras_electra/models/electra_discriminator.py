import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_electra.layers.electra_discriminator_head import (
    ElectraDiscriminatorHead,
)
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_discriminator_preprocessor import (
    ElectraDiscriminatorPreprocessor,
)
from keras_electra.models.electra_task import ElectraTask
from keras_electra.models.replaced_token_detection_loss import (
    ReplacedTokenDetectionLoss,
)
from keras_electra.models.default_optimizer import default_optimizer
from keras_electra.models.text_inputs import check_texts
from keras_electra.models.text_inputs import require_tokenizer
from keras_electra.models.text_inputs import vocabulary_of


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraDiscriminator(ElectraTask):
    """ELECTRA's replaced-token detector (HF `ElectraForPreTraining`).

    `ElectraDiscriminatorHead` (Dense -> activation -> Dense(1)) on every
    position of the backbone's output: called on integer inputs it returns
    `(batch, length)` logits, the evidence that each token was replaced by
    the generator. Trained with per-token sigmoid cross-entropy averaged over
    the real tokens (weighted by the padding mask, as Google's ELECTRA does;
    HF averages over padding too when no attention mask is given).

    With an `ElectraDiscriminatorPreprocessor`, `fit()` takes raw strings and
    per-word-piece 0/1 labels, and `replaced_token_probabilities()` scores
    raw strings.

    Args:
        backbone: an `ElectraBackbone`.
        preprocessor: an `ElectraDiscriminatorPreprocessor`, or `None` for
            integer inputs `token_ids`, `segment_ids`, `padding_mask`.

    Example:
    >>> from keras_electra import ElectraBackbone, ElectraTokenizer
    >>> backbone = ElectraBackbone(
    ...     vocabulary_size=30522, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=32)
    >>> preprocessor = ElectraDiscriminatorPreprocessor(
    ...     ElectraTokenizer(), sequence_length=16)
    >>> discriminator = ElectraDiscriminator(backbone, preprocessor)
    >>> scores = discriminator.replaced_token_probabilities("the cat ate")
    >>> [token for token, _ in scores]
    ['the', 'cat', 'ate']
    """

    backbone_cls = ElectraBackbone
    preprocessor_cls = ElectraDiscriminatorPreprocessor

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.discriminator_head = ElectraDiscriminatorHead(
            hidden_dim=backbone.hidden_dim,
            activation=backbone.activation,
            dtype=backbone.dtype_policy,
            name="discriminator_head",
        )

        # === Functional Model ===
        inputs = backbone.input
        outputs = self.discriminator_head(backbone(inputs))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        *,
        weighted_metrics="auto",
        learning_rate=None,
        **kwargs,
    ):
        """Configures training; defaults to Adam, the RTD loss, accuracy.

        Args:
            optimizer: `"auto"` (Adam at `learning_rate`) or any Keras
                optimizer.
            loss: `"auto"` (`ReplacedTokenDetectionLoss`, sigmoid
                cross-entropy averaged over real tokens) or any Keras loss.
            weighted_metrics: `"auto"` (binary accuracy of the logits,
                weighted by the padding mask) or a list of metrics.
            learning_rate: the rate of the `"auto"` optimizer; default: the
                preset's `default_learning_rate` (5e-5 for full-size
                ELECTRA).
            **kwargs: passed on to `keras.Model.compile`.
        """
        optimizer = default_optimizer(
            self, optimizer, learning_rate, build=keras.optimizers.Adam
        )
        if loss == "auto":
            loss = ReplacedTokenDetectionLoss()
        if weighted_metrics == "auto":
            weighted_metrics = [keras.metrics.BinaryAccuracy(threshold=0.0)]
        super().compile(
            optimizer=optimizer,
            loss=loss,
            weighted_metrics=weighted_metrics,
            **kwargs,
        )

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        if isinstance(validation_data, tuple) and len(validation_data) > 1:
            validation_data = (
                validation_data[0],
                _ragged_labels(validation_data[1]),
                *validation_data[2:],
            )
        return super().fit(
            x,
            _ragged_labels(y),
            *args,
            validation_data=validation_data,
            **kwargs,
        )

    def evaluate(self, x=None, y=None, *args, **kwargs):
        return super().evaluate(x, _ragged_labels(y), *args, **kwargs)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        # Integer inputs without weights still skip padding, as Google does.
        if (
            sample_weight is None
            and isinstance(x, dict)
            and "padding_mask" in x
        ):
            sample_weight = ops.cast(x["padding_mask"], "float32")
        return super().compute_loss(
            x=x,
            y=y,
            y_pred=y_pred,
            sample_weight=sample_weight,
            training=training,
        )

    def replaced_token_probabilities(self, texts):
        """For each text, its word pieces and the probability each was replaced.

        `[CLS]`, `[SEP]` and padding are left out. Texts longer than the
        preprocessor's `sequence_length` are scored up to the cut.

        Args:
            texts: a string, or a list of strings.

        Returns:
            A list of `(word_piece, probability)` pairs for a string, or a
            list of such lists for a list of strings.
        """
        tokenizer = require_tokenizer(self, "replaced_token_probabilities")
        texts, single = check_texts(texts, "replaced_token_probabilities")
        inputs = self.preprocessor(texts)
        inputs = {k: ops.convert_to_numpy(v) for k, v in inputs.items()}
        logits = ops.convert_to_numpy(self(inputs, training=False))
        probabilities = 1.0 / (1.0 + np.exp(-logits.astype("float64")))
        vocabulary = vocabulary_of(tokenizer)
        results = []
        for ids, mask, probs in zip(
            inputs["token_ids"], inputs["padding_mask"], probabilities
        ):
            # Real tokens are [CLS] text [SEP]: drop the first and the last.
            length = int(np.sum(mask))
            results.append(
                [
                    (vocabulary[int(t)], float(p))
                    for t, p in zip(ids[1 : length - 1], probs[1 : length - 1])
                ]
            )
        return results[0] if single else results


def _ragged_labels(y):
    """Per-token labels of texts of different lengths as a `tf.RaggedTensor`.

    keras-hub batches Python lists with `tf.data`, which cannot slice a list
    of lists of different lengths; a ragged tensor it can.
    """
    rows = (
        isinstance(y, (list, tuple))
        and y
        and all(isinstance(row, (list, tuple, np.ndarray)) for row in y)
    )
    if not rows or len({len(row) for row in y}) == 1:
        return y
    return tf.ragged.constant([[int(v) for v in row] for row in y], "int32")
