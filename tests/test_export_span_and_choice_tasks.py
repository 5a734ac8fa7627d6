"""`export_for_serving` of the question answerer, multiple choice and the
causal LM. Served in a fresh TensorFlow-only process and compared with the
tasks' own `answer`, `predict` and `generate`.

CI runs the causal LM's export (a cached decoding step) on JAX and PyTorch
too; the others on TensorFlow only, as tests/test_export_token_tasks.py."""

import numpy as np
import pytest
from serving_helpers import EDGE_TEXTS
from serving_helpers import INVALID_UTF8
from serving_helpers import LONG_TEXT
from serving_helpers import MULTI_SCRIPT_TEXT
from serving_helpers import serve
from serving_helpers import tiny_task

import keras_electra

TOLERANCE = 1e-5

CONTEXTS = [
    "Marie Curie won the Nobel Prize in Physics in 1903 and in Chemistry in "
    "1911, the first person to win it twice.",
    # Many windows (24 tokens, stride 4) that overlap: the same span text
    # turns up in several windows and its scores add up.
    "The soup of the day is tomato. " * 6,
    "Reykjavik's unbelievably photogenic harbour hosts whale-watching boats.",
    MULTI_SCRIPT_TEXT + " and more text after it",
]
QUESTIONS = [
    "Who won twice?",
    "What is the soup?",
    "What does the harbour host?",
    "Which script?",
]


def test_question_answerer_serves_answers_like_answer(tmp_path):
    task = tiny_task("question_answerer")
    expected = task.answer(QUESTIONS, CONTEXTS, top_k=1, max_answer_length=5)
    bad_questions = ["", "Why?", "Why?", "very long question " * 10, "Where?"]
    bad_contexts = ["Some context.", "", "   ", "Some context.", INVALID_UTF8[0]]

    path = keras_electra.export_for_serving(
        task, tmp_path / "model", max_answer_length=5
    )
    signatures, (response, unanswerable) = serve(
        path,
        [
            ("serving_default", {"question": QUESTIONS, "context": CONTEXTS}),
            ("answer", {"question": bad_questions, "context": bad_contexts}),
        ],
        tmp_path,
    )

    assert signatures == ["answer", "serving_default"]
    for row, (best, context) in enumerate(zip(expected, CONTEXTS)):
        answer = response["answer"][row].decode()
        assert answer == best["answer"]
        assert (response["start"][row], response["end"][row]) == (
            best["start"],
            best["end"],
        )
        assert context[best["start"] : best["end"]] == answer
        np.testing.assert_allclose(
            response["score"][row], best["score"], atol=TOLERANCE
        )
    # Rows the preprocessor would reject come back empty, not as errors.
    assert unanswerable["answer"][:4].tolist() == [b""] * 4
    assert unanswerable["start"][:4].tolist() == [-1] * 4
    assert unanswerable["score"][:4].tolist() == [0.0] * 4
    # Invalid UTF-8 is answered from the repaired text.
    repaired = INVALID_UTF8[0].decode("utf-8", errors="replace")
    start, end = unanswerable["start"][4], unanswerable["end"][4]
    assert unanswerable["answer"][4].decode() == repaired[start:end] != ""


def test_multiple_choice_serves_choices_like_predict(tmp_path):
    task = tiny_task("multiple_choice")
    prompts = ["The sky is", "", LONG_TEXT]
    choices = [
        ["blue.", "green.", "made of cheese."],
        ["a", "", "c"],
        [MULTI_SCRIPT_TEXT, "x", LONG_TEXT],
    ]
    logits = task.predict((np.array(prompts), np.array(choices)), verbose=0)

    path = keras_electra.export_for_serving(task, tmp_path / "model")
    signatures, (response, invalid) = serve(
        path,
        [
            ("serving_default", {"prompt": prompts, "choices": choices}),
            ("choose", {"prompt": INVALID_UTF8, "choices": [INVALID_UTF8 + [""]] * 2}),
        ],
        tmp_path,
    )

    assert signatures == ["choose", "serving_default"]
    np.testing.assert_allclose(response["logits"], logits, atol=TOLERANCE)
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(
        response["probabilities"], probabilities, atol=TOLERANCE
    )
    best = logits.argmax(-1)
    assert response["choice"].tolist() == best.tolist()
    assert [a.decode() for a in response["answer"]] == [
        row[i] for row, i in zip(choices, best)
    ]
    assert invalid["logits"].shape == (2, 3)


@pytest.mark.backend_sensitive
def test_causal_lm_serves_greedy_generation(tmp_path):
    task = tiny_task("causal_lm")
    texts = ["the cat", "a", "", LONG_TEXT, MULTI_SCRIPT_TEXT]
    expected = task.generate(texts)

    path = keras_electra.export_for_serving(task, tmp_path / "model")
    signatures, (response, edges) = serve(
        path,
        [
            ("serving_default", {"text": texts}),
            ("generate", {"text": EDGE_TEXTS + INVALID_UTF8}),
        ],
        tmp_path,
    )

    assert signatures == ["generate", "serving_default"]
    assert [t.decode() for t in response["generated_text"]] == list(expected)
    assert edges["generated_text"].shape == (len(EDGE_TEXTS) + 2,)


def test_span_task_options_are_checked(tmp_path):
    task = tiny_task("question_answerer")
    with pytest.raises(ValueError, match="max_answer_length.*positive"):
        keras_electra.export_for_serving(
            task, tmp_path / "m", max_answer_length=0
        )
