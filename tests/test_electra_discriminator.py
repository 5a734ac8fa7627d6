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
from lm_reference import BERT_VOCAB_SIZE
from lm_reference import VOCAB_PATH
from lm_reference import austen_lines
from lm_reference import keras_task_from_hf
from lm_reference import lively_hf_model
from lm_reference import numpy_out
from lm_reference import tiny_backbone
from lm_reference import to_numpy

from keras_electra.models.electra_discriminator import ElectraDiscriminator
from keras_electra.models.electra_discriminator_preprocessor import (
    ElectraDiscriminatorPreprocessor,
)
from keras_electra.models.electra_tokenizer import ElectraTokenizer
from keras_electra.models.replaced_token_detection_loss import (
    ReplacedTokenDetectionLoss,
)
from keras_electra.models.text_inputs import decode_word_pieces


@pytest.fixture(scope="module")
def tokenizer():
    return ElectraTokenizer()


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_logits_match_hf_electra_for_pre_training(name):
    config = hf_config(name)
    hf_model = random_hf_model(transformers.ElectraForPreTraining, config)
    model = keras_task_from_hf(ElectraDiscriminator, hf_model)
    inputs = padded_batch(
        config, batch=4, length=config.max_position_embeddings
    )
    with torch.no_grad():
        expected = hf_model(**hf_forward_kwargs(inputs)).logits.numpy()
    ours = numpy_out(model, inputs)
    assert ours.shape == expected.shape == (4, config.max_position_embeddings)
    assert np.max(np.abs(ours - expected)) <= 1e-5


@pytest.mark.backend_sensitive
def test_loss_averages_over_real_tokens_like_google():
    config = hf_config("factorized")
    hf_model = random_hf_model(transformers.ElectraForPreTraining, config)
    model = keras_task_from_hf(ElectraDiscriminator, hf_model)
    inputs = padded_batch(config, batch=4, length=16)
    labels = np.random.default_rng(1).integers(0, 2, size=(4, 16))
    labels = labels * inputs["padding_mask"]
    torch_labels = torch.tensor(labels, dtype=torch.float32)
    with torch.no_grad():
        logits = hf_model(**hf_forward_kwargs(inputs)).logits
        with_mask = hf_model(**hf_forward_kwargs(inputs), labels=torch_labels)
        kwargs = hf_forward_kwargs(inputs)
        kwargs.pop("attention_mask")
        without_mask = hf_model(**kwargs, labels=torch_labels)
    # Google: sum(mask * loss) / sum(mask), computed here in NumPy.
    z, mask = logits.numpy().astype("float64"), inputs["padding_mask"]
    per_token = np.maximum(z, 0) - z * labels + np.log1p(np.exp(-np.abs(z)))
    google = float((per_token * mask).sum() / mask.sum())
    # Integer inputs without sample weights: compute_loss uses the mask.
    ours = float(
        keras.ops.convert_to_numpy(
            model.compute_loss(x=inputs, y=labels, y_pred=model(inputs))
        )
    )
    assert abs(ours - google) <= 1e-5
    assert abs(ours - float(with_mask.loss)) <= 1e-5
    # HF without an attention mask also averages over the padding.
    assert abs(float(without_mask.loss) - google) > 1e-3
    direct = ReplacedTokenDetectionLoss()(
        labels, logits.numpy(), sample_weight=mask
    )
    assert abs(float(keras.ops.convert_to_numpy(direct)) - google) <= 1e-5


def test_preprocessor_packs_labels_like_tokens(tokenizer):
    preprocessor = ElectraDiscriminatorPreprocessor(
        tokenizer, sequence_length=6
    )
    texts = ["the cat sat on the mat", "a dog"]
    labels = [[0, 1, 0, 0, 1, 1], [1, 0]]
    x, y, weights = preprocessor(texts, labels)
    x, y, weights = (
        to_numpy(x),
        to_numpy({"y": y})["y"],
        to_numpy({"w": weights})["w"],
    )
    np.testing.assert_array_equal(
        x["token_ids"],
        [[101, 1996, 4937, 2938, 2006, 102], [101, 1037, 3899, 102, 0, 0]],
    )
    # [CLS]/[SEP]/padding are 0; the cut at 4 word pieces cuts labels too.
    np.testing.assert_array_equal(y, [[0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(weights, [[1] * 6, [1, 1, 1, 1, 0, 0]])
    # The same through tf.data (the TensorFlow path used by fit()).
    ds = (
        tf.data.Dataset.from_tensor_slices(
            (tf.constant(texts), tf.ragged.constant(labels))
        )
        .batch(2)
        .map(preprocessor)
    )
    _, tf_y, tf_weights = next(iter(ds))
    np.testing.assert_array_equal(tf_y.numpy(), y)
    np.testing.assert_array_equal(tf_weights.numpy(), weights)


def test_preprocessor_rejects_labels_of_the_wrong_length(tokenizer):
    preprocessor = ElectraDiscriminatorPreprocessor(
        tokenizer, sequence_length=8
    )
    with pytest.raises(ValueError, match="one label per word piece"):
        preprocessor(["the cat sat"], [[0, 1]])
    ds = (
        tf.data.Dataset.from_tensor_slices(
            (
                tf.constant(["the cat sat", "a dog"]),
                tf.ragged.constant([[0, 1], [1, 0]]),
            )
        )
        .batch(2)
        .map(preprocessor)
    )
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="one label per word"
    ):
        next(iter(ds))
    with pytest.raises(ValueError, match="do not pass `sample_weight`"):
        preprocessor(["the cat"], [[0, 1]], sample_weight=[[1.0, 1.0]])


@pytest.fixture(scope="module")
def hf_tokenizer():
    hf = transformers.BertTokenizerFast(vocab=str(VOCAB_PATH))
    assert hf.tokenize("photosynthesis") == ["photos", "##yn", "##thesis"]
    return hf


@pytest.mark.backend_sensitive
def test_replaced_token_probabilities_match_hf(tokenizer, hf_tokenizer):
    config = hf_config("square", vocab_size=BERT_VOCAB_SIZE)
    hf_model = lively_hf_model(transformers.ElectraForPreTraining, config)
    preprocessor = ElectraDiscriminatorPreprocessor(
        tokenizer, sequence_length=20
    )
    model = keras_task_from_hf(ElectraDiscriminator, hf_model, preprocessor)
    texts = [
        "The chef cooked the meal.",
        "Photosynthesis makes sugar, isn't it?",
    ]
    ours = model.replaced_token_probabilities(texts)
    for text, scored in zip(texts, ours):
        encoded = hf_tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            logits = hf_model(**encoded).logits[0, 1:-1]
        ids = encoded["input_ids"][0, 1:-1].tolist()
        assert [
            piece for piece, _ in scored
        ] == hf_tokenizer.convert_ids_to_tokens(ids)
        probabilities = torch.sigmoid(logits).numpy()
        assert np.max(np.abs([p for _, p in scored] - probabilities)) <= 1e-5
    # One text alone scores as in the batch (up to float rounding: the
    # batch is padded to a different length).
    alone = model.replaced_token_probabilities(texts[0])
    assert [piece for piece, _ in alone] == [piece for piece, _ in ours[0]]
    np.testing.assert_allclose(
        [p for _, p in alone], [p for _, p in ours[0]], rtol=0, atol=1e-6
    )


def test_replaced_token_probabilities_reject_bad_input(tokenizer):
    preprocessor = ElectraDiscriminatorPreprocessor(
        tokenizer, sequence_length=8
    )
    model = ElectraDiscriminator(tiny_backbone(), preprocessor)
    with pytest.raises(
        TypeError, match="string or a non-empty list of strings"
    ):
        model.replaced_token_probabilities(7)
    with pytest.raises(TypeError, match="list of int"):
        model.replaced_token_probabilities(["fine", 3])
    with pytest.raises(ValueError, match="needs a preprocessor"):
        ElectraDiscriminator(model.backbone).replaced_token_probabilities("a b")


def replaced_texts(tokenizer, lines, rate=0.15, seed=0):
    """Texts with random whole words swapped in, and per-piece 0/1 labels.

    Only whole-word pieces between whole-word pieces are replaced, by other
    whole words, so the new text tokenizes back to exactly the new pieces
    (checked; the rare line that does not is dropped).
    """
    rng = np.random.default_rng(seed)
    vocabulary = tokenizer.get_vocabulary()
    words = [i for i, t in enumerate(vocabulary[1996:], 1996) if t.isalpha()]
    texts, labels = [], []
    for ids in tokenizer(lines):
        ids = [int(i) for i in ids]
        new = list(ids)
        for p in range(len(ids)):
            following = vocabulary[ids[p + 1]] if p + 1 < len(ids) else ""
            pieces = (vocabulary[ids[p]], following)
            if (
                not any(piece.startswith("##") for piece in pieces)
                and rng.random() < rate
            ):
                new[p] = int(rng.choice(words))
        text = decode_word_pieces([vocabulary[i] for i in new])
        if [int(i) for i in tokenizer([text])[0]] == new:
            texts.append(text)
            labels.append([int(a != b) for a, b in zip(ids, new)])
    return texts, labels


@pytest.mark.backend_sensitive
def test_fit_on_raw_text_and_labels_lowers_the_loss(tokenizer):
    keras.utils.set_random_seed(0)
    texts, labels = replaced_texts(tokenizer, austen_lines(200))
    assert len(texts) > 160
    preprocessor = ElectraDiscriminatorPreprocessor(
        tokenizer, sequence_length=32
    )
    model = ElectraDiscriminator(tiny_backbone(), preprocessor)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    x, y, weights = preprocessor(texts[:64], labels[:64])
    loss = ReplacedTokenDetectionLoss()

    def measured():
        return float(loss(y, model(x, training=False), sample_weight=weights))

    before = measured()
    history = model.fit(texts, labels, batch_size=16, epochs=2, verbose=0)
    after = measured()
    print(f"discriminator loss {before:.3f} -> {after:.3f}")
    assert after < before - 0.2
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.backend_sensitive
def test_keras_file_and_preset_round_trips_keep_outputs(tokenizer, tmp_path):
    preprocessor = ElectraDiscriminatorPreprocessor(
        tokenizer, sequence_length=12
    )
    model = ElectraDiscriminator(tiny_backbone(), preprocessor)
    texts = ["the cat sat on the mat", "a dog barked"]
    inputs = to_numpy(preprocessor(texts))
    expected = numpy_out(model, inputs)
    expected_scores = model.replaced_token_probabilities(texts)

    path = str(tmp_path / "discriminator.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ElectraDiscriminator)
    np.testing.assert_array_equal(numpy_out(restored, inputs), expected)
    assert restored.replaced_token_probabilities(texts) == expected_scores

    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    loaded = ElectraDiscriminator.from_preset(preset)
    np.testing.assert_array_equal(numpy_out(loaded, inputs), expected)
    assert loaded.replaced_token_probabilities(texts) == expected_scores
