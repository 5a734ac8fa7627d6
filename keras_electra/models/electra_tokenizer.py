"""ELECTRA WordPiece tokenizer with exact Hugging Face parity and offsets."""

import functools
import os
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from keras_electra._keras_hub_compat import is_string_dtype
from keras_electra._keras_hub_private import ensure_word_piece
from keras_electra._keras_hub_private import preprocessing_function
from keras_hub.tokenizers import WordPieceTokenizer

from keras_electra.convert.preset_loading import ElectraPresetMixin
from keras_electra.text.bert_text_normalizer import bert_pretokenize
from keras_electra.models.electra_backbone import ElectraBackbone

DEFAULT_VOCABULARY_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "data",
    "bert_uncased_vocab.txt",
)


@functools.lru_cache(maxsize=1)
def _default_vocabulary():
    with open(DEFAULT_VOCABULARY_PATH, "r", encoding="utf-8") as f:
        return tuple(line.rstrip("\r\n") for line in f)


def _string_input_error(inputs):
    if isinstance(inputs, (list, tuple)):
        kinds = sorted({type(x).__name__ for x in tf.nest.flatten(inputs)})
        received = f"a {type(inputs).__name__} of {', '.join(kinds)}"
    elif hasattr(inputs, "dtype"):
        received = f"a {type(inputs).__name__} of dtype {inputs.dtype}"
    else:
        received = f"{type(inputs).__name__} {inputs!r}"
    return ValueError(
        "`ElectraTokenizer` expects strings: a Python `str`/`bytes`, a list "
        f"of strings, or a string tensor. Received {received}."
    )


def _bytes_per_char(codepoints):
    return (
        1
        + tf.cast(codepoints >= 0x80, tf.int64)
        + tf.cast(codepoints >= 0x800, tf.int64)
        + tf.cast(codepoints >= 0x10000, tf.int64)
    )


class _HashedOnce(tuple):
    """A tuple that computes its hash once: the vocabulary in the
    tokenizer's cache keys took 0.24 ms to hash, at every eager call."""

    def __new__(cls, items):
        key = super().__new__(cls, items)
        key._hash = tuple.__hash__(key)
        return key

    def __hash__(self):
        return self._hash


class _TokenizeOptions(NamedTuple):
    """What tokenization depends on besides the WordPiece model."""

    lowercase: bool
    strip_accents: bool
    split_on_cjk: bool
    special_tokens: tuple
    max_input_chars_per_word: int
    oov_token: str


@functools.lru_cache(maxsize=8)
def _word_piece_model(vocabulary, suffix_indicator, oov_token, max_chars):
    """One tf.text WordPiece model per vocabulary and options, shared by
    every tokenizer that has them."""
    # tf.text limits words in bytes; HF in characters. Allow the longest
    # word HF accepts (4 bytes per character) and apply HF's character
    # limit ourselves.
    with tf.init_scope():  # An eager model, even if first asked in a graph.
        return tf_text.FastWordpieceTokenizer(
            vocab=list(vocabulary),
            token_out_type=tf.int32,
            suffix_indicator=suffix_indicator,
            unknown_token=oov_token,
            max_bytes_per_word=4 * max_chars + 4,
            no_pretokenization=True,
            support_detokenization=True,
        )


@functools.lru_cache(maxsize=16)
def _traced_tokenize_flat(word_piece_key, options, with_offsets):
    """`_tokenize_flat` as one `tf.function` per vocabulary, options and
    `with_offsets`, shared by every tokenizer that has them, and called by
    tf.data's and serving's traces rather than traced again. Tracing the
    normaliser takes about 4 s: once per process, not once per tokenizer or
    dataset. Eager calls of the ops one by one took about 11 times the CPU
    of the graph.

    Without offsets the function returns `(ids,)` and its graph leaves the
    offset arithmetic out: 73 against 101-107 us of CPU per bundled review
    (batches of 32, one core)."""
    word_piece = _word_piece_model(*word_piece_key)

    @tf.function(
        autograph=False, input_signature=[tf.TensorSpec([None], tf.string)]
    )
    def tokenize_flat(text):
        outputs = _tokenize_flat(text, word_piece, options)
        return outputs if with_offsets else outputs[:1]

    return tokenize_flat


def _tokenize_flat(text, word_piece, options):
    """Tokenize a 1-D string tensor with a tf.text WordPiece model and
    `_TokenizeOptions`.

    Returns `(ids, starts, ends)`, `tf.RaggedTensor`s `[batch, (tokens)]`
    with int32 ids and int32 character offsets.
    """
    batch_size = tf.shape(text, out_type=tf.int64)[0]
    words = bert_pretokenize(
        text,
        lowercase=options.lowercase,
        strip_accents=options.strip_accents,
        handle_chinese_chars=options.split_on_cjk,
        special_tokens=list(options.special_tokens),
    )
    codepoints = words["codepoints"]
    sources = words["sources"].flat_values
    word_rows = words["rows"]

    # Words that become one token: special tokens (whole entries of the
    # vocabulary, so WordPiece keeps them whole) and words longer than
    # `max_input_chars_per_word` characters (-> [UNK], given to WordPiece
    # as the string "[UNK]").
    word_length = codepoints.row_lengths()
    too_long = word_length > options.max_input_chars_per_word
    replaced = tf.logical_or(words["special"] >= 0, too_long)
    word_text = tf.where(too_long, options.oov_token, words["words"])

    # WordPiece on every word, with byte offsets within the word.
    piece_ids, piece_begin, piece_end = (
        word_piece.tokenize_with_offsets(word_text)
    )
    ids = piece_ids.flat_values
    piece_word = piece_ids.value_rowids()
    token_row = tf.gather(word_rows, piece_word)

    # Byte offsets -> index of the character in the flat word arrays.
    byte_starts = tf.cumsum(
        _bytes_per_char(codepoints.flat_values), exclusive=True
    )
    word_first_char = codepoints.row_starts()
    word_byte_start = tf.gather(
        byte_starts, tf.gather(word_first_char, piece_word)
    )
    first_char = (
        tf.searchsorted(
            byte_starts,
            word_byte_start + tf.cast(piece_begin.flat_values, tf.int64),
            side="right",
            out_type=tf.int64,
        )
        - 1
    )
    last_char = (
        tf.searchsorted(
            byte_starts,
            word_byte_start
            + tf.cast(piece_end.flat_values, tf.int64)
            - 1,
            side="right",
            out_type=tf.int64,
        )
        - 1
    )
    # A replaced word is one token spanning the whole word.
    piece_replaced = tf.gather(replaced, piece_word)
    first_char = tf.where(
        piece_replaced, tf.gather(word_first_char, piece_word), first_char
    )
    last_char = tf.where(
        piece_replaced,
        tf.gather(word_first_char + word_length - 1, piece_word),
        last_char,
    )
    starts = tf.gather(sources, first_char)
    ends = tf.gather(sources, last_char) + 1

    def batch(values):
        return tf.RaggedTensor.from_value_rowids(
            values, token_row, nrows=batch_size, validate=False
        )

    return batch(ids), batch(starts), batch(ends)


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraTokenizer(ElectraPresetMixin, WordPieceTokenizer):
    """ELECTRA's (= BERT's) WordPiece tokenizer, identical to Hugging Face's.

    Turns raw strings into WordPiece token ids exactly as
    `transformers.ElectraTokenizerFast` / `BertTokenizerFast` do (with
    `add_special_tokens=False`), for any input string: HF's `BertNormalizer`
    (drop control and format characters, spaces around CJK ideographs, strip
    accents, lowercase), `BertPreTokenizer` (split on whitespace, isolate
    punctuation) and WordPiece (`##` continuation pieces, a word of more than
    `max_input_chars_per_word` characters or without a complete split
    becomes `[UNK]`). Literal special tokens in the text (`"[MASK]"`,
    `"[SEP]"`, ...; exact, case-sensitive) map to their ids, as in HF.

    Everything runs as TensorFlow graph ops (tf.text WordPiece and lookup
    tables taken from HF `tokenizers`), whatever the Keras backend, so the
    tokenizer works eagerly, inside `tf.data` and inside an exported
    SavedModel. `tokenize_with_offsets` also returns, for every token, the
    character span of the original string it comes from (HF's
    `return_offsets_mapping`).

    Scalar input gives a dense 1-D output; a batch of strings gives a ragged
    batch (Python lists when called eagerly; a `tf.RaggedTensor` in
    `tf.data`), or a dense `(batch, sequence_length)` tensor padded with 0
    (`[PAD]`) when `sequence_length` is set.

    Args:
        vocabulary: a list of WordPiece tokens or the path of a one token per
            line file. `None` (default) is the BERT uncased vocabulary that
            all Google ELECTRA checkpoints use (30,522 tokens).
        sequence_length: int. If set, pad or truncate outputs to this length.
        lowercase: bool. Lowercase the text (HF `do_lower_case`). Defaults to
            `True`, as for all Google ELECTRA checkpoints.
        strip_accents: bool or `None`. Remove accents (NFD, then drop
            non-spacing marks). `None` (default) follows `lowercase`, as HF.
        split_on_cjk: bool. Make each CJK ideograph its own word (HF
            `tokenize_chinese_chars`). Defaults to `True`.
        special_tokens_in_strings: bool. Map special tokens written in the
            text (`"[MASK]"`, exact case) to their ids, as HF does by default.
            `False` tokenizes them as ordinary text (HF
            `split_special_tokens=True`). Defaults to `True`.
        max_input_chars_per_word: int. Longer words (in characters, after
            normalisation) become `[UNK]`. Defaults to 100, as HF.
        suffix_indicator: str. Prefix of continuation pieces. Defaults to
            `"##"`.
        oov_token: str. The unknown token. Defaults to `"[UNK]"`.
        dtype: `"int32"` (default) or another integer dtype for ids, or
            `"string"` for token strings.

    Examples:
    >>> tokenizer = keras_electra.ElectraTokenizer()
    >>> [int(i) for i in tokenizer("The quick brown fox.")]
    [1996, 4248, 2829, 4419, 1012]
    >>> tokenizer(["Café au lait", "[MASK] is here"])
    [[7668, 8740, 21110, 2102], [103, 2003, 2182]]
    >>> ids, starts, ends = tokenizer.tokenize_with_offsets("Café au lait")
    >>> [int(i) for i in starts], [int(i) for i in ends]  # cafe au lai ##t
    ([0, 5, 8, 11], [4, 7, 11, 12])
    >>> tokenizer.detokenize([1996, 4248, 2829, 4419, 1012])
    'the quick brown fox .'

    It runs inside `tf.data` too:
    `tf.data.Dataset.from_tensor_slices(["a b", "c"]).map(tokenizer)`.
    """

    backbone_cls = ElectraBackbone

    def __init__(
        self,
        vocabulary=None,
        sequence_length=None,
        lowercase=True,
        strip_accents=None,
        split_on_cjk=True,
        special_tokens_in_strings=True,
        max_input_chars_per_word=100,
        suffix_indicator="##",
        oov_token="[UNK]",
        dtype="int32",
        **kwargs,
    ):
        # Accepted for keras-hub compatibility, only with these values.
        split = kwargs.pop("split", True)
        extra_special_tokens = kwargs.pop("special_tokens", None)
        if split is not True or extra_special_tokens:
            raise ValueError(
                "`ElectraTokenizer` supports neither `split=False` nor extra "
                f"`special_tokens`. Received: split={split!r}, "
                f"special_tokens={extra_special_tokens!r}"
            )
        self._add_special_token("[CLS]", "cls_token")
        self._add_special_token("[SEP]", "sep_token")
        self._add_special_token("[PAD]", "pad_token")
        self._add_special_token("[MASK]", "mask_token")
        self._add_special_token(oov_token, "unk_token")
        # For compatibility with other keras-hub tokenizers.
        self._add_special_token("[CLS]", "start_token")
        self._add_special_token("[SEP]", "end_token")
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        if vocabulary is None:
            vocabulary = list(_default_vocabulary())
        super().__init__(
            vocabulary=vocabulary,
            sequence_length=sequence_length,
            lowercase=lowercase,
            strip_accents=strip_accents,
            split=True,
            split_on_cjk=split_on_cjk,
            suffix_indicator=suffix_indicator,
            oov_token=oov_token,
            special_tokens=None,
            special_tokens_in_strings=special_tokens_in_strings,
            dtype=dtype,
            **kwargs,
        )

    # ----------------------------------------------------------------------
    # Vocabulary.
    # ----------------------------------------------------------------------

    def set_vocabulary(self, vocabulary):
        try:
            super().set_vocabulary(vocabulary)
        except ValueError:
            tokens = self.vocabulary if isinstance(self.vocabulary, list) else []
            missing = [t for t in self._special_token_strings()
                       if t not in tokens]
            if not tokens or not missing:
                raise
            raise ValueError(
                f"ElectraTokenizer: `vocabulary` lacks the special tokens "
                f"{missing} that ELECTRA needs; received {len(tokens)} tokens "
                f"starting {tokens[:5]}. Add them (BERT's vocab.txt starts "
                "with [PAD], then [UNK], [CLS], [SEP], [MASK] at ids 100-103; "
                "keras_electra.pretraining.build_vocabulary reserves them), or "
                "pass oov_token= if the unknown token has another name."
            ) from None

    def _set_vocabulary_tf(self):
        self._word_piece_key = _HashedOnce((
            tuple(self.vocabulary),
            self.suffix_indicator,
            self.oov_token,
            self.max_input_chars_per_word,
        ))
        self._fast_word_piece = _word_piece_model(*self._word_piece_key)

    def _special_token_strings(self):
        """The tokens matched verbatim in the text, in a fixed order."""
        tokens = []
        for attr in self._special_token_attrs:
            token = getattr(self, attr)
            if token not in tokens:
                tokens.append(token)
        return tokens

    # ----------------------------------------------------------------------
    # Tokenization.
    # ----------------------------------------------------------------------

    def _effective_strip_accents(self):
        if self.strip_accents is None:
            return bool(self.lowercase)
        return bool(self.strip_accents)

    def _tokenize_options(self):
        return _TokenizeOptions(
            lowercase=bool(self.lowercase),
            strip_accents=self._effective_strip_accents(),
            split_on_cjk=bool(self.split_on_cjk),
            special_tokens=tuple(
                self._special_token_strings()
                if self.special_tokens_in_strings
                else ()
            ),
            max_input_chars_per_word=self.max_input_chars_per_word,
            oov_token=self.oov_token,
        )

    def _tokenize_flat_any_mode(self, text, with_offsets):
        with tf.init_scope():  # The word piece model must be eager.
            ensure_word_piece(self)
        tokenize_flat = _traced_tokenize_flat(
            self._word_piece_key, self._tokenize_options(), with_offsets
        )
        return tokenize_flat(text)

    # No Python control flow on tensors: skip autograph (slow to convert).
    @tf.autograph.experimental.do_not_convert
    def _tokenize_any_shape(self, inputs, with_offsets):
        """`(ids, starts, ends)`, or `(ids,)` without offsets."""
        if isinstance(inputs, (str, bytes)):
            inputs = tf.constant(inputs)
        if not isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
            raise _string_input_error(inputs)
        if inputs.dtype != tf.string:
            raise _string_input_error(inputs)
        unbatched = False
        if not isinstance(inputs, tf.RaggedTensor):
            rank = inputs.shape.rank
            if rank is None:
                raise ValueError(
                    "`ElectraTokenizer` needs inputs of known rank."
                )
            unbatched = rank == 0
            if rank > 1:
                inputs = tf.RaggedTensor.from_tensor(inputs)
        if isinstance(inputs, tf.RaggedTensor):
            flat = self._tokenize_flat_any_mode(
                inputs.flat_values, with_offsets
            )
            outputs = [inputs.with_flat_values(x) for x in flat]
        else:
            flat = tf.reshape(inputs, [-1])
            outputs = list(self._tokenize_flat_any_mode(flat, with_offsets))
        if is_string_dtype(self.compute_dtype):
            vocab = tf.constant(self.vocabulary)
            outputs[0] = tf.ragged.map_flat_values(tf.gather, vocab, outputs[0])
        elif self.compute_dtype != "int32":
            outputs[0] = tf.cast(outputs[0], self.compute_dtype)
        if self.sequence_length:
            pad = "" if is_string_dtype(self.compute_dtype) else 0
            dense = []
            for i, x in enumerate(outputs):
                shape = x.shape.as_list()
                shape[-1] = self.sequence_length
                dense.append(
                    x.to_tensor(default_value=pad if i == 0 else 0, shape=shape)
                )
            outputs = dense
        if unbatched:
            squeezed = []
            for x in outputs:
                x = x[0]  # Ragged [1, (n)] -> dense [n] too.
                squeezed.append(tf.ensure_shape(x, [self.sequence_length]))
            outputs = squeezed
        return tuple(outputs)

    @preprocessing_function
    def _tokenize_tf(self, inputs):
        return self._tokenize_any_shape(inputs, with_offsets=False)[0]

    @preprocessing_function
    def _tokenize_with_offsets_tf(self, inputs):
        return self._tokenize_any_shape(inputs, with_offsets=True)

    @tf.autograph.experimental.do_not_convert
    def tokenize(self, inputs):
        """Tokenize strings to ids (HF `add_special_tokens=False`)."""
        self._check_vocabulary()
        # Always the TensorFlow implementation, eagerly too: it is the one
        # that matches HF exactly, so eager and tf.data results agree.
        return self._tokenize_tf(self._canonicalize(inputs))

    def ragged_token_ids(self, texts, chunk_size=1024):
        """Token ids of a list of strings as one `tf.RaggedTensor`, eagerly.

        `fit`, `evaluate` and `predict` of an `ElectraClassifier` tokenize
        in-memory texts with this before `tf.data`: inside a dataset, the
        tokenizer's graph is optimised again for every iterator (every
        epoch, every `predict`), about 0.5-1 s of CPU each time, while this
        eager call reuses the graph optimised once per process. The ids are
        those of `tokenize`.

        Example:
        >>> tokenizer = ElectraTokenizer()
        >>> tokenizer.ragged_token_ids(["The quick brown fox.", "Hi"]).to_list()
        [[1996, 4248, 2829, 4419, 1012], [7632]]
        """
        self._check_vocabulary()
        parts = [
            self._tokenize_any_shape(
                tf.convert_to_tensor(self._canonicalize(
                    list(texts[start : start + chunk_size])
                )),
                with_offsets=False,
            )[0]
            for start in range(0, max(len(texts), 1), chunk_size)
        ]
        # As after a call: a tokenizer has nothing to build, and Keras' JAX
        # `predict_on_batch` runs a whole model eagerly, before its compiled
        # step, for as long as any of its layers is unbuilt.
        self.built = True
        return tf.concat(parts, axis=0) if len(parts) > 1 else parts[0]

    @tf.autograph.experimental.do_not_convert
    def tokenize_with_offsets(self, inputs):
        """Tokenize strings, with each token's span in the original text.

        Returns:
            A tuple `(token_ids, starts, ends)` of the same structure as
            `tokenize(inputs)`. `starts`/`ends` are int32 character (Unicode
            code point) offsets into the input string, end exclusive:
            `text[starts[i]:ends[i]]` is the text of token `i`, as HF's
            `return_offsets_mapping=True`. With `sequence_length`, padding
            positions have offsets `(0, 0)`. Invalid UTF-8 counts as one
            character per replaced sequence (`bytes.decode(errors="replace")`).
        """
        self._check_vocabulary()
        return self._tokenize_with_offsets_tf(self._canonicalize(inputs))

    @staticmethod
    def _canonicalize(inputs):
        if inputs is None or isinstance(inputs, (bool, int, float, complex)):
            raise _string_input_error(inputs)
        if isinstance(inputs, np.ndarray) and inputs.dtype.kind in "SUO":
            try:
                return tf.constant(inputs.astype(object).tolist())
            except (TypeError, ValueError):
                raise _string_input_error(inputs)
        if isinstance(inputs, (list, tuple)):
            flat = tf.nest.flatten(list(inputs))
            if not flat:
                return tf.constant([], dtype=tf.string)
            if not all(isinstance(x, (str, bytes, np.str_)) for x in flat):
                raise _string_input_error(inputs)
            if isinstance(inputs, tuple):
                inputs = list(inputs)
        return inputs

    # ----------------------------------------------------------------------
    # Config.
    # ----------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        for key in ("split", "special_tokens"):
            config.pop(key, None)
        config.update(
            {
                "split_on_cjk": self.split_on_cjk,
                "max_input_chars_per_word": self.max_input_chars_per_word,
            }
        )
        return config
