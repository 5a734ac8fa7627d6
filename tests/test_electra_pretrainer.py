import gzip
import os
import warnings

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


def always_sample_seven(pretrainer):
    """A huge bias on token 7 makes every sample 7, so the discriminator's
    input is known without the model's sampler. Returns a batch for it."""
    bias = np.zeros(40, "float32")
    bias[7] = 1e4
    pretrainer.generator.generator_head.bias.assign(bias)
    return {
        "token_ids": np.array([[2, 3, 39, 5, 0, 0], [2, 39, 7, 39, 9, 3]]),
        "segment_ids": np.zeros((2, 6), "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 0, 0], [1] * 6]),
        "mask_positions": np.array([[2, 0], [1, 3]]),
        "mask_ids": np.array([[11, 0], [7, 12]]),
        "mask_weights": np.array([[1.0, 0.0], [1.0, 1.0]], "float32"),
    }


@pytest.mark.backend_sensitive
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


@pytest.mark.backend_sensitive
def test_losses_follow_googles_definitions():
    generator, discriminator = backbone(8, 40), backbone(16, 40)
    pretrainer = ElectraPretrainer(generator, discriminator, seed=3)
    x = always_sample_seven(pretrainer)
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


@pytest.mark.backend_sensitive
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
        "loss", "generator_loss", "generator_accuracy", "discriminator_loss",
        "discriminator_accuracy", "replaced_fraction", "replaced_precision",
        "replaced_recall", "replaced_auc",
    }

    path = str(tmp_path / "pretrainer.keras")
    pretrainer.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # compiled as saved, silently
        restored = keras.saving.load_model(path)
    assert int(restored.optimizer.iterations) == int(
        pretrainer.optimizer.iterations) > 0
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored.optimizer.variables[-1]),
        keras.ops.convert_to_numpy(pretrainer.optimizer.variables[-1]))
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
    # The reloaded pair shares its embeddings again.
    assert (restored.generator.backbone.token_embedding
            is restored.backbone.token_embedding)


def test_mismatched_backbones_are_refused():
    with pytest.raises(ValueError, match="share vocabulary_size"):
        ElectraPretrainer(backbone(8, 100), backbone(16, 200))


def test_mismatched_embedding_widths_are_refused():
    wide = ElectraBackbone(
        vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
        embedding_dim=32, intermediate_dim=32, max_sequence_length=32,
    )
    with pytest.raises(ValueError, match="share embedding_dim.*"
                       "generator_backbone_for"):
        ElectraPretrainer(backbone(8, 100), wide)


@pytest.mark.backend_sensitive
def test_generator_and_discriminator_share_one_set_of_embeddings():
    discriminator = backbone(32, 50)
    generator = ElectraPretrainer.generator_backbone_for(discriminator)
    pretrainer = ElectraPretrainer(generator, discriminator, seed=0)
    shared = ("token_embedding", "position_embedding", "segment_embedding",
              "layer_norm")
    for name in shared:
        ours = getattr(generator.embeddings, name)
        assert ours is getattr(discriminator.embeddings, name)
    # The generator keeps its own projection (its width differs), and the
    # tied decoder of its head is the shared word embedding.
    assert generator.embeddings.projection is not None
    assert generator.embeddings.projection is not (
        discriminator.embeddings.projection)
    assert (pretrainer.generator.generator_head.token_embedding
            is discriminator.token_embedding)
    ids = [id(v) for v in pretrainer.trainable_variables]
    assert len(ids) == len(set(ids))
    shared_ids = {id(v) for name in shared
                  for v in getattr(discriminator.embeddings, name).weights}
    generator_ids = {id(v) for v in generator.weights}
    assert shared_ids <= generator_ids

    # One training step moves the shared word embedding for both models,
    # with gradients from both losses.
    preprocessor = ElectraPretrainerPreprocessor(
        ElectraTokenizer(), sequence_length=32, mask_selection_length=5)
    x = {k: keras.ops.convert_to_numpy(v)
         for k, v in preprocessor(austen_lines(8)).items()}
    x = {k: np.where(v >= 50, 1, v) if k in ("token_ids", "mask_ids") else v
         for k, v in x.items()}
    before = keras.ops.convert_to_numpy(discriminator.token_embedding.embeddings)
    pretrainer.compile(learning_rate=1e-2)
    pretrainer.fit(x, batch_size=8, epochs=1, verbose=0)
    after = keras.ops.convert_to_numpy(generator.token_embedding.embeddings)
    assert np.abs(after - before).max() > 0


def test_generator_is_a_quarter_of_the_discriminator():
    discriminator = ElectraBackbone(
        vocabulary_size=100, num_layers=3, num_heads=4, hidden_dim=256,
        embedding_dim=128, intermediate_dim=1024, max_sequence_length=32,
    )
    generator = ElectraPretrainer.generator_backbone_for(discriminator)
    assert (generator.hidden_dim, generator.num_heads,
            generator.intermediate_dim) == (64, 1, 256)
    assert (generator.embedding_dim, generator.num_layers,
            generator.vocabulary_size) == (128, 3, 100)
    half = ElectraPretrainer.generator_backbone_for(discriminator, 0.5)
    assert (half.hidden_dim, half.num_heads) == (128, 2)
    with pytest.raises(ValueError, match="width_fraction"):
        ElectraPretrainer.generator_backbone_for(discriminator, 0)


@pytest.mark.backend_sensitive
def test_pretraining_metrics_match_a_numpy_count():
    pretrainer = ElectraPretrainer(backbone(8, 40), backbone(16, 40), seed=3)
    x = always_sample_seven(pretrainer)
    out = numpy_of(pretrainer(x))
    # Masks at (0, 2), (1, 1), (1, 3); the sample 7 equals the original
    # only at (1, 1): two of three masked tokens are replaced.
    np.testing.assert_allclose(out["replaced_fraction"], 2 / 3, rtol=1e-5)
    np.testing.assert_array_equal(
        out["replaced_labels"],
        [[0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0]],
    )
    # The generator predicts 7 everywhere: right at one of three masks.
    np.testing.assert_allclose(out["generator_accuracy"], 1 / 3, rtol=1e-5)


@pytest.mark.backend_sensitive
def test_interrupted_fit_resumes_from_its_backup(tmp_path):
    preprocessor = ElectraPretrainerPreprocessor(
        ElectraTokenizer(), sequence_length=32, mask_selection_length=5)
    # Masks drawn once, so both runs see the same batches.
    x = {k: keras.ops.convert_to_numpy(v)
         for k, v in preprocessor(austen_lines(64)).items()}

    def pretrainer():
        keras.utils.set_random_seed(0)
        model = ElectraPretrainer(backbone(8), backbone(16), seed=0)
        model.compile(learning_rate=1e-3, warmup_steps=2, total_steps=12)
        return model

    def numpy_weights(model):
        return [keras.ops.convert_to_numpy(w) for w in model.weights]

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    class FirstStep(keras.callbacks.Callback):
        """The state the resumed run starts its first step from."""

        def on_train_batch_begin(self, batch, logs=None):
            if not hasattr(self, "weights"):
                self.weights = numpy_weights(self.model)
                self.iterations = int(self.model.optimizer.iterations)

    def fit(model, *callbacks):
        model.fit(x, batch_size=16, epochs=3, shuffle=False, verbose=0,
                  callbacks=list(callbacks))

    straight = pretrainer()
    fit(straight)
    backup = str(tmp_path / "backup")
    interrupted = pretrainer()
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, keras.callbacks.BackupAndRestore(backup),
            Interrupt())
    resumed, first_step = pretrainer(), FirstStep()
    fit(resumed, keras.callbacks.BackupAndRestore(backup), first_step)
    # It starts exactly where the killed run stopped: after 2 of 3 epochs.
    assert first_step.iterations == 8
    for ours, theirs, w in zip(first_step.weights,
                               numpy_weights(interrupted), resumed.weights):
        np.testing.assert_array_equal(ours, theirs, err_msg=w.path)
    assert int(resumed.optimizer.iterations) == 12
    # And ends close to the uninterrupted run, not equal: the random streams
    # after a restore (dropout, sampling) are not the uninterrupted run's on
    # any backend here (on PyTorch unseeded Dropout draws from torch's global
    # generator, which no checkpoint holds). Measured: up to 7e-4 apart.
    moved = max(np.abs(a - b).max() for a, b in zip(
        numpy_weights(straight), numpy_weights(resumed)))
    assert moved < 1e-2


@pytest.mark.backend_sensitive
def test_a_saved_pair_loads_as_each_task_and_as_a_pretrainer(tmp_path):
    from keras_electra import ElectraDiscriminator
    from keras_electra import ElectraMaskedLM

    preprocessor = ElectraPretrainerPreprocessor(
        ElectraTokenizer(), sequence_length=32, mask_selection_length=5)
    discriminator = backbone(32)
    generator = ElectraPretrainer.generator_backbone_for(discriminator)
    pretrainer = ElectraPretrainer(generator, discriminator, preprocessor)
    path = str(tmp_path / "pair")
    pretrainer.save_to_preset(path)
    with pytest.raises(FileExistsError, match="already exists"):
        pretrainer.save_to_preset(path)

    x = {k: keras.ops.convert_to_numpy(v)
         for k, v in preprocessor(austen_lines(4)).items()}

    def same(ours, theirs):
        inputs = {k: x[k] for k in ours.input}
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(ours(inputs)),
            keras.ops.convert_to_numpy(theirs(inputs)))

    same(pretrainer.discriminator, ElectraDiscriminator.from_preset(path))
    masked_lm = ElectraMaskedLM.from_preset(path)
    assert masked_lm.backbone.hidden_dim == 8
    same(pretrainer.generator, masked_lm)
    again = ElectraPretrainer.from_preset(path, sequence_length=32)
    same(pretrainer.discriminator, again.discriminator)
    same(pretrainer.generator, again.generator)
    assert again.generator.backbone.token_embedding is (
        again.backbone.token_embedding)
    assert again.preprocessor.sequence_length == 32

    # Both export to HF transformers with their heads.
    import torch
    import transformers

    from keras_electra import export_to_huggingface

    hf_inputs = {
        "input_ids": torch.tensor(x["token_ids"]).long(),
        "token_type_ids": torch.tensor(x["segment_ids"]).long(),
        "attention_mask": torch.tensor(x["padding_mask"]).long(),
    }
    export_to_huggingface(masked_lm, str(tmp_path / "hf_generator"))
    hf = transformers.ElectraForMaskedLM.from_pretrained(
        str(tmp_path / "hf_generator")).eval()
    with torch.no_grad():
        logits = hf(**hf_inputs).logits.numpy()
    expected = np.take_along_axis(
        logits, x["mask_positions"][..., None].astype(int), 1)
    ours = keras.ops.convert_to_numpy(masked_lm(
        {k: x[k] for k in masked_lm.input}))
    assert np.abs(ours - expected).max() <= 1e-5
    export_to_huggingface(ElectraDiscriminator.from_preset(path),
                          str(tmp_path / "hf_discriminator"))
    hf = transformers.ElectraForPreTraining.from_pretrained(
        str(tmp_path / "hf_discriminator")).eval()
    with torch.no_grad():
        logits = hf(**hf_inputs).logits.numpy()
    ours = keras.ops.convert_to_numpy(pretrainer.discriminator(
        {k: x[k] for k in pretrainer.discriminator.input}))
    real = x["padding_mask"].astype(bool)
    assert np.abs(ours - logits)[real].max() <= 1e-5


def _hf_pair():
    import transformers
    from hf_reference import random_hf_model

    common = dict(vocab_size=120, embedding_size=16,
                  max_position_embeddings=24, type_vocab_size=2,
                  num_hidden_layers=2)
    discriminator = random_hf_model(
        transformers.ElectraForPreTraining,
        transformers.ElectraConfig(**common, hidden_size=32,
                                   num_attention_heads=2,
                                   intermediate_size=64), seed=1)
    generator = random_hf_model(
        transformers.ElectraForMaskedLM,
        transformers.ElectraConfig(**common, hidden_size=16,
                                   num_attention_heads=1,
                                   intermediate_size=32), seed=2)
    # Google's releases hold the same embeddings in both models.
    generator.electra.embeddings.load_state_dict(
        discriminator.electra.embeddings.state_dict())
    generator.tie_weights()
    return discriminator, generator


def _check_continues(pretrainer, discriminator, generator):
    from convert_fixtures import max_diff

    assert max_diff("ElectraDiscriminator", pretrainer.discriminator,
                    discriminator, discriminator.config) <= 1e-5
    assert max_diff("ElectraMaskedLM", pretrainer.generator, generator,
                    generator.config) <= 1e-5
    assert pretrainer.generator.backbone.token_embedding is (
        pretrainer.backbone.token_embedding)
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(5, 120, (8, 16)).astype("int32"),
        "segment_ids": np.zeros((8, 16), "int32"),
        "padding_mask": np.ones((8, 16), "int32"),
        "mask_positions": np.tile(np.arange(1, 4), (8, 1)).astype("int32"),
        "mask_ids": rng.integers(5, 120, (8, 3)).astype("int32"),
        "mask_weights": np.ones((8, 3), "float32"),
    }
    pretrainer.preprocessor = None
    pretrainer.compile(learning_rate=1e-3)
    before = pretrainer.evaluate(x, verbose=0, return_dict=True)["loss"]
    pretrainer.fit(x, batch_size=8, epochs=5, verbose=0)
    assert pretrainer.evaluate(x, verbose=0, return_dict=True)["loss"] < before


def test_pretraining_continues_from_a_pair_of_hf_checkpoints(tmp_path):
    from convert_fixtures import save_hf

    discriminator, generator = _hf_pair()
    save_hf(discriminator, str(tmp_path / "discriminator"))
    save_hf(generator, str(tmp_path / "generator"))
    pretrainer = ElectraPretrainer.from_preset(
        str(tmp_path / "discriminator"),
        generator_preset=str(tmp_path / "generator"), sequence_length=16)
    assert pretrainer.preprocessor.sequence_length == 16
    _check_continues(pretrainer, discriminator, generator)


def test_pretraining_continues_from_a_google_tf1_checkpoint(tmp_path):
    from test_convert_tf1 import google_variables
    from test_convert_tf1 import write_checkpoint

    discriminator, generator = _hf_pair()
    prefix = write_checkpoint(str(tmp_path / "tf1"),
                              google_variables(discriminator, generator))
    pretrainer = ElectraPretrainer.from_preset(prefix, num_heads=2)
    assert pretrainer.preprocessor is None  # no vocab.txt beside it
    _check_continues(pretrainer, discriminator, generator)


def test_a_discriminator_without_generator_is_refused(tmp_path):
    from convert_fixtures import save_hf

    discriminator, _ = _hf_pair()
    save_hf(discriminator, str(tmp_path / "discriminator"))
    with pytest.raises(ValueError, match="holds no generator.*"
                       "generator_preset="):
        ElectraPretrainer.from_preset(str(tmp_path / "discriminator"))


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_sampler_draws_from_the_tempered_softmax(temperature):
    sampler = ReplacedTokenSampler(temperature=temperature, seed=5)
    probabilities = np.array([0.5, 0.25, 0.15, 0.1, 0.0])
    logits = np.log(np.maximum(probabilities, 1e-30)).astype("float32")
    rows = 200 * 100
    batch = np.broadcast_to(logits, (200, 100, 5))
    sampled = keras.ops.convert_to_numpy(sampler._sample(batch))
    counts = np.bincount(sampled.ravel(), minlength=5) / rows
    tempered = probabilities ** (1 / temperature)
    tempered /= tempered.sum()
    # 20,000 draws: standard errors below 0.0036.
    np.testing.assert_allclose(counts, tempered, atol=0.015)
    assert counts[4] == 0
    assert sampled.shape == (200, 100)
