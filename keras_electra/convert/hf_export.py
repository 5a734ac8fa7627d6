"""keras_electra models back to Hugging Face transformers checkpoint folders."""

import json
import os

import numpy as np

from keras_electra.convert.atomic_dir import atomic_dir
from keras_electra.convert.checkpoint import DEFAULT_VOCAB
from keras_electra.convert.checkpoint import Checkpoint
from keras_electra.convert.checkpoint import read_vocab_file
from keras_electra.convert.hf_config import hf_config_from_backbone
from keras_electra.convert.hf_heads import hf_task_entry
from keras_electra.convert.hf_heads import hf_tensors
from keras_electra.convert.hf_heads import task_name
from keras_electra.convert.tensor_files import write_safetensors

SPECIAL_TOKENS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}


def _labels(model):
    names = getattr(model, "label_names", None) or [
        f"LABEL_{i}" for i in range(model.num_classes)
    ]
    return {
        "num_labels": len(names),
        "id2label": {str(i): name for i, name in enumerate(names)},
        "label2id": {name: i for i, name in enumerate(names)},
    }


def head_config(model):
    """The HF config entries that describe `model`'s task head."""
    task = task_name(model)
    config = {}
    if task in ("ElectraClassifier", "ElectraTokenClassifier"):
        config.update(_labels(model))
        if getattr(model, "dropout", None) is not None:
            config["classifier_dropout"] = model.dropout
    if task == "ElectraClassifier":
        config["problem_type"] = getattr(model, "problem_type", None)
    if task == "ElectraCausalLM":
        config["is_decoder"] = True
    if task == "ElectraMultipleChoice":
        # HF's `ElectraSequenceSummary`: token 0 -> dense -> gelu -> dropout.
        config.update({
            "summary_type": "first",
            "summary_use_proj": True,
            "summary_activation": "gelu",
            "summary_last_dropout": getattr(model, "dropout", 0.1),
            # Not an HF field (HF takes any number); kept for the way back.
            "num_choices": model.num_choices,
        })
    return config


def _tokenizer_of(model, tokenizer):
    if tokenizer is not None:
        return tokenizer
    preprocessor = getattr(model, "preprocessor", None)
    return getattr(preprocessor, "tokenizer", None)


def checkpoint_from_model(model, tokenizer=None):
    """A `Checkpoint` (HF config and tensor names) of a keras_electra model.

    Args:
        model: an `ElectraBackbone` or a keras_electra task.
        tokenizer: optional `ElectraTokenizer`; defaults to the task
            preprocessor's, else the bundled uncased vocabulary when the
            vocabulary size matches it.
    """
    backbone = getattr(model, "backbone", model)
    config = hf_config_from_backbone(backbone)
    entry = hf_task_entry(model)
    if entry is not None:
        config["architectures"] = [entry[0]]
        config.update(head_config(model))
    tokenizer = _tokenizer_of(model, tokenizer)
    notes = []
    options = {}
    if tokenizer is not None:
        vocabulary = [str(t) for t in tokenizer.get_vocabulary()]
        options = {
            "lowercase": bool(getattr(tokenizer, "lowercase", True)),
            "strip_accents": getattr(tokenizer, "strip_accents", None),
            "split_on_cjk": bool(getattr(tokenizer, "split_on_cjk", True)),
        }
    else:
        vocabulary = read_vocab_file(DEFAULT_VOCAB)
        if len(vocabulary) != backbone.vocabulary_size:
            vocabulary = None
            notes.append("no tokenizer: no vocab.txt written")
    tensors = {
        name: value.astype(np.float32)
        if np.issubdtype(value.dtype, np.floating) or value.dtype.kind == "V"
        else value
        for name, value in hf_tensors(model).items()
    }
    return Checkpoint(config=config, tensors=tensors, vocabulary=vocabulary,
                      source=model.name, notes=notes, **options)


def _tokenizer_config(checkpoint):
    config = {
        "tokenizer_class": "ElectraTokenizer",
        "do_lower_case": checkpoint.lowercase,
        "strip_accents": checkpoint.strip_accents,
        "tokenize_chinese_chars": checkpoint.split_on_cjk,
        "model_max_length": checkpoint.config["max_position_embeddings"],
        **SPECIAL_TOKENS,
    }
    return config


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")


def write_hf_checkpoint(checkpoint, dest, overwrite=False):
    """Write `checkpoint` as an HF folder: config, safetensors, tokenizer."""
    with atomic_dir(dest, overwrite=overwrite) as tmp:
        _write_json(os.path.join(tmp, "config.json"), checkpoint.config)
        write_safetensors(checkpoint.tensors,
                          os.path.join(tmp, "model.safetensors"))
        if checkpoint.vocabulary is not None:
            with open(os.path.join(tmp, "vocab.txt"), "w",
                      encoding="utf-8") as f:
                f.write("".join(t + "\n" for t in checkpoint.vocabulary))
            _write_json(os.path.join(tmp, "tokenizer_config.json"),
                        _tokenizer_config(checkpoint))
            _write_json(os.path.join(tmp, "special_tokens_map.json"),
                        SPECIAL_TOKENS)
    return os.path.abspath(os.fspath(dest))


def export_to_huggingface(model, path, tokenizer=None, overwrite=False):
    """Save a keras_electra model as a Hugging Face transformers checkpoint.

    Writes `config.json` (with the HF architecture of the task, labels
    included), `model.safetensors` and the tokenizer files (`vocab.txt`,
    `tokenizer_config.json`, `special_tokens_map.json`), so that
    `transformers.AutoModelFor...from_pretrained(path)` and
    `AutoTokenizer.from_pretrained(path)` load it. The folder is written
    completely or not at all.

    Args:
        model: an `ElectraBackbone` or a keras_electra task.
        path: the destination folder.
        tokenizer: optional `ElectraTokenizer` for a bare backbone (tasks
            use their preprocessor's).
        overwrite: replace an existing `path`.

    Returns:
        The absolute path written.

    Example:
    >>> import tempfile, os
    >>> import keras_electra
    >>> backbone = keras_electra.ElectraBackbone(
    ...     vocabulary_size=30522, num_layers=1, num_heads=2, hidden_dim=16,
    ...     embedding_dim=8, intermediate_dim=32, max_sequence_length=16)
    >>> out = keras_electra.export_to_huggingface(
    ...     backbone, os.path.join(tempfile.mkdtemp(), "hf"))
    >>> sorted(os.listdir(out))[:2]
    ['config.json', 'model.safetensors']
    """
    tokenizer = _tokenizer_of(model, tokenizer)
    checkpoint = checkpoint_from_model(model, tokenizer)
    return write_hf_checkpoint(checkpoint, path, overwrite=overwrite)
