"""`export_for_serving` of `ElectraClassifier`: raw strings in, TF Serving out.

The export runs on the current Keras backend (TensorFlow directly, JAX
through jax2tf, PyTorch through a TensorFlow child process); the SavedModel
is served in a fresh process that imports only TensorFlow and TF Text.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import EDGE_TEXTS
from serving_helpers import INVALID_UTF8
from serving_helpers import LABEL_NAMES
from serving_helpers import ORDINARY_TEXTS
from serving_helpers import serve
from serving_helpers import tiny_task

import keras_electra
from keras_electra.export.serving_export import serving_for

TOLERANCE = 1e-5


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.backend_sensitive
def test_classifier_serves_raw_strings_like_predict(tmp_path):
    task = tiny_task("classifier")
    texts = ORDINARY_TEXTS + EDGE_TEXTS
    firsts = ORDINARY_TEXTS + ["", EDGE_TEXTS[2]]
    seconds = ["It was fine.", EDGE_TEXTS[3], "Short.", EDGE_TEXTS[2]]
    expected = task.predict(texts, verbose=0)
    expected_pairs = task.predict((firsts, seconds), verbose=0)
    expected_invalid = task.predict(np.array(INVALID_UTF8, dtype=object), verbose=0)
    classified = task.classify(texts)
    classified_pairs = task.classify(firsts, text_pair=seconds, top_k=None)

    path = keras_electra.export_for_serving(task, tmp_path / "model")
    assert path == str(tmp_path / "model")
    signatures, (single, pairs, invalid, one) = serve(
        path,
        [
            ("serving_default", {"text": texts}),
            ("classify_pairs", {"text": firsts, "text_pair": seconds}),
            ("classify", {"text": INVALID_UTF8}),
            ("serving_default", {"text": ["Just one."]}),
        ],
        tmp_path,
    )

    assert signatures == ["classify", "classify_pairs", "serving_default"]
    for response, reference in (
        (single, expected),
        (pairs, expected_pairs),
        (invalid, expected_invalid),
    ):
        assert response["logits"].dtype == np.float32
        np.testing.assert_allclose(response["logits"], reference, atol=TOLERANCE)
        np.testing.assert_allclose(
            response["probabilities"], softmax(reference), atol=TOLERANCE
        )
        best = reference.argmax(axis=-1)
        np.testing.assert_array_equal(response["label_id"], best)
        assert [v.decode() for v in response["label"]] == [
            LABEL_NAMES[i] for i in best
        ]
        assert response["label_names"].tolist() == [
            [n.encode() for n in LABEL_NAMES]
        ] * len(reference)
    # classify() gives the SavedModel's label and probability per text.
    for response, results in ((single, classified), (pairs, classified_pairs)):
        for i, result in enumerate(results):
            best = result if isinstance(result, dict) else result[0]
            assert best["label"] == response["label"][i].decode()
            assert best["score"] == pytest.approx(
                response["probabilities"][i].max(), abs=TOLERANCE)
    for i, ranked in enumerate(classified_pairs):  # top_k=None: all, sorted
        assert [r["label"] for r in ranked] == [
            LABEL_NAMES[j] for j in np.argsort(-pairs["probabilities"][i])]
        np.testing.assert_allclose(
            [r["score"] for r in ranked],
            np.sort(pairs["probabilities"][i])[::-1], atol=TOLERANCE)
    assert one["logits"].shape == (1, 3)
    # The long text was cut as the preprocessor cuts it, not rejected.
    assert not np.allclose(single["logits"][4], single["logits"][1])


def test_classifier_saved_model_ships_vocabulary_and_label_names(tmp_path):
    task = tiny_task("classifier")
    path = keras_electra.export_for_serving(
        task, tmp_path / "model", label_names=["bad", "meh", "good"]
    )
    assets = tmp_path / "model" / "assets"
    with open(assets / "vocab.txt", encoding="utf-8") as f:
        vocabulary = f.read().split("\n")[:-1]
    assert vocabulary == task.preprocessor.tokenizer.get_vocabulary()
    with open(assets / "label_names.txt", encoding="utf-8") as f:
        assert f.read() == "bad\nmeh\ngood\n"
    _, (response,) = serve(
        path, [("serving_default", {"text": ["Good stuff."]})], tmp_path
    )
    assert response["label"][0].decode() in ("bad", "meh", "good")


def test_text_pair_option_makes_pairs_the_default_signature():
    task = tiny_task("classifier")
    assert list(serving_for(task).signatures(core=None)) == [
        "classify",
        "classify_pairs",
    ]
    assert list(serving_for(task, text_pair=True).signatures(core=None)) == [
        "classify_pairs",
        "classify",
    ]


def fake_core(logits):
    """A stand-in core that returns fixed logits, to check the outputs."""
    return lambda inputs: tf.constant(logits, tf.float32)


@pytest.mark.parametrize(
    "problem_type, num_classes, expected_keys",
    [
        ("regression", 1, {"logits", "label_names"}),
        ("multi_label_classification", 3, {"logits", "probabilities", "label_names"}),
    ],
)
def test_classifier_outputs_follow_problem_type(
    problem_type, num_classes, expected_keys
):
    from keras_electra.models.electra_classifier import ElectraClassifier

    base = tiny_task("classifier")
    task = ElectraClassifier(
        base.backbone,
        num_classes=num_classes,
        preprocessor=base.preprocessor,
        problem_type=problem_type,
        label_names=LABEL_NAMES[:num_classes],
    )
    logits = np.array([[0.5, -1.0, 2.0][:num_classes]], "float32")
    serving = serving_for(task)
    inputs = task.preprocessor(tf.constant(["a b"]))
    outputs = serving._outputs(fake_core(logits), inputs)
    assert set(outputs) == expected_keys
    if problem_type == "multi_label_classification":
        np.testing.assert_allclose(
            outputs["probabilities"], 1 / (1 + np.exp(-logits)), rtol=1e-6
        )


def test_export_rejects_what_it_cannot_serve(tmp_path):
    task = tiny_task("classifier")
    with pytest.raises(ValueError, match="label_names.*3 strings.*received 2"):
        keras_electra.export_for_serving(
            task, tmp_path / "a", label_names=["a", "b"]
        )
    with pytest.raises(ValueError, match=r"takes the options .*text_pair.*\['pairs'\]"):
        keras_electra.export_for_serving(task, tmp_path / "a", pairs=True)
    task.preprocessor = None
    with pytest.raises(ValueError, match="needs|preprocessor=None"):
        keras_electra.export_for_serving(task, tmp_path / "b")
    with pytest.raises(ValueError, match="exports the keras_electra tasks"):
        keras_electra.export_for_serving(task.backbone, tmp_path / "c")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        keras_electra.export_for_serving(tiny_task("classifier"), tmp_path / "file")
    assert not os.path.exists(tmp_path / "a")


def test_dynamic_padding_preprocessor_serves_fixed_rows():
    """A task fine-tuned with `padding="longest"` exports with full-length
    rows (the SavedModel's core has a fixed sequence axis); the task's own
    preprocessor is left as it was."""
    task = tiny_task("classifier")
    config = task.preprocessor.get_config()
    config.update(padding="longest", pad_to_multiple_of=4)
    task.preprocessor = type(task.preprocessor).from_config(config)
    served = serving_for(task).preprocessor
    assert served.padding == "max_length"
    assert task.preprocessor.padding == "longest"
    texts = tf.constant(["good", "not bad at all"])
    short = task.preprocessor(texts)
    full = served(texts)
    length = short["token_ids"].shape[1]
    assert length < full["token_ids"].shape[1] == served.sequence_length
    for key in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(
            np.asarray(full[key])[:, :length], np.asarray(short[key]))
        assert not np.asarray(full[key])[:, length:].any()
