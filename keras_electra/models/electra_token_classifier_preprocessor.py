import keras
import tensorflow as tf
from keras_hub.layers import StartEndPacker
from keras_electra._keras_hub_private import preprocessing_function

from keras_electra.models.electra_preprocessor import ElectraPreprocessor
from keras_electra.models.electra_preprocessor import trim
from keras_electra.models.preprocessing_checks import as_ragged_rows
from keras_electra.models.preprocessing_checks import as_tf
from keras_electra.models.preprocessing_checks import check

# HF's label for "leave this word out of the loss" (`-100`).
IGNORE_LABEL = -100


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraTokenClassifierPreprocessor(ElectraPreprocessor):
    """Words and word labels to packed inputs for `ElectraTokenClassifier`.

    Takes text that is already split into words (NER-style data: one label
    per word), tokenizes each word into WordPiece tokens and packs
    `[CLS] tokens [SEP]`, padded to `sequence_length`. Word labels go on the
    first token of each word; the other tokens of the word, `[CLS]`, `[SEP]`
    and padding get sample weight 0, so they stay out of the loss and the
    metrics (HF's `is_split_into_words=True` with `label_all_tokens=False`,
    where they are labelled -100). A word label of -100 also leaves the word
    out. Words that do not fit in `sequence_length` are cut off.

    Returns `x`, a dict of `token_ids`, `segment_ids` and `padding_mask`, or
    `(x, y, sample_weight)` with labels: `y` holds an integer label per
    token and `sample_weight` 1.0 on the first token of each labelled word.

    Args:
        tokenizer: an `ElectraTokenizer`.
        sequence_length: int. Length of the packed inputs.
        padding: `"max_length"` (default) pads every row to
            `sequence_length`; `"longest"` pads each batch only to its
            longest row (HF's `padding="longest"`) and needs batched input.
            See `ElectraPreprocessor`.
        pad_to_multiple_of: int or `None`. With `padding="longest"`, round
            each batch's length up to a multiple of this.

    Inputs:
        x: the words of one example (a list or 1-D tensor of strings) or of a
            batch (a list of lists, a `tf.RaggedTensor` or a padded 2-D
            tensor; empty strings produce no tokens, so they can pad).
        y: integer word labels, the same shape as `x`.
        sample_weight: optional float word weights, the same shape as `x`.

    Example:
    >>> from keras_electra import ElectraTokenizer
    >>> preprocessor = ElectraTokenClassifierPreprocessor(
    ...     ElectraTokenizer(), sequence_length=8)
    >>> x, y, sample_weight = preprocessor(
    ...     [["Jane", "visited", "Reykjavik"]], [[1, 0, 2]])
    >>> [int(v) for v in y[0]]
    [0, 1, 0, 2, 0, 0, 0, 0]
    >>> [float(v) for v in sample_weight[0]]
    [0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    """

    packer_names = ("token_packer", "word_packer")

    def make_packers(self):
        # Always TensorFlow, eagerly too, so eager results equal tf.data's.
        return {
            "token_packer": StartEndPacker(
                start_value=self.tokenizer.cls_token_id,
                end_value=self.tokenizer.sep_token_id,
                pad_value=self.tokenizer.pad_token_id,
                sequence_length=self.sequence_length,
                return_padding_mask=True,
                _allow_python_workflow=False,
            ),
            # Which word each packed token comes from; -1 for specials and
            # padding.
            "word_packer": StartEndPacker(
                start_value=-1,
                end_value=-1,
                pad_value=-1,
                sequence_length=self.sequence_length,
                _allow_python_workflow=False,
            ),
        }

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        words, unbatched = self._words(x)
        x, token_word, is_first, _ = self._pack(words)
        if y is not None:
            labels = self._word_values(y, words, "y", tf.int32)
            check(
                (labels.flat_values >= 0)
                | (labels.flat_values == IGNORE_LABEL),
                "ElectraTokenClassifierPreprocessor: word labels must be "
                f"class ids >= 0, or {IGNORE_LABEL} to leave a word out of "
                "the loss; found a negative label.",
            )
            y = _per_token(labels, token_word, IGNORE_LABEL)
            weights = is_first & (y != IGNORE_LABEL)
            sample_weight_out = tf.cast(weights, "float32")
            if sample_weight is not None:
                word_weights = self._word_values(
                    sample_weight, words, "sample_weight", tf.float32
                )
                sample_weight_out *= _per_token(word_weights, token_word, 0.0)
            y = tf.where(weights, y, 0)
            sample_weight = sample_weight_out
        elif sample_weight is not None:
            raise ValueError(
                "ElectraTokenClassifierPreprocessor: `sample_weight` was "
                "given without labels `y`."
            )
        if unbatched:
            x = {key: value[0] for key, value in x.items()}
            y = None if y is None else y[0]
            sample_weight = None if sample_weight is None else sample_weight[0]
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    @preprocessing_function
    def pack_with_word_positions(self, x):
        """Pack words as `call` does and say where each word's tokens start.

        Returns:
            `(x, word_positions)`: `x` as from `call`, and an int32 tensor
            `(batch, max_words)` with the packed position of the first token
            of each word, or -1 where the word has no token (an empty
            string), was cut off by `sequence_length`, or is padding.
        """
        if not self.built:  # Packers are made in `build`, on first call.
            self.build(None)
        words, unbatched = self._words(x)
        x, _, _, positions = self._pack(words)
        positions = positions.to_tensor(default_value=-1)
        if unbatched:
            x = {key: value[0] for key, value in x.items()}
            positions = positions[0]
        return x, positions

    def _words(self, x):
        """`x` as a ragged `(batch, words)` string tensor; was it unbatched?"""
        if isinstance(x, (tuple, dict)):
            raise ValueError(
                "ElectraTokenClassifierPreprocessor expects the words of each "
                "example (a list of strings, or a batch of them); received "
                f"a {type(x).__name__}."
            )
        x = as_tf(x)
        if x.dtype != tf.string:
            raise ValueError(
                "ElectraTokenClassifierPreprocessor expects words as strings; "
                f"received dtype {x.dtype.name}."
            )
        rank = x.shape.rank
        if rank not in (1, 2):
            raise ValueError(
                "ElectraTokenClassifierPreprocessor expects the words of one "
                "example (rank 1) or a batch of word lists (rank 2); "
                f"received rank {rank}. Split texts into words first, e.g. "
                "`text.split()`."
            )
        self.check_batched(rank == 2)
        if rank == 1:
            return as_ragged_rows(x[tf.newaxis]), True
        return as_ragged_rows(x), False

    def _word_values(self, values, words, name, dtype):
        """Per-word `values` as ragged `(batch, words)`, one per word."""
        values = as_tf(values, dtype)
        if values.shape.rank is not None and values.shape.rank == 1:
            values = values[tf.newaxis]
        if values.shape.rank != 2:
            raise ValueError(
                f"ElectraTokenClassifierPreprocessor: `{name}` must have one "
                f"value per word, the shape of the words; received rank "
                f"{values.shape.rank}."
            )
        values = as_ragged_rows(values)
        found, expected = values.row_lengths(), words.row_lengths()
        rows = tf.minimum(tf.size(found), tf.size(expected))
        check(
            tf.equal(tf.size(found), tf.size(expected))
            & tf.reduce_all(tf.equal(found[:rows], expected[:rows])),
            f"ElectraTokenClassifierPreprocessor: `{name}` must have one "
            "value per word; the number of values differs from the number of "
            "words in some example.",
        )
        return values

    def _pack(self, words):
        """Tokenize ragged words; pack ids, word indices, first-token flags."""
        pieces = self.tokenizer(words)  # (batch, words, pieces)
        counts = pieces.values.row_lengths()  # tokens of each word, flat
        word_index = tf.ragged.range(words.row_lengths()).flat_values
        token_ids = pieces.merge_dims(1, 2)
        token_word = token_ids.with_flat_values(
            tf.cast(tf.repeat(word_index, counts), "int32")
        )
        token_ids, padding_mask = self.token_packer(token_ids)
        token_word = self.word_packer(token_word)
        previous = tf.pad(
            token_word[:, :-1], [[0, 0], [1, 0]], constant_values=-1
        )
        is_first = (token_word >= 0) & (token_word != previous)
        x = {
            "token_ids": token_ids,
            "segment_ids": tf.zeros_like(token_ids),
            "padding_mask": padding_mask,
        }
        # Position of each word's first token: 1 ([CLS]) + tokens before it.
        before = tf.concat([tf.zeros([1], counts.dtype), tf.cumsum(counts)], 0)
        row_start = tf.gather(before, words.row_starts())
        position = 1 + before[:-1] - tf.gather(row_start, words.value_rowids())
        kept = (counts > 0) & (position < self.sequence_length - 1)
        positions = words.with_flat_values(
            tf.cast(tf.where(kept, position, -1), "int32")
        )
        length = self.padded_length(padding_mask)
        x = trim(x, length)
        token_word = trim(token_word, length)
        is_first = trim(is_first, length)
        return x, token_word, is_first, positions


def _per_token(values, token_word, default):
    """Spread per-word `values` onto packed tokens (`default` elsewhere)."""
    dense = values.to_tensor(default_value=default)
    batch = tf.shape(dense)[0]
    dense = tf.concat(
        [dense, tf.fill([batch, 1], tf.cast(default, dense.dtype))], axis=1
    )
    index = tf.where(token_word >= 0, token_word, tf.shape(dense)[1] - 1)
    return tf.gather(dense, index, batch_dims=1)
