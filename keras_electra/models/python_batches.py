"""`keras.utils.PyDataset`s and Python generators for `fit`, `evaluate`
and `predict`.

Keras' `Model.fit` takes either; keras-hub's `Task.fit` (0.32) slices every
input that is not a dataset with `tf.data.Dataset.from_tensor_slices`, which
fails on both with errors that do not say why ("Can't convert Python
sequence with mixed types to Tensor", "Attempt to convert a value
(<generator object ...>)"), and Keras' own adapters cannot carry raw strings
(`Invalid dtype: str480`). Here each batch is preprocessed as it is read and
Keras gets the numbers, through its own adapters: a `PyDataset`'s workers,
epoch hooks and per-epoch shuffling of batches, and a generator's one pass,
are then Keras' own.

Not through `tf.data`: a one-pass generator wrapped in a dataset loses the
batches that the iterators Keras opens to build the model read ahead (2 of
4 on PyTorch). The one exception is a `PyDataset` read on one thread on the
TensorFlow backend (`_one_thread_on_tf`), for which Keras builds an
autotuned `tf.data` pipeline; that pipeline is built here without tf.data's
autotuning thread, as `shuffled_fit` builds its own.
"""

import random
import types

import keras
import numpy as np
import tensorflow as tf

from keras_electra.models.preprocessing_checks import nested_lists_as_ragged
from keras_electra.models.shuffled_fit import closes_promptly


def is_python_batches(x):
    """Whether `x` is a `keras.utils.PyDataset` or a generator of batches
    (what Keras' `GeneratorDataAdapter` takes)."""
    return isinstance(x, (keras.utils.PyDataset, types.GeneratorType))


def preprocessed(x, preprocess, owner, shuffle=False, y=None,
                 sample_weight=None):
    """The batches of a `PyDataset` or generator `x`, each passed through
    `preprocess(x, y, sample_weight)` as it is read: a `PyDataset`, a
    generator or a `tf.data.Dataset` for Keras.

    As in Keras, a batch is `x`, `(x,)`, `(x, y)` or `(x, y,
    sample_weight)`, and a list counts as a tuple, except a list of strings
    or of word lists, which is one batch of texts. `shuffle` reorders a
    `PyDataset`'s batches each epoch where a dataset is returned (Keras
    does it for a `PyDataset`).
    """
    kind = type(x).__name__
    for name, value in (("y", y), ("sample_weight", sample_weight)):
        if value is not None:
            raise ValueError(
                f"{owner} takes `{name}` from the batches of a {kind}; "
                f"received `{name}` as an argument too. Return `(x, y)` or "
                "`(x, y, sample_weight)` from each batch instead."
            )

    def prepare(batch):
        outputs = _numpy(preprocess(*_standard(batch, owner)))
        # Keras' generator adapter takes tuples only.
        return outputs if isinstance(outputs, tuple) else (outputs,)

    if isinstance(x, keras.utils.PyDataset):
        if x.num_batches == 0:
            raise ValueError(
                f"{owner} received a {kind} with no batches "
                "(its `__len__` is 0): give it at least one batch."
            )
        batches = _Preprocessed(x, prepare)
        if _one_thread_on_tf(x):
            return _tf_batches(batches, shuffle)
        return batches
    return (prepare(batch) for batch in x)


def _one_thread_on_tf(py_dataset):
    """Whether Keras would read `py_dataset` through an autotuned `tf.data`
    pipeline (its `PyDatasetAdapter` turns autotuning off itself only for
    its worker pool).

    Deleting an autotuned iterator waits for the autotuning thread's next
    wake-up (TensorFlow 2.21; `shuffled_fit.closes_promptly`): fitting the
    tiny preset on 1,024 reviews from a `PyDataset`, one core, epochs took
    10.3 s of wall for 8.6 s of CPU.
    """
    return (
        keras.backend.backend() == "tensorflow"
        and py_dataset.workers <= 1
        and not py_dataset.use_multiprocessing
        and py_dataset.num_batches is not None
    )


def _tf_batches(batches, shuffle):
    """`batches` (a one-thread `PyDataset` of NumPy batches) as Keras'
    `PyDatasetAdapter` reads it, in a `tf.data.Dataset` without the
    autotuning thread: epoch hooks around each pass, batches reordered each
    pass with Python's `random` (which `keras.utils.set_random_seed` seeds)
    if `shuffle`, one batch read ahead."""
    steps = batches.num_batches

    def epoch():
        batches.on_epoch_begin()
        order = list(range(steps))
        if shuffle:
            random.shuffle(order)
        try:
            for index in order:
                yield batches[index]
        finally:
            batches.on_epoch_end()

    spec = keras.tree.map_structure(_open_spec, batches[0])
    dataset = tf.data.Dataset.from_generator(epoch, output_signature=spec)
    return closes_promptly(
        dataset.apply(tf.data.experimental.assert_cardinality(steps))
        .prefetch(1)
    )


def _open_spec(array):
    """A `tf.TensorSpec` of `array`'s rank and dtype, every dimension open:
    the last batch may be short and `padding="longest"` varies lengths."""
    return tf.TensorSpec([None] * array.ndim, tf.as_dtype(array.dtype))


class _Preprocessed(keras.utils.PyDataset):
    """`batches` (a `PyDataset`) with `prepare` applied to each batch; its
    workers, length and epoch hooks are those of `batches`."""

    def __init__(self, batches, prepare):
        super().__init__(
            workers=batches.workers,
            use_multiprocessing=batches.use_multiprocessing,
            max_queue_size=batches.max_queue_size,
        )
        self.batches = batches
        self.prepare = prepare

    @property
    def num_batches(self):
        return self.batches.num_batches

    def __getitem__(self, index):
        return self.prepare(self.batches[index])

    def on_epoch_begin(self):
        self.batches.on_epoch_begin()

    def on_epoch_end(self):
        self.batches.on_epoch_end()


def _standard(batch, owner):
    """`batch` as `(x, y, sample_weight)`."""
    if isinstance(batch, list) and not _is_texts(batch):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        batch = (batch,)
    if not 1 <= len(batch) <= 3:
        raise ValueError(
            f"{owner} needs each batch as `x`, `(x, y)` or `(x, y, "
            f"sample_weight)`; received a tuple of {len(batch)}."
        )
    x, *rest = (nested_lists_as_ragged(part) for part in batch)
    return (x, *rest, *[None] * (2 - len(rest)))


def _is_texts(values):
    """Whether a list batch is one batch of texts or of word lists (not
    `[x, y]`)."""
    def strings(items):
        return all(isinstance(item, (str, bytes)) for item in items)

    return bool(values) and (
        strings(values)
        or all(isinstance(v, (list, tuple)) and strings(v) for v in values)
    )


def _numpy(outputs):
    """Preprocessed `outputs` as NumPy arrays, which Keras' adapters take on
    every backend."""
    def convert(value):
        # TensorFlow's and PyTorch's `.numpy()`: Keras' `convert_to_numpy`
        # on PyTorch 2.13 warns that `__array__` takes no `copy` keyword.
        numpy = getattr(value, "numpy", None)
        return np.asarray(value) if numpy is None else numpy()

    return keras.tree.map_structure(convert, outputs)
