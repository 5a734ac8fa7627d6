import keras
import numpy as np
from keras_hub.models import TextClassifier

from keras_electra.layers.electra_classification_head import (
    ElectraClassificationHead,
)
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_classifier_preprocessor import (
    ElectraClassifierPreprocessor,
)
from keras_electra.models.default_optimizer import default_optimizer
from keras_electra.models.electra_task import ElectraTask
from keras_electra.models.input_checks import check_classes
from keras_electra.models.input_checks import concrete_value
from keras_electra.models.text_inputs import check_texts

try:
    import tensorflow as tf
except ImportError:  # pragma: no cover
    tf = None

PROBLEM_TYPES = (
    "single_label_classification",
    "regression",
    "multi_label_classification",
)


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraClassifier(ElectraTask, TextClassifier):
    """ELECTRA for sequence classification and regression.

    HF `ElectraForSequenceClassification`: an `ElectraBackbone` and, on the
    first (`[CLS]`) token, dropout -> Dense(hidden_dim) -> exact GELU ->
    dropout -> Dense(num_classes) (`ElectraClassificationHead`). Logits are
    float32 also under mixed precision. With a preprocessor, `fit`,
    `evaluate` and `predict` take raw strings or `(first, second)` pairs.

    `problem_type` picks the default loss and metric, as HF's
    `config.problem_type` does:
    `"single_label_classification"` (integer labels in `[0, num_classes)`,
    softmax cross-entropy, accuracy), `"regression"` (`num_classes=1`,
    float targets, mean squared error) or `"multi_label_classification"`
    (multi-hot float labels of width `num_classes`, sigmoid binary
    cross-entropy).

    Args:
        backbone: an `ElectraBackbone`.
        num_classes: int. Number of outputs (HF `num_labels`).
        preprocessor: an `ElectraClassifierPreprocessor`, or `None` for
            integer inputs.
        activation: optional output activation, e.g. `"softmax"`; `None`
            (default) returns logits.
        dropout: float. Rate of the head's dropouts (HF
            `classifier_dropout`, which falls back to the hidden dropout).
        problem_type: one of `"single_label_classification"` (default),
            `"regression"`, `"multi_label_classification"`.
        label_names: optional list of `num_classes` strings, kept in the
            config so that exported models can return names. `fit` and
            `evaluate` then also take these names as labels.

    Example:
    >>> import numpy as np
    >>> from keras_electra import ElectraBackbone, ElectraTokenizer
    >>> backbone = ElectraBackbone(
    ...     vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=32)
    >>> preprocessor = ElectraClassifierPreprocessor(
    ...     ElectraTokenizer(), sequence_length=16)
    >>> classifier = ElectraClassifier(
    ...     backbone, num_classes=2, preprocessor=preprocessor,
    ...     label_names=["negative", "positive"])
    >>> x = preprocessor(["Great taste!", "Stale and bland."])
    >>> tuple(classifier(x).shape)
    (2, 2)

    `classifier.fit(texts, labels)` and `classifier.predict(texts)` take the
    raw strings, running the preprocessor in `tf.data`.
    """

    predicts_per_example = True

    backbone_cls = ElectraBackbone
    preprocessor_cls = ElectraClassifierPreprocessor

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        activation=None,
        dropout=0.1,
        problem_type="single_label_classification",
        label_names=None,
        **kwargs,
    ):
        _check_arguments(num_classes, problem_type, label_names)
        num_classes = int(num_classes)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.classifier_head = ElectraClassificationHead(
            num_classes=num_classes,
            hidden_dim=backbone.hidden_dim,
            dropout=dropout,
            activation=activation,
            dtype=backbone.dtype_policy,
            name="classifier_head",
        )

        # === Functional Model ===
        inputs = backbone.input
        outputs = self.classifier_head(backbone(inputs))
        # Set config before `super().__init__`, which compiles with
        # defaults that depend on `problem_type` and `activation`.
        self.num_classes = num_classes
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        self.problem_type = problem_type
        self.label_names = list(label_names) if label_names else None
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def compile(
        self, optimizer="auto", loss="auto", *, metrics="auto",
        learning_rate=None, **kwargs
    ):
        """Configures training; `"auto"` picks defaults for `problem_type`.

        The default optimizer is AdamW at `learning_rate` (default: the
        preset's fine-tuning rate, see `default_learning_rate`; 5e-5 for
        full-size ELECTRA) with weight decay 0.01 that skips layer norms and biases (a
        `keras_electra.optimizers.LayerwiseDecayAdamW` with `layer_decay=1`;
        pass one with `layer_decay=0.8` for ELECTRA's recipe). The default
        loss is sparse categorical, mean squared error or binary
        cross-entropy for the three problem types (from logits unless
        `activation` is softmax / sigmoid), the default metric accuracy,
        mean absolute error or binary accuracy.
        """
        optimizer = default_optimizer(self, optimizer, learning_rate)
        if loss == "auto":
            loss = self._default_loss()
        if metrics == "auto":
            metrics = self._default_metrics()
        # With every argument given, TextClassifier's `compile` only passes
        # them on.
        super().compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )

    def _from_logits(self, probability_activation):
        return self.activation != keras.activations.get(probability_activation)

    def _default_loss(self):
        if self.problem_type == "regression":
            return keras.losses.MeanSquaredError()
        if self.problem_type == "multi_label_classification":
            return keras.losses.BinaryCrossentropy(
                from_logits=self._from_logits("sigmoid")
            )
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=self._from_logits("softmax")
        )

    def _default_metrics(self):
        if self.problem_type == "regression":
            return [keras.metrics.MeanAbsoluteError()]
        if self.problem_type == "multi_label_classification":
            threshold = 0.0 if self._from_logits("sigmoid") else 0.5
            return [keras.metrics.BinaryAccuracy(threshold=threshold)]
        return [keras.metrics.SparseCategoricalAccuracy()]

    def _prepared_labels(self, y, owner):
        """`y` checked, with label names mapped to class ids."""
        y = self._label_ids(y, owner)
        self._check_loss(owner)
        self._check_labels(y)
        return y

    def _label_ids(self, y, owner):
        if self.problem_type != PROBLEM_TYPES[0] or not isinstance(
            y, (list, tuple, np.ndarray)
        ):
            return y
        values = np.asarray(y, dtype=object)
        if not values.size or not all(
            isinstance(v, str) for v in values.ravel()
        ):
            return y
        if not self.label_names:
            raise ValueError(
                f"{owner}: `y` holds strings (e.g. {values.ravel()[0]!r}) but "
                "this classifier has no `label_names` to map them to class "
                f"ids. Pass integer labels in [0, {self.num_classes}), or "
                "create the classifier with label_names=[...]."
            )
        index = {name: i for i, name in enumerate(self.label_names)}
        unknown = sorted({v for v in values.ravel() if v not in index})
        if unknown:
            raise ValueError(
                f"{owner}: `y` holds labels {unknown[:5]} that are not among "
                f"label_names={self.label_names}. Use those names or their "
                "class ids."
            )
        ids = [index[v] for v in values.ravel()]
        return np.asarray(ids, "int32").reshape(values.shape)

    def _check_loss(self, owner):
        # A softmax over one class always predicts it: the loss is 0.
        sparse = (keras.losses.SparseCategoricalCrossentropy,
                  "sparse_categorical_crossentropy")
        loss = getattr(self, "loss", None)
        if (
            self.num_classes == 1
            and self.problem_type == PROBLEM_TYPES[0]
            and (isinstance(loss, sparse[0]) or loss == sparse[1])
        ):
            raise ValueError(
                f"{owner}: num_classes=1 with problem_type='single_label_"
                "classification' and a sparse categorical cross-entropy loss "
                "cannot learn (a softmax over one class always predicts it). "
                "Use num_classes=2 for a binary label, problem_type="
                "'regression' for one real-valued output, or compile with "
                "loss=keras.losses.BinaryCrossentropy(from_logits=True)."
            )

    def classify(self, texts, text_pair=None, top_k=1, batch_size=32):
        """Labels and scores of texts, as HF's text-classification pipeline.

        Scores are HF's: softmax probabilities for single-label
        classification, sigmoid ones for multi-label, the raw value for
        regression (the outputs as they are when `activation` is already
        softmax or sigmoid). Labels are `label_names`, or HF's defaults
        `"LABEL_0"`, `"LABEL_1"`, ... without them: the names the
        `export_for_serving` SavedModel returns as `label` and that
        `export_to_huggingface` writes as `id2label`.

        Args:
            texts: a string or a list of strings.
            text_pair: optional second segment: a string or a list of
                strings, one per text (HF's `{"text", "text_pair"}`).
            top_k: int or `None`. How many labels per text, best first;
                `None` returns every label.
            batch_size: int. Texts per model call.

        Returns:
            With `top_k=1` (the default) one dict `{"label", "score"}` per
            text, in a list also for a single string (as HF's pipeline);
            otherwise, for each text, a list of such dicts (a single
            string gives a single list).

        Example:
        ```python
        classifier.classify(["Loved it.", "Stale."])
        # [{"label": "great", "score": 0.93}, {"label": "other", ...}]
        classifier.classify("Loved it.", top_k=None)
        # [{"label": "great", "score": 0.93}, {"label": "other", ...}]
        ```
        """
        texts, single = check_texts(texts, "classify")
        x = texts
        if text_pair is not None:
            pairs, _ = check_texts(text_pair, "classify")
            if len(pairs) != len(texts):
                raise ValueError(
                    f"classify(): `text_pair` needs one string per text; "
                    f"received {len(pairs)} for {len(texts)} texts."
                )
            x = (texts, pairs)
        if top_k is not None and (
            not isinstance(top_k, (int, np.integer)) or top_k < 1
        ):
            raise ValueError(
                "classify(): `top_k` must be a positive int or None (every "
                f"label); received {top_k!r}."
            )
        if self.preprocessor is None:
            raise ValueError(
                "classify() needs a preprocessor to turn text into ids; this "
                "ElectraClassifier has preprocessor=None. Create it with one "
                "(from_preset attaches one)."
            )
        scores = self._scores(
            self.predict(x, batch_size=batch_size, verbose=0)
        )
        names = self.label_names or [
            f"LABEL_{i}" for i in range(self.num_classes)
        ]
        results = []
        for row in scores:
            best = np.argsort(-row, kind="stable")[:top_k]
            ranked = [
                {"label": names[i], "score": float(row[i])} for i in best
            ]
            results.append(ranked[0] if top_k == 1 else ranked)
        if single and top_k != 1:
            return results[0]
        return results

    def _scores(self, outputs):
        outputs = np.asarray(keras.ops.convert_to_numpy(outputs), "float64")
        name = getattr(self.activation, "__name__", None)
        if self.problem_type == "regression" or name in ("softmax", "sigmoid"):
            return outputs
        if self.problem_type == "multi_label_classification":
            return 1.0 / (1.0 + np.exp(-outputs))
        outputs = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
        return outputs / outputs.sum(axis=-1, keepdims=True)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        # Datasets reach the labels only here, inside tf.data.
        if y is not None and self.problem_type == PROBLEM_TYPES[0]:
            if tf is not None and isinstance(y, tf.Tensor):
                y = self._assert_labels_in_graph(y)
            else:
                self._check_labels(y)
        return super().preprocess_samples(x, y, sample_weight)

    def _label_error(self, low, high):
        return (
            f"ElectraClassifier(num_classes={self.num_classes}, problem_type="
            f"'{self.problem_type}') expects integer labels in [0, "
            f"{self.num_classes}); found labels in [{low}, {high}]."
        )

    def _check_labels(self, y):
        """Eager check of labels given as arrays or lists."""
        if y is None or self.problem_type != PROBLEM_TYPES[0]:
            return
        if isinstance(y, (list, tuple)):
            y = np.asarray(y)
        values = concrete_value(y) if hasattr(y, "shape") else None
        if values is None or values.size == 0:
            return
        if values.dtype.kind == "f" and np.any(values != np.round(values)):
            raise ValueError(
                f"ElectraClassifier(problem_type='{self.problem_type}') "
                "expects integer class labels; received non-integer floats. "
                "Use problem_type='regression' for real-valued targets or "
                "'multi_label_classification' for multi-hot labels."
            )
        low, high = values.min(), values.max()
        if low < 0 or high >= self.num_classes:
            raise ValueError(self._label_error(low, high))

    def _assert_labels_in_graph(self, y):
        if not y.dtype.is_integer:
            return y
        message = (
            f"ElectraClassifier(num_classes={self.num_classes}) expects "
            f"integer labels in [0, {self.num_classes})"
        )
        with tf.control_dependencies(
            [
                tf.debugging.assert_non_negative(y, message=message),
                tf.debugging.assert_less(
                    y, tf.cast(self.num_classes, y.dtype), message=message
                ),
            ]
        ):
            return tf.identity(y)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "problem_type": self.problem_type,
                "label_names": self.label_names,
            }
        )
        return config


def _check_arguments(num_classes, problem_type, label_names):
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(
            f"`problem_type` must be one of {list(PROBLEM_TYPES)}; received "
            f"{problem_type!r}."
        )
    check_classes("ElectraClassifier", num_classes, label_names)
    if problem_type == "regression" and num_classes != 1:
        raise ValueError(
            "problem_type='regression' predicts one value: `num_classes` "
            f"must be 1; received {num_classes}."
        )
