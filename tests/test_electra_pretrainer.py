import gzip
import os

import keras
import numpy as np
import pytest

from keras_electra import ElectraBackbone
from keras_electra.layers import ReplacedTokenSampler
from keras_electra.models.electra_pretrainer import ElectraPretrainer
from keras_electra.models.electra_pretrainer_preprocessor import (
    ElectraPretrainerPreprocessor,
)
from keras_electra.models.electra_tokenizer import ElectraTokenizer

pytestmark = pytest.mark.backend_sensitive
DATA = os.path.join(os.path.dirname(__file__), "..", "keras_electra", "data")


def backbone(width, vocabulary_size=30522, **kwargs):
    return ElectraBackbone(
        vocabulary_size=vocabulary_size, num_layers=1, num_heads=2,
        hidden_dim=width, embedding_dim=16, intermediate_dim=2 * width,
        max_sequence_length=32, **kwargs,
    )


def austen_lines(count):
    with gzip.open(os.path.join(DATA, "austen_novels.txt.gz"), "rt") as f:
        lines = (line.strip() for line in f)
        return [line for line in lines if len(line) > 40][:count]


def numpy_of(tree):
    return {k: keras.ops.convert_to_numpy(v) for k, v in tree.items()}


def test_sampler_writes_samples_at_masked_positions_only():
    sampler = ReplacedTokenSampler(seed=0)
    vocabulary = 7
    # Peaked logits make the sample certain: position p of row b draws
    # token (b + p + 1) % 7.
    wanted = np.array([[1, 2, 3], [2, 3, 4]])
    logits = np.full((2, 3, vocabulary), -1e4, "float32")
    for b in range(2):
        for p in range(3):
            logits[b, p, wanted[b, p]] = 0.0
    token_ids = np.array([[0, 6, 6, 6, 5], [0, 6, 6, 6, 6]], "int32")
    positions = np.array([[1, 3, 0], [2, 4, 1]], "int32")
    originals = np.array([[1, 5, 0], [9, 4, 2]], "int32")
    weights = np.array([[1, 1, 0], [1, 1, 1]], "float32")
    corrupted, labels = sampler(logits, token_ids, positions, originals, weights)
    corrupted = keras.ops.convert_to_numpy(corrupted)
    labels = keras.ops.convert_to_numpy(labels)
    # Row 0: positions 1 and 3 get 1 and 2; the padded third mask writes
    # nothing. Position 1 draws its own original (1): not replaced.
    np.testing.assert_array_equal(corrupted[0], [0, 1, 6, 2, 5])
    np.testing.assert_array_equal(labels[0], [0, 0, 0, 1, 0])
    # Row 1: all three masks draw a token other than their original.
    np.testing.assert_array_equal(corrupted[1], [0, 4, 2, 6, 3])
    np.testing.assert_array_equal(labels[1], [0, 1, 1, 0, 1])


def test_losses_follow_googles_definitions():
    generator, discriminator = backbone(8, 40), backbone(16, 40)
    pretrainer = ElectraPretrainer(generator, discriminator, seed=3)
    # A huge bias on token 7 makes every sample 7, so the discriminator's
    # input is known without the model's sampler.
    bias = np.zeros(40, "float32")
    bias[7] = 1e4
    pretrainer.generator.generator_head.bias.assign(bias)
    x = {
        "token_ids": np.array([[2, 3, 39, 5, 0, 0], [2, 39, 7, 39, 9, 3]]),
        "segment_ids": np.zeros((2, 6), "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 0, 0], [1] * 6]),
        "mask_positions": np.array([[2, 0], [1, 3]]),
        "mask_ids": np.array([[11, 0], [7, 12]]),
        "mask_weights": np.array([[1.0, 0.0], [1.0, 1.0]], "float32"),
    }
    out = numpy_of(pretrainer(x))

    gen_logits = keras.ops.convert_to_numpy(pretrainer.generator(
        {k: x[k] for k in ("token_ids", "segment_ids", "padding_mask",
                           "mask_positions")}
    ))
    log_probs = gen_logits - np.log(
        np.exp(gen_logits - gen_logits.max(-1, keepdims=True)).sum(-1,
                                                                   keepdims=True)
    ) - gen_logits.max(-1, keepdims=True)
    nll = -np.take_along_axis(log_probs, x["mask_ids"][..., None], -1)[..., 0]
    expected_gen = (nll * x["mask_weights"]).sum() / x["mask_weights"].sum()

    corrupted = np.array([[2, 3, 7, 5, 0, 0], [2, 7, 7, 7, 9, 3]])
    labels = np.array([[0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0]], "float32")
    disc_logits = keras.ops.convert_to_numpy(pretrainer.discriminator(
        {"token_ids": corrupted, "segment_ids": x["segment_ids"],
         "padding_mask": x["padding_mask"]}
    )).astype("float64")
    bce = np.logaddexp(0, disc_logits) - labels * disc_logits
    real = x["padding_mask"]
    expected_disc = (bce * real).sum() / real.sum()
    accuracy = (((disc_logits > 0) == labels) * real).sum() / real.sum()

    np.testing.assert_allclose(out["generator_loss"], expected_gen, rtol=1e-4)
    np.testing.assert_allclose(out["discriminator_loss"], expected_disc,
                               rtol=1e-4)
    np.testing.assert_allclose(out["discriminator_accuracy"], accuracy,
                               rtol=1e-5)
    np.testing.assert_allclose(
        out["loss"], expected_gen + 50 * expected_disc, rtol=1e-4
    )


def test_fit_on_raw_text_lowers_the_loss_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    preprocessor = ElectraPretrainerPreprocessor(
        ElectraTokenizer(), sequence_length=32, mask_selection_length=5
    )
    pretrainer = ElectraPretrainer(
        backbone(8), backbone(32), preprocessor, seed=1
    )
    lines = austen_lines(256)
    def loss():
        return pretrainer.evaluate(
            lines, batch_size=32, verbose=0, return_dict=True
        )["loss"]

    before = loss()
    history = pretrainer.fit(lines, batch_size=32, epochs=2, verbose=0)
    assert loss() < before - 0.5
    assert set(history.history) == {
        "loss", "generator_loss", "discriminator_loss",
        "discriminator_accuracy",
    }

    path = str(tmp_path / "pretrainer.keras")
    pretrainer.save(path)
    restored = keras.saving.load_model(path)
    x = preprocessor(lines[:4])
    x = {k: keras.ops.convert_to_numpy(v) for k, v in x.items()}
    # Sampling is random: compare the deterministic parts.
    for part in ("generator", "discriminator"):
        ours = getattr(pretrainer, part)
        theirs = getattr(restored, part)
        inputs = {k: x[k] for k in ours.input}
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(ours(inputs)),
            keras.ops.convert_to_numpy(theirs(inputs)),
        )


def test_mismatched_backbones_are_refused():
    with pytest.raises(ValueError, match="share vocabulary_size"):
        ElectraPretrainer(backbone(8, 100), backbone(16, 200))
