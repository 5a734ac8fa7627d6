"""Input checks for preprocessors that run eagerly and inside `tf.data`.

Eagerly a failed check raises `ValueError` at once. Inside a `tf.data`
pipeline (or any `tf.function`) values are not known while tracing, so the
same check becomes a `tf.debugging.Assert` that fails the step with the same
message (TensorFlow raises it as `InvalidArgumentError`).
"""

import keras
import numpy as np
import tensorflow as tf

from keras_electra.models.input_checks import is_int_at_least


def check(condition, message):
    """Fail with `message` unless `condition` holds everywhere."""
    condition = tf.reduce_all(condition)
    if tf.executing_eagerly():
        if not bool(condition.numpy()):
            raise ValueError(message)
        return
    tf.debugging.Assert(condition, [message])


def as_tf(x, dtype=None):
    """`x` (a tf, numpy, JAX or PyTorch tensor or a list) as a tf tensor."""
    if isinstance(x, (tf.Tensor, tf.RaggedTensor)):
        return x if dtype is None else tf.cast(x, dtype)
    if isinstance(x, (list, tuple)) or np.isscalar(x):
        try:
            x = tf.constant(x)
        except (ValueError, TypeError):
            x = tf.ragged.constant(x)
        return x if dtype is None else tf.cast(x, dtype)
    x = tf.convert_to_tensor(np.asarray(keras.ops.convert_to_numpy(x)))
    return x if dtype is None else tf.cast(x, dtype)


def nested_lists_as_ragged(value, dtype=None):
    """Nested Python lists (rows of words or token labels, as
    `ElectraTokenClassifier` takes them) as a `tf.RaggedTensor`; anything
    else as it is."""
    nested = (
        isinstance(value, list)
        and value
        and all(isinstance(row, (list, tuple)) for row in value)
    )
    if not nested:
        return value
    return tf.ragged.constant(
        [list(row) for row in value], dtype=dtype, ragged_rank=1
    )


def as_ragged_rows(x):
    """A rank 2 (batch, items) tensor as a `tf.RaggedTensor`."""
    if isinstance(x, tf.RaggedTensor):
        return x
    return tf.RaggedTensor.from_tensor(x)


# `[CLS] a [SEP]` needs room for one token of text besides its two specials.
MIN_SEQUENCE_LENGTH = 3


def check_sequence_length(owner, sequence_length, minimum=MIN_SEQUENCE_LENGTH):
    """`sequence_length` is an int of at least `minimum`."""
    if not is_int_at_least(sequence_length, minimum):
        raise ValueError(
            f"{owner}: `sequence_length` must be an int of at least {minimum} "
            f"([CLS], one token of text, [SEP]); received {sequence_length!r}."
            " Pass a longer sequence_length, e.g. 128."
        )
