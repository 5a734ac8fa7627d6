"""The base of keras_electra's preprocessors that tokenize and pack text."""

import keras
import numpy as np
import tensorflow as tf
from keras_hub.layers import MultiSegmentPacker
from keras_hub.models import Preprocessor

from keras_electra.convert.preset_loading import ElectraPresetMixin
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_tokenizer import ElectraTokenizer
from keras_electra.models.input_checks import is_int_at_least
from keras_electra.models.longest_first import TRUNCATIONS
from keras_electra.models.longest_first import packer_truncation
from keras_electra.models.longest_first import truncate_longest_first
from keras_electra.models.padding import PAD_SENTINEL
from keras_electra.models.padding import unpad
from keras_electra.models.preprocessing_checks import check_sequence_length
from keras_electra.models.traced_once import traced_once


# HF's `padding`: every row to `sequence_length`, or each batch to its
# longest row.
PADDINGS = ("max_length", "longest")


def check_padding(owner, padding, pad_to_multiple_of):
    """`padding` is one of `PADDINGS`; `pad_to_multiple_of` None or an int
    of at least 1."""
    if padding not in PADDINGS:
        raise ValueError(
            f"{owner}: `padding` must be one of {list(PADDINGS)}; received "
            f"{padding!r}."
        )
    if pad_to_multiple_of is not None and not is_int_at_least(
        pad_to_multiple_of, 1
    ):
        raise ValueError(
            f"{owner}: `pad_to_multiple_of` must be None or an int of at "
            f"least 1; received {pad_to_multiple_of!r}."
        )


def text_packer(tokenizer, sequence_length, truncate="round_robin",
                pad_value=PAD_SENTINEL, **kwargs):
    """keras-hub's packer of `[CLS] a [SEP] (b [SEP])`, as ELECTRA packs.

    It pads with `PAD_SENTINEL` by default, which `pack_text` turns into
    the padding mask and `[PAD]` ids (see `padding.py`). `truncate` may
    also be `"longest_first"`, for segments cut before packing.
    """
    return MultiSegmentPacker(
        start_value=tokenizer.cls_token_id,
        end_value=tokenizer.sep_token_id,
        pad_value=pad_value,
        truncate=packer_truncation(truncate),
        sequence_length=sequence_length,
        **kwargs,
    )


def pack_text(packer, segments, pad_token_id):
    """The integer inputs of `segments` packed by a `text_packer`."""
    token_ids, segment_ids = packer(segments)
    token_ids, padding_mask = unpad(token_ids, pad_token_id)
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": padding_mask,
    }


def tokenize_together(tokenizer, batches, with_offsets=False):
    """`tuple(tokenizer(b) for b in batches)` (or `tokenize_with_offsets`),
    in one call of the tokenizer when every batch is a 1-D string tensor.

    In tf.data, each call of the tokenizer's graph is set up again for every
    iterator (every `fit` epoch, every `predict`): about 1.5 s of CPU each
    here, so a pair of segments in one call costs half.
    """
    if not with_offsets and all(is_token_ids(b) for b in batches):
        return tuple(batches)
    tokenize = tokenizer.tokenize_with_offsets if with_offsets else tokenizer
    tensors = None
    if len(batches) > 1:
        try:
            tensors = [tf.convert_to_tensor(b) for b in batches]
        except (TypeError, ValueError):
            pass
    if tensors is None or any(
        t.dtype != tf.string or t.shape.rank != 1 for t in tensors
    ):
        # Scalars, nested or non-string inputs: one call each, as given (the
        # tokenizer says what is wrong with a bad input).
        return tuple(tokenize(b) for b in batches)
    outputs = tokenize(tf.concat(tensors, axis=0))
    ends = tf.cumsum([tf.shape(t)[0] for t in tensors])
    starts = tf.concat([[0], ends[:-1]], axis=0)

    def cut(i):
        return tf.nest.map_structure(
            lambda x: x[starts[i]:ends[i]], outputs
        )

    return tuple(cut(i) for i in range(len(tensors)))


def is_token_ids(batch):
    """Whether `batch` is ragged integer token ids (texts a task tokenized
    before `tf.data`, see `ElectraTokenizer.ragged_token_ids`)."""
    return isinstance(batch, tf.RaggedTensor) and batch.dtype.is_integer


def trim(value, length):
    """`value` (a tensor, a dict of them or None) cut to `length` along its
    last axis; unchanged when `length` is None."""
    if value is None or length is None:
        return value
    if isinstance(value, dict):
        return {key: trim(item, length) for key, item in value.items()}
    return value[..., :length]


class ElectraPreprocessor(ElectraPresetMixin, Preprocessor):
    """Base class of the preprocessors that pack text into fixed rows.

    It holds what they share: the tokenizer; `sequence_length`, checked and
    handed on to the packers whenever it changes; the packers, made in
    `build` so that tokenizer assets are loaded when a saved model is
    restored; and the padding of each batch.

    Subclasses that pack text segments as `[CLS] a [SEP] (b [SEP])` call
    `pack_segments()`; others name the attributes of their packers in
    `packer_names` and return them from `make_packers()`. All pass what they
    pack through `padded_length()` and `trim()`, and call `check_batched()`.

    Args:
        tokenizer: an `ElectraTokenizer`.
        sequence_length: int. The longest packed row; every row is padded
            to it with `padding="max_length"`.
        padding: `"max_length"` (default; HF's `padding="max_length"`) or
            `"longest"` (HF's `padding="longest"`): each batch is padded
            only to its longest row, rounded up to a multiple of
            `pad_to_multiple_of` and never above `sequence_length`, so that
            short texts cost less. `"longest"` needs batches (a list of
            strings, or a `tf.data` dataset that is batched before the
            preprocessor is mapped over it, as `fit` and `predict` do): one
            example alone is refused, because rows of different lengths
            cannot be batched afterwards.
        pad_to_multiple_of: int or `None`. With `padding="longest"`, round
            the padded length up to a multiple of this, so that compiled
            functions (`jit`, `tf.function`) are reused for a few lengths
            rather than traced for each.
    """

    backbone_cls = ElectraBackbone
    tokenizer_cls = ElectraTokenizer
    # Attributes that hold the packers `make_packers()` returns.
    packer_names = ("packer",)
    # How `pack_segments` cuts segments that do not fit (`TRUNCATIONS`);
    # the preprocessors of pairs take it as an argument.
    truncate = "round_robin"

    def __init__(self, tokenizer, sequence_length=512, padding="max_length",
                 pad_to_multiple_of=None, **kwargs):
        owner = type(self).__name__
        check_sequence_length(owner, sequence_length)
        check_padding(owner, padding, pad_to_multiple_of)
        # `Preprocessor`'s, not that of a keras-hub subclass between
        # (`TextClassifierPreprocessor`), which would set up its own packer.
        Preprocessor.__init__(self, **kwargs)
        self.tokenizer = tokenizer
        for name in self.packer_names:
            setattr(self, name, None)
        self.sequence_length = sequence_length
        self.padding = padding
        self.pad_to_multiple_of = pad_to_multiple_of

    def make_packers(self):
        """`{name: packer}` for each of `packer_names`."""
        return {
            "packer": text_packer(self.tokenizer, self.sequence_length,
                                  self.truncate),
        }

    def build(self, input_shape):
        Preprocessor.build(self, input_shape)
        for name, packer in self.make_packers().items():
            setattr(self, name, packer)

    def pack_segments(self, segments):
        """The integer inputs of `segments` (a batch of token ids, or a tuple
        of one or two), cut as `truncate` says; traced once per
        preprocessor and packing (`traced_once`) when they are tensors."""
        parts = segments if isinstance(segments, tuple) else (segments,)
        if not all(tf.is_tensor(part) for part in parts):
            return self._pack_segments(segments)
        key = (id(self.packer), self.truncate, self.sequence_length,
               self.tokenizer.pad_token_id)
        pack = traced_once(self, "_pack_segments", key, reduce_retracing=True)
        return pack(segments)

    def _pack_segments(self, segments):
        if self.truncate == TRUNCATIONS[0]:
            segments = truncate_longest_first(segments, self.sequence_length)
        return pack_text(self.packer, segments, self.tokenizer.pad_token_id)

    def padded_length(self, padding_mask):
        """The length to cut this batch's packed rows to, or `None`.

        `None` with `padding="max_length"`; with `"longest"` the longest
        row of `padding_mask` (any leading axes), rounded up to a multiple
        of `pad_to_multiple_of`, at most `sequence_length`.
        """
        if self.padding == PADDINGS[0]:
            return None
        multiple = self.pad_to_multiple_of or 1
        if isinstance(padding_mask, tf.Tensor):
            lengths = tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=-1)
            longest = tf.reduce_max(
                tf.concat([tf.reshape(lengths, [-1]), [0]], axis=0)
            )
            rounded = (longest + multiple - 1) // multiple * multiple
            return tf.minimum(rounded, self.sequence_length)
        mask = np.asarray(keras.ops.convert_to_numpy(padding_mask))
        longest = int(mask.astype("int32").sum(axis=-1).max(initial=0))
        rounded = -(-longest // multiple) * multiple
        return min(rounded, self.sequence_length)

    def check_batched(self, batched):
        """Refuse one example alone with `padding="longest"`."""
        if batched or self.padding == PADDINGS[0]:
            return
        raise ValueError(
            f"{type(self).__name__}(padding='longest') pads each batch to "
            "its longest row, so it takes batches: received one example. "
            "Pass a list of examples; in tf.data, batch before mapping the "
            "preprocessor (dataset.batch(n).map(preprocessor)); or use "
            "padding='max_length'."
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "padding": self.padding,
                "pad_to_multiple_of": self.pad_to_multiple_of,
            }
        )
        return config

    @property
    def sequence_length(self):
        """The padded length of model input sequences."""
        return self._sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        self._sequence_length = value
        for name in self.packer_names:
            packer = getattr(self, name, None)
            if packer is not None:
                packer.sequence_length = value
