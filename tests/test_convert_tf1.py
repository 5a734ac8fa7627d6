"""Google TF1 pre-training checkpoints (google-research/electra names)."""

import os

import numpy as np
import pytest
import tensorflow as tf
import transformers
from convert_fixtures import max_diff
from convert_fixtures import tiny_vocabulary
from hf_reference import random_hf_model

from keras_electra import ElectraBackbone
from keras_electra.convert import CheckpointError
from keras_electra.convert.keras_model import task_class

COMMON = dict(vocab_size=120, embedding_size=32, max_position_embeddings=24,
              type_vocab_size=2, num_hidden_layers=2)
# 4 heads of 32: not Google's hidden // 64 rule, so it must be passed.
DISCRIMINATOR = dict(hidden_size=128, num_attention_heads=4,
                     intermediate_size=256)
# 64 // 64 = 1 head: the default rule.
GENERATOR = dict(hidden_size=64, num_attention_heads=1, intermediate_size=256)


def tf1_name(hf_name, scope):
    """The variable name Google's TF1 code gives an HF tensor."""
    parts = hf_name.split(".")
    if parts[0] == "electra":
        parts[0] = scope
    if parts[:2] == ["discriminator_predictions", "dense_prediction"]:
        parts[1] = "dense_1"
    if parts[:2] == ["generator_lm_head", "bias"]:
        return "generator_predictions/output_bias"
    out = []
    for i, piece in enumerate(parts):
        if piece == "layer" and parts[i + 1].isdigit():
            continue
        if piece.isdigit() and parts[i - 1] == "layer":
            out.append(f"layer_{piece}")
        else:
            out.append(piece)
    last = out.pop()
    norm = out[-1] == "LayerNorm"
    if out[-1].endswith("_embeddings"):
        return "/".join(out)
    name = {"weight": "gamma" if norm else "kernel",
            "bias": "beta" if norm else "bias"}[last]
    return "/".join(out + [name])


def google_variables(discriminator, generator):
    """TF1 variables of a pre-training checkpoint; embeddings shared."""
    variables = {}
    for scope, model in (("electra", discriminator), ("generator", generator)):
        for name, value in model.state_dict().items():
            if name.endswith(("position_ids", "token_type_ids")) or (
                name == "generator_lm_head.weight"
            ):
                continue
            if scope == "generator" and name.startswith("electra.embeddings."):
                continue  # Shared with the discriminator: electra/embeddings.
            array = value.detach().numpy()
            tf_name = tf1_name(name, scope)
            if tf_name.endswith("/kernel"):
                array = array.T
            variables[tf_name] = array
    return variables


def write_checkpoint(folder, variables, step=1000):
    os.makedirs(folder, exist_ok=True)
    tf_variables = {}
    for name, array in variables.items():
        tf_variables[name] = tf.Variable(array)
        # Adam slots that Google's optimizer saves beside every weight.
        tf_variables[name + "/adam_m"] = tf.Variable(np.zeros_like(array))
        tf_variables[name + "/adam_v"] = tf.Variable(np.ones_like(array))
    tf_variables["global_step"] = tf.Variable(step, dtype=tf.int64)
    saver = tf.compat.v1.train.Saver(var_list=tf_variables)
    return saver.save(None, os.path.join(folder, "model.ckpt"),
                      global_step=step)


@pytest.fixture(scope="module")
def pretraining_checkpoint(tmp_path_factory):
    discriminator = random_hf_model(
        transformers.ElectraForPreTraining,
        transformers.ElectraConfig(**COMMON, **DISCRIMINATOR), seed=3,
    )
    generator = random_hf_model(
        transformers.ElectraForMaskedLM,
        transformers.ElectraConfig(**COMMON, **GENERATOR), seed=4,
    )
    # One embedding table for both, as in Google's checkpoints.
    generator.electra.embeddings.load_state_dict(
        discriminator.electra.embeddings.state_dict()
    )
    generator.tie_weights()
    folder = str(tmp_path_factory.mktemp("tf1"))
    variables = google_variables(discriminator, generator)
    variables["electra/pooler/dense/kernel"] = np.ones((128, 128), "float32")
    prefix = write_checkpoint(folder, variables)
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(tiny_vocabulary(120)) + "\n")
    return prefix, discriminator, generator


def test_checkpoint_has_google_names(pretraining_checkpoint):
    prefix, _, _ = pretraining_checkpoint
    names = dict(tf.train.list_variables(prefix))
    assert prefix.endswith("model.ckpt-1000")
    for name in (
        "electra/embeddings/word_embeddings",
        "electra/embeddings_project/kernel",
        "electra/encoder/layer_1/attention/self/query/kernel",
        "electra/encoder/layer_0/output/LayerNorm/gamma",
        "discriminator_predictions/dense_1/kernel",
        "generator/embeddings_project/kernel",
        "generator/encoder/layer_0/intermediate/dense/kernel",
        "generator_predictions/LayerNorm/beta",
        "generator_predictions/output_bias",
        "electra/encoder/layer_0/attention/self/query/kernel/adam_m",
        "global_step",
    ):
        assert name in names, name
    assert names["generator_predictions/dense/kernel"] == [64, 32]


@pytest.mark.backend_sensitive
def test_discriminator_loads_and_matches(pretraining_checkpoint):
    prefix, discriminator, _ = pretraining_checkpoint
    cls = task_class("ElectraDiscriminator")
    model = cls.from_preset(prefix, num_heads=4)
    assert model.backbone.num_heads == 4
    assert model.backbone.hidden_dim == 128
    assert max_diff("ElectraDiscriminator", model, discriminator,
                    discriminator.config) <= 1e-5
    assert list(model.preprocessor.tokenizer.get_vocabulary()) == (
        tiny_vocabulary(120)
    )


@pytest.mark.backend_sensitive
def test_generator_size_comes_from_the_tensors(pretraining_checkpoint):
    prefix, _, generator = pretraining_checkpoint
    folder = os.path.dirname(prefix)
    model = task_class("ElectraMaskedLM").from_preset(folder)
    backbone = model.backbone
    assert (backbone.hidden_dim, backbone.embedding_dim,
            backbone.intermediate_dim, backbone.num_layers,
            backbone.num_heads) == (64, 32, 256, 2, 1)
    assert max_diff("ElectraMaskedLM", model, generator,
                    generator.config) <= 1e-5
    encoder = ElectraBackbone.from_preset(prefix, checkpoint_part="generator")
    assert encoder.hidden_dim == 64


def test_truncated_checkpoint_is_a_clear_error(pretraining_checkpoint,
                                               tmp_path):
    prefix, _, _ = pretraining_checkpoint
    broken = tmp_path / "broken"
    broken.mkdir()
    for suffix in (".index", ".data-00000-of-00001"):
        data = open(prefix + suffix, "rb").read()
        if suffix != ".index":
            data = data[: len(data) // 2]
        (broken / ("model.ckpt-1000" + suffix)).write_bytes(data)
    with pytest.raises(CheckpointError, match=r"model\.ckpt-1000"):
        ElectraBackbone.from_preset(str(broken / "model.ckpt-1000"),
                                    num_heads=4)
