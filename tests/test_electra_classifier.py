import csv
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers
from hf_reference import TINY_CONFIGS
from hf_reference import hf_config
from hf_reference import hf_forward_kwargs
from hf_reference import keras_backbone_from_hf
from hf_reference import padded_batch
from hf_reference import random_hf_model
from hf_reference import state_dict_numpy
from quick_compile import QUICK_JIT

import keras_electra
from keras_electra.convert.hf_heads import load_hf_tensors
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_classifier import ElectraClassifier
from keras_electra.models.electra_classifier_preprocessor import (
    ElectraClassifierPreprocessor,
)
from keras_electra.models.electra_tokenizer import DEFAULT_VOCABULARY_PATH
from keras_electra.models.electra_tokenizer import ElectraTokenizer
from keras_electra.optimizers import LayerwiseDecayAdamW

DATA_DIR = os.path.join(os.path.dirname(keras_electra.__file__), "data")
VOCAB_SIZE = 30522


def hf_tokenizer():
    # `vocab=`, not `vocab_file=` (ignored by transformers 5, see DESIGN.md).
    tokenizer = transformers.BertTokenizerFast(vocab=DEFAULT_VOCABULARY_PATH)
    assert tokenizer("the cat sat").input_ids == [101, 1996, 4937, 2938, 102]
    return tokenizer


def tiny_backbone(**overrides):
    kwargs = dict(
        vocabulary_size=VOCAB_SIZE, num_layers=2, num_heads=2, hidden_dim=32,
        embedding_dim=16, intermediate_dim=64, max_sequence_length=64,
    )
    return ElectraBackbone(**{**kwargs, **overrides})


def tiny_classifier(num_classes=2, sequence_length=16, **kwargs):
    keras.utils.set_random_seed(0)
    preprocessor = ElectraClassifierPreprocessor(
        ElectraTokenizer(), sequence_length=sequence_length
    )
    return ElectraClassifier(
        tiny_backbone(), num_classes=num_classes, preprocessor=preprocessor,
        **kwargs,
    )


SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def small_vocab_classifier(words, num_classes, **kwargs):
    """A classifier over a few words: quick to build, trace and train."""
    keras.utils.set_random_seed(0)
    tokenizer = ElectraTokenizer(vocabulary=SPECIAL_TOKENS + list(words))
    preprocessor = ElectraClassifierPreprocessor(tokenizer, sequence_length=8)
    backbone = tiny_backbone(
        vocabulary_size=len(SPECIAL_TOKENS) + len(words),
        max_sequence_length=8,
        dropout=0.0,
    )
    return ElectraClassifier(
        backbone, num_classes=num_classes, preprocessor=preprocessor,
        dropout=0.0, **kwargs,
    )


def fine_food_reviews(count):
    path = os.path.join(DATA_DIR, "fine_foods", "train.csv")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:count]
    texts = np.array([row["review"] for row in rows])
    labels = np.array([int(row["score"] == "great") for row in rows], "int32")
    return texts, labels


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


# ---------------------------------------------------------------------------
# HF parity.
# ---------------------------------------------------------------------------


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("num_labels", [1, 3])
@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_matches_hf_sequence_classification(name, num_labels):
    config = hf_config(name, num_labels=num_labels)
    hf_model = random_hf_model(
        transformers.ElectraForSequenceClassification, config
    )
    problem_type = "regression" if num_labels == 1 else (
        "single_label_classification"
    )
    classifier = ElectraClassifier(
        keras_backbone_from_hf(hf_model), num_labels, problem_type=problem_type
    )
    load_hf_tensors(classifier, state_dict_numpy(hf_model))
    # Padded rows of several lengths, with segment 1 in the second half.
    length = config.max_position_embeddings
    inputs = padded_batch(config, batch=4, length=length)
    with torch.no_grad():
        expected = hf_model(**hf_forward_kwargs(inputs)).logits.numpy()
    ours = to_numpy(classifier(inputs))
    assert ours.shape == expected.shape == (4, num_labels)
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours - expected)) <= 1e-5


@pytest.mark.backend_sensitive
def test_raw_string_pairs_match_hf_tokenizer_and_model():
    config = transformers.ElectraConfig(
        **{**TINY_CONFIGS["factorized"], "vocab_size": VOCAB_SIZE,
           "max_position_embeddings": 32},
        num_labels=3,
    )
    hf_model = random_hf_model(
        transformers.ElectraForSequenceClassification, config
    )
    classifier = ElectraClassifier(
        keras_backbone_from_hf(hf_model),
        num_classes=3,
        preprocessor=ElectraClassifierPreprocessor(
            ElectraTokenizer(), sequence_length=16
        ),
    )
    load_hf_tensors(classifier, state_dict_numpy(hf_model))
    first = np.array([
        "The quick brown fox jumped over the lazy dog near the river bank.",
        "Short one.",
        "Is this café's crème brûlée any good?",
        "a b c d e f g h i j",
    ])
    second = np.array([
        "It did.",
        "A much longer second sentence that will certainly be truncated.",
        "Yes, très bon!",
        "k l m n o p q r s t",
    ])
    encoded = hf_tokenizer()(
        list(first), list(second), padding="max_length", truncation=True,
        max_length=16, return_tensors="pt",
    )
    with torch.no_grad():
        expected = hf_model(**encoded).logits.numpy()
    ours = classifier.predict((first, second), batch_size=4, verbose=0)
    assert np.max(np.abs(ours - expected)) <= 1e-5


@pytest.mark.parametrize(
    "first_words, second_words, length",
    [
        (10, 10, 8),  # Both cut, odd space: HF gives the extra to the second.
        (10, 10, 9),
        (11, 10, 8),  # Both cut: the longer (first) gets the extra.
        (10, 11, 8),
        (10, 2, 8),  # Only the longer is cut.
        (2, 10, 8),
        (3, 3, 8),
        (7, 6, 12),
        (2, 2, 12),  # Fits.
        (0, 3, 8),
    ],
)
def test_pair_packing_and_truncation_match_hf(
    first_words, second_words, length
):
    first = " ".join(["apple"] * first_words)
    second = " ".join(["banana"] * second_words)
    expected = hf_tokenizer()(
        first, second, padding="max_length", truncation=True, max_length=length
    )
    preprocessor = ElectraClassifierPreprocessor(
        ElectraTokenizer(), sequence_length=length
    )
    batched = preprocessor(x=([first, "x"], [second, "y"]))
    single = preprocessor(x=(first, second))
    for x in ({k: to_numpy(v)[0] for k, v in batched.items()}, single):
        assert to_numpy(x["token_ids"]).tolist() == expected.input_ids
        assert to_numpy(x["segment_ids"]).tolist() == expected.token_type_ids
        mask = to_numpy(x["padding_mask"]).astype(int).tolist()
        assert mask == expected.attention_mask


def test_single_sentences_match_hf_tokenizer_in_tf_data():
    texts = ["The fox jumped.", "A review " * 20, "Ünïcödé and CJK 中文!"]
    expected = hf_tokenizer()(
        texts, padding="max_length", truncation=True, max_length=12
    )
    preprocessor = ElectraClassifierPreprocessor(
        ElectraTokenizer(), sequence_length=12
    )
    ds = tf.data.Dataset.from_tensor_slices((texts, [0, 1, 0])).batch(3)
    x, y = next(iter(ds.map(preprocessor)))
    assert x["token_ids"].numpy().tolist() == expected.input_ids
    assert x["segment_ids"].numpy().tolist() == expected.token_type_ids
    assert y.numpy().tolist() == [0, 1, 0]


# ---------------------------------------------------------------------------
# Training.
# ---------------------------------------------------------------------------


@pytest.mark.backend_sensitive
def test_fit_on_raw_reviews_lowers_loss():
    texts, labels = fine_food_reviews(320)
    classifier = tiny_classifier(num_classes=2, sequence_length=64)
    # XLA compilation of the step would triple the time of this test on TF.
    classifier.compile(
        optimizer=LayerwiseDecayAdamW(1e-3, layer_decay=0.8),
        metrics=["sparse_categorical_accuracy"],
        jit_compile=QUICK_JIT,
    )
    before = classifier.evaluate(texts, labels, batch_size=64, verbose=0)[0]
    classifier.fit(texts, labels, batch_size=32, epochs=2, verbose=0)
    after = classifier.evaluate(texts, labels, batch_size=64, verbose=0)[0]
    assert after < before - 0.02, (before, after)


def integer_inputs(classifier, texts):
    """Preprocess once, eagerly, and detach the preprocessor (fast fits)."""
    x = classifier.preprocessor(texts)
    classifier.preprocessor = None
    return {k: to_numpy(v).astype("int32") for k, v in x.items()}


@pytest.mark.backend_sensitive
def test_regression_trains():
    rng = np.random.default_rng(0)
    words = ["good", "bad", "fine", "great", "awful", "tasty"]
    texts = [" ".join(rng.choice(words, size=6)) for _ in range(32)]
    # Target: the share of "good" among the words (learnable from tokens).
    targets = np.array(
        [t.split().count("good") / 6 for t in texts], "float32"
    )
    classifier = small_vocab_classifier(
        words, num_classes=1, problem_type="regression"
    )
    x = integer_inputs(classifier, texts)
    classifier.compile(
        optimizer=keras.optimizers.Adam(3e-3), jit_compile=QUICK_JIT
    )
    before = classifier.evaluate(x, targets, verbose=0)[0]
    classifier.fit(x, targets, batch_size=8, epochs=3, verbose=0)
    after = classifier.evaluate(x, targets, verbose=0)[0]
    assert isinstance(classifier.loss, keras.losses.MeanSquaredError)
    assert classifier.predict(x, verbose=0).shape == (32, 1)
    assert after < 0.7 * before, (before, after)


@pytest.mark.backend_sensitive
def test_multi_label_trains_on_multi_hot_labels():
    rng = np.random.default_rng(0)
    topics = ["sweet", "salty", "spicy"]
    # Each topic on its own frequency, so that every label has to be
    # learned by its own sigmoid.
    frequencies = np.array([0.9, 0.5, 0.1])
    texts, labels = [], []
    for _ in range(32):
        present = rng.random(3) < frequencies
        words = [t for t, p in zip(topics, present) if p] + ["food"]
        texts.append(" ".join(rng.permutation(words)))
        labels.append(present.astype("float32"))
    labels = np.stack(labels)
    classifier = small_vocab_classifier(
        topics + ["food"], num_classes=3,
        problem_type="multi_label_classification",
    )
    x = integer_inputs(classifier, texts)
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-2), jit_compile=QUICK_JIT
    )
    before = classifier.evaluate(x, labels, verbose=0)
    classifier.fit(x, labels, batch_size=8, epochs=3, verbose=0)
    after = classifier.evaluate(x, labels, verbose=0)
    assert isinstance(classifier.loss, keras.losses.BinaryCrossentropy)
    assert after[0] < before[0] - 0.1, (before, after)
    probabilities = 1 / (1 + np.exp(-classifier.predict(x, verbose=0)))
    mean = probabilities.mean(axis=0)
    assert mean[0] > mean[1] > mean[2], mean


def test_default_compile_per_problem_type():
    single = tiny_classifier(num_classes=3)
    assert isinstance(single.loss, keras.losses.SparseCategoricalCrossentropy)
    assert single.loss.from_logits
    assert isinstance(single.optimizer, LayerwiseDecayAdamW)
    assert np.isclose(float(to_numpy(single.optimizer.learning_rate)), 5e-5)
    softmax = tiny_classifier(num_classes=3, activation="softmax")
    assert not softmax.loss.from_logits
    regression = tiny_classifier(num_classes=1, problem_type="regression")
    assert isinstance(regression.loss, keras.losses.MeanSquaredError)
    multi = tiny_classifier(
        num_classes=3, problem_type="multi_label_classification"
    )
    assert isinstance(multi.loss, keras.losses.BinaryCrossentropy)
    assert multi.loss.from_logits


@pytest.mark.backend_sensitive
def test_logits_stay_float32_under_mixed_precision():
    backbone = tiny_backbone(dtype="mixed_bfloat16")
    classifier = ElectraClassifier(backbone, num_classes=3)
    inputs = {
        "token_ids": np.array([[101, 2000, 2001, 102, 0]], "int32"),
        "segment_ids": np.zeros((1, 5), "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 0]], "int32"),
    }
    logits = classifier(inputs)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert classifier.classifier_head.dense.compute_dtype == "bfloat16"


# ---------------------------------------------------------------------------
# Saving.
# ---------------------------------------------------------------------------


def assert_same_outputs(model, restored, texts):
    x = model.preprocessor(texts)
    x_restored = restored.preprocessor(texts)
    for key in x:
        np.testing.assert_array_equal(
            to_numpy(x[key]), to_numpy(x_restored[key])
        )
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(restored(x)))


@pytest.mark.backend_sensitive
def test_keras_file_round_trip_with_optimizer(tmp_path):
    classifier = tiny_classifier(num_classes=3, label_names=["a", "b", "c"])
    classifier.compile(
        optimizer=LayerwiseDecayAdamW(1e-3, layer_decay=0.8),
        jit_compile=QUICK_JIT,
    )
    texts = np.array(["Great taste!", "Stale and bland.", "It is fine."])
    classifier.fit(texts, np.array([0, 1, 2]), batch_size=3, verbose=0)
    path = str(tmp_path / "classifier.keras")
    classifier.save(path)
    keras.utils.set_random_seed(123)  # A re-initialised weight would differ.
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ElectraClassifier)
    assert restored.label_names == ["a", "b", "c"]
    assert_same_outputs(classifier, restored, texts)
    assert isinstance(restored.optimizer, LayerwiseDecayAdamW)
    assert restored.optimizer.get_config() == classifier.optimizer.get_config()
    assert int(to_numpy(restored.optimizer.iterations)) == 1
    assert len(restored.optimizer.variables) == len(
        classifier.optimizer.variables
    )
    for ours, theirs in zip(
        classifier.optimizer.variables, restored.optimizer.variables
    ):
        np.testing.assert_array_equal(to_numpy(ours), to_numpy(theirs))


@pytest.mark.backend_sensitive
def test_preset_round_trip_and_fresh_head(tmp_path):
    classifier = tiny_classifier(
        num_classes=2, label_names=["other", "great"]
    )
    texts = np.array(["Great taste!", "Stale and bland."])
    preset = str(tmp_path / "preset")
    classifier.save_to_preset(preset)

    keras.utils.set_random_seed(123)  # A re-initialised weight would differ.
    restored = ElectraClassifier.from_preset(preset)
    assert restored.label_names == ["other", "great"]
    assert restored.preprocessor.sequence_length == 16
    assert_same_outputs(classifier, restored, texts)
    np.testing.assert_allclose(
        classifier.predict(texts, verbose=0),
        restored.predict(texts, verbose=0),
        rtol=0, atol=0,
    )

    fresh = ElectraClassifier.from_preset(preset, num_classes=4)
    assert fresh.num_classes == 4
    assert fresh.label_names is None
    assert to_numpy(fresh(fresh.preprocessor(texts))).shape == (2, 4)
    for ours, theirs in zip(
        classifier.backbone.weights, fresh.backbone.weights
    ):
        np.testing.assert_array_equal(to_numpy(ours), to_numpy(theirs))
    # The fresh head is newly initialised, not the saved one.
    saved = to_numpy(classifier.classifier_head.dense.kernel)
    new = to_numpy(fresh.classifier_head.dense.kernel)
    assert saved.shape == new.shape and not np.allclose(saved, new)


def test_config_round_trip():
    classifier = tiny_classifier(
        num_classes=3, problem_type="multi_label_classification",
        label_names=["x", "y", "z"], dropout=0.2,
    )
    config = classifier.get_config()
    assert config["problem_type"] == "multi_label_classification"
    assert config["label_names"] == ["x", "y", "z"]
    clone = ElectraClassifier.from_config(config)
    assert clone.problem_type == "multi_label_classification"
    assert clone.classifier_head.dropout == 0.2


# ---------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------


def test_out_of_range_labels_raise_clear_error():
    classifier = tiny_classifier(num_classes=3)
    texts = np.array(["a", "b"])
    expected = r"labels in \[0, 3\); found labels in \[0, 3\]"
    with pytest.raises(ValueError, match=expected):
        classifier.fit(texts, np.array([0, 3]), verbose=0)
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        classifier.evaluate(texts, np.array([-1, 0]), verbose=0)
    with pytest.raises(ValueError, match="integer class labels"):
        classifier.fit(texts, np.array([0.5, 1.0]), verbose=0)


def test_out_of_range_labels_in_a_dataset_raise_clear_error():
    # Labels in a dataset are checked inside tf.data, at iteration.
    classifier = ElectraClassifier(tiny_backbone(), num_classes=3)
    classifier.compile(jit_compile=QUICK_JIT)
    x = {
        "token_ids": np.array([[101, 7592, 102], [101, 2088, 102]], "int32"),
        "segment_ids": np.zeros((2, 3), "int32"),
        "padding_mask": np.ones((2, 3), "int32"),
    }
    ds = tf.data.Dataset.from_tensor_slices((x, [1, 5])).batch(2)
    with pytest.raises(Exception, match=r"expects integer labels in \[0, 3\)"):
        classifier.fit(ds, verbose=0)


def test_non_string_input_raises_clear_error():
    classifier = tiny_classifier(num_classes=2)
    with pytest.raises(ValueError, match="must be a non-empty batch of str"):
        classifier.predict(np.array([1, 2]), verbose=0)
    with pytest.raises(ValueError, match="expects strings"):
        classifier.preprocessor([1, 2])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_classes=2, problem_type="ranking"), "problem_type"),
        (dict(num_classes=3, problem_type="regression"), "must be 1"),
        (dict(num_classes=0), "positive int"),
        (dict(num_classes=2, label_names=["only_one"]), "list of 2 strings"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ElectraClassifier(tiny_backbone(), **kwargs)


def test_bad_truncate_raises():
    with pytest.raises(ValueError, match="longest_first"):
        ElectraClassifierPreprocessor(ElectraTokenizer(), truncate="middle")


def test_classify_returns_hf_pipeline_shapes_labels_and_scores():
    classifier = tiny_classifier(num_classes=3)
    logits = classifier.predict(["Great.", "Bad."], verbose=0)
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)

    # As HF's pipeline: a list of {label, score} even for one string.
    [one] = classifier.classify("Great.")
    assert set(one) == {"label", "score"}
    assert one["label"] == f"LABEL_{probabilities[0].argmax()}"
    assert one["score"] == pytest.approx(probabilities[0].max(), abs=1e-6)
    both = classifier.classify(["Great.", "Bad."])
    assert [r["label"] for r in both] == [
        f"LABEL_{i}" for i in probabilities.argmax(-1)]

    every = classifier.classify("Great.", top_k=None)
    assert [r["label"] for r in every] == [
        f"LABEL_{i}" for i in np.argsort(-probabilities[0])]
    assert sum(r["score"] for r in every) == pytest.approx(1.0)
    two = classifier.classify(["Great.", "Bad."], top_k=2)
    assert [len(r) for r in two] == [2, 2]
    assert two[1][0]["score"] >= two[1][1]["score"]

    classifier.label_names = ["bad", "meh", "good"]
    assert classifier.classify("Great.")[0]["label"] == ["bad", "meh", "good"][
        probabilities[0].argmax()]
    with pytest.raises(ValueError, match="`top_k` must be a positive int"):
        classifier.classify("Great.", top_k=0)
    with pytest.raises(ValueError, match="one string per text; received 1"):
        classifier.classify(["a", "b"], text_pair=["c"])
    with pytest.raises(TypeError, match="classify\\(\\) expects a string"):
        classifier.classify(3)


@pytest.mark.parametrize(
    "problem_type, num_classes",
    [("multi_label_classification", 3), ("regression", 1)])
def test_classify_scores_follow_problem_type(problem_type, num_classes):
    classifier = tiny_classifier(num_classes=num_classes,
                                 problem_type=problem_type)
    outputs = classifier.predict(["Great."], verbose=0)[0]
    ranked = classifier.classify("Great.", top_k=None)
    expected = (outputs if problem_type == "regression"
                else 1 / (1 + np.exp(-outputs)))
    np.testing.assert_allclose(sorted(r["score"] for r in ranked),
                               np.sort(expected), atol=1e-6)
