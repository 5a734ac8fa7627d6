import keras
import numpy as np

from keras_electra.layers.numerics import electra_initializer
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_question_answerer_preprocessor import (
    ElectraQuestionAnswererPreprocessor,
)
from keras_electra.models.default_optimizer import default_optimizer
from keras_electra.models.electra_task import ElectraTask
from keras_electra.models.span_loss import SpanLoss
from keras_electra.models.text_inputs import check_text_batch
from keras_electra.models.text_inputs import require_tokenizer

# What HF's pipeline writes over the logits of tokens outside the context.
MASKED_LOGIT = -10000.0


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraQuestionAnswerer(ElectraTask):
    """ELECTRA for extractive question answering (SQuAD-style spans).

    A Dense(2) layer on every token gives the logits that the answer starts
    and ends there, as HF `ElectraForQuestionAnswering`. Called on integer
    inputs it returns float32 `(batch, length, 2)`: `[..., 0]` start and
    `[..., 1]` end logits.

    With an `ElectraQuestionAnswererPreprocessor`, `fit()` takes
    `x=(questions, contexts)` and `y={"answer_start": ..., "text": ...}`
    (long contexts become several windows, each with its labels), and
    `answer()` returns the best spans of the context as text with their
    character offsets and scores.

    Args:
        backbone: an `ElectraBackbone`.
        preprocessor: an `ElectraQuestionAnswererPreprocessor` or `None`.

    Example:
    >>> from keras_electra import ElectraBackbone, ElectraTokenizer
    >>> backbone = ElectraBackbone(
    ...     vocabulary_size=30522, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=32)
    >>> preprocessor = ElectraQuestionAnswererPreprocessor(
    ...     ElectraTokenizer(), sequence_length=32, doc_stride=8)
    >>> qa = ElectraQuestionAnswerer(backbone, preprocessor)
    >>> context = "Marie Curie won the Nobel Prize in 1903 and 1911."
    >>> best = qa.answer(question="When did Curie first win?", context=context)
    >>> sorted(best)
    ['answer', 'end', 'score', 'start']
    >>> context[best["start"]:best["end"]] == best["answer"]
    True

    Fine-tune with `qa.fit((questions, contexts), {"answer_start": starts,
    "text": answers})`.
    """

    backbone_cls = ElectraBackbone
    preprocessor_cls = ElectraQuestionAnswererPreprocessor
    # `y` is `(answer_start, text)` or a dict of them, not one label each.
    labels_per_example = False

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dense = keras.layers.Dense(
            2,
            kernel_initializer=electra_initializer(),
            # Logits stay float32 under mixed precision.
            dtype="float32",
            name="span_logits",
        )

        # === Functional Model ===
        inputs = backbone.input
        outputs = self.output_dense(backbone(inputs))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def _check_raw_x(self, x, owner):
        # The preprocessor also takes [questions, contexts] as a list.
        if isinstance(x, list) and len(x) == 2 and all(
            isinstance(part, (list, tuple, np.ndarray)) for part in x
        ):
            x = tuple(x)
        return check_text_batch(x, owner)

    def compile(
        self, optimizer="auto", loss="auto", *, metrics="auto",
        learning_rate=None, **kwargs
    ):
        """Configure training; `"auto"` picks the defaults below.

        Defaults: AdamW at `learning_rate` (default: the preset's
        `default_learning_rate`, 5e-5 for full-size ELECTRA) with weight
        decay 0.01 that skips layer norms and biases (`LayerwiseDecayAdamW`
        with `layer_decay=1.0`, as `ElectraClassifier`) and `SpanLoss`, HF's QA loss; no metrics.
        """
        optimizer = default_optimizer(self, optimizer, learning_rate)
        if loss == "auto":
            loss = SpanLoss()
        if metrics == "auto":
            metrics = None
        super().compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )

    def answer(
        self,
        question=None,
        context=None,
        top_k=1,
        max_answer_length=30,
        align_to_words=True,
        handle_impossible_answer=False,
        batch_size=32,
        *,
        questions=None,
        contexts=None,
    ):
        """The best answer spans of each context, as HF's QA pipeline.

        Each window's start and end logits become probabilities with a
        softmax over the context tokens and `[CLS]` (the question, special
        tokens and padding are masked out); a span `(s, e)` of context tokens
        with `s <= e < s + max_answer_length` scores
        `p_start(s) * p_end(e)`. With `align_to_words` a span is widened to
        whole words (within its window). The best `2 * top_k + 10` spans of
        every window are merged over all windows of the example, the scores
        of spans with the same text (case-insensitive) are added, and the
        `top_k` best are returned. This is HF transformers'
        `QuestionAnsweringPipeline` (v4.57), except that it never returns
        spans with score 0 (HF pads a short list with them).

        Called as HF's pipeline is: `answer(question=..., context=...)`,
        positionally `answer(question, context)`, or with a dict
        `{"question": ..., "context": ...}` or a list of them.

        Args:
            question: a string or a list of strings (also `questions=`),
                or HF's `{"question", "context"}` dict(s).
            context: a string (shared by all questions) or a list of
                strings, one per question (also `contexts=`).
            top_k: int. Answers per question.
            max_answer_length: int. Longest answer, in tokens.
            align_to_words: bool. Widen spans to whole words.
            handle_impossible_answer: bool. Also rank "no answer" (`""` at
                0, 0), scored with the lowest `p_start([CLS]) *
                p_end([CLS])` over the example's windows, as HF.
            batch_size: int. Examples preprocessed and run at a time.

        Returns:
            As HF's pipeline: for one question, the best answer, a dict
            with `"score"`, `"start"`/`"end"` (character offsets:
            `context[start:end] == answer`) and `"answer"` (the text); with
            `top_k > 1` a list of up to `top_k` such dicts, best first. For
            a list of questions, a list with one of those per question.
        """
        question, context = _aliases(question, context, questions, contexts)
        questions, contexts, single = _question_context_pairs(
            question, context
        )
        for name, value in (
            ("top_k", top_k),
            ("max_answer_length", max_answer_length),
        ):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(
                    f"answer(): `{name}` must be a positive int; received "
                    f"{value!r}."
                )
        tokenizer = require_tokenizer(self, "answer")
        vocabulary = tokenizer.get_vocabulary()
        continuation = np.array(
            [
                token.startswith(tokenizer.suffix_indicator)
                for token in vocabulary
            ]
        )
        results = []
        for start in range(0, len(questions), batch_size):
            stop = start + batch_size
            results.extend(
                self._answer_batch(
                    questions[start:stop],
                    contexts[start:stop],
                    top_k,
                    max_answer_length,
                    continuation if align_to_words else None,
                    handle_impossible_answer,
                )
            )
        if top_k == 1:
            results = [found[0] if found else None for found in results]
        return results[0] if single else results

    def _answer_batch(
        self,
        questions,
        contexts,
        top_k,
        max_answer_length,
        continuation,
        handle_impossible_answer,
    ):
        x, windows = self.preprocessor.pack_windows((questions, contexts))
        # Skip Task.predict's preprocessing: the windows are packed already.
        logits = keras.Model.predict(self, x, verbose=0)
        x = {key: keras.ops.convert_to_numpy(value) for key, value in x.items()}
        windows = {
            key: keras.ops.convert_to_numpy(value)
            for key, value in windows.items()
        }
        # Twice as many candidates as asked, plus 10, since word alignment
        # and merging can make several into one (as HF's pipeline).
        per_window = top_k * 2 + 10 if continuation is not None else top_k
        answers = [[] for _ in questions]
        null_scores = [np.inf for _ in questions]
        for row, example in enumerate(windows["example_index"]):
            in_context = windows["token_starts"][row] >= 0
            spans, null_score = _best_spans(
                logits[row], in_context, max_answer_length, per_window
            )
            null_scores[example] = min(null_scores[example], null_score)
            for first, last, score in spans:
                if continuation is not None:
                    first, last = _whole_words(
                        first,
                        last,
                        x["token_ids"][row],
                        in_context,
                        continuation,
                    )
                _add_answer(
                    answers[example],
                    contexts[example],
                    int(windows["token_starts"][row][first]),
                    int(windows["token_ends"][row][last]),
                    score,
                )
        if handle_impossible_answer:
            for found, score in zip(answers, null_scores):
                found.append(
                    {"answer": "", "score": score, "start": 0, "end": 0}
                )
        return [
            sorted(found, key=lambda a: a["score"], reverse=True)[:top_k]
            for found in answers
        ]


def _aliases(question, context, questions, contexts):
    """`question`/`context`, from HF's keywords, ours, or HF's dicts."""
    for name, hf_value, value in (
        ("question", question, questions),
        ("context", context, contexts),
    ):
        if hf_value is not None and value is not None:
            raise ValueError(
                f"answer(): pass `{name}` or `{name}s`, not both."
            )
    question = questions if question is None else question
    context = contexts if context is None else context
    if context is not None:
        return question, context
    if isinstance(question, dict):
        return _record(question)
    if isinstance(question, (list, tuple)) and question and all(
        isinstance(record, dict) for record in question
    ):
        pairs = [_record(record) for record in question]
        return [q for q, _ in pairs], [c for _, c in pairs]
    return question, context


def _record(record):
    try:
        return record["question"], record["context"]
    except KeyError as error:
        raise ValueError(
            "answer(): a dict input needs the keys 'question' and "
            f"'context', as HF's pipeline takes it; {error} is missing."
        ) from None


def _question_context_pairs(questions, contexts):
    """Questions and contexts as equal-length lists; was it one question?"""
    single = isinstance(questions, str)
    questions = [questions] if single else questions
    if not isinstance(questions, (list, tuple)) or not questions:
        raise ValueError(
            "answer() expects a question string or a non-empty list of "
            f"question strings; received {questions!r:.80}."
        )
    if isinstance(contexts, str) or contexts is None:
        contexts = [contexts] * len(questions)
    if not isinstance(contexts, (list, tuple)) or len(contexts) != len(
        questions
    ):
        raise ValueError(
            "answer() expects one context string (for all questions) or a "
            f"list of {len(questions)} context strings, one per question; "
            f"received {contexts!r:.80}."
        )
    for name, values in (("question", questions), ("context", contexts)):
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(
                    f"answer(): {name} {i} is {value!r:.40}; every question "
                    f"needs a non-empty {name} string."
                )
    return list(questions), list(contexts), single


def _softmax(logits):
    logits = logits - logits.max()
    exp = np.exp(logits)
    return exp / exp.sum()


def _best_spans(logits, in_context, max_answer_length, count):
    """The `count` best `(first, last, score)` context spans of a window.

    Also returns the window's "no answer" score, `p_start * p_end` at
    `[CLS]`.
    """
    # Softmax over the context and [CLS], then [CLS] dropped (HF pipeline).
    allowed = in_context.copy()
    allowed[0] = True
    logits = logits.astype("float64")
    start = _softmax(np.where(allowed, logits[:, 0], MASKED_LOGIT))
    end = _softmax(np.where(allowed, logits[:, 1], MASKED_LOGIT))
    null_score = float(start[0] * end[0])
    scores = np.outer(start * in_context, end * in_context)
    # Only spans with first <= last < first + max_answer_length.
    scores = np.tril(np.triu(scores), max_answer_length - 1).ravel()
    count = min(count, int((scores > 0).sum()))
    if count == 0:
        return [], null_score
    best = np.argpartition(-scores, count - 1)[:count]
    best = best[np.argsort(-scores[best], kind="stable")]
    firsts, lasts = np.unravel_index(best, (len(in_context),) * 2)
    spans = [
        (int(first), int(last), float(scores[index]))
        for first, last, index in zip(firsts, lasts, best)
    ]
    return spans, null_score


def _whole_words(first, last, token_ids, in_context, continuation):
    """Widen a span to whole words, staying inside the window's context."""
    while (
        first > 0 and in_context[first - 1] and continuation[token_ids[first]]
    ):
        first -= 1
    while (
        last + 1 < len(token_ids)
        and in_context[last + 1]
        and continuation[token_ids[last + 1]]
    ):
        last += 1
    return first, last


def _add_answer(answers, context, start, end, score):
    """Append an answer, or add its score to one with the same text."""
    text = context[start:end]
    for answer in answers:
        if answer["answer"].lower() == text.lower():
            answer["score"] += score
            return
    answers.append({"answer": text, "score": score, "start": start, "end": end})
