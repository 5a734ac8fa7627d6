"""`fit`, `evaluate` and `predict` on a `keras.utils.PyDataset` or a Python
generator of raw batches, as Keras' `Model` methods take them."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_electra import ElectraBackbone
from keras_electra import ElectraClassifier
from keras_electra import ElectraClassifierPreprocessor
from keras_electra import ElectraTokenClassifier
from keras_electra import ElectraTokenClassifierPreprocessor
from keras_electra import ElectraTokenizer

TEXTS = ["good", "bad", "fine food", "stale bread", "tasty", "bland", "ok",
         "awful soup"]
LABELS = np.array([1, 0, 1, 0, 1, 0, 1, 0])
BATCH = 3  # the last batch is short


def tiny_backbone(vocabulary_size):
    return ElectraBackbone(
        vocabulary_size=vocabulary_size, num_layers=1, num_heads=1,
        hidden_dim=8, intermediate_dim=16, max_sequence_length=8)


def classifier(seed=0):
    keras.utils.set_random_seed(seed)
    tokenizer = ElectraTokenizer()
    model = ElectraClassifier(
        tiny_backbone(tokenizer.vocabulary_size()), num_classes=2,
        preprocessor=ElectraClassifierPreprocessor(tokenizer,
                                                   sequence_length=8))
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


class Reviews(keras.utils.PyDataset):
    """Batches of raw texts (a list, an array or pairs) and labels; records
    the batches read and the epochs ended."""

    def __init__(self, texts=TEXTS, labels=LABELS, batch=BATCH, **kwargs):
        super().__init__(**kwargs)
        self.texts, self.labels, self.batch = texts, labels, batch
        self.read, self.ended = [], 0

    def __len__(self):
        return -(-len(self.texts) // self.batch)

    def __getitem__(self, index):
        self.read.append(index)
        rows = slice(index * self.batch, (index + 1) * self.batch)
        if self.labels is None:
            return self.texts[rows]
        return self.texts[rows], self.labels[rows]

    def on_epoch_end(self):
        self.ended += 1


def batches_of(texts, labels=None):
    for start in range(0, len(texts), BATCH):
        rows = slice(start, start + BATCH)
        yield (texts[rows],) if labels is None else (texts[rows], labels[rows])


@pytest.mark.backend_sensitive
def test_fit_on_a_py_dataset_trains_as_on_the_same_batches_in_memory():
    # Both with validation: on PyTorch each validation pass's DataLoader
    # draws from the global generator, which dropout then continues from.
    validation = (TEXTS[:4], LABELS[:4])
    in_memory = classifier()
    expected = in_memory.fit(TEXTS, LABELS, batch_size=BATCH, epochs=2,
                             shuffle=False, verbose=0,
                             validation_data=validation)
    streamed = classifier()
    reviews = Reviews()
    history = streamed.fit(reviews, epochs=2, shuffle=False, verbose=0,
                           validation_data=validation)
    for a, b in zip(in_memory.get_weights(), streamed.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # The epoch hooks reach the user's dataset (Keras also ends one after
    # reading ahead).
    assert reviews.ended >= 2
    np.testing.assert_allclose(
        history.history["val_loss"], expected.history["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(
        history.history["val_loss"][-1],
        streamed.evaluate(*validation, verbose=0)[0], rtol=1e-5)


@pytest.mark.backend_sensitive
def test_evaluate_and_predict_on_python_batches_equal_in_memory():
    model = classifier()
    expected = model.predict(TEXTS, batch_size=BATCH, verbose=0)
    texts = np.array(TEXTS)
    np.testing.assert_allclose(
        model.predict(Reviews(texts, labels=None), verbose=0), expected,
        atol=1e-6)
    np.testing.assert_allclose(
        model.predict(batches_of(TEXTS), verbose=0), expected, atol=1e-6)
    loss = model.evaluate(TEXTS, LABELS, batch_size=BATCH, verbose=0)
    np.testing.assert_allclose(
        model.evaluate(batches_of(texts, LABELS), verbose=0), loss,
        rtol=1e-5)
    np.testing.assert_allclose(
        model.evaluate(Reviews(texts), verbose=0), loss, rtol=1e-5)


def test_shuffle_reorders_a_py_datasets_batches_each_epoch():
    model = classifier()
    reviews = Reviews()
    keras.utils.set_random_seed(1)
    validation = tf.data.Dataset.from_tensor_slices(
        (TEXTS[:4], LABELS[:4])).batch(2)
    history = model.fit(reviews, epochs=4, verbose=0,
                        validation_data=validation)
    np.testing.assert_allclose(
        history.history["val_loss"][-1],
        model.evaluate(TEXTS[:4], LABELS[:4], verbose=0)[0], rtol=1e-5)
    # The validation dataset, preprocessed beside the PyDataset, keeps no
    # autotuning thread either.
    assert model._preprocessed_validation(
        validation).options().autotune.enabled is False
    # Keras reads batches ahead to learn their shapes; the epochs are the
    # last 4 x 3 reads.
    epochs = [reviews.read[-12:][i:i + 3] for i in range(0, 12, 3)]
    assert all(sorted(epoch) == [0, 1, 2] for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1
    assert reviews.ended >= 4


def test_sentence_pairs_from_a_generator():
    model = classifier()
    first, second = TEXTS[:4], TEXTS[4:]
    expected = model.predict((first, second), batch_size=2, verbose=0)
    pairs = ((first[i:i + 2], second[i:i + 2]) for i in (0, 2))
    np.testing.assert_allclose(
        model.predict(((pair,) for pair in pairs), verbose=0), expected,
        atol=1e-6)


@pytest.mark.backend_sensitive
def test_token_classifier_fits_and_predicts_word_lists_from_a_py_dataset():
    keras.utils.set_random_seed(0)
    tokenizer = ElectraTokenizer()
    tagger = ElectraTokenClassifier(
        tiny_backbone(tokenizer.vocabulary_size()), num_classes=2,
        preprocessor=ElectraTokenClassifierPreprocessor(tokenizer,
                                                        sequence_length=8))
    words = [text.split() for text in TEXTS]
    tags = [[i % 2] * len(w) for i, w in enumerate(words)]
    history = tagger.fit(Reviews(words, tags), epochs=2, verbose=0,
                         validation_data=Reviews(words[:3], tags[:3]))
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_allclose(
        history.history["val_loss"][-1],
        tagger.evaluate(words[:3], tags[:3], verbose=0)[0], rtol=1e-5)
    np.testing.assert_allclose(
        tagger.predict(Reviews(words, labels=None), verbose=0),
        tagger.predict(words, batch_size=BATCH, verbose=0), atol=1e-6)


def test_a_one_thread_py_dataset_runs_without_the_autotuning_thread(
        monkeypatch):
    model = classifier()
    given = []
    fit = keras.Model.fit

    def spy(self, x=None, *args, **kwargs):
        given.append((x, kwargs["shuffle"]))
        return fit(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    model.fit(Reviews(), verbose=0)
    ((x, shuffle),) = given
    if keras.backend.backend() == "tensorflow":
        # Read as Keras' adapter reads it, without autotuning, which
        # delays deleting each epoch's iterator; shuffled here, not by Keras.
        assert isinstance(x, tf.data.Dataset)
        assert x.options().autotune.enabled is False
        assert int(x.cardinality()) == 3
        assert shuffle is False
    else:
        assert isinstance(x, keras.utils.PyDataset) and shuffle is True


@pytest.mark.backend_sensitive
def test_a_py_dataset_with_workers_goes_through_keras_worker_pool():
    model = classifier()
    reviews = Reviews(workers=2)
    expected = model.predict(TEXTS, batch_size=BATCH, verbose=0)
    np.testing.assert_allclose(
        model.predict(Reviews(np.array(TEXTS), labels=None, workers=2),
                      verbose=0), expected, atol=1e-6)
    history = model.fit(reviews, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert sorted(set(reviews.read)) == [0, 1, 2]
