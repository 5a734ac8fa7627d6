"""Shared pieces of the language-model task tests (generator, discriminator,
causal LM): HF twins with lively random weights, tiny backbones, text."""

import gzip
from pathlib import Path

import keras
import numpy as np
import torch
from hf_reference import random_hf_model
from hf_reference import state_dict_numpy

import keras_electra
from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
from keras_electra.convert.hf_heads import load_hf_tensors
from keras_electra.models.electra_backbone import ElectraBackbone

DATA = Path(keras_electra.__file__).parent / "data"
VOCAB_PATH = DATA / "bert_uncased_vocab.txt"
BERT_VOCAB_SIZE = 30522


def lively_hf_model(model_class, config, seed=0):
    """A random HF model whose predictions are far from uniform.

    `random_hf_model` draws every weight, layer-norm scales included, from
    N(0, 0.2): the layer norms then squash all positions to nearly the same
    vector and every prediction is nearly the same token. Scales near 1 and
    word embeddings of unit scale give varied, well separated predictions,
    so rankings (top-k, greedy decoding) are a meaningful comparison.
    """
    model = random_hf_model(model_class, config, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(
                    1.0
                    + 0.1
                    * torch.randn(module.weight.shape, generator=generator)
                )
                module.bias.copy_(
                    0.05 * torch.randn(module.bias.shape, generator=generator)
                )
        embeddings = model.electra.embeddings.word_embeddings.weight
        embeddings.copy_(torch.randn(embeddings.shape, generator=generator))
    return model


def keras_task_from_hf(task_class, hf_model, preprocessor=None):
    """`task_class` with the weights of `hf_model` (same architecture)."""
    kwargs = backbone_kwargs_from_hf_config(hf_model.config.to_dict())
    task = task_class(ElectraBackbone(**kwargs), preprocessor=preprocessor)
    load_hf_tensors(task, state_dict_numpy(hf_model))
    return task


def tiny_backbone(**overrides):
    """A small factorized backbone over the full BERT vocabulary."""
    kwargs = dict(
        vocabulary_size=BERT_VOCAB_SIZE,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        embedding_dim=16,
        intermediate_dim=64,
        max_sequence_length=32,
        dropout=0.0,
    )
    return ElectraBackbone(**{**kwargs, **overrides})


def austen_lines(count, start=2000):
    """`count` non-empty lines of the bundled Jane Austen novels."""
    lines = []
    with gzip.open(DATA / "austen_novels.txt.gz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= start and len(line.split()) >= 6:
                lines.append(line.strip())
                if len(lines) == count:
                    break
    return lines


def numpy_out(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def to_numpy(structure):
    return {
        k: np.asarray(keras.ops.convert_to_numpy(v))
        for k, v in structure.items()
    }


def loss_before_and_after_fit(model, preprocessor, lines, epochs):
    """The model's loss on a fixed preprocessed batch before and after `fit`.

    The batch is preprocessed once, so the same masks (or targets) are
    measured both times.
    """
    x, y, weights = preprocessor(lines[:64])
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight"
    )

    def measured():
        return float(loss(y, model(x, training=False), sample_weight=weights))

    before = measured()
    model.fit(lines, batch_size=16, epochs=epochs, verbose=0)
    return before, measured()
