"""`predict` on in-memory inputs, a batch at a time, without `tf.data`.

keras-hub's `Task.predict` (every backend) and Keras' TensorFlow `predict`
build a `tf.data` pipeline for each call, tracing its functions again every
time: a one-text `ElectraClassifier.predict` took 614 ms on TensorFlow and
366-373 ms on JAX and PyTorch against 6-7 ms for `predict_on_batch`, and a
backbone's `predict` on TensorFlow 59 ms against 3. Here arrays, tensors and
raw texts held in memory are sliced into batches in Python and each batch
goes through `predict_on_batch` (preprocessed as there), with the callbacks,
progress bar and `stop_predicting` of Keras' `predict`. Datasets,
generators, `steps`, `steps_per_execution` above 1 and multi-replica
strategies keep Keras' loop.
"""

import math

import keras
import numpy as np
from keras import tree

from keras_electra.models.input_checks import is_int_at_least

DEFAULT_BATCH_SIZE = 32  # Keras' own, where `batch_size` is None.


class InMemoryPredictMixin:
    """`predict` a batch at a time on in-memory inputs; Keras' own
    otherwise."""

    def predict(self, x=None, batch_size=None, verbose="auto", steps=None,
                callbacks=None):
        rows = in_memory_rows(x)
        if rows is not None:
            check_batch_size(batch_size, f"{type(self).__name__}.predict()")
        if (
            rows is None
            or steps is not None
            # Several batches per compiled call, as asked.
            or self.steps_per_execution != 1
            or not _single_replica(self)
        ):
            return super().predict(
                x, batch_size=batch_size, verbose=verbose, steps=steps,
                callbacks=callbacks,
            )
        return _predict_in_batches(
            self, x, rows, int(batch_size or DEFAULT_BATCH_SIZE), verbose,
            callbacks,
        )


def check_batch_size(batch_size, owner):
    """A clear error for a `batch_size` that is not a positive integer
    (Keras' own loop fails on those with unrelated errors, or takes 0 as
    None)."""
    if batch_size is not None and not is_int_at_least(batch_size, 1):
        raise ValueError(
            f"{owner}: `batch_size` must be a positive integer, or None for "
            f"{DEFAULT_BATCH_SIZE}; received {batch_size!r}."
        )


def in_memory_rows(x):
    """The number of rows of `x` if it is held in memory (an array, a
    tensor, a list of texts, or a dict or tuple of those, all with as many
    rows), else None."""
    if isinstance(x, dict):
        parts = list(x.values())
    elif isinstance(x, tuple):
        parts = list(x)
    else:
        parts = [x]
    counts = {_rows(part) for part in parts}
    if not parts or len(counts) != 1:
        return None
    return counts.pop()


def _rows(part):
    if isinstance(part, list):
        if part and all(isinstance(t, (str, bytes)) for t in part):
            return len(part)
        return None
    shape = getattr(part, "shape", None)
    # Keras' own data types only: array-likes of other libraries, and
    # scalars, get Keras' handling and errors.
    if not _is_array(part) or shape is None or len(shape) == 0:
        return None
    rows = shape[0]
    return None if rows is None or rows == 0 else int(rows)


def _is_array(value):
    import tensorflow as tf

    if isinstance(value, (np.ndarray, tf.Tensor, tf.RaggedTensor)):
        return True
    backend = keras.config.backend()
    return backend in ("jax", "torch") and keras.ops.is_tensor(value)


def _single_replica(model):
    if keras.config.backend() == "tensorflow":
        return model.distribute_strategy.num_replicas_in_sync == 1
    return keras.distribution.distribution() is None


def _predict_in_batches(model, x, rows, batch_size, verbose, callbacks):
    steps = math.ceil(rows / batch_size)
    if not isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks = keras.callbacks.CallbackList(
            callbacks, add_progbar=verbose != 0, verbose=verbose, epochs=1,
            steps=steps, model=model,
        )
    model.stop_predicting = False
    callbacks.on_predict_begin()
    outputs = []
    for step in range(steps):
        callbacks.on_predict_batch_begin(step)
        batch = _slice(x, step * batch_size, (step + 1) * batch_size)
        batch_outputs = model.predict_on_batch(batch)
        outputs.append(batch_outputs)
        callbacks.on_predict_batch_end(step, {"outputs": batch_outputs})
        if model.stop_predicting:
            break
    callbacks.on_predict_end()
    return tree.map_structure_up_to(outputs[0], _concatenate, *outputs)


def _slice(x, start, stop):
    if isinstance(x, dict):
        return {key: value[start:stop] for key, value in x.items()}
    if isinstance(x, tuple):
        return tuple(part[start:stop] for part in x)
    return x[start:stop]


def _concatenate(*batches):
    if len(batches) == 1:
        return batches[0]
    if keras.config.backend() != "tensorflow":
        return np.concatenate(batches)
    # Keras' own, which gives a `tf.RaggedTensor` where the batches'
    # sequence lengths differ.
    import tensorflow as tf
    from keras.src.backend.tensorflow.trainer import (
        convert_to_np_if_not_ragged,
        potentially_ragged_concat,
    )

    return convert_to_np_if_not_ragged(potentially_ragged_concat([
        tf.convert_to_tensor(b) if isinstance(b, np.ndarray) else b
        for b in batches
    ]))
