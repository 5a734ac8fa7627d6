"""Padding masks that count packed tokens, not `[PAD]` ids.

HF attends to a "[PAD]" written in the text (it is one token like any
other, with attention mask 1); a mask computed as `token_ids != pad_id`
would hide it from the model. So the packers pad with `PAD_SENTINEL`, an id
no token has, and `unpad` turns it into the mask and the real pad id.
"""

import keras
import tensorflow as tf

PAD_SENTINEL = -1


def unpad(token_ids, pad_token_id):
    """`(token_ids, padding_mask)` of ids packed with `PAD_SENTINEL`."""
    if isinstance(token_ids, tf.Tensor):
        padding_mask = tf.not_equal(token_ids, PAD_SENTINEL)
        pad = tf.cast(pad_token_id, token_ids.dtype)
        return tf.where(padding_mask, token_ids, pad), padding_mask
    padding_mask = keras.ops.not_equal(token_ids, PAD_SENTINEL)
    return keras.ops.where(padding_mask, token_ids, pad_token_id), padding_mask
