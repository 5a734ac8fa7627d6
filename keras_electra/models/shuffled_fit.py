"""`fit` on in-memory inputs that shuffles every epoch, as Keras does.

keras-hub's `Task.fit` turns raw strings (and any other in-memory inputs)
into a `tf.data.Dataset` without shuffling and hands it to Keras with the
user's `shuffle=True` (the default), which Keras ignores for datasets, with a
warning the user did not cause; the examples are then seen in the same order
every epoch. `ElectraTask.fit` builds that dataset itself (here), shuffled
anew each epoch, and tells Keras `shuffle=False`. Tested with keras-hub 0.32.
It also groups texts by length for `fit(group_by_length=True)`.
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
        return batches
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
    return (
        examples.batch(batch_size)
        # `unbatch` forgets the length, which Keras needs for its steps.
        .apply(tf.data.experimental.assert_cardinality(steps))
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
            (x, y, sample_weight), validation_split=validation_split
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
