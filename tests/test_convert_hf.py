"""HF transformers checkpoints -> keras_electra, and back, for every head."""

import importlib
import json
import os

import numpy as np
import pytest
import transformers
from convert_fixtures import HEADS
from convert_fixtures import NUM_CHOICES
from convert_fixtures import TASKS
from convert_fixtures import max_diff
from convert_fixtures import random_hf
from convert_fixtures import save_hf
from convert_fixtures import tiny_vocabulary
from convert_fixtures import weights_equal
from convert_fixtures import write_tokenizer
from hf_reference import hf_config

import keras_electra
from keras_electra import ElectraBackbone
from keras_electra.convert import export_to_huggingface
from keras_electra.convert import from_preset
from keras_electra.convert.keras_model import task_class


def keras_class(task):
    if task == "ElectraBackbone":
        return ElectraBackbone
    return task_class(task)


def load(task, folder, **kwargs):
    if task == "ElectraMultipleChoice":
        kwargs.setdefault("num_choices", NUM_CHOICES)
    return keras_class(task).from_preset(folder, **kwargs)


# The numerics differ per backend; the `.bin` reader does not (TensorFlow
# covers it).
@pytest.mark.parametrize(
    "fmt", [pytest.param("safetensors", marks=pytest.mark.backend_sensitive),
            "bin"])
@pytest.mark.parametrize("task", list(HEADS))
def test_head_loads_from_hf_checkpoint(task, fmt, tmp_path):
    hf_model = random_hf(task)
    folder = save_hf(hf_model, str(tmp_path / "hf"), fmt=fmt)
    if task == "ElectraMaskedLM" and fmt == "safetensors":
        # The tied decoder is not in the file: loading must re-tie it.
        from keras_electra.convert.tensor_files import read_safetensors

        names = read_safetensors(os.path.join(folder, "model.safetensors"))
        assert "generator_lm_head.weight" not in names
    model = load(task, folder)
    assert max_diff(task, model, hf_model, hf_model.config) <= 1e-5


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("task", TASKS)
def test_keras_to_hf_to_keras_round_trip(task, tmp_path):
    hf_model = random_hf(task, config_name="square", seed=1)
    source = save_hf(hf_model, str(tmp_path / "src"))
    model = load(task, source)
    exported = export_to_huggingface(model, str(tmp_path / "hf"))
    hf_class = getattr(transformers, HEADS[task][0])
    reloaded_hf = hf_class.from_pretrained(exported).eval()
    assert max_diff(task, model, reloaded_hf, reloaded_hf.config) <= 1e-5
    again = load(task, exported)
    assert type(again) is type(model)
    assert weights_equal(model, again)


def test_generic_from_preset_follows_architectures(tmp_path):
    hf_model = random_hf("ElectraClassifier")
    folder = save_hf(hf_model, str(tmp_path / "hf"))
    model = from_preset(folder)
    assert type(model).__name__ == "ElectraClassifier"
    assert model.num_classes == 3
    assert model.label_names == ["neg", "neutral", "pos"]
    assert model.problem_type == "single_label_classification"
    backbone = from_preset(save_hf(random_hf("ElectraBackbone"),
                                   str(tmp_path / "base")))
    assert type(backbone) is ElectraBackbone


def test_regression_head_keeps_problem_type(tmp_path):
    hf_model = random_hf("ElectraClassifier", num_labels=1, id2label=None,
                         label2id=None)
    model = from_preset(save_hf(hf_model, str(tmp_path / "hf")))
    assert model.num_classes == 1
    assert model.problem_type == "regression"
    exported = export_to_huggingface(model, str(tmp_path / "out"))
    with open(os.path.join(exported, "config.json")) as f:
        assert json.load(f)["problem_type"] == "regression"


@pytest.mark.backend_sensitive
def test_missing_head_is_fresh_and_backbone_loads(tmp_path):
    hf_model = random_hf("ElectraClassifier")
    folder = save_hf(hf_model, str(tmp_path / "hf"))
    tagger = keras_class("ElectraTokenClassifier").from_preset(
        folder, num_classes=7
    )
    assert tagger.output_dense.kernel.shape[-1] == 7
    assert max_diff("ElectraBackbone", tagger.backbone, hf_model.electra,
                    hf_model.config) <= 1e-5
    # A new `num_classes` on the checkpoint's own head: fresh head too.
    classifier = keras_class("ElectraClassifier").from_preset(
        folder, num_classes=4
    )
    assert classifier.num_classes == 4


def test_sharded_safetensors(tmp_path):
    hf_model = random_hf("ElectraDiscriminator")
    folder = str(tmp_path / "hf")
    hf_model.save_pretrained(folder, max_shard_size="40KB")
    assert os.path.exists(os.path.join(folder, "model.safetensors.index.json"))
    model = load("ElectraDiscriminator", folder)
    assert max_diff("ElectraDiscriminator", model, hf_model,
                    hf_model.config) <= 1e-5


def test_sharded_bin(tmp_path):
    import torch

    hf_model = random_hf("ElectraDiscriminator")
    folder = str(tmp_path / "hf")
    save_hf(hf_model, folder)
    os.remove(os.path.join(folder, "model.safetensors"))
    state = hf_model.state_dict()
    names = sorted(state)
    shards = {"pytorch_model-00001-of-00002.bin": names[: len(names) // 2],
              "pytorch_model-00002-of-00002.bin": names[len(names) // 2:]}
    weight_map = {}
    for shard, shard_names in shards.items():
        torch.save({n: state[n] for n in shard_names},
                   os.path.join(folder, shard))
        weight_map.update({n: shard for n in shard_names})
    with open(os.path.join(folder, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    model = load("ElectraDiscriminator", folder)
    assert max_diff("ElectraDiscriminator", model, hf_model,
                    hf_model.config) <= 1e-5


def test_bfloat16_checkpoint_loads_exactly(tmp_path):
    import torch

    hf_model = random_hf("ElectraBackbone").to(torch.bfloat16)
    folder = save_hf(hf_model, str(tmp_path / "hf"))
    backbone = ElectraBackbone.from_preset(folder)
    expected = hf_model.embeddings.word_embeddings.weight.detach().float().numpy()
    ours = np.asarray(backbone.token_embedding.embeddings.numpy())
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("vocab_txt", [True, False])
def test_tokenizer_comes_from_checkpoint(vocab_txt, tmp_path):
    hf_model = random_hf("ElectraClassifier")
    folder = str(tmp_path / "hf")
    save_hf(hf_model, folder, tokenizer=False)
    vocabulary = write_tokenizer(folder, hf_model.config.vocab_size,
                                 lowercase=False, vocab_txt=vocab_txt)
    assert os.path.exists(os.path.join(folder, "vocab.txt")) == vocab_txt
    model = keras_class("ElectraClassifier").from_preset(folder)
    tokenizer = model.preprocessor.tokenizer
    assert list(tokenizer.get_vocabulary()) == vocabulary
    assert tokenizer.lowercase is False
    text = "The quick fox jumped over the lazy dogs."
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    assert hf_tokenizer.tokenize(text)[:2] == ["[UNK]", "quick"]  # Cased.
    expected = hf_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert [int(i) for i in tokenizer(text)] == expected


def test_sequence_length_is_honoured(tmp_path):
    folder = save_hf(random_hf("ElectraClassifier"), str(tmp_path / "hf"))
    cls = keras_class("ElectraClassifier")
    assert cls.from_preset(folder, sequence_length=8).preprocessor.sequence_length == 8
    # Without one, the default fits the 24 positions of this tiny model.
    assert cls.from_preset(folder).preprocessor.sequence_length == 24
    masked_lm = keras_class("ElectraMaskedLM").from_preset(
        folder, sequence_length=10
    )
    assert masked_lm.preprocessor.sequence_length == 10
    x = masked_lm.preprocessor(["the quick fox"])
    assert np.shape(x[0]["token_ids"]) == (1, 10)


def test_tokenizer_and_preprocessor_from_hf_checkpoint(tmp_path):
    folder = save_hf(random_hf("ElectraBackbone"), str(tmp_path / "hf"))
    tokenizer_cls = importlib.import_module(
        "keras_electra.models.electra_tokenizer").ElectraTokenizer
    tokenizer = tokenizer_cls.from_preset(folder)
    assert list(tokenizer.get_vocabulary()) == tiny_vocabulary(120)
    preprocessor_cls = keras_class("ElectraClassifier").preprocessor_cls
    preprocessor = preprocessor_cls.from_preset(folder, sequence_length=6)
    assert preprocessor.sequence_length == 6
    # The default fits the 24 positions of this tiny model.
    assert preprocessor_cls.from_preset(folder).sequence_length == 24


def test_sequence_length_without_vocabulary_is_an_error(tmp_path):
    folder = save_hf(random_hf("ElectraClassifier", vocab_size=77),
                     str(tmp_path / "hf"), tokenizer=False)
    cls = keras_class("ElectraClassifier")
    assert cls.from_preset(folder).preprocessor is None
    with pytest.raises(ValueError, match="has no tokenizer"):
        cls.from_preset(folder, sequence_length=8)


def test_export_backbone_writes_loadable_tokenizer(tmp_path):
    config = hf_config("factorized")
    hf_model = random_hf("ElectraBackbone")
    folder = save_hf(hf_model, str(tmp_path / "hf"))
    backbone = ElectraBackbone.from_preset(folder)
    tokenizer_cls = importlib.import_module(
        "keras_electra.models.electra_tokenizer").ElectraTokenizer
    tokenizer = tokenizer_cls.from_preset(folder)
    out = keras_electra.export_to_huggingface(
        backbone, str(tmp_path / "out"), tokenizer=tokenizer
    )
    assert sorted(os.listdir(out)) == [
        "config.json", "model.safetensors", "special_tokens_map.json",
        "tokenizer_config.json", "vocab.txt",
    ]
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    text = "the lazy cat is good!"
    assert hf_tokenizer(text)["input_ids"] == [2, 5, 11, 14, 15, 17, 24, 3]
    hf_again = transformers.ElectraModel.from_pretrained(out).eval()
    assert max_diff("ElectraBackbone", backbone, hf_again, config) <= 1e-5
