"""Finite outputs and losses where numerics usually break: a row that is all
padding, sequences at the maximum length, bfloat16 and mixed precision, and
50 steps at a high learning rate with clipping."""

import keras
import numpy as np
import pytest

from keras_electra import ElectraBackbone
from keras_electra import ElectraClassifier
from keras_electra import ElectraDiscriminator
from keras_electra import ElectraPretrainer

pytestmark = pytest.mark.backend_sensitive
LENGTH = 16


def backbone(width=16, dtype=None):
    return ElectraBackbone(
        vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=width,
        embedding_dim=8, intermediate_dim=2 * width,
        max_sequence_length=LENGTH, dtype=dtype)


def batch(rng, size=4):
    """Integer inputs: row 0 all padding, row 1 full length, others mixed."""
    lengths = np.array([0, LENGTH] + list(rng.integers(1, LENGTH, size - 2)))
    mask = np.arange(LENGTH)[None, :] < lengths[:, None]
    ids = np.where(mask, rng.integers(5, 64, (size, LENGTH)), 0)
    return {"token_ids": ids.astype("int32"),
            "segment_ids": np.zeros_like(ids, "int32"),
            "padding_mask": mask}


def finite(value):
    value = keras.ops.convert_to_numpy(keras.ops.cast(value, "float32"))
    return bool(np.isfinite(value).all())


def assert_finite_weights(model):
    bad = [w.path for w in model.weights if not finite(w)]
    assert not bad, bad


@pytest.mark.parametrize("dtype", [None, "mixed_bfloat16", "bfloat16"])
def test_padding_rows_and_full_rows_are_finite(dtype):
    keras.utils.set_random_seed(0)
    x = batch(np.random.default_rng(0))
    labels = np.array([0, 1, 1, 0])
    classifier = ElectraClassifier(backbone(dtype=dtype), num_classes=2,
                                   preprocessor=None, dtype=dtype)
    logits = classifier(x)
    assert finite(logits) and finite(classifier.backbone(x))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        labels, logits)
    assert finite(loss)
    discriminator = ElectraDiscriminator(backbone(dtype=dtype),
                                         preprocessor=None, dtype=dtype)
    assert finite(discriminator(x))
    # Fitting on it keeps everything finite too.
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = classifier.fit(x, labels, epochs=1, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert_finite_weights(classifier)


def test_pretrainer_with_a_padding_row_is_finite_under_mixed_precision():
    # (float32 pre-training is covered by tests/test_electra_pretrainer.py.)
    keras.utils.set_random_seed(0)
    x = batch(np.random.default_rng(1))
    # Row 0 (all padding) has no masked position: its mask weights are 0.
    x["mask_positions"] = np.array([[0, 0], [1, 15], [2, 3], [0, 1]])
    x["mask_ids"] = np.take_along_axis(x["token_ids"], x["mask_positions"], 1)
    x["mask_weights"] = np.array([[0, 0], [1, 1], [1, 0], [1, 1]], "float32")
    dtype = "mixed_bfloat16"
    pretrainer = ElectraPretrainer(backbone(8, dtype), backbone(16, dtype),
                                   seed=0, dtype=dtype)
    pretrainer.compile(learning_rate=1e-3)
    logs = pretrainer.fit(x, epochs=1, verbose=0).history
    assert all(np.isfinite(v).all() for v in logs.values()), logs
    assert_finite_weights(pretrainer)


def test_fifty_steps_at_a_high_learning_rate_with_clipping():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(2)
    x = {k: np.concatenate([batch(rng)[k] for _ in range(50)])
         for k in ("token_ids", "segment_ids", "padding_mask")}
    labels = rng.integers(0, 2, len(x["token_ids"]))
    classifier = ElectraClassifier(backbone(), num_classes=2,
                                   preprocessor=None)
    classifier.compile(optimizer=keras.optimizers.AdamW(
        learning_rate=0.1, global_clipnorm=1.0))
    history = classifier.fit(x, labels, batch_size=4, epochs=1, verbose=0)
    assert int(classifier.optimizer.iterations) == 50
    assert np.isfinite(history.history["loss"]).all()
    assert_finite_weights(classifier)
    assert finite(classifier.predict(x, verbose=0))
