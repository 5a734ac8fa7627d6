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

from keras_electra.convert.hf_heads import load_hf_tensors
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_multiple_choice import ElectraMultipleChoice
from keras_electra.models.electra_multiple_choice_preprocessor import (
    ElectraMultipleChoicePreprocessor,
)
from keras_electra.models.electra_tokenizer import DEFAULT_VOCABULARY_PATH
from keras_electra.models.electra_tokenizer import ElectraTokenizer
from keras_electra.optimizers import LayerwiseDecayAdamW

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "answer", "is", "right", "wrong", "maybe", "which", "one", "?"]


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def hf_tokenizer():
    # `vocab=`, not `vocab_file=` (ignored by transformers 5, see DESIGN.md).
    tokenizer = transformers.BertTokenizerFast(vocab=DEFAULT_VOCABULARY_PATH)
    assert tokenizer("the cat sat").input_ids == [101, 1996, 4937, 2938, 102]
    return tokenizer


def small_model(num_choices=3, sequence_length=10, dropout=0.1):
    """A model over a few words: quick to build, trace and train."""
    keras.utils.set_random_seed(0)
    tokenizer = ElectraTokenizer(vocabulary=SPECIAL_TOKENS + WORDS)
    preprocessor = ElectraMultipleChoicePreprocessor(
        tokenizer, sequence_length=sequence_length, num_choices=num_choices
    )
    backbone = ElectraBackbone(
        vocabulary_size=len(SPECIAL_TOKENS) + len(WORDS), num_layers=2,
        num_heads=2, hidden_dim=32, embedding_dim=16, intermediate_dim=64,
        max_sequence_length=sequence_length, dropout=dropout,
    )
    return ElectraMultipleChoice(
        backbone, num_choices, preprocessor=preprocessor, dropout=dropout
    )


def choice_data(count=24, num_choices=3, seed=0):
    """Prompts, choices and labels: the right choice says "right"."""
    rng = np.random.default_rng(seed)
    prompts, choices, labels = [], [], []
    for _ in range(count):
        label = int(rng.integers(num_choices))
        row = [
            "the answer is " + ("right" if i == label else rng.choice(
                ["wrong", "maybe"]
            ))
            for i in range(num_choices)
        ]
        prompts.append(str(rng.choice(["which one ?", "the answer ?"])))
        choices.append(row)
        labels.append(label)
    return np.array(prompts), np.array(choices), np.array(labels, "int32")


# ---------------------------------------------------------------------------
# HF parity.
# ---------------------------------------------------------------------------


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_matches_hf_multiple_choice(name):
    config = hf_config(name)
    hf_model = random_hf_model(transformers.ElectraForMultipleChoice, config)
    model = ElectraMultipleChoice(keras_backbone_from_hf(hf_model), 4)
    load_hf_tensors(model, state_dict_numpy(hf_model))
    # 2 examples x 4 choices, padded to several lengths, two segments.
    length = config.max_position_embeddings
    flat = padded_batch(config, batch=8, length=length)
    inputs = {k: v.reshape(2, 4, length) for k, v in flat.items()}
    with torch.no_grad():
        expected = hf_model(**hf_forward_kwargs(inputs)).logits.numpy()
    ours = to_numpy(model(inputs))
    assert ours.shape == expected.shape == (2, 4)
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours - expected)) <= 1e-5


@pytest.mark.backend_sensitive
def test_raw_strings_match_hf_tokenizer_and_model():
    config = transformers.ElectraConfig(
        **{**TINY_CONFIGS["factorized"], "vocab_size": 30522,
           "max_position_embeddings": 16},
    )
    hf_model = random_hf_model(transformers.ElectraForMultipleChoice, config)
    model = ElectraMultipleChoice(
        keras_backbone_from_hf(hf_model),
        2,
        preprocessor=ElectraMultipleChoicePreprocessor(
            ElectraTokenizer(), sequence_length=12, num_choices=2
        ),
    )
    load_hf_tensors(model, state_dict_numpy(hf_model))
    prompts = np.array([
        "Where do penguins live?",
        "The quick brown fox jumped over the lazy dog because it was late",
    ])
    choices = np.array([
        ["In Antarctica, mostly.", "In the Sahara desert and in big cities."],
        ["Yes.", "No, it was early."],
    ])
    encoded = hf_tokenizer()(
        [p for p in prompts for _ in range(2)], list(choices.reshape(-1)),
        padding="max_length", truncation=True, max_length=12,
        return_tensors="pt",
    )
    encoded = {k: v.reshape(2, 2, 12) for k, v in encoded.items()}
    with torch.no_grad():
        expected = hf_model(**encoded).logits.numpy()
    x = model.preprocessor(x=(prompts, choices))
    for ours_key, hf_key in [
        ("token_ids", "input_ids"),
        ("segment_ids", "token_type_ids"),
        ("padding_mask", "attention_mask"),
    ]:
        np.testing.assert_array_equal(
            to_numpy(x[ours_key]).astype(int), encoded[hf_key].numpy()
        )
    ours = model.predict((prompts, choices), batch_size=2, verbose=0)
    assert np.max(np.abs(ours - expected)) <= 1e-5


def test_preprocessor_pairs_prompt_with_each_choice():
    preprocessor = ElectraMultipleChoicePreprocessor(
        ElectraTokenizer(vocabulary=SPECIAL_TOKENS + WORDS), sequence_length=8
    )
    x = preprocessor(x=("which one ?", ["right", "the answer"]))
    cls, sep = 2, 3
    ids = {w: i + len(SPECIAL_TOKENS) for i, w in enumerate(WORDS)}
    prompt = [cls, ids["which"], ids["one"], ids["?"], sep]
    assert to_numpy(x["token_ids"]).tolist() == [[
        prompt + [ids["right"], sep, 0],
        prompt + [ids["the"], ids["answer"], sep],
    ]]
    assert to_numpy(x["segment_ids"]).tolist() == [[
        [0, 0, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 1, 1, 1],
    ]]


# ---------------------------------------------------------------------------
# Training and saving.
# ---------------------------------------------------------------------------


@pytest.mark.backend_sensitive
def test_fit_on_raw_strings_lowers_loss():
    prompts, choices, labels = choice_data()
    model = small_model(dropout=0.0)
    model.compile(
        optimizer=LayerwiseDecayAdamW(1e-2, layer_decay=0.8),
        jit_compile=QUICK_JIT,
    )
    ds = tf.data.Dataset.from_tensor_slices(((prompts, choices), labels))
    ds = ds.batch(8)
    before = model.evaluate(ds, verbose=0)[0]
    model.fit(ds, epochs=4, verbose=0)
    after = model.evaluate(ds, verbose=0)[0]
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    assert after < before - 0.05, (before, after)


@pytest.mark.backend_sensitive
def test_keras_file_round_trip(tmp_path):
    prompts, choices, labels = choice_data(count=4)
    model = small_model()
    model.compile(jit_compile=QUICK_JIT)
    model.fit((prompts, choices), labels, batch_size=4, verbose=0)
    path = str(tmp_path / "multiple_choice.keras")
    model.save(path)
    keras.utils.set_random_seed(123)  # A re-initialised weight would differ.
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ElectraMultipleChoice)
    assert restored.num_choices == 3
    assert restored.preprocessor.num_choices == 3
    x = model.preprocessor(x=(prompts, choices))
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(restored(x)))
    assert isinstance(restored.optimizer, LayerwiseDecayAdamW)
    assert int(to_numpy(restored.optimizer.iterations)) == 1


@pytest.mark.backend_sensitive
def test_preset_round_trip(tmp_path):
    prompts, choices, _ = choice_data(count=4)
    model = small_model()
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    keras.utils.set_random_seed(123)  # A re-initialised weight would differ.
    restored = ElectraMultipleChoice.from_preset(preset)
    assert restored.num_choices == 3
    x = model.preprocessor(x=(prompts, choices))
    x_restored = restored.preprocessor(x=(prompts, choices))
    for key in x:
        np.testing.assert_array_equal(
            to_numpy(x[key]), to_numpy(x_restored[key])
        )
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(restored(x)))


def test_logits_stay_float32_under_mixed_precision():
    backbone = ElectraBackbone(
        vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8, dtype="mixed_bfloat16",
    )
    model = ElectraMultipleChoice(backbone, 2)
    inputs = {
        "token_ids": np.ones((1, 2, 5), "int32"),
        "segment_ids": np.zeros((1, 2, 5), "int32"),
        "padding_mask": np.ones((1, 2, 5), "int32"),
    }
    scores = model(inputs)
    assert keras.backend.standardize_dtype(scores.dtype) == "float32"
    assert model.summary_dense.compute_dtype == "bfloat16"


# ---------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------


def test_wrong_number_of_choices_in_integer_inputs_raises():
    model = ElectraMultipleChoice(
        ElectraBackbone(
            vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
            intermediate_dim=16, max_sequence_length=8,
        ),
        num_choices=4,
    )
    inputs = {k: np.ones((2, 3, 5), "int32") for k in
              ("token_ids", "segment_ids", "padding_mask")}
    with pytest.raises(ValueError, match=r"num_choices=4\) received 3 choices"):
        model(inputs)
    with pytest.raises(ValueError, match="must be 3-D"):
        model({k: v[:, 0] for k, v in inputs.items()})


def test_wrong_number_of_choices_in_strings_raises():
    model = small_model(num_choices=3)
    with pytest.raises(ValueError, match=r"Expected 3 choices .* received 2"):
        model.preprocessor(x=(["which one ?"], [["right", "wrong"]]))
    with pytest.raises(ValueError, match=r"same number of choices.*\[3, 2\]"):
        model.preprocessor(
            x=(["a", "b"], [["right", "wrong", "maybe"], ["right", "wrong"]])
        )
    ragged = tf.data.Dataset.from_tensor_slices(
        ((["a", "b"], tf.ragged.constant([["x", "y", "z"], ["x", "y"]])),
         [0, 1])
    ).batch(2)
    with pytest.raises(ValueError, match="same number of choices"):
        model.fit(ragged, verbose=0)
    with pytest.raises(ValueError, match=r"Expected 3 choices .* received 2"):
        model.predict(
            (np.array(["a"]), np.array([["right", "wrong"]])), verbose=0
        )


def test_non_string_input_raises():
    model = small_model()
    with pytest.raises(ValueError, match="expects choices as strings"):
        model.preprocessor(x=(["which one ?"], [[1, 2, 3]]))
    with pytest.raises(ValueError, match=r"expects `x=\(prompts, choices\)`"):
        model.preprocessor(["which one ?"])
    with pytest.raises(ValueError, match="received an array of dtype int64"):
        model.predict(
            (np.array([1]), np.array([["right", "wrong", "maybe"]])),
            verbose=0,
        )


def test_bad_arguments_raise():
    backbone = ElectraBackbone(
        vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8,
    )
    with pytest.raises(ValueError, match="positive int"):
        ElectraMultipleChoice(backbone, num_choices=0)
    with pytest.raises(ValueError, match="longest_first"):
        ElectraMultipleChoicePreprocessor(ElectraTokenizer(), truncate="x")
