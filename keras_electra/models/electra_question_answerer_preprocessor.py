import keras
import tensorflow as tf
from keras_electra._keras_hub_private import preprocessing_function

from keras_electra.models.electra_preprocessor import ElectraPreprocessor
from keras_electra.models.electra_preprocessor import tokenize_together
from keras_electra.models.electra_preprocessor import trim
from keras_electra.models.electra_preprocessor import text_packer
from keras_electra.models.preprocessing_checks import as_tf
from keras_electra.models.preprocessing_checks import check
from keras_electra.models.preprocessing_checks import check_sequence_length

# [CLS] question [SEP] context [SEP]
NUM_SPECIAL_TOKENS = 3


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraQuestionAnswererPreprocessor(ElectraPreprocessor):
    """(question, context) pairs to windows for `ElectraQuestionAnswerer`.

    Packs `[CLS] question [SEP] context [SEP]` with segment ids 0 and 1,
    padded to `sequence_length`. A context too long for one window is split
    into several overlapping windows, each with the whole question, exactly
    as HF tokenizers do with `truncation="only_second"`,
    `return_overflowing_tokens=True` and `stride=doc_stride`: consecutive
    windows share `doc_stride` context tokens. So one example can give
    several rows of output, and a batch of `B` examples gives `N >= B` rows.

    With labels, each example's answer (its character start in the context
    and its text, as in SQuAD) becomes a `(start, end)` token position in
    every window of the example; a window that does not hold the whole
    answer points both at `[CLS]` (position 0), as HF's `run_qa.py` does. An
    `answer_start` of -1 marks an unanswerable question (SQuAD 2.0): both
    positions are 0 in every window.

    Returns `x` (a dict of `token_ids`, `segment_ids`, `padding_mask`) or
    `(x, y, sample_weight)` with `y` int32 `(N, 2)` and the example's sample
    weight repeated for each of its windows. `pack_windows()` also returns
    which example each window comes from and the character span of every
    context token, which `ElectraQuestionAnswerer.answer()` uses.

    Args:
        tokenizer: an `ElectraTokenizer`.
        sequence_length: int. Length of each window, special tokens included
            (HF pipeline's `max_seq_len`). Defaults to 384.
        doc_stride: int. Context tokens shared by consecutive windows (HF's
            `stride`/`doc_stride`). `None` (default) takes HF's pipeline
            default, `min(sequence_length // 2, 128)` (128 for 384).
        padding: `"max_length"` (default) pads every row to
            `sequence_length`; `"longest"` pads each batch only to its
            longest row (HF's `padding="longest"`) and needs batched input.
            See `ElectraPreprocessor`.
        pad_to_multiple_of: int or `None`. With `padding="longest"`, round
            each batch's length up to a multiple of this.

    Inputs:
        x: a tuple `(questions, contexts)` (or a dict with keys `"question"`
            and `"context"`) of strings or equal-length lists of strings.
            In a `tf.data` pipeline without labels, use the dict: `map`
            would pass the two parts of a tuple as `x` and `y`.
        y: a dict `{"answer_start": ints, "text": strings}` or a tuple
            `(answer_start, text)`, one per example.
        sample_weight: optional float per example.

    Example:
    >>> from keras_electra import ElectraTokenizer
    >>> preprocessor = ElectraQuestionAnswererPreprocessor(
    ...     ElectraTokenizer(), sequence_length=16, doc_stride=2)
    >>> context = "The cat sat on the mat in the warm afternoon sun all day."
    >>> x, y = preprocessor(
    ...     (["Where did the cat sit?"], [context]),
    ...     {"answer_start": [19], "text": ["mat"]})
    >>> tuple(x["token_ids"].shape), [[int(i) for i in row] for row in y]
    ((3, 16), [[13, 13], [8, 8], [0, 0]])
    """

    def __init__(
        self, tokenizer, sequence_length=384, doc_stride=None, **kwargs
    ):
        check_sequence_length(type(self).__name__, sequence_length)
        if doc_stride is None:
            # HF's pipeline default, kept short enough for tiny windows.
            doc_stride = min(
                sequence_length // 2,
                128,
                max(sequence_length - NUM_SPECIAL_TOKENS - 1, 0),
            )
        if not 0 <= doc_stride < sequence_length - NUM_SPECIAL_TOKENS:
            raise ValueError(
                "ElectraQuestionAnswererPreprocessor: `doc_stride` must lie "
                f"in [0, sequence_length - 3 = "
                f"{sequence_length - NUM_SPECIAL_TOKENS}); received "
                f"doc_stride={doc_stride}, sequence_length={sequence_length}."
            )
        super().__init__(tokenizer, sequence_length=sequence_length, **kwargs)
        self.doc_stride = doc_stride

    def make_packers(self):
        # Windows always fit, so the packer never truncates.
        return {
            "packer": text_packer(
                self.tokenizer, self.sequence_length, truncate="waterfall",
                pad_value=self.tokenizer.pad_token_id,
                _allow_python_workflow=False,
            )
        }

    def __call__(self, *args, **kwargs):
        # keras-hub reads a lone 2-tuple argument as `(x, y)`; a lone
        # `(questions, contexts)` pair (strings first, not a nested pair) is
        # `x` here.
        lone = len(args) == 1 and "y" not in kwargs and "x" not in kwargs
        if lone and type(args[0]) is tuple and len(args[0]) == 2:
            if not isinstance(args[0][0], (tuple, dict)):
                return super().__call__(x=args[0], **kwargs)
        return super().__call__(*args, **kwargs)

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        x, windows = self._pack(x)
        if y is not None:
            y = self._span_positions(y, windows)
        if sample_weight is not None:
            weights = tf.reshape(as_tf(sample_weight, tf.float32), [-1])
            sample_weight = tf.gather(weights, windows["example_index"])
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    @preprocessing_function
    def pack_windows(self, x):
        """Windows as from `call`, with what maps them back to the text.

        Returns:
            `(x, windows)`. `windows` holds `example_index` `(N,)`, the
            example of each window, and `token_starts`/`token_ends`
            `(N, sequence_length)`, the character span in the context of
            each context token (HF's `offset_mapping`), -1 on the question,
            special tokens and padding.
        """
        if not self.built:  # The packer is made in `build`, on first call.
            self.build(None)
        x, windows = self._pack(x)
        # Offsets per packed position, cut as `x` is.
        length = self.padded_length(x["padding_mask"])
        windows = {
            "example_index": windows["example_index"],
            "token_starts": trim(windows["token_starts"], length),
            "token_ends": trim(windows["token_ends"], length),
        }
        return x, {key: tf.cast(value, "int32") for key, value in
                   windows.items()}

    def _pack(self, x):
        questions, contexts = self._pair(x)
        check(
            tf.strings.length(questions) > 0,
            "ElectraQuestionAnswererPreprocessor: a question is empty.",
        )
        (question_ids, _, _), (context_ids, starts, ends) = (
            tokenize_together(
                self.tokenizer, (questions, contexts), with_offsets=True
            )
        )
        question_length = question_ids.row_lengths()
        context_length = context_ids.row_lengths()
        check(
            context_length > 0,
            "ElectraQuestionAnswererPreprocessor: a context is empty (it has "
            "no tokens); every question needs a context to answer from.",
        )
        # Context tokens per window (HF's `max_len` for `only_second`).
        room = self.sequence_length - NUM_SPECIAL_TOKENS - question_length
        check(
            (room > 0) & ((context_length <= room) | (room > self.doc_stride)),
            "ElectraQuestionAnswererPreprocessor: a question is too long: "
            "with it, a window of sequence_length="
            f"{self.sequence_length} holds no more than doc_stride="
            f"{self.doc_stride} context tokens. Shorten the question, "
            "raise sequence_length or lower doc_stride.",
        )
        step = tf.maximum(room - self.doc_stride, 1)
        overflow = tf.maximum(context_length - room, 0)
        num_windows = 1 + (overflow + step - 1) // step

        # One row per window: its example, first and last context token.
        example = tf.repeat(
            tf.range(tf.size(num_windows, out_type=tf.int64)), num_windows
        )
        window_start = tf.ragged.range(num_windows).flat_values * tf.gather(
            step, example
        )
        window_stop = tf.minimum(
            window_start + tf.gather(room, example),
            tf.gather(context_length, example),
        )
        base = tf.gather(context_ids.row_starts(), example)
        index = tf.ragged.range(base + window_start, base + window_stop)
        token_ids, segment_ids = self.packer(
            (
                tf.gather(question_ids, example),
                tf.gather(context_ids.flat_values, index),
            )
        )

        # Where the context tokens sit in each packed window.
        positions = tf.range(self.sequence_length, dtype=tf.int64)[None, :]
        first = tf.gather(question_length, example)[:, None] + 2
        count = (window_stop - window_start)[:, None]
        in_context = (positions >= first) & (positions < first + count)
        flat = base[:, None] + window_start[:, None] + positions - first
        windows = {
            "example_index": example,
            "in_context": in_context,
            "token_starts": _gather_or(starts.flat_values, flat, in_context),
            "token_ends": _gather_or(ends.flat_values, flat, in_context),
            "contexts": tf.gather(contexts, example),
        }
        x = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": positions < first + count + 1,
        }
        return trim(x, self.padded_length(x["padding_mask"])), windows

    def _pair(self, x):
        """`x` as two 1-D string tensors: questions and contexts."""
        if isinstance(x, dict) and {"question", "context"} <= set(x):
            x = (x["question"], x["context"])
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            raise ValueError(
                "ElectraQuestionAnswererPreprocessor expects `x` as a tuple "
                "(questions, contexts) or a dict with keys 'question' and "
                f"'context'; received {type(x).__name__}."
            )
        pair = []
        for name, values in zip(("questions", "contexts"), x):
            if values is None:
                raise ValueError(
                    f"ElectraQuestionAnswererPreprocessor: {name} is None."
                )
            values = as_tf(values)
            if values.dtype != tf.string or values.shape.rank not in (0, 1):
                raise ValueError(
                    f"ElectraQuestionAnswererPreprocessor: {name} must be a "
                    "string or a 1-D batch of strings; received dtype "
                    f"{values.dtype.name}, rank {values.shape.rank}."
                )
            self.check_batched(values.shape.rank == 1)
            pair.append(tf.reshape(values, [-1]))
        check(
            tf.equal(tf.size(pair[0]), tf.size(pair[1])),
            "ElectraQuestionAnswererPreprocessor: questions and contexts "
            "differ in number.",
        )
        return pair

    def _span_positions(self, y, windows):
        """Answer (character start, text) -> (start, end) token positions."""
        if isinstance(y, dict) and {"answer_start", "text"} <= set(y):
            y = (y["answer_start"], y["text"])
        if not isinstance(y, (tuple, list)) or len(y) != 2:
            raise ValueError(
                "ElectraQuestionAnswererPreprocessor expects labels `y` as a "
                "dict {'answer_start': ints, 'text': strings} or a tuple "
                f"(answer_start, text); received {type(y).__name__}."
            )
        answer_start = tf.reshape(as_tf(y[0], tf.int64), [-1])
        answer_text = tf.reshape(as_tf(y[1]), [-1])
        if answer_text.dtype != tf.string:
            raise ValueError(
                "ElectraQuestionAnswererPreprocessor: answer `text` must be "
                f"strings; received dtype {answer_text.dtype.name}."
            )
        example = windows["example_index"]
        start_char = tf.gather(answer_start, example)
        text = tf.gather(answer_text, example)
        length = tf.cast(tf.strings.length(text, unit="UTF8_CHAR"), tf.int64)
        self._check_answers(start_char, length, text, windows["contexts"])

        positions = tf.range(self.sequence_length, dtype=tf.int64)[None, :]
        in_context = windows["in_context"]
        # Last context token starting at or before the answer; first one
        # ending at or after it (HF `run_qa.py`, kept inside the context).
        start_ok = in_context & (windows["token_starts"] <= start_char[:, None])
        end_char = start_char + length
        end_ok = in_context & (windows["token_ends"] >= end_char[:, None])
        start = tf.reduce_max(tf.where(start_ok, positions, -1), axis=1)
        end = tf.reduce_min(
            tf.where(end_ok, positions, self.sequence_length), axis=1
        )
        inside = (start_char >= 0) & (start >= 0) & (end < self.sequence_length)
        spans = tf.stack([start, end], axis=1)
        return tf.cast(tf.where(inside[:, None], spans, 0), "int32")

    def _check_answers(self, start_char, length, text, contexts):
        answerable = start_char >= 0
        context_length = tf.cast(
            tf.strings.length(contexts, unit="UTF8_CHAR"), tf.int64
        )
        check(
            ~answerable
            | ((length > 0) & (start_char + length <= context_length)),
            "ElectraQuestionAnswererPreprocessor: an answer is empty or runs "
            "past the end of its context (answer_start + len(text) > "
            "len(context)). Use answer_start=-1 for no answer.",
        )
        safe_start = tf.clip_by_value(start_char, 0, context_length)
        found = tf.strings.substr(
            contexts, safe_start, length, unit="UTF8_CHAR"
        )
        check(
            ~answerable | tf.equal(found, text),
            "ElectraQuestionAnswererPreprocessor: an answer text differs "
            "from context[answer_start:answer_start + len(text)]; "
            "answer_start must be the character offset of the answer in "
            "its context.",
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "doc_stride": self.doc_stride,
            }
        )
        return config


def _gather_or(values, index, keep, default=-1):
    """`values[index]` where `keep`, else `default` (safe on empty values)."""
    values = tf.cast(values, tf.int64)
    padded = tf.concat([values, [default]], axis=0)
    index = tf.where(keep, index, tf.size(values, out_type=tf.int64))
    return tf.gather(padded, index)
