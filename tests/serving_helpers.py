"""Tiny tasks and a fresh-process TF Serving stand-in for the export tests."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
from quick_compile import QUICK_JIT

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serving_client.py")
SEQUENCE_LENGTH = 16
QA_SEQUENCE_LENGTH = 24
LABEL_NAMES = ["negative", "neutral", "positive"]

# Texts that must go through a served model: ordinary, empty, long,
# several scripts, and bytes that are not UTF-8.
ORDINARY_TEXTS = [
    "The soup was great, but the bread was stale.",
    "Terrible service; we left.",
]
LONG_TEXT = "An unusually long review " + "that keeps going " * 60 + "!"
MULTI_SCRIPT_TEXT = "Café naïve 日本語のテキスト Привет мир مرحبا 🙂 ﬁne"
EDGE_TEXTS = ["", "   ", LONG_TEXT, MULTI_SCRIPT_TEXT]
INVALID_UTF8 = [b"\xff\xfe broken \xc3", b"ok \x80 then \xe2\x82"]


def tiny_backbone():
    from keras_electra.models.electra_backbone import ElectraBackbone

    # The "factorized" tiny HF config (tests/hf_reference.py) with the
    # bundled 30,522-token vocabulary.
    return ElectraBackbone(
        vocabulary_size=30522,
        num_layers=2,
        num_heads=4,
        hidden_dim=32,
        embedding_dim=16,
        intermediate_dim=48,
        max_sequence_length=QA_SEQUENCE_LENGTH,
    )


def randomize(model, seed=0):
    """Large random weights (as tests/hf_reference.py), so that a wrong
    token anywhere moves the outputs far more than 1e-5."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.2, weight.shape).astype(weight.dtype))
    return model


def tiny_task(kind, seed=0):
    """A tiny task of `kind` with its preprocessor and random weights."""
    from keras_electra.models import electra_causal_lm as clm
    from keras_electra.models import electra_causal_lm_preprocessor as clp
    from keras_electra.models import electra_classifier as classifier
    from keras_electra.models import electra_classifier_preprocessor as cp
    from keras_electra.models import electra_discriminator as disc
    from keras_electra.models import electra_discriminator_preprocessor as dp
    from keras_electra.models import electra_masked_lm as mlm
    from keras_electra.models import electra_masked_lm_preprocessor as mp
    from keras_electra.models import electra_multiple_choice as mc
    from keras_electra.models import electra_multiple_choice_preprocessor as mcp
    from keras_electra.models import electra_question_answerer as qa
    from keras_electra.models import electra_question_answerer_preprocessor as qp
    from keras_electra.models import electra_token_classifier as tc
    from keras_electra.models import electra_token_classifier_preprocessor as tp
    from keras_electra.models.electra_tokenizer import ElectraTokenizer

    keras.utils.set_random_seed(seed)
    tokenizer = ElectraTokenizer()
    backbone = tiny_backbone()
    length = SEQUENCE_LENGTH
    if kind == "classifier":
        task = classifier.ElectraClassifier(
            backbone,
            num_classes=3,
            preprocessor=cp.ElectraClassifierPreprocessor(tokenizer, length),
            label_names=LABEL_NAMES,
        )
    elif kind == "token_classifier":
        task = tc.ElectraTokenClassifier(
            backbone,
            4,
            tp.ElectraTokenClassifierPreprocessor(tokenizer, length),
        )
    elif kind == "question_answerer":
        task = qa.ElectraQuestionAnswerer(
            backbone,
            qp.ElectraQuestionAnswererPreprocessor(
                tokenizer, sequence_length=QA_SEQUENCE_LENGTH, doc_stride=4
            ),
        )
    elif kind == "multiple_choice":
        task = mc.ElectraMultipleChoice(
            backbone,
            3,
            mcp.ElectraMultipleChoicePreprocessor(
                tokenizer, length, num_choices=3
            ),
        )
    elif kind == "masked_lm":
        task = mlm.ElectraMaskedLM(
            backbone, mp.ElectraMaskedLMPreprocessor(tokenizer, length)
        )
    elif kind == "causal_lm":
        task = clm.ElectraCausalLM(
            backbone, clp.ElectraCausalLMPreprocessor(tokenizer, length)
        )
    elif kind == "discriminator":
        task = disc.ElectraDiscriminator(
            backbone, dp.ElectraDiscriminatorPreprocessor(tokenizer, length)
        )
    else:
        raise ValueError(kind)
    sampler = {"sampler": "greedy"} if kind == "causal_lm" else {}
    task.compile(jit_compile=QUICK_JIT, **sampler)
    return randomize(task, seed)


def _hex(values):
    if isinstance(values, (list, tuple)):
        return [_hex(v) for v in values]
    if isinstance(values, str):
        values = values.encode("utf-8")
    return values.hex()


def serve(model_dir, requests, folder):
    """Run `requests` on the SavedModel in a fresh TensorFlow-only process.

    Args:
        model_dir: the SavedModel.
        requests: a list of `(signature, {input name: strings})`; strings are
            `str` or `bytes`, nested as the input's shape.
        folder: where to put the request and response files.

    Returns:
        `(signature names, [response dict per request])`; string outputs
        come back as Python `bytes`.
    """
    folder = str(folder)
    request_file = os.path.join(folder, "requests.json")
    output_file = os.path.join(folder, "responses.npz")
    with open(request_file, "w") as f:
        json.dump(
            [
                {"signature": name, "inputs": {k: _hex(v) for k, v in inputs.items()}}
                for name, inputs in requests
            ],
            f,
        )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, CLIENT, str(model_dir), request_file, output_file],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(output_file) as data:
        signatures = [str(s) for s in data["signatures"]]
        responses = [{} for _ in requests]
        for key in data.files:
            if "/" in key:
                index, name = key.split("/", 1)
                responses[int(index)][name] = data[key]
    return signatures, responses


def run_backend_script(backend, code, timeout=600):
    """Run Python `code` in a fresh process under a Keras `backend`."""
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join(
            [os.path.dirname(os.path.abspath(__file__))]
            + [p for p in [os.environ.get("PYTHONPATH")] if p]
        ),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"{backend} script failed:\n{result.stderr[-4000:]}"
    )
    return result.stdout


KINDS = (
    "classifier",
    "token_classifier",
    "question_answerer",
    "multiple_choice",
    "masked_lm",
    "discriminator",
    "causal_lm",
)
QA_CONTEXT = "Marie Curie won the Nobel Prize in 1903 and again in 1911."
PROMPTS = np.array(["The sky is", "Grass is"])
CHOICES = np.array([["blue.", "green.", "red."], ["blue.", "green.", "red."]])
WORDS = [["Ada", "Lovelace", "wrote", "code"], ["It", "ran"]]


def fine_tune(kind, task):
    """One short `fit` on raw strings, so the saved task has trained
    weights and optimizer state."""
    texts = ["The soup was great.", "The bread was stale."]
    if kind == "classifier":
        data = (texts, np.array([2, 0]))
    elif kind == "token_classifier":
        data = (WORDS, [[1, 2, 0, 0], [0, 0]])
    elif kind == "question_answerer":
        data = (
            (["When did Curie first win?"], [QA_CONTEXT]),
            {"answer_start": [35], "text": ["1903"]},
        )
    elif kind == "multiple_choice":
        data = ((PROMPTS, CHOICES), np.array([0, 1]))
    elif kind == "discriminator":
        data = (["the cat sat", "a dog"], [[0, 1, 0], [1, 0]])
    else:  # masked_lm, causal_lm: self-supervised
        data = (texts * 2,)
    task.fit(*data, batch_size=2, epochs=1, verbose=0)
    return task


def predictions(kind, task):
    """Deterministic predictions of a task on raw inputs, as float arrays."""
    texts = ["Loved it, would buy again!", "Never again.", ""]
    if kind == "token_classifier":
        return task.predict(WORDS, verbose=0)
    if kind == "question_answerer":
        return task.predict(
            (["When did Curie win?", "Who won?"], [QA_CONTEXT] * 2), verbose=0
        )
    if kind == "multiple_choice":
        return task.predict((PROMPTS, CHOICES), verbose=0)
    if kind == "masked_lm":
        # predict() masks at random; fill_mask() is deterministic.
        best = task.fill_mask(["Paris is the [MASK] of France."], top_k=5)[0]
        return np.array([[c["token"], c["score"]] for c in best])
    return np.asarray(task.predict(texts, verbose=0))
