"""Raw-string serving signature of `ElectraQuestionAnswerer`."""

import numpy as np
import tensorflow as tf

from keras_electra.export.task_serving import NO_OFFSET
from keras_electra.export.task_serving import TaskServing
from keras_electra.export.task_serving import string_spec
from keras_electra.text.bert_text_normalizer import sanitize_utf8

# What HF's pipeline writes over the logits of tokens outside the context
# (as `ElectraQuestionAnswerer.answer`).
MASKED_LOGIT = -10000.0
# Spans kept per window before word alignment and merging, for one answer
# (`answer()`'s `2 * top_k + 10`).
SPANS_PER_WINDOW = 2 * 1 + 10
# Stands in for an unanswerable row, so the preprocessor's checks pass.
PLACEHOLDER_QUESTION = "?"
PLACEHOLDER_CONTEXT = "."


class QuestionAnswererServing(TaskServing):
    """`ElectraQuestionAnswerer` as a SavedModel on strings.

    Signature:
        `answer(question, context)` (also `serving_default`): the best
        answer of each `(question, context)` pair, computed as
        `ElectraQuestionAnswerer.answer(question, context, top_k=1)` does:
        the preprocessor's overlapping windows over long contexts, a softmax
        over `[CLS]` and the context tokens, spans of at most
        `max_answer_length` tokens widened to whole words, the same answer
        text found in several windows scored as the sum of its scores.

    Outputs:
        `answer` `(batch,)` (the text, a substring of the context),
        `start`/`end` (its character offsets in the context), `score`.
        A pair that has no answer (an empty question, a context without
        tokens, a question too long for a window) gives "", -1, -1 and 0
        instead of an error.

    Options:
        max_answer_length: int. Longest answer, in tokens. Defaults to 30.
    """

    task_class_name = "ElectraQuestionAnswerer"

    def __init__(self, task, label_names=None, max_answer_length=30):
        super().__init__(task, label_names=label_names)
        if not isinstance(max_answer_length, int) or max_answer_length < 1:
            raise ValueError(
                "`max_answer_length` must be a positive int; received "
                f"{max_answer_length!r}."
            )
        self.max_answer_length = max_answer_length
        suffix = self.tokenizer.suffix_indicator
        self.continuation = np.array(
            [token.startswith(suffix) for token in self.vocabulary]
        )

    def signatures(self, core):
        @tf.function(
            input_signature=[string_spec("question"), string_spec("context")]
        )
        def answer(question, context):
            return self._answer(core, question, sanitize_utf8(context))

        return {"answer": answer}

    def _answerable(self, question, context):
        """Rows the preprocessor accepts (it raises on the others)."""
        # One tokenizer call for both (each call adds its tables to the graph).
        both = tf.concat([question, context], 0)
        lengths = self.tokenizer(both).row_lengths()
        question_length, context_length = tf.split(lengths, 2)
        room = self.sequence_length - 3 - question_length
        doc_stride = self.preprocessor.doc_stride
        return (
            (tf.strings.length(question) > 0)
            & (context_length > 0)
            & (room > 0)
            & ((context_length <= room) | (room > doc_stride))
        )

    def _answer(self, core, question, context):
        answerable = self._answerable(question, context)
        question = tf.where(answerable, question, PLACEHOLDER_QUESTION)
        context = tf.where(answerable, context, PLACEHOLDER_CONTEXT)
        x, windows = self.preprocessor.pack_windows((question, context))
        logits = self.call_core(core, x)
        starts, ends = windows["token_starts"], windows["token_ends"]
        in_context = starts >= 0
        first, last, scores = self._best_spans(logits, in_context)
        first, last = self._whole_words(first, last, x["token_ids"], in_context)
        example = windows["example_index"]
        start_char = tf.gather(starts, first, batch_dims=1)
        end_char = tf.gather(ends, last, batch_dims=1)
        texts = tf.strings.substr(
            tf.gather(context, example)[:, tf.newaxis],
            start_char,
            end_char - start_char,
            unit="UTF8_CHAR",
        )
        batch = tf.shape(question)[0]
        example = tf.broadcast_to(example[:, tf.newaxis], tf.shape(scores))
        best, best_score = _merge_answers(texts, scores, example, batch)
        found = answerable & (best >= 0)
        best = tf.maximum(best, 0)

        def pick(values, fill):
            values = tf.reshape(values, [-1])
            if values.dtype == tf.string:
                values = tf.concat([values, [""]], 0)
            else:
                values = tf.concat([values, tf.zeros([1], values.dtype)], 0)
            return tf.where(found, tf.gather(values, best), fill)

        return {
            "answer": pick(texts, ""),
            "start": pick(start_char, NO_OFFSET),
            "end": pick(end_char, NO_OFFSET),
            "score": tf.where(found, best_score, 0.0),
        }

    def _best_spans(self, logits, in_context):
        """Each window's best spans `(first, last, score)`, `(N, spans)`.

        `answer()`'s `_best_spans`: start and end probabilities from a
        softmax over [CLS] and the context, products of the two over context
        spans with `first <= last < first + max_answer_length`.
        """
        length = self.sequence_length
        positions = tf.range(length)
        allowed = in_context | tf.equal(positions, 0)[tf.newaxis]
        logits = tf.where(allowed[..., tf.newaxis], logits, MASKED_LOGIT)
        probabilities = tf.nn.softmax(logits, axis=1)
        weight = tf.cast(in_context, tf.float32)
        start = probabilities[..., 0] * weight
        end = probabilities[..., 1] * weight
        spans = start[:, :, tf.newaxis] * end[:, tf.newaxis, :]
        band = (positions[tf.newaxis] >= positions[:, tf.newaxis]) & (
            positions[tf.newaxis]
            < positions[:, tf.newaxis] + self.max_answer_length
        )
        spans = tf.where(band[tf.newaxis], spans, 0.0)
        count = min(SPANS_PER_WINDOW, length * length)
        scores, index = tf.math.top_k(
            tf.reshape(spans, [-1, length * length]), k=count
        )
        return index // length, index % length, scores

    def _whole_words(self, first, last, token_ids, in_context):
        """Widen spans to whole words inside the context (`_whole_words`)."""
        continuation = tf.gather(tf.constant(self.continuation), token_ids)
        # The loops of `_whole_words` stop at a word start (a token that is
        # not a continuation, or follows a non-context token) going left,
        # at a word end (the next token is not a context continuation)
        # going right.
        before = tf.pad(in_context[:, :-1], [[0, 0], [1, 0]])
        word_start = ~(before & continuation)
        next_in_context = tf.pad(in_context[:, 1:], [[0, 0], [0, 1]])
        next_continuation = tf.pad(continuation[:, 1:], [[0, 0], [0, 1]])
        word_end = ~(next_in_context & next_continuation)
        # [p, q]: is q at or before p / at or after p.
        positions = tf.range(self.sequence_length)
        at_or_before = positions[tf.newaxis] <= positions[:, tf.newaxis]
        at_or_after = positions[tf.newaxis] >= positions[:, tf.newaxis]
        start_of = tf.reduce_max(
            tf.where(
                word_start[:, tf.newaxis, :] & at_or_before[tf.newaxis],
                positions,
                -1,
            ),
            axis=2,
        )
        end_of = tf.reduce_min(
            tf.where(
                word_end[:, tf.newaxis, :] & at_or_after[tf.newaxis],
                positions,
                self.sequence_length,
            ),
            axis=2,
        )
        first = tf.gather(start_of, first, batch_dims=1)
        last = tf.gather(end_of, last, batch_dims=1)
        return first, last


def _merge_answers(texts, scores, example, batch):
    """Each example's best answer: its index into the flattened candidates
    (the first of its text) and its summed score.

    As `answer()`: candidates of an example with the same lower-cased text
    are one answer with the sum of their scores and the offsets of the
    first; the best answer wins, the first one among equal scores. -1 for an
    example without candidates. Candidates are in window order, best first
    within a window, as `answer()` visits them.
    """
    texts, scores = tf.reshape(texts, [-1]), tf.reshape(scores, [-1])
    example = tf.reshape(example, [-1])
    kept = tf.where(scores > 0)[:, 0]
    keys = tf.strings.join(
        [
            tf.strings.as_string(tf.gather(example, kept)),
            tf.strings.lower(tf.gather(texts, kept), encoding="utf-8"),
        ],
        separator="\x00",
    )
    groups, group_of = tf.unique(keys)
    num_groups = tf.shape(groups)[0]
    group_score = tf.math.unsorted_segment_sum(
        tf.gather(scores, kept), group_of, num_groups
    )
    group_first = tf.math.unsorted_segment_min(
        tf.range(tf.shape(kept)[0]), group_of, num_groups
    )
    group_example = tf.gather(tf.gather(example, kept), group_first)
    best_score = tf.math.unsorted_segment_max(group_score, group_example, batch)
    is_best = tf.equal(group_score, tf.gather(best_score, group_example))
    none = tf.shape(kept)[0]
    best_group_first = tf.math.unsorted_segment_min(
        tf.where(is_best, group_first, none), group_example, batch
    )
    found = best_group_first < none
    flat_index = tf.gather(
        tf.concat([kept, [-1]], 0), tf.minimum(best_group_first, none)
    )
    return tf.where(found, tf.cast(flat_index, tf.int32), -1), best_score
