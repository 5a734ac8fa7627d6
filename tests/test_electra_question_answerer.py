import csv
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers
from hf_reference import TINY_CONFIGS
from hf_reference import hf_config
from hf_reference import hf_forward_kwargs
from hf_reference import padded_batch
from hf_reference import random_hf_model
from hf_reference import state_dict_numpy

# HF's own span scoring, copied verbatim from the `question-answering`
# pipeline that transformers 5 removed (v4.57 `select_starts_ends`).
from transformers.pipelines.document_question_answering import (
    select_starts_ends,
)

from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
from keras_electra.convert.hf_heads import load_hf_tensors
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_question_answerer import (
    ElectraQuestionAnswerer,
)
from keras_electra.models.electra_question_answerer_preprocessor import (
    ElectraQuestionAnswererPreprocessor,
)
from keras_electra.models.electra_tokenizer import DEFAULT_VOCABULARY_PATH
from keras_electra.models.electra_tokenizer import ElectraTokenizer

DATA = os.path.join(
    os.path.dirname(DEFAULT_VOCABULARY_PATH), "fine_foods", "train.csv"
)
VOCABULARY_SIZE = 30522


def reviews(count):
    with open(DATA, encoding="utf-8") as f:
        rows = [row["review"] for row in csv.DictReader(f)][:count]
    return [re.sub("<br />", " ", review) for review in rows]


REVIEWS = reviews(3)
# (question, context): two real reviews (the first needs many windows at
# sequence_length 32) and a short one with accents and word pieces.
PAIRS = [
    ("What does the reviewer love?", REVIEWS[1]),
    ("Where is it cheaper?", REVIEWS[2][:300]),
    ("Who doesn't smile?", "Unaffable café owners in Reykjavík don't smile."),
]
SEQUENCE_LENGTH = 32
DOC_STRIDE = 8


def hf_tokenizer():
    tokenizer = transformers.BertTokenizerFast(vocab=DEFAULT_VOCABULARY_PATH)
    # transformers 5 ignores `vocab_file=`: make sure the vocabulary is used.
    assert tokenizer.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    return tokenizer


def hf_windows(tokenizer, questions, contexts, **kwargs):
    return tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=SEQUENCE_LENGTH,
        stride=DOC_STRIDE,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        **kwargs,
    )


def hf_pipeline_answers(
    model,
    tokenizer,
    question,
    context,
    top_k,
    max_answer_len,
    align_to_words=True,
    handle_impossible_answer=False,
):
    """transformers v4.57 `QuestionAnsweringPipeline`, step by step.

    `pipeline("question-answering")` is gone from transformers 5, so this is
    its `preprocess` (fast tokenizer, question first), `_forward` and
    `postprocess` with HF's own `select_starts_ends`; it gave the same
    answers and scores as the real v4.57 pipeline on these pairs.
    """
    encoded = tokenizer(
        text=question,
        text_pair=context,
        padding="do_not_pad",
        truncation="only_second",
        max_length=SEQUENCE_LENGTH,
        stride=DOC_STRIDE,
        return_token_type_ids=True,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    answers = []
    min_null_score = 1000000
    for span in range(len(encoded["input_ids"])):
        ids = encoded["input_ids"][span]
        p_mask = [int(s != 1) for s in encoded.sequence_ids(span)]
        for cls_index in np.nonzero(np.array(ids) == tokenizer.cls_token_id)[0]:
            p_mask[cls_index] = 0
        inputs = {
            key: torch.tensor([encoded[key][span]])
            for key in ("input_ids", "token_type_ids", "attention_mask")
        }
        with torch.no_grad():
            output = model(**inputs)
        pre_topk = top_k * 2 + 10 if align_to_words else top_k
        starts, ends, scores, min_null_score = select_starts_ends(
            output.start_logits.numpy(),
            output.end_logits.numpy(),
            np.array([p_mask]),
            inputs["attention_mask"].numpy(),
            min_null_score,
            pre_topk,
            handle_impossible_answer,
            max_answer_len,
        )
        encoding = encoded[span]
        for s, e, score in zip(starts, ends, scores):
            start, end = encoding.offsets[s][0], encoding.offsets[e][1]
            if align_to_words:
                try:
                    start = encoding.word_to_chars(
                        encoding.token_to_word(s), sequence_index=1
                    )[0]
                    end = encoding.word_to_chars(
                        encoding.token_to_word(e), sequence_index=1
                    )[1]
                except Exception:
                    pass
            text = context[start:end]
            same = [a for a in answers if a["answer"].lower() == text.lower()]
            if same:
                same[0]["score"] += score.item()
            else:
                answers.append(
                    {
                        "score": score.item(),
                        "start": start,
                        "end": end,
                        "answer": text,
                    }
                )
    if handle_impossible_answer:
        answers.append(
            {"score": min_null_score, "start": 0, "end": 0, "answer": ""}
        )
    return sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]


def task_from_hf(hf_model, sequence_length=None):
    config = hf_model.config.to_dict()
    backbone = ElectraBackbone(**backbone_kwargs_from_hf_config(config))
    preprocessor = None
    if sequence_length:
        preprocessor = ElectraQuestionAnswererPreprocessor(
            ElectraTokenizer(),
            sequence_length=sequence_length,
            doc_stride=DOC_STRIDE,
        )
    task = ElectraQuestionAnswerer(backbone, preprocessor)
    load_hf_tensors(task, state_dict_numpy(hf_model))
    return task


@pytest.fixture(scope="module")
def hf_qa_pair():
    """A random HF QA model with the real vocabulary, and our twin."""
    config = hf_config(
        "factorized", vocab_size=VOCABULARY_SIZE, max_position_embeddings=64
    )
    hf_model = random_hf_model(transformers.ElectraForQuestionAnswering, config)
    return hf_model, task_from_hf(hf_model, SEQUENCE_LENGTH)


def to_numpy(tree):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, tree)


# --- HF parity -------------------------------------------------------------


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_logits_and_loss_match_hf(name):
    config = hf_config(name)
    hf_model = random_hf_model(transformers.ElectraForQuestionAnswering, config)
    task = task_from_hf(hf_model)
    inputs = padded_batch(
        config, batch=4, length=config.max_position_embeddings
    )
    positions = np.array([[0, 0], [3, 5], [2, 2], [1, 4]])
    with torch.no_grad():
        expected = hf_model(
            **hf_forward_kwargs(inputs),
            start_positions=torch.tensor(positions[:, 0]),
            end_positions=torch.tensor(positions[:, 1]),
        )
    ours = keras.ops.convert_to_numpy(task(inputs))
    theirs = np.stack(
        [expected.start_logits.numpy(), expected.end_logits.numpy()], axis=-1
    )
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    assert np.max(np.abs(ours - theirs)) <= 1e-5
    # The default loss is HF's: mean of the start and end cross-entropies.
    loss = float(task.loss(positions, ours))
    np.testing.assert_allclose(loss, expected.loss.item(), rtol=1e-5)


@pytest.mark.backend_sensitive
def test_logits_stay_float32_under_mixed_precision():
    config = hf_config("square")
    backbone = ElectraBackbone(
        **backbone_kwargs_from_hf_config(config.to_dict()),
        dtype="mixed_bfloat16",
    )
    logits = ElectraQuestionAnswerer(backbone)(padded_batch(config))
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


# --- Windows and labels ----------------------------------------------------


def test_windows_match_hf_overflowing_tokens():
    tokenizer = hf_tokenizer()
    questions, contexts = map(list, zip(*PAIRS))
    expected = hf_windows(tokenizer, questions, contexts, padding="max_length")
    assert len(expected["input_ids"]) > 2 * len(PAIRS)  # Many windows.
    preprocessor = ElectraQuestionAnswererPreprocessor(
        ElectraTokenizer(),
        sequence_length=SEQUENCE_LENGTH,
        doc_stride=DOC_STRIDE,
    )
    x, windows = to_numpy(preprocessor.pack_windows((questions, contexts)))
    np.testing.assert_array_equal(x["token_ids"], expected["input_ids"])
    np.testing.assert_array_equal(x["segment_ids"], expected["token_type_ids"])
    np.testing.assert_array_equal(x["padding_mask"], expected["attention_mask"])
    np.testing.assert_array_equal(
        windows["example_index"], expected["overflow_to_sample_mapping"]
    )
    # HF's pipeline default stride; a dict input packs as the tuple does.
    assert (
        ElectraQuestionAnswererPreprocessor(
            ElectraTokenizer(), sequence_length=384
        ).doc_stride
        == 128
    )
    as_dict = to_numpy(
        preprocessor({"question": questions, "context": contexts})
    )
    np.testing.assert_array_equal(as_dict["token_ids"], x["token_ids"])
    for row, offsets in enumerate(expected["offset_mapping"]):
        in_context = np.array(expected.sequence_ids(row)) == 1
        offsets = np.where(in_context[:, None], np.array(offsets), -1)
        np.testing.assert_array_equal(
            windows["token_starts"][row], offsets[:, 0]
        )
        np.testing.assert_array_equal(windows["token_ends"][row], offsets[:, 1])


def expected_span_positions(encoded, row, answer_start, answer_text):
    """HF `run_qa.py`'s labels, walking only over the context tokens."""
    context = [i for i, s in enumerate(encoded.sequence_ids(row)) if s == 1]
    offsets = encoded["offset_mapping"][row]
    start_char, end_char = answer_start, answer_start + len(answer_text)
    if answer_start < 0 or not (
        offsets[context[0]][0] <= start_char
        and offsets[context[-1]][1] >= end_char
    ):
        return [0, 0]
    start = context[0]
    while start <= context[-1] and offsets[start][0] <= start_char:
        start += 1
    end = context[-1]
    while end >= context[0] and offsets[end][1] >= end_char:
        end -= 1
    return [start - 1, end + 1]


def test_span_labels_match_hf_run_qa():
    tokenizer = hf_tokenizer()
    questions, contexts = map(list, zip(*PAIRS))
    # A long answer that no window of the first context holds, a word, and
    # an answer inside a word piece ("ffa" of "Unaffable").
    texts = ["dried fruit", "WalMart", "ffa"]
    starts = [context.index(text) for context, text in zip(contexts, texts)]
    texts[0] = contexts[0][starts[0] : starts[0] + 200]
    for labels in ((starts, texts), (starts[:2] + [-1], texts)):
        x, y = preprocessor_for_labels()(
            (questions, contexts),
            {"answer_start": labels[0], "text": labels[1]},
        )
        encoded = hf_windows(tokenizer, questions, contexts)
        expected = [
            expected_span_positions(
                encoded, row, labels[0][example], labels[1][example]
            )
            for row, example in enumerate(encoded["overflow_to_sample_mapping"])
        ]
        y = keras.ops.convert_to_numpy(y)
        np.testing.assert_array_equal(y, expected)
        answered = {
            int(example)
            for example, start in zip(
                encoded["overflow_to_sample_mapping"], y[:, 0]
            )
            if start > 0
        }
        assert answered == ({1, 2} if labels[0][2] >= 0 else {1})


def preprocessor_for_labels():
    return ElectraQuestionAnswererPreprocessor(
        ElectraTokenizer(),
        sequence_length=SEQUENCE_LENGTH,
        doc_stride=DOC_STRIDE,
    )


def test_labels_in_tf_data_match_eager():
    preprocessor = preprocessor_for_labels()
    questions, contexts = map(list, zip(*PAIRS))
    starts = [contexts[0].index("LOVE"), contexts[1].index("WalMart"), -1]
    labels = {"answer_start": starts, "text": ["LOVE", "WalMart", ""]}
    ds = (
        tf.data.Dataset.from_tensor_slices(
            ((questions, contexts), labels, [1.0, 2.0, 0.5])
        )
        .batch(3)
        .map(preprocessor)
    )
    graph = next(iter(ds))
    eager = preprocessor((questions, contexts), labels, [1.0, 2.0, 0.5])
    for ours, theirs in zip(tf.nest.flatten(graph), tf.nest.flatten(eager)):
        np.testing.assert_array_equal(
            np.asarray(ours), keras.ops.convert_to_numpy(theirs)
        )
    # Every window carries its example's sample weight.
    x, y, sample_weight = to_numpy(eager)
    windows = to_numpy(preprocessor.pack_windows((questions, contexts)))[1]
    np.testing.assert_array_equal(
        sample_weight, np.array([1.0, 2.0, 0.5])[windows["example_index"]]
    )


# --- answer() against HF's pipeline ----------------------------------------


@pytest.mark.backend_sensitive
@pytest.mark.parametrize(
    "top_k, max_answer_len, align_to_words, impossible",
    [
        (1, 15, True, False),
        (3, 4, True, False),
        (2, 30, False, False),
        (4, 15, True, True),
    ],
)
def test_answer_matches_hf_pipeline(
    hf_qa_pair, top_k, max_answer_len, align_to_words, impossible
):
    hf_model, task = hf_qa_pair
    tokenizer = hf_tokenizer()
    questions, contexts = map(list, zip(*PAIRS))
    ours = task.answer(
        questions,
        contexts,
        top_k=top_k,
        max_answer_length=max_answer_len,
        align_to_words=align_to_words,
        handle_impossible_answer=impossible,
    )
    for (question, context), found in zip(PAIRS, ours):
        if top_k == 1:  # One dict per question, as HF's pipeline.
            assert isinstance(found, dict)
            found = [found]
        expected = hf_pipeline_answers(
            hf_model,
            tokenizer,
            question,
            context,
            top_k,
            max_answer_len,
            align_to_words,
            impossible,
        )
        assert [a["answer"] for a in found] == [a["answer"] for a in expected]
        assert [(a["start"], a["end"]) for a in found] == [
            (a["start"], a["end"]) for a in expected
        ]
        np.testing.assert_allclose(
            [a["score"] for a in found],
            [a["score"] for a in expected],
            rtol=1e-4,
            atol=1e-7,
        )
        for a in found:
            assert context[a["start"] : a["end"]] == a["answer"]


@pytest.mark.backend_sensitive
def test_no_answer_score_matches_hf_pipeline(hf_qa_pair):
    hf_model, task = hf_qa_pair
    tokenizer = hf_tokenizer()
    for question, context in PAIRS:
        # Enough answers that "no answer" is among them.
        ours = task.answer(
            question, context, top_k=10**5, handle_impossible_answer=True
        )
        expected = hf_pipeline_answers(
            hf_model, tokenizer, question, context, 10**5, 15, True, True
        )
        (null,) = [a for a in ours if a["answer"] == ""]
        assert (null["start"], null["end"]) == (0, 0)
        np.testing.assert_allclose(
            null["score"],
            max(a["score"] for a in expected if a["answer"] == ""),
            rtol=1e-4,
        )


def test_answer_spans_stay_in_the_context(hf_qa_pair):
    _, task = hf_qa_pair
    question, context = PAIRS[0]
    found = task.answer(question, context, top_k=20, max_answer_length=3)
    assert len(found) == 20
    scores = [a["score"] for a in found]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    tokenizer = ElectraTokenizer()
    for a in found:
        assert context[a["start"] : a["end"]] == a["answer"]
        # At most 3 tokens, widened to whole words (no "##" at the edges).
        assert 1 <= len(tokenizer(a["answer"])) <= 6
    # One shared context for several questions; one list per question.
    both = task.answer([question, "Why?"], context, top_k=2)
    assert len(both) == 2 and all(len(answers) == 2 for answers in both)
    # Batched with another question: the same spans, the scores to rounding.
    alone = task.answer(question, context, top_k=2)
    assert both[0] == [{**a, "score": pytest.approx(a["score"])} for a in alone]


def test_answer_takes_hf_pipeline_calls_and_returns_its_shapes(hf_qa_pair):
    _, task = hf_qa_pair
    (question, context), (other, other_context) = PAIRS[:2]
    best = task.answer(question=question, context=context)
    assert set(best) == {"score", "start", "end", "answer"}
    assert best == task.answer(question, context) == task.answer(
        {"question": question, "context": context})
    three = task.answer(question, context, top_k=3)
    assert len(three) == 3 and all(isinstance(a, dict) for a in three)
    assert best == task.answer(questions=question, contexts=context)
    several = task.answer(question=[question, other],
                          context=[context, other_context])
    assert several == task.answer(
        [{"question": question, "context": context},
         {"question": other, "context": other_context}])
    assert isinstance(several[1], dict)
    # Batched with another question: the same span, the score to rounding.
    assert several[0] == {**best, "score": pytest.approx(best["score"])}
    with pytest.raises(ValueError, match="keys 'question' and 'context'"):
        task.answer({"question": question})
    with pytest.raises(ValueError, match="`question` or `questions`"):
        task.answer(question, context, questions=[question])


# --- Training --------------------------------------------------------------


def squad_like_examples(count):
    """Questions on real review text with the answer span taken from it."""
    questions, contexts, starts, texts = [], [], [], []
    for review in reviews(count):
        context = " ".join(review.split()[:24])
        word = max(re.findall(r"[A-Za-z]+", context), key=len)
        questions.append("Which word is the longest?")
        contexts.append(context)
        starts.append(context.index(word))
        texts.append(word)
    return (questions, contexts), {"answer_start": starts, "text": texts}


def tiny_task():
    backbone = ElectraBackbone(
        vocabulary_size=VOCABULARY_SIZE,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        embedding_dim=16,
        intermediate_dim=64,
        max_sequence_length=SEQUENCE_LENGTH,
    )
    return ElectraQuestionAnswerer(backbone, preprocessor_for_labels())


@pytest.mark.backend_sensitive
def test_fit_on_text_lowers_the_loss():
    keras.utils.set_random_seed(0)
    # One batch of several windows per example: the same shape every epoch,
    # so JAX compiles the train step once.
    x, y = squad_like_examples(8)
    task = tiny_task()
    task.compile(optimizer=keras.optimizers.Adam(3e-3))

    def loss():
        # The compiled loss over every window at once (no dataset to trace).
        packed, positions = task.preprocessor(x, y)
        return float(task.loss(positions, task(packed)))

    before = loss()
    task.fit(x, y, batch_size=8, epochs=6, verbose=0)
    after = loss()
    print(f"loss {before:.4f} -> {after:.4f}")
    assert after < 0.8 * before


# --- Saving ----------------------------------------------------------------


@pytest.mark.backend_sensitive
def test_keras_file_and_preset_round_trips(tmp_path):
    keras.utils.set_random_seed(2)
    task = tiny_task()
    questions, contexts = map(list, zip(*PAIRS))

    def logits(model):
        # Each model packs the text with its own (restored) preprocessor.
        return keras.ops.convert_to_numpy(
            model(model.preprocessor((questions, contexts)))
        )

    expected = logits(task)
    expected_answers = task.answer(questions, contexts, top_k=2)

    path = str(tmp_path / "qa.keras")
    task.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ElectraQuestionAnswerer)
    np.testing.assert_array_equal(logits(restored), expected)
    assert restored.answer(questions, contexts, top_k=2) == expected_answers

    preset = str(tmp_path / "preset")
    task.save_to_preset(preset)
    restored = ElectraQuestionAnswerer.from_preset(preset)
    np.testing.assert_array_equal(logits(restored), expected)
    assert restored.preprocessor.doc_stride == DOC_STRIDE


# --- Errors ----------------------------------------------------------------


def test_bad_questions_and_contexts_are_rejected(hf_qa_pair):
    _, task = hf_qa_pair
    for context in (None, "", "   "):
        with pytest.raises(ValueError, match="non-empty context"):
            task.answer("Who?", context)
    with pytest.raises(ValueError, match="non-empty question"):
        task.answer(["Who?", ""], ["a b", "c d"])
    with pytest.raises(ValueError, match="one per question"):
        task.answer(["Who?", "What?"], ["a b", "c d", "e"])
    with pytest.raises(ValueError, match="`top_k` must be a positive int"):
        task.answer("Who?", "a b", top_k=0)
    preprocessor = task.preprocessor
    with pytest.raises(ValueError, match="a context is empty"):
        preprocessor((["Who?"], ["\u200b "]))
    with pytest.raises(ValueError, match="a question is empty"):
        preprocessor((["", "Who?"], ["a", "b"]))
    with pytest.raises(ValueError, match="question is too long"):
        preprocessor(("why " * 22, "a " * 40))
    with pytest.raises(ValueError, match="differ in number"):
        preprocessor((["a", "b"], ["c"]))
    with pytest.raises(ValueError, match="tuple \\(questions, contexts\\)"):
        preprocessor(["a", "b"])
    with pytest.raises(ValueError, match="answer text differs"):
        preprocessor(
            ("Who?", "Ann met Bob."), {"answer_start": 0, "text": "Bob"}
        )
    with pytest.raises(ValueError, match="runs past the end"):
        preprocessor(
            ("Who?", "Ann met Bob."), {"answer_start": 10, "text": "Bob"}
        )
    with pytest.raises(ValueError, match="doc_stride"):
        ElectraQuestionAnswererPreprocessor(ElectraTokenizer(), 16, 13)
