import keras
import numpy as np
import tensorflow as tf

from keras_electra.layers.numerics import electra_initializer
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_task import ElectraTask
from keras_electra.models.electra_token_classifier_preprocessor import (
    IGNORE_LABEL,
)
from keras_electra.models.electra_token_classifier_preprocessor import (
    ElectraTokenClassifierPreprocessor,
)
from keras_electra.models.default_optimizer import default_optimizer
from keras_electra.models.input_checks import check_classes
from keras_electra.models.input_checks import check_sequence_fits
from keras_electra.models.preprocessing_checks import check
from keras_electra.models.preprocessing_checks import nested_lists_as_ragged
from keras_electra.models.text_inputs import check_label_count
from keras_electra.models.text_inputs import check_word_batch
from keras_electra.models.text_inputs import is_raw_batch


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraTokenClassifier(ElectraTask):
    """ELECTRA with a label for every token (NER, POS tagging, chunking).

    Dropout -> Dense(num_classes) on every token of the backbone output, as
    HF `ElectraForTokenClassification`. Called on integer inputs it returns
    float32 logits `(batch, length, num_classes)`.

    With an `ElectraTokenClassifierPreprocessor`, `fit()`, `evaluate()` and
    `predict()` take words (a list of words per example) and one label per
    word; only the first token of each word is trained on and scored, and
    `predict_words()` gives one label per input word.

    Args:
        backbone: an `ElectraBackbone`.
        num_classes: int. Number of labels.
        preprocessor: an `ElectraTokenClassifierPreprocessor` or `None`
            (inputs are then the integer dict).
        activation: optional activation of the outputs, e.g. `"softmax"`.
            Defaults to `None` (logits).
        dropout: float. Dropout before the Dense layer. `None` (default)
            uses the backbone's dropout, as HF does when the config has no
            `classifier_dropout`.
        label_names: optional list of `num_classes` strings, kept in the
            config; `predict_words()` then returns names.

    Example:
    >>> from keras_electra import ElectraBackbone, ElectraTokenizer
    >>> backbone = ElectraBackbone(
    ...     vocabulary_size=30522, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=16)
    >>> preprocessor = ElectraTokenClassifierPreprocessor(
    ...     ElectraTokenizer(), sequence_length=16)
    >>> tagger = ElectraTokenClassifier(backbone, 3, preprocessor)
    >>> words = [["Ada", "Lovelace", "wrote", "code"], ["It", "ran"]]
    >>> [len(tags) for tags in tagger.predict_words(words)]  # one per word
    [4, 2]

    Fine-tune with `tagger.fit(words, labels)`, labels one per word (here
    `[[1, 2, 0, 0], [0, 0]]`).
    """

    backbone_cls = ElectraBackbone
    preprocessor_cls = ElectraTokenClassifierPreprocessor

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        activation=None,
        dropout=None,
        label_names=None,
        **kwargs,
    ):
        check_classes("ElectraTokenClassifier", num_classes, label_names)
        if dropout is None:
            dropout = backbone.dropout
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes,
            activation=activation,
            kernel_initializer=electra_initializer(),
            # Logits stay float32 under mixed precision.
            dtype="float32",
            name="logits",
        )

        # === Functional Model ===
        inputs = backbone.input
        x = self.output_dropout(backbone(inputs))
        outputs = self.output_dense(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = int(num_classes)
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        self.label_names = list(label_names) if label_names else None

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """A token classifier from a preset directory or handle.

        Passing `num_classes` gives a freshly initialised head on the
        preset's backbone (as keras-hub classifiers); its `label_names` are
        then dropped unless given again.
        """
        if "num_classes" in kwargs:
            kwargs.setdefault("label_names", None)
        return super().from_preset(preset, load_weights=load_weights, **kwargs)

    def compile(
        self, optimizer="auto", loss="auto", *, metrics="auto",
        learning_rate=None, **kwargs
    ):
        """Configure training; `"auto"` picks the defaults below.

        Defaults: AdamW at `learning_rate` (default: the preset's
        `default_learning_rate`, 5e-5 for full-size ELECTRA) with weight
        decay 0.01 that skips layer norms and biases (`LayerwiseDecayAdamW`
        with `layer_decay=1.0`, as `ElectraClassifier`); sparse categorical cross-entropy averaged over
        the labelled tokens (the sample weights), which is HF's loss with
        -100 labels; token accuracy over the labelled tokens (as a weighted
        metric, so padding and continuation tokens do not count).
        """
        optimizer = default_optimizer(self, optimizer, learning_rate)
        if loss == "auto":
            # The head's own activation: `self.activation` is not set yet
            # when `Task.__init__` compiles.
            activation = self.output_dense.activation
            from_logits = activation != keras.activations.softmax
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=from_logits, reduction="mean_with_sample_weight"
            )
        if metrics == "auto":
            metrics = None
            kwargs.setdefault(
                "weighted_metrics",
                [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )
        super().compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )

    def preprocess_samples(self, x, y=None, sample_weight=None):
        data = super().preprocess_samples(x, y, sample_weight)
        if y is None or self.preprocessor is None:
            return data
        _, labels, weights = keras.utils.unpack_x_y_sample_weight(data)
        if labels is not None and weights is not None:
            labels, weights = _as_checkable(labels), _as_checkable(weights)
            check(
                (labels < self.num_classes) | (weights == 0),
                "ElectraTokenClassifier: word labels must lie in "
                f"[0, num_classes={self.num_classes}) (or be -100 to skip a "
                "word); found a larger label.",
            )
        return data

    # keras-hub builds datasets only from rectangular lists; word lists are
    # ragged, so nested Python lists become `tf.RaggedTensor`s first.
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        sample_weight=None,
        validation_data=None,
        **kwargs,
    ):
        self._check_words(x, y, "fit")
        if isinstance(validation_data, tuple):
            validation_data = _ragged_samples(*validation_data)
        x, y, sample_weight = _ragged_samples(x, y, sample_weight)
        self._check_labels(y)
        return super().fit(
            x,
            y,
            batch_size=batch_size,
            sample_weight=sample_weight,
            validation_data=validation_data,
            **kwargs,
        )

    def evaluate(
        self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs
    ):
        self._check_words(x, y, "evaluate")
        x, y, sample_weight = _ragged_samples(x, y, sample_weight)
        self._check_labels(y)
        return super().evaluate(
            x, y, batch_size=batch_size, sample_weight=sample_weight, **kwargs
        )

    def predict(self, x=None, batch_size=None, **kwargs):
        self._check_words(x, None, "predict")
        return super().predict(
            _ragged_samples(x)[0], batch_size=batch_size, **kwargs
        )

    def _checked_inputs(self, method, x, y):
        # Words are not texts: `fit`, `evaluate` and `predict` above check
        # them (`_check_words`) before they reach `ElectraTask`.
        return x, y

    def _check_words(self, x, y, method):
        """Raw word lists checked in Python, before `tf.data` traces them."""
        if self.preprocessor is None or not is_raw_batch(x):
            return
        owner = f"{type(self).__name__}.{method}()"
        check_sequence_fits(self)
        size = check_word_batch(x, owner)
        if y is not None:
            check_label_count(y, size, owner)

    def _check_labels(self, y):
        """Fail before training on labels known now (not a dataset)."""
        if y is None or self.preprocessor is None:
            return
        if isinstance(y, tf.RaggedTensor):
            y = y.flat_values
        try:
            values = np.asarray(keras.ops.convert_to_numpy(y))
        except Exception:  # A dataset or a generator: checked per batch.
            return
        if values.dtype.kind not in "iuf":
            return
        bad = (values != IGNORE_LABEL) & (
            (values < 0) | (values >= self.num_classes)
        )
        if bad.any():
            raise ValueError(
                "ElectraTokenClassifier: word labels must lie in "
                f"[0, num_classes={self.num_classes}) or be {IGNORE_LABEL}; "
                f"found {values[bad].ravel()[:5].tolist()}."
            )

    def predict_words(self, words, label_names=None, batch_size=32):
        """One predicted label per word.

        Args:
            words: a string (whitespace-split into words), a list of strings
                (each whitespace-split), or a list of word lists.
            label_names: optional list of `num_classes` names to return
                instead of class ids; defaults to the task's `label_names`.
            batch_size: int. Examples per model call.

        Returns:
            For each example, a list with one entry per word: the class id
            (or name) predicted on the word's first token, or `None` for a
            word without tokens (an empty string or only control characters)
            or cut off by the preprocessor's `sequence_length`. A single
            string gives a single list.
        """
        word_lists, single = _word_lists(words)
        if label_names is None:
            label_names = self.label_names
        elif len(label_names) != self.num_classes:
            raise ValueError(
                f"predict_words(): `label_names` has {len(label_names)} "
                f"names; expected num_classes={self.num_classes}."
            )
        if self.preprocessor is None:
            raise ValueError(
                "predict_words() needs a preprocessor to tokenize the words; "
                "this ElectraTokenClassifier has preprocessor=None."
            )
        results = []
        for start in range(0, len(word_lists), batch_size):
            batch = word_lists[start : start + batch_size]
            results.extend(self._predict_batch(batch, label_names))
        return results[0] if single else results

    def _predict_batch(self, word_lists, label_names):
        x, positions = self.preprocessor.pack_with_word_positions(
            tf.ragged.constant(word_lists, dtype=tf.string, ragged_rank=1)
        )
        positions = keras.ops.convert_to_numpy(positions)
        # Skip Task.predict's preprocessing: `x` is packed already.
        logits = keras.Model.predict(self, x, verbose=0)
        classes = np.argmax(logits, axis=-1)
        results = []
        for row, row_words in enumerate(word_lists):
            labels = []
            for position in positions[row][: len(row_words)]:
                if position < 0:
                    labels.append(None)
                    continue
                label = int(classes[row, position])
                labels.append(label_names[label] if label_names else label)
            results.append(labels)
        return results

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "label_names": self.label_names,
            }
        )
        return config




def _as_checkable(x):
    """A preprocessed tensor as something `check` can compare."""
    if isinstance(x, tf.Tensor):
        return x
    return tf.convert_to_tensor(keras.ops.convert_to_numpy(x))


def _ragged_samples(x, y=None, sample_weight=None):
    """`(x, y, sample_weight)` with nested Python lists made ragged."""
    dtypes = (tf.string, tf.int32, tf.float32)
    return tuple(
        nested_lists_as_ragged(value, dtype)
        for value, dtype in zip((x, y, sample_weight), dtypes)
    )


def _word_lists(words):
    """`predict_words` input as a list of word lists; was it one example?"""
    if isinstance(words, str):
        return [words.split()], True
    if isinstance(words, np.ndarray):
        words = words.tolist()
    if isinstance(words, (list, tuple)) and words:
        if all(isinstance(w, str) for w in words):
            return [w.split() for w in words], False
        if all(
            isinstance(ws, (list, tuple))
            and all(isinstance(w, str) for w in ws)
            for ws in words
        ):
            return [list(ws) for ws in words], False
    raise ValueError(
        "predict_words() expects a string, a non-empty list of strings or a "
        "non-empty list of word lists (lists of strings); received "
        f"{type(words).__name__} {words!r:.80}."
    )
