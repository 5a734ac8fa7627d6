"""`padding="longest"`: each batch padded only to its longest row (HF's
`padding="longest"`), with the same numbers as `padding="max_length"`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_electra import ElectraBackbone
from keras_electra import ElectraClassifier
from keras_electra import ElectraClassifierPreprocessor
from keras_electra import ElectraDiscriminatorPreprocessor
from keras_electra import ElectraMaskedLMPreprocessor
from keras_electra import ElectraMultipleChoicePreprocessor
from keras_electra import ElectraQuestionAnswererPreprocessor
from keras_electra import ElectraTokenClassifierPreprocessor
from keras_electra import ElectraTokenizer
from keras_electra.models.shuffled_fit import in_memory_dataset

SEQUENCE_LENGTH = 20
# "the" is one word piece, so n of them pack to n + 2 tokens: 3, 11 and 32,
# which "longest" with multiples of 8 pads to 8, 16 and 20 (cut at 20).
TEXTS = ["the", "the " * 9, "the " * 30]
EXPECTED_LENGTHS = [8, 16, 20]


@pytest.fixture(scope="module")
def tokenizer():
    tokenizer = ElectraTokenizer()
    assert [len(tokenizer(t)) for t in TEXTS] == [1, 9, 30]
    return tokenizer


def longest(cls, tokenizer, **kwargs):
    return cls(tokenizer, sequence_length=SEQUENCE_LENGTH, padding="longest",
               pad_to_multiple_of=8, **kwargs)


def fixed(cls, tokenizer, **kwargs):
    return cls(tokenizer, sequence_length=SEQUENCE_LENGTH, **kwargs)


def tiny_classifier(tokenizer):
    keras.utils.set_random_seed(0)
    backbone = ElectraBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1,
        num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=SEQUENCE_LENGTH)
    return ElectraClassifier(
        backbone, num_classes=3,
        preprocessor=fixed(ElectraClassifierPreprocessor, tokenizer))


def test_batches_of_a_dataset_pad_to_multiples_of_their_longest_row(
        tokenizer):
    preprocessor = longest(ElectraClassifierPreprocessor, tokenizer)
    batches = tf.data.Dataset.from_tensor_slices(TEXTS).batch(1).map(
        preprocessor)
    for batch, length in zip(batches, EXPECTED_LENGTHS):
        assert {key: tuple(value.shape) for key, value in batch.items()} == {
            "token_ids": (1, length),
            "segment_ids": (1, length),
            "padding_mask": (1, length),
        }
    together = preprocessor(TEXTS)  # Eagerly: the longest row of all.
    assert tuple(together["token_ids"].shape) == (3, SEQUENCE_LENGTH)


def test_predictions_equal_those_of_fixed_padding(tokenizer):
    classifier = tiny_classifier(tokenizer)
    texts = TEXTS + ["Hello, world!", "a b", "the " * 5]
    expected = classifier.predict(texts, batch_size=2, verbose=0)
    classifier.preprocessor = longest(ElectraClassifierPreprocessor,
                                      tokenizer)
    found = classifier.predict(texts, batch_size=2, verbose=0)
    assert found.shape == expected.shape == (6, 3)
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-5)


def test_fit_trains_on_dynamically_padded_batches(tokenizer):
    classifier = tiny_classifier(tokenizer)
    classifier.preprocessor = longest(ElectraClassifierPreprocessor,
                                      tokenizer)
    before = [w.numpy().copy() for w in classifier.trainable_weights]
    history = classifier.fit(TEXTS, np.array([0, 1, 2]), batch_size=1,
                             epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = classifier.trainable_weights
    assert any(not np.array_equal(b, a.numpy()) for b, a in
               zip(before, after))


def test_config_round_trip_keeps_the_padding(tokenizer):
    preprocessor = longest(ElectraClassifierPreprocessor, tokenizer)
    config = preprocessor.get_config()
    assert config["padding"] == "longest"
    assert config["pad_to_multiple_of"] == 8
    restored = ElectraClassifierPreprocessor.from_config(config)
    assert (restored.padding, restored.pad_to_multiple_of) == ("longest", 8)
    assert tuple(restored(TEXTS[:1])["token_ids"].shape) == (1, 8)
    default = fixed(ElectraClassifierPreprocessor, tokenizer).get_config()
    assert (default["padding"], default["pad_to_multiple_of"]) == (
        "max_length", None)


def test_labels_and_weights_are_cut_with_the_tokens(tokenizer):
    # 9 + 2 tokens and 1 + 2: padded to 16.
    labels = [[1, 0, 2, 0, 1, 0, 2, 0, 1], [1]]
    cases = (
        (ElectraTokenClassifierPreprocessor, [["the"] * 9, ["the"]]),
        (ElectraDiscriminatorPreprocessor, [TEXTS[1], TEXTS[0]]),
    )
    for cls, x in cases:
        y = [[v % 2 for v in row] for row in labels] if (
            cls is ElectraDiscriminatorPreprocessor) else labels
        full = fixed(cls, tokenizer)(x, y)
        cut = longest(cls, tokenizer)(x, y)
        assert len(tf.nest.flatten(cut)) == 5  # x (3), y, sample_weight.
        for full_part, cut_part in zip(tf.nest.flatten(full),
                                       tf.nest.flatten(cut)):
            full_part = keras.ops.convert_to_numpy(full_part)
            cut_part = keras.ops.convert_to_numpy(cut_part)
            assert cut_part.shape == (2, 16)
            np.testing.assert_array_equal(cut_part, full_part[:, :16])
            assert not full_part[:, 16:].any()  # Only padding is cut.


def test_windows_and_choices_are_cut_too(tokenizer):
    answerer = longest(ElectraQuestionAnswererPreprocessor, tokenizer,
                       doc_stride=2)
    x, windows = answerer.pack_windows((["Where?"], ["On the mat."]))
    # [CLS] where ? [SEP] on the mat . [SEP]: 9 tokens.
    assert tuple(x["token_ids"].shape) == (1, 16)
    assert tuple(windows["token_starts"].shape) == (1, 16)
    chooser = longest(ElectraMultipleChoicePreprocessor, tokenizer)
    x = chooser(x=(["The sky is"], [["blue.", "green."]]))
    assert tuple(x["token_ids"].shape) == (1, 2, 8)


def test_one_example_alone_is_refused_with_longest(tokenizer):
    assert tuple(fixed(ElectraClassifierPreprocessor, tokenizer)(
        "the")["token_ids"].shape) == (SEQUENCE_LENGTH,)
    with pytest.raises(ValueError, match="takes batches"):
        longest(ElectraClassifierPreprocessor, tokenizer)("the")
    with pytest.raises(ValueError, match="takes batches"):
        longest(ElectraTokenClassifierPreprocessor, tokenizer)(["the"])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"padding": "shortest"}, "padding"),
        ({"padding": True}, "padding"),
        ({"pad_to_multiple_of": 0}, "pad_to_multiple_of"),
        ({"pad_to_multiple_of": -8}, "pad_to_multiple_of"),
        ({"pad_to_multiple_of": 2.5}, "pad_to_multiple_of"),
        ({"pad_to_multiple_of": True}, "pad_to_multiple_of"),
    ],
)
def test_bad_padding_arguments_are_refused(tokenizer, kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}` must be"):
        ElectraClassifierPreprocessor(tokenizer, **kwargs)


def test_task_from_preset_passes_the_padding_on():
    classifier = ElectraClassifier.from_preset(
        "electra_tiny_uncased_en", num_classes=2, padding="longest",
        pad_to_multiple_of=8)
    preprocessor = classifier.preprocessor
    assert (preprocessor.padding, preprocessor.pad_to_multiple_of) == (
        "longest", 8)
    with pytest.raises(ValueError, match="not both"):
        ElectraClassifier.from_preset(
            "electra_tiny_uncased_en", num_classes=2, padding="longest",
            preprocessor=preprocessor)


def test_predict_sorts_texts_by_length_and_returns_them_in_order(
        tokenizer):
    classifier = tiny_classifier(tokenizer)
    texts = ["the " * 30, "a b", "the " * 9, "Hello, world!", "the",
             "the " * 18]
    expected = classifier.predict(texts, batch_size=2, verbose=0)
    pairs = (texts, texts[::-1])
    expected_pairs = classifier.predict(pairs, batch_size=2, verbose=0)
    assert classifier._length_order(texts) is None  # "max_length"
    classifier.preprocessor = longest(ElectraClassifierPreprocessor,
                                      tokenizer)
    # Batches of 2 hold texts of similar length: (a b, the), (Hello, the x 9),
    # (the x 18, the x 30); the outputs come back in the given order.
    assert list(classifier._length_order(texts)) == [1, 4, 3, 2, 5, 0]
    found = classifier.predict(texts, batch_size=2, verbose=0)
    found_pairs = classifier.predict(pairs, batch_size=2, verbose=0)
    # The tiny model's logits are ~1e-4 and differ between texts by ~1e-6:
    # compare relative to size, tightly enough that rows in the sorted order
    # (not given back in order) would not pass.
    close = dict(rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(found, expected, **close)
    np.testing.assert_allclose(found_pairs, expected_pairs, **close)
    order = classifier._length_order(texts)
    assert not np.allclose(found[order], expected, **close)


def test_group_by_length_sorts_each_run_of_50_batches_longest_first():
    # 60 texts of distinct lengths, batches of 1: a run of 50, then 10.
    texts = ["x" * n for n in range(1, 61)]
    labels = [n % 3 for n in range(1, 61)]
    dataset = in_memory_dataset(texts, labels, batch_size=1, shuffle=True,
                                lengths=[len(t) for t in texts])
    assert int(dataset.cardinality()) == 60
    epochs = []
    for _ in range(2):
        seen = [(x.numpy()[0].decode(), int(y.numpy()[0]))
                for x, y in dataset]
        assert all(label == len(text) % 3 for text, label in seen)
        assert sorted(text for text, _ in seen) == sorted(texts)
        lengths = [len(text) for text, _ in seen]
        assert lengths[:50] == sorted(lengths[:50], reverse=True)
        assert lengths[50:] == sorted(lengths[50:], reverse=True)
        epochs.append(set(lengths[:50]))
    # Shuffled anew each epoch: the same 50 of 60 twice has odds 1/C(60, 10).
    assert epochs[0] != epochs[1]


def test_fit_group_by_length_trains_and_refuses_what_it_cannot_group(
        tokenizer):
    classifier = tiny_classifier(tokenizer)
    texts = ["the " * n for n in (30, 1, 9, 2, 18, 3)]
    labels = [0, 1, 2, 0, 1, 2]
    with pytest.raises(ValueError, match="padding='max_length'"):
        classifier.fit(texts, labels, group_by_length=True)
    classifier.preprocessor = longest(ElectraClassifierPreprocessor,
                                      tokenizer)
    history = classifier.fit(texts, labels, batch_size=2, epochs=1,
                             group_by_length=True, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    dataset = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(2)
    with pytest.raises(ValueError, match="bucket_by_sequence_length"):
        classifier.fit(dataset, group_by_length=True)
    with pytest.raises(ValueError, match="needs raw texts"):
        classifier.fit({"token_ids": np.ones((2, 4), "int32")}, [0, 1],
                       group_by_length=True)
    # A preprocessor without the option (the masked LM's) says so.
    classifier.preprocessor = ElectraMaskedLMPreprocessor(
        tokenizer, sequence_length=SEQUENCE_LENGTH)
    with pytest.raises(ValueError, match="has no `padding='longest'`"):
        classifier.fit(texts, labels, group_by_length=True)


PAIR_TEXTS = (["Café au lait, please.", "the " * 12, "[MASK] is here"],
              ["Two words", "x", "the " * 25])


def test_ragged_token_ids_pack_as_the_strings_do(tokenizer):
    ids = tokenizer.ragged_token_ids(TEXTS + ["", "Café"], chunk_size=2)
    assert ids.to_list() == tokenizer(TEXTS + ["", "Café"])
    assert tokenizer.ragged_token_ids([]).to_list() == []
    for preprocessor in (
        fixed(ElectraClassifierPreprocessor, tokenizer),
        longest(ElectraClassifierPreprocessor, tokenizer),
    ):
        for texts in (TEXTS, PAIR_TEXTS):
            parts = texts if isinstance(texts, tuple) else (texts,)
            tokens = tuple(tokenizer.ragged_token_ids(p) for p in parts)
            found = preprocessor(x=tokens if len(tokens) > 1 else tokens[0])
            wanted = preprocessor(x=texts)
            for key in wanted:
                np.testing.assert_array_equal(found[key], wanted[key])


def test_in_memory_texts_are_tokenized_before_tf_data(tokenizer,
                                                      monkeypatch):
    classifier = tiny_classifier(tokenizer)
    classifier.preprocessor = longest(ElectraClassifierPreprocessor,
                                      tokenizer)
    texts, labels = list(PAIR_TEXTS[0] + PAIR_TEXTS[1]), [0, 1, 2] * 2
    expected = classifier.predict(
        tf.data.Dataset.from_tensor_slices(texts).batch(2), verbose=0)
    calls = []
    tokenize = ElectraTokenizer._tokenize_any_shape

    def spy(self, inputs, **kwargs):
        calls.append(tf.executing_eagerly())
        return tokenize(self, inputs, **kwargs)

    monkeypatch.setattr(ElectraTokenizer, "_tokenize_any_shape", spy)
    found = classifier.predict(texts, batch_size=2, verbose=0)
    classifier.fit(texts, labels, batch_size=2, group_by_length=True,
                   validation_data=(texts[:2], labels[:2]), verbose=0)
    classifier.evaluate(PAIR_TEXTS, labels[:3], batch_size=2, verbose=0)
    # Eager calls only: no tokenizer graph inside the datasets.
    assert calls and all(calls)
    np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-9)
