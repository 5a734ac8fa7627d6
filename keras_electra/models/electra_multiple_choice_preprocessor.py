import keras
import numpy as np
from keras_electra._keras_hub_private import preprocessing_function

from keras_electra.models.electra_preprocessor import ElectraPreprocessor
from keras_electra.models.electra_preprocessor import tokenize_together
from keras_electra.models.electra_preprocessor import trim
from keras_electra.models.longest_first import check_truncate

try:
    import tensorflow as tf
except ImportError:  # pragma: no cover
    tf = None


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraMultipleChoicePreprocessor(ElectraPreprocessor):
    """A prompt and N candidate answers to `ElectraMultipleChoice` inputs.

    Each choice is paired with its prompt as HF's multiple-choice recipe
    does, `[CLS] prompt [SEP] choice [SEP]` with segment ids 0 and 1, and
    padded to `sequence_length`, giving `token_ids`, `segment_ids` and
    `padding_mask` of shape `(batch, num_choices, sequence_length)`. Labels
    (the index of the right choice) pass through unchanged.

    Args:
        tokenizer: an `ElectraTokenizer`.
        sequence_length: int. Length of every packed prompt-choice pair.
        num_choices: int or `None`. When set, every example must have
            exactly this many choices.
        truncate: how to shorten a pair that does not fit:
            `"longest_first"` (default, HF's: cut the longer of prompt and
            choice first), `"round_robin"` or `"waterfall"`.
        padding: `"max_length"` (default) pads every row to
            `sequence_length`; `"longest"` pads each batch only to its
            longest row (HF's `padding="longest"`) and needs batched input.
            See `ElectraPreprocessor`.
        pad_to_multiple_of: int or `None`. With `padding="longest"`, round
            each batch's length up to a multiple of this.

    Call arguments:
        x: a tuple `(prompts, choices)`: `prompts` a string or a batch of
            `B` strings, `choices` `N` strings or a `(B, N)` batch of them.
            Pass it as `preprocessor(x=(prompts, choices))` or with labels
            `preprocessor((prompts, choices), labels)`.
        y: optional labels, passed through.
        sample_weight: optional sample weights, passed through.

    Example:
    >>> from keras_electra import ElectraTokenizer
    >>> preprocessor = ElectraMultipleChoicePreprocessor(
    ...     ElectraTokenizer(), sequence_length=8, num_choices=2)
    >>> x = preprocessor(x=(["The sky is"], [["blue.", "green."]]))
    >>> tuple(x["token_ids"].shape)
    (1, 2, 8)
    >>> [int(i) for i in x["token_ids"][0, 0]]
    [101, 1996, 3712, 2003, 102, 2630, 1012, 102]
    """

    def __init__(
        self,
        tokenizer,
        sequence_length=512,
        num_choices=None,
        truncate="longest_first",
        **kwargs,
    ):
        check_truncate(truncate)
        super().__init__(tokenizer, sequence_length=sequence_length, **kwargs)
        self.num_choices = num_choices
        self.truncate = truncate

    def call(self, x, y=None, sample_weight=None):
        return self._call_tf(x, y, sample_weight)

    @preprocessing_function
    def _call_tf(self, x, y=None, sample_weight=None):
        # Always TensorFlow (eagerly too): the tokenizer runs in TF, and the
        # (B, N) choices are flattened to B * N pairs and back.
        prompts, choices = self._prompts_and_choices(x)
        num_choices = choices.shape[-1]
        prompts = tf.repeat(prompts[:, None], num_choices, axis=1)
        pairs = tokenize_together(
            self.tokenizer,
            (tf.reshape(prompts, [-1]), tf.reshape(choices, [-1])),
        )
        x = self.pack_segments(pairs)
        shape = [-1, num_choices, self.sequence_length]
        x = {key: tf.reshape(value, shape) for key, value in x.items()}
        x = trim(x, self.padded_length(x["padding_mask"]))
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def _prompts_and_choices(self, x):
        if not isinstance(x, tuple) or len(x) != 2:
            raise ValueError(
                "ElectraMultipleChoicePreprocessor expects `x=(prompts, "
                "choices)`: B prompt strings and a (B, N) batch of choice "
                f"strings. Received {type(x).__name__}."
            )
        prompts = _string_tensor(x[0], "prompts")
        choices = _string_tensor(x[1], "choices")
        if isinstance(choices, tf.RaggedTensor):
            raise ValueError(
                "Every example needs the same number of choices"
                f"{_expected(self.num_choices)}; received a ragged batch"
                f"{_row_lengths(choices)}."
            )
        if prompts.shape.rank == 0 and choices.shape.rank == 1:
            # One example: a prompt and its list of choices.
            self.check_batched(False)
            prompts, choices = prompts[None], choices[None]
        if prompts.shape.rank != 1 or choices.shape.rank != 2:
            raise ValueError(
                "Expected prompts of shape (B,) and choices of shape (B, N); "
                f"received shapes {prompts.shape} and {choices.shape}."
            )
        count = choices.shape[-1]
        if count is None or (
            self.num_choices is not None and count != self.num_choices
        ):
            raise ValueError(
                f"Expected {self.num_choices or 'a fixed number of'} choices "
                f"per example{_expected(self.num_choices)}; received {count}."
            )
        return prompts, choices

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_choices": self.num_choices,
                "truncate": self.truncate,
            }
        )
        return config


def _expected(num_choices):
    return f" (num_choices={num_choices})" if num_choices else ""


def _row_lengths(ragged):
    if not tf.executing_eagerly():
        return ""
    return f" with {ragged.row_lengths().numpy().tolist()} choices per example"


def _string_tensor(value, name):
    """`value` as a string `tf.Tensor`/`tf.RaggedTensor`, or a clear error."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "USO":
        # Numpy strings stay numpy through keras-hub's input conversion.
        try:
            value = tf.convert_to_tensor(value)
        except (TypeError, ValueError):
            value = tf.ragged.constant(value.tolist())
    is_tensor = isinstance(value, (tf.Tensor, tf.RaggedTensor))
    if not is_tensor or value.dtype != tf.string:
        raise ValueError(
            f"ElectraMultipleChoicePreprocessor expects {name} as strings; "
            f"received {_describe(value)}."
        )
    return value


def _describe(value):
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return f"{type(value).__name__} {value!r:.60}"
    return f"{type(value).__name__} of dtype {dtype}"
