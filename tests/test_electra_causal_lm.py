import keras
import keras_hub
import numpy as np
import pytest
import torch
import transformers
from hf_reference import TINY_CONFIGS
from hf_reference import hf_config
from hf_reference import hf_forward_kwargs
from hf_reference import max_abs_diff_at_real_positions
from hf_reference import padded_batch
from hf_reference import random_hf_model
from lm_reference import austen_lines
from lm_reference import loss_before_and_after_fit
from lm_reference import keras_task_from_hf
from lm_reference import lively_hf_model
from lm_reference import numpy_out
from lm_reference import tiny_backbone
from lm_reference import to_numpy

from keras_electra.models.electra_causal_lm import ElectraCausalLM
from keras_electra.models.electra_causal_lm_preprocessor import (
    ElectraCausalLMPreprocessor,
)
from keras_electra.models.electra_tokenizer import ElectraTokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return ElectraTokenizer()


def causal_inputs(inputs):
    """HF's `ElectraForCausalLM` inputs without token types (all 0)."""
    return {
        "token_ids": inputs["token_ids"],
        "padding_mask": inputs["padding_mask"],
    }


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_logits_match_hf_electra_for_causal_lm(name):
    config = hf_config(name, is_decoder=True)
    hf_model = random_hf_model(transformers.ElectraForCausalLM, config)
    model = keras_task_from_hf(ElectraCausalLM, hf_model)
    inputs = padded_batch(
        config, batch=4, length=config.max_position_embeddings
    )
    kwargs = hf_forward_kwargs(inputs)
    kwargs.pop("token_type_ids")
    with torch.no_grad():
        expected = hf_model(**kwargs).logits.numpy()
    ours = numpy_out(model, causal_inputs(inputs))
    assert ours.shape == expected.shape
    diff = max_abs_diff_at_real_positions(
        ours, expected, inputs["padding_mask"]
    )
    assert diff <= 1e-5
    # The mask is causal: later tokens do not change earlier logits.
    changed = dict(causal_inputs(inputs), token_ids=inputs["token_ids"].copy())
    changed["token_ids"][:, 5:] = 7
    np.testing.assert_allclose(
        numpy_out(model, changed)[:, :5], ours[:, :5], atol=1e-6
    )


@pytest.fixture(scope="module", params=sorted(TINY_CONFIGS))
def twins(request):
    """A lively random HF causal LM and its Keras twin."""
    config = hf_config(request.param, is_decoder=True)
    hf_model = lively_hf_model(transformers.ElectraForCausalLM, config)
    return hf_model, keras_task_from_hf(ElectraCausalLM, hf_model)


def prompt_batch(prompts, max_length):
    token_ids = np.zeros((len(prompts), max_length), "int32")
    padding_mask = np.zeros((len(prompts), max_length), "int32")
    for i, prompt in enumerate(prompts):
        token_ids[i, : len(prompt)] = prompt
        padding_mask[i, : len(prompt)] = 1
    return {"token_ids": token_ids, "padding_mask": padding_mask}


def logits_without_cache(model, ids, max_length):
    """Next-token logits after `ids`, from a full forward pass, no cache.

    The prefix is padded to `max_length` so that every call has the same
    shape (JAX compiles each new shape); the mask is causal, so the padding
    after the prefix cannot change its logits.
    """
    token_ids = np.zeros((1, max_length), "int32")
    token_ids[0, : len(ids)] = ids
    inputs = {"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)}
    return numpy_out(model, inputs)[0, len(ids) - 1]


def greedy_without_cache(model, prompt, max_length):
    """Greedy decoding that recomputes the whole prefix at every step."""
    ids = list(prompt)
    while len(ids) < max_length:
        ids.append(int(np.argmax(logits_without_cache(model, ids, max_length))))
    return ids


@pytest.mark.backend_sensitive
def test_cached_step_logits_match_full_forward(twins):
    _, model = twins
    token_ids = np.array([[5, 17, 33, 8, 60, 2, 11, 40]], "int32")
    full = numpy_out(
        model, {"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)}
    )
    _, cache = model._build_cache(token_ids)
    for index in (3, 6):
        logits, _, _ = model.call_with_cache(
            token_ids[:, index : index + 1], cache, index
        )
        step = keras.ops.convert_to_numpy(logits)[:, 0]
        assert np.max(np.abs(step - full[:, index])) <= 1e-5


@pytest.mark.backend_sensitive
def test_greedy_generate_matches_hf_generate(twins):
    hf_model, model = twins
    prompts = np.array([[12, 40, 7, 33], [90, 3, 56, 21]])
    new_tokens = 10
    with torch.no_grad():
        expected = hf_model.generate(
            torch.tensor(prompts, dtype=torch.long),
            attention_mask=torch.ones(prompts.shape, dtype=torch.long),
            max_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=0,
        ).numpy()
    assert expected.shape == (2, 4 + new_tokens)
    # Random weights must still give varied text, or this tests little.
    assert len(set(expected[:, 4:].ravel().tolist())) >= 3
    model.compile(sampler="greedy")
    outputs = model.generate(
        prompt_batch(prompts, 4 + new_tokens), stop_token_ids=None
    )
    np.testing.assert_array_equal(outputs["token_ids"], expected)


@pytest.mark.backend_sensitive
def test_cached_generate_equals_uncached_recomputation(twins):
    _, model = twins
    prompts = [[12, 40, 7], [90, 3, 56, 21, 8]]
    max_length = 13
    model.compile(sampler="greedy")
    outputs = model.generate(
        prompt_batch(prompts, max_length), stop_token_ids=None
    )
    for row, prompt in zip(outputs["token_ids"], prompts):
        assert row.tolist() == greedy_without_cache(model, prompt, max_length)


@pytest.mark.backend_sensitive
def test_top_k_sampling_picks_from_the_top_k(twins):
    _, model = twins
    prompt = [12, 40, 7]
    model.compile(sampler=keras_hub.samplers.TopKSampler(k=3, seed=1))
    outputs = model.generate(prompt_batch([prompt], 12), stop_token_ids=None)
    ids = outputs["token_ids"][0].tolist()
    for length in range(len(prompt), 12):
        logits = logits_without_cache(model, ids[:length], 12)
        assert ids[length] in np.argsort(-logits)[:3].tolist()


@pytest.fixture(scope="module")
def small_lm(tokenizer):
    preprocessor = ElectraCausalLMPreprocessor(tokenizer, sequence_length=16)
    return ElectraCausalLM(tiny_backbone(), preprocessor)


@pytest.mark.backend_sensitive
def test_generate_on_strings_continues_the_prompt(small_lm):
    small_lm.compile(sampler="greedy")
    texts = small_lm.generate(["the cat sat", "pride and"], max_length=10)
    assert texts[0].startswith("the cat sat")
    assert texts[1].startswith("pride and")
    assert isinstance(small_lm.generate("emma", max_length=6), str)


def test_preprocessor_shifts_labels_by_one(tokenizer):
    preprocessor = ElectraCausalLMPreprocessor(tokenizer, sequence_length=6)
    x, y, weights = preprocessor(["the cat sat"])
    x = to_numpy(x)
    np.testing.assert_array_equal(
        x["token_ids"], [[101, 1996, 4937, 2938, 102, 0]]
    )
    np.testing.assert_array_equal(
        to_numpy({"y": y})["y"], [[1996, 4937, 2938, 102, 0, 0]]
    )
    np.testing.assert_array_equal(
        to_numpy({"w": weights})["w"], [[1, 1, 1, 1, 0, 0]]
    )
    assert ElectraCausalLMPreprocessor(tokenizer).sequence_length == 512


def test_bad_integer_inputs_are_rejected(small_lm):
    too_long = {
        "token_ids": np.ones((1, 40), "int32"),
        "padding_mask": np.ones((1, 40), "int32"),
    }
    with pytest.raises(
        ValueError, match="exceeds the model's max_sequence_length"
    ):
        small_lm(too_long)
    bad_ids = {
        "token_ids": np.array([[101, 99999]], "int32"),
        "padding_mask": np.ones((1, 2), "int32"),
    }
    with pytest.raises(ValueError, match="'token_ids' must lie in"):
        small_lm(bad_ids)


@pytest.mark.backend_sensitive
def test_fit_on_raw_text_lowers_the_loss(tokenizer):
    keras.utils.set_random_seed(0)
    preprocessor = ElectraCausalLMPreprocessor(tokenizer, sequence_length=24)
    model = ElectraCausalLM(tiny_backbone(), preprocessor)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    lines = austen_lines(160)
    before, after = loss_before_and_after_fit(
        model, preprocessor, lines, epochs=2
    )
    print(f"causal LM loss {before:.3f} -> {after:.3f}")
    assert after < before - 2.0


@pytest.mark.backend_sensitive
def test_keras_file_and_preset_round_trips_keep_outputs_and_tie(
    small_lm, tmp_path
):
    inputs = {
        "token_ids": np.array([[101, 1996, 4937, 2938, 102]], "int32"),
        "padding_mask": np.ones((1, 5), "int32"),
    }
    expected = numpy_out(small_lm, inputs)
    small_lm.compile(sampler="greedy")
    expected_text = small_lm.generate("the cat", max_length=10)

    path = str(tmp_path / "causal_lm.keras")
    small_lm.save(path)
    restored = keras.saving.load_model(path)
    preset = str(tmp_path / "preset")
    small_lm.save_to_preset(preset)
    loaded = ElectraCausalLM.from_preset(preset)
    for model in (restored, loaded):
        assert isinstance(model, ElectraCausalLM)
        np.testing.assert_array_equal(numpy_out(model, inputs), expected)
        model.compile(sampler="greedy")
        assert model.generate("the cat", max_length=10) == expected_text
        assert_tied(model, inputs)


def assert_tied(model, inputs):
    """The decoder is the backbone's word embedding, not a copy of it."""
    assert (
        model.generator_head.token_embedding is model.backbone.token_embedding
    )
    embeddings = model.backbone.token_embedding.embeddings
    original = keras.ops.convert_to_numpy(embeddings)
    before = numpy_out(model, inputs)
    # Move the row of a token absent from the input: only its logit moves.
    changed = original.copy()
    changed[5000] += np.random.default_rng(0).normal(size=original.shape[1])
    embeddings.assign(changed)
    after = numpy_out(model, inputs)
    embeddings.assign(original)
    difference = after - before
    assert np.min(np.abs(difference[..., 5000])) > 1e-3
    assert np.max(np.abs(np.delete(difference, 5000, axis=-1))) <= 1e-5
