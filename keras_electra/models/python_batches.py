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
4 on PyTorch).
"""

import types

import keras
import numpy as np
import tensorflow as tf


def is_python_batches(x):
    """Whether `x` is a `keras.utils.PyDataset` or a generator of batches
    (what Keras' `GeneratorDataAdapter` takes)."""
    return isinstance(x, (keras.utils.PyDataset, types.GeneratorType))


def preprocessed(x, preprocess, owner):
    """The batches of a `PyDataset` or generator `x`, each passed through
    `preprocess(x, y, sample_weight)` as it is read.

    As in Keras, a batch is `x`, `(x,)`, `(x, y)` or `(x, y,
    sample_weight)`, and a list counts as a tuple, except a list of strings
    or of word lists, which is one batch of texts.
    """
    def prepare(batch):
        outputs = _numpy(preprocess(*_standard(batch, owner)))
        # Keras' generator adapter takes tuples only.
        return outputs if isinstance(outputs, tuple) else (outputs,)

    if isinstance(x, keras.utils.PyDataset):
        if x.num_batches == 0:
            raise ValueError(
                f"{owner} received a {type(x).__name__} with no batches "
                "(its `__len__` is 0): give it at least one batch."
            )
        return _Preprocessed(x, prepare)
    return (prepare(batch) for batch in x)


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
    x, *rest = (_ragged_rows(part) for part in batch)
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


def _ragged_rows(value):
    """Rows of words or token labels (nested lists, as
    `ElectraTokenClassifier` takes them) as a `tf.RaggedTensor`."""
    if (
        isinstance(value, list)
        and value
        and all(isinstance(row, (list, tuple)) for row in value)
    ):
        return tf.ragged.constant([list(row) for row in value], ragged_rank=1)
    return value


def _numpy(outputs):
    """Preprocessed `outputs` as NumPy arrays, which Keras' adapters take on
    every backend."""
    def convert(value):
        # TensorFlow's and PyTorch's `.numpy()`: Keras' `convert_to_numpy`
        # on PyTorch 2.13 warns that `__array__` takes no `copy` keyword.
        numpy = getattr(value, "numpy", None)
        return np.asarray(value) if numpy is None else numpy()

    return keras.tree.map_structure(convert, outputs)
