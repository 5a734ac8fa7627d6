import keras
from keras import ops

from keras_electra.layers.numerics import electra_initializer
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_multiple_choice_preprocessor import (
    ElectraMultipleChoicePreprocessor,
)
from keras_electra.models.default_optimizer import default_optimizer
from keras_electra.models.electra_task import ElectraTask
from keras_electra.models.input_checks import INPUT_KEYS
from keras_electra.models.text_inputs import check_choice_batch


class _FlattenChoices(keras.layers.Layer):
    """`(batch, num_choices, length)` -> `(batch * num_choices, length)`.

    A layer, not a bare `ops.reshape`, because the length is only known
    when the model runs.
    """

    def call(self, inputs):
        return ops.reshape(inputs, (-1, ops.shape(inputs)[-1]))

    def compute_output_shape(self, input_shape):
        batch, choices = input_shape[0], input_shape[1]
        flat = None if batch is None or choices is None else batch * choices
        return (flat, input_shape[-1])


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraMultipleChoice(ElectraTask):
    """ELECTRA that scores N candidate answers and picks one.

    HF `ElectraForMultipleChoice`: every `(prompt, choice)` pair runs
    through the `ElectraBackbone`; HF's sequence summary on the first
    (`[CLS]`) token, Dense(hidden_dim) -> exact GELU -> dropout, then
    Dense(1) gives one score per choice. Inputs are `(batch, num_choices,
    length)` dicts; the output is `(batch, num_choices)` float32 logits,
    trained with softmax cross-entropy over the choices (labels are the
    index of the right choice). With a preprocessor, `fit`, `evaluate` and
    `predict` take `(prompts, choices)` string tuples.

    Args:
        backbone: an `ElectraBackbone`.
        num_choices: int. Number of candidates per example.
        preprocessor: an `ElectraMultipleChoicePreprocessor`, or `None` for
            integer inputs.
        dropout: float. Dropout after the summary (HF
            `summary_last_dropout`).

    Example:
    >>> import numpy as np
    >>> from keras_electra import ElectraBackbone, ElectraTokenizer
    >>> backbone = ElectraBackbone(
    ...     vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=32)
    >>> preprocessor = ElectraMultipleChoicePreprocessor(
    ...     ElectraTokenizer(), sequence_length=16, num_choices=2)
    >>> model = ElectraMultipleChoice(backbone, 2, preprocessor=preprocessor)
    >>> prompts = np.array(["The sky is", "Grass is"])
    >>> choices = np.array([["blue.", "green."], ["blue.", "green."]])
    >>> x = preprocessor(x=(prompts, choices))
    >>> tuple(model(x).shape)
    (2, 2)

    `model.fit((prompts, choices), labels)` and `model.predict((prompts,
    choices))` take the strings.
    """

    backbone_cls = ElectraBackbone
    preprocessor_cls = ElectraMultipleChoicePreprocessor

    def __init__(
        self,
        backbone,
        num_choices,
        preprocessor=None,
        dropout=0.1,
        **kwargs,
    ):
        if not isinstance(num_choices, int) or num_choices < 1:
            raise ValueError(
                "`num_choices` must be a positive int; received "
                f"{num_choices!r}."
            )
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.flatten_choices = _FlattenChoices(
            dtype=backbone.dtype_policy, name="flatten_choices"
        )
        self.summary_dense = keras.layers.Dense(
            backbone.hidden_dim,
            activation="gelu",
            kernel_initializer=electra_initializer(),
            dtype=backbone.dtype_policy,
            name="summary_dense",
        )
        self.summary_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="summary_dropout"
        )
        self.output_dense = keras.layers.Dense(
            1,
            kernel_initializer=electra_initializer(),
            dtype="float32",
            name="output_dense",
        )

        # === Functional Model ===
        inputs = {
            key: keras.Input(shape=(num_choices, None), dtype="int32", name=key)
            for key in INPUT_KEYS
        }
        flat = {key: self.flatten_choices(inputs[key]) for key in INPUT_KEYS}
        x = backbone(flat)[:, 0, :]
        x = self.summary_dropout(self.summary_dense(x))
        scores = self.output_dense(x)
        outputs = ops.reshape(scores, (-1, num_choices))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_choices = num_choices
        self.dropout = dropout

    def __call__(self, inputs, *args, **kwargs):
        # Before Keras' own input-spec check, for a message about choices.
        _check_choice_inputs(inputs, self.num_choices)
        return super().__call__(inputs, *args, **kwargs)

    def _check_raw_x(self, x, owner):
        return check_choice_batch(x, owner)

    def compile(
        self, optimizer="auto", loss="auto", *, metrics="auto",
        learning_rate=None, **kwargs
    ):
        """Configures training; `"auto"` picks fine-tuning defaults.

        Defaults: AdamW at `learning_rate` (default: the preset's
        `default_learning_rate`, 5e-5 for full-size ELECTRA) with weight
        decay 0.01 that skips layer norms
        and biases (`LayerwiseDecayAdamW` with `layer_decay=1`), softmax
        cross-entropy over the choices, accuracy.
        """
        optimizer = default_optimizer(self, optimizer, learning_rate)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_choices": self.num_choices, "dropout": self.dropout}
        )
        return config


def _check_choice_inputs(inputs, num_choices):
    if not isinstance(inputs, dict):
        raise ValueError(
            "ElectraMultipleChoice expects a dict with keys "
            f"{list(INPUT_KEYS)} of shape (batch, num_choices, length); "
            f"received {type(inputs).__name__}. Use the preprocessor to turn "
            "(prompts, choices) strings into this dict."
        )
    for key in INPUT_KEYS:
        shape = getattr(inputs.get(key), "shape", None)
        if shape is None:
            raise ValueError(
                f"ElectraMultipleChoice input is missing '{key}'; it needs "
                f"{list(INPUT_KEYS)}."
            )
        shape = tuple(shape)
        if len(shape) != 3:
            raise ValueError(
                f"ElectraMultipleChoice input '{key}' must be 3-D (batch, "
                f"num_choices, length); received shape {shape}."
            )
        if shape[1] is not None and int(shape[1]) != num_choices:
            raise ValueError(
                f"ElectraMultipleChoice(num_choices={num_choices}) received "
                f"{int(shape[1])} choices per example (input '{key}' of shape "
                f"{shape})."
            )
