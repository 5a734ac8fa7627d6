"""Preprocessed batches that Keras' distribution engines accept."""

import tensorflow as tf


def _batch_size(tree):
    for value in tf.nest.flatten(tree):
        if isinstance(value, tf.Tensor) and value.shape.rank:
            if value.shape[0] is not None:
                return value.shape[0]
    return None


def distributable(outputs, inputs):
    """`outputs` with `inputs`' static batch size and no boolean tensors.

    - The tokenizer's ragged output, and the packers after it, lose the
      static batch size of a `tf.data` batch made with
      `drop_remainder=True`; Keras needs it to split a dataset between the
      processes of a multi-host `keras.distribution`.
    - Keras' TensorFlow trainer averages the first batch over the replicas
      of a `tf.distribute` strategy to build the model, which fails on
      booleans; the models cast `padding_mask` to int32 anyway.
    """
    size = _batch_size(inputs)

    def convert(value):
        if not isinstance(value, tf.Tensor):
            return value
        if value.dtype == tf.bool:
            value = tf.cast(value, tf.int32)
        if size is not None and value.shape.rank and value.shape[0] is None:
            value = tf.ensure_shape(
                value, [size] + [None] * (value.shape.rank - 1))
        return value

    return tf.nest.map_structure(convert, outputs)

