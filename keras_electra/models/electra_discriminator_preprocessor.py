import keras
import tensorflow as tf
from keras import ops
from keras_hub.layers import MultiSegmentPacker
from keras_electra._keras_hub_compat import convert_to_numpy
from keras_electra._keras_hub_private import preprocessing_function
from keras_electra._keras_hub_private import use_tf_workflow

from keras_electra.models.electra_preprocessor import ElectraPreprocessor
from keras_electra.models.electra_preprocessor import trim


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraDiscriminatorPreprocessor(ElectraPreprocessor):
    """Raw strings and per-token labels to inputs for `ElectraDiscriminator`.

    Tokenizes single sentences, packs them as `[CLS] text [SEP]` and pads to
    `sequence_length`. Labels, if given, hold one 0/1 value per word piece of
    the text ("was this token replaced"); they are packed the same way (0 for
    `[CLS]`, `[SEP]` and padding, cut where the text is cut), and the padding
    mask comes back as `sample_weight`, so the loss averages over real tokens
    only, as Google's ELECTRA does.

    Args:
        tokenizer: an `ElectraTokenizer`.
        sequence_length: int. Length of the packed inputs.
        padding: `"max_length"` (default) pads every row to
            `sequence_length`; `"longest"` pads each batch only to its
            longest row (HF's `padding="longest"`) and needs batched input.
            See `ElectraPreprocessor`.
        pad_to_multiple_of: int or `None`. With `padding="longest"`, round
            each batch's length up to a multiple of this.

    Call arguments:
        x: a string or a batch of strings.
        y: optional labels, one list of 0/1 per string with as many entries as
            the string has word pieces (a list of lists or a
            `tf.RaggedTensor`).
        sample_weight: must be `None`; the padding mask is the weight.

    Example:
    >>> from keras_electra import ElectraTokenizer
    >>> preprocessor = ElectraDiscriminatorPreprocessor(
    ...     ElectraTokenizer(), sequence_length=6)
    >>> x, y, w = preprocessor(["the cat sat"], [[0, 1, 0]])
    >>> [int(v) for v in keras.ops.convert_to_numpy(y)[0]]
    [0, 0, 1, 0, 0, 0]
    """

    packer_names = ("packer", "label_packer")

    def make_packers(self):
        # Labels are cut and padded exactly like the tokens they describe.
        label_packer = MultiSegmentPacker(
            start_value=0,
            end_value=0,
            pad_value=0,
            sequence_length=self.sequence_length,
        )
        return {**super().make_packers(), "label_packer": label_packer}

    def call(self, x, y=None, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "ElectraDiscriminatorPreprocessor weights every token by the "
                "padding mask; do not pass `sample_weight`."
            )
        if use_tf_workflow(self):
            return self._call_tf(x, y, sample_weight)
        return self._call_python(x, y, sample_weight)

    @preprocessing_function
    def _call_tf(self, x, y=None, sample_weight=None):
        token_ids = self.tokenizer(x)
        if y is not None:
            y = _as_tf_labels(y)
            _assert_same_lengths_tf(token_ids, y)
        return self._pack(token_ids, y)

    def _call_python(self, x, y=None, sample_weight=None):
        token_ids = self.tokenizer(x)
        if y is not None:
            y = _as_python_labels(y)
            _check_same_lengths(token_ids, y)
        return self._pack(token_ids, y)

    def _pack(self, token_ids, labels):
        x = self.pack_segments(token_ids)
        self.check_batched(len(x["token_ids"].shape) > 1)
        length = self.padded_length(x["padding_mask"])
        x = trim(x, length)
        if labels is None:
            return x
        labels, _ = self.label_packer(labels)
        sample_weight = _cast_float(x["padding_mask"])
        return keras.utils.pack_x_y_sample_weight(
            x, trim(labels, length), sample_weight
        )


def _label_error(token_lengths, label_lengths):
    return ValueError(
        "ElectraDiscriminatorPreprocessor needs one label per word piece of "
        f"each text; the texts have {token_lengths} word pieces but the labels "
        f"have {label_lengths} entries."
    )


def _as_python_labels(y):
    """Tensors and arrays of labels as (nested) Python lists."""
    if hasattr(y, "to_list"):  # tf.RaggedTensor
        return y.to_list()
    if ops.is_tensor(y) or hasattr(y, "numpy") or hasattr(y, "tolist"):
        return convert_to_numpy(y).tolist()
    return [list(row) if isinstance(row, tuple) else row for row in y]


def _check_same_lengths(token_ids, labels):
    token_ids = _as_python_labels(token_ids)
    batched = bool(token_ids) and isinstance(token_ids[0], list)
    if batched:
        token_lengths = [len(row) for row in token_ids]
        label_lengths = [len(row) for row in labels]
    else:
        token_lengths, label_lengths = len(token_ids), len(labels)
    if token_lengths != label_lengths:
        raise _label_error(token_lengths, label_lengths)


def _as_tf_labels(y):
    if not isinstance(y, (tf.Tensor, tf.RaggedTensor)):
        y = tf.convert_to_tensor(convert_to_numpy(y))
    y = tf.cast(y, "int32")
    if isinstance(y, tf.Tensor) and y.shape.rank == 2:
        y = tf.RaggedTensor.from_tensor(y)
    return y


def _assert_same_lengths_tf(token_ids, labels):
    if isinstance(token_ids, tf.RaggedTensor):
        token_lengths = token_ids.row_lengths()
        label_lengths = tf.cast(labels.row_lengths(), token_lengths.dtype)
    else:
        token_lengths = tf.shape(token_ids)[-1:]
        label_lengths = tf.shape(labels)[-1:]
    if tf.executing_eagerly():
        if not bool(tf.reduce_all(token_lengths == label_lengths)):
            raise _label_error(
                token_lengths.numpy().tolist(), label_lengths.numpy().tolist()
            )
        return
    tf.debugging.assert_equal(
        token_lengths,
        label_lengths,
        message="ElectraDiscriminatorPreprocessor needs one label per word "
        "piece of each text",
    )


def _cast_float(padding_mask):
    if isinstance(padding_mask, tf.Tensor):
        return tf.cast(padding_mask, "float32")
    return ops.cast(padding_mask, "float32")
