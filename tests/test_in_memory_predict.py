import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.src.utils import pipeline_model
from lm_reference import tiny_backbone

from keras_electra import ElectraBackbone
from keras_electra import ElectraClassifier
from keras_electra import ElectraClassifierPreprocessor
from keras_electra import ElectraTokenizer
from keras_electra.models.in_memory_predict import in_memory_rows

# Every test here runs in the JAX and PyTorch passes of tests/run.sh too.
pytestmark = pytest.mark.backend_sensitive

TEXTS = ["the", "a b c", "Hello, world!", "the " * 9, "b", "the " * 4,
         "one two three", "x"]


def token_ids(rows, length=12, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "token_ids": rng.integers(1, 50, (rows, length)).astype("int32"),
        "segment_ids": np.zeros((rows, length), "int32"),
        "padding_mask": np.ones((rows, length), "int32"),
    }


def tiny_classifier():
    tokenizer = ElectraTokenizer()
    keras.utils.set_random_seed(0)
    backbone = ElectraBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1,
        num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=16)
    preprocessor = ElectraClassifierPreprocessor(tokenizer, sequence_length=16)
    return ElectraClassifier(backbone, num_classes=3,
                             preprocessor=preprocessor)


@pytest.fixture
def batches_seen(monkeypatch):
    """The number of rows of each `predict_on_batch` call."""
    seen = []
    for cls in (ElectraBackbone, ElectraClassifier):
        monkeypatch.setattr(cls, "predict_on_batch",
                            recording(cls.predict_on_batch, seen))
    return seen


def recording(predict_on_batch, seen):
    def run(model, x, *args, **kwargs):
        seen.append(in_memory_rows(x))
        return predict_on_batch(model, x, *args, **kwargs)

    return run


@pytest.fixture
def no_tf_data(monkeypatch):
    """`tf.data` pipelines of Keras and keras-hub refused."""

    def refused(*args, **kwargs):
        raise AssertionError("predict built a tf.data pipeline")

    monkeypatch.setattr(pipeline_model, "_build_dataset", refused)
    monkeypatch.setattr(tf.data.Dataset, "from_tensor_slices", refused)


def test_backbone_predict_matches_keras_loop(batches_seen):
    backbone = tiny_backbone()
    x = token_ids(10)
    expected = backbone.predict(
        tf.data.Dataset.from_tensor_slices(x).batch(4), verbose=0)
    assert batches_seen == []  # A dataset: Keras' own loop.
    found = backbone.predict(x, batch_size=4, verbose=0)
    assert batches_seen == [4, 4, 2]
    assert found.shape == expected.shape == (10, 12, 32)
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-6)


def test_default_batch_size_is_keras_32(batches_seen):
    tiny_backbone().predict(token_ids(70), verbose=0)
    assert batches_seen == [32, 32, 6]


def test_classifier_predicts_raw_texts_without_tf_data(no_tf_data):
    classifier = tiny_classifier()
    found = classifier.predict(TEXTS, batch_size=3, verbose=0)
    expected = keras.ops.convert_to_numpy(
        classifier(classifier.preprocessor(TEXTS), training=False))
    assert found.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-7)


def test_predict_on_raw_texts_leaves_every_layer_built():
    # An unbuilt layer (the tokenizer, bypassed by the texts' tokenization
    # up front) made each JAX `predict_on_batch` run the model eagerly too.
    classifier = tiny_classifier()
    classifier.predict(TEXTS, batch_size=3, verbose=0)
    assert [layer.name for layer in classifier._flatten_layers()
            if not layer.built] == []


def test_classifier_predicts_text_pairs_as_keras_hub_does(batches_seen):
    classifier = tiny_classifier()
    pairs = (TEXTS, TEXTS[::-1])
    expected = classifier.predict(
        tf.data.Dataset.from_tensor_slices((pairs,)).batch(3), verbose=0)
    found = classifier.predict(pairs, batch_size=3, verbose=0)
    assert batches_seen == [3, 3, 2]
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-7)


class Recorder(keras.callbacks.Callback):
    def __init__(self, stop_after=None):
        super().__init__()
        self.stop_after = stop_after
        self.events = []

    def on_predict_begin(self, logs=None):
        self.events.append("begin")

    def on_predict_batch_begin(self, batch, logs=None):
        self.events.append(f"batch {batch}")

    def on_predict_batch_end(self, batch, logs=None):
        self.events.append(f"end {batch}: {len(logs['outputs'])} rows")
        if batch == self.stop_after:
            self.model.stop_predicting = True

    def on_predict_end(self, logs=None):
        self.events.append("end")


def test_callbacks_see_each_batch_as_in_keras_loop():
    recorder = Recorder()
    tiny_backbone().predict(token_ids(5), batch_size=2, verbose=0,
                            callbacks=[recorder])
    assert recorder.events == [
        "begin", "batch 0", "end 0: 2 rows", "batch 1", "end 1: 2 rows",
        "batch 2", "end 2: 1 rows", "end",
    ]


def test_stop_predicting_returns_the_batches_so_far():
    backbone = tiny_backbone()
    x = token_ids(6)
    found = backbone.predict(x, batch_size=2, verbose=0,
                             callbacks=[Recorder(stop_after=1)])
    np.testing.assert_allclose(
        found, backbone.predict(x, batch_size=2, verbose=0)[:4], atol=1e-6)


def test_progress_bar_counts_the_batches(capsys):
    tiny_backbone().predict(token_ids(5), batch_size=2, verbose=1)
    assert "3/3" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["steps", "steps_per_execution",
                                  "generator"])
def test_what_is_not_in_memory_keeps_keras_loop(batches_seen, case):
    backbone = tiny_backbone()
    x = token_ids(4)
    if case == "steps":
        found = backbone.predict(x, batch_size=2, steps=1, verbose=0)
        assert len(found) == 2
    elif case == "steps_per_execution":
        if keras.config.backend() == "torch":
            pytest.skip("Keras' PyTorch backend takes steps_per_execution=1")
        backbone.compile(steps_per_execution=2)
        found = backbone.predict(x, batch_size=1, verbose=0)
        np.testing.assert_allclose(
            found, backbone.predict_on_batch(x), rtol=0, atol=1e-6)
        batches_seen.clear()  # That `predict_on_batch` itself.
    else:
        found = backbone.predict(
            ((x,) for _ in range(2)), steps=2, verbose=0)
        assert len(found) == 8
    assert batches_seen == []


@pytest.mark.parametrize("x, rows", [
    (np.zeros((3, 4)), 3),
    ({"a": np.zeros((2, 1)), "b": tf.zeros((2, 5))}, 2),
    ((["a", "b"], np.array(["c", "d"])), 2),
    (tf.ragged.constant([[1], [2, 3]]), 2),
    (["a", "b", "c"], 3),
    ({"a": np.zeros((2, 1)), "b": np.zeros((3, 1))}, None),
    ([np.zeros((2, 1)), np.zeros((2, 1))], None),  # Keras' multiple inputs.
    (np.float32(1.0), None),
    (np.zeros((0, 4)), None),
    ([], None),
    ({}, None),
    (None, None),
])
def test_what_counts_as_in_memory(x, rows):
    assert in_memory_rows(x) == rows


def test_mismatched_rows_get_keras_error():
    backbone = tiny_backbone()
    x = token_ids(4)
    x["padding_mask"] = x["padding_mask"][:3]
    with pytest.raises(Exception) as ours:
        backbone.predict(x, verbose=0)
    with pytest.raises(Exception) as theirs:
        keras.Model.predict(backbone, x, verbose=0)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "4"])
def test_batch_size_must_be_a_positive_integer(batch_size):
    with pytest.raises(ValueError, match="`batch_size` must be a positive "
                       "integer, or None for 32; received"):
        tiny_backbone().predict(token_ids(4), batch_size=batch_size,
                                verbose=0)


def test_numpy_integer_batch_size_is_taken(batches_seen):
    tiny_backbone().predict(token_ids(4), batch_size=np.int64(3), verbose=0)
    assert batches_seen == [3, 1]
