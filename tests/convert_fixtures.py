"""Checkpoints written by the conversion tests, and HF <-> Keras comparisons."""

import json
import os

import keras
import numpy as np
import torch
import transformers
from hf_reference import hf_config
from hf_reference import hf_forward_kwargs
from hf_reference import padded_batch
from hf_reference import random_hf_model

# keras_electra task -> (HF class, HF config overrides).
HEADS = {
    "ElectraBackbone": ("ElectraModel", {}),
    "ElectraClassifier": (
        "ElectraForSequenceClassification",
        {"id2label": {0: "neg", 1: "neutral", 2: "pos"},
         "label2id": {"neg": 0, "neutral": 1, "pos": 2}},
    ),
    "ElectraTokenClassifier": (
        "ElectraForTokenClassification", {"num_labels": 5},
    ),
    "ElectraQuestionAnswerer": ("ElectraForQuestionAnswering", {}),
    "ElectraMultipleChoice": ("ElectraForMultipleChoice", {}),
    "ElectraDiscriminator": ("ElectraForPreTraining", {}),
    "ElectraMaskedLM": ("ElectraForMaskedLM", {}),
    "ElectraCausalLM": ("ElectraForCausalLM", {"is_decoder": True}),
}
TASKS = [name for name in HEADS if name != "ElectraBackbone"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "quick", "brown", "fox", "jump", "over", "lazy", "dog", "cafe",
         "cat", "is", "a", "good", "bad", "##s", "##ed", "##ing", ",", ".",
         "!", "?"]
NUM_CHOICES = 3
MASK_POSITIONS = np.array([[1, 2, 0], [0, 2, 1], [2, 0, 1]], "int32")


def tiny_vocabulary(size):
    """A WordPiece vocabulary of exactly `size` tokens."""
    tokens = SPECIAL + WORDS
    tokens += [f"w{i}" for i in range(size - len(tokens))]
    return tokens[:size]


def random_hf(task, config_name="factorized", seed=0, **overrides):
    hf_class, head_overrides = HEADS[task]
    config = hf_config(config_name, **{**head_overrides, **overrides})
    return random_hf_model(getattr(transformers, hf_class), config, seed=seed)


def write_tokenizer(folder, vocab_size, lowercase=True, vocab_txt=True):
    """HF tokenizer files: vocab.txt + tokenizer_config.json (Google style)
    or, with `vocab_txt=False`, what transformers 5's save_pretrained writes
    (tokenizer.json + tokenizer_config.json)."""
    vocabulary = tiny_vocabulary(vocab_size)
    vocab_path = os.path.join(folder, "vocab.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocabulary))
    if vocab_txt:
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump({"do_lower_case": lowercase,
                       "tokenizer_class": "ElectraTokenizer"}, f)
        return vocabulary
    tokenizer = transformers.ElectraTokenizer(vocab=vocab_path,
                                              do_lower_case=lowercase)
    os.remove(vocab_path)
    tokenizer.save_pretrained(folder)
    return vocabulary


def save_hf(model, folder, fmt="safetensors", tokenizer=True):
    """`save_pretrained` (safetensors) or a torch.save `.bin` state dict."""
    os.makedirs(folder, exist_ok=True)
    if fmt == "safetensors":
        model.save_pretrained(folder)
    else:
        model.config.save_pretrained(folder)
        state = dict(model.state_dict())
        # Old `.bin` files carry this buffer; loading must ignore it.
        prefix = "electra." if model.base_model_prefix and not isinstance(
            model, transformers.ElectraModel) else ""
        state[prefix + "embeddings.position_ids"] = torch.arange(
            model.config.max_position_embeddings
        )[None]
        torch.save(state, os.path.join(folder, "pytorch_model.bin"))
    if tokenizer:
        write_tokenizer(folder, model.config.vocab_size)
    return folder


def task_inputs(task, config):
    """Padded integer inputs for `task` (multiple choice: (B, N, L))."""
    if task == "ElectraMultipleChoice":
        flat = padded_batch(config, batch=2 * NUM_CHOICES, length=11)
        return {k: v.reshape(2, NUM_CHOICES, -1) for k, v in flat.items()}
    inputs = padded_batch(config, batch=3, length=11)
    if task == "ElectraMaskedLM":
        inputs["mask_positions"] = MASK_POSITIONS
    if task == "ElectraCausalLM":
        del inputs["segment_ids"]
    return inputs


def hf_expected(task, hf_model, inputs):
    """HF outputs in keras_electra's layout, and the mask of real entries."""
    kwargs = dict(inputs)
    if "segment_ids" not in kwargs:
        kwargs["segment_ids"] = np.zeros_like(kwargs["token_ids"])
    mask_positions = kwargs.pop("mask_positions", None)
    with torch.no_grad():
        out = hf_model(**hf_forward_kwargs(kwargs))
    padding = np.asarray(inputs["padding_mask"]).astype(bool)
    if task == "ElectraBackbone":
        return out.last_hidden_state.numpy(), padding
    if task == "ElectraQuestionAnswerer":
        both = np.stack([out.start_logits.numpy(), out.end_logits.numpy()], -1)
        return both, padding
    logits = out.logits.numpy()
    if task == "ElectraMaskedLM":
        gathered = np.take_along_axis(logits, mask_positions[..., None], 1)
        return gathered, None
    if task in ("ElectraClassifier", "ElectraMultipleChoice"):
        return logits, None
    return logits, padding


def max_diff(task, keras_model, hf_model, config):
    inputs = task_inputs(task, config)
    expected, mask = hf_expected(task, hf_model, inputs)
    ours = keras.ops.convert_to_numpy(keras_model(inputs))
    assert ours.shape == expected.shape, (ours.shape, expected.shape)
    if mask is not None:
        ours, expected = ours[mask], expected[mask]
    return float(np.max(np.abs(ours - expected)))


def weights_equal(a, b):
    wa = [keras.ops.convert_to_numpy(w) for w in a.weights]
    wb = [keras.ops.convert_to_numpy(w) for w in b.weights]
    return len(wa) == len(wb) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(wa, wb)
    )
