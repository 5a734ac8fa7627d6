"""`fit` on in-memory inputs that shuffles every epoch, as Keras does.

keras-hub's `Task.fit` turns raw strings (and any other in-memory inputs)
into a `tf.data.Dataset` without shuffling and hands it to Keras with the
user's `shuffle=True` (the default), which Keras ignores for datasets, with a
warning the user did not cause; the examples are then seen in the same order
every epoch. `ElectraTask.fit` builds that dataset itself (here), shuffled
anew each epoch, and tells Keras `shuffle=False`. Tested with keras-hub 0.32.
It also groups texts by length for `fit(group_by_length=True)`, holds out
the last examples of Python lists for `validation_split`, and builds
`evaluate`'s dataset, all without tf.data's autotuning thread
(`closes_promptly`).
"""

import keras
import numpy as np
import tensorflow as tf
from keras_electra._keras_hub_compat import inputs_to_tf_dataset as _convert_inputs_to_tf_dataset
from keras_electra._keras_hub_compat import is_grain_dataset as _is_grain_dataset
from keras_electra._keras_hub_compat import train_validation_split as _train_validation_split

DEFAULT_BATCH_SIZE = 32
# HF's `group_by_length` (`LengthGroupedSampler`): runs of 50 batches.
MEGABATCH_BATCHES = 50


def is_dataset(x):
    return isinstance(x, tf.data.Dataset) or _is_grain_dataset(x)


def in_memory_dataset(x, y=None, sample_weight=None, batch_size=None,
                      shuffle=True, seed=None, lengths=None):
    """Batches of `(x, y, sample_weight)`, reshuffled every epoch if asked.

    The shuffle buffer holds the whole input, so each epoch is a uniform
    permutation (as Keras' own shuffling of arrays). With `seed=None` the
    order follows TensorFlow's global seed, which
    `keras.utils.set_random_seed` sets: the same seed gives the same
    orders.

    With `lengths` (one number per example), batches hold examples of
    similar length, as HF's `group_by_length`: the (shuffled) examples are
    taken 50 batches at a time and each run is sorted longest first.
    """
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    inputs = keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
    batches = _convert_inputs_to_tf_dataset(inputs, batch_size)
    if not shuffle and lengths is None:
        return closes_promptly(batches)
    steps = batches.cardinality()
    examples = batches.unbatch()
    if lengths is not None:
        examples = tf.data.Dataset.zip(
            (examples, tf.data.Dataset.from_tensor_slices(
                np.asarray(lengths, dtype="int64")))
        )
    if shuffle:
        examples = examples.shuffle(int(steps) * batch_size, seed=seed,
                                    reshuffle_each_iteration=True)
    if lengths is not None:
        examples = (
            examples.batch(MEGABATCH_BATCHES * batch_size)
            .map(_longest_first)
            .unbatch()
        )
    return closes_promptly(
        examples.batch(batch_size)
        # `unbatch` forgets the length, which Keras needs for its steps.
        .apply(tf.data.experimental.assert_cardinality(steps))
    )


def closes_promptly(dataset):
    """`dataset` (and what keras-hub maps onto it) without tf.data's
    autotuning thread.

    Deleting an iterator of an autotuned pipeline waits for that thread's
    next wake-up, which comes later the longer the iterator has lived
    (TensorFlow 2.21: up to 2 s after 3 s, 20 s after 20 s). Keras deletes
    one at the end of every epoch and every validation pass, and `fit`
    stood idle meanwhile: the tiny preset, 512 reviews, 3 epochs with
    validation, two cores, 16.0 -> 12.3 s on TensorFlow, 16.5 -> 12.4 on
    PyTorch, 15.5 -> 13.5 on JAX, the same CPU time. Without it, `AUTOTUNE`
    parallelism is the number of cores and prefetch buffers size
    themselves.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def promptly_unless_chosen(data):
    """A user's `tf.data.Dataset` `data` (what keras-hub maps the
    preprocessor onto) without the autotuning thread, unless its options
    choose autotuning; anything else as it is.

    Fitting the tiny preset on 1,024 reviews as a `tf.data.Dataset` of raw
    texts with validation, one core, 3 epochs took 63 s of wall for 44 s of
    CPU, epochs after the first standing idle 6 s each.
    """
    if (
        isinstance(data, tf.data.Dataset)
        and data.options().autotune.enabled is None
    ):
        return closes_promptly(data)
    return data


def _splittable(arrays):
    """`(x, y, sample_weight)` with lists of strings or numbers as arrays,
    which Keras' `validation_split` takes the last examples of; anything
    else that it cannot split gets an error that says what to do."""

    def convert(value):
        if isinstance(value, tuple):  # sentence pairs
            return tuple(convert(part) for part in value)
        if not isinstance(value, list):
            return value
        array = np.asarray(value) if _flat(value) else None
        if array is None or array.dtype.kind not in "USiufb":
            raise ValueError(
                "`validation_split` takes the last examples of arrays and "
                "of lists of strings or numbers; received a list of "
                f"{type(value[0]).__name__ if value else 'nothing'}. "
                "Pass `validation_data=(x_val, y_val)` instead."
            )
        return array

    return tuple(convert(value) for value in arrays)


def _flat(values):
    return all(
        isinstance(v, (str, bytes, int, float, np.generic)) for v in values
    )


def _longest_first(examples, lengths):
    order = tf.argsort(lengths, direction="DESCENDING", stable=True)
    return tf.nest.map_structure(lambda t: tf.gather(t, order), examples)


def in_memory_datasets(x, y, sample_weight, batch_size, validation_data,
                       validation_split, shuffle, lengths_of=None,
                       prepare=None):
    """`fit`'s in-memory inputs as `(train, validation_data)` datasets.

    The training batches are reshuffled every epoch if `shuffle`, and
    grouped by the lengths `lengths_of(x)` gives if it is passed;
    `validation_split` takes the last examples, as Keras does, and a
    `validation_data` dataset is kept as it is. `prepare` (if given) turns
    each in-memory `x` into what the dataset holds (token ids).
    """
    prepare = prepare or (lambda inputs: inputs)
    if validation_split and validation_data is None:
        (x, y, sample_weight), validation_data = _train_validation_split(
            _splittable((x, y, sample_weight)),
            validation_split=validation_split,
        )
    if validation_data is not None and not is_dataset(validation_data):
        vx, vy, vsw = keras.utils.unpack_x_y_sample_weight(validation_data)
        validation_data = in_memory_dataset(
            prepare(vx), vy, vsw, batch_size=batch_size, shuffle=False,
        )
    x = prepare(x)
    train = in_memory_dataset(
        x, y, sample_weight, batch_size=batch_size, shuffle=bool(shuffle),
        lengths=None if lengths_of is None else lengths_of(x),
    )
    return train, validation_data
