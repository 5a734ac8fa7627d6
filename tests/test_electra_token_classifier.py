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

from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
from keras_electra.convert.hf_heads import load_hf_tensors
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_token_classifier import ElectraTokenClassifier
from keras_electra.models.electra_token_classifier_preprocessor import (
    ElectraTokenClassifierPreprocessor,
)
from keras_electra.models.electra_tokenizer import DEFAULT_VOCABULARY_PATH
from keras_electra.models.electra_tokenizer import ElectraTokenizer

DATA = os.path.join(
    os.path.dirname(DEFAULT_VOCABULARY_PATH), "fine_foods", "train.csv"
)
WORDS = [
    ["Jane", "visited", "Reykjavík", "in", "2019."],
    ["Unaffable", "café", "owners", "don't", "smile", "", "¿no?"],
    ["一个", "test"],
    ["ok"],
]
VOCABULARY_SIZE = 30522


def hf_tokenizer():
    tokenizer = transformers.BertTokenizerFast(vocab=DEFAULT_VOCABULARY_PATH)
    # transformers 5 ignores `vocab_file=`: make sure the vocabulary is used.
    assert tokenizer.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    return tokenizer


def hf_aligned_labels(encoding, row, word_labels):
    """HF `run_ner.py` (`label_all_tokens=False`): first token of a word."""
    labels, previous = [], None
    for word in encoding.word_ids(row):
        if word is None or word == previous:
            labels.append(-100)
        else:
            labels.append(word_labels[word])
        previous = word
    return labels


def word_label(word):
    """A label that an uncased model can learn from the word alone."""
    if any(c.isdigit() for c in word):
        return 2
    if word.lower().strip(".,!?") in {"the", "a", "and", "i", "it", "to", "of"}:
        return 1
    return 0


def review_words(count, words_per_example=12):
    with open(DATA, encoding="utf-8") as f:
        reviews = [row["review"] for row in csv.DictReader(f)][:count]
    return [
        re.sub("<br />", " ", review).split()[:words_per_example]
        for review in reviews
    ]


def tiny_task(num_classes=3, sequence_length=16, **kwargs):
    backbone = ElectraBackbone(
        vocabulary_size=VOCABULARY_SIZE,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        embedding_dim=16,
        intermediate_dim=64,
        max_sequence_length=sequence_length,
    )
    preprocessor = ElectraTokenClassifierPreprocessor(
        ElectraTokenizer(), sequence_length=sequence_length
    )
    return ElectraTokenClassifier(backbone, num_classes, preprocessor, **kwargs)


def hf_task_pair(name="factorized", num_labels=5, **overrides):
    config = hf_config(name, num_labels=num_labels, **overrides)
    hf_model = random_hf_model(
        transformers.ElectraForTokenClassification, config
    )
    backbone = ElectraBackbone(
        **backbone_kwargs_from_hf_config(config.to_dict())
    )
    task = ElectraTokenClassifier(backbone, num_labels)
    load_hf_tensors(task, state_dict_numpy(hf_model))
    return hf_model, task


def numpy_logits(task, inputs):
    return keras.ops.convert_to_numpy(task(inputs))


# --- HF parity -------------------------------------------------------------


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_logits_and_loss_match_hf(name):
    hf_model, task = hf_task_pair(name)
    config = hf_model.config
    inputs = padded_batch(
        config, batch=4, length=config.max_position_embeddings
    )
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, size=inputs["token_ids"].shape)
    labels[rng.random(labels.shape) < 0.3] = -100
    labels[inputs["padding_mask"] == 0] = -100
    with torch.no_grad():
        expected = hf_model(
            **hf_forward_kwargs(inputs), labels=torch.tensor(labels)
        )
    ours = numpy_logits(task, inputs)
    assert ours.shape == tuple(expected.logits.shape)
    assert ours.dtype == np.float32
    # Padding positions too: same arithmetic, same attention mask.
    assert np.max(np.abs(ours - expected.logits.numpy())) <= 1e-5
    # The default loss over the labelled tokens is HF's loss with -100.
    loss = task.loss(
        np.maximum(labels, 0), ours, sample_weight=(labels != -100) * 1.0
    )
    np.testing.assert_allclose(float(loss), expected.loss.item(), rtol=1e-5)


@pytest.mark.backend_sensitive
def test_logits_stay_float32_under_mixed_precision():
    config = hf_config("square")
    backbone = ElectraBackbone(
        **backbone_kwargs_from_hf_config(config.to_dict()),
        dtype="mixed_bfloat16",
    )
    task = ElectraTokenClassifier(backbone, 3)
    logits = task(padded_batch(config))
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


def test_default_dropout_follows_hf_classifier_dropout():
    _, task = hf_task_pair(hidden_dropout_prob=0.2)
    assert task.dropout == 0.2
    assert task.output_dropout.rate == 0.2


# --- Preprocessing ---------------------------------------------------------


def test_preprocessor_matches_hf_word_alignment():
    sequence_length = 12
    tokenizer = hf_tokenizer()
    labels = [[i % 3 for i in range(len(words))] for words in WORDS]
    encoding = tokenizer(
        WORDS,
        is_split_into_words=True,
        truncation=True,
        max_length=sequence_length,
        padding="max_length",
    )
    preprocessor = ElectraTokenClassifierPreprocessor(
        ElectraTokenizer(), sequence_length=sequence_length
    )
    x, y, sample_weight = preprocessor(tf.ragged.constant(WORDS), labels)
    x = {k: keras.ops.convert_to_numpy(v) for k, v in x.items()}
    y, sample_weight = map(keras.ops.convert_to_numpy, (y, sample_weight))
    np.testing.assert_array_equal(x["token_ids"], encoding["input_ids"])
    np.testing.assert_array_equal(x["padding_mask"], encoding["attention_mask"])
    np.testing.assert_array_equal(x["segment_ids"], encoding["token_type_ids"])
    for row, word_labels in enumerate(labels):
        expected = np.array(hf_aligned_labels(encoding, row, word_labels))
        np.testing.assert_array_equal(sample_weight[row], expected != -100)
        kept = expected != -100
        np.testing.assert_array_equal(y[row][kept], expected[kept])


def test_preprocessor_word_positions_and_ignored_labels():
    preprocessor = ElectraTokenClassifierPreprocessor(
        ElectraTokenizer(), sequence_length=6
    )
    # "unaffable" is three tokens; "" none; "late" is cut off.
    words = [["unaffable", "", "cat", "late"]]
    _, positions = preprocessor.pack_with_word_positions(words)
    assert keras.ops.convert_to_numpy(positions).tolist() == [[1, -1, 4, -1]]
    x, y, sample_weight = preprocessor(
        words, [[2, 1, -100, 1]], sample_weight=[[0.5, 1.0, 1.0, 1.0]]
    )
    assert keras.ops.convert_to_numpy(y).tolist() == [[0, 2, 0, 0, 0, 0]]
    assert keras.ops.convert_to_numpy(sample_weight).tolist() == [
        [0.0, 0.5, 0.0, 0.0, 0.0, 0.0]
    ]
    # One unbatched example gives unbatched outputs.
    x, y, _ = preprocessor(["cat", "sat"], [1, 2])
    assert tuple(x["token_ids"].shape) == (6,)
    assert keras.ops.convert_to_numpy(y).tolist() == [0, 1, 2, 0, 0, 0]


def test_preprocessor_in_tf_data_matches_eager():
    preprocessor = ElectraTokenClassifierPreprocessor(
        ElectraTokenizer(), sequence_length=10
    )
    labels = [[i % 3 for i in range(len(words))] for words in WORDS]
    ds = tf.data.Dataset.from_tensor_slices(
        (tf.ragged.constant(WORDS), tf.ragged.constant(labels))
    )
    graph = next(iter(ds.batch(4).map(preprocessor)))
    eager = preprocessor(tf.ragged.constant(WORDS), labels)
    for ours, theirs in zip(tf.nest.flatten(graph), tf.nest.flatten(eager)):
        np.testing.assert_array_equal(
            np.asarray(ours), keras.ops.convert_to_numpy(theirs)
        )


# --- predict_words ---------------------------------------------------------


@pytest.mark.backend_sensitive
def test_predict_words_matches_hf_first_token_argmax():
    hf_model, task = hf_task_pair(
        num_labels=4, vocab_size=VOCABULARY_SIZE, max_position_embeddings=32
    )
    task.preprocessor = ElectraTokenClassifierPreprocessor(
        ElectraTokenizer(), sequence_length=32
    )
    tokenizer = hf_tokenizer()
    encoding = tokenizer(
        WORDS, is_split_into_words=True, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        logits = hf_model(**encoding).logits.numpy()
    names = ["O", "PER", "LOC", "MISC"]
    predicted = task.predict_words(WORDS, label_names=names)
    for row, words in enumerate(WORDS):
        word_ids = encoding.word_ids(row)
        expected = []
        for word in range(len(words)):
            if word not in word_ids:
                expected.append(None)  # "" has no token.
                continue
            position = word_ids.index(word)
            expected.append(names[int(np.argmax(logits[row, position]))])
        assert predicted[row] == expected
    # Text is split on whitespace; one string gives one list.
    assert (
        task.predict_words(" ".join(WORDS[0]), label_names=names)
        == (predicted[0])
    )


# --- Training --------------------------------------------------------------


def labelled_loss(task, words, labels):
    """The compiled loss on all examples at once (no dataset, no tracing)."""
    x, y, sample_weight = task.preprocessor(words, labels)
    return float(task.loss(y, task(x), sample_weight))


@pytest.mark.backend_sensitive
def test_fit_on_words_lowers_the_loss():
    keras.utils.set_random_seed(0)
    words = review_words(32)
    labels = [[word_label(w) for w in example] for example in words]
    task = tiny_task()
    task.compile(optimizer=keras.optimizers.Adam(2e-3))
    before = labelled_loss(task, words, labels)
    history = task.fit(words, labels, batch_size=8, epochs=4, verbose=0)
    after = labelled_loss(task, words, labels)
    print(
        f"loss {before:.4f} -> {after:.4f}; token accuracy in the last "
        f"epoch {history.history['accuracy'][-1]:.3f}"
    )
    assert after < 0.7 * before
    assert history.history["accuracy"][-1] > 0.7


# --- Saving ----------------------------------------------------------------


@pytest.mark.backend_sensitive
def test_keras_file_and_preset_round_trips(tmp_path):
    keras.utils.set_random_seed(1)
    task = tiny_task(label_names=["word", "stop", "number"])
    words = review_words(4, words_per_example=6)

    def logits(model):
        # Each model packs the words with its own (restored) preprocessor.
        return keras.ops.convert_to_numpy(model(model.preprocessor(words)))

    expected = logits(task)
    expected_words = task.predict_words(words)
    assert {label for row in expected_words for label in row} <= {
        "word",
        "stop",
        "number",
    }

    path = str(tmp_path / "tagger.keras")
    task.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ElectraTokenClassifier)
    np.testing.assert_array_equal(logits(restored), expected)
    assert restored.predict_words(words) == expected_words

    preset = str(tmp_path / "preset")
    task.save_to_preset(preset)
    restored = ElectraTokenClassifier.from_preset(preset)
    np.testing.assert_array_equal(logits(restored), expected)
    assert restored.label_names == ["word", "stop", "number"]
    assert restored.preprocessor.sequence_length == 16

    # A fresh head of another size on the preset's backbone.
    fresh = ElectraTokenClassifier.from_preset(preset, num_classes=5)
    assert fresh.num_classes == 5 and fresh.label_names is None
    assert logits(fresh).shape == expected.shape[:2] + (5,)
    for ours, theirs in zip(fresh.backbone.weights, task.backbone.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs)
        )


# --- Errors ----------------------------------------------------------------


def test_labels_out_of_range_are_rejected():
    task = tiny_task()
    words = [["a", "b"], ["c"]]
    with pytest.raises(ValueError, match=r"\[0, num_classes=3\)"):
        task.fit(words, [[0, 3], [1]], verbose=0)
    with pytest.raises(ValueError, match=r"\[0, num_classes=3\)"):
        task.preprocess_samples(tf.ragged.constant(words), [[0, 7], [1]])
    with pytest.raises(ValueError, match="negative label"):
        task.preprocessor(words, [[0, -2], [1]])
    # Inside tf.data (where `fit` maps `preprocess_samples`) the same check
    # fails the step.
    ds = (
        tf.data.Dataset.from_tensor_slices(
            (tf.ragged.constant(words), tf.ragged.constant([[0, 4], [1]]))
        )
        .batch(2)
        .map(task.preprocess_samples)
    )
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"\[0, num_classes=3\)"
    ):
        list(ds)


def test_bad_inputs_are_rejected():
    task = tiny_task()
    preprocessor = task.preprocessor
    with pytest.raises(ValueError, match="one value per word"):
        preprocessor([["a", "b"], ["c"]], [[0], [1]])
    with pytest.raises(ValueError, match="words as strings"):
        preprocessor([[1, 2]])
    with pytest.raises(ValueError, match="rank 3"):
        preprocessor(tf.constant([[["a"]]]))
    with pytest.raises(ValueError, match="without labels"):
        preprocessor([["a"]], sample_weight=[[1.0]])
    with pytest.raises(ValueError, match="list of word lists"):
        task.predict_words(3)
    with pytest.raises(ValueError, match="expected num_classes=3"):
        task.predict_words("a b", label_names=["x"])
    with pytest.raises(ValueError, match="positive int"):
        tiny_task(num_classes=0)
    with pytest.raises(ValueError, match="list of 3 strings"):
        tiny_task(label_names=["a", "b"])
