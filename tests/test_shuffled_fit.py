"""`fit` on in-memory inputs reshuffles every epoch, without Keras' warning
about an ignored `shuffle=True`; its datasets and `evaluate`'s run without
tf.data's autotuning thread."""

import warnings

import keras
import numpy as np
import pytest
from keras_hub.models import Task

from keras_electra import ElectraBackbone
from keras_electra import ElectraClassifier
from keras_electra import ElectraClassifierPreprocessor
from keras_electra import ElectraTokenClassifier
from keras_electra import ElectraTokenClassifierPreprocessor
from keras_electra import ElectraTokenizer
from keras_electra.models.shuffled_fit import in_memory_datasets

EXAMPLES = 12
BATCH = 3


def tiny_backbone(vocabulary_size=64):
    return ElectraBackbone(
        vocabulary_size=vocabulary_size, num_layers=1, num_heads=1, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8)


class OrderRecorder(ElectraClassifier):
    """Records which examples each training step sees (their first id)."""

    seen = None

    def train_step(self, data):
        x = data[0]
        ids = keras.ops.convert_to_numpy(x["token_ids"][:, 0])
        self.seen.extend(int(i) for i in ids)
        return super().train_step(data)


def epoch_orders(shuffle, seed, epochs=3):
    keras.utils.set_random_seed(seed)
    model = OrderRecorder(tiny_backbone(), num_classes=2)
    model.seen = []
    model.compile(run_eagerly=True)
    x = {
        "token_ids": np.tile(np.arange(EXAMPLES)[:, None], (1, 4)),
        "segment_ids": np.zeros((EXAMPLES, 4), "int32"),
        "padding_mask": np.ones((EXAMPLES, 4), "int32"),
    }
    y = np.arange(EXAMPLES) % 2
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=shuffle,
              verbose=0)
    seen = model.seen
    return [seen[i:i + EXAMPLES] for i in range(0, len(seen), EXAMPLES)]


def test_each_epoch_is_a_new_permutation_that_the_seed_repeats():
    orders = epoch_orders(shuffle=True, seed=3)
    assert len(orders) == 3
    for order in orders:
        assert sorted(order) == list(range(EXAMPLES))
    # Three random orders of 12 that equal each other or the input order
    # would be a 1-in-479,001,600 event.
    assert len({tuple(order) for order in orders}) == 3
    assert list(range(EXAMPLES)) not in orders
    assert epoch_orders(shuffle=True, seed=3) == orders
    assert epoch_orders(shuffle=False, seed=3) == [list(range(EXAMPLES))] * 3


def _user_warnings(record):
    return [str(w.message) for w in record
            if issubclass(w.category, UserWarning)]


@pytest.mark.backend_sensitive
def test_raw_string_and_word_fit_warn_about_nothing():
    keras.utils.set_random_seed(0)
    tokenizer = ElectraTokenizer()
    vocabulary_size = tokenizer.vocabulary_size()
    classifier = ElectraClassifier(
        tiny_backbone(vocabulary_size), num_classes=2,
        preprocessor=ElectraClassifierPreprocessor(tokenizer,
                                                   sequence_length=8))
    tagger = ElectraTokenClassifier(
        tiny_backbone(vocabulary_size), num_classes=2,
        preprocessor=ElectraTokenClassifierPreprocessor(tokenizer,
                                                        sequence_length=8))
    texts = ["good", "bad", "fine food", "stale", "tasty", "bland"]
    words = [text.split() for text in texts]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = classifier.fit(np.array(texts), np.array([1, 0, 1, 0, 1, 0]),
                                 batch_size=2, epochs=2, verbose=0,
                                 validation_split=0.5)
        tagger.fit(words, [[1] * len(w) for w in words], batch_size=4,
                   verbose=0, validation_data=(words[:2], [[1], [0]]))
    assert _user_warnings(record) == []
    # validation_split kept the last half for validation, as Keras does.
    assert len(history.history["val_loss"]) == 2


def test_validation_split_takes_the_last_texts_of_python_lists():
    texts = [f"text {i}" for i in range(10)]
    train, validation = in_memory_datasets(
        texts, list(range(10)), None, batch_size=4, validation_data=None,
        validation_split=0.2, shuffle=True,
    )
    held_out = [(x.decode(), int(y)) for xs, ys in validation
                for x, y in zip(xs.numpy(), ys.numpy())]
    assert held_out == [("text 8", 8), ("text 9", 9)]
    trained = sorted(int(y) for _, ys in train for y in ys.numpy())
    assert trained == list(range(8))
    # Byte strings and sentence pairs split alike.
    pairs = ([t.encode() for t in texts], texts)
    _, validation = in_memory_datasets(
        pairs, list(range(10)), None, batch_size=4, validation_data=None,
        validation_split=0.2, shuffle=False,
    )
    [((firsts, seconds), _)] = list(validation)
    assert list(firsts.numpy()) == [b"text 8", b"text 9"]
    assert list(seconds.numpy()) == [b"text 8", b"text 9"]


def test_validation_split_of_word_lists_says_to_pass_validation_data():
    with pytest.raises(ValueError, match=r"validation_data=\(x_val, y_val\)"):
        in_memory_datasets(
            [["a", "b"], ["c"], ["d"], ["e"]], [[0, 1], [1], [0], [1]], None,
            batch_size=2, validation_data=None, validation_split=0.5,
            shuffle=True,
        )


@pytest.mark.parametrize("shuffle", [True, False])
def test_fit_datasets_run_without_the_autotuning_thread(shuffle):
    # Deleting an autotuned iterator waits for that thread's next wake-up:
    # Keras deletes one after every epoch and validation pass.
    import tensorflow as tf

    train, validation = in_memory_datasets(
        np.array(["a", "b", "c", "d"]), [0, 1, 0, 1], None, batch_size=2,
        validation_data=None, validation_split=0.5, shuffle=shuffle,
    )
    for dataset in (train, validation):
        # As keras-hub's `fit` maps the preprocessor onto it.
        mapped = dataset.map(
            lambda x, y: (x, y), num_parallel_calls=tf.data.AUTOTUNE
        ).prefetch(tf.data.AUTOTUNE)
        assert mapped.options().autotune.enabled is False


def test_evaluate_on_texts_runs_without_the_autotuning_thread(monkeypatch):
    tokenizer = ElectraTokenizer()
    classifier = ElectraClassifier(
        tiny_backbone(tokenizer.vocabulary_size()), num_classes=2,
        preprocessor=ElectraClassifierPreprocessor(tokenizer,
                                                   sequence_length=8))
    texts, labels = ["good", "bad", "fine food"], [1, 0, 1]
    # keras-hub's own evaluate, which maps the preprocessor over the texts.
    expected = Task.evaluate(
        classifier, np.array(texts), np.array(labels), batch_size=2, verbose=0
    )
    given = []
    evaluate = keras.Model.evaluate

    def spy(self, x=None, *args, **kwargs):
        given.append(x)
        return evaluate(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", spy)
    found = classifier.evaluate(texts, labels, batch_size=2, verbose=0)
    np.testing.assert_allclose(found, expected, rtol=1e-6)
    (dataset,) = given
    assert dataset.options().autotune.enabled is False
    assert int(dataset.cardinality()) == 2


@pytest.mark.parametrize("chosen", [None, True])
def test_user_datasets_run_without_the_autotuning_thread_unless_chosen(
        monkeypatch, chosen):
    import tensorflow as tf

    tokenizer = ElectraTokenizer()
    classifier = ElectraClassifier(
        tiny_backbone(tokenizer.vocabulary_size()), num_classes=2,
        preprocessor=ElectraClassifierPreprocessor(tokenizer,
                                                   sequence_length=8))
    dataset = tf.data.Dataset.from_tensor_slices(
        (["good", "bad", "fine food"], [1, 0, 1])).batch(2)
    if chosen is not None:
        options = tf.data.Options()
        options.autotune.enabled = chosen
        dataset = dataset.with_options(options)
    given = []
    for name in ("fit", "evaluate", "predict"):
        method = getattr(keras.Model, name)

        def spy(self, x=None, *args, _method=method, **kwargs):
            given.extend([x, kwargs.get("validation_data")])
            return _method(self, x, *args, **kwargs)

        monkeypatch.setattr(keras.Model, name, spy)
    classifier.fit(dataset, validation_data=dataset, verbose=0)
    classifier.evaluate(dataset, verbose=0)
    classifier.predict(dataset.map(lambda x, y: x), verbose=0)
    datasets = [d for d in given if isinstance(d, tf.data.Dataset)]
    # fit's two, evaluate's and predict's (and Keras' validation passes).
    assert len(datasets) >= 4
    # What keras-hub built on the user's dataset (the preprocessor mapped).
    expected = False if chosen is None else chosen
    assert all(d.options().autotune.enabled is expected for d in datasets)
